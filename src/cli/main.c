/*
 * volshift's entry point: global flags and the table of subcommands. Each subcommand parses its
 * own flags (cmd_<name>.c); this file only dispatches.
 */
#include "cli.h"

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

/* Subcommands are added here as they are built, one cmd_<name>.c each. */
static const struct cli_command cli_commands[] = {
	{ NULL, NULL, NULL },
};

const char *vs_cli_version(void)
{
	return VS_VERSION;
}

static void cli_usage(FILE *out)
{
	fprintf(out, "volshift %s: move the data of a Kubernetes cluster from one storage system to another.\n\n"
		     "Usage: volshift COMMAND [flags]\n       volshift --version\n\nCommands:\n",
		vs_cli_version());
	for (const struct cli_command *c = cli_commands; c->name; c++)
		fprintf(out, "  %-12s %s\n", c->name, c->summary);
	if (!cli_commands[0].name)
		fprintf(out, "  (none yet: this build provides the Kubernetes client and volshift-sim)\n");
	fprintf(out, "\nRun 'volshift COMMAND --help' for a command's flags.\n");
}

int main(int argc, char **argv)
{
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
