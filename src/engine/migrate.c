/*
 * The migrate step kind: a storage-class migration, made as `volshift migrate` makes it (the same
 * library calls: plan on the live cluster, free-space check and preflight, a journal of its own,
 * execute) from fields named after its flags. The step records the migration's id as soon as its
 * journal exists, so a resumed run resumes that migration instead of starting another, and its
 * undo is that migration's rollback. The migration's own events are passed on, wrapped in
 * {event: "migration", step, detail}.
 */
#include "migrate/migrate.h"
#include "engine/engine_int.h"

#include <stdlib.h>
#include <string.h>

/* What a step gives, as vs_migrate_opts: strings borrowed from def; *pvcs (caller frees) holds the
 * claim filters. */
static int mig_opts(const json_t *def, vs_migrate_opts *o, const char ***pvcs, vs_error *err)
{
	const json_t *list = json_object_get(def, "pvcs"), *v;
	size_t i;

	vs_migrate_opts_init(o);
	o->plan.source_sc = vs_json_str(def, "sourceStorageClass");
	o->plan.dest_sc = vs_json_str(def, "destStorageClass");
	o->plan.namespace = vs_json_str(def, "namespace");
	o->plan.selector = vs_json_str(def, "selector");
	o->plan.set_defaults = vs_json_bool(def, "setDefaults", false);
	o->plan.skip_free_space_check = vs_json_bool(def, "skipFreeSpaceCheck", false);
	o->parallel = (unsigned)vs_json_int(def, "parallel", 0);
	o->warm_copy = vs_json_bool(def, "warmCopy", true);
	o->rsync_image = vs_json_str_or(def, "rsyncImage", VS_MIGRATE_DEFAULT_IMAGE);
	*pvcs = vs_xcalloc(json_array_size(list) + 1, sizeof(char *));
	json_array_foreach (list, i, v)
		(*pvcs)[i] = json_string_value(v);
	o->plan.pvcs = *pvcs;
	o->plan.npvcs = json_array_size(list);
	return vs_verify_mode_parse(vs_json_str_or(def, "verify", "size-time"), &o->verify, err);
}

typedef struct mig_events {
	eng_step *s;
} mig_events;

/* A migration's event, passed on as the step's. */
static void mig_event(const json_t *event, void *ctx)
{
	mig_events *e = ctx;

	eng_emit(e->s->run,
		 json_pack("{s:s, s:s, s:O}", "event", "migration", "step", e->s->name, "detail", (json_t *)event));
}

/* The plan's problems in one line. Caller frees. */
static char *mig_problems(const vs_plan *plan)
{
	vs_buf b;

	vs_buf_init(&b, 4096);
	for (size_t i = 0; i < plan->nproblems && b.len < 1500; i++)
		vs_buf_printf(&b, "%s%s%s%s: %s", i ? "; " : "", plan->problems[i].ns ? plan->problems[i].ns : "",
			      plan->problems[i].ns ? "/" : "",
			      plan->problems[i].name ? plan->problems[i].name : "migration", plan->problems[i].reason);
	return vs_buf_steal(&b);
}

/* A new migration: planned, checked, journaled (its id recorded in the step), executed. */
static int mig_start(eng_step *s, const vs_migrate_opts *opts, mig_events *ev, vs_error *err)
{
	enum vs_migrate_stage failed;
	vs_migrate_opts run;
	vs_plan *plan = NULL;
	vs_journal *j = NULL;
	json_t *extra = NULL;
	int rc = vs_migrate_plan_live(s->run->c, opts, &run, &plan, &failed, err);

	if (rc == 0)
		rc = vs_migrate_check(s->run->c, &run, plan, false,
				      vs_json_bool(json_object_get(s->def, "migrate"), "skipPreflight", false),
				      mig_event, ev, &failed, err);
	if (rc == 0 && plan->nproblems) {
		char *text = mig_problems(plan);
		rc = vs_error_set(err, VS_EINVAL, "%zu claim(s) cannot be migrated, nothing was changed: %s",
				  plan->nproblems, text);
		free(text);
	}
	if (rc == 0 && (plan->npvcs > 0 || plan->change_default))
		rc = vs_migrate_journal_start(s->run->c, vs_journal_namespace(s->run->j), &run, plan, &j, err);
	if (j) {
		extra = json_pack("{s:s}", "migration", vs_journal_id(j));
		rc = vs_journal_step(s->run->j, s->key, VS_STEP_INTENT, NULL, extra, true, err);
	}
	if (rc == 0 && j)
		rc = vs_migrate_execute(s->run->c, &run, plan, j, mig_event, ev, err);
	json_decref(extra);
	vs_journal_free(j);
	vs_plan_free(plan);
	return rc;
}

/* The migration step s started (its id in the step's record), or NULL. Borrowed. */
static const char *mig_recorded(eng_step *s)
{
	return vs_json_str(vs_journal_step_record(s->run->j, s->key), "migration");
}

static int mig_apply(eng_step *s, const json_t *undo, vs_error *err)
{
	const char **pvcs = NULL;
	mig_events ev = { s };
	vs_migrate_opts opts;
	vs_migrate_recorded m;
	char *id = mig_recorded(s) ? vs_xstrdup(mig_recorded(s)) : NULL;
	int rc = 0;

	(void)undo;
	if (id) {
		rc = vs_migrate_open(s->run->c, vs_journal_namespace(s->run->j), id, false, &m, err);
		if (rc == 0 && strcmp(vs_journal_phase(m.j), "done") != 0)
			rc = vs_migrate_execute(s->run->c, &m.opts, m.plan, m.j, mig_event, &ev, err);
		vs_migrate_recorded_close(&m);
	} else {
		rc = mig_opts(json_object_get(s->def, "migrate"), &opts, &pvcs, err);
		if (rc == 0)
			rc = mig_start(s, &opts, &ev, err);
	}
	free(pvcs);
	free(id);
	return rc;
}

/* Undo: the migration's rollback. Claims whose workloads already ran on the destination stay there
 * (the rollback says which), as `volshift rollback` leaves them. */
static int mig_undo(eng_step *s, const json_t *undo, vs_error *err)
{
	mig_events ev = { s };
	vs_migrate_recorded m;
	json_t *kept = NULL;
	const char *id = mig_recorded(s);
	int rc;

	(void)undo;
	if (!id)
		return 0;
	rc = vs_migrate_open(s->run->c, vs_journal_namespace(s->run->j), id, false, &m, err);
	if (rc == 0)
		rc = vs_migrate_rollback(s->run->c, &m.opts, m.plan, m.j, mig_event, &ev, &kept, err);
	if (rc == 0 && json_array_size(kept) > 0) {
		char *text = json_dumps(kept, JSON_COMPACT);
		eng_emit(s->run, json_pack("{s:s, s:s, s:s, s:s}", "event", "step", "step", s->name, "state", "warning",
					   "message", text));
		free(text);
	}
	vs_migrate_recorded_close(&m);
	json_decref(kept);
	return rc;
}

const eng_kind eng_kind_migrate = { .name = "migrate", .apply = mig_apply, .undo = mig_undo };
