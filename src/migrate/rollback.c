/*
 * Rolling a migration back from its journal. A group whose workloads have not started on the
 * destination is put back as it was: a claim before its swap loses only what volshift made (the
 * copy pod, the destination claim and its volume); a claim whose swap began gets its name back on
 * the original volume, kept Retain throughout (mig_unswap does both); then the workloads get their
 * recorded scale, node selector or suspension back. The original volumes are kept Retain until
 * the group's workloads start on the destination, so such a group always goes back whole. A group
 * whose workloads did start on the destination may have written there: its claims stay, and are
 * reported, since rolling them back is a copy in the other direction (a new migration); its
 * original volumes are given back to their policy, as the migration would have done. Every step is journaled like the
 * forward steps, so a rollback that is interrupted is run again.
 */
#include "migrate_int.h"

#include <stdlib.h>
#include <string.h>

/* One claim of a group being rolled back (a mig_step_fn): its copy pod removed, then mig_unswap,
 * which also serves a claim whose swap never began (its name never left the original volume). */
static int rollback_claim(mig_run *r, size_t i, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	char *original = mig_claim_key(p, "original");
	const json_t *saved = vs_journal_object(r->j, original);
	int rc = mig_pod_remove(r, p->ns, p->copy_pod, true, err);

	json_decref(r->originals[i]);
	r->originals[i] = saved ? json_deep_copy(saved) : NULL;
	if (rc == 0)
		rc = mig_unswap(r, i, err);
	free(original);
	return rc;
}

/* The workloads of group g back as they were (a mig_step_fn). */
static int rollback_workloads(mig_run *r, size_t g, vs_error *err)
{
	return mig_workloads_start(r, g, err);
}

/* True when the swap gave volume pv (may be NULL: gone) back to its own reclaim policy: it no
 * longer carries the policy volshift keeps while it holds a volume, and no claim is bound to it (a
 * swap that has not retained it yet leaves it Bound to the original claim). Its provisioner may be
 * removing it: it must never get a claim again. */
static bool rollback_given_back(const json_t *pv)
{
	return !pv || vs_json_str(pv, "metadata.deletionTimestamp") ||
	       (!vs_json_annotation(pv, VS_MIGRATE_OWN_RECLAIM_ANNOTATION) &&
		strcmp(vs_json_str_or(pv, "status.phase", ""), "Bound") != 0);
}

/* True when plan pvc i stays on the destination: its swap began and its original volume was
 * already given back (by a journal of a volshift that released it in the swap), so the copy is the
 * only one left. */
static int rollback_claim_kept(mig_run *r, size_t i, bool *kept, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	char *swap = mig_claim_key(p, "swap");
	bool swapping = vs_journal_step_state(r->j, swap) != NULL;
	json_t *old = NULL;
	int rc = swapping ? mig_get_opt(r, &VS_KUBE_PVS, NULL, p->pv, &old, err) : 0;

	*kept = rc == 0 && swapping && rollback_given_back(old);
	json_decref(old);
	free(swap);
	return rc;
}

int mig_rollback_group(mig_run *r, size_t gi, json_t *kept, vs_error *err)
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
	if (rc == 0 && started) /* the forward migration's last step: the group's copies are its data now */
		rc = mig_release_group(r, g, err);

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
	for (size_t g = plan->ngroups; g-- > 0 && rc == 0;) {
		rc = mig_rollback_group(&r, g, *kept, err);
		if (rc == 0) /* its claims are this migration's no more */
			rc = mig_claims_release(&r, &plan->groups[g], err);
	}
	if (rc == 0)
		mig_emit(&r, "rolled-back",
			 json_pack("{s:I, s:O}", "pvcs", (json_int_t)(plan->npvcs - json_array_size(*kept)), "kept",
				   *kept));
	vs_error jerr;
	vs_error_clear(&jerr);
	if (vs_journal_set_phase(j, rc == 0 ? "rolled-back" : "rollback-failed", rc ? err->message : NULL, &jerr) < 0 &&
	    rc == 0) {
		*err = jerr;
		rc = jerr.code;
	}
	for (size_t i = 0; i < plan->npvcs; i++)
		json_decref(r.originals[i]);
	free(r.originals);
	return rc;
}
