/*
 * Copying one claim: the destination claim, then a pod that mounts the source at /source and the
 * destination at /dest and runs rsync, placed where the source volume can be reached (a node-local
 * volume's node). After the copy, the same pod runs the verification's dry run (verify.c): its
 * shell runs each rsync in turn and prints a marker line with its status, so the log alone says
 * how each ended. The pod's log is followed for rsync's progress; a pod that cannot start is
 * reported with the scheduler's reason instead of being waited for forever (pvmigrate's limitation
 * 7), and a failed rsync ends the migration with rsync's last lines.
 *
 * The final copy after a warm copy is armed before the stop (mig_copy_arm): its pod is scheduled,
 * mounted and started while the application still runs, which on a real kubelet takes about a
 * second (volume manager, sandbox, a PLEG relist before the log can be read), and its shell then
 * waits for SIGTERM. Once the application is stopped, deleting the pod sends that SIGTERM (the
 * kubelet signals a container's main process and waits up to its grace period), and the final pass
 * and its verification run at once in the pod being deleted, their output read from its log. The
 * deletion carries the pod's uid and resourceVersion as seen when it was armed, so a pod that
 * anything else touched since (deleted, evicted, restarted, its status changed) is never trusted:
 * the final pass then runs in a pod of its own, as without arming. A kubelet that stops a pod on
 * its own (eviction, node shutdown) records the pod's status before it signals the container.
 */
#include "migrate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPY_TAIL_LINES	       12
#define COPY_ARMED_GRACE_S     86400 /* an armed pod's grace period: its final pass runs in it */
#define COPY_PROGRESS_EVERY_MS 1000
#define COPY_RSYNC_VANISHED    24 /* rsync: "some files vanished before they could be transferred" */

/* Everything rsync keeps: hard links, ACLs, xattrs, sparse files, numeric owners, deletions; the
 * whole file list first, so that progress has its total. Times are compared to the nanosecond
 * (--modify-window=-1): by default rsync compares whole seconds, so a file rewritten at the same size
 * within the second a warm pass copied it would be skipped by the final pass and its verification. */
static const char *const copy_archive_args[] = {
	"rsync", "-a", "-H", "-A", "-X", "-S", "--numeric-ids", "--delete", "--no-inc-recursive", "--modify-window=-1"
};

json_t *mig_pod_new(const char *ns, const char *name, const char *image, const char *node, json_t *command,
		    const char *const *mounts, size_t nmounts)
{
	json_t *volumes = json_array(), *vmounts = json_array();
	json_t *pod;

	for (size_t i = 0; i < nmounts; i++) {
		const char *const *m = mounts + 3 * i;
		json_array_append_new(
			volumes, json_pack("{s:s, s:{s:s}}", "name", m[0], "persistentVolumeClaim", "claimName", m[1]));
		json_array_append_new(vmounts, json_pack("{s:s, s:s}", "name", m[0], "mountPath", m[2]));
	}
	pod = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:{s:s, s:o, s:[{s:s, s:s, s:o, s:o}]}}", "apiVersion", "v1",
			"kind", "Pod", "metadata", "name", name, "namespace", ns, "labels", mig_labels(NULL),
			"spec", "restartPolicy", "Never", "volumes", volumes, "containers", "name", "pvmigrate",
			"image", image, "command", command, "volumeMounts", vmounts);
	if (node)
		vs_json_set_path(pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
				 json_pack("{s:[{s:[{s:s, s:s, s:[s]}]}]}", "nodeSelectorTerms", "matchExpressions",
					   "key", "kubernetes.io/hostname", "operator", "In", "values", node));
	return pod;
}

/* A claim named like plan pvc p's destination exists already: fine when it is volshift's
 * destination for p (an interrupted run made it), else an error naming it. */
static int copy_dest_exists(mig_run *r, const vs_plan_pvc *p, vs_error *err)
{
	const char *dest = r->opts->plan.dest_sc;
	json_t *have = NULL;
	int rc = mig_get_opt(r, &VS_KUBE_PVCS, p->ns, p->temp_name, &have, err);
	const char *owner = json_string_value(json_object_get(vs_json_path(have, "metadata.labels"), VS_MIGRATE_LABEL));

	if (rc == 0 && (!have || !owner || strcmp(owner, p->name) != 0 ||
			strcmp(vs_json_str_or(have, "spec.storageClassName", ""), dest) != 0))
		rc = vs_error_set(err, VS_EINVAL,
				  "claim %s/%s already exists and is not volshift's destination for %s in class %s; "
				  "rename or delete it, then run again",
				  p->ns, p->temp_name, p->name, dest);
	json_decref(have);
	return rc;
}

int mig_dest_claim_create(mig_run *r, size_t i, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	json_t *modes = vs_plan_dest_modes(p);
	json_t *claim = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:{s:s, s:o, s:s, s:{s:{s:s}}}}",
				  "apiVersion", "v1", "kind", "PersistentVolumeClaim", "metadata", "name", p->temp_name,
				  "namespace", p->ns, "labels", mig_labels(VS_MIGRATE_LABEL, p->name, VS_MIGRATE_KIND_LABEL, "dest",
				  VS_MIGRATE_ID_LABEL, vs_journal_id(r->j), NULL), "spec", "storageClassName",
				  r->opts->plan.dest_sc, "accessModes", modes, "volumeMode", "Filesystem", "resources",
				  "requests", "storage", p->capacity);
	int rc = vs_kube_create(r->c, &VS_KUBE_PVCS, p->ns, claim, NULL, err);

	json_decref(claim);
	if (rc < 0 && vs_error_is(err, "AlreadyExists")) {
		vs_error_clear(err);
		return copy_dest_exists(r, p, err);
	}
	if (rc < 0)
		vs_error_wrap(err, "create destination claim for %s/%s", p->ns, p->name);
	return rc;
}

/* ---- the copy pod --------------------------------------------------------------------------- */

struct copy_state {
	mig_run *r;
	const vs_plan_pvc *p;
	int64_t last_progress_ms;
	vs_rsync_progress last; /* the latest progress line */
	bool last_sent;		/* ... and whether it was reported */
};

/* An rsync pod's log: each stage's lines to its handler, its summary and its end (the marker line
 * the pod's shell prints after each rsync), and the last lines for an error. */
struct rsync_log {
	mig_rsync_stage *stages;
	size_t nstages, cur; /* the stage running */
	char marker[40];     /* "volshift-NONCE": a line "volshift-NONCE K RC" ends stage K */
	int64_t stage_start;
	char *tail[COPY_TAIL_LINES];
	size_t ntail;
	mig_run *r;
	bool cancelled; /* a stop was asked for while it ran: the log was left, the pod goes */
	/* an armed pod's (NULL: a pod of its own): its line "volshift-NONCE armed" is where volshift
	 * deletes it, which starts the stages */
	const vs_plan_pvc *p;
	const mig_armed *armed;
	bool triggered;	 /* the deletion went through */
	char *untrusted; /* why not, when it was refused (owned) */
};

/* A number as rsync prints it ("10,485,767") after optional spaces: its value in *out and the end
 * of it, or NULL when s holds no digit there. */
static const char *copy_number(const char *s, int64_t *out)
{
	char digits[32];
	size_t nd = 0;

	s += strspn(s, " ");
	for (; (*s >= '0' && *s <= '9') || (*s == ',' && nd > 0); s++)
		if (*s != ',' && nd + 1 < sizeof(digits))
			digits[nd++] = *s;
	digits[nd] = '\0';
	*out = strtoll(digits, NULL, 10);
	return nd > 0 ? s : NULL;
}

bool vs_rsync_parse_progress(const char *line, vs_rsync_progress *out)
{
	vs_rsync_progress p = { 0 };
	const char *s = copy_number(line, &p.bytes);

	if (!s || sscanf(s, " %d%% %23s %15s", &p.percent, p.rate, p.eta) != 3 || !strchr(p.rate, '/'))
		return false;
	const char *x = strstr(s, "xfr#"), *chk = strstr(s, "to-chk=");
	if (x)
		p.files_done = strtol(x + 4, NULL, 10);
	if (!chk)
		chk = strstr(s, "to-check=");
	if (chk && sscanf(strchr(chk, '=') + 1, "%ld/%ld", &p.files_left, &p.files_total) != 2)
		p.files_left = p.files_total = 0;
	*out = p;
	return true;
}

/* "Total file size: 10,485,767 bytes" and "Number of files: 5 (...)" from --info=stats2. */
static bool copy_stat(const char *line, const char *label, int64_t *out)
{
	return vs_str_has_prefix(line, label) && copy_number(line + strlen(label), out) != NULL;
}

static void copy_keep_tail(struct rsync_log *log, const char *line)
{
	if (log->ntail == COPY_TAIL_LINES) {
		free(log->tail[0]);
		memmove(log->tail, log->tail + 1, (COPY_TAIL_LINES - 1) * sizeof(char *));
		log->ntail--;
	}
	log->tail[log->ntail++] = vs_xstrdup(line);
}

/* "volshift-NONCE K RC": stage K (1-based) ended with rsync's status RC. */
static bool rsync_log_marker(struct rsync_log *log, const char *line)
{
	size_t k;
	int code;

	if (!vs_str_has_prefix(line, log->marker) || sscanf(line + strlen(log->marker), " %zu %d", &k, &code) != 2 ||
	    k != log->cur + 1 || log->cur >= log->nstages)
		return false;
	log->stages[log->cur].exit_code = code;
	log->stages[log->cur].ms = vs_time_mono_ms() - log->stage_start;
	log->stage_start = vs_time_mono_ms();
	log->cur++;
	return true;
}

/* True when line is the armed pod's "volshift-NONCE armed". */
static bool rsync_log_armed_line(const struct rsync_log *log, const char *line)
{
	return vs_str_has_prefix(line, log->marker) && strcmp(line + strlen(log->marker), " armed") == 0;
}

/* An armed pod said it waits: delete it, only if it is the object armed and nothing changed it since
 * (uid and resourceVersion preconditions), with its own grace period, so that its shell gets SIGTERM
 * and runs the stages. Returns nonzero (stop reading) when the deletion was refused. */
static int rsync_log_trigger(struct rsync_log *log)
{
	vs_kube_delete_opts o = { .precondition_uid = log->armed->uid, .precondition_rv = log->armed->rv };
	vs_error err;

	vs_error_clear(&err);
	if (vs_kube_delete(log->r->c, &VS_KUBE_PODS, log->p->ns, log->p->copy_pod, &o, NULL, &err) < 0) {
		mig_say(log->r, "warning", "the armed final copy of %s/%s cannot be started (%s)", log->p->ns,
			log->p->name, err.message);
		return 1;
	}
	log->triggered = true;
	log->stage_start = vs_time_mono_ms();
	return 0;
}

/* Every line of an rsync pod: a stage's end, or a line of the running stage, its summary noted,
 * kept for an error unless it is a progress meter, then given to the stage's handler. The log is
 * read up to the marker of the pod's last stage: the pod's own end is not waited for. An armed
 * pod's lines before its stages start are its own: the armed line, where it is deleted. */
static int rsync_log_line(const char *line, size_t len, void *ctx)
{
	struct rsync_log *log = ctx;
	mig_rsync_stage *st;
	vs_rsync_progress progress;
	int64_t n;

	if (mig_stop_requested(log->r)) { /* every copy comes before the swaps: the group is undone */
		log->cancelled = true;
		return 1;
	}
	if (log->armed && !log->triggered)
		return rsync_log_armed_line(log, line) ? rsync_log_trigger(log) : 0;
	if (rsync_log_marker(log, line)) /* the last stage ended, or one failed: the shell ends, read no more */
		return log->cur == log->nstages || log->stages[log->cur - 1].exit_code != 0;
	st = &log->stages[log->cur]; /* one is running: the log stops at the last one's marker */
	if (copy_stat(line, "Total file size:", &n)) {
		st->stats.total_bytes = n;
	} else if (copy_stat(line, "Total transferred file size:", &n)) {
		st->stats.transferred = n;
	} else if (copy_stat(line, "Number of files:", &n)) {
		st->stats.files = (long)n;
		st->stats.seen = true;
	}
	if (!vs_rsync_parse_progress(line, &progress))
		copy_keep_tail(log, line);
	return st->fn(line, len, st->ctx);
}

/* fields (returned) with the pass being made. */
static json_t *copy_pass_fields(const mig_run *r, json_t *fields)
{
	json_object_set_new(fields, "pass", json_string(r->pass ? r->pass : "cold"));
	json_object_set_new(fields, "passNumber", json_integer(r->pass_number));
	return fields;
}

static void copy_send_progress(struct copy_state *s)
{
	const vs_rsync_progress *pr = &s->last;

	s->last_progress_ms = vs_time_mono_ms();
	s->last_sent = true;
	mig_emit(s->r, "copy-progress",
		 copy_pass_fields(s->r,
				  json_pack("{s:s, s:s, s:I, s:i, s:s, s:s, s:I, s:I}", "namespace", s->p->ns, "pvc",
					    s->p->name, "bytes", (json_int_t)pr->bytes, "percent", pr->percent, "rate",
					    pr->rate, "eta", pr->eta, "files", (json_int_t)pr->files_done, "filesTotal",
					    (json_int_t)pr->files_total)));
}

static int copy_line(const char *line, size_t len, void *ctx)
{
	struct copy_state *s = ctx;

	(void)len;
	if (vs_rsync_parse_progress(line, &s->last)) {
		s->last_sent = false;
		if (vs_time_mono_ms() - s->last_progress_ms >= COPY_PROGRESS_EVERY_MS || s->last.percent == 100)
			copy_send_progress(s);
		return 0;
	}
	if (s->last.bytes && !s->last_sent)
		copy_send_progress(s); /* rsync's last progress line, before its summary */
	if (s->r->opts->verbose_copy)
		mig_emit(s->r, "copy-log",
			 json_pack("{s:s, s:s, s:s}", "namespace", s->p->ns, "pvc", s->p->name, "line", line));
	return 0;
}

static bool copy_pod_started(const json_t *pod, void *ctx)
{
	const char *phase = vs_json_str_or(pod, "status.phase", "Pending");

	(void)ctx;
	return pod && strcmp(phase, "Pending") != 0;
}

/* The latest Warning event about pod or one of its claims ("ProvisioningFailed: ..."), or NULL. */
static char *copy_warning_events(mig_run *r, const char *ns, const json_t *pod)
{
	vs_kube_list_opts lo = { .field_selector = "type=Warning" };
	json_t *events = NULL, *ev;
	char *why = NULL;
	size_t i;

	if (vs_kube_list(r->c, &VS_KUBE_EVENTS, ns, &lo, &events, NULL) < 0)
		return NULL;
	json_array_foreach (json_object_get(events, "items"), i, ev) {
		const char *kind = vs_json_str_or(ev, "involvedObject.kind", "");
		const char *name = vs_json_str_or(ev, "involvedObject.name", "");
		bool about = (strcmp(kind, "Pod") == 0 && strcmp(name, vs_kube_obj_name(pod)) == 0) ||
			     (strcmp(kind, "PersistentVolumeClaim") == 0 &&
			      vs_plan_spec_mounts(vs_json_path(pod, "spec"), name));
		if (about) {
			free(why);
			why = vs_xasprintf("%s %s: %s: %s", kind, name, vs_json_str_or(ev, "reason", ""),
					   vs_json_str_or(ev, "message", ""));
		}
	}
	json_decref(events);
	return why;
}

/* Why a pod is still Pending: the scheduler's condition, a container's waiting reason, or a Warning
 * event about the pod or its claims. Caller frees. */
static char *copy_pending_reason(mig_run *r, const char *ns, const char *name)
{
	json_t *pod = NULL, *cond;
	size_t i;
	char *why = NULL;

	if (mig_get_opt(r, &VS_KUBE_PODS, ns, name, &pod, NULL) < 0 || !pod)
		return vs_xstrdup("the pod disappeared");
	json_array_foreach (vs_json_path(pod, "status.conditions"), i, cond) {
		if (strcmp(vs_json_str_or(cond, "type", ""), "PodScheduled") == 0 &&
		    strcmp(vs_json_str_or(cond, "status", ""), "False") == 0)
			why = vs_xasprintf("it cannot be scheduled: %s",
					   vs_json_str_or(cond, "message", "no reason given"));
	}
	json_array_foreach (vs_json_path(pod, "status.containerStatuses"), i, cond) {
		const char *reason = vs_json_str(cond, "state.waiting.reason");
		if (!why && reason)
			why = vs_xasprintf("its container is waiting: %s %s", reason,
					   vs_json_str_or(cond, "state.waiting.message", ""));
	}
	if (!why)
		why = copy_warning_events(r, ns, pod);
	json_decref(pod);
	return why ? why : vs_xstrdup("it is still Pending");
}

/* Start the pod (after removing one of that name an interrupted run left) and wait until it runs
 * (or has already ended). */
int mig_pod_run(mig_run *r, const char *ns, const json_t *pod, const char *purpose, vs_error *err)
{
	const char *name = vs_kube_obj_name(pod);
	json_t *created = NULL;
	int rc = vs_kube_create(r->c, &VS_KUBE_PODS, ns, pod, &created, err);

	if (rc < 0 && vs_error_is(err, "AlreadyExists")) {
		vs_error_clear(err);
		rc = mig_pod_remove(r, ns, name, true, err);
		if (rc == 0)
			rc = vs_kube_create(r->c, &VS_KUBE_PODS, ns, pod, &created, err);
	}
	if (rc < 0)
		return vs_error_wrap(err, "create %s pod", purpose);
	rc = mig_wait_from(r, &VS_KUBE_PODS, created, copy_pod_started, NULL, r->opts->pod_ready_timeout_ms, "", err);
	json_decref(created);
	if (rc == VS_ETIMEOUT) {
		char *why = copy_pending_reason(r, ns, name);
		rc = vs_error_set(err, VS_ETIMEOUT, "%s pod %s/%s did not start within %llds (--pod-ready-timeout): %s",
				  purpose, ns, name, (long long)(r->opts->pod_ready_timeout_ms / 1000), why);
		free(why);
	}
	return rc;
}

int mig_pod_remove(mig_run *r, const char *ns, const char *name, bool wait, vs_error *err)
{
	vs_kube_delete_opts o = { .has_grace_period = true, .grace_period_seconds = 0 };
	bool existed = false;
	int rc = mig_delete(r, &VS_KUBE_PODS, ns, name, &o, &existed, err);

	if (rc == 0 && existed && wait)
		rc = mig_wait_gone(r, &VS_KUBE_PODS, ns, name, r->opts->delete_pv_timeout_ms, err);
	return rc;
}

json_t *mig_rsync_command(const mig_run *r, const char *const *mode, size_t nmode)
{
	json_t *cmd = json_array();

	for (size_t k = 0; k < sizeof(copy_archive_args) / sizeof(copy_archive_args[0]); k++)
		json_array_append_new(cmd, json_string(copy_archive_args[k]));
	for (size_t k = 0; k < r->opts->nrsync_flags; k++)
		json_array_append_new(cmd, json_string(r->opts->rsync_flags[k]));
	for (size_t k = 0; k < nmode; k++)
		json_array_append_new(cmd, json_string(mode[k]));
	json_array_append_new(cmd, json_string("/source/"));
	json_array_append_new(cmd, json_string("/dest/"));
	return cmd;
}

/* The pod's shell script: each stage's rsync, then the marker line with its status; the script
 * stops at the first that fails, with its status. Armed (wait_s > 0), it first says so and waits up
 * to wait_s for SIGTERM, in one-second sleeps (wait returns as soon as a trapped signal comes), and
 * ends without running anything when none came. Caller owns it. */
static json_t *rsync_script(const struct rsync_log *log, long wait_s)
{
	json_t *cmd, *arg;
	size_t a;
	vs_buf b;

	vs_buf_init(&b, 0);
	if (wait_s > 0)
		vs_buf_printf(&b,
			      "trap 'go=1' TERM; echo \"%s armed\"; n=0\n"
			      "while [ -z \"$go\" ] && [ $n -lt %ld ]; do sleep 1 & wait $!; n=$((n + 1)); done\n"
			      "[ -n \"$go\" ] || exit 0\n",
			      log->marker, wait_s);
	for (size_t k = 0; k < log->nstages; k++) {
		json_array_foreach (log->stages[k].command, a, arg) {
			vs_buf_shell_word(&b, json_string_value(arg));
			vs_buf_puts(&b, " ");
		}
		vs_buf_printf(&b, "; rc=$?; echo \"%s %zu $rc\"; [ $rc -eq 0 ] || exit $rc\n", log->marker, k + 1);
	}
	cmd = json_pack("[s, s, s]", "sh", "-c", b.data);
	vs_buf_free(&b);
	return cmd;
}

/* rsync's own line saying why it failed ("rsync error: ... (code 23) at main.c(1338) [sender=3.2.7]"),
 * the last one in the tail, or a description of its status when it printed none. */
static const char *rsync_reason(const struct rsync_log *log)
{
	for (size_t k = log->ntail; k-- > 0;)
		if (vs_str_has_prefix(log->tail[k], "rsync error:") ||
		    vs_str_has_prefix(log->tail[k], "rsync warning:"))
			return log->tail[k];
	return "rsync printed no reason";
}

/*
 * The first stage's verdict: its marker line, or, when the pod ended without printing it, the
 * pod's own status. A failure names the claim, with rsync's last lines.
 */
static int rsync_verdict(mig_run *r, const vs_plan_pvc *p, const char *purpose, const struct rsync_log *log,
			 vs_error *err)
{
	long long code = log->stages[0].exit_code;
	json_t *pod = NULL;
	vs_buf tail;
	int rc = 0;

	if (code < 0) {
		rc = mig_get_opt(r, &VS_KUBE_PODS, p->ns, p->copy_pod, &pod, err);
		if (rc == 0 && pod) { /* its log may have ended before its status did */
			vs_kube_wait_opts wo = { .timeout_ms = r->opts->delete_pv_timeout_ms,
						 .what = "the rsync pod to end" };
			json_t *known = pod;
			rc = vs_kube_wait_from(r->c, &VS_KUBE_PODS, known, &wo, vs_kube_pod_ended, NULL, &pod, err);
			json_decref(known);
		}
		code = strcmp(vs_json_str_or(pod, "status.phase", ""), "Succeeded") == 0
			       ? 0
			       : vs_json_int(json_array_get(vs_json_path(pod, "status.containerStatuses"), 0),
					     "state.terminated.exitCode", -1);
		json_decref(pod);
		log->stages[0].exit_code = (int)code;
	}
	if (rc < 0 || code == 0)
		return rc;
	if (code == COPY_RSYNC_VANISHED && strcmp(purpose, "copy") == 0 && r->pass && strcmp(r->pass, "warm") == 0) {
		/* files the running application deleted under rsync: the final pass deletes them too */
		mig_say(r, "note",
			"claim %s/%s: files vanished during warm pass %d, as the application changes them; the "
			"final pass brings every change",
			p->ns, p->name, r->pass_number);
		return 0;
	}
	vs_buf_init(&tail, 0);
	for (size_t k = 0; k < log->ntail; k++)
		vs_buf_printf(&tail, "%s%s", k ? " | " : "", log->tail[k]);
	/* rsync's reason comes first: the last lines may not all fit in the message */
	rc = vs_error_set(err, VS_EIO, "claim %s/%s: rsync in the %s pod %s exited with %lld (%s); its last lines: %s",
			  p->ns, p->name, purpose, p->copy_pod, code, rsync_reason(log),
			  tail.len ? tail.data : "(none)");
	vs_buf_free(&tail);
	return rc;
}

/* log of run r ready for n stages marked with nonce (NULL: a new one). */
static void rsync_log_init(struct rsync_log *log, mig_run *r, mig_rsync_stage *stages, size_t n, const char *nonce)
{
	char fresh[24];

	if (!nonce) {
		snprintf(fresh, sizeof(fresh), "%016llx", (unsigned long long)vs_rand_u64());
		nonce = fresh;
	}
	*log = (struct rsync_log){ .r = r, .stages = stages, .nstages = n, .stage_start = vs_time_mono_ms() };
	snprintf(log->marker, sizeof(log->marker), "volshift-%s", nonce);
	for (size_t k = 0; k < n; k++) {
		memset(&stages[k].stats, 0, sizeof(stages[k].stats));
		stages[k].exit_code = -1;
		stages[k].ms = 0;
	}
}

static void rsync_log_free(struct rsync_log *log)
{
	for (size_t k = 0; k < log->ntail; k++)
		free(log->tail[k]);
	log->ntail = 0;
}

/* Create plan pvc i's rsync pod for log's stages (armed: waiting up to wait_s for SIGTERM first,
 * with a grace period for the stages to run in) and wait until it runs. */
static int rsync_pod_start(mig_run *r, const vs_plan_pvc *p, const char *purpose, const char *node,
			   const struct rsync_log *log, long wait_s, vs_error *err)
{
	const char *mounts[] = { "source", p->name, "/source", "dest", p->temp_name, "/dest" };
	json_t *pod = mig_pod_new(p->ns, p->copy_pod, r->opts->rsync_image, node, rsync_script(log, wait_s), mounts, 2);
	int rc;

	json_object_update_new(vs_json_path(pod, "metadata.labels"),
			       mig_labels(VS_MIGRATE_LABEL, p->name, VS_MIGRATE_ID_LABEL, vs_journal_id(r->j), NULL));
	if (wait_s > 0)
		vs_json_set_path(pod, "spec.terminationGracePeriodSeconds", json_integer(COPY_ARMED_GRACE_S));
	rc = mig_pod_run(r, p->ns, pod, purpose, err);
	json_decref(pod);
	return rc;
}

/* Read the pod's log through its stages (for an armed pod, deleting it at its armed line first). */
static int rsync_pod_follow(mig_run *r, const vs_plan_pvc *p, struct rsync_log *log, vs_error *err)
{
	vs_kube_log_opts lo = { .follow = true, .split_cr = true };

	return vs_kube_logs(r->c, p->ns, p->copy_pod, &lo, rsync_log_line, log, err);
}

/* A copy left because a stop was asked for: its pod removed (at once, without grace), and
 * VS_ECANCEL. */
static int rsync_cancelled(mig_run *r, const vs_plan_pvc *p, vs_error *err)
{
	int rc = mig_pod_remove(r, p->ns, p->copy_pod, false, err);

	return rc < 0 ? rc : mig_stop_check(r, "while copying", err);
}

/*
 * The stages in plan pvc i's armed pod: followed from its armed line, where it is deleted. When the
 * stages did not begin (it was changed since it was armed, or it ended first), nothing of it counts
 * and 1 is returned once it is gone. Either way nothing stays armed. Once the copy's marker was
 * read, a log that ends early only leaves the verification to run on its own (mig_verify).
 */
static int rsync_armed_run(mig_run *r, size_t i, mig_rsync_stage *stages, size_t n, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	struct rsync_log log;
	bool used;
	int rc;

	rsync_log_init(&log, r, stages, n, r->armed[i].nonce);
	log.p = p;
	log.armed = &r->armed[i];
	rsync_pod_follow(r, p, &log, err);
	if (log.cancelled) {
		rsync_log_free(&log);
		mig_armed_clear(&r->armed[i]);
		return rsync_cancelled(r, p, err);
	}
	used = log.triggered && log.cur > 0;
	if (!used)
		mig_say(r, "warning",
			"the armed final copy of %s/%s cannot be started (%s); it runs in a pod of its own", p->ns,
			p->name,
			log.untrusted	? log.untrusted
			: log.triggered ? "its pod ended without running it"
			: err->code	? err->message
					: "its pod ended before it was started");
	vs_error_clear(err);
	rc = used ? rsync_verdict(r, p, "copy", &log, err) : mig_pod_remove(r, p->ns, p->copy_pod, true, err);
	/* its stages ended (their markers are written after them): the pod is removed at once rather than
	 * left to its kubelet, which reports the exit at its next relist and then unmounts: the claims it
	 * holds are deleted next, in the downtime */
	if (rc == 0 && used)
		rc = mig_pod_remove(r, p->ns, p->copy_pod, false, err);
	free(log.untrusted);
	rsync_log_free(&log);
	mig_armed_clear(&r->armed[i]);
	return rc == 0 && !used ? 1 : rc;
}

int mig_rsync_pod(mig_run *r, size_t i, const char *purpose, const char *node, mig_rsync_stage *stages, size_t n,
		  vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	struct rsync_log log;
	vs_error cleanup;
	int rc = 1;

	if (strcmp(purpose, "copy") == 0 && r->armed && r->armed[i].uid)
		rc = rsync_armed_run(r, i, stages, n, err);
	if (rc == 1) {
		rsync_log_init(&log, r, stages, n, NULL);
		rc = rsync_pod_start(r, p, purpose, node, &log, 0, err);
		if (rc == 0)
			rc = rsync_pod_follow(r, p, &log, err);
		if (rc == 0)
			rc = log.cancelled ? rsync_cancelled(r, p, err) : rsync_verdict(r, p, purpose, &log, err);
		vs_error_clear(&cleanup);
		/* not waited for: it has ended, and a pod of that name made next replaces it (mig_pod_run) */
		if (mig_pod_remove(r, p->ns, p->copy_pod, false, &cleanup) < 0 && rc == 0) {
			*err = cleanup;
			rc = cleanup.code;
		}
		rsync_log_free(&log);
	}
	for (size_t k = 0; k < n; k++) {
		json_decref(stages[k].command);
		stages[k].command = NULL;
	}
	return rc;
}

/* The stages of a copy pass of plan pvc i into st: the copy, choosing the files to send by compare,
 * its progress reported through s; then, with verify, the verification's dry run (verify.c).
 * Returns how many. */
static size_t copy_stages(mig_run *r, size_t i, enum vs_verify_mode compare, bool verify, struct copy_state *s,
			  mig_rsync_stage st[2])
{
	const char *mode[3] = { "--info=progress2,stats2" };
	size_t nmode = 1;

	if (compare == VS_VERIFY_CHECKSUM)
		mode[nmode++] = "--checksum";
	if (r->opts->verbose_copy)
		mode[nmode++] = "-v";
	st[0] = (mig_rsync_stage){ .command = mig_rsync_command(r, mode, nmode), .fn = copy_line, .ctx = s };
	st[1] = (mig_rsync_stage){ 0 };
	if (verify)
		mig_verify_stage(r, i, &st[1]);
	return verify ? 2 : 1;
}

/* One rsync pass of plan pvc i from a pod on node (the armed one, for a final pass armed before the
 * stop); *stats gets its summary. With verify, the same pod then verifies the copy, for mig_verify
 * (r->verified). */
static int copy_pass(mig_run *r, size_t i, const char *node, enum vs_verify_mode compare, bool verify,
		     mig_rsync_stats *stats, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	struct copy_state s = { .r = r, .p = p };
	mig_rsync_stage st[2];
	size_t n = copy_stages(r, i, compare, verify, &s, st);
	int64_t start = vs_time_mono_ms();
	int rc;

	mig_emit(r, "copy-start",
		 copy_pass_fields(r, json_pack("{s:s, s:s, s:s?, s:b}", "namespace", p->ns, "pvc", p->name, "node",
					       node, "armed", r->armed && r->armed[i].uid)));
	rc = mig_rsync_pod(r, i, "copy", node, st, n, err);
	if (verify)
		mig_verify_stage_end(r, &st[1]);
	*stats = st[0].stats;
	if (rc == 0) {
		r->bytes_copied += stats->transferred;
		mig_emit(
			r, "copy-done",
			copy_pass_fields(r, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "namespace", p->ns, "pvc",
						      p->name, "bytes", (json_int_t)stats->total_bytes, "transferred",
						      (json_int_t)stats->transferred, "files", (json_int_t)stats->files,
						      "ms", (json_int_t)(vs_time_mono_ms() - start - st[1].ms))));
	}
	return rc;
}

void mig_armed_clear(mig_armed *a)
{
	free(a->uid);
	free(a->rv);
	memset(a, 0, sizeof(*a));
}

int64_t mig_armed_running_ms(const mig_run *r, const size_t *pvcs, size_t n)
{
	int64_t seen = 0;

	for (size_t k = 0; r->armed && k < n; k++)
		if (r->armed[pvcs[k]].uid && r->armed[pvcs[k]].running_ms > seen)
			seen = r->armed[pvcs[k]].running_ms;
	return seen;
}

int64_t mig_stop_delay_ms(int64_t relist_ms, int64_t now_ms)
{
	int64_t start = relist_ms + MIG_RELIST_PERIOD_MS - MIG_STOP_LEAD_MS; /* before the next relist */

	if (!relist_ms)
		return 0;
	if (start < now_ms) /* that one is too near or past: a later one */
		start += (now_ms - start + MIG_RELIST_PERIOD_MS - 1) / MIG_RELIST_PERIOD_MS * MIG_RELIST_PERIOD_MS;
	return start - now_ms;
}

/* How long an armed pod waits for its deletion: the longest stop (running Jobs waited for, then every
 * pod gone), and some. */
static long copy_armed_wait_s(const mig_run *r)
{
	return (long)((MIG_STOP_TIMEOUT_MS + r->opts->ready_timeout_ms) / 1000) + 300;
}

struct copy_armed_wait {
	const struct rsync_log *log;
	bool seen; /* its armed line */
};

static int copy_armed_seen(const char *line, size_t len, void *ctx)
{
	struct copy_armed_wait *w = ctx;

	(void)len;
	w->seen = rsync_log_armed_line(w->log, line);
	return w->seen;
}

/* The armed pod (as read after its armed line) may be trusted: running, not being deleted. */
static int copy_armed_check(const vs_plan_pvc *p, const json_t *pod, vs_error *err)
{
	if (vs_json_path(pod, "metadata.deletionTimestamp"))
		return vs_error_set(err, VS_EIO, "pod %s/%s is being deleted", p->ns, p->copy_pod);
	if (strcmp(vs_json_str_or(pod, "status.phase", ""), "Running") != 0)
		return vs_error_set(err, VS_EIO, "pod %s/%s is %s", p->ns, p->copy_pod,
				    vs_json_str_or(pod, "status.phase", "without a phase"));
	return 0;
}

int mig_copy_arm(mig_run *r, size_t i, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	struct copy_state s = { .r = r, .p = p };
	vs_kube_log_opts lo = { .follow = true, .timeout_ms = r->opts->pod_ready_timeout_ms };
	mig_rsync_stage st[2];
	size_t n = copy_stages(r, i, VS_VERIFY_SIZE_TIME, true, &s, st); /* mig_copy's: the script is fixed now */
	struct rsync_log log;
	struct copy_armed_wait w = { &log, false };
	json_t *pod = NULL;
	vs_error cleanup;
	int rc;

	mig_armed_clear(&r->armed[i]);
	rsync_log_init(&log, r, st, n, NULL);
	rc = rsync_pod_start(r, p, "final copy", p->warm_node, &log, copy_armed_wait_s(r), err);
	if (rc == 0) /* the relist that saw it start, as near as volshift sees it */
		r->armed[i].running_ms = vs_time_mono_ms();
	if (rc == 0)
		rc = vs_kube_logs(r->c, p->ns, p->copy_pod, &lo, copy_armed_seen, &w, err);
	if (rc == 0 && !w.seen)
		rc = vs_error_set(err, VS_EIO, "pod %s/%s ended its log without saying it was armed", p->ns,
				  p->copy_pod);
	if (rc == 0)
		rc = vs_kube_get(r->c, &VS_KUBE_PODS, p->ns, p->copy_pod, &pod, err);
	if (rc == 0)
		rc = copy_armed_check(p, pod, err);
	if (rc == 0) {
		snprintf(r->armed[i].nonce, sizeof(r->armed[i].nonce), "%s", log.marker + strlen("volshift-"));
		r->armed[i].uid = vs_xstrdup(vs_kube_obj_uid(pod));
		r->armed[i].rv = vs_xstrdup(vs_kube_obj_resource_version(pod));
	} else {
		vs_error_clear(&cleanup);
		mig_pod_remove(r, p->ns, p->copy_pod, false, &cleanup);
	}
	for (size_t k = 0; k < n; k++)
		json_decref(st[k].command);
	mig_verify_result_clear(&r->verified);
	json_decref(pod);
	return rc < 0 ? vs_error_wrap(err, "arm the final copy of %s/%s", p->ns, p->name) : 0;
}

int mig_copy_with(mig_run *r, size_t i, enum vs_verify_mode compare, vs_error *err)
{
	mig_rsync_stats stats;

	return copy_pass(r, i, r->plan->pvcs[i].node, compare, true, &stats, err);
}

int mig_copy(mig_run *r, size_t i, vs_error *err)
{
	return mig_copy_with(r, i, VS_VERIFY_SIZE_TIME, err);
}

/* A warm pass shorter than this leaves too little time for changes to pile up: stop there. */
#define COPY_WARM_SHORT_MS 2000

int mig_warm_copy(mig_run *r, size_t i, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	int64_t before = -1;
	int rc = 0;

	for (r->pass_number = 1; r->pass_number <= MIG_WARM_PASSES && rc == 0; r->pass_number++) {
		mig_rsync_stats stats;
		int64_t start = vs_time_mono_ms();
		rc = copy_pass(r, i, p->warm_node, VS_VERIFY_SIZE_TIME, false, &stats, err);
		if (rc < 0 || vs_time_mono_ms() - start < COPY_WARM_SHORT_MS || stats.transferred == 0 ||
		    (before >= 0 && stats.transferred >= before))
			break;
		before = stats.transferred;
	}
	r->pass_number = 0;
	return rc;
}
