/*
 * `volshift rollback ID`: undo a migration from its journal (vs_migrate_rollback). Claims whose
 * workloads already started on the destination stay there; the command names them and explains
 * that rolling them back is a migration in the other direction, which --migrate-back runs.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char rollback_help[] =
	"Usage: volshift rollback ID [--migrate-back] [--yes] [--force] [--output text|json] [--state-namespace NS]\n"
	"                            [--kubeconfig FILE] [--context NAME]\n"
	"\n"
	"Undo migration ID. Every group of claims whose workloads have not started on the destination is put\n"
	"back as it was: copy pods and destination claims deleted, a swap that began undone (the claim back on\n"
	"its original volume, which volshift kept with reclaim policy Retain), reclaim policies restored, and\n"
	"the workloads back at their recorded scale. No copy is needed for those.\n"
	"\n"
	"Claims whose workloads already started on the destination may have new data there, so they stay\n"
	"and are listed: rolling them back is a migration in the other direction (their data copied back,\n"
	"with the same downtime as the way there). --migrate-back does that right after the rollback.\n"
	"\n"
	"A migration that is still running must be stopped first ('volshift abort ID'); --force takes the\n"
	"lease of a volshift that is gone. Running rollback again after an interruption finishes it.\n"
	"Access-mode probes a killed volshift left behind are removed first (see 'volshift status').\n";

/* The reverse migration of the claims in kept (a JSON array of "NS/NAME"), from opts' classes. */
static int rollback_migrate_back(vs_kube_client *c, const vs_cli_common *common, const vs_migrate_opts *opts,
				 const json_t *kept, vs_out *o)
{
	vs_migrate_opts back = *opts;
	vs_cli_run_flags f = { .state_ns = common->state_ns, .yes = common->yes };
	const char **pvcs = vs_xcalloc(json_array_size(kept) + 1, sizeof(char *));
	size_t i;
	json_t *name;
	int rc;

	json_array_foreach (kept, i, name)
		pvcs[i] = json_string_value(name);
	back.plan.source_sc = opts->plan.dest_sc;
	back.plan.dest_sc = opts->plan.source_sc;
	back.plan.set_defaults = false;
	back.plan.namespace = NULL;
	back.plan.selector = NULL;
	back.plan.pvcs = pvcs;
	back.plan.npvcs = json_array_size(kept);
	vs_out_message(o, "migrate-back", "==> migrating the claims that stayed back to their original class");
	rc = vs_cli_plan_and_run(c, &back, &f, o);
	free(pvcs);
	return rc;
}

/* What to say about the claims that stayed on the destination. */
static void rollback_explain(const vs_cli_common *common, const vs_migrate_opts *opts, const json_t *kept, vs_out *o)
{
	size_t i;
	json_t *name;
	char *list = vs_xstrdup(""), *line;

	json_array_foreach (kept, i, name) {
		char *more = vs_xasprintf("%s --pvc %s", list, json_string_value(name));
		free(list);
		list = more;
	}
	line = vs_xasprintf(
		"%zu claim%s stayed on %s, because their workloads already ran there and may have written "
		"new data. Rolling them back is a migration in the other direction, which copies their data "
		"back: 'volshift rollback %s --migrate-back', or 'volshift migrate --source-sc %s --dest-sc "
		"%s%s'.",
		json_array_size(kept), json_array_size(kept) == 1 ? "" : "s", opts->plan.dest_sc, common->id,
		opts->plan.dest_sc, opts->plan.source_sc, list);
	vs_out_message(o, "rollback-summary", line);
	free(line);
	free(list);
}

static int rollback_run(vs_kube_client *c, const vs_cli_common *common, vs_out *o)
{
	vs_cli_migration m;
	json_t *kept = NULL;
	vs_error err;
	char *line;
	int rc = vs_cli_migration_open(c, common, "rollback", " (a running migration is stopped with 'volshift abort')",
				       &m, o);

	if (rc != VS_EXIT_OK)
		return rc;
	vs_error_clear(&err);
	vs_migrate_probe_cleanup(c, &m.opts, vs_out_event, o);
	line = vs_xasprintf("rolling back migration %s (%s, %zu claims, %s -> %s)", common->id, vs_journal_phase(m.j),
			    m.plan->npvcs, m.opts.plan.source_sc, m.opts.plan.dest_sc);
	vs_out_migration(o, "rollback", common->id, common->state_ns, line);
	free(line);
	if (vs_migrate_rollback(c, &m.opts, m.plan, m.j, vs_out_event, o, &kept, &err) < 0) {
		line = vs_xasprintf("rollback of %s stopped (no data was deleted; run 'volshift rollback %s' again)",
				    common->id, common->id);
		rc = vs_out_error(o, "rollback", line, &err);
		free(line);
	} else if (json_array_size(kept) && common->migrate_back) {
		rc = rollback_migrate_back(c, common, &m.opts, kept, o);
	} else if (json_array_size(kept)) {
		rollback_explain(common, &m.opts, kept, o);
	} else {
		vs_out_message(o, "rollback-summary", "Rolled back: every claim is on its original volume.");
	}
	json_decref(kept);
	vs_migrate_recorded_close(&m);
	return rc;
}

int vs_cli_cmd_rollback(int argc, char **argv)
{
	return vs_cli_with_cluster(argc, argv, rollback_help, VS_CLI_ID_REQUIRED, rollback_run);
}
