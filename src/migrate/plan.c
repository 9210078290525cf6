/*
 * Planning: a pure function from the listed objects of a cluster to the plan of a migration. It
 * finds the PVs of the source class and their claims, the pods that mount those claims and the
 * workloads that control the pods, groups claims that are used together, and collects every
 * reason the migration cannot go ahead, so that preflight can show them all before anything
 * changes. No I/O happens here.
 */
#include "migrate.h"
#include "migrate_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define PLAN_MAX_NAME 63

/* A link between a workload and a claim it uses, recorded while pods are walked. */
struct plan_edge {
	size_t workload;
	size_t pvc;
};

struct plan_builder {
	vs_plan *plan;
	const vs_plan_input *in;
	const vs_plan_opts *opts;
	vs_selector *selector;
	struct plan_edge *edges;
	size_t nedges;
};

#define PLAN_PUSH(arr, n) (arr = vs_xrealloc(arr, ((n) + 1) * sizeof(*(arr))), &(arr)[(n)++])

const char *vs_workload_kind_name(enum vs_workload_kind kind)
{
	static const char *names[] = {
		"Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "CronJob", "Job", "Pod"
	};

	return names[kind];
}

static const json_t *plan_items(const json_t *list)
{
	return json_object_get(list, "items");
}

json_t *mig_list_find(const json_t *list, const char *ns, const char *name)
{
	size_t i;
	json_t *item;

	json_array_foreach (plan_items(list), i, item) {
		const char *ins = vs_json_str(item, "metadata.namespace");
		if (strcmp(vs_json_str_or(item, "metadata.name", ""), name) == 0 &&
		    (!ns || (ins && strcmp(ins, ns) == 0)))
			return item;
	}
	return NULL;
}

static void plan_problem(struct plan_builder *b, const char *ns, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

void vs_plan_add_problem(vs_plan *plan, const char *ns, const char *name, const char *reason)
{
	vs_plan_problem *p = PLAN_PUSH(plan->problems, plan->nproblems);

	p->ns = ns ? vs_xstrdup(ns) : NULL;
	p->name = name ? vs_xstrdup(name) : NULL;
	p->reason = vs_xstrdup(reason);
}

static void plan_problem(struct plan_builder *b, const char *ns, const char *name, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	vs_plan_add_problem(b->plan, ns, name, text);
}

static bool plan_is_default(const json_t *sc)
{
	const char *on = vs_json_annotation(sc, VS_MIGRATE_DEFAULT_CLASS_ANNOTATION);

	return on && strcmp(on, "true") == 0;
}

/* Both classes exist (unless skipped) and --set-defaults can do what it says. */
static void plan_check_classes(struct plan_builder *b)
{
	const vs_plan_opts *o = b->opts;
	size_t i;
	json_t *sc;

	json_array_foreach (plan_items(b->in->storage_classes), i, sc) {
		if (plan_is_default(sc) && !b->plan->current_default)
			b->plan->current_default = vs_xstrdup(vs_json_str(sc, "metadata.name"));
	}
	if (!mig_list_find(b->in->storage_classes, NULL, o->dest_sc))
		plan_problem(b, NULL, NULL, "destination StorageClass \"%s\" does not exist; create it first",
			     o->dest_sc);
	if (!o->skip_source_validation && !mig_list_find(b->in->storage_classes, NULL, o->source_sc))
		plan_problem(b, NULL, NULL,
			     "source StorageClass \"%s\" does not exist; pass --skip-source-validation to migrate "
			     "volumes that still name it",
			     o->source_sc);
	if (!o->set_defaults)
		return;
	const char *cur = b->plan->current_default;
	if (!cur || strcmp(cur, o->source_sc) == 0)
		b->plan->change_default = true;
	else if (strcmp(cur, o->dest_sc) != 0)
		plan_problem(b, NULL, NULL,
			     "--set-defaults moves the default class from \"%s\" to \"%s\", but the default is \"%s\"; "
			     "leave out --set-defaults, or make \"%s\" the default first",
			     o->source_sc, o->dest_sc, cur, o->source_sc);
}

static bool plan_pvc_selected(struct plan_builder *b, const json_t *pvc)
{
	const char *ns = vs_json_str(pvc, "metadata.namespace"), *name = vs_json_str(pvc, "metadata.name");
	const vs_plan_opts *o = b->opts;
	bool listed = o->npvcs == 0;

	if (o->namespace && strcmp(o->namespace, ns) != 0)
		return false;
	for (size_t i = 0; i < o->npvcs && !listed; i++) {
		size_t n = strlen(ns);
		listed = strncmp(o->pvcs[i], ns, n) == 0 && o->pvcs[i][n] == '/' &&
			 strcmp(o->pvcs[i] + n + 1, name) == 0;
	}
	return listed && vs_selector_matches_labels(b->selector, vs_json_path(pvc, "metadata.labels"));
}

/* The node named by a node-local volume's required node affinity, or NULL. Borrowed. */
static const char *plan_pv_node(const json_t *pv)
{
	const json_t *terms = vs_json_path(pv, "spec.nodeAffinity.required.nodeSelectorTerms");
	size_t i;
	json_t *expr;

	if (json_array_size(terms) != 1)
		return NULL;
	json_array_foreach (json_object_get(json_array_get(terms, 0), "matchExpressions"), i, expr) {
		const char *key = vs_json_str(expr, "key"), *op = vs_json_str(expr, "operator");
		json_t *values = json_object_get(expr, "values");
		if (key && op && strcmp(key, "kubernetes.io/hostname") == 0 && strcmp(op, "In") == 0 &&
		    json_array_size(values) == 1)
			return json_string_value(json_array_get(values, 0));
	}
	return NULL;
}

static bool plan_valid_access_mode(const char *mode)
{
	return strcmp(mode, "ReadWriteOnce") == 0 || strcmp(mode, "ReadWriteMany") == 0 ||
	       strcmp(mode, "ReadOnlyMany") == 0 || strcmp(mode, "ReadWriteOncePod") == 0;
}

/* A node-local volume can only be copied on its node: it must exist and take new pods. */
static void plan_check_node(struct plan_builder *b, const char *ns, const char *name, const char *node)
{
	const json_t *n;

	if (!b->in->nodes)
		return;
	n = mig_list_find(b->in->nodes, NULL, node);
	if (!n)
		plan_problem(b, ns, name,
			     "its volume is local to node %s, which no longer exists; the data cannot be "
			     "reached",
			     node);
	else if (vs_json_bool(n, "spec.unschedulable", false))
		plan_problem(b, ns, name,
			     "its volume is local to node %s, which is cordoned, so no copy pod can run "
			     "there; uncordon it (kubectl uncordon %s)",
			     node, node);
}

/* The finalizers Kubernetes and CSI provisioners put on claims and volumes: they let go once the
 * object is unused, so volshift's swap can delete it. Any other may hold it Terminating. */
static const char *const plan_claim_finalizers[] = { "kubernetes.io/pvc-protection", NULL };
static const char *const plan_volume_finalizers[] = { "kubernetes.io/pv-protection",
						      "external-provisioner.volume.kubernetes.io/finalizer", NULL };

/* A finalizer on obj (claim ns/name, or its volume) that is not among known: a problem naming it.
 * The swap deletes the claim (and for some policies the old volume): such a finalizer would hold
 * it Terminating, with the group's workloads stopped until its owner lets go. */
static void plan_check_finalizers(struct plan_builder *b, const char *ns, const char *name, const json_t *obj,
				  const char *what, const char *const *known)
{
	size_t i;
	json_t *f;

	json_array_foreach (vs_json_path(obj, "metadata.finalizers"), i, f) {
		const char *fin = json_string_value(f);
		size_t k = 0;
		while (fin && known[k] && strcmp(known[k], fin) != 0)
			k++;
		if (fin && !known[k])
			plan_problem(
				b, ns, name,
				"the %s%s%s carries the finalizer %s, which would hold it when volshift deletes it "
				"to switch the claim, with its workloads stopped: ask its owner to release it (or "
				"remove the finalizer), then run again",
				what, strcmp(what, "volume") == 0 ? " " : "",
				strcmp(what, "volume") == 0 ? vs_kube_obj_name(obj) : "", fin);
	}
}

static void plan_add_pvc(struct plan_builder *b, const json_t *pv, const json_t *pvc)
{
	const char *ns = vs_json_str(pvc, "metadata.namespace"), *name = vs_json_str(pvc, "metadata.name");
	const char *mode = vs_json_annotation(pvc, VS_MIGRATE_ACCESS_ANNOTATION);
	const char *volume_mode = vs_json_str(pvc, "spec.volumeMode");
	const char *node = plan_pv_node(pv);
	vs_plan_pvc *p;
	char *copy;

	if (volume_mode && strcmp(volume_mode, "Block") == 0)
		plan_problem(b, ns, name, "volumeMode Block: volshift copies files and cannot copy a raw block device");
	if (vs_json_str(pvc, "metadata.deletionTimestamp"))
		plan_problem(b, ns, name, "the claim is being deleted");
	plan_check_finalizers(b, ns, name, pvc, "claim", plan_claim_finalizers);
	plan_check_finalizers(b, ns, name, pv, "volume", plan_volume_finalizers);
	if (mode && !plan_valid_access_mode(mode))
		plan_problem(b, ns, name, "annotation %s is \"%s\"; valid: ReadWriteOnce, ReadWriteMany, ReadOnlyMany",
			     VS_MIGRATE_ACCESS_ANNOTATION, mode);
	if (node)
		plan_check_node(b, ns, name, node);
	p = PLAN_PUSH(b->plan->pvcs, b->plan->npvcs);
	memset(p, 0, sizeof(*p));
	p->ns = vs_xstrdup(ns);
	p->name = vs_xstrdup(name);
	p->uid = vs_xstrdup(vs_json_str_or(pvc, "metadata.uid", ""));
	p->pv = vs_xstrdup(vs_json_str(pv, "metadata.name"));
	p->request = vs_xstrdup(vs_json_str_or(pvc, "spec.resources.requests.storage", "0"));
	p->capacity = vs_xstrdup(vs_json_str_or(pv, "spec.capacity.storage", p->request));
	p->access_modes = json_deep_copy(vs_json_path(pvc, "spec.accessModes"));
	if (!p->access_modes)
		p->access_modes = json_array();
	p->dest_access_mode = mode ? vs_xstrdup(mode) : NULL;
	p->node = node ? vs_xstrdup(node) : NULL;
	p->temp_name = vs_plan_derived_name(name, "-pvcmigrate");
	copy = vs_xasprintf("migrate-%s", name);
	p->copy_pod = vs_plan_derived_name(copy, "");
	free(copy);
}

static void plan_warn(struct plan_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void plan_warn(struct plan_builder *b, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	*PLAN_PUSH(b->plan->warnings, b->plan->nwarnings) = vs_xstrdup(text);
}

/* PVs of the source class and the claims bound to them. */
static void plan_collect_pvcs(struct plan_builder *b)
{
	size_t i;
	json_t *pv;

	json_array_foreach (plan_items(b->in->pvs), i, pv) {
		const char *cls = vs_json_str(pv, "spec.storageClassName"), *name = vs_json_str(pv, "metadata.name");
		const char *cns = vs_json_str(pv, "spec.claimRef.namespace"),
			   *cname = vs_json_str(pv, "spec.claimRef.name");
		const char *cuid = vs_json_str(pv, "spec.claimRef.uid");
		json_t *pvc;

		if (!cls || !name || strcmp(cls, b->opts->source_sc) != 0)
			continue;
		pvc = cns && cname ? mig_list_find(b->in->pvcs, cns, cname) : NULL;
		if (pvc && cuid && strcmp(cuid, vs_json_str_or(pvc, "metadata.uid", "")) != 0)
			pvc = NULL;
		if (!pvc) {
			plan_warn(b,
				  "PersistentVolume %s (class %s, %s) has no claim: skipped; volshift moves claimed "
				  "volumes, bind it to a claim to migrate it",
				  name, cls, vs_json_str_or(pv, "status.phase", "no phase"));
			continue;
		}
		if (plan_pvc_selected(b, pvc))
			plan_add_pvc(b, pv, pvc);
	}
}

static ssize_t plan_pvc_index(const vs_plan *plan, const char *ns, const char *name)
{
	for (size_t i = 0; i < plan->npvcs; i++)
		if (strcmp(plan->pvcs[i].ns, ns) == 0 && strcmp(plan->pvcs[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* True when claim pvc is not bound to a volume yet: Pending (or, without a status, naming none). */
static bool plan_claim_pending(const json_t *pvc)
{
	const char *phase = vs_json_str(pvc, "status.phase");

	return phase ? strcmp(phase, "Pending") == 0 : !vs_json_str(pvc, "spec.volumeName");
}

/*
 * Claims of the source class that no volume is bound to yet hold nothing to copy, and are not
 * migrated. Said in the plan with what to do; a warning, so that the others go ahead: such a claim
 * holds no data, so nothing is lost by going ahead without it, and it may never bind (a claim
 * waiting for a consumer that is gone, a StatefulSet's claim for a replica scaled away), which
 * would otherwise hold every other claim back. Only when --pvc names it (the user asked for that
 * claim, and it cannot be migrated) is it a problem.
 */
static void plan_note_pending(struct plan_builder *b)
{
	const char *src = b->opts->source_sc;
	size_t i;
	json_t *pvc;

	json_array_foreach (plan_items(b->in->pvcs), i, pvc) {
		const char *ns = vs_json_str(pvc, "metadata.namespace"), *name = vs_json_str(pvc, "metadata.name");
		if (!ns || !name || strcmp(vs_json_str_or(pvc, "spec.storageClassName", ""), src) != 0 ||
		    !plan_claim_pending(pvc) || vs_json_str(pvc, "metadata.deletionTimestamp") ||
		    plan_pvc_index(b->plan, ns, name) >= 0 || !plan_pvc_selected(b, pvc))
			continue;
		if (b->opts->npvcs)
			plan_problem(b, ns, name,
				     "Pending: not bound to a volume yet, so there is nothing to copy; bind it (a pod "
				     "that mounts it does) or delete it, then run again");
		else
			plan_warn(b,
				  "claim %s/%s (class %s) is Pending: not bound to a volume yet, so there is nothing "
				  "to copy and it is not migrated; bind it (a pod that mounts it does) or delete it, "
				  "then run again, since once bound it gets a volume of class %s",
				  ns, name, src, src);
	}
}

/* The class claim pvc is on: its volume's when it is bound to one, else its own. Borrowed. */
static const char *plan_claim_class(const vs_plan_input *in, const json_t *pvc)
{
	const char *vol = vs_json_str(pvc, "spec.volumeName");
	const json_t *pv = vol ? mig_list_find(in->pvs, NULL, vol) : NULL;

	return pv ? vs_json_str(pv, "spec.storageClassName") : vs_json_str(pvc, "spec.storageClassName");
}

/* Every --pvc must name a claim of the source class that --namespace and --selector (sel) keep: a
 * --pvc that would select nothing is bad usage, said before anything is done. VS_EINVAL naming it. */
static int plan_check_named_pvcs(const vs_plan_input *in, const vs_plan_opts *o, const vs_selector *sel, vs_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < o->npvcs && rc == 0; i++) {
		const char *arg = o->pvcs[i], *slash = strchr(arg, '/');
		char *ns = vs_xstrndup(arg, (size_t)(slash - arg));
		const json_t *pvc = mig_list_find(in->pvcs, ns, slash + 1);
		const char *cls = pvc ? plan_claim_class(in, pvc) : NULL;

		if (!pvc)
			rc = vs_error_set(err, VS_EINVAL, "--pvc %s: there is no claim %s in namespace %s", arg,
					  slash + 1, ns);
		else if (!cls || strcmp(cls, o->source_sc) != 0)
			rc = vs_error_set(err, VS_EINVAL, "--pvc %s: that claim is of class %s, not --source-sc %s",
					  arg, cls ? cls : "(none)", o->source_sc);
		else if (o->namespace && strcmp(o->namespace, ns) != 0)
			rc = vs_error_set(err, VS_EINVAL, "--pvc %s is outside --namespace %s", arg, o->namespace);
		else if (!vs_selector_matches_labels(sel, vs_json_path(pvc, "metadata.labels")))
			rc = vs_error_set(err, VS_EINVAL, "--pvc %s: that claim does not match --selector %s", arg,
					  o->selector);
		free(ns);
	}
	return rc;
}

static size_t plan_workload(struct plan_builder *b, enum vs_workload_kind kind, const char *ns, const char *name,
			    long replicas, bool running)
{
	vs_plan *plan = b->plan;
	vs_plan_workload *w;

	for (size_t i = 0; i < plan->nworkloads; i++)
		if (plan->workloads[i].kind == kind && strcmp(plan->workloads[i].ns, ns) == 0 &&
		    strcmp(plan->workloads[i].name, name) == 0)
			return i;
	w = PLAN_PUSH(plan->workloads, plan->nworkloads);
	*w = (vs_plan_workload){
		.kind = kind, .ns = vs_xstrdup(ns), .name = vs_xstrdup(name), .replicas = replicas, .running = running
	};
	return plan->nworkloads - 1;
}

/* The controller ownerReference of obj: kind and name (borrowed), or false. */
static bool plan_controller(const json_t *obj, const char **kind, const char **name)
{
	size_t i;
	json_t *ref;

	json_array_foreach (vs_json_path(obj, "metadata.ownerReferences"), i, ref) {
		if (vs_json_bool(ref, "controller", false)) {
			*kind = vs_json_str(ref, "kind");
			*name = vs_json_str(ref, "name");
			return *kind && *name;
		}
	}
	return false;
}

json_t *vs_plan_dest_modes(const vs_plan_pvc *p)
{
	return p->dest_access_mode ? json_pack("[s]", p->dest_access_mode) : json_deep_copy(p->access_modes);
}

char *vs_plan_modes_text(const json_t *modes)
{
	vs_buf b;
	size_t i;
	json_t *m;

	vs_buf_init(&b, 0);
	json_array_foreach (modes, i, m)
		vs_buf_printf(&b, "%s%s", i ? "," : "", json_string_value(m));
	return vs_buf_steal(&b);
}

long vs_plan_scale_to_restore(const json_t *obj, long fallback)
{
	const char *recorded = vs_json_annotation(obj, VS_MIGRATE_SCALE_ANNOTATION);
	char *end = NULL;
	long n = recorded ? strtol(recorded, &end, 10) : -1;

	return recorded && end != recorded && !*end && n >= 0 ? n : fallback;
}

/* The scale to restore: the one recorded when an earlier run stopped the workload, else the current. */
static long plan_replicas(const json_t *obj)
{
	return vs_plan_scale_to_restore(obj, (long)vs_json_int(obj, "spec.replicas", 1));
}

static void plan_link(struct plan_builder *b, size_t workload, size_t pvc);

/* The workload to stop for a pod that mounts claim pvc; -1 (with a problem recorded) if none. */
static ssize_t plan_resolve_pod(struct plan_builder *b, const json_t *pod, size_t pvc)
{
	const char *ns = vs_json_str(pod, "metadata.namespace"), *pod_name = vs_json_str(pod, "metadata.name");
	const vs_plan_pvc *p = &b->plan->pvcs[pvc];
	const char *kind, *name, *okind, *oname;
	json_t *owner;

	if (!plan_controller(pod, &kind, &name)) {
		if (b->opts->delete_bare_pods)
			return (ssize_t)plan_workload(b, VS_WORKLOAD_POD, ns, pod_name, 0, true);
		plan_problem(b, p->ns, p->name,
			     "pod %s mounts it and has no controller, so it would not come back after the migration; "
			     "pass --delete-bare-pods to allow deleting it",
			     pod_name);
		return -1;
	}
	if (strcmp(kind, "ReplicaSet") == 0) {
		owner = mig_list_find(b->in->replicasets, ns, name);
		if (owner && plan_controller(owner, &okind, &oname) && strcmp(okind, "Deployment") == 0) {
			json_t *d = mig_list_find(b->in->deployments, ns, oname);
			if (d)
				return (ssize_t)plan_workload(b, VS_WORKLOAD_DEPLOYMENT, ns, oname, plan_replicas(d),
							      false);
		} else if (owner) {
			return (ssize_t)plan_workload(b, VS_WORKLOAD_REPLICASET, ns, name, plan_replicas(owner), false);
		}
	} else if (strcmp(kind, "StatefulSet") == 0 && (owner = mig_list_find(b->in->statefulsets, ns, name))) {
		return (ssize_t)plan_workload(b, VS_WORKLOAD_STATEFULSET, ns, name, plan_replicas(owner), false);
	} else if (strcmp(kind, "DaemonSet") == 0 && mig_list_find(b->in->daemonsets, ns, name)) {
		return (ssize_t)plan_workload(b, VS_WORKLOAD_DAEMONSET, ns, name, 0, false);
	} else if (strcmp(kind, "Job") == 0 && (owner = mig_list_find(b->in->jobs, ns, name))) {
		bool active = vs_json_int(owner, "status.active", 0) > 0;
		if (plan_controller(owner, &okind, &oname) && strcmp(okind, "CronJob") == 0 &&
		    mig_list_find(b->in->cronjobs, ns, oname))
			plan_link(b, plan_workload(b, VS_WORKLOAD_CRONJOB, ns, oname, 0, false), pvc);
		return (ssize_t)plan_workload(b, VS_WORKLOAD_JOB, ns, name, 0, active);
	}
	plan_problem(b, p->ns, p->name,
		     "pod %s mounts it and is controlled by %s %s, which volshift cannot stop and "
		     "restart",
		     pod_name, kind, name);
	return -1;
}

static void plan_link(struct plan_builder *b, size_t workload, size_t pvc)
{
	for (size_t i = 0; i < b->nedges; i++)
		if (b->edges[i].workload == workload && b->edges[i].pvc == pvc)
			return;
	*PLAN_PUSH(b->edges, b->nedges) = (struct plan_edge){ workload, pvc };
}

/* A pod that mounts claim p: the node where its warm copy must run, or why there is none (pods
 * on two nodes). Pods that have ended or are going away do not count. */
static void plan_note_pod_node(vs_plan_pvc *p, const json_t *pod)
{
	const char *node = vs_json_str(pod, "spec.nodeName"), *phase = vs_json_str_or(pod, "status.phase", "");

	if (!node || vs_json_str(pod, "metadata.deletionTimestamp") || strcmp(phase, "Succeeded") == 0 ||
	    strcmp(phase, "Failed") == 0 || p->cold_reason)
		return;
	if (!p->warm_node)
		p->warm_node = vs_xstrdup(node);
	else if (strcmp(p->warm_node, node) != 0)
		p->cold_reason = vs_xasprintf("mounted by pods on nodes %s and %s, so no copy can run beside them",
					      p->warm_node, node);
}

/* Pods that mount planned claims, and the workloads behind them. */
static void plan_collect_pods(struct plan_builder *b)
{
	size_t i, j;
	json_t *pod, *vol;

	json_array_foreach (plan_items(b->in->pods), i, pod) {
		const char *ns = vs_json_str(pod, "metadata.namespace");
		json_array_foreach (vs_json_path(pod, "spec.volumes"), j, vol) {
			const char *claim = vs_json_str(vol, "persistentVolumeClaim.claimName");
			ssize_t pvc = claim && ns ? plan_pvc_index(b->plan, ns, claim) : -1;
			if (pvc < 0)
				continue;
			ssize_t w = plan_resolve_pod(b, pod, (size_t)pvc);
			if (w >= 0)
				plan_link(b, (size_t)w, (size_t)pvc);
			plan_note_pod_node(&b->plan->pvcs[pvc], pod);
		}
	}
}

/* Where each claim's warm copy can run while its application does: beside the application's pod
 * for a ReadWriteOnce volume (a second pod on that node may mount it), on a node-local volume's
 * node, anywhere for a volume many nodes may mount; none for ReadWriteOncePod. */
static void plan_choose_warm(struct plan_builder *b)
{
	for (size_t i = 0; i < b->plan->npvcs; i++) {
		vs_plan_pvc *p = &b->plan->pvcs[i];
		bool shared = vs_json_array_has_str(p->access_modes, "ReadWriteMany") ||
			      vs_json_array_has_str(p->access_modes, "ReadOnlyMany");
		if (vs_json_array_has_str(p->access_modes, "ReadWriteOncePod")) {
			free(p->cold_reason);
			p->cold_reason =
				vs_xstrdup("ReadWriteOncePod: no second pod may mount it while its application runs");
		}
		if (p->cold_reason || p->node || shared) {
			free(p->warm_node);
			p->warm_node = p->node && !p->cold_reason ? vs_xstrdup(p->node) : NULL;
		}
	}
}

bool vs_plan_spec_mounts(const json_t *pod_spec, const char *claim)
{
	size_t i;
	json_t *vol;

	json_array_foreach (json_object_get(pod_spec, "volumes"), i, vol) {
		const char *name = vs_json_str(vol, "persistentVolumeClaim.claimName");
		if (name && strcmp(name, claim) == 0)
			return true;
	}
	return false;
}

/* Workloads whose pod template mounts planned claims belong to them even when no pod runs (scaled
 * to 0 by an interrupted run, suspended, or between restarts), so that they are stopped and
 * restored too. Only controllers at the top of their chain count: a ReplicaSet of a Deployment and
 * a Job of a CronJob are reached through their owner. */
static void plan_collect_templates(struct plan_builder *b)
{
	static const struct {
		enum vs_workload_kind kind;
		const char *spec;
	} kinds[] = { { VS_WORKLOAD_DEPLOYMENT, "spec.template.spec" },
		      { VS_WORKLOAD_STATEFULSET, "spec.template.spec" },
		      { VS_WORKLOAD_REPLICASET, "spec.template.spec" },
		      { VS_WORKLOAD_DAEMONSET, "spec.template.spec" },
		      { VS_WORKLOAD_CRONJOB, "spec.jobTemplate.spec.template.spec" } };
	const json_t *lists[] = { b->in->deployments, b->in->statefulsets, b->in->replicasets, b->in->daemonsets,
				  b->in->cronjobs };
	const char *okind, *oname;
	size_t i;
	json_t *w;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		json_array_foreach (plan_items(lists[k]), i, w) {
			const char *ns = vs_json_str(w, "metadata.namespace"), *name = vs_json_str(w, "metadata.name");
			if (!ns || !name ||
			    (kinds[k].kind == VS_WORKLOAD_REPLICASET && plan_controller(w, &okind, &oname)))
				continue;
			for (size_t p = 0; p < b->plan->npvcs; p++) {
				const vs_plan_pvc *c = &b->plan->pvcs[p];
				if (strcmp(c->ns, ns) != 0 ||
				    !vs_plan_spec_mounts(vs_json_path(w, kinds[k].spec), c->name))
					continue;
				bool scaled = kinds[k].kind <= VS_WORKLOAD_REPLICASET;
				plan_link(
					b,
					plan_workload(b, kinds[k].kind, ns, name, scaled ? plan_replicas(w) : 0, false),
					p);
			}
		}
	}
}

/* Claims made from a StatefulSet's templates belong to it even when no pod runs (replicas 0). */
static void plan_collect_statefulset_claims(struct plan_builder *b)
{
	size_t i, j;
	json_t *sts, *tmpl;

	json_array_foreach (plan_items(b->in->statefulsets), i, sts) {
		const char *ns = vs_json_str(sts, "metadata.namespace"), *name = vs_json_str(sts, "metadata.name");
		json_array_foreach (vs_json_path(sts, "spec.volumeClaimTemplates"), j, tmpl) {
			char *prefix = vs_xasprintf("%s-%s-", vs_json_str(tmpl, "metadata.name"), name);
			for (size_t k = 0; k < b->plan->npvcs; k++) {
				const vs_plan_pvc *p = &b->plan->pvcs[k];
				const char *rest = p->name + strlen(prefix);
				if (strcmp(p->ns, ns) != 0 || !vs_str_has_prefix(p->name, prefix) || !*rest ||
				    strspn(rest, "0123456789") != strlen(rest))
					continue;
				size_t w =
					plan_workload(b, VS_WORKLOAD_STATEFULSET, ns, name, plan_replicas(sts), false);
				plan_link(b, w, k);
			}
			free(prefix);
		}
	}
}

static size_t plan_uf_find(size_t *parent, size_t x)
{
	while (parent[x] != x)
		x = parent[x] = parent[parent[x]];
	return x;
}

/* Claims linked through a workload (directly or through a chain) form one group. */
static void plan_group(struct plan_builder *b)
{
	vs_plan *plan = b->plan;
	size_t *parent = vs_xcalloc(plan->npvcs + 1, sizeof(size_t));
	size_t *group_of_root = vs_xcalloc(plan->npvcs + 1, sizeof(size_t));

	for (size_t i = 0; i < plan->npvcs; i++)
		parent[i] = i;
	for (size_t w = 0; w < plan->nworkloads; w++) {
		ssize_t first = -1;
		for (size_t e = 0; e < b->nedges; e++) {
			if (b->edges[e].workload != w)
				continue;
			if (first < 0)
				first = (ssize_t)b->edges[e].pvc;
			else
				parent[plan_uf_find(parent, b->edges[e].pvc)] = plan_uf_find(parent, (size_t)first);
		}
	}
	for (size_t i = 0; i < plan->npvcs; i++) {
		size_t root = plan_uf_find(parent, i);
		if (root == i) {
			group_of_root[i] = plan->ngroups;
			*PLAN_PUSH(plan->groups, plan->ngroups) = (vs_plan_group){ 0 };
		}
	}
	for (size_t i = 0; i < plan->npvcs; i++) {
		vs_plan_group *g = &plan->groups[group_of_root[plan_uf_find(parent, i)]];
		plan->pvcs[i].group = group_of_root[plan_uf_find(parent, i)];
		*PLAN_PUSH(g->pvcs, g->npvcs) = i;
	}
	for (size_t e = 0; e < b->nedges; e++) {
		vs_plan_group *g = &plan->groups[plan->pvcs[b->edges[e].pvc].group];
		bool have = false;
		for (size_t k = 0; k < g->nworkloads; k++)
			have = have || g->workloads[k] == b->edges[e].workload;
		if (!have)
			*PLAN_PUSH(g->workloads, g->nworkloads) = b->edges[e].workload;
	}
	free(parent);
	free(group_of_root);
}

unsigned vs_migrate_default_parallel(const vs_plan_input *in)
{
	size_t i, nodes = 0;
	json_t *n;

	json_array_foreach (plan_items(in->nodes), i, n) {
		if (!vs_json_bool(n, "spec.unschedulable", false))
			nodes++;
	}
	return nodes == 0 ? 1 : nodes >= 4 ? 8 : (unsigned)(2 * nodes);
}

/* --pvc NAMESPACE/NAME, each: VS_EINVAL naming the one that is not. */
static int plan_check_pvc_syntax(const vs_plan_opts *opts, vs_error *err)
{
	for (size_t i = 0; i < opts->npvcs; i++) {
		const char *slash = strchr(opts->pvcs[i], '/');
		if (!slash || slash == opts->pvcs[i] || !slash[1] || strchr(slash + 1, '/'))
			return vs_error_set(err, VS_EINVAL, "--pvc \"%s\": expected NAMESPACE/NAME", opts->pvcs[i]);
	}
	return 0;
}

int vs_plan_check_pvcs(const vs_plan_input *in, const vs_plan_opts *opts, vs_error *err)
{
	vs_selector *sel = NULL;
	int rc = plan_check_pvc_syntax(opts, err);

	if (rc == 0 && (rc = vs_selector_parse(opts->selector, &sel, err)) < 0)
		vs_error_wrap(err, "--selector");
	if (rc == 0)
		rc = plan_check_named_pvcs(in, opts, sel, err);
	vs_selector_free(sel);
	return rc;
}

int vs_plan_build(const vs_plan_input *in, const vs_plan_opts *opts, vs_plan **out, vs_error *err)
{
	struct plan_builder b = { .in = in, .opts = opts };
	int rc = 0;

	*out = NULL;
	if (!opts->source_sc || !*opts->source_sc || !opts->dest_sc || !*opts->dest_sc)
		return vs_error_set(err, VS_EINVAL, "both --source-sc and --dest-sc are required");
	if (strcmp(opts->source_sc, opts->dest_sc) == 0)
		return vs_error_set(err, VS_EINVAL, "--source-sc and --dest-sc are both \"%s\"; nothing to migrate",
				    opts->source_sc);
	if ((rc = plan_check_pvc_syntax(opts, err)) < 0)
		return rc;
	rc = vs_selector_parse(opts->selector, &b.selector, err);
	if (rc < 0)
		return vs_error_wrap(err, "--selector");
	rc = plan_check_named_pvcs(in, opts, b.selector, err);
	if (rc < 0) {
		vs_selector_free(b.selector);
		return rc;
	}
	b.plan = vs_xcalloc(1, sizeof(vs_plan));
	plan_check_classes(&b);
	plan_collect_pvcs(&b);
	plan_note_pending(&b);
	plan_collect_pods(&b);
	plan_collect_statefulset_claims(&b);
	plan_collect_templates(&b);
	plan_choose_warm(&b);
	plan_group(&b);
	mig_space_plan(b.plan, in, opts);
	*out = b.plan;
	vs_selector_free(b.selector);
	free(b.edges);
	return rc;
}

void vs_plan_free(vs_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->npvcs; i++) {
		vs_plan_pvc *p = &plan->pvcs[i];
		free(p->ns), free(p->name), free(p->uid), free(p->pv), free(p->request), free(p->capacity);
		free(p->dest_access_mode), free(p->node), free(p->temp_name), free(p->copy_pod);
		free(p->warm_node), free(p->cold_reason);
		json_decref(p->access_modes);
	}
	for (size_t i = 0; i < plan->nworkloads; i++)
		free(plan->workloads[i].ns), free(plan->workloads[i].name);
	for (size_t i = 0; i < plan->ngroups; i++)
		free(plan->groups[i].pvcs), free(plan->groups[i].workloads);
	for (size_t i = 0; i < plan->nproblems; i++)
		free(plan->problems[i].ns), free(plan->problems[i].name), free(plan->problems[i].reason);
	for (size_t i = 0; i < plan->nwarnings; i++)
		free(plan->warnings[i]);
	free(plan->pvcs), free(plan->workloads), free(plan->groups), free(plan->problems), free(plan->warnings);
	free(plan->current_default);
	mig_space_clear(&plan->space);
	free(plan);
}

static json_t *plan_pvc_json(const vs_plan_pvc *p)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:s?, s:s?, s:s, s:s, s:s?, s:s?}", "namespace", p->ns,
			 "name", p->name, "uid", p->uid, "pv", p->pv, "request", p->request, "capacity", p->capacity,
			 "accessModes", p->access_modes, "destAccessMode", p->dest_access_mode, "node", p->node,
			 "tempClaim", p->temp_name, "copyPod", p->copy_pod, "warmNode", p->warm_node, "coldCopy",
			 p->cold_reason);
}

static json_t *plan_workload_json(const vs_plan_workload *w)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:b}", "kind", vs_workload_kind_name(w->kind), "namespace", w->ns,
			 "name", w->name, "replicas", (json_int_t)w->replicas, "running", w->running);
}

json_t *vs_plan_to_json(const vs_plan *plan)
{
	json_t *groups = json_array(), *problems = json_array(), *warnings = json_array();

	for (size_t g = 0; g < plan->ngroups; g++) {
		json_t *pvcs = json_array(), *workloads = json_array();
		for (size_t i = 0; i < plan->groups[g].npvcs; i++)
			json_array_append_new(pvcs, plan_pvc_json(&plan->pvcs[plan->groups[g].pvcs[i]]));
		for (size_t i = 0; i < plan->groups[g].nworkloads; i++)
			json_array_append_new(workloads,
					      plan_workload_json(&plan->workloads[plan->groups[g].workloads[i]]));
		json_array_append_new(groups, json_pack("{s:o, s:o}", "claims", pvcs, "workloads", workloads));
	}
	for (size_t i = 0; i < plan->nproblems; i++)
		json_array_append_new(problems,
				      json_pack("{s:s?, s:s?, s:s}", "namespace", plan->problems[i].ns, "name",
						plan->problems[i].name, "reason", plan->problems[i].reason));
	for (size_t i = 0; i < plan->nwarnings; i++)
		json_array_append_new(warnings, json_string(plan->warnings[i]));
	return json_pack("{s:o, s:o, s:o, s:s?, s:b}", "groups", groups, "problems", problems, "warnings", warnings,
			 "currentDefault", plan->current_default, "changeDefault", plan->change_default);
}

static char *plan_dup_or_null(const json_t *obj, const char *key)
{
	const char *v = vs_json_str(obj, key);

	return v ? vs_xstrdup(v) : NULL;
}

static int plan_pvc_from_json(vs_plan *plan, const json_t *c, size_t group, vs_error *err)
{
	static const char *required[] = { "namespace", "name",	   "uid",	"pv",
					  "request",   "capacity", "tempClaim", "copyPod" };
	vs_plan_pvc *p;

	for (size_t k = 0; k < sizeof(required) / sizeof(required[0]); k++)
		if (!vs_json_str(c, required[k]))
			return vs_error_set(err, VS_EINVAL, "journal plan: a claim has no \"%s\"", required[k]);
	p = PLAN_PUSH(plan->pvcs, plan->npvcs);
	*p = (vs_plan_pvc){ .ns = plan_dup_or_null(c, "namespace"),
			    .name = plan_dup_or_null(c, "name"),
			    .uid = plan_dup_or_null(c, "uid"),
			    .pv = plan_dup_or_null(c, "pv"),
			    .request = plan_dup_or_null(c, "request"),
			    .capacity = plan_dup_or_null(c, "capacity"),
			    .access_modes = json_deep_copy(json_object_get(c, "accessModes")),
			    .dest_access_mode = plan_dup_or_null(c, "destAccessMode"),
			    .node = plan_dup_or_null(c, "node"),
			    .temp_name = plan_dup_or_null(c, "tempClaim"),
			    .copy_pod = plan_dup_or_null(c, "copyPod"),
			    .warm_node = plan_dup_or_null(c, "warmNode"),
			    .cold_reason = plan_dup_or_null(c, "coldCopy"),
			    .group = group };
	if (!p->access_modes)
		p->access_modes = json_array();
	return 0;
}

static int plan_workload_kind(const char *name, enum vs_workload_kind *out)
{
	for (int k = VS_WORKLOAD_DEPLOYMENT; k <= VS_WORKLOAD_POD; k++)
		if (name && strcmp(vs_workload_kind_name((enum vs_workload_kind)k), name) == 0)
			return (*out = (enum vs_workload_kind)k), 0;
	return -1;
}

int vs_plan_from_json(const json_t *j, vs_plan **out, vs_error *err)
{
	vs_plan *plan = vs_xcalloc(1, sizeof(vs_plan));
	size_t g, i;
	json_t *grp, *item;
	int rc = 0;

	json_array_foreach (json_object_get(j, "groups"), g, grp) {
		vs_plan_group *pg = PLAN_PUSH(plan->groups, plan->ngroups);
		*pg = (vs_plan_group){ 0 };
		json_array_foreach (json_object_get(grp, "claims"), i, item) {
			if (rc == 0 && (rc = plan_pvc_from_json(plan, item, g, err)) == 0)
				*PLAN_PUSH(pg->pvcs, pg->npvcs) = plan->npvcs - 1;
		}
		json_array_foreach (json_object_get(grp, "workloads"), i, item) {
			enum vs_workload_kind kind;
			if (rc < 0)
				break;
			if (plan_workload_kind(vs_json_str(item, "kind"), &kind) < 0 ||
			    !vs_json_str(item, "namespace") || !vs_json_str(item, "name")) {
				rc = vs_error_set(err, VS_EINVAL,
						  "journal plan: a workload has no valid kind, namespace or name");
				break;
			}
			vs_plan_workload *w = PLAN_PUSH(plan->workloads, plan->nworkloads);
			*w = (vs_plan_workload){ .kind = kind,
						 .ns = plan_dup_or_null(item, "namespace"),
						 .name = plan_dup_or_null(item, "name"),
						 .replicas = (long)vs_json_int(item, "replicas", 0),
						 .running = vs_json_bool(item, "running", false) };
			*PLAN_PUSH(pg->workloads, pg->nworkloads) = plan->nworkloads - 1;
		}
		if (rc == 0 && pg->npvcs == 0)
			rc = vs_error_set(err, VS_EINVAL, "journal plan: group %zu has no claims", g);
	}
	json_array_foreach (json_object_get(j, "warnings"), i, item)
		*PLAN_PUSH(plan->warnings, plan->nwarnings) =
			vs_xstrdup(json_string_value(item) ? json_string_value(item) : "");
	plan->current_default = plan_dup_or_null(j, "currentDefault");
	plan->change_default = vs_json_bool(j, "changeDefault", false);
	if (rc < 0) {
		vs_plan_free(plan);
		plan = NULL;
	}
	*out = plan;
	return rc;
}

static uint32_t plan_fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

char *vs_plan_derived_name(const char *base, const char *suffix)
{
	size_t lb = strlen(base), ls = strlen(suffix);

	if (lb + ls <= PLAN_MAX_NAME)
		return vs_xasprintf("%s%s", base, suffix);
	size_t keep = PLAN_MAX_NAME - ls - 9; /* "-" and 8 hex digits */
	while (keep > 0 && (base[keep - 1] == '-' || base[keep - 1] == '.'))
		keep--;
	return vs_xasprintf("%.*s-%08x%s", (int)keep, base, plan_fnv1a(base), suffix);
}
