/*
 * Preflight on the live cluster, as pvmigrate does it but cleaning up after itself: for each
 * distinct set of access modes the destination claims need, a small claim of the destination
 * class and a pod that mounts it must be running within --pod-ready-timeout. The probe objects
 * (and the volume the claim made, and the probe's Lease) are deleted whatever the outcome, so a
 * failed preflight leaves the cluster as it was; a volshift killed while it probes leaves them to
 * the next one (probe.c says how it knows they are leftovers).
 */
#include "migrate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_SIZE "16Mi"

/* The probe's claim of modes in ns and a pod that mounts it, running (mig_pod_run), with a failpoint
 * after each of the probe's objects. */
static int probe_create(mig_run *r, const char *ns, const json_t *modes, const mig_probe *probe, vs_error *err)
{
	const char *name = mig_probe_name(probe), *mounts[3] = { "probe", name, "/probe" };
	json_t *claim = NULL, *pod = NULL;
	int rc = vs_failpoint("probe:lease-created", err);

	if (rc == 0) {
		claim = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:{s:s, s:O, s:{s:{s:s}}}}", "apiVersion", "v1",
				  "kind", "PersistentVolumeClaim", "metadata", "name", name, "namespace", ns, "labels",
				  mig_probe_labels(probe), "spec", "storageClassName", r->opts->plan.dest_sc,
				  "accessModes", modes, "resources", "requests", "storage", PROBE_SIZE);
		rc = vs_kube_create(r->c, &VS_KUBE_PVCS, ns, claim, NULL, err);
	}
	if (rc == 0)
		rc = vs_failpoint("probe:claim-created", err);
	if (rc == 0) {
		pod = mig_pod_new(ns, name, r->opts->rsync_image, NULL, json_pack("[s, s]", "sleep", "3600"), mounts,
				  1);
		json_object_update_new(vs_json_path(pod, "metadata.labels"), mig_probe_labels(probe));
		rc = mig_pod_run(r, ns, pod, "access-mode probe", err);
	}
	if (rc == 0)
		rc = vs_failpoint("probe:pod-running", err);
	json_decref(claim);
	json_decref(pod);
	return rc;
}

/* Try one set of modes in namespace ns; *why is set (caller frees) when the destination fails.
 * The probe's objects are removed whatever happened, even after a create whose answer was lost
 * (mig_probe_end); a probe another volshift took over (probe.c) is not judged, and is an error the
 * caller tries again. */
static int probe_modes_run(mig_run *r, const char *ns, const json_t *modes, char **why, vs_error *err)
{
	mig_probe *probe;
	vs_error perr, cerr;
	char name[64];
	int rc = mig_probe_begin(r, ns, &probe, err);

	*why = NULL;
	if (rc < 0)
		return rc;
	snprintf(name, sizeof(name), "%s", mig_probe_name(probe));
	vs_error_clear(&perr);
	if (probe_create(r, ns, modes, probe, &perr) < 0 && !vs_kube_error_transient(&perr))
		*why = vs_xstrdup(perr.message); /* refused outright (422), or the pod never ran */
	vs_error_clear(&cerr);
	if (mig_probe_check(probe, &cerr) < 0) { /* the probe was not this volshift's to the end */
		free(*why);
		*why = NULL;
		perr = cerr;
	}
	rc = mig_probe_end(r, probe, err);
	if (rc < 0)
		vs_error_wrap(err, "clean up access-mode probe %s/%s", ns, name);
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
