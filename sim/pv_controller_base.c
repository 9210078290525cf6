/*
 * pv_controller_base: the machinery of volshift-sim's PV controller, as pv_controller_base.go has
 * it. An informer on claims and one on volumes, each with its own delays, only queue keys; one
 * claim worker and one volume worker each take a key, read the object from its informer's lister
 * and sync it (updateClaim / updateVolume) if it is not older than what the controller's own cache
 * holds, or forget it (deleteClaim / deleteVolume) once the lister no longer has it. The caches
 * also take the objects the controller's own writes returned. The resync queues every claim and
 * volume every --pv-resync-period: it is the only retry a failed sync gets.
 */
#include "pv_controller.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One side of the controller (claims or volumes), which the workers treat alike. */
struct pv_side {
	const char *what;
	cl_informer *inf;
	cl_cache *cache;
	cl_wq *q;
	int (*sync)(struct pv_ctrl *pv, const json_t *obj, vs_error *err);
	void (*deleted)(struct pv_ctrl *pv, const json_t *obj);
};

/* ---- writes and events -------------------------------------------------------------------------- */

int pv_write(struct pv_ctrl *pv, const sim_resource *res, const json_t *obj, enum sim_update_kind kind,
	     json_t **out, vs_error *err)
{
	json_t *stored = NULL;
	int rc = sim_api_update(pv->c->st, res, res->namespaced ? cl_ns(obj) : NULL, obj, kind, &stored, err);

	if (out)
		*out = NULL;
	if (rc != 0)
		return rc;
	/* storeClaimUpdate / storeVolumeUpdate: the controller knows its own write before any event */
	cl_cache_store_newer(res == cl_res_pvc ? &pv->claims : &pv->volumes, stored);
	if (out)
		*out = stored;
	else
		json_decref(stored);
	return 0;
}

void pv_event(struct pv_ctrl *pv, const json_t *obj, const char *type, const char *reason, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sim_api_event_from(pv->c->st, PV_CONTROLLER_NAME, obj, type, reason, "%s", msg);
}

/* ---- event handlers, update and delete ------------------------------------------------------------ */

/* deleteClaim: forget it, and sync its volume now rather than at the next resync. */
static void delete_claim(struct pv_ctrl *pv, const json_t *claim)
{
	char *key = cl_key(claim);
	const char *volume = vs_json_str_or(claim, "spec.volumeName", "");

	cl_cache_del(&pv->claims, key);
	vs_debug("pv: claim %s deleted", key);
	if (*volume)
		cl_wq_add(&pv->src[PV_VOLUMES].q, volume);
	free(key);
}

/* deleteVolume: forget it, and sync its claim now, so that it turns Lost without waiting. */
static void delete_volume(struct pv_ctrl *pv, const json_t *volume)
{
	const json_t *ref = vs_json_path(volume, "spec.claimRef");
	char *key;

	cl_cache_del(&pv->volumes, cl_name(volume));
	vs_debug("pv: volume %s deleted", cl_name(volume));
	if (!ref)
		return;
	key = vs_xasprintf("%s/%s", vs_json_str_or(ref, "namespace", ""), vs_json_str_or(ref, "name", ""));
	cl_wq_add(&pv->src[PV_CLAIMS].q, key);
	free(key);
}

/* updateClaim / updateVolume: sync what the lister has, unless the controller knows a newer one. */
static void update_object(struct pv_ctrl *pv, const struct pv_side *side, const json_t *obj)
{
	vs_error err;
	char *key;

	if (!cl_cache_store_newer(side->cache, obj))
		return; /* an old version: the controller wrote a newer one itself */
	vs_error_clear(&err);
	if (side->sync(pv, obj, &err) == 0)
		return;
	/* a version conflict happens often and the controller recovers from it, at the next event or
	 * resync (the real one logs it at level 3; an info line here, where tests can see the race) */
	key = cl_key(obj);
	if (vs_error_is(&err, "Conflict"))
		vs_info("pv: could not sync %s %s: %s", side->what, key, err.message);
	else if (vs_error_is(&err, "NotFound"))
		vs_debug("pv: could not sync %s %s: %s", side->what, key, err.message);
	else
		vs_warn("pv: could not sync %s %s: %s", side->what, key, err.message);
	free(key);
}

/* ---- workers and resync ----------------------------------------------------------------------------- */

static struct pv_side claim_side(struct pv_ctrl *pv)
{
	return (struct pv_side){"claim", pv->src[PV_CLAIMS].inf, &pv->claims, &pv->src[PV_CLAIMS].q, pv_sync_claim,
				delete_claim};
}

static struct pv_side volume_side(struct pv_ctrl *pv)
{
	return (struct pv_side){"volume", pv->src[PV_VOLUMES].inf, &pv->volumes, &pv->src[PV_VOLUMES].q, pv_sync_volume,
				delete_volume};
}

/* claimWorker / volumeWorker, one key. */
static bool work(struct pv_ctrl *pv, const struct pv_side *side, int64_t timeout_ms)
{
	char *key = cl_wq_get(side->q, timeout_ms);
	json_t *obj;

	if (!key)
		return false;
	if ((obj = cl_informer_get(side->inf, key)) != NULL)
		update_object(pv, side, obj); /* still there: it was an add, an update or a sync */
	else if ((obj = cl_cache_get(side->cache, key)) != NULL)
		side->deleted(pv, obj); /* gone from the informer: it was a delete */
	else
		vs_debug("pv: deletion of %s %s was already processed", side->what, key);
	json_decref(obj);
	cl_wq_done(side->q, key);
	free(key);
	return true;
}

bool pv_claim_work(struct pv_ctrl *pv, int64_t timeout_ms)
{
	struct pv_side side = claim_side(pv);

	return work(pv, &side, timeout_ms);
}

bool pv_volume_work(struct pv_ctrl *pv, int64_t timeout_ms)
{
	struct pv_side side = volume_side(pv);

	return work(pv, &side, timeout_ms);
}

static void *claim_worker_main(void *arg)
{
	while (pv_claim_work(arg, -1))
		;
	return NULL;
}

static void *volume_worker_main(void *arg)
{
	while (pv_volume_work(arg, -1))
		;
	return NULL;
}

void pv_resync(struct pv_ctrl *pv)
{
	vs_info("pv: resyncing every claim and volume");
	for (int i = PV_CLAIMS; i <= PV_VOLUMES; i++)
		cl_informer_each(pv->src[i].inf, cl_enqueue_key, &pv->src[i].q);
}

/* wait.Until(resync, period): at once, then a period after each run, until the controller stops. */
static void *resync_main(void *arg)
{
	struct pv_ctrl *pv = arg;
	struct timespec ts;
	bool stop;

	do {
		pv_resync(pv);
		vs_time_deadline(&ts, pv->c->timing.pv_resync_ms);
		pthread_mutex_lock(&pv->mu);
		while (!pv->stop && pthread_cond_timedwait(&pv->cond, &pv->mu, &ts) == 0)
			;
		stop = pv->stop;
		pthread_mutex_unlock(&pv->mu);
	} while (!stop);
	return NULL;
}

/* ---- start and stop ------------------------------------------------------------------------------- */

int pv_ctrl_new(sim_cluster *c, struct pv_ctrl **out, vs_error *err)
{
	struct pv_ctrl *pv = vs_xcalloc(1, sizeof *pv);
	int rc;

	*out = NULL;
	pv->c = c;
	cl_cache_init(&pv->claims);
	cl_cache_init(&pv->volumes);
	pthread_mutex_init(&pv->mu, NULL);
	vs_cond_init_monotonic(&pv->cond);
	/* enqueueWork: informer events only queue the object's key */
	rc = cl_source_start(c, cl_res_pvc, NULL, 0, 0, &pv->src[PV_CLAIMS], err);
	if (rc == 0)
		rc = cl_source_start(c, cl_res_pv, NULL, 0, 0, &pv->src[PV_VOLUMES], err);
	if (rc != 0) {
		pv_ctrl_free(pv);
		return rc;
	}
	*out = pv;
	return 0;
}

/* initializeCaches: the controller's caches start as the listers are. */
static void store_newer(void *cache, const json_t *obj)
{
	cl_cache_store_newer(cache, obj);
}

int pv_ctrl_run(struct pv_ctrl *pv, vs_error *err)
{
	void *(*mains[])(void *) = {volume_worker_main, claim_worker_main, resync_main};

	cl_informer_each(pv->src[PV_VOLUMES].inf, store_newer, &pv->volumes);
	cl_informer_each(pv->src[PV_CLAIMS].inf, store_newer, &pv->claims);
	for (size_t i = 0; i < sizeof mains / sizeof mains[0]; i++) {
		int rc = pthread_create(&pv->threads[pv->nthreads], NULL, mains[i], pv);
		if (rc != 0)
			return vs_error_set(err, VS_EIO, "pv controller: cannot start a thread: %s", strerror(rc));
		pv->nthreads++;
	}
	return 0;
}

void pv_ctrl_free(struct pv_ctrl *pv)
{
	if (!pv)
		return;
	pthread_mutex_lock(&pv->mu);
	pv->stop = true;
	pthread_cond_broadcast(&pv->cond);
	pthread_mutex_unlock(&pv->mu);
	cl_sources_stop(pv->src, 2, pv->threads, &pv->nthreads);
	cl_cache_destroy(&pv->claims);
	cl_cache_destroy(&pv->volumes);
	pthread_cond_destroy(&pv->cond);
	pthread_mutex_destroy(&pv->mu);
	free(pv);
}

static void stop_pv_controller(void *pv)
{
	pv_ctrl_free(pv);
}

int sim_pv_controller_start(sim_cluster *c, vs_error *err)
{
	struct pv_ctrl *pv = NULL;
	int rc = pv_ctrl_new(c, &pv, err);

	if (rc == 0)
		rc = pv_ctrl_run(pv, err);
	if (rc == 0)
		rc = cl_at_stop(c, stop_pv_controller, pv, err);
	if (rc != 0)
		pv_ctrl_free(pv);
	return rc;
}
