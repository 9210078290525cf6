/*
 * api: the verbs of volshift-sim's API (get, list, create, update, delete, watch) with the
 * machinery kube-apiserver applies to every writer: metadata, defaults, validation of required
 * and immutable fields, resourceVersion preconditions, finalizers and graceful deletion.
 */
#include "api_int.h"
#include "auth.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What a ConfigMap's or a Secret's data may hold, all values together (corev1.MaxSecretSize). */
#define SIM_DATA_MAX_BYTES (1 << 20)

/* ---- names and messages -------------------------------------------------------------------- */

char *sim_resource_qualified(const sim_resource *res)
{
	return *res->group ? vs_xasprintf("%s.%s", res->plural, res->group) : vs_xstrdup(res->plural);
}

char *sim_kind_qualified(const sim_resource *res)
{
	return *res->group ? vs_xasprintf("%s.%s", res->kind, res->group) : vs_xstrdup(res->kind);
}

static int err_not_found(vs_error *err, const sim_resource *res, const char *name)
{
	char *q = sim_resource_qualified(res);

	vs_error_set_api(err, 404, "NotFound", "%s \"%s\" not found", q, name);
	free(q);
	return VS_EAPI;
}

static int err_conflict(vs_error *err, const sim_resource *res, const char *name, const char *why)
{
	char *q = sim_resource_qualified(res);

	vs_error_set_api(err, 409, "Conflict", "Operation cannot be fulfilled on %s \"%s\": %s", q, name, why);
	free(q);
	return VS_EAPI;
}

static int err_invalid(vs_error *err, const sim_resource *res, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int err_invalid(vs_error *err, const sim_resource *res, const char *name, const char *fmt, ...)
{
	char *q = sim_kind_qualified(res), detail[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	vs_error_set_api(err, 422, "Invalid", "%s \"%s\" is invalid: %s", q, name ? name : "", detail);
	free(q);
	return VS_EAPI;
}

static bool is_sub(const sim_resource *res, const char *sub)
{
	const char *p = res->subresources;
	size_t n = strlen(sub);

	while (p && *p) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == n && strncmp(p, sub, n) == 0)
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

json_t *sim_obj_with_type(const sim_resource *res, const json_t *obj)
{
	json_t *o = json_deep_copy(obj);

	json_object_set_new(o, "apiVersion", json_string(sim_resource_api_version(res)));
	json_object_set_new(o, "kind", json_string(res->kind));
	return o;
}

static json_t *meta_of(json_t *o)
{
	json_t *m = json_object_get(o, "metadata");

	if (!json_is_object(m)) {
		m = json_object();
		json_object_set_new(o, "metadata", m);
	}
	return m;
}

static void now_string(char out[32], int64_t offset)
{
	vs_time_format(vs_time_now() + offset, out);
}

/* ---- selectors ----------------------------------------------------------------------------- */

struct field_ctx {
	const sim_resource *res;
	const json_t *obj;
};

static bool res_is(const sim_resource *res, const char *group, const char *plural)
{
	return strcmp(res->group, group) == 0 && strcmp(res->plural, plural) == 0;
}

static const char *const pod_fields[] = {"spec.nodeName", "status.phase", "spec.restartPolicy", "spec.schedulerName",
					 "spec.serviceAccountName", "status.podIP", "status.nominatedNodeName", NULL};
static const char *const event_fields[] = {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
					   "involvedObject.uid", "involvedObject.apiVersion",
					   "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
					   "type", "source", NULL};

static bool in_list(const char *const *list, const char *key)
{
	for (; *list; list++)
		if (strcmp(*list, key) == 0)
			return true;
	return false;
}

static bool field_supported(const sim_resource *res, const char *key)
{
	if (strcmp(key, "metadata.name") == 0 || strcmp(key, "metadata.namespace") == 0)
		return true;
	if (res_is(res, "", "pods"))
		return in_list(pod_fields, key);
	if (res_is(res, "", "events"))
		return in_list(event_fields, key);
	if (res_is(res, "", "namespaces"))
		return strcmp(key, "status.phase") == 0;
	if (res_is(res, "", "secrets"))
		return strcmp(key, "type") == 0;
	if (res_is(res, "", "nodes"))
		return strcmp(key, "spec.unschedulable") == 0;
	if (res_is(res, "", "persistentvolumeclaims") || res_is(res, "", "persistentvolumes"))
		return false;
	if (res_is(res, "batch", "jobs"))
		return strcmp(key, "status.successful") == 0;
	return false;
}

static const char *field_lookup(const char *key, void *vctx)
{
	struct field_ctx *ctx = vctx;
	const char *v;

	if (!field_supported(ctx->res, key))
		return NULL;
	if (strcmp(key, "source") == 0)
		v = vs_json_str(ctx->obj, "source.component");
	else if (strcmp(key, "spec.unschedulable") == 0)
		v = vs_json_bool(ctx->obj, key, false) ? "true" : "false";
	else
		v = vs_json_str(ctx->obj, key);
	return v ? v : "";
}

int sim_parse_selectors(const sim_resource *res, const sim_list_opts *opts, vs_selector **labels,
			vs_selector **fields, vs_error *err)
{
	vs_error perr;

	*labels = *fields = NULL;
	if (!opts)
		return 0;
	if (opts->label_selector && *opts->label_selector &&
	    vs_selector_parse(opts->label_selector, labels, &perr) != 0)
		return vs_error_set_api(err, 400, "BadRequest", "unable to parse requirement: %s", perr.message);
	if (opts->field_selector && *opts->field_selector) {
		if (vs_selector_parse_fields(opts->field_selector, fields, &perr) != 0) {
			vs_selector_free(*labels);
			*labels = NULL;
			return vs_error_set_api(err, 400, "BadRequest", "invalid field selector: %s", perr.message);
		}
		for (size_t i = 0; i < vs_selector_count(*fields); i++) {
			const char *k = vs_selector_key(*fields, i);
			if (!field_supported(res, k)) {
				vs_error_set_api(err, 400, "BadRequest", "field label not supported: %s", k);
				vs_selector_free(*labels);
				vs_selector_free(*fields);
				*labels = *fields = NULL;
				return VS_EAPI;
			}
		}
	}
	return 0;
}

bool sim_obj_matches(const sim_resource *res, const json_t *obj, const vs_selector *labels,
		     const vs_selector *fields)
{
	struct field_ctx ctx = {res, obj};

	if (labels && !vs_selector_matches_labels(labels, vs_json_path(obj, "metadata.labels")))
		return false;
	if (fields && !vs_selector_matches(fields, field_lookup, &ctx))
		return false;
	return true;
}

/* ---- get and list -------------------------------------------------------------------------- */

int sim_api_get(sim_store *st, const sim_resource *res, const char *ns, const char *name, json_t **out,
		vs_error *err)
{
	json_t *o;

	*out = NULL;
	pthread_mutex_lock(&st->mu);
	o = sim_store_lookup_locked(st, res, ns, name);
	if (o)
		*out = sim_obj_with_type(res, o);
	pthread_mutex_unlock(&st->mu);
	return o ? 0 : err_not_found(err, res, name);
}

static int cmp_ns_name(const json_t *a, const json_t *b)
{
	const char *na = vs_json_str(a, "metadata.namespace"), *nb = vs_json_str(b, "metadata.namespace");
	int c = strcmp(na ? na : "", nb ? nb : "");

	return c ? c : strcmp(vs_json_str(a, "metadata.name"), vs_json_str(b, "metadata.name"));
}

static int cmp_items(const void *a, const void *b)
{
	return cmp_ns_name(*(json_t *const *)a, *(json_t *const *)b);
}

/* The continue token is base64 of "RV/ns/name": the resourceVersion the list was taken at, and the
 * last item returned. */
static char *make_continue(uint64_t rv, const json_t *last)
{
	const char *ns = vs_json_str(last, "metadata.namespace");
	char *plain =
		vs_xasprintf("%llu/%s/%s", (unsigned long long)rv, ns ? ns : "", vs_json_str(last, "metadata.name"));
	char *tok = vs_base64_encode((const unsigned char *)plain, strlen(plain));

	free(plain);
	return tok;
}

static int parse_continue(const char *tok, json_t **marker, uint64_t *rv, vs_error *err)
{
	unsigned char *raw = NULL;
	size_t len = 0;
	vs_error perr;
	char *s, *end, *slash = NULL;

	*marker = NULL;
	*rv = 0;
	if (!tok || !*tok)
		return 0;
	if (vs_base64_decode(tok, &raw, &len, &perr) != 0)
		return vs_error_set_api(err, 400, "BadRequest", "continue key is not valid: %s", perr.message);
	s = vs_xstrndup((const char *)raw, len);
	free(raw);
	*rv = strtoull(s, &end, 10);
	if (end != s && *end == '/' && *rv > 0)
		slash = strchr(end + 1, '/');
	if (!slash) {
		free(s);
		return vs_error_set_api(err, 400, "BadRequest", "continue key is not valid");
	}
	*slash = '\0';
	*marker = json_pack("{s:{s:s,s:s}}", "metadata", "namespace", end + 1, "name", slash + 1);
	free(s);
	return 0;
}

/* res's objects (live: its map) as they were at resourceVersion rv, rewound by the history's later
 * changes: the later pages of a list show the objects as of its first page, as a real API server
 * serves them from etcd at that revision. A new object, sharing the stored ones. Lock held; rv is
 * not older than the history kept. */
static json_t *list_snapshot_locked(sim_store *st, const sim_resource *res, json_t *live, uint64_t rv)
{
	json_t *snap = json_object();

	json_object_update(snap, live);
	for (size_t i = st->hist_len; i-- > 0;) {
		struct sim_hist_ev *ev = &st->hist[(st->hist_start + i) % st->hist_cap];
		if (ev->rv <= rv)
			break;
		if (!sim_resource_same_storage(ev->res, res))
			continue;
		char *key = sim_store_key(vs_json_str(ev->obj, "metadata.namespace"),
					  vs_json_str(ev->obj, "metadata.name"));
		if (ev->old) /* modified or deleted since: as it was */
			json_object_set(snap, key, ev->old);
		else /* created since */
			json_object_del(snap, key);
		free(key);
	}
	return snap;
}

int sim_api_list(sim_store *st, const sim_resource *res, const char *ns, const sim_list_opts *opts,
		 json_t **out, vs_error *err)
{
	vs_selector *labels = NULL, *fields = NULL;
	json_t *marker = NULL, **items = NULL, *list, *arr, *meta, *o, *map, *snap = NULL;
	size_t n = 0, cap = 0, start = 0, end;
	const char *k;
	uint64_t rv, at = 0;
	char buf[32], kindlist[80];
	int rc;

	*out = NULL;
	if ((rc = sim_parse_selectors(res, opts, &labels, &fields, err)) != 0)
		return rc;
	if ((rc = parse_continue(opts ? opts->continue_token : NULL, &marker, &at, err)) != 0)
		goto done;
	/* The page is copied under the lock: no stored object is shared with the caller's thread. */
	pthread_mutex_lock(&st->mu);
	map = sim_store_map_locked(st, res);
	if (at && at < st->compacted_rv) {
		pthread_mutex_unlock(&st->mu);
		rc = vs_error_set_api(err, 410, "Expired",
				      "The provided continue parameter is too old to display a consistent list result. "
				      "You can start a new list without the continue parameter.");
		goto done;
	}
	if (at)
		map = snap = list_snapshot_locked(st, res, map, at);
	json_object_foreach (map, k, o) {
		if (res->namespaced && ns && *ns && strcmp(vs_json_str(o, "metadata.namespace"), ns) != 0)
			continue;
		if (!sim_obj_matches(res, o, labels, fields))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			items = vs_xrealloc(items, cap * sizeof(*items));
		}
		items[n++] = o; /* borrowed while the lock is held */
	}
	rv = at ? at : st->rv;
	if (n)
		qsort(items, n, sizeof(*items), cmp_items);
	if (marker)
		while (start < n && cmp_ns_name(items[start], marker) <= 0)
			start++;
	end = n;
	if (opts && opts->limit > 0 && (size_t)opts->limit < n - start)
		end = start + (size_t)opts->limit;
	arr = json_array();
	for (size_t i = start; i < end; i++)
		json_array_append_new(arr, sim_obj_with_type(res, items[i]));
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)rv);
	snprintf(kindlist, sizeof(kindlist), "%sList", res->kind);
	meta = json_pack("{s:s}", "resourceVersion", buf);
	if (end < n) {
		char *tok = make_continue(rv, items[end - 1]);
		json_object_set_new(meta, "continue", json_string(tok));
		free(tok);
		json_object_set_new(meta, "remainingItemCount", json_integer((json_int_t)(n - end)));
	}
	json_decref(snap); /* under the lock: it shares the stored objects */
	pthread_mutex_unlock(&st->mu);
	list = json_pack("{s:s,s:s,s:o,s:o}", "kind", kindlist, "apiVersion", sim_resource_api_version(res),
			 "metadata", meta, "items", arr);
	*out = list;
	free(items);
done:
	json_decref(marker);
	vs_selector_free(labels);
	vs_selector_free(fields);
	return rc;
}

/* The caller's earlier copy of stored object o when its resourceVersion is still o's, else NULL. */
static json_t *same_version(json_t *copies, const char *key, const json_t *o)
{
	json_t *copy = json_object_get(copies, key);
	const char *a = json_string_value(json_object_get(json_object_get(copy, "metadata"), "resourceVersion")),
		   *b = json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));

	return a && b && strcmp(a, b) == 0 ? copy : NULL;
}

void sim_api_list_copies(sim_store *st, const sim_resource *res, json_t **copies)
{
	json_t *next = json_object(), *o;
	const char *k;

	pthread_mutex_lock(&st->mu);
	json_object_foreach (sim_store_map_locked(st, res), k, o) {
		json_t *copy = same_version(*copies, k, o);
		json_object_set_new(next, k, copy ? json_incref(copy) : sim_obj_with_type(res, o));
	}
	pthread_mutex_unlock(&st->mu);
	json_decref(*copies);
	*copies = next;
}

/* An item with its sort keys, read once. */
struct sort_item {
	const char *ns, *name;
	json_t *obj;
};

static int cmp_sort_items(const void *pa, const void *pb)
{
	const struct sort_item *a = pa, *b = pb;
	int c = strcmp(a->ns, b->ns);

	return c ? c : strcmp(a->name, b->name);
}

json_t *sim_api_list_reuse(sim_store *st, const sim_resource *res, json_t **copies)
{
	json_t *arr = json_array(), *o;
	struct sort_item *items;
	const char *k;
	size_t n = 0;

	sim_api_list_copies(st, res, copies);
	items = vs_xcalloc(json_object_size(*copies) + 1, sizeof(*items));
	json_object_foreach (*copies, k, o) {
		json_t *meta = json_object_get(o, "metadata");
		const char *ns = json_string_value(json_object_get(meta, "namespace")),
			   *name = json_string_value(json_object_get(meta, "name"));
		items[n++] = (struct sort_item){ ns ? ns : "", name ? name : "", o };
	}
	qsort(items, n, sizeof(*items), cmp_sort_items);
	for (size_t i = 0; i < n; i++)
		json_array_append(arr, items[i].obj);
	free(items);
	return arr;
}

json_t *sim_api_list_reuse_find(const json_t *copies, const sim_resource *res, const char *ns, const char *name)
{
	char *key = sim_store_key(res->namespaced ? ns : "", name);
	json_t *item = json_object_get(copies, key);

	free(key);
	return item;
}

/* ---- defaults ------------------------------------------------------------------------------ */

static void set_default(json_t *o, const char *path, json_t *v)
{
	if (!vs_json_path(o, path))
		vs_json_set_path(o, path, v);
	else
		json_decref(v);
}

static void default_pod_spec(json_t *spec)
{
	if (!json_is_object(spec))
		return;
	set_default(spec, "restartPolicy", json_string("Always"));
	set_default(spec, "terminationGracePeriodSeconds", json_integer(30));
	set_default(spec, "dnsPolicy", json_string("ClusterFirst"));
	set_default(spec, "schedulerName", json_string("default-scheduler"));
	set_default(spec, "securityContext", json_object());
}

static void add_finalizer(json_t *o, const char *fin)
{
	json_t *meta = meta_of(o), *f = json_object_get(meta, "finalizers"), *v;
	size_t i;

	if (!json_is_array(f)) {
		f = json_array();
		json_object_set_new(meta, "finalizers", f);
	}
	json_array_foreach(f, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), fin) == 0)
			return;
	json_array_append_new(f, json_string(fin));
}

static bool has_finalizers(const json_t *o)
{
	json_t *f = vs_json_path(o, "metadata.finalizers");

	return json_is_array(f) && json_array_size(f) > 0;
}

/* Defaults applied on create and on every update (kube-apiserver defaults every write). */
/* A Secret's stringData, written into data in base64 and dropped, as the API server stores it. */
static void merge_string_data(json_t *o)
{
	json_t *sd = json_object_get(o, "stringData"), *v;
	const char *key;

	if (!json_is_object(sd))
		return;
	if (!json_is_object(json_object_get(o, "data")))
		json_object_set_new(o, "data", json_object());
	json_object_foreach(sd, key, v) {
		const char *text = json_string_value(v) ? json_string_value(v) : "";
		char *b64 = vs_base64_encode((const unsigned char *)text, strlen(text));
		json_object_set_new(json_object_get(o, "data"), key, json_string(b64));
		free(b64);
	}
	json_object_del(o, "stringData");
}

static void apply_defaults(const sim_resource *res, json_t *o)
{
	json_t *spec = json_object_get(o, "spec");

	if (res_is(res, "", "pods")) {
		default_pod_spec(spec);
	} else if (res_is(res, "apps", "deployments")) {
		set_default(o, "spec.replicas", json_integer(1));
		set_default(o, "spec.revisionHistoryLimit", json_integer(10));
		set_default(o, "spec.progressDeadlineSeconds", json_integer(600));
		set_default(o, "spec.strategy",
			    json_pack("{s:s,s:{s:s,s:s}}", "type", "RollingUpdate", "rollingUpdate", "maxUnavailable",
				      "25%", "maxSurge", "25%"));
		default_pod_spec(vs_json_path(o, "spec.template.spec"));
	} else if (res_is(res, "apps", "replicasets")) {
		set_default(o, "spec.replicas", json_integer(1));
		default_pod_spec(vs_json_path(o, "spec.template.spec"));
	} else if (res_is(res, "apps", "statefulsets")) {
		set_default(o, "spec.replicas", json_integer(1));
		set_default(o, "spec.podManagementPolicy", json_string("OrderedReady"));
		set_default(o, "spec.revisionHistoryLimit", json_integer(10));
		set_default(o, "spec.updateStrategy",
			    json_pack("{s:s,s:{s:i}}", "type", "RollingUpdate", "rollingUpdate", "partition", 0));
		set_default(o, "spec.persistentVolumeClaimRetentionPolicy",
			    json_pack("{s:s,s:s}", "whenDeleted", "Retain", "whenScaled", "Retain"));
		default_pod_spec(vs_json_path(o, "spec.template.spec"));
	} else if (res_is(res, "apps", "daemonsets")) {
		set_default(o, "spec.revisionHistoryLimit", json_integer(10));
		set_default(o, "spec.updateStrategy",
			    json_pack("{s:s,s:{s:i,s:i}}", "type", "RollingUpdate", "rollingUpdate", "maxUnavailable", 1,
				      "maxSurge", 0));
		default_pod_spec(vs_json_path(o, "spec.template.spec"));
	} else if (res_is(res, "batch", "jobs")) {
		set_default(o, "spec.parallelism", json_integer(1));
		set_default(o, "spec.completions", json_integer(1));
		set_default(o, "spec.backoffLimit", json_integer(6));
		set_default(o, "spec.completionMode", json_string("NonIndexed"));
		set_default(o, "spec.suspend", json_false());
		if (vs_json_path(o, "spec.template.spec"))
			set_default(o, "spec.template.spec.restartPolicy", json_string("Never"));
		default_pod_spec(vs_json_path(o, "spec.template.spec"));
	} else if (res_is(res, "batch", "cronjobs")) {
		set_default(o, "spec.suspend", json_false());
		set_default(o, "spec.concurrencyPolicy", json_string("Allow"));
		set_default(o, "spec.successfulJobsHistoryLimit", json_integer(3));
		set_default(o, "spec.failedJobsHistoryLimit", json_integer(1));
	} else if (res_is(res, "", "persistentvolumeclaims")) {
		set_default(o, "spec.volumeMode", json_string("Filesystem"));
	} else if (res_is(res, "", "persistentvolumes")) {
		set_default(o, "spec.volumeMode", json_string("Filesystem"));
		set_default(o, "spec.persistentVolumeReclaimPolicy", json_string("Retain"));
	} else if (res_is(res, "storage.k8s.io", "storageclasses")) {
		set_default(o, "reclaimPolicy", json_string("Delete"));
		set_default(o, "volumeBindingMode", json_string("Immediate"));
	} else if (res_is(res, "", "namespaces")) {
		const char *name = vs_json_str(o, "metadata.name");
		if (name) {
			if (!json_is_object(vs_json_path(o, "metadata.labels")))
				vs_json_set_path(o, "metadata.labels", json_object());
			json_object_set_new(vs_json_path(o, "metadata.labels"), "kubernetes.io/metadata.name",
					    json_string(name));
		}
	} else if (res_is(res, "", "secrets")) {
		set_default(o, "type", json_string("Opaque"));
		merge_string_data(o);
	} else if (sim_res_is_crd(res)) {
		sim_crd_default(o);
	}
}

/* Defaults only a create applies: initial status, finalizers, generated selectors. */
static void apply_create_defaults(const sim_resource *res, json_t *o)
{
	if (sim_resource_is_custom(res)) {
		if (is_sub(res, "status")) /* the status subresource alone writes it */
			json_object_del(o, "status");
	} else if (sim_res_is_crd(res)) {
		json_object_set_new(o, "status", sim_crd_initial_status(o));
	} else if (res_is(res, "", "pods")) {
		json_object_set_new(o, "status", json_pack("{s:s,s:s}", "phase", "Pending", "qosClass", "BestEffort"));
	} else if (res_is(res, "", "persistentvolumeclaims")) {
		json_object_set_new(o, "status", json_pack("{s:s}", "phase", "Pending"));
		add_finalizer(o, "kubernetes.io/pvc-protection");
	} else if (res_is(res, "", "persistentvolumes")) {
		/* as kube-apiserver: a new volume is Pending until the PV controller syncs it */
		json_object_set_new(o, "status", json_pack("{s:s}", "phase", "Pending"));
		add_finalizer(o, "kubernetes.io/pv-protection");
	} else if (res_is(res, "", "namespaces")) {
		json_object_set_new(o, "spec", json_pack("{s:[s]}", "finalizers", "kubernetes"));
		json_object_set_new(o, "status", json_pack("{s:s}", "phase", "Active"));
	} else if (res_is(res, "batch", "jobs")) {
		const char *uid = vs_json_str(o, "metadata.uid"), *name = vs_json_str(o, "metadata.name");
		if (!vs_json_path(o, "spec.selector") && vs_json_path(o, "spec.template")) {
			vs_json_set_path(o, "spec.selector", json_pack("{s:{s:s}}", "matchLabels", "controller-uid", uid));
			vs_json_set_path(o, "spec.template.metadata.labels.controller-uid", json_string(uid));
			vs_json_set_path(o, "spec.template.metadata.labels.job-name", json_string(name));
		}
		json_object_set_new(o, "status", json_object());
	} else if (is_sub(res, "status") && !res_is(res, "", "nodes")) {
		json_object_set_new(o, "status", json_object());
	}
}

/* ---- validation ---------------------------------------------------------------------------- */

static bool valid_name(const char *name, bool allow_dot)
{
	size_t n = strlen(name);

	if (n == 0 || n > (allow_dot ? 253u : 63u))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || (allow_dot && c == '.');
		if (!ok)
			return false;
	}
	return isalnum((unsigned char)name[0]) && isalnum((unsigned char)name[n - 1]);
}

static int validate_containers(const sim_resource *res, const char *name, const json_t *podspec, const char *path,
			       vs_error *err)
{
	json_t *cs = json_object_get(podspec, "containers"), *c;
	size_t i;

	if (!json_is_object(podspec))
		return err_invalid(err, res, name, "%s: Required value", path);
	if (!json_is_array(cs) || json_array_size(cs) == 0)
		return err_invalid(err, res, name, "%s.containers: Required value", path);
	json_array_foreach(cs, i, c) {
		const char *cn = vs_json_str(c, "name");
		if (!cn || !*cn)
			return err_invalid(err, res, name, "%s.containers[%zu].name: Required value", path, i);
	}
	return 0;
}

static int validate_selector_template(const sim_resource *res, const char *name, const json_t *o, vs_error *err)
{
	json_t *sel = vs_json_path(o, "spec.selector"), *ml, *labels, *v;
	const char *k;

	if (!json_is_object(sel))
		return err_invalid(err, res, name, "spec.selector: Required value");
	ml = json_object_get(sel, "matchLabels");
	labels = vs_json_path(o, "spec.template.metadata.labels");
	json_object_foreach(ml, k, v) {
		json_t *lv = json_object_get(labels, k);
		if (!lv || !json_equal(lv, v))
			return err_invalid(err, res, name,
					   "spec.template.metadata.labels: Invalid value: `selector` does not match "
					   "template `labels`");
	}
	return validate_containers(res, name, vs_json_path(o, "spec.template.spec"), "spec.template.spec", err);
}

/* The bytes a map of o's (data or binaryData) holds: its values' lengths, decoded when base64. */
static size_t data_bytes(const json_t *o, const char *field, bool base64)
{
	const char *key;
	json_t *v;
	size_t n = 0, len;

	json_object_foreach ((json_t *)vs_json_path(o, field), key, v) {
		len = json_string_length(v);
		if (base64) {
			const char *t = json_string_value(v);
			size_t pad = (len > 0 && t[len - 1] == '=') + (len > 1 && t[len - 2] == '=');
			len = len / 4 * 3;
			len -= pad < len ? pad : len;
		}
		n += len;
	}
	return n;
}

/* Refuse a ConfigMap or Secret whose data passes SIM_DATA_MAX_BYTES, as the API server does. */
static int validate_data_size(const sim_resource *res, const char *name, const json_t *o, vs_error *err)
{
	size_t n;

	if (res_is(res, "", "configmaps"))
		n = data_bytes(o, "data", false) + data_bytes(o, "binaryData", true);
	else if (res_is(res, "", "secrets"))
		n = data_bytes(o, "data", true) + data_bytes(o, "stringData", false);
	else
		return 0;
	if (n > SIM_DATA_MAX_BYTES)
		return err_invalid(err, res, name, "[]: Too long: must have at most %d bytes", SIM_DATA_MAX_BYTES);
	return 0;
}

/* A CRD's validation (crd.c), on create (old NULL) and update. */
static int validate_crd(const sim_resource *res, const json_t *o, const json_t *old, vs_error *err)
{
	char why[400];

	if (sim_res_is_crd(res) && sim_crd_invalid(o, old, why, sizeof(why)))
		return err_invalid(err, res, vs_json_str(o, "metadata.name"), "%s", why);
	return 0;
}

static int validate_object(const sim_resource *res, const json_t *o, vs_error *err)
{
	const char *name = vs_json_str(o, "metadata.name");

	if (!name || !*name)
		return err_invalid(err, res, "", "metadata.name: Required value: name or generateName is required");
	/* RBAC objects only need to be a path segment (ValidateRBACName): "system:discovery" */
	if (strcmp(res->group, "rbac.authorization.k8s.io") != 0 && !valid_name(name, !res_is(res, "", "namespaces")))
		return err_invalid(
			err, res, name,
			"metadata.name: Invalid value: \"%s\": a lowercase RFC 1123 %s must consist of lower "
			"case alphanumeric characters, '-'%s, and must start and end with an alphanumeric "
			"character",
			name, res_is(res, "", "namespaces") ? "label" : "subdomain",
			res_is(res, "", "namespaces") ? "" : " or '.'");
	if (validate_data_size(res, name, o, err) != 0)
		return VS_EAPI;
	if (res_is(res, "", "pods"))
		return validate_containers(res, name, json_object_get(o, "spec"), "spec", err);
	if (res_is(res, "", "persistentvolumeclaims")) {
		json_t *am = vs_json_path(o, "spec.accessModes");
		if (!json_is_array(am) || json_array_size(am) == 0)
			return err_invalid(err, res, name,
					   "spec.accessModes: Required value: at least 1 access mode is required");
		if (!vs_json_str(o, "spec.resources.requests.storage"))
			return err_invalid(err, res, name, "spec.resources[storage]: Required value");
	}
	if (res_is(res, "", "persistentvolumes")) {
		json_t *am = vs_json_path(o, "spec.accessModes");
		if (!vs_json_str(o, "spec.capacity.storage"))
			return err_invalid(err, res, name, "spec.capacity: Required value");
		if (!json_is_array(am) || json_array_size(am) == 0)
			return err_invalid(err, res, name, "spec.accessModes: Required value");
	}
	if (res_is(res, "apps", "deployments") || res_is(res, "apps", "replicasets") ||
	    res_is(res, "apps", "statefulsets") || res_is(res, "apps", "daemonsets"))
		return validate_selector_template(res, name, o, err);
	if (res_is(res, "batch", "jobs"))
		return validate_containers(res, name, vs_json_path(o, "spec.template.spec"), "spec.template.spec", err);
	if (res_is(res, "batch", "cronjobs") && !vs_json_str(o, "spec.schedule"))
		return err_invalid(err, res, name, "spec.schedule: Required value");
	if (res_is(res, "storage.k8s.io", "storageclasses") && !vs_json_str(o, "provisioner"))
		return err_invalid(err, res, name, "provisioner: Required value");
	int rc = validate_crd(res, o, NULL, err);

	return rc ? rc : sim_rbac_validate(res, NULL, o, err);
}

/* A copy of spec without the keys listed (NULL-terminated). */
static json_t *spec_without(const json_t *spec, const char *const *keys)
{
	json_t *c = spec ? json_deep_copy(spec) : json_object();

	for (; *keys; keys++)
		json_object_del(c, *keys);
	return c;
}

static void strip_images(json_t *spec, const char *field)
{
	json_t *arr = json_object_get(spec, field), *c;
	size_t i;

	json_array_foreach(arr, i, c)
		json_object_del(c, "image");
}

static bool same_except(const json_t *a, const json_t *b, const char *const *keys)
{
	json_t *ca = spec_without(a, keys), *cb = spec_without(b, keys);
	bool eq = json_equal(ca, cb);

	json_decref(ca);
	json_decref(cb);
	return eq;
}

static int validate_update(const sim_resource *res, const json_t *cur, const json_t *o, vs_error *err)
{
	const char *name = vs_json_str(cur, "metadata.name");
	json_t *os = json_object_get(cur, "spec"), *ns = json_object_get(o, "spec");

	if (sim_rbac_validate(res, cur, o, err) != 0)
		return VS_EAPI;
	if (res_is(res, "", "persistentvolumeclaims")) {
		const char *old_vol = vs_json_str(cur, "spec.volumeName");
		const char *old_sc = vs_json_str(cur, "spec.storageClassName");
		json_t *a = spec_without(os, (const char *const[]){"resources", NULL});
		json_t *b = spec_without(ns, (const char *const[]){"resources", NULL});
		json_t *ra = json_deep_copy(vs_json_path(os, "resources")), *rb = json_deep_copy(vs_json_path(ns, "resources"));
		bool eq;
		if (ra)
			json_object_del(ra, "requests");
		if (rb)
			json_object_del(rb, "requests");
		if (!old_vol || !*old_vol) {
			json_object_del(a, "volumeName");
			json_object_del(b, "volumeName");
		}
		if (!old_sc) {
			json_object_del(a, "storageClassName");
			json_object_del(b, "storageClassName");
		}
		eq = json_equal(a, b) && ((!ra && !rb) || (ra && rb && json_equal(ra, rb)) ||
					   (ra && !rb && json_object_size(ra) == 0) ||
					   (rb && !ra && json_object_size(rb) == 0));
		json_decref(a);
		json_decref(b);
		json_decref(ra);
		json_decref(rb);
		if (!eq)
			return err_invalid(err, res, name,
					   "spec: Forbidden: spec is immutable after creation except resources.requests "
					   "for bound claims");
	} else if (res_is(res, "storage.k8s.io", "storageclasses")) {
		static const char *const fields[] = {"parameters", "provisioner", "reclaimPolicy", "volumeBindingMode", NULL};
		for (const char *const *f = fields; *f; f++) {
			json_t *a = json_object_get(cur, *f), *b = json_object_get(o, *f);
			if ((a || b) && !(a && b && json_equal(a, b)))
				return err_invalid(err, res, name, "%s: Forbidden: updates to %s are forbidden.", *f, *f);
		}
	} else if (res_is(res, "apps", "statefulsets")) {
		static const char *const allowed[] = {"replicas", "template", "updateStrategy", "ordinals",
						      "persistentVolumeClaimRetentionPolicy", "minReadySeconds", NULL};
		if (!same_except(os, ns, allowed))
			return err_invalid(err, res, name,
					   "spec: Forbidden: updates to statefulset spec for fields other than "
					   "'replicas', 'ordinals', 'template', 'updateStrategy', "
					   "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden");
	} else if (res_is(res, "", "pods")) {
		static const char *const allowed[] = {"activeDeadlineSeconds", "tolerations", "schedulingGates", NULL};
		json_t *a = spec_without(os, allowed), *b = spec_without(ns, allowed);
		const char *old_node = vs_json_str(cur, "spec.nodeName");
		bool eq;
		strip_images(a, "containers");
		strip_images(b, "containers");
		strip_images(a, "initContainers");
		strip_images(b, "initContainers");
		if (!old_node || !*old_node) {
			json_object_del(a, "nodeName");
			json_object_del(b, "nodeName");
		}
		eq = json_equal(a, b);
		json_decref(a);
		json_decref(b);
		if (!eq)
			return err_invalid(err, res, name,
					   "spec: Forbidden: pod updates may not change fields other than "
					   "`spec.containers[*].image`, `spec.initContainers[*].image`, "
					   "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing "
					   "tolerations) or `spec.terminationGracePeriodSeconds` (allow it to be set to 1 "
					   "if it was previously negative)");
	} else if (res_is(res, "", "persistentvolumes")) {
		static const char *const sources[] = {"hostPath", "local", "csi", "nfs", "volumeMode", NULL};
		for (const char *const *f = sources; *f; f++) {
			json_t *a = json_object_get(os, *f), *b = json_object_get(ns, *f);
			if ((a || b) && !(a && b && json_equal(a, b)))
				return err_invalid(err, res, name,
						   "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is "
						   "immutable after creation");
		}
	} else if (res_is(res, "batch", "jobs")) {
		json_t *a = json_object_get(os, "selector"), *b = json_object_get(ns, "selector");
		if ((a || b) && !(a && b && json_equal(a, b)))
			return err_invalid(err, res, name, "spec.selector: Invalid value: field is immutable");
	} else if (res_is(res, "apps", "deployments") || res_is(res, "apps", "replicasets") ||
		   res_is(res, "apps", "daemonsets")) {
		json_t *a = json_object_get(os, "selector"), *b = json_object_get(ns, "selector");
		if ((a || b) && !(a && b && json_equal(a, b)))
			return err_invalid(err, res, name, "spec.selector: Invalid value: field is immutable");
	}
	return validate_crd(res, o, cur, err);
}

/* ---- create -------------------------------------------------------------------------------- */

void sim_random_suffix(char out[6])
{
	static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";

	for (int i = 0; i < 5; i++)
		out[i] = alnum[vs_rand_u64() % (sizeof(alnum) - 1)];
	out[5] = '\0';
}

/* 404 when ns is missing, 403 when it is terminating. Lock held. */
static int check_namespace_locked(sim_store *st, const char *ns, vs_error *err)
{
	const sim_resource *nsres = sim_resource_find("", "namespaces");
	json_t *n = sim_store_lookup_locked(st, nsres, "", ns);

	if (!n)
		return vs_error_set_api(err, 404, "NotFound", "namespaces \"%s\" not found", ns);
	if (vs_json_path(n, "metadata.deletionTimestamp"))
		return vs_error_set_api(err, 403, "Forbidden",
					"unable to create new content in namespace %s because it is being terminated", ns);
	return 0;
}

/* The name of the default StorageClass or NULL. Lock held; borrowed. */
static const char *default_class_locked(sim_store *st)
{
	json_t *map = sim_store_map_locked(st, sim_resource_find("storage.k8s.io", "storageclasses")), *o;
	const char *k, *best = NULL;

	json_object_foreach(map, k, o) {
		json_t *ann = vs_json_path(o, "metadata.annotations");
		const char *a = json_string_value(json_object_get(ann, "storageclass.kubernetes.io/is-default-class"));
		if (a && strcmp(a, "true") == 0)
			best = vs_json_str(o, "metadata.name");
	}
	return best;
}

/* CREATE without the write's latency (sim_api_create adds it). */
static int api_create(sim_store *st, const sim_resource *res, const char *ns, const json_t *obj, json_t **out,
		      vs_error *err)
{
	json_t *o = NULL, *meta;
	const char *mns, *name, *gen;
	char uid[37], ts[32], *namebuf = NULL, *nsbuf = NULL;
	int rc = 0;

	if (out)
		*out = NULL;
	if (!json_is_object(obj))
		return vs_error_set_api(err, 400, "BadRequest", "the object provided is not a JSON object");
	o = sim_obj_with_type(res, obj);
	meta = meta_of(o);
	mns = json_string_value(json_object_get(meta, "namespace"));
	if (res->namespaced) {
		if (ns && *ns && mns && *mns && strcmp(ns, mns) != 0) {
			rc = vs_error_set_api(err, 400, "BadRequest",
					      "the namespace of the provided object does not match the namespace sent on "
					      "the request");
			goto done;
		}
		nsbuf = vs_xstrdup(ns && *ns ? ns : mns && *mns ? mns : "default");
		json_object_set_new(meta, "namespace", json_string(nsbuf));
	} else {
		json_object_del(meta, "namespace");
	}
	name = json_string_value(json_object_get(meta, "name"));
	gen = json_string_value(json_object_get(meta, "generateName"));
	if ((!name || !*name) && gen && *gen) {
		char suffix[6];
		sim_random_suffix(suffix);
		namebuf = vs_xasprintf("%s%s", gen, suffix);
		json_object_set_new(meta, "name", json_string(namebuf));
	}
	vs_uuid(uid);
	now_string(ts, 0);
	json_object_set_new(meta, "uid", json_string(uid));
	json_object_set_new(meta, "creationTimestamp", json_string(ts));
	json_object_set_new(meta, "generation", json_integer(1));
	json_object_del(meta, "resourceVersion");
	json_object_del(meta, "deletionTimestamp");
	json_object_del(meta, "deletionGracePeriodSeconds");
	json_object_del(meta, "selfLink");
	apply_defaults(res, o);
	apply_create_defaults(res, o);
	if (res_is(res, "", "pods"))
		sim_admit_service_account(st, o);
	if ((rc = validate_object(res, o, err)) != 0)
		goto done;
	name = vs_json_str(o, "metadata.name");
	pthread_mutex_lock(&st->mu);
	if (res->namespaced && (rc = check_namespace_locked(st, nsbuf, err)) != 0)
		goto unlock;
	if (sim_crd_terminating_locked(res)) {
		rc = vs_error_set_api(err, 405, "MethodNotAllowed",
				      "create not allowed while custom resource definition is terminating");
		goto unlock;
	}
	if (sim_store_lookup_locked(st, res, nsbuf, name)) {
		char *q = sim_resource_qualified(res);
		rc = vs_error_set_api(err, 409, "AlreadyExists", "%s \"%s\" already exists", q, name);
		free(q);
		goto unlock;
	}
	if (res_is(res, "", "persistentvolumeclaims") && !vs_json_path(o, "spec.storageClassName")) {
		const char *dc = default_class_locked(st);
		if (dc)
			vs_json_set_path(o, "spec.storageClassName", json_string(dc));
	}
	sim_store_put_locked(st, res, nsbuf, name, json_incref(o));
	if (out)
		*out = json_deep_copy(o);
unlock:
	json_decref(o); /* under the lock: the store shares it with other threads */
	o = NULL;
	pthread_mutex_unlock(&st->mu);
done:
	json_decref(o);
	free(namebuf);
	free(nsbuf);
	return rc;
}

/* ---- update -------------------------------------------------------------------------------- */

static bool finalizers_subset(const json_t *newf, const json_t *oldf)
{
	size_t i, j;
	json_t *v, *w;

	json_array_foreach(newf, i, v) {
		bool found = false;
		json_array_foreach(oldf, j, w)
			if (json_equal(v, w))
				found = true;
		if (!found)
			return false;
	}
	return true;
}

/* True when an object being deleted has nothing left holding it. */
static bool ready_to_remove(const sim_resource *res, const json_t *o)
{
	json_t *sf;

	if (!vs_json_path(o, "metadata.deletionTimestamp") || has_finalizers(o))
		return false;
	if (vs_json_int(o, "metadata.deletionGracePeriodSeconds", 0) > 0)
		return false;
	sf = vs_json_path(o, "spec.finalizers");
	if (res_is(res, "", "namespaces") && json_is_array(sf) && json_array_size(sf) > 0)
		return false;
	return true;
}

/* A copy, not a shared reference: src may be the caller's, which its thread frees as it likes. */
static void copy_field(json_t *dst, const json_t *src, const char *key)
{
	json_t *v = json_object_get(src, key);

	if (v)
		json_object_set_new(dst, key, json_deep_copy(v));
	else
		json_object_del(dst, key);
}

/* What bumps metadata.generation: a change of spec; for a custom resource, of anything but
 * metadata (and status, when its status subresource is declared). */
static bool content_changed(const sim_resource *res, const json_t *o, const json_t *cur)
{
	json_t *a, *b;
	bool changed;

	if (!sim_resource_is_custom(res))
		return !json_equal(json_object_get(o, "spec"), json_object_get(cur, "spec"));
	a = json_copy((json_t *)o);
	b = json_copy((json_t *)cur);
	for (const char *const *k = (const char *const[]){ "metadata", "apiVersion", "kind",
							   is_sub(res, "status") ? "status" : NULL, NULL };
	     *k; k++) {
		json_object_del(a, *k);
		json_object_del(b, *k);
	}
	changed = !json_equal(a, b);
	json_decref(a);
	json_decref(b);
	return changed;
}

/* UPDATE without the write's latency (sim_api_update adds it). */
static int api_update(sim_store *st, const sim_resource *res, const char *ns, const json_t *obj,
		      enum sim_update_kind kind, json_t **out, vs_error *err)
{
	json_t *o = NULL, *cur, *meta, *cmeta;
	const char *name = vs_json_str(obj, "metadata.name"), *rv = vs_json_str(obj, "metadata.resourceVersion");
	const char *mns = vs_json_str(obj, "metadata.namespace");
	int rc = 0;

	if (out)
		*out = NULL;
	if (!json_is_object(obj))
		return vs_error_set_api(err, 400, "BadRequest", "the object provided is not a JSON object");
	if (!name || !*name)
		return err_invalid(err, res, "", "metadata.name: Required value: name is required");
	if (res->namespaced && (!ns || !*ns))
		ns = mns ? mns : "default";
	if (res->namespaced && mns && *mns && strcmp(mns, ns) != 0)
		return vs_error_set_api(err, 400, "BadRequest",
					"the namespace of the provided object does not match the namespace sent on the "
					"request");
	pthread_mutex_lock(&st->mu);
	cur = sim_store_lookup_locked(st, res, ns, name);
	if (!cur) {
		rc = err_not_found(err, res, name);
		goto unlock;
	}
	if (rv && *rv && strcmp(rv, vs_json_str(cur, "metadata.resourceVersion")) != 0) {
		rc = err_conflict(err, res, name,
				  "the object has been modified; please apply your changes to the latest version and "
				  "try again");
		goto unlock;
	}
	if (kind == SIM_UPDATE_STATUS) {
		o = json_deep_copy(cur);
		copy_field(o, obj, "status");
	} else {
		o = sim_obj_with_type(res, obj);
		if (is_sub(res, "status"))
			copy_field(o, cur, "status");
	}
	meta = meta_of(o);
	cmeta = json_object_get(cur, "metadata");
	for (const char *const *k = (const char *const[]){"uid", "creationTimestamp", "namespace", "name",
							   "deletionTimestamp", "deletionGracePeriodSeconds",
							   "generation", "resourceVersion", NULL};
	     *k; k++)
		copy_field(meta, cmeta, *k);
	if (vs_json_path(cur, "metadata.deletionTimestamp") &&
	    !finalizers_subset(json_object_get(meta, "finalizers"), json_object_get(cmeta, "finalizers"))) {
		rc = err_invalid(err, res, name,
				 "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being "
				 "deleted");
		goto unlock;
	}
	if (kind == SIM_UPDATE_MAIN) {
		apply_defaults(res, o);
		if ((rc = validate_object(res, o, err)) != 0 || (rc = validate_update(res, cur, o, err)) != 0)
			goto unlock;
	}
	if (content_changed(res, o, cur))
		json_object_set_new(meta, "generation", json_integer(vs_json_int(cur, "metadata.generation", 1) + 1));
	if (json_equal(o, cur)) {
		if (out)
			*out = json_deep_copy(cur);
		goto unlock;
	}
	if (ready_to_remove(res, o))
		sim_store_remove_locked(st, res, ns, name, json_incref(o));
	else
		sim_store_put_locked(st, res, ns, name, json_incref(o));
	if (out)
		*out = json_deep_copy(o);
unlock:
	json_decref(o); /* under the lock: the store shares it with other threads */
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* ---- delete -------------------------------------------------------------------------------- */

static bool pod_terminal(const json_t *o)
{
	const char *phase = vs_json_str(o, "status.phase");

	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

/* DELETE without the write's latency (sim_api_delete adds it). */
static int api_delete(sim_store *st, const sim_resource *res, const char *ns, const char *name,
		      const sim_delete_opts *opts, json_t **out, bool *deleted, vs_error *err)
{
	static const sim_delete_opts dflt = {SIM_PROPAGATE_DEFAULT, NULL, NULL, -1};
	json_t *cur, *o = NULL, *meta;
	bool is_pod = res_is(res, "", "pods"), gone = false;
	long grace = 0;
	int rc = 0;

	if (out)
		*out = NULL;
	if (deleted)
		*deleted = false;
	if (!opts)
		opts = &dflt;
	pthread_mutex_lock(&st->mu);
	cur = sim_store_lookup_locked(st, res, ns, name);
	if (!cur) {
		rc = err_not_found(err, res, name);
		goto unlock;
	}
	if (opts->precondition_uid && *opts->precondition_uid &&
	    strcmp(opts->precondition_uid, vs_json_str(cur, "metadata.uid")) != 0) {
		char why[200];
		snprintf(why, sizeof(why), "Precondition failed: UID in precondition: %s, UID in object meta: %s",
			 opts->precondition_uid, vs_json_str(cur, "metadata.uid"));
		rc = err_conflict(err, res, name, why);
		goto unlock;
	}
	if (opts->precondition_rv && *opts->precondition_rv &&
	    strcmp(opts->precondition_rv, vs_json_str(cur, "metadata.resourceVersion")) != 0) {
		char why[200];
		snprintf(why, sizeof(why),
			 "Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s",
			 opts->precondition_rv, vs_json_str(cur, "metadata.resourceVersion"));
		rc = err_conflict(err, res, name, why);
		goto unlock;
	}
	o = json_deep_copy(cur);
	meta = meta_of(o);
	if (sim_res_is_crd(res) && !json_object_get(meta, "deletionTimestamp"))
		sim_crd_mark_deleting(o); /* the first DELETE of a CRD only marks it (no propagation) */
	else if (opts->propagation == SIM_PROPAGATE_ORPHAN)
		add_finalizer(o, "orphan");
	else if (opts->propagation == SIM_PROPAGATE_FOREGROUND)
		add_finalizer(o, "foregroundDeletion");
	if (is_pod) {
		const char *node = vs_json_str(o, "spec.nodeName");
		grace = opts->grace_period_seconds >= 0 ? opts->grace_period_seconds
							: (long)vs_json_int(o, "spec.terminationGracePeriodSeconds", 30);
		if (!node || !*node || pod_terminal(o) || grace < 0)
			grace = 0;
		if (json_object_get(meta, "deletionGracePeriodSeconds")) {
			long prev = (long)vs_json_int(o, "metadata.deletionGracePeriodSeconds", 0);
			if (grace > prev)
				grace = prev;
		}
	}
	if (!json_object_get(meta, "deletionTimestamp") || is_pod) {
		char ts[32];
		json_t *cur_gp = json_object_get(meta, "deletionGracePeriodSeconds");
		if (!json_object_get(meta, "deletionTimestamp") || !cur_gp ||
		    json_integer_value(cur_gp) != (json_int_t)grace) {
			now_string(ts, grace);
			json_object_set_new(meta, "deletionTimestamp", json_string(ts));
		}
		json_object_set_new(meta, "deletionGracePeriodSeconds", json_integer(grace));
	}
	if (res_is(res, "", "namespaces"))
		vs_json_set_path(o, "status.phase", json_string("Terminating"));
	if (ready_to_remove(res, o)) {
		sim_store_remove_locked(st, res, ns, name, json_incref(o));
		gone = true;
	} else if (!json_equal(o, cur)) {
		sim_store_put_locked(st, res, ns, name, json_incref(o));
	}
	if (out)
		*out = sim_obj_with_type(res, o);
	if (deleted)
		*deleted = gone;
unlock:
	json_decref(o); /* under the lock: the store shares it with other threads */
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* ---- the time a write takes ------------------------------------------------------------------ */

void sim_store_set_write_latency(sim_store *st, int64_t commit_ms, int64_t answer_ms, uint64_t seed)
{
	pthread_mutex_lock(&st->mu);
	st->commit_ms = commit_ms > 0 ? commit_ms : 0;
	st->answer_ms = answer_ms > 0 ? answer_ms : 0;
	vs_rng_seed(&st->latency_rng, seed);
	pthread_mutex_unlock(&st->mu);
}

enum write_leg { WRITE_TO_COMMIT, WRITE_ANSWER };

/* Sleep for one leg of a write (see sim_store_set_write_latency), never holding the lock. */
static void write_wait(sim_store *st, enum write_leg leg)
{
	int64_t ms = 0;

	pthread_mutex_lock(&st->mu);
	if (!st->shutdown && leg == WRITE_TO_COMMIT && st->commit_ms > 0)
		ms = vs_rng_range(&st->latency_rng, st->commit_ms / 2, st->commit_ms + st->commit_ms / 2);
	else if (!st->shutdown && leg == WRITE_ANSWER && st->answer_ms > 0)
		ms = vs_rng_range(&st->latency_rng, 0, 2 * st->answer_ms);
	pthread_mutex_unlock(&st->mu);
	if (ms > 0)
		vs_sleep_ms(ms);
}

int sim_api_create(sim_store *st, const sim_resource *res, const char *ns, const json_t *obj, json_t **out,
		   vs_error *err)
{
	int rc;

	write_wait(st, WRITE_TO_COMMIT);
	rc = api_create(st, res, ns, obj, out, err);
	write_wait(st, WRITE_ANSWER);
	return rc;
}

int sim_api_update(sim_store *st, const sim_resource *res, const char *ns, const json_t *obj,
		   enum sim_update_kind kind, json_t **out, vs_error *err)
{
	int rc;

	write_wait(st, WRITE_TO_COMMIT);
	rc = api_update(st, res, ns, obj, kind, out, err);
	write_wait(st, WRITE_ANSWER);
	return rc;
}

int sim_api_delete(sim_store *st, const sim_resource *res, const char *ns, const char *name,
		   const sim_delete_opts *opts, json_t **out, bool *deleted, vs_error *err)
{
	int rc;

	write_wait(st, WRITE_TO_COMMIT);
	rc = api_delete(st, res, ns, name, opts, out, deleted, err);
	write_wait(st, WRITE_ANSWER);
	return rc;
}

/* ---- watch --------------------------------------------------------------------------------- */

static const char *ev_type_name(enum sim_ev_type t)
{
	return t == SIM_EV_ADDED ? "ADDED" : t == SIM_EV_MODIFIED ? "MODIFIED" : "DELETED";
}

/* Append the events after since that this watch sees. Lock held. */
static void collect_events_locked(sim_store *st, const sim_resource *res, const char *ns, const vs_selector *labels,
				  const vs_selector *fields, uint64_t since, json_t *arr)
{
	size_t i = st->hist_len;

	while (i > 0 && st->hist[(st->hist_start + i - 1) % st->hist_cap].rv > since)
		i--;
	for (; i < st->hist_len; i++) {
		struct sim_hist_ev *ev = &st->hist[(st->hist_start + i) % st->hist_cap];
		enum sim_ev_type type = ev->type;
		bool now_m, old_m;

		if (!sim_resource_same_storage(ev->res, res))
			continue;
		if (res->namespaced && ns && *ns && strcmp(vs_json_str(ev->obj, "metadata.namespace"), ns) != 0)
			continue;
		now_m = sim_obj_matches(res, ev->obj, labels, fields);
		old_m = ev->old ? sim_obj_matches(res, ev->old, labels, fields) : false;
		if (type == SIM_EV_MODIFIED) {
			if (!now_m && !old_m)
				continue;
			if (!now_m)
				type = SIM_EV_DELETED;
			else if (!old_m)
				type = SIM_EV_ADDED;
		} else if (!now_m) {
			continue;
		}
		json_array_append_new(arr, json_pack("{s:s,s:o}", "type", ev_type_name(type), "object",
						     sim_obj_with_type(res, ev->obj)));
	}
}

int sim_api_watch(sim_store *st, const sim_resource *res, const char *ns, const sim_list_opts *opts,
		  uint64_t since, int64_t timeout_ms, json_t **events, uint64_t *next_rv, vs_error *err)
{
	vs_selector *labels = NULL, *fields = NULL;
	int64_t deadline = vs_time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	json_t *arr;
	int rc;

	*events = NULL;
	if ((rc = sim_parse_selectors(res, opts, &labels, &fields, err)) != 0)
		return rc;
	arr = json_array();
	pthread_mutex_lock(&st->mu);
	for (;;) {
		int64_t left;
		struct timespec ts;

		if (since < st->compacted_rv) {
			rc = vs_error_set_api(err, 410, "Expired", "too old resource version: %llu (%llu)",
					      (unsigned long long)since, (unsigned long long)st->compacted_rv + 1);
			break;
		}
		collect_events_locked(st, res, ns, labels, fields, since, arr);
		since = st->rv;
		left = deadline - vs_time_mono_ms();
		if (json_array_size(arr) > 0 || left <= 0 || st->shutdown)
			break;
		vs_time_deadline(&ts, left);
		pthread_cond_timedwait(&st->cond, &st->mu, &ts);
	}
	pthread_mutex_unlock(&st->mu);
	vs_selector_free(labels);
	vs_selector_free(fields);
	if (rc != 0) {
		json_decref(arr);
		return rc;
	}
	*events = arr;
	if (next_rv)
		*next_rv = since;
	return 0;
}

/* ---- events and bootstrap ------------------------------------------------------------------ */

/* How many distinct events the recorder remembers for aggregation (client-go's maxLruCacheEntries). */
#define SIM_EVENT_KEYS_MAX 4096

/*
 * An event identical to one recorded before (same source, object, type, reason and message) bumps
 * that event's count and lastTimestamp, as client-go's EventCorrelator does, instead of adding a new
 * event. Lock held; true when it did.
 */
static bool event_repeat_locked(sim_store *st, const sim_resource *evres, const char *ns, const char *key,
				const char *ts)
{
	const char *name = json_string_value(json_object_get(st->event_keys, key));
	json_t *cur = name ? sim_store_lookup_locked(st, evres, ns, name) : NULL, *ev;

	if (!cur)
		return false;
	ev = json_deep_copy(cur);
	json_object_set_new(ev, "count", json_integer(vs_json_int(cur, "count", 1) + 1));
	json_object_set_new(ev, "lastTimestamp", json_string(ts));
	sim_store_put_locked(st, evres, ns, name, ev);
	return true;
}

static void event_remember(sim_store *st, const char *key, const char *evname)
{
	pthread_mutex_lock(&st->mu);
	if (!st->event_keys || json_object_size(st->event_keys) >= SIM_EVENT_KEYS_MAX) {
		json_decref(st->event_keys);
		st->event_keys = json_object();
	}
	json_object_set_new(st->event_keys, key, json_string(evname));
	pthread_mutex_unlock(&st->mu);
}

/* The event itself (new reference); the recorder writes it asynchronously, so with no write latency. */
static json_t *event_new(const char *component, const json_t *obj, const char *ns, const char *name,
			 const char *evname, const char *type, const char *reason, const char *msg, const char *ts)
{
	return json_pack("{s:{s:s,s:s},s:{s:s*,s:s*,s:s*,s:s*,s:s*},s:s,s:s,s:s,s:s,s:s,s:i,s:{s:s},s:s,s:s}",
			 "metadata", "name", evname, "namespace", ns, "involvedObject", "apiVersion",
			 vs_json_str(obj, "apiVersion"), "kind", vs_json_str(obj, "kind"), "name", name, "namespace",
			 vs_json_str(obj, "metadata.namespace"), "uid", vs_json_str(obj, "metadata.uid"), "reason", reason,
			 "message", msg, "type", type, "firstTimestamp", ts, "lastTimestamp", ts, "count", 1, "source",
			 "component", component, "reportingComponent", component, "reportingInstance", component);
}

static void event_vrecord(sim_store *st, const char *component, const json_t *obj, const char *type,
			  const char *reason, const char *fmt, va_list ap)
{
	const sim_resource *evres = sim_resource_find("", "events");
	const char *ns = vs_json_str(obj, "metadata.namespace"), *name = vs_json_str(obj, "metadata.name");
	char msg[1024], ts[32], evname[300], *key;
	bool repeated;
	json_t *ev;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	ns = ns && *ns ? ns : "default";
	name = name ? name : "unknown";
	type = type ? type : "Normal";
	reason = reason ? reason : "";
	now_string(ts, 0);
	key = vs_xasprintf("%s|%s|%s|%s|%s|%s|%s|%s", component, vs_json_str_or(obj, "metadata.uid", ""),
			   vs_json_str_or(obj, "kind", ""), ns, name, type, reason, msg);
	pthread_mutex_lock(&st->mu);
	repeated = event_repeat_locked(st, evres, ns, key, ts);
	pthread_mutex_unlock(&st->mu);
	if (!repeated) {
		vs_error err;
		snprintf(evname, sizeof(evname), "%s.%016llx", name, (unsigned long long)vs_rand_u64());
		ev = event_new(component, obj, ns, name, evname, type, reason, msg, ts);
		if (ev && api_create(st, evres, ns, ev, NULL, &err) != 0)
			vs_debug("event %s: %s", evname, err.message);
		else if (ev)
			event_remember(st, key, evname);
		json_decref(ev);
	}
	free(key);
}

void sim_api_event(sim_store *st, const json_t *obj, const char *type, const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	event_vrecord(st, "volshift-sim", obj, type, reason, fmt, ap);
	va_end(ap);
}

void sim_api_event_from(sim_store *st, const char *component, const json_t *obj, const char *type,
			const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	event_vrecord(st, component, obj, type, reason, fmt, ap);
	va_end(ap);
}

static int create_ignore_exists(sim_store *st, const char *group, const char *plural, const char *ns, json_t *obj,
				vs_error *err)
{
	int rc = sim_api_create(st, sim_resource_find(group, plural), ns, obj, NULL, err);

	json_decref(obj);
	if (rc != 0 && vs_error_is(err, "AlreadyExists")) {
		vs_error_clear(err);
		rc = 0;
	}
	return rc;
}

int sim_api_create_absent(sim_store *st, const char *group, const char *plural, const char *ns, json_t *obj,
			  vs_error *err)
{
	return create_ignore_exists(st, group, plural, ns, obj, err);
}

int sim_api_bootstrap(sim_store *st, int nodes, const char *data_dir, vs_error *err)
{
	static const char *const namespaces[] = {"default", "kube-system", "kube-public", "kube-node-lease", NULL};
	json_t *local;
	int rc;

	for (const char *const *n = namespaces; *n; n++)
		if ((rc = create_ignore_exists(st, "", "namespaces", NULL, json_pack("{s:{s:s}}", "metadata", "name", *n),
					       err)) != 0)
			return rc;
	local = json_pack("{s:{s:s,s:{s:s}},s:s,s:s,s:s,s:b}", "metadata", "name", "local", "annotations",
			  "storageclass.kubernetes.io/is-default-class", "true", "provisioner", "volshift-sim/local",
			  "reclaimPolicy", "Delete", "volumeBindingMode", "WaitForFirstConsumer", "allowVolumeExpansion", 1);
	if (data_dir) /* where ctrl_volume.c's provisioner makes each volume: DATA_DIR/volumes/<pv> */
		json_object_set_new(local, "parameters", json_pack("{s:s+}", "basePath", data_dir, "/volumes"));
	rc = create_ignore_exists(st, "storage.k8s.io", "storageclasses", NULL, local, err);
	if (rc == 0)
		rc = create_ignore_exists(st, "storage.k8s.io", "storageclasses", NULL,
					  json_pack("{s:{s:s},s:s,s:s,s:s,s:b}", "metadata", "name", "shared",
						    "provisioner", "volshift-sim/shared", "reclaimPolicy", "Delete",
						    "volumeBindingMode", "Immediate", "allowVolumeExpansion", 1),
					  err);
	for (int i = 1; rc == 0 && i <= nodes; i++) {
		char name[32], ts[32];
		now_string(ts, 0);
		snprintf(name, sizeof(name), "node-%d", i);
		rc = create_ignore_exists(
			st, "", "nodes", NULL,
			json_pack("{s:{s:s,s:{s:s,s:s,s:s}},s:{},s:{s:{s:s,s:s,s:s},s:{s:s,s:s,s:s},"
				  "s:[{s:s,s:s,s:s,s:s,s:s,s:s}],s:[{s:s,s:s},{s:s,s:s}],s:{s:s,s:s,s:s,s:s,s:s}}}",
				  "metadata", "name", name, "labels", "kubernetes.io/hostname", name, "kubernetes.io/os",
				  "linux", "topology.kubernetes.io/zone", "sim", "spec", "status", "capacity", "cpu", "8",
				  "memory", "16Gi", "pods", "110", "allocatable", "cpu", "8", "memory", "16Gi", "pods",
				  "110", "conditions", "type", "Ready", "status", "True", "reason", "KubeletReady",
				  "message", "volshift-sim node agent is ready", "lastHeartbeatTime", ts,
				  "lastTransitionTime", ts, "addresses", "type", "InternalIP", "address", "127.0.0.1",
				  "type", "Hostname", "address", name, "nodeInfo", "kubeletVersion", "v1.26.0-volshift-sim",
				  "operatingSystem", "linux", "architecture", "amd64", "containerRuntimeVersion",
				  "volshift-sim://1", "osImage", "volshift-sim"),
			err);
	}
	return rc;
}
