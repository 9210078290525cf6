/*
 * Stopping and starting the workloads of a group. Every stop records what it changed on the
 * object itself (pvmigrate's scale annotation, or volshift's annotations for a DaemonSet's node
 * selector and a CronJob's suspend flag) before or in the same write as the change, so a start —
 * in this run or a later one — restores exactly what was there. Stopping is idempotent: an object
 * already carrying its annotation keeps the recorded value.
 */
#include "migrate_int.h"

#include <stdlib.h>
#include <string.h>

static const vs_kube_resource *workload_resource(enum vs_workload_kind kind)
{
	switch (kind) {
	case VS_WORKLOAD_DEPLOYMENT: return &VS_KUBE_DEPLOYMENTS;
	case VS_WORKLOAD_STATEFULSET: return &VS_KUBE_STATEFULSETS;
	case VS_WORKLOAD_REPLICASET: return &VS_KUBE_REPLICASETS;
	case VS_WORKLOAD_DAEMONSET: return &VS_KUBE_DAEMONSETS;
	case VS_WORKLOAD_CRONJOB: return &VS_KUBE_CRONJOBS;
	case VS_WORKLOAD_JOB: return &VS_KUBE_JOBS;
	case VS_WORKLOAD_POD: break;
	}
	return &VS_KUBE_PODS;
}

/* Merge-patch the workload; patch is stolen; *out (out may be NULL) gets the server's answer. */
static int workload_patch(mig_run *r, const vs_plan_workload *w, json_t *patch, json_t **out, vs_error *err)
{
	int rc = vs_kube_patch(r->c, workload_resource(w->kind), w->ns, w->name, VS_KUBE_PATCH_MERGE, patch, out, err);

	json_decref(patch);
	if (rc < 0)
		vs_error_wrap(err, "%s %s/%s", vs_workload_kind_name(w->kind), w->ns, w->name);
	return rc;
}

static json_t *workload_annotation_patch(const char *key, json_t *value)
{
	return json_pack("{s:{s:{s:o}}}", "metadata", "annotations", key, value);
}

static int workload_scale_down(mig_run *r, const vs_plan_workload *w, const json_t *obj, vs_error *err)
{
	json_t *patch = json_pack("{s:{s:i}}", "spec", "replicas", 0);
	long replicas = (long)vs_json_int(obj, "spec.replicas", 1);

	if (!vs_json_annotation(obj, VS_MIGRATE_SCALE_ANNOTATION)) {
		char *scale = vs_xasprintf("%ld", replicas);
		vs_json_set_path(patch, "metadata",
				 json_pack("{s:{s:s}}", "annotations", VS_MIGRATE_SCALE_ANNOTATION, scale));
		free(scale);
	} else if (replicas == 0) {
		json_decref(patch);
		return 0;
	}
	return workload_patch(r, w, patch, NULL, err);
}

static int workload_daemonset_stop(mig_run *r, const vs_plan_workload *w, const json_t *obj, vs_error *err)
{
	json_t *patch;

	if (vs_json_annotation(obj, VS_MIGRATE_NODE_SELECTOR_ANNOTATION))
		return 0;
	json_t *sel = vs_json_path(obj, "spec.template.spec.nodeSelector");
	char *saved = sel ? json_dumps(sel, JSON_COMPACT | JSON_SORT_KEYS) : vs_xstrdup("{}");
	patch = workload_annotation_patch(VS_MIGRATE_NODE_SELECTOR_ANNOTATION, json_string(saved));
	vs_json_set_path(patch, "spec.template.spec.nodeSelector",
			 json_pack("{s:s}", VS_MIGRATE_STOP_NODE_LABEL, "true"));
	free(saved);
	return workload_patch(r, w, patch, NULL, err);
}

static int workload_cronjob_suspend(mig_run *r, const vs_plan_workload *w, const json_t *obj, vs_error *err)
{
	json_t *patch;

	if (vs_json_annotation(obj, VS_MIGRATE_SUSPEND_ANNOTATION))
		return 0;
	patch = workload_annotation_patch(VS_MIGRATE_SUSPEND_ANNOTATION,
					  json_string(vs_json_bool(obj, "spec.suspend", false) ? "true" : "false"));
	vs_json_set_path(patch, "spec.suspend", json_true());
	return workload_patch(r, w, patch, NULL, err);
}

static bool workload_job_idle(const json_t *job, void *ctx)
{
	(void)ctx;
	return !job || vs_json_int(job, "status.active", 0) == 0;
}

static int workload_job_wait(mig_run *r, const vs_plan_workload *w, const json_t *obj, vs_error *err)
{
	char *what;
	int rc;

	if (workload_job_idle(obj, NULL))
		return 0;
	mig_say(r, "waiting",
		"Job %s/%s is running and mounts a claim being migrated; waiting up to %llds for it to "
		"finish",
		w->ns, w->name, (long long)(r->opts->ready_timeout_ms / 1000));
	what = vs_xasprintf("Job %s/%s to finish (wait for it or delete it, then run volshift again)", w->ns, w->name);
	rc = mig_wait_obj(r, &VS_KUBE_JOBS, w->ns, w->name, workload_job_idle, NULL, r->opts->ready_timeout_ms, what,
			  err);
	free(what);
	return rc;
}

static int workload_stop_one(mig_run *r, size_t wi, vs_error *err)
{
	const vs_plan_workload *w = &r->plan->workloads[wi];
	json_t *obj = NULL;
	int rc = mig_get_opt(r, workload_resource(w->kind), w->ns, w->name, &obj, err);

	if (rc < 0 || !obj)
		return rc;
	switch (w->kind) {
	case VS_WORKLOAD_DEPLOYMENT:
	case VS_WORKLOAD_STATEFULSET:
	case VS_WORKLOAD_REPLICASET: rc = workload_scale_down(r, w, obj, err); break;
	case VS_WORKLOAD_DAEMONSET: rc = workload_daemonset_stop(r, w, obj, err); break;
	case VS_WORKLOAD_CRONJOB: rc = workload_cronjob_suspend(r, w, obj, err); break;
	case VS_WORKLOAD_JOB: rc = workload_job_wait(r, w, obj, err); break;
	case VS_WORKLOAD_POD:
		mig_say(r, "warning", "deleting bare pod %s/%s (--delete-bare-pods); it will not be recreated", w->ns,
			w->name);
		rc = mig_delete(r, &VS_KUBE_PODS, w->ns, w->name,
				&(vs_kube_delete_opts){ .precondition_uid = vs_kube_obj_uid(obj) }, NULL, err);
		break;
	}
	if (rc == 0)
		mig_emit(r, "workload-stopped",
			 json_pack("{s:s, s:s, s:s, s:I}", "kind", vs_workload_kind_name(w->kind), "namespace", w->ns,
				   "name", w->name, "replicas",
				   (json_int_t)vs_plan_scale_to_restore(obj, w->replicas)));
	json_decref(obj);
	return rc;
}

struct group_pods {
	const vs_plan *plan;
	const vs_plan_group *g;
	bool finished_ok; /* pods that have finished count as stopped */
	json_t *finished; /* ... and those seen when the wait ended: [{name, uid}] (owned) */
};

static bool group_pod_mounts(const struct group_pods *gp, const json_t *pod)
{
	for (size_t k = 0; k < gp->g->npvcs; k++) {
		const vs_plan_pvc *p = &gp->plan->pvcs[gp->g->pvcs[k]];
		if (strcmp(p->ns, vs_json_str_or(pod, "metadata.namespace", "")) == 0 &&
		    vs_plan_spec_mounts(vs_json_path(pod, "spec"), p->name))
			return true;
	}
	return false;
}

/* True when pod is one of the group's copy pods (a final copy armed before the stop keeps running). */
static bool group_pod_is_copy(const struct group_pods *gp, const json_t *pod)
{
	const char *of = json_string_value(json_object_get(vs_json_path(pod, "metadata.labels"), VS_MIGRATE_LABEL));

	for (size_t k = 0; of && k < gp->g->npvcs; k++) {
		const vs_plan_pvc *p = &gp->plan->pvcs[gp->g->pvcs[k]];
		if (strcmp(of, p->name) == 0 && strcmp(vs_kube_obj_name(pod), p->copy_pod) == 0)
			return true;
	}
	return false;
}

/* True when every container of pod, which is being deleted, has ended as its kubelet reported: its
 * processes are gone, and being deleted it starts none again. Its object goes once its volumes are
 * unmounted; the swap waits for that anyway (a claim is deleted only once no pod holds it), so the
 * copy need not. */
static bool group_pod_terminated(const json_t *pod)
{
	static const char *const lists[] = { "status.initContainerStatuses", "status.containerStatuses",
					     "status.ephemeralContainerStatuses" };
	size_t n = 0, i;
	json_t *cs;

	if (!vs_json_path(pod, "metadata.deletionTimestamp"))
		return false;
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		json_array_foreach (vs_json_path(pod, lists[l]), i, cs) {
			if (!vs_json_path(cs, "state.terminated"))
				return false;
			n++;
		}
	}
	return n >= json_array_size(vs_json_path(pod, "spec.containers")) && n > 0;
}

static bool group_pod_finished(const json_t *pod)
{
	const char *phase = vs_json_str_or(pod, "status.phase", "");

	return strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
}

/* A pod the stop waits for: one that mounts a claim of the group (a mig_obj_pred). */
static bool group_pod_kept(const json_t *pod, void *ctx)
{
	return group_pod_mounts(ctx, pod);
}

/* Every pod the wait kept (group_pod_kept: those that mount the group's claims) has stopped, copy
 * pods aside; finished ones are noted in gp->finished when gp->finished_ok. */
static bool group_pods_stopped(json_t *pods, void *ctx)
{
	struct group_pods *gp = ctx;
	const char *key;
	json_t *pod;

	json_array_clear(gp->finished);
	json_object_foreach (pods, key, pod) {
		if (group_pod_is_copy(gp, pod) || group_pod_terminated(pod))
			continue;
		if (!(gp->finished_ok && group_pod_finished(pod)))
			return false;
		json_array_append_new(gp->finished, json_pack("{s:s, s:s}", "name", vs_kube_obj_name(pod), "uid",
							      vs_kube_obj_uid(pod)));
	}
	return true;
}

/*
 * A finished pod (a completed Job's) still holds its claims until the pod object is gone, so the
 * original claim could never be deleted: such pods are deleted, and said so.
 */
static int group_delete_finished(mig_run *r, struct group_pods *gp, const char *ns, vs_error *err)
{
	json_t *pod;
	size_t i;
	int rc = 0;

	json_array_foreach (gp->finished, i, pod) {
		const char *name = vs_json_str(pod, "name");
		mig_say(r, "warning", "deleting finished pod %s/%s: it still holds a claim being migrated", ns, name);
		rc = mig_delete(r, &VS_KUBE_PODS, ns, name,
				&(vs_kube_delete_opts){ .precondition_uid = vs_json_str(pod, "uid") }, NULL, err);
		if (rc < 0)
			break;
	}
	return rc;
}

int mig_workloads_stop(mig_run *r, size_t gi, vs_error *err)
{
	const vs_plan_group *g = &r->plan->groups[gi];
	const char *ns = r->plan->pvcs[g->pvcs[0]].ns;
	struct group_pods gp = { r->plan, g, true, json_array() };
	char *what, *key = mig_group_key(gi, "stop");
	int rc = 0;

	/* downtime starts now, unless an earlier, interrupted run stopped the group already */
	if (!json_is_integer(json_object_get(vs_journal_step_record(r->j, key), "stoppedMs"))) {
		json_t *at = json_pack("{s:I}", "stoppedMs", (json_int_t)vs_time_wall_ms());
		rc = vs_journal_step(r->j, key, VS_STEP_INTENT, NULL, at, true, err);
		json_decref(at);
	}
	free(key);
	/* CronJobs first, so no new Job starts while running ones are waited for */
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		for (size_t k = 0; k < g->nworkloads && rc == 0; k++) {
			enum vs_workload_kind kind = r->plan->workloads[g->workloads[k]].kind;
			bool late = kind == VS_WORKLOAD_JOB || kind == VS_WORKLOAD_POD;
			if (late == (pass == 1))
				rc = workload_stop_one(r, g->workloads[k], err);
		}
	}
	what = vs_xasprintf("the pods that mount the claims of %s/%s to stop", ns, r->plan->pvcs[g->pvcs[0]].name);
	if (rc == 0)
		rc = mig_wait(r, &VS_KUBE_PODS, ns, group_pod_kept, group_pods_stopped, &gp, MIG_STOP_TIMEOUT_MS, what,
			      err);
	if (rc == 0 && json_array_size(gp.finished) > 0) {
		rc = group_delete_finished(r, &gp, ns, err);
		gp.finished_ok = false;
		if (rc == 0)
			rc = mig_wait(r, &VS_KUBE_PODS, ns, group_pod_kept, group_pods_stopped, &gp,
				      MIG_STOP_TIMEOUT_MS, what, err);
	}
	free(what);
	json_decref(gp.finished);
	return rc;
}

/* ---- starting again ------------------------------------------------------------------------- */

static long long workload_status(const json_t *obj, const char *field)
{
	return vs_json_int(obj, field, 0);
}

static bool workload_ready(const json_t *obj, void *ctx)
{
	const vs_plan_workload *w = ctx;
	long long want = vs_json_int(obj, "spec.replicas", 1);

	if (!obj)
		return false;
	if (workload_status(obj, "status.observedGeneration") < vs_json_int(obj, "metadata.generation", 0))
		return false;
	switch (w->kind) {
	case VS_WORKLOAD_DEPLOYMENT:
		return workload_status(obj, "status.updatedReplicas") >= want &&
		       workload_status(obj, "status.readyReplicas") >= want;
	case VS_WORKLOAD_STATEFULSET:
	case VS_WORKLOAD_REPLICASET: return workload_status(obj, "status.readyReplicas") >= want;
	case VS_WORKLOAD_DAEMONSET:
		return workload_status(obj, "status.numberReady") >=
		       workload_status(obj, "status.desiredNumberScheduled");
	default: return true;
	}
}

/* The StatefulSet's claim templates with the destination class; false when none names another. */
static bool workload_retarget_templates(json_t *sts, const char *source, const char *dest)
{
	bool changed = false;
	size_t i;
	json_t *t;

	json_array_foreach (vs_json_path(sts, "spec.volumeClaimTemplates"), i, t) {
		const char *cls = vs_json_str(t, "spec.storageClassName");
		if (!cls || strcmp(cls, source) == 0) {
			vs_json_set_path(t, "spec.storageClassName", json_string(dest));
			changed = true;
		}
	}
	return changed;
}

/*
 * volumeClaimTemplates are immutable, so a StatefulSet is deleted with orphan propagation and
 * created again from its own spec with the destination class and the recorded scale. It is
 * stopped (scale 0) at this point, so no pod is touched; existing claims keep their names and are
 * adopted by the new object.
 */
static int workload_recreate_statefulset(mig_run *r, const vs_plan_workload *w, json_t *obj, long replicas,
					 vs_error *err)
{
	static const char *server_fields[] = {
		"uid",		 "resourceVersion", "creationTimestamp", "generation",
		"managedFields", "selfLink",	    "deletionTimestamp", "deletionGracePeriodSeconds"
	};
	json_t *fresh = json_deep_copy(obj), *meta = json_object_get(fresh, "metadata");
	int rc;

	for (size_t k = 0; k < sizeof(server_fields) / sizeof(server_fields[0]); k++)
		json_object_del(meta, server_fields[k]);
	json_object_del(json_object_get(meta, "annotations"), VS_MIGRATE_SCALE_ANNOTATION);
	json_object_del(fresh, "status");
	vs_json_set_path(fresh, "spec.replicas", json_integer(replicas));
	char *key = mig_statefulset_key(w);
	rc = vs_journal_save_object(r->j, key, fresh, true, err); /* a crash after the delete recreates it from here */
	free(key);
	if (rc == 0)
		rc = vs_failpoint("statefulset:saved", err);
	if (rc == 0)
		rc = mig_delete(
			r, &VS_KUBE_STATEFULSETS, w->ns, w->name,
			&(vs_kube_delete_opts){ .precondition_uid = vs_kube_obj_uid(obj), .propagation = "Orphan" },
			NULL, err);
	if (rc == 0)
		rc = mig_wait_gone(r, &VS_KUBE_STATEFULSETS, w->ns, w->name, r->opts->delete_pv_timeout_ms, err);
	if (rc == 0)
		rc = vs_failpoint("statefulset:deleted", err);
	if (rc == 0)
		rc = vs_kube_create(r->c, &VS_KUBE_STATEFULSETS, w->ns, fresh, NULL, err);
	if (rc == 0)
		mig_emit(r, "statefulset-recreated",
			 json_pack("{s:s, s:s, s:s}", "namespace", w->ns, "name", w->name, "storageClass",
				   r->opts->plan.dest_sc));
	else
		vs_error_wrap(err, "recreate StatefulSet %s/%s with class %s", w->ns, w->name, r->opts->plan.dest_sc);
	json_decref(fresh);
	return rc;
}

/* Give workload w (obj, as read) back its scale, node selector or suspension; *after gets the
 * server's answer to the patch, or NULL when nothing was patched (caller frees). */
static int workload_restore(mig_run *r, const vs_plan_workload *w, json_t *obj, json_t **after, vs_error *err)
{
	json_t *patch = NULL;

	*after = NULL;

	switch (w->kind) {
	case VS_WORKLOAD_STATEFULSET:
		if (!r->opts->keep_statefulsets &&
		    workload_retarget_templates(obj, r->opts->plan.source_sc, r->opts->plan.dest_sc))
			return workload_recreate_statefulset(r, w, obj, vs_plan_scale_to_restore(obj, w->replicas),
							     err);
		/* fall through */
	case VS_WORKLOAD_DEPLOYMENT:
	case VS_WORKLOAD_REPLICASET:
		patch = workload_annotation_patch(VS_MIGRATE_SCALE_ANNOTATION, json_null());
		vs_json_set_path(patch, "spec.replicas", json_integer(vs_plan_scale_to_restore(obj, w->replicas)));
		break;
	case VS_WORKLOAD_DAEMONSET: {
		const char *saved = vs_json_annotation(obj, VS_MIGRATE_NODE_SELECTOR_ANNOTATION);
		if (!saved)
			return 0;
		patch = workload_annotation_patch(VS_MIGRATE_NODE_SELECTOR_ANNOTATION, json_null());
		json_t *sel = json_loads(saved, 0, NULL);
		if (!json_is_object(sel)) {
			json_decref(sel);
			sel = json_object();
		}
		if (!json_object_get(sel, VS_MIGRATE_STOP_NODE_LABEL))
			json_object_set_new(sel, VS_MIGRATE_STOP_NODE_LABEL, json_null());
		vs_json_set_path(patch, "spec.template.spec.nodeSelector", sel);
		break;
	}
	case VS_WORKLOAD_CRONJOB: {
		const char *saved = vs_json_annotation(obj, VS_MIGRATE_SUSPEND_ANNOTATION);
		if (!saved)
			return 0;
		patch = workload_annotation_patch(VS_MIGRATE_SUSPEND_ANNOTATION, json_null());
		vs_json_set_path(patch, "spec.suspend", json_boolean(strcmp(saved, "true") == 0));
		break;
	}
	case VS_WORKLOAD_JOB:
	case VS_WORKLOAD_POD: return 0;
	}
	return workload_patch(r, w, patch, after, err);
}

/* A StatefulSet deleted for its recreation by a run that then stopped: created from the journal. */
static int workload_recreate_saved(mig_run *r, const vs_plan_workload *w, vs_error *err)
{
	char *key = mig_statefulset_key(w);
	const json_t *saved = w->kind == VS_WORKLOAD_STATEFULSET ? vs_journal_object(r->j, key) : NULL;
	int rc = 0;

	free(key);
	if (saved) {
		rc = vs_kube_create(r->c, &VS_KUBE_STATEFULSETS, w->ns, saved, NULL, err);
		if (rc == 0)
			mig_emit(r, "statefulset-recreated",
				 json_pack("{s:s, s:s, s:s}", "namespace", w->ns, "name", w->name, "storageClass",
					   r->opts->plan.dest_sc));
	}
	return rc < 0 ? vs_error_wrap(err, "recreate StatefulSet %s/%s from the journal", w->ns, w->name) : 0;
}

/* Start workload wi and wait until it is ready; stopped_ms: wall-clock ms when its group stopped
 * (0: unknown), for the downtime reported. */
static int workload_start_one(mig_run *r, size_t wi, int64_t stopped_ms, vs_error *err)
{
	const vs_plan_workload *w = &r->plan->workloads[wi];
	const vs_kube_resource *res = workload_resource(w->kind);
	json_t *obj = NULL, *after = NULL;
	char *what;
	int rc = mig_get_opt(r, res, w->ns, w->name, &obj, err);

	if (rc == 0 && !obj) {
		rc = workload_recreate_saved(r, w, err);
		if (rc == 0)
			rc = mig_get_opt(r, res, w->ns, w->name, &obj, err);
	}
	if (rc < 0 || !obj)
		return rc;
	rc = workload_restore(r, w, obj, &after, err);
	json_decref(obj);
	if (rc < 0 || w->kind == VS_WORKLOAD_JOB || w->kind == VS_WORKLOAD_POD || w->kind == VS_WORKLOAD_CRONJOB) {
		json_decref(after);
		return rc;
	}
	what = vs_xasprintf("%s %s/%s to be ready", vs_workload_kind_name(w->kind), w->ns, w->name);
	if (after) /* from the version the restore made: no list */
		rc = mig_wait_from(r, res, after, workload_ready, (void *)w, r->opts->ready_timeout_ms, what, err);
	else
		rc = mig_wait_obj(r, res, w->ns, w->name, workload_ready, (void *)w, r->opts->ready_timeout_ms, what,
				  err);
	json_decref(after);
	free(what);
	if (rc == 0) {
		json_int_t downtime = stopped_ms ? vs_time_wall_ms() - stopped_ms : 0;
		char *name = vs_xasprintf("%s %s/%s", vs_workload_kind_name(w->kind), w->ns, w->name);
		if (!r->step_extra)
			r->step_extra = json_object();
		if (!json_object_get(r->step_extra, "downtimeMs"))
			json_object_set_new(r->step_extra, "downtimeMs", json_object());
		json_object_set_new(json_object_get(r->step_extra, "downtimeMs"), name, json_integer(downtime));
		free(name);
		mig_emit(r, "workload-ready",
			 json_pack("{s:s, s:s, s:s, s:I}", "kind", vs_workload_kind_name(w->kind), "namespace", w->ns,
				   "name", w->name, "downtimeMs", downtime));
	}
	return rc;
}

int mig_workloads_start(mig_run *r, size_t gi, vs_error *err)
{
	const vs_plan_group *g = &r->plan->groups[gi];
	char *key = mig_group_key(gi, "stop");
	int64_t stopped_ms = vs_json_int(vs_journal_step_record(r->j, key), "stoppedMs", 0);
	int rc = 0;

	free(key);
	for (size_t k = 0; k < g->nworkloads && rc == 0; k++)
		rc = workload_start_one(r, g->workloads[k], stopped_ms, err);
	return rc;
}
