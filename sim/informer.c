/*
 * informer: what client-go's informers are to a real controller, for volshift-sim's controllers.
 * An informer follows the store's watch of one resource (a list first, then a watch from its
 * resourceVersion, a list again when the watch answers 410 Gone) and hands each event to its
 * consumer late, as a real watch does: each event waits its own random delay
 * (cl_informer_delay_ms), but never overtakes an earlier event of the same informer, as a watch
 * stream is ordered. Two informers, even on the same resource, see the same changes at different
 * times and in a different order relative to each other; that is where a real cluster's races
 * come from. Its lister (cl_informer_get/list) holds each object as it was last delivered.
 *
 * Also here: cl_cache, the thread-safe map of objects that listers and controllers' own caches use.
 */
#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The longest an informer waits in one watch call, so that it notices a stop this fast. */
#define INFORMER_POLL_MS 100

/* ---- cache -------------------------------------------------------------------------------------- */

/* Every object in a cache is its own deep copy, read and freed under its lock only: no JSON object
 * is shared between threads, as jansson's reference counts do not order a free after another
 * thread's last read. */

void cl_cache_init(cl_cache *cache)
{
	pthread_mutex_init(&cache->mu, NULL);
	cache->objs = json_object();
}

void cl_cache_destroy(cl_cache *cache)
{
	json_decref(cache->objs);
	pthread_mutex_destroy(&cache->mu);
}

char *cl_key(const json_t *obj)
{
	const char *ns = cl_ns(obj), *name = cl_name(obj);

	if (ns && *ns)
		return vs_xasprintf("%s/%s", ns, name ? name : "");
	return vs_xstrdup(name ? name : "");
}

json_t *cl_cache_get(cl_cache *cache, const char *key)
{
	json_t *o;

	pthread_mutex_lock(&cache->mu);
	o = json_deep_copy(json_object_get(cache->objs, key));
	pthread_mutex_unlock(&cache->mu);
	return o;
}

void cl_cache_put(cl_cache *cache, const json_t *obj)
{
	char *key = cl_key(obj);
	json_t *copy = json_deep_copy(obj);

	pthread_mutex_lock(&cache->mu);
	json_object_set_new(cache->objs, key, copy);
	pthread_mutex_unlock(&cache->mu);
	free(key);
}

static unsigned long long rv_of(const json_t *obj)
{
	const char *rv = vs_json_str(obj, "metadata.resourceVersion");

	return rv ? strtoull(rv, NULL, 10) : 0;
}

bool cl_cache_store_newer(cl_cache *cache, const json_t *obj)
{
	char *key = cl_key(obj);
	json_t *old, *copy = json_deep_copy(obj);
	bool stored = false;

	pthread_mutex_lock(&cache->mu);
	old = json_object_get(cache->objs, key);
	/* storeObjectUpdate: throw away only an older version; the same one passes (periodic syncs) */
	if (!old || rv_of(old) <= rv_of(obj)) {
		json_object_set_new(cache->objs, key, copy);
		copy = NULL;
		stored = true;
	}
	pthread_mutex_unlock(&cache->mu);
	json_decref(copy);
	free(key);
	return stored;
}

void cl_cache_del(cl_cache *cache, const char *key)
{
	pthread_mutex_lock(&cache->mu);
	json_object_del(cache->objs, key);
	pthread_mutex_unlock(&cache->mu);
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every object, sorted by key, shared with the cache (read and released under its lock only). */
static json_t *sorted_locked(cl_cache *cache)
{
	json_t *arr = json_array(), *o;
	const char **keys, *k;
	size_t n = 0;

	keys = vs_xcalloc(json_object_size(cache->objs) + 1, sizeof *keys);
	json_object_foreach(cache->objs, k, o)
		keys[n++] = k;
	qsort(keys, n, sizeof *keys, cmp_keys);
	for (size_t i = 0; i < n; i++)
		json_array_append(arr, json_object_get(cache->objs, keys[i]));
	free(keys);
	return arr;
}

json_t *cl_cache_list(cl_cache *cache)
{
	json_t *shared, *arr;

	pthread_mutex_lock(&cache->mu);
	shared = sorted_locked(cache);
	arr = json_deep_copy(shared);
	json_decref(shared);
	pthread_mutex_unlock(&cache->mu);
	return arr;
}

json_t *cl_cache_pick(cl_cache *cache, cl_pick_fn pick, void *arg)
{
	json_t *shared, *out;

	pthread_mutex_lock(&cache->mu);
	shared = sorted_locked(cache);
	out = json_deep_copy(pick(shared, arg));
	json_decref(shared);
	pthread_mutex_unlock(&cache->mu);
	return out;
}

void cl_enqueue_key(void *q, const json_t *obj)
{
	char *key = cl_key(obj);

	cl_wq_add(q, key);
	free(key);
}

void cl_enqueue_new_key(void *q, const json_t *old, const json_t *obj)
{
	(void)old;
	cl_enqueue_key(q, obj);
}

/* ---- informer ----------------------------------------------------------------------------------- */

struct cl_informer {
	sim_cluster *c;
	const sim_resource *res;
	cl_handlers h;
	cl_cache lister;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	/* the informer thread's own */
	uint64_t watch_rv;  /* where the watch continues from */
	json_t *pending;    /* events received, not yet delivered, in order: [{type, object, due}] */
	int64_t last_due;   /* the due time of the last event queued: none is delivered before it */
	/* what cl_informer_wait waits for */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	uint64_t delivered_rv; /* every change up to this resourceVersion has been delivered */
};

static void set_delivered(cl_informer *inf, uint64_t rv)
{
	pthread_mutex_lock(&inf->mu);
	if (rv > inf->delivered_rv)
		inf->delivered_rv = rv;
	pthread_cond_broadcast(&inf->cond);
	pthread_mutex_unlock(&inf->mu);
}

/* Queue one event (object borrowed) behind the others, due after its own delay. */
static void queue_event(cl_informer *inf, const char *type, json_t *obj, int64_t delay_ms)
{
	int64_t due = vs_time_mono_ms() + delay_ms;

	if (due < inf->last_due)
		due = inf->last_due;
	inf->last_due = due;
	json_array_append_new(inf->pending, json_pack("{s:s, s:O, s:I}", "type", type, "object", obj, "due", (json_int_t)due));
}

/* Update the lister, then tell the consumer (the lock is not held while handlers run). */
static void deliver(cl_informer *inf, const char *type, json_t *obj)
{
	char *key = cl_key(obj);
	json_t *old = cl_cache_get(&inf->lister, key);

	if (strcmp(type, "DELETED") == 0) {
		cl_cache_del(&inf->lister, key);
		if (inf->h.del)
			inf->h.del(inf->h.arg, obj);
	} else {
		cl_cache_put(&inf->lister, obj);
		if (old && inf->h.update)
			inf->h.update(inf->h.arg, old, obj);
		else if (!old && inf->h.add)
			inf->h.add(inf->h.arg, obj);
	}
	json_decref(old);
	free(key);
}

static void deliver_due(cl_informer *inf)
{
	int64_t now = vs_time_mono_ms();

	while (json_array_size(inf->pending) > 0) {
		json_t *ev = json_array_get(inf->pending, 0);
		json_t *obj = json_incref(json_object_get(ev, "object"));
		char type[16];
		if (json_integer_value(json_object_get(ev, "due")) > now) {
			json_decref(obj);
			return;
		}
		snprintf(type, sizeof type, "%s", vs_json_str_or(ev, "type", ""));
		json_array_remove(inf->pending, 0);
		deliver(inf, type, obj);
		set_delivered(inf, rv_of(obj));
		json_decref(obj);
	}
	set_delivered(inf, inf->watch_rv);
}

/*
 * List, and queue what differs from the lister as events (a relist after 410 Gone: client-go's
 * Replace, where every listed object is an update and every vanished one a delete). On the first
 * list (initial), deliver at once: a controller starts its workers only once its caches synced.
 */
static int list_and_replace(cl_informer *inf, bool initial, vs_error *err)
{
	json_t *list = NULL, *items, *it, *known, *cached, *o;
	int64_t delay = initial ? 0 : cl_informer_delay_ms(inf->c);
	size_t i;
	int rc;

	if ((rc = sim_api_list(inf->c->st, inf->res, NULL, NULL, &list, err)) != 0)
		return rc;
	items = json_object_get(list, "items");
	known = json_object();
	json_array_foreach(items, i, it) {
		char *key = cl_key(it);
		json_object_set_new(known, key, json_true());
		free(key);
		if (initial)
			deliver(inf, "ADDED", it);
		else
			queue_event(inf, "MODIFIED", it, delay);
	}
	cached = cl_cache_list(&inf->lister);
	json_array_foreach(cached, i, o) {
		char *key = cl_key(o);
		if (!json_object_get(known, key))
			queue_event(inf, "DELETED", o, delay);
		free(key);
	}
	json_decref(cached);
	json_decref(known);
	inf->watch_rv = strtoull(vs_json_str_or(list, "metadata.resourceVersion", "0"), NULL, 10);
	json_decref(list);
	if (initial)
		set_delivered(inf, inf->watch_rv);
	return 0;
}

/* One watch call: waits until an event arrives or the next pending one is due. */
static void watch_once(cl_informer *inf)
{
	int64_t wait = INFORMER_POLL_MS;
	json_t *events = NULL, *ev;
	uint64_t next = inf->watch_rv;
	vs_error err;
	size_t i;

	vs_error_clear(&err);
	if (json_array_size(inf->pending) > 0) {
		int64_t due = json_integer_value(json_object_get(json_array_get(inf->pending, 0), "due"));
		wait = due - vs_time_mono_ms();
		wait = wait < 0 ? 0 : wait > INFORMER_POLL_MS ? INFORMER_POLL_MS : wait;
	}
	if (sim_api_watch(inf->c->st, inf->res, NULL, NULL, inf->watch_rv, wait, &events, &next, &err) != 0) {
		if (err.http_status == 410) {
			vs_debug("informer %s: %s; listing again", inf->res->plural, err.message);
			vs_error_clear(&err);
			if (list_and_replace(inf, false, &err) == 0)
				return;
		}
		vs_warn("informer %s: %s", inf->res->plural, err.message);
		vs_sleep_ms(INFORMER_POLL_MS);
		return;
	}
	json_array_foreach(events, i, ev)
		queue_event(inf, vs_json_str_or(ev, "type", ""), json_object_get(ev, "object"),
			    cl_informer_delay_ms(inf->c));
	json_decref(events);
	inf->watch_rv = next;
}

static void *informer_main(void *arg)
{
	cl_informer *inf = arg;

	while (!atomic_load(&inf->stop) && !atomic_load(&inf->c->stopping)) {
		watch_once(inf);
		deliver_due(inf);
	}
	return NULL;
}

int cl_informer_start(sim_cluster *c, const sim_resource *res, const cl_handlers *h, cl_informer **out,
		      vs_error *err)
{
	cl_informer *inf = vs_xcalloc(1, sizeof *inf);
	int rc;

	*out = NULL;
	inf->c = c;
	inf->res = res;
	if (h)
		inf->h = *h;
	cl_cache_init(&inf->lister);
	inf->pending = json_array();
	atomic_init(&inf->stop, false);
	pthread_mutex_init(&inf->mu, NULL);
	vs_cond_init_monotonic(&inf->cond);
	rc = list_and_replace(inf, true, err);
	if (rc == 0 && (rc = pthread_create(&inf->thread, NULL, informer_main, inf)) != 0)
		rc = vs_error_set(err, VS_EIO, "informer %s: cannot start its thread: %s", res->plural, strerror(rc));
	inf->started = rc == 0;
	if (rc != 0) {
		cl_informer_stop(inf);
		return rc;
	}
	*out = inf;
	return 0;
}

void cl_informer_stop(cl_informer *inf)
{
	if (!inf)
		return;
	atomic_store(&inf->stop, true);
	if (inf->started)
		pthread_join(inf->thread, NULL);
	json_decref(inf->pending);
	cl_cache_destroy(&inf->lister);
	pthread_cond_destroy(&inf->cond);
	pthread_mutex_destroy(&inf->mu);
	free(inf);
}

json_t *cl_informer_get(cl_informer *inf, const char *key)
{
	return cl_cache_get(&inf->lister, key);
}

json_t *cl_informer_list(cl_informer *inf)
{
	return cl_cache_list(&inf->lister);
}

json_t *cl_informer_pick(cl_informer *inf, cl_pick_fn pick, void *arg)
{
	return cl_cache_pick(&inf->lister, pick, arg);
}

bool cl_informer_wait(cl_informer *inf, uint64_t rv, int64_t timeout_ms)
{
	bool ok;
	struct timespec ts;

	vs_time_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&inf->mu);
	while (inf->delivered_rv < rv) {
		if (pthread_cond_timedwait(&inf->cond, &inf->mu, &ts) != 0)
			break;
	}
	ok = inf->delivered_rv >= rv;
	pthread_mutex_unlock(&inf->mu);
	return ok;
}

void cl_informer_each(cl_informer *inf, void (*fn)(void *arg, const json_t *obj), void *arg)
{
	json_t *objs = cl_cache_list(&inf->lister), *o;
	size_t i;

	json_array_foreach(objs, i, o)
		fn(arg, o);
	json_decref(objs);
}

/* ---- sources ------------------------------------------------------------------------------------- */

int cl_source_start(sim_cluster *c, const sim_resource *res, const cl_handlers *h, int64_t retry_base_ms,
		    int64_t retry_max_ms, cl_source *s, vs_error *err)
{
	cl_handlers own = h ? *h : CL_QUEUE_HANDLERS(NULL);

	cl_wq_init(&s->q, retry_base_ms, retry_max_ms);
	s->live = true;
	if (!own.arg)
		own.arg = &s->q;
	return cl_informer_start(c, res, &own, &s->inf, err);
}

void cl_sources_stop(cl_source *s, size_t n, pthread_t *threads, int *nthreads)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].live)
			cl_wq_shutdown(&s[i].q);
	for (int i = 0; i < *nthreads; i++)
		pthread_join(threads[i], NULL);
	*nthreads = 0;
	for (size_t i = 0; i < n; i++) {
		cl_informer_stop(s[i].inf);
		s[i].inf = NULL;
		if (s[i].live)
			cl_wq_destroy(&s[i].q);
		s[i].live = false;
	}
}
