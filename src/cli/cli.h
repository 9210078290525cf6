/*
 * cli: volshift's command line. main.c holds the table of subcommands; each subcommand lives in
 * its own cmd_<name>.c and exports one entry point with the signature below.
 */
#ifndef VS_CLI_H
#define VS_CLI_H

/* Exit codes of every subcommand. */
enum {
	VS_EXIT_OK = 0,     /* done */
	VS_EXIT_FAILED = 1, /* the operation failed; the message says why */
	VS_EXIT_USAGE = 2,  /* bad usage; nothing was changed */
};

/* A subcommand: argv[0] is the subcommand's name. Returns a VS_EXIT_* code. */
typedef int (*vs_cli_cmd_fn)(int argc, char **argv);

/* The program's version string. */
const char *vs_cli_version(void);

#endif
