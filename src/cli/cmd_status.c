/*
 * `volshift status [ID] [--watch]`: every migration recorded in the cluster, or one in detail, for
 * operators (text) and scripts (JSON). What status shows of a migration is its decoded journal plus
 * what only the live cluster knows: whether its holder still renews the lease, and the volumes
 * volshift holds for it (PVs it set to Retain, recognised by VS_MIGRATE_OWN_RECLAIM_ANNOTATION,
 * whose name or claim belongs to the migration), so that no volume is forgotten after a failure.
 * Status also lists the access-mode probes left behind (vs_migrate_probe_leftovers): a volshift
 * killed while probing leaves them, and they belong to no migration.
 * --watch draws the view again when a journal changes (a watch on the ConfigMaps of the state
 * namespace) and at least every STATUS_REFRESH_MS, for the times and the volumes.
 */
#include "cli.h"
#include "engine/engine.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_REFRESH_MS 2000

static const char status_help[] =
	"Usage: volshift status [ID] [--watch] [--output text|json] [--state-namespace NS] [--kubeconfig FILE]\n"
	"                       [--context NAME]\n"
	"\n"
	"Without ID: every migration whose journal is in the cluster, newest first: its phase, classes, claims\n"
	"switched, bytes copied, start, whether the volshift running it still renews its lease, and its error.\n"
	"With ID: that migration in detail: holder and lease, start and elapsed (or total) time; per group, its\n"
	"workloads with their downtime; per claim, its current step (dest, copy, verify or swap; intent: started,\n"
	"done: its effect was observed, failed: with the error) and the bytes copied; and the volumes volshift\n"
	"holds for it (set to Retain, their own policy recorded), which the migration gives back as it ends.\n"
	"Both also list the access-mode probes left behind (claim, pod, volume and Lease named volshift-probe-*\n"
	"of a volshift that is gone, or runs elsewhere), and how to remove them: the next migrate, resume or\n"
	"rollback does, or the kubectl commands shown. Plans' runs ('volshift run') are listed after the\n"
	"migrations (name, id, phase, steps done); ID may also be a plan's name: that run's steps in detail.\n"
	"\n"
	"  -o, --output json  the decoded journal with leaseLive, bytesCopied and heldVolumes, one object per\n"
	"                     line and per migration; then one {\"event\": \"probe-leftover\", ...} per access-mode\n"
	"                     probe left behind\n"
	"  -w, --watch        draw again when a journal changes (a watch on the ConfigMaps of the state\n"
	"                     namespace) and every 2 s; on a terminal in place, elsewhere only when something\n"
	"                     changed. With ID it ends when the migration is no longer running; without ID,\n"
	"                     when interrupted (Ctrl-C).\n"
	"\n"
	"Exit status: 0; with --watch ID, 0 when the migration is done and 1 when it failed, was aborted or\n"
	"rolled back; 1 when the migration does not exist or the cluster cannot be read; 2 bad usage.\n";

/* A claim's steps in the order they run. */
/* A claim's steps in their order; "undone" comes first: a group undone after a failure runs again. */
static const char *const status_claim_steps[] = { "undone", "dest", "copy", "verify", "swap", "release" };

/* ---- what the cluster says about a migration --------------------------------------------------- */

static const json_t *status_groups(const json_t *m)
{
	return vs_json_path(m, "plan.plan.groups");
}

static const json_t *status_step(const json_t *m, const char *key)
{
	return json_object_get(json_object_get(m, "steps"), key);
}

static bool status_running(const json_t *m)
{
	return strcmp(vs_json_str_or(m, "phase", ""), "running") == 0;
}

/* Seconds since the epoch of the RFC 3339 time at path in obj, or -1. */
static int64_t status_time(const json_t *obj, const char *path)
{
	const char *text = vs_json_str(obj, path);
	int64_t t;
	vs_error err;

	vs_error_clear(&err);
	return text && vs_time_parse(text, &t, &err) == 0 ? t : -1;
}

/* The bytes copied by m's steps whose key starts with prefix, or -1 when none of them records any. */
static long long status_bytes(const json_t *m, const char *prefix)
{
	long long total = -1;
	const char *key;
	json_t *step;

	json_object_foreach (json_object_get(m, "steps"), key, step) {
		const json_t *bytes = json_object_get(step, "bytes");
		if (vs_str_has_prefix(key, prefix) && json_is_integer(bytes))
			total = (total < 0 ? 0 : total) + json_integer_value(bytes);
	}
	return total;
}

/* What pv is to claim p of a plan: "source" (its volume), "copy" (bound or pre-bound to its
 * temporary or original name), or NULL. */
static const char *status_pv_role(const json_t *pv, const json_t *p)
{
	const char *ref = vs_json_str_or(pv, "spec.claimRef.name", "");

	if (strcmp(vs_json_str_or(pv, "metadata.name", ""), vs_json_str_or(p, "pv", "")) == 0)
		return "source";
	if (*ref &&
	    strcmp(vs_json_str_or(pv, "spec.claimRef.namespace", ""), vs_json_str_or(p, "namespace", "")) == 0 &&
	    (strcmp(ref, vs_json_str_or(p, "tempClaim", "")) == 0 || strcmp(ref, vs_json_str_or(p, "name", "")) == 0))
		return "copy";
	return NULL;
}

/* The claim of m's plan that pv belongs to, with its *role, or NULL. Borrowed from m. */
static const json_t *status_pv_owner(const json_t *m, const json_t *pv, const char **role)
{
	size_t g, k;
	json_t *grp, *p;

	json_array_foreach (status_groups(m), g, grp) {
		json_array_foreach (json_object_get(grp, "claims"), k, p) {
			if ((*role = status_pv_role(pv, p)) != NULL)
				return p;
		}
	}
	return NULL;
}

/* A held volume as status shows it. The policy it gets back: the one recorded for a copy (its
 * source's), else its own. Caller owns. */
static json_t *status_held_volume(const json_t *pv, const json_t *p, const char *role)
{
	const char *back = vs_json_annotation(pv, VS_MIGRATE_RECLAIM_ANNOTATION);
	const char *ref_name = vs_json_str(pv, "spec.claimRef.name");
	char *ref =
		ref_name ? vs_xasprintf("%s/%s", vs_json_str_or(pv, "spec.claimRef.namespace", ""), ref_name) : NULL;
	char *of = vs_xasprintf("%s/%s", vs_json_str_or(p, "namespace", ""), vs_json_str_or(p, "name", ""));
	json_t *v = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s?, s:s?}", "name", vs_json_str_or(pv, "metadata.name", ""),
			      "claimRef", ref, "migrationClaim", of, "role", role, "restorePolicy",
			      back ? back : vs_json_annotation(pv, VS_MIGRATE_OWN_RECLAIM_ANNOTATION), "reclaimPolicy",
			      vs_json_str(pv, "spec.persistentVolumeReclaimPolicy"), "phase",
			      vs_json_str(pv, "status.phase"));

	free(ref);
	free(of);
	return v;
}

/* Add to decoded journal m what the live cluster says: bytesCopied (when the journal
 * records bytes) and heldVolumes, found in pvs (a List of every PV, borrowed). */
static void status_add_live(json_t *m, const json_t *pvs)
{
	json_t *held = json_array(), *pv;
	long long bytes = status_bytes(m, "");
	size_t i;

	if (bytes >= 0)
		json_object_set_new(m, "bytesCopied", json_integer(bytes));
	json_array_foreach (json_object_get(pvs, "items"), i, pv) {
		const char *role = NULL;
		const json_t *p = vs_json_annotation(pv, VS_MIGRATE_OWN_RECLAIM_ANNOTATION)
					  ? status_pv_owner(m, pv, &role)
					  : NULL;
		if (p)
			json_array_append_new(held, status_held_volume(pv, p, role));
	}
	json_object_set_new(m, "heldVolumes", held);
}

/*
 * Every migration in the state namespace (or common->id's only) as status shows it, into *out (an
 * array, caller owns), with the resourceVersion of the journals' list into *rv (caller frees; NULL
 * when the namespace does not exist yet). One list of journals and one of PVs. Errors name what
 * could not be listed; VS_EINVAL when there is no migration common->id (the caller names it).
 */
static int status_load(vs_kube_client *c, const vs_cli_common *common, json_t **out, char **rv, vs_error *err)
{
	json_t *journals = NULL, *pvs = NULL, *cm;
	size_t i;
	int rc = vs_journal_list(c, common->state_ns, &journals, err);

	*out = json_array();
	*rv = NULL;
	if (rc < 0) {
		vs_error_wrap(err, "listing the journals in namespace %s", common->state_ns);
		goto done;
	}
	rc = vs_kube_list(c, &VS_KUBE_PVS, NULL, NULL, &pvs, err);
	if (rc < 0) {
		vs_error_wrap(err, "listing PersistentVolumes, to find the volumes volshift holds");
		goto done;
	}
	json_array_foreach (json_object_get(journals, "items"), i, cm) {
		json_t *m = vs_journal_decode(cm);
		bool run = vs_engine_is_run(json_object_get(m, "plan"));
		if (!common->id || strcmp(vs_json_str_or(m, "id", ""), common->id) == 0 ||
		    (run && json_array_size(*out) == 0 &&
		     strcmp(vs_engine_plan_name(json_object_get(m, "plan")) ?: "", common->id) == 0)) {
			status_add_live(m, pvs);
			json_array_append(*out, m);
		}
		json_decref(m);
	}
	if (common->id && json_array_size(*out) == 0)
		rc = vs_error_set(err, VS_EINVAL,
				  "not found in namespace %s ('volshift status' lists the migrations there)",
				  common->state_ns);
	if (rc == 0 && vs_kube_obj_resource_version(journals))
		*rv = vs_xstrdup(vs_kube_obj_resource_version(journals));
done:
	json_decref(journals);
	json_decref(pvs);
	return rc;
}

/* ---- text --------------------------------------------------------------------------------------- */

/* Print the lines in b (a last newline is dropped) and empty b. */
static void status_flush(vs_out *o, vs_buf *b)
{
	if (b->len && b->data[b->len - 1] == '\n')
		b->data[--b->len] = '\0';
	vs_out_message(o, "status", b->len ? b->data : "");
	vs_buf_reset(b);
}

/* s seconds (times in the journal are to the second) as "42s", "3m07s" or "2h05m"; below 0 as 0. */
static void status_seconds(int64_t s, char out[32])
{
	long long n = s < 0 ? 0 : (long long)s;

	if (n < 60)
		snprintf(out, 32, "%llds", n);
	else if (n < 3600)
		snprintf(out, 32, "%lldm%02llds", n / 60, n % 60);
	else
		snprintf(out, 32, "%lldh%02lldm", n / 3600, n / 60 % 60);
}

/* ms as "4.2s" below 10 s, else as status_seconds. */
static void status_duration(int64_t ms, char out[32])
{
	if (ms < 10000)
		snprintf(out, 32, "%.1fs", (double)(ms < 0 ? 0 : ms) / 1000.0);
	else
		status_seconds(ms / 1000, out);
}

/* bytes as text, or "-" when unknown (< 0). */
static void status_bytes_text(long long bytes, char out[32])
{
	if (bytes < 0)
		snprintf(out, 32, "-");
	else
		vs_bytes_format(bytes, out);
}

/* How many claims m moves, and how many have been switched (swap done). */
static void status_count_claims(const json_t *m, size_t *claims, size_t *switched)
{
	const char *key;
	json_t *g, *step;
	size_t i;

	*claims = *switched = 0;
	json_array_foreach (status_groups(m), i, g)
		*claims += json_array_size(json_object_get(g, "claims"));
	json_object_foreach (json_object_get(m, "steps"), key, step) {
		if (vs_str_has_suffix(key, "/swap") && strcmp(vs_json_str_or(step, "state", ""), VS_STEP_DONE) == 0)
			(*switched)++;
	}
}

static json_t *status_summary_row(const json_t *m)
{
	const json_t *opts = vs_json_path(m, "plan.options");
	size_t claims, switched;
	char bytes[32];

	status_count_claims(m, &claims, &switched);
	status_bytes_text(status_bytes(m, ""), bytes);
	char *classes = vs_xasprintf("%s -> %s", vs_json_str_or(opts, "sourceClass", "?"),
				     vs_json_str_or(opts, "destClass", "?"));
	char *count = vs_xasprintf("%zu/%zu", switched, claims);
	json_t *row = json_pack("[s, s, s, s, s, s?, s?, s?]", vs_json_str_or(m, "id", "?"),
				vs_json_str_or(m, "phase", "?"), classes, count, bytes, vs_json_str(m, "created"),
				status_running(m) ? (vs_json_bool(m, "leaseLive", false) ? "live" : "gone") : NULL,
				vs_json_str(m, "error"));

	free(classes);
	free(count);
	return row;
}

/* One line per migration. */
static void status_summary(vs_out *o, const json_t *models)
{
	json_t *rows = json_pack("[[s, s, s, s, s, s, s, s]]", "ID", "PHASE", "CLASSES", "SWITCHED", "COPIED",
				 "STARTED", "HOLDER", "ERROR");
	const json_t *m;
	size_t i;

	json_array_foreach (models, i, m)
		json_array_append_new(rows, status_summary_row(m));
	vs_out_table(o, rows, "");
	json_decref(rows);
}

/* The holder and its lease, in words. */
static void status_lease_text(vs_buf *b, const json_t *m)
{
	const char *holder = vs_json_str_or(m, "holder", "");
	int64_t renewed = status_time(m, "leaseRenewed");
	char ago[32];

	if (!*holder) {
		vs_buf_printf(b, "  holder   none\n");
		return;
	}
	if (renewed < 0) {
		vs_buf_printf(b, "  holder   %s (lease renewal time unknown)\n", holder);
		return;
	}
	if (vs_json_bool(m, "leaseLive", false)) {
		status_seconds(vs_time_now() - renewed, ago);
		vs_buf_printf(b, "  holder   %s, lease live (renewed %s ago)\n", holder, ago);
		return;
	}
	status_seconds(vs_time_now() - renewed - VS_JOURNAL_LEASE_MS / 1000, ago);
	vs_buf_printf(b, "  holder   %s, lease expired %s ago", holder, ago);
	if (status_running(m))
		vs_buf_printf(b, ": it is gone; 'volshift resume %s' continues", vs_json_str_or(m, "id", "ID"));
	vs_buf_puts(b, "\n");
}

/* Seconds from the start of m to now (running) or to its last recorded step, or -1 when unknown. */
static int64_t status_elapsed(const json_t *m)
{
	int64_t start = status_time(m, "created"), end = start;
	json_t *step;
	const char *key;

	if (start < 0)
		return -1;
	if (status_running(m))
		return vs_time_now() - start;
	json_object_foreach (json_object_get(m, "steps"), key, step) {
		int64_t t = status_time(step, "time");
		if (t > end)
			end = t;
	}
	return end - start;
}

static void status_header(vs_out *o, vs_buf *b, const json_t *m)
{
	const json_t *opts = vs_json_path(m, "plan.options");
	int64_t elapsed = status_elapsed(m);
	char took[32], bytes[32];

	status_seconds(elapsed, took);
	status_bytes_text(status_bytes(m, ""), bytes);
	vs_buf_printf(b, "Migration %s: %s, class %s -> %s\n", vs_json_str_or(m, "id", "?"),
		      vs_json_str_or(m, "phase", "?"), vs_json_str_or(opts, "sourceClass", "?"),
		      vs_json_str_or(opts, "destClass", "?"));
	vs_buf_printf(b, "  started  %s (%s %s)\n", vs_json_str_or(m, "created", "?"),
		      status_running(m) ? "running for" : "took", elapsed < 0 ? "?" : took);
	status_lease_text(b, m);
	vs_buf_printf(b, "  copied   %s\n", bytes);
	if (vs_json_bool(m, "abortRequested", false))
		vs_buf_printf(b, "  abort    requested at %s by %s: %s\n", vs_json_str_or(m, "abortRequestedAt", "?"),
			      *vs_json_str_or(m, "abortRequestedBy", "") ? vs_json_str(m, "abortRequestedBy")
									 : "someone",
			      strcmp(vs_json_str_or(m, "phase", ""), "aborted") == 0
				      ? "it stopped; 'volshift resume' continues it, 'volshift rollback' undoes it"
				      : "it stops at its next safe point");
	if (vs_json_str(m, "error"))
		vs_buf_printf(b, "  error    %s\n", vs_json_str(m, "error"));
	status_flush(o, b);
}

/* "LABEL: STATE" ("done", "failed: why", "not started", ...). */
static void status_step_text(vs_buf *b, const char *label, const json_t *step)
{
	vs_buf_printf(b, "%s: %s%s%s", label, step ? vs_json_str_or(step, "state", "?") : "not started",
		      vs_json_str(step, "error") ? ": " : "", vs_json_str_or(step, "error", ""));
}

/* Workload w ("Kind NS/NAME") of a group whose stop and start steps are stop and start (NULL when
 * they never ran), with its downtime once it is back, or how long it has been stopped while m runs. */
static void status_workload(vs_buf *b, const json_t *m, const json_t *w, const json_t *stop, const json_t *start)
{
	char *name = vs_xasprintf("%s %s/%s", vs_json_str_or(w, "kind", "?"), vs_json_str_or(w, "namespace", "?"),
				  vs_json_str_or(w, "name", "?"));
	const json_t *down = json_object_get(json_object_get(start, "downtimeMs"), name);
	const json_t *stopped = json_object_get(stop, "stoppedMs");
	char d[32];

	vs_buf_printf(b, "  %s", name);
	if (json_is_integer(down)) {
		status_duration(json_integer_value(down), d);
		vs_buf_printf(b, ": downtime %s", d);
	} else if (json_is_integer(stopped) && status_running(m)) {
		status_duration(vs_time_wall_ms() - json_integer_value(stopped), d);
		vs_buf_printf(b, ": stopped for %s", d);
	}
	vs_buf_puts(b, "\n");
	free(name);
}

/* Claim p's row: its last step that started, with its state, bytes copied and error. */
static json_t *status_claim_row(const json_t *m, const json_t *p)
{
	char *claim = vs_xasprintf("%s/%s", vs_json_str_or(p, "namespace", ""), vs_json_str_or(p, "name", ""));
	char *prefix = vs_xasprintf("claim/%s/", claim);
	const char *current = NULL;
	const json_t *rec = NULL;
	char bytes[32];

	for (size_t k = 0; k < sizeof(status_claim_steps) / sizeof(status_claim_steps[0]); k++) {
		char *key = vs_xasprintf("%s%s", prefix, status_claim_steps[k]);
		if (status_step(m, key))
			current = status_claim_steps[k], rec = status_step(m, key);
		free(key);
	}
	status_bytes_text(status_bytes(m, prefix), bytes);
	char *step = !current ? vs_xstrdup("not started")
		     : strcmp(current, "undone") == 0
			     ? vs_xstrdup("undone, to do again")
			     : vs_xasprintf("%s %s", current, vs_json_str_or(rec, "state", "?"));
	json_t *row = json_pack("[s, s, s, s?]", claim, step, bytes, vs_json_str(rec, "error"));

	free(claim);
	free(prefix);
	free(step);
	return row;
}

/* Group g: its steps, its workloads and a table of its claims. */
static void status_group(vs_out *o, vs_buf *b, const json_t *m, size_t g, const json_t *grp)
{
	char *stop_key = vs_xasprintf("group/%zu/stop", g), *start_key = vs_xasprintf("group/%zu/start", g);
	const json_t *stop = status_step(m, stop_key), *start = status_step(m, start_key);
	json_t *rows = json_pack("[[s, s, s, s]]", "CLAIM", "STEP", "COPIED", "ERROR"), *item;
	size_t i;

	vs_buf_printf(b, "\nGroup %zu of %zu (", g + 1, json_array_size(status_groups(m)));
	status_step_text(b, "stop", stop);
	status_step_text(b, ", start", start);
	vs_buf_puts(b, ")\n");
	json_array_foreach (json_object_get(grp, "workloads"), i, item)
		status_workload(b, m, item, stop, start);
	if (json_array_size(json_object_get(grp, "workloads")) == 0)
		vs_buf_puts(b, "  no workload uses these claims\n");
	status_flush(o, b);
	json_array_foreach (json_object_get(grp, "claims"), i, item)
		json_array_append_new(rows, status_claim_row(m, item));
	vs_out_table(o, rows, "  ");
	json_decref(rows);
	free(stop_key);
	free(start_key);
}

/* The default class step, when the migration moves it. */
static void status_default_class(vs_out *o, vs_buf *b, const json_t *m)
{
	const json_t *step = status_step(m, "default-class");

	if (!vs_json_bool(m, "plan.plan.changeDefault", false))
		return;
	vs_buf_printf(b, "\nDefault class %s -> %s (", vs_json_str_or(m, "plan.plan.currentDefault", "(none)"),
		      vs_json_str_or(m, "plan.options.destClass", "?"));
	status_step_text(b, "switch", step);
	vs_buf_puts(b, ")");
	status_flush(o, b);
}

/* The volumes volshift holds for m, or that there are none. */
static void status_held(vs_out *o, vs_buf *b, const json_t *m)
{
	const json_t *held = json_object_get(m, "heldVolumes"), *v;
	json_t *rows;
	size_t i;

	if (json_array_size(held) == 0) {
		vs_buf_puts(
			b,
			"\nVolumes held by volshift: none (every volume of this migration has its own reclaim policy)");
		status_flush(o, b);
		return;
	}
	vs_buf_puts(b, "\nVolumes held by volshift (reclaim policy Retain until the migration gives them back");
	if (!status_running(m) && strcmp(vs_json_str_or(m, "phase", ""), "done") != 0)
		vs_buf_printf(b, "; 'volshift resume %s' does", vs_json_str_or(m, "id", "ID"));
	vs_buf_puts(b, "):");
	status_flush(o, b);
	rows = json_pack("[[s, s, s, s, s, s]]", "VOLUME", "CLAIM", "ROLE", "OF CLAIM", "PHASE", "POLICY GIVEN BACK");
	json_array_foreach (held, i, v) {
		json_array_append_new(rows, json_pack("[s?, s?, s?, s?, s?, s?]", vs_json_str(v, "name"),
						      vs_json_str(v, "claimRef"), vs_json_str(v, "role"),
						      vs_json_str(v, "migrationClaim"), vs_json_str(v, "phase"),
						      vs_json_str(v, "restorePolicy")));
	}
	vs_out_table(o, rows, "  ");
	json_decref(rows);
}

static void status_detail(vs_out *o, const json_t *m)
{
	const json_t *grp;
	vs_buf b;
	size_t g;

	vs_buf_init(&b, 0);
	status_header(o, &b, m);
	json_array_foreach (status_groups(m), g, grp)
		status_group(o, &b, m, g, grp);
	status_default_class(o, &b, m);
	status_held(o, &b, m);
	vs_buf_free(&b);
}

/* ---- access-mode probes ------------------------------------------------------------------------ */

/* Probe p's objects in a few words ("pod Running, claim Bound, volume pvc-1 (Retain, Released), Lease"). */
static void status_probe_objects(vs_buf *b, const json_t *p)
{
	const json_t *v;
	size_t i;

	if (json_is_object(json_object_get(p, "pod")))
		vs_buf_printf(b, "pod %s, ", vs_json_str_or(p, "pod.phase", "?"));
	if (json_is_object(json_object_get(p, "claim")))
		vs_buf_printf(b, "claim %s, ", vs_json_str_or(p, "claim.phase", "?"));
	json_array_foreach (json_object_get(p, "volumes"), i, v) {
		vs_buf_printf(b, "volume %s (%s, %s), ", vs_json_str_or(v, "name", "?"),
			      vs_json_str_or(v, "reclaimPolicy", "?"), vs_json_str_or(v, "phase", "?"));
	}
	if (json_is_object(json_object_get(p, "lease")))
		vs_buf_puts(b, "Lease, ");
	if (b->len >= 2)
		b->data[b->len -= 2] = '\0';
}

/* The probes left behind (vs_migrate_probe_leftovers) as a table, then how to remove them. Nothing
 * when there are none. */
static void status_probes_text(vs_out *o, const json_t *probes)
{
	json_t *rows = json_pack("[[s, s, s, s]]", "PROBE", "OBJECTS", "VOLSHIFT", "WHY"), *p, *cmd;
	size_t i, k;
	vs_buf b;

	vs_buf_init(&b, 0);
	json_array_foreach (probes, i, p) {
		char *name = vs_xasprintf("%s/%s", vs_json_str_or(p, "namespace", "?"), vs_json_str_or(p, "name", "?"));
		status_probe_objects(&b, p);
		json_array_append_new(rows, json_pack("[s, s, s, s]", name, b.len ? b.data : "-",
						      vs_json_str_or(p, "holderState", "?"),
						      vs_json_str_or(p, "holderReason", "")));
		vs_buf_reset(&b);
		free(name);
	}
	if (json_array_size(probes)) {
		vs_buf_puts(&b, "\nAccess-mode probes left behind (a claim of the destination class and a pod each; "
				"VOLSHIFT: what is known of the volshift that made it):");
		status_flush(o, &b);
		vs_out_table(o, rows, "  ");
		vs_buf_puts(&b,
			    "The next 'volshift migrate', 'volshift resume' or 'volshift rollback' removes them (an "
			    "unknown one once its Lease goes unrenewed; a legacy one never). By hand, once their "
			    "volshift is gone:");
		json_array_foreach (probes, i, p) {
			json_array_foreach (json_object_get(p, "remove"), k, cmd)
				vs_buf_printf(&b, "\n  %s", json_string_value(cmd));
		}
		status_flush(o, &b);
	}
	vs_buf_free(&b);
	json_decref(rows);
}

/* The probes left behind, one "probe-leftover" event each. */
static void status_probes_json(vs_out *o, const json_t *probes)
{
	const json_t *p;
	size_t i;

	json_array_foreach (probes, i, p) {
		json_t *ev = json_pack("{s:s}", "event", "probe-leftover");
		json_object_update(ev, (json_t *)p);
		vs_out_event(ev, o);
		json_decref(ev);
	}
}

/* The migrations (status_load's array): JSON, one object per line; text, the list, or the one
 * asked for in detail. Then the probes left behind (probes; NULL when they could not be listed, as
 * probes_err says). */
static void status_show(vs_out *o, const vs_cli_common *common, const json_t *models, const json_t *probes,
			const vs_error *probes_err)
{
	json_t *migrations = json_array(), *runs = json_array(), *m;
	size_t i;

	json_array_foreach (models, i, m)
		json_array_append(vs_engine_is_run(json_object_get(m, "plan")) ? runs : migrations, m);
	if (vs_out_is_json(o)) {
		json_array_foreach (migrations, i, m)
			vs_out_event(m, o);
	} else if (common->id && json_array_size(migrations) > 0) {
		status_detail(o, json_array_get(migrations, 0));
	} else if (json_array_size(models) == 0) {
		vs_out_message(o, "no-migrations", "No migrations recorded.");
	} else if (json_array_size(migrations) > 0) {
		status_summary(o, migrations);
	}
	vs_cli_run_status(o, common, runs);
	json_decref(migrations);
	json_decref(runs);
	if (probes && vs_out_is_json(o))
		status_probes_json(o, probes);
	else if (probes)
		status_probes_text(o, probes);
	else if (vs_out_is_json(o))
		vs_warn("%s", probes_err->message); /* stdout keeps its one object per migration or probe */
	else
		vs_out_message(o, "warning", probes_err->message);
}

/* ---- watching ----------------------------------------------------------------------------------- */

/* What the view shows, without what changes by itself (the leases' renewal times): the same text
 * means nothing new to print. Caller frees. */
static char *status_fingerprint(const json_t *models, const json_t *probes)
{
	json_t *both = json_pack("[O, O?]", models, probes), *copy = json_deep_copy(both), *m;
	size_t i;

	json_decref(both);

	json_array_foreach (json_array_get(copy, 0), i, m)
		json_object_del(m, "leaseRenewed");
	json_array_foreach (json_array_get(copy, 1), i, m)
		json_object_del(json_object_get(m, "lease"), "renewTime");
	char *text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(copy);
	return text;
}

static int status_wake(const char *type, json_t *object, void *ctx)
{
	(void)type, (void)object, (void)ctx;
	return 1;
}

/* Wait until a ConfigMap in ns changes after resourceVersion rv (NULL: the namespace does not exist
 * yet; then only the time), or STATUS_REFRESH_MS passed. */
static int status_wait(vs_kube_client *c, const char *ns, const char *rv, vs_error *err)
{
	vs_kube_watch_opts wo = { .resource_version = rv, .timeout_ms = STATUS_REFRESH_MS };
	int rc;

	if (!rv) {
		vs_sleep_ms(STATUS_REFRESH_MS);
		return 0;
	}
	rc = vs_kube_watch(c, &VS_KUBE_CONFIGMAPS, ns, &wo, status_wake, NULL, err);
	if (rc == VS_ETIMEOUT) {
		vs_error_clear(err);
		rc = 0;
	}
	return rc < 0 ? vs_error_wrap(err, "watching the journals in namespace %s", ns) : 0;
}

/* With --watch ID: the migration left "running"; the exit code tells how it ended. */
static bool status_finished(const vs_cli_common *common, const json_t *models)
{
	return common->id && !status_running(json_array_get(models, 0));
}

static int status_run(vs_kube_client *c, const vs_cli_common *common, vs_out *o)
{
	json_t *models = NULL, *probes = NULL;
	char *rv = NULL, *shown = NULL;
	vs_error err, perr;
	int rc;

	vs_error_clear(&err);
	for (;;) {
		rc = status_load(c, common, &models, &rv, &err);
		if (rc < 0)
			break;
		vs_error_clear(&perr);
		if (vs_migrate_probe_leftovers(c, &probes, &perr) < 0) {
			json_decref(probes);
			probes = NULL;
		}
		/* only a watch compares views: one status need not dump all of it (MiBs at 1000 claims) */
		char *now = common->watch ? status_fingerprint(models, probes) : NULL;
		if (!shown || vs_out_is_terminal(o) || strcmp(now, shown) != 0) {
			if (shown)
				vs_out_redraw(o);
			status_show(o, common, models, probes, &perr);
		}
		json_decref(probes);
		probes = NULL;
		free(shown);
		shown = now;
		if (!common->watch || status_finished(common, models) ||
		    (rc = status_wait(c, common->state_ns, rv, &err)) < 0)
			break;
		json_decref(models);
		free(rv);
	}
	if (rc < 0) {
		char *what = common->id ? vs_xasprintf("migration %s", common->id) : vs_xstrdup("migrations");
		rc = vs_out_error(o, "status", what, &err);
		free(what);
	} else if (common->watch && common->id)
		rc = strcmp(vs_json_str_or(json_array_get(models, 0), "phase", ""), "done") == 0 ? VS_EXIT_OK
												 : VS_EXIT_FAILED;
	json_decref(models);
	free(rv);
	free(shown);
	return rc;
}

int vs_cli_cmd_status(int argc, char **argv)
{
	return vs_cli_with_cluster(argc, argv, status_help, VS_CLI_ID_OPTIONAL, status_run);
}
