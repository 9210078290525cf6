/*
 * What several subcommands share: the global flags, connecting to the cluster (with the outage
 * budget and its reports), and running a plan under a journal with the closing words that say how
 * to follow, resume or undo it.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLI_API_TIMEOUT_MAX_MS ((int64_t)7 * 24 * 3600 * 1000)

static int64_t cli_api_timeout_ms; /* --api-timeout; 0: the client's default */

/* --api-timeout's value v: seconds, or a duration ("90s", "5m"). */
static int cli_api_timeout(const char *v)
{
	char *end = NULL;
	long long n;
	int64_t ms = 0;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno == 0 && end != v && *end == '\0')
		ms = n > 0 && n <= CLI_API_TIMEOUT_MAX_MS / 1000 ? (int64_t)n * 1000 : 0;
	else if (vs_duration_parse(v, &ms, NULL) < 0)
		ms = 0;
	if (ms < 1000 || ms > CLI_API_TIMEOUT_MAX_MS) {
		fprintf(stderr, "volshift: --api-timeout %s: expected a duration of 1s or more (seconds, or 90s, 5m)\n",
			v);
		return VS_EXIT_USAGE;
	}
	cli_api_timeout_ms = ms;
	return VS_EXIT_OK;
}

int vs_cli_global_flags(int *argc, char **argv)
{
	int i, kept = 1, rc = VS_EXIT_OK;

	for (i = 1; i < *argc && rc == VS_EXIT_OK && strcmp(argv[i], "--") != 0; i++) {
		const char *flag = argv[i][0] != '-' ? NULL : argv[i] + (argv[i][1] == '-' ? 2 : 1);
		if (flag && vs_str_has_prefix(flag, "api-timeout="))
			rc = cli_api_timeout(flag + strlen("api-timeout="));
		else if (flag && strcmp(flag, "api-timeout") == 0 && i + 1 < *argc)
			rc = cli_api_timeout(argv[++i]);
		else if (flag && strcmp(flag, "api-timeout") == 0)
			rc = (fprintf(stderr, "volshift: --api-timeout needs a value\n"), VS_EXIT_USAGE);
		else
			argv[kept++] = argv[i];
	}
	while (i < *argc)
		argv[kept++] = argv[i++];
	argv[kept] = NULL;
	*argc = kept;
	return rc;
}

int vs_cli_common_parse(vs_cli_common *c, int argc, char **argv, const char *help, int id_mode)
{
	enum { O_KUBECONFIG = 256, O_CONTEXT, O_STATE_NS, O_OUTPUT, O_FORCE, O_YES, O_WATCH, O_MIGRATE_BACK, O_HELP };
	static const struct option options[] = {
		{ "kubeconfig", required_argument, NULL, O_KUBECONFIG },
		{ "context", required_argument, NULL, O_CONTEXT },
		{ "state-namespace", required_argument, NULL, O_STATE_NS },
		{ "output", required_argument, NULL, O_OUTPUT },
		{ "force", no_argument, NULL, O_FORCE },
		{ "yes", no_argument, NULL, O_YES },
		{ "watch", no_argument, NULL, O_WATCH },
		{ "migrate-back", no_argument, NULL, O_MIGRATE_BACK },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:w", options, NULL)) != -1) {
		switch (opt) {
		case O_KUBECONFIG: c->kubeconfig = optarg; break;
		case O_CONTEXT: c->context = optarg; break;
		case O_STATE_NS: c->state_ns = optarg; break;
		case O_FORCE: c->force = true; break;
		case O_YES: c->yes = true; break;
		case 'w':
		case O_WATCH: c->watch = true; break;
		case O_MIGRATE_BACK: c->migrate_back = true; break;
		case 'o':
		case O_OUTPUT:
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
				fprintf(stderr, "volshift %s: --output %s: expected text or json\n", argv[0], optarg);
				return VS_EXIT_USAGE;
			}
			c->json = strcmp(optarg, "json") == 0;
			break;
		case O_HELP:
			fputs(help, stdout);
			fputs(VS_CLI_GLOBAL_HELP, stdout);
			return -1;
		default:
			fprintf(stderr, "volshift %s: unknown flag or missing value: %s\n%s", argv[0], argv[optind - 1],
				help);
			return VS_EXIT_USAGE;
		}
	}
	if (optind < argc)
		c->id = argv[optind++];
	if (optind < argc || (id_mode == VS_CLI_ID_REQUIRED && !c->id)) {
		fprintf(stderr, "volshift %s: %s\n%s", argv[0],
			c->id ? "too many arguments" : "the migration ID is required", help);
		return VS_EXIT_USAGE;
	}
	return VS_EXIT_OK;
}

bool vs_cli_ask(bool yes, vs_out *o, const char *question, bool dflt)
{
	char answer[16] = "";

	if (yes || vs_out_is_json(o) || !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return true;
	printf("%s %s ", question, dflt ? "[Y/n]" : "[y/N]");
	fflush(stdout);
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	return dflt ? answer[0] != 'n' && answer[0] != 'N' : answer[0] == 'y' || answer[0] == 'Y';
}

int vs_cli_connect(const char *cmd, const char *kubeconfig, const char *context, vs_out *o, vs_kube_config **cfg,
		   vs_kube_client **c)
{
	vs_kube_config_opts co = { .kubeconfig = kubeconfig, .context = context };
	vs_kube_client_opts ko = { .outage_budget_ms = cli_api_timeout_ms, .outage_fn = vs_out_api, .outage_ctx = o };
	vs_error err;

	vs_error_clear(&err);
	*cfg = NULL;
	*c = NULL;
	if (vs_kube_config_load(&co, cfg, &err) < 0 || vs_kube_client_new(*cfg, &ko, c, &err) < 0)
		return vs_out_error(NULL, cmd, "cluster configuration", &err);
	return VS_EXIT_OK;
}

int vs_cli_execute(vs_kube_client *c, const vs_migrate_opts *opts, const vs_plan *plan, vs_journal *j, vs_out *o,
		   bool *refused)
{
	vs_error err;
	char *what;
	int rc;

	vs_error_clear(&err);
	vs_stop_install(); /* from here Ctrl-C stops at the next safe point */
	rc = vs_migrate_execute(c, opts, plan, j, vs_out_event, o, &err);
	if (refused)
		*refused = rc == VS_EBUSY;
	if (rc == 0)
		return VS_EXIT_OK;
	if (rc == VS_EBUSY)
		return vs_out_error(o, "migrate", "refused, nothing was changed", &err);
	what = vs_xasprintf("migration %s stopped", vs_journal_id(j));
	rc = vs_out_error(o, "migrate", what, &err);
	vs_out_unfinished(o);
	free(what);
	return rc;
}

int vs_cli_run_journaled(vs_kube_client *c, const char *state_ns, const vs_migrate_opts *opts, const vs_plan *plan,
			 vs_out *o)
{
	vs_journal *j = NULL;
	vs_error err;
	int rc;

	vs_error_clear(&err);
	rc = vs_migrate_journal_start(c, state_ns, opts, plan, &j, &err);
	if (rc < 0)
		return vs_out_error(o, "migrate", "starting the journal", &err);
	char *line = vs_xasprintf("migration %s (journal: configmap %s/volshift-%s)", vs_journal_id(j), state_ns,
				  vs_journal_id(j));
	vs_out_migration(o, "migration", vs_journal_id(j), state_ns, line);
	free(line);
	bool refused = false;
	rc = vs_cli_execute(c, opts, plan, j, o, &refused);
	if (refused)
		vs_journal_discard(j); /* another migration has the claims: this one changed nothing */
	else
		vs_journal_free(j);
	return rc;
}

int vs_cli_check_access(vs_kube_client *c, const char *state_ns, const char *cmd, vs_out *o)
{
	char *rules = NULL;
	vs_error err;
	int rc = VS_EXIT_OK;

	vs_error_clear(&err);
	if (vs_migrate_access_check(c, state_ns, &rules, &err) < 0)
		rc = vs_out_error_detail(o, cmd, "access check", &err, rules);
	free(rules);
	return rc;
}

int vs_cli_migration_open(vs_kube_client *c, const vs_cli_common *common, const char *cmd, const char *hint,
			  vs_cli_migration *m, vs_out *o)
{
	vs_error err;
	int rc = vs_cli_check_access(c, common->state_ns, cmd, o);

	memset(m, 0, sizeof(*m));
	vs_error_clear(&err);
	if (rc == VS_EXIT_OK && vs_migrate_open(c, common->state_ns, common->id, common->force, m, &err) < 0) {
		char *what = vs_xasprintf("opening the journal%s", hint);
		rc = vs_out_error(o, cmd, what, &err);
		free(what);
	}
	return rc;
}

int vs_cli_with_cluster(int argc, char **argv, const char *help, int id_mode, vs_cli_cluster_fn fn)
{
	vs_cli_common common = { .state_ns = VS_JOURNAL_NAMESPACE };
	vs_kube_config *cfg = NULL;
	vs_kube_client *c = NULL;
	vs_out *o = NULL;
	int rc = vs_cli_common_parse(&common, argc, argv, help, id_mode);

	if (rc != VS_EXIT_OK)
		return rc < 0 ? VS_EXIT_OK : rc;
	o = vs_out_new(common.json, stdout);
	rc = vs_cli_connect(argv[0], common.kubeconfig, common.context, o, &cfg, &c);
	if (rc == VS_EXIT_OK)
		rc = fn(c, &common, o);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	vs_out_free(o);
	return rc;
}
