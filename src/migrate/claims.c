/*
 * A claim belongs to at most one unfinished migration. Two volshifts started at the same moment on
 * the same claims (a retried CI job, two operators) both plan, and both would go on to create the
 * same destination claims and copy pods under each other's feet. The journal's lease protects one
 * migration, not the claims; so before anything else changes, a migration marks each of its claims
 * with the annotation volshift.io/migration = "NAMESPACE/ID" of its journal, by a write conditional
 * on the resourceVersion it read: of two runs marking the same claim, exactly one write succeeds
 * (the other gets 409 Conflict, reads again, and finds the claim taken). A claim marked by a
 * migration whose journal says it is unfinished (running, failed or aborted: it will be resumed or
 * rolled back) is refused; a mark whose migration finished, or whose journal is gone, is stale and
 * taken over the same conditional way. Both runs mark their claims in the plan's order, so the run
 * that takes a shared claim first takes them all. The refused run removes the marks it made, its
 * journal is deleted, and nothing else has changed.
 *
 * A claim keeps its mark through its swap (the recreated claim carries the original's annotations)
 * until its group has finished; a rollback removes them as it ends.
 */
#include "migrate_int.h"

#include <stdlib.h>
#include <string.h>

#define CLAIMS_MARK_ATTEMPTS 5

/* This run's mark: "NAMESPACE/ID". Caller frees. */
static char *claims_mark(const mig_run *r)
{
	return vs_xasprintf("%s/%s", vs_journal_namespace(r->j), vs_journal_id(r->j));
}

/* Whether the migration that mark ("NAMESPACE/ID") names is unfinished; *why (caller frees) then
 * says which and who holds it. */
static int claims_owner_unfinished(mig_run *r, const char *mark, bool *unfinished, char **why, vs_error *err)
{
	const char *slash = strchr(mark, '/');
	char *ns = slash ? vs_xstrndup(mark, (size_t)(slash - mark)) : NULL;
	json_t *m = NULL;
	int rc = ns ? vs_journal_peek(r->c, ns, slash + 1, &m, err) : 0;
	const char *phase = vs_json_str_or(m, "phase", "running");

	*unfinished = m && strcmp(phase, "done") != 0 && strcmp(phase, "rolled-back") != 0;
	if (*unfinished)
		*why = vs_xasprintf("migration %s (phase %s, held by %s%s)", slash + 1, phase,
				    *vs_json_str_or(m, "holder", "") ? vs_json_str(m, "holder") : "no one",
				    vs_json_bool(m, "leaseLive", false) ? ", running now" : "");
	json_decref(m);
	free(ns);
	return rc;
}

/* Mark plan pvc i as this run's, unless an unfinished migration has it (VS_EBUSY naming it). */
static int claims_take_one(mig_run *r, size_t i, const char *mine, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	int rc = 0;

	for (unsigned attempt = 1; rc == 0; attempt++) {
		json_t *claim = NULL, *patch;
		bool unfinished = false;
		char *why = NULL;
		rc = vs_kube_get(r->c, &VS_KUBE_PVCS, p->ns, p->name, &claim, err);
		const char *mark = rc == 0 ? vs_json_annotation(claim, VS_MIGRATE_OWNER_ANNOTATION) : NULL;
		if (mark && strcmp(mark, mine) == 0) {
			json_decref(claim);
			return 0; /* ours already: a resumed run */
		}
		if (rc == 0 && mark)
			rc = claims_owner_unfinished(r, mark, &unfinished, &why, err);
		if (rc == 0 && unfinished)
			rc = vs_error_set(
				err, VS_EBUSY,
				"claim %s/%s belongs to %s: that migration moves it (see 'volshift status %s'); "
				"resume or roll it back first",
				p->ns, p->name, why, strchr(mark, '/') + 1);
		patch = rc == 0 ? json_pack("{s:{s:s, s:{s:s}}}", "metadata", "resourceVersion",
					    vs_kube_obj_resource_version(claim), "annotations",
					    VS_MIGRATE_OWNER_ANNOTATION, mine)
				: NULL;
		if (rc == 0)
			rc = vs_kube_patch(r->c, &VS_KUBE_PVCS, p->ns, p->name, VS_KUBE_PATCH_MERGE, patch, NULL, err);
		json_decref(patch);
		json_decref(claim);
		free(why);
		if (rc == 0 || attempt == CLAIMS_MARK_ATTEMPTS || !vs_error_is(err, "Conflict"))
			break;
		vs_error_clear(err); /* someone wrote it since it was read: read again, decide again */
		rc = 0;
	}
	return rc < 0 ? vs_error_wrap(err, "mark claim %s/%s as this migration's", p->ns, p->name) : 0;
}

/* Remove this run's mark from claim ns/name (a mark of another run's is left alone). */
static int claims_unmark(mig_run *r, const char *ns, const char *name, const char *mine, vs_error *err)
{
	json_t *claim = NULL, *patch;
	int rc = mig_get_opt(r, &VS_KUBE_PVCS, ns, name, &claim, err);
	const char *mark = vs_json_annotation(claim, VS_MIGRATE_OWNER_ANNOTATION);

	if (rc == 0 && mark && strcmp(mark, mine) == 0) {
		patch = json_pack("{s:{s:s, s:{s:n}}}", "metadata", "resourceVersion",
				  vs_kube_obj_resource_version(claim), "annotations", VS_MIGRATE_OWNER_ANNOTATION);
		rc = vs_kube_patch(r->c, &VS_KUBE_PVCS, ns, name, VS_KUBE_PATCH_MERGE, patch, NULL, err);
		json_decref(patch);
	}
	json_decref(claim);
	return rc;
}

int mig_claims_take(mig_run *r, vs_error *err)
{
	char *mine = claims_mark(r);
	size_t i;
	int rc = 0;

	for (i = 0; i < r->plan->npvcs && rc == 0; i++)
		rc = claims_take_one(r, i, mine, err);
	if (rc == VS_EBUSY) /* give back what this run took: it changes nothing */
		while (i-- > 0) {
			vs_error uerr;
			vs_error_clear(&uerr);
			if (claims_unmark(r, r->plan->pvcs[i].ns, r->plan->pvcs[i].name, mine, &uerr) < 0)
				mig_say(r, "warning", "could not remove this run's mark from claim %s/%s: %s",
					r->plan->pvcs[i].ns, r->plan->pvcs[i].name, uerr.message);
		}
	free(mine);
	return rc;
}

int mig_claims_release(mig_run *r, const vs_plan_group *g, vs_error *err)
{
	char *mine = claims_mark(r);
	int rc = 0;

	for (size_t k = 0; k < g->npvcs && rc == 0; k++)
		rc = claims_unmark(r, r->plan->pvcs[g->pvcs[k]].ns, r->plan->pvcs[g->pvcs[k]].name, mine, err);
	free(mine);
	return rc;
}
