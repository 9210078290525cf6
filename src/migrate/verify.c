/*
 * Verifying one claim's copy before its swap: no original claim is deleted for a copy that was
 * not checked. The copy pod runs rsync again with the copy's flags and the user's, as a dry run
 * that itemizes what it would change (and reads every file on both sides with --checksum); each
 * itemized difference is counted. Differences get one more copy, comparing files the way the
 * check did (by content after a check by checksum: the quick check would skip a file that kept its
 * size and time), and one more check; differences after that stop the migration before the swap.
 *
 * What counts as a difference: every entry rsync would create, update or delete ("*deleting": an
 * entry only in the destination), attribute-only changes included (mode, owner, ACL, xattr, a
 * file's time), except a directory whose only difference is its modification time. That time
 * says when the directory's list of entries last changed, and each entry has a line of its own,
 * so the time alone never hides a missing, extra or different entry; counting it would fail a
 * migration (after a needless second copy) whenever something on the destination, such as a
 * mount helper creating and removing a file at the volume's root, touches a directory.
 */
#include "migrate_int.h"

#include <stdlib.h>
#include <string.h>

const char *vs_verify_mode_name(enum vs_verify_mode mode)
{
	return mode == VS_VERIFY_CHECKSUM ? "checksum" : "size-time";
}

int vs_verify_mode_parse(const char *name, enum vs_verify_mode *out, vs_error *err)
{
	if (strcmp(name, "size-time") == 0)
		*out = VS_VERIFY_SIZE_TIME;
	else if (strcmp(name, "checksum") == 0)
		*out = VS_VERIFY_CHECKSUM;
	else
		return vs_error_set(err, VS_EINVAL, "verify mode \"%s\": expected size-time or checksum", name);
	return 0;
}

/* rsync 3's %i: Y (what happens: < > c h . or * for a message), X (the entry's type: f d L D S),
 * then the attributes c s t p o g u a x, each '.' when unchanged, a letter when changed, '+' for
 * a new entry; all spaces when nothing changed. The name starts after one more space. */
#define ITEM_WIDTH 11
#define ITEM_TIME 4

/* A directory whose attributes differ only in their modification time ("t", or "T" when it is
 * set to the transfer time). */
static bool verify_dir_time_only(const char *item)
{
	if (item[0] != '.' || item[1] != 'd' || (item[ITEM_TIME] != 't' && item[ITEM_TIME] != 'T'))
		return false;
	for (size_t k = 2; k < ITEM_WIDTH; k++)
		if (k != ITEM_TIME && item[k] != '.')
			return false;
	return true;
}

/* An entry that is already identical, as -ii and -vv list them: nothing to do ('.'), or an
 * existing hard link ('h' without the " => target" rsync prints when it would make one). */
static bool verify_unchanged(const char *item, const char *name)
{
	if (item[0] != '.' && (item[0] != 'h' || strstr(name, " => ")))
		return false;
	for (size_t k = 2; k < ITEM_WIDTH; k++)
		if (item[k] != ' ' && item[k] != '.')
			return false;
	return true;
}

bool vs_rsync_item_differs(const char *line, const char **name)
{
	if (strnlen(line, ITEM_WIDTH + 2) < ITEM_WIDTH + 2 || line[ITEM_WIDTH] != ' ')
		return false;
	*name = line + ITEM_WIDTH + 1;
	if (line[0] == '*')
		return true; /* "*deleting": only in the destination */
	if (!strchr("<>ch.", line[0]) || !strchr("fdLDS", line[1]))
		return false;
	return !verify_dir_time_only(line) && !verify_unchanged(line, *name);
}

/* ---- the verification pod ------------------------------------------------------------------- */

static int verify_line(const char *line, size_t len, void *ctx)
{
	mig_verify_result *v = ctx;
	const char *name;

	(void)len;
	if (!vs_rsync_item_differs(line, &name))
		return 0;
	if (v->npaths < MIG_VERIFY_SHOWN_PATHS)
		v->paths[v->npaths++] = vs_xstrdup(name);
	v->differences++;
	return 0;
}

void mig_verify_result_clear(mig_verify_result *v)
{
	for (size_t k = 0; k < v->npaths; k++)
		free(v->paths[k]);
	memset(v, 0, sizeof(*v));
}

void mig_verify_stage(mig_run *r, size_t i, mig_rsync_stage *st)
{
	/* --out-format is what --itemize-changes sets, without adding up with a -i in --rsync-flags
	 * into -ii; after the user's flags, it wins over an --out-format of theirs. */
	static const char *const mode[] = { "--dry-run", "--out-format=%i %n%L", "--info=stats2", "--checksum" };

	mig_verify_result_clear(&r->verified);
	r->verified.pvc = i;
	*st = (mig_rsync_stage){ .command = mig_rsync_command(r, mode, r->opts->verify == VS_VERIFY_CHECKSUM ? 4 : 3),
				 .fn = verify_line,
				 .ctx = &r->verified };
}

void mig_verify_stage_end(mig_run *r, const mig_rsync_stage *st)
{
	r->verified.stats = st->stats;
	r->verified.ms = st->ms;
	r->verified.ready = st->exit_code == 0;
}

/* "a, b, c and 4 more". Caller frees. */
static char *verify_paths_text(const mig_verify_result *v)
{
	vs_buf b;

	vs_buf_init(&b, 0);
	for (size_t k = 0; k < v->npaths; k++)
		vs_buf_printf(&b, "%s%s", k ? ", " : "", v->paths[k]);
	if (v->differences > (long)v->npaths)
		vs_buf_printf(&b, " and %ld more", v->differences - (long)v->npaths);
	return vs_buf_steal(&b);
}

/* One pass over plan pvc i (attempt 1, or 2 after copying again): the dry run the copy's pod made,
 * else one in a pod of its own (after a resume, or when the copy's pod could not run it); its
 * differences in r->verified, and the events around it. */
static int verify_pass(mig_run *r, size_t i, int attempt, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	mig_verify_result *v = &r->verified;
	const char *how = vs_verify_mode_name(r->opts->verify);
	json_t *paths;
	int rc = 0;

	mig_emit(r, "verify-start", json_pack("{s:s, s:s, s:s, s:i}", "namespace", p->ns, "pvc", p->name, "mode", how,
					      "attempt", attempt));
	if (!v->ready || v->pvc != i) {
		mig_rsync_stage st;
		mig_verify_stage(r, i, &st);
		rc = mig_rsync_pod(r, i, "verify", p->node, &st, 1, err);
		mig_verify_stage_end(r, &st);
	}
	v->ready = false;
	if (rc == 0 && !v->stats.seen)
		rc = vs_error_set(err, VS_EIO,
				  "claim %s/%s: the verification's rsync printed no summary, so its silence proves nothing "
				  "(does --rsync-flags silence rsync, as -q does?)",
				  p->ns, p->name);
	if (rc < 0)
		return rc;
	paths = json_array();
	for (size_t k = 0; k < v->npaths; k++)
		json_array_append_new(paths, json_string(v->paths[k]));
	mig_emit(r, "verify-done", json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:o, s:I}", "namespace", p->ns, "pvc", p->name,
					     "mode", how, "attempt", attempt, "files", (json_int_t)v->stats.files,
					     "differences", (json_int_t)v->differences, "paths", paths, "ms",
					     (json_int_t)v->ms));
	return 0;
}

int mig_verify(mig_run *r, size_t i, vs_error *err)
{
	const vs_plan_pvc *p = &r->plan->pvcs[i];
	const mig_verify_result *v = &r->verified;
	char *what = NULL;
	int rc = verify_pass(r, i, 1, err);

	if (rc < 0 || v->differences == 0)
		goto done;
	what = verify_paths_text(v);
	mig_say(r, "warning", "claim %s/%s: %ld difference%s between the source and its copy (%s); copying again", p->ns,
		p->name, v->differences, v->differences == 1 ? "" : "s", what);
	rc = mig_copy_with(r, i, r->opts->verify, err);
	if (rc == 0)
		rc = verify_pass(r, i, 2, err);
	if (rc < 0 || v->differences == 0)
		goto done;
	free(what);
	what = verify_paths_text(v);
	rc = vs_error_set(err, VS_EIO,
			  "claim %s/%s: %ld difference%s between the source and its copy remain after copying again "
			  "(--verify=%s): %s; the claim was not switched",
			  p->ns, p->name, v->differences, v->differences == 1 ? "" : "s",
			  vs_verify_mode_name(r->opts->verify), what);
done:
	free(what);
	mig_verify_result_clear(&r->verified);
	return rc;
}
