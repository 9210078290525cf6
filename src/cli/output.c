/*
 * User-facing output: the plan and problem tables, a migration's events as text for people
 * (progress updated in place on a terminal, plain lines otherwise) or as one JSON object per line
 * for machines, and the closing summary. Diagnostics go through util's log instead; nothing else
 * in volshift prints.
 *
 * Several groups migrate at once, so their events interleave (one at a time: the engine serializes
 * the calls). The kube client's reports of an unreachable API server come from whichever thread
 * waits for it, so every function that writes holds the output's lock (a recursive one: some call
 * others). On a terminal the bottom of the output is a block redrawn in place: a line per group
 * in flight (its claims, phase, and copy progress) and an overall line; other lines are printed
 * above it. Plain text has no block: each line of an event of one of several groups starts with
 * "[g/G] ", and copy progress is an occasional line per claim.
 */
#include "cli.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define OUT_MAX_COLS 8

#define OUT_DEFAULT_WIDTH 100 /* columns when the terminal does not say */
#define OUT_MIN_WIDTH	  20
#define OUT_NAME_MAX	  40  /* the claims column of the block, at most */
#define OUT_NAME_MIN	  12  /* ... and at least */
#define OUT_REST_W	  54  /* what follows the names on a copying group's line, but its rate */
#define OUT_BAR		  10  /* characters of a progress bar */
#define OUT_REDRAW_MS	  200 /* progress redraws the block at most this often */
#define OUT_PLAIN_STEP	  10  /* plain text: a progress line per claim every 10 percent */

/* A group in flight as the block shows it; id 0 is a copy outside any group. */
struct out_group {
	long long id;
	char *names; /* "ns/a,b" */
	size_t nclaims;
	char *phase;	       /* group-phase's phase, or NULL before the first */
	char *pvc;	       /* the claim being copied, or NULL */
	long long pass_number; /* of its copy */
	int percent;
	long long bytes;
	char rate[24], eta[24];
};

struct vs_out {
	bool json;
	bool tty;
	FILE *f;
	int cols;		  /* fixed width of the terminal, or 0 to ask it */
	json_t *downtimes;	  /* "Kind ns/name" -> ms */
	json_t *plain_percent;	  /* plain text: "ns/pvc" -> last percentage printed in this pass */
	struct out_group *groups; /* in flight */
	size_t ngroups;
	long long total, done, failed; /* groups */
	long long bytes_sent;	       /* by the copies that finished */
	int64_t start_ms;	       /* the first group's event (monotonic) */
	int64_t last_draw_ms;
	int block_lines;    /* lines of the block on the terminal now */
	char *migration;    /* the migration the output is about (every JSON event names it), or NULL */
	pthread_mutex_t mu; /* recursive; held by every public function that writes */
};

static void out_above_block(vs_out *o, const char *text);
static void out_block_end(vs_out *o);
static void out_groups_forget(vs_out *o);

vs_out *vs_out_new(bool json, FILE *f)
{
	vs_out *o = vs_xcalloc(1, sizeof(*o));
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&o->mu, &attr);
	pthread_mutexattr_destroy(&attr);
	o->json = json;
	o->f = f;
	o->tty = isatty(fileno(f)) && !json;
	o->downtimes = json_object();
	o->plain_percent = json_object();
	return o;
}

void vs_out_free(vs_out *o)
{
	if (!o)
		return;
	out_groups_forget(o);
	json_decref(o->plain_percent);
	json_decref(o->downtimes);
	free(o->migration);
	pthread_mutex_destroy(&o->mu);
	free(o);
}

void vs_out_set_terminal(vs_out *o, bool tty, int cols)
{
	if (o->json)
		return;
	o->tty = tty;
	o->cols = cols > 0 ? (cols < OUT_MIN_WIDTH ? OUT_MIN_WIDTH : cols) : 0;
}

bool vs_out_is_json(const vs_out *o)
{
	return o->json;
}

bool vs_out_is_terminal(const vs_out *o)
{
	return o->tty;
}

/* ---- tables ---------------------------------------------------------------------------------- */

struct out_table {
	char **cells;
	size_t ncols, nrows;
};

/* Append a row of t->ncols cells (borrowed; copied; NULL shows as "-"). */
static void table_add(struct out_table *t, const char *const *cells)
{
	t->cells = vs_xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = vs_xstrdup(cells[c] ? cells[c] : "-");
	t->nrows++;
}

static void table_row(struct out_table *t, ...)
{
	const char *cells[OUT_MAX_COLS];
	va_list ap;

	va_start(ap, t);
	for (size_t c = 0; c < t->ncols; c++)
		cells[c] = va_arg(ap, const char *);
	va_end(ap);
	table_add(t, cells);
}

static void table_print(vs_out *o, struct out_table *t, const char *indent)
{
	size_t width[OUT_MAX_COLS] = { 0 };

	for (size_t i = 0; i < t->nrows * t->ncols; i++) {
		size_t len = strlen(t->cells[i]);
		if (len > width[i % t->ncols])
			width[i % t->ncols] = len;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		fputs(indent, o->f);
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			if (c + 1 < t->ncols)
				fprintf(o->f, "%-*s  ", (int)width[c], cell);
			else
				fprintf(o->f, "%s\n", cell);
		}
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
}

void vs_out_table(vs_out *o, const json_t *rows, const char *indent)
{
	struct out_table t = { .ncols = json_array_size(json_array_get(rows, 0)) };
	const char *cells[OUT_MAX_COLS];
	size_t r;
	json_t *row;

	assert(t.ncols <= OUT_MAX_COLS);
	if (o->json || t.ncols == 0)
		return;
	json_array_foreach (rows, r, row) {
		for (size_t c = 0; c < t.ncols; c++)
			cells[c] = json_string_value(json_array_get(row, c));
		table_add(&t, cells);
	}
	pthread_mutex_lock(&o->mu);
	table_print(o, &t, indent);
	fflush(o->f);
	pthread_mutex_unlock(&o->mu);
}

void vs_out_redraw(vs_out *o)
{
	if (o->json)
		return;
	pthread_mutex_lock(&o->mu);
	fputs(o->tty ? "\033[H\033[2J" : "\n", o->f);
	fflush(o->f);
	pthread_mutex_unlock(&o->mu);
}

static void out_json_line(vs_out *o, json_t *obj)
{
	char *line;

	pthread_mutex_lock(&o->mu);
	if (o->migration && !json_object_get(obj, "migration"))
		json_object_set_new(obj, "migration", json_string(o->migration));
	line = json_dumps(obj, JSON_COMPACT);
	fprintf(o->f, "%s\n", line);
	fflush(o->f);
	pthread_mutex_unlock(&o->mu);
	free(line);
}

void vs_out_json(vs_out *o, const json_t *event)
{
	json_t *copy;

	if (!o->json)
		return;
	copy = json_copy((json_t *)event);
	out_json_line(o, copy);
	json_decref(copy);
}

/* ---- the plan ----------------------------------------------------------------------------------- */

static char *out_workloads_of(const vs_plan *plan, size_t g)
{
	vs_buf b;

	vs_buf_init(&b, 0);
	for (size_t k = 0; k < plan->groups[g].nworkloads; k++) {
		const vs_plan_workload *w = &plan->workloads[plan->groups[g].workloads[k]];
		vs_buf_printf(&b, "%s%s %s", k ? ", " : "", vs_workload_kind_name(w->kind), w->name);
	}
	if (b.len == 0)
		vs_buf_puts(&b, "(none)");
	return vs_buf_steal(&b);
}

static char *out_modes(const vs_plan_pvc *p)
{
	if (p->dest_access_mode)
		return vs_xasprintf("%s (annotation)", p->dest_access_mode);
	return vs_plan_modes_text(p->access_modes);
}

/* How claim p is copied: beside its application while it runs, or all of it after the stop. */
static const char *out_copy_kind(const vs_plan_pvc *p, const vs_migrate_opts *opts)
{
	return opts->warm_copy && !p->cold_reason ? "warm, then changes" : "cold copy";
}

void vs_out_plan(vs_out *o, const vs_plan *plan, const vs_migrate_opts *opts)
{
	struct out_table t = { .ncols = 8 };

	if (o->json) {
		json_t *ev = json_pack("{s:s, s:o}", "event", "plan", "plan", vs_plan_to_json(plan));
		out_json_line(o, ev);
		json_decref(ev);
		return;
	}
	pthread_mutex_lock(&o->mu);
	fprintf(o->f, "Plan: move %zu claim%s from class %s to %s, in %zu group%s, %u at a time\n", plan->npvcs,
		plan->npvcs == 1 ? "" : "s", opts->plan.source_sc, opts->plan.dest_sc, plan->ngroups,
		plan->ngroups == 1 ? "" : "s", opts->parallel ? opts->parallel : 1);
	if (plan->npvcs) {
		table_row(&t, "NAMESPACE", "CLAIM", "VOLUME", "SIZE", "ACCESS MODES", "NODE", "COPY",
			  "STOPPED WHILE SWITCHED");
		for (size_t i = 0; i < plan->npvcs; i++) {
			const vs_plan_pvc *p = &plan->pvcs[i];
			char *modes = out_modes(p), *wl = out_workloads_of(plan, p->group);
			table_row(&t, p->ns, p->name, p->pv, p->capacity, modes, p->node, out_copy_kind(p, opts), wl);
			free(modes);
			free(wl);
		}
		table_print(o, &t, "  ");
	}
	for (size_t i = 0; i < plan->npvcs; i++)
		if (opts->warm_copy && plan->pvcs[i].cold_reason)
			fprintf(o->f, "note: %s/%s gets a cold copy (all of it, after its workloads stop): %s\n",
				plan->pvcs[i].ns, plan->pvcs[i].name, plan->pvcs[i].cold_reason);
	if (plan->change_default)
		fprintf(o->f, "Default class: %s -> %s (--set-defaults)\n",
			plan->current_default ? plan->current_default : "(none)", opts->plan.dest_sc);
	for (size_t i = 0; i < plan->nwarnings; i++)
		fprintf(o->f, "warning: %s\n", plan->warnings[i]);
	fflush(o->f);
	pthread_mutex_unlock(&o->mu);
}

void vs_out_shell_word(vs_buf *b, const char *s)
{
	if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,@+%") == strlen(s))
		vs_buf_puts(b, s);
	else
		vs_buf_shell_word(b, s);
}

/* ---- after a refusal: how to migrate the claims that can be ------------------------------------ */

#define OUT_REST_MAX_PVCS    20			 /* a longer --pvc list is not offered */
#define OUT_REST_MAX_NS	     3			 /* ... nor a command per namespace for more */
#define OUT_REST_LATER_LABEL "volshift.io/later" /* what the --selector way labels refused claims with */

static bool out_refused(const vs_plan *plan, const char *ns, const char *name)
{
	for (size_t i = 0; i < plan->nproblems; i++)
		if (plan->problems[i].name && strcmp(plan->problems[i].ns, ns) == 0 &&
		    strcmp(plan->problems[i].name, name) == 0)
			return true;
	return false;
}

/* The claims no problem names, as "NS/NAME" (an empty array when a problem is the whole
 * migration's: nothing can go ahead). Caller owns. */
static json_t *out_migratable(const vs_plan *plan)
{
	json_t *ok = json_array();

	for (size_t i = 0; i < plan->nproblems; i++)
		if (!plan->problems[i].name)
			return ok;
	for (size_t i = 0; i < plan->npvcs; i++)
		if (!out_refused(plan, plan->pvcs[i].ns, plan->pvcs[i].name))
			json_array_append_new(ok, json_sprintf("%s/%s", plan->pvcs[i].ns, plan->pvcs[i].name));
	return ok;
}

/* again (or "volshift migrate" and the classes) into b. */
static void out_again(vs_buf *b, const vs_migrate_opts *opts, const char *again)
{
	if (again) {
		vs_buf_puts(b, again);
		return;
	}
	vs_buf_puts(b, "volshift migrate --source-sc ");
	vs_out_shell_word(b, opts->plan.source_sc);
	vs_buf_puts(b, " --dest-sc ");
	vs_out_shell_word(b, opts->plan.dest_sc);
}

/* The namespaces of the claims in ok when none holds a refused claim, as a JSON array; NULL
 * otherwise. Caller owns. */
static json_t *out_clean_namespaces(const vs_plan *plan, const json_t *ok)
{
	json_t *seen = json_array();
	size_t i;
	json_t *v;

	json_array_foreach (ok, i, v) {
		const char *key = json_string_value(v), *slash = strchr(key, '/');
		json_t *ns = json_stringn(key, (size_t)(slash - key));
		bool have = false;
		size_t k;
		json_t *w;
		json_array_foreach (seen, k, w)
			have = have || json_equal(w, ns);
		if (!have)
			json_array_append(seen, ns);
		json_decref(ns);
	}
	for (size_t p = 0; p < plan->nproblems; p++)
		json_array_foreach (seen, i, v)
			if (strcmp(plan->problems[p].ns, json_string_value(v)) == 0) {
				json_decref(seen);
				return NULL;
			}
	return seen;
}

/* The commands that migrate the claims in ok (not empty) now, each way its own string: --pvc for
 * each; --namespace when the refused claims are in other namespaces; --selector once the refused
 * ones are labelled (kubectl label ... && volshift ...). The last two only when --pvc did not
 * choose the claims. *hows gets what each way is, for people ("" for the first). Caller owns both. */
static json_t *out_rest_commands(const vs_plan *plan, const vs_migrate_opts *opts, const char *again, const json_t *ok,
				 json_t **hows)
{
	json_t *cmds = json_array(), *spaces = NULL, *v;

	*hows = json_array();
	vs_buf b;
	size_t i;

	vs_buf_init(&b, 0);
	if (json_array_size(ok) <= OUT_REST_MAX_PVCS) {
		out_again(&b, opts, again);
		json_array_foreach (ok, i, v)
			vs_buf_printf(&b, " --pvc %s", json_string_value(v));
		json_array_append_new(cmds, json_string(b.data));
		json_array_append_new(*hows, json_string(""));
	}
	if (opts->plan.npvcs == 0 && !opts->plan.namespace && (spaces = out_clean_namespaces(plan, ok)) &&
	    json_array_size(spaces) <= OUT_REST_MAX_NS) {
		json_array_foreach (spaces, i, v) {
			vs_buf_reset(&b);
			out_again(&b, opts, again);
			vs_buf_printf(&b, " --namespace %s", json_string_value(v));
			if (opts->plan.selector) {
				vs_buf_puts(&b, " --selector ");
				vs_out_shell_word(&b, opts->plan.selector);
			}
			json_array_append_new(cmds, json_string(b.data));
			json_array_append_new(*hows, json_string(", by namespace"));
		}
	}
	json_decref(spaces);
	if (opts->plan.npvcs == 0) {
		char *sel = opts->plan.selector ? vs_xasprintf("%s,!" OUT_REST_LATER_LABEL, opts->plan.selector)
						: vs_xstrdup("!" OUT_REST_LATER_LABEL);
		vs_buf_reset(&b);
		for (size_t p = 0; p < plan->nproblems; p++)
			vs_buf_printf(&b, "kubectl label pvc -n %s %s " OUT_REST_LATER_LABEL "=true && ",
				      plan->problems[p].ns, plan->problems[p].name);
		out_again(&b, opts, again);
		if (opts->plan.namespace)
			vs_buf_printf(&b, " --namespace %s", opts->plan.namespace);
		vs_buf_puts(&b, " --selector ");
		vs_out_shell_word(&b, sel);
		json_array_append_new(cmds, json_string(b.data));
		json_array_append_new(*hows, json_string(", after labelling the claims refused here"));
		free(sel);
	}
	vs_buf_free(&b);
	return cmds;
}

/* The commands as text, one a line: the first way, then each other as an alternative. */
static void out_rest_text(vs_out *o, const json_t *ok, const json_t *cmds, const json_t *hows)
{
	size_t i, n = json_array_size(ok);
	json_t *c;

	fprintf(o->f, "\nThe other %zu claim%s can be migrated now, and these once their problem is solved:\n", n,
		n == 1 ? "" : "s");
	json_array_foreach (cmds, i, c) {
		const char *text = json_string_value(c), *amp;
		if (i > 0)
			fprintf(o->f, "or%s:\n", json_string_value(json_array_get(hows, i)));
		for (; (amp = strstr(text, " && ")) != NULL; text = amp + 4)
			fprintf(o->f, "  %.*s\n", (int)(amp - text), text);
		fprintf(o->f, "  %s\n", text);
	}
}

void vs_out_problems(vs_out *o, const vs_plan *plan, const vs_migrate_opts *opts, const char *again)
{
	struct out_table t = { .ncols = 3 };
	json_t *ok = out_migratable(plan), *hows = NULL;
	json_t *cmds = json_array_size(ok) ? out_rest_commands(plan, opts, again, ok, &hows) : json_array();

	pthread_mutex_lock(&o->mu);
	if (o->json) {
		json_t *ev = vs_plan_to_json(plan);
		json_t *line = json_pack("{s:s, s:O, s:O, s:O}", "event", "problems", "problems",
					 json_object_get(ev, "problems"), "migratable", ok, "commands", cmds);
		out_json_line(o, line);
		json_decref(line);
		json_decref(ev);
	} else {
		fprintf(o->f, "\nCannot migrate (%zu problem%s; nothing was changed):\n", plan->nproblems,
			plan->nproblems == 1 ? "" : "s");
		table_row(&t, "NAMESPACE", "CLAIM", "WHY");
		for (size_t i = 0; i < plan->nproblems; i++)
			table_row(&t, plan->problems[i].ns, plan->problems[i].name, plan->problems[i].reason);
		table_print(o, &t, "  ");
		if (json_array_size(cmds))
			out_rest_text(o, ok, cmds, hows);
	}
	fflush(o->f);
	pthread_mutex_unlock(&o->mu);
	json_decref(ok);
	json_decref(cmds);
	json_decref(hows);
}

void vs_out_message(vs_out *o, const char *type, const char *text)
{
	if (o->json) {
		json_t *ev = json_pack("{s:s, s:s}", "event", type, "message", text);
		out_json_line(o, ev);
		json_decref(ev);
	} else {
		char *line = vs_xasprintf("%s\n", text);
		out_above_block(o, line);
		free(line);
	}
}

/* The lines that say how to go on with migration id. Caller frees. */
static char *out_unfinished_text(const char *id)
{
	return vs_xasprintf("Migration %s did not finish; no data was deleted.\n"
			    "  volshift status %s      # where each claim is, and the volumes volshift holds\n"
			    "  volshift resume %s      # continue it\n"
			    "  volshift rollback %s    # undo it",
			    id, id, id, id);
}

void vs_out_migration(vs_out *o, const char *type, const char *id, const char *journal_ns, const char *text)
{
	char *name = vs_xasprintf("volshift-%s", id);

	pthread_mutex_lock(&o->mu);
	free(o->migration);
	o->migration = vs_xstrdup(id);
	pthread_mutex_unlock(&o->mu);
	char *last = out_unfinished_text(id); /* what a second Ctrl-C leaves on the screen */
	vs_stop_set_last_words(last);
	free(last);
	if (o->json) {
		json_t *ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "event", type, "migration", id, "journal",
				       "namespace", journal_ns, "name", name, "message", text);
		out_json_line(o, ev);
		json_decref(ev);
	} else {
		char *line = vs_xasprintf("==> %s\n", text);
		out_above_block(o, line);
		free(line);
	}
	free(name);
}

void vs_out_unfinished(vs_out *o)
{
	const char *id;
	char *text;

	pthread_mutex_lock(&o->mu);
	id = o->migration;
	if (!id) {
		pthread_mutex_unlock(&o->mu);
		return;
	}
	text = out_unfinished_text(id);
	if (o->json) {
		json_t *ev = json_pack("{s:s, s:s, s:{s:o, s:o, s:o}}", "event", "unfinished", "message", text,
				       "commands", "status", json_sprintf("volshift status %s", id), "resume",
				       json_sprintf("volshift resume %s", id), "rollback",
				       json_sprintf("volshift rollback %s", id));
		out_json_line(o, ev);
		json_decref(ev);
	} else {
		out_block_end(o);
		fprintf(o->f, "%s\n", text);
		fflush(o->f);
	}
	pthread_mutex_unlock(&o->mu);
	free(text);
}

int vs_out_error(vs_out *o, const char *cmd, const char *what, const vs_error *err)
{
	return vs_out_error_detail(o, cmd, what, err, NULL);
}

int vs_out_error_detail(vs_out *o, const char *cmd, const char *what, const vs_error *err, const char *detail)
{
	char *text = vs_xasprintf("%s: %s%s%s", what, err->message, detail ? ":\n" : "", detail ? detail : "");

	if (o)
		pthread_mutex_lock(&o->mu);
	if (o && o->json)
		vs_out_message(o, "error", text);
	else if (o)
		out_block_end(o);
	fprintf(stderr, "volshift %s: %s\n", cmd, text);
	if (o)
		pthread_mutex_unlock(&o->mu);
	free(text);
	return VS_EXIT_FAILED;
}

/* ---- groups in flight --------------------------------------------------------------------------- */

/* Short names of a group's phases for the terminal block, and longer ones for plain lines. */
static const struct {
	const char *phase, *label, *plain;
} out_phases[] = {
	{ "dest", "new claims", "creating the destination claims" },
	{ "warm", "warm copy", "copying while the workloads run (warm copy)" },
	{ "stop", "stopping", "stopping the workloads" },
	{ "final", "final copy", "copying what changed, workloads stopped (final copy)" },
	{ "copy", "copying", "copying, workloads stopped" },
	{ "verify", "verifying", "verifying the copies" },
	{ "swap", "switching", "switching the claims to their copies" },
	{ "start", "starting", "starting the workloads" },
};

/* The index of phase in out_phases, or -1 when volshift does not know it. */
static int out_phase_index(const char *phase)
{
	for (size_t i = 0; phase && i < sizeof(out_phases) / sizeof(out_phases[0]); i++)
		if (strcmp(out_phases[i].phase, phase) == 0)
			return (int)i;
	return -1;
}

static void out_group_clear_copy(struct out_group *g)
{
	free(g->pvc);
	g->pvc = NULL;
	g->percent = 0;
	g->bytes = 0;
	g->rate[0] = g->eta[0] = '\0';
}

/* The group numbered id in flight; created when missing and create is set, else NULL. */
static struct out_group *out_group_get(vs_out *o, long long id, bool create)
{
	for (size_t i = 0; i < o->ngroups; i++)
		if (o->groups[i].id == id)
			return &o->groups[i];
	if (!create)
		return NULL;
	o->groups = vs_xrealloc(o->groups, (o->ngroups + 1) * sizeof(*o->groups));
	memset(&o->groups[o->ngroups], 0, sizeof(*o->groups));
	o->groups[o->ngroups].id = id;
	return &o->groups[o->ngroups++];
}

static void out_group_free(struct out_group *g)
{
	out_group_clear_copy(g);
	free(g->names);
	free(g->phase);
}

static void out_group_remove(vs_out *o, long long id)
{
	struct out_group *g = out_group_get(o, id, false);

	if (!g)
		return;
	out_group_free(g);
	memmove(g, g + 1, (size_t)(&o->groups[o->ngroups] - (g + 1)) * sizeof(*g));
	o->ngroups--;
}

/* The migration is over: no group in flight, no block, counts from zero for another. */
static void out_groups_forget(vs_out *o)
{
	for (size_t i = 0; i < o->ngroups; i++)
		out_group_free(&o->groups[i]);
	free(o->groups);
	o->groups = NULL;
	o->ngroups = 0;
	o->total = o->done = o->failed = o->bytes_sent = 0;
	o->start_ms = 0;
}

/* "ns/a,b" from group-start's namespace and claims. */
static void out_group_start(struct out_group *g, const json_t *ev)
{
	const json_t *claims = json_object_get(ev, "claims"), *claim;
	vs_buf b;
	size_t i;

	vs_buf_init(&b, 0);
	vs_buf_printf(&b, "%s/", vs_json_str_or(ev, "namespace", ""));
	json_array_foreach (claims, i, claim)
		vs_buf_printf(&b, "%s%s", i ? "," : "", json_string_value(claim));
	free(g->names);
	g->names = vs_buf_steal(&b);
	g->nclaims = json_array_size(claims);
}

static void out_group_copy_start(struct out_group *g, const json_t *ev)
{
	out_group_clear_copy(g);
	g->pvc = vs_xstrdup(vs_json_str_or(ev, "pvc", ""));
	g->pass_number = vs_json_int(ev, "passNumber", 0);
	if (!g->names)
		g->names = vs_xasprintf("%s/%s", vs_json_str_or(ev, "namespace", ""), g->pvc);
}

static void out_group_progress(struct out_group *g, const json_t *ev)
{
	if (!g->pvc)
		out_group_copy_start(g, ev); /* the copy started before this output did */
	g->percent = (int)vs_json_int(ev, "percent", 0);
	g->bytes = vs_json_int(ev, "bytes", 0);
	snprintf(g->rate, sizeof(g->rate), "%s", vs_json_str_or(ev, "rate", ""));
	snprintf(g->eta, sizeof(g->eta), "%s", vs_json_str_or(ev, "eta", ""));
}

/* Bytes a finished copy sent: the pass's own for a warm or final pass, else the tree's size. */
static long long out_copy_sent(const json_t *ev)
{
	return vs_json_int(ev, "transferred", vs_json_int(ev, "bytes", 0));
}

/* Follow the groups in flight from ev; true when the block changes shape or phase (redraw now). A
 * copy outside any group is followed as group 0 while it runs. */
static bool out_track(vs_out *o, const json_t *ev, const char *type)
{
	long long id = vs_json_int(ev, "group", 0);
	struct out_group *g;

	o->total = vs_json_int(ev, "groups", o->total);
	if (id > 0 && o->start_ms == 0)
		o->start_ms = vs_time_mono_ms();
	if (strcmp(type, "group-start") == 0) {
		out_group_start(out_group_get(o, id, true), ev);
	} else if (strcmp(type, "group-phase") == 0) {
		g = out_group_get(o, id, true);
		free(g->phase);
		g->phase = vs_xstrdup(vs_json_str_or(ev, "phase", ""));
	} else if (strcmp(type, "copy-start") == 0) {
		out_group_copy_start(out_group_get(o, id, true), ev);
	} else if (strcmp(type, "copy-progress") == 0) {
		out_group_progress(out_group_get(o, id, true), ev);
		return false;
	} else if (strcmp(type, "copy-done") == 0) {
		o->bytes_sent += out_copy_sent(ev);
		if (id == 0)
			out_group_remove(o, 0);
		else if ((g = out_group_get(o, id, false)))
			out_group_clear_copy(g);
	} else if (strcmp(type, "group-done") == 0 || strcmp(type, "group-failed") == 0) {
		out_group_remove(o, id);
		if (strcmp(type, "group-done") == 0)
			o->done++;
		else
			o->failed++;
	} else {
		return false;
	}
	return true;
}

/* ---- the terminal block ------------------------------------------------------------------------- */

/* H:MM:SS */
static void out_clock(int64_t ms, char out[32])
{
	long long s = ms < 0 ? 0 : ms / 1000;

	snprintf(out, 32, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

static int out_width(const vs_out *o)
{
	struct winsize ws;

	if (o->cols > 0)
		return o->cols;
	if (ioctl(fileno(o->f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= OUT_MIN_WIDTH)
		return ws.ws_col;
	return OUT_DEFAULT_WIDTH;
}

/* How many groups the block can show a line for: the block must fit on the screen, or the cursor
 * cannot go back to its top (one row for the overall line, one for the cursor's); all when the
 * terminal does not say. */
static size_t out_group_lines(const vs_out *o)
{
	struct winsize ws;

	if (ioctl(fileno(o->f), TIOCGWINSZ, &ws) == 0 && ws.ws_row >= 4 && o->ngroups > (size_t)ws.ws_row - 2)
		return (size_t)ws.ws_row - 2;
	return o->ngroups;
}

static bool out_block_shown(const vs_out *o)
{
	return o->tty && (o->ngroups > 0 || o->total > 0);
}

/* The label of g's phase: "warm copy 2" for a second warm pass; "waiting" before any phase. */
static void out_phase_label(const struct out_group *g, char out[32])
{
	int i = out_phase_index(g->phase);

	if (!g->phase)
		snprintf(out, 32, "%s", g->pvc ? "copying" : "waiting");
	else if (i < 0)
		snprintf(out, 32, "%s", g->phase);
	else if (strcmp(g->phase, "warm") == 0 && g->pass_number > 1)
		snprintf(out, 32, "%s %lld", out_phases[i].label, g->pass_number);
	else
		snprintf(out, 32, "%s", out_phases[i].label);
}

/* "1.2/2.9 GiB", or "980.0 MiB/2.9 GiB" when the units differ, into b. */
static void out_bytes_of(vs_buf *b, int64_t bytes, int64_t total)
{
	char done[32], all[32];
	const char *unit;

	vs_bytes_format(bytes, done);
	vs_bytes_format(total, all);
	unit = strchr(done, ' ');
	if (unit && strcmp(unit, strchr(all, ' ')) == 0)
		vs_buf_printf(b, "%.*s/%s", (int)(unit - done), done, all);
	else
		vs_buf_printf(b, "%s/%s", done, all);
}

/* What follows a group's name (into b): its phase and, while copying, "[####......]  42% 1.2/2.9 GiB
 * ETA 0:00:03 12.3MB/s" (the claim first when the group has several; the total is estimated from
 * the percentage). What matters most comes first: a narrow terminal cuts the end. */
static void out_group_rest(const struct out_group *g, vs_buf *b)
{
	char label[32], bar[OUT_BAR + 1];
	int pct = g->percent < 0 ? 0 : g->percent > 100 ? 100 : g->percent;

	out_phase_label(g, label);
	if (!g->pvc) {
		vs_buf_puts(b, label);
		return;
	}
	for (int k = 0; k < OUT_BAR; k++)
		bar[k] = k < pct * OUT_BAR / 100 ? '#' : '.';
	bar[OUT_BAR] = '\0';
	vs_buf_printf(b, "%-11s %s%s[%s] %3d%%", label, g->nclaims > 1 ? g->pvc : "", g->nclaims > 1 ? " " : "", bar,
		      pct);
	if (pct > 0) {
		vs_buf_puts(b, " ");
		out_bytes_of(b, g->bytes, g->bytes * 100 / pct);
	}
	if (g->eta[0])
		vs_buf_printf(b, " ETA %s", g->eta);
	if (g->rate[0])
		vs_buf_printf(b, " %s", g->rate);
}

/* name cut to width (> 3) with "..." at its end, or padded to width. */
static void out_fit(vs_buf *b, const char *name, int width)
{
	if ((int)strlen(name) <= width)
		vs_buf_printf(b, "%-*s", width, name);
	else
		vs_buf_printf(b, "%.*s...", width - 3, name);
}

/* One line of the block, cut to the terminal's width so that it never wraps. */
static void out_block_line(vs_buf *b, const char *line, int cols)
{
	vs_buf_printf(b, "\r%.*s\033[K\n", cols - 1, line);
}

/* The width of the names column: the longest name, at most OUT_NAME_MAX, and less when the rest of a
 * copying group's line (about OUT_REST_W) would not fit, down to OUT_NAME_MIN. It does not depend on
 * the progress, so the columns stay put from one redraw to the next. */
static int out_name_width(const vs_out *o, int label_w, int cols)
{
	int name_w = 0, room = cols - 1 - label_w - 2 - OUT_REST_W;

	for (size_t i = 0; i < o->ngroups; i++) {
		int n = o->groups[i].names ? (int)strlen(o->groups[i].names) : 0;
		name_w = n > name_w ? n : name_w;
	}
	if (name_w > OUT_NAME_MAX)
		name_w = OUT_NAME_MAX;
	if (name_w > room)
		name_w = room > OUT_NAME_MIN ? room : OUT_NAME_MIN;
	return name_w;
}

/* "[2/25] ns/a,b  phase ..." for every group in flight (a copy outside groups has no label), or for
 * as many as the screen holds and "... and N more in flight". */
static int out_block_groups(const vs_out *o, vs_buf *b, int cols)
{
	size_t shown = out_group_lines(o);
	char label[48] = "";
	int label_w, name_w;
	vs_buf line;

	if (shown < o->ngroups)
		shown--; /* for the "more" line */
	label_w = o->total > 0 ? snprintf(label, sizeof(label), "[%lld/%lld] ", o->total, o->total) : 0;
	name_w = out_name_width(o, label_w, cols);
	vs_buf_init(&line, 0);
	for (size_t i = 0; i < shown; i++) {
		const struct out_group *g = &o->groups[i];
		label[0] = '\0';
		if (g->id > 0)
			snprintf(label, sizeof(label), "[%lld/%lld] ", g->id, o->total);
		vs_buf_printf(&line, "%-*s", label_w, label);
		out_fit(&line, g->names ? g->names : "", name_w);
		vs_buf_puts(&line, "  ");
		out_group_rest(g, &line);
		out_block_line(b, line.data, cols);
		vs_buf_reset(&line);
	}
	if (shown < o->ngroups) {
		vs_buf_printf(&line, "... and %zu more in flight", o->ngroups - shown);
		out_block_line(b, line.data, cols);
	}
	vs_buf_free(&line);
	return (int)(shown < o->ngroups ? shown + 1 : shown);
}

/* "overall: 3/25 done, 4 in flight, elapsed 0:00:42, ETA 0:03:10, 1.2 GiB copied". The ETA assumes
 * the groups left take as long, on average, as the ones that ended. */
static void out_block_overall(const vs_out *o, vs_buf *b, int cols)
{
	long long bytes = o->bytes_sent, finished = o->done + o->failed;
	int64_t elapsed = o->start_ms ? vs_time_mono_ms() - o->start_ms : 0;
	char copied[32], clock[32], eta[32];
	vs_buf line;

	for (size_t i = 0; i < o->ngroups; i++)
		bytes += o->groups[i].pvc ? o->groups[i].bytes : 0;
	vs_bytes_format(bytes, copied);
	out_clock(elapsed, clock);
	vs_buf_init(&line, 0);
	vs_buf_printf(&line, "overall: %lld/%lld done, %zu in flight", o->done, o->total, o->ngroups);
	if (o->failed)
		vs_buf_printf(&line, ", %lld failed", o->failed);
	vs_buf_printf(&line, ", elapsed %s", clock);
	if (finished > 0 && finished < o->total) {
		out_clock(elapsed * (o->total - finished) / finished, eta);
		vs_buf_printf(&line, ", ETA %s", eta);
	}
	vs_buf_printf(&line, ", %s copied", copied);
	out_block_line(b, line.data, cols);
	vs_buf_free(&line);
}

/* Take the block off the terminal (into b): the cursor goes back to its first line. */
static void out_block_erase(vs_out *o, vs_buf *b)
{
	if (o->block_lines > 0)
		vs_buf_printf(b, "\033[%dA\r\033[J", o->block_lines);
	o->block_lines = 0;
}

/* Draw the block (into b) below what is on the terminal, when there is one. */
static void out_block_draw(vs_out *o, vs_buf *b)
{
	int cols = out_width(o);

	if (!out_block_shown(o))
		return;
	o->block_lines = out_block_groups(o, b, cols);
	if (o->total > 0) {
		out_block_overall(o, b, cols);
		o->block_lines++;
	}
	o->last_draw_ms = vs_time_mono_ms();
}

static void out_write(vs_out *o, vs_buf *b)
{
	if (b->len)
		fwrite(b->data, 1, b->len, o->f);
	fflush(o->f);
}

/* Print text (whole lines) above the block: the block is erased, the text printed, the block drawn
 * again below it; as plain text when the output is not a terminal. */
static void out_above_block(vs_out *o, const char *text)
{
	vs_buf b;

	vs_buf_init(&b, 0);
	pthread_mutex_lock(&o->mu);
	out_block_erase(o, &b);
	vs_buf_puts(&b, text);
	out_block_draw(o, &b);
	out_write(o, &b);
	pthread_mutex_unlock(&o->mu);
	vs_buf_free(&b);
}

/* The migration is over: the block leaves the terminal, and what it showed is forgotten. */
static void out_block_end(vs_out *o)
{
	vs_buf b;

	vs_buf_init(&b, 0);
	pthread_mutex_lock(&o->mu);
	out_block_erase(o, &b);
	out_groups_forget(o);
	out_write(o, &b);
	pthread_mutex_unlock(&o->mu);
	vs_buf_free(&b);
}

/* ---- events as text ----------------------------------------------------------------------------- */

static void out_seconds(int64_t ms, char out[32])
{
	snprintf(out, 32, "%.1fs", (double)ms / 1000.0);
}

/* Plain text: a line per claim and pass at 0, 10, 20... percent (claims of different groups
 * interleave, so each has its own last percentage). */
static void out_progress_plain(vs_out *o, const json_t *ev, vs_buf *t)
{
	const char *ns = vs_json_str_or(ev, "namespace", ""), *pvc = vs_json_str_or(ev, "pvc", "");
	int pct = (int)vs_json_int(ev, "percent", 0);
	char *key = vs_xasprintf("%s/%s", ns, pvc);
	const json_t *last = json_object_get(o->plain_percent, key);
	char bytes[32];

	if (!last || pct / OUT_PLAIN_STEP != json_integer_value(last) / OUT_PLAIN_STEP) {
		json_object_set_new(o->plain_percent, key, json_integer(pct));
		vs_bytes_format(vs_json_int(ev, "bytes", 0), bytes);
		vs_buf_printf(t, "    %s: %d%%, %s, %s\n", key, pct, bytes, vs_json_str_or(ev, "rate", ""));
	}
	free(key);
}

/* "    copying ns/pvc (warm pass 1, app running) on node X"; a cold copy says no pass. */
static void out_copy_start(vs_out *o, const json_t *ev, vs_buf *t)
{
	const char *pass = vs_json_str_or(ev, "pass", "cold");
	char *key = vs_xasprintf("%s/%s", vs_json_str_or(ev, "namespace", ""), vs_json_str_or(ev, "pvc", ""));

	json_object_del(o->plain_percent, key);
	vs_buf_printf(t, "    copying %s", key);
	if (strcmp(pass, "warm") == 0)
		vs_buf_printf(t, " (warm pass %lld, app running)", vs_json_int(ev, "passNumber", 1));
	else if (strcmp(pass, "final") == 0)
		vs_buf_puts(t, " (final pass, app stopped)");
	if (vs_json_str(ev, "node"))
		vs_buf_printf(t, " on node %s", vs_json_str(ev, "node"));
	vs_buf_puts(t, "\n");
	free(key);
}

/* "    copied ns/pvc: 1.0 GiB in 12 files and directories, 3.1s"; a warm or final pass also says what
 * it sent. */
static void out_copy_done(vs_out *o, const json_t *ev, vs_buf *t)
{
	const char *pass = vs_json_str_or(ev, "pass", "cold");
	char *key = vs_xasprintf("%s/%s", vs_json_str_or(ev, "namespace", ""), vs_json_str_or(ev, "pvc", ""));
	char size[32], sent[32], secs[32];

	json_object_del(o->plain_percent, key);
	vs_bytes_format(vs_json_int(ev, "bytes", 0), size);
	vs_bytes_format(out_copy_sent(ev), sent);
	out_seconds(vs_json_int(ev, "ms", 0), secs);
	vs_buf_printf(t, "    copied %s", key);
	if (strcmp(pass, "warm") == 0)
		vs_buf_printf(t, " (warm pass %lld)", vs_json_int(ev, "passNumber", 1));
	else if (strcmp(pass, "final") == 0)
		vs_buf_puts(t, " (final pass)");
	vs_buf_printf(t, ": %s in %lld files and directories", size, vs_json_int(ev, "files", 0));
	if (strcmp(pass, "warm") == 0 || strcmp(pass, "final") == 0)
		vs_buf_printf(t, ", %s sent", sent);
	vs_buf_printf(t, ", %s\n", secs);
	free(key);
}

/* "==> default/web,db (workloads: Deployment default/web)" */
static void out_group_start_text(const json_t *ev, vs_buf *t)
{
	const json_t *list = json_object_get(ev, "claims"), *item;
	size_t i;

	vs_buf_printf(t, "==> %s/", vs_json_str_or(ev, "namespace", ""));
	json_array_foreach (list, i, item)
		vs_buf_printf(t, "%s%s", i ? "," : "", json_string_value(item));
	list = json_object_get(ev, "workloads");
	vs_buf_puts(t, json_array_size(list) ? " (workloads: " : " (no workloads to stop)");
	json_array_foreach (list, i, item)
		vs_buf_printf(t, "%s%s", i ? ", " : "", json_string_value(item));
	vs_buf_puts(t, json_array_size(list) ? ")\n" : "\n");
}

/* "    done in 4.2s; downtime: Deployment default/web 1.1s (stop 0.1s, copy 0.2s, ...)" (downtimes
 * also kept for the summary). */
static void out_group_done(vs_out *o, const json_t *ev, vs_buf *t)
{
	json_t *downtimes = json_object_get(ev, "downtimeMs"), *parts = json_object_get(ev, "downtimePartsMs"), *ms;
	const char *key;
	char secs[32];
	int n = 0;

	out_seconds(vs_json_int(ev, "ms", 0), secs);
	vs_buf_printf(t, "    done in %s", secs);
	json_object_foreach (downtimes, key, ms) {
		json_object_set_new(o->downtimes, key, json_integer(json_integer_value(ms)));
		out_seconds(json_integer_value(ms), secs);
		vs_buf_printf(t, "%s%s %s", n++ ? ", " : "; downtime: ", key, secs);
	}
	n = 0;
	json_object_foreach (parts, key, ms) {
		out_seconds(json_integer_value(ms), secs);
		vs_buf_printf(t, "%s%s %s", n++ ? ", " : " (", key, secs);
	}
	vs_buf_puts(t, n ? ")\n" : "\n");
}

/* The text of an event about a group: its start, phases (plain text only: the block shows them on a
 * terminal), end and copies. True when type is one of them. */
static bool out_group_text(vs_out *o, const json_t *ev, const char *type, vs_buf *t)
{
	int phase = out_phase_index(vs_json_str(ev, "phase"));

	if (strcmp(type, "group-start") == 0)
		out_group_start_text(ev, t);
	else if (strcmp(type, "group-phase") == 0 && !o->tty)
		vs_buf_printf(t, "    %s\n", phase < 0 ? vs_json_str_or(ev, "phase", "") : out_phases[phase].plain);
	else if (strcmp(type, "group-done") == 0)
		out_group_done(o, ev, t);
	else if (strcmp(type, "group-failed") == 0)
		vs_buf_printf(t, "    failed: %s\n", vs_json_str_or(ev, "message", ""));
	else if (strcmp(type, "copy-start") == 0)
		out_copy_start(o, ev, t);
	else if (strcmp(type, "copy-progress") == 0 && !o->tty)
		out_progress_plain(o, ev, t);
	else if (strcmp(type, "copy-done") == 0)
		out_copy_done(o, ev, t);
	else
		return strncmp(type, "group-", 6) == 0 || strcmp(type, "copy-progress") == 0;
	return true;
}

/* The text of every other event. */
static void out_event_text(const json_t *ev, const char *type, vs_buf *t)
{
	const char *ns = vs_json_str_or(ev, "namespace", ""), *name = vs_json_str_or(ev, "name", "");
	const char *pvc = vs_json_str_or(ev, "pvc", "");
	char a[32], b[32];

	if (strcmp(type, "stage") == 0) {
		vs_buf_printf(t, "==> %s\n", vs_json_str_or(ev, "message", ""));
	} else if (strcmp(type, "warning") == 0) {
		vs_buf_printf(t, "    warning: %s\n", vs_json_str_or(ev, "message", ""));
	} else if (strcmp(type, "waiting") == 0 || strcmp(type, "note") == 0) {
		vs_buf_printf(t, "    %s\n", vs_json_str_or(ev, "message", ""));
	} else if (strcmp(type, "probe-removed") == 0) {
		vs_buf_printf(t, "    removed access-mode probe %s/%s, left behind: %s\n", ns, name,
			      vs_json_str_or(ev, "reason", ""));
	} else if (strcmp(type, "probe-kept") == 0) {
		vs_buf_printf(t, "    access-mode probe %s/%s left alone: %s\n", ns, name,
			      vs_json_str_or(ev, "reason", ""));
	} else if (strcmp(type, "free-space") == 0) {
		vs_bytes_format(vs_json_int(ev, "free", 0), a);
		vs_bytes_format(vs_json_int(ev, "need", 0), b);
		vs_buf_printf(t, "    free space on %s in %s: %s, the copies made there need %s: %s\n",
			      vs_json_str_or(ev, "node", ""), vs_json_str_or(ev, "path", ""), a, b,
			      vs_json_bool(ev, "ok", false) ? "ok" : "not enough");
	} else if (strcmp(type, "probe") == 0) {
		vs_buf_printf(t, "    access modes %s: %s\n", vs_json_str_or(ev, "modes", ""),
			      vs_json_bool(ev, "ok", false) ? "ok" : vs_json_str_or(ev, "message", "failed"));
	} else if (strcmp(type, "workload-stopped") == 0) {
		vs_buf_printf(t, "    stopped %s %s/%s\n", vs_json_str_or(ev, "kind", ""), ns, name);
	} else if (strcmp(type, "copy-log") == 0) {
		vs_buf_printf(t, "      | %s\n", vs_json_str_or(ev, "line", ""));
	} else if (strcmp(type, "verify-start") == 0) {
		vs_buf_printf(t, "    verifying %s/%s (%s)\n", ns, pvc, vs_json_str_or(ev, "mode", ""));
	} else if (strcmp(type, "verify-done") == 0) {
		out_seconds(vs_json_int(ev, "ms", 0), b);
		vs_buf_printf(t, "    verified %s/%s: %lld files and directories, %lld difference%s, %s\n", ns, pvc,
			      vs_json_int(ev, "files", 0), vs_json_int(ev, "differences", 0),
			      vs_json_int(ev, "differences", 0) == 1 ? "" : "s", b);
	} else if (strcmp(type, "swapped") == 0) {
		vs_buf_printf(t, "    %s/%s is now on volume %s (was %s)\n", ns, pvc, vs_json_str_or(ev, "newPv", ""),
			      vs_json_str_or(ev, "oldPv", ""));
	} else if (strcmp(type, "unswapped") == 0) {
		vs_buf_printf(t, "    %s/%s is back on its original volume %s\n", ns, pvc,
			      vs_json_str_or(ev, "pv", ""));
	} else if (strcmp(type, "rollback-kept") == 0) {
		vs_buf_printf(t, "    %s/%s stays on the destination: its workloads already ran there\n", ns, pvc);
	} else if (strcmp(type, "pv-deleted") == 0) {
		vs_buf_printf(t, "    volume %s given back to its reclaim policy (%s)\n", vs_json_str_or(ev, "pv", ""),
			      vs_json_str_or(ev, "reclaim", ""));
	} else if (strcmp(type, "statefulset-recreated") == 0) {
		vs_buf_printf(t, "    recreated StatefulSet %s/%s with claim templates in class %s\n", ns, name,
			      vs_json_str_or(ev, "storageClass", ""));
	} else if (strcmp(type, "workload-ready") == 0) {
		out_seconds(vs_json_int(ev, "downtimeMs", 0), a);
		vs_buf_printf(t, "    %s %s/%s is ready again (downtime %s)\n", vs_json_str_or(ev, "kind", ""), ns,
			      name, a);
	} else if (strcmp(type, "default-class") == 0) {
		vs_buf_printf(t, "==> default StorageClass is now %s (was %s)\n", vs_json_str_or(ev, "to", ""),
			      vs_json_str_or(ev, "from", "none"));
	}
}

/* text with "[g/G] " before each line when ev belongs to one of several groups (then without the
 * indentation, which the prefix replaces), into b. With a single group nothing interleaves, and the
 * lines stay as they always were. */
static void out_prefixed(const vs_out *o, const json_t *ev, const char *text, vs_buf *b)
{
	long long id = vs_json_int(ev, "group", 0), total = vs_json_int(ev, "groups", o->total);
	const char *end;

	if (id <= 0 || total <= 1) {
		vs_buf_puts(b, text);
		return;
	}
	for (; *text; text = end) {
		end = strchr(text, '\n');
		end = end ? end + 1 : text + strlen(text);
		for (int k = 0; k < 4 && *text == ' '; k++)
			text++;
		vs_buf_printf(b, "[%lld/%lld] %.*s", id, total, (int)(end - text), text);
	}
}

/* "Done: 50 claims moved, 1.0 GiB copied, in 42.0s (8 groups at a time, 812 API requests)." and the
 * downtime of every workload. */
static void out_summary(vs_out *o, const json_t *ev)
{
	struct out_table t = { .ncols = 2 };
	long long parallel = vs_json_int(ev, "parallel", 0), requests = vs_json_int(ev, "apiRequests", -1);
	char bytes[32], secs[32];
	const char *key;
	json_t *ms;

	vs_bytes_format(vs_json_int(ev, "bytes", 0), bytes);
	out_seconds(vs_json_int(ev, "ms", 0), secs);
	fprintf(o->f, "\nDone: %lld claim%s moved, %s copied, in %s", vs_json_int(ev, "pvcs", 0),
		vs_json_int(ev, "pvcs", 0) == 1 ? "" : "s", bytes, secs);
	if (parallel > 0)
		fprintf(o->f, " (%lld group%s at a time", parallel, parallel == 1 ? "" : "s");
	if (requests >= 0)
		fprintf(o->f, "%s%lld API request%s", parallel > 0 ? ", " : " (", requests, requests == 1 ? "" : "s");
	fputs(parallel > 0 || requests >= 0 ? ").\n" : ".\n", o->f);
	if (json_object_size(o->downtimes) == 0)
		return;
	table_row(&t, "WORKLOAD", "DOWNTIME");
	json_object_foreach (o->downtimes, key, ms) {
		out_seconds(json_integer_value(ms), secs);
		table_row(&t, key, secs);
	}
	table_print(o, &t, "  ");
}

static void out_note_downtime(vs_out *o, const json_t *ev, const char *type)
{
	char *key;

	if (strcmp(type, "workload-ready") != 0)
		return;
	key = vs_xasprintf("%s %s/%s", vs_json_str_or(ev, "kind", ""), vs_json_str_or(ev, "namespace", ""),
			   vs_json_str_or(ev, "name", ""));
	json_object_set_new(o->downtimes, key, json_integer(vs_json_int(ev, "downtimeMs", 0)));
	free(key);
}

/* An event as text: its lines above the block, and the block drawn again when they were printed,
 * the block changed, or progress is due (at most every OUT_REDRAW_MS). */
static void out_event_as_text(vs_out *o, const json_t *ev, const char *type)
{
	bool changed = out_track(o, ev, type), frame;
	vs_buf text, b;

	vs_buf_init(&text, 0);
	vs_buf_init(&b, 0);
	if (!out_group_text(o, ev, type, &text))
		out_event_text(ev, type, &text);
	frame = text.len || changed || vs_time_mono_ms() - o->last_draw_ms >= OUT_REDRAW_MS;
	if (frame)
		out_block_erase(o, &b);
	out_prefixed(o, ev, text.len ? text.data : "", &b);
	if (frame)
		out_block_draw(o, &b);
	out_write(o, &b);
	vs_buf_free(&b);
	vs_buf_free(&text);
}

void vs_out_event(const json_t *ev, void *ctx)
{
	vs_out *o = ctx;
	const char *type = vs_json_str_or(ev, "event", "");

	pthread_mutex_lock(&o->mu);
	out_note_downtime(o, ev, type);
	if (o->json) {
		out_json_line(o, (json_t *)ev);
	} else if (strcmp(type, "done") == 0) {
		out_block_end(o);
		out_summary(o, ev);
		fflush(o->f);
	} else {
		out_event_as_text(o, ev, type);
	}
	pthread_mutex_unlock(&o->mu);
}

void vs_out_api(const vs_kube_outage *ev, void *ctx)
{
	static const char *const states[] = { "waiting", "over", "gave-up" };
	vs_out *o = ctx;
	char text[800], *line;

	if (ev->state == VS_KUBE_OUTAGE_GAVE_UP && ev->never_answered)
		return; /* the error that follows says it, with what to check */
	vs_kube_outage_describe(ev, text, sizeof(text));
	if (o->json) {
		json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "event", "api-outage", "state",
					states[ev->state], "server", ev->server, "cause", ev->cause, "downMs",
					(json_int_t)ev->down_ms, "leftMs", (json_int_t)ev->left_ms, "budgetMs",
					(json_int_t)ev->budget_ms, "message", text);
		out_json_line(o, obj);
		json_decref(obj);
		return;
	}
	if (ev->state == VS_KUBE_OUTAGE_OVER)
		line = vs_xasprintf("note: %s\n", text);
	else if (ev->never_answered) /* the short budget of a first contact */
		line = vs_xasprintf("warning: %s\n", text);
	else
		line = vs_xasprintf("warning: %s (--api-timeout %llds)\n", text, (long long)(ev->budget_ms / 1000));
	out_above_block(o, line);
	free(line);
}
