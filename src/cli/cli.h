/*
 * cli: volshift's command line. main.c holds the table of subcommands; each subcommand lives in
 * its own cmd_<name>.c and exports one entry point with the signature below.
 */
#ifndef VS_CLI_H
#define VS_CLI_H

#include "migrate/migrate.h"

#include <stdbool.h>
#include <stdio.h>

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

/* `volshift migrate ...` (a vs_cli_cmd_fn). */
int vs_cli_cmd_migrate(int argc, char **argv);
/* `volshift migrate`. pvmigrate: argv is pvmigrate's command line (single-dash flags, no subcommand). */
int vs_cli_migrate(int argc, char **argv, bool pvmigrate);

/* ---- user-facing output (output.c) ---- */

typedef struct vs_out vs_out;

/* Output to f (borrowed) as text (progress in place when f is a terminal) or JSON lines. */
vs_out *vs_out_new(bool json, FILE *f);
void vs_out_free(vs_out *o);
bool vs_out_is_json(const vs_out *o);
/* The plan as a table (or one "plan" JSON event), with its warnings. */
void vs_out_plan(vs_out *o, const vs_plan *plan, const vs_plan_opts *opts);
/* The plan's problems as a table (or one "problems" JSON event). */
void vs_out_problems(vs_out *o, const vs_plan *plan);
/* A line of text, or a JSON event {event: type, message: text}. */
void vs_out_message(vs_out *o, const char *type, const char *text);
/* A vs_migrate_event_fn: ctx is the vs_out. Collects downtimes for the summary printed at "done". */
void vs_out_event(const json_t *event, void *ctx);

#endif
