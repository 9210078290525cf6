/*
 * Waiting on the cluster, as a migration does it: the waits of src/kube (built on watches) with a
 * migration's predicates, never cancelled on their own (a stop request is acted on at the
 * migration's safe points, not in the middle of a switch). Also the small GET/DELETE helpers every
 * step uses.
 */
#include "migrate_int.h"

#include <string.h>

/* A migration's predicates, asked by the waits of src/kube (which also take a description of what
 * was seen: a migration's timeout messages say what it waited for, not what it saw). */
struct wait_adapter {
	mig_pred pred;
	mig_obj_pred obj_pred;
	mig_obj_pred keep;
	void *ctx;
};

static bool wait_keep(const json_t *obj, void *ctx)
{
	const struct wait_adapter *a = ctx;

	return a->keep(obj, a->ctx);
}

static bool wait_objects(const json_t *objects, char **seen, void *ctx)
{
	const struct wait_adapter *a = ctx;

	(void)seen;
	return a->pred((json_t *)objects, a->ctx);
}

static bool wait_object(const json_t *obj, char **seen, void *ctx)
{
	const struct wait_adapter *a = ctx;

	(void)seen;
	return a->obj_pred(obj, a->ctx);
}

int mig_wait(mig_run *r, const vs_kube_resource *res, const char *ns, mig_obj_pred keep, mig_pred pred, void *ctx,
	     int64_t timeout_ms, const char *what, vs_error *err)
{
	struct wait_adapter a = { .pred = pred, .keep = keep, .ctx = ctx };
	vs_kube_wait_opts o = { .timeout_ms = timeout_ms, .what = what, .keep = keep ? wait_keep : NULL };

	return vs_kube_wait(r->c, res, ns, &o, wait_objects, &a, err);
}

int mig_wait_obj(mig_run *r, const vs_kube_resource *res, const char *ns, const char *name, mig_obj_pred pred,
		 void *ctx, int64_t timeout_ms, const char *what, vs_error *err)
{
	struct wait_adapter a = { .obj_pred = pred, .ctx = ctx };
	vs_kube_wait_opts o = { .timeout_ms = timeout_ms, .what = what };

	return vs_kube_wait_object(r->c, res, ns, name, &o, wait_object, &a, NULL, err);
}

int mig_wait_from(mig_run *r, const vs_kube_resource *res, const json_t *known, mig_obj_pred pred, void *ctx,
		  int64_t timeout_ms, const char *what, vs_error *err)
{
	struct wait_adapter a = { .obj_pred = pred, .ctx = ctx };
	vs_kube_wait_opts o = { .timeout_ms = timeout_ms, .what = what };

	return vs_kube_wait_from(r->c, res, known, &o, wait_object, &a, NULL, err);
}

int mig_wait_gone(mig_run *r, const vs_kube_resource *res, const char *ns, const char *name, int64_t timeout_ms,
		  vs_error *err)
{
	vs_kube_wait_opts o = { .timeout_ms = timeout_ms };

	return vs_kube_wait_gone(r->c, res, ns, name, &o, err);
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

