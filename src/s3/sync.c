/*
 * sync: make a destination hold every object of a source. Per bucket both sides are listed and
 * merged by key; what the listings prove equal (same size and the same plain-MD5 ETag) is skipped
 * at once, what they prove different is copied, and the rest (ETags that are not MD5s: multipart
 * uploads) is decided by a HEAD of the destination, whose x-amz-meta-volshift-source-etag says
 * which source ETag it was copied from. The copies and checks run on --parallel worker threads
 * that take items from one list; the main thread reports progress. Deletions run only after every
 * copy succeeded, and the end state is verified by listing the destination again (and, with
 * --verify checksum, by reading both sides).
 */
#include "s3/s3_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SYNC_PARALLEL_DEFAULT 8
#define SYNC_FAILURES_MAX     1000 /* kept in the result; the count goes on */

enum item_kind {
	ITEM_COPY,   /* the listings prove it differs, or it is missing */
	ITEM_CHECK,  /* the listings cannot tell: HEAD the destination (or read both, checksum) */
	ITEM_DELETE, /* on the destination only */
};

struct sync_item {
	enum item_kind kind;
	size_t pair;	  /* index into run->pairs */
	vs_s3_object src; /* key owned; for ITEM_DELETE, the destination's object */
	char *dst_key;	  /* owned */
	bool dst_exists;
	int64_t dst_size;
	char dst_etag[80];
	const char *reason; /* why it is copied (static) */
	bool copied, failed, equal;
	vs_s3_copy_result result;
};

struct sync_pair {
	char *src_bucket, *dst_bucket;
	const char *src_prefix, *dst_prefix; /* borrowed from the locations */
	bool dst_missing;
};

struct sync_objects {
	vs_s3_object *v;
	size_t n, cap;
};

struct sync_run {
	const vs_s3_sync_opts *opts;
	vs_s3_location src_loc, dst_loc;
	vs_s3_client *src, *dst;
	struct sync_pair *pairs;
	size_t npairs;
	struct sync_item *items;
	size_t nitems, cap;
	pthread_mutex_t lock; /* events, counters below, result */
	pthread_cond_t cond;
	size_t next;	   /* the next item a worker takes (under lock) */
	size_t workers_running;
	enum item_kind phase; /* the kinds the workers take now: COPY/CHECK, or DELETE */
	vs_s3_sync_result *res;
	int64_t objects_done;
	atomic_int_fast64_t bytes_moved;
	int64_t start_ms;
	bool stopped;
};

/* ---- events ------------------------------------------------------------------------------------ */

/* Send event (stolen) to the caller; under run->lock. */
static void sync_emit_locked(struct sync_run *r, json_t *event)
{
	if (r->opts->on_event)
		r->opts->on_event(event, r->opts->ctx);
	json_decref(event);
}

static void sync_emit(struct sync_run *r, json_t *event)
{
	pthread_mutex_lock(&r->lock);
	sync_emit_locked(r, event);
	pthread_mutex_unlock(&r->lock);
}

static void sync_say(struct sync_run *r, const char *type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sync_say(struct sync_run *r, const char *type, const char *fmt, ...)
{
	va_list ap;
	vs_buf b;

	vs_buf_init(&b, 0);
	va_start(ap, fmt);
	char *text = NULL;
	if (vasprintf(&text, fmt, ap) < 0)
		abort();
	va_end(ap);
	sync_emit(r, json_pack("{s:s, s:s}", "event", type, "message", text));
	free(text);
	vs_buf_free(&b);
}

/* Record a failed object; under run->lock. */
static void sync_fail_locked(struct sync_run *r, const char *bucket, const char *key, const vs_error *err)
{
	r->res->failed++;
	if (json_array_size(r->res->failures) < SYNC_FAILURES_MAX)
		json_array_append_new(r->res->failures,
				      json_pack("{s:s, s:s, s:s}", "bucket", bucket, "key", key, "message", err->message));
	sync_emit_locked(r, json_pack("{s:s, s:s, s:s, s:s}", "event", "s3-failed", "bucket", bucket, "key", key,
				      "message", err->message));
}

static void sync_progress(struct sync_run *r)
{
	int64_t ms = vs_time_mono_ms() - r->start_ms, moved = atomic_load(&r->bytes_moved);
	double rate = ms > 0 ? (double)moved * 1000.0 / (double)ms : 0;
	json_t *ev;

	pthread_mutex_lock(&r->lock);
	int64_t left = r->res->bytes_total - moved;
	/* the bytes skipped count as done: what is left is at most the rest */
	ev = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:o}", "event", "s3-progress", "objects",
		       (json_int_t)r->objects_done, "objectsTotal", (json_int_t)r->res->objects, "copied",
		       (json_int_t)r->res->copied, "skipped", (json_int_t)r->res->skipped, "failed",
		       (json_int_t)r->res->failed, "bytes", (json_int_t)moved, "bytesTotal",
		       (json_int_t)r->res->bytes_total, "rate", rate,
		       "eta", rate > 0 && left > 0 ? json_integer((json_int_t)((double)left / rate)) : json_null());
	sync_emit_locked(r, ev);
	pthread_mutex_unlock(&r->lock);
}

static void sync_on_bytes(int64_t n, void *ctx)
{
	struct sync_run *r = ctx;

	atomic_fetch_add(&r->bytes_moved, n);
}

/* ---- listing and deciding ------------------------------------------------------------------------ */

static int sync_collect(const vs_s3_object *obj, void *ctx)
{
	struct sync_objects *o = ctx;

	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 1024;
		o->v = vs_xrealloc(o->v, o->cap * sizeof(*o->v));
	}
	o->v[o->n] = *obj;
	o->v[o->n].key = vs_xstrdup(obj->key);
	o->n++;
	return 0;
}

static void sync_objects_free(struct sync_objects *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].key);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

static int sync_key_cmp(const void *a, const void *b)
{
	return strcmp(((const vs_s3_object *)a)->key, ((const vs_s3_object *)b)->key);
}

static struct sync_item *sync_add(struct sync_run *r, enum item_kind kind, size_t pair, const vs_s3_object *src,
				  char *dst_key)
{
	struct sync_item *it;

	if (r->nitems == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		r->items = vs_xrealloc(r->items, r->cap * sizeof(*r->items));
	}
	it = &r->items[r->nitems++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->pair = pair;
	it->src = *src;
	it->src.key = vs_xstrdup(src->key);
	it->dst_key = dst_key;
	return it;
}

/* Decide what the listings can about src against dst (NULL: missing). Returns the item or NULL
 * when it is equal and nothing needs reading (then counted as skipped). */
static void sync_decide(struct sync_run *r, size_t pair, const vs_s3_object *src, const vs_s3_object *dst,
			char *dst_key)
{
	bool checksum = r->opts->verify == VS_S3_VERIFY_CHECKSUM;
	struct sync_item *it;

	r->res->objects++;
	r->res->bytes_total += src->size;
	if (!dst) {
		sync_add(r, ITEM_COPY, pair, src, dst_key)->reason = "new";
		return;
	}
	if (dst->size != src->size) {
		it = sync_add(r, ITEM_COPY, pair, src, dst_key);
		it->reason = "size";
	} else if (vs_s3_etag_is_md5(src->etag) && vs_s3_etag_is_md5(dst->etag) &&
		   strcasecmp(src->etag, dst->etag) != 0) {
		it = sync_add(r, ITEM_COPY, pair, src, dst_key);
		it->reason = "etag";
	} else if (src->etag[0] && strcasecmp(src->etag, dst->etag) == 0 && !checksum) {
		r->res->skipped++;
		r->objects_done++;
		atomic_fetch_add(&r->bytes_moved, 0);
		free(dst_key);
		return;
	} else {
		it = sync_add(r, ITEM_CHECK, pair, src, dst_key);
		it->reason = "etag";
	}
	it->dst_exists = true;
	it->dst_size = dst->size;
	snprintf(it->dst_etag, sizeof(it->dst_etag), "%s", dst->etag);
}

static char *sync_map_key(const struct sync_pair *p, const char *src_key)
{
	return vs_xasprintf("%s%s", p->dst_prefix, src_key + strlen(p->src_prefix));
}

/* List both sides of pair and merge them into items. */
static int sync_plan_pair(struct sync_run *r, size_t pi, vs_error *err)
{
	struct sync_pair *p = &r->pairs[pi];
	struct sync_objects s = { 0 }, d = { 0 };
	size_t i = 0, j = 0, before = r->nitems;
	int64_t objects = r->res->objects, bytes = r->res->bytes_total;
	int rc;

	if ((rc = vs_s3_list_objects(r->src, p->src_bucket, p->src_prefix, sync_collect, &s, err)) < 0)
		goto done;
	if (!p->dst_missing && (rc = vs_s3_list_objects(r->dst, p->dst_bucket, p->dst_prefix, sync_collect, &d, err)) < 0)
		goto done;
	if (s.n)
		qsort(s.v, s.n, sizeof(*s.v), sync_key_cmp);
	if (d.n)
		qsort(d.v, d.n, sizeof(*d.v), sync_key_cmp);
	size_t sp = strlen(p->src_prefix), dp = strlen(p->dst_prefix);
	while (i < s.n || j < d.n) {
		int c = i == s.n ? 1 : j == d.n ? -1 : strcmp(s.v[i].key + sp, d.v[j].key + dp);
		if (c < 0) {
			sync_decide(r, pi, &s.v[i], NULL, sync_map_key(p, s.v[i].key));
			i++;
		} else if (c == 0) {
			sync_decide(r, pi, &s.v[i], &d.v[j], vs_xstrdup(d.v[j].key));
			i++;
			j++;
		} else {
			if (r->opts->delete_extra)
				sync_add(r, ITEM_DELETE, pi, &d.v[j], vs_xstrdup(d.v[j].key));
			j++;
		}
	}
	size_t ncopy = 0, ncheck = 0, ndelete = 0;
	for (size_t k = before; k < r->nitems; k++) {
		ncopy += r->items[k].kind == ITEM_COPY;
		ncheck += r->items[k].kind == ITEM_CHECK;
		ndelete += r->items[k].kind == ITEM_DELETE;
	}
	sync_emit(r, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b}", "event", "s3-listed", "bucket",
			       p->src_bucket, "destBucket", p->dst_bucket, "objects", (json_int_t)(r->res->objects - objects),
			       "bytes", (json_int_t)(r->res->bytes_total - bytes), "toCopy", (json_int_t)ncopy,
			       "toCheck", (json_int_t)ncheck, "toDelete", (json_int_t)ndelete, "destMissing",
			       p->dst_missing));
done:
	sync_objects_free(&s);
	sync_objects_free(&d);
	return rc;
}

/* ---- the work ------------------------------------------------------------------------------------ */

/* Whether the destination of a CHECK item is equal: its recorded source ETag, or (checksum) the
 * content of both sides. */
static int sync_check(struct sync_run *r, struct sync_item *it, vs_error *err)
{
	const struct sync_pair *p = &r->pairs[it->pair];
	unsigned char a[16], b[16];
	int64_t as = 0, bs = 0;
	int rc;

	if (!(it->src.etag[0] && strcasecmp(it->src.etag, it->dst_etag) == 0) &&
	    !(vs_s3_etag_is_md5(it->src.etag) && vs_s3_etag_is_md5(it->dst_etag))) {
		vs_s3_head h;
		if ((rc = vs_s3_head_object(r->dst, p->dst_bucket, it->dst_key, &h, err)) < 0)
			return rc;
		it->equal = h.size == it->src.size && h.source_etag[0] && strcmp(h.source_etag, it->src.etag) == 0;
		vs_s3_head_clear(&h);
	} else {
		it->equal = true;
	}
	if (!it->equal || r->opts->verify != VS_S3_VERIFY_CHECKSUM)
		return 0;
	if ((rc = vs_s3_object_md5(r->src, p->src_bucket, it->src.key, a, &as, err)) < 0 ||
	    (rc = vs_s3_object_md5(r->dst, p->dst_bucket, it->dst_key, b, &bs, err)) < 0)
		return rc;
	it->equal = as == bs && memcmp(a, b, 16) == 0;
	if (!it->equal)
		it->reason = "checksum";
	return 0;
}

static void sync_copied_event(struct sync_run *r, const struct sync_item *it, int64_t ms)
{
	const struct sync_pair *p = &r->pairs[it->pair];

	sync_emit_locked(r, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:s}", "event", "s3-copied", "bucket",
				      p->src_bucket, "key", it->src.key, "destBucket", p->dst_bucket, "destKey",
				      it->dst_key, "bytes", (json_int_t)it->src.size, "ms", (json_int_t)ms,
				      "multipart", it->result.multipart, "reason", it->reason));
}

static void sync_do_copy(struct sync_run *r, struct sync_item *it)
{
	const struct sync_pair *p = &r->pairs[it->pair];
	vs_s3_copy_opts co = r->opts->copy;
	int64_t t0 = vs_time_mono_ms();
	vs_error err;
	int rc = 0;

	vs_error_clear(&err);
	co.on_bytes = sync_on_bytes;
	co.ctx = r;
	if (it->kind == ITEM_CHECK) {
		rc = sync_check(r, it, &err);
		if (rc == 0 && it->equal) {
			pthread_mutex_lock(&r->lock);
			r->res->skipped++;
			r->objects_done++;
			pthread_mutex_unlock(&r->lock);
			atomic_fetch_add(&r->bytes_moved, 0);
			return;
		}
	}
	if (rc == 0 && r->opts->dry_run) {
		pthread_mutex_lock(&r->lock);
		r->objects_done++;
		r->res->copied++; /* would be */
		sync_emit_locked(r, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "event", "s3-would-copy", "bucket",
					      p->src_bucket, "key", it->src.key, "destBucket", p->dst_bucket, "destKey",
					      it->dst_key, "bytes", (json_int_t)it->src.size, "reason", it->reason));
		pthread_mutex_unlock(&r->lock);
		return;
	}
	if (rc == 0)
		rc = vs_s3_copy_object(r->src, p->src_bucket, &it->src, r->dst, p->dst_bucket, it->dst_key, &co,
				       &it->result, &err);
	pthread_mutex_lock(&r->lock);
	r->objects_done++;
	if (rc == 0) {
		it->copied = true;
		r->res->copied++;
		r->res->bytes += it->src.size;
		sync_copied_event(r, it, vs_time_mono_ms() - t0);
	} else {
		it->failed = true;
		sync_fail_locked(r, p->src_bucket, it->src.key, &err);
	}
	pthread_mutex_unlock(&r->lock);
}

static void sync_do_delete(struct sync_run *r, struct sync_item *it)
{
	const struct sync_pair *p = &r->pairs[it->pair];
	vs_error err;
	int rc = 0;

	vs_error_clear(&err);
	if (!r->opts->dry_run)
		rc = vs_s3_delete_object(r->dst, p->dst_bucket, it->dst_key, &err);
	pthread_mutex_lock(&r->lock);
	if (rc == 0) {
		r->res->deleted++;
		sync_emit_locked(r, json_pack("{s:s, s:s, s:s}", "event", r->opts->dry_run ? "s3-would-delete" : "s3-deleted",
					      "bucket", p->dst_bucket, "key", it->dst_key));
	} else {
		it->failed = true;
		sync_fail_locked(r, p->dst_bucket, it->dst_key, &err);
	}
	pthread_mutex_unlock(&r->lock);
}

/* The next item of the current phase, or NULL when there is none (or a stop was asked). */
static struct sync_item *sync_take(struct sync_run *r)
{
	struct sync_item *it = NULL;

	pthread_mutex_lock(&r->lock);
	while (!it && r->next < r->nitems && !r->stopped) {
		struct sync_item *c = &r->items[r->next++];
		if ((r->phase == ITEM_DELETE) == (c->kind == ITEM_DELETE))
			it = c;
	}
	if (vs_stop_requested())
		r->stopped = true;
	pthread_mutex_unlock(&r->lock);
	return it;
}

static void *sync_worker(void *arg)
{
	struct sync_run *r = arg;
	struct sync_item *it;

	while ((it = sync_take(r)))
		if (it->kind == ITEM_DELETE)
			sync_do_delete(r, it);
		else
			sync_do_copy(r, it);
	pthread_mutex_lock(&r->lock);
	r->workers_running--;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Run the items of phase on the workers, with progress every progress_ms. */
static void sync_run_phase(struct sync_run *r, enum item_kind phase)
{
	int n = r->opts->parallel > 0 ? r->opts->parallel : SYNC_PARALLEL_DEFAULT;
	int64_t every = r->opts->progress_ms > 0 ? r->opts->progress_ms : 1000;
	pthread_t *threads;

	if (n > VS_S3_PARALLEL_MAX)
		n = VS_S3_PARALLEL_MAX;
	threads = vs_xcalloc((size_t)n, sizeof(*threads));
	r->phase = phase;
	r->next = 0;
	r->workers_running = 0;
	for (int i = 0; i < n; i++) {
		pthread_mutex_lock(&r->lock);
		r->workers_running++;
		pthread_mutex_unlock(&r->lock);
		if (pthread_create(&threads[i], NULL, sync_worker, r) != 0)
			abort();
	}
	pthread_mutex_lock(&r->lock);
	while (r->workers_running > 0) {
		struct timespec ts;
		vs_time_deadline(&ts, every);
		if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) != 0 && r->workers_running > 0 &&
		    phase != ITEM_DELETE) {
			pthread_mutex_unlock(&r->lock);
			sync_progress(r);
			pthread_mutex_lock(&r->lock);
		}
	}
	pthread_mutex_unlock(&r->lock);
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	free(threads);
}

/* ---- verification ------------------------------------------------------------------------------- */

/* Every source object of pair is on the destination with its size (and ETag, where both are MD5s
 * or the copy recorded it); every deleted key is gone. Differences become failures. */
static int sync_verify_pair(struct sync_run *r, size_t pi, int64_t *checked, int64_t *differences, vs_error *err)
{
	struct sync_pair *p = &r->pairs[pi];
	struct sync_objects d = { 0 };
	int rc;

	if ((rc = vs_s3_list_objects(r->dst, p->dst_bucket, p->dst_prefix, sync_collect, &d, err)) < 0)
		return rc;
	if (d.n)
		qsort(d.v, d.n, sizeof(*d.v), sync_key_cmp);
	for (size_t k = 0; k < r->nitems; k++) {
		struct sync_item *it = &r->items[k];
		vs_s3_object key = { .key = it->dst_key }, *found;
		vs_error e;

		if (it->pair != pi || it->failed)
			continue;
		found = d.n ? bsearch(&key, d.v, d.n, sizeof(*d.v), sync_key_cmp) : NULL;
		vs_error_clear(&e);
		if (it->kind == ITEM_DELETE) {
			if (found)
				vs_error_set(&e, VS_EIO, "verify: %s/%s is still there after its deletion", p->dst_bucket,
					     it->dst_key);
		} else {
			(*checked)++;
			if (!found)
				vs_error_set(&e, VS_EIO, "verify: %s/%s is missing on the destination", p->dst_bucket,
					     it->dst_key);
			else if (found->size != it->src.size)
				vs_error_set(&e, VS_EIO, "verify: %s/%s has %lld bytes, the source %lld", p->dst_bucket,
					     it->dst_key, (long long)found->size, (long long)it->src.size);
			else if (it->copied && !it->result.multipart && vs_s3_etag_is_md5(found->etag) &&
				 it->result.md5_known) {
				char hex[33];
				s3_md5_hex(it->result.md5, hex);
				if (strcasecmp(hex, found->etag) != 0)
					vs_error_set(&e, VS_EIO, "verify: %s/%s has ETag %s, what was copied %s",
						     p->dst_bucket, it->dst_key, found->etag, hex);
			}
			if (!e.code && it->copied && r->opts->verify == VS_S3_VERIFY_CHECKSUM) {
				unsigned char a[16], b[16];
				int64_t as = it->src.size, bs = 0;
				if (it->result.md5_known)
					memcpy(a, it->result.md5, 16);
				if ((it->result.md5_known ||
				     vs_s3_object_md5(r->src, p->src_bucket, it->src.key, a, &as, &e) == 0) &&
				    vs_s3_object_md5(r->dst, p->dst_bucket, it->dst_key, b, &bs, &e) == 0 &&
				    (as != bs || memcmp(a, b, 16) != 0))
					vs_error_set(&e, VS_EIO, "verify: %s/%s differs from the source in content",
						     p->dst_bucket, it->dst_key);
			}
		}
		if (e.code) {
			(*differences)++;
			it->failed = true;
			pthread_mutex_lock(&r->lock);
			if (it->copied) {
				it->copied = false;
				r->res->copied--;
			}
			sync_fail_locked(r, p->dst_bucket, it->dst_key, &e);
			pthread_mutex_unlock(&r->lock);
		}
	}
	sync_objects_free(&d);
	return 0;
}

/* ---- the whole -------------------------------------------------------------------------------- */

static int sync_clients(struct sync_run *r, vs_error *err)
{
	const vs_s3_sync_opts *o = r->opts;
	vs_s3_client_opts co = { .region = o->region, .ca_file = o->ca_file, .insecure = o->insecure,
				 .max_attempts = o->max_attempts };
	int rc;

	co.endpoint = r->src_loc.endpoint;
	co.creds = o->source_creds;
	if ((rc = vs_s3_client_new(&co, &r->src, err)) < 0)
		return vs_error_wrap(err, "source");
	co.endpoint = r->dst_loc.endpoint;
	co.creds = o->dest_creds;
	if ((rc = vs_s3_client_new(&co, &r->dst, err)) < 0)
		return vs_error_wrap(err, "destination");
	return 0;
}

static void sync_add_pair(struct sync_run *r, const char *src_bucket, const char *dst_bucket)
{
	struct sync_pair *p;

	r->pairs = vs_xrealloc(r->pairs, (r->npairs + 1) * sizeof(*r->pairs));
	p = &r->pairs[r->npairs++];
	p->src_bucket = vs_xstrdup(src_bucket);
	p->dst_bucket = vs_xstrdup(dst_bucket);
	p->src_prefix = r->src_loc.prefix;
	p->dst_prefix = r->dst_loc.prefix;
	p->dst_missing = false;
}

/* The buckets to sync: the one named, or every bucket of the source (to the same names). */
static int sync_pairs(struct sync_run *r, vs_error *err)
{
	char **names = NULL;
	size_t n = 0;
	int rc;

	if (r->src_loc.bucket) {
		sync_add_pair(r, r->src_loc.bucket, r->dst_loc.bucket ? r->dst_loc.bucket : r->src_loc.bucket);
		return 0;
	}
	if (r->dst_loc.bucket)
		return vs_error_set(err, VS_EINVAL,
				    "the source names no bucket (every bucket), so the destination must not name one either");
	if ((rc = vs_s3_list_buckets(r->src, &names, &n, err)) < 0)
		return vs_error_wrap(err, "source");
	for (size_t i = 0; i < n; i++) {
		sync_add_pair(r, names[i], names[i]);
		free(names[i]);
	}
	free(names);
	return 0;
}

/* Each destination bucket exists (created when missing, but not in a dry run). */
static int sync_buckets(struct sync_run *r, vs_error *err)
{
	for (size_t i = 0; i < r->npairs; i++) {
		struct sync_pair *p = &r->pairs[i];
		bool exists = false;
		int rc;

		if ((rc = vs_s3_bucket_exists(r->dst, p->dst_bucket, &exists, err)) < 0)
			return vs_error_wrap(err, "destination");
		if (exists)
			continue;
		if (r->opts->dry_run) {
			p->dst_missing = true;
			sync_say(r, "note", "bucket %s would be created on the destination", p->dst_bucket);
			continue;
		}
		if ((rc = vs_s3_create_bucket(r->dst, p->dst_bucket, err)) < 0)
			return vs_error_wrap(err, "destination");
		sync_emit(r, json_pack("{s:s, s:s}", "event", "s3-bucket-created", "bucket", p->dst_bucket));
	}
	return 0;
}

static void sync_summary(struct sync_run *r)
{
	vs_s3_sync_result *res = r->res;

	res->ms = vs_time_mono_ms() - r->start_ms;
	res->requests = (int64_t)((r->src ? vs_s3_client_requests(r->src) : 0) + (r->dst ? vs_s3_client_requests(r->dst) : 0));
	res->retries = (int64_t)((r->src ? vs_s3_client_retries(r->src) : 0) + (r->dst ? vs_s3_client_retries(r->dst) : 0));
	sync_emit(r, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:O}", "event", "s3-summary",
			       "objects", (json_int_t)res->objects, "copied", (json_int_t)res->copied, "skipped",
			       (json_int_t)res->skipped, "deleted", (json_int_t)res->deleted, "failed",
			       (json_int_t)res->failed, "bytes", (json_int_t)res->bytes, "ms", (json_int_t)res->ms,
			       "requests", (json_int_t)res->requests, "retries", (json_int_t)res->retries, "dryRun",
			       r->opts->dry_run, "failures", res->failures));
}

void vs_s3_sync_result_clear(vs_s3_sync_result *r)
{
	if (!r)
		return;
	json_decref(r->failures);
	memset(r, 0, sizeof(*r));
}

static void sync_free(struct sync_run *r)
{
	for (size_t i = 0; i < r->nitems; i++) {
		free(r->items[i].src.key);
		free(r->items[i].dst_key);
	}
	free(r->items);
	for (size_t i = 0; i < r->npairs; i++) {
		free(r->pairs[i].src_bucket);
		free(r->pairs[i].dst_bucket);
	}
	free(r->pairs);
	vs_s3_client_free(r->src);
	vs_s3_client_free(r->dst);
	vs_s3_location_clear(&r->src_loc);
	vs_s3_location_clear(&r->dst_loc);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
}

/* Verify every pair, then say what was found. */
static int sync_verify(struct sync_run *r, vs_error *err)
{
	int64_t checked = 0, differences = 0;
	int rc = 0;

	for (size_t i = 0; i < r->npairs && rc == 0; i++)
		if (!r->pairs[i].dst_missing)
			rc = sync_verify_pair(r, i, &checked, &differences, err);
	if (rc == 0)
		sync_emit(r, json_pack("{s:s, s:s, s:I, s:I}", "event", "s3-verified", "mode",
				       r->opts->verify == VS_S3_VERIFY_CHECKSUM ? "checksum" : "size", "objects",
				       (json_int_t)checked, "differences", (json_int_t)differences));
	return rc;
}

int vs_s3_sync(const vs_s3_sync_opts *opts, vs_s3_sync_result *out, vs_error *err)
{
	struct sync_run r = { .opts = opts, .res = out };
	int rc;

	memset(out, 0, sizeof(*out));
	out->failures = json_array();
	r.start_ms = vs_time_mono_ms();
	atomic_init(&r.bytes_moved, 0);
	pthread_mutex_init(&r.lock, NULL);
	vs_cond_init_monotonic(&r.cond);
	if ((rc = vs_s3_location_parse(opts->source, &r.src_loc, err)) < 0 ||
	    (rc = vs_s3_location_parse(opts->dest, &r.dst_loc, err)) < 0)
		goto done;
	if ((rc = sync_clients(&r, err)) < 0 || (rc = sync_pairs(&r, err)) < 0 || (rc = sync_buckets(&r, err)) < 0)
		goto done;
	for (size_t i = 0; i < r.npairs; i++)
		if ((rc = sync_plan_pair(&r, i, err)) < 0)
			goto done;
	sync_run_phase(&r, ITEM_COPY);
	if (r.stopped) {
		rc = vs_error_set(err, VS_ECANCEL, "stopped on request; run the same command again to finish");
		goto done;
	}
	if (opts->delete_extra && out->failed == 0)
		sync_run_phase(&r, ITEM_DELETE);
	else if (opts->delete_extra)
		sync_say(&r, "warning", "nothing deleted: %lld objects failed to copy", (long long)out->failed);
	if (!opts->dry_run && (rc = sync_verify(&r, err)) < 0)
		goto done;
	if (out->failed > 0) {
		const char *first = json_string_value(json_object_get(json_array_get(out->failures, 0), "message"));
		rc = vs_error_set(err, VS_EIO, "%lld object%s failed; the first: %s", (long long)out->failed,
				  out->failed == 1 ? "" : "s", first ? first : "?");
	}
done:
	sync_summary(&r);
	sync_free(&r);
	return rc;
}
