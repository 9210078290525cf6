/*
 * ctrl_workload: the workload controllers of kube-controller-manager in volshift-sim: Deployment
 * (ReplicaSets per pod-template hash, Recreate and RollingUpdate), ReplicaSet, StatefulSet
 * (ordinal pods, claims from volumeClaimTemplates, OrderedReady and Parallel, adoption of
 * orphans), DaemonSet, Job (counting its pods through its tracking finalizer) and CronJob. All of
 * them reconcile in one level-triggered loop that sees the cluster an informer delay late
 * (workload_reconcile); every object they create carries a controller ownerReference so the
 * garbage collector can cascade.
 */
#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LABEL_HASH "pod-template-hash"
#define LABEL_REV "controller-revision-hash"
/* The Job controller's finalizer on its pods (batch.JobTrackingFinalizer). */
#define JOB_TRACKING "batch.kubernetes.io/job-tracking"
/* The delay before a failed pod of a Job is replaced: 10 s after the first failure since the last
 * success, doubled with each further one, at most 6 minutes (DefaultJobPodFailureBackOff and
 * MaxJobPodFailureBackOff). */
#define JOB_BACKOFF_S	  10
#define JOB_BACKOFF_MAX_S 360

/* ---- shared pieces ---------------------------------------------------------------------------- */

static const char safe_alphabet[] = "bcdfghjklmnpqrstvwxz2456789";

/* The hash of a pod template as Kubernetes prints it: FNV-1a of the template, its decimal digits
 * mapped to safe characters (at most 10 of them). */
static void template_hash(const json_t *tmpl, char out[16])
{
	char *text = json_dumps(tmpl, JSON_SORT_KEYS | JSON_COMPACT);
	uint32_t h = 2166136261u;
	for (const char *p = text ? text : ""; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	free(text);
	char digits[16];
	snprintf(digits, sizeof digits, "%u", h);
	size_t i = 0;
	for (; digits[i] && i < 10; i++)
		out[i] = safe_alphabet[(digits[i] - '0') % (sizeof safe_alphabet - 1)];
	out[i] = '\0';
}

static json_t *owned_by(const json_t *items, const char *uid)
{
	json_t *out = json_array();
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		const char *cu = cl_controller_uid(it);
		if (cu && uid && strcmp(cu, uid) == 0)
			json_array_append(out, it);
	}
	return out;
}

/* Adopt pods of ns that match owner's selector and have no controller: add our ownerReference. */
static void adopt_orphans(sim_cluster *c, const json_t *owner, const json_t *pods, const char *name_prefix)
{
	const json_t *sel = vs_json_path(owner, "spec.selector");
	size_t i;
	json_t *p;
	json_array_foreach(pods, i, p) {
		if (cl_controller_uid(p) || cl_deleting(p) || strcmp(cl_ns(p), cl_ns(owner)) != 0)
			continue;
		if (!cl_selector_matches(sel, vs_json_path(p, "metadata.labels"), false))
			continue;
		if (name_prefix && !vs_str_has_prefix(cl_name(p), name_prefix))
			continue;
		json_t *copy = json_deep_copy(p);
		json_t *refs = vs_json_path(copy, "metadata.ownerReferences");
		if (!json_is_array(refs)) {
			refs = json_array();
			vs_json_set_path(copy, "metadata.ownerReferences", refs);
		}
		json_array_append_new(refs, cl_owner_ref(owner));
		if (cl_update(c, cl_res_pod, copy, SIM_UPDATE_MAIN) == 0)
			vs_info("workload: %s %s/%s adopted pod %s", vs_json_str(owner, "kind"), cl_ns(owner), cl_name(owner),
				cl_name(p));
		json_decref(copy);
	}
}

/* A pod from a template with the given name and owner (new reference). */
static json_t *pod_from_template(const json_t *owner, const json_t *tmpl, const char *name)
{
	json_t *pod = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "Pod", "metadata", "name", name,
				"namespace", cl_ns(owner));
	const json_t *labels = vs_json_path(tmpl, "metadata.labels");
	const json_t *anns = vs_json_path(tmpl, "metadata.annotations");
	json_t *meta = json_object_get(pod, "metadata");
	json_object_set_new(meta, "labels", labels ? json_deep_copy(labels) : json_object());
	if (anns)
		json_object_set_new(meta, "annotations", json_deep_copy(anns));
	json_object_set_new(meta, "ownerReferences", json_pack("[o]", cl_owner_ref(owner)));
	const json_t *spec = json_object_get(tmpl, "spec");
	json_object_set_new(pod, "spec", spec ? json_deep_copy(spec) : json_object());
	return pod;
}

static bool pod_available(const json_t *pod) { return cl_pod_ready(pod) && !cl_deleting(pod); }

static int count_where(const json_t *pods, bool (*pred)(const json_t *))
{
	int n = 0;
	size_t i;
	json_t *p;
	json_array_foreach(pods, i, p) n += pred(p);
	return n;
}

/* Write status fields (an object merged into the stored status) when they differ. */
static void merge_status(sim_cluster *c, const sim_resource *res, const json_t *obj, json_t *fields)
{
	const json_t *cur = json_object_get(obj, "status");
	json_t *next = json_is_object(cur) ? json_deep_copy(cur) : json_object();

	json_object_update(next, fields);
	cl_update_status(c, res, obj, next);
	json_decref(next);
	json_decref(fields);
}

/* A condition entry, keeping the old lastTransitionTime when its status did not change. */
static json_t *condition(const json_t *obj, const char *type, bool status, const char *reason, const char *message)
{
	char now[32];
	vs_time_format(vs_time_now(), now);
	const char *s = status ? "True" : "False";
	const char *ltt = now, *lut = now;
	size_t i;
	json_t *oc;
	json_array_foreach(vs_json_path(obj, "status.conditions"), i, oc) {
		const char *t = vs_json_str(oc, "type"), *os = vs_json_str(oc, "status"), *or = vs_json_str(oc, "reason");
		if (t && os && strcmp(t, type) == 0 && strcmp(os, s) == 0) {
			ltt = vs_json_str(oc, "lastTransitionTime") ?: now;
			if (or && strcmp(or, reason) == 0)
				lut = vs_json_str(oc, "lastUpdateTime") ?: ltt;
		}
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", s, "reason", reason, "message", message,
			 "lastTransitionTime", ltt, "lastUpdateTime", lut);
}

static int cmp_creation_desc(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *tx = vs_json_str(x, "metadata.creationTimestamp") ?: "";
	const char *ty = vs_json_str(y, "metadata.creationTimestamp") ?: "";
	int r = strcmp(ty, tx);
	return r ? r : strcmp(cl_name(y), cl_name(x));
}

/* ---- ReplicaSet ------------------------------------------------------------------------------- */

static void sync_replicaset(sim_cluster *c, const json_t *rs, const json_t *all_pods)
{
	if (cl_deleting(rs))
		return;
	adopt_orphans(c, rs, all_pods, NULL);
	json_t *owned = owned_by(all_pods, cl_uid(rs));
	json_t *active = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(owned, i, p)
		if (cl_pod_active(p))
			json_array_append(active, p);
	long want = (long)vs_json_int(rs, "spec.replicas", 1);
	long have = (long)json_array_size(active);
	for (long k = have; k < want; k++) {
		char suffix[8], *name;
		cl_rand_suffix(suffix, 5);
		name = vs_xasprintf("%s-%s", cl_name(rs), suffix);
		json_t *pod = pod_from_template(rs, vs_json_path(rs, "spec.template"), name);
		if (cl_create(c, cl_res_pod, cl_ns(rs), pod, NULL) == 0)
			sim_api_event(c->st, rs, "Normal", "SuccessfulCreate", "Created pod: %s", name);
		json_decref(pod);
		free(name);
	}
	if (have > want) {
		size_t n = json_array_size(active);
		json_t **v = vs_xcalloc(n, sizeof *v);
		for (size_t k = 0; k < n; k++)
			v[k] = json_array_get(active, k);
		qsort(v, n, sizeof *v, cmp_creation_desc);
		for (long k = 0; k < have - want; k++) {
			if (cl_delete(c, cl_res_pod, cl_ns(rs), cl_name(v[k]), -1) == 0)
				sim_api_event(c->st, rs, "Normal", "SuccessfulDelete", "Deleted pod: %s", cl_name(v[k]));
		}
		free(v);
	}
	int ready = count_where(active, cl_pod_ready);
	merge_status(c, cl_res_rs, rs,
		     json_pack("{s:i, s:i, s:i, s:i, s:I}", "replicas", (int)have, "fullyLabeledReplicas", (int)have,
			       "readyReplicas", ready, "availableReplicas", count_where(active, pod_available),
			       "observedGeneration", (json_int_t)vs_json_int(rs, "metadata.generation", 1)));
	json_decref(active);
	json_decref(owned);
}

/* ---- Deployment ------------------------------------------------------------------------------- */

static long max_unavailable(const json_t *d, long replicas)
{
	const char *type = vs_json_str(d, "spec.strategy.type");
	if (type && strcmp(type, "Recreate") == 0)
		return 0;
	const json_t *mu = vs_json_path(d, "spec.strategy.rollingUpdate.maxUnavailable");
	if (json_is_integer(mu))
		return (long)json_integer_value(mu);
	const char *pct = json_is_string(mu) ? json_string_value(mu) : "25%";
	return replicas * strtol(pct, NULL, 10) / 100;
}

static void sync_deployment(sim_cluster *c, const json_t *d, const json_t *all_rs)
{
	if (cl_deleting(d))
		return;
	const json_t *tmpl = vs_json_path(d, "spec.template");
	char hash[16];
	template_hash(tmpl, hash);
	long want = (long)vs_json_int(d, "spec.replicas", 1);
	bool recreate = vs_json_str(d, "spec.strategy.type") && strcmp(vs_json_str(d, "spec.strategy.type"), "Recreate") == 0;
	json_t *owned = owned_by(all_rs, cl_uid(d));
	json_t *new_rs = NULL;
	long max_rev = 0;
	size_t i;
	json_t *rs;
	json_array_foreach(owned, i, rs) {
		const char *h = json_string_value(json_object_get(vs_json_path(rs, "metadata.labels"), LABEL_HASH));
		if (h && strcmp(h, hash) == 0)
			new_rs = rs;
		const char *rev = json_string_value(
			json_object_get(vs_json_path(rs, "metadata.annotations"), "deployment.kubernetes.io/revision"));
		if (rev && atol(rev) > max_rev)
			max_rev = atol(rev);
	}
	/* old replica sets first: scale down (Recreate: at once; RollingUpdate: when the new is available) */
	long old_pods = 0;
	bool new_available = new_rs && vs_json_int(new_rs, "status.availableReplicas", 0) >= want &&
			     vs_json_int(new_rs, "spec.replicas", 0) == want;
	json_array_foreach(owned, i, rs) {
		if (rs == new_rs || cl_deleting(rs))
			continue;
		old_pods += (long)vs_json_int(rs, "status.replicas", 0);
		if (vs_json_int(rs, "spec.replicas", 0) != 0 && (recreate || new_available || want == 0)) {
			json_t *copy = json_deep_copy(rs);
			vs_json_set_path(copy, "spec.replicas", json_integer(0));
			cl_update(c, cl_res_rs, copy, SIM_UPDATE_MAIN);
			json_decref(copy);
			sim_api_event(c->st, d, "Normal", "ScalingReplicaSet", "Scaled down replica set %s to 0", cl_name(rs));
		}
	}
	long new_want = recreate && old_pods > 0 ? 0 : want;
	if (!new_rs) {
		char *name = vs_xasprintf("%s-%s", cl_name(d), hash);
		json_t *t = json_deep_copy(tmpl);
		json_t *sel = json_deep_copy(vs_json_path(d, "spec.selector"));
		if (!json_is_object(sel)) {
			json_decref(sel);
			sel = json_object();
		}
		vs_json_set_path(sel, "matchLabels." LABEL_HASH, json_string(hash));
		if (!json_is_object(t)) {
			json_decref(t);
			t = json_object();
		}
		cl_set_label(t, LABEL_HASH, hash);
		json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:I, s:o, s:o}}", "apiVersion", "apps/v1", "kind",
					"ReplicaSet", "metadata", "name", name, "namespace", cl_ns(d), "spec", "replicas",
					(json_int_t)new_want, "selector", sel, "template", t);
		json_t *labels = json_deep_copy(vs_json_path(tmpl, "metadata.labels"));
		json_object_set_new(json_object_get(obj, "metadata"), "labels", labels ? labels : json_object());
		cl_set_label(obj, LABEL_HASH, hash);
		char rev[24];
		snprintf(rev, sizeof rev, "%ld", max_rev + 1);
		cl_set_annotation(obj, "deployment.kubernetes.io/revision", rev);
		char desired[24];
		snprintf(desired, sizeof desired, "%ld", want);
		cl_set_annotation(obj, "deployment.kubernetes.io/desired-replicas", desired);
		json_object_set_new(json_object_get(obj, "metadata"), "ownerReferences", json_pack("[o]", cl_owner_ref(d)));
		if (cl_create(c, cl_res_rs, cl_ns(d), obj, NULL) == 0)
			sim_api_event(c->st, d, "Normal", "ScalingReplicaSet", "Scaled up replica set %s to %ld", name, new_want);
		json_decref(obj);
		free(name);
	} else if (vs_json_int(new_rs, "spec.replicas", -1) != new_want) {
		json_t *copy = json_deep_copy(new_rs);
		vs_json_set_path(copy, "spec.replicas", json_integer(new_want));
		if (cl_update(c, cl_res_rs, copy, SIM_UPDATE_MAIN) == 0)
			sim_api_event(c->st, d, "Normal", "ScalingReplicaSet", "Scaled %s replica set %s to %ld",
				      new_want > vs_json_int(new_rs, "spec.replicas", 0) ? "up" : "down", cl_name(new_rs),
				      new_want);
		json_decref(copy);
	}
	long replicas = 0, ready = 0, available = 0, updated = 0;
	json_array_foreach(owned, i, rs) {
		replicas += (long)vs_json_int(rs, "status.replicas", 0);
		ready += (long)vs_json_int(rs, "status.readyReplicas", 0);
		available += (long)vs_json_int(rs, "status.availableReplicas", 0);
	}
	if (new_rs)
		updated = (long)vs_json_int(new_rs, "status.replicas", 0);
	bool is_available = available >= want - max_unavailable(d, want);
	bool complete = new_rs && updated == want && replicas == want && available == want;
	char msg[256];
	json_t *conds = json_array();
	json_array_append_new(conds, condition(d, "Available", is_available,
					       is_available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
					       is_available ? "Deployment has minimum availability."
							    : "Deployment does not have minimum availability."));
	snprintf(msg, sizeof msg, "ReplicaSet \"%s-%s\" %s.", cl_name(d), hash,
		 complete ? "has successfully progressed" : "is progressing");
	json_array_append_new(conds, condition(d, "Progressing", true, complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
					       msg));
	json_t *st = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "observedGeneration",
			       (json_int_t)vs_json_int(d, "metadata.generation", 1), "replicas", (json_int_t)replicas,
			       "updatedReplicas", (json_int_t)updated, "readyReplicas", (json_int_t)ready, "availableReplicas",
			       (json_int_t)available, "unavailableReplicas",
			       (json_int_t)(want - available > 0 ? want - available : 0), "conditions", conds);
	merge_status(c, cl_res_deploy, d, st);
	json_decref(owned);
}

/* ---- StatefulSet ------------------------------------------------------------------------------ */

static long ordinal_of(const json_t *sts, const json_t *pod)
{
	const char *name = cl_name(pod), *sn = cl_name(sts);
	size_t l = strlen(sn);
	if (strncmp(name, sn, l) != 0 || name[l] != '-' || !name[l + 1])
		return -1;
	char *end;
	long o = strtol(name + l + 1, &end, 10);
	return *end || o < 0 ? -1 : o;
}

static bool pvc_retention_delete(const json_t *sts)
{
	const char *w = vs_json_str(sts, "spec.persistentVolumeClaimRetentionPolicy.whenDeleted");
	return w && strcmp(w, "Delete") == 0;
}

static void ensure_claims(sim_cluster *c, const json_t *sts, long ord)
{
	size_t i;
	json_t *t;
	json_array_foreach(vs_json_path(sts, "spec.volumeClaimTemplates"), i, t) {
		const char *tn = cl_name(t);
		if (!tn)
			continue;
		char *name = vs_xasprintf("%s-%s-%ld", tn, cl_name(sts), ord);
		if (!cl_lists_find(c->workload_lists, cl_res_pvc, cl_ns(sts), name)) {
			json_t *pvc = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "PersistentVolumeClaim",
						"metadata", "name", name, "namespace", cl_ns(sts));
			json_t *labels = json_deep_copy(vs_json_path(t, "metadata.labels"));
			if (!labels)
				labels = json_object();
			const char *k;
			json_t *v;
			json_object_foreach(vs_json_path(sts, "spec.selector.matchLabels"), k, v)
				json_object_set(labels, k, v);
			json_object_set_new(json_object_get(pvc, "metadata"), "labels", labels);
			const json_t *anns = vs_json_path(t, "metadata.annotations");
			if (anns)
				json_object_set_new(json_object_get(pvc, "metadata"), "annotations", json_deep_copy(anns));
			if (pvc_retention_delete(sts))
				json_object_set_new(json_object_get(pvc, "metadata"), "ownerReferences",
						    json_pack("[o]", cl_owner_ref(sts)));
			const json_t *spec = json_object_get(t, "spec");
			json_object_set_new(pvc, "spec", spec ? json_deep_copy(spec) : json_object());
			if (cl_create(c, cl_res_pvc, cl_ns(sts), pvc, NULL) == 0)
				sim_api_event(c->st, sts, "Normal", "SuccessfulCreate",
					      "create Claim %s Pod %s-%ld in StatefulSet %s success", name, cl_name(sts), ord,
					      cl_name(sts));
			json_decref(pvc);
		}
		free(name);
	}
}

static json_t *sts_pod(const json_t *sts, long ord, const char *rev)
{
	char *name = vs_xasprintf("%s-%ld", cl_name(sts), ord);
	json_t *pod = pod_from_template(sts, vs_json_path(sts, "spec.template"), name);
	char idx[24];
	snprintf(idx, sizeof idx, "%ld", ord);
	cl_set_label(pod, "statefulset.kubernetes.io/pod-name", name);
	cl_set_label(pod, "apps.kubernetes.io/pod-index", idx);
	cl_set_label(pod, LABEL_REV, rev);
	json_t *spec = json_object_get(pod, "spec");
	json_object_set_new(spec, "hostname", json_string(name));
	const char *svc = vs_json_str(sts, "spec.serviceName");
	if (svc && *svc)
		json_object_set_new(spec, "subdomain", json_string(svc));
	json_t *vols = json_object_get(spec, "volumes");
	if (!json_is_array(vols)) {
		vols = json_array();
		json_object_set_new(spec, "volumes", vols);
	}
	size_t i;
	json_t *t;
	json_array_foreach(vs_json_path(sts, "spec.volumeClaimTemplates"), i, t) {
		const char *tn = cl_name(t);
		if (!tn)
			continue;
		for (size_t k = 0; k < json_array_size(vols); k++) {
			const char *vn = vs_json_str(json_array_get(vols, k), "name");
			if (vn && strcmp(vn, tn) == 0) {
				json_array_remove(vols, k);
				break;
			}
		}
		char *claim = vs_xasprintf("%s-%s-%ld", tn, cl_name(sts), ord);
		json_array_append_new(vols, json_pack("{s:s, s:{s:s}}", "name", tn, "persistentVolumeClaim", "claimName", claim));
		free(claim);
	}
	free(name);
	return pod;
}

static void sync_statefulset(sim_cluster *c, const json_t *sts, const json_t *all_pods)
{
	if (cl_deleting(sts))
		return;
	char *prefix = vs_xasprintf("%s-", cl_name(sts));
	adopt_orphans(c, sts, all_pods, prefix);
	free(prefix);
	char hash[16], rev[64];
	template_hash(vs_json_path(sts, "spec.template"), hash);
	snprintf(rev, sizeof rev, "%s-%s", cl_name(sts), hash);
	long want = (long)vs_json_int(sts, "spec.replicas", 1);
	const char *pmp = vs_json_str(sts, "spec.podManagementPolicy");
	bool parallel = pmp && strcmp(pmp, "Parallel") == 0;
	json_t *owned = owned_by(all_pods, cl_uid(sts));
	long n = want;
	size_t i;
	json_t *p;
	json_array_foreach(owned, i, p) {
		long o = ordinal_of(sts, p);
		if (o + 1 > n)
			n = o + 1;
	}
	json_t **by_ord = vs_xcalloc((size_t)n + 1, sizeof *by_ord);
	json_array_foreach(owned, i, p) {
		long o = ordinal_of(sts, p);
		if (o >= 0)
			by_ord[o] = p;
	}
	bool all_ready = true, terminating = false;
	for (long o = 0; o < n; o++)
		if (by_ord[o] && cl_deleting(by_ord[o]))
			terminating = true;
	/* scale up (and replace failed pods) */
	for (long o = 0; o < want; o++) {
		json_t *pod = by_ord[o];
		if (pod && !cl_deleting(pod)) {
			const char *phase = vs_json_str(pod, "status.phase");
			if (phase && (strcmp(phase, "Failed") == 0 || strcmp(phase, "Succeeded") == 0)) {
				cl_delete(c, cl_res_pod, cl_ns(sts), cl_name(pod), -1);
				all_ready = false;
				if (!parallel)
					break;
				continue;
			}
		}
		if (!pod) {
			if (!parallel && (!all_ready || terminating))
				break;
			ensure_claims(c, sts, o);
			json_t *np = sts_pod(sts, o, rev);
			if (cl_create(c, cl_res_pod, cl_ns(sts), np, NULL) == 0)
				sim_api_event(c->st, sts, "Normal", "SuccessfulCreate", "create Pod %s in StatefulSet %s successful",
					      cl_name(np), cl_name(sts));
			json_decref(np);
			all_ready = false;
			if (!parallel)
				break;
			continue;
		}
		if (!cl_pod_ready(pod) || cl_deleting(pod))
			all_ready = false;
	}
	/* scale down: highest ordinal first (one at a time unless Parallel) */
	for (long o = n - 1; o >= want; o--) {
		json_t *pod = by_ord[o];
		if (!pod)
			continue;
		if (cl_deleting(pod)) {
			if (!parallel)
				break;
			continue;
		}
		if (cl_delete(c, cl_res_pod, cl_ns(sts), cl_name(pod), -1) == 0)
			sim_api_event(c->st, sts, "Normal", "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful",
				      cl_name(pod), cl_name(sts));
		if (!parallel)
			break;
	}
	/* rolling update: replace the highest outdated pod once every pod is ready */
	const char *ust = vs_json_str(sts, "spec.updateStrategy.type");
	bool rolling = !ust || strcmp(ust, "RollingUpdate") == 0;
	if (rolling && all_ready && !terminating) {
		for (long o = want - 1; o >= 0; o--) {
			json_t *pod = by_ord[o];
			const char *pr = pod ? json_string_value(json_object_get(vs_json_path(pod, "metadata.labels"), LABEL_REV))
					     : NULL;
			if (pod && (!pr || strcmp(pr, rev) != 0)) {
				cl_delete(c, cl_res_pod, cl_ns(sts), cl_name(pod), -1);
				break;
			}
		}
	}
	long replicas = 0, ready = 0, updated = 0;
	for (long o = 0; o < n; o++) {
		json_t *pod = by_ord[o];
		if (!pod || cl_deleting(pod))
			continue;
		replicas++;
		ready += cl_pod_ready(pod);
		const char *pr = json_string_value(json_object_get(vs_json_path(pod, "metadata.labels"), LABEL_REV));
		updated += pr && strcmp(pr, rev) == 0;
	}
	merge_status(c, cl_res_sts, sts,
		     json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:i}", "observedGeneration",
			       (json_int_t)vs_json_int(sts, "metadata.generation", 1), "replicas", (json_int_t)replicas,
			       "readyReplicas", (json_int_t)ready, "currentReplicas", (json_int_t)updated, "updatedReplicas",
			       (json_int_t)updated, "availableReplicas", (json_int_t)ready, "currentRevision", rev,
			       "updateRevision", rev, "collisionCount", 0));
	free(by_ord);
	json_decref(owned);
}

/* ---- DaemonSet -------------------------------------------------------------------------------- */

#define DS_TERMS "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"

/* The node a DaemonSet pod is for: its nodeName once scheduled, else its matchFields metadata.name. */
static const char *ds_pod_node(const json_t *pod)
{
	const char *nn = vs_json_str(pod, "spec.nodeName");
	const json_t *f = json_array_get(json_object_get(json_array_get(vs_json_path(pod, DS_TERMS), 0), "matchFields"), 0);

	return nn ? nn : json_string_value(json_array_get(json_object_get(f, "values"), 0));
}

/*
 * As the real DaemonSet controller does, a pod is tied to its node by a required node affinity on
 * metadata.name (replacing the matchFields of every term the user wrote, keeping the rest), not by
 * nodeName: the scheduler places it, so WaitForFirstConsumer claims get their node.
 */
static void ds_pin_to_node(json_t *pod, const char *node)
{
	json_t *field = json_pack("[{s:s, s:s, s:[s]}]", "key", "metadata.name", "operator", "In", "values", node);
	json_t *terms = vs_json_path(pod, DS_TERMS), *term;
	size_t i;

	if (json_array_size(terms) == 0) {
		vs_json_set_path(pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
				 json_pack("{s:[{s:O}]}", "nodeSelectorTerms", "matchFields", field));
	} else {
		json_array_foreach(terms, i, term) json_object_set(term, "matchFields", field);
	}
	json_decref(field);
}

static void sync_daemonset(sim_cluster *c, const json_t *ds, const json_t *all_pods, const json_t *nodes)
{
	if (cl_deleting(ds))
		return;
	json_t *owned = owned_by(all_pods, cl_uid(ds));
	const json_t *tspec = vs_json_path(ds, "spec.template.spec");
	long desired = 0, current = 0, ready = 0;
	size_t i, k;
	json_t *node, *p;
	json_array_foreach(nodes, i, node) {
		bool fits = cl_node_matches_pod(node, tspec);
		json_t *mine = NULL;
		json_array_foreach(owned, k, p) {
			const char *nn = ds_pod_node(p);
			if (nn && strcmp(nn, cl_name(node)) == 0 && !cl_deleting(p))
				mine = p;
		}
		if (fits) {
			desired++;
			if (mine) {
				const char *phase = vs_json_str(mine, "status.phase");
				if (phase && strcmp(phase, "Failed") == 0)
					cl_delete(c, cl_res_pod, cl_ns(ds), cl_name(mine), -1);
				current++;
				ready += cl_pod_ready(mine);
				continue;
			}
			char suffix[8];
			cl_rand_suffix(suffix, 5);
			char *name = vs_xasprintf("%s-%s", cl_name(ds), suffix);
			json_t *pod = pod_from_template(ds, vs_json_path(ds, "spec.template"), name);
			ds_pin_to_node(pod, cl_name(node));
			if (cl_create(c, cl_res_pod, cl_ns(ds), pod, NULL) == 0)
				sim_api_event(c->st, ds, "Normal", "SuccessfulCreate", "Created pod: %s", name);
			json_decref(pod);
			free(name);
		} else if (mine) {
			cl_delete(c, cl_res_pod, cl_ns(ds), cl_name(mine), -1);
		}
	}
	/* pods on nodes that are gone */
	json_array_foreach(owned, k, p) {
		const char *nn = ds_pod_node(p);
		if (nn && !cl_find(nodes, NULL, nn) && !cl_deleting(p))
			cl_delete(c, cl_res_pod, cl_ns(ds), cl_name(p), -1);
	}
	merge_status(c, cl_res_ds, ds,
		     json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "observedGeneration",
			       (json_int_t)vs_json_int(ds, "metadata.generation", 1), "desiredNumberScheduled",
			       (json_int_t)desired, "currentNumberScheduled", (json_int_t)current, "numberReady",
			       (json_int_t)ready, "numberAvailable", (json_int_t)ready, "updatedNumberScheduled",
			       (json_int_t)current, "numberUnavailable", (json_int_t)(desired - ready), "numberMisscheduled", 0));
	json_decref(owned);
}

/* ---- Job -------------------------------------------------------------------------------------- */

static bool has_condition(const json_t *obj, const char *type)
{
	size_t i;
	json_t *cnd;
	json_array_foreach(vs_json_path(obj, "status.conditions"), i, cnd) {
		const char *t = vs_json_str(cnd, "type"), *s = vs_json_str(cnd, "status");
		if (t && s && strcmp(t, type) == 0 && strcmp(s, "True") == 0)
			return true;
	}
	return false;
}

static bool job_finished(const json_t *job) { return has_condition(job, "Complete") || has_condition(job, "Failed"); }

/* newCondition: a True condition of a Job (reason and message omitted when NULL); one the Job has
 * already keeps its times (new reference). */
static json_t *job_condition(const json_t *job, const char *type, const char *reason, const char *message)
{
	char now[32];
	vs_time_format(vs_time_now(), now);
	json_t *cnd = json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s*}", "type", type, "status", "True", "lastProbeTime",
				now, "lastTransitionTime", now, "reason", reason, "message", message);
	size_t i;
	json_t *old;
	json_array_foreach (vs_json_path(job, "status.conditions"), i, old) {
		if (strcmp(vs_json_str(old, "type") ?: "", type) == 0 &&
		    strcmp(vs_json_str(old, "status") ?: "", "True") == 0)
			for (const char *const *k =
				     (const char *const[]){ "lastProbeTime", "lastTransitionTime", NULL };
			     *k; k++)
				if (json_object_get(old, *k))
					json_object_set(cnd, *k, json_object_get(old, *k));
	}
	return cnd;
}

static bool phase_is(const json_t *pod, const char *phase)
{
	const char *ph = vs_json_str(pod, "status.phase");
	return ph && strcmp(ph, phase) == 0;
}
static bool pod_succeeded(const json_t *pod) { return phase_is(pod, "Succeeded"); }
static bool pod_failed(const json_t *pod) { return phase_is(pod, "Failed"); }

static bool has_tracking_finalizer(const json_t *pod)
{
	size_t i;
	json_t *f;
	json_array_foreach(vs_json_path(pod, "metadata.finalizers"), i, f) {
		const char *s = json_string_value(f);
		if (s && strcmp(s, JOB_TRACKING) == 0)
			return true;
	}
	return false;
}

/* The Job controller's patch that removes its finalizer from pod (read, then write; again on a
 * conflict, as a patch would not conflict): true once the finalizer is gone, or the pod. */
static bool release_pod(sim_cluster *c, const json_t *pod)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		json_t *cur = cl_get(c, cl_res_pod, cl_ns(pod), cl_name(pod));
		if (!cur || strcmp(cl_uid(cur) ?: "", cl_uid(pod) ?: "") != 0 || !has_tracking_finalizer(cur)) {
			json_decref(cur);
			return true;
		}
		json_t *meta = json_object_get(cur, "metadata"), *keep = json_array(), *f;
		size_t i;
		json_array_foreach(json_object_get(meta, "finalizers"), i, f)
			if (strcmp(json_string_value(f) ?: "", JOB_TRACKING) != 0)
				json_array_append(keep, f);
		if (json_array_size(keep) > 0)
			json_object_set(meta, "finalizers", keep);
		else
			json_object_del(meta, "finalizers");
		json_decref(keep);
		int rc = cl_update(c, cl_res_pod, cur, SIM_UPDATE_MAIN);
		json_decref(cur);
		if (rc == 0)
			return true;
	}
	return false;
}

/*
 * The Job controller's orphan worker: a pod that carries the tracking finalizer but whose Job is
 * gone, finished or not its controller any more loses the finalizer (the Job's own sync frees the
 * pods of a Job that is being deleted).
 */
static void release_orphans(sim_cluster *c, const json_t *pods, const json_t *jobs)
{
	size_t i, k;
	json_t *p, *j;
	json_array_foreach(pods, i, p) {
		if (!has_tracking_finalizer(p))
			continue;
		const char *owner = cl_controller_uid(p);
		const json_t *job = NULL;
		json_array_foreach(jobs, k, j)
			if (owner && cl_uid(j) && strcmp(owner, cl_uid(j)) == 0)
				job = j;
		if (!job || job_finished(job))
			release_pod(c, p);
	}
}

/* status.uncountedTerminatedPods: the pods counted, or about to be, but not in the counters yet. */
struct uncounted {
	json_t *succeeded, *failed; /* uid -> true */
};

static json_t *uid_set(const json_t *job, const char *path)
{
	json_t *set = json_object(), *u;
	size_t i;
	json_array_foreach(vs_json_path(job, path), i, u)
		if (json_string_value(u))
			json_object_set_new(set, json_string_value(u), json_true());
	return set;
}

/* getStatus: the counters in the Job's status, its uncounted pods, and its pods that still carry the
 * finalizer and have finished (or, not having succeeded, are being deleted). */
static void job_counts(const json_t *job, const json_t *owned, const struct uncounted *u, long *succeeded,
		       long *failed)
{
	size_t i;
	json_t *p;
	*succeeded = (long)vs_json_int(job, "status.succeeded", 0) + (long)json_object_size(u->succeeded);
	*failed = (long)vs_json_int(job, "status.failed", 0) + (long)json_object_size(u->failed);
	json_array_foreach(owned, i, p) {
		if (!has_tracking_finalizer(p))
			continue;
		if (pod_succeeded(p))
			*succeeded += !json_object_get(u->succeeded, cl_uid(p));
		else if (pod_failed(p) || cl_deleting(p))
			*failed += !json_object_get(u->failed, cl_uid(p));
	}
}

/* Moves into the counters of status the uncounted pods that no longer carry the finalizer (those in
 * with_finalizer still do); true when it moved any. */
static bool count_released(json_t *status, const char *counter, json_t *uids, const json_t *with_finalizer)
{
	const char *uid;
	json_t *v, *tmp;
	long moved = 0;
	json_object_foreach_safe(uids, tmp, uid, v) {
		if (json_object_get(with_finalizer, uid))
			continue;
		json_object_del(uids, uid);
		moved++;
	}
	if (moved)
		json_object_set_new(status, counter, json_integer(vs_json_int(status, counter, 0) + moved));
	return moved > 0;
}

static void set_uncounted(json_t *status, const struct uncounted *u)
{
	json_t *out = json_object();
	const struct {
		const char *name;
		const json_t *set;
	} lists[] = {{"succeeded", u->succeeded}, {"failed", u->failed}};
	for (size_t k = 0; k < 2; k++) {
		if (json_object_size(lists[k].set) == 0)
			continue;
		json_t *arr = json_array();
		const char *uid;
		json_t *v;
		json_object_foreach((json_t *)lists[k].set, uid, v) json_array_append_new(arr, json_string(uid));
		json_object_set_new(out, lists[k].name, arr);
	}
	json_object_set_new(status, "uncountedTerminatedPods", out);
}

/* Writes a copy of status as the Job's (the store keeps what it is given, and status changes
 * after); *job becomes the object written (the reference is replaced). */
static int write_job_status(sim_cluster *c, json_t **job, const json_t *status)
{
	if (json_equal(status, json_object_get(*job, "status")))
		return 0;
	json_t *copy = json_deep_copy(*job), *out = NULL;
	json_object_set_new(copy, "status", json_deep_copy(status));
	vs_error err;
	vs_error_clear(&err);
	int rc = sim_api_update(c->st, cl_res_job, cl_ns(copy), copy, SIM_UPDATE_STATUS, &out, &err);
	json_decref(copy);
	if (rc != 0) {
		vs_debug("workload: job %s/%s status: %s (will retry)", cl_ns(*job), cl_name(*job), err.message);
		return -1;
	}
	json_decref(*job);
	*job = out;
	return 0;
}

/*
 * trackJobStatusAndRemoveFinalizers: a pod is counted once, through the finalizer the Job put on
 * it. A pod that has finished (or is being deleted, or belongs to a Job that finishes now or is
 * being deleted) goes into status.uncountedTerminatedPods, which is written first; then its
 * finalizer is removed; then, only for the pods whose finalizer is gone, the counters go up and
 * the uids leave the uncounted list. A pod deleted afterwards takes nothing from the counters, and
 * a crash between the steps neither loses nor doubles a count. The condition that finishes the
 * Job (finished) is added only once nothing is left uncounted.
 */
static void track_job_pods(sim_cluster *c, const json_t *job, const json_t *owned, json_t *status,
			      struct uncounted *u, json_t *finished)
{
	json_t *cur = json_incref((json_t *)job), *with_finalizer = json_object(), *release = json_array(), *p;
	bool flush = false;
	size_t i;
	json_array_foreach(owned, i, p)
		if (has_tracking_finalizer(p))
			json_object_set_new(with_finalizer, cl_uid(p), json_true());
	flush |= count_released(status, "succeeded", u->succeeded, with_finalizer);
	flush |= count_released(status, "failed", u->failed, with_finalizer);
	json_array_foreach(owned, i, p) {
		if (!has_tracking_finalizer(p))
			continue;
		bool terminating = cl_deleting(p) || finished;
		if (pod_succeeded(p) || pod_failed(p) || terminating || cl_deleting(job))
			json_array_append(release, p);
		json_t *set = pod_succeeded(p) ? u->succeeded : pod_failed(p) || terminating ? u->failed : NULL;
		if (set && !json_object_get(set, cl_uid(p))) {
			json_object_set_new(set, cl_uid(p), json_true());
			flush = true;
		}
	}
	set_uncounted(status, u);
	if (flush && write_job_status(c, &cur, status) != 0)
		goto done; /* nothing released: the next pass starts again */
	json_array_foreach(release, i, p)
		if (release_pod(c, p))
			json_object_del(with_finalizer, cl_uid(p));
	count_released(status, "succeeded", u->succeeded, with_finalizer);
	count_released(status, "failed", u->failed, with_finalizer);
	set_uncounted(status, u);
	bool enact = finished && json_object_size(u->succeeded) + json_object_size(u->failed) == 0;
	bool complete = enact && strcmp(vs_json_str(finished, "type") ?: "", "Complete") == 0;
	if (enact) { /* enactJobFinished */
		json_object_set_new(status, "conditions", json_pack("[O]", finished));
		if (complete)
			json_object_set(status, "completionTime", json_object_get(finished, "lastTransitionTime"));
	}
	if (write_job_status(c, &cur, status) == 0 && enact)
		sim_api_event(c->st, job, complete ? "Normal" : "Warning",
			      complete ? "Completed" : vs_json_str(finished, "reason"), "%s",
			      complete ? "Job completed" : vs_json_str(finished, "message"));
done:
	json_decref(release);
	json_decref(with_finalizer);
	json_decref(cur);
}

/* The epoch seconds at ts, or fallback when there is none. */
static int64_t time_or(const char *ts, int64_t fallback)
{
	int64_t t;
	return ts && vs_time_parse(ts, &t, NULL) == 0 ? t : fallback;
}

/*
 * getFinishedTime: when a finished pod finished: the last end of its containers when they have all
 * ended, else when it stopped being Ready, else when it was deleted, else when it was created.
 */
static int64_t pod_finish_time(const json_t *pod)
{
	int64_t created = time_or(vs_json_str(pod, "metadata.creationTimestamp"), 0), last = -1;
	size_t i;
	json_t *cs, *cnd;
	json_array_foreach (vs_json_path(pod, "status.containerStatuses"), i, cs) {
		int64_t t = time_or(vs_json_str(cs, "state.terminated.finishedAt"), -1);
		if (t < 0) {
			last = -1;
			break;
		}
		last = t > last ? t : last;
	}
	if (last >= 0)
		return last;
	json_array_foreach (vs_json_path(pod, "status.conditions"), i, cnd)
		if (strcmp(vs_json_str(cnd, "type") ?: "", "Ready") == 0 &&
		    strcmp(vs_json_str(cnd, "status") ?: "", "False") == 0)
			return time_or(vs_json_str(cnd, "lastTransitionTime"), created);
	if (cl_deleting(pod))
		return time_or(vs_json_str(pod, "metadata.deletionTimestamp"), created) -
		       vs_json_int(pod, "metadata.deletionGracePeriodSeconds", 0);
	return created;
}

/*
 * backoffRecord.getRemainingTime, from the pods the Job has: the seconds it must still wait before
 * it creates a pod, counted from the last failure since the last success (0: none to wait).
 */
static int64_t job_backoff_left(const json_t *owned)
{
	int64_t last_success = -1, last_failure = -1, failures = 0, delay = JOB_BACKOFF_S;
	size_t i;
	json_t *p;
	json_array_foreach (owned, i, p)
		if (pod_succeeded(p) && pod_finish_time(p) > last_success)
			last_success = pod_finish_time(p);
	json_array_foreach (owned, i, p) {
		int64_t t = pod_finish_time(p);
		if (!pod_failed(p) || t <= last_success)
			continue;
		failures++;
		last_failure = t > last_failure ? t : last_failure;
	}
	if (failures == 0)
		return 0;
	for (int64_t k = 1; k < failures && delay < JOB_BACKOFF_MAX_S; k++)
		delay = delay * 2 < JOB_BACKOFF_MAX_S ? delay * 2 : JOB_BACKOFF_MAX_S;
	int64_t left = last_failure + delay - vs_time_now();
	return left > 0 ? left : 0;
}

/* pastBackoffLimitOnFailure: with restartPolicy OnFailure, the restarts of the containers of the
 * Job's running and pending pods reach the backoff limit (any restart when it is 0). */
static bool past_backoff_limit_on_failure(const json_t *job, const json_t *owned, long limit)
{
	const char *policy = vs_json_str(job, "spec.template.spec.restartPolicy");
	long restarts = 0;
	size_t i, k;
	json_t *p, *cs;
	if (!policy || strcmp(policy, "OnFailure") != 0)
		return false;
	json_array_foreach (owned, i, p) {
		if (!phase_is(p, "Running") && !phase_is(p, "Pending"))
			continue;
		json_array_foreach (vs_json_path(p, "status.initContainerStatuses"), k, cs)
			restarts += (long)vs_json_int(cs, "restartCount", 0);
		json_array_foreach (vs_json_path(p, "status.containerStatuses"), k, cs)
			restarts += (long)vs_json_int(cs, "restartCount", 0);
	}
	return limit == 0 ? restarts > 0 : restarts >= limit;
}

/* pastActiveDeadline: the Job has been active (started, not suspended) for activeDeadlineSeconds. */
static bool past_active_deadline(const json_t *job)
{
	const json_t *deadline = vs_json_path(job, "spec.activeDeadlineSeconds");
	const char *start = vs_json_str(job, "status.startTime");
	if (!json_is_integer(deadline) || !start || vs_json_bool(job, "spec.suspend", false))
		return false;
	return vs_time_now() - time_or(start, vs_time_now()) >= json_integer_value(deadline);
}

/* The condition that finishes the Job in this pass, or NULL, in syncJob's order: the backoff limit,
 * the active deadline, then completion (new reference). */
static json_t *job_finish_condition(const json_t *job, const json_t *owned, long succeeded, long failed)
{
	long backoff = (long)vs_json_int(job, "spec.backoffLimit", 6);
	if (failed > backoff || past_backoff_limit_on_failure(job, owned, backoff))
		return job_condition(job, "Failed", "BackoffLimitExceeded",
				     "Job has reached the specified backoff limit");
	if (past_active_deadline(job))
		return job_condition(job, "Failed", "DeadlineExceeded",
				     "Job was active longer than specified deadline");
	if (succeeded >= (long)vs_json_int(job, "spec.completions", 1))
		return job_condition(job, "Complete", NULL, NULL);
	return NULL;
}

/* A pod of the Job, with the Job's labels and its tracking finalizer (new reference). */
static json_t *job_pod(const json_t *job)
{
	char suffix[8];
	cl_rand_suffix(suffix, 5);
	char *name = vs_xasprintf("%s-%s", cl_name(job), suffix);
	json_t *pod = pod_from_template(job, vs_json_path(job, "spec.template"), name);
	free(name);
	cl_set_label(pod, "job-name", cl_name(job));
	cl_set_label(pod, "controller-uid", cl_uid(job));
	cl_set_label(pod, "batch.kubernetes.io/job-name", cl_name(job));
	cl_set_label(pod, "batch.kubernetes.io/controller-uid", cl_uid(job));
	json_object_set_new(json_object_get(pod, "metadata"), "finalizers", json_pack("[s]", JOB_TRACKING));
	return pod;
}

static void sync_job(sim_cluster *c, const json_t *job, const json_t *all_pods)
{
	if (job_finished(job))
		return; /* IsJobFinished: its counts and conditions stay as they are */
	json_t *owned = owned_by(all_pods, cl_uid(job));
	json_t *active = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(owned, i, p)
		if (cl_pod_active(p))
			json_array_append(active, p);
	struct uncounted u = {uid_set(job, "status.uncountedTerminatedPods.succeeded"),
			      uid_set(job, "status.uncountedTerminatedPods.failed")};
	long succeeded, failed;
	job_counts(job, owned, &u, &succeeded, &failed);
	long completions = (long)vs_json_int(job, "spec.completions", 1);
	long parallelism = (long)vs_json_int(job, "spec.parallelism", 1);
	bool suspended = vs_json_bool(job, "spec.suspend", false), deleting = cl_deleting(job);
	char now[32];
	vs_time_format(vs_time_now(), now);
	json_t *st = json_is_object(json_object_get(job, "status")) ? json_deep_copy(json_object_get(job, "status"))
								      : json_object();
	json_t *finished = job_finish_condition(job, owned, succeeded, failed);
	long nactive = (long)json_array_size(active);
	if (finished || suspended) {
		/* deleteActivePods keeps the finalizer (the pods count as failed); a suspension's
		 * deleteJobPods removes it first (they do not count); the pod control records each */
		json_array_foreach(active, i, p) {
			if (!finished)
				release_pod(c, p);
			if (cl_delete(c, cl_res_pod, cl_ns(job), cl_name(p), -1) == 0)
				sim_api_event(c->st, job, "Normal", "SuccessfulDelete", "Deleted pod: %s", cl_name(p));
		}
		nactive = 0;
	} else if (!deleting && job_backoff_left(owned) == 0) {
		long remaining = completions - succeeded;
		long target = remaining < parallelism ? remaining : parallelism;
		for (long k = nactive; k < target; k++) {
			json_t *pod = job_pod(job);
			if (cl_create(c, cl_res_pod, cl_ns(job), pod, NULL) == 0) {
				sim_api_event(c->st, job, "Normal", "SuccessfulCreate", "Created pod: %s",
					      cl_name(pod));
				nactive++;
			}
			json_decref(pod);
		}
	}
	if (!vs_json_str(job, "status.startTime") && !suspended)
		json_object_set_new(st, "startTime", json_string(now));
	json_object_set_new(st, "active", json_integer(nactive));
	json_object_set_new(st, "ready", json_integer(count_where(active, cl_pod_ready)));
	if (suspended && !finished) {
		json_t *cnd = job_condition(job, "Suspended", "JobSuspended", "Job suspended");
		json_object_set_new(st, "conditions", json_pack("[o]", cnd));
	}
	track_job_pods(c, job, owned, st, &u, finished);
	json_decref(finished);
	json_decref(st);
	json_decref(u.succeeded);
	json_decref(u.failed);
	json_decref(active);
	json_decref(owned);
}

/* ---- CronJob ---------------------------------------------------------------------------------- */

/* True when value matches one cron field ("*", "5", "1-5", "*\/10", "1,2,10-20/2"). */
static bool cron_field_matches(const char *field, int value, int lo, int hi)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", field);
	char *save = NULL;
	for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		int step = 1, a = lo, b = hi;
		char *slash = strchr(item, '/');
		if (slash) {
			*slash = '\0';
			step = atoi(slash + 1);
			if (step <= 0)
				return false;
		}
		if (strcmp(item, "*") != 0 && strcmp(item, "?") != 0) {
			char *dash = strchr(item, '-');
			a = atoi(item);
			b = dash ? atoi(dash + 1) : (slash ? hi : a);
		}
		if (value >= a && value <= b && (value - a) % step == 0)
			return true;
	}
	return false;
}

static bool cron_matches(const char *schedule, int64_t t)
{
	static const struct {
		const char *macro, *expansion;
	} macros[] = {{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
		      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},     {"@midnight", "0 0 * * *"},
		      {"@hourly", "0 * * * *"}};
	for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
		if (strcmp(schedule, macros[i].macro) == 0)
			schedule = macros[i].expansion;
	char f[5][64];
	if (sscanf(schedule, "%63s %63s %63s %63s %63s", f[0], f[1], f[2], f[3], f[4]) != 5)
		return false;
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	int dow = tm.tm_wday;
	bool dom_any = f[2][0] == '*', dow_any = f[4][0] == '*';
	bool dom = cron_field_matches(f[2], tm.tm_mday, 1, 31);
	bool dw = cron_field_matches(f[4], dow, 0, 7) || (dow == 0 && cron_field_matches(f[4], 7, 0, 7));
	bool day = dom_any || dow_any ? dom && dw : dom || dw;
	return cron_field_matches(f[0], tm.tm_min, 0, 59) && cron_field_matches(f[1], tm.tm_hour, 0, 23) &&
	       cron_field_matches(f[3], tm.tm_mon + 1, 1, 12) && day;
}

static void sync_cronjob(sim_cluster *c, const json_t *cj, const json_t *jobs)
{
	if (cl_deleting(cj))
		return;
	json_t *owned = owned_by(jobs, cl_uid(cj));
	json_t *active = json_array();
	size_t i;
	json_t *j;
	json_array_foreach(owned, i, j)
		if (!job_finished(j) && !cl_deleting(j))
			json_array_append_new(active, json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "Job", "namespace",
								 cl_ns(j), "name", cl_name(j), "uid", cl_uid(j),
								 "apiVersion", "batch/v1"));
	int64_t now = vs_time_now();
	int64_t last = 0;
	const char *lst = vs_json_str(cj, "status.lastScheduleTime");
	if (!lst)
		lst = vs_json_str(cj, "metadata.creationTimestamp");
	if (lst)
		vs_time_parse(lst, &last, NULL);
	const char *sched = vs_json_str(cj, "spec.schedule");
	int64_t due = 0;
	if (sched && !vs_json_bool(cj, "spec.suspend", false)) {
		int64_t from = last / 60 * 60 + 60;
		if (from < now - 100 * 60)
			from = (now - 100 * 60) / 60 * 60;
		for (int64_t t = now / 60 * 60; t >= from; t -= 60)
			if (cron_matches(sched, t)) {
				due = t;
				break;
			}
	}
	json_t *st = json_object();
	if (due) {
		const char *policy = vs_json_str(cj, "spec.concurrencyPolicy");
		bool skip = policy && strcmp(policy, "Forbid") == 0 && json_array_size(active) > 0;
		if (policy && strcmp(policy, "Replace") == 0) {
			json_array_foreach(active, i, j) cl_delete(c, cl_res_job, cl_ns(cj), vs_json_str(j, "name"), -1);
		}
		if (!skip) {
			char *name = vs_xasprintf("%s-%lld", cl_name(cj), (long long)(due / 60));
			json_t *job = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "batch/v1", "kind", "Job", "metadata",
						"name", name, "namespace", cl_ns(cj));
			json_t *meta = json_object_get(job, "metadata");
			const json_t *labels = vs_json_path(cj, "spec.jobTemplate.metadata.labels");
			const json_t *anns = vs_json_path(cj, "spec.jobTemplate.metadata.annotations");
			json_object_set_new(meta, "labels", labels ? json_deep_copy(labels) : json_object());
			json_object_set_new(meta, "annotations", anns ? json_deep_copy(anns) : json_object());
			char ts[32];
			vs_time_format(due, ts);
			cl_set_annotation(job, "batch.kubernetes.io/cronjob-scheduled-timestamp", ts);
			json_object_set_new(meta, "ownerReferences", json_pack("[o]", cl_owner_ref(cj)));
			const json_t *spec = vs_json_path(cj, "spec.jobTemplate.spec");
			json_object_set_new(job, "spec", spec ? json_deep_copy(spec) : json_object());
			json_t *created = NULL;
			if (cl_create(c, cl_res_job, cl_ns(cj), job, &created) == 0) {
				sim_api_event(c->st, cj, "Normal", "SuccessfulCreate", "Created job %s", name);
				json_array_append_new(active, json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "Job", "namespace",
									 cl_ns(cj), "name", name, "uid", cl_uid(created),
									 "apiVersion", "batch/v1"));
			}
			json_decref(created);
			json_decref(job);
			free(name);
		}
		char lts[32];
		vs_time_format(due, lts);
		json_object_set_new(st, "lastScheduleTime", json_string(lts));
	}
	json_object_set_new(st, "active", active);
	/* history limits: oldest finished jobs beyond the limits go */
	long keep_ok = (long)vs_json_int(cj, "spec.successfulJobsHistoryLimit", 3);
	long keep_bad = (long)vs_json_int(cj, "spec.failedJobsHistoryLimit", 1);
	size_t n = json_array_size(owned);
	json_t **v = vs_xcalloc(n ? n : 1, sizeof *v);
	for (size_t k = 0; k < n; k++)
		v[k] = json_array_get(owned, k);
	qsort(v, n, sizeof *v, cmp_creation_desc);
	long ok = 0, bad = 0;
	for (size_t k = 0; k < n; k++) {
		if (cl_deleting(v[k]))
			continue;
		if (has_condition(v[k], "Complete") && ++ok > keep_ok)
			cl_delete(c, cl_res_job, cl_ns(cj), cl_name(v[k]), -1);
		else if (has_condition(v[k], "Failed") && ++bad > keep_bad)
			cl_delete(c, cl_res_job, cl_ns(cj), cl_name(v[k]), -1);
	}
	free(v);
	merge_status(c, cl_res_cronjob, cj, st);
	json_decref(owned);
}

/* ---- the loop --------------------------------------------------------------------------------- */

/*
 * One pass over every workload, as the controllers of kube-controller-manager see the cluster:
 * through informers, so a change is seen an informer delay late, and every list is taken before
 * any controller acts. What one controller writes in a pass (a Deployment's ReplicaSet, a
 * ReplicaSet's pods) is seen by the next only in the next pass, after its own delay.
 */
static void workload_reconcile(sim_cluster *c)
{
	cl_watch_delay(c);
	json_t *pods = cl_list_reuse(c, cl_res_pod, &c->workload_lists);
	cl_lists_refresh(c, cl_res_pvc, &c->workload_lists); /* for ensure_claims */
	json_t *nodes = cl_list_reuse(c, cl_res_node, &c->workload_lists);
	json_t *cronjobs = cl_list_reuse(c, cl_res_cronjob, &c->workload_lists);
	json_t *jobs = cl_list_reuse(c, cl_res_job, &c->workload_lists);
	json_t *deploys = cl_list_reuse(c, cl_res_deploy, &c->workload_lists);
	json_t *rss = cl_list_reuse(c, cl_res_rs, &c->workload_lists);
	json_t *stss = cl_list_reuse(c, cl_res_sts, &c->workload_lists);
	json_t *dss = cl_list_reuse(c, cl_res_ds, &c->workload_lists);
	size_t i;
	json_t *it;

	json_array_foreach(cronjobs, i, it) sync_cronjob(c, it, jobs);
	json_array_foreach(jobs, i, it) sync_job(c, it, pods);
	release_orphans(c, pods, jobs);
	json_array_foreach(deploys, i, it) sync_deployment(c, it, rss);
	json_array_foreach(rss, i, it) sync_replicaset(c, it, pods);
	json_array_foreach(stss, i, it) sync_statefulset(c, it, pods);
	json_array_foreach(dss, i, it) sync_daemonset(c, it, pods, nodes);

	json_decref(dss);
	json_decref(stss);
	json_decref(rss);
	json_decref(deploys);
	json_decref(jobs);
	json_decref(cronjobs);
	json_decref(nodes);
	json_decref(pods);
}

int sim_workload_start(sim_cluster *c, vs_error *err)
{
	return cl_spawn(c, "workload", workload_reconcile, NULL, 1000, err);
}
