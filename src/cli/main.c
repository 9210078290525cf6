/*
 * volshift's entry point: global flags and the table of subcommands. Each subcommand parses its
 * own flags (cmd_<name>.c); this file only dispatches.
 */
#include "cli.h"

#include <libgen.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#ifndef VS_VERSION
#define VS_VERSION "0.1.0"
#endif

struct cli_command {
	const char *name;
	vs_cli_cmd_fn fn;
	const char *summary;
};

/* Subcommands, one cmd_<name>.c each. */
static const struct cli_command cli_commands[] = {
	{ "migrate", vs_cli_cmd_migrate, "move every claim of one StorageClass to another (pvmigrate's job)" },
	{ "status", vs_cli_cmd_status, "show the migrations and plan runs recorded in the cluster, or one in detail" },
	{ "resume", vs_cli_cmd_resume, "continue an interrupted migration or plan run from its journal" },
	{ "abort", vs_cli_cmd_abort, "ask a running migration or plan run to stop at its next safe point" },
	{ "rollback", vs_cli_cmd_rollback, "undo a migration: claims back on their original volumes" },
	{ "run", vs_cli_cmd_run, "run a plan (a YAML file of ordered steps), recorded in the cluster" },
	{ "undo", vs_cli_cmd_undo, "undo a plan's run: the steps that started, last first" },
	{ "artifacts", vs_cli_cmd_artifacts, "write out the files and logs a plan's run kept" },
	{ "s3", vs_cli_cmd_s3, "s3 sync: copy every bucket and object of one S3 endpoint to another" },
	{ NULL, NULL, NULL },
};

const char *vs_cli_version(void)
{
	return VS_VERSION;
}

static void cli_usage(FILE *out)
{
	fprintf(out,
		"volshift %s: move the data of a Kubernetes cluster from one storage system to another.\n\n"
		"Usage: volshift COMMAND [flags]\n       volshift --version\n\nCommands:\n",
		vs_cli_version());
	for (const struct cli_command *c = cli_commands; c->name; c++)
		fprintf(out, "  %-12s %s\n", c->name, c->summary);
	fprintf(out, "\nRun 'volshift COMMAND --help' for a command's flags. Linked as 'pvmigrate', volshift takes\n"
		     "pvmigrate's command line; installed as 'kubectl-volshift', it is the kubectl plugin 'kubectl volshift'.\n");
	fputs(VS_CLI_GLOBAL_HELP, out);
}

/*
 * One malloc arena for every thread, and large blocks always mapped on their own. The groups in
 * flight each run in a thread, and glibc would give each its own arena; each journal write (an
 * encoding, a request body and a reply of the whole ConfigMap, a few MiB at 1000 claims) then
 * fragments the arena of whichever thread made it, and the process keeps all of them (peak RSS 103
 * MiB for 1000 claims with 8 groups in flight, for a few MiB live). The threads spend their time
 * waiting on the API, not in malloc, so sharing one arena costs nothing measurable. A fixed mmap
 * threshold stops glibc from raising it after the first large free, so those few-MiB blocks go back
 * to the system when freed instead of staying in the heap.
 */
static void cli_tune_malloc(void)
{
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

int main(int argc, char **argv)
{
	cli_tune_malloc();
	if (vs_cli_global_flags(&argc, argv) != VS_EXIT_OK)
		return VS_EXIT_USAGE;
	/* installed or linked as pvmigrate: pvmigrate's command line, as is */
	if (strcmp(basename(argv[0]), "pvmigrate") == 0)
		return vs_cli_migrate(argc, argv, true);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		cli_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? VS_EXIT_USAGE : VS_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("volshift %s\n", vs_cli_version());
		return VS_EXIT_OK;
	}
	for (const struct cli_command *c = cli_commands; c->name; c++)
		if (strcmp(argv[1], c->name) == 0)
			return c->fn(argc - 1, argv + 1);
	fprintf(stderr, "volshift: unknown command \"%s\"; run 'volshift --help' for the list\n", argv[1]);
	return VS_EXIT_USAGE;
}
