/*
 * journal: the durable state of one migration, kept in the cluster as ConfigMaps (namespace
 * --state-namespace, default volshift-system) so that any volshift, on any machine, can see it,
 * continue it or undo it. It holds the frozen plan, the state of every step (intent before it
 * runs, done once its effect has been observed, failed with the error), the objects that will be
 * deleted and must be recreated (original claims, StatefulSets), and a lease: the journal is also
 * the lock. A head ConfigMap, volshift-ID, holds the lease, the phase and the plan (the rest of a
 * large plan in pieces volshift-ID-plan-K); the records are in shards volshift-ID-records-K of at
 * most a few hundred KiB each, so a journal has no size a migration meets, and a change rewrites
 * only the shard that holds it. Every piece carries the label volshift.io/migration=ID. Every
 * write carries the piece's resourceVersion as a precondition; a conflict means another volshift
 * wrote, and the journal reloads to find out whether it still holds the lease. A write is atomic
 * per record: after a crash each record is as it was or as written.
 *
 * Ownership: a vs_journal owns its copy of the ConfigMaps; pointers returned into it are borrowed
 * and valid until that key is written again. The client passed in is borrowed and must outlive the
 * journal. A journal is thread-safe: the groups of a migration run in threads of their own, each
 * writing its own keys, and threads that write at the same time share one write.
 */
#ifndef VS_JOURNAL_H
#define VS_JOURNAL_H

#include "kube/kube.h"

#include <stdbool.h>

#define VS_JOURNAL_NAMESPACE "volshift-system"
#define VS_JOURNAL_LEASE_MS  (30 * 1000)

/* The most data one ConfigMap of a journal can hold: the API server refuses more than 1 MiB. */
#define VS_JOURNAL_MAX_BYTES ((size_t)1 << 20)

typedef struct vs_journal vs_journal;

/* Step states as written in the journal. */
#define VS_STEP_INTENT "intent"
#define VS_STEP_DONE   "done"
#define VS_STEP_FAILED "failed"

/*
 * Start the journal of a new migration in namespace ns (created when missing): a fresh id, the
 * plan (borrowed; copied), phase "running", and the lease held by this process. *out is owned by
 * the caller (vs_journal_free).
 */
int vs_journal_create(vs_kube_client *c, const char *ns, const json_t *plan, vs_journal **out, vs_error *err);

/*
 * Open the journal of migration id and take its lease. Another holder whose lease has not
 * expired makes this fail (VS_EINVAL, naming the holder and when its lease expires) unless force.
 * Shards a crashed holder created but never counted are deleted. Errors: VS_EAPI NotFound when
 * there is no such migration; VS_EIO naming the piece when one the head counts is missing.
 */
int vs_journal_open(vs_kube_client *c, const char *ns, const char *id, bool force, vs_journal **out, vs_error *err);

/* Release the lease (best effort) and free; NULL is fine. */
void vs_journal_free(vs_journal *j);

/* The migration's id. Borrowed. */
const char *vs_journal_id(const vs_journal *j);
/* The namespace its ConfigMaps are in. Borrowed. */
const char *vs_journal_namespace(const vs_journal *j);
/* Delete the journal of a migration that changed nothing (refused before its first step), every
 * piece of it, then free it. Best effort: a failure is logged. */
void vs_journal_discard(vs_journal *j);
/* The frozen plan as written at creation. Borrowed. */
const json_t *vs_journal_plan(const vs_journal *j);
/* The state of step key (VS_STEP_*), or NULL when it never started. Borrowed. */
const char *vs_journal_step_state(const vs_journal *j, const char *key);
/* The phase: "running", "done", "failed", "rolled-back". Borrowed. */
const char *vs_journal_phase(const vs_journal *j);
/* A saved object, or NULL. Borrowed. */
const json_t *vs_journal_object(const vs_journal *j, const char *key);
/* True when someone asked this migration to stop (volshift abort), as last seen: a write of the
 * head (an abort makes it conflict, which reloads), a lease renewal, or a read of the head that
 * this makes when the head was not seen for a second, brings the request in. */
bool vs_journal_abort_requested(vs_journal *j);
/* Withdraw an abort request (a resume continues what was stopped), written at once. An abort asked
 * for meanwhile stays. */
int vs_journal_withdraw_abort(vs_journal *j, vs_error *err);

/*
 * Record step key in state (error may be NULL; extra, borrowed and may be NULL, is merged into the
 * step's record, e.g. bytes copied), with the time. Written before the step runs (intent) and
 * after its effect is observed (done). The record keeps what earlier writes put there, so
 * "started" / "startedMs" (wall-clock ms) are those of the first attempt, across crashes and
 * resumes. durable: the cluster holds the record (and every change before it) when this returns;
 * otherwise it goes with the next write, which suits a done (lost in a crash, it only runs an
 * idempotent step again) and the intent of a step whose re-run is harmless. Fails with VS_EINVAL
 * when another volshift took the lease.
 */
int vs_journal_step(vs_journal *j, const char *key, const char *state, const char *error, const json_t *extra,
		    bool durable, vs_error *err);
/* The record of step key ({state, time, started, startedMs, error, ...}), or NULL. Borrowed. */
const json_t *vs_journal_step_record(const vs_journal *j, const char *key);
/* Forget step key, as if it never started (a group undone is done again from its start); written
 * now when durable, else with the next write. */
int vs_journal_forget_step(vs_journal *j, const char *key, bool durable, vs_error *err);
/* Save obj (borrowed; copied) under key, before the object is deleted: durable as for
 * vs_journal_step (a later durable write may carry it, if it comes before the delete). */
int vs_journal_save_object(vs_journal *j, const char *key, const json_t *obj, bool durable, vs_error *err);
/* Set the phase (and, for "failed", the error). */
int vs_journal_set_phase(vs_journal *j, const char *phase, const char *error, vs_error *err);

/* Every migration's journal in ns, newest first, as a List (with the resourceVersion of the list
 * of ConfigMaps) of one item per journal: its head with the plan, steps and objects of its other
 * pieces gathered into its data (a piece missing is said in data.error), as vs_journal_decode
 * takes it. *out owned by the caller. A missing namespace is an empty list. */
int vs_journal_list(vs_kube_client *c, const char *ns, json_t **out, vs_error *err);
/* Decode one journal, an item of vs_journal_list's or a journal of one ConfigMap (as an earlier
 * volshift wrote it), into {id, phase, error, holder, leaseRenewed, leaseLive (a holder that may
 * still be running holds an unexpired lease), created, plan, steps, objects, namespace,
 * abortRequested, abortRequestedAt and abortRequestedBy (empty when none)}; caller owns. */
json_t *vs_journal_decode(const json_t *configmap);
/* Migration id's journal in ns, decoded (vs_journal_decode), into *out, or NULL when there is none.
 * Reads only; no lease. */
int vs_journal_peek(vs_kube_client *c, const char *ns, const char *id, json_t **out, vs_error *err);
/* Ask a running migration to stop at its next safe point, saying who asks (by: "user@host"; sets
 * annotations; no lease needed). */
int vs_journal_request_abort(vs_kube_client *c, const char *ns, const char *id, const char *by, vs_error *err);

/* An ownerReference (apiVersion, kind, name, uid) to run id's journal ConfigMap in ns, for objects
 * that must go when the run's journal is deleted; *out caller owns (owner.c). */
int vs_journal_owner_ref(vs_kube_client *c, const char *ns, const char *id, json_t **out, vs_error *err);

#endif
