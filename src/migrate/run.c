/*
 * Running a plan: the cluster's objects listed once, then group after group — destination claims,
 * stop, copy, swap, start — and the default class last. Progress leaves as events; the CLI decides
 * how people or machines see them.
 */
#include "migrate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mig_emit(mig_run *r, const char *type, json_t *fields)
{
	char now[32];

	if (!fields)
		fields = json_object();
	vs_time_format(vs_time_now(), now);
	json_object_set_new(fields, "event", json_string(type));
	json_object_set_new(fields, "time", json_string(now));
	if (r->group) {
		json_object_set_new(fields, "group", json_integer((json_int_t)r->group));
		json_object_set_new(fields, "groups", json_integer((json_int_t)r->plan->ngroups));
	}
	if (r->emit_mu)
		pthread_mutex_lock(r->emit_mu);
	if (r->fn)
		r->fn(fields, r->ctx);
	if (r->emit_mu)
		pthread_mutex_unlock(r->emit_mu);
	json_decref(fields);
}

void mig_say(mig_run *r, const char *type, const char *fmt, ...)
{
	char text[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	mig_emit(r, type, json_pack("{s:s}", "message", text));
}

bool mig_stop_requested(const mig_run *r)
{
	return vs_stop_requested() || (r->j && vs_journal_abort_requested(r->j));
}

int mig_stop_check(const mig_run *r, const char *where, vs_error *err)
{
	if (!mig_stop_requested(r))
		return 0;
	return vs_error_set(err, VS_ECANCEL, "stopped on request (%s) %s",
			    vs_stop_requested() ? "SIGINT or SIGTERM" : "volshift abort", where);
}

/* ---- the snapshot ------------------------------------------------------------------------------ */

int vs_migrate_snapshot_take(vs_kube_client *c, vs_migrate_snapshot *out, vs_error *err)
{
	const vs_kube_resource *res[] = {
		&VS_KUBE_STORAGECLASSES, &VS_KUBE_PVS,	       &VS_KUBE_PVCS,	      &VS_KUBE_PODS,
		&VS_KUBE_REPLICASETS,	 &VS_KUBE_DEPLOYMENTS, &VS_KUBE_STATEFULSETS, &VS_KUBE_DAEMONSETS,
		&VS_KUBE_JOBS,		 &VS_KUBE_CRONJOBS,    &VS_KUBE_NODES,	      &VS_KUBE_CSISTORAGECAPACITIES
	};
	const json_t **slots[] = { &out->in.storage_classes,
				   &out->in.pvs,
				   &out->in.pvcs,
				   &out->in.pods,
				   &out->in.replicasets,
				   &out->in.deployments,
				   &out->in.statefulsets,
				   &out->in.daemonsets,
				   &out->in.jobs,
				   &out->in.cronjobs,
				   &out->in.nodes,
				   &out->in.csi_capacities };
	int rc = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(res) / sizeof(res[0]) && rc == 0; i++) {
		rc = vs_kube_list(c, res[i], NULL, NULL, &out->lists[i], err);
		if (rc < 0 && res[i] == &VS_KUBE_CSISTORAGECAPACITIES && vs_error_is(err, "NotFound")) {
			vs_error_clear(err); /* a cluster without storage capacity tracking */
			rc = 0;
		}
		*slots[i] = out->lists[i];
	}
	if (rc < 0)
		vs_migrate_snapshot_clear(out);
	return rc;
}

void vs_migrate_snapshot_clear(vs_migrate_snapshot *snap)
{
	for (size_t i = 0; i < sizeof(snap->lists) / sizeof(snap->lists[0]); i++)
		json_decref(snap->lists[i]);
	memset(snap, 0, sizeof(*snap));
}

/* ---- one group ----------------------------------------------------------------------------------- */

char *mig_claim_key(const vs_plan_pvc *p, const char *what)
{
	return vs_xasprintf("claim/%s/%s/%s", p->ns, p->name, what);
}

/* The original claims of the group, saved in the journal before any is deleted: the swap
 * recreates them from these, in this run or after a crash. */
static int run_fetch_originals(mig_run *r, const vs_plan_group *g, vs_error *err)
{
	int rc = 0;

	for (size_t k = 0; k < g->npvcs && rc == 0; k++) {
		const vs_plan_pvc *p = &r->plan->pvcs[g->pvcs[k]];
		json_t **slot = &r->originals[g->pvcs[k]];
		char *key = mig_claim_key(p, "original");
		const json_t *saved = vs_journal_object(r->j, key);
		if (saved) {
			*slot = json_deep_copy(saved);
		} else if ((rc = vs_kube_get(r->c, &VS_KUBE_PVCS, p->ns, p->name, slot, err)) < 0) {
			vs_error_wrap(err, "claim %s/%s", p->ns, p->name);
		} else if (strcmp(vs_json_str_or(*slot, "metadata.uid", ""), p->uid) != 0) {
			rc = vs_error_set(err, VS_EINVAL,
					  "claim %s/%s was replaced since the plan was made; plan again", p->ns,
					  p->name);
		} else {
			json_object_del(json_object_get(*slot, "metadata"),
					"managedFields"); /* the server's, not the claim's */
			/* the swap's intent, written before it deletes anything, carries it */
			rc = vs_journal_save_object(r->j, key, *slot, false, err);
		}
		free(key);
	}
	return rc;
}

char *mig_group_key(size_t g, const char *what)
{
	return vs_xasprintf("group/%zu/%s", g, what);
}

char *mig_statefulset_key(const vs_plan_workload *w)
{
	return vs_xasprintf("statefulset/%s/%s", w->ns, w->name);
}

bool mig_step_done(const mig_run *r, const char *key)
{
	const char *state = vs_journal_step_state(r->j, key);

	return state && strcmp(state, VS_STEP_DONE) == 0;
}

/* Steps whose intent needs no write of its own (it goes with the next one): those that only add to
 * what volshift made (a destination claim, data in it, a dry run) and may run again at no cost, and
 * the stop, which writes its intent itself, with the time, before it stops anything. */
static bool run_step_intent_lazy(const char *kind)
{
	static const char *const kinds[] = { "dest", "warm", "copy", "verify", "stop" };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (strcmp(kind, kinds[k]) == 0)
			return true;
	return false;
}

/* The step runs again after what the client cannot retry by itself (a Conflict, a write whose
 * answer was lost, a stream cut short): the client already retries every request it may send again
 * while the API server is away, up to its outage budget, and then fails for good with
 * VS_EUNAVAILABLE, which ends the step here too (vs_kube_retry_next). */
int mig_step(mig_run *r, const char *kind, const char *key, mig_step_fn fn, size_t arg, vs_error *err)
{
	char point[64];
	vs_error jerr;
	vs_kube_retry retry = { 0 };
	int64_t bytes_before = r->bytes_copied, delay;
	int rc = vs_journal_step(r->j, key, VS_STEP_INTENT, NULL, NULL, !run_step_intent_lazy(kind), err);

	while (rc == 0) {
		snprintf(point, sizeof(point), "%s:before", kind);
		rc = vs_failpoint(point, err);
		if (rc == 0)
			rc = fn(r, arg, err);
		snprintf(point, sizeof(point), "%s:after", kind);
		if (rc == 0)
			rc = vs_failpoint(point, err);
		if (rc == 0 || !vs_kube_retry_next(r->c, &retry, err, &delay))
			break;
		mig_say(r, "warning", "%s: %s; trying again in %.1f s (attempt %u)", key, err->message,
			(double)delay / 1000.0, retry.failures + 1);
		vs_sleep_ms(delay);
		vs_error_clear(err);
		rc = 0;
	}
	if (r->bytes_copied != bytes_before) {
		if (!r->step_extra)
			r->step_extra = json_object();
		json_object_set_new(r->step_extra, "bytes", json_integer(r->bytes_copied - bytes_before));
	}
	vs_error_clear(&jerr);
	if (rc < 0)
		vs_journal_step(r->j, key, VS_STEP_FAILED, err->message, r->step_extra, true, &jerr);
	else
		rc = vs_journal_step(r->j, key, VS_STEP_DONE, NULL, r->step_extra, false, err);
	json_decref(r->step_extra);
	r->step_extra = NULL;
	return rc;
}

/* A claim's step (dest, copy, swap), unless the journal says its swap is already done. */
static int run_claim_step(mig_run *r, size_t i, const char *kind, mig_step_fn fn, vs_error *err)
{
	char *key = mig_claim_key(&r->plan->pvcs[i], kind), *swap = mig_claim_key(&r->plan->pvcs[i], "swap");
	const char *swap_state = vs_journal_step_state(r->j, swap);
	bool swapping = swap_state != NULL && strcmp(kind, "swap") != 0; /* the source may be gone already */
	int rc = mig_step_done(r, swap) || swapping ? 0 : mig_step(r, kind, key, fn, i, err);

	free(key);
	free(swap);
	return rc;
}

int mig_release_group(mig_run *r, const vs_plan_group *g, vs_error *err)
{
	int rc = 0;

	for (size_t k = 0; k < g->npvcs && rc == 0; k++) {
		char *key = mig_claim_key(&r->plan->pvcs[g->pvcs[k]], "release");
		if (!mig_step_done(r, key))
			rc = mig_step(r, "release", key, mig_release, g->pvcs[k], err);
		free(key);
	}
	return rc;
}

/* The group's original volumes given back to their policy once it started, and waited for: after
 * the start, no downtime is spent on it. */
static int run_release(mig_run *r, const vs_plan_group *g, vs_error *err)
{
	int rc = mig_release_group(r, g, err);
	vs_error merr;

	for (size_t k = 0; k < g->npvcs && rc == 0; k++)
		mig_wait_reclaimed(r, r->plan->pvcs[g->pvcs[k]].pv);
	vs_error_clear(&merr);
	if (rc == 0 && mig_claims_release(r, g, &merr) < 0) /* the group is finished either way */
		mig_say(r, "warning", "the claims of the group keep this migration's mark: %s", merr.message);
	return rc;
}

/* The plan's claims marked as this run's before anything else changes (a mig_step_fn). */
static int run_take_claims(mig_run *r, size_t unused, vs_error *err)
{
	(void)unused;
	return mig_claims_take(r, err);
}

static bool run_group_swapping(const mig_run *r, const vs_plan_group *g)
{
	for (size_t k = 0; k < g->npvcs; k++) {
		char *key = mig_claim_key(&r->plan->pvcs[g->pvcs[k]], "swap");
		bool started = vs_journal_step_state(r->j, key) != NULL;
		free(key);
		if (started)
			return true;
	}
	return false;
}

/* Forget group gi's steps once it was undone, so that a resume does it again from its start (a
 * warm copy, then the stop and a new downtime). */
static void run_forget_group(mig_run *r, size_t gi, const char *why)
{
	static const char *const claim_steps[] = { "dest", "warm", "copy", "verify", "swap", "rollback" };
	static const char *const group_steps[] = { "stop", "rollback" };
	const vs_plan_group *g = &r->plan->groups[gi];
	vs_error err;
	char *key;

	for (size_t k = 0; k < g->npvcs; k++) {
		const vs_plan_pvc *p = &r->plan->pvcs[g->pvcs[k]];
		char *undone = NULL;
		for (size_t s = 0; s < sizeof(claim_steps) / sizeof(claim_steps[0]); s++) {
			key = mig_claim_key(p, claim_steps[s]);
			if (!undone && strcmp(vs_journal_step_state(r->j, key) ?: "", VS_STEP_FAILED) == 0)
				undone = vs_xasprintf("%s failed: %s", claim_steps[s],
						      vs_json_str_or(vs_journal_step_record(r->j, key), "error", "?"));
			vs_journal_forget_step(r->j, key, false, &err);
			free(key);
		}
		/* what happened stays visible (volshift status) until the group runs again */
		key = mig_claim_key(p, "undone");
		vs_journal_step(r->j, key, VS_STEP_DONE, undone ? undone : why, NULL, false, &err);
		free(key);
		free(undone);
	}
	for (size_t s = 0; s < sizeof(group_steps) / sizeof(group_steps[0]); s++) {
		key = mig_group_key(gi, group_steps[s]);
		vs_error_clear(&err);
		if (vs_journal_forget_step(r->j, key, s + 1 == sizeof(group_steps) / sizeof(group_steps[0]), &err) < 0)
			mig_say(r, "warning", "the undone group's steps could not be cleared from the journal: %s",
				err.message);
		free(key);
	}
}

/* Before any swap: the group's workloads started again (StatefulSets as they are), then its copy pods
 * and destination claims removed. */
static int run_undo_unswapped(mig_run *r, size_t gi, vs_error *err)
{
	const vs_plan_group *g = &r->plan->groups[gi];
	int rc = mig_workloads_start(r, gi, err);

	json_decref(r->step_extra); /* the downtimes it noted are for a start step's record: none here */
	r->step_extra = NULL;
	for (size_t k = 0; k < g->npvcs && rc == 0; k++) {
		const vs_plan_pvc *p = &r->plan->pvcs[g->pvcs[k]];
		if (r->armed && r->armed[g->pvcs[k]].uid)
			rc = mig_pod_remove(r, p->ns, p->copy_pod, false, err);
		if (rc == 0)
			rc = mig_delete(r, &VS_KUBE_PVCS, p->ns, p->temp_name, NULL, NULL, err);
	}
	return rc;
}

/*
 * A group that failed (or was stopped on request) before it started on the destination: its
 * workloads run again on their original data, so the cluster is as it was, and a resume does the
 * group again from its start (each claim's record says why it was undone: why, or the step that
 * failed). Before any swap, the copy pods and destination claims just go; after
 * one, each claim goes back onto its original volume as a rollback does (the original volumes stay
 * Retain until a group starts). An undo that fails is reported, not fatal: resume or rollback takes
 * it from there.
 */
static void run_undo_group(mig_run *r, size_t gi, const char *why)
{
	vs_migrate_opts as_they_are = *r->opts;
	mig_run undo = *r;
	json_t *kept = json_array();
	vs_error err;
	int rc;

	as_they_are.keep_statefulsets = true; /* the claims stay on the source class */
	undo.opts = &as_they_are;
	vs_error_clear(&err);
	if (vs_kube_client_unavailable(r->c)) {
		mig_say(r, "warning",
			"the failed group is left as the journal records it (the API server does not answer); "
			"'volshift resume' or 'volshift rollback' takes it from there");
		json_decref(kept);
		return;
	}
	if (run_group_swapping(r, &r->plan->groups[gi]))
		rc = mig_rollback_group(&undo, gi, kept, &err);
	else
		rc = run_undo_unswapped(&undo, gi, &err);
	json_decref(kept);
	if (rc < 0)
		mig_say(r, "warning",
			"the failed group could not be undone (%s); 'volshift resume' or 'volshift rollback' "
			"takes it from there",
			err.message);
	else
		run_forget_group(r, gi, why);
}

static void run_phase(mig_run *r, const char *phase)
{
	mig_emit(r, "group-phase", json_pack("{s:s}", "phase", phase));
}

/* The group's claims and workloads, for its first event. */
static json_t *run_group_fields(const mig_run *r, const vs_plan_group *g)
{
	json_t *claims = json_array(), *workloads = json_array();

	for (size_t k = 0; k < g->npvcs; k++)
		json_array_append_new(claims, json_string(r->plan->pvcs[g->pvcs[k]].name));
	for (size_t k = 0; k < g->nworkloads; k++) {
		const vs_plan_workload *w = &r->plan->workloads[g->workloads[k]];
		json_array_append_new(workloads,
				      json_sprintf("%s %s/%s", vs_workload_kind_name(w->kind), w->ns, w->name));
	}
	return json_pack("{s:s, s:o, s:o}", "namespace", r->plan->pvcs[g->pvcs[0]].ns, "claims", claims, "workloads",
			 workloads);
}

/* The warm copies of a group whose workloads were not stopped yet. One that fails costs only
 * downtime: the copy after the stop then sends everything, so the group goes on. */
static int run_warm(mig_run *r, const vs_plan_group *g, const char *stop_key, vs_error *err)
{
	int rc = 0;

	if (!r->opts->warm_copy || vs_journal_step_state(r->j, stop_key))
		return 0;
	run_phase(r, "warm");
	r->pass = "warm";
	for (size_t k = 0; k < g->npvcs && rc == 0; k++) {
		const vs_plan_pvc *p = &r->plan->pvcs[g->pvcs[k]];
		if (p->cold_reason || run_claim_step(r, g->pvcs[k], "warm", mig_warm_copy, err) == 0)
			continue;
		if (err->code == VS_ECANCEL || err->code == VS_EUNAVAILABLE) /* a stop, or no API: the group is abandoned */
			rc = err->code;
		else
			mig_say(r, "warning",
				"warm copy of %s/%s failed (%s); it is copied whole after the stop instead", p->ns,
				p->name, err->message);
		if (rc == 0)
			vs_error_clear(err);
	}
	return rc;
}

/* Arm the final copies of a group about to stop whose warm copies are done (mig_copy_arm), so its
 * downtime does not wait for pods to start. One that cannot be armed only costs that wait. */
static int run_arm(mig_run *r, const vs_plan_group *g, const char *stop_key, vs_error *err)
{
	if (!r->armed || vs_journal_step_state(r->j, stop_key))
		return 0;
	for (size_t k = 0; k < g->npvcs; k++) {
		const vs_plan_pvc *p = &r->plan->pvcs[g->pvcs[k]];
		char *warm = mig_claim_key(p, "warm");
		vs_error aerr;
		vs_error_clear(&aerr);
		if (mig_step_done(r, warm) && mig_copy_arm(r, g->pvcs[k], &aerr) < 0)
			mig_say(r, "warning", "%s; the final copy starts its own pod after the stop", aerr.message);
		free(warm);
	}
	return vs_failpoint("arm:done", err);
}

/* Wait, while the group still runs, until its stop is best timed (mig_stop_delay_ms). */
static void run_align_stop(mig_run *r, const vs_plan_group *g)
{
	int64_t wait = mig_stop_delay_ms(mig_armed_running_ms(r, g->pvcs, g->npvcs), vs_time_mono_ms());

	if (wait > 0)
		vs_sleep_ms(wait);
}

/* The time spent in each part of a group's downtime, for its last event: the stop, the copies (the
 * final or cold passes), their verification (in the copies' pods, and any pass of its own), the
 * swaps and the start. */
enum run_part { RUN_STOP, RUN_COPY, RUN_VERIFY, RUN_SWAP, RUN_START, RUN_PARTS };
static const char *const run_part_names[RUN_PARTS] = { "stop", "copy", "verify", "swap", "start" };

/* Milliseconds since *t, which becomes now. */
static int64_t run_lap(int64_t *t)
{
	int64_t now = vs_time_mono_ms(), ms = now - *t;

	*t = now;
	return ms;
}

/* Copy, then verify, each claim of a stopped group: only what changed after a warm copy. */
static int run_copy(mig_run *r, const vs_plan_group *g, int64_t parts[RUN_PARTS], vs_error *err)
{
	int64_t t = vs_time_mono_ms(), in_pod;
	int rc = 0;

	for (size_t k = 0; k < g->npvcs && rc == 0; k++) {
		char *warm = mig_claim_key(&r->plan->pvcs[g->pvcs[k]], "warm");
		/* before its first swap, a stopped group is undone: its workloads run again at once */
		if (!run_group_swapping(r, g))
			rc = mig_stop_check(r, "before the group's claims were switched", err);
		if (rc < 0) {
			free(warm);
			break;
		}
		r->pass = mig_step_done(r, warm) ? "final" : "cold";
		free(warm);
		run_phase(r, strcmp(r->pass, "final") == 0 ? "final" : "copy");
		rc = run_claim_step(r, g->pvcs[k], "copy", mig_copy, err);
		in_pod = r->verified.ready ? r->verified.ms : 0; /* the verification that ran in the copy's pod */
		parts[RUN_COPY] += run_lap(&t) - in_pod;
		parts[RUN_VERIFY] += in_pod;
		if (rc == 0) { /* no swap on an unverified copy */
			run_phase(r, "verify");
			rc = run_claim_step(r, g->pvcs[k], "verify", mig_verify, err);
		}
		parts[RUN_VERIFY] += run_lap(&t);
	}
	return rc;
}

/* The group's last event: its time, each workload's downtime, as its start step recorded, and how
 * long each part of the downtime this run saw took (parts a resumed run did not see are left out). */
static void run_group_done(mig_run *r, size_t gi, int64_t start_ms, const int64_t parts[RUN_PARTS])
{
	char *key = mig_group_key(gi, "start");
	const json_t *downtime = json_object_get(vs_journal_step_record(r->j, key), "downtimeMs");
	json_t *split = json_object();

	for (int k = 0; k < RUN_PARTS; k++)
		if (parts[k] >= 0)
			json_object_set_new(split, run_part_names[k], json_integer(parts[k]));
	mig_emit(r, "group-done",
		 json_pack("{s:I, s:o, s:o}", "ms", (json_int_t)(vs_time_mono_ms() - start_ms), "downtimeMs",
			   downtime ? json_deep_copy(downtime) : json_object(), "downtimePartsMs", split));
	free(key);
}

static int run_group(mig_run *r, size_t gi, vs_error *err)
{
	const vs_plan_group *g = &r->plan->groups[gi];
	char *start_key = mig_group_key(gi, "start"), *stop_key = mig_group_key(gi, "stop");
	int64_t start_ms = vs_time_mono_ms(), t = 0, parts[RUN_PARTS] = { -1, 0, 0, -1, -1 };
	bool stopped_here = false;
	size_t k;
	int rc = 0;

	if (mig_step_done(r, start_key)) { /* started before an interruption: only the release may remain */
		rc = run_release(r, g, err);
		if (rc == 0)
			run_group_done(r, gi, start_ms, (int64_t[RUN_PARTS]){ -1, -1, -1, -1, -1 });
		goto done;
	}
	mig_emit(r, "group-start", run_group_fields(r, g));
	rc = run_fetch_originals(r, g, err);
	if (rc == 0)
		run_phase(r, "dest");
	for (k = 0; k < g->npvcs && rc == 0; k++)
		rc = run_claim_step(r, g->pvcs[k], "dest", mig_dest_claim_create, err);
	if (rc == 0)
		rc = run_warm(r, g, stop_key, err);
	if (rc == 0)
		rc = run_arm(r, g, stop_key, err);
	if (rc == 0 && !vs_journal_step_state(r->j, stop_key))
		run_align_stop(r, g);
	if (rc == 0) /* a group still running as it was is simply abandoned */
		rc = mig_stop_check(r, "before the group's workloads were stopped", err);
	if (rc == 0) {
		run_phase(r, "stop");
		stopped_here = !vs_journal_step_state(r->j, stop_key);
		t = vs_time_mono_ms();
		rc = mig_step(r, "stop", stop_key, mig_workloads_stop, gi, err);
		parts[RUN_STOP] = stopped_here ? run_lap(&t) : -1;
	}
	if (rc == 0)
		rc = run_copy(r, g, parts, err);
	if (rc == 0)
		run_phase(r, "swap");
	t = vs_time_mono_ms();
	for (k = 0; k < g->npvcs && rc == 0; k++)
		rc = run_claim_step(r, g->pvcs[k], "swap", mig_swap, err);
	parts[RUN_SWAP] = run_lap(&t);
	if (rc < 0) { /* the workloads have not run on the destination: back on their own data */
		run_undo_group(r, gi, err->message);
		goto done;
	}
	if (rc == 0) {
		run_phase(r, "start");
		rc = mig_step(r, "start", start_key, mig_workloads_start, gi, err);
		parts[RUN_START] = run_lap(&t);
	}
	if (rc == 0)
		rc = run_release(r, g, err);
	if (rc == 0)
		run_group_done(r, gi, start_ms, stopped_here ? parts : (int64_t[RUN_PARTS]){ -1, -1, -1, -1, -1 });
done:
	if (rc < 0)
		mig_emit(r, "group-failed", json_pack("{s:s}", "message", err->message));
	for (k = 0; r->armed && k < g->npvcs; k++) /* what a failure left armed was removed by then */
		mig_armed_clear(&r->armed[g->pvcs[k]]);
	for (k = 0; k < g->npvcs; k++) { /* kept in the journal for a later rollback; not needed here again */
		json_decref(r->originals[g->pvcs[k]]);
		r->originals[g->pvcs[k]] = NULL;
	}
	free(start_key);
	free(stop_key);
	return rc;
}

/* ---- the default class -------------------------------------------------------------------------- */

static int run_mark_default(mig_run *r, const char *cls, bool on, vs_error *err)
{
	json_t *patch = json_pack("{s:{s:{s:o}}}", "metadata", "annotations", VS_MIGRATE_DEFAULT_CLASS_ANNOTATION,
				  on ? json_string("true") : json_null());
	int rc = vs_kube_patch(r->c, &VS_KUBE_STORAGECLASSES, NULL, cls, VS_KUBE_PATCH_MERGE, patch, NULL, err);

	json_decref(patch);
	return rc < 0 ? vs_error_wrap(err, "StorageClass %s", cls) : 0;
}

int mig_set_default(mig_run *r, const char *from, const char *to, vs_error *err)
{
	int rc = 0;

	if ((from && to && strcmp(from, to) == 0) || (!from && !to))
		return 0;
	if (from)
		rc = run_mark_default(r, from, false, err);
	if (rc == 0 && to)
		rc = run_mark_default(r, to, true, err);
	if (rc == 0)
		mig_emit(r, "default-class", json_pack("{s:s?, s:s?}", "from", from, "to", to));
	return rc;
}

static int run_set_default(mig_run *r, size_t unused, vs_error *err)
{
	(void)unused;
	return mig_set_default(r, r->plan->current_default, r->opts->plan.dest_sc, err);
}

/* ---- groups in flight ------------------------------------------------------------------------ */

/* The groups of a run, handed out to its threads in plan order; the first failure stops handing out. */
struct run_pool {
	const mig_run *base;
	pthread_mutex_t mu;
	size_t next; /* the next group to start */
	int rc;	     /* the first failure, or 0 */
	vs_error err;
	int64_t bytes; /* copied by the threads that ended */
};

struct run_worker {
	struct run_pool *pool;
	pthread_t thread;
	bool started;
};

/* The next group to start, or false when none should: all handed out, a failure, or an abort. */
static bool run_pool_take(struct run_pool *pool, size_t *g)
{
	bool take;

	pthread_mutex_lock(&pool->mu);
	take = pool->rc == 0 && pool->next < pool->base->plan->ngroups;
	if (take) {
		char where[64];
		snprintf(where, sizeof(where), "before group %zu of %zu", pool->next + 1, pool->base->plan->ngroups);
		pool->rc = mig_stop_check(pool->base, where, &pool->err);
		take = pool->rc == 0;
	}
	if (take)
		*g = pool->next++;
	pthread_mutex_unlock(&pool->mu);
	return take;
}

static void *run_worker_main(void *arg)
{
	struct run_worker *w = arg;
	struct run_pool *pool = w->pool;
	mig_run r = *pool->base;
	size_t g;

	while (run_pool_take(pool, &g)) {
		vs_error err;
		vs_error_clear(&err);
		r.group = g + 1;
		int rc = run_group(&r, g, &err);
		pthread_mutex_lock(&pool->mu);
		if (rc < 0 && pool->rc == 0) {
			pool->rc = rc;
			pool->err = err;
		}
		pthread_mutex_unlock(&pool->mu);
	}
	mig_verify_result_clear(&r.verified);
	pthread_mutex_lock(&pool->mu);
	pool->bytes += r.bytes_copied;
	pthread_mutex_unlock(&pool->mu);
	return NULL;
}

/* Run every group of base's plan, up to opts->parallel at once (*inflight: the most that could be);
 * the first failure's error. */
static int run_groups(mig_run *base, int64_t *bytes, size_t *inflight, vs_error *err)
{
	struct run_pool pool = { .base = base };
	size_t n = base->opts->parallel ? base->opts->parallel : 1;
	struct run_worker *workers;

	if (n > base->plan->ngroups)
		n = base->plan->ngroups ? base->plan->ngroups : 1;
	workers = vs_xcalloc(n, sizeof(*workers));
	*inflight = n;
	pthread_mutex_init(&pool.mu, NULL);
	vs_error_clear(&pool.err);
	for (size_t k = 0; k < n; k++) {
		workers[k].pool = &pool;
		workers[k].started = pthread_create(&workers[k].thread, NULL, run_worker_main, &workers[k]) == 0;
	}
	if (!workers[0].started) /* not even one thread: run the groups here */
		run_worker_main(&workers[0]);
	for (size_t k = 0; k < n; k++)
		if (workers[k].started)
			pthread_join(workers[k].thread, NULL);
	pthread_mutex_destroy(&pool.mu);
	free(workers);
	*bytes = pool.bytes;
	if (pool.rc < 0)
		*err = pool.err;
	return pool.rc;
}

int vs_migrate_execute(vs_kube_client *c, const vs_migrate_opts *opts, const vs_plan *plan, vs_journal *j,
		       vs_migrate_event_fn fn, void *ctx, vs_error *err)
{
	pthread_mutex_t emit_mu = PTHREAD_MUTEX_INITIALIZER;
	mig_run r = { .c = c, .opts = opts, .plan = plan, .j = j, .fn = fn, .ctx = ctx, .emit_mu = &emit_mu };
	int64_t start = vs_time_mono_ms();
	uint64_t requests = vs_kube_client_requests(c);
	size_t inflight = 1;
	int rc = 0;

	if (plan->nproblems)
		return vs_error_set(err, VS_EINVAL, "the plan has %zu problem%s; nothing was changed", plan->nproblems,
				    plan->nproblems == 1 ? "" : "s");
	r.originals = vs_xcalloc(plan->npvcs + 1, sizeof(json_t *));
	r.armed = vs_xcalloc(plan->npvcs + 1, sizeof(mig_armed));
	if (!mig_step_done(&r, "claims"))
		rc = mig_step(&r, "claims", "claims", run_take_claims, 0, err);
	if (rc == VS_EBUSY) /* another migration has a claim: nothing was changed, the journal goes */
		goto done;
	if (rc == 0)
		rc = run_groups(&r, &r.bytes_copied, &inflight, err);
	if (rc == 0 && plan->change_default)
		rc = mig_step(&r, "default", "default-class", run_set_default, 0, err);
	if (rc == 0)
		mig_emit(&r, "done",
			 json_pack("{s:I, s:I, s:I, s:I, s:I}", "pvcs", (json_int_t)plan->npvcs, "bytes",
				   (json_int_t)r.bytes_copied, "ms", (json_int_t)(vs_time_mono_ms() - start),
				   "apiRequests", (json_int_t)(vs_kube_client_requests(c) - requests), "parallel",
				   (json_int_t)inflight));
	vs_error jerr;
	vs_error_clear(&jerr);
	if (vs_journal_set_phase(j,
				 rc == 0	    ? "done"
				 : rc == VS_ECANCEL ? "aborted"
						    : "failed",
				 rc ? err->message : NULL, &jerr) < 0 &&
	    rc == 0) {
		*err = jerr;
		rc = jerr.code;
	}
done:
	for (size_t i = 0; i < plan->npvcs; i++)
		json_decref(r.originals[i]);
	free(r.originals);
	free(r.armed);
	pthread_mutex_destroy(&emit_mu);
	return rc;
}

/* ---- options kept in the journal ------------------------------------------------------------- */

json_t *vs_migrate_opts_to_json(const vs_migrate_opts *o)
{
	json_t *flags = json_array();

	for (size_t i = 0; i < o->nrsync_flags; i++)
		json_array_append_new(flags, json_string(o->rsync_flags[i]));
	return json_pack("{s:s, s:s, s:s, s:o, s:b, s:b, s:s, s:I, s:I, s:I, s:I, s:b}", "sourceClass",
			 o->plan.source_sc, "destClass", o->plan.dest_sc, "rsyncImage", o->rsync_image, "rsyncFlags",
			 flags, "verboseCopy", o->verbose_copy, "keepStatefulSets", o->keep_statefulsets, "verify",
			 vs_verify_mode_name(o->verify), "podReadyTimeoutMs", (json_int_t)o->pod_ready_timeout_ms,
			 "deletePvTimeoutMs", (json_int_t)o->delete_pv_timeout_ms, "readyTimeoutMs",
			 (json_int_t)o->ready_timeout_ms, "parallel", (json_int_t)o->parallel, "warmCopy",
			 o->warm_copy);
}

int vs_migrate_opts_from_json(const json_t *json, vs_migrate_opts *out, vs_error *err)
{
	const json_t *flags = json_object_get(json, "rsyncFlags");
	const char **arr = vs_xcalloc(json_array_size(flags) + 1, sizeof(char *));

	memset(out, 0, sizeof(*out));
	out->plan.source_sc = vs_json_str(json, "sourceClass");
	out->plan.dest_sc = vs_json_str(json, "destClass");
	out->rsync_image = vs_json_str(json, "rsyncImage");
	for (size_t i = 0; i < json_array_size(flags); i++)
		arr[i] = json_string_value(json_array_get(flags, i));
	for (size_t i = 0; i < json_array_size(flags); i++)
		if (!arr[i] || vs_migrate_rsync_flag_check(arr[i], err) < 0)
			return vs_error_wrap(err, "journal options");
	out->rsync_flags = arr;
	out->nrsync_flags = json_array_size(flags);
	out->verbose_copy = vs_json_bool(json, "verboseCopy", false);
	out->keep_statefulsets = vs_json_bool(json, "keepStatefulSets", false);
	out->pod_ready_timeout_ms = vs_json_int(json, "podReadyTimeoutMs", 60000);
	out->delete_pv_timeout_ms = vs_json_int(json, "deletePvTimeoutMs", 300000);
	out->ready_timeout_ms = vs_json_int(json, "readyTimeoutMs", 600000);
	out->parallel = (unsigned)vs_json_int(json, "parallel", 1);
	out->warm_copy = vs_json_bool(json, "warmCopy", false);
	if (!out->plan.source_sc || !out->plan.dest_sc || !out->rsync_image)
		return vs_error_set(err, VS_EINVAL, "journal options: sourceClass, destClass or rsyncImage missing");
	if (vs_verify_mode_parse(vs_json_str_or(json, "verify", "size-time"), &out->verify, err) < 0)
		return vs_error_wrap(err, "journal options");
	return 0;
}
