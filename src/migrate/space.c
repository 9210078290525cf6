/*
 * The free-space check, pvmigrate's (--skip-free-space-check skips it): before anything changes,
 * a migration that cannot fit in the destination is refused, naming the claims and the room
 * there is. Three cases, decided when the plan is made:
 *
 *   - the destination class publishes CSIStorageCapacity: the plan compares each claim with the
 *     capacity of the segments that can reach the node where its volume will be made, and the
 *     claims that will be made on one node, together, with what that node's segment has;
 *   - its volumes are directories under one base directory on each node (OpenEBS Local PV
 *     hostpath, other hostPath provisioners, volshift-sim's local class; vs_space_base_dir says how
 *     it is found): as pvmigrate does for OpenEBS, a short pod on every node where a destination
 *     volume may be made mounts that directory (hostPath, read-only) and runs df; the claims whose
 *     volumes will be made on the node must fit in what df says is available there, and claims
 *     whose volumes may be made on any node (their copy pod is not pinned) must fit on every such
 *     node besides, since the scheduler does not know a directory's free space;
 *   - anything else: nothing tells how much room there is, and one line says the check was skipped
 *     and why.
 *
 * Sizes are the source volumes' capacities, which the destination claims request (a hostPath
 * provisioner does not enforce them, but a full volume may use them), as pvmigrate counts them.
 */
#include "migrate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define SPACE_OPENEBS_PROVISIONER "openebs.io/local"
#define SPACE_OPENEBS_CONFIG	  "cas.openebs.io/config"
#define SPACE_OPENEBS_DEFAULT	  "/var/openebs/local" /* OpenEBS Local PV's default BasePath */
#define SPACE_PARAMETER		  "basePath"
#define SPACE_NAMESPACE		  "default" /* where the df pods run, as pvmigrate runs them */
#define SPACE_MOUNT		  "/base"

/* ---- the base directory ------------------------------------------------------------------------ */

/* The BasePath of OpenEBS's cas.openebs.io/config, a YAML list of {name, value} ("- name: BasePath\n
 * value: /var/openebs/local"), or NULL. Caller frees. */
static char *space_openebs_base_path(const char *config)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	char *key = NULL, *name = NULL, *value = NULL, *found = NULL;
	int depth = 0;
	bool done = false;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)config, strlen(config));
	while (!done && !found && yaml_parser_parse(&parser, &ev)) {
		if (ev.type == YAML_MAPPING_START_EVENT && ++depth == 1) {
			free(name), free(value);
			name = value = NULL;
		} else if (ev.type == YAML_MAPPING_END_EVENT && depth-- == 1) {
			if (name && value && strcmp(name, "BasePath") == 0)
				found = vs_xstrdup(value);
		} else if (ev.type == YAML_SCALAR_EVENT && depth == 1) {
			const char *s = (const char *)ev.data.scalar.value;
			if (!key) {
				key = vs_xstrdup(s);
			} else {
				char **slot = strcmp(key, "name") == 0 ? &name : strcmp(key, "value") == 0 ? &value : NULL;
				if (slot) {
					free(*slot);
					*slot = vs_xstrdup(s);
				}
				free(key);
				key = NULL;
			}
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	free(key), free(name), free(value);
	return found;
}

char *vs_space_base_dir(const json_t *sc, const char **from)
{
	const char *v = vs_json_annotation(sc, VS_MIGRATE_BASE_PATH_ANNOTATION);
	const char *openebs = vs_json_annotation(sc, SPACE_OPENEBS_CONFIG);
	char *dir = NULL;

	if (v && *v == '/') {
		*from = "its annotation " VS_MIGRATE_BASE_PATH_ANNOTATION;
		return vs_xstrdup(v);
	}
	if (openebs && (dir = space_openebs_base_path(openebs)) != NULL && *dir == '/') {
		*from = "the BasePath of its annotation " SPACE_OPENEBS_CONFIG " (OpenEBS Local PV)";
		return dir;
	}
	free(dir);
	if (strcmp(vs_json_str_or(sc, "provisioner", ""), SPACE_OPENEBS_PROVISIONER) == 0) {
		*from = "OpenEBS Local PV's default BasePath: its class names none";
		return vs_xstrdup(SPACE_OPENEBS_DEFAULT);
	}
	v = vs_json_str(sc, "parameters." SPACE_PARAMETER);
	if (v && *v == '/') {
		*from = "its parameter " SPACE_PARAMETER;
		return vs_xstrdup(v);
	}
	*from = NULL;
	return NULL;
}

const char *vs_space_target_node(const vs_plan_pvc *p, bool warm_copy)
{
	return warm_copy && p->warm_node ? p->warm_node : p->node;
}

/* ---- the plan's part: which check, and CSIStorageCapacity -------------------------------------- */

static int64_t space_bytes(const char *quantity)
{
	int64_t n = 0;

	return quantity && vs_quantity_parse(quantity, &n, NULL) == 0 ? n : 0;
}

/* True when node (its object, borrowed; may be NULL) matches a LabelSelector object (matchLabels,
 * matchExpressions), as CSIStorageCapacity's nodeTopology says which nodes reach its segment. A
 * missing selector matches no node; an empty one every node. */
static bool space_selects_node(const json_t *selector, const json_t *node)
{
	const char *key, *op;
	vs_buf text;
	vs_selector *sel = NULL;
	json_t *v, *expr;
	size_t i, k;
	bool match;

	if (!json_is_object(selector) || !node)
		return false;
	vs_buf_init(&text, 0);
	json_object_foreach ((json_t *)json_object_get(selector, "matchLabels"), key, v)
		vs_buf_printf(&text, "%s%s=%s", text.len ? "," : "", key, json_string_value(v));
	json_array_foreach (json_object_get(selector, "matchExpressions"), i, expr) {
		key = vs_json_str_or(expr, "key", "");
		op = vs_json_str_or(expr, "operator", "");
		vs_buf_printf(&text, "%s%s%s", text.len ? "," : "", strcmp(op, "DoesNotExist") == 0 ? "!" : "", key);
		if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
			vs_buf_printf(&text, " %s (", strcmp(op, "In") == 0 ? "in" : "notin");
			json_array_foreach (json_object_get(expr, "values"), k, v)
				vs_buf_printf(&text, "%s%s", k ? "," : "", json_string_value(v));
			vs_buf_puts(&text, ")");
		}
	}
	match = vs_selector_parse(text.data ? text.data : "", &sel, NULL) == 0 &&
		vs_selector_matches_labels(sel, vs_json_path(node, "metadata.labels"));
	vs_selector_free(sel);
	vs_buf_free(&text);
	return match;
}

/* The most that the destination's CSIStorageCapacity objects offer node (NULL: any node), as one
 * volume (maximumVolumeSize, else capacity) and in all (capacity); -1 each when none reaches it. */
static void space_csi_offer(const vs_plan_input *in, const char *dest, const char *node, int64_t *one,
			    int64_t *all)
{
	const json_t *n = node ? mig_list_find(in->nodes, NULL, node) : NULL;
	size_t i;
	json_t *cap;

	*one = *all = -1;
	json_array_foreach (json_object_get(in->csi_capacities, "items"), i, cap) {
		const char *cls = vs_json_str(cap, "storageClassName"), *total = vs_json_str(cap, "capacity");
		const char *max = vs_json_str(cap, "maximumVolumeSize");
		if (!cls || strcmp(cls, dest) != 0 || (!total && !max) ||
		    (node && !space_selects_node(json_object_get(cap, "nodeTopology"), n)))
			continue;
		int64_t t = total ? space_bytes(total) : -1, m = max ? space_bytes(max) : t;
		if (m > *one)
			*one = m;
		if (t > *all)
			*all = t;
	}
}

static bool space_csi_published(const vs_plan_input *in, const char *dest)
{
	size_t i;
	json_t *cap;

	json_array_foreach (json_object_get(in->csi_capacities, "items"), i, cap)
		if (strcmp(vs_json_str_or(cap, "storageClassName", ""), dest) == 0)
			return true;
	return false;
}

/* The claims whose volumes will be made on node (NULL: those that may land anywhere), as
 * "NS/NAME (SIZE), ...", and their capacity in *sum. Caller frees. */
static char *space_claims_on(const vs_plan *plan, bool warm_copy, const char *node, int64_t *sum)
{
	vs_buf b;

	vs_buf_init(&b, 0);
	*sum = 0;
	for (size_t i = 0; i < plan->npvcs; i++) {
		const vs_plan_pvc *p = &plan->pvcs[i];
		const char *t = vs_space_target_node(p, warm_copy);
		if ((node && t && strcmp(t, node) == 0) || (!node && !t)) {
			*sum += space_bytes(p->capacity);
			vs_buf_printf(&b, "%s%s/%s (%s)", b.len ? ", " : "", p->ns, p->name, p->capacity);
		}
	}
	return vs_buf_steal(&b);
}

/*
 * CSIStorageCapacity: each claim must fit in a segment that reaches the node where its volume will
 * be made (any segment when that is not known), and the claims made on one node, together, in the
 * capacity of a segment that reaches it. The plan does not know whether the run will copy warm:
 * only source volumes pinned to a node count as placed here (their copy runs there either way).
 */
static void space_check_csi(vs_plan *plan, const vs_plan_input *in, const char *dest)
{
	char one_s[32], need_s[32], all_s[32];

	for (size_t i = 0; i < plan->npvcs; i++) {
		const vs_plan_pvc *p = &plan->pvcs[i];
		int64_t need = space_bytes(p->capacity), one, all, sum = 0;
		if (p->node && !mig_list_find(in->nodes, NULL, p->node))
			continue; /* a node that is gone: the plan says so already */
		space_csi_offer(in, dest, p->node, &one, &all);
		vs_bytes_format(need, need_s);
		if (one < 0 && !p->node)
			continue; /* no object of the class says how large */
		if (one < 0) {
			char *why = vs_xasprintf("the destination class %s publishes CSIStorageCapacity, but none that "
						 "reaches node %s, where its volume must be made",
						 dest, p->node);
			vs_plan_add_problem(plan, p->ns, p->name, why);
			free(why);
			continue;
		}
		vs_bytes_format(one, one_s);
		if (one < need) {
			char *why = vs_xasprintf("needs %s but the destination class %s has at most %s free for one "
						 "volume%s%s (CSIStorageCapacity)",
						 need_s, dest, one_s, p->node ? " on node " : " on any node",
						 p->node ? p->node : "");
			vs_plan_add_problem(plan, p->ns, p->name, why);
			free(why);
			continue;
		}
		char *list = p->node ? space_claims_on(plan, false, p->node, &sum) : NULL;
		vs_bytes_format(all, all_s);
		vs_bytes_format(sum, need_s);
		if (list && all >= 0 && sum > all) {
			char *why = vs_xasprintf("the claims whose volumes are made on node %s need %s together (%s), "
						 "but the destination class %s has %s free there (CSIStorageCapacity)",
						 p->node, need_s, list, dest, all_s);
			vs_plan_add_problem(plan, p->ns, p->name, why);
			free(why);
		}
		free(list);
	}
}

/* Nodes where a copy pod that is not pinned may land: not cordoned, no NoSchedule or NoExecute
 * taint (copy pods tolerate none). */
static void space_schedulable_nodes(vs_plan *plan, const vs_plan_input *in)
{
	size_t i, k;
	json_t *n, *taint;

	json_array_foreach (json_object_get(in->nodes, "items"), i, n) {
		bool ok = !vs_json_bool(n, "spec.unschedulable", false) && vs_json_str(n, "metadata.name");
		json_array_foreach (vs_json_path(n, "spec.taints"), k, taint) {
			const char *effect = vs_json_str_or(taint, "effect", "");
			ok = ok && strcmp(effect, "NoSchedule") != 0 && strcmp(effect, "NoExecute") != 0;
		}
		if (!ok)
			continue;
		plan->space.nodes = vs_xrealloc(plan->space.nodes, (plan->space.nnodes + 1) * sizeof(char *));
		plan->space.nodes[plan->space.nnodes++] = vs_xstrdup(vs_json_str(n, "metadata.name"));
	}
}

void mig_space_plan(vs_plan *plan, const vs_plan_input *in, const vs_plan_opts *opts)
{
	const json_t *sc = mig_list_find(in->storage_classes, NULL, opts->dest_sc);
	const char *from = NULL, *prov = vs_json_str(sc, "provisioner");
	vs_plan_space *s = &plan->space;

	s->provisioner = prov ? vs_xstrdup(prov) : NULL;
	if (opts->skip_free_space_check) {
		s->method = VS_SPACE_SKIPPED;
	} else if (space_csi_published(in, opts->dest_sc)) {
		s->method = VS_SPACE_CSI;
		space_check_csi(plan, in, opts->dest_sc);
	} else if (sc && (s->base_dir = vs_space_base_dir(sc, &from)) != NULL) {
		s->method = VS_SPACE_NODE;
		s->why = vs_xstrdup(from);
		space_schedulable_nodes(plan, in);
	} else {
		s->method = VS_SPACE_UNKNOWN;
		s->why = sc ? vs_xasprintf("class %s (provisioner %s) publishes no CSIStorageCapacity and names no "
					   "directory its volumes are made in (the annotation %s, OpenEBS's BasePath "
					   "or the parameter %s)",
					   opts->dest_sc, prov ? prov : "none", VS_MIGRATE_BASE_PATH_ANNOTATION,
					   SPACE_PARAMETER)
			    : vs_xasprintf("class %s does not exist", opts->dest_sc);
	}
}

void mig_space_clear(vs_plan_space *s)
{
	free(s->provisioner), free(s->base_dir), free(s->why);
	for (size_t i = 0; i < s->nnodes; i++)
		free(s->nodes[i]);
	free(s->nodes);
	memset(s, 0, sizeof(*s));
}

/* ---- judging what df said ----------------------------------------------------------------------- */

int vs_space_parse_df(const char *output, int64_t *avail, int64_t *size, vs_error *err)
{
	char *copy = vs_xstrdup(output), *save = NULL;
	bool found = false;

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *w[16];
		size_t n = 0;
		for (char *s2 = NULL, *tok = strtok_r(line, " \t", &s2); tok && n < 16; tok = strtok_r(NULL, " \t", &s2))
			w[n++] = tok;
		long long blocks, free_blocks;
		char *e1, *e2;
		if (n < 6)
			continue;
		/* ... SIZE USED AVAIL CAPACITY% MOUNTPOINT, counted from the end (a device name may hold spaces) */
		blocks = strtoll(w[n - 5], &e1, 10);
		free_blocks = strtoll(w[n - 3], &e2, 10);
		if (*e1 || *e2 || e1 == w[n - 5] || e2 == w[n - 3] || blocks < 0 || free_blocks < 0)
			continue;
		*size = (int64_t)blocks * 1024;
		*avail = (int64_t)free_blocks * 1024;
		found = true;
	}
	free(copy);
	if (!found) {
		int len = (int)strlen(output);
		while (len > 0 && (output[len - 1] == '\n' || output[len - 1] == ' '))
			len--;
		return vs_error_set(err, VS_EINVAL, "no filesystem line in the output of df: \"%.*s\"", len < 200 ? len : 200,
				    output);
	}
	return 0;
}

static vs_space_node *space_node_find(vs_space_node *nodes, size_t n, const char *node)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(nodes[i].node, node) == 0)
			return &nodes[i];
	return NULL;
}

static bool space_may_land(const vs_plan *plan, const char *node)
{
	for (size_t i = 0; i < plan->space.nnodes; i++)
		if (strcmp(plan->space.nodes[i], node) == 0)
			return true;
	return false;
}

/* Problems for the claims placed on node n, which lacks the room for them. */
static void space_refuse_placed(vs_plan *plan, bool warm_copy, const vs_space_node *n)
{
	char need_s[32], have_s[32], one_s[32];
	int64_t sum;
	char *list = space_claims_on(plan, warm_copy, n->node, &sum);

	vs_bytes_format(n->placed, need_s);
	vs_bytes_format(n->avail, have_s);
	for (size_t i = 0; i < plan->npvcs; i++) {
		const vs_plan_pvc *p = &plan->pvcs[i];
		const char *t = vs_space_target_node(p, warm_copy);
		if (!t || strcmp(t, n->node) != 0)
			continue;
		vs_bytes_format(space_bytes(p->capacity), one_s);
		char *why = vs_xasprintf("its copy (%s) is made on node %s, where %s has %s free; the copies made "
					 "there need %s in all: %s",
					 one_s, n->node, plan->space.base_dir, have_s, need_s, list);
		vs_plan_add_problem(plan, p->ns, p->name, why);
		free(why);
	}
	free(list);
}

/* Problems for the claims that may land on any node, when node n (the one with the least room
 * left for them) lacks it. */
static void space_refuse_anywhere(vs_plan *plan, bool warm_copy, const vs_space_node *n)
{
	char need_s[32], have_s[32], placed_s[32];
	int64_t sum;
	char *list = space_claims_on(plan, warm_copy, NULL, &sum);

	vs_bytes_format(n->anywhere, need_s);
	vs_bytes_format(n->avail, have_s);
	vs_bytes_format(n->placed, placed_s);
	for (size_t i = 0; i < plan->npvcs; i++) {
		const vs_plan_pvc *p = &plan->pvcs[i];
		if (vs_space_target_node(p, warm_copy))
			continue;
		char *why = vs_xasprintf("its copy may be made on any node, as may those of %s: %s in all; node %s has "
					 "%s free in %s%s%s%s",
					 list, need_s, n->node, have_s, plan->space.base_dir,
					 n->placed ? ", " : "", n->placed ? placed_s : "",
					 n->placed ? " of it for the copies made there" : "");
		vs_plan_add_problem(plan, p->ns, p->name, why);
		free(why);
	}
	free(list);
}

void vs_space_judge(vs_plan *plan, bool warm_copy, vs_space_node *nodes, size_t n)
{
	const vs_space_node *worst = NULL;
	int64_t anywhere = 0;

	for (size_t k = 0; k < n; k++)
		nodes[k].placed = nodes[k].anywhere = 0;
	for (size_t i = 0; i < plan->npvcs; i++) {
		const char *t = vs_space_target_node(&plan->pvcs[i], warm_copy);
		vs_space_node *on = t ? space_node_find(nodes, n, t) : NULL;
		if (on)
			on->placed += space_bytes(plan->pvcs[i].capacity);
		else if (!t)
			anywhere += space_bytes(plan->pvcs[i].capacity);
	}
	for (size_t k = 0; k < n; k++) {
		vs_space_node *x = &nodes[k];
		bool placed_fit = x->placed <= x->avail;
		x->anywhere = anywhere && space_may_land(plan, x->node) ? anywhere : 0;
		x->fits = x->placed + x->anywhere <= x->avail;
		x->low = x->fits && (x->avail - x->placed - x->anywhere) * 100 < x->size * VS_SPACE_RESERVE_PERCENT;
		if (!placed_fit)
			space_refuse_placed(plan, warm_copy, x);
		else if (!x->fits && (!worst || x->avail - x->placed < worst->avail - worst->placed))
			worst = x;
	}
	if (worst)
		space_refuse_anywhere(plan, warm_copy, worst);
}

/* ---- measuring ----------------------------------------------------------------------------------- */

/* The pod that measures base_dir on node: df of its hostPath mount, read-only. Caller owns it. */
static json_t *space_pod(const char *name, const char *node, const char *image, const char *base_dir)
{
	json_t *pod = mig_pod_new(SPACE_NAMESPACE, name, image, node, json_pack("[s, s, s]", "df", "-Pk", SPACE_MOUNT),
				  NULL, 0);

	json_object_set_new(vs_json_path(pod, "metadata.labels"), VS_MIGRATE_FREE_SPACE_LABEL, json_string("true"));
	vs_json_set_path(pod, "spec.volumes",
			 json_pack("[{s:s, s:{s:s, s:s}}]", "name", "base", "hostPath", "path", base_dir, "type", "Directory"));
	json_object_set_new(json_array_get(vs_json_path(pod, "spec.containers"), 0), "volumeMounts",
			    json_pack("[{s:s, s:s, s:b}]", "name", "base", "mountPath", SPACE_MOUNT, "readOnly", 1));
	return pod;
}

static int space_log_line(const char *line, size_t len, void *ctx)
{
	vs_buf *b = ctx;

	if (b->len < 16384)
		vs_buf_printf(b, "%.*s\n", (int)len, line);
	return 0;
}

/*
 * Each volshift names its df pods with a random suffix, so that two started at the same moment on
 * the same claims (the second is refused later, when it marks them) never take each other's. A df
 * pod ends and is removed within seconds; one older than SPACE_LEFTOVER_MS was left by a volshift
 * killed while it measured, and is removed here.
 */
#define SPACE_LEFTOVER_MS 120000

static int space_remove_leftovers(mig_run *r, vs_error *err)
{
	vs_kube_list_opts lo = { .label_selector = VS_MIGRATE_FREE_SPACE_LABEL "=true" };
	json_t *list = NULL, *pod;
	int64_t created;
	size_t i;
	int rc = vs_kube_list(r->c, &VS_KUBE_PODS, SPACE_NAMESPACE, &lo, &list, err);

	json_array_foreach (rc == 0 ? json_object_get(list, "items") : NULL, i, pod) {
		if (vs_time_parse(vs_json_str_or(pod, "metadata.creationTimestamp", ""), &created, NULL) < 0 ||
		    vs_time_wall_ms() - created * 1000 < SPACE_LEFTOVER_MS)
			continue;
		if ((rc = mig_pod_remove(r, SPACE_NAMESPACE, vs_kube_obj_name(pod), false, err)) < 0)
			break;
	}
	json_decref(list);
	return rc;
}

/* Run the df pod on node and read what it measured into m. The pod is removed whatever happened. */
static int space_measure(mig_run *r, vs_space_node *m, vs_error *err)
{
	char *base = vs_xasprintf("volshift-free-space-%s", m->node),
	     *suffix = vs_xasprintf("-%05llx", (unsigned long long)(vs_rand_u64() & 0xfffff)),
	     *name = vs_plan_derived_name(base, suffix);
	json_t *pod = space_pod(name, m->node, r->opts->rsync_image, r->plan->space.base_dir);
	vs_kube_wait_opts wo = { .timeout_ms = r->opts->pod_ready_timeout_ms, .what = "the free-space pod to end" };
	vs_error cleanup;
	vs_buf out;
	int rc = mig_pod_run(r, SPACE_NAMESPACE, pod, "free-space", err);

	vs_buf_init(&out, 0);
	if (rc == 0)
		rc = vs_kube_pod_wait_log(r->c, SPACE_NAMESPACE, name, &wo, space_log_line, &out, NULL, err);
	if (rc == 0)
		rc = vs_space_parse_df(out.data ? out.data : "", &m->avail, &m->size, err);
	vs_error_clear(&cleanup);
	if (mig_pod_remove(r, SPACE_NAMESPACE, name, true, &cleanup) < 0 && rc == 0) {
		*err = cleanup;
		rc = cleanup.code;
	}
	if (rc < 0)
		vs_error_wrap(err, "measure the free space in %s on node %s", r->plan->space.base_dir, m->node);
	vs_buf_free(&out);
	json_decref(pod);
	free(name);
	free(suffix);
	free(base);
	return rc;
}

/* The nodes to measure: every node where a destination volume will be made, and every node where
 * one may be made when some claim is not pinned. Borrowed names. */
static size_t space_nodes_to_measure(const vs_plan *plan, bool warm_copy, vs_space_node **out)
{
	vs_space_node *nodes = vs_xcalloc(plan->npvcs + plan->space.nnodes + 1, sizeof(*nodes));
	size_t n = 0;
	bool anywhere = false;

	for (size_t i = 0; i < plan->npvcs; i++) {
		const char *t = vs_space_target_node(&plan->pvcs[i], warm_copy);
		anywhere = anywhere || !t;
		if (t && !space_node_find(nodes, n, t))
			nodes[n++].node = t;
	}
	for (size_t i = 0; anywhere && i < plan->space.nnodes; i++)
		if (!space_node_find(nodes, n, plan->space.nodes[i]))
			nodes[n++].node = plan->space.nodes[i];
	*out = nodes;
	return n;
}

static void space_node_event(mig_run *r, const vs_space_node *m)
{
	char free_s[32], need_s[32], size_s[32];

	mig_emit(r, "free-space",
		 json_pack("{s:s, s:s, s:I, s:I, s:b}", "node", m->node, "path", r->plan->space.base_dir, "free",
			   (json_int_t)m->avail, "need", (json_int_t)(m->placed + m->anywhere), "ok", m->fits));
	if (!m->low)
		return;
	vs_bytes_format(m->avail - m->placed - m->anywhere, free_s);
	vs_bytes_format(m->placed + m->anywhere, need_s);
	vs_bytes_format(m->size, size_s);
	mig_say(r, "warning",
		"node %s would have %s left in %s (a filesystem of %s) after the %s of the copies: less than %d%%, "
		"kubelet's default threshold for evicting pods when it is the node's root filesystem",
		m->node, free_s, r->plan->space.base_dir, size_s, need_s, VS_SPACE_RESERVE_PERCENT);
}

static int space_measure_nodes(mig_run *r, vs_plan *plan, vs_error *err)
{
	vs_space_node *nodes = NULL;
	size_t n = space_nodes_to_measure(plan, r->opts->warm_copy, &nodes);
	vs_buf list;
	int rc = 0;

	vs_buf_init(&list, 0);
	for (size_t k = 0; k < n; k++)
		vs_buf_printf(&list, "%s%s", k ? ", " : "", nodes[k].node);
	mig_say(r, "stage", "checking free space: %s (%s of class %s) on node%s %s", plan->space.base_dir,
		plan->space.why, r->opts->plan.dest_sc, n == 1 ? "" : "s", list.data ? list.data : "(none)");
	rc = space_remove_leftovers(r, err);
	for (size_t k = 0; k < n && rc == 0; k++)
		rc = space_measure(r, &nodes[k], err);
	if (rc == 0) {
		vs_space_judge(plan, r->opts->warm_copy, nodes, n);
		for (size_t k = 0; k < n; k++)
			space_node_event(r, &nodes[k]);
	}
	vs_buf_free(&list);
	free(nodes);
	return rc;
}

int vs_migrate_free_space(vs_kube_client *c, const vs_migrate_opts *opts, vs_plan *plan, bool dry_run,
			  vs_migrate_event_fn fn, void *ctx, vs_error *err)
{
	mig_run r = { .c = c, .opts = opts, .plan = plan, .fn = fn, .ctx = ctx };
	const char *dest = opts->plan.dest_sc;

	for (size_t i = 0; i < plan->nproblems; i++)
		if (!plan->problems[i].name)
			return 0; /* no class to check, or the migration cannot go ahead anyway */
	if (plan->npvcs == 0)
		return 0;
	switch (plan->space.method) {
	case VS_SPACE_SKIPPED:
		mig_say(&r, "note", "free-space check skipped (--skip-free-space-check)");
		return 0;
	case VS_SPACE_UNKNOWN:
		mig_say(&r, "note", "free-space check skipped: %s", plan->space.why);
		return 0;
	case VS_SPACE_CSI:
		mig_say(&r, "note", "free space checked against the CSIStorageCapacity that class %s publishes", dest);
		return 0;
	case VS_SPACE_NODE:
		break;
	}
	if (dry_run) {
		mig_say(&r, "note",
			"free space not measured: --dry-run runs no pod (a migration first runs df in %s, %s of "
			"class %s, on each node where a copy may be made)",
			plan->space.base_dir, plan->space.why, dest);
		return 0;
	}
	return space_measure_nodes(&r, plan, err);
}
