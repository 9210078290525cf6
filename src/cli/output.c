/*
 * User-facing output: the plan and problem tables, a migration's events as text for people
 * (progress updated in place on a terminal, plain lines otherwise) or as one JSON object per line
 * for machines, and the closing summary. Diagnostics go through util's log instead; nothing else
 * in volshift prints.
 */
#include "cli.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_MAX_COLS 8

struct vs_out {
	bool json;
	bool tty;
	FILE *f;
	bool progress_open;   /* a progress line without its newline is on the terminal */
	int last_percent;     /* last percentage printed when not on a terminal */
	json_t *downtimes;    /* "Kind ns/name" -> ms */
};

vs_out *vs_out_new(bool json, FILE *f)
{
	vs_out *o = vs_xcalloc(1, sizeof(*o));

	o->json = json;
	o->f = f;
	o->tty = isatty(fileno(f)) && !json;
	o->last_percent = -1;
	o->downtimes = json_object();
	return o;
}

void vs_out_free(vs_out *o)
{
	if (!o)
		return;
	json_decref(o->downtimes);
	free(o);
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
	json_array_foreach(rows, r, row) {
		for (size_t c = 0; c < t.ncols; c++)
			cells[c] = json_string_value(json_array_get(row, c));
		table_add(&t, cells);
	}
	table_print(o, &t, indent);
	fflush(o->f);
}

void vs_out_redraw(vs_out *o)
{
	if (o->json)
		return;
	fputs(o->tty ? "\033[H\033[2J" : "\n", o->f);
	fflush(o->f);
}

static void out_json_line(vs_out *o, json_t *obj)
{
	char *line = json_dumps(obj, JSON_COMPACT);

	fprintf(o->f, "%s\n", line);
	fflush(o->f);
	free(line);
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

void vs_out_plan(vs_out *o, const vs_plan *plan, const vs_plan_opts *opts)
{
	struct out_table t = { .ncols = 7 };

	if (o->json) {
		json_t *ev = json_pack("{s:s, s:o}", "event", "plan", "plan", vs_plan_to_json(plan));
		out_json_line(o, ev);
		json_decref(ev);
		return;
	}
	fprintf(o->f, "Plan: move %zu claim%s from class %s to %s, in %zu group%s\n", plan->npvcs,
		plan->npvcs == 1 ? "" : "s", opts->source_sc, opts->dest_sc, plan->ngroups, plan->ngroups == 1 ? "" : "s");
	if (plan->npvcs) {
		table_row(&t, "NAMESPACE", "CLAIM", "VOLUME", "SIZE", "ACCESS MODES", "NODE", "STOPPED WHILE SWITCHED");
		for (size_t i = 0; i < plan->npvcs; i++) {
			const vs_plan_pvc *p = &plan->pvcs[i];
			char *modes = out_modes(p), *wl = out_workloads_of(plan, p->group);
			table_row(&t, p->ns, p->name, p->pv, p->capacity, modes, p->node, wl);
			free(modes);
			free(wl);
		}
		table_print(o, &t, "  ");
	}
	if (plan->change_default)
		fprintf(o->f, "Default class: %s -> %s (--set-defaults)\n", plan->current_default ? plan->current_default : "(none)",
			opts->dest_sc);
	for (size_t i = 0; i < plan->nwarnings; i++)
		fprintf(o->f, "warning: %s\n", plan->warnings[i]);
	fflush(o->f);
}

void vs_out_problems(vs_out *o, const vs_plan *plan)
{
	struct out_table t = { .ncols = 3 };

	if (o->json) {
		json_t *ev = vs_plan_to_json(plan);
		json_t *line = json_pack("{s:s, s:O}", "event", "problems", "problems", json_object_get(ev, "problems"));
		out_json_line(o, line);
		json_decref(line);
		json_decref(ev);
		return;
	}
	fprintf(o->f, "\nCannot migrate (%zu problem%s; nothing was changed):\n", plan->nproblems,
		plan->nproblems == 1 ? "" : "s");
	table_row(&t, "NAMESPACE", "CLAIM", "WHY");
	for (size_t i = 0; i < plan->nproblems; i++)
		table_row(&t, plan->problems[i].ns, plan->problems[i].name, plan->problems[i].reason);
	table_print(o, &t, "  ");
	fflush(o->f);
}

void vs_out_message(vs_out *o, const char *type, const char *text)
{
	if (o->json) {
		json_t *ev = json_pack("{s:s, s:s}", "event", type, "message", text);
		out_json_line(o, ev);
		json_decref(ev);
		return;
	}
	fprintf(o->f, "%s\n", text);
	fflush(o->f);
}

int vs_out_error(vs_out *o, const char *cmd, const char *what, const vs_error *err)
{
	char *text = vs_xasprintf("%s: %s", what, err->message);

	if (o && o->json)
		vs_out_message(o, "error", text);
	fprintf(stderr, "volshift %s: %s\n", cmd, text);
	free(text);
	return VS_EXIT_FAILED;
}

/* ---- events ------------------------------------------------------------------------------------- */

static void out_end_progress(vs_out *o)
{
	if (o->progress_open)
		fputc('\n', o->f);
	o->progress_open = false;
}

static void out_progress(vs_out *o, const json_t *ev)
{
	int pct = (int)vs_json_int(ev, "percent", 0);
	char bytes[32], bar[21];

	vs_bytes_format(vs_json_int(ev, "bytes", 0), bytes);
	if (!o->tty) {
		if (o->last_percent >= 0 && pct / 25 == o->last_percent / 25)
			return; /* a line at 0, 25, 50, 75 and 100 percent */
		o->last_percent = pct;
		fprintf(o->f, "    %s/%s: %d%%, %s, %s\n", vs_json_str_or(ev, "namespace", ""), vs_json_str_or(ev, "pvc", ""),
			pct, bytes, vs_json_str_or(ev, "rate", ""));
		return;
	}
	for (int k = 0; k < 20; k++)
		bar[k] = k < pct / 5 ? '#' : ' ';
	bar[20] = '\0';
	fprintf(o->f, "\r    %s/%s [%s] %3d%% %10s %12s ETA %s\033[K", vs_json_str_or(ev, "namespace", ""),
		vs_json_str_or(ev, "pvc", ""), bar, pct, bytes, vs_json_str_or(ev, "rate", ""), vs_json_str_or(ev, "eta", ""));
	o->progress_open = true;
}

static void out_seconds(int64_t ms, char out[32])
{
	snprintf(out, 32, "%.1fs", (double)ms / 1000.0);
}

static void out_event_text(vs_out *o, const json_t *ev, const char *type)
{
	const char *ns = vs_json_str_or(ev, "namespace", ""), *name = vs_json_str_or(ev, "name", "");
	const char *pvc = vs_json_str_or(ev, "pvc", "");
	char a[32], b[32];

	if (strcmp(type, "copy-progress") == 0) {
		out_progress(o, ev);
		return;
	}
	out_end_progress(o);
	if (strcmp(type, "stage") == 0) {
		fprintf(o->f, "==> %s\n", vs_json_str_or(ev, "message", ""));
	} else if (strcmp(type, "warning") == 0) {
		fprintf(o->f, "    warning: %s\n", vs_json_str_or(ev, "message", ""));
	} else if (strcmp(type, "waiting") == 0) {
		fprintf(o->f, "    %s\n", vs_json_str_or(ev, "message", ""));
	} else if (strcmp(type, "probe") == 0) {
		fprintf(o->f, "    access modes %s: %s\n", vs_json_str_or(ev, "modes", ""),
			vs_json_bool(ev, "ok", false) ? "ok" : vs_json_str_or(ev, "message", "failed"));
	} else if (strcmp(type, "workload-stopped") == 0) {
		fprintf(o->f, "    stopped %s %s/%s\n", vs_json_str_or(ev, "kind", ""), ns, name);
	} else if (strcmp(type, "copy-start") == 0) {
		o->last_percent = -1;
		fprintf(o->f, "    copying %s/%s%s%s\n", ns, pvc, vs_json_str(ev, "node") ? " on node " : "",
			vs_json_str_or(ev, "node", ""));
	} else if (strcmp(type, "copy-log") == 0) {
		fprintf(o->f, "      | %s\n", vs_json_str_or(ev, "line", ""));
	} else if (strcmp(type, "copy-done") == 0) {
		vs_bytes_format(vs_json_int(ev, "bytes", 0), a);
		out_seconds(vs_json_int(ev, "ms", 0), b);
		fprintf(o->f, "    copied %s/%s: %s in %lld files and directories, %s\n", ns, pvc, a, vs_json_int(ev, "files", 0), b);
	} else if (strcmp(type, "verify-start") == 0) {
		fprintf(o->f, "    verifying %s/%s (%s)\n", ns, pvc, vs_json_str_or(ev, "mode", ""));
	} else if (strcmp(type, "verify-done") == 0) {
		out_seconds(vs_json_int(ev, "ms", 0), b);
		fprintf(o->f, "    verified %s/%s: %lld files and directories, %lld difference%s, %s\n", ns, pvc,
			vs_json_int(ev, "files", 0), vs_json_int(ev, "differences", 0),
			vs_json_int(ev, "differences", 0) == 1 ? "" : "s", b);
	} else if (strcmp(type, "swapped") == 0) {
		fprintf(o->f, "    %s/%s is now on volume %s (was %s)\n", ns, pvc, vs_json_str_or(ev, "newPv", ""),
			vs_json_str_or(ev, "oldPv", ""));
	} else if (strcmp(type, "unswapped") == 0) {
		fprintf(o->f, "    %s/%s is back on its original volume %s\n", ns, pvc, vs_json_str_or(ev, "pv", ""));
	} else if (strcmp(type, "rollback-kept") == 0) {
		fprintf(o->f, "    %s/%s stays on the destination: its workloads already ran there\n", ns, pvc);
	} else if (strcmp(type, "pv-deleted") == 0) {
		fprintf(o->f, "    volume %s given back to its reclaim policy (%s)\n", vs_json_str_or(ev, "pv", ""),
			vs_json_str_or(ev, "reclaim", ""));
	} else if (strcmp(type, "statefulset-recreated") == 0) {
		fprintf(o->f, "    recreated StatefulSet %s/%s with claim templates in class %s\n", ns, name,
			vs_json_str_or(ev, "storageClass", ""));
	} else if (strcmp(type, "workload-ready") == 0) {
		out_seconds(vs_json_int(ev, "downtimeMs", 0), a);
		fprintf(o->f, "    %s %s/%s is ready again (downtime %s)\n", vs_json_str_or(ev, "kind", ""), ns, name, a);
	} else if (strcmp(type, "default-class") == 0) {
		fprintf(o->f, "==> default StorageClass is now %s (was %s)\n", vs_json_str_or(ev, "to", ""),
			vs_json_str_or(ev, "from", "none"));
	}
}

static void out_summary(vs_out *o, const json_t *ev)
{
	struct out_table t = { .ncols = 2 };
	char bytes[32], secs[32];
	const char *key;
	json_t *ms;

	vs_bytes_format(vs_json_int(ev, "bytes", 0), bytes);
	out_seconds(vs_json_int(ev, "ms", 0), secs);
	fprintf(o->f, "\nDone: %lld claim%s moved, %s copied, in %s.\n", vs_json_int(ev, "pvcs", 0),
		vs_json_int(ev, "pvcs", 0) == 1 ? "" : "s", bytes, secs);
	if (json_object_size(o->downtimes) == 0)
		return;
	table_row(&t, "WORKLOAD", "DOWNTIME");
	json_object_foreach(o->downtimes, key, ms) {
		out_seconds(json_integer_value(ms), secs);
		table_row(&t, key, secs);
	}
	table_print(o, &t, "  ");
}

void vs_out_event(const json_t *ev, void *ctx)
{
	vs_out *o = ctx;
	const char *type = vs_json_str_or(ev, "event", "");

	if (strcmp(type, "workload-ready") == 0) {
		char *key = vs_xasprintf("%s %s/%s", vs_json_str_or(ev, "kind", ""), vs_json_str_or(ev, "namespace", ""),
					 vs_json_str_or(ev, "name", ""));
		json_object_set_new(o->downtimes, key, json_integer(vs_json_int(ev, "downtimeMs", 0)));
		free(key);
	}
	if (o->json) {
		out_json_line(o, (json_t *)ev);
		return;
	}
	if (strcmp(type, "done") == 0) {
		out_end_progress(o);
		out_summary(o, ev);
	} else {
		out_event_text(o, ev, type);
	}
	fflush(o->f);
}
