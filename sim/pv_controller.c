/*
 * pv_controller: what the PV controller decides for one claim or one volume, and the writes that
 * carry it out, branch by branch as pv_controller.go (Kubernetes 1.26) has them: syncClaim,
 * syncUnboundClaim, syncBoundClaim, syncVolume, bind with its four writes, unbindVolume,
 * reclaimVolume and provisionClaim. Each function names the one it stands for. Every write is a
 * PUT with the resourceVersion of the object in hand; the first error ends the sync.
 */
#include "pv_controller.h"

#include <stdlib.h>
#include <string.h>

/* The event of an ...WithEvent write: recorded only when the write changed the phase. */
struct pv_ev {
	const char *type, *reason, *message;
};

/* ---- accessors -------------------------------------------------------------------------------- */

static const char *phase_of(const json_t *obj) { return vs_json_str_or(obj, "status.phase", ""); }
static const char *volume_name_of(const json_t *claim) { return vs_json_str_or(claim, "spec.volumeName", ""); }
static const char *uid_of(const json_t *obj) { return vs_json_str_or(obj, "metadata.uid", ""); }
static const char *ref_uid(const json_t *volume) { return vs_json_str_or(volume, "spec.claimRef.uid", ""); }

/* GetPersistentVolumeClaimClass / GetPersistentVolumeClass: the beta annotation wins. */
const char *pv_claim_class(const json_t *claim)
{
	const char *beta = vs_json_annotation(claim, "volume.beta.kubernetes.io/storage-class");

	return beta ? beta : vs_json_str_or(claim, "spec.storageClassName", "");
}

const char *pv_volume_class(const json_t *volume)
{
	const char *beta = vs_json_annotation(volume, "volume.beta.kubernetes.io/storage-class");

	return beta ? beta : vs_json_str_or(volume, "spec.storageClassName", "");
}

bool pv_has_annotation(const json_t *obj, const char *key)
{
	return json_object_get(vs_json_path(obj, "metadata.annotations"), key) != NULL;
}

bool pv_volume_bound_to_claim(const json_t *volume, const json_t *claim)
{
	const json_t *ref = vs_json_path(volume, "spec.claimRef");
	const char *uid = vs_json_str_or(ref, "uid", "");

	if (!ref || strcmp(vs_json_str_or(ref, "name", ""), vs_json_str_or(claim, "metadata.name", "")) != 0 ||
	    strcmp(vs_json_str_or(ref, "namespace", ""), vs_json_str_or(claim, "metadata.namespace", "")) != 0)
		return false;
	return !*uid || strcmp(uid, uid_of(claim)) == 0;
}

bool pv_volume_mode_mismatch(const json_t *claim, const json_t *volume)
{
	return strcmp(vs_json_str_or(claim, "spec.volumeMode", "Filesystem"),
		      vs_json_str_or(volume, "spec.volumeMode", "Filesystem")) != 0;
}

int64_t pv_storage(const json_t *obj, const char *path)
{
	int64_t v = 0;
	const char *q = vs_json_str(obj, path);

	if (!q || vs_quantity_parse(q, &v, NULL) != 0)
		return 0;
	return v;
}

/* claimrefToClaimKey: "namespace/name" of the volume's claimRef (caller frees). */
static char *claim_ref_key(const json_t *volume)
{
	return vs_xasprintf("%s/%s", vs_json_str_or(volume, "spec.claimRef.namespace", ""),
			    vs_json_str_or(volume, "spec.claimRef.name", ""));
}

/* obj's status, made an object if it is not one (borrowed). */
static json_t *status_of(json_t *obj)
{
	if (!json_is_object(json_object_get(obj, "status")))
		vs_json_set_path(obj, "status", json_object());
	return json_object_get(obj, "status");
}

/* ---- the status writes -------------------------------------------------------------------------- */

/* Status.Capacity of a claim becoming this phase: the volume's, unless it already says the same. */
static int set_claim_capacity(json_t *status, const json_t *claim, const json_t *volume, bool *dirty, vs_error *err)
{
	const json_t *cap = vs_json_path(volume, "spec.capacity");

	if (!vs_json_str(volume, "spec.capacity.storage"))
		return vs_error_set(err, VS_EINVAL, "PersistentVolume \"%s\" is without a storage capacity",
				    cl_name(volume));
	if (!vs_json_str(claim, "status.capacity.storage") ||
	    pv_storage(claim, "status.capacity.storage") != pv_storage(volume, "spec.capacity.storage")) {
		json_object_set_new(status, "capacity", json_deep_copy(cap));
		*dirty = true;
	}
	return 0;
}

/* The status fields updateClaimStatus sets on clone; true when anything changed. */
static int claim_status_diff(json_t *clone, const json_t *claim, const char *phase, const json_t *volume,
			     bool *dirty, vs_error *err)
{
	json_t *status = status_of(clone);
	const json_t *modes = vs_json_path(volume, "spec.accessModes");
	bool new_phase = strcmp(phase_of(claim), phase) != 0;

	if (new_phase) {
		json_object_set_new(status, "phase", json_string(phase));
		*dirty = true;
	}
	if (!volume) { /* reset AccessModes and Capacity */
		*dirty |= json_object_del(status, "accessModes") == 0;
		*dirty |= json_object_del(status, "capacity") == 0;
		return 0;
	}
	if (!modes) {
		*dirty |= json_object_del(status, "accessModes") == 0;
	} else if (!json_equal((json_t *)modes, json_object_get(status, "accessModes"))) {
		json_object_set_new(status, "accessModes", json_deep_copy(modes));
		*dirty = true;
	}
	/* Capacity only when the claim is becoming this phase, so an intended difference stays */
	return new_phase ? set_claim_capacity(status, claim, volume, dirty, err) : 0;
}

/*
 * updateClaimStatus, or with ev updateClaimStatusWithEvent (nothing at all when the phase is
 * already set; the event only after a write). *out: the claim as it is now (new reference).
 */
static int update_claim_status(struct pv_ctrl *pv, const json_t *claim, const char *phase, const json_t *volume,
			       const struct pv_ev *ev, json_t **out, vs_error *err)
{
	json_t *clone;
	bool dirty = false;
	int rc;

	*out = NULL;
	if (ev && strcmp(phase_of(claim), phase) == 0) {
		*out = json_incref((json_t *)claim);
		return 0;
	}
	clone = json_deep_copy(claim);
	rc = claim_status_diff(clone, claim, phase, volume, &dirty, err);
	if (rc == 0 && !dirty)
		*out = json_incref((json_t *)claim);
	else if (rc == 0 && (rc = pv_write(pv, cl_res_pvc, clone, SIM_UPDATE_STATUS, out, err)) == 0)
		vs_info("pv: claim %s/%s entered phase %s", cl_ns(claim), cl_name(claim), phase);
	if (rc == 0 && dirty && ev)
		pv_event(pv, *out, ev->type, ev->reason, "%s", ev->message);
	json_decref(clone);
	return rc;
}

/* updateVolumePhase, or with ev updateVolumePhaseWithEvent. *out: the volume as it is now. */
static int update_volume_phase(struct pv_ctrl *pv, const json_t *volume, const char *phase, const char *message,
			       const struct pv_ev *ev, json_t **out, vs_error *err)
{
	json_t *clone, *status;
	int rc;

	*out = NULL;
	if (strcmp(phase_of(volume), phase) == 0) {
		*out = json_incref((json_t *)volume);
		return 0;
	}
	clone = json_deep_copy(volume);
	status = status_of(clone);
	json_object_set_new(status, "phase", json_string(phase));
	if (message && *message)
		json_object_set_new(status, "message", json_string(message));
	else
		json_object_del(status, "message");
	rc = pv_write(pv, cl_res_pv, clone, SIM_UPDATE_STATUS, out, err);
	json_decref(clone);
	if (rc != 0)
		return rc;
	vs_info("pv: volume %s entered phase %s", cl_name(volume), phase);
	if (ev)
		pv_event(pv, *out, ev->type, ev->reason, "%s", ev->message);
	return 0;
}

/* The same, when the caller needs only the error. */
static int set_volume_phase(struct pv_ctrl *pv, const json_t *volume, const char *phase, const struct pv_ev *ev,
			    vs_error *err)
{
	json_t *out = NULL;
	int rc = update_volume_phase(pv, volume, phase, "", ev, &out, err);

	json_decref(out);
	return rc;
}

static int set_claim_status(struct pv_ctrl *pv, const json_t *claim, const char *phase, const struct pv_ev *ev,
			    vs_error *err)
{
	json_t *out = NULL;
	int rc = update_claim_status(pv, claim, phase, NULL, ev, &out, err);

	json_decref(out);
	return rc;
}

/* ---- binding ------------------------------------------------------------------------------------ */

/* reference.GetReference of a claim: what a volume's claimRef holds. */
static json_t *claim_reference(const json_t *claim)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind", "PersistentVolumeClaim", "namespace",
			 vs_json_str_or(claim, "metadata.namespace", ""), "name", vs_json_str_or(claim, "metadata.name", ""),
			 "uid", uid_of(claim), "apiVersion", "v1", "resourceVersion",
			 vs_json_str_or(claim, "metadata.resourceVersion", ""));
}

/* bindVolumeToClaim (GetBindVolumeToClaim, updateBindVolumeToClaim): claimRef with the claim's
 * uid, and bound-by-controller unless the volume was pre-bound to this claim. */
static int bind_volume_to_claim(struct pv_ctrl *pv, const json_t *volume, const json_t *claim, json_t **out,
				vs_error *err)
{
	bool set_bbc = !pv_volume_bound_to_claim(volume, claim), dirty = false;
	json_t *clone = json_deep_copy(volume);
	int rc = 0;

	*out = NULL;
	if (!pv_volume_bound_to_claim(volume, claim) || strcmp(ref_uid(volume), uid_of(claim)) != 0) {
		vs_json_set_path(clone, "spec.claimRef", claim_reference(claim));
		dirty = true;
	}
	if (set_bbc && !pv_has_annotation(clone, ANN_BOUND_BY_CONTROLLER)) {
		cl_set_annotation(clone, ANN_BOUND_BY_CONTROLLER, "yes");
		dirty = true;
	}
	if (!dirty)
		*out = json_incref((json_t *)volume);
	else if ((rc = pv_write(pv, cl_res_pv, clone, SIM_UPDATE_MAIN, out, err)) == 0)
		vs_info("pv: volume %s claimed by %s/%s", cl_name(volume), cl_ns(claim), cl_name(claim));
	json_decref(clone);
	return rc;
}

/* bindClaimToVolume: volumeName (with bound-by-controller when the controller chose it) and
 * bind-completed. */
static int bind_claim_to_volume(struct pv_ctrl *pv, const json_t *claim, const json_t *volume, json_t **out,
				vs_error *err)
{
	json_t *clone = json_deep_copy(claim);
	bool dirty = false;
	int rc = 0;

	*out = NULL;
	if (strcmp(cl_name(volume), volume_name_of(claim)) != 0) {
		vs_json_set_path(clone, "spec.volumeName", json_string(cl_name(volume)));
		if (!pv_has_annotation(clone, ANN_BOUND_BY_CONTROLLER))
			cl_set_annotation(clone, ANN_BOUND_BY_CONTROLLER, "yes");
		dirty = true;
	}
	if (!pv_has_annotation(clone, ANN_BIND_COMPLETED)) {
		cl_set_annotation(clone, ANN_BIND_COMPLETED, "yes");
		dirty = true;
	}
	if (!dirty)
		*out = json_incref((json_t *)claim);
	else
		rc = pv_write(pv, cl_res_pvc, clone, SIM_UPDATE_MAIN, out, err);
	json_decref(clone);
	return rc;
}

/*
 * bind: the volume's claimRef, the volume's phase Bound, the claim's volumeName and annotations,
 * the claim's phase Bound; four writes, the first error ends it ("it's up to the caller to
 * implement some retry mechanism": there is none but the next event or the resync).
 */
static int bind(struct pv_ctrl *pv, const json_t *volume, const json_t *claim, vs_error *err)
{
	json_t *v1 = NULL, *v2 = NULL, *c1 = NULL, *c2 = NULL;
	int rc;

	if ((rc = bind_volume_to_claim(pv, volume, claim, &v1, err)) == 0 &&
	    (rc = update_volume_phase(pv, v1, "Bound", "", NULL, &v2, err)) == 0 &&
	    (rc = bind_claim_to_volume(pv, claim, v2, &c1, err)) == 0 &&
	    (rc = update_claim_status(pv, c1, "Bound", v2, NULL, &c2, err)) == 0)
		vs_debug("pv: claim %s/%s bound to %s", cl_ns(claim), cl_name(claim), cl_name(volume));
	else
		vs_debug("pv: binding %s to %s/%s stopped: %s", cl_name(volume), cl_ns(claim), cl_name(claim),
			 err->message);
	json_decref(v1);
	json_decref(v2);
	json_decref(c1);
	json_decref(c2);
	return rc;
}

/* unbindVolume: a volume the controller bound loses its claimRef, a pre-bound one only the uid;
 * then phase Available. */
static int unbind_volume(struct pv_ctrl *pv, const json_t *volume, vs_error *err)
{
	json_t *clone = json_deep_copy(volume), *out = NULL, *anns;
	int rc;

	if (pv_has_annotation(volume, ANN_BOUND_BY_CONTROLLER)) {
		json_object_del(json_object_get(clone, "spec"), "claimRef");
		anns = vs_json_path(clone, "metadata.annotations");
		json_object_del(anns, ANN_BOUND_BY_CONTROLLER);
		if (json_object_size(anns) == 0)
			json_object_del(json_object_get(clone, "metadata"), "annotations");
	} else {
		json_object_del(vs_json_path(clone, "spec.claimRef"), "uid");
	}
	rc = pv_write(pv, cl_res_pv, clone, SIM_UPDATE_MAIN, &out, err);
	json_decref(clone);
	if (rc == 0) {
		vs_info("pv: volume %s rolled back from its claim", cl_name(volume));
		rc = set_volume_phase(pv, out, "Available", NULL, err);
	}
	json_decref(out);
	return rc;
}

/* ---- reclaiming --------------------------------------------------------------------------------- */

/* isVolumeReleased: its claim is gone, or is another object, or is bound to another volume. */
static bool volume_released(struct pv_ctrl *pv, const json_t *volume)
{
	char *key;
	json_t *claim;
	bool released;

	if (!vs_json_path(volume, "spec.claimRef") || !*ref_uid(volume))
		return false;
	key = claim_ref_key(volume);
	claim = cl_cache_get(&pv->claims, key);
	released = !claim || strcmp(uid_of(claim), ref_uid(volume)) != 0 ||
		   (*volume_name_of(claim) && strcmp(volume_name_of(claim), cl_name(volume)) != 0);
	json_decref(claim);
	free(key);
	return released;
}

/*
 * deleteVolumeOperation: with the volume read afresh, a volume an external provisioner made is
 * left to it; any other has no deleter plugin in volshift-sim and goes Failed.
 */
static int delete_volume_operation(struct pv_ctrl *pv, const json_t *volume, vs_error *err)
{
	json_t *fresh = NULL;
	const char *by;
	char msg[512];
	vs_error gerr;
	int rc = 0;

	if (sim_api_get(pv->c->st, cl_res_pv, NULL, cl_name(volume), &fresh, &gerr) != 0)
		return 0; /* "Error reading persistent volume": nothing to do */
	by = vs_json_annotation(fresh, ANN_DYNAMICALLY_PROVISIONED);
	if (cl_deleting(fresh) || !volume_released(pv, fresh)) {
		vs_debug("pv: volume %s no longer needs deletion", cl_name(volume));
	} else if (by && !vs_str_has_prefix(by, "kubernetes.io/")) {
		vs_debug("pv: external deleter %s for volume %s requested, ignoring", by, cl_name(volume));
	} else {
		snprintf(msg, sizeof msg, "error getting deleter volume plugin for volume \"%s\": no deletable volume "
			 "plugin matched", cl_name(volume));
		rc = set_volume_phase(pv, volume, "Failed",
				      &(struct pv_ev){"Warning", "VolumeFailedDelete", msg}, err);
	}
	json_decref(fresh);
	return rc;
}

/* reclaimVolume: what the volume's reclaim policy asks once its claim is gone. */
static int reclaim_volume(struct pv_ctrl *pv, const json_t *volume, vs_error *err)
{
	const char *policy = vs_json_str_or(volume, "spec.persistentVolumeReclaimPolicy", "");

	if (strcmp(policy, "Retain") == 0) {
		vs_debug("pv: volume %s: policy is Retain, nothing to do", cl_name(volume));
		return 0;
	}
	if (strcmp(policy, "Delete") == 0)
		return delete_volume_operation(pv, volume, err);
	if (strcmp(policy, "Recycle") == 0) /* recycleVolumeOperation finds no recycler plugin here */
		return set_volume_phase(pv, volume, "Failed",
					&(struct pv_ev){"Warning", "VolumeFailedRecycle", "No recycler plugin found for the volume!"},
					err);
	return set_volume_phase(pv, volume, "Failed",
				&(struct pv_ev){"Warning", "VolumeUnknownReclaimPolicy",
						"Volume has unrecognized PersistentVolumeReclaimPolicy"},
				err);
}

/* Phase Released (unless Released or Failed already), then the reclaim policy. */
static int release_and_reclaim(struct pv_ctrl *pv, const json_t *volume, vs_error *err)
{
	json_t *v = NULL;
	int rc;

	if (strcmp(phase_of(volume), "Released") != 0 && strcmp(phase_of(volume), "Failed") != 0) {
		vs_info("pv: volume %s is released and reclaim policy %s will be executed", cl_name(volume),
			vs_json_str_or(volume, "spec.persistentVolumeReclaimPolicy", ""));
		if ((rc = update_volume_phase(pv, volume, "Released", "", NULL, &v, err)) != 0)
			return rc;
	} else {
		v = json_incref((json_t *)volume);
	}
	rc = reclaim_volume(pv, v, err);
	json_decref(v);
	return rc;
}

/* ---- provisioning ------------------------------------------------------------------------------- */

/* classLister.Get; NULL when missing (new reference). volshift-sim reads the store itself. */
static json_t *get_class(struct pv_ctrl *pv, const char *name)
{
	return *name ? cl_get(pv->c, cl_res_sc, NULL, name) : NULL;
}

/* IsDelayBindingMode: the claim's class binds WaitForFirstConsumer. */
static bool delay_binding_mode(struct pv_ctrl *pv, const json_t *claim)
{
	json_t *class = get_class(pv, pv_claim_class(claim));
	bool wffc = strcmp(vs_json_str_or(class, "volumeBindingMode", ""), "WaitForFirstConsumer") == 0;

	json_decref(class);
	return wffc;
}

/* setClaimProvisioner: both storage-provisioner annotations, unless the GA one says it already. */
static int set_claim_provisioner(struct pv_ctrl *pv, const json_t *claim, const char *provisioner, json_t **out,
				 vs_error *err)
{
	const char *now = vs_json_annotation(claim, ANN_STORAGE_PROVISIONER);
	json_t *clone;
	int rc;

	if (now && strcmp(now, provisioner) == 0) {
		*out = json_incref((json_t *)claim);
		return 0;
	}
	clone = json_deep_copy(claim);
	cl_set_annotation(clone, ANN_BETA_STORAGE_PROVISIONER, provisioner);
	cl_set_annotation(clone, ANN_STORAGE_PROVISIONER, provisioner);
	rc = pv_write(pv, cl_res_pvc, clone, SIM_UPDATE_MAIN, out, err);
	json_decref(clone);
	return rc;
}

/* provisionClaimOperationExternal: annotate the claim for the external provisioner. A failure is
 * only an event: the operation runs apart from the sync, which goes on. */
static void provision_claim_external(struct pv_ctrl *pv, const json_t *claim, const char *provisioner)
{
	json_t *annotated = NULL;
	vs_error err;

	vs_error_clear(&err);
	if (set_claim_provisioner(pv, claim, provisioner, &annotated, &err) != 0) {
		pv_event(pv, claim, "Warning", "ProvisioningFailed", "Error saving claim: %s", err.message);
		return;
	}
	pv_event(pv, annotated, "Normal", "ExternalProvisioning",
		 "waiting for a volume to be created, either by external provisioner \"%s\" or manually created by "
		 "system administrator",
		 provisioner);
	json_decref(annotated);
}

/* provisionClaim (findProvisionablePlugin): only external provisioners exist in volshift-sim. */
static void provision_claim(struct pv_ctrl *pv, const json_t *claim)
{
	json_t *class = get_class(pv, pv_claim_class(claim));
	const char *provisioner = vs_json_str_or(class, "provisioner", "");

	if (!class)
		pv_event(pv, claim, "Warning", "ProvisioningFailed", "storageclass.storage.k8s.io \"%s\" not found",
			 pv_claim_class(claim));
	else if (vs_str_has_prefix(provisioner, "kubernetes.io/"))
		pv_event(pv, claim, "Warning", "ProvisioningFailed", "no volume plugin matched name: %s", provisioner);
	else
		provision_claim_external(pv, claim, provisioner);
	json_decref(class);
}

/* The newest class marked default (util.GetDefaultClass), or NULL (new reference). */
static json_t *default_class(struct pv_ctrl *pv)
{
	json_t *classes = cl_list(pv->c, cl_res_sc, NULL, NULL), *c, *best = NULL;
	size_t i;

	json_array_foreach(classes, i, c) {
		const char *d = vs_json_annotation(c, "storageclass.kubernetes.io/is-default-class");
		const char *b = vs_json_annotation(c, "storageclass.beta.kubernetes.io/is-default-class");
		if (!((d && strcmp(d, "true") == 0) || (b && strcmp(b, "true") == 0)))
			continue;
		if (!best || strcmp(vs_json_str_or(c, "metadata.creationTimestamp", ""),
				    vs_json_str_or(best, "metadata.creationTimestamp", "")) > 0)
			best = c;
	}
	json_incref(best);
	json_decref(classes);
	return best;
}

/* assignDefaultStorageClass (retroactive default class, on by default in 1.26): a claim with no
 * class at all gets the default one; *updated then, and the sync restarts with its event. */
static int assign_default_class(struct pv_ctrl *pv, const json_t *claim, bool *updated, vs_error *err)
{
	json_t *class, *clone;
	int rc;

	*updated = false;
	if (vs_json_path(claim, "spec.storageClassName") ||
	    vs_json_annotation(claim, "volume.beta.kubernetes.io/storage-class"))
		return 0; /* the user asked for a class */
	if (!(class = default_class(pv)))
		return 0;
	clone = json_deep_copy(claim);
	vs_json_set_path(clone, "spec.storageClassName", json_string(cl_name(class)));
	rc = sim_api_update(pv->c->st, cl_res_pvc, cl_ns(claim), clone, SIM_UPDATE_MAIN, NULL, err);
	*updated = rc == 0;
	json_decref(clone);
	json_decref(class);
	return rc;
}

/* emitEventForUnboundDelayBindingClaim: which pods, not yet scheduled, wait for this claim. */
static void emit_wait_for_first_consumer(struct pv_ctrl *pv, const json_t *claim)
{
	json_t *pods = cl_list(pv->c, cl_res_pod, cl_ns(claim), NULL), *p, *v;
	vs_buf names;
	size_t i, j, n = 0;

	vs_buf_init(&names, 0);
	json_array_foreach(pods, i, p) {
		const char *ph = phase_of(p);
		if (strcmp(ph, "Succeeded") == 0 || strcmp(ph, "Failed") == 0 || *vs_json_str_or(p, "spec.nodeName", ""))
			continue;
		json_array_foreach(vs_json_path(p, "spec.volumes"), j, v) {
			if (strcmp(vs_json_str_or(v, "persistentVolumeClaim.claimName", ""), cl_name(claim)) == 0) {
				vs_buf_printf(&names, "%s%s", n++ ? "," : "", cl_name(p));
				break;
			}
		}
	}
	if (n == 0)
		pv_event(pv, claim, "Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding");
	else
		pv_event(pv, claim, "Normal", "WaitForPodScheduled", "waiting for %s %s to be scheduled",
			 n > 1 ? "pods" : "pod", names.data);
	vs_buf_free(&names);
	json_decref(pods);
}

/* ---- syncClaim ---------------------------------------------------------------------------------- */

/* syncUnboundClaim, "User did not care which PV they get": a matching volume, else provisioning. */
static int sync_claim_without_volume(struct pv_ctrl *pv, const json_t *claim, vs_error *err)
{
	bool delay = delay_binding_mode(pv, claim), updated;
	json_t *volume = pv_find_best_match(pv, claim, delay);
	int rc;

	if (volume) {
		rc = bind(pv, volume, claim, err);
		json_decref(volume);
		return rc;
	}
	if ((rc = assign_default_class(pv, claim, &updated, err)) != 0 || updated)
		return rc;
	if (delay && !pv_has_annotation(claim, ANN_SELECTED_NODE)) {
		emit_wait_for_first_consumer(pv, claim); /* the scheduler has seen no pod using it */
	} else if (*pv_claim_class(claim)) {
		provision_claim(pv, claim);
		return 0; /* the bind follows in a later sync, once a volume exists */
	} else {
		pv_event(pv, claim, "Normal", "FailedBinding",
			 "no persistent volumes available for this claim and no storage class is set");
	}
	return set_claim_status(pv, claim, "Pending", NULL, err); /* the next periodic sync tries again */
}

/* syncUnboundClaim, "User asked for a specific PV", read from the controller's own cache. */
static int sync_claim_naming_volume(struct pv_ctrl *pv, const json_t *claim, vs_error *err)
{
	json_t *volume = cl_cache_get(&pv->volumes, volume_name_of(claim));
	char buf[512];
	const char *why;
	int rc;

	if (!volume) { /* does not exist (yet): retry later */
		rc = set_claim_status(pv, claim, "Pending", NULL, err);
	} else if (!vs_json_path(volume, "spec.claimRef")) {
		if ((why = pv_check_volume_satisfies(volume, claim, buf, sizeof buf)) != NULL) {
			pv_event(pv, claim, "Warning", "VolumeMismatch", "Cannot bind to requested volume \"%s\": %s",
				 cl_name(volume), why);
			rc = set_claim_status(pv, claim, "Pending", NULL, err);
		} else {
			rc = bind(pv, volume, claim, err);
		}
	} else if (pv_volume_bound_to_claim(volume, claim)) { /* finish the binding: add the claim's uid */
		rc = bind(pv, volume, claim, err);
	} else { /* claimed by someone else */
		pv_event(pv, claim, "Warning", "FailedBinding", "volume \"%s\" already bound to a different claim.",
			 cl_name(volume));
		if (!pv_has_annotation(claim, ANN_BOUND_BY_CONTROLLER))
			rc = set_claim_status(pv, claim, "Pending", NULL, err); /* the user's choice: retry later */
		else
			rc = vs_error_set(err, VS_EINVAL,
					  "invalid binding of claim \"%s/%s\" to volume \"%s\": volume already claimed by "
					  "\"%s/%s\"",
					  cl_ns(claim), cl_name(claim), cl_name(volume),
					  vs_json_str_or(volume, "spec.claimRef.namespace", ""),
					  vs_json_str_or(volume, "spec.claimRef.name", ""));
	}
	json_decref(volume);
	return rc;
}

/* syncBoundClaim: a claim that was bound once (bind-completed) and what became of its volume. */
static int sync_bound_claim(struct pv_ctrl *pv, const json_t *claim, vs_error *err)
{
	json_t *volume;
	int rc;

	if (!*volume_name_of(claim))
		return set_claim_status(pv, claim, "Lost",
					&(struct pv_ev){"Warning", "ClaimLost",
							"Bound claim has lost reference to PersistentVolume. Data on the "
							"volume is lost!"},
					err);
	volume = cl_cache_get(&pv->volumes, volume_name_of(claim));
	if (!volume)
		rc = set_claim_status(pv, claim, "Lost",
				      &(struct pv_ev){"Warning", "ClaimLost",
						      "Bound claim has lost its PersistentVolume. Data on the volume is lost!"},
				      err);
	else if (!vs_json_path(volume, "spec.claimRef") || strcmp(ref_uid(volume), uid_of(claim)) == 0)
		rc = bind(pv, volume, claim, err); /* unbound again, or all is well: bind sets what is missing */
	else
		rc = set_claim_status(pv, claim, "Lost",
				      &(struct pv_ev){"Warning", "ClaimMisbound",
						      "Two claims are bound to the same volume, this one is bound incorrectly"},
				      err);
	json_decref(volume);
	return rc;
}

int pv_sync_claim(struct pv_ctrl *pv, const json_t *claim, vs_error *err)
{
	vs_debug("pv: synchronizing claim %s/%s: phase %s, bound to \"%s\"", cl_ns(claim), cl_name(claim),
		 phase_of(claim), volume_name_of(claim));
	if (pv_has_annotation(claim, ANN_BIND_COMPLETED))
		return sync_bound_claim(pv, claim, err);
	if (*volume_name_of(claim))
		return sync_claim_naming_volume(pv, claim, err);
	return sync_claim_without_volume(pv, claim, err);
}

/* ---- syncVolume --------------------------------------------------------------------------------- */

/*
 * The claim a bound volume names, by name: from the controller's cache; when missing there (and the
 * volume is not Released or Failed yet) from the informer, then from the API server; and when the
 * cached one is another object of that name, from the API server, which may know the newer one.
 * *out is NULL when the claim is gone or is not the one the volume names.
 */
static int claim_of_volume(struct pv_ctrl *pv, const json_t *volume, json_t **out, vs_error *err)
{
	char *key = claim_ref_key(volume);
	const char *ns = vs_json_str_or(volume, "spec.claimRef.namespace", "");
	const char *name = vs_json_str_or(volume, "spec.claimRef.name", "");
	json_t *claim = cl_cache_get(&pv->claims, key);
	int rc = 0;

	if (!claim && strcmp(phase_of(volume), "Released") != 0 && strcmp(phase_of(volume), "Failed") != 0) {
		claim = cl_informer_get(pv->src[PV_CLAIMS].inf, key);
		if (!claim && (rc = sim_api_get(pv->c->st, cl_res_pvc, ns, name, &claim, err)) != 0 &&
		    vs_error_is(err, "NotFound")) {
			vs_error_clear(err);
			rc = 0;
		}
	}
	if (rc == 0 && claim && strcmp(uid_of(claim), ref_uid(volume)) != 0) {
		json_decref(claim);
		claim = NULL;
		if ((rc = sim_api_get(pv->c->st, cl_res_pvc, ns, name, &claim, err)) != 0 && vs_error_is(err, "NotFound")) {
			vs_error_clear(err);
			rc = 0;
		}
		if (claim && strcmp(uid_of(claim), ref_uid(volume)) != 0) {
			json_decref(claim); /* a newer claim: the one the volume names was deleted */
			claim = NULL;
		}
	}
	free(key);
	*out = rc == 0 ? claim : NULL;
	if (rc != 0)
		json_decref(claim);
	return rc;
}

/* syncVolume, the volume bound to a claim that exists but is not bound to it (yet). */
static int volume_of_unbound_claim(struct pv_ctrl *pv, const json_t *volume, const json_t *claim)
{
	char *key;

	if (pv_volume_mode_mismatch(claim, volume)) {
		pv_event(pv, volume, "Warning", "VolumeMismatch",
			 "Cannot bind PersistentVolume to requested PersistentVolumeClaim \"%s\" due to incompatible "
			 "volumeMode.",
			 cl_name(claim));
		pv_event(pv, claim, "Warning", "VolumeMismatch",
			 "Cannot bind PersistentVolume \"%s\" to requested PersistentVolumeClaim due to incompatible "
			 "volumeMode.",
			 cl_name(volume));
		return 0;
	}
	/* the volume is Bound and the claim Pending: the claim's sync fixes it, queued to come soon */
	vs_debug("pv: volume %s %s, waiting for syncClaim to fix it", cl_name(volume),
		 pv_has_annotation(volume, ANN_BOUND_BY_CONTROLLER) ? "not bound yet" : "was bound and got unbound");
	key = cl_key(claim);
	cl_wq_add(&pv->src[PV_CLAIMS].q, key);
	free(key);
	return 0;
}

/* syncVolume, the volume bound to a claim that is bound to another volume. */
static int volume_of_claim_elsewhere(struct pv_ctrl *pv, const json_t *volume, vs_error *err)
{
	if (pv_has_annotation(volume, ANN_DYNAMICALLY_PROVISIONED) &&
	    strcmp(vs_json_str_or(volume, "spec.persistentVolumeReclaimPolicy", ""), "Delete") == 0)
		return release_and_reclaim(pv, volume, err); /* provisioned for it, not needed: delete it */
	/* bound by the controller: undo it; pre-bound by the user: clear only the uid */
	return unbind_volume(pv, volume, err);
}

int pv_sync_volume(struct pv_ctrl *pv, const json_t *volume, vs_error *err)
{
	json_t *claim = NULL;
	int rc;

	vs_debug("pv: synchronizing volume %s: phase %s, claim \"%s/%s\" uid \"%s\"", cl_name(volume),
		 phase_of(volume), vs_json_str_or(volume, "spec.claimRef.namespace", ""),
		 vs_json_str_or(volume, "spec.claimRef.name", ""), ref_uid(volume));
	if (!vs_json_path(volume, "spec.claimRef") || !*ref_uid(volume)) /* unused, or pre-bound: the claim's sync binds */
		return set_volume_phase(pv, volume, "Available", NULL, err);
	if ((rc = claim_of_volume(pv, volume, &claim, err)) != 0)
		return rc;
	if (!claim)
		rc = release_and_reclaim(pv, volume, err); /* the claim was deleted */
	else if (!*volume_name_of(claim))
		rc = volume_of_unbound_claim(pv, volume, claim);
	else if (strcmp(volume_name_of(claim), cl_name(volume)) == 0)
		rc = set_volume_phase(pv, volume, "Bound", NULL, err); /* all is bound; the claim is not queued */
	else
		rc = volume_of_claim_elsewhere(pv, volume, err);
	json_decref(claim);
	return rc;
}
