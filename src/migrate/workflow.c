/*
 * A storage-class migration from its options to a journaled run, as `volshift migrate` and a plan's
 * migrate step both make it: the defaults of its options, the plan made on the live cluster, the
 * free-space check and preflight, the journal that freezes the plan and the options, a recorded
 * migration opened again for resume or rollback, and the unfinished migration of the same classes.
 * Nothing here prints: callers show the plan and ask between these calls.
 */
#include "journal/journal.h"
#include "migrate/migrate.h"

#include <stdlib.h>
#include <string.h>

void vs_migrate_opts_init(vs_migrate_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->rsync_image = VS_MIGRATE_DEFAULT_IMAGE;
	o->pod_ready_timeout_ms = 60 * 1000;
	o->delete_pv_timeout_ms = 300 * 1000;
	o->ready_timeout_ms = 600 * 1000;
	o->warm_copy = true;
	o->verify = VS_VERIFY_SIZE_TIME;
}

int vs_migrate_plan_live(vs_kube_client *c, const vs_migrate_opts *opts, vs_migrate_opts *run, vs_plan **out,
			 enum vs_migrate_stage *failed, vs_error *err)
{
	vs_migrate_snapshot snap;
	int rc;

	*out = NULL;
	*run = *opts;
	*failed = VS_MIGRATE_STAGE_CLUSTER;
	rc = vs_migrate_snapshot_take(c, &snap, err);
	if (rc < 0)
		return rc;
	rc = vs_plan_build(&snap.in, &opts->plan, out, err);
	*failed = rc < 0 ? VS_MIGRATE_STAGE_OPTIONS : VS_MIGRATE_STAGE_OK;
	if (!run->parallel)
		run->parallel = vs_migrate_default_parallel(&snap.in);
	vs_migrate_snapshot_clear(&snap);
	return rc;
}

int vs_migrate_check(vs_kube_client *c, const vs_migrate_opts *opts, vs_plan *plan, bool dry_run, bool skip_preflight,
		     vs_migrate_event_fn fn, void *ctx, enum vs_migrate_stage *failed, vs_error *err)
{
	int rc = vs_migrate_free_space(c, opts, plan, dry_run, fn, ctx, err);

	*failed = rc < 0 ? VS_MIGRATE_STAGE_SPACE : VS_MIGRATE_STAGE_OK;
	if (rc == 0 && !dry_run && !skip_preflight) {
		rc = vs_migrate_preflight(c, opts, plan, fn, ctx, err);
		if (rc < 0)
			*failed = VS_MIGRATE_STAGE_PREFLIGHT;
	}
	return rc;
}

int vs_migrate_journal_start(vs_kube_client *c, const char *ns, const vs_migrate_opts *opts, const vs_plan *plan,
			     vs_journal **out, vs_error *err)
{
	json_t *frozen =
		json_pack("{s:o, s:o}", "plan", vs_plan_to_json(plan), "options", vs_migrate_opts_to_json(opts));
	int rc = vs_journal_create(c, ns, frozen, out, err);

	json_decref(frozen);
	return rc;
}

int vs_migrate_open(vs_kube_client *c, const char *ns, const char *id, bool force, vs_migrate_recorded *m,
		    vs_error *err)
{
	const json_t *frozen;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = vs_journal_open(c, ns, id, force, &m->j, err);
	if (rc < 0)
		return rc;
	frozen = vs_journal_plan(m->j);
	rc = vs_plan_from_json(json_object_get(frozen, "plan"), &m->plan, err);
	if (rc == 0)
		rc = vs_migrate_opts_from_json(json_object_get(frozen, "options"), &m->opts, err);
	if (rc < 0) {
		vs_migrate_recorded_close(m);
		return vs_error_wrap(err, "reading the journal of migration %s", id);
	}
	return 0;
}

void vs_migrate_recorded_close(vs_migrate_recorded *m)
{
	free((void *)m->opts.rsync_flags);
	vs_plan_free(m->plan);
	vs_journal_free(m->j);
	memset(m, 0, sizeof(*m));
}

char *vs_migrate_find_unfinished(vs_kube_client *c, const char *ns, const char *source_sc, const char *dest_sc)
{
	json_t *list = NULL, *cm;
	char *id = NULL;
	size_t i;
	vs_error err;

	vs_error_clear(&err);
	if (vs_journal_list(c, ns, &list, &err) < 0)
		return NULL; /* no journal to read is no unfinished migration; the run itself reports errors */
	json_array_foreach (json_object_get(list, "items"), i, cm) {
		json_t *mig = vs_journal_decode(cm);
		const json_t *opts = json_object_get(vs_json_path(mig, "plan"), "options");
		const char *phase = vs_json_str_or(mig, "phase", "");
		if (!id && (!strcmp(phase, "running") || !strcmp(phase, "failed") || !strcmp(phase, "aborted")) &&
		    !strcmp(vs_json_str_or(opts, "sourceClass", ""), source_sc) &&
		    !strcmp(vs_json_str_or(opts, "destClass", ""), dest_sc))
			id = vs_xstrdup(vs_json_str_or(mig, "id", ""));
		json_decref(mig);
	}
	json_decref(list);
	return id;
}
