/*
 * The journal ConfigMap: data.plan, data.steps, data.objects and data.phase as JSON text, labels
 * to find it, and annotations for the lease (holder, last renewal) and for abort requests. While
 * this process holds the lease its in-memory state is the truth; every write replaces the
 * ConfigMap's data under a resourceVersion precondition, and a conflict reloads the ConfigMap to
 * check the lease before trying again with the fresh version (keeping the annotations someone
 * else may have added, such as an abort request). A thread renews the lease while the journal is
 * open, so a holder that dies stops renewing and others may take over once it expires.
 */
#include "journal/journal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOURNAL_LABEL	       "volshift.io/migration"
#define JOURNAL_HOLDER	       "volshift.io/holder"
#define JOURNAL_RENEWED	       "volshift.io/lease-renewed"
#define JOURNAL_ABORT	       "volshift.io/abort"
#define JOURNAL_ABORT_BY       "volshift.io/abort-by"
#define JOURNAL_RENEW_EVERY_MS (VS_JOURNAL_LEASE_MS / 3)
#define JOURNAL_WRITE_TRIES    5

struct vs_journal {
	vs_kube_client *c;
	char *ns, *id, *name, *holder;
	json_t *cm;	  /* the ConfigMap as last written or read; replaced, never changed in place */
	json_t *state;	  /* {plan, steps, objects, phase, error} decoded */
	bool lost;	  /* another volshift took the lease */
	uint64_t changes; /* changes made to state so far */
	uint64_t written; /* ... of which the ConfigMap holds this many */
	bool writing;	  /* a thread is writing the ConfigMap (without holding mu) */
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* the renewer's sleep */
	pthread_cond_t flushed; /* a write ended */
	pthread_t renewer;
	bool renewing, stop;
};

static const vs_kube_resource journal_namespaces = { "", "v1", "namespaces", false };

static char *journal_name(const char *id)
{
	return vs_xasprintf("volshift-%s", id);
}

static json_t *journal_parse(const json_t *cm, const char *key, json_t *dflt)
{
	const char *text = vs_json_str(json_object_get(cm, "data"), key);
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;

	if (!v)
		return dflt;
	json_decref(dflt);
	return v;
}

static bool journal_held_by_other(const json_t *cm, const char *holder);

json_t *vs_journal_decode(const json_t *cm)
{
	const json_t *labels = vs_json_path(cm, "metadata.labels");
	const char *phase = vs_json_str(json_object_get(cm, "data"), "phase");

	return json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:s?, s:b, s:s, s:s, s:b}", "id",
			 json_string_value(json_object_get(labels, JOURNAL_LABEL)), "phase", phase, "error",
			 vs_json_str(json_object_get(cm, "data"), "error"), "holder",
			 vs_json_annotation(cm, JOURNAL_HOLDER), "leaseRenewed",
			 vs_json_annotation(cm, JOURNAL_RENEWED), "created",
			 vs_json_str(cm, "metadata.creationTimestamp"), "plan",
			 journal_parse(cm, "plan", json_object()), "steps", journal_parse(cm, "steps", json_object()),
			 "objects", journal_parse(cm, "objects", json_object()), "namespace", vs_kube_obj_namespace(cm),
			 "abortRequested", vs_json_annotation(cm, JOURNAL_ABORT) != NULL, "abortRequestedAt",
			 vs_json_annotation(cm, JOURNAL_ABORT) ?: "", "abortRequestedBy",
			 vs_json_annotation(cm, JOURNAL_ABORT_BY) ?: "", "leaseLive", journal_held_by_other(cm, ""));
}

static void journal_set_annotation(json_t *cm, const char *key, const char *value)
{
	json_t *ann = vs_json_path(cm, "metadata.annotations");

	if (!ann) {
		vs_json_set_path(cm, "metadata.annotations", json_object());
		ann = vs_json_path(cm, "metadata.annotations");
	}
	json_object_set_new(ann, key, json_string(value));
}

/* What to write, under j->mu: the ConfigMap with the in-memory state as its data and our lease in
 * its annotations. j->cm is not changed. Caller owns the result. */
static json_t *journal_body(const vs_journal *j)
{
	static const char *keys[] = { "plan", "steps", "objects" };
	json_t *body = json_copy(j->cm), *data = json_object();
	char now[32];

	json_object_set_new(body, "metadata", json_deep_copy(json_object_get(j->cm, "metadata")));
	for (size_t k = 0; k < 3; k++) {
		char *text = json_dumps(json_object_get(j->state, keys[k]), JSON_COMPACT | JSON_SORT_KEYS);
		json_object_set_new(data, keys[k], json_string(text));
		free(text);
	}
	json_object_set(data, "phase", json_object_get(j->state, "phase"));
	if (json_is_string(json_object_get(j->state, "error")))
		json_object_set(data, "error", json_object_get(j->state, "error"));
	json_object_set_new(body, "data", data);
	vs_time_format(vs_time_now(), now);
	journal_set_annotation(body, JOURNAL_HOLDER, j->holder);
	journal_set_annotation(body, JOURNAL_RENEWED, now);
	return body;
}

/* True when holder ("HOST/PID/RANDOM") names a process of this machine that no longer exists: a
 * volshift killed here does not make the next run on the same machine wait for its lease. */
static bool journal_holder_gone(const char *holder)
{
	char host[256] = "";
	const char *slash = strchr(holder, '/');
	long pid;

	gethostname(host, sizeof(host) - 1);
	if (!slash || (size_t)(slash - holder) != strlen(host) || strncmp(holder, host, strlen(host)) != 0)
		return false;
	pid = strtol(slash + 1, NULL, 10);
	return pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* True when cm's lease belongs to someone else, alive as far as can be told, and has not expired. */
static bool journal_held_by_other(const json_t *cm, const char *holder)
{
	const char *other = vs_json_annotation(cm, JOURNAL_HOLDER), *renewed = vs_json_annotation(cm, JOURNAL_RENEWED);
	int64_t at = 0;

	if (!other || !*other || strcmp(other, holder) == 0 || journal_holder_gone(other))
		return false;
	if (!renewed || vs_time_parse(renewed, &at, NULL) < 0)
		return false;
	return (vs_time_now() - at) * 1000 < VS_JOURNAL_LEASE_MS;
}

/*
 * Write the state, entered and left under j->mu but without it during the requests: PUT with the
 * last resourceVersion; on conflict reload, check the lease, retry. One thread writes at a time
 * (j->writing), so j->cm is replaced by the writer only.
 */
static int journal_put(vs_journal *j, vs_error *err)
{
	int rc = 0;

	if (j->lost)
		return vs_error_set(err, VS_EINVAL, "migration %s: another volshift took it over; this one stops",
				    j->id);
	for (int attempt = 0; attempt < JOURNAL_WRITE_TRIES; attempt++) {
		json_t *body = journal_body(j), *out = NULL, *fresh = NULL;
		pthread_mutex_unlock(&j->mu);
		rc = vs_kube_update(j->c, &VS_KUBE_CONFIGMAPS, j->ns, body, &out, err);
		bool conflict = rc < 0 && vs_error_is(err, "Conflict");
		if (conflict)
			rc = vs_kube_get(j->c, &VS_KUBE_CONFIGMAPS, j->ns, j->name, &fresh, err);
		pthread_mutex_lock(&j->mu);
		json_decref(body);
		if (rc == 0 && !conflict) {
			json_decref(j->cm);
			j->cm = out;
			return 0;
		}
		if (rc < 0)
			break;
		const char *holder = vs_json_annotation(fresh, JOURNAL_HOLDER);
		if (holder && strcmp(holder, j->holder) != 0) {
			j->lost = true;
			rc = vs_error_set(err, VS_EINVAL, "migration %s was taken over by %s; this volshift stops",
					  j->id, holder);
			json_decref(fresh);
			break;
		}
		json_decref(j->cm);
		j->cm = fresh; /* keeps annotations others added (abort) and the fresh resourceVersion */
	}
	return rc < 0 ? vs_error_wrap(err, "journal %s/%s", j->ns, j->name) : 0;
}

/*
 * Under j->mu: return once the ConfigMap holds the first want changes. A thread that finds another
 * writing waits for it; that write may carry its changes too (threads share writes).
 */
static int journal_flush(vs_journal *j, uint64_t want, vs_error *err)
{
	int rc = 0;

	while (rc == 0 && j->written < want) {
		if (j->writing) {
			pthread_cond_wait(&j->flushed, &j->mu);
			continue;
		}
		uint64_t upto = j->changes;
		j->writing = true;
		rc = journal_put(j, err);
		j->writing = false;
		if (rc == 0 && upto > j->written)
			j->written = upto;
		pthread_cond_broadcast(&j->flushed);
	}
	return rc;
}

/* Under j->mu: write now, whatever the ConfigMap holds (the lease, a release). */
static int journal_write_locked(vs_journal *j, vs_error *err)
{
	return journal_flush(j, ++j->changes, err);
}

static void *journal_renew(void *arg)
{
	vs_journal *j = arg;
	vs_error err;

	pthread_mutex_lock(&j->mu);
	while (!j->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += JOURNAL_RENEW_EVERY_MS / 1000;
		pthread_cond_timedwait(&j->cv, &j->mu, &until);
		if (j->stop || j->lost)
			continue;
		vs_error_clear(&err);
		if (journal_write_locked(j, &err) < 0 && err.code != VS_EUNAVAILABLE) /* the client said that one */
			vs_warn("journal: renewing the lease of %s: %s", j->id, err.message);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

static vs_journal *journal_new(vs_kube_client *c, const char *ns, const char *id)
{
	vs_journal *j = vs_xcalloc(1, sizeof(*j));
	char host[64] = "unknown";

	gethostname(host, sizeof(host) - 1);
	j->c = c;
	j->ns = vs_xstrdup(ns);
	j->id = vs_xstrdup(id);
	j->name = journal_name(id);
	j->holder = vs_xasprintf("%s/%d/%08" PRIx64, host, (int)getpid(), vs_rand_u64() & 0xffffffffu);
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	pthread_cond_init(&j->flushed, NULL);
	return j;
}

static void journal_start_renewing(vs_journal *j)
{
	j->renewing = pthread_create(&j->renewer, NULL, journal_renew, j) == 0;
}

/*
 * Create obj (borrowed) in ns, again while the API fails transiently (vs_kube_retry_next). A create
 * whose answer was lost may have taken effect: AlreadyExists then reads the object, which is ours
 * when holder is NULL (any object of that name will do) or its holder annotation is holder. *out
 * (out may be NULL) receives the object.
 */
static int journal_create(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const json_t *obj,
			  const char *holder, json_t **out, vs_error *err)
{
	vs_kube_retry retry = { 0 };
	json_t *have = NULL;
	int64_t delay;
	int rc = 0;

	for (;;) {
		rc = vs_kube_create(c, res, ns, obj, out, err);
		if (rc < 0 && vs_error_is(err, "AlreadyExists") && (retry.failures > 0 || !holder)) {
			rc = vs_kube_get(c, res, ns, vs_kube_obj_name(obj), &have, err);
			const char *there = rc == 0 ? vs_json_annotation(have, JOURNAL_HOLDER) : NULL;
			if (rc == 0 && holder && (!there || strcmp(there, holder) != 0))
				rc = vs_error_set(err, VS_EINVAL, "%s already exists and is not this run's",
						  vs_kube_obj_name(obj));
		}
		if (rc == 0 || !vs_kube_retry_next(c, &retry, err, &delay))
			break;
		vs_sleep_ms(delay);
	}
	if (rc == 0 && have && out)
		*out = have;
	else
		json_decref(have);
	return rc;
}

static int journal_ensure_namespace(vs_kube_client *c, const char *ns, vs_error *err)
{
	json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", ns);
	int rc = journal_create(c, &journal_namespaces, NULL, obj, NULL, NULL, err);

	json_decref(obj);
	return rc < 0 ? vs_error_wrap(err, "namespace %s for the journal (--state-namespace)", ns) : 0;
}

int vs_journal_create(vs_kube_client *c, const char *ns, const json_t *plan, vs_journal **out, vs_error *err)
{
	char id[16];
	vs_journal *j;
	json_t *created = NULL;
	int rc = journal_ensure_namespace(c, ns, err);

	*out = NULL;
	if (rc < 0)
		return rc;
	snprintf(id, sizeof(id), "%08" PRIx64, vs_rand_u64() & 0xffffffffu);
	j = journal_new(c, ns, id);
	j->state = json_pack("{s:O, s:{}, s:{}, s:s}", "plan", plan, "steps", "objects", "phase", "running");
	j->cm = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata",
			  "name", j->name, "namespace", ns, "labels", "app.kubernetes.io/managed-by", "volshift",
			  JOURNAL_LABEL, id);
	json_t *body = journal_body(j);
	rc = journal_create(c, &VS_KUBE_CONFIGMAPS, ns, body, j->holder, &created, err);
	json_decref(body);
	if (rc < 0) {
		vs_journal_free(j);
		return vs_error_wrap(err, "create journal %s/volshift-%s", ns, id);
	}
	json_decref(j->cm);
	j->cm = created;
	journal_start_renewing(j);
	*out = j;
	return 0;
}

int vs_journal_open(vs_kube_client *c, const char *ns, const char *id, bool force, vs_journal **out, vs_error *err)
{
	vs_journal *j = journal_new(c, ns, id);
	json_t *decoded;
	int rc = vs_kube_get(c, &VS_KUBE_CONFIGMAPS, ns, j->name, &j->cm, err);

	*out = NULL;
	if (rc < 0) {
		vs_journal_free(j);
		return vs_error_wrap(err, "migration %s", id);
	}
	if (!force && journal_held_by_other(j->cm, j->holder)) {
		rc = vs_error_set(
			err, VS_EINVAL,
			"migration %s is being run by %s (lease renewed %s, it expires %ds later); wait for it, or "
			"pass --force if that volshift is gone",
			id, vs_json_annotation(j->cm, JOURNAL_HOLDER), vs_json_annotation(j->cm, JOURNAL_RENEWED),
			VS_JOURNAL_LEASE_MS / 1000);
		vs_journal_free(j);
		return rc;
	}
	decoded = vs_journal_decode(j->cm);
	j->state = json_pack("{s:O, s:O, s:O, s:s}", "plan", json_object_get(decoded, "plan"), "steps",
			     json_object_get(decoded, "steps"), "objects", json_object_get(decoded, "objects"), "phase",
			     vs_json_str_or(decoded, "phase", "running"));
	json_decref(decoded);
	pthread_mutex_lock(&j->mu);
	rc = journal_write_locked(j, err); /* takes the lease */
	pthread_mutex_unlock(&j->mu);
	if (rc < 0) {
		vs_journal_free(j);
		return rc;
	}
	journal_start_renewing(j);
	*out = j;
	return 0;
}

void vs_journal_free(vs_journal *j)
{
	if (!j)
		return;
	if (j->renewing) {
		pthread_mutex_lock(&j->mu);
		j->stop = true;
		pthread_cond_signal(&j->cv);
		pthread_mutex_unlock(&j->mu);
		pthread_join(j->renewer, NULL);
	}
	if (j->cm && j->state && !j->lost) {
		/* give the lease back: an empty holder lets the next volshift in at once */
		vs_error err;
		pthread_mutex_lock(&j->mu);
		free(j->holder);
		j->holder = vs_xstrdup("");
		vs_error_clear(&err);
		journal_write_locked(j, &err);
		pthread_mutex_unlock(&j->mu);
	}
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	pthread_cond_destroy(&j->flushed);
	json_decref(j->cm);
	json_decref(j->state);
	free(j->ns), free(j->id), free(j->name), free(j->holder);
	free(j);
}

const char *vs_journal_namespace(const vs_journal *j)
{
	return j->ns;
}

void vs_journal_discard(vs_journal *j)
{
	vs_error err;

	if (!j)
		return;
	pthread_mutex_lock(&j->mu);
	j->lost = true; /* nothing more to write, not even the lease's renewal or release */
	pthread_mutex_unlock(&j->mu);
	vs_error_clear(&err);
	if (vs_kube_delete(j->c, &VS_KUBE_CONFIGMAPS, j->ns, j->name, NULL, NULL, &err) < 0)
		vs_warn("journal %s/%s: %s", j->ns, j->name, err.message);
	vs_journal_free(j);
}

int vs_journal_peek(vs_kube_client *c, const char *ns, const char *id, json_t **out, vs_error *err)
{
	char *name = journal_name(id);
	json_t *cm = NULL;
	int rc = vs_kube_get(c, &VS_KUBE_CONFIGMAPS, ns, name, &cm, err);

	*out = NULL;
	if (rc < 0 && vs_error_is(err, "NotFound")) {
		vs_error_clear(err);
		rc = 0;
	} else if (rc == 0) {
		*out = vs_journal_decode(cm);
	}
	json_decref(cm);
	free(name);
	return rc;
}

const char *vs_journal_id(const vs_journal *j)
{
	return j->id;
}

/* state[section][key] (section NULL: state[key]), looked up under the lock. */
static const json_t *journal_get(const vs_journal *j, const char *section, const char *key)
{
	vs_journal *mj = (vs_journal *)j; /* the lock is not part of the journal's value */
	const json_t *v;

	pthread_mutex_lock(&mj->mu);
	v = json_object_get(section ? json_object_get(j->state, section) : j->state, key);
	pthread_mutex_unlock(&mj->mu);
	return v;
}

const json_t *vs_journal_plan(const vs_journal *j)
{
	return journal_get(j, NULL, "plan");
}

const json_t *vs_journal_step_record(const vs_journal *j, const char *key)
{
	return journal_get(j, "steps", key);
}

const char *vs_journal_step_state(const vs_journal *j, const char *key)
{
	return vs_json_str(vs_journal_step_record(j, key), "state");
}

const char *vs_journal_phase(const vs_journal *j)
{
	const char *phase = json_string_value(journal_get(j, NULL, "phase"));

	return phase ? phase : "running";
}

const json_t *vs_journal_object(const vs_journal *j, const char *key)
{
	return journal_get(j, "objects", key);
}

int vs_journal_withdraw_abort(vs_journal *j, vs_error *err)
{
	json_t *anns;
	int rc = 0;

	pthread_mutex_lock(&j->mu);
	anns = vs_json_path(j->cm, "metadata.annotations");
	if (json_object_get(anns, JOURNAL_ABORT) || json_object_get(anns, JOURNAL_ABORT_BY)) {
		json_object_del(anns, JOURNAL_ABORT);
		json_object_del(anns, JOURNAL_ABORT_BY);
		rc = journal_write_locked(j, err);
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

bool vs_journal_abort_requested(vs_journal *j)
{
	bool asked;

	pthread_mutex_lock(&j->mu);
	asked = vs_json_annotation(j->cm, JOURNAL_ABORT) != NULL;
	pthread_mutex_unlock(&j->mu);
	return asked;
}

/*
 * Set state[section][key] (section NULL: state[key]) to value (stolen), j->mu held; then, when
 * durable, return only once the ConfigMap holds it. A change that is not durable goes with the
 * next write.
 */
static int journal_change_locked(vs_journal *j, const char *section, const char *key, json_t *value, bool durable,
				 vs_error *err)
{
	json_object_set_new(section ? json_object_get(j->state, section) : j->state, key, value);
	j->changes++;
	return durable ? journal_flush(j, j->changes, err) : 0;
}

/* journal_change_locked, taking the lock. */
static int journal_change(vs_journal *j, const char *section, const char *key, json_t *value, bool durable,
			  vs_error *err)
{
	int rc;

	pthread_mutex_lock(&j->mu);
	rc = journal_change_locked(j, section, key, value, durable, err);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

/* The record of step key once it is in state, keeping what earlier records said. Under the lock. */
static json_t *journal_step_record(const vs_journal *j, const char *key, const char *state, const char *error,
				   const json_t *extra)
{
	const json_t *old = json_object_get(json_object_get(j->state, "steps"), key);
	json_t *rec = old ? json_deep_copy(old) : json_object();
	char now[32];

	vs_time_format(vs_time_now(), now);
	if (!json_is_string(json_object_get(rec, "started")))
		json_object_set_new(rec, "started", json_string(now));
	if (!json_is_integer(json_object_get(rec, "startedMs")))
		json_object_set_new(rec, "startedMs", json_integer(vs_time_wall_ms()));
	json_object_set_new(rec, "state", json_string(state));
	json_object_set_new(rec, "time", json_string(now));
	json_object_del(rec, "error");
	if (error)
		json_object_set_new(rec, "error", json_string(error));
	if (extra)
		json_object_update(rec, (json_t *)extra);
	return rec;
}

int vs_journal_step(vs_journal *j, const char *key, const char *state, const char *error, const json_t *extra,
		    bool durable, vs_error *err)
{
	int rc;

	pthread_mutex_lock(&j->mu);
	rc = journal_change_locked(j, "steps", key, journal_step_record(j, key, state, error, extra), durable, err);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int vs_journal_forget_step(vs_journal *j, const char *key, bool durable, vs_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&j->mu);
	if (json_object_del(json_object_get(j->state, "steps"), key) == 0) {
		j->changes++;
		rc = durable ? journal_flush(j, j->changes, err) : 0;
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int vs_journal_save_object(vs_journal *j, const char *key, const json_t *obj, bool durable, vs_error *err)
{
	return journal_change(j, "objects", key, json_deep_copy(obj), durable, err);
}

int vs_journal_set_phase(vs_journal *j, const char *phase, const char *error, vs_error *err)
{
	int rc;

	pthread_mutex_lock(&j->mu);
	json_object_set_new(j->state, "error", error ? json_string(error) : json_null());
	rc = journal_change_locked(j, NULL, "phase", json_string(phase), true, err);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

static int journal_newest_first(const void *a, const void *b)
{
	const char *ta = vs_json_str_or(*(json_t *const *)a, "metadata.creationTimestamp", "");
	const char *tb = vs_json_str_or(*(json_t *const *)b, "metadata.creationTimestamp", "");

	return strcmp(tb, ta);
}

int vs_journal_list(vs_kube_client *c, const char *ns, json_t **out, vs_error *err)
{
	vs_kube_list_opts lo = { .label_selector = JOURNAL_LABEL };
	json_t *items, **arr;
	size_t n;
	int rc = vs_kube_list(c, &VS_KUBE_CONFIGMAPS, ns, &lo, out, err);

	if (rc < 0 && vs_error_is(err, "NotFound")) {
		vs_error_clear(err);
		*out = json_pack("{s:[]}", "items");
		return 0;
	}
	if (rc < 0)
		return rc;
	items = json_object_get(*out, "items");
	n = json_array_size(items);
	arr = vs_xcalloc(n + 1, sizeof(json_t *));
	for (size_t i = 0; i < n; i++)
		arr[i] = json_incref(json_array_get(items, i));
	qsort(arr, n, sizeof(json_t *), journal_newest_first);
	json_array_clear(items);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, arr[i]);
	free(arr);
	return 0;
}

int vs_journal_request_abort(vs_kube_client *c, const char *ns, const char *id, const char *by, vs_error *err)
{
	char *name = journal_name(id), now[32];
	json_t *patch;
	int rc;

	vs_time_format(vs_time_now(), now);
	patch = json_pack("{s:{s:{s:s, s:s}}}", "metadata", "annotations", JOURNAL_ABORT, now, JOURNAL_ABORT_BY, by);
	rc = vs_kube_patch(c, &VS_KUBE_CONFIGMAPS, ns, name, VS_KUBE_PATCH_MERGE, patch, NULL, err);
	json_decref(patch);
	free(name);
	return rc < 0 ? vs_error_wrap(err, "migration %s", id) : 0;
}
