/*
 * cli: volshift's command line. main.c holds the table of subcommands; each subcommand lives in
 * its own cmd_<name>.c and exports one entry point with the signature below.
 */
#ifndef VS_CLI_H
#define VS_CLI_H

#include "journal/journal.h"
#include "kube/kube.h"
#include "migrate/migrate.h"

#include <stdbool.h>
#include <stdio.h>

/* Exit codes of every subcommand. */
enum {
	VS_EXIT_OK = 0,	    /* done */
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

typedef struct vs_out vs_out;

/* How a migration goes from its options to the cluster (migrate's flags that are not options). */
typedef struct vs_cli_run_flags {
	const char *state_ns;
	bool dry_run, yes, preflight_only, skip_preflight;
	const char *again; /* the command line as given, without the flags that choose claims, for the
			      advice after a refusal; NULL: "volshift migrate" and the classes */
} vs_cli_run_flags;
/* Plan opts against the live cluster, probe the destination, show the plan and its problems, ask on
 * a terminal (unless yes), and run it under a new journal; a VS_EXIT_* code. Shared by migrate and
 * rollback --migrate-back. */
int vs_cli_plan_and_run(vs_kube_client *c, const vs_migrate_opts *opts, const vs_cli_run_flags *f, vs_out *o);

/* Start a journal for plan in state_ns and execute it, saying how to follow, resume or roll back;
 * a VS_EXIT_* code. (migrate.c's helper, shared with resume.) */
int vs_cli_run_journaled(vs_kube_client *c, const char *state_ns, const vs_migrate_opts *opts, const vs_plan *plan,
			 vs_out *o);
/* Execute plan under an open journal and report the outcome; a VS_EXIT_* code. *refused (refused
 * may be NULL) says whether it was refused before changing anything (another migration has a
 * claim): the caller then discards the journal. */
int vs_cli_execute(vs_kube_client *c, const vs_migrate_opts *opts, const vs_plan *plan, vs_journal *j, vs_out *o,
		   bool *refused);
/* Flags shared by the commands that address a recorded migration (status, resume, abort). */
typedef struct vs_cli_common {
	const char *kubeconfig, *context, *state_ns;
	const char *id; /* the ID argument, or NULL */
	bool json, force, yes, watch;
	bool migrate_back;   /* rollback: migrate switched claims back */
	bool probes_cleaned; /* resume: the access-mode probes left behind were removed already (by migrate) */
} vs_cli_common;

enum { VS_CLI_ID_OPTIONAL = 1, VS_CLI_ID_REQUIRED = 2 };

/* Parse --kubeconfig, --context, --state-namespace, --output, --force, --yes, --watch, --help and the ID
 * argument (id_mode VS_CLI_ID_*). Returns VS_EXIT_OK, VS_EXIT_USAGE (message printed), or -1 when
 * --help was printed. */
int vs_cli_common_parse(vs_cli_common *c, int argc, char **argv, const char *help, int id_mode);

/* A recorded migration opened for resume or rollback (vs_migrate_open). */
typedef vs_migrate_recorded vs_cli_migration;
/* Open migration common->id (lease taken; common->force takes it over) and read its plan and
 * options into *m, once every permission a migration needs is granted (vs_cli_check_access); cmd
 * and hint ("" or advice on a busy lease) go into the error message. Returns VS_EXIT_OK, or
 * VS_EXIT_FAILED with the error printed and *m empty. */
int vs_cli_migration_open(vs_kube_client *c, const vs_cli_common *common, const char *cmd, const char *hint,
			  vs_cli_migration *m, vs_out *o);
/* Every permission a migration, its resume or its rollback needs is granted (asked with
 * SelfSubjectAccessReviews before anything is changed); else the RBAC rules to add are printed as
 * cmd's error. A VS_EXIT_* code. */
int vs_cli_check_access(vs_kube_client *c, const char *state_ns, const char *cmd, vs_out *o);

/* What a command does once its flags are parsed and the cluster is reached; a VS_EXIT_* code. */
typedef int (*vs_cli_cluster_fn)(vs_kube_client *c, const vs_cli_common *common, vs_out *o);
/* Parse the common flags (vs_cli_common_parse), connect, run fn with an output of the chosen format,
 * and clean up; a VS_EXIT_* code. */
int vs_cli_with_cluster(int argc, char **argv, const char *help, int id_mode, vs_cli_cluster_fn fn);

/* `volshift s3 sync SOURCE DEST` (cmd_s3.c; a vs_cli_cmd_fn). */
int vs_cli_cmd_s3(int argc, char **argv);
/* The text of a sync's events for people (s3 sync, and a plan's objectStore step): a progress line
 * (redrawn on a terminal, every 10 s otherwise), the buckets, failures and a summary. Zeroed, with
 * out (borrowed) set. */
typedef struct vs_cli_s3_text {
	vs_out *out;
	int64_t last_plain_ms;
	bool line_open; /* a progress line is on the terminal, to be overwritten */
} vs_cli_s3_text;
/* Print one of vs_s3_sync's events (borrowed) as text. */
void vs_cli_s3_event_text(vs_cli_s3_text *t, const json_t *ev);

/* `volshift status`, `volshift resume`, `volshift abort`, `volshift rollback` (vs_cli_cmd_fn). */
int vs_cli_cmd_status(int argc, char **argv);
int vs_cli_cmd_resume(int argc, char **argv);
int vs_cli_cmd_abort(int argc, char **argv);
int vs_cli_cmd_rollback(int argc, char **argv);
/* Continue migration common->id from its journal (refused when it was rolled back or another live
 * volshift holds it, unless common->force); a VS_EXIT_* code. */
int vs_cli_resume(vs_kube_client *c, const vs_cli_common *common, vs_out *o);

/* Ask question on the terminal; yes (or JSON output, or no terminal to ask on) answers true without
 * asking. Only the other letter (n for dflt true, y for dflt false) changes the answer from dflt;
 * no answer at all (end of input) is false. */
bool vs_cli_ask(bool yes, vs_out *o, const char *question, bool dflt);

/* `volshift run FILE`, `volshift undo NAME`, `volshift artifacts NAME` (cmd_run.c; vs_cli_cmd_fn). */
int vs_cli_cmd_run(int argc, char **argv);
int vs_cli_cmd_undo(int argc, char **argv);
int vs_cli_cmd_artifacts(int argc, char **argv);
/* The journal id of the plan run common->id names (a plan's name or a run's id) into *id (caller
 * frees; NULL when it names none, e.g. a storage-class migration). */
int vs_cli_run_id(vs_kube_client *c, const vs_cli_common *common, char **id, vs_error *err);
/* Continue plan run id; a VS_EXIT_* code. */
int vs_cli_run_resume(vs_kube_client *c, const vs_cli_common *common, const char *id, vs_out *o);
/* The plan runs among decoded journals (vs_journal_decode's, an array, borrowed): a table, or with
 * common->id one run's steps; JSON: one object per run. */
void vs_cli_run_status(vs_out *o, const vs_cli_common *common, const json_t *runs);

/* Load the kubeconfig (kubeconfig and context may be NULL) and make a client with the outage
 * budget of --api-timeout, which reports to o (borrowed; it must outlive the client) while the API
 * server does not answer; on failure print the error as command cmd's ("migrate") and return
 * VS_EXIT_FAILED. */
int vs_cli_connect(const char *cmd, const char *kubeconfig, const char *context, vs_out *o, vs_kube_config **cfg,
		   vs_kube_client **c);

/* The global flags, taken out of argv (before "--"; *argc updated) wherever they are, before the
 * subcommand parses its own: --api-timeout DURATION (also -api-timeout, for pvmigrate's command
 * line). Returns VS_EXIT_OK, or VS_EXIT_USAGE with the message printed. */
int vs_cli_global_flags(int *argc, char **argv);
/* The global flags in every command's --help. */
#define VS_CLI_GLOBAL_HELP                                                                                   \
	"\nGlobal flags (any command):\n"                                                                     \
	"  --api-timeout DURATION           how long the API server may stay unreachable (no answer, or only\n" \
	"                                   429 and 5xx) before volshift stops, saying what to run next;\n"     \
	"                                   seconds, or 90s, 5m (120s). One that never answered is reported\n"  \
	"                                   after 5 s instead: the kubeconfig is likely wrong\n"

/* ---- user-facing output (output.c) ---- */

/* Output to f (borrowed) as text (progress in place when f is a terminal) or JSON lines. */
vs_out *vs_out_new(bool json, FILE *f);
void vs_out_free(vs_out *o);
bool vs_out_is_json(const vs_out *o);
/* True when the output is text on a terminal (progress and views are redrawn in place). */
bool vs_out_is_terminal(const vs_out *o);
/* Treat text output as a terminal (tty: migration progress is a block redrawn in place with ANSI
 * escapes) or not (plain lines), whatever f is; for tests, or a caller that knows better. cols > 0
 * fixes the terminal's width (at least 20); 0 asks the terminal each time (100 when it does not
 * say). No effect in JSON mode. */
void vs_out_set_terminal(vs_out *o, bool tty, int cols);
/* The plan as a table (or one "plan" JSON event), with its warnings. */
void vs_out_plan(vs_out *o, const vs_plan *plan, const vs_migrate_opts *opts);
/* The plan's problems as a table (or one "problems" JSON event). When only some claims are refused,
 * how to migrate the others now: the command again (again, as vs_cli_run_flags has it) choosing
 * them with --pvc, --namespace where that does, or --selector after labelling the refused ones. */
void vs_out_problems(vs_out *o, const vs_plan *plan, const vs_migrate_opts *opts, const char *again);
/* Append s to b as one word for a POSIX shell, quoted only when it needs to be. */
void vs_out_shell_word(vs_buf *b, const char *s);
/* An error: "volshift CMD: WHAT: message" on stderr, and an "error" event in JSON mode. Returns
 * VS_EXIT_FAILED. */
int vs_out_error(vs_out *o, const char *cmd, const char *what, const vs_error *err);
/* vs_out_error with detail (borrowed, NULL: none; lines ending in a newline) after the message. */
int vs_out_error_detail(vs_out *o, const char *cmd, const char *what, const vs_error *err, const char *detail);
/* One JSON event line (event borrowed), printed as every JSON event is; nothing in text mode. */
void vs_out_json(vs_out *o, const json_t *event);
/* A line of text, or a JSON event {event: type, message: text}. */
void vs_out_message(vs_out *o, const char *type, const char *text);
/* From now on the output is about migration id, whose journal is the ConfigMap
 * journal_ns/volshift-ID: text says so (a line "==> " text), JSON says it in an event of type
 * {event, migration, journal: {namespace, name}, message: text}, and every later event carries
 * "migration". */
void vs_out_migration(vs_out *o, const char *type, const char *id, const char *journal_ns, const char *text);
/* The last lines when volshift stops with its migration unfinished (after vs_out_migration): its
 * id and the exact commands that show, continue or undo it; a "unfinished" event in JSON. */
void vs_out_unfinished(vs_out *o);
/* Rows (a JSON array of arrays of strings, borrowed; a cell that is not a string shows as "-";
 * at most 8 columns, as many as the first row has) as text with aligned columns, each line starting
 * with indent. Nothing in JSON mode. */
void vs_out_table(vs_out *o, const json_t *rows, const char *indent);
/* Start the next view of a watch: on a terminal the screen is cleared and drawing starts at the
 * top; other text output gets a blank line between views; nothing in JSON mode. */
void vs_out_redraw(vs_out *o);
/* A vs_migrate_event_fn: ctx is the vs_out; calls must not overlap (the engine serializes them).
 * Text on a terminal keeps a block at the bottom, redrawn in place: a line per group in flight and
 * an overall line; other lines are printed above it, and it goes at "done" or at vs_out_error.
 * Plain text prefixes the lines of an event of one of several groups with "[g/G] ". Collects
 * downtimes for the summary printed at "done". */
void vs_out_event(const json_t *event, void *ctx);
/* A vs_kube_outage_fn: ctx is the vs_out. A "warning: the API server at URL does not answer ..."
 * line above the block (a "note:" when it answers again), or an "api-outage" JSON event {state:
 * waiting|over|gave-up, server, cause, downMs, leftMs, budgetMs, message}. Thread-safe, as every
 * function of vs_out that writes. A server that never answered gets no gave-up line: the error
 * that follows says it. */
void vs_out_api(const vs_kube_outage *ev, void *ctx);

#endif
