/*
 * wait: waiting on the cluster without polling, for every part of volshift that waits (a
 * migration's claims, pods and workloads, a plan's wait and job steps). A wait lists once, then
 * follows a watch from the list's resourceVersion, keeping a local copy of the watched objects (the
 * informer pattern), and asks the caller's function after every change. When it runs out of time it
 * says what it saw last; when its caller asks for it, a stop request ends it within about a second.
 * Also a pod run to its end and its log read (a free-space measure, a Job's artifact).
 */
#include "kube/kube.h"

#include <stdlib.h>
#include <string.h>

/* The page size of a wait's first list when it keeps only some objects. */
#define WAIT_KEEP_PAGE 50

typedef struct wait_state {
	json_t *objects;   /* key (wait_key) -> object */
	bool by_namespace; /* keys are "NS/NAME": the wait spans namespaces (not for one object) */
	vs_kube_wait_fn fn;
	bool (*keep)(const json_t *obj, void *ctx); /* NULL: every object */
	void *ctx;
	char *seen; /* what fn said last, or NULL */
} wait_state;

/* The key of obj in s->objects: its name, or "NS/NAME" when the wait spans namespaces. Caller frees. */
static char *wait_key(const wait_state *s, const json_t *obj)
{
	const char *ns = vs_kube_obj_namespace(obj), *name = vs_json_str_or(obj, "metadata.name", "");

	return s->by_namespace && ns ? vs_xasprintf("%s/%s", ns, name) : vs_xstrdup(name);
}

static bool wait_check(wait_state *s)
{
	free(s->seen);
	s->seen = NULL;
	return s->fn(s->objects, &s->seen, s->ctx);
}

static void wait_fill(wait_state *s, const json_t *list)
{
	const json_t *item;
	size_t i;

	json_object_clear(s->objects);
	json_array_foreach (json_object_get(list, "items"), i, item) {
		if (s->keep && !s->keep(item, s->ctx))
			continue;
		char *key = wait_key(s, item);
		json_object_set(s->objects, key, (json_t *)item);
		free(key);
	}
}

static int wait_event(const char *type, json_t *obj, void *ctx)
{
	wait_state *s = ctx;

	if (strcmp(type, "RELIST") == 0) {
		wait_fill(s, obj);
	} else {
		char *key = wait_key(s, obj);
		if (strcmp(type, "DELETED") == 0 || (s->keep && !s->keep(obj, s->ctx)))
			json_object_del(s->objects, key);
		else
			json_object_set(s->objects, key, obj);
		free(key);
	}
	return wait_check(s) ? 1 : 0;
}

/* Follow a watch of res from resource version rv until s->fn holds, within opts->timeout_ms. */
static int wait_follow(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_wait_opts *opts,
		       wait_state *s, const char *rv, int64_t timeout_ms, const char *what, vs_error *err)
{
	vs_kube_watch_opts wo = { .label_selector = opts->label_selector,
				  .field_selector = opts->field_selector,
				  .resource_version = rv,
				  .timeout_ms = timeout_ms > 0 ? timeout_ms : 1,
				  .cancel = opts->cancel };
	int rc;

	if (wait_check(s))
		return 0;
	rc = vs_kube_watch(c, res, ns, &wo, wait_event, s, err);
	if (rc == VS_ETIMEOUT)
		rc = vs_error_set(err, VS_ETIMEOUT, "timed out after %llds waiting for %s%s%s",
				  (long long)(opts->timeout_ms / 1000), what, s->seen ? "; last seen: " : "",
				  s->seen ? s->seen : "");
	else if (rc == VS_ECANCEL)
		rc = vs_error_set(err, VS_ECANCEL, "stopped on request while waiting for %s", what);
	return rc;
}

/* vs_kube_wait into s (objects and fn set by the caller). */
static int wait_listed(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_wait_opts *opts,
		       wait_state *s, const char *what, vs_error *err)
{
	/* with a keep filter, in small pages: the pods of a namespace, say, are never held all at once */
	vs_kube_list_opts lo = { .label_selector = opts->label_selector,
				 .field_selector = opts->field_selector,
				 .limit = opts->keep ? WAIT_KEEP_PAGE : 0,
				 .keep = opts->keep,
				 .keep_ctx = s->ctx };
	json_t *list = NULL;
	int64_t start = vs_time_mono_ms();
	int rc = vs_kube_list(c, res, ns, &lo, &list, err);
	char *rv = NULL;

	if (rc == 0) { /* the list goes now: the wait holds only what it keeps */
		wait_fill(s, list);
		rv = vs_xstrdup(vs_kube_obj_resource_version(list));
		json_decref(list);
		list = NULL;
		rc = wait_follow(c, res, ns, opts, s, rv, opts->timeout_ms - (vs_time_mono_ms() - start), what, err);
	}
	json_decref(list);
	free(rv);
	return rc;
}

int vs_kube_wait(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_wait_opts *opts,
		 vs_kube_wait_fn fn, void *ctx, vs_error *err)
{
	wait_state s = { .objects = json_object(),
			 .by_namespace = res->namespaced && !(ns && *ns),
			 .fn = fn,
			 .keep = opts->keep,
			 .ctx = ctx };
	int rc = wait_listed(c, res, ns, opts, &s, opts->what ? opts->what : res->plural, err);

	json_decref(s.objects);
	free(s.seen);
	return rc;
}

/* ---- one object ---------------------------------------------------------------------------------- */

typedef struct wait_object {
	const char *name;
	vs_kube_wait_object_fn fn;
	void *ctx;
} wait_object;

static bool wait_object_check(const json_t *objects, char **seen, void *ctx)
{
	const wait_object *w = ctx;

	return w->fn(json_object_get(objects, w->name), seen, w->ctx);
}

/* Wait for the object ns/name of res: from known (borrowed; NULL: absent) at version rv when rv is
 * given, else from a list. */
static int wait_one(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name,
		    const json_t *known, const char *rv, const vs_kube_wait_opts *opts, vs_kube_wait_object_fn fn,
		    void *ctx, json_t **last, vs_error *err)
{
	char *field = vs_xasprintf("metadata.name=%s", name);
	const char *in = res->namespaced && ns && *ns ? ns : NULL;
	char *what = opts->what ? vs_xstrdup(opts->what)
				: vs_xasprintf("%s %s%s%s", res->plural, in ? in : "", in ? "/" : "", name);
	vs_kube_wait_opts one = { .field_selector = field, .timeout_ms = opts->timeout_ms, .cancel = opts->cancel };
	wait_object w = { name, fn, ctx };
	wait_state s = { .objects = json_object(), .fn = wait_object_check, .ctx = &w };
	int rc;

	if (last)
		*last = NULL;
	if (!rv) {
		rc = wait_listed(c, res, in, &one, &s, what, err);
	} else {
		if (known)
			json_object_set(s.objects, name, (json_t *)known);
		rc = wait_follow(c, res, in, &one, &s, rv, opts->timeout_ms, what, err);
	}
	if (rc == 0 && last)
		*last = json_incref(json_object_get(s.objects, name));
	json_decref(s.objects);
	free(s.seen);
	free(field);
	free(what);
	return rc;
}

int vs_kube_wait_object(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name,
			const vs_kube_wait_opts *opts, vs_kube_wait_object_fn fn, void *ctx, json_t **last,
			vs_error *err)
{
	return wait_one(c, res, ns, name, NULL, NULL, opts, fn, ctx, last, err);
}

int vs_kube_wait_from(vs_kube_client *c, const vs_kube_resource *res, const json_t *known,
		      const vs_kube_wait_opts *opts, vs_kube_wait_object_fn fn, void *ctx, json_t **last, vs_error *err)
{
	return wait_one(c, res, vs_kube_obj_namespace(known), vs_kube_obj_name(known), known,
			vs_kube_obj_resource_version(known), opts, fn, ctx, last, err);
}

static bool wait_absent(const json_t *obj, char **seen, void *ctx)
{
	(void)ctx;
	if (obj)
		*seen = vs_xasprintf("still there%s",
				     vs_json_str(obj, "metadata.deletionTimestamp") ? ", being deleted" : "");
	return obj == NULL;
}

int vs_kube_wait_gone(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name,
		      const vs_kube_wait_opts *opts, vs_error *err)
{
	const char *in = res->namespaced && ns ? ns : "";
	char *what = vs_xasprintf("%s %s%s%s to be deleted", res->plural, in, *in ? "/" : "", name);
	vs_kube_wait_opts gone = { .timeout_ms = opts->timeout_ms, .what = what, .cancel = opts->cancel };
	int rc = vs_kube_wait_object(c, res, ns, name, &gone, wait_absent, NULL, NULL, err);

	free(what);
	return rc;
}

/* ---- a pod to its end ------------------------------------------------------------------------------ */

bool vs_kube_pod_ended(const json_t *pod, char **seen, void *ctx)
{
	const char *phase = vs_json_str_or(pod, "status.phase", "Pending");

	(void)ctx;
	if (seen)
		*seen = vs_xasprintf("phase %s", pod ? phase : "(gone)");
	return !pod || strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
}

int vs_kube_pod_wait_log(vs_kube_client *c, const char *ns, const char *name, const vs_kube_wait_opts *opts,
			 vs_kube_line_fn fn, void *ctx, json_t **pod, vs_error *err)
{
	int rc = vs_kube_wait_object(c, &VS_KUBE_PODS, ns, name, opts, vs_kube_pod_ended, NULL, pod, err);

	if (rc == 0)
		rc = vs_kube_logs(c, ns, name, NULL, fn, ctx, err);
	return rc;
}
