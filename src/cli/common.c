/*
 * What several subcommands share: connecting to the cluster, and running a plan under a journal
 * with the closing words that say how to follow, resume or undo it.
 */
#include "cli.h"

#include <stdlib.h>

int vs_cli_connect(const char *kubeconfig, const char *context, vs_kube_config **cfg, vs_kube_client **c)
{
	vs_kube_config_opts co = { .kubeconfig = kubeconfig, .context = context };
	vs_error err;

	vs_error_clear(&err);
	*cfg = NULL;
	*c = NULL;
	if (vs_kube_config_load(&co, cfg, &err) < 0 || vs_kube_client_new(*cfg, NULL, c, &err) < 0)
		return vs_out_error(NULL, "", "cluster configuration", &err);
	return VS_EXIT_OK;
}

int vs_cli_execute(vs_kube_client *c, const vs_migrate_opts *opts, const vs_plan *plan, vs_journal *j, vs_out *o)
{
	vs_error err;
	char *what;
	int rc;

	vs_error_clear(&err);
	if (vs_migrate_execute(c, opts, plan, j, vs_out_event, o, &err) == 0)
		return VS_EXIT_OK;
	what = vs_xasprintf("migration %s stopped (no data was deleted; 'volshift status %s' shows where, 'volshift "
			    "resume %s' continues it)",
			    vs_journal_id(j), vs_journal_id(j), vs_journal_id(j));
	rc = vs_out_error(o, "migrate", what, &err);
	free(what);
	return rc;
}

int vs_cli_run_journaled(vs_kube_client *c, const char *state_ns, const vs_migrate_opts *opts, const vs_plan *plan,
			 vs_out *o)
{
	json_t *frozen = json_pack("{s:o, s:o}", "plan", vs_plan_to_json(plan), "options", vs_migrate_opts_to_json(opts));
	vs_journal *j = NULL;
	vs_error err;
	int rc;

	vs_error_clear(&err);
	rc = vs_journal_create(c, state_ns, frozen, &j, &err);
	json_decref(frozen);
	if (rc < 0)
		return vs_out_error(o, "migrate", "starting the journal", &err);
	char *line = vs_xasprintf("==> migration %s (journal: configmap %s/volshift-%s)", vs_journal_id(j), state_ns,
				  vs_journal_id(j));
	vs_out_message(o, "migration", line);
	free(line);
	rc = vs_cli_execute(c, opts, plan, j, o);
	vs_journal_free(j);
	return rc;
}
