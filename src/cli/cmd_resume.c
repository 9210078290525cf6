/*
 * `volshift resume ID` continues a recorded migration from its journal with the plan and options
 * it was started with; every step looks at the live cluster before it acts, so the journal is a
 * guide, not a blind script. `volshift abort ID` asks a running migration to stop at its next safe
 * point (between groups).
 */
#include "cli.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char resume_help[] =
	"Usage: volshift resume ID|NAME [--force] [--output text|json] [--state-namespace NS] [--kubeconfig FILE]\n"
	"\n"
	"Continue migration ID from its journal, with the plan and options it started with (or the run of plan\n"
	"NAME, from its first step not done). Groups that\n"
	"finished are skipped, a swap that was cut short is finished, everything else is checked against the\n"
	"cluster and done again where needed. Another volshift holding the migration's lease makes this\n"
	"fail; --force takes the lease over (only when that volshift is gone). Access-mode probes a killed\n"
	"volshift left behind are removed first (see 'volshift status').\n";

static const char abort_help[] =
	"Usage: volshift abort ID|NAME [--state-namespace NS] [--kubeconfig FILE] [--context NAME]\n"
	"\n"
	"Ask migration ID to stop at its next safe point (before its next group), or the run of plan ID\n"
	"before its next step. 'volshift resume ID' continues it later.\n";

/* A stop asked for with `volshift abort` is withdrawn: resuming is asking it to go on. */
static int resume_withdraw_abort(vs_cli_migration *m, vs_out *o)
{
	vs_error err;

	vs_error_clear(&err);
	if (!vs_journal_abort_requested(m->j))
		return VS_EXIT_OK;
	if (vs_journal_withdraw_abort(m->j, &err) < 0)
		return vs_out_error(o, "resume", "withdrawing the abort request", &err);
	vs_out_message(o, "note", "the stop asked for with 'volshift abort' is withdrawn: the migration goes on");
	return VS_EXIT_OK;
}

int vs_cli_resume(vs_kube_client *c, const vs_cli_common *common, vs_out *o)
{
	vs_cli_migration m;
	vs_error err;
	char *line;
	int rc = vs_cli_migration_open(c, common, "resume", "", &m, o);

	if (rc != VS_EXIT_OK)
		return rc;
	vs_error_clear(&err);
	if (strncmp(vs_journal_phase(m.j), "roll", 4) == 0) {
		vs_error_set(&err, VS_EINVAL,
			     "migration %s was rolled back (phase %s); start a new one with 'volshift migrate'",
			     common->id, vs_journal_phase(m.j));
		rc = vs_out_error(o, "resume", "resume", &err);
	} else {
		if (!common->probes_cleaned)
			vs_migrate_probe_cleanup(c, &m.opts, vs_out_event, o);
		line = vs_xasprintf("resuming migration %s (%s, %zu claims)", common->id, vs_journal_phase(m.j),
				    m.plan->npvcs);
		vs_out_migration(o, "resume", common->id, common->state_ns, line);
		free(line);
		rc = resume_withdraw_abort(&m, o);
		if (rc == VS_EXIT_OK)
			rc = vs_cli_execute(c, &m.opts, m.plan, m.j, o, NULL);
	}
	vs_migrate_recorded_close(&m);
	return rc;
}

/* ID names a plan's run (by the plan's name or the run's id) or a storage-class migration. */
static int resume_dispatch(vs_kube_client *c, const vs_cli_common *common, vs_out *o)
{
	char *id = NULL;
	vs_error err;
	int rc;

	vs_error_clear(&err);
	if (vs_cli_run_id(c, common, &id, &err) < 0)
		return vs_out_error(o, "resume", "listing the runs", &err);
	rc = id ? vs_cli_run_resume(c, common, id, o) : vs_cli_resume(c, common, o);
	free(id);
	return rc;
}

int vs_cli_cmd_resume(int argc, char **argv)
{
	return vs_cli_with_cluster(argc, argv, resume_help, VS_CLI_ID_REQUIRED, resume_dispatch);
}

/* Who asks, for the journal: "user@host". */
static void abort_requester(char *out, size_t n)
{
	char host[256] = "";
	const struct passwd *pw = getpwuid(geteuid());
	const char *user = pw ? pw->pw_name : getenv("USER");

	gethostname(host, sizeof(host) - 1);
	snprintf(out, n, "%s@%s", user ? user : "unknown", *host ? host : "unknown");
}

static int abort_run(vs_kube_client *c, const vs_cli_common *common, vs_out *o)
{
	vs_error err;
	char by[320];

	char *run = NULL;
	int rc;

	vs_error_clear(&err);
	abort_requester(by, sizeof(by));
	rc = vs_cli_run_id(c, common, &run, &err);
	if (rc == 0)
		rc = vs_journal_request_abort(c, common->state_ns, run ? run : common->id, by, &err);
	free(run);
	if (rc < 0)
		return vs_out_error(o, "abort", "requesting the stop", &err);
	vs_out_message(o, "abort", "Asked to stop at the next safe point; 'volshift status' shows when it has.");
	return VS_EXIT_OK;
}

int vs_cli_cmd_abort(int argc, char **argv)
{
	return vs_cli_with_cluster(argc, argv, abort_help, VS_CLI_ID_REQUIRED, abort_run);
}
