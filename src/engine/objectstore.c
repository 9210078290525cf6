/*
 * The objectStore step kind: `volshift s3 sync` as a step of a plan (seed 000 moves MinIO to Rook's
 * RGW before it moves the claims). It calls what the command calls, vs_s3_sync, with options from
 * fields named after the command's flags, and reads its credentials from Secrets when it runs: the
 * journal holds only the Secrets' names (in the plan), never a key. A sync skips every object that
 * is already equal on the destination, so running the step again after a crash is its resume. The
 * sync's counts go into the step's record; its events are passed on, wrapped in
 * {event: "object-store", step, detail}. Its undo deletes nothing: what was copied stays.
 */
#include "engine/engine_int.h"
#include "s3/s3.h"

#include <stdlib.h>
#include <string.h>

/* Read the credentials that ref ({secret: {namespace, name}}) names into *out. */
static int os_credentials(eng_run *r, const json_t *ref, vs_s3_credentials *out, vs_error *err)
{
	char *spec = vs_xasprintf("secret:%s/%s", vs_json_str_or(ref, "secret.namespace", ""),
				  vs_json_str_or(ref, "secret.name", ""));
	int rc = vs_s3_credentials_resolve(spec, NULL, r->c, out, err);

	free(spec);
	return rc;
}

/* The sync's options from the step's fields (strings borrowed from def). */
static void os_opts(const json_t *def, vs_s3_sync_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->source = vs_json_str(def, "source");
	o->dest = vs_json_str(def, "dest");
	o->region = vs_json_str(def, "region");
	o->ca_file = vs_json_str(def, "caFile");
	o->insecure = vs_json_bool(def, "insecureSkipTLSVerify", false);
	o->parallel = (int)vs_json_int(def, "parallel", 0);
	o->delete_extra = vs_json_bool(def, "delete", false);
	o->verify = strcmp(vs_json_str_or(def, "verify", "size"), "checksum") == 0 ? VS_S3_VERIFY_CHECKSUM
										   : VS_S3_VERIFY_SIZE;
}

/* A sync's event, passed on as the step's. */
static void os_event(const json_t *event, void *ctx)
{
	eng_step *s = ctx;

	eng_emit(s->run,
		 json_pack("{s:s, s:s, s:O}", "event", "object-store", "step", s->name, "detail", (json_t *)event));
}

/* The sync's counts into the step's record (written now, so that a failed or stopped sync keeps
 * them too). */
static int os_record(eng_step *s, const vs_s3_sync_result *res, vs_error *err)
{
	json_t *extra =
		json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "sync", "objects", (json_int_t)res->objects,
			  "copied", (json_int_t)res->copied, "skipped", (json_int_t)res->skipped, "deleted",
			  (json_int_t)res->deleted, "failed", (json_int_t)res->failed, "bytes", (json_int_t)res->bytes,
			  "bytesTotal", (json_int_t)res->bytes_total, "ms", (json_int_t)res->ms);
	int rc = vs_journal_step(s->run->j, s->key, VS_STEP_INTENT, NULL, extra, true, err);

	json_decref(extra);
	return rc;
}

static int os_apply(eng_step *s, const json_t *undo, vs_error *err)
{
	const json_t *def = json_object_get(s->def, "objectStore");
	const json_t *dst_ref = json_object_get(def, "destCredentials") ?: json_object_get(def, "sourceCredentials");
	vs_s3_credentials src = { 0 }, dst = { 0 };
	vs_s3_sync_result res = { 0 };
	vs_s3_sync_opts opts;
	int rc;

	(void)undo;
	os_opts(def, &opts);
	if ((rc = os_credentials(s->run, json_object_get(def, "sourceCredentials"), &src, err)) < 0) {
		vs_error_wrap(err, "source credentials");
		goto done;
	}
	if ((rc = os_credentials(s->run, dst_ref, &dst, err)) < 0) {
		vs_error_wrap(err, "destination credentials");
		goto done;
	}
	opts.source_creds = &src;
	opts.dest_creds = &dst;
	opts.on_event = os_event;
	opts.ctx = s;
	rc = vs_s3_sync(&opts, &res, err);
	if (rc == 0) {
		rc = os_record(s, &res, err);
	} else { /* the sync's error is the one to report */
		vs_error e;
		vs_error_clear(&e);
		os_record(s, &res, &e);
	}
done:
	vs_s3_credentials_wipe(&src);
	vs_s3_credentials_wipe(&dst);
	vs_s3_sync_result_clear(&res);
	return rc;
}

/* Undo deletes nothing: the objects copied stay on the destination, and the step says so. */
static int os_undo(eng_step *s, const json_t *undo, vs_error *err)
{
	const json_t *def = json_object_get(s->def, "objectStore");
	char *msg = vs_xasprintf("nothing undone: the objects copied to %s stay there (an objectStore step's undo "
				 "never deletes on the destination)",
				 vs_json_str_or(def, "dest", "?"));

	(void)undo;
	(void)err;
	eng_emit_step(s, "note", msg, NULL);
	free(msg);
	return 0;
}

const eng_kind eng_kind_object_store = { .name = "objectStore", .apply = os_apply, .undo = os_undo };
