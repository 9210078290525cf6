/*
 * Running a plan: the cluster's objects listed once, then group after group — destination claims,
 * stop, copy, swap, start — and the default class last. Progress leaves as events; the CLI decides
 * how people or machines see them.
 */
#include "migrate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_DEFAULT_ANNOTATION "storageclass.kubernetes.io/is-default-class"

void mig_emit(mig_run *r, const char *type, json_t *fields)
{
	char now[32];

	if (!fields)
		fields = json_object();
	vs_time_format(vs_time_now(), now);
	json_object_set_new(fields, "event", json_string(type));
	json_object_set_new(fields, "time", json_string(now));
	if (r->fn)
		r->fn(fields, r->ctx);
	json_decref(fields);
}

void mig_say(mig_run *r, const char *type, const char *fmt, ...)
{
	char text[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	mig_emit(r, type, json_pack("{s:s}", "message", text));
}

/* ---- the snapshot ------------------------------------------------------------------------------ */

int vs_migrate_snapshot_take(vs_kube_client *c, vs_migrate_snapshot *out, vs_error *err)
{
	const vs_kube_resource *res[] = { &VS_KUBE_STORAGECLASSES, &VS_KUBE_PVS,	 &VS_KUBE_PVCS,
					  &VS_KUBE_PODS,	   &VS_KUBE_REPLICASETS, &VS_KUBE_DEPLOYMENTS,
					  &VS_KUBE_STATEFULSETS,   &VS_KUBE_DAEMONSETS,  &VS_KUBE_JOBS,
					  &VS_KUBE_CRONJOBS,	   &VS_KUBE_NODES,	 &VS_KUBE_CSISTORAGECAPACITIES };
	const json_t **slots[] = { &out->in.storage_classes, &out->in.pvs,	   &out->in.pvcs,	&out->in.pods,
				   &out->in.replicasets,     &out->in.deployments, &out->in.statefulsets, &out->in.daemonsets,
				   &out->in.jobs,	     &out->in.cronjobs,	   &out->in.nodes,	&out->in.csi_capacities };
	int rc = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(res) / sizeof(res[0]) && rc == 0; i++) {
		rc = vs_kube_list(c, res[i], NULL, NULL, &out->lists[i], err);
		if (rc < 0 && res[i] == &VS_KUBE_CSISTORAGECAPACITIES && vs_error_is(err, "NotFound")) {
			vs_error_clear(err); /* a cluster without storage capacity tracking */
			rc = 0;
		}
		*slots[i] = out->lists[i];
	}
	if (rc < 0)
		vs_migrate_snapshot_clear(out);
	return rc;
}

void vs_migrate_snapshot_clear(vs_migrate_snapshot *snap)
{
	for (size_t i = 0; i < sizeof(snap->lists) / sizeof(snap->lists[0]); i++)
		json_decref(snap->lists[i]);
	memset(snap, 0, sizeof(*snap));
}

/* ---- one group ----------------------------------------------------------------------------------- */

/* The original claims of the group, kept before any is deleted: the swap recreates them from these. */
static int run_fetch_originals(mig_run *r, const vs_plan_group *g, vs_error *err)
{
	for (size_t k = 0; k < g->npvcs; k++) {
		const vs_plan_pvc *p = &r->plan->pvcs[g->pvcs[k]];
		json_t **slot = &r->originals[g->pvcs[k]];
		int rc = vs_kube_get(r->c, &VS_KUBE_PVCS, p->ns, p->name, slot, err);
		if (rc < 0)
			return vs_error_wrap(err, "claim %s/%s", p->ns, p->name);
		if (strcmp(vs_json_str_or(*slot, "metadata.uid", ""), p->uid) != 0)
			return vs_error_set(err, VS_EINVAL, "claim %s/%s was replaced since the plan was made; run again",
					    p->ns, p->name);
	}
	return 0;
}

/* A group that failed before its first swap: its applications come back on their own data and the
 * destination claims go, so the cluster is as it was. Failures here are reported, not fatal. */
static void run_undo_group(mig_run *r, size_t gi)
{
	const vs_plan_group *g = &r->plan->groups[gi];
	vs_error err;

	vs_error_clear(&err);
	if (mig_workloads_start(r, gi, &err) < 0)
		mig_say(r, "warning", "could not restart the workloads of the failed group: %s", err.message);
	for (size_t k = 0; k < g->npvcs; k++) {
		const vs_plan_pvc *p = &r->plan->pvcs[g->pvcs[k]];
		vs_error_clear(&err);
		if (mig_delete(r, &VS_KUBE_PVCS, p->ns, p->temp_name, NULL, NULL, &err) < 0)
			mig_say(r, "warning", "could not delete destination claim %s/%s: %s", p->ns, p->temp_name,
				err.message);
	}
}

static int run_group(mig_run *r, size_t gi, vs_error *err)
{
	const vs_plan_group *g = &r->plan->groups[gi];
	const vs_plan_pvc *first = &r->plan->pvcs[g->pvcs[0]];
	size_t k;
	int rc = run_fetch_originals(r, g, err);

	mig_say(r, "stage", "group %zu of %zu: %zu claim%s in %s, %zu workload%s", gi + 1, r->plan->ngroups, g->npvcs,
		g->npvcs == 1 ? "" : "s", first->ns, g->nworkloads, g->nworkloads == 1 ? "" : "s");
	for (k = 0; k < g->npvcs && rc == 0; k++)
		rc = mig_dest_claim_create(r, g->pvcs[k], err);
	if (rc == 0)
		rc = mig_workloads_stop(r, gi, err);
	for (k = 0; k < g->npvcs && rc == 0; k++)
		rc = mig_copy(r, g->pvcs[k], err);
	if (rc < 0) {
		run_undo_group(r, gi);
		return rc;
	}
	for (k = 0; k < g->npvcs && rc == 0; k++)
		rc = mig_swap(r, g->pvcs[k], err);
	if (rc == 0)
		rc = mig_workloads_start(r, gi, err);
	return rc;
}

/* ---- the default class -------------------------------------------------------------------------- */

static int run_mark_default(mig_run *r, const char *cls, bool on, vs_error *err)
{
	json_t *patch = json_pack("{s:{s:{s:o}}}", "metadata", "annotations", RUN_DEFAULT_ANNOTATION,
				  on ? json_string("true") : json_null());
	int rc = vs_kube_patch(r->c, &VS_KUBE_STORAGECLASSES, NULL, cls, VS_KUBE_PATCH_MERGE, patch, NULL, err);

	json_decref(patch);
	return rc < 0 ? vs_error_wrap(err, "StorageClass %s", cls) : 0;
}

static int run_set_default(mig_run *r, vs_error *err)
{
	const char *from = r->plan->current_default;
	int rc = 0;

	if (from && strcmp(from, r->opts->plan.dest_sc) == 0)
		return 0;
	if (from)
		rc = run_mark_default(r, from, false, err);
	if (rc == 0)
		rc = run_mark_default(r, r->opts->plan.dest_sc, true, err);
	if (rc == 0)
		mig_emit(r, "default-class", json_pack("{s:s?, s:s}", "from", from, "to", r->opts->plan.dest_sc));
	return rc;
}

int vs_migrate_execute(vs_kube_client *c, const vs_migrate_opts *opts, const vs_plan *plan, vs_migrate_event_fn fn,
		       void *ctx, vs_error *err)
{
	mig_run r = { .c = c, .opts = opts, .plan = plan, .fn = fn, .ctx = ctx };
	int64_t start = vs_time_mono_ms();
	int rc = 0;

	if (plan->nproblems)
		return vs_error_set(err, VS_EINVAL, "the plan has %zu problem%s; nothing was changed", plan->nproblems,
				    plan->nproblems == 1 ? "" : "s");
	r.originals = vs_xcalloc(plan->npvcs + 1, sizeof(json_t *));
	r.stopped_at_ms = vs_xcalloc(plan->nworkloads + 1, sizeof(int64_t));
	for (size_t g = 0; g < plan->ngroups && rc == 0; g++)
		rc = run_group(&r, g, err);
	if (rc == 0 && plan->change_default)
		rc = run_set_default(&r, err);
	if (rc == 0)
		mig_emit(&r, "done", json_pack("{s:I, s:I, s:I}", "pvcs", (json_int_t)plan->npvcs, "bytes",
					       (json_int_t)r.bytes_copied, "ms", (json_int_t)(vs_time_mono_ms() - start)));
	for (size_t i = 0; i < plan->npvcs; i++)
		json_decref(r.originals[i]);
	free(r.originals);
	free(r.stopped_at_ms);
	return rc;
}
