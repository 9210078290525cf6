/*
 * The step runner: a plan's steps one after the other under the run's journal, and their undos in
 * reverse. The journal says where a run is; the cluster says what is true. Every step records its
 * intent, with what its undo needs, before it changes anything, and done once its effect has been
 * observed, so that a volshift killed at any point is continued by `resume` (a step in intent runs
 * again, each kind doing so harmlessly) and undone by `undo` (every step that started is reversed,
 * last first). Failpoints plan:before, plan:intent, plan:applied and plan:done sit at each step's
 * boundaries for the crash tests.
 */
#include "engine/engine_int.h"

#include <stdlib.h>
#include <string.h>

#define ENG_STEP_PREFIX "step/"
#define ENG_UNDO_PREFIX "undo/"

void eng_emit(eng_run *r, json_t *event)
{
	json_object_set_new(event, "run", json_string(vs_journal_id(r->j)));
	if (r->fn)
		r->fn(event, r->ctx);
	json_decref(event);
}

int eng_owner_ref(eng_run *r, json_t **out, vs_error *err)
{
	int rc = 0;

	if (!r->owner)
		rc = vs_journal_owner_ref(r->c, vs_journal_namespace(r->j), vs_journal_id(r->j), &r->owner, err);
	*out = rc == 0 ? json_deep_copy(r->owner) : NULL;
	return rc;
}

int eng_resolve(eng_run *r, const json_t *obj, vs_kube_api_resource *out, vs_error *err)
{
	return vs_kube_resolve(r->c, vs_json_str_or(obj, "apiVersion", ""), vs_json_str_or(obj, "kind", ""), out, err);
}

char *eng_ref_text(const json_t *ref)
{
	const char *ns = vs_json_str(ref, "namespace") ?: vs_json_str(ref, "metadata.namespace");
	const char *name = vs_json_str(ref, "name") ?: vs_json_str(ref, "metadata.name");

	if (!name)
		return vs_xasprintf("%s %s %s%s-l %s", vs_json_str_or(ref, "apiVersion", ""),
				    vs_json_str_or(ref, "kind", ""), ns ? ns : "", ns ? " " : "",
				    vs_json_str_or(ref, "selector", ""));
	return vs_xasprintf("%s %s %s%s%s", vs_json_str_or(ref, "apiVersion", ""), vs_json_str_or(ref, "kind", ""),
			    ns ? ns : "", ns ? "/" : "", name);
}

int64_t eng_timeout_ms(const json_t *def, int64_t dflt)
{
	int64_t ms = 0;

	if (!vs_json_str(def, "timeout") || vs_duration_parse(vs_json_str(def, "timeout"), &ms, NULL) < 0 || ms <= 0)
		return dflt;
	return ms;
}

int eng_state_write(eng_run *r, const char *suffix, const char *value, char **prev, vs_error *err)
{
	const json_t *ref = vs_json_path(r->plan, "spec.state.configMap");
	const char *ns = vs_json_str(ref, "namespace"), *name = vs_json_str(ref, "name");
	char *key = vs_xasprintf("%s%s", vs_json_str(ref, "key"), suffix);
	json_t *cm = NULL, *body = NULL;
	int rc = vs_kube_get(r->c, &VS_KUBE_CONFIGMAPS, ns, name, &cm, err);

	if (prev)
		*prev = NULL;
	if (rc < 0 && vs_error_is(err, "NotFound") && value) {
		body = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
				 "metadata", "name", name, "namespace", ns, "data", key, value);
		rc = vs_kube_create(r->c, &VS_KUBE_CONFIGMAPS, ns, body, NULL, err);
	} else if (rc < 0 && vs_error_is(err, "NotFound")) {
		vs_error_clear(err);
		rc = 0;
	} else if (rc == 0) {
		const char *was = json_string_value(json_object_get(json_object_get(cm, "data"), key));
		if (prev && was)
			*prev = vs_xstrdup(was);
		body = json_pack("{s:{s:s?}}", "data", key, value);
		if (!value)
			json_object_set_new(json_object_get(body, "data"), key, json_null());
		rc = vs_kube_patch(r->c, &VS_KUBE_CONFIGMAPS, ns, name, VS_KUBE_PATCH_MERGE, body, NULL, err);
	}
	if (rc < 0)
		vs_error_wrap(err, "state configmap %s/%s key %s", ns, name, key);
	json_decref(cm);
	json_decref(body);
	free(key);
	return rc;
}

const json_t *eng_step_record(eng_run *r, const char *name)
{
	char *key = vs_xasprintf(ENG_STEP_PREFIX "%s", name);
	const json_t *rec = vs_journal_step_record(r->j, key);

	free(key);
	return rec;
}

/* The step boundary in spec.state's ConfigMap (KEY.step: "STEP: WHAT"); nothing without spec.state. */
static int eng_boundary(eng_step *s, const char *what, vs_error *err)
{
	char *value;
	int rc;

	if (!vs_json_path(s->run->plan, "spec.state"))
		return 0;
	value = vs_xasprintf("%s: %s", s->name, what);
	rc = eng_state_write(s->run, ".step", value, NULL, err);
	free(value);
	return rc;
}

void eng_emit_step(eng_step *s, const char *state, const char *message, const vs_error *err)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "event", "step", "step", s->name, "kind",
			       vs_engine_step_kind(s->def), "state", state, "index", (json_int_t)s->index + 1, "steps",
			       (json_int_t)json_array_size(vs_engine_plan_steps(s->run->plan)));

	if (message)
		json_object_set_new(ev, "message", json_string(message));
	if (err)
		json_object_set_new(ev, "error", json_string(err->message));
	eng_emit(s->run, ev);
}

/* The undo information recorded with step s's intent (a copy; NULL when none or not started); sets
 * s->attempt from the record. */
static json_t *eng_recorded_undo(eng_step *s, bool *started)
{
	const json_t *rec = vs_journal_step_record(s->run->j, s->key);

	*started = rec != NULL;
	s->attempt = vs_json_int(rec, "attempt", 1) + (strcmp(vs_json_str_or(rec, "state", ""), VS_STEP_FAILED) == 0);
	return json_deep_copy(json_object_get(rec, "undo"));
}

/* Run step s: intent with its undo information, the change, done; failed with the error. */
static int eng_step_run(eng_step *s, vs_error *err)
{
	const eng_kind *k = eng_kind_of(s->def);
	bool started;
	json_t *undo = eng_recorded_undo(s, &started), *extra = NULL;
	char *what = vs_engine_step_describe(s->def);
	int rc = 0;

	if (!started && k->prepare)
		rc = k->prepare(s, &undo, err);
	if (rc == 0)
		rc = eng_boundary(s, "started", err);
	if (rc == 0) {
		extra = json_pack("{s:s, s:I, s:O?}", "kind", k->name, "attempt", (json_int_t)s->attempt, "undo", undo);
		rc = vs_journal_step(s->run->j, s->key, VS_STEP_INTENT, NULL, extra, true, err);
	}
	if (rc == 0)
		rc = vs_failpoint("plan:intent", err);
	if (rc == 0) {
		eng_emit_step(s, "started", what, NULL);
		rc = k->apply(s, undo, err);
	}
	if (rc == 0)
		rc = vs_failpoint("plan:applied", err);
	if (rc == 0)
		rc = vs_journal_step(s->run->j, s->key, VS_STEP_DONE, NULL, NULL, true, err);
	if (rc == 0)
		rc = eng_boundary(s, "done", err);
	if (rc == 0) {
		eng_emit_step(s, "done", NULL, NULL);
		rc = vs_failpoint("plan:done", err);
	} else if (rc != VS_ECANCEL) {
		vs_error e = *err;
		vs_journal_step(s->run->j, s->key, VS_STEP_FAILED, err->message, NULL, true, &e);
		eng_boundary(s, "failed", &e);
		eng_emit_step(s, "failed", NULL, err);
	}
	json_decref(undo);
	json_decref(extra);
	free(what);
	return rc < 0 ? vs_error_wrap(err, "step %s", s->name) : 0;
}

static void eng_emit_phase(eng_run *r, const char *phase, const char *message)
{
	eng_emit(r, json_pack("{s:s, s:s, s:s, s:s}", "event", "run", "name", vs_engine_plan_name(r->plan), "phase",
			      phase, "message", message));
}

/* Set the run's phase (error: its message, or NULL) and say so. */
static int eng_set_phase(eng_run *r, const char *phase, const vs_error *cause, const char *message, vs_error *err)
{
	int rc = vs_journal_set_phase(r->j, phase, cause ? cause->message : NULL, err);

	eng_emit_phase(r, phase, message);
	return rc;
}

/* A stop asked for with a signal or with `volshift abort` (read from the cluster: the journal only
 * sees it at its next write). */
static bool eng_stop_asked(eng_run *r)
{
	json_t *now = NULL;
	bool asked = vs_stop_requested() || vs_journal_abort_requested(r->j);
	vs_error err;

	vs_error_clear(&err);
	if (!asked && vs_journal_peek(r->c, vs_journal_namespace(r->j), vs_journal_id(r->j), &now, &err) == 0)
		asked = vs_json_bool(now, "abortRequested", false);
	json_decref(now);
	return asked;
}

static void eng_run_init(eng_run *r, vs_kube_client *c, vs_journal *j, vs_engine_event_fn fn, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->c = c;
	r->j = j;
	r->plan = vs_journal_plan(j);
	r->fn = fn;
	r->ctx = ctx;
}

/* Run the steps from the first that is not done; stops at an abort or a failure. */
static int eng_run_steps(eng_run *r, vs_error *err)
{
	const json_t *def;
	size_t i;
	int rc = 0;

	json_array_foreach (vs_engine_plan_steps(r->plan), i, def) {
		char *key = vs_xasprintf(ENG_STEP_PREFIX "%s", vs_json_str(def, "name"));
		eng_step s = { r, def, vs_json_str(def, "name"), key, i, 1 };
		const char *state = vs_journal_step_state(r->j, key);
		if (state && strcmp(state, VS_STEP_DONE) == 0) {
			eng_emit_step(&s, "skipped", "done already", NULL);
		} else if ((rc = vs_failpoint("plan:before", err)) < 0) {
		} else if (eng_stop_asked(r)) {
			rc = vs_error_set(err, VS_ECANCEL, "stopped on request before step %s", s.name);
		} else {
			rc = eng_step_run(&s, err);
		}
		free(key);
		if (rc < 0)
			break;
	}
	return rc;
}

int vs_engine_run(vs_kube_client *c, vs_journal *j, vs_engine_event_fn fn, void *ctx, vs_error *err)
{
	eng_run r;
	const char *phase = vs_journal_phase(j);
	int rc;

	eng_run_init(&r, c, j, fn, ctx);
	r.stoppable = true;
	if (vs_str_has_prefix(phase, "undo"))
		return vs_error_set(err, VS_EINVAL,
				    "run %s of plan %s was undone (phase %s); start a new one with 'volshift run'",
				    vs_journal_id(j), vs_engine_plan_name(r.plan), phase);
	rc = vs_engine_validate(r.plan, err);
	if (rc == 0 && strcmp(phase, VS_ENGINE_RUNNING) != 0)
		rc = eng_set_phase(&r, VS_ENGINE_RUNNING, NULL, "resumed", err);
	if (rc == 0)
		rc = eng_run_steps(&r, err);
	if (rc == 0) {
		rc = eng_set_phase(&r, VS_ENGINE_DONE, NULL, "every step done", err);
	} else {
		vs_error e;
		vs_error_clear(&e);
		eng_set_phase(&r, rc == VS_ECANCEL ? VS_ENGINE_ABORTED : VS_ENGINE_FAILED, err,
			      rc == VS_ECANCEL ? "stopped on request" : err->message, &e);
	}
	json_decref(r.owner);
	return rc;
}

/* ---- undo ---------------------------------------------------------------------------------------- */

/* Step s's own `undo:` steps, each run as a step of its own under KEY/N. */
static int eng_undo_steps(eng_step *s, const json_t *steps, vs_error *err)
{
	const json_t *def;
	size_t i;
	int rc = 0;

	json_array_foreach (steps, i, def) {
		char *key = vs_xasprintf("%s/%zu", s->key, i), *name = vs_xasprintf("%s-undo-%zu", s->name, i);
		eng_step sub = { s->run, def, name, key, s->index, 1 };
		const char *state = vs_journal_step_state(s->run->j, key);
		if (!state || strcmp(state, VS_STEP_DONE) != 0)
			rc = eng_step_run(&sub, err);
		free(key);
		free(name);
		if (rc < 0)
			break;
	}
	return rc;
}

/* Undo one step that started (its record under ENG_STEP_PREFIX), recorded under ENG_UNDO_PREFIX. */
static int eng_undo_one(eng_run *r, const json_t *def, size_t index, vs_error *err)
{
	const char *name = vs_json_str(def, "name");
	char *key = vs_xasprintf(ENG_STEP_PREFIX "%s", name), *ukey = vs_xasprintf(ENG_UNDO_PREFIX "%s", name);
	eng_step s = { r, def, name, key, index, 1 }, us = { r, def, name, ukey, index, 1 };
	const json_t *own = json_object_get(def, "undo");
	bool started;
	json_t *undo = eng_recorded_undo(&s, &started);
	const char *ustate = vs_journal_step_state(r->j, ukey);
	int rc = 0;

	if (!started || (ustate && strcmp(ustate, VS_STEP_DONE) == 0))
		goto done;
	rc = vs_journal_step(r->j, ukey, VS_STEP_INTENT, NULL, NULL, true, err);
	if (rc == 0)
		eng_emit_step(&s, "undo-started", NULL, NULL);
	if (rc == 0 && eng_kind_of(def)->cleanup)
		rc = eng_kind_of(def)->cleanup(&s, undo, err);
	if (rc == 0 && json_is_array(own))
		rc = eng_undo_steps(&us, own, err);
	else if (rc == 0 && eng_kind_of(def)->undo)
		rc = eng_kind_of(def)->undo(&s, undo, err);
	if (rc == 0)
		rc = vs_journal_step(r->j, ukey, VS_STEP_DONE, NULL, NULL, true, err);
	if (rc == 0)
		rc = eng_boundary(&s, "undone", err);
	if (rc == 0)
		eng_emit_step(&s, "undone", NULL, NULL);
	else
		rc = vs_error_wrap(err, "undo of step %s", name);
done:
	json_decref(undo);
	free(key);
	free(ukey);
	return rc;
}

/* A step that started and says `undo: none` stops the undo before it. */
static bool eng_irreversible(eng_run *r, const json_t *def)
{
	char *key = vs_xasprintf(ENG_STEP_PREFIX "%s", vs_json_str(def, "name"));
	bool started = vs_journal_step_record(r->j, key) != NULL;

	free(key);
	return started && strcmp(vs_json_str_or(def, "undo", ""), "none") == 0;
}

int vs_engine_undo(vs_kube_client *c, vs_journal *j, vs_engine_event_fn fn, void *ctx, vs_error *err)
{
	const json_t *steps;
	eng_run r;
	int rc;

	eng_run_init(&r, c, j, fn, ctx);
	steps = vs_engine_plan_steps(r.plan);
	rc = vs_engine_validate(r.plan, err);
	if (rc == 0)
		rc = eng_set_phase(&r, VS_ENGINE_UNDOING, NULL, "undoing the steps that started, last first", err);
	for (size_t i = json_array_size(steps); rc == 0 && i-- > 0;) {
		const json_t *def = json_array_get(steps, i);
		if (eng_irreversible(&r, def)) {
			char *msg = vs_xasprintf("step %s is marked undo: none: undo stopped there; it and the %zu "
						 "step(s) before it are left as they are",
						 vs_json_str(def, "name"), i);
			vs_error_set(err, VS_EINVAL, "%s", msg);
			vs_error e;
			vs_error_clear(&e);
			eng_set_phase(&r, VS_ENGINE_UNDO_STOPPED, err, msg, &e);
			free(msg);
			rc = VS_EINVAL;
			goto done;
		}
		rc = eng_undo_one(&r, def, i, err);
	}
	if (rc == 0) {
		rc = eng_set_phase(&r, VS_ENGINE_UNDONE, NULL, "every step that started is undone", err);
	} else {
		vs_error e;
		vs_error_clear(&e);
		eng_set_phase(&r, VS_ENGINE_FAILED, err, err->message, &e);
	}
done:
	json_decref(r.owner);
	return rc;
}

/* ---- runs in the journal namespace ------------------------------------------------------------- */

/* Every plan run's decoded journal in ns, newest first, into *out (an array; caller owns). */
static int eng_list_runs(vs_kube_client *c, const char *ns, json_t **out, vs_error *err)
{
	json_t *list = NULL, *cm;
	size_t i;
	int rc = vs_journal_list(c, ns, &list, err);

	*out = json_array();
	json_array_foreach (json_object_get(list, "items"), i, cm) {
		json_t *d = vs_journal_decode(cm);
		if (vs_engine_is_run(json_object_get(d, "plan")))
			json_array_append(*out, d);
		json_decref(d);
	}
	json_decref(list);
	return rc;
}

/* True when decoded journal d is a run of the plan named name. */
static bool eng_run_of(const json_t *d, const char *name)
{
	return strcmp(vs_engine_plan_name(json_object_get(d, "plan")) ?: "", name) == 0;
}

int vs_engine_start(vs_kube_client *c, const char *ns, const json_t *plan, vs_journal **out, vs_error *err)
{
	json_t *runs = NULL, *d;
	size_t i;
	int rc = eng_list_runs(c, ns, &runs, err);

	*out = NULL;
	json_array_foreach (runs, i, d) {
		const char *phase = vs_json_str_or(d, "phase", VS_ENGINE_RUNNING);
		if (rc < 0 || !eng_run_of(d, vs_engine_plan_name(plan)) || strcmp(phase, VS_ENGINE_DONE) == 0 ||
		    strcmp(phase, VS_ENGINE_UNDONE) == 0)
			continue;
		rc = vs_error_set(err, VS_EBUSY,
				  "plan %s has an unfinished run %s (phase %s): 'volshift resume %s' continues it, "
				  "'volshift undo %s' undoes it",
				  vs_engine_plan_name(plan), vs_json_str_or(d, "id", "?"), phase,
				  vs_engine_plan_name(plan), vs_engine_plan_name(plan));
	}
	json_decref(runs);
	if (rc == 0)
		rc = vs_journal_create(c, ns, plan, out, err);
	return rc;
}

int vs_engine_find(vs_kube_client *c, const char *ns, const char *name_or_id, char **id, vs_error *err)
{
	json_t *runs = NULL, *d;
	size_t i;
	int rc = eng_list_runs(c, ns, &runs, err);

	*id = NULL;
	json_array_foreach (runs, i, d) {
		if (rc == 0 && !*id &&
		    (strcmp(vs_json_str_or(d, "id", ""), name_or_id) == 0 || eng_run_of(d, name_or_id)))
			*id = vs_xstrdup(vs_json_str(d, "id"));
	}
	json_decref(runs);
	return rc;
}
