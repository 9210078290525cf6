/*
 * Waiting on the cluster without polling: list once, then follow a watch from the list's
 * resourceVersion, keeping a local copy of the watched objects (the informer pattern), and check
 * the caller's predicate after every change. Also the small GET/DELETE helpers every step uses.
 */
#include "migrate_int.h"

#include <string.h>

struct wait_state {
	json_t *objects; /* "NS/NAME" -> object */
	mig_pred pred;
	void *ctx;
};

static char *wait_key(const json_t *obj)
{
	const char *ns = vs_kube_obj_namespace(obj);

	return vs_xasprintf("%s/%s", ns ? ns : "", vs_json_str_or(obj, "metadata.name", ""));
}

static void wait_fill(struct wait_state *s, const json_t *list)
{
	size_t i;
	json_t *item;

	json_object_clear(s->objects);
	json_array_foreach(json_object_get(list, "items"), i, item) {
		char *key = wait_key(item);
		json_object_set(s->objects, key, item);
		free(key);
	}
}

static int wait_event(const char *type, json_t *obj, void *ctx)
{
	struct wait_state *s = ctx;

	if (strcmp(type, "RELIST") == 0) {
		wait_fill(s, obj);
	} else {
		char *key = wait_key(obj);
		if (strcmp(type, "DELETED") == 0)
			json_object_del(s->objects, key);
		else
			json_object_set(s->objects, key, obj);
		free(key);
	}
	return s->pred(s->objects, s->ctx);
}

/* Follow a watch of res from resource version rv until s->pred holds, within timeout_ms. */
static int wait_follow(mig_run *r, const vs_kube_resource *res, const char *ns, const char *label_selector,
		       const char *field_selector, struct wait_state *s, const char *rv, int64_t timeout_ms,
		       const char *what, vs_error *err)
{
	vs_kube_watch_opts wo = {
		.label_selector = label_selector, .field_selector = field_selector, .resource_version = rv, .timeout_ms = timeout_ms
	};
	int rc;

	if (s->pred(s->objects, s->ctx))
		return 0;
	rc = vs_kube_watch(r->c, res, ns, &wo, wait_event, s, err);
	if (rc == VS_ETIMEOUT)
		rc = vs_error_set(err, VS_ETIMEOUT, "timed out after %llds waiting for %s", (long long)(timeout_ms / 1000),
				  what);
	return rc;
}

int mig_wait(mig_run *r, const vs_kube_resource *res, const char *ns, const char *label_selector,
	     const char *field_selector, mig_pred pred, void *ctx, int64_t timeout_ms, const char *what, vs_error *err)
{
	struct wait_state s = { json_object(), pred, ctx };
	vs_kube_list_opts lo = { .label_selector = label_selector, .field_selector = field_selector };
	json_t *list = NULL;
	int64_t start = vs_time_mono_ms();
	int rc = vs_kube_list(r->c, res, ns, &lo, &list, err);

	if (rc == 0) {
		wait_fill(&s, list);
		rc = wait_follow(r, res, ns, label_selector, field_selector, &s, vs_json_str(list, "metadata.resourceVersion"),
				 timeout_ms - (vs_time_mono_ms() - start), what, err);
	}
	json_decref(list);
	json_decref(s.objects);
	return rc;
}

struct wait_obj {
	const char *key;
	mig_obj_pred pred;
	void *ctx;
};

static bool wait_obj_pred(json_t *objects, void *ctx)
{
	struct wait_obj *w = ctx;

	return w->pred(json_object_get(objects, w->key), w->ctx);
}

/* Wait for object ns/name of res: from known (borrowed; NULL: absent) at version rv when rv is
 * given, else from a list. */
static int wait_obj(mig_run *r, const vs_kube_resource *res, const char *ns, const char *name, const json_t *known,
		    const char *rv, mig_obj_pred pred, void *ctx, int64_t timeout_ms, const char *what, vs_error *err)
{
	char *field = vs_xasprintf("metadata.name=%s", name);
	char *key = vs_xasprintf("%s/%s", res->namespaced && ns ? ns : "", name);
	struct wait_obj w = { key, pred, ctx };
	struct wait_state s = { json_object(), wait_obj_pred, &w };
	int rc;

	if (!rv) {
		rc = mig_wait(r, res, res->namespaced ? ns : NULL, NULL, field, wait_obj_pred, &w, timeout_ms, what, err);
	} else {
		if (known)
			json_object_set(s.objects, key, (json_t *)known);
		rc = wait_follow(r, res, res->namespaced ? ns : NULL, NULL, field, &s, rv, timeout_ms, what, err);
	}
	json_decref(s.objects);
	free(field);
	free(key);
	return rc;
}

int mig_wait_obj(mig_run *r, const vs_kube_resource *res, const char *ns, const char *name, mig_obj_pred pred,
		 void *ctx, int64_t timeout_ms, const char *what, vs_error *err)
{
	return wait_obj(r, res, ns, name, NULL, NULL, pred, ctx, timeout_ms, what, err);
}

int mig_wait_from(mig_run *r, const vs_kube_resource *res, const json_t *known, mig_obj_pred pred, void *ctx,
		  int64_t timeout_ms, const char *what, vs_error *err)
{
	return wait_obj(r, res, vs_kube_obj_namespace(known), vs_kube_obj_name(known), known,
			vs_kube_obj_resource_version(known), pred, ctx, timeout_ms, what, err);
}

static bool wait_absent(const json_t *obj, void *ctx)
{
	(void)ctx;
	return obj == NULL;
}

int mig_wait_gone(mig_run *r, const vs_kube_resource *res, const char *ns, const char *name, int64_t timeout_ms,
		  vs_error *err)
{
	char *what = vs_xasprintf("%s %s%s%s to be deleted", res->plural, res->namespaced ? ns : "",
				  res->namespaced ? "/" : "", name);
	int rc = mig_wait_obj(r, res, ns, name, wait_absent, NULL, timeout_ms, what, err);

	free(what);
	return rc;
}

int mig_get_opt(mig_run *r, const vs_kube_resource *res, const char *ns, const char *name, json_t **out,
		vs_error *err)
{
	int rc = vs_kube_get(r->c, res, ns, name, out, err);

	if (rc < 0 && vs_error_is(err, "NotFound")) {
		vs_error_clear(err);
		*out = NULL;
		return 0;
	}
	return rc;
}

int mig_delete(mig_run *r, const vs_kube_resource *res, const char *ns, const char *name,
	       const vs_kube_delete_opts *opts, bool *existed, vs_error *err)
{
	int rc = vs_kube_delete(r->c, res, ns, name, opts, NULL, err);
	bool found = !(rc < 0 && vs_error_is(err, "NotFound"));

	if (!found) {
		vs_error_clear(err);
		rc = 0;
	}
	if (existed)
		*existed = found;
	return rc;
}

