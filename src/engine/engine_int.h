/*
 * engine_int: what the files of the engine share. run.c drives the steps; each kind of step (kinds.c,
 * wait.c, job.c, migrate.c, objectstore.c) is three functions: prepare reads what its undo will need
 * before anything changes, apply makes the change (again, harmlessly, after a crash) and observes
 * it, undo reverses it.
 */
#ifndef VS_ENGINE_INT_H
#define VS_ENGINE_INT_H

#include "engine/engine.h"

/* Labels and annotations on what a run keeps in the cluster (artifacts, logs, Jobs). */
#define ENG_LABEL_RUN	    "volshift.io/run"
#define ENG_LABEL_STEP	    "volshift.io/step"
#define ENG_ANN_ARTIFACT    "volshift.io/artifact"
#define ENG_ANN_PATH	    "volshift.io/path"
#define ENG_WAIT_DEFAULT_MS (5 * 60 * 1000)
#define ENG_JOB_DEFAULT_MS  (10 * 60 * 1000)

/* One run: the client, journal and plan (all borrowed), and where events go. */
typedef struct eng_run {
	vs_kube_client *c;
	vs_journal *j;
	const json_t *plan;
	vs_engine_event_fn fn;
	void *ctx;
	json_t *owner;	/* the ownerReference to the journal, once read (eng_owner_ref) */
	bool stoppable; /* a stop request ends its waits (a run; an undo goes on to its end) */
} eng_run;

/* One step being run or undone: its definition (borrowed from the plan), its name and the journal
 * key of its record. */
typedef struct eng_step {
	eng_run *run;
	const json_t *def;
	const char *name;
	const char *key;
	size_t index;	   /* its place in the plan */
	long long attempt; /* 1, then one more each time it runs again after a failure */
} eng_step;

/* Read what undo will need into *undo (caller owns; NULL when nothing). */
typedef int (*eng_prepare_fn)(eng_step *s, json_t **undo, vs_error *err);
/* Make the change and observe it; undo is what prepare recorded (may be NULL). */
typedef int (*eng_apply_fn)(eng_step *s, const json_t *undo, vs_error *err);

typedef struct eng_kind {
	const char *name;
	eng_prepare_fn prepare; /* NULL: nothing to record */
	eng_apply_fn apply;
	eng_apply_fn undo;    /* NULL: nothing to undo */
	eng_apply_fn cleanup; /* NULL: nothing; else run by undo before the undo (even one the plan gives) */
} eng_kind;

/* The kind of step def. Never NULL for a validated plan. */
const eng_kind *eng_kind_of(const json_t *def);

/* Emit event (stolen) to the run's callback, with "run": the run's id. */
void eng_emit(eng_run *r, json_t *event);
/* Emit a step event {event: "step", step, kind, state, index, steps, message?, error?} for s (err
 * may be NULL: no error). */
void eng_emit_step(eng_step *s, const char *state, const char *message, const vs_error *err);

/* The resource of apiVersion/kind in obj (a reference or a whole object), resolved by discovery. */
int eng_resolve(eng_run *r, const json_t *obj, vs_kube_api_resource *out, vs_error *err);
/* "apps/v1 Deployment ns/name" for messages; caller frees. */
char *eng_ref_text(const json_t *ref);

/* The options of the waits of r (timeout_ms): when r is stoppable, a stop request (the first Ctrl-C)
 * ends them with VS_ECANCEL, so that a long wait or Job does not keep a run from stopping (the step
 * is left unfinished, for resume). */
vs_kube_wait_opts eng_wait_opts(const eng_run *r, int64_t timeout_ms);
/* vs_kube_wait_gone with eng_wait_opts(timeout_ms). */
int eng_wait_gone(eng_run *r, const vs_kube_resource *res, const char *ns, const char *name, int64_t timeout_ms,
		  vs_error *err);

/* The timeout of a step's field key in ms (dflt when absent). */
int64_t eng_timeout_ms(const json_t *def, int64_t dflt);

/* An ownerReference to run r's journal, so that what the run keeps goes with it. *out caller owns. */
int eng_owner_ref(eng_run *r, json_t **out, vs_error *err);

/* The journal record of the plan's step name (NULL when it never started). Borrowed until the
 * journal writes that step again. */
const json_t *eng_step_record(eng_run *r, const char *name);

/* The kinds (kinds.c, wait.c, job.c, migrate.c, objectstore.c). */
extern const eng_kind eng_kind_scale, eng_kind_wait, eng_kind_job, eng_kind_patch, eng_kind_apply, eng_kind_delete,
	eng_kind_set_state, eng_kind_default_class, eng_kind_migrate, eng_kind_object_store;

/* spec.state's ConfigMap: write key (the plan's key, or key + ".step" for the step boundary) to
 * value (NULL removes it); *prev (may be NULL) receives the value before (caller frees; NULL when
 * there was none). The ConfigMap is created when missing. */
int eng_state_write(eng_run *r, const char *suffix, const char *value, char **prev, vs_error *err);

#endif
