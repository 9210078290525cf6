/*
 * Rolling a migration back from its journal. A group whose workloads have not started on the
 * destination is put back as it was: a claim before its swap loses only what volshift made (the
 * copy pod and the destination claim); a claim whose swap began gets its name back on the original
 * volume (mig_unswap; the original was kept Retain throughout); then the workloads get their
 * recorded scale, node selector or suspension back. A group whose workloads did start on the
 * destination may have written there: its claims stay, and are reported, since rolling them back
 * is a copy in the other direction (a new migration). Every step is journaled like the forward
 * steps, so a rollback that is interrupted is run again.
 */
#include "migrate_int.h"

#include <stdlib.h>
#include <string.h>

/* The destination claim of a claim whose swap never began, and its volume, removed. The volume
 * holds only a copy; the original claim still exists, so the invariant holds. */
static int rollback_dest_claim(mig_run *r, const vs_plan_pvc *p, vs_error *err)
{
	json_t *claim = NULL, *pv = NULL;
	char *volume = NULL;
	int rc = mig_get_opt(r, &VS_KUBE_PVCS, p->ns, p->temp_name, &claim, err);

	if (rc == 0 && claim && vs_json_str(claim, "spec.volumeName"))
		volume = vs_xstrdup(vs_json_str(claim, "spec.volumeName"));
	if (rc == 0 && claim)
		rc = mig_delete(r, &VS_KUBE_PVCS, p->ns, p->temp_name, NULL, NULL, err);
	if (rc == 0 && claim)
		rc = mig_wait_gone(r, &VS_KUBE_PVCS, p->ns, p->temp_name, r->opts->delete_pv_timeout_ms, err);
	if (rc == 0 && volume)
		rc = mig_get_opt(r, &VS_KUBE_PVS, NULL, volume, &pv, err);
	/* a destination class that retains its volumes would keep the copy forever: delete the object */
	if (rc == 0 && pv && strcmp(vs_json_str_or(pv, "spec.persistentVolumeReclaimPolicy", ""), "Delete") != 0)
		rc = mig_delete(r, &VS_KUBE_PVS, NULL, volume, NULL, NULL, err);
	else if (rc == 0 && pv)
		rc = mig_wait_gone(r, &VS_KUBE_PVS, NULL, volume, r->opts->delete_pv_timeout_ms, err);
	if (rc < 0)
		vs_error_wrap(err, "remove destination claim %s/%s", p->ns, p->temp_name);
	json_decref(claim);
	json_decref(pv);
	free(volume);
	return rc;
}

/* One claim of a group being rolled back (a mig_step_fn). */
static int rollback_claim(mig_run *r, size_t i, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	char *swap = mig_claim_key(p, "swap"), *original = mig_claim_key(p, "original");
	bool swapping = vs_journal_step_state(r->j, swap) != NULL;
	int rc = mig_pod_remove(r, p->ns, p->copy_pod, err);

	if (rc == 0 && swapping) {
		json_decref(r->originals[i]);
		r->originals[i] = json_deep_copy(vs_journal_object(r->j, original));
		rc = r->originals[i] ? mig_unswap(r, i, err)
				     : vs_error_set(err, VS_EIO, "the journal has no copy of claim %s/%s", p->ns, p->name);
	} else if (rc == 0) {
		rc = rollback_dest_claim(r, p, err);
	}
	free(swap);
	free(original);
	return rc;
}

/* The workloads of group g back as they were (a mig_step_fn). */
static int rollback_workloads(mig_run *r, size_t g, vs_error *err)
{
	return mig_workloads_start(r, g, err);
}

/* True when plan pvc i stays on the destination: its swap began and its original volume was
 * already given back (the swap finished), so the copy is the only one left. */
static int rollback_claim_kept(mig_run *r, size_t i, bool *kept, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	char *swap = mig_claim_key(p, "swap");
	bool swapping = vs_journal_step_state(r->j, swap) != NULL;
	json_t *old = NULL;
	int rc = swapping ? mig_get_opt(r, &VS_KUBE_PVS, NULL, p->pv, &old, err) : 0;

	*kept = rc == 0 && swapping && !old;
	json_decref(old);
	free(swap);
	return rc;
}

/* Group g: put back, or (its workloads started on the destination) its claims added to kept. A
 * claim whose original volume is gone stays too, and the workloads come back on what exists. */
static int rollback_group(mig_run *r, size_t gi, json_t *kept, vs_error *err)
{
	const vs_plan_group *g = &r->plan->groups[gi];
	char *start = mig_group_key(gi, "start"), *undo = mig_group_key(gi, "rollback");
	bool started = vs_journal_step_state(r->j, start) != NULL, stays = started;
	int rc = 0;

	for (size_t k = 0; k < g->npvcs && rc == 0; k++) {
		const vs_plan_pvc *p = &r->plan->pvcs[g->pvcs[k]];
		char *key = mig_claim_key(p, "rollback"), *name = vs_xasprintf("%s/%s", p->ns, p->name);
		if (!started)
			rc = rollback_claim_kept(r, g->pvcs[k], &stays, err);
		if (rc == 0 && stays) {
			json_array_append_new(kept, json_string(name));
			mig_emit(r, "rollback-kept", json_pack("{s:s, s:s}", "namespace", p->ns, "pvc", p->name));
		} else if (rc == 0) {
			rc = mig_step(r, "rollback", key, rollback_claim, g->pvcs[k], err);
		}
		free(key);
		free(name);
	}
	if (rc == 0 && !started)
		rc = mig_step(r, "rollback-start", undo, rollback_workloads, gi, err);
	free(start);
	free(undo);
	return rc;
}

int vs_migrate_rollback(vs_kube_client *c, const vs_migrate_opts *opts, const vs_plan *plan, vs_journal *j,
			vs_migrate_event_fn fn, void *ctx, json_t **kept, vs_error *err)
{
	vs_migrate_opts back = *opts;
	mig_run r = { .c = c, .opts = &back, .plan = plan, .j = j, .fn = fn, .ctx = ctx };
	int rc = 0;

	back.keep_statefulsets = true; /* a StatefulSet is recreated only once its group has started */
	*kept = json_array();
	r.originals = vs_xcalloc(plan->npvcs + 1, sizeof(json_t *));
	if (vs_journal_step_state(j, "default-class"))
		rc = mig_set_default(&r, opts->plan.dest_sc, plan->current_default, err);
	for (size_t g = plan->ngroups; g-- > 0 && rc == 0;)
		rc = rollback_group(&r, g, *kept, err);
	if (rc == 0)
		mig_emit(&r, "rolled-back", json_pack("{s:I, s:O}", "pvcs", (json_int_t)(plan->npvcs - json_array_size(*kept)),
						      "kept", *kept));
	vs_error jerr;
	vs_error_clear(&jerr);
	if (vs_journal_set_phase(j, rc == 0 ? "rolled-back" : "rollback-failed", rc ? err->message : NULL, &jerr) < 0 && rc == 0) {
		*err = jerr;
		rc = jerr.code;
	}
	for (size_t i = 0; i < plan->npvcs; i++)
		json_decref(r.originals[i]);
	free(r.originals);
	return rc;
}
