/*
 * Finishing what pvmigrate left half-done, from its own annotations (there is no journal). Before
 * its swap, pvmigrate leaves destination claims NAME-pvcmigrate labelled kurl.sh/pvcmigrate=NAME
 * and workloads at scale 0 with kurl.sh/pvcmigrate-scale: the plan adopts both as volshift's own.
 * During its swap it marks the copy's volume with kurl.sh/pvcmigrate-sourcens, -sourcepvc and
 * -reclaim, then deletes the original claim; killed after that, the claim name is gone and only
 * those annotations say where the data is. This pass finds such volumes and finishes the swap:
 * the name recreated on the copy (labels and annotations of the original were lost with
 * pvmigrate's memory; spec from the volume), the reclaim policy restored, and the workloads that
 * mount the name given back their recorded scale. The original volume, whose claim pvmigrate
 * deleted, is never touched: it keeps its data under Retain, and the plan lists it.
 */
#include "migrate_int.h"

#include <stdlib.h>
#include <string.h>

#define ADOPT_NS_ANNOTATION  "kurl.sh/pvcmigrate-sourcens"
#define ADOPT_PVC_ANNOTATION "kurl.sh/pvcmigrate-sourcepvc"

/* The claim ns/name as it must be recreated on pv: the volume's modes, size and mode. */
static json_t *adopt_claim(const json_t *pv, const char *ns, const char *name)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:O, s:s, s:{s:{s:O}}}}", "apiVersion", "v1", "kind",
			 "PersistentVolumeClaim", "metadata", "name", name, "namespace", ns, "spec", "storageClassName",
			 vs_json_str_or(pv, "spec.storageClassName", ""), "volumeName", vs_kube_obj_name(pv),
			 "accessModes", vs_json_path(pv, "spec.accessModes"), "volumeMode",
			 vs_json_str_or(pv, "spec.volumeMode", "Filesystem"), "resources", "requests", "storage",
			 vs_json_path(pv, "spec.capacity.storage"));
}

/* Put the name ns/name on pv (pvmigrate's copy, Retain), as pvmigrate would have; the volume may
 * still name pvmigrate's deleted temporary claim temp. */
static int adopt_bind(mig_run *r, const json_t *pv, const char *ns, const char *name, const char *temp, vs_error *err)
{
	json_t *claim = adopt_claim(pv, ns, name);
	int rc = claim ? mig_bind_claim(r, claim, NULL, temp, err)
		       : vs_error_set(err, VS_EINVAL,
				      "volume %s has no access modes or capacity to recreate a claim from",
				      vs_kube_obj_name(pv));

	json_decref(claim);
	return rc;
}

/* Scale back the Deployments and StatefulSets in ns that pvmigrate stopped and whose pod template
 * mounts claim name. */
static int adopt_restart(mig_run *r, const char *ns, const char *name, vs_error *err)
{
	const vs_kube_resource *res[] = { &VS_KUBE_DEPLOYMENTS, &VS_KUBE_STATEFULSETS };
	int rc = 0;

	for (size_t k = 0; k < 2 && rc == 0; k++) {
		json_t *list = NULL, *obj;
		size_t i;
		rc = vs_kube_list(r->c, res[k], ns, NULL, &list, err);
		json_array_foreach (json_object_get(list, "items"), i, obj) {
			const char *scale = vs_json_annotation(obj, VS_MIGRATE_SCALE_ANNOTATION);
			if (rc < 0 || !scale || !vs_plan_spec_mounts(vs_json_path(obj, "spec.template.spec"), name))
				continue;
			json_t *patch = json_pack("{s:{s:{s:n}}, s:{s:I}}", "metadata", "annotations",
						  VS_MIGRATE_SCALE_ANNOTATION, "spec", "replicas",
						  (json_int_t)strtoll(scale, NULL, 10));
			rc = vs_kube_patch(r->c, res[k], ns, vs_kube_obj_name(obj), VS_KUBE_PATCH_MERGE, patch, NULL,
					   err);
			json_decref(patch);
			if (rc == 0)
				mig_say(r, "stage", "scaled %s/%s back to %s, as pvmigrate recorded", ns,
					vs_kube_obj_name(obj), scale);
		}
		json_decref(list);
	}
	return rc;
}

/* One volume pvmigrate marked as the copy of ns/name: finish its swap if the name is missing. */
static int adopt_volume(mig_run *r, const json_t *pv, vs_error *err)
{
	const char *ns = vs_json_annotation(pv, ADOPT_NS_ANNOTATION),
		   *name = vs_json_annotation(pv, ADOPT_PVC_ANNOTATION);
	const char *pv_name = vs_kube_obj_name(pv), *reclaim = vs_json_annotation(pv, VS_MIGRATE_RECLAIM_ANNOTATION);
	char *temp = vs_plan_derived_name(name, "-pvcmigrate");
	json_t *claim = NULL, *patch;
	int rc = mig_get_opt(r, &VS_KUBE_PVCS, ns, name, &claim, err);

	if (rc < 0 || (claim && !mig_claim_bound_to(claim, (void *)pv_name)))
		goto done; /* the original claim is still there: the plan swaps it as its own */
	if (!claim) {
		mig_say(r, "stage",
			"pvmigrate stopped after deleting claim %s/%s; its copy is volume %s: recreating the claim "
			"there",
			ns, name, pv_name);
		rc = mig_delete(r, &VS_KUBE_PVCS, ns, temp, NULL, NULL,
				err); /* the volume is Retain: only the name goes */
		if (rc == 0)
			rc = mig_wait_gone(r, &VS_KUBE_PVCS, ns, temp, r->opts->delete_pv_timeout_ms, err);
		if (rc == 0)
			rc = adopt_bind(r, pv, ns, name, temp, err);
		if (rc == 0)
			mig_say(r, "warning",
				"claim %s/%s was recreated from its volume: the labels and annotations it had were "
				"lost when pvmigrate deleted it; add them again if something relies on them",
				ns, name);
	}
	patch = json_pack("{s:{s:{s:n, s:n, s:n}}, s:{s:s}}", "metadata", "annotations", ADOPT_NS_ANNOTATION,
			  ADOPT_PVC_ANNOTATION, VS_MIGRATE_RECLAIM_ANNOTATION, "spec", "persistentVolumeReclaimPolicy",
			  reclaim ? reclaim : vs_json_str_or(pv, "spec.persistentVolumeReclaimPolicy", "Delete"));
	if (rc == 0)
		rc = vs_kube_patch(r->c, &VS_KUBE_PVS, NULL, pv_name, VS_KUBE_PATCH_MERGE, patch, NULL, err);
	json_decref(patch);
	if (rc == 0)
		rc = adopt_restart(r, ns, name, err);
done:
	if (rc < 0)
		vs_error_wrap(err, "finish pvmigrate's swap of %s/%s", ns, name);
	json_decref(claim);
	free(temp);
	return rc;
}

int vs_migrate_adopt_pvmigrate(vs_kube_client *c, const vs_migrate_opts *opts, vs_migrate_event_fn fn, void *ctx,
			       vs_error *err)
{
	mig_run r = { .c = c, .opts = opts, .fn = fn, .ctx = ctx };
	json_t *list = NULL, *pv;
	size_t i;
	int rc = vs_kube_list(c, &VS_KUBE_PVS, NULL, NULL, &list, err);

	json_array_foreach (json_object_get(list, "items"), i, pv) {
		if (rc == 0 && vs_json_annotation(pv, ADOPT_NS_ANNOTATION) &&
		    vs_json_annotation(pv, ADOPT_PVC_ANNOTATION) &&
		    strcmp(vs_json_str_or(pv, "spec.storageClassName", ""), opts->plan.dest_sc) == 0)
			rc = adopt_volume(&r, pv, err);
	}
	json_decref(list);
	return rc;
}
