/*
 * ctrl_protection: kube-controller-manager's pvc-protection and pv-protection controllers
 * (pkg/controller/volume/pvcprotection, pvprotection), each with its informers, its rate-limited
 * queue and one worker, so that they act as late as the real ones: a claim no pod uses goes an
 * informer's delay and a write after its DELETE, not at once.
 *
 * pvc-protection removes kubernetes.io/pvc-protection from a deleted claim that no scheduled pod
 * uses, asking its pod informer first and, when that finds none, a live list of the namespace's
 * pods; a pod uses the claim whatever its phase, so a completed pod still blocks it until the pod
 * object is gone. pv-protection removes kubernetes.io/pv-protection from a deleted volume that is
 * not Bound. Both add their finalizer to an object that lacks it and is not being deleted.
 */
#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>

#define PVC_PROTECTION "kubernetes.io/pvc-protection"
#define PV_PROTECTION  "kubernetes.io/pv-protection"
/* workqueue.DefaultControllerRateLimiter's per-item backoff */
#define PROTECTION_RETRY_BASE_MS 5
#define PROTECTION_RETRY_MAX_MS  (1000 * 1000)

struct protection {
	sim_cluster *c;
	const char *finalizer;
	const sim_resource *res;
	cl_source src;     /* claims or volumes, and the queue */
	cl_informer *pods; /* pvc-protection only */
	pthread_t worker[1];
	int nworkers;
	/* isBeingUsed; an error means "retry" */
	int (*in_use)(struct protection *p, const json_t *obj, bool *used, vs_error *err);
};

static bool has_finalizer(const json_t *obj, const char *fin)
{
	return vs_json_array_has_str(vs_json_path(obj, "metadata.finalizers"), fin);
}

/* IsDeletionCandidate / NeedToAddFinalizer (protectionutil). */
static bool deletion_candidate(const json_t *obj, const char *fin)
{
	return cl_deleting(obj) && has_finalizer(obj, fin);
}

static bool needs_finalizer(const json_t *obj, const char *fin)
{
	return !cl_deleting(obj) && !has_finalizer(obj, fin);
}

/* addFinalizer / removeFinalizer: an update with the resourceVersion the lister holds. */
static int set_finalizer(struct protection *p, const json_t *obj, bool present, vs_error *err)
{
	json_t *clone = json_deep_copy(obj), *fins = json_array(), *f;
	size_t i;
	int rc;

	json_array_foreach(vs_json_path(obj, "metadata.finalizers"), i, f)
		if (!json_is_string(f) || strcmp(json_string_value(f), p->finalizer) != 0)
			json_array_append(fins, f);
	if (present)
		json_array_append_new(fins, json_string(p->finalizer));
	json_object_set_new(json_object_get(clone, "metadata"), "finalizers", fins);
	rc = sim_api_update(p->c->st, p->res, cl_ns(obj), clone, SIM_UPDATE_MAIN, NULL, err);
	if (rc == 0)
		vs_info("%s: %s protection finalizer %s %s%s%s", p->finalizer, present ? "added" : "removed",
			present ? "to" : "from", cl_ns(obj) ? cl_ns(obj) : "", cl_ns(obj) ? "/" : "", cl_name(obj));
	json_decref(clone);
	return rc;
}

/* processPVC / processPV: one key, 0 when done, an error to retry with backoff. */
static int process(struct protection *p, const char *key, vs_error *err)
{
	json_t *obj = cl_informer_get(p->src.inf, key);
	bool used = false;
	int rc = 0;

	if (!obj)
		return 0; /* gone: nothing to protect */
	if (deletion_candidate(obj, p->finalizer)) {
		if ((rc = p->in_use(p, obj, &used, err)) == 0 && !used)
			rc = set_finalizer(p, obj, false, err);
		else if (rc == 0)
			vs_debug("%s: keeping %s: it is being used", p->finalizer, key);
	} else if (needs_finalizer(obj, p->finalizer)) {
		rc = set_finalizer(p, obj, true, err);
	}
	json_decref(obj);
	return rc;
}

static void work(void *arg, const char *key)
{
	struct protection *p = arg;
	vs_error err;

	vs_error_clear(&err);
	if (process(p, key, &err) == 0) {
		cl_wq_forget(&p->src.q, key);
		return;
	}
	vs_debug("%s: %s failed: %s", p->finalizer, key, err.message);
	cl_wq_add_rate_limited(&p->src.q, key);
}

static void *worker_main(void *arg)
{
	struct protection *p = arg;

	cl_wq_serve(&p->src.q, work, p);
	return NULL;
}

/* pvcAddedUpdated / pvAddedUpdated: only objects with something to do are queued. */
static void object_event(void *arg, const json_t *obj)
{
	struct protection *p = arg;

	if (needs_finalizer(obj, p->finalizer) || deletion_candidate(obj, p->finalizer))
		cl_enqueue_key(&p->src.q, obj);
}

static void object_updated(void *arg, const json_t *old, const json_t *obj)
{
	(void)old;
	object_event(arg, obj);
}

/* ---- pvc-protection: which pods use a claim ------------------------------------------------------ */

/* podUsesPVC: only a scheduled pod counts (a kubelet never starts a pod whose claim is being
 * deleted), and it counts whatever its phase. */
static bool pod_uses_claim(const json_t *pod, const json_t *claim)
{
	size_t i;
	json_t *v;

	if (!*vs_json_str_or(pod, "spec.nodeName", "") || strcmp(vs_json_str_or(pod, "metadata.namespace", ""),
								  vs_json_str_or(claim, "metadata.namespace", "")) != 0)
		return false;
	json_array_foreach(vs_json_path(pod, "spec.volumes"), i, v)
		if (strcmp(vs_json_str_or(v, "persistentVolumeClaim.claimName", ""), cl_name(claim)) == 0)
			return true;
	return false;
}

/* The first pod of pods that uses claim (a const json_t *), borrowed, or NULL. */
static const json_t *first_user(const json_t *pods, void *claim)
{
	size_t i;
	json_t *pod;

	json_array_foreach(pods, i, pod)
		if (pod_uses_claim(pod, claim))
			return pod;
	return NULL;
}

/* isBeingUsed: the informer's pods first; when none uses it, a live list, as the informer may lag. */
static int claim_in_use(struct protection *p, const json_t *claim, bool *used, vs_error *err)
{
	json_t *user = cl_informer_pick(p->pods, first_user, (void *)claim), *list = NULL;
	sim_list_opts all = {0};
	int rc = 0;

	*used = user != NULL;
	if (!*used && (rc = sim_api_list(p->c->st, cl_res_pod, cl_ns(claim), &all, &list, err)) == 0)
		*used = first_user(json_object_get(list, "items"), (void *)claim) != NULL;
	json_decref(list);
	json_decref(user);
	return rc;
}

/* enqueuePVCs: a pod that may have stopped blocking claims (deleted, terminated or never
 * scheduled) queues every claim it names. */
static void pod_changed(struct protection *p, const json_t *pod, bool deleted)
{
	const char *phase = vs_json_str_or(pod, "status.phase", "");
	bool terminated = strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
	size_t i;
	json_t *v;

	if (!deleted && !terminated && *vs_json_str_or(pod, "spec.nodeName", ""))
		return;
	json_array_foreach(vs_json_path(pod, "spec.volumes"), i, v) {
		const char *claim = vs_json_str(v, "persistentVolumeClaim.claimName");
		char *key;
		if (!claim)
			continue;
		key = vs_xasprintf("%s/%s", vs_json_str_or(pod, "metadata.namespace", ""), claim);
		cl_wq_add(&p->src.q, key);
		free(key);
	}
}

static void pod_added(void *arg, const json_t *pod)
{
	pod_changed(arg, pod, false);
}

static void pod_updated(void *arg, const json_t *old, const json_t *pod)
{
	pod_changed(arg, pod, false);
	/* a pod deleted and another made with its name: the old one's claims too */
	if (strcmp(vs_json_str_or(old, "metadata.uid", ""), vs_json_str_or(pod, "metadata.uid", "")) != 0)
		pod_changed(arg, old, true);
}

static void pod_deleted(void *arg, const json_t *pod)
{
	pod_changed(arg, pod, true);
}

/* ---- pv-protection ------------------------------------------------------------------------------- */

/* isBeingUsed: the PV controller marks a volume in use by its phase. */
static int volume_in_use(struct protection *p, const json_t *volume, bool *used, vs_error *err)
{
	(void)p;
	(void)err;
	*used = strcmp(vs_json_str_or(volume, "status.phase", ""), "Bound") == 0;
	return 0;
}

/* ---- start and stop ------------------------------------------------------------------------------ */

static void protection_free(void *arg)
{
	struct protection *p = arg;

	cl_sources_stop(&p->src, 1, p->worker, &p->nworkers);
	cl_informer_stop(p->pods);
	free(p);
}

static int protection_start(sim_cluster *c, const sim_resource *res, const char *finalizer,
			    int (*in_use)(struct protection *, const json_t *, bool *, vs_error *), vs_error *err)
{
	struct protection *p = vs_xcalloc(1, sizeof *p);
	int rc;

	p->c = c;
	p->res = res;
	p->finalizer = finalizer;
	p->in_use = in_use;
	rc = cl_source_start(c, res, &(cl_handlers){object_event, object_updated, NULL, p}, PROTECTION_RETRY_BASE_MS,
			     PROTECTION_RETRY_MAX_MS, &p->src, err);
	if (rc == 0 && in_use == claim_in_use)
		rc = cl_informer_start(c, cl_res_pod, &(cl_handlers){pod_added, pod_updated, pod_deleted, p}, &p->pods,
				       err);
	if (rc == 0 && (rc = pthread_create(&p->worker[0], NULL, worker_main, p)) != 0)
		rc = vs_error_set(err, VS_EIO, "%s: cannot start its worker: %s", finalizer, strerror(rc));
	p->nworkers = rc == 0;
	if (rc == 0)
		rc = cl_at_stop(c, protection_free, p, err);
	if (rc != 0)
		protection_free(p);
	return rc;
}

int sim_protection_start(sim_cluster *c, vs_error *err)
{
	int rc = protection_start(c, cl_res_pvc, PVC_PROTECTION, claim_in_use, err);

	return rc ? rc : protection_start(c, cl_res_pv, PV_PROTECTION, volume_in_use, err);
}
