/*
 * Preflight on the live cluster, as pvmigrate does it but cleaning up after itself: for each
 * distinct set of access modes the destination claims need, a small claim of the destination
 * class and a pod that mounts it must be running within --pod-ready-timeout. The probe objects
 * (and the volume the claim made) are deleted whatever the outcome, so a failed preflight leaves
 * the cluster as it was.
 */
#include "migrate_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_SIZE "16Mi"

/* Delete the probe claim and wait for it and its volume to be gone (deleting a Retained one). */
static int probe_cleanup(mig_run *r, const char *ns, const char *name, vs_error *err)
{
	json_t *claim = NULL;
	char *pv = NULL;
	int rc = mig_pod_remove(r, ns, name, true, err);

	if (rc == 0)
		rc = mig_get_opt(r, &VS_KUBE_PVCS, ns, name, &claim, err);
	if (rc == 0 && claim && vs_json_str(claim, "spec.volumeName"))
		pv = vs_xstrdup(vs_json_str(claim, "spec.volumeName"));
	json_decref(claim);
	if (rc == 0)
		rc = mig_delete(r, &VS_KUBE_PVCS, ns, name, NULL, NULL, err);
	if (rc == 0)
		rc = mig_wait_gone(r, &VS_KUBE_PVCS, ns, name, r->opts->delete_pv_timeout_ms, err);
	if (rc == 0 && pv) {
		json_t *vol = NULL;
		rc = mig_get_opt(r, &VS_KUBE_PVS, NULL, pv, &vol, err);
		if (rc == 0 && vol && strcmp(vs_json_str_or(vol, "spec.persistentVolumeReclaimPolicy", ""), "Delete") != 0)
			rc = mig_delete(r, &VS_KUBE_PVS, NULL, pv, &(vs_kube_delete_opts){ .precondition_uid = vs_kube_obj_uid(vol) }, NULL, err);
		json_decref(vol);
		if (rc == 0)
			rc = mig_wait_gone(r, &VS_KUBE_PVS, NULL, pv, r->opts->delete_pv_timeout_ms, err);
	}
	free(pv);
	return rc < 0 ? vs_error_wrap(err, "clean up probe %s/%s", ns, name) : 0;
}

/* Try one set of modes in namespace ns; *why is set (caller frees) when the destination fails.
 * The probe objects are removed whatever happened, even after a create whose answer was lost. */
static int probe_modes_run(mig_run *r, const char *ns, const json_t *modes, char **why, vs_error *err)
{
	const char *mounts[3] = { "probe", NULL, "/probe" };
	char name[40];
	json_t *claim, *pod = NULL;
	vs_error perr;
	int rc;

	snprintf(name, sizeof(name), "volshift-probe-%08" PRIx64, vs_rand_u64() & 0xffffffffu);
	mounts[1] = name;
	claim = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:s, s:O, s:{s:{s:s}}}}", "apiVersion", "v1", "kind",
			  "PersistentVolumeClaim", "metadata", "name", name, "namespace", ns, "labels",
			  "app.kubernetes.io/managed-by", "volshift", "spec", "storageClassName", r->opts->plan.dest_sc,
			  "accessModes", modes, "resources", "requests", "storage", PROBE_SIZE);
	*why = NULL;
	vs_error_clear(&perr);
	rc = vs_kube_create(r->c, &VS_KUBE_PVCS, ns, claim, NULL, &perr);
	if (rc == 0) {
		pod = mig_pod_new(ns, name, r->opts->rsync_image, NULL, json_pack("[s, s]", "sleep", "3600"), mounts, 1);
		rc = mig_pod_run(r, ns, pod, "access-mode probe", &perr);
	}
	if (rc < 0 && !vs_kube_error_transient(&perr))
		*why = vs_xstrdup(perr.message); /* refused outright (422), or the pod never ran */
	json_decref(claim);
	json_decref(pod);
	rc = probe_cleanup(r, ns, name, err);
	if (rc == 0 && perr.code && !*why) {
		*err = perr; /* the API failed, not the destination: the caller tries again */
		rc = perr.code;
	}
	return rc;
}

/* probe_modes_run, again while the API fails transiently. */
#define PROBE_ATTEMPTS 4
static int probe_modes(mig_run *r, const char *ns, const json_t *modes, char **why, vs_error *err)
{
	int rc = 0;

	for (unsigned attempt = 1; attempt <= PROBE_ATTEMPTS; attempt++) {
		rc = probe_modes_run(r, ns, modes, why, err);
		if (rc == 0 || attempt == PROBE_ATTEMPTS || !vs_kube_error_transient(err))
			break;
		mig_say(r, "warning", "access-mode probe: %s; trying again", err->message);
		vs_sleep_ms(vs_kube_backoff_ms(attempt, 500, 8000, vs_rand_u64()));
		vs_error_clear(err);
	}
	return rc;
}

int vs_migrate_preflight(vs_kube_client *c, const vs_migrate_opts *opts, vs_plan *plan, vs_migrate_event_fn fn,
			 void *ctx, vs_error *err)
{
	mig_run r = { .c = c, .opts = opts, .plan = plan, .fn = fn, .ctx = ctx };
	json_t *tried = json_object();
	int rc = 0;

	for (size_t i = 0; i < plan->nproblems; i++)
		if (!plan->problems[i].name)
			goto done; /* no class to probe, or the migration cannot go ahead anyway */
	for (size_t i = 0; i < plan->npvcs && rc == 0; i++) {
		json_t *modes = vs_plan_dest_modes(&plan->pvcs[i]);
		char *text = vs_plan_modes_text(modes), *why = NULL;
		json_t *seen = json_object_get(tried, text);
		if (!seen) {
			mig_say(&r, "stage", "probing access modes %s on class %s", text, opts->plan.dest_sc);
			rc = probe_modes(&r, plan->pvcs[i].ns, modes, &why, err);
			seen = why ? json_string(why) : json_true();
			json_object_set_new(tried, text, seen);
			mig_emit(&r, "probe", json_pack("{s:s, s:b, s:s?}", "modes", text, "ok", !why, "message", why));
			free(why);
		}
		if (json_is_string(seen)) {
			char *reason = vs_xasprintf("destination class %s cannot provide access modes %s: %s",
						    opts->plan.dest_sc, text, json_string_value(seen));
			vs_plan_add_problem(plan, plan->pvcs[i].ns, plan->pvcs[i].name, reason);
			free(reason);
		}
		json_decref(modes);
		free(text);
	}
done:
	json_decref(tried);
	return rc;
}
