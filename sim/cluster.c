/*
 * cluster: starts and stops the parts of volshift-sim that a real cluster runs outside the API
 * server (controllers, scheduler, provisioner, node agent), and holds the helpers they share.
 * Every controller is level-triggered: it wakes on any store change (or a period), lists what it
 * needs and reconciles, writing only through api.h with resourceVersion preconditions.
 */
#include "cluster_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const sim_resource *cl_res_pod, *cl_res_pvc, *cl_res_pv, *cl_res_sc, *cl_res_node, *cl_res_cm, *cl_res_secret,
	*cl_res_deploy, *cl_res_rs, *cl_res_sts, *cl_res_ds, *cl_res_job, *cl_res_cronjob;

static int resolve_resources(vs_error *err)
{
	struct {
		const sim_resource **slot;
		const char *group, *plural;
	} t[] = {
		{&cl_res_pod, "", "pods"},
		{&cl_res_pvc, "", "persistentvolumeclaims"},
		{&cl_res_pv, "", "persistentvolumes"},
		{&cl_res_sc, "storage.k8s.io", "storageclasses"},
		{&cl_res_node, "", "nodes"},
		{&cl_res_cm, "", "configmaps"},
		{&cl_res_secret, "", "secrets"},
		{&cl_res_deploy, "apps", "deployments"},
		{&cl_res_rs, "apps", "replicasets"},
		{&cl_res_sts, "apps", "statefulsets"},
		{&cl_res_ds, "apps", "daemonsets"},
		{&cl_res_job, "batch", "jobs"},
		{&cl_res_cronjob, "batch", "cronjobs"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		*t[i].slot = sim_resource_find(t[i].group, t[i].plural);
		if (!*t[i].slot)
			return vs_error_set(err, VS_EINVAL, "cluster: the API does not serve %s%s%s", t[i].group,
					    *t[i].group ? "/" : "", t[i].plural);
	}
	return 0;
}

/* ---- the controller loop ---------------------------------------------------------------------- */

struct loop_arg {
	sim_cluster *c;
	cl_reconcile_fn fn, on_exit;
	int64_t period_ms;
	char name[32];
};

static void *loop_main(void *p)
{
	struct loop_arg *a = p;
	uint64_t last = 0;
	while (!atomic_load(&a->c->stopping)) {
		uint64_t rv = sim_store_wait(a->c->st, last, a->period_ms);
		if (atomic_load(&a->c->stopping))
			break;
		a->fn(a->c);
		/* our own writes bump the rv: the next wait returns at once and we check once more, which
		 * is how a level-triggered controller converges */
		last = rv;
	}
	if (a->on_exit)
		a->on_exit(a->c);
	free(a);
	return NULL;
}

int cl_spawn(sim_cluster *c, const char *name, cl_reconcile_fn fn, cl_reconcile_fn on_exit, int64_t period_ms,
	     vs_error *err)
{
	if (c->nthreads >= (int)(sizeof c->threads / sizeof c->threads[0]))
		return vs_error_set(err, VS_EINVAL, "cluster: too many controller threads");
	struct loop_arg *a = vs_xcalloc(1, sizeof *a);
	a->c = c;
	a->fn = fn;
	a->on_exit = on_exit;
	a->period_ms = period_ms;
	snprintf(a->name, sizeof a->name, "%s", name);
	int rc = pthread_create(&c->threads[c->nthreads], NULL, loop_main, a);
	if (rc != 0) {
		free(a);
		return vs_error_set(err, VS_EIO, "cluster: cannot start the %s thread: %s", name, strerror(rc));
	}
	c->nthreads++;
	return 0;
}

/* ---- API shortcuts ---------------------------------------------------------------------------- */

json_t *cl_list(sim_cluster *c, const sim_resource *res, const char *ns, const char *label_selector)
{
	vs_error err;
	vs_error_clear(&err);
	json_t *list = NULL;
	sim_list_opts opts = {.label_selector = label_selector};
	if (sim_api_list(c->st, res, ns, &opts, &list, &err) != 0) {
		vs_warn("cluster: list %s: %s", res->plural, err.message);
		return json_array();
	}
	json_t *items = json_object_get(list, "items");
	items = json_is_array(items) ? json_incref(items) : json_array();
	json_decref(list);
	return items;
}

/* The key of res's copies in a cl_list_reuse lists object. */
static void lists_key(const sim_resource *res, char *key, size_t size)
{
	snprintf(key, size, "%s.%s", res->plural, res->group);
}

/* The copies of res in lists, taken out for sim_api_list_copies/reuse (new reference). */
static json_t *lists_take(json_t **lists, const sim_resource *res, char *key, size_t size)
{
	if (!*lists)
		*lists = json_object();
	lists_key(res, key, size);
	return json_incref(json_object_get(*lists, key));
}

json_t *cl_list_reuse(sim_cluster *c, const sim_resource *res, json_t **lists)
{
	char key[160];
	json_t *copies = lists_take(lists, res, key, sizeof(key)), *items;

	items = sim_api_list_reuse(c->st, res, &copies);
	json_object_set_new(*lists, key, copies);
	return items;
}

void cl_lists_refresh(sim_cluster *c, const sim_resource *res, json_t **lists)
{
	char key[160];
	json_t *copies = lists_take(lists, res, key, sizeof(key));

	sim_api_list_copies(c->st, res, &copies);
	json_object_set_new(*lists, key, copies);
}

json_t *cl_lists_find(const json_t *lists, const sim_resource *res, const char *ns, const char *name)
{
	char key[160];

	lists_key(res, key, sizeof(key));
	return sim_api_list_reuse_find(json_object_get(lists, key), res, ns, name);
}

json_t *cl_get(sim_cluster *c, const sim_resource *res, const char *ns, const char *name)
{
	vs_error err;
	vs_error_clear(&err);
	json_t *obj = NULL;
	if (sim_api_get(c->st, res, ns, name, &obj, &err) != 0)
		return NULL;
	return obj;
}

json_t *cl_find(const json_t *items, const char *ns, const char *name)
{
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		const char *n = cl_name(it), *s = cl_ns(it);
		if (n && strcmp(n, name) == 0 && (!ns || !*ns || (s && strcmp(s, ns) == 0)))
			return it;
	}
	return NULL;
}

const char *cl_name(const json_t *o) { return vs_json_str(o, "metadata.name"); }
const char *cl_ns(const json_t *o) { return vs_json_str(o, "metadata.namespace"); }
const char *cl_uid(const json_t *o) { return vs_json_str(o, "metadata.uid"); }
bool cl_deleting(const json_t *o) { return vs_json_path(o, "metadata.deletionTimestamp") != NULL; }

int cl_update(sim_cluster *c, const sim_resource *res, const json_t *obj, enum sim_update_kind kind)
{
	vs_error err;
	vs_error_clear(&err);
	if (sim_api_update(c->st, res, cl_ns(obj), obj, kind, NULL, &err) != 0) {
		if (!vs_error_is(&err, "Conflict") && !vs_error_is(&err, "NotFound"))
			vs_warn("cluster: update %s %s%s: %s", res->singular, cl_name(obj),
				kind == SIM_UPDATE_STATUS ? " status" : "", err.message);
		else
			vs_debug("cluster: update %s %s: %s (will retry)", res->singular, cl_name(obj), err.message);
		return -1;
	}
	return 0;
}

int cl_update_status(sim_cluster *c, const sim_resource *res, const json_t *obj, json_t *next)
{
	const json_t *cur = json_object_get(obj, "status");
	json_t *copy;
	int rc;

	if (json_is_object(cur) ? json_equal(next, (json_t *)cur) : json_object_size(next) == 0)
		return 0;
	copy = json_deep_copy(obj);
	json_object_set(copy, "status", next);
	rc = cl_update(c, res, copy, SIM_UPDATE_STATUS);
	json_decref(copy);
	return rc;
}

int cl_create(sim_cluster *c, const sim_resource *res, const char *ns, const json_t *obj, json_t **out)
{
	vs_error err;
	vs_error_clear(&err);
	if (sim_api_create(c->st, res, ns, obj, out, &err) != 0) {
		if (!vs_error_is(&err, "AlreadyExists"))
			vs_warn("cluster: create %s %s: %s", res->singular, cl_name(obj) ? cl_name(obj) : "?",
				err.message);
		return -1;
	}
	return 0;
}

int cl_delete(sim_cluster *c, const sim_resource *res, const char *ns, const char *name, long grace)
{
	vs_error err;
	vs_error_clear(&err);
	sim_delete_opts opts = {.propagation = SIM_PROPAGATE_BACKGROUND, .grace_period_seconds = grace};
	bool deleted = false;
	if (sim_api_delete(c->st, res, ns, name, &opts, NULL, &deleted, &err) != 0) {
		if (vs_error_is(&err, "NotFound"))
			return 0;
		vs_warn("cluster: delete %s %s: %s", res->singular, name, err.message);
		return -1;
	}
	return 0;
}

json_t *cl_owner_ref(const json_t *owner)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", vs_json_str(owner, "apiVersion"), "kind",
			 vs_json_str(owner, "kind"), "name", cl_name(owner), "uid", cl_uid(owner), "controller", 1,
			 "blockOwnerDeletion", 1);
}

const char *cl_controller_uid(const json_t *obj)
{
	size_t i;
	json_t *r;
	json_array_foreach(vs_json_path(obj, "metadata.ownerReferences"), i, r) {
		if (vs_json_bool(r, "controller", false))
			return vs_json_str(r, "uid");
	}
	return NULL;
}

int64_t cl_random_ms(sim_cluster *c, int64_t lo, int64_t hi)
{
	int64_t v;

	pthread_mutex_lock(&c->rng_mu);
	v = vs_rng_range(&c->rng, lo, hi);
	pthread_mutex_unlock(&c->rng_mu);
	return v;
}

int64_t cl_informer_delay_ms(sim_cluster *c)
{
	return cl_random_ms(c, 0, 2 * c->timing.informer_delay_ms);
}

void cl_watch_delay(sim_cluster *c)
{
	int64_t until = vs_time_mono_ms() + cl_informer_delay_ms(c);

	for (int64_t left; !atomic_load(&c->stopping) && (left = until - vs_time_mono_ms()) > 0;)
		vs_sleep_ms(left < 50 ? left : 50);
}

void cl_rand_suffix(char *out, size_t n)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[vs_rand_u64() % (sizeof alphabet - 1)];
	out[n] = '\0';
}

static void set_meta_map(json_t *obj, const char *map, const char *key, const char *value)
{
	json_t *meta = json_object_get(obj, "metadata");
	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(obj, "metadata", meta);
	}
	json_t *m = json_object_get(meta, map);
	if (!json_is_object(m)) {
		m = json_object();
		json_object_set_new(meta, map, m);
	}
	json_object_set_new(m, key, json_string(value));
}

void cl_set_annotation(json_t *obj, const char *key, const char *value) { set_meta_map(obj, "annotations", key, value); }
void cl_set_label(json_t *obj, const char *key, const char *value) { set_meta_map(obj, "labels", key, value); }

/* ---- events and quantities ------------------------------------------------------------------- */

static pthread_mutex_t event_lock = PTHREAD_MUTEX_INITIALIZER;
static char *event_seen[2048];
static size_t event_nseen;

void cl_event_once(sim_cluster *c, const json_t *obj, const char *type, const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char *key = vs_xasprintf("%s|%s|%s", cl_uid(obj) ? cl_uid(obj) : "", reason, msg);
	bool seen = false;
	pthread_mutex_lock(&event_lock);
	for (size_t i = 0; i < event_nseen && !seen; i++)
		seen = strcmp(event_seen[i], key) == 0;
	if (!seen) {
		if (event_nseen == sizeof event_seen / sizeof event_seen[0]) {
			for (size_t i = 0; i < event_nseen; i++)
				free(event_seen[i]);
			event_nseen = 0;
		}
		event_seen[event_nseen++] = key;
		key = NULL;
	}
	pthread_mutex_unlock(&event_lock);
	free(key);
	if (!seen)
		sim_api_event(c->st, obj, type, reason, "%s", msg);
}

double cl_quantity(const char *s)
{
	if (!s || !*s)
		return -1;
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s)
		return -1;
	static const struct {
		const char *suffix;
		double mult;
	} units[] = {
		{"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
		{"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9},
		{"T", 1e12}, {"P", 1e15}, {"E", 1e18}, {"m", 1e-3}, {"", 1.0},
	};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(end, units[i].suffix) == 0)
			return v * units[i].mult;
	}
	if (*end == 'e' || *end == 'E') /* exponent form is already consumed by strtod */
		return -1;
	return -1;
}

/* ---- selectors -------------------------------------------------------------------------------- */

static bool str_in_array(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (json_is_string(v) && s && strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

/* One requirement {key, operator, values} against a value lookup (NULL value: key absent). */
static bool requirement_holds(const json_t *req, const char *value)
{
	const char *op = vs_json_str(req, "operator");
	const json_t *values = json_object_get(req, "values");
	if (!op)
		return false;
	if (strcmp(op, "In") == 0)
		return value && str_in_array(values, value);
	if (strcmp(op, "NotIn") == 0)
		return !value || !str_in_array(values, value);
	if (strcmp(op, "Exists") == 0)
		return value != NULL;
	if (strcmp(op, "DoesNotExist") == 0)
		return value == NULL;
	if ((strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) && value && json_array_size(values) == 1) {
		long long have = strtoll(value, NULL, 10);
		long long want = strtoll(json_string_value(json_array_get(values, 0)) ?: "0", NULL, 10);
		return op[0] == 'G' ? have > want : have < want;
	}
	return false;
}

bool cl_selector_matches(const json_t *selector, const json_t *labels, bool match_empty)
{
	const json_t *ml = json_object_get(selector, "matchLabels");
	const json_t *me = json_object_get(selector, "matchExpressions");
	if (json_object_size(ml) == 0 && json_array_size(me) == 0)
		return match_empty;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)ml, k, v) {
		const char *have = json_string_value(json_object_get(labels, k));
		if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
			return false;
	}
	size_t i;
	json_t *req;
	json_array_foreach(me, i, req) {
		const char *key = vs_json_str(req, "key");
		if (!key || !requirement_holds(req, json_string_value(json_object_get(labels, key))))
			return false;
	}
	return true;
}

static bool node_term_matches(const json_t *node, const json_t *term)
{
	const json_t *labels = vs_json_path(node, "metadata.labels");
	size_t i;
	json_t *req;
	size_t n = 0;
	json_array_foreach(json_object_get(term, "matchExpressions"), i, req) {
		const char *key = vs_json_str(req, "key");
		if (!key || !requirement_holds(req, json_string_value(json_object_get(labels, key))))
			return false;
		n++;
	}
	json_array_foreach(json_object_get(term, "matchFields"), i, req) {
		const char *key = vs_json_str(req, "key");
		if (!key || strcmp(key, "metadata.name") != 0 || !requirement_holds(req, cl_name(node)))
			return false;
		n++;
	}
	return n > 0; /* an empty term matches nothing, as in Kubernetes */
}

bool cl_node_matches_selector(const json_t *node, const json_t *node_selector)
{
	const json_t *terms = json_object_get(node_selector, "nodeSelectorTerms");
	if (!json_is_array(terms) || json_array_size(terms) == 0)
		return true;
	size_t i;
	json_t *t;
	json_array_foreach(terms, i, t) {
		if (node_term_matches(node, t))
			return true;
	}
	return false;
}

bool cl_node_matches_pod(const json_t *node, const json_t *spec)
{
	const json_t *labels = vs_json_path(node, "metadata.labels");
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(spec, "nodeSelector"), k, v) {
		const char *have = json_string_value(json_object_get(labels, k));
		if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
			return false;
	}
	const json_t *req = vs_json_path(spec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution");
	if (req && !cl_node_matches_selector(node, req))
		return false;
	return true;
}

bool cl_node_schedulable(const json_t *node)
{
	return !vs_json_bool(node, "spec.unschedulable", false);
}

bool cl_pod_ready(const json_t *pod)
{
	size_t i;
	json_t *cond;
	json_array_foreach(vs_json_path(pod, "status.conditions"), i, cond) {
		const char *t = vs_json_str(cond, "type"), *s = vs_json_str(cond, "status");
		if (t && s && strcmp(t, "Ready") == 0)
			return strcmp(s, "True") == 0;
	}
	return false;
}

bool cl_pod_active(const json_t *pod)
{
	const char *phase = vs_json_str(pod, "status.phase");
	if (cl_deleting(pod))
		return false;
	return !phase || (strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0);
}

/* ---- start and stop --------------------------------------------------------------------------- */

/*
 * A write's answer reaches its writer 0-10 ms after the commit: the apiserver sends it and the
 * commit's watch events at the same moment, so at the default informer delay the two arrive
 * together, and a recreated claim binds in about 0.04 s (one event, four writes) as measured on a
 * real control plane (KUBERNETES-NOTES). A larger --informer-delay-ms models caches that lag
 * (a busy controller-manager's informers and queues), which does not slow the answers to its
 * writes: they stay at this.
 */
#define CL_WRITE_ANSWER_MS 5

void sim_timing_defaults(sim_timing *t)
{
	*t = (sim_timing){
		.informer_delay_ms = 5,   /* watch event to a controller: KUBERNETES-NOTES timings */
		.pv_resync_ms = 15000,    /* kube-controller-manager --pvclaimbinder-sync-period */
		.write_latency_ms = 5,    /* kube-apiserver + etcd: a write until it commits */
		.pleg_relist_ms = 1000,   /* the kubelet's generic PLEG relist period (kubelet.go plegRelistPeriod) */
		.volume_loop_ms = 100,    /* volumemanager reconcilerLoopSleepPeriod, desiredStateOfWorldPopulatorLoopSleepPeriod */
		.mount_poll_ms = 300,     /* volumemanager podAttachAndMountRetryInterval */
	};
}

int cl_new(sim_store *st, const char *data_dir, const sim_timing *timing, sim_cluster **out, vs_error *err)
{
	sim_cluster *c;
	int rc;

	*out = NULL;
	if ((rc = resolve_resources(err)) != 0)
		return rc;
	c = vs_xcalloc(1, sizeof *c);
	c->st = st;
	c->data_dir = vs_xstrdup(data_dir);
	sim_timing_defaults(&c->timing);
	if (timing) {
		sim_timing given = *timing;
		/* a period left at 0 by a caller that knows fewer fields keeps its default */
		if (given.pleg_relist_ms <= 0)
			given.pleg_relist_ms = c->timing.pleg_relist_ms;
		if (given.volume_loop_ms <= 0)
			given.volume_loop_ms = c->timing.volume_loop_ms;
		if (given.mount_poll_ms <= 0)
			given.mount_poll_ms = c->timing.mount_poll_ms;
		c->timing = given;
	}
	pthread_mutex_init(&c->rng_mu, NULL);
	pthread_mutex_init(&c->api_mu, NULL);
	c->timing.seed = vs_rng_seed(&c->rng, c->timing.seed);
	vs_info("timings: seed %llu, informer delay %lld ms, write latency %lld ms, PV resync %lld ms, "
		"PLEG relist %lld ms, volume loops %lld ms, mount poll %lld ms",
		(unsigned long long)c->timing.seed, (long long)c->timing.informer_delay_ms,
		(long long)c->timing.write_latency_ms, (long long)c->timing.pv_resync_ms, (long long)c->timing.pleg_relist_ms,
		(long long)c->timing.volume_loop_ms, (long long)c->timing.mount_poll_ms);
	atomic_init(&c->stopping, false);
	*out = c;
	return 0;
}

int cl_at_stop(sim_cluster *c, cl_stop_fn fn, void *arg, vs_error *err)
{
	if (c->nstops >= (int)(sizeof c->stops / sizeof c->stops[0]))
		return vs_error_set(err, VS_EINVAL, "cluster: too many subsystems to stop");
	c->stops[c->nstops].fn = fn;
	c->stops[c->nstops].arg = arg;
	c->nstops++;
	return 0;
}

/* Stop every subsystem: the cl_at_stop hooks (last registered first), then the cl_spawn loops. */
static void stop_subsystems(sim_cluster *c)
{
	atomic_store(&c->stopping, true);
	while (c->nstops > 0) {
		c->nstops--;
		c->stops[c->nstops].fn(c->stops[c->nstops].arg);
	}
	/* every loop has a period, so joining takes at most one period (plus the pods' stop, which
	 * the node thread does itself: its children die with the thread that forked them) */
	for (int i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i], NULL);
	c->nthreads = 0;
}

void cl_free(sim_cluster *c)
{
	if (!c)
		return;
	stop_subsystems(c);
	json_decref(c->sched_lists);
	json_decref(c->workload_lists);
	pthread_mutex_destroy(&c->rng_mu);
	pthread_mutex_destroy(&c->api_mu);
	free((char *)c->api.ca_pem);
	free(c->data_dir);
	free(c);
}

static int make_dirs(const char *data_dir, vs_error *err)
{
	char *vol = vs_xasprintf("%s/volumes", data_dir), *pods = vs_xasprintf("%s/pods", data_dir);
	int rc = vs_mkdir_p(vol, 0755, err);

	if (!rc)
		rc = vs_mkdir_p(pods, 0755, err);
	free(vol);
	free(pods);
	return rc;
}

int sim_cluster_start(sim_store *st, const char *data_dir, const sim_timing *timing, sim_cluster **out,
		      vs_error *err)
{
	sim_cluster *c;
	int rc;

	*out = NULL;
	if ((rc = cl_new(st, data_dir, timing, &c, err)) != 0)
		return rc;
	sim_store_set_write_latency(st, c->timing.write_latency_ms, CL_WRITE_ANSWER_MS,
				    (uint64_t)cl_random_ms(c, 1, INT64_MAX));
	rc = make_dirs(data_dir, err);
	if (!rc)
		rc = sim_node_start(c, err);
	if (!rc)
		rc = sim_protection_start(c, err);
	if (!rc)
		rc = sim_pv_controller_start(c, err);
	if (!rc)
		rc = sim_provisioner_start(c, err);
	if (!rc)
		rc = sim_sched_start(c, err);
	if (!rc)
		rc = sim_workload_start(c, err);
	if (!rc)
		rc = sim_ttl_start(c, err);
	if (!rc)
		rc = sim_serviceaccount_start(c, err);
	if (rc) {
		sim_cluster_stop(c);
		return rc;
	}
	*out = c;
	return 0;
}

void sim_cluster_set_api(sim_cluster *c, const sim_cluster_api *api)
{
	pthread_mutex_lock(&c->api_mu);
	free((char *)c->api.ca_pem);
	c->api = *api;
	c->api.ca_pem = vs_xstrdup(api->ca_pem ? api->ca_pem : "");
	pthread_mutex_unlock(&c->api_mu);
}

bool cl_api(sim_cluster *c, sim_cluster_api *out)
{
	pthread_mutex_lock(&c->api_mu);
	*out = c->api;
	out->ca_pem = c->api.ca_pem ? vs_xstrdup(c->api.ca_pem) : NULL;
	pthread_mutex_unlock(&c->api_mu);
	if (out->port == 0) {
		free((char *)out->ca_pem);
		out->ca_pem = NULL;
	}
	return out->port != 0;
}

void sim_cluster_stop(sim_cluster *c)
{
	if (!c)
		return;
	stop_subsystems(c);
	sim_node_stop(c);
	cl_free(c);
}

char *sim_cluster_log_path(void *cluster, const char *ns, const char *pod, const char *container)
{
	sim_cluster *c = cluster;
	json_t *p = cl_get(c, cl_res_pod, ns, pod);
	if (!p)
		return NULL;
	char *path = NULL;
	const char *cname = container;
	if (!cname || !*cname)
		cname = vs_json_str(json_array_get(vs_json_path(p, "spec.containers"), 0), "name");
	if (cname)
		path = vs_xasprintf("%s/pods/%s_%s_%s/%s.log", c->data_dir, ns, pod, cl_uid(p), cname);
	json_decref(p);
	return path;
}
