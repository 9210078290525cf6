/*
 * The job step kind: a batch/v1 Job run to completion, its log kept in the run, the files it made
 * (artifacts) copied out before the Job goes. The Job's name comes from the run and the step, so a
 * resumed run finds it again instead of starting a second one; the attempt it belongs to is in a
 * label, so a Job that failed is deleted and run again only when the step is run again after that
 * failure (`volshift resume`). Artifacts are read by a pod that mounts the Job's volumes and prints
 * the file in base64 (there is no copying out of a finished pod through the API), then kept in
 * Secrets owned by the run's journal; logs in ConfigMaps owned by it: both go with the run.
 */
#include "engine/engine_int.h"

#include <stdlib.h>
#include <string.h>

#define JOB_LABEL_ATTEMPT "volshift.io/attempt"
#define JOB_LOG_MAX	  ((size_t)256 * 1024)
#define JOB_LOG_EVENTS	  200
#define JOB_READ_MS	  (5 * 60 * 1000)

/* "vs-ID-STEP" + suffix, cut to a valid object name. Caller frees. */
static char *job_object_name(const eng_step *s, const char *suffix)
{
	char *name = vs_xasprintf("vs-%s-%s%s", vs_journal_id(s->run->j), s->name, suffix);

	if (strlen(name) > 63)
		name[63] = '\0';
	for (size_t n = strlen(name); n > 0 && name[n - 1] == '-'; n--)
		name[n - 1] = '\0';
	return name;
}

/* The label key of obj (keys hold dots, so not by path), or NULL. Borrowed. */
static const char *job_label(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(vs_json_path(obj, "metadata.labels"), key));
}

static json_t *job_labels(const eng_step *s)
{
	char attempt[24];

	snprintf(attempt, sizeof(attempt), "%lld", s->attempt);
	return json_pack("{s:s, s:s, s:s}", ENG_LABEL_RUN, vs_journal_id(s->run->j), ENG_LABEL_STEP, s->name,
			 JOB_LABEL_ATTEMPT, attempt);
}

/* Create obj in ns, or replace the one of that name (a write cut short by a crash). */
static int job_put(eng_run *r, const vs_kube_resource *res, const char *ns, json_t *obj, vs_error *err)
{
	json_t *now = NULL;
	int rc = vs_kube_create(r->c, res, ns, obj, NULL, err);

	if (rc < 0 && vs_error_is(err, "AlreadyExists")) {
		vs_error_clear(err);
		rc = vs_kube_get(r->c, res, ns, vs_kube_obj_name(obj), &now, err);
		if (rc == 0) {
			vs_json_set_path(obj, "metadata.resourceVersion",
					 json_string(vs_kube_obj_resource_version(now)));
			rc = vs_kube_update(r->c, res, ns, obj, NULL, err);
		}
	}
	json_decref(now);
	return rc;
}

/* Delete ns/name of res (gone already is fine) and wait until it is. */
static int job_delete(eng_run *r, const vs_kube_resource *res, const char *ns, const char *name, vs_error *err)
{
	vs_kube_delete_opts opts = { .propagation = "Background" };
	int rc = vs_kube_delete(r->c, res, ns, name, &opts, NULL, err);

	if (rc < 0 && vs_error_is(err, "NotFound")) {
		vs_error_clear(err);
		rc = 0;
	}
	return rc == 0 ? eng_wait_gone(r, res, ns, name, ENG_WAIT_DEFAULT_MS, err) : rc;
}

static const json_t *job_condition(const json_t *job, const char *type)
{
	const json_t *c;
	size_t i;

	json_array_foreach (vs_json_path(job, "status.conditions"), i, c)
		if (strcmp(vs_json_str_or(c, "type", ""), type) == 0 &&
		    strcmp(vs_json_str_or(c, "status", ""), "True") == 0)
			return c;
	return NULL;
}

static bool job_finished(const json_t *job, char **seen, void *ctx)
{
	(void)ctx;
	if (!job) {
		*seen = vs_xstrdup("the Job is gone");
		return true;
	}
	*seen = vs_xasprintf("%lld active, %lld succeeded, %lld failed", vs_json_int(job, "status.active", 0),
			     vs_json_int(job, "status.succeeded", 0), vs_json_int(job, "status.failed", 0));
	return job_condition(job, "Complete") || job_condition(job, "Failed");
}

/* ---- logs ------------------------------------------------------------------------------------------- */

typedef struct job_log {
	eng_step *s;
	vs_buf text;
	size_t lines;
} job_log;

static int job_log_line(const char *line, size_t len, void *ctx)
{
	job_log *l = ctx;

	if (l->text.len + len + 1 < JOB_LOG_MAX) {
		vs_buf_append(&l->text, line, len);
		vs_buf_puts(&l->text, "\n");
	}
	if (l->lines++ < JOB_LOG_EVENTS)
		eng_emit(l->s->run,
			 json_pack("{s:s, s:s, s:s%}", "event", "log", "step", l->s->name, "line", line, len));
	return 0;
}

/* The log of every pod of the Job, kept in a ConfigMap owned by the run. */
static int job_keep_logs(eng_step *s, const char *ns, const char *job, vs_error *err)
{
	char *sel = vs_xasprintf("job-name=%s", job), *name = job_object_name(s, "-log");
	vs_kube_list_opts lo = { .label_selector = sel };
	job_log l = { .s = s };
	json_t *pods = NULL, *pod, *cm = NULL, *owner = NULL;
	size_t i;
	int rc = vs_kube_list(s->run->c, &VS_KUBE_PODS, ns, &lo, &pods, err);

	vs_buf_init(&l.text, JOB_LOG_MAX);
	json_array_foreach (json_object_get(pods, "items"), i, pod) {
		vs_kube_log_opts opts = { .timeout_ms = 60000 };
		vs_error e;
		vs_error_clear(&e);
		vs_buf_printf(&l.text, "==> pod %s <==\n", vs_kube_obj_name(pod));
		if (vs_kube_logs(s->run->c, ns, vs_kube_obj_name(pod), &opts, job_log_line, &l, &e) < 0)
			vs_buf_printf(&l.text, "(log not available: %s)\n", e.message);
	}
	if (rc == 0)
		rc = eng_owner_ref(s->run, &owner, err);
	if (rc == 0) {
		cm = json_pack("{s:s, s:s, s:{s:s, s:o, s:[O]}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
			       "metadata", "name", name, "labels", job_labels(s), "ownerReferences", owner, "data",
			       "log", l.text.data ? l.text.data : "");
		rc = job_put(s->run, &VS_KUBE_CONFIGMAPS, vs_journal_namespace(s->run->j), cm, err);
	}
	json_decref(pods);
	json_decref(cm);
	json_decref(owner);
	vs_buf_free(&l.text);
	free(sel);
	free(name);
	return rc < 0 ? vs_error_wrap(err, "keeping the log of Job %s/%s", ns, job) : 0;
}

/* ---- artifacts ------------------------------------------------------------------------------------- */

/* A pod that mounts the volumes of the Job's pod where it does and prints path in base64. */
static json_t *job_reader_pod(const eng_step *s, const char *name, const json_t *spec, const char *path)
{
	const json_t *tmpl = vs_json_path(spec, "template.spec"),
		     *c0 = json_array_get(json_object_get(tmpl, "containers"), 0);
	json_t *pod =
		json_pack("{s:s, s:s, s:{s:s, s:o}, s:{s:s, s:O?, s:O?, s:O?, s:[{s:s, s:s, s:[s, s, s, s], s:O?}]}}",
			  "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "labels", job_labels(s), "spec",
			  "restartPolicy", "Never", "volumes", json_object_get(tmpl, "volumes"), "nodeSelector",
			  json_object_get(tmpl, "nodeSelector"), "tolerations", json_object_get(tmpl, "tolerations"),
			  "containers", "name", "read", "image", vs_json_str_or(c0, "image", "busybox"), "command",
			  "sh", "-c", "exec base64 \"$0\"", path, "volumeMounts", json_object_get(c0, "volumeMounts"));
	json_t *ps = json_object_get(pod, "spec"), *c = json_array_get(json_object_get(ps, "containers"), 0), *v;
	const char *key;
	void *tmp;

	json_object_foreach_safe(ps, tmp, key, v) if (json_is_null(v)) json_object_del(ps, key);
	if (json_is_null(json_object_get(c, "volumeMounts")))
		json_object_del(c, "volumeMounts");
	return pod;
}

typedef struct job_b64 {
	vs_buf text;
} job_b64;

static int job_b64_line(const char *line, size_t len, void *ctx)
{
	job_b64 *b = ctx;

	return vs_buf_append(&b->text, line, len) < 0 ? 1 : 0;
}

/* Read artifact path through a reader pod into *data (base64 text; caller frees). */
static int job_read_file(eng_step *s, const char *ns, const json_t *spec, const char *path, char **data, vs_error *err)
{
	char *name = job_object_name(s, "-read");
	json_t *pod = job_reader_pod(s, name, spec, path), *last = NULL;
	vs_kube_wait_opts wo = eng_wait_opts(s->run, JOB_READ_MS);
	job_b64 b;
	int rc = job_delete(s->run, &VS_KUBE_PODS, ns, name, err); /* one a crash left */

	*data = NULL;
	vs_buf_init(&b.text, (size_t)64 << 20);
	if (rc == 0)
		rc = vs_kube_create(s->run->c, &VS_KUBE_PODS, ns, pod, NULL, err);
	if (rc == 0)
		rc = vs_kube_pod_wait_log(s->run->c, ns, name, &wo, job_b64_line, &b, &last, err);
	if (rc == 0 && strcmp(vs_json_str_or(last, "status.phase", ""), "Succeeded") != 0)
		rc = vs_error_set(err, VS_EIO,
				  "cannot read %s from the volumes of the Job's pod (it must be on one of "
				  "them): %.200s",
				  path, b.text.data ? b.text.data : "no output");
	if (rc == 0)
		*data = vs_buf_steal(&b.text);
	if (rc == 0)
		rc = job_delete(s->run, &VS_KUBE_PODS, ns, name, err);
	vs_buf_free(&b.text);
	json_decref(pod);
	json_decref(last);
	free(name);
	return rc;
}

/* Artifact i: read and kept in a Secret owned by the run. */
static int job_keep_artifact(eng_step *s, const char *ns, const json_t *spec, const json_t *art, size_t i,
			     vs_error *err)
{
	char suffix[24], *name, *data = NULL;
	json_t *secret = NULL, *owner = NULL;
	int rc;

	snprintf(suffix, sizeof(suffix), "-%zu", i);
	name = job_object_name(s, suffix);
	rc = job_read_file(s, ns, spec, vs_json_str(art, "path"), &data, err);
	if (rc == 0) {
		unsigned char *raw = NULL;
		size_t len = 0;
		rc = vs_base64_decode(data, &raw, &len, err); /* the pod's output is checked before it is kept */
		free(data);
		data = rc == 0 ? vs_base64_encode(raw, len) : NULL;
		free(raw);
	}
	if (rc == 0)
		rc = eng_owner_ref(s->run, &owner, err);
	if (rc == 0) {
		secret = json_pack("{s:s, s:s, s:{s:s, s:o, s:{s:s, s:s}, s:[O]}, s:s, s:{s:s}}", "apiVersion", "v1",
				   "kind", "Secret", "metadata", "name", name, "labels", job_labels(s), "annotations",
				   ENG_ANN_ARTIFACT, vs_json_str(art, "to"), ENG_ANN_PATH, vs_json_str(art, "path"),
				   "ownerReferences", owner, "type", "Opaque", "data", "data", data);
		rc = job_put(s->run, &VS_KUBE_SECRETS, vs_journal_namespace(s->run->j), secret, err);
	}
	json_decref(secret);
	json_decref(owner);
	free(data);
	free(name);
	return rc < 0 ? vs_error_wrap(err, "artifact %s", vs_json_str(art, "path")) : 0;
}

/* ---- the step --------------------------------------------------------------------------------------- */

/* The Job of this attempt, created when missing; one of an earlier, failed attempt is deleted. */
static int job_start(eng_step *s, const char *ns, const char *name, const json_t *def, vs_error *err)
{
	json_t *job = NULL, *body = NULL;
	char attempt[24];
	int rc = vs_kube_get(s->run->c, &VS_KUBE_JOBS, ns, name, &job, err);

	snprintf(attempt, sizeof(attempt), "%lld", s->attempt);
	if (rc < 0 && vs_error_is(err, "NotFound")) {
		vs_error_clear(err);
		rc = 0;
	} else if (rc == 0 && strcmp(job_label(job, JOB_LABEL_ATTEMPT) ?: "", attempt) != 0) {
		eng_emit(s->run,
			 json_pack("{s:s, s:s, s:s, s:s}", "event", "step", "step", s->name, "state", "retry",
				   "message", "deleting the Job of the failed attempt before running it again"));
		rc = job_delete(s->run, &VS_KUBE_JOBS, ns, name, err);
		json_decref(job);
		job = NULL;
	}
	if (rc == 0 && !job) {
		body = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:O}", "apiVersion", "batch/v1", "kind", "Job",
				 "metadata", "name", name, "namespace", ns, "labels", job_labels(s), "spec",
				 json_object_get(def, "spec"));
		rc = vs_kube_create(s->run->c, &VS_KUBE_JOBS, ns, body, NULL, err);
	}
	json_decref(job);
	json_decref(body);
	return rc;
}

/* Run the Job to its end, keep its log; fail when it failed. */
static int job_run(eng_step *s, const char *ns, const char *name, const json_t *def, vs_error *err)
{
	json_t *job = NULL;
	vs_kube_wait_opts wo = eng_wait_opts(s->run, eng_timeout_ms(def, ENG_JOB_DEFAULT_MS));
	int rc = job_start(s, ns, name, def, err);
	const json_t *failed;

	if (rc == 0)
		rc = vs_kube_wait_object(s->run->c, &VS_KUBE_JOBS, ns, name, &wo, job_finished, NULL, &job, err);
	if (rc == 0)
		rc = job_keep_logs(s, ns, name, err);
	if (rc == 0 && !job)
		rc = vs_error_set(err, VS_EAPI, "Job %s/%s was deleted before it finished", ns, name);
	else if (rc == 0 && (failed = job_condition(job, "Failed")) != NULL)
		rc = vs_error_set(err, VS_EIO,
				  "Job %s/%s failed (%s: %s); its log is kept ('volshift artifacts' writes it out); "
				  "'volshift resume' deletes it and runs it again",
				  ns, name, vs_json_str_or(failed, "reason", "Failed"),
				  vs_json_str_or(failed, "message", ""));
	json_decref(job);
	return rc;
}

static int job_apply(eng_step *s, const json_t *undo, vs_error *err)
{
	const json_t *def = json_object_get(s->def, "job"), *art;
	const char *ns = vs_json_str(def, "namespace");
	char *name = job_object_name(s, "");
	json_t *extra = NULL;
	size_t i;
	int rc = 0;

	(void)undo;
	if (!json_is_true(json_object_get(vs_journal_step_record(s->run->j, s->key), "collected"))) {
		rc = job_run(s, ns, name, def, err);
		json_array_foreach (json_object_get(def, "artifacts"), i, art)
			if (rc == 0)
				rc = job_keep_artifact(s, ns, json_object_get(def, "spec"), art, i, err);
		extra = json_pack("{s:b}", "collected", true);
		if (rc == 0)
			rc = vs_journal_step(s->run->j, s->key, VS_STEP_INTENT, NULL, extra, true, err);
	}
	if (rc == 0)
		rc = job_delete(s->run, &VS_KUBE_JOBS, ns, name, err);
	json_decref(extra);
	free(name);
	return rc;
}

/* A run stopped in the middle of the step may have left its Job and reader pod: undo removes them. */
static int job_cleanup(eng_step *s, const json_t *undo, vs_error *err)
{
	const char *ns = vs_json_str(json_object_get(s->def, "job"), "namespace");
	char *name = job_object_name(s, ""), *reader = job_object_name(s, "-read");
	int rc = job_delete(s->run, &VS_KUBE_JOBS, ns, name, err);

	(void)undo;
	if (rc == 0)
		rc = job_delete(s->run, &VS_KUBE_PODS, ns, reader, err);
	free(name);
	free(reader);
	return rc;
}

const eng_kind eng_kind_job = { .name = "job", .apply = job_apply, .cleanup = job_cleanup };

/* ---- reading back what runs kept ------------------------------------------------------------------- */

/* Every object of res in ns labelled with run id. */
static int job_list_kept(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *id, json_t **out,
			 vs_error *err)
{
	char *sel = vs_xasprintf(ENG_LABEL_RUN "=%s", id);
	vs_kube_list_opts lo = { .label_selector = sel };
	int rc = vs_kube_list(c, res, ns, &lo, out, err);

	free(sel);
	return rc;
}

int vs_engine_artifacts(vs_kube_client *c, const char *ns, const char *id, json_t **out, vs_error *err)
{
	json_t *list = NULL, *sec;
	size_t i;
	int rc = job_list_kept(c, &VS_KUBE_SECRETS, ns, id, &list, err);

	*out = json_object();
	json_array_foreach (json_object_get(list, "items"), i, sec) {
		const char *to = vs_json_annotation(sec, ENG_ANN_ARTIFACT);
		if (to)
			json_object_set_new(*out, to,
					    json_pack("{s:s?, s:s?, s:s?}", "step", job_label(sec, ENG_LABEL_STEP),
						      "path", vs_json_annotation(sec, ENG_ANN_PATH), "data",
						      vs_json_str(sec, "data.data")));
	}
	json_decref(list);
	return rc;
}

int vs_engine_logs(vs_kube_client *c, const char *ns, const char *id, json_t **out, vs_error *err)
{
	json_t *list = NULL, *cm;
	size_t i;
	int rc = job_list_kept(c, &VS_KUBE_CONFIGMAPS, ns, id, &list, err);

	*out = json_object();
	json_array_foreach (json_object_get(list, "items"), i, cm) {
		const char *step = job_label(cm, ENG_LABEL_STEP);
		if (step)
			json_object_set_new(*out, step, json_string(vs_json_str_or(cm, "data.log", "")));
	}
	json_decref(list);
	return rc;
}
