/*
 * A journal is a few ConfigMaps, so that no migration outgrows it and a write sends only the
 * part that changed:
 *   - the head, volshift-ID: the lease (holder, last renewal) and abort requests in annotations;
 *     in its data the phase, the error, the first piece of the frozen plan's JSON text, and how
 *     many plan pieces and record shards there are. It is written when the lease, the phase or
 *     the set of shards changes;
 *   - plan pieces, volshift-ID-plan-K (K >= 1): the rest of the plan's text when it passes
 *     JOURNAL_PLAN_CHUNK, written once, at creation;
 *   - record shards, volshift-ID-records-K (K >= 0): steps and saved objects, as JSON text in
 *     data.steps and data.objects. A new record goes to the last shard until that holds
 *     JOURNAL_SHARD_FILL, then to a new one, and stays there: a change rewrites its shard alone,
 *     under the shard's resourceVersion.
 * Every piece carries the label volshift.io/migration=ID, so that one LIST reads a journal whole
 * and consistent (and `kubectl get cm -l volshift.io/migration=ID` shows it).
 *
 * While this process holds the lease its in-memory state is the truth. A write goes shard by
 * shard, oldest change first, then the head; a conflict reloads the piece and the head to check
 * the lease before trying again with the fresh version (keeping the annotations someone else may
 * have added to the head, such as an abort request). A thread renews the lease while the journal
 * is open, so a holder that dies stops renewing and others may take over once it expires.
 *
 * Crashes: every shard write is atomic, so each record is as before or as written. A new shard
 * is created before the head counts it: readers ignore shards beyond the head's count (their
 * records were never acknowledged) and the next holder deletes them. A record forgotten in one
 * shard and written again in a later one (an undone group done again) may, after a crash between
 * the two writes, be in both: the later shard wins. A journal of one ConfigMap with its records in
 * data.steps and data.objects (written by an earlier volshift) is read too, and its records move
 * to shards at the first write.
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
#define JOURNAL_PIECE	       "volshift.io/journal-piece"
#define JOURNAL_HOLDER	       "volshift.io/holder"
#define JOURNAL_RENEWED	       "volshift.io/lease-renewed"
#define JOURNAL_ABORT	       "volshift.io/abort"
#define JOURNAL_ABORT_BY       "volshift.io/abort-by"
#define JOURNAL_RENEW_EVERY_MS (VS_JOURNAL_LEASE_MS / 3)
#define JOURNAL_WRITE_TRIES    5
/* How often an open journal looks at its head for an abort request when it writes nothing. */
#define JOURNAL_REFRESH_MS 1000
/* New records go to a shard until its data passes this: a shard's write stays small, and the
 * records there may grow (errors, times) far below the API server's 1 MiB. */
#define JOURNAL_SHARD_FILL ((size_t)128 << 10)
/* The plan's text goes in pieces of this many bytes. */
#define JOURNAL_PLAN_CHUNK (VS_JOURNAL_MAX_BYTES / 2)

/* One record shard: its ConfigMap and the records it keeps. */
struct journal_shard {
	size_t index;
	json_t *cm;	  /* as last written or read; no resourceVersion until created */
	json_t *steps;	  /* key -> record: the steps kept here (values shared with the state) */
	json_t *objects;  /* key -> saved object, likewise */
	size_t bytes;	  /* its data as last written, plus the records placed in it since */
	uint64_t changed; /* the last change to its records */
	uint64_t written; /* ... of which its ConfigMap holds this many */
	uint64_t oldest;  /* the first change it does not hold yet: writes go oldest first */
};

struct vs_journal {
	vs_kube_client *c;
	char *ns, *id, *name, *holder;
	json_t *head;	   /* the head ConfigMap as last written or read; replaced, not edited, by writes */
	uint64_t head_gen; /* bumped whenever head is replaced */
	int64_t head_seen; /* when head was last read or written (monotonic ms) */
	json_t *plan_head; /* the plan's text in the head (a JSON string) */
	size_t plan_pieces;
	json_t *state; /* {plan, steps, objects, phase, error} */
	json_t *where; /* {steps: {key: shard}, objects: {key: shard}} */
	struct journal_shard **shards;
	size_t nshards;
	size_t head_shards;    /* the shards the head counts */
	bool lost;	       /* another volshift took the lease */
	uint64_t changes;      /* changes made to state so far */
	uint64_t written;      /* ... of which the cluster holds this many */
	uint64_t head_changed; /* the last change to what the head holds (lease, phase) */
	uint64_t head_written;
	bool writing; /* a thread is writing (without holding mu) */
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

/* The name of piece k of kind ("plan", "records") of journal id. Caller frees. */
static char *journal_piece_name(const char *id, const char *kind, size_t k)
{
	return vs_xasprintf("volshift-%s-%s-%zu", id, kind, k);
}

/* A count the head keeps in its data (a string), or dflt. */
static size_t journal_count(const json_t *head, const char *key, size_t dflt)
{
	const char *text = vs_json_str(json_object_get(head, "data"), key);

	return text ? strtoul(text, NULL, 10) : dflt;
}

/* data[key] of ConfigMap cm as JSON: its text parsed, or the value itself in a journal assembled
 * by journal_assemble; dflt (stolen) when missing or unreadable. Caller owns the result. */
static json_t *journal_parse(const json_t *cm, const char *key, json_t *dflt)
{
	const json_t *v = json_object_get(json_object_get(cm, "data"), key);
	json_t *parsed = json_is_string(v) ? json_loads(json_string_value(v), 0, NULL) : NULL;

	if (!parsed && (json_is_object(v) || json_is_array(v)))
		parsed = json_incref((json_t *)v);
	if (!parsed)
		return dflt;
	json_decref(dflt);
	return parsed;
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

/* ---- reading the pieces ------------------------------------------------------------------------ */

/* items (a List's, borrowed) by name: {name: ConfigMap}. Caller owns. */
static json_t *journal_by_name(const json_t *items)
{
	json_t *by = json_object(), *cm;
	size_t i;

	json_array_foreach (items, i, cm)
		json_object_set(by, vs_kube_obj_name(cm), cm);
	return by;
}

/* Piece k of kind of head's journal in by_name (borrowed), or NULL with err naming it. */
static const json_t *journal_piece(const json_t *head, const json_t *by_name, const char *kind, size_t k, vs_error *err)
{
	const char *id = json_string_value(json_object_get(vs_json_path(head, "metadata.labels"), JOURNAL_LABEL));
	char *name = journal_piece_name(id ? id : "", kind, k);
	const json_t *piece = json_object_get(by_name, name);

	if (!piece)
		vs_error_set(err, VS_EIO,
			     "journal %s/%s is incomplete: its piece %s is missing (kubectl delete configmaps -n %s -l "
			     "%s=%s removes what is left of it)",
			     vs_kube_obj_namespace(head), vs_kube_obj_name(head), name, vs_kube_obj_namespace(head),
			     JOURNAL_LABEL, id ? id : "");
	free(name);
	return piece;
}

/* The frozen plan's whole text: the head's, then the plan pieces'. NULL with err when a piece is
 * missing; "" when the head has none. Caller frees. */
static char *journal_plan_text(const json_t *head, const json_t *by_name, vs_error *err)
{
	size_t pieces = journal_count(head, "planPieces", 1);
	vs_buf text;

	vs_buf_init(&text, 0);
	vs_buf_puts(&text, vs_json_str_or(json_object_get(head, "data"), "plan", ""));
	for (size_t k = 1; k < pieces; k++) {
		const json_t *piece = journal_piece(head, by_name, "plan", k, err);
		if (!piece) {
			vs_buf_free(&text);
			return NULL;
		}
		vs_buf_puts(&text, vs_json_str_or(json_object_get(piece, "data"), "plan", ""));
	}
	vs_buf_append(&text, "", 1);
	return vs_buf_steal(&text);
}

/* The record shards head counts, in order, from by_name: a new array of borrowed ConfigMaps, or
 * NULL with err when one is missing. */
static json_t *journal_shard_pieces(const json_t *head, const json_t *by_name, vs_error *err)
{
	size_t n = journal_count(head, "shards", 0);
	json_t *shards = json_array();

	for (size_t k = 0; k < n; k++) {
		const json_t *piece = journal_piece(head, by_name, "records", k, err);
		if (!piece) {
			json_decref(shards);
			return NULL;
		}
		json_array_append(shards, (json_t *)piece);
	}
	return shards;
}

/*
 * The journal of head as one ConfigMap, its pieces (in by_name, borrowed) gathered in: the head
 * with data.plan the whole text and data.steps and data.objects every record (a later shard's
 * wins), as objects. A missing piece is said in data.error. Caller owns.
 */
static json_t *journal_assemble(const json_t *head, const json_t *by_name)
{
	json_t *cm = json_copy((json_t *)head), *data = json_copy(json_object_get(head, "data"));
	json_t *steps = journal_parse(head, "steps", json_object()),
	       *objects = journal_parse(head, "objects", json_object());
	json_t *shards, *shard;
	vs_error err;
	char *plan = journal_plan_text(head, by_name, &err);
	size_t k;

	if (!data)
		data = json_object();
	shards = plan ? journal_shard_pieces(head, by_name, &err) : NULL;
	json_array_foreach (shards, k, shard) {
		json_t *s = journal_parse(shard, "steps", json_object()),
		       *o = journal_parse(shard, "objects", json_object());
		json_object_update(steps, s);
		json_object_update(objects, o);
		json_decref(s);
		json_decref(o);
	}
	if (!plan || !shards)
		json_object_set_new(data, "error", json_string(err.message));
	if (plan)
		json_object_set_new(data, "plan", json_string(plan));
	json_object_set_new(data, "steps", steps);
	json_object_set_new(data, "objects", objects);
	json_object_set_new(cm, "data", data);
	json_decref(shards);
	free(plan);
	return cm;
}

/* Every ConfigMap of ns with the journal label (selector: "volshift.io/migration=ID" for one
 * journal's, or just the key for all) into *out, a List. */
static int journal_list_pieces(vs_kube_client *c, const char *ns, const char *selector, json_t **out, vs_error *err)
{
	vs_kube_list_opts lo = { .label_selector = selector };

	return vs_kube_list(c, &VS_KUBE_CONFIGMAPS, ns, &lo, out, err);
}

/* The pieces of journal id in ns, into *by_name ({name: ConfigMap}, caller owns), and its head,
 * borrowed from there, into *head (NULL when there is no journal id). */
static int journal_read(vs_kube_client *c, const char *ns, const char *id, json_t **by_name, const json_t **head,
			vs_error *err)
{
	char *selector = vs_xasprintf("%s=%s", JOURNAL_LABEL, id), *name = journal_name(id);
	json_t *list = NULL;
	int rc = journal_list_pieces(c, ns, selector, &list, err);

	*by_name = NULL;
	*head = NULL;
	if (rc < 0 && vs_error_is(err, "NotFound")) { /* no namespace, no journal */
		vs_error_clear(err);
		rc = 0;
	}
	if (rc == 0) {
		*by_name = journal_by_name(json_object_get(list, "items"));
		*head = json_object_get(*by_name, name);
	}
	json_decref(list);
	free(selector);
	free(name);
	return rc;
}

/* ---- the lease ------------------------------------------------------------------------------ */

static void journal_set_annotation(json_t *cm, const char *key, const char *value)
{
	json_t *ann = vs_json_path(cm, "metadata.annotations");

	if (!ann) {
		vs_json_set_path(cm, "metadata.annotations", json_object());
		ann = vs_json_path(cm, "metadata.annotations");
	}
	json_object_set_new(ann, key, json_string(value));
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

/* Under j->mu: fresh_head (borrowed) as read from the cluster names another holder, which makes
 * this journal lost (VS_EINVAL). */
static int journal_check_holder(vs_journal *j, const json_t *fresh_head, vs_error *err)
{
	const char *holder = vs_json_annotation(fresh_head, JOURNAL_HOLDER);

	if (!holder || strcmp(holder, j->holder) == 0)
		return 0;
	j->lost = true;
	return vs_error_set(err, VS_EINVAL, "migration %s was taken over by %s; this volshift stops", j->id, holder);
}

/* ---- the bodies written ----------------------------------------------------------------------- */

/* A new piece's ConfigMap, not created yet: name, namespace and labels, and but for the head an
 * owner reference to the head, so that deleting the head deletes the journal. Caller owns. */
static json_t *journal_skeleton(const vs_journal *j, const char *name, const char *kind)
{
	json_t *cm = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}}}", "apiVersion", "v1", "kind", "ConfigMap",
			       "metadata", "name", name, "namespace", j->ns, "labels", "app.kubernetes.io/managed-by",
			       "volshift", JOURNAL_LABEL, j->id, JOURNAL_PIECE, kind);
	const char *uid = j->head ? vs_kube_obj_uid(j->head) : NULL;

	if (uid)
		json_object_set_new(json_object_get(cm, "metadata"), "ownerReferences",
				    json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "v1", "kind", "ConfigMap", "name",
					      j->name, "uid", uid));
	return cm;
}

/* base (borrowed) with its metadata copied and data as given (stolen). Caller owns. */
static json_t *journal_with_data(const json_t *base, json_t *data)
{
	json_t *body = json_copy((json_t *)base);

	json_object_set_new(body, "metadata", json_deep_copy(json_object_get(base, "metadata")));
	json_object_set_new(body, "data", data);
	return body;
}

/* v as compact JSON text in a JSON string. Caller owns. */
static json_t *journal_text(const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *s = json_string(text);

	free(text);
	return s;
}

/* Under j->mu: the shards created so far, which the head may count (they are created in order). */
static size_t journal_created(const vs_journal *j)
{
	size_t n = 0;

	while (n < j->nshards && vs_kube_obj_resource_version(j->shards[n]->cm))
		n++;
	return n;
}

typedef json_t *(*journal_body_fn)(vs_journal *j, const json_t *base, void *arg);

/* What the head is to hold, under j->mu: phase, error, the plan's first piece, the counts, and our
 * lease, over base (the head as last seen, whose other annotations stay). Caller owns. */
static json_t *journal_head_body(vs_journal *j, const json_t *base, void *arg)
{
	json_t *data = json_object(), *body;
	char now[32], count[24];

	(void)arg;
	json_object_set(data, "plan", j->plan_head);
	if (j->plan_pieces > 1) {
		snprintf(count, sizeof(count), "%zu", j->plan_pieces);
		json_object_set_new(data, "planPieces", json_string(count));
	}
	snprintf(count, sizeof(count), "%zu", journal_created(j));
	json_object_set_new(data, "shards", json_string(count));
	json_object_set(data, "phase", json_object_get(j->state, "phase"));
	if (json_is_string(json_object_get(j->state, "error")))
		json_object_set(data, "error", json_object_get(j->state, "error"));
	body = journal_with_data(base, data);
	vs_time_format(vs_time_now(), now);
	journal_set_annotation(body, JOURNAL_HOLDER, j->holder);
	journal_set_annotation(body, JOURNAL_RENEWED, now);
	return body;
}

/* What shard arg is to hold, under j->mu, over base. Caller owns. */
static json_t *journal_shard_body(vs_journal *j, const json_t *base, void *arg)
{
	const struct journal_shard *s = arg;

	(void)j;
	return journal_with_data(
		base, json_pack("{s:o, s:o}", "steps", journal_text(s->steps), "objects", journal_text(s->objects)));
}

/* The bytes of a ConfigMap's data as the API server counts them. */
static size_t journal_data_bytes(const json_t *cm)
{
	const char *key;
	json_t *v;
	size_t n = 0;

	json_object_foreach ((json_t *)json_object_get(cm, "data"), key, v)
		n += strlen(key) + json_string_length(v);
	return n;
}

/* Shard s's ConfigMap, as just written or read, kept without its data: the records are in
 * s->steps and s->objects, from which every write builds the data again; s->bytes counts it. */
static void journal_shard_trim(struct journal_shard *s)
{
	s->bytes = journal_data_bytes(s->cm);
	json_object_del(s->cm, "data");
}

/* ---- writing ------------------------------------------------------------------------------------ */

/* Read piece name again, and the head unless it is the piece, into *fresh and *head (owned). */
static int journal_reload(vs_journal *j, const char *name, json_t **fresh, json_t **head, vs_error *err)
{
	int rc = vs_kube_get(j->c, &VS_KUBE_CONFIGMAPS, j->ns, name, fresh, err);

	if (rc == 0 && strcmp(name, j->name) != 0)
		rc = vs_kube_get(j->c, &VS_KUBE_CONFIGMAPS, j->ns, j->name, head, err);
	return rc;
}

/* One try of journal_put: the body sent, created when base has no resourceVersion. *again tells
 * whether the piece was there already (Conflict, or AlreadyExists) or the create failed on the way;
 * *out receives the answer, or the fresh piece and head to try again with. Without the lock. */
static int journal_send(vs_journal *j, const json_t *body, bool create, bool *again, json_t **out, json_t **head,
			vs_error *err)
{
	int rc = create ? vs_kube_create(j->c, &VS_KUBE_CONFIGMAPS, j->ns, body, out, err)
			: vs_kube_update(j->c, &VS_KUBE_CONFIGMAPS, j->ns, body, out, err);

	*again = false;
	if (rc < 0 && (vs_error_is(err, "Conflict") || vs_error_is(err, "AlreadyExists"))) {
		*again = true;
		rc = journal_reload(j, vs_kube_obj_name(body), out, head, err);
	} else if (rc < 0 && create && vs_kube_error_transient(err)) {
		*again = true; /* it may have been created: the next try finds out */
		rc = 0;
	}
	return rc;
}

/*
 * Write the piece *slot (the head or a shard) with build's body, entered and left under j->mu but
 * without it during the requests: a PUT with its last resourceVersion, or a create when it has
 * none. When the piece is there already, the head says whether the lease is still ours, and the
 * fresh piece's version is used to try again. One thread writes at a time (j->writing), so *slot
 * is replaced by the writer only.
 */
static int journal_put(vs_journal *j, json_t **slot, journal_body_fn build, void *arg, vs_error *err)
{
	int rc = 0;
	bool again = true;

	for (int attempt = 0; rc == 0 && again && attempt < JOURNAL_WRITE_TRIES; attempt++) {
		json_t *body = build(j, *slot, arg), *out = NULL, *head = NULL;
		bool create = !vs_kube_obj_resource_version(*slot);
		pthread_mutex_unlock(&j->mu);
		if (attempt > 0 && create) /* the API failed on the way: back off */
			vs_sleep_ms(vs_kube_backoff_ms((unsigned)attempt, 100, 2000, vs_rand_u64()));
		rc = journal_send(j, body, create, &again, &out, &head, err);
		pthread_mutex_lock(&j->mu);
		json_decref(body);
		if (rc == 0 && out && (!again || (rc = journal_check_holder(j, head ? head : out, err)) == 0)) {
			json_decref(*slot);
			*slot = out; /* the answer, or the fresh piece (a head keeps the annotations others added) */
			out = NULL;
		}
		json_decref(out);
		json_decref(head);
	}
	if (rc == 0 && again)
		rc = vs_error_set(err, VS_EIO, "not written after %d tries", JOURNAL_WRITE_TRIES);
	return rc < 0 ? vs_error_wrap(err, "journal %s/%s", j->ns, vs_kube_obj_name(*slot)) : 0;
}

/* Under j->mu: the shard with the oldest change up to upto that its ConfigMap lacks, or NULL. */
static struct journal_shard *journal_next_dirty(const vs_journal *j, uint64_t upto)
{
	struct journal_shard *best = NULL;

	for (size_t k = 0; k < j->nshards; k++) {
		struct journal_shard *s = j->shards[k];
		if (s->written < s->changed && s->oldest <= upto && (!best || s->oldest < best->oldest))
			best = s;
	}
	return best;
}

/* Under j->mu: write shard s; a new one is created (failpoint journal:shard-created after). */
static int journal_put_shard(vs_journal *j, struct journal_shard *s, vs_error *err)
{
	uint64_t upto = s->changed;
	bool create = !vs_kube_obj_resource_version(s->cm);
	int rc = journal_put(j, &s->cm, journal_shard_body, s, err);

	if (rc < 0)
		return rc;
	s->written = upto;
	s->oldest = upto + 1;
	journal_shard_trim(s);
	return create ? vs_failpoint("journal:shard-created", err) : 0;
}

/* Under j->mu, by the one writer: every shard with a change up to upto, oldest change first, then
 * the head when it changed or there are shards it does not count yet. */
static int journal_put_all(vs_journal *j, uint64_t upto, vs_error *err)
{
	struct journal_shard *s;
	uint64_t head_upto = j->head_changed;
	int rc = 0;

	while (rc == 0 && (s = journal_next_dirty(j, upto)) != NULL)
		rc = journal_put_shard(j, s, err);
	if (rc < 0 || (j->head_written >= head_upto && journal_created(j) == j->head_shards))
		return rc;
	size_t counted = journal_created(j);
	rc = journal_put(j, &j->head, journal_head_body, NULL, err);
	if (rc == 0) {
		j->head_written = head_upto;
		j->head_shards = counted;
		j->head_gen++;
		j->head_seen = vs_time_mono_ms();
	}
	return rc;
}

/*
 * Under j->mu: return once the cluster holds the first want changes. A thread that finds another
 * writing waits for it; that write may carry its changes too (threads share writes).
 */
static int journal_flush(vs_journal *j, uint64_t want, vs_error *err)
{
	int rc = 0;

	if (j->lost)
		return vs_error_set(err, VS_EINVAL, "migration %s: another volshift took it over; this one stops",
				    j->id);
	while (rc == 0 && j->written < want) {
		if (j->writing) {
			pthread_cond_wait(&j->flushed, &j->mu);
			continue;
		}
		uint64_t upto = j->changes;
		j->writing = true;
		rc = journal_put_all(j, upto, err);
		j->writing = false;
		if (rc == 0 && upto > j->written)
			j->written = upto;
		pthread_cond_broadcast(&j->flushed);
	}
	return rc;
}

/* Under j->mu: write the head now, with whatever else has changed (the lease, a release). */
static int journal_write_locked(vs_journal *j, vs_error *err)
{
	j->head_changed = ++j->changes;
	return journal_flush(j, j->changes, err);
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

/* ---- records and shards --------------------------------------------------------------------- */

/* Under j->mu: a new, empty shard at the end (not created yet). */
static struct journal_shard *journal_add_shard(vs_journal *j)
{
	struct journal_shard *s = vs_xcalloc(1, sizeof(*s));
	char *name = journal_piece_name(j->id, "records", j->nshards);

	s->index = j->nshards;
	s->cm = journal_skeleton(j, name, "records");
	s->steps = json_object();
	s->objects = json_object();
	j->shards = vs_xrealloc(j->shards, (j->nshards + 1) * sizeof(*j->shards));
	j->shards[j->nshards++] = s;
	free(name);
	return s;
}

static void journal_shard_free(struct journal_shard *s)
{
	json_decref(s->cm);
	json_decref(s->steps);
	json_decref(s->objects);
	free(s);
}

/* Under j->mu: the shard for a new record of n bytes: the last while it has room (or nothing),
 * else a new one. */
static struct journal_shard *journal_place(vs_journal *j, size_t n)
{
	struct journal_shard *last = j->nshards ? j->shards[j->nshards - 1] : NULL;

	if (last && (last->bytes + n <= JOURNAL_SHARD_FILL ||
		     json_object_size(last->steps) + json_object_size(last->objects) == 0))
		return last;
	return journal_add_shard(j);
}

/* The records of section ("steps", "objects") that shard s keeps. Borrowed. */
static json_t *journal_shard_section(const struct journal_shard *s, const char *section)
{
	return strcmp(section, "steps") == 0 ? s->steps : s->objects;
}

/* Under j->mu: shard s has a change its ConfigMap lacks. */
static void journal_dirty(vs_journal *j, struct journal_shard *s)
{
	if (s->written == s->changed)
		s->oldest = j->changes;
	s->changed = j->changes;
}

/*
 * Under j->mu: set record key of section ("steps", "objects") to value (stolen), or remove it when
 * value is NULL, in the state and in the shard that keeps it (a new record: journal_place). False
 * when nothing changed (removing what is not there).
 */
static bool journal_set_record(vs_journal *j, const char *section, const char *key, json_t *value)
{
	json_t *where = json_object_get(j->where, section), *at = json_object_get(where, key);
	struct journal_shard *s;

	if (!value && !at)
		return false;
	if (at) {
		s = j->shards[json_integer_value(at)];
	} else {
		size_t n = strlen(key) + json_dumpb(value, NULL, 0, JSON_COMPACT) + 8;
		s = journal_place(j, n);
		s->bytes += n;
		json_object_set_new(where, key, json_integer((json_int_t)s->index));
	}
	json_t *kept = journal_shard_section(s, section);
	if (value) {
		json_object_set(kept, key, value);
		json_object_set_new(json_object_get(j->state, section), key, value);
	} else {
		json_object_del(kept, key);
		json_object_del(json_object_get(j->state, section), key);
		json_object_del(where, key);
	}
	j->changes++;
	journal_dirty(j, s);
	return true;
}

/* Under j->mu: the change of section's record key to value (stolen; NULL removes it), written
 * before this returns when durable. */
static int journal_change_locked(vs_journal *j, const char *section, const char *key, json_t *value, bool durable,
				 vs_error *err)
{
	bool changed = journal_set_record(j, section, key, value);

	return changed && durable ? journal_flush(j, j->changes, err) : 0;
}

/* ---- opening ---------------------------------------------------------------------------------- */

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
	j->where = json_pack("{s:{}, s:{}}", "steps", "objects");
	j->plan_pieces = 1;
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	pthread_cond_init(&j->flushed, NULL);
	return j;
}

static void journal_start_renewing(vs_journal *j)
{
	j->head_seen = vs_time_mono_ms();
	j->renewing = pthread_create(&j->renewer, NULL, journal_renew, j) == 0;
}

/* Shard cm (borrowed), the next in order, with its records into j (no other thread yet). A record
 * an earlier shard also has is the later's: the earlier shard loses it, and is written again. */
static void journal_adopt(vs_journal *j, const json_t *cm)
{
	static const char *sections[] = { "steps", "objects" };
	struct journal_shard *s = journal_add_shard(j);

	json_decref(s->cm);
	s->cm = json_deep_copy(cm);
	journal_shard_trim(s);
	for (size_t k = 0; k < 2; k++) {
		json_t *records = journal_parse(cm, sections[k], json_object()),
		       *where = json_object_get(j->where, sections[k]);
		const char *key;
		json_t *rec;
		json_object_foreach (records, key, rec) {
			const json_t *at = json_object_get(where, key);
			if (at) {
				struct journal_shard *earlier = j->shards[json_integer_value(at)];
				json_object_del(journal_shard_section(earlier, sections[k]), key);
				j->changes++;
				journal_dirty(j, earlier);
			}
			json_object_set(journal_shard_section(s, sections[k]), key, rec);
			json_object_set(json_object_get(j->state, sections[k]), key, rec);
			json_object_set_new(where, key, json_integer((json_int_t)s->index));
		}
		json_decref(records);
	}
}

/* j's state from head and the pieces in by_name (borrowed; no other thread yet). The records of a
 * journal of one ConfigMap go to shards, to be written by the first write. */
static int journal_load(vs_journal *j, const json_t *head, const json_t *by_name, vs_error *err)
{
	static const char *sections[] = { "steps", "objects" };
	char *plan = journal_plan_text(head, by_name, err);
	json_t *shards = plan ? journal_shard_pieces(head, by_name, err) : NULL, *shard, *parsed;
	size_t k;

	if (!shards) {
		free(plan);
		return err->code;
	}
	parsed = json_loads(plan, 0, NULL);
	j->head = json_deep_copy(head);
	j->plan_head = json_string(vs_json_str_or(json_object_get(head, "data"), "plan", ""));
	j->plan_pieces = journal_count(head, "planPieces", 1);
	j->state = json_pack("{s:o, s:{}, s:{}, s:s}", "plan", parsed ? parsed : json_object(), "steps", "objects",
			     "phase", vs_json_str_or(json_object_get(head, "data"), "phase", "running"));
	json_array_foreach (shards, k, shard)
		journal_adopt(j, shard);
	j->head_shards = j->nshards;
	for (k = 0; k < 2; k++) {
		json_t *inline_records = journal_parse(head, sections[k], json_object()), *rec;
		const char *key;
		json_object_foreach (inline_records, key, rec)
			journal_set_record(j, sections[k], key, json_incref(rec));
		json_decref(inline_records);
	}
	json_decref(shards);
	free(plan);
	return 0;
}

/* True when name is that of a piece of kind of j's journal, with its number into *k. */
static bool journal_piece_number(const vs_journal *j, const char *name, const char *kind, size_t *k)
{
	char *prefix = vs_xasprintf("volshift-%s-%s-", j->id, kind), *end = NULL;
	size_t n = strlen(prefix);
	bool match = strncmp(name, prefix, n) == 0 && name[n] >= '0' && name[n] <= '9';

	if (match)
		*k = strtoul(name + n, &end, 10);
	free(prefix);
	return match && *end == '\0';
}

/* Under j->mu: true when the head counts piece name. */
static bool journal_counted(const vs_journal *j, const char *name)
{
	size_t k;

	return strcmp(name, j->name) == 0 || (journal_piece_number(j, name, "plan", &k) && k < j->plan_pieces) ||
	       (journal_piece_number(j, name, "records", &k) && k < j->head_shards);
}

/* Delete the plan pieces and shards of j's journal in by_name (borrowed), only those the head does
 * not count unless all: what a volshift that died between creating a shard and counting it left.
 * Other ConfigMaps with the journal's label are left alone. Best effort: a failure is logged. */
static void journal_delete_pieces(vs_journal *j, const json_t *by_name, bool all)
{
	const char *name;
	json_t *cm;
	vs_error err;
	size_t k;

	json_object_foreach ((json_t *)by_name, name, cm) {
		bool piece = journal_piece_number(j, name, "plan", &k) || journal_piece_number(j, name, "records", &k);
		if (!piece || (!all && journal_counted(j, name)))
			continue;
		vs_error_clear(&err);
		if (vs_kube_delete(j->c, &VS_KUBE_CONFIGMAPS, j->ns, name, NULL, NULL, &err) < 0 &&
		    !vs_error_is(&err, "NotFound"))
			vs_warn("journal %s/%s: %s", j->ns, name, err.message);
	}
}

/* Delete the whole journal of j, its head last (a head without its shards says it is incomplete;
 * shards without a head are invisible). Best effort: failures are logged. */
static void journal_delete(vs_journal *j)
{
	json_t *by_name = NULL;
	const json_t *head;
	vs_error err;

	vs_error_clear(&err);
	if (journal_read(j->c, j->ns, j->id, &by_name, &head, &err) < 0)
		vs_warn("journal %s/%s: %s", j->ns, j->name, err.message);
	journal_delete_pieces(j, by_name, true);
	if (vs_kube_delete(j->c, &VS_KUBE_CONFIGMAPS, j->ns, j->name, NULL, NULL, &err) < 0)
		vs_warn("journal %s/%s: %s", j->ns, j->name, err.message);
	json_decref(by_name);
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

/* Create namespace ns unless it exists. An account that may not create namespaces (volshift under
 * the roles of deploy/, which made the namespace) goes on: if ns is missing, creating the journal's
 * first ConfigMap fails and says so. */
static int journal_ensure_namespace(vs_kube_client *c, const char *ns, vs_error *err)
{
	json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", ns);
	int rc = journal_create(c, &journal_namespaces, NULL, obj, NULL, NULL, err);

	json_decref(obj);
	if (rc < 0 && vs_error_is(err, "Forbidden")) {
		vs_error_clear(err);
		rc = 0;
	}
	return rc < 0 ? vs_error_wrap(err, "namespace %s for the journal (--state-namespace)", ns) : 0;
}

/* Create plan piece k of j from the plan's whole text. */
static int journal_create_plan_piece(vs_journal *j, const char *text, size_t len, size_t k, vs_error *err)
{
	char *name = journal_piece_name(j->id, "plan", k);
	size_t from = k * JOURNAL_PLAN_CHUNK, n = len - from < JOURNAL_PLAN_CHUNK ? len - from : JOURNAL_PLAN_CHUNK;
	json_t *piece = journal_skeleton(j, name, "plan");
	int rc;

	json_object_set_new(piece, "data", json_pack("{s:s%}", "plan", text + from, n));
	rc = journal_create(j->c, &VS_KUBE_CONFIGMAPS, j->ns, piece, NULL, NULL, err);
	json_decref(piece);
	free(name);
	return rc;
}

/* The head of new journal j (its plan's text, of len bytes, in pieces), then its plan pieces. No
 * other thread yet. */
static int journal_create_pieces(vs_journal *j, const char *text, size_t len, vs_error *err)
{
	json_t *head = journal_head_body(j, j->head, NULL), *created = NULL;
	int rc = journal_create(j->c, &VS_KUBE_CONFIGMAPS, j->ns, head, j->holder, &created, err);

	json_decref(head);
	if (rc < 0)
		return rc;
	json_decref(j->head);
	j->head = created;
	for (size_t k = 1; rc == 0 && k < j->plan_pieces; k++)
		rc = journal_create_plan_piece(j, text, len, k, err);
	return rc;
}

int vs_journal_create(vs_kube_client *c, const char *ns, const json_t *plan, vs_journal **out, vs_error *err)
{
	char id[16], *text;
	size_t len;
	vs_journal *j;
	int rc = journal_ensure_namespace(c, ns, err);

	*out = NULL;
	if (rc < 0)
		return rc;
	snprintf(id, sizeof(id), "%08" PRIx64, vs_rand_u64() & 0xffffffffu);
	j = journal_new(c, ns, id);
	j->state = json_pack("{s:O, s:{}, s:{}, s:s}", "plan", plan, "steps", "objects", "phase", "running");
	/* ASCII only, so that the text can be cut anywhere */
	text = json_dumps(plan, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	len = strlen(text);
	j->plan_pieces = len > JOURNAL_PLAN_CHUNK ? (len + JOURNAL_PLAN_CHUNK - 1) / JOURNAL_PLAN_CHUNK : 1;
	j->plan_head = json_stringn(text, len < JOURNAL_PLAN_CHUNK ? len : JOURNAL_PLAN_CHUNK);
	j->head = journal_skeleton(j, j->name, "head");
	rc = journal_create_pieces(j, text, len, err);
	free(text);
	if (rc < 0) {
		j->lost = true; /* nothing to release */
		if (vs_kube_obj_resource_version(j->head))
			journal_delete(j);
		vs_journal_free(j);
		return vs_error_wrap(err, "create journal %s/volshift-%s", ns, id);
	}
	journal_start_renewing(j);
	*out = j;
	return 0;
}

int vs_journal_open(vs_kube_client *c, const char *ns, const char *id, bool force, vs_journal **out, vs_error *err)
{
	vs_journal *j = journal_new(c, ns, id);
	json_t *by_name = NULL;
	const json_t *head = NULL;
	int rc = journal_read(c, ns, id, &by_name, &head, err);

	*out = NULL;
	if (rc == 0 && !head)
		rc = vs_error_set_api(err, 404, "NotFound", "get configmaps %s/%s: configmaps \"%s\" not found", ns,
				      j->name, j->name);
	if (rc < 0) {
		rc = vs_error_wrap(err, "migration %s", id);
	} else if (!force && journal_held_by_other(head, j->holder)) {
		rc = vs_error_set(
			err, VS_EINVAL,
			"migration %s is being run by %s (lease renewed %s, it expires %ds later); wait for it, or "
			"pass --force if that volshift is gone",
			id, vs_json_annotation(head, JOURNAL_HOLDER), vs_json_annotation(head, JOURNAL_RENEWED),
			VS_JOURNAL_LEASE_MS / 1000);
	} else if ((rc = journal_load(j, head, by_name, err)) == 0) {
		pthread_mutex_lock(&j->mu);
		rc = journal_write_locked(j, err); /* takes the lease */
		pthread_mutex_unlock(&j->mu);
	}
	if (rc == 0)
		journal_delete_pieces(j, by_name, false);
	json_decref(by_name);
	if (rc < 0) {
		j->lost = j->lost || !j->head_written; /* a lease not taken is not given back */
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
	if (j->head && j->state && !j->lost) {
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
	for (size_t k = 0; k < j->nshards; k++)
		journal_shard_free(j->shards[k]);
	free(j->shards);
	json_decref(j->head);
	json_decref(j->plan_head);
	json_decref(j->state);
	json_decref(j->where);
	free(j->ns), free(j->id), free(j->name), free(j->holder);
	free(j);
}

const char *vs_journal_namespace(const vs_journal *j)
{
	return j->ns;
}

void vs_journal_discard(vs_journal *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->mu);
	j->lost = true; /* nothing more to write, not even the lease's renewal or release */
	pthread_mutex_unlock(&j->mu);
	journal_delete(j);
	vs_journal_free(j);
}

int vs_journal_peek(vs_kube_client *c, const char *ns, const char *id, json_t **out, vs_error *err)
{
	json_t *by_name = NULL, *cm;
	const json_t *head = NULL;
	int rc = journal_read(c, ns, id, &by_name, &head, err);

	*out = NULL;
	if (rc == 0 && head) {
		cm = journal_assemble(head, by_name);
		*out = vs_journal_decode(cm);
		json_decref(cm);
	}
	json_decref(by_name);
	return rc;
}

const char *vs_journal_id(const vs_journal *j)
{
	return j->id;
}

/* ---- reading and changing an open journal ------------------------------------------------------ */

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
	anns = vs_json_path(j->head, "metadata.annotations");
	if (json_object_get(anns, JOURNAL_ABORT) || json_object_get(anns, JOURNAL_ABORT_BY)) {
		json_object_del(anns, JOURNAL_ABORT);
		json_object_del(anns, JOURNAL_ABORT_BY);
		rc = journal_write_locked(j, err);
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

/* Under j->mu: read the head again when it was not read or written for JOURNAL_REFRESH_MS, to see
 * an abort request (writes of shards alone do not meet it) and whether the lease is still ours. */
static void journal_refresh_head(vs_journal *j)
{
	uint64_t gen = j->head_gen;
	json_t *fresh = NULL;
	vs_error err;
	int rc;

	if (j->writing || j->lost || vs_time_mono_ms() - j->head_seen < JOURNAL_REFRESH_MS)
		return;
	j->head_seen = vs_time_mono_ms();
	pthread_mutex_unlock(&j->mu);
	rc = vs_kube_get(j->c, &VS_KUBE_CONFIGMAPS, j->ns, j->name, &fresh, &err);
	pthread_mutex_lock(&j->mu);
	if (rc == 0 && gen == j->head_gen && !j->writing && journal_check_holder(j, fresh, &err) == 0) {
		json_decref(j->head);
		j->head = fresh; /* what this volshift wrote last, with what others added */
		fresh = NULL;
		j->head_gen++;
	}
	json_decref(fresh);
}

bool vs_journal_abort_requested(vs_journal *j)
{
	bool asked;

	pthread_mutex_lock(&j->mu);
	journal_refresh_head(j);
	asked = vs_json_annotation(j->head, JOURNAL_ABORT) != NULL;
	pthread_mutex_unlock(&j->mu);
	return asked;
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
	int rc;

	pthread_mutex_lock(&j->mu);
	rc = journal_change_locked(j, "steps", key, NULL, durable, err);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int vs_journal_save_object(vs_journal *j, const char *key, const json_t *obj, bool durable, vs_error *err)
{
	int rc;

	pthread_mutex_lock(&j->mu);
	rc = journal_change_locked(j, "objects", key, json_deep_copy(obj), durable, err);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int vs_journal_set_phase(vs_journal *j, const char *phase, const char *error, vs_error *err)
{
	int rc;

	pthread_mutex_lock(&j->mu);
	json_object_set_new(j->state, "error", error ? json_string(error) : json_null());
	json_object_set_new(j->state, "phase", json_string(phase));
	rc = journal_write_locked(j, err);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

/* ---- every journal -------------------------------------------------------------------------- */

static int journal_newest_first(const void *a, const void *b)
{
	const char *ta = vs_json_str_or(*(json_t *const *)a, "metadata.creationTimestamp", "");
	const char *tb = vs_json_str_or(*(json_t *const *)b, "metadata.creationTimestamp", "");

	return strcmp(tb, ta);
}

/* The heads among by_name's pieces, each assembled (journal_assemble), newest first. Caller owns. */
static json_t *journal_heads(const json_t *by_name)
{
	json_t *heads = json_array(), **arr, *cm;
	const char *name;
	size_t n = 0;

	arr = vs_xcalloc(json_object_size(by_name) + 1, sizeof(json_t *));
	json_object_foreach ((json_t *)by_name, name, cm) {
		const char *id = json_string_value(json_object_get(vs_json_path(cm, "metadata.labels"), JOURNAL_LABEL));
		char *head_name = journal_name(id ? id : "");
		if (strcmp(name, head_name) == 0)
			arr[n++] = journal_assemble(cm, by_name);
		free(head_name);
	}
	qsort(arr, n, sizeof(json_t *), journal_newest_first);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(heads, arr[i]);
	free(arr);
	return heads;
}

int vs_journal_list(vs_kube_client *c, const char *ns, json_t **out, vs_error *err)
{
	json_t *by_name;
	int rc = journal_list_pieces(c, ns, JOURNAL_LABEL, out, err);

	if (rc < 0 && vs_error_is(err, "NotFound")) {
		vs_error_clear(err);
		*out = json_pack("{s:[]}", "items");
		return 0;
	}
	if (rc < 0)
		return rc;
	by_name = journal_by_name(json_object_get(*out, "items"));
	json_object_set_new(*out, "items", journal_heads(by_name));
	json_decref(by_name);
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
