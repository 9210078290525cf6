/*
 * ctrl_provisioner: the external provisioner of volshift-sim's two StorageClasses, a process of its
 * own in a real cluster (built on sig-storage-lib-external-provisioner's ProvisionController), so
 * here with informers of its own on claims and volumes, each with its own delays.
 *
 * It provisions for a claim that the PV controller annotated volume.kubernetes.io/storage-provisioner
 * (or the beta key) with one of its names, that names no volume, and, for a WaitForFirstConsumer
 * class, once the scheduler wrote volume.kubernetes.io/selected-node: a directory
 * DATA_DIR/volumes/pvc-<claim uid>, and a PV bound to the claim by a claimRef with its uid
 * ("volshift-sim/local": spec.local.path and required node affinity to the selected node;
 * "volshift-sim/shared": spec.hostPath.path). It decides from its own informers only, so when they
 * lag it can provision for a claim that meanwhile got a volume: the extra volume a real cluster
 * makes too. It deletes a Released volume of policy Delete that it provisioned, with its directory,
 * a second after it saw it Released (the time the storage takes to delete it).
 */
#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* How long deleting a volume's storage takes before its PV is removed. */
#define PROVISIONER_DELETE_MS 1000
/* Retries of a failed provisioning: csi-provisioner's --retry-interval-start and -max defaults. */
#define PROVISIONER_RETRY_START_MS 1000
#define PROVISIONER_RETRY_MAX_MS (5 * 60 * 1000)

enum { PROV_CLAIMS, PROV_VOLUMES };

struct provisioner {
	sim_cluster *c;
	cl_source src[2]; /* [PROV_CLAIMS], [PROV_VOLUMES] */
	pthread_t threads[2];
	int nthreads;
	json_t *released_at; /* volume name -> when the volume worker first saw it to delete */
};

/* 'l' for "volshift-sim/local", 's' for "volshift-sim/shared", 0 for another provisioner's name. */
static char known_provisioner(const char *name)
{
	if (name && strcmp(name, "volshift-sim/local") == 0)
		return 'l';
	if (name && strcmp(name, "volshift-sim/shared") == 0)
		return 's';
	return 0;
}

/* Events come from the provisioner's own identity, as "<name>_<host>" in a real cluster. */
static void prov_event(struct provisioner *p, const json_t *claim, const char *provisioner, const char *type,
		       const char *reason, const char *msg)
{
	char component[128];

	snprintf(component, sizeof component, "%s_volshift-sim", provisioner);
	sim_api_event_from(p->c->st, component, claim, type, reason, "%s", msg);
}

/* ---- provisioning ------------------------------------------------------------------------------- */

/* shouldProvision: the claim's class when it is ours to provision now, else NULL (new reference). */
static json_t *should_provision(struct provisioner *p, const json_t *claim)
{
	const char *by = vs_json_annotation(claim, ANN_STORAGE_PROVISIONER);
	const char *cls = vs_json_str_or(claim, "spec.storageClassName", "");
	json_t *class;

	if (*vs_json_str_or(claim, "spec.volumeName", ""))
		return NULL;
	if (!by)
		by = vs_json_annotation(claim, ANN_BETA_STORAGE_PROVISIONER);
	if (!known_provisioner(by) || !*cls || !(class = cl_get(p->c, cl_res_sc, NULL, cls)))
		return NULL;
	if (strcmp(vs_json_str_or(class, "volumeBindingMode", ""), "WaitForFirstConsumer") == 0 &&
	    !*(vs_json_annotation(claim, ANN_SELECTED_NODE) ? vs_json_annotation(claim, ANN_SELECTED_NODE) : "")) {
		json_decref(class);
		return NULL; /* the scheduler has not chosen a node yet */
	}
	return class;
}

/* Why this provisioner cannot make the claim's access modes, or NULL. */
static const char *unsupported_mode(const json_t *claim, char kind)
{
	size_t i;
	json_t *m;

	json_array_foreach(vs_json_path(claim, "spec.accessModes"), i, m) {
		const char *mode = json_string_value(m);
		bool ok = mode && (strcmp(mode, "ReadWriteOnce") == 0 ||
				   (kind == 's' && (strcmp(mode, "ReadWriteMany") == 0 || strcmp(mode, "ReadOnlyMany") == 0 ||
						    strcmp(mode, "ReadWriteOncePod") == 0)));
		if (!ok)
			return mode ? mode : "?";
	}
	return NULL;
}

/* The PV for the claim, of this kind, at dir (new reference). */
static json_t *volume_for(const json_t *claim, const json_t *class, const char *pv_name, const char *dir, char kind)
{
	const char *node = vs_json_annotation(claim, ANN_SELECTED_NODE);
	const json_t *mo = json_object_get(class, "mountOptions");
	json_t *pv = json_pack(
		"{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:{s:s}, s:O, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}}}",
		"apiVersion", "v1", "kind", "PersistentVolume", "metadata", "name", pv_name, "annotations",
		ANN_DYNAMICALLY_PROVISIONED, vs_json_str_or(class, "provisioner", ""), "spec", "capacity", "storage",
		vs_json_str_or(claim, "spec.resources.requests.storage", ""), "accessModes",
		vs_json_path(claim, "spec.accessModes"), "persistentVolumeReclaimPolicy",
		vs_json_str_or(class, "reclaimPolicy", "Delete"), "storageClassName", cl_name(class), "volumeMode",
		"Filesystem", "claimRef", "kind", "PersistentVolumeClaim", "apiVersion", "v1", "namespace", cl_ns(claim),
		"name", cl_name(claim), "uid", cl_uid(claim), "resourceVersion",
		vs_json_str_or(claim, "metadata.resourceVersion", ""));

	if (kind == 'l') {
		vs_json_set_path(pv, "spec.local.path", json_string(dir));
		vs_json_set_path(pv, "spec.nodeAffinity.required",
				 json_pack("{s:[{s:[{s:s, s:s, s:[s]}]}]}", "nodeSelectorTerms", "matchExpressions", "key",
					   "kubernetes.io/hostname", "operator", "In", "values", node ? node : ""));
	} else {
		vs_json_set_path(pv, "spec.hostPath.path", json_string(dir));
	}
	if (json_is_array(mo))
		vs_json_set_path(pv, "spec.mountOptions", json_deep_copy(mo));
	return pv;
}

/* Make the directory and the PV. 0, or -1 after a ProvisioningFailed event (to retry). */
static int provision(struct provisioner *p, const json_t *claim, const json_t *class, const char *pv_name, char kind)
{
	const char *by = vs_json_str_or(class, "provisioner", "");
	char *dir = vs_xasprintf("%s/volumes/%s", p->c->data_dir, pv_name), msg[1024];
	json_t *pv = NULL;
	vs_error err;
	int rc = -1;

	vs_error_clear(&err);
	if (vs_mkdir_p(dir, 0777, &err) != 0 || chmod(dir, 0777) != 0) {
		snprintf(msg, sizeof msg, "failed to create the directory %s: %s", dir,
			 err.message[0] ? err.message : "chmod failed");
		prov_event(p, claim, by, "Warning", "ProvisioningFailed", msg);
		goto done;
	}
	pv = volume_for(claim, class, pv_name, dir, kind);
	if (sim_api_create(p->c->st, cl_res_pv, NULL, pv, NULL, &err) != 0 && !vs_error_is(&err, "AlreadyExists")) {
		snprintf(msg, sizeof msg, "failed to provision volume with StorageClass \"%s\": %s", cl_name(class),
			 err.message);
		prov_event(p, claim, by, "Warning", "ProvisioningFailed", msg);
		goto done;
	}
	vs_info("provisioner: provisioned %s for %s/%s at %s", pv_name, cl_ns(claim), cl_name(claim), dir);
	snprintf(msg, sizeof msg, "Successfully provisioned volume %s", pv_name);
	prov_event(p, claim, by, "Normal", "ProvisioningSucceeded", msg);
	rc = 0;
done:
	json_decref(pv);
	free(dir);
	return rc;
}

/* provisionClaimOperation. 0 when done (or nothing to do), -1 to retry later. */
static int provision_claim_operation(struct provisioner *p, const json_t *claim, const json_t *class)
{
	const char *by = vs_json_str_or(class, "provisioner", ""), *mode;
	char kind = known_provisioner(by), *pv_name = vs_xasprintf("pvc-%s", cl_uid(claim)), msg[1024];
	json_t *existing = cl_informer_get(p->src[PROV_VOLUMES].inf, pv_name);
	int rc = 0;

	if (existing || !kind) { /* already provisioned (as far as this provisioner knows), or not ours */
		vs_debug("provisioner: %s for %s/%s exists or is not ours", pv_name, cl_ns(claim), cl_name(claim));
	} else if (kind == 'l' && !vs_json_annotation(claim, ANN_SELECTED_NODE)) {
		vs_debug("provisioner: %s/%s: a node-local volume needs a selected node", cl_ns(claim), cl_name(claim));
	} else {
		snprintf(msg, sizeof msg, "External provisioner is provisioning volume for claim \"%s/%s\"", cl_ns(claim),
			 cl_name(claim));
		prov_event(p, claim, by, "Normal", "Provisioning", msg);
		if ((mode = unsupported_mode(claim, kind)) != NULL) {
			snprintf(msg, sizeof msg,
				 "failed to provision volume with StorageClass \"%s\": %s does not support access mode %s",
				 cl_name(class), by, mode);
			prov_event(p, claim, by, "Warning", "ProvisioningFailed", msg);
			rc = -1;
		} else {
			rc = provision(p, claim, class, pv_name, kind);
		}
	}
	json_decref(existing);
	free(pv_name);
	return rc;
}

static void sync_claim(struct provisioner *p, const char *key)
{
	json_t *claim = cl_informer_get(p->src[PROV_CLAIMS].inf, key), *class = claim ? should_provision(p, claim) : NULL;

	if (class && provision_claim_operation(p, claim, class) != 0)
		cl_wq_add_rate_limited(&p->src[PROV_CLAIMS].q, key);
	else
		cl_wq_forget(&p->src[PROV_CLAIMS].q, key);
	json_decref(class);
	json_decref(claim);
}

/* ---- deleting ----------------------------------------------------------------------------------- */

/* shouldDelete, for a volume this provisioner made. */
static bool should_delete(const json_t *volume)
{
	return known_provisioner(vs_json_annotation(volume, ANN_DYNAMICALLY_PROVISIONED)) && !cl_deleting(volume) &&
	       strcmp(vs_json_str_or(volume, "status.phase", ""), "Released") == 0 &&
	       strcmp(vs_json_str_or(volume, "spec.persistentVolumeReclaimPolicy", ""), "Delete") == 0;
}

/* deleteVolumeOperation: read the volume afresh, delete its storage, then its PV. */
static void delete_volume_operation(struct provisioner *p, const char *name)
{
	json_t *fresh = NULL;
	const char *path;
	char *ours = vs_xasprintf("%s/volumes/", p->c->data_dir);
	vs_error err;

	vs_error_clear(&err);
	if (sim_api_get(p->c->st, cl_res_pv, NULL, name, &fresh, &err) == 0 && should_delete(fresh)) {
		path = vs_json_str(fresh, "spec.local.path");
		path = path ? path : vs_json_str(fresh, "spec.hostPath.path");
		if (path && vs_str_has_prefix(path, ours) && vs_rm_rf(path, &err) != 0)
			vs_warn("provisioner: delete %s: %s", name, err.message);
		if (cl_delete(p->c, cl_res_pv, NULL, name, -1) == 0)
			vs_info("provisioner: deleted %s (reclaim policy Delete)", name);
	}
	json_decref(fresh);
	free(ours);
}

static void sync_volume(struct provisioner *p, const char *name)
{
	json_t *volume = cl_informer_get(p->src[PROV_VOLUMES].inf, name);
	int64_t now = vs_time_mono_ms(), since;

	if (!volume || !should_delete(volume)) {
		json_object_del(p->released_at, name);
	} else if (!json_object_get(p->released_at, name)) {
		json_object_set_new(p->released_at, name, json_integer(now));
		cl_wq_add_after(&p->src[PROV_VOLUMES].q, name, PROVISIONER_DELETE_MS);
	} else if ((since = json_integer_value(json_object_get(p->released_at, name))) + PROVISIONER_DELETE_MS > now) {
		cl_wq_add_after(&p->src[PROV_VOLUMES].q, name, since + PROVISIONER_DELETE_MS - now);
	} else {
		json_object_del(p->released_at, name);
		delete_volume_operation(p, name);
	}
	json_decref(volume);
}

/* ---- workers, start and stop -------------------------------------------------------------------- */

static void claim_worker(void *arg, const char *key)
{
	sync_claim(arg, key);
}

static void volume_worker(void *arg, const char *key)
{
	sync_volume(arg, key);
}

static void *claim_worker_main(void *arg)
{
	struct provisioner *p = arg;

	cl_wq_serve(&p->src[PROV_CLAIMS].q, claim_worker, p);
	return NULL;
}

static void *volume_worker_main(void *arg)
{
	struct provisioner *p = arg;

	cl_wq_serve(&p->src[PROV_VOLUMES].q, volume_worker, p);
	return NULL;
}

static void provisioner_free(void *arg)
{
	struct provisioner *p = arg;

	cl_sources_stop(p->src, 2, p->threads, &p->nthreads);
	json_decref(p->released_at);
	free(p);
}

int sim_provisioner_start(sim_cluster *c, vs_error *err)
{
	struct provisioner *p = vs_xcalloc(1, sizeof *p);
	void *(*mains[])(void *) = {claim_worker_main, volume_worker_main};
	int rc;

	p->c = c;
	p->released_at = json_object();
	rc = cl_source_start(c, cl_res_pvc, NULL, PROVISIONER_RETRY_START_MS, PROVISIONER_RETRY_MAX_MS,
			     &p->src[PROV_CLAIMS], err);
	if (rc == 0)
		rc = cl_source_start(c, cl_res_pv, NULL, PROVISIONER_RETRY_START_MS, PROVISIONER_RETRY_MAX_MS,
				     &p->src[PROV_VOLUMES], err);
	for (size_t i = 0; rc == 0 && i < sizeof mains / sizeof mains[0]; i++) {
		if ((rc = pthread_create(&p->threads[p->nthreads], NULL, mains[i], p)) != 0)
			rc = vs_error_set(err, VS_EIO, "provisioner: cannot start a thread: %s", strerror(rc));
		else
			p->nthreads++;
	}
	if (rc == 0)
		rc = cl_at_stop(c, provisioner_free, p, err);
	if (rc != 0)
		provisioner_free(p);
	return rc;
}
