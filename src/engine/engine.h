/*
 * engine: a run of a plan. A plan (volshift.io/v1alpha1 Plan, a YAML file) is an ordered list of
 * named steps of a few kinds (scale, wait, job, patch, apply, delete, migrate, objectStore,
 * setState, defaultStorageClass); a run executes them one after the other under a journal in the
 * cluster. Before a step changes anything the journal holds its intent and what its undo needs (the previous
 * scale, the object before a patch, apply or delete, the previous state value); once its effect is
 * observed, done or failed with the time. A run killed anywhere is resumed from the journal, every
 * step looking at the cluster before it acts; undo runs the undos of the steps that started, in
 * reverse order.
 *
 * Nothing here prints: progress goes to an event callback, one JSON object per event. Plans are
 * plain JSON (the file's YAML as parsed); their positions only serve the errors of vs_engine_load.
 */
#ifndef VS_ENGINE_H
#define VS_ENGINE_H

#include "journal/journal.h"
#include "kube/kube.h"

#include <stdbool.h>

#define VS_ENGINE_API_VERSION "volshift.io/v1alpha1"
#define VS_ENGINE_KIND	      "Plan"

/* A plan file: no plan is longer than this. */
#define VS_ENGINE_PLAN_MAX_BYTES ((size_t)1 << 20)

/* A run's phases, as its journal holds them. */
#define VS_ENGINE_RUNNING "running"
#define VS_ENGINE_DONE	  "done"
#define VS_ENGINE_FAILED  "failed"
#define VS_ENGINE_ABORTED "aborted"
#define VS_ENGINE_UNDOING "undoing"
#define VS_ENGINE_UNDONE  "undone"
/* undo stopped at a step marked `undo: none` */
#define VS_ENGINE_UNDO_STOPPED "undo-stopped"

/*
 * Parse and validate plan text (len bytes) read from file (a name for messages). Every error is
 * "FILE:LINE:COLUMN: PATH: what was expected" (VS_EINVAL). *out (caller owns, json_decref) is the
 * plan as JSON.
 */
int vs_engine_load(const char *file, const char *text, size_t len, json_t **out, vs_error *err);
/* vs_engine_load of the file at path. */
int vs_engine_load_file(const char *path, json_t **out, vs_error *err);
/* Validate a plan already in JSON (one read back from a journal): as vs_engine_load, messages
 * without a place. */
int vs_engine_validate(const json_t *plan, vs_error *err);

/* The plan's metadata.name and its steps (borrowed). */
const char *vs_engine_plan_name(const json_t *plan);
const json_t *vs_engine_plan_steps(const json_t *plan);
/* The kind of a step ("scale", "wait", ...): its one key that names a kind. Static string. */
const char *vs_engine_step_kind(const json_t *step);
/* One line for people that says what a step does ("scale apps/v1 Deployment piraeus/cs-controller
 * to 0"). Caller frees. */
char *vs_engine_step_describe(const json_t *step);

/* True when a journal's frozen plan (vs_journal_plan, or the "plan" of vs_journal_decode) is a
 * plan run's rather than a storage-class migration's. */
bool vs_engine_is_run(const json_t *frozen);

/* Called with each event (borrowed for the call): {event: "step", step, kind, state: started |
 * done | failed | skipped | undone | undo-started | note, message?, error?}, {event: "log", step,
 * line}, {event: "run", run, phase, message}; a migrate step's migration's events as {event:
 * "migration", step, detail} and an objectStore step's sync's as {event: "object-store", step,
 * detail}. */
typedef void (*vs_engine_event_fn)(const json_t *event, void *ctx);

/*
 * Start a run of plan (borrowed; frozen into the journal) in the journal namespace ns: refused
 * (VS_EBUSY) while another run of the same metadata.name is unfinished (running, failed or
 * aborted: resume or undo it first). *out is its journal, lease held (caller frees).
 */
int vs_engine_start(vs_kube_client *c, const char *ns, const json_t *plan, vs_journal **out, vs_error *err);

/*
 * The journal id of run name_or_id in ns: a journal id of a plan run, or the newest run of a plan
 * with that metadata.name. *id (caller frees) is NULL when there is none (not an error: it may be
 * a storage-class migration's id).
 */
int vs_engine_find(vs_kube_client *c, const char *ns, const char *name_or_id, char **id, vs_error *err);

/*
 * Run the steps of the plan in journal j that are not done, in order (a new run and a resume alike:
 * a step left in intent or failed runs again after looking at the cluster; a failed Job is deleted
 * and run again). Stops at the first failure (phase failed), or before a step when an abort was
 * asked for or a stop requested (phase aborted, VS_ECANCEL); a stop requested (the first SIGINT or
 * SIGTERM) while a step waits (a wait, a Job) also ends that wait within about a second, the step
 * left unfinished for resume (phase aborted, VS_ECANCEL). Phase done at the end.
 */
int vs_engine_run(vs_kube_client *c, vs_journal *j, vs_engine_event_fn fn, void *ctx, vs_error *err);

/*
 * Undo the run in j: the steps that started, last first, each by its natural undo (scale back,
 * object restored, created object deleted, deleted object recreated, state value restored, an
 * object-store sync left as it is) or by its `undo:` steps. A step marked `undo: none` stops the
 * undo there (phase undo-stopped, VS_EINVAL saying so). Resumable: undos done are recorded and not
 * done again. Phase undone.
 */
int vs_engine_undo(vs_kube_client *c, vs_journal *j, vs_engine_event_fn fn, void *ctx, vs_error *err);

/*
 * The artifacts run id kept (Secrets in ns owned by its journal): *out is an object {NAME: {step,
 * path, data (base64)}} (caller owns).
 */
int vs_engine_artifacts(vs_kube_client *c, const char *ns, const char *id, json_t **out, vs_error *err);

/* The logs of run id's Jobs: *out is an object {STEP: text} (caller owns). */
int vs_engine_logs(vs_kube_client *c, const char *ns, const char *id, json_t **out, vs_error *err);

#endif
