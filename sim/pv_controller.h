/*
 * pv_controller: volshift-sim's PersistentVolume controller, the one kube-controller-manager runs
 * (k8s.io/kubernetes pkg/controller/volume/persistentvolume, as of 1.26), with the same three
 * parts as the real one, which share this header (and the unit tests use it to drive it by hand):
 *
 *   pv_controller_base.c  (pv_controller_base.go) two informers, the controller's own caches of
 *                         claims and volumes, two work queues, one claim worker and one volume
 *                         worker, and the periodic resync
 *   pv_controller.c       (pv_controller.go) syncClaim, syncVolume, bind and every write they make
 *   pv_index.c            (index.go, component-helpers' pv_helpers.go) findBestMatchForClaim
 *
 * Like the real one, it acts on what its informers delivered and on what its own writes returned,
 * each write a PUT with the resourceVersion it holds: a stale cache costs a 409, the sync gives up,
 * and only the next event or the resync tries again. Not modelled: CSI migration annotations,
 * in-tree volume plugins (a class whose provisioner is "kubernetes.io/..." gets ProvisioningFailed;
 * a released volume of policy Delete that no external provisioner owns goes Failed, as with no
 * deleter plugin), the Recycle policy (Failed: no recycler), and metrics.
 */
#ifndef VS_SIM_PV_CONTROLLER_H
#define VS_SIM_PV_CONTROLLER_H

#include "cluster_int.h"

/* The source.component of its events, as the real controller's. */
#define PV_CONTROLLER_NAME "persistentvolume-controller"

/* Its two sources, indices into pv_ctrl.src. */
enum { PV_CLAIMS, PV_VOLUMES };

struct pv_ctrl {
	sim_cluster *c;
	/* src[PV_CLAIMS]: the claim informer (claimLister) and claimQueue; src[PV_VOLUMES]: the volume
	 * informer (volumeLister) and volumeQueue; plain queues, with no retry */
	cl_source src[2];
	cl_cache claims, volumes; /* ctrl.claims, ctrl.volumes: informer events and own writes */
	pthread_t threads[3];     /* claim worker, volume worker, resync */
	int nthreads;
	pthread_mutex_t mu; /* guards stop, for the resync thread's sleep */
	pthread_cond_t cond;
	bool stop;
};

/* ---- pv_controller_base.c ---------------------------------------------------------------------- */

/* A controller whose informers run (their events fill the queues) but with no worker or resync
 * thread yet; *out freed with pv_ctrl_free. */
int pv_ctrl_new(sim_cluster *c, struct pv_ctrl **out, vs_error *err);
/* initializeCaches, then start the workers and the resync (Run). */
int pv_ctrl_run(struct pv_ctrl *pv, vs_error *err);
/* Stop its threads and informers and free it. NULL is fine. */
void pv_ctrl_free(struct pv_ctrl *pv);

/* One round of claimWorker / volumeWorker: take a key (waiting up to timeout_ms, -1 for ever),
 * read the object from the lister and updateClaim/updateVolume it, or deleteClaim/deleteVolume
 * when the lister no longer has it. False when no key came (timeout or shutdown). */
bool pv_claim_work(struct pv_ctrl *pv, int64_t timeout_ms);
bool pv_volume_work(struct pv_ctrl *pv, int64_t timeout_ms);
/* resync: queue every claim and every volume the listers hold. */
void pv_resync(struct pv_ctrl *pv);

/* A PUT of obj (MAIN or STATUS) with the resourceVersion it carries; on success *out (may be
 * NULL) is the stored object, which also goes into the controller's cache (storeObjectUpdate). */
int pv_write(struct pv_ctrl *pv, const sim_resource *res, const json_t *obj, enum sim_update_kind kind,
	     json_t **out, vs_error *err);
/* An event from the controller, aggregated as a real recorder does. */
void pv_event(struct pv_ctrl *pv, const json_t *obj, const char *type, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* ---- pv_controller.c --------------------------------------------------------------------------- */

/* syncClaim and syncVolume: 0, or the error of the write that failed (Conflict when a cache was
 * stale), after which nothing retries until the next event or resync. */
int pv_sync_claim(struct pv_ctrl *pv, const json_t *claim, vs_error *err);
int pv_sync_volume(struct pv_ctrl *pv, const json_t *volume, vs_error *err);

/* Small accessors the three files share (borrowed strings, "" when missing). */
const char *pv_claim_class(const json_t *claim);
const char *pv_volume_class(const json_t *volume);
bool pv_has_annotation(const json_t *obj, const char *key);
/* IsVolumeBoundToClaim: the volume's claimRef names the claim, and its uid (if any) is the claim's. */
bool pv_volume_bound_to_claim(const json_t *volume, const json_t *claim);
/* CheckVolumeModeMismatches (a missing volumeMode is Filesystem). */
bool pv_volume_mode_mismatch(const json_t *claim, const json_t *volume);
/* The storage quantity at path in bytes, 0 when missing or malformed. */
int64_t pv_storage(const json_t *obj, const char *path);

/* ---- pv_index.c -------------------------------------------------------------------------------- */

/* findBestMatchForClaim over the controller's volume cache: a volume pre-bound to the claim, else
 * (unless delay_binding) the smallest Available one of its class that fits; searched within the
 * access-mode sets that contain the claim's modes, fewest modes first. New reference or NULL. */
json_t *pv_find_best_match(struct pv_ctrl *pv, const json_t *claim, bool delay_binding);
/* checkVolumeSatisfyClaim: NULL when the volume can serve the claim, else why (into buf). */
const char *pv_check_volume_satisfies(const json_t *volume, const json_t *claim, char *buf, size_t len);

#endif
