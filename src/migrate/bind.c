/*
 * Binding a recreated claim to the volume that holds its data, at once and safely, on a real PV
 * controller (../shared/KUBERNETES-NOTES.md, "Binding a recreated claim: the race").
 *
 * The PV controller (kube-controller-manager, pkg/controller/volume/persistentvolume) syncs a claim
 * only on a claim event, on the deletion of its volume, when syncVolume sees a volume that carries
 * the claim's uid while the claim names no volume, and at its periodic resync (15 s). Its claim
 * worker reads the volume from a cache that lags the API; when that cache still shows the volume
 * with another claim's uid, syncUnboundClaim records FailedBinding and leaves the claim Pending
 * until one of those triggers; bind() gives up at its first failed write (the claim and volume
 * workers both write the volume's status, so one of them often gets 409), again until the resync.
 * Pre-binding the volume to the name without a uid and creating the claim after it, as volshift
 * did before, therefore bound within a second in only 2 of 10 trials on a real control plane
 * (median 5 s, up to 26 s with 5 swaps at once), all of it application downtime.
 *
 * The sequence here, in this order:
 *  1. create the claim naming the volume (spec.volumeName) and its class. The volume still names
 *     the previous claim (the deleted temporary or original claim) with that claim's uid, so no
 *     other claim can take it (syncUnboundClaim binds a volume whose claimRef carries a uid only to
 *     the claim with that uid), and a claim with spec.volumeName is never provisioned for, so no
 *     second volume appears. The claim gets one harmless FailedBinding event and stays Pending;
 *  2. pin the volume to the new claim: claimRef {namespace, name, uid of the new claim}, by a JSON
 *     patch whose test op requires the claimRef we observed (so a volume someone else changed is
 *     never taken). From here only that one object can bind to the volume; syncVolume of the
 *     pinned volume finds the claim naming it ("all is bound") and sets the volume Bound, which
 *     also means the volume cache holds the pinned volume;
 *  3. nudge the claim (change an annotation: any claim event makes the claim worker sync it) as
 *     soon as the volume shows Bound, so the claim worker finds the pinned volume and binds without
 *     racing the volume worker for the volume's status; then again whenever the claim stayed
 *     Pending for a while, 0.1 s doubling to 2 s, in case a sync lost a race or read a stale cache.
 * On the real control plane this bound in 0.04 / 0.05 / 0.25 s (min / median / max), 5 at once
 * within 0.28 s, with no extra volume and no Lost claim in 57 trials; without step 3 it waited for
 * the resync (11.8 s median). A claim becomes Lost only if it carries pv.kubernetes.io/bind-completed
 * while its volume names another uid: the recreated claim never carries it (the caller strips it).
 *
 * A crash between steps 1 and 2 leaves a Pending claim and the volume with the old uid: the next
 * run creates nothing (AlreadyExists: it reads the claim and checks it names the volume), pins the
 * volume to that claim's uid, and nudges.
 */
#include "migrate_int.h"

#include <stdlib.h>
#include <string.h>

#define BIND_NUDGE_ANNOTATION "volshift.io/bind-nudge"
#define BIND_VOLUME_WAIT_MS   1000
#define BIND_PIN_ATTEMPTS     5

/* True when claim (may be NULL) is Bound to the volume named ctx; a mig_obj_pred. */
bool mig_claim_bound_to(const json_t *claim, void *ctx)
{
	return claim && strcmp(vs_json_str_or(claim, "status.phase", ""), "Bound") == 0 &&
	       strcmp(vs_json_str_or(claim, "spec.volumeName", ""), (const char *)ctx) == 0;
}

static bool bind_volume_bound(const json_t *pv, void *ctx)
{
	(void)ctx;
	return !pv || strcmp(vs_json_str_or(pv, "status.phase", ""), "Bound") == 0;
}

/* Create claim (borrowed), or read the one an interrupted run created: it must name the volume.
 * *out gets the claim (caller frees). */
static int bind_create(mig_run *r, const json_t *claim, json_t **out, vs_error *err)
{
	const char *ns = vs_kube_obj_namespace(claim), *name = vs_kube_obj_name(claim);
	const char *pv = vs_json_str_or(claim, "spec.volumeName", "");
	int rc = vs_kube_create(r->c, &VS_KUBE_PVCS, ns, claim, out, err);

	if (rc < 0 && vs_error_is(err, "AlreadyExists")) {
		vs_error_clear(err);
		rc = mig_get_opt(r, &VS_KUBE_PVCS, ns, name, out, err);
		if (rc == 0 && !*out) /* deleted in between: by someone else, so stop here */
			rc = vs_error_set(err, VS_EIO, "claim %s/%s disappeared while it was being recreated", ns,
					  name);
		if (rc == 0 && strcmp(vs_json_str_or(*out, "spec.volumeName", ""), pv) != 0)
			rc = vs_error_set(err, VS_EINVAL,
					  "claim %s/%s exists but is not bound to volume %s; something else created it "
					  "while the migration ran",
					  ns, name, pv);
	}
	return rc;
}

/* Whether pv's claimRef (may be NULL) may be replaced by one naming claim: it names nothing, the
 * claim's own name (a deleted claim of that name, or a pre-binding without uid), or prev_name (a
 * deleted claim the caller's earlier steps waited for). Anything else belongs to someone else. */
static bool bind_ref_replaceable(const json_t *ref, const json_t *claim, const char *prev_name)
{
	const char *ns = vs_json_str_or(ref, "namespace", ""), *name = vs_json_str_or(ref, "name", "");

	if (!ref)
		return true;
	if (strcmp(ns, vs_kube_obj_namespace(claim)) != 0)
		return false;
	return strcmp(name, vs_kube_obj_name(claim)) == 0 || (prev_name && strcmp(name, prev_name) == 0);
}

/* The JSON patch that pins pv (as observed) to claim: a test of the claimRef observed (or, with
 * none, of the version observed), then the new claimRef. */
static json_t *bind_pin_patch(const json_t *pv, const json_t *claim)
{
	const json_t *ref = vs_json_path(pv, "spec.claimRef");
	json_t *test = ref ? json_pack("{s:s, s:s, s:O}", "op", "test", "path", "/spec/claimRef", "value", ref)
			   : json_pack("{s:s, s:s, s:s}", "op", "test", "path", "/metadata/resourceVersion", "value",
				       vs_json_str_or(pv, "metadata.resourceVersion", ""));
	json_t *value =
		json_pack("{s:s, s:s, s:s, s:s, s:s}", "apiVersion", "v1", "kind", "PersistentVolumeClaim", "namespace",
			  vs_kube_obj_namespace(claim), "name", vs_kube_obj_name(claim), "uid", vs_kube_obj_uid(claim));

	return json_pack("[o, {s:s, s:s, s:o}]", test, "op", ref ? "replace" : "add", "path", "/spec/claimRef", "value",
			 value);
}

/*
 * Step 2: pin volume pv_name to claim, from seen (borrowed; NULL: read it). A failed test (the
 * volume changed since it was observed), or a transient failure whose outcome is unknown, reads the
 * volume again and decides again. *out gets the volume as pinned (caller frees).
 */
static int bind_pin(mig_run *r, const char *pv_name, const json_t *seen, const json_t *claim, const char *prev_name,
		    json_t **out, vs_error *err)
{
	json_t *pv = json_incref((json_t *)seen);
	int rc = 0;

	for (unsigned attempt = 1; rc == 0; attempt++) {
		if (!pv)
			rc = vs_kube_get(r->c, &VS_KUBE_PVS, NULL, pv_name, &pv, err);
		if (rc < 0)
			break;
		const json_t *ref = vs_json_path(pv, "spec.claimRef");
		if (strcmp(vs_json_str_or(ref, "uid", ""), vs_kube_obj_uid(claim)) == 0)
			break; /* pinned already */
		if (!bind_ref_replaceable(ref, claim, prev_name)) {
			rc = vs_error_set(err, VS_EINVAL, "volume %s is claimed by %s/%s, not by %s/%s: not taking it",
					  pv_name, vs_json_str_or(ref, "namespace", ""),
					  vs_json_str_or(ref, "name", ""), vs_kube_obj_namespace(claim),
					  vs_kube_obj_name(claim));
			break;
		}
		json_t *patch = bind_pin_patch(pv, claim), *reply = NULL;
		rc = vs_kube_patch(r->c, &VS_KUBE_PVS, NULL, pv_name, VS_KUBE_PATCH_JSON, patch, &reply, err);
		json_decref(patch);
		json_decref(pv);
		pv = reply;
		if (rc == 0 || attempt == BIND_PIN_ATTEMPTS ||
		    !(vs_error_is(err, "Invalid") || vs_kube_error_transient(err)))
			break;
		vs_error_clear(err); /* the volume moved, or the answer was lost: look again */
		json_decref(pv);
		pv = NULL;
		rc = 0;
	}
	if (rc == 0)
		*out = pv;
	else
		json_decref(pv);
	return rc < 0 ? vs_error_wrap(err, "pin volume %s to claim %s/%s", pv_name, vs_kube_obj_namespace(claim),
				      vs_kube_obj_name(claim))
		      : 0;
}

/* Step 3's nudge: a change of the nudge annotation (removed when the claim has it, else set to n),
 * so that the claim worker syncs the claim. *claim becomes the server's answer. */
static int bind_nudge(mig_run *r, json_t **claim, int n, vs_error *err)
{
	char value[16];
	json_t *patch, *reply = NULL;
	int rc;

	snprintf(value, sizeof(value), "%d", n);
	patch = json_pack("{s:{s:{s:o}}}", "metadata", "annotations", BIND_NUDGE_ANNOTATION,
			  vs_json_annotation(*claim, BIND_NUDGE_ANNOTATION) ? json_null() : json_string(value));
	rc = vs_kube_patch(r->c, &VS_KUBE_PVCS, vs_kube_obj_namespace(*claim), vs_kube_obj_name(*claim),
			   VS_KUBE_PATCH_MERGE, patch, &reply, err);
	json_decref(patch);
	if (rc == 0) {
		json_decref(*claim);
		*claim = reply;
		vs_debug("bind: claim %s/%s nudged (%d), version %s", vs_kube_obj_namespace(*claim),
			 vs_kube_obj_name(*claim), n, vs_json_str_or(*claim, "metadata.resourceVersion", ""));
	}
	return rc;
}

void mig_note_claim_lag(mig_run *r, int64_t since_ms)
{
	int64_t lag = vs_time_mono_ms() - since_ms;

	if (lag > r->claim_lag_ms)
		r->claim_lag_ms = lag < MIG_BIND_QUIET_MAX_MS ? lag : MIG_BIND_QUIET_MAX_MS;
}

int64_t mig_bind_first_quiet_ms(int64_t claim_lag_ms)
{
	if (claim_lag_ms < MIG_BIND_QUIET_MIN_MS)
		return MIG_BIND_QUIET_MIN_MS;
	return claim_lag_ms < MIG_BIND_QUIET_MAX_MS ? claim_lag_ms : MIG_BIND_QUIET_MAX_MS;
}

/*
 * Step 3: wait until claim (owned; replaced as it is patched) is Bound to pv_name, nudging it as
 * soon as the volume (pinned: as the pin left it) shows Bound (or after BIND_VOLUME_WAIT_MS without
 * it: the volume worker's write may have lost a race, and the claim worker binds it too), then
 * whenever it stays Pending for a quiet period that doubles. A nudge before the volume worker saw
 * the pin would mostly be wasted: the claim worker would read the volume from a cache without it.
 * A volume pinned while it still showed Bound (the volume worker had not yet seen the previous
 * claim go) gets no write when the volume worker sees the pin: it is nudged at once.
 *
 * The first quiet period is at least the longest lag this thread saw the controllers take to react
 * to a claim change (mig_note_claim_lag): a nudge made before the claim worker synced the previous
 * one makes that sync's write of the claim fail on a conflict (409), which bind() does not retry,
 * so nudges faster than the claim worker's cache follows would only cancel each other (at 200 ms of
 * informer delay, 8 swaps at once: median 0.71 s, 8 % over 1 s, against 0.42 s and none over 1 s).
 */
static int bind_wait(mig_run *r, json_t **claim, const json_t *pinned, const char *pv_name, vs_error *err)
{
	int64_t deadline = vs_time_mono_ms() + r->opts->delete_pv_timeout_ms;
	int64_t quiet = mig_bind_first_quiet_ms(r->claim_lag_ms);
	char *what = vs_xasprintf("claim %s/%s to bind to volume %s", vs_kube_obj_namespace(*claim),
				  vs_kube_obj_name(*claim), pv_name);
	int nudges = 0, rc = 0;

	if (!mig_claim_bound_to(*claim, (void *)pv_name)) {
		rc = mig_wait_from(r, &VS_KUBE_PVS, pinned, bind_volume_bound, NULL, BIND_VOLUME_WAIT_MS, what, err);
		if (rc == VS_ETIMEOUT) { /* not Bound yet: the nudge lets the claim worker finish it */
			vs_error_clear(err);
			rc = 0;
		}
	}
	while (rc == 0 && !mig_claim_bound_to(*claim, (void *)pv_name)) {
		int64_t nudged = vs_time_mono_ms(), left = deadline - nudged;
		if (left <= 0) {
			rc = vs_error_set(err, VS_ETIMEOUT,
					  "timed out after %llds waiting for %s (--delete-pv-timeout)",
					  (long long)(r->opts->delete_pv_timeout_ms / 1000), what);
			break;
		}
		rc = bind_nudge(r, claim, ++nudges, err);
		if (rc == 0)
			rc = mig_wait_from(r, &VS_KUBE_PVCS, *claim, mig_claim_bound_to, (void *)pv_name,
					   quiet < left ? quiet : left, what, err);
		if (rc == VS_ETIMEOUT) { /* still Pending: the next nudge's answer shows it as it is now */
			vs_error_clear(err);
			rc = 0;
			quiet = quiet * 2 < MIG_BIND_QUIET_MAX_MS ? quiet * 2 : MIG_BIND_QUIET_MAX_MS;
		} else if (rc == 0) {
			mig_note_claim_lag(r, nudged);
			break;
		}
	}
	free(what);
	return rc;
}

int mig_bind_claim(mig_run *r, const json_t *claim, const json_t *pv_seen, const char *prev_name, vs_error *err)
{
	const char *pv_name = vs_json_str_or(claim, "spec.volumeName", "");
	json_t *have = NULL, *pinned = NULL, *annotated = json_deep_copy(claim);
	int rc;

	/* created with the nudge annotation, which the first nudge removes: the claim ends as it was
	 * made without a write in the downtime for it, unless no nudge or a second one was needed */
	if (!json_is_object(vs_json_path(annotated, "metadata.annotations")))
		json_object_set_new(json_object_get(annotated, "metadata"), "annotations", json_object());
	json_object_set_new(vs_json_path(annotated, "metadata.annotations"), BIND_NUDGE_ANNOTATION, json_string("0"));
	rc = bind_create(r, annotated, &have, err);
	json_decref(annotated);

	if (rc == 0)
		rc = vs_failpoint("swap:claim-created", err);
	if (rc == 0 && !mig_claim_bound_to(have, (void *)pv_name))
		rc = bind_pin(r, pv_name, pv_seen, have, prev_name, &pinned, err);
	if (rc == 0)
		vs_debug("bind: volume %s pinned to claim %s/%s", pv_name, vs_kube_obj_namespace(have),
			 vs_kube_obj_name(have));
	if (rc == 0)
		rc = vs_failpoint("swap:pinned", err);
	if (rc == 0 && pinned)
		rc = bind_wait(r, &have, pinned, pv_name, err);
	if (rc == 0 && vs_json_annotation(have, BIND_NUDGE_ANNOTATION)) /* as the last write left it */
		rc = bind_nudge(r, &have, 0, err);
	json_decref(have);
	json_decref(pinned);
	return rc;
}
