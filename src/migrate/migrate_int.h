/*
 * The migrate module's internals, shared by its files: the state of one run and the steps that
 * act on the cluster. Nothing here is used outside src/migrate.
 */
#ifndef VS_MIGRATE_INT_H
#define VS_MIGRATE_INT_H

#include "journal/journal.h"
#include "kube/kube.h"
#include "migrate.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* What an rsync pod's --info=stats2 summary said. */
typedef struct mig_rsync_stats {
	bool seen;	     /* the summary was printed (flags such as -q silence it) */
	int64_t total_bytes; /* "Total file size" */
	int64_t transferred; /* "Total transferred file size": what this pass sent */
	long files;	     /* "Number of files": files, directories, links and others */
} mig_rsync_stats;

#define MIG_VERIFY_SHOWN_PATHS 5

/* What a verification's rsync dry run found (verify.c). */
typedef struct mig_verify_result {
	size_t pvc; /* the plan pvc it is about */
	bool ready; /* made by a copy's pod, for mig_verify to take */
	long differences;
	char *paths[MIG_VERIFY_SHOWN_PATHS]; /* the first differences' names (owned) */
	size_t npaths;
	mig_rsync_stats stats;
	int64_t ms;
} mig_verify_result;

/* A final copy armed before its group's stop (copy.c): the pod runs, its shell waiting for the
 * SIGTERM that the pod's deletion sends to run the final pass and its verification. */
typedef struct mig_armed {
	char nonce[24];	    /* of its marker lines */
	char *uid, *rv;	    /* the pod as observed once armed (owned); NULL: nothing armed */
	int64_t running_ms; /* monotonic ms its Running status was observed: a relist of its node */
} mig_armed;

/*
 * One run, as one thread sees it: borrowed client, options, plan, journal and event sink, shared
 * by every thread of the run (the client and the journal are thread-safe; events take turns under
 * emit_mu), and the state of the group this thread works on. Each group's thread has its own copy.
 */
typedef struct mig_run {
	vs_kube_client *c;
	const vs_migrate_opts *opts;
	const vs_plan *plan;
	vs_journal *j; /* where every step is recorded (borrowed) */
	vs_migrate_event_fn fn;
	void *ctx;
	pthread_mutex_t *emit_mu; /* one event at a time (borrowed; NULL: one thread) */
	json_t **originals;	  /* the original claims, fetched before any is deleted (per plan pvc;
				     each thread touches only its group's) */
	size_t group;		  /* the group this thread works on, 1-based; 0: none */
	const char *pass;	  /* the copy being made: "warm", "final" or "cold" (static) */
	int pass_number;	  /* its number among the warm passes */
	int64_t bytes_copied;
	json_t *step_extra;	    /* fields the running step adds to its journal record (owned; may be NULL) */
	mig_verify_result verified; /* the verification the last copy's pod made (owned) */
	mig_armed *armed;	    /* per plan pvc: its armed final copy (each thread touches only its
				       group's; NULL: none armed in this run) */
	int64_t claim_lag_ms;	    /* the longest the controllers took to react to a change of a claim
				       made by this thread (mig_note_claim_lag) */
} mig_run;

/* ---- events (run.c) ---- */

/* Send an event of type with fields (stolen; may be NULL) to the run's sink. */
void mig_emit(mig_run *r, const char *type, json_t *fields);
/* A "stage"/"waiting"/"warning" event with a printf message. */
void mig_say(mig_run *r, const char *type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- steps (run.c) ---- */

/* True when volshift was asked to stop: a first SIGINT or SIGTERM, or `volshift abort`. */
bool mig_stop_requested(const mig_run *r);
/* VS_ECANCEL ("stopped on request (HOW) where") when mig_stop_requested, else 0. */
int mig_stop_check(const mig_run *r, const char *where, vs_error *err);

/* The journal key of group g's step what ("group/G/stop"). Caller frees. */
char *mig_group_key(size_t g, const char *what);
/* The journal key of a claim's step or saved object: "claim/NS/NAME/WHAT". Caller frees. */
char *mig_claim_key(const vs_plan_pvc *p, const char *what);
/* The journal key of a StatefulSet saved before its recreation: "statefulset/NS/NAME". Caller frees. */
char *mig_statefulset_key(const vs_plan_workload *w);

typedef int (*mig_step_fn)(mig_run *r, size_t arg, vs_error *err);
/*
 * One step: intent recorded, failpoint KIND:before, fn(r, arg), failpoint KIND:after, then done
 * (or failed with the error) recorded, with what fn put in r->step_extra and the bytes it copied.
 * A crash anywhere leaves the intent, and the step is run again on resume: every step checks the
 * live cluster before it acts. A transient failure runs fn again here, with growing pauses, for as
 * long as vs_kube_retry_next allows (a few Conflicts; the client's outage budget for the rest).
 */
int mig_step(mig_run *r, const char *kind, const char *key, mig_step_fn fn, size_t arg, vs_error *err);
/* The release step (mig_release) of every claim of group g not released yet: once the group's
 * workloads started on the destination. */
int mig_release_group(mig_run *r, const vs_plan_group *g, vs_error *err);
/* True when the journal says step key is done. */
bool mig_step_done(const mig_run *r, const char *key);
/* Move the default-class annotation from class from to class to (either may be NULL: none). */
int mig_set_default(mig_run *r, const char *from, const char *to, vs_error *err);

/* ---- planning (plan.c, space.c) ---- */

/* The item of list (a List object; may be NULL) named name, in namespace ns (NULL: any). Borrowed. */
json_t *mig_list_find(const json_t *list, const char *ns, const char *name);
/* Decide how the free-space check is made for plan (plan->space) and, for CSIStorageCapacity, make
 * it: claims that cannot fit get problems. Part of vs_plan_build. */
void mig_space_plan(vs_plan *plan, const vs_plan_input *in, const vs_plan_opts *opts);
/* Free what s holds and zero it. */
void mig_space_clear(vs_plan_space *s);

/* ---- labels (labels.c) ---- */

/* The labels of an object volshift creates: VS_MIGRATE_MANAGED_BY_LABEL, then each key and value
 * of the list, which ends with a NULL key (a NULL value leaves its key out). Caller owns. */
json_t *mig_labels(const char *key, ...);
/* True when obj (may be NULL) carries label key with value. */
bool mig_has_label(const json_t *obj, const char *key, const char *value);

/* ---- access-mode probes (probe.c) ---- */

/* A probe of this process: its name and its Lease, renewed while the probe runs. */
typedef struct mig_probe mig_probe;
/* Start a probe in namespace ns: a fresh name, and its Lease created there, held by this process
 * and renewed until mig_probe_end. *out owned by the caller (mig_probe_end). */
int mig_probe_begin(mig_run *r, const char *ns, mig_probe **out, vs_error *err);
/* The probe's name (its claim's, pod's and Lease's). Borrowed. */
const char *mig_probe_name(const mig_probe *p);
/* The labels of the probe's claim and pod. Caller owns. */
json_t *mig_probe_labels(const mig_probe *p);
/* 0 while this process still holds the probe's Lease (checked by renewing it now); VS_EAPI
 * Conflict when another volshift took the probe over (this one's renewals lapsed and it judged
 * this volshift gone): the probe's verdict does not count, and its objects are the other's to
 * remove. Transient API errors are returned as they are. */
int mig_probe_check(mig_probe *p, vs_error *err);
/* Remove the probe's objects (pod, claim, its volume) and its Lease, unless another volshift took
 * it over, and free p (NULL is fine). Errors name the object and the cause. */
int mig_probe_end(mig_run *r, mig_probe *p, vs_error *err);

/* ---- waiting (wait.c) ---- */

/* True when the watched objects (a JSON object from "NS/NAME" to object, borrowed) are as wanted. */
typedef bool (*mig_pred)(json_t *objects, void *ctx);

/* Wait until the object ns/name of res no longer exists. */
int mig_wait_gone(mig_run *r, const vs_kube_resource *res, const char *ns, const char *name, int64_t timeout_ms,
		  vs_error *err);

/* Wait until one object (ns/name) satisfies pred (which gets the object, or NULL while absent). */
typedef bool (*mig_obj_pred)(const json_t *obj, void *ctx);
int mig_wait_obj(mig_run *r, const vs_kube_resource *res, const char *ns, const char *name, mig_obj_pred pred,
		 void *ctx, int64_t timeout_ms, const char *what, vs_error *err);
/*
 * Wait until pred holds for the objects of res in ns that keep (asked with ctx; NULL: every object)
 * is true for: list once, then follow a watch from the list's version, holding only those objects,
 * so that a wait on the few pods of a group among a namespace's many does not hold all of them.
 * what names the wait in the timeout error ("pods of claim default/data to stop").
 */
int mig_wait(mig_run *r, const vs_kube_resource *res, const char *ns, mig_obj_pred keep, mig_pred pred, void *ctx,
	     int64_t timeout_ms, const char *what, vs_error *err);

/* mig_wait_obj from an object just read or written (known, borrowed, with its resourceVersion):
 * pred is checked on it first, then on what a watch from its version brings; no list. */
int mig_wait_from(mig_run *r, const vs_kube_resource *res, const json_t *known, mig_obj_pred pred, void *ctx,
		  int64_t timeout_ms, const char *what, vs_error *err);

/* GET that treats NotFound as success with *out NULL. */
int mig_get_opt(mig_run *r, const vs_kube_resource *res, const char *ns, const char *name, json_t **out, vs_error *err);
/* DELETE with opts (may be NULL), treating NotFound as success; *existed (existed may be NULL)
 * says whether there was an object to delete. */
int mig_delete(mig_run *r, const vs_kube_resource *res, const char *ns, const char *name,
	       const vs_kube_delete_opts *opts, bool *existed, vs_error *err);

/* ---- workloads (workload.c) ---- */

/* How long a group's pods may take to stop once their workloads are. */
#define MIG_STOP_TIMEOUT_MS (10 * 60 * 1000)

/* Stop the workloads of group g and wait until every pod that mounts its claims has stopped (gone,
 * finished, or being deleted with every container ended), volshift's copy pods aside. The wall-clock time of
 * the first stop is kept in the journal (stoppedMs in the group's stop step), so downtime counts
 * from there even across a crash and a resume. */
int mig_workloads_stop(mig_run *r, size_t g, vs_error *err);
/* Start the workloads of group g again (StatefulSets recreated with the destination class unless
 * keep_statefulsets) and wait until each is ready, reporting its downtime (also in r->step_extra
 * as downtimeMs: {"Kind NS/NAME": ms}). */
int mig_workloads_start(mig_run *r, size_t g, vs_error *err);

/* ---- copy (copy.c) ---- */

/* Create the destination claim of plan pvc i (idempotent; refuses a stranger with the same name). */
int mig_dest_claim_create(mig_run *r, size_t i, vs_error *err);
/* Copy plan pvc i with an rsync pod, which then runs the verification's dry run for mig_verify
 * (r->verified), saving a pod and its start during the downtime; the pod is deleted afterwards,
 * whatever happened. A copy after a warm copy (r->pass "final") sends only what changed, deletions
 * included. */
int mig_copy(mig_run *r, size_t i, vs_error *err);
/*
 * The warm copy of plan pvc i while its application runs: rsync passes from a pod on the claim's
 * warm node (beside the application), another pass while the last one took long enough for changes
 * to pile up and sent less than the one before, at most MIG_WARM_PASSES. The caller skips a
 * claim with a cold reason (see run_warm): its copy step must not read as a final pass.
 */
#define MIG_WARM_PASSES 3
int mig_warm_copy(mig_run *r, size_t i, vs_error *err);
/*
 * Start plan pvc i's final copy now, while its application still runs, so that the downtime does
 * not wait for a pod to be scheduled, mounted and started: the copy pod is created on the claim's
 * warm node and its shell waits for SIGTERM, which the pod's deletion sends; mig_copy of the final
 * pass then deletes it (only if it is unchanged since it was armed) and reads the final pass and
 * its verification from its log. Recorded in r->armed[i]. A failure leaves nothing armed (the pod
 * removed): the final pass then runs in a pod of its own, as it would have.
 */
int mig_copy_arm(mig_run *r, size_t i, vs_error *err);
/* Forget what r->armed[i] holds. */
void mig_armed_clear(mig_armed *a);

/*
 * A kubelet notices that a stopped container exited only at its next PLEG relist (generic PLEG:
 * every second, kubelet.go genericPlegRelistPeriod, fixed), and a pod being deleted waits for a
 * relist that began after its containers were killed before it is removed (pod_workers.go,
 * podCache.GetNewerThan): so a stop that starts just after a relist of the pods' node waits a whole
 * period for nothing. An armed pod's Running status is written at a relist of its node, which is
 * also the node of the pods it copies from, so the stop is timed from it: it starts
 * MIG_STOP_LEAD_MS before that node's next relist, time for the workload controllers to delete the
 * pods (0.16-0.26 s on a real control plane, KUBERNETES-NOTES.md) and for a process to exit on
 * SIGTERM. A slower exit only misses that relist and is noticed at the one after, as it could be
 * at any time; the wait is before the stop, while the application still runs, and under a period.
 */
#define MIG_RELIST_PERIOD_MS 1000
#define MIG_STOP_LEAD_MS     500
/* When the last armed pod of the claims pvcs (n of them) was observed Running (monotonic ms; 0:
 * none armed). */
int64_t mig_armed_running_ms(const mig_run *r, const size_t *pvcs, size_t n);
/* How long to wait at now_ms (monotonic) before a stop, for a node that relisted at relist_ms
 * (0: unknown, no wait): until MIG_STOP_LEAD_MS before its first relist at least that far away. */
int64_t mig_stop_delay_ms(int64_t relist_ms, int64_t now_ms);

/* mig_copy, choosing the files to send by compare: their size and time (rsync's quick check, as
 * mig_copy does) or their content (--checksum: a file that kept both is sent too). */
int mig_copy_with(mig_run *r, size_t i, enum vs_verify_mode compare, vs_error *err);

/* rsync's argv for plan pvcs: the archive flags every copy needs, the user's --rsync-flags, then
 * mode (nmode flags of the copy or the verification; last, so that they win), then /source/
 * /dest/. Caller owns it. */
json_t *mig_rsync_command(const mig_run *r, const char *const *mode, size_t nmode);

/* One rsync run in a copy pod. */
typedef struct mig_rsync_stage {
	json_t *command;    /* rsync's argv (mig_rsync_command); taken by mig_rsync_pod */
	vs_kube_line_fn fn; /* gets each line of its output */
	void *ctx;
	mig_rsync_stats stats; /* out: its summary */
	int exit_code;	       /* out: rsync's status; -1 when it did not run or its end was not seen */
	int64_t ms;	       /* out: how long it ran, as its log showed */
} mig_rsync_stage;

/*
 * Run the n rsync stages, one after another while each succeeds, in plan pvc i's copy pod: the
 * source claim at /source, the destination claim at /dest, pinned to node (NULL: where the
 * scheduler puts it), replacing a pod of that name left by an interrupted run. The pod's shell
 * prints a marker line with each stage's status, so no extra request reads it. The pod is deleted
 * afterwards, whatever happened. An error when the pod or the first stage failed (purpose, "copy"
 * or "verify", names the pod; an rsync that failed is VS_EIO naming the claim, with its last
 * lines); how the later stages went is theirs to judge, in their exit_code.
 */
int mig_rsync_pod(mig_run *r, size_t i, const char *purpose, const char *node, mig_rsync_stage *stages, size_t n,
		  vs_error *err);

/* A pod that mounts nmounts claims (mounts holds volume name, claim, mount path for each) and runs
 * command (stolen), pinned to node when not NULL; for copy and probe pods. Caller owns it. */
json_t *mig_pod_new(const char *ns, const char *name, const char *image, const char *node, json_t *command,
		    const char *const *mounts, size_t nmounts);

/* Create pod (borrowed) and wait up to pod_ready_timeout_ms until it runs or has ended; a pod
 * still Pending then is an error carrying the scheduler's or the kubelet's reason. purpose names it. */
int mig_pod_run(mig_run *r, const char *ns, const json_t *pod, const char *purpose, vs_error *err);
/* Delete a pod without grace (a missing one is fine) and, with wait, wait until it is gone (it holds
 * its claims until then). */
int mig_pod_remove(mig_run *r, const char *ns, const char *name, bool wait, vs_error *err);

/* ---- verify (verify.c) ---- */

/* The verification stage of plan pvc i, for the copy's pod to run after the copy (st->command and
 * its handler; the result goes to r->verified). */
void mig_verify_stage(mig_run *r, size_t i, mig_rsync_stage *st);
/* That stage has run (st as mig_rsync_pod left it): r->verified holds its result when it succeeded. */
void mig_verify_stage_end(mig_run *r, const mig_rsync_stage *st);
/* Free what a verification result holds. */
void mig_verify_result_clear(mig_verify_result *v);

/*
 * Check plan pvc i's copy before its swap: an rsync dry run with the copy's flags (and --checksum
 * for VS_VERIFY_CHECKSUM) must find no difference. When it finds some, the claim is copied again
 * (mig_copy_with the same comparison) and checked once more; differences then are VS_EIO naming
 * the claim, their number and the first paths. The dry run is the one the copy's pod made when
 * there is one (r->verified), else one in a pod of its own (after a resume). Emits "verify-start"
 * and "verify-done" for each pass, and a "warning" before copying again. Changes nothing but the
 * destination claim's data.
 */
int mig_verify(mig_run *r, size_t i, vs_error *err);

/* ---- claims' owner (claims.c) ---- */

/* Mark every claim of the plan as this run's (annotation VS_MIGRATE_OWNER_ANNOTATION, written
 * conditionally on the version read), before anything else changes. VS_EBUSY, naming the claim and
 * the migration, when an unfinished migration has one: the marks this run made are removed again. */
int mig_claims_take(mig_run *r, vs_error *err);
/* Remove this run's marks from group g's claims, once it has finished (or was rolled back). */
int mig_claims_release(mig_run *r, const vs_plan_group *g, vs_error *err);

/* ---- rollback (rollback.c) ---- */

/* Group gi put back as it was (r->opts must keep StatefulSets), or, when its workloads started on
 * the destination, its claims added to kept (a JSON array of "NS/NAME") and their original volumes
 * released. A claim whose original volume is gone stays too, and the workloads come back on what
 * exists. Every step journaled. */
int mig_rollback_group(mig_run *r, size_t gi, json_t *kept, vs_error *err);

/* ---- swap (swap.c) ---- */

/* The pauses between mig_bind_claim's nudges: from the first, which mig_bind_first_quiet_ms
 * sets, doubling to the longest. */
#define MIG_BIND_QUIET_MIN_MS 100
#define MIG_BIND_QUIET_MAX_MS 2000
/* The controllers reacted just now to a change of a claim this thread made at since_ms
 * (vs_time_mono_ms: a deletion seen done, a nudge seen Bound): keep the longest such lag in
 * r->claim_lag_ms (at most MIG_BIND_QUIET_MAX_MS). */
void mig_note_claim_lag(mig_run *r, int64_t since_ms);
/* The first pause after a nudge, for a thread whose claim_lag_ms is given: that lag (the claim
 * worker must sync a nudge before the next is made), within MIG_BIND_QUIET_MIN_MS and _MAX_MS. */
int64_t mig_bind_first_quiet_ms(int64_t claim_lag_ms);
/*
 * Create claim (borrowed: a claim naming its volume in spec.volumeName, without the binding
 * annotations) or find the one an interrupted run created, and bind it to that volume at once:
 * the volume is pinned to the claim's uid (only if its claimRef, as pv_seen shows it (borrowed;
 * NULL: read it), names nothing, the claim's own name or prev_name, a deleted claim; else VS_EINVAL)
 * and the claim is nudged until the PV controller binds it. See bind.c for why this order binds
 * within a second on a real control plane and never lets another claim take the volume.
 * Failpoints swap:claim-created and swap:pinned.
 */
int mig_bind_claim(mig_run *r, const json_t *claim, const json_t *pv_seen, const char *prev_name, vs_error *err);
/* True when claim (may be NULL) is Bound to the volume named ctx (a const char *); a mig_obj_pred. */
bool mig_claim_bound_to(const json_t *claim, void *ctx);
/* Wait until volume pv, given back to its reclaim policy, is gone; a warning (not an error) when
 * it is not within delete_pv_timeout_ms: the data is safe on the new volume either way. */
void mig_wait_reclaimed(mig_run *r, const char *pv);
/* Put plan pvc i's original name on the destination volume; see the invariant in swap.c. The old
 * volume stays Retain, so that a rollback can put the whole group back until its workloads start. */
int mig_swap(mig_run *r, size_t i, vs_error *err);
/* Once plan pvc i's group has started on the destination: its original volume given back to its
 * reclaim policy (Delete: its provisioner removes it; else the PV object is deleted, the data left
 * in the storage system), not waited for (see mig_wait_reclaimed). Refuses (VS_EIO) unless the
 * claim is Bound to another volume. */
int mig_release(mig_run *r, size_t i, vs_error *err);
/* Put plan pvc i's name back on its original volume and release the copy and its destination
 * claim: a claim before its swap, or a swap (interrupted or complete) whose workloads have not
 * started on the copy. r->originals[i] must hold the original claim when the name has left the
 * original volume. VS_EINVAL when the original volume is gone (the claim then stays on the
 * destination). */
int mig_unswap(mig_run *r, size_t i, vs_error *err);

#endif
