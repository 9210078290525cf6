/*
 * `volshift migrate`: pvmigrate's command, with its flags and defaults, and more. The same code
 * serves the binary when it is installed as `pvmigrate` (Go-style flags: one or two dashes,
 * -flag=value, booleans as -flag or -flag=false), so scripts written for pvmigrate keep working.
 */
#include "cli.h"
#include "journal/journal.h"
#include "kube/kube.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum migrate_flag {
	F_SOURCE = 256,
	F_DEST,
	F_NAMESPACE,
	F_IMAGE,
	F_RSYNC_FLAGS,
	F_SET_DEFAULTS,
	F_VERBOSE,
	F_SKIP_SOURCE,
	F_PREFLIGHT_ONLY,
	F_SKIP_PREFLIGHT,
	F_POD_READY,
	F_DELETE_PV,
	F_KUBECONFIG,
	F_CONTEXT,
	F_PVC,
	F_SELECTOR,
	F_DRY_RUN,
	F_OUTPUT,
	F_YES,
	F_BARE_PODS,
	F_KEEP_STS,
	F_READY,
	F_STATE_NS,
	F_VERIFY,
	F_PARALLEL,
	F_NO_WARM,
	F_SKIP_FREE_SPACE,
	F_VERSION,
	F_HELP,
};

static const struct option migrate_options[] = {
	{ "source-sc", required_argument, NULL, F_SOURCE },
	{ "dest-sc", required_argument, NULL, F_DEST },
	{ "namespace", required_argument, NULL, F_NAMESPACE },
	{ "rsync-image", required_argument, NULL, F_IMAGE },
	{ "rsync-flags", required_argument, NULL, F_RSYNC_FLAGS },
	{ "set-defaults", optional_argument, NULL, F_SET_DEFAULTS },
	{ "verbose-copy", optional_argument, NULL, F_VERBOSE },
	{ "skip-source-validation", optional_argument, NULL, F_SKIP_SOURCE },
	{ "preflight-validation-only", optional_argument, NULL, F_PREFLIGHT_ONLY },
	{ "skip-preflight-validation", optional_argument, NULL, F_SKIP_PREFLIGHT },
	{ "pod-ready-timeout", required_argument, NULL, F_POD_READY },
	{ "delete-pv-timeout", required_argument, NULL, F_DELETE_PV },
	{ "kubeconfig", required_argument, NULL, F_KUBECONFIG },
	{ "context", required_argument, NULL, F_CONTEXT },
	{ "pvc", required_argument, NULL, F_PVC },
	{ "selector", required_argument, NULL, F_SELECTOR },
	{ "dry-run", optional_argument, NULL, F_DRY_RUN },
	{ "output", required_argument, NULL, F_OUTPUT },
	{ "yes", optional_argument, NULL, F_YES },
	{ "delete-bare-pods", optional_argument, NULL, F_BARE_PODS },
	{ "keep-statefulsets", optional_argument, NULL, F_KEEP_STS },
	{ "ready-timeout", required_argument, NULL, F_READY },
	{ "state-namespace", required_argument, NULL, F_STATE_NS },
	{ "verify", required_argument, NULL, F_VERIFY },
	{ "parallel", required_argument, NULL, F_PARALLEL },
	{ "no-warm-copy", no_argument, NULL, F_NO_WARM },
	{ "skip-free-space-check", optional_argument, NULL, F_SKIP_FREE_SPACE },
	{ "version", optional_argument, NULL, F_VERSION },
	{ "help", no_argument, NULL, F_HELP },
	{ NULL, 0, NULL, 0 },
};

static const char migrate_help[] =
	"Usage: volshift migrate --source-sc NAME --dest-sc NAME [flags]\n"
	"\n"
	"Move every PersistentVolumeClaim whose volume is of class --source-sc to class --dest-sc: copy the\n"
	"data with rsync, check the copy, then put each claim's name on it, stopping only the workloads\n"
	"that use the claims being switched. Claims keep their names, labels, annotations and sizes.\n"
	"\n"
	"pvmigrate's flags (same meaning and defaults):\n"
	"  --source-sc NAME                 class to migrate from (required)\n"
	"  --dest-sc NAME                   class to migrate to (required)\n"
	"  --namespace NS                   only migrate claims in this namespace\n"
	"  --rsync-image IMAGE              image of the copy pods, with rsync and sh on its path "
	"(" VS_MIGRATE_DEFAULT_IMAGE ")\n"
	"  --rsync-flags A,B                comma-separated extra rsync flags, appended\n"
	"  --set-defaults                   make --dest-sc the default class (it must be --source-sc or none now)\n"
	"  --verbose-copy                   show rsync's output instead of a progress line\n"
	"  --skip-source-validation         migrate volumes of --source-sc even if that class no longer exists\n"
	"  --preflight-validation-only      run the checks (including access-mode probes) and stop\n"
	"  --skip-preflight-validation      do not probe the destination's access modes\n"
	"  --skip-free-space-check          do not check that the claims fit in the destination (below)\n"
	"  --pod-ready-timeout SECONDS      probe, free-space and copy pods must be running within this (60)\n"
	"  --delete-pv-timeout SECONDS      claims and volumes must bind or go within this (300)\n"
	"  --version                        print the version and exit\n"
	"\n"
	"volshift's own:\n"
	"  --kubeconfig FILE, --context NAME  which cluster, as kubectl chooses it\n"
	"  --pvc NAMESPACE/NAME             only this claim of --source-sc (repeatable)\n"
	"  --selector LABELS                only claims with these labels (kubectl -l syntax)\n"
	"  --dry-run                        print the plan and change nothing\n"
	"  --output text|json               json: one event per line, for machines\n"
	"  --yes                            do not ask before changing anything (asked only on a terminal)\n"
	"  --delete-bare-pods               allow deleting pods that no controller owns; they do not come back\n"
	"  --keep-statefulsets              do not recreate StatefulSets with claim templates in --dest-sc\n"
	"  --ready-timeout SECONDS          workloads (and running Jobs) must be ready (done) within this (600)\n"
	"  --state-namespace NS             where the migration's journal (a ConfigMap) is kept (" VS_JOURNAL_NAMESPACE
	")\n"
	"  --verify size-time|checksum      check each copy before its claim is switched: an rsync dry run\n"
	"                                   must find no difference by size and time, or also by content\n"
	"                                   (checksum: every file is read on both sides) (size-time)\n"
	"  --parallel N                     groups in flight at once, 1 to " VS_STR(
		VS_MIGRATE_MAX_PARALLEL) " (default: 2 per node that\n"
					 "                                   takes pods, at most 8: each node copies "
					 "two volumes at a time)\n"
					 "  --no-warm-copy                   stop each group's workloads first and "
					 "copy everything then; by\n"
					 "                                   default a first copy runs beside the "
					 "application while it still\n"
					 "                                   runs, and only what changed is copied "
					 "after the stop\n"
					 "\n"
					 "Workloads: Deployments, StatefulSets and ReplicaSets are scaled to 0 (the "
					 "scale is kept in the\n"
					 "annotation kurl.sh/pvcmigrate-scale) and back; DaemonSets are stopped by a "
					 "node selector that\n"
					 "matches no node and restored; CronJobs are suspended and restored; a running "
					 "Job that mounts a\n"
					 "claim is waited for (up to --ready-timeout) because stopping it would lose "
					 "its work, and its\n"
					 "finished pods are deleted because they hold the claim. Pods with no "
					 "controller are refused\n"
					 "unless --delete-bare-pods. Volumes of the class without a claim are listed "
					 "and left alone.\n"
					 "\n"
					 "Free space: where the destination class publishes CSIStorageCapacity, each "
					 "claim must fit there;\n"
					 "where its volumes are directories under one base directory on each node (the "
					 "class's annotation\n"
					 "volshift.io/base-path, OpenEBS Local PV's BasePath, or its parameter "
					 "basePath), a short pod on each\n"
					 "node where a copy will be made runs df there, and the claims made on that "
					 "node must fit. Otherwise\n"
					 "a line says the check was skipped and why. Claims of --source-sc that are "
					 "Pending (no volume yet)\n"
					 "have nothing to copy: the plan names them and leaves them out.\n"
					 "\n"
					 "Access-mode probes that a volshift killed while probing left behind (claim, "
					 "pod, volume and Lease\n"
					 "named volshift-probe-*) are removed first, unless --dry-run; a probe whose "
					 "volshift still runs is\n"
					 "left alone ('volshift status' lists them).\n"
					 "\n"
					 "Exit status: 0 done, 1 failed (the message says why; when only some claims "
					 "are refused, it also\n"
					 "says how to migrate the others), 2 bad usage (a --pvc naming no claim of "
					 "--source-sc included).\n" VS_CLI_GLOBAL_HELP;

struct migrate_cmd {
	vs_migrate_opts m;
	const char *kubeconfig, *context, *state_ns;
	bool json, dry_run, yes, preflight_only, skip_preflight, version;
	vs_buf again; /* the command line as given, without the flags that choose claims (canonical form) */
	const char **pvcs;
	size_t npvcs;
	char **rsync_flags;
	size_t nrsync_flags;
};

static int migrate_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int migrate_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "volshift migrate: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nRun 'volshift migrate --help' for the flags.\n");
	va_end(ap);
	return VS_EXIT_USAGE;
}

/* Go's strconv.ParseBool, as pvmigrate's flag package accepts; NULL (a bare flag) is true. */
static int migrate_bool(const char *name, const char *v, bool *out)
{
	static const char *yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *no[] = { "0", "f", "F", "FALSE", "false", "False" };

	for (size_t i = 0; i < 6; i++) {
		if (!v || strcmp(v, yes[i]) == 0)
			return (*out = true), 0;
		if (strcmp(v, no[i]) == 0)
			return (*out = false), 0;
	}
	return migrate_usage("--%s=%s: expected true or false", name, v);
}

/* An integer flag --name v from 1 to max into *out; otherwise a usage error saying what was
 * expected (want: "a number of seconds above 0"). */
static int migrate_count(const char *name, const char *v, long max, const char *want, long *out)
{
	char *end = NULL;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 1 || n > max)
		return migrate_usage("--%s %s: expected %s", name, v, want);
	*out = n;
	return 0;
}

static int migrate_parallel(const char *v, unsigned *out)
{
	long n;
	int rc = migrate_count("parallel", v, VS_MIGRATE_MAX_PARALLEL,
			       "a number of groups from 1 to " VS_STR(VS_MIGRATE_MAX_PARALLEL), &n);

	if (rc == 0)
		*out = (unsigned)n;
	return rc;
}

static int migrate_seconds(const char *name, const char *v, int64_t *out_ms)
{
	long n;
	int rc = migrate_count(name, v, 7 * 24 * 3600, "a number of seconds above 0", &n);

	if (rc == 0)
		*out_ms = (int64_t)n * 1000;
	return rc;
}

static int migrate_split_flags(struct migrate_cmd *m, const char *v)
{
	char *copy = vs_xstrdup(v), *save = NULL;
	vs_error err = { 0 };
	int rc = 0;

	for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
		if (vs_migrate_rsync_flag_check(tok, &err) < 0) {
			rc = migrate_usage("%s", err.message);
			break;
		}
		m->rsync_flags = vs_xrealloc(m->rsync_flags, (m->nrsync_flags + 1) * sizeof(char *));
		m->rsync_flags[m->nrsync_flags++] = vs_xstrdup(tok);
	}
	free(copy);
	return rc;
}

static int migrate_flag(struct migrate_cmd *m, int opt, const char *name, const char *v)
{
	switch (opt) {
	case F_SOURCE: m->m.plan.source_sc = v; return 0;
	case F_DEST: m->m.plan.dest_sc = v; return 0;
	case F_NAMESPACE: m->m.plan.namespace = *v ? v : NULL; return 0;
	case F_IMAGE: m->m.rsync_image = v; return 0;
	case F_RSYNC_FLAGS: return migrate_split_flags(m, v);
	case F_SET_DEFAULTS: return migrate_bool(name, v, &m->m.plan.set_defaults);
	case F_VERBOSE: return migrate_bool(name, v, &m->m.verbose_copy);
	case F_SKIP_SOURCE: return migrate_bool(name, v, &m->m.plan.skip_source_validation);
	case F_PREFLIGHT_ONLY: return migrate_bool(name, v, &m->preflight_only);
	case F_SKIP_PREFLIGHT: return migrate_bool(name, v, &m->skip_preflight);
	case F_POD_READY: return migrate_seconds(name, v, &m->m.pod_ready_timeout_ms);
	case F_DELETE_PV: return migrate_seconds(name, v, &m->m.delete_pv_timeout_ms);
	case F_READY: return migrate_seconds(name, v, &m->m.ready_timeout_ms);
	case F_KUBECONFIG: m->kubeconfig = v; return 0;
	case F_CONTEXT: m->context = v; return 0;
	case F_STATE_NS: m->state_ns = v; return 0;
	case F_SELECTOR: m->m.plan.selector = v; return 0;
	case F_DRY_RUN: return migrate_bool(name, v, &m->dry_run);
	case F_YES: return migrate_bool(name, v, &m->yes);
	case F_BARE_PODS: return migrate_bool(name, v, &m->m.plan.delete_bare_pods);
	case F_KEEP_STS: return migrate_bool(name, v, &m->m.keep_statefulsets);
	case F_PVC:
		m->pvcs = vs_xrealloc(m->pvcs, (m->npvcs + 1) * sizeof(char *));
		m->pvcs[m->npvcs++] = v;
		return 0;
	case F_VERIFY:
		if (vs_verify_mode_parse(v, &m->m.verify, NULL) < 0)
			return migrate_usage("--verify %s: expected size-time or checksum", v);
		return 0;
	case F_PARALLEL: return migrate_parallel(v, &m->m.parallel);
	case F_NO_WARM: m->m.warm_copy = false; return 0;
	case F_SKIP_FREE_SPACE: return migrate_bool(name, v, &m->m.plan.skip_free_space_check);
	case F_VERSION: return migrate_bool(name, v, &m->version);
	case F_OUTPUT:
		if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0)
			return migrate_usage("--output %s: expected text or json", v);
		m->json = strcmp(v, "json") == 0;
		return 0;
	}
	return VS_EXIT_USAGE;
}

/* Remember flag f (value v, may be NULL) for the command that migrates the claims a refusal
 * leaves (m->again): every flag but those that choose claims or only look. */
static void migrate_remember(struct migrate_cmd *m, const struct option *f, const char *v)
{
	static const int skipped[] = { F_PVC, F_NAMESPACE, F_SELECTOR, F_DRY_RUN, F_PREFLIGHT_ONLY };

	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
		if (f->val == skipped[i])
			return;
	vs_buf_printf(&m->again, " --%s", f->name);
	if (v) {
		vs_buf_puts(&m->again, f->has_arg == optional_argument ? "=" : " ");
		vs_out_shell_word(&m->again, v);
	}
}

/* What --version prints: for the pvmigrate command line pvmigrate's lines (Running pvmigrate
 * build:, then version=, sha= and time=; volshift has no build sha or time to give them). */
static void migrate_print_version(bool go_style)
{
	if (go_style)
		printf("Running pvmigrate build:\nversion=volshift-%s\nsha=\ntime=\n", vs_cli_version());
	else
		printf("volshift %s\n", vs_cli_version());
}

/* Parse argv into m; VS_EXIT_OK, VS_EXIT_USAGE, or -1 after printing --help or --version. */
static int migrate_parse(struct migrate_cmd *m, int argc, char **argv, bool go_style)
{
	int opt, idx = 0, rc = 0;

	vs_migrate_opts_init(&m->m);
	m->state_ns = VS_JOURNAL_NAMESPACE;
	vs_buf_init(&m->again, 0);
	vs_buf_puts(&m->again, go_style ? "pvmigrate" : "volshift migrate");
	opterr = 0;
	optind = 1;
	while (rc == 0 && (opt = go_style ? getopt_long_only(argc, argv, "+", migrate_options, &idx)
					  : getopt_long(argc, argv, "+", migrate_options, &idx)) != -1) {
		if (opt == F_HELP) {
			fputs(migrate_help, stdout);
			return -1;
		}
		if (opt == '?' || opt == ':')
			return migrate_usage("unknown flag or missing value: %s", argv[optind - 1]);
		rc = migrate_flag(m, opt, migrate_options[idx].name, optarg);
		if (rc == 0)
			migrate_remember(m, &migrate_options[idx], optarg);
	}
	if (rc == 0 && m->version) {
		migrate_print_version(go_style);
		return -1;
	}
	if (rc == 0 && optind < argc)
		return migrate_usage("unexpected argument \"%s\"", argv[optind]);
	if (rc == 0 && (!m->m.plan.source_sc || !m->m.plan.dest_sc))
		return migrate_usage("--source-sc and --dest-sc are both required");
	m->m.plan.pvcs = m->pvcs;
	m->m.plan.npvcs = m->npvcs;
	m->m.rsync_flags = (const char *const *)m->rsync_flags;
	m->m.nrsync_flags = m->nrsync_flags;
	return rc;
}

static void migrate_cmd_clear(struct migrate_cmd *m)
{
	for (size_t i = 0; i < m->nrsync_flags; i++)
		free(m->rsync_flags[i]);
	free(m->rsync_flags);
	free(m->pvcs);
	vs_buf_free(&m->again);
}

int vs_cli_plan_and_run(vs_kube_client *c, const vs_migrate_opts *opts, const vs_cli_run_flags *f, vs_out *o)
{
	enum vs_migrate_stage failed;
	vs_migrate_opts run;
	vs_plan *plan = NULL;
	vs_error err;
	int rc;

	vs_error_clear(&err);
	if (vs_migrate_plan_live(c, opts, &run, &plan, &failed, &err) < 0) {
		if (failed == VS_MIGRATE_STAGE_CLUSTER)
			return vs_out_error(o, "migrate", "reading the cluster", &err);
		fprintf(stderr, "volshift migrate: %s\n", err.message);
		return VS_EXIT_USAGE;
	}
	opts = &run;
	vs_out_plan(o, plan, opts);
	rc = VS_EXIT_OK;
	if (vs_migrate_check(c, opts, plan, f->dry_run, f->skip_preflight, vs_out_event, o, &failed, &err) < 0)
		rc = vs_out_error(
			o, "migrate",
			failed == VS_MIGRATE_STAGE_SPACE
				? "free-space check (nothing was changed; --skip-free-space-check goes without it)"
				: "preflight",
			&err);
	else if (plan->nproblems) {
		vs_out_problems(o, plan, opts, f->again);
		rc = VS_EXIT_FAILED;
	} else if (f->dry_run) {
		vs_out_message(o, "dry-run", "Dry run: nothing was changed.");
	} else if (f->preflight_only) {
		vs_out_message(o, "preflight", "Preflight validation passed; nothing was changed.");
	} else if (plan->npvcs == 0 && !plan->change_default) {
		vs_out_message(o, "nothing-to-migrate", "Nothing to migrate.");
	} else if (!vs_cli_ask(f->yes, o,
			       "\nProceed with the migration? The workloads listed are stopped while their claims are "
			       "switched.",
			       false)) {
		vs_out_message(o, "cancelled", "Cancelled; nothing was changed.");
		rc = VS_EXIT_FAILED;
	} else {
		rc = vs_cli_run_journaled(c, f->state_ns, opts, plan, o);
	}
	vs_plan_free(plan);
	return rc;
}

/* A --pvc that names no claim of --source-sc is bad usage, said before anything at all is done
 * (before the probes a killed volshift left are removed, or what pvmigrate left is finished): only
 * claims and volumes are listed for it. A VS_EXIT_* code. */
static int migrate_check_pvcs(vs_kube_client *c, const struct migrate_cmd *m, vs_out *o)
{
	json_t *pvcs = NULL, *pvs = NULL;
	vs_error err;
	int rc;

	if (m->npvcs == 0)
		return VS_EXIT_OK;
	vs_error_clear(&err);
	rc = vs_kube_list(c, &VS_KUBE_PVCS, NULL, NULL, &pvcs, &err);
	if (rc == 0)
		rc = vs_kube_list(c, &VS_KUBE_PVS, NULL, NULL, &pvs, &err);
	if (rc < 0) {
		rc = vs_out_error(o, "migrate", "reading the cluster", &err);
	} else if (vs_plan_check_pvcs(&(vs_plan_input){ .pvcs = pvcs, .pvs = pvs }, &m->m.plan, &err) < 0) {
		fprintf(stderr, "volshift migrate: %s\n", err.message);
		rc = VS_EXIT_USAGE;
	}
	json_decref(pvcs);
	json_decref(pvs);
	return rc;
}

/* Finish an unfinished migration of the same classes, or plan and run a new one. */
static int migrate_run(struct migrate_cmd *m, vs_kube_client *c, vs_out *o)
{
	vs_cli_run_flags f = { .state_ns = m->state_ns,
			       .dry_run = m->dry_run,
			       .yes = m->yes,
			       .preflight_only = m->preflight_only,
			       .skip_preflight = m->skip_preflight,
			       .again = m->again.data };
	char *id, *line;
	int rc = m->dry_run ? VS_EXIT_OK : vs_cli_check_access(c, m->state_ns, "migrate", o);

	if (rc == VS_EXIT_OK)
		rc = migrate_check_pvcs(c, m, o);
	if (rc != VS_EXIT_OK)
		return rc;
	id = vs_migrate_find_unfinished(c, m->state_ns, m->m.plan.source_sc, m->m.plan.dest_sc);
	if (!m->dry_run)
		vs_migrate_probe_cleanup(c, &m->m, vs_out_event, o);
	if (!id && !m->dry_run && !m->preflight_only) {
		vs_error err;
		vs_error_clear(&err);
		if (vs_migrate_adopt_pvmigrate(c, &m->m, vs_out_event, o, &err) < 0)
			return vs_out_error(o, "migrate", "finishing what pvmigrate left (nothing else was changed)",
					    &err);
	}
	if (!id || m->dry_run || m->preflight_only) {
		free(id);
		return vs_cli_plan_and_run(c, &m->m, &f, o);
	}
	line = vs_xasprintf("Migration %s of %s -> %s did not finish. Resume it?", id, m->m.plan.source_sc,
			    m->m.plan.dest_sc);
	bool resume = vs_cli_ask(m->yes, o, line, true);
	free(line);
	if (resume) {
		vs_cli_common common = { .kubeconfig = m->kubeconfig,
					 .context = m->context,
					 .state_ns = m->state_ns,
					 .id = id,
					 .probes_cleaned = true };
		line = vs_xasprintf(
			"==> migration %s of the same classes did not finish: resuming it (its plan and options)", id);
		vs_out_message(o, "resuming", line);
		rc = vs_cli_resume(c, &common, o);
	} else {
		line = vs_xasprintf(
			"Not resumed. 'volshift resume %s' finishes it, 'volshift rollback %s' undoes it; a new "
			"migration of these classes can start once it has done either.",
			id, id);
		vs_out_message(o, "cancelled", line);
		rc = VS_EXIT_FAILED;
	}
	free(line);
	free(id);
	return rc;
}

/* argv without its empty words when it is pvmigrate's command line (scripts pass them: kURL's
 * '"$skipFreeSpaceCheckFlag" "$setDefaultsFlag"' with a flag unset; Go's flag package stops at
 * the first and ignores every flag after it, volshift reads on), into *argc. Caller frees the
 * array, whose strings are argv's. */
static char **migrate_args(int argc, char **argv, bool pvmigrate, int *out_argc)
{
	char **args = vs_xcalloc((size_t)argc + 1, sizeof(char *));
	int n = 0;

	for (int i = 0; i < argc; i++)
		if (i == 0 || !pvmigrate || argv[i][0])
			args[n++] = argv[i];
	*out_argc = n;
	return args;
}

int vs_cli_migrate(int argc, char **argv, bool pvmigrate)
{
	struct migrate_cmd m = { 0 };
	vs_kube_config *cfg = NULL;
	vs_kube_client *c = NULL;
	vs_out *o = NULL;
	char **args = migrate_args(argc, argv, pvmigrate, &argc);
	int rc = migrate_parse(&m, argc, args, pvmigrate);

	if (rc != 0) {
		rc = rc < 0 ? VS_EXIT_OK : rc;
		goto done;
	}
	o = vs_out_new(m.json, stdout);
	rc = vs_cli_connect("migrate", m.kubeconfig, m.context, o, &cfg, &c);
	if (rc == VS_EXIT_OK)
		rc = migrate_run(&m, c, o);
done:
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	vs_out_free(o);
	migrate_cmd_clear(&m);
	free(args);
	return rc;
}

int vs_cli_cmd_migrate(int argc, char **argv)
{
	return vs_cli_migrate(argc, argv, false);
}
