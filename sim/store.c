/*
 * store: the in-memory object store of volshift-sim (what etcd is to a real cluster): one lock,
 * one cluster-wide resourceVersion, per-resource object maps and a bounded history of changes
 * that watches read from.
 */
#include "api_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIM_HISTORY_DEFAULT 20000

sim_store *sim_store_new(void)
{
	sim_store *st = vs_xcalloc(1, sizeof(*st));

	pthread_mutex_init(&st->mu, NULL);
	vs_cond_init_monotonic(&st->cond);
	st->objects = json_object();
	st->uids = json_object();
	st->gc_counts = json_object();
	st->hist_cap = SIM_HISTORY_DEFAULT;
	st->hist = vs_xcalloc(st->hist_cap, sizeof(*st->hist));
	st->rv = 1;
	st->crds = sim_crd_set_new();
	return st;
}

static void hist_ev_clear(struct sim_hist_ev *ev)
{
	json_decref(ev->obj);
	json_decref(ev->old);
	memset(ev, 0, sizeof(*ev));
}

void sim_store_free(sim_store *st)
{
	if (!st)
		return;
	sim_gc_stop(st);
	for (size_t i = 0; i < st->hist_len; i++)
		hist_ev_clear(&st->hist[(st->hist_start + i) % st->hist_cap]);
	free(st->hist);
	json_decref(st->uids);
	json_decref(st->gc_counts);
	json_decref(st->objects);
	json_decref(st->event_keys);
	sim_crd_set_free(st->crds);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

void sim_store_set_history_limit(sim_store *st, size_t n)
{
	pthread_mutex_lock(&st->mu);
	for (size_t i = 0; i < st->hist_len; i++)
		hist_ev_clear(&st->hist[(st->hist_start + i) % st->hist_cap]);
	if (st->hist_len)
		st->compacted_rv = st->rv;
	free(st->hist);
	st->hist_cap = n ? n : 1;
	st->hist = vs_xcalloc(st->hist_cap, sizeof(*st->hist));
	st->hist_start = st->hist_len = 0;
	pthread_mutex_unlock(&st->mu);
}

uint64_t sim_store_rv(sim_store *st)
{
	uint64_t rv;

	pthread_mutex_lock(&st->mu);
	rv = st->rv;
	pthread_mutex_unlock(&st->mu);
	return rv;
}

uint64_t sim_store_wait(sim_store *st, uint64_t since, int64_t timeout_ms)
{
	struct timespec ts;
	uint64_t rv;

	vs_time_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&st->mu);
	while (st->rv <= since && !st->shutdown) {
		if (pthread_cond_timedwait(&st->cond, &st->mu, &ts) != 0)
			break;
	}
	rv = st->rv;
	pthread_mutex_unlock(&st->mu);
	return rv;
}

void sim_store_shutdown(sim_store *st)
{
	pthread_mutex_lock(&st->mu);
	st->shutdown = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->mu);
}

char *sim_store_key(const char *ns, const char *name)
{
	return vs_xasprintf("%s/%s", ns ? ns : "", name);
}

json_t *sim_store_map_locked(sim_store *st, const sim_resource *res)
{
	char key[160];
	json_t *m;

	snprintf(key, sizeof(key), "%s.%s", res->plural, res->group);
	m = json_object_get(st->objects, key);
	if (!m) {
		m = json_object();
		json_object_set_new(st->objects, key, m);
	}
	return m;
}

json_t *sim_store_lookup_locked(sim_store *st, const sim_resource *res, const char *ns, const char *name)
{
	char *key = sim_store_key(res->namespaced ? ns : "", name);
	json_t *o = json_object_get(sim_store_map_locked(st, res), key);

	free(key);
	return o;
}

static void hist_record(sim_store *st, const sim_resource *res, enum sim_ev_type type, json_t *obj, json_t *old)
{
	struct sim_hist_ev *ev;

	if (st->hist_len == st->hist_cap) {
		ev = &st->hist[st->hist_start];
		st->compacted_rv = ev->rv;
		hist_ev_clear(ev);
		st->hist_start = (st->hist_start + 1) % st->hist_cap;
		st->hist_len--;
	}
	ev = &st->hist[(st->hist_start + st->hist_len) % st->hist_cap];
	st->hist_len++;
	ev->rv = st->rv;
	ev->res = res;
	ev->type = type;
	ev->obj = json_incref(obj);
	ev->old = json_incref(old);
}

static void res_key(const sim_resource *res, char *key, size_t size)
{
	snprintf(key, size, "%s.%s", res->plural, res->group);
}

/* Whether a GC pass acts on obj (NULL: no): it has owners, is being deleted or is a CRD. */
static bool gc_acts_on(const sim_resource *res, const json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");

	return obj && (json_array_size(json_object_get(meta, "ownerReferences")) > 0 ||
		       json_object_get(meta, "deletionTimestamp") || sim_res_is_crd(res));
}

/* Keep the uid index and the GC's counts current as old (or NULL) becomes obj (or NULL). Lock held. */
static void index_locked(sim_store *st, const sim_resource *res, json_t *old, json_t *obj)
{
	const char *old_uid = vs_json_str(old, "metadata.uid"), *uid = vs_json_str(obj, "metadata.uid");
	int delta = (int)gc_acts_on(res, obj) - (int)gc_acts_on(res, old);
	char key[160];

	if (old_uid && json_object_get(st->uids, old_uid) == old)
		json_object_del(st->uids, old_uid);
	if (uid)
		json_object_set(st->uids, uid, obj);
	if (delta == 0)
		return;
	res_key(res, key, sizeof(key));
	json_object_set_new(st->gc_counts, key,
			    json_integer(json_integer_value(json_object_get(st->gc_counts, key)) + delta));
}

static void set_rv(json_t *obj, uint64_t rv)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)rv);
	vs_json_set_path(obj, "metadata.resourceVersion", json_string(buf));
}

uint64_t sim_store_put_locked(sim_store *st, const sim_resource *res, const char *ns, const char *name, json_t *obj)
{
	json_t *map = sim_store_map_locked(st, res);
	char *key = sim_store_key(res->namespaced ? ns : "", name);
	json_t *old = json_incref(json_object_get(map, key));

	st->rv++;
	set_rv(obj, st->rv);
	json_object_set(map, key, obj);
	index_locked(st, res, old, obj);
	hist_record(st, res, old ? SIM_EV_MODIFIED : SIM_EV_ADDED, obj, old);
	if (sim_res_is_crd(res))
		sim_crd_sync_locked(st, obj, false);
	json_decref(old);
	json_decref(obj);
	free(key);
	pthread_cond_broadcast(&st->cond);
	return st->rv;
}

uint64_t sim_store_remove_locked(sim_store *st, const sim_resource *res, const char *ns, const char *name,
				 json_t *last)
{
	json_t *map = sim_store_map_locked(st, res);
	char *key = sim_store_key(res->namespaced ? ns : "", name);
	json_t *old = json_incref(json_object_get(map, key));

	st->rv++;
	set_rv(last, st->rv);
	json_object_del(map, key);
	index_locked(st, res, old, NULL);
	hist_record(st, res, SIM_EV_DELETED, last, old);
	if (sim_res_is_crd(res))
		sim_crd_sync_locked(st, last, true);
	json_decref(old);
	json_decref(last);
	free(key);
	pthread_cond_broadcast(&st->cond);
	return st->rv;
}

bool sim_resource_same_storage(const sim_resource *a, const sim_resource *b)
{
	return a == b || (strcmp(a->group, b->group) == 0 && strcmp(a->plural, b->plural) == 0);
}

/* Append the objects of res to items (*n of *cap): all of them when full, else those a GC pass acts
 * on. Lock held. */
static void snapshot_add_locked(sim_store *st, const sim_resource *res, bool full, struct sim_store_item **items,
				size_t *n, size_t *cap)
{
	const char *k;
	json_t *o;

	json_object_foreach (sim_store_map_locked(st, res), k, o) {
		if (!full && !gc_acts_on(res, o))
			continue;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*items = vs_xrealloc(*items, *cap * sizeof(**items));
		}
		(*items)[(*n)++] = (struct sim_store_item){ res, json_incref(o) };
	}
}

/* Whether a GC pass reads res: always for a full snapshot, else when it holds an object the GC acts on. */
static bool gc_reads_locked(sim_store *st, const sim_resource *res, bool full)
{
	char key[160];

	res_key(res, key, sizeof(key));
	return full || json_integer_value(json_object_get(st->gc_counts, key)) > 0;
}

/* The objects of every resource that gc_reads_locked (all of them, or those a GC pass acts on), in
 * the order of sim_resource_all then the CRDs' storage. Lock held. */
static struct sim_store_item *snapshot_locked(sim_store *st, size_t *n, bool full)
{
	struct sim_store_item *items = NULL;
	const sim_resource **custom;
	size_t cap = 0, ncustom = 0;

	*n = 0;
	for (const sim_resource *r = sim_resource_all(); r->plural; r++)
		if (gc_reads_locked(st, r, full))
			snapshot_add_locked(st, r, full, &items, n, &cap);
	custom = sim_crd_storage_locked(st, &ncustom);
	for (size_t i = 0; i < ncustom; i++)
		if (gc_reads_locked(st, custom[i], full))
			snapshot_add_locked(st, custom[i], full, &items, n, &cap);
	free(custom);
	return items;
}

struct sim_store_item *sim_store_snapshot(sim_store *st, size_t *n)
{
	struct sim_store_item *items;

	pthread_mutex_lock(&st->mu);
	items = snapshot_locked(st, n, true);
	pthread_mutex_unlock(&st->mu);
	return items;
}

struct sim_store_item *sim_store_gc_snapshot(sim_store *st, size_t *n, json_t **owners)
{
	struct sim_store_item *items;
	json_t *ref;
	size_t j;

	*owners = json_object();
	pthread_mutex_lock(&st->mu);
	items = snapshot_locked(st, n, gc_reads_locked(st, sim_resource_find("", "namespaces"), false));
	for (size_t i = 0; i < *n; i++)
		json_array_foreach (vs_json_path(items[i].obj, "metadata.ownerReferences"), j, ref) {
			const char *uid = vs_json_str(ref, "uid");
			json_t *owner = uid ? json_object_get(st->uids, uid) : NULL;
			if (owner)
				json_object_set(*owners, uid, owner);
		}
	pthread_mutex_unlock(&st->mu);
	return items;
}

void sim_store_release(sim_store *st, json_t *shared)
{
	pthread_mutex_lock(&st->mu);
	json_decref(shared);
	pthread_mutex_unlock(&st->mu);
}

void sim_store_snapshot_free(sim_store *st, struct sim_store_item *items, size_t n)
{
	pthread_mutex_lock(&st->mu);
	for (size_t i = 0; i < n; i++)
		json_decref(items[i].obj);
	pthread_mutex_unlock(&st->mu);
	free(items);
}
