/*
 * ctrl_volume: the external provisioner of volshift-sim's two StorageClasses and the PV controller
 * of kube-controller-manager, in one level-triggered loop. It provisions a directory per volume
 * under DATA_DIR/volumes, binds claims and volumes the way Kubernetes' pv controller does
 * (claimRef uid, bind-completed and bound-by-controller annotations, pre-bound volumes, Released
 * volumes kept until their claimRef uid is cleared) and reclaims Released volumes of policy Delete
 * about a second after their claim is gone.
 *
 * One deliberate simplification: Kubernetes rechecks a Pending claim whose volume had the old
 * claimRef uid only at its periodic resync (15-25 s); we reconcile on every store change, so such
 * a claim binds as soon as the uid is cleared.
 */
#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ANN_BIND_COMPLETED "pv.kubernetes.io/bind-completed"
#define ANN_BOUND_BY_CONTROLLER "pv.kubernetes.io/bound-by-controller"
#define ANN_PROVISIONED_BY "pv.kubernetes.io/provisioned-by"
#define ANN_SELECTED_NODE "volume.kubernetes.io/selected-node"
#define ANN_STORAGE_PROVISIONER "volume.kubernetes.io/storage-provisioner"

/* Released volumes of policy Delete waiting for their reclaim, by PV uid. Only the volume thread
 * touches this table. */
struct release_mark {
	char uid[40];
	int64_t since_ms;
};
static struct release_mark releases[256];
static size_t nreleases;

static int64_t release_since(const char *uid)
{
	for (size_t i = 0; i < nreleases; i++) {
		if (strcmp(releases[i].uid, uid) == 0)
			return releases[i].since_ms;
	}
	if (nreleases == sizeof releases / sizeof releases[0])
		nreleases = 0; /* forget the oldest marks: they only delay a reclaim by a second */
	snprintf(releases[nreleases].uid, sizeof releases[nreleases].uid, "%s", uid);
	releases[nreleases].since_ms = vs_time_mono_ms();
	return releases[nreleases++].since_ms;
}

/* ---- small accessors -------------------------------------------------------------------------- */

static const char *str_or_empty(const char *s) { return s ? s : ""; }

static const char *pvc_class(const json_t *pvc) { return str_or_empty(vs_json_str(pvc, "spec.storageClassName")); }
static const char *pv_class(const json_t *pv) { return str_or_empty(vs_json_str(pv, "spec.storageClassName")); }


/* True when every access mode the claim asks for is among the volume's. */
static bool modes_subset(const json_t *want, const json_t *have)
{
	size_t i;
	json_t *m;
	json_array_foreach(want, i, m) {
		if (!json_is_string(m) || !vs_json_array_has_str(have, json_string_value(m)))
			return false;
	}
	return true;
}

static bool same_volume_mode(const json_t *pvc, const json_t *pv)
{
	const char *a = vs_json_str(pvc, "spec.volumeMode"), *b = vs_json_str(pv, "spec.volumeMode");
	return strcmp(a ? a : "Filesystem", b ? b : "Filesystem") == 0;
}

/* Why the claim cannot use the volume, or NULL when it can. */
static const char *volume_mismatch(const json_t *pvc, const json_t *pv)
{
	if (strcmp(pvc_class(pvc), pv_class(pv)) != 0)
		return "storageClassName does not match";
	double want = cl_quantity(vs_json_str(pvc, "spec.resources.requests.storage"));
	double have = cl_quantity(vs_json_str(pv, "spec.capacity.storage"));
	if (want > 0 && have >= 0 && have < want)
		return "requested PV is too small";
	if (!modes_subset(vs_json_path(pvc, "spec.accessModes"), vs_json_path(pv, "spec.accessModes")))
		return "incompatible accessMode";
	if (!same_volume_mode(pvc, pv))
		return "incompatible volumeMode";
	return NULL;
}

static bool claimref_names(const json_t *ref, const json_t *pvc)
{
	const char *ns = vs_json_str(ref, "namespace"), *name = vs_json_str(ref, "name");
	return ns && name && strcmp(ns, str_or_empty(cl_ns(pvc))) == 0 && strcmp(name, str_or_empty(cl_name(pvc))) == 0;
}

static json_t *find_class(const json_t *classes, const char *name)
{
	return *name ? cl_find(classes, NULL, name) : NULL;
}

static bool class_waits_for_consumer(const json_t *sc)
{
	const char *m = vs_json_str(sc, "volumeBindingMode");
	return m && strcmp(m, "WaitForFirstConsumer") == 0;
}

/* 'l' for volshift-sim's local provisioner, 's' for its shared one, 0 for anything else. */
static char our_provisioner(const json_t *sc)
{
	const char *p = vs_json_str(sc, "provisioner");
	if (!p || !vs_str_has_prefix(p, "volshift-sim"))
		return 0;
	if (vs_str_has_suffix(p, "local"))
		return 'l';
	if (vs_str_has_suffix(p, "shared"))
		return 's';
	return class_waits_for_consumer(sc) ? 'l' : 's';
}

static json_t *pv_by_name(const json_t *pvs, const char *name) { return cl_find(pvs, NULL, name); }

static void set_phase(sim_cluster *c, const sim_resource *res, const json_t *obj, const char *phase)
{
	const char *now = vs_json_str(obj, "status.phase");
	if (now && strcmp(now, phase) == 0)
		return;
	json_t *copy = json_deep_copy(obj);
	vs_json_set_path(copy, "status.phase", json_string(phase));
	cl_update(c, res, copy, SIM_UPDATE_STATUS);
	json_decref(copy);
}

/* ---- binding ---------------------------------------------------------------------------------- */

/*
 * Bind pvc and pv, each step one write with a resourceVersion precondition, in the order of the
 * pv controller: the volume's claimRef, the volume's phase, the claim's volumeName and
 * annotations, the claim's status. A conflict stops the pass; the next pass resumes from the
 * stored state.
 */
static void bind(sim_cluster *c, const json_t *pvc, const json_t *pv)
{
	const json_t *ref = vs_json_path(pv, "spec.claimRef");
	const char *ref_uid = vs_json_str(ref, "uid");
	json_t *pv2 = json_deep_copy(pv);
	if (!ref_uid || strcmp(ref_uid, cl_uid(pvc)) != 0) {
		bool controller_chose = !ref || !vs_json_str(ref, "name");
		json_t *nref = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind", "PersistentVolumeClaim", "apiVersion", "v1",
					 "namespace", cl_ns(pvc), "name", cl_name(pvc), "uid", cl_uid(pvc),
					 "resourceVersion", str_or_empty(vs_json_str(pvc, "metadata.resourceVersion")));
		vs_json_set_path(pv2, "spec.claimRef", nref);
		if (controller_chose)
			cl_set_annotation(pv2, ANN_BOUND_BY_CONTROLLER, "yes");
		json_t *stored = NULL;
		vs_error err;
		vs_error_clear(&err);
		if (sim_api_update(c->st, cl_res_pv, NULL, pv2, SIM_UPDATE_MAIN, &stored, &err) != 0) {
			vs_debug("volume: bind %s to %s/%s: %s", cl_name(pv), cl_ns(pvc), cl_name(pvc), err.message);
			json_decref(pv2);
			return;
		}
		json_decref(pv2);
		pv2 = stored;
	}
	set_phase(c, cl_res_pv, pv2, "Bound");
	json_t *pv_now = cl_get(c, cl_res_pv, NULL, cl_name(pv));
	if (!pv_now || strcmp(str_or_empty(vs_json_str(pv_now, "status.phase")), "Bound") != 0) {
		json_decref(pv_now);
		json_decref(pv2);
		return;
	}
	json_decref(pv_now);

	json_t *pvc2 = json_deep_copy(pvc);
	bool changed = false;
	const char *vn = vs_json_str(pvc, "spec.volumeName");
	if (!vn || !*vn) {
		vs_json_set_path(pvc2, "spec.volumeName", json_string(cl_name(pv)));
		cl_set_annotation(pvc2, ANN_BOUND_BY_CONTROLLER, "yes");
		changed = true;
	}
	json_t *anns = vs_json_path(pvc, "metadata.annotations");
	if (!json_is_string(json_object_get(anns, ANN_BIND_COMPLETED))) {
		cl_set_annotation(pvc2, ANN_BIND_COMPLETED, "yes");
		changed = true;
	}
	json_t *stored = NULL;
	if (changed) {
		vs_error err;
		vs_error_clear(&err);
		if (sim_api_update(c->st, cl_res_pvc, cl_ns(pvc), pvc2, SIM_UPDATE_MAIN, &stored, &err) != 0) {
			vs_debug("volume: bind claim %s/%s: %s", cl_ns(pvc), cl_name(pvc), err.message);
			json_decref(pvc2);
			json_decref(pv2);
			return;
		}
		json_decref(pvc2);
		pvc2 = stored;
	}
	vs_json_set_path(pvc2, "status.phase", json_string("Bound"));
	json_t *modes = vs_json_path(pv2, "spec.accessModes"), *cap = vs_json_path(pv2, "spec.capacity");
	vs_json_set_path(pvc2, "status.accessModes", modes ? json_deep_copy(modes) : json_array());
	vs_json_set_path(pvc2, "status.capacity", cap ? json_deep_copy(cap) : json_object());
	if (cl_update(c, cl_res_pvc, pvc2, SIM_UPDATE_STATUS) == 0)
		vs_info("volume: claim %s/%s bound to %s", cl_ns(pvc), cl_name(pvc), cl_name(pv));
	json_decref(pvc2);
	json_decref(pv2);
}

/* ---- provisioning ----------------------------------------------------------------------------- */

static void provision(sim_cluster *c, const json_t *pvc, const json_t *sc, char kind)
{
	const json_t *modes = vs_json_path(pvc, "spec.accessModes");
	const char *node = json_string_value(json_object_get(vs_json_path(pvc, "metadata.annotations"), ANN_SELECTED_NODE));
	size_t i;
	json_t *m;
	json_array_foreach(modes, i, m) {
		const char *mode = json_string_value(m);
		bool ok = mode && (strcmp(mode, "ReadWriteOnce") == 0 ||
				   (kind == 's' && (strcmp(mode, "ReadWriteMany") == 0 || strcmp(mode, "ReadOnlyMany") == 0 ||
						    strcmp(mode, "ReadWriteOncePod") == 0)));
		if (!ok) {
			cl_event_once(c, pvc, "Warning", "ProvisioningFailed",
				      "failed to provision volume with StorageClass \"%s\": %s does not support access mode %s",
				      cl_name(sc), vs_json_str(sc, "provisioner"), mode ? mode : "?");
			return;
		}
	}
	if (kind == 'l' && !node)
		return;
	const char *request = vs_json_str(pvc, "spec.resources.requests.storage");
	if (!request) {
		cl_event_once(c, pvc, "Warning", "ProvisioningFailed", "failed to provision volume: claim has no storage request");
		return;
	}
	char *pv_name = vs_xasprintf("pvc-%s", cl_uid(pvc));
	char *dir = vs_xasprintf("%s/volumes/%s", c->data_dir, pv_name);
	vs_error err;
	vs_error_clear(&err);
	if (vs_mkdir_p(dir, 0777, &err) != 0 || chmod(dir, 0777) != 0) {
		cl_event_once(c, pvc, "Warning", "ProvisioningFailed", "failed to create the directory %s: %s", dir,
			      err.message[0] ? err.message : "chmod failed");
		goto done;
	}
	const char *reclaim = vs_json_str(sc, "reclaimPolicy");
	json_t *pv = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:{s:s}, s:O, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}}}",
			       "apiVersion", "v1", "kind", "PersistentVolume", "metadata", "name", pv_name, "annotations",
			       ANN_PROVISIONED_BY, vs_json_str(sc, "provisioner"), "spec", "capacity", "storage", request,
			       "accessModes", modes, "persistentVolumeReclaimPolicy", reclaim ? reclaim : "Delete",
			       "storageClassName", cl_name(sc), "volumeMode", "Filesystem", "claimRef", "kind",
			       "PersistentVolumeClaim", "apiVersion", "v1", "namespace", cl_ns(pvc), "name", cl_name(pvc),
			       "uid", cl_uid(pvc), "resourceVersion", str_or_empty(vs_json_str(pvc, "metadata.resourceVersion")));
	if (!pv)
		goto done;
	if (kind == 'l') {
		vs_json_set_path(pv, "spec.local.path", json_string(dir));
		json_t *aff = json_pack("{s:[{s:[{s:s, s:s, s:[s]}]}]}", "nodeSelectorTerms", "matchExpressions", "key",
					"kubernetes.io/hostname", "operator", "In", "values", node);
		vs_json_set_path(pv, "spec.nodeAffinity.required", aff);
	} else {
		vs_json_set_path(pv, "spec.hostPath.path", json_string(dir));
	}
	json_t *mo = json_object_get(sc, "mountOptions");
	if (json_is_array(mo))
		vs_json_set_path(pv, "spec.mountOptions", json_deep_copy(mo));
	if (cl_create(c, cl_res_pv, NULL, pv, NULL) == 0) {
		vs_info("volume: provisioned %s for %s/%s at %s", pv_name, cl_ns(pvc), cl_name(pvc), dir);
		sim_api_event(c->st, pvc, "Normal", "ProvisioningSucceeded",
			      "Successfully provisioned volume %s", pv_name);
	}
	json_decref(pv);
done:
	free(pv_name);
	free(dir);
}

/* Note on the claim which provisioner will serve it (as the pv controller does). */
static void annotate_provisioner(sim_cluster *c, const json_t *pvc, const json_t *sc)
{
	json_t *anns = vs_json_path(pvc, "metadata.annotations");
	if (json_object_get(anns, ANN_STORAGE_PROVISIONER) || !vs_json_str(sc, "provisioner"))
		return;
	json_t *copy = json_deep_copy(pvc);
	cl_set_annotation(copy, ANN_STORAGE_PROVISIONER, vs_json_str(sc, "provisioner"));
	cl_update(c, cl_res_pvc, copy, SIM_UPDATE_MAIN);
	json_decref(copy);
}

/* ---- the claim side --------------------------------------------------------------------------- */

static void sync_pending_claim(sim_cluster *c, const json_t *pvc, const json_t *pvs, const json_t *classes)
{
	const char *vn = vs_json_str(pvc, "spec.volumeName");
	if (vn && *vn) {
		json_t *pv = pv_by_name(pvs, vn);
		if (!pv || cl_deleting(pv))
			return; /* the claim waits for its volume */
		const json_t *ref = vs_json_path(pv, "spec.claimRef");
		const char *ref_uid = vs_json_str(ref, "uid");
		if (ref && vs_json_str(ref, "name") && !claimref_names(ref, pvc)) {
			cl_event_once(c, pvc, "Warning", "FailedBinding",
				      "volume \"%s\" already bound to a different claim.", vn);
			return;
		}
		if (ref_uid && *ref_uid && strcmp(ref_uid, cl_uid(pvc)) != 0) {
			cl_event_once(c, pvc, "Warning", "FailedBinding",
				      "volume \"%s\" already bound to a different claim.", vn);
			return;
		}
		const char *why = volume_mismatch(pvc, pv);
		if (why) {
			cl_event_once(c, pvc, "Warning", "FailedBinding", "Cannot bind to requested volume \"%s\": %s", vn, why);
			return;
		}
		bind(c, pvc, pv);
		return;
	}
	/* a volume pre-bound to this claim */
	size_t i;
	json_t *pv;
	json_array_foreach(pvs, i, pv) {
		const json_t *ref = vs_json_path(pv, "spec.claimRef");
		if (!ref || !claimref_names(ref, pvc) || cl_deleting(pv))
			continue;
		const char *ref_uid = vs_json_str(ref, "uid");
		if (ref_uid && *ref_uid && strcmp(ref_uid, cl_uid(pvc)) != 0)
			continue;
		if (ref_uid && *ref_uid) { /* provisioned for this claim */
			bind(c, pvc, pv);
			return;
		}
		if (!volume_mismatch(pvc, pv)) {
			bind(c, pvc, pv);
			return;
		}
	}
	json_t *sc = find_class(classes, pvc_class(pvc));
	const char *selected =
		json_string_value(json_object_get(vs_json_path(pvc, "metadata.annotations"), ANN_SELECTED_NODE));
	bool wait = sc && class_waits_for_consumer(sc) && !selected;
	/* an Available static volume of the class: the smallest that fits */
	json_t *best = NULL;
	double best_size = 0;
	if (!wait) {
		json_array_foreach(pvs, i, pv) {
			if (vs_json_path(pv, "spec.claimRef") || cl_deleting(pv))
				continue;
			const char *phase = vs_json_str(pv, "status.phase");
			if (phase && strcmp(phase, "Available") != 0)
				continue;
			if (!*pv_class(pv) && *pvc_class(pvc))
				continue;
			if (volume_mismatch(pvc, pv))
				continue;
			const json_t *na = vs_json_path(pv, "spec.nodeAffinity.required");
			if (na && selected) {
				json_t *fake = json_pack("{s:{s:s, s:{s:s}}}", "metadata", "name", selected, "labels",
							 "kubernetes.io/hostname", selected);
				bool ok = cl_node_matches_selector(fake, na);
				json_decref(fake);
				if (!ok)
					continue;
			}
			double size = cl_quantity(vs_json_str(pv, "spec.capacity.storage"));
			if (!best || size < best_size) {
				best = pv;
				best_size = size;
			}
		}
	}
	if (best) {
		bind(c, pvc, best);
		return;
	}
	if (!sc || cl_deleting(pvc))
		return;
	char kind = our_provisioner(sc);
	if (!kind)
		return;
	annotate_provisioner(c, pvc, sc);
	if (!class_waits_for_consumer(sc) || selected)
		provision(c, pvc, sc, kind);
}

/* ---- the volume side -------------------------------------------------------------------------- */

static void reclaim(sim_cluster *c, const json_t *pv)
{
	const char *policy = vs_json_str(pv, "spec.persistentVolumeReclaimPolicy");
	if (!policy || strcmp(policy, "Delete") != 0 || cl_deleting(pv))
		return;
	if (vs_time_mono_ms() - release_since(cl_uid(pv)) < 1000)
		return;
	const char *path = vs_json_str(pv, "spec.local.path");
	if (!path)
		path = vs_json_str(pv, "spec.hostPath.path");
	char *ours = vs_xasprintf("%s/volumes/", c->data_dir);
	if (path && vs_str_has_prefix(path, ours)) {
		vs_error err;
		vs_error_clear(&err);
		if (vs_rm_rf(path, &err) != 0)
			vs_warn("volume: reclaim %s: %s", cl_name(pv), err.message);
	}
	free(ours);
	if (cl_delete(c, cl_res_pv, NULL, cl_name(pv), -1) == 0)
		vs_info("volume: deleted %s (reclaim policy Delete)", cl_name(pv));
}

static void sync_volume(sim_cluster *c, const json_t *pv, const json_t *pvcs)
{
	const json_t *ref = vs_json_path(pv, "spec.claimRef");
	const char *phase = str_or_empty(vs_json_str(pv, "status.phase"));
	const char *ref_uid = vs_json_str(ref, "uid");
	if (!ref || !vs_json_str(ref, "name") || !ref_uid || !*ref_uid) {
		/* free, or pre-bound to a claim that has not bound yet */
		if (strcmp(phase, "Available") != 0 && strcmp(phase, "Failed") != 0)
			set_phase(c, cl_res_pv, pv, "Available");
		return;
	}
	json_t *pvc = cl_find(pvcs, vs_json_str(ref, "namespace"), vs_json_str(ref, "name"));
	if (pvc && strcmp(str_or_empty(cl_uid(pvc)), ref_uid) == 0) {
		if (strcmp(phase, "Bound") != 0 && strcmp(phase, "Released") != 0) {
			/* bind() finishes the claim side; the phase follows once the claim names us */
			const char *vn = vs_json_str(pvc, "spec.volumeName");
			if (vn && strcmp(vn, cl_name(pv)) == 0)
				set_phase(c, cl_res_pv, pv, "Bound");
		}
		return;
	}
	/* the claim is gone (or replaced by a new object with the same name) */
	if (strcmp(phase, "Released") != 0 && strcmp(phase, "Failed") != 0) {
		if (strcmp(phase, "Bound") == 0 || strcmp(phase, "") == 0 || strcmp(phase, "Available") == 0 ||
		    strcmp(phase, "Pending") == 0) {
			set_phase(c, cl_res_pv, pv, "Released");
			vs_info("volume: %s released (claim %s/%s gone)", cl_name(pv), vs_json_str(ref, "namespace"),
				vs_json_str(ref, "name"));
		}
		return;
	}
	if (strcmp(phase, "Released") == 0)
		reclaim(c, pv);
}

static void volume_reconcile(sim_cluster *c)
{
	json_t *classes = cl_list(c, cl_res_sc, NULL, NULL);
	json_t *pvs = cl_list(c, cl_res_pv, NULL, NULL);
	json_t *pvcs = cl_list(c, cl_res_pvc, NULL, NULL);
	size_t i;
	json_t *it;
	json_array_foreach(pvs, i, it)
		sync_volume(c, it, pvcs);
	json_decref(pvs);
	pvs = cl_list(c, cl_res_pv, NULL, NULL);
	json_array_foreach(pvcs, i, it) {
		const char *phase = vs_json_str(it, "status.phase");
		if (phase && strcmp(phase, "Bound") == 0)
			continue;
		sync_pending_claim(c, it, pvs, classes);
	}
	json_decref(classes);
	json_decref(pvs);
	json_decref(pvcs);
}

int sim_volume_start(sim_cluster *c, vs_error *err)
{
	return cl_spawn(c, "volume", volume_reconcile, NULL, 500, err);
}
