/*
 * `volshift status [ID]`: every migration recorded in the cluster, or one in detail (its phase,
 * each group's and each claim's steps with times and errors, bytes copied), as text or JSON.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char status_help[] =
	"Usage: volshift status [ID] [--output text|json] [--state-namespace NS] [--kubeconfig FILE] [--context NAME]\n"
	"\n"
	"Without ID: every migration whose journal is in the cluster, newest first. With ID: that migration's\n"
	"phase, the state of every step (intent: started, done: its effect was observed, failed: with the\n"
	"error), and the claims it moves. Exit status: 0, 1 when the migration does not exist, 2 bad usage.\n";

static void status_summary_line(vs_out *o, const json_t *m)
{
	const json_t *plan = json_object_get(vs_json_path(m, "plan"), "plan");
	const json_t *opts = json_object_get(vs_json_path(m, "plan"), "options");
	size_t claims = 0, swapped = 0, i;
	json_t *g;
	const char *key;
	json_t *step;

	json_array_foreach(json_object_get(plan, "groups"), i, g) claims += json_array_size(json_object_get(g, "claims"));
	json_object_foreach(json_object_get(m, "steps"), key, step) {
		if (vs_str_has_suffix(key, "/swap") && strcmp(vs_json_str_or(step, "state", ""), VS_STEP_DONE) == 0)
			swapped++;
	}
	char *line = vs_xasprintf("%-10s %-9s %-10s -> %-10s %zu/%zu claims switched  started %s%s%s",
				  vs_json_str_or(m, "id", "?"), vs_json_str_or(m, "phase", "?"),
				  vs_json_str_or(opts, "sourceClass", "?"), vs_json_str_or(opts, "destClass", "?"), swapped, claims,
				  vs_json_str_or(m, "created", "?"), vs_json_str(m, "error") ? "  error: " : "",
				  vs_json_str_or(m, "error", ""));
	vs_out_message(o, "migration", line);
	free(line);
}

static void status_detail(vs_out *o, const json_t *m)
{
	const char *key;
	json_t *step;

	status_summary_line(o, m);
	json_object_foreach(json_object_get(m, "steps"), key, step) {
		char *line = vs_xasprintf("  %-48s %-7s %s%s%s", key, vs_json_str_or(step, "state", "?"),
					  vs_json_str_or(step, "time", ""), vs_json_str(step, "error") ? "  " : "",
					  vs_json_str_or(step, "error", ""));
		vs_out_message(o, "step", line);
		free(line);
	}
}

static int status_run(vs_kube_client *c, const vs_cli_common *common, vs_out *o)
{
	const char *ns = common->state_ns, *id = common->id;
	json_t *list = NULL, *cm;
	size_t i, shown = 0;
	vs_error err;

	vs_error_clear(&err);
	if (vs_journal_list(c, ns, &list, &err) < 0)
		return vs_out_error(o, "status", "listing migrations", &err);
	json_array_foreach(json_object_get(list, "items"), i, cm) {
		json_t *m = vs_journal_decode(cm);
		if (!id || strcmp(vs_json_str_or(m, "id", ""), id) == 0) {
			if (vs_out_is_json(o))
				vs_out_event(m, o);
			else if (id)
				status_detail(o, m);
			else
				status_summary_line(o, m);
			shown++;
		}
		json_decref(m);
	}
	json_decref(list);
	if (id && !shown) {
		vs_error_set(&err, VS_EINVAL, "no migration %s in namespace %s", id, ns);
		return vs_out_error(o, "status", "status", &err);
	}
	if (!shown && !vs_out_is_json(o))
		vs_out_message(o, "migration", "No migrations recorded.");
	return VS_EXIT_OK;
}

int vs_cli_cmd_status(int argc, char **argv)
{
	return vs_cli_with_cluster(argc, argv, status_help, VS_CLI_ID_OPTIONAL, status_run);
}
