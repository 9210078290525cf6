/*
 * Waiting for the cluster: the wait step kind (an object or the objects of a selector reaching a
 * jsonPath value, a condition, the end of a rollout, or gone) and the waits other kinds need (an
 * object deleted, a Job finished). Each wait lists once, then follows a watch from the list's
 * resourceVersion, so it sees every change without polling; when it runs out of time it says what
 * it saw last.
 */
#include "engine/engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decides on the objects seen (an object of name -> object); fills *seen (caller frees) with what
 * they look like for a message. */
typedef bool (*wait_done_fn)(const json_t *objects, char **seen, void *ctx);

typedef struct wait_watch {
	json_t *objects;
	wait_done_fn done;
	void *ctx;
	char *seen;
	bool met;
} wait_watch;

static bool wait_check(wait_watch *w)
{
	free(w->seen);
	w->seen = NULL;
	w->met = w->done(w->objects, &w->seen, w->ctx);
	return w->met;
}

static void wait_take_list(wait_watch *w, const json_t *list)
{
	const json_t *item;
	size_t i;

	json_object_clear(w->objects);
	json_array_foreach (json_object_get(list, "items"), i, item)
		json_object_set(w->objects, vs_kube_obj_name(item) ?: "", (json_t *)item);
}

static int wait_event(const char *type, json_t *object, void *ctx)
{
	wait_watch *w = ctx;

	if (strcmp(type, "RELIST") == 0)
		wait_take_list(w, object);
	else if (strcmp(type, "DELETED") == 0)
		json_object_del(w->objects, vs_kube_obj_name(object) ?: "");
	else if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0)
		json_object_set(w->objects, vs_kube_obj_name(object) ?: "", object);
	return wait_check(w) ? 1 : 0;
}

/* List the objects of res in ns (name, or else the label selector; both may be NULL), then watch
 * them until done says so or timeout_ms passes. what names them for the timeout's message. */
static int wait_until(eng_run *r, const vs_kube_resource *res, const char *ns, const char *name, const char *selector,
		      int64_t timeout_ms, wait_done_fn done, void *ctx, const char *what, json_t **last, vs_error *err)
{
	char *field = name ? vs_xasprintf("metadata.name=%s", name) : NULL;
	vs_kube_list_opts lo = { .label_selector = selector, .field_selector = field };
	wait_watch w = { .objects = json_object(), .done = done, .ctx = ctx };
	int64_t deadline = vs_time_mono_ms() + timeout_ms;
	json_t *list = NULL;
	int rc = vs_kube_list(r->c, res, ns, &lo, &list, err);

	if (rc == 0)
		wait_take_list(&w, list);
	while (rc == 0 && !wait_check(&w)) {
		int64_t left = deadline - vs_time_mono_ms();
		vs_kube_watch_opts wo = { .label_selector = selector,
					  .field_selector = field,
					  .resource_version = vs_kube_obj_resource_version(list),
					  .timeout_ms = left > 0 ? left : 1 };
		if (left <= 0) {
			rc = vs_error_set(err, VS_ETIMEOUT, "timed out after %llds waiting for %s; last seen: %s",
					  (long long)(timeout_ms / 1000), what, w.seen ? w.seen : "nothing");
			break;
		}
		rc = vs_kube_watch(r->c, res, ns, &wo, wait_event, &w, err);
		if (rc == VS_ETIMEOUT || (rc == 0 && !w.met)) {
			vs_error_clear(err);
			rc = 0;
		}
		if (w.met)
			break;
		/* the watch ended: list again to resume from a fresh version */
		json_decref(list);
		list = NULL;
		if (rc == 0 && (rc = vs_kube_list(r->c, res, ns, &lo, &list, err)) == 0)
			wait_take_list(&w, list);
	}
	if (rc == 0 && last)
		*last = name ? json_incref(json_object_get(w.objects, name)) : NULL;
	json_decref(list);
	json_decref(w.objects);
	free(w.seen);
	free(field);
	return rc;
}

/* ---- one object ---------------------------------------------------------------------------------- */

typedef struct wait_object_ctx {
	const char *name;
	eng_object_done_fn done;
	void *ctx;
} wait_object_ctx;

static bool wait_object_done(const json_t *objects, char **seen, void *ctx)
{
	wait_object_ctx *oc = ctx;

	return oc->done(json_object_get(objects, oc->name), seen, oc->ctx);
}

int eng_wait_object(eng_run *r, const vs_kube_resource *res, const char *ns, const char *name, int64_t timeout_ms,
		    eng_object_done_fn done, void *ctx, json_t **last, vs_error *err)
{
	wait_object_ctx oc = { name, done, ctx };
	char *what = vs_xasprintf("%s %s%s%s", res->plural, ns && res->namespaced ? ns : "",
				  ns && res->namespaced ? "/" : "", name);
	int rc;

	if (last)
		*last = NULL;
	rc = wait_until(r, res, res->namespaced ? ns : NULL, name, NULL, timeout_ms, wait_object_done, &oc, what, last,
			err);
	free(what);
	return rc;
}

static bool wait_gone_done(const json_t *obj, char **seen, void *ctx)
{
	(void)ctx;
	if (obj)
		*seen = vs_xasprintf("still there%s",
				     vs_json_str(obj, "metadata.deletionTimestamp") ? ", being deleted" : "");
	return obj == NULL;
}

int eng_wait_gone(eng_run *r, const vs_kube_resource *res, const char *ns, const char *name, int64_t timeout_ms,
		  vs_error *err)
{
	return eng_wait_object(r, res, ns, name, timeout_ms, wait_gone_done, NULL, NULL, err);
}

/* ---- the wait step --------------------------------------------------------------------------------- */

/* The value at a kubectl-style jsonPath ("{.status.phase}", ".status.conditions[0].type"), or NULL.
 * Only fields and indexes: no filters or wildcards. Borrowed. */
static const json_t *wait_json_path(const json_t *obj, const char *path)
{
	const json_t *v = obj;
	const char *p = path;

	p += strspn(p, "{$");
	while (v && *p && *p != '}') {
		if (*p == '.') {
			p++;
			size_t n = strcspn(p, ".[}");
			char *key = vs_xstrndup(p, n);
			v = json_object_get(v, key);
			free(key);
			p += n;
		} else if (*p == '[') {
			char *end;
			long i = strtol(p + 1, &end, 10);
			if (*end != ']')
				return NULL;
			v = json_array_get(v, (size_t)i);
			p = end + 1;
		} else {
			size_t n = strcspn(p, ".[}");
			char *key = vs_xstrndup(p, n);
			v = json_object_get(v, key);
			free(key);
			p += n;
		}
	}
	return v;
}

/* A scalar as text ("3", "true", "Running"); objects and lists as compact JSON. Caller frees. */
static char *wait_text(const json_t *v)
{
	if (json_is_string(v))
		return vs_xstrdup(json_string_value(v));
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

/* Does one object meet a wait step's condition (jsonPath, condition or rollout)? *seen: what it shows. */
static bool wait_meets(const json_t *def, const json_t *obj, char **seen)
{
	const char *jp = vs_json_str(def, "jsonPath");

	if (jp) {
		const json_t *v = wait_json_path(obj, jp);
		char *have = v ? wait_text(v) : NULL, *want = wait_text(json_object_get(def, "equals"));
		bool ok = json_is_true(json_object_get(def, "absent"))	 ? !v
			  : json_is_true(json_object_get(def, "exists")) ? v != NULL
									 : have && strcmp(have, want) == 0;
		*seen = have ? vs_xasprintf("%s is %s", jp, have) : vs_xasprintf("%s has no value", jp);
		free(have);
		free(want);
		return ok;
	}
	if (json_object_get(def, "condition")) {
		const char *type = vs_json_str(def, "condition.type"),
			   *want = vs_json_str_or(def, "condition.status", "True");
		const json_t *c;
		size_t i;
		json_array_foreach (vs_json_path(obj, "status.conditions"), i, c)
			if (strcmp(vs_json_str_or(c, "type", ""), type) == 0) {
				*seen = vs_xasprintf("condition %s is %s%s%s", type, vs_json_str_or(c, "status", "?"),
						     vs_json_str(c, "message") ? ": " : "",
						     vs_json_str_or(c, "message", ""));
				return strcmp(vs_json_str_or(c, "status", ""), want) == 0;
			}
		*seen = vs_xasprintf("no condition %s", type);
		return false;
	}
	/* rollout: as kubectl rollout status for Deployments, StatefulSets and DaemonSets */
	long long gen = vs_json_int(obj, "metadata.generation", 0),
		  seen_gen = vs_json_int(obj, "status.observedGeneration", 0);
	bool ds = strcmp(vs_json_str_or(obj, "kind", ""), "DaemonSet") == 0;
	long long want =
		ds ? vs_json_int(obj, "status.desiredNumberScheduled", 0) : vs_json_int(obj, "spec.replicas", 1);
	long long updated = vs_json_int(obj, ds ? "status.updatedNumberScheduled" : "status.updatedReplicas", 0);
	long long ready = vs_json_int(obj, ds ? "status.numberAvailable" : "status.readyReplicas", 0);
	long long total = vs_json_int(obj, ds ? "status.currentNumberScheduled" : "status.replicas", 0);
	*seen = vs_xasprintf("generation %lld observed %lld, %lld wanted, %lld updated, %lld ready, %lld in all", gen,
			     seen_gen, want, updated, ready, total);
	return seen_gen >= gen && updated >= want && ready >= want && total == want;
}

static bool wait_step_done(const json_t *objects, char **seen, void *ctx)
{
	const json_t *def = ctx, *obj;
	const char *name;
	vs_buf b;
	bool all = json_object_size(objects) > 0;

	if (json_is_true(json_object_get(def, "absent")) && !json_object_get(def, "jsonPath")) {
		*seen = vs_xasprintf("%zu present", json_object_size(objects));
		return json_object_size(objects) == 0;
	}
	vs_buf_init(&b, 4096);
	if (json_object_size(objects) == 0)
		vs_buf_puts(&b, "not found");
	json_object_foreach ((json_t *)objects, name, obj) {
		char *one = NULL;
		all = wait_meets(def, obj, &one) && all;
		if (b.len < 1000)
			vs_buf_printf(&b, "%s%s: %s", b.len ? "; " : "", name, one);
		free(one);
	}
	*seen = vs_buf_steal(&b);
	return all;
}

static int wait_apply(eng_step *s, const json_t *undo, vs_error *err)
{
	const json_t *def = json_object_get(s->def, "wait");
	vs_kube_api_resource res;
	char *what = eng_ref_text(def);
	int rc = eng_resolve(s->run, def, &res, err);

	(void)undo;
	if (rc == 0)
		rc = wait_until(s->run, &res.res, res.res.namespaced ? vs_json_str(def, "namespace") : NULL,
				vs_json_str(def, "name"), vs_json_str(def, "selector"),
				eng_timeout_ms(def, ENG_WAIT_DEFAULT_MS), wait_step_done, (void *)def, what, NULL, err);
	free(what);
	return rc;
}

const eng_kind eng_kind_wait = { .name = "wait", .apply = wait_apply };
