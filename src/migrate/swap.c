/*
 * The swap: the original claim name moves from the source volume to the copy, following how a
 * real control plane binds and releases (../shared/KUBERNETES-NOTES.md): both volumes set to
 * Retain, the original and temporary claims deleted, the claim created again naming the new volume
 * and the destination class explicitly and the volume pinned to it (bind.c: it binds at once and no
 * other claim can take the volume), the new volume's reclaim policy set to what the old one had,
 * and the old volume given back to its reclaim policy last.
 *
 * THE INVARIANT, enforced here: at every instant, every byte of every source volume is on a PV
 * whose reclaim policy is Retain or whose claim still exists.
 *   - A claim is deleted only after its volume has been observed with policy Retain
 *     (swap_retain returns the server's copy, and swap_delete_claim checks it).
 *   - The old volume leaves Retain (or is deleted) only after the original name has been observed
 *     Bound to the new volume, which holds the verified copy.
 * The swap starts from the live objects, so a swap that was interrupted continues; then each step
 * acts on what the steps before it observed (the server's answers to their writes) instead of
 * reading the objects again: a claim is deleted with its uid as a precondition, and a bound
 * claim's volume cannot change, so what was observed still holds when it is used.
 */
#include "migrate_int.h"

#include <stdlib.h>
#include <string.h>

/* Annotations the control plane writes while binding; a recreated claim must not carry them. */
static const char *const swap_binding_annotations[] = {
	"pv.kubernetes.io/bind-completed",
	"pv.kubernetes.io/bound-by-controller",
	"volume.beta.kubernetes.io/storage-provisioner",
	"volume.kubernetes.io/storage-provisioner",
	"volume.kubernetes.io/selected-node",
};

/*
 * Set pv to Retain, recording its own policy (and, when extra_key is set, extra_value) in
 * annotations unless an earlier run already did. *out (out may be NULL) receives the server's
 * answer, which says Retain (caller frees). Fails (VS_EIO) when the server's answer is not Retain.
 */
static int swap_retain(mig_run *r, const char *pv_name, const char *extra_key, const char *extra_value, json_t **out,
		       vs_error *err)
{
	json_t *pv = NULL, *patch, *reply = NULL;
	int rc = vs_kube_get(r->c, &VS_KUBE_PVS, NULL, pv_name, &pv, err);

	if (rc < 0)
		return rc;
	const char *recorded = vs_json_annotation(pv, VS_MIGRATE_OWN_RECLAIM_ANNOTATION);
	const char *keep = recorded ? recorded : vs_json_str_or(pv, "spec.persistentVolumeReclaimPolicy", "Delete");
	patch = json_pack("{s:{s:s}}", "spec", "persistentVolumeReclaimPolicy", "Retain");
	vs_json_set_path(patch, "metadata",
			 json_pack("{s:{s:s}}", "annotations", VS_MIGRATE_OWN_RECLAIM_ANNOTATION, keep));
	if (extra_key && !vs_json_annotation(pv, extra_key))
		json_object_set_new(vs_json_path(patch, "metadata.annotations"), extra_key, json_string(extra_value));
	rc = vs_kube_patch(r->c, &VS_KUBE_PVS, NULL, pv_name, VS_KUBE_PATCH_MERGE, patch, &reply, err);
	if (rc == 0 && strcmp(vs_json_str_or(reply, "spec.persistentVolumeReclaimPolicy", ""), "Retain") != 0)
		rc = vs_error_set(err, VS_EIO, "PersistentVolume %s: reclaim policy is still %s after setting Retain",
				  pv_name, vs_json_str_or(reply, "spec.persistentVolumeReclaimPolicy", "unset"));
	if (rc == 0 && out) {
		*out = reply;
		reply = NULL;
	}
	json_decref(pv);
	json_decref(patch);
	json_decref(reply);
	return rc < 0 ? vs_error_wrap(err, "retain volume %s", pv_name) : 0;
}

/* Delete claim (as observed; NULL: gone already) if it is bound to pv (as the server answered
 * Retain; a claim on another volume is left alone), without waiting; *issued says whether it was.
 * Whatever its uid: an undone group's claim is a new object of the same name on the same volume. */
static int swap_delete_claim(mig_run *r, const json_t *claim, const json_t *pv, bool *issued, vs_error *err)
{
	const char *ns = vs_kube_obj_namespace(claim), *name = vs_kube_obj_name(claim), *pv_name = vs_kube_obj_name(pv);

	*issued = false;
	if (!claim || strcmp(vs_json_str_or(claim, "spec.volumeName", ""), pv_name) != 0)
		return 0; /* gone, or the name already belongs to the claim on the other volume */
	if (strcmp(vs_json_str_or(pv, "spec.persistentVolumeReclaimPolicy", ""), "Retain") != 0)
		return vs_error_set(err, VS_EIO, "refusing to delete claim %s/%s: its volume %s is not Retain", ns,
				    name, pv_name);
	*issued = true;
	return mig_delete(r, &VS_KUBE_PVCS, ns, name,
			  &(vs_kube_delete_opts){ .precondition_uid = vs_kube_obj_uid(claim) }, NULL, err);
}

/* Wait until claim, whose deletion swap_delete_claim issued at deleted_at (vs_time_mono_ms), is
 * gone; how long that took is a lag of the controllers (mig_note_claim_lag). */
static int swap_claim_gone(mig_run *r, const json_t *claim, bool issued, int64_t deleted_at, vs_error *err)
{
	const char *ns = vs_kube_obj_namespace(claim), *name = vs_kube_obj_name(claim);
	int rc = issued ? mig_wait_gone(r, &VS_KUBE_PVCS, ns, name, r->opts->delete_pv_timeout_ms, err) : 0;

	if (rc == VS_ETIMEOUT)
		vs_error_wrap(err, "claim %s/%s is still in use (a pod that mounts it must be deleted)", ns, name);
	if (rc == 0 && issued)
		mig_note_claim_lag(r, deleted_at);
	return rc;
}

/* The original claim as it must be recreated on volume pv_name: same name, labels, annotations and
 * spec, except the volume and, going forward, the class (and the access mode when the annotation
 * asks for another); going back, the original class and modes. */
static json_t *swap_new_claim(const mig_run *r, const json_t *orig, const vs_plan_pvc *p, const char *pv_name,
			      bool forward)
{
	json_t *meta = json_pack("{s:s, s:s}", "name", p->name, "namespace", p->ns);
	json_t *spec = json_deep_copy(vs_json_path(orig, "spec"));
	json_t *labels = vs_json_path(orig, "metadata.labels"),
	       *ann = json_deep_copy(vs_json_path(orig, "metadata.annotations"));
	json_t *refs = json_array(), *ref;
	size_t k;

	if (labels)
		json_object_set(meta, "labels", labels);
	for (k = 0; ann && k < sizeof(swap_binding_annotations) / sizeof(swap_binding_annotations[0]); k++)
		json_object_del(ann, swap_binding_annotations[k]);
	if (ann)
		json_object_set_new(meta, "annotations", ann);
	/* a StatefulSet's reference would name the object volshift recreates; its controller adds the new one */
	json_array_foreach (vs_json_path(orig, "metadata.ownerReferences"), k, ref)
		if (strcmp(vs_json_str_or(ref, "kind", ""), "StatefulSet") != 0)
			json_array_append(refs, ref);
	if (json_array_size(refs))
		json_object_set(meta, "ownerReferences", refs);
	json_decref(refs);
	if (!spec)
		spec = json_object();
	json_object_set_new(spec, "volumeName", json_string(pv_name));
	json_object_del(spec, "dataSource");
	json_object_del(spec, "dataSourceRef");
	json_object_del(spec, "selector");
	if (forward) {
		json_object_set_new(spec, "storageClassName", json_string(r->opts->plan.dest_sc));
		json_object_set_new(spec, "accessModes", vs_plan_dest_modes(p));
	}
	return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind", "PersistentVolumeClaim", "metadata", meta,
			 "spec", spec);
}

/* Create the claim name of plan pvc i on volume pv_name (forward: as the destination claim; else as
 * the original was) and bind it there at once (mig_bind_claim), from the volume as this run saw it
 * (pv_seen, borrowed; NULL: read it), which may still name the deleted claim prev_name. */
static int swap_create_claim(mig_run *r, size_t i, const char *pv_name, const json_t *pv_seen, const char *prev_name,
			     bool forward, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	json_t *claim = swap_new_claim(r, r->originals[i], p, pv_name, forward);
	int rc = mig_bind_claim(r, claim, pv_seen, prev_name, err);

	json_decref(claim);
	return rc;
}

void mig_wait_reclaimed(mig_run *r, const char *pv)
{
	vs_error err;

	vs_error_clear(&err);
	if (mig_wait_gone(r, &VS_KUBE_PVS, NULL, pv, r->opts->delete_pv_timeout_ms, &err) < 0)
		mig_say(r, "warning", "volume %s was not removed by its provisioner within %llds: %s", pv,
			(long long)(r->opts->delete_pv_timeout_ms / 1000), err.message);
}

/* Give a volume the policy it should keep and drop volshift's annotations. */
static int swap_set_policy(mig_run *r, const char *pv_name, const char *policy, vs_error *err)
{
	json_t *patch =
		json_pack("{s:{s:{s:n, s:n}}, s:{s:s}}", "metadata", "annotations", VS_MIGRATE_RECLAIM_ANNOTATION,
			  VS_MIGRATE_OWN_RECLAIM_ANNOTATION, "spec", "persistentVolumeReclaimPolicy", policy);
	int rc = vs_kube_patch(r->c, &VS_KUBE_PVS, NULL, pv_name, VS_KUBE_PATCH_MERGE, patch, NULL, err);

	json_decref(patch);
	return rc;
}

/*
 * The volume the name left (drop_pv), once the caller observed the name Bound to the other: a
 * volume whose policy was Delete gets it back, so its provisioner removes it and its data as it
 * would have; any other is deleted as an object, its data left in the storage system as its policy
 * says. seen (borrowed; NULL: read it) is drop_pv as this run's swap_retain left it.
 */
static int swap_release(mig_run *r, const vs_plan_pvc *p, const char *drop_pv, bool wait, const json_t *seen,
			vs_error *err)
{
	json_t *pv = json_incref((json_t *)seen);
	int rc = pv ? 0 : mig_get_opt(r, &VS_KUBE_PVS, NULL, drop_pv, &pv, err);

	if (rc < 0 || !pv)
		goto done;
	char *policy = vs_xstrdup(vs_json_annotation(pv, VS_MIGRATE_OWN_RECLAIM_ANNOTATION)
					  ? vs_json_annotation(pv, VS_MIGRATE_OWN_RECLAIM_ANNOTATION)
					  : vs_json_str_or(pv, "spec.persistentVolumeReclaimPolicy", "Delete"));
	/* a volume pre-bound to the name (no uid) that went elsewhere stays Available, never reclaimed:
	 * name the deleted original claim's uid, so the PV controller sees it Released. A claimRef with a
	 * uid is left alone: that claim is gone, or (before the swap) it is the original, still bound. */
	if (vs_json_path(pv, "spec.claimRef") && !vs_json_str(pv, "spec.claimRef.uid") &&
	    strcmp(vs_json_str_or(pv, "status.phase", ""), "Released") != 0) {
		json_t *patch = json_pack("{s:{s:{s:s, s:s, s:s}}}", "spec", "claimRef", "namespace", p->ns, "name",
					  p->name, "uid", p->uid);
		rc = vs_kube_patch(r->c, &VS_KUBE_PVS, NULL, drop_pv, VS_KUBE_PATCH_MERGE, patch, NULL, err);
		json_decref(patch);
	}
	if (rc == 0 && strcmp(policy, "Delete") == 0) {
		rc = swap_set_policy(r, drop_pv, "Delete", err);
		if (rc == 0 && wait)
			mig_wait_reclaimed(r, drop_pv);
	} else if (rc == 0) {
		rc = mig_delete(r, &VS_KUBE_PVS, NULL, drop_pv, NULL, NULL, err);
	}
	if (rc == 0)
		mig_emit(r, "pv-deleted", json_pack("{s:s, s:s}", "pv", drop_pv, "reclaim", policy));
	free(policy);
done:
	json_decref(pv);
	return rc;
}

/* The new volume: the temporary claim's, or (after it was deleted) the one whose claimRef names
 * the temporary claim or (pinned) the name.
 * *temp (temp may be NULL) gets the temporary claim, or NULL when it is gone (caller frees). */
static int swap_find_new_pv(mig_run *r, const vs_plan_pvc *p, char **out, json_t **temp, vs_error *err)
{
	json_t *obj = NULL;
	int rc = mig_get_opt(r, &VS_KUBE_PVCS, p->ns, p->temp_name, &obj, err);

	*out = NULL;
	if (rc == 0 && obj && vs_json_str(obj, "spec.volumeName"))
		*out = vs_xstrdup(vs_json_str(obj, "spec.volumeName"));
	if (temp) {
		*temp = obj;
		obj = NULL;
	}
	json_decref(obj);
	if (rc == 0 && !*out) {
		json_t *list = NULL, *pv;
		size_t k;
		rc = vs_kube_list(r->c, &VS_KUBE_PVS, NULL, NULL, &list, err);
		json_array_foreach (json_object_get(list, "items"), k, pv) {
			const char *cname = vs_json_str_or(pv, "spec.claimRef.name", "");
			if (!*out &&
			    strcmp(vs_json_str_or(pv, "spec.storageClassName", ""), r->opts->plan.dest_sc) == 0 &&
			    strcmp(vs_json_str_or(pv, "spec.claimRef.namespace", ""), p->ns) == 0 &&
			    (strcmp(cname, p->temp_name) == 0 || strcmp(cname, p->name) == 0))
				*out = vs_xstrdup(vs_kube_obj_name(pv));
		}
		json_decref(list);
	}
	if (rc == 0 && !*out)
		rc = vs_error_set(err, VS_EIO, "no destination volume found for %s/%s (claim %s has no volume)", p->ns,
				  p->name, p->temp_name);
	return rc;
}

/* The reclaim policy the new volume must end with: the old volume's, recorded on the new one. seen
 * (borrowed; NULL: read it) is the new volume as this run's swap_retain left it. */
static int swap_restore_new_policy(mig_run *r, const char *new_pv, const json_t *seen, vs_error *err)
{
	json_t *pv = json_incref((json_t *)seen);
	int rc = pv ? 0 : vs_kube_get(r->c, &VS_KUBE_PVS, NULL, new_pv, &pv, err);
	const char *want = rc == 0 ? vs_json_annotation(pv, VS_MIGRATE_RECLAIM_ANNOTATION) : NULL;

	if (want)
		rc = swap_set_policy(r, new_pv, want, err);
	json_decref(pv);
	return rc;
}

/* What this run of a swap observed: the objects as read, or as the server answered a write. */
struct swap_seen {
	json_t *claim;	/* the original name's claim (NULL: none) */
	json_t *temp;	/* the temporary claim (NULL: none) */
	json_t *old_pv; /* the source volume, Retain (NULL: not set by this run) */
	json_t *new_pv; /* the copy's volume, Retain (likewise) */
};

static void swap_seen_clear(struct swap_seen *seen)
{
	json_decref(seen->claim);
	json_decref(seen->temp);
	json_decref(seen->old_pv);
	json_decref(seen->new_pv);
	memset(seen, 0, sizeof(*seen));
}

/* Move the claim name: every step before the claim is Bound to the copy. */
static int swap_claim(mig_run *r, size_t i, const char *new_pv, struct swap_seen *seen, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	bool orig_issued = false, temp_issued = false;
	int64_t deleted_at = 0;
	int rc = swap_retain(r, p->pv, NULL, NULL, &seen->old_pv, err);

	if (rc == 0)
		rc = swap_retain(r, new_pv, VS_MIGRATE_RECLAIM_ANNOTATION,
				 vs_json_annotation(seen->old_pv, VS_MIGRATE_OWN_RECLAIM_ANNOTATION), &seen->new_pv,
				 err);
	if (rc == 0)
		rc = vs_failpoint("swap:retained", err);
	/* both deleted at once, each on a volume observed Retain: the downtime waits for one round */
	if (rc == 0) {
		deleted_at = vs_time_mono_ms();
		rc = swap_delete_claim(r, seen->claim, seen->old_pv, &orig_issued, err);
	}
	if (rc == 0)
		rc = swap_delete_claim(r, seen->temp, seen->new_pv, &temp_issued, err);
	if (rc == 0)
		rc = swap_claim_gone(r, seen->claim, orig_issued, deleted_at, err);
	if (rc == 0)
		rc = vs_failpoint("swap:original-deleted", err);
	if (rc == 0)
		rc = swap_claim_gone(r, seen->temp, temp_issued, deleted_at, err);
	if (rc == 0)
		rc = vs_failpoint("swap:temporary-deleted", err);
	if (rc == 0)
		rc = swap_create_claim(r, i, new_pv, seen->new_pv, p->temp_name, true, err);
	return rc;
}

int mig_swap(mig_run *r, size_t i, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	struct swap_seen seen = { 0 };
	char *new_pv = NULL;
	int rc = swap_find_new_pv(r, p, &new_pv, &seen.temp, err);

	if (rc == 0)
		rc = mig_get_opt(r, &VS_KUBE_PVCS, p->ns, p->name, &seen.claim, err);
	/* an interrupted swap may already have moved the name; then only the volumes' policies remain */
	if (rc == 0 && !mig_claim_bound_to(seen.claim, new_pv))
		rc = swap_claim(r, i, new_pv, &seen, err);
	if (rc == 0)
		rc = vs_failpoint("swap:claim-bound", err);
	if (rc == 0)
		rc = swap_restore_new_policy(r, new_pv, seen.new_pv, err);
	if (rc == 0)
		mig_emit(r, "swapped",
			 json_pack("{s:s, s:s, s:s, s:s}", "namespace", p->ns, "pvc", p->name, "oldPv", p->pv, "newPv",
				   new_pv));
	if (rc == 0)
		rc = vs_failpoint("swap:policy-restored", err);
	if (rc < 0)
		vs_error_wrap(err, "swap %s/%s", p->ns, p->name);
	swap_seen_clear(&seen);
	free(new_pv);
	return rc;
}

int mig_release(mig_run *r, size_t i, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	json_t *claim = NULL;
	int rc = mig_get_opt(r, &VS_KUBE_PVCS, p->ns, p->name, &claim, err);
	const char *on = vs_json_str_or(claim, "spec.volumeName", "");

	/* the old volume keeps the only copy of the data until the name is Bound elsewhere */
	if (rc == 0 && (!claim || strcmp(vs_json_str_or(claim, "status.phase", ""), "Bound") != 0 || !*on ||
			strcmp(on, p->pv) == 0))
		rc = vs_error_set(err, VS_EIO,
				  "refusing to give volume %s back to its reclaim policy: claim %s/%s is %s", p->pv,
				  p->ns, p->name,
				  !claim		   ? "missing"
				  : strcmp(on, p->pv) == 0 ? "still on it"
							   : "not Bound to its copy");
	if (rc == 0)
		rc = swap_release(r, p, p->pv, false, NULL, err); /* waited for afterwards */
	json_decref(claim);
	return rc < 0 ? vs_error_wrap(err, "release the original volume of %s/%s", p->ns, p->name) : 0;
}

/*
 * The swap undone, for a rollback before the group's workloads started on the copy: the name goes
 * back to the original volume, which kept every byte (Retain) since the original claim was
 * deleted, and the copy is released. The same order and the same invariant as the swap, with
 * the volumes' roles exchanged: the copy is released only once the name is observed Bound to the
 * original volume.
 */
int mig_unswap(mig_run *r, size_t i, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	char *new_pv = NULL;
	json_t *old = NULL, *claim = NULL;
	int rc = mig_get_opt(r, &VS_KUBE_PVS, NULL, p->pv, &old, err);

	if (rc == 0 && !old)
		rc = vs_error_set(err, VS_EINVAL,
				  "the original volume %s is gone: claim %s/%s stays on the destination", p->pv, p->ns,
				  p->name);
	if (rc == 0 && (rc = swap_find_new_pv(r, p, &new_pv, NULL, err)) == VS_EIO) {
		vs_error_clear(err); /* no copy was ever bound: only the original volume's policy to restore */
		rc = 0;
	}
	/* the temporary claim holds only the copy: the original is on the old volume, bound or Retain */
	if (rc == 0)
		rc = mig_delete(r, &VS_KUBE_PVCS, p->ns, p->temp_name, NULL, NULL, err);
	if (rc == 0)
		rc = mig_wait_gone(r, &VS_KUBE_PVCS, p->ns, p->temp_name, r->opts->delete_pv_timeout_ms, err);
	if (rc == 0)
		rc = mig_get_opt(r, &VS_KUBE_PVCS, p->ns, p->name, &claim, err);
	if (rc == 0 && !mig_claim_bound_to(claim, p->pv) && !r->originals[i])
		rc = vs_error_set(err, VS_EIO, "the journal has no copy of claim %s/%s to recreate it from", p->ns,
				  p->name);
	if (rc == 0 && !mig_claim_bound_to(claim, p->pv)) {
		json_t *copy = NULL;
		bool issued = false;
		int64_t deleted_at = 0;
		rc = swap_retain(r, p->pv, NULL, NULL, NULL, err);
		if (rc == 0 && new_pv)
			rc = swap_retain(r, new_pv, NULL, NULL, &copy, err);
		if (rc == 0 && new_pv) {
			deleted_at = vs_time_mono_ms();
			rc = swap_delete_claim(r, claim, copy, &issued, err);
		}
		if (rc == 0)
			rc = swap_claim_gone(r, claim, issued, deleted_at, err);
		json_decref(copy);
		if (rc == 0)
			rc = vs_failpoint("unswap:claims-deleted", err);
		if (rc == 0)
			rc = swap_create_claim(r, i, p->pv, NULL, p->temp_name, false, err);
	}
	if (rc == 0)
		rc = vs_failpoint("unswap:claim-bound", err);
	if (rc == 0 && vs_json_annotation(old, VS_MIGRATE_OWN_RECLAIM_ANNOTATION))
		rc = swap_set_policy(r, p->pv, vs_json_annotation(old, VS_MIGRATE_OWN_RECLAIM_ANNOTATION), err);
	if (rc == 0 && new_pv) /* the name was observed Bound to the original: read above, or recreated */
		rc = swap_release(r, p, new_pv, true, NULL, err);
	if (rc == 0)
		mig_emit(r, "unswapped",
			 json_pack("{s:s, s:s, s:s, s:s?}", "namespace", p->ns, "pvc", p->name, "pv", p->pv,
				   "releasedPv", new_pv));
	if (rc < 0)
		vs_error_wrap(err, "undo the swap of %s/%s", p->ns, p->name);
	json_decref(old);
	json_decref(claim);
	free(new_pv);
	return rc;
}
