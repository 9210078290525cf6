/*
 * `volshift run FILE`, `volshift undo NAME` and `volshift artifacts NAME`: plans, whose runs the
 * engine executes and records (src/engine). This file parses flags, shows the plan, asks, and
 * prints the engine's events; `resume`, `status` and `abort` reach plan runs through
 * vs_cli_run_resume, vs_cli_run_status and vs_cli_run_id.
 */
#include "cli.h"
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char run_help[] =
	"Usage: volshift run FILE [--yes] [--output text|json] [--state-namespace NS] [--kubeconfig FILE]\n"
	"                         [--context NAME]\n"
	"\n"
	"Run the plan in FILE (a volshift.io/v1alpha1 Plan): checked first, shown, confirmed on a terminal\n"
	"(--yes does not ask), then run step by step, each step recorded in the cluster before and after it\n"
	"acts. 'volshift resume NAME' continues a run that stopped, 'volshift undo NAME' undoes it.\n";

static const char undo_help[] =
	"Usage: volshift undo NAME [--yes] [--output text|json] [--state-namespace NS] [--kubeconfig FILE]\n"
	"\n"
	"Undo run NAME (the plan's name or the run's id): every step that started, last first, by its natural\n"
	"undo or the steps its 'undo:' gives. A step marked 'undo: none' stops the undo there.\n";

static const char artifacts_help[] =
	"Usage: volshift artifacts NAME [--dir DIR] [--state-namespace NS] [--kubeconfig FILE]\n"
	"\n"
	"Write the artifacts run NAME kept (and its Jobs' logs, as STEP.log) into DIR (default: .).\n";

/* Where the engine's events go: the output, and the text state of objectStore steps' progress. */
typedef struct run_printer {
	vs_out *o;
	vs_cli_s3_text s3;
} run_printer;

static void run_printer_init(run_printer *p, vs_out *o)
{
	memset(p, 0, sizeof(*p));
	p->o = o;
	p->s3.out = o;
}

/* Prints the engine's events: ctx is a run_printer. */
static void run_event(const json_t *ev, void *ctx)
{
	run_printer *p = ctx;
	vs_out *o = p->o;
	const char *type = vs_json_str_or(ev, "event", ""), *state = vs_json_str_or(ev, "state", "");
	char *line = NULL;

	if (vs_out_is_json(o)) {
		vs_out_json(o, ev);
		return;
	}
	if (strcmp(type, "migration") == 0) { /* a migrate step's progress, shown as volshift migrate shows it */
		vs_out_event(json_object_get(ev, "detail"), o);
		return;
	}
	if (strcmp(type, "object-store") == 0) { /* an objectStore step's, as volshift s3 sync shows it */
		vs_cli_s3_event_text(&p->s3, json_object_get(ev, "detail"));
		return;
	}
	if (strcmp(type, "log") == 0)
		line = vs_xasprintf("      | %s", vs_json_str_or(ev, "line", ""));
	else if (strcmp(type, "run") == 0)
		line = vs_xasprintf("==> run %s (%s): %s: %s", vs_json_str_or(ev, "name", ""),
				    vs_json_str_or(ev, "run", ""), vs_json_str_or(ev, "phase", ""),
				    vs_json_str_or(ev, "message", ""));
	else if (strcmp(type, "step") == 0)
		line = vs_xasprintf("[%lld/%lld] %s: %s%s%s", vs_json_int(ev, "index", 0), vs_json_int(ev, "steps", 0),
				    vs_json_str_or(ev, "step", ""), state,
				    vs_json_str(ev, "message") || vs_json_str(ev, "error") ? ": " : "",
				    vs_json_str(ev, "error") ?: vs_json_str_or(ev, "message", ""));
	if (line)
		vs_out_message(o, type, line);
	free(line);
}

/* The plan as text (or one "plan-run" JSON event). */
static void run_show(vs_out *o, const json_t *plan)
{
	const json_t *step;
	size_t i;

	if (vs_out_is_json(o)) {
		json_t *ev = json_pack("{s:s, s:O}", "event", "plan-run", "plan", plan);
		vs_out_json(o, ev);
		json_decref(ev);
		return;
	}
	char *head =
		vs_xasprintf("Plan %s: %s", vs_engine_plan_name(plan), vs_json_str_or(plan, "spec.description", ""));
	vs_out_message(o, "plan-run", head);
	free(head);
	json_array_foreach (vs_engine_plan_steps(plan), i, step) {
		char *what = vs_engine_step_describe(step);
		char *line =
			vs_xasprintf("  %2zu. %-24s %s%s", i + 1, vs_json_str(step, "name"), what,
				     strcmp(vs_json_str_or(step, "undo", ""), "none") == 0 ? " (irreversible)" : "");
		vs_out_message(o, "plan-run", line);
		free(line);
		free(what);
	}
}

/* How a run ended, with the commands that go on from there. */
static int run_outcome(vs_out *o, const char *cmd, vs_journal *j, int rc, const vs_error *err)
{
	const char *name = vs_engine_plan_name(vs_journal_plan(j));
	char *what;

	if (rc == 0)
		return VS_EXIT_OK;
	what = vs_xasprintf("run %s (%s) stopped", name, vs_journal_id(j));
	vs_out_error(o, cmd, what, err);
	free(what);
	what = vs_xasprintf("'volshift resume %s' continues it, 'volshift undo %s' undoes what it did, "
			    "'volshift status %s' shows it.",
			    name, name, name);
	vs_out_message(o, "run-unfinished", what);
	free(what);
	return VS_EXIT_FAILED;
}

static int run_run(vs_kube_client *c, const vs_cli_common *common, vs_out *o)
{
	run_printer p;
	json_t *plan = NULL;
	vs_journal *j = NULL;
	vs_error err;
	int rc;

	vs_error_clear(&err);
	if (vs_engine_load_file(common->id, &plan, &err) < 0) /* changed since vs_cli_cmd_run read it */
		return vs_out_error(o, "run", "the plan (nothing was done)", &err);
	run_show(o, plan);
	if (!vs_cli_ask(common->yes, o, "Run these steps?", false)) {
		vs_out_message(o, "cancelled", "Nothing was done.");
		json_decref(plan);
		return VS_EXIT_FAILED;
	}
	if (vs_engine_start(c, common->state_ns, plan, &j, &err) < 0) {
		json_decref(plan);
		return vs_out_error(o, "run", "starting the run", &err);
	}
	vs_stop_install();
	run_printer_init(&p, o);
	rc = run_outcome(o, "run", j, vs_engine_run(c, j, run_event, &p, &err), &err);
	vs_journal_free(j);
	json_decref(plan);
	return rc;
}

/* The plan is checked before the cluster is reached: a bad file is bad usage wherever it runs. */
int vs_cli_cmd_run(int argc, char **argv)
{
	vs_cli_common common = { 0 };
	json_t *plan = NULL;
	vs_error err;
	int rc = vs_cli_common_parse(&common, argc, argv, run_help, VS_CLI_ID_REQUIRED);

	if (rc != VS_EXIT_OK)
		return rc < 0 ? VS_EXIT_OK : rc;
	vs_error_clear(&err);
	if (vs_engine_load_file(common.id, &plan, &err) < 0) {
		vs_out_error(NULL, "run", "the plan (nothing was done)", &err);
		return VS_EXIT_USAGE;
	}
	json_decref(plan);
	return vs_cli_with_cluster(argc, argv, run_help, VS_CLI_ID_REQUIRED, run_run);
}

int vs_cli_run_id(vs_kube_client *c, const vs_cli_common *common, char **id, vs_error *err)
{
	return vs_engine_find(c, common->state_ns, common->id, id, err);
}

/* Open run id's journal for cmd (lease taken; --force takes it over). */
static int run_open(vs_kube_client *c, const vs_cli_common *common, const char *cmd, const char *id, vs_journal **j,
		    vs_out *o)
{
	vs_error err;

	vs_error_clear(&err);
	if (vs_journal_open(c, common->state_ns, id, common->force, j, &err) < 0)
		return vs_out_error(o, cmd, "opening the run's journal", &err);
	return VS_EXIT_OK;
}

int vs_cli_run_resume(vs_kube_client *c, const vs_cli_common *common, const char *id, vs_out *o)
{
	run_printer p;
	vs_journal *j = NULL;
	vs_error err;
	int rc = run_open(c, common, "resume", id, &j, o);

	if (rc != VS_EXIT_OK)
		return rc;
	vs_error_clear(&err);
	if (vs_journal_abort_requested(j) && vs_journal_withdraw_abort(j, &err) < 0) {
		rc = vs_out_error(o, "resume", "withdrawing the abort request", &err);
	} else {
		vs_stop_install();
		run_printer_init(&p, o);
		rc = run_outcome(o, "resume", j, vs_engine_run(c, j, run_event, &p, &err), &err);
	}
	vs_journal_free(j);
	return rc;
}

/* The run NAME names (an error printed when none). */
static int run_find(vs_kube_client *c, const vs_cli_common *common, const char *cmd, char **id, vs_out *o)
{
	vs_error err;

	vs_error_clear(&err);
	if (vs_cli_run_id(c, common, id, &err) < 0)
		return vs_out_error(o, cmd, "listing the runs", &err);
	if (!*id) {
		vs_error_set(&err, VS_EINVAL,
			     "no run of a plan named %s in namespace %s ('volshift status' lists them)", common->id,
			     common->state_ns);
		return vs_out_error(o, cmd, common->id, &err);
	}
	return VS_EXIT_OK;
}

static int run_undo(vs_kube_client *c, const vs_cli_common *common, vs_out *o)
{
	run_printer p;
	vs_journal *j = NULL;
	char *id = NULL;
	vs_error err;
	int rc = run_find(c, common, "undo", &id, o);

	vs_error_clear(&err);
	if (rc == VS_EXIT_OK)
		rc = run_open(c, common, "undo", id, &j, o);
	if (rc == VS_EXIT_OK) {
		vs_stop_install();
		run_printer_init(&p, o);
		if (vs_engine_undo(c, j, run_event, &p, &err) < 0)
			rc = vs_out_error(o, "undo", vs_engine_plan_name(vs_journal_plan(j)), &err);
	}
	vs_journal_free(j);
	free(id);
	return rc;
}

int vs_cli_cmd_undo(int argc, char **argv)
{
	return vs_cli_with_cluster(argc, argv, undo_help, VS_CLI_ID_REQUIRED, run_undo);
}

/* ---- artifacts ------------------------------------------------------------------------------------ */

static const char *run_artifacts_dir = ".";

/* Write data (base64; NULL: text as is) into dir/file. */
static int run_write(vs_out *o, const char *file, const char *b64, const char *text)
{
	char *path = vs_xasprintf("%s/%s", run_artifacts_dir, file);
	unsigned char *raw = NULL;
	size_t len = text ? strlen(text) : 0;
	vs_error err;
	int rc = 0;

	vs_error_clear(&err);
	if (b64)
		rc = vs_base64_decode(b64, &raw, &len, &err);
	if (rc == 0)
		rc = vs_file_write_atomic(path, raw ? (const void *)raw : text, len, 0644, &err);
	if (rc < 0)
		rc = vs_out_error(o, "artifacts", path, &err);
	else
		vs_out_message(o, "artifact", path);
	free(raw);
	free(path);
	return rc < 0 ? VS_EXIT_FAILED : rc;
}

static int run_artifacts(vs_kube_client *c, const vs_cli_common *common, vs_out *o)
{
	json_t *arts = NULL, *logs = NULL, *v;
	const char *key;
	char *id = NULL;
	vs_error err;
	int rc = run_find(c, common, "artifacts", &id, o);

	vs_error_clear(&err);
	if (rc == VS_EXIT_OK && (vs_engine_artifacts(c, common->state_ns, id, &arts, &err) < 0 ||
				 vs_engine_logs(c, common->state_ns, id, &logs, &err) < 0))
		rc = vs_out_error(o, "artifacts", id, &err);
	if (rc == VS_EXIT_OK && vs_mkdir_p(run_artifacts_dir, 0755, &err) < 0)
		rc = vs_out_error(o, "artifacts", run_artifacts_dir, &err);
	json_object_foreach (arts, key, v)
		if (rc == VS_EXIT_OK)
			rc = run_write(o, key, vs_json_str_or(v, "data", ""), NULL);
	json_object_foreach (logs, key, v) {
		char *file = vs_xasprintf("%s.log", key);
		if (rc == VS_EXIT_OK)
			rc = run_write(o, file, NULL, json_string_value(v));
		free(file);
	}
	json_decref(arts);
	json_decref(logs);
	free(id);
	return rc;
}

int vs_cli_cmd_artifacts(int argc, char **argv)
{
	int n = 0;

	/* --dir DIR is this command's own; the rest are the common flags */
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			run_artifacts_dir = argv[++i];
		else
			argv[n++] = argv[i];
	}
	return vs_cli_with_cluster(n, argv, artifacts_help, VS_CLI_ID_REQUIRED, run_artifacts);
}

/* ---- status --------------------------------------------------------------------------------------- */

/* How many of run m's steps are done. */
static size_t run_done_count(const json_t *m)
{
	const json_t *step;
	size_t i, n = 0;

	json_array_foreach (vs_engine_plan_steps(json_object_get(m, "plan")), i, step) {
		char *key = vs_xasprintf("step/%s", vs_json_str(step, "name"));
		n += strcmp(vs_json_str_or(json_object_get(json_object_get(m, "steps"), key), "state", ""),
			    VS_STEP_DONE) == 0;
		free(key);
	}
	return n;
}

/* One run's steps: name, kind, state, time, and its undo's state. */
static void run_detail(vs_out *o, const json_t *m)
{
	const json_t *plan = json_object_get(m, "plan"), *steps = json_object_get(m, "steps"), *step;
	json_t *rows = json_pack("[[s, s, s, s, s, s]]", "STEP", "KIND", "STATE", "TIME", "UNDO", "ERROR");
	size_t i;
	char *head = vs_xasprintf("Run %s of plan %s: %s%s%s", vs_json_str_or(m, "id", ""), vs_engine_plan_name(plan),
				  vs_json_str_or(m, "phase", "running"), vs_json_str(m, "error") ? ": " : "",
				  vs_json_str_or(m, "error", ""));

	vs_out_message(o, "plan-run", head);
	json_array_foreach (vs_engine_plan_steps(plan), i, step) {
		char *key = vs_xasprintf("step/%s", vs_json_str(step, "name")),
		     *ukey = vs_xasprintf("undo/%s", vs_json_str(step, "name"));
		const json_t *rec = json_object_get(steps, key), *urec = json_object_get(steps, ukey);
		json_array_append_new(
			rows, json_pack("[s, s, s, s, s, s]", vs_json_str(step, "name"), vs_engine_step_kind(step),
					vs_json_str_or(rec, "state", "-"), vs_json_str_or(rec, "time", "-"),
					vs_json_str_or(urec, "state", "-"), vs_json_str_or(rec, "error", "")));
		free(key);
		free(ukey);
	}
	vs_out_table(o, rows, "  ");
	json_decref(rows);
	free(head);
}

void vs_cli_run_status(vs_out *o, const vs_cli_common *common, const json_t *runs)
{
	json_t *rows, *m;
	size_t i;

	if (json_array_size(runs) == 0)
		return;
	if (vs_out_is_json(o)) {
		json_array_foreach (runs, i, m) {
			json_t *ev = json_pack("{s:s, s:O?, s:s?, s:O}", "event", "plan-run-status", "id",
					       json_object_get(m, "id"), "name",
					       vs_engine_plan_name(json_object_get(m, "plan")), "run", m);
			vs_out_json(o, ev);
			json_decref(ev);
		}
		return;
	}
	if (common->id) {
		run_detail(o, json_array_get(runs, 0));
		return;
	}
	vs_out_message(o, "plan-runs", "Plan runs:");
	rows = json_pack("[[s, s, s, s, s, s]]", "NAME", "ID", "PHASE", "STEPS DONE", "STARTED", "ERROR");
	json_array_foreach (runs, i, m) {
		char done[48];
		snprintf(done, sizeof(done), "%zu/%zu", run_done_count(m),
			 json_array_size(vs_engine_plan_steps(json_object_get(m, "plan"))));
		json_array_append_new(
			rows, json_pack("[s, s, s, s, s, s]", vs_engine_plan_name(json_object_get(m, "plan")) ?: "",
					vs_json_str_or(m, "id", ""), vs_json_str_or(m, "phase", "running"), done,
					vs_json_str_or(m, "created", ""), vs_json_str_or(m, "error", "")));
	}
	vs_out_table(o, rows, "  ");
	json_decref(rows);
}
