/*
 * gc: the garbage collector of volshift-sim, what kube-controller-manager runs as garbagecollector
 * and namespace (the pvc-protection and pv-protection controllers are in ctrl_protection.c, with
 * informers and their delays). One thread, level-triggered: every change wakes it, it looks at a
 * snapshot of the store (custom resources included) and makes the writes that bring the store
 * closer to what ownerReferences and deletion propagation require. The snapshot holds only the
 * objects it may act on (with owners, being deleted, CRDs), as the others give it nothing to do,
 * and owners are found by uid: a pass costs what it acts on, not the whole store. Writes carry preconditions, so a race just means another pass. The same thread runs the
 * API server's own CRD controllers (crd.c).
 */
#include "api_int.h"

#include <stdlib.h>
#include <string.h>

/* An object of the pass's snapshot (borrowed). */
typedef struct sim_store_item gc_item;

static bool has_finalizer(const json_t *o, const char *fin)
{
	json_t *f = vs_json_path(o, "metadata.finalizers"), *v;
	size_t i;

	json_array_foreach(f, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), fin) == 0)
			return true;
	return false;
}

static bool deleting(const json_t *o)
{
	return vs_json_path(o, "metadata.deletionTimestamp") != NULL;
}

static const char *ns_of(const json_t *o)
{
	const char *ns = vs_json_str(o, "metadata.namespace");

	return ns ? ns : "";
}

static void gc_log_err(const char *what, const gc_item *it, const vs_error *err)
{
	if (!vs_error_is(err, "NotFound") && !vs_error_is(err, "Conflict"))
		vs_warn("gc: %s %s %s/%s: %s", what, it->res->plural, ns_of(it->obj),
			vs_json_str(it->obj, "metadata.name"), err->message);
}

static void gc_delete(sim_store *st, const gc_item *it, enum sim_propagation prop)
{
	sim_delete_opts opts = {prop, vs_json_str(it->obj, "metadata.uid"), NULL, -1};
	vs_error err;

	vs_debug("gc: deleting %s %s/%s", it->res->plural, ns_of(it->obj), vs_json_str(it->obj, "metadata.name"));
	if (sim_api_delete(st, it->res, ns_of(it->obj), vs_json_str(it->obj, "metadata.name"), &opts, NULL, NULL,
			   &err) != 0)
		gc_log_err("delete", it, &err);
}

/* Write obj (owned) back with the stored resourceVersion as a precondition. */
static void gc_update(sim_store *st, const gc_item *it, json_t *obj, const char *what)
{
	vs_error err;

	vs_debug("gc: %s on %s %s/%s", what, it->res->plural, ns_of(it->obj), vs_json_str(it->obj, "metadata.name"));
	if (sim_api_update(st, it->res, ns_of(it->obj), obj, SIM_UPDATE_MAIN, NULL, &err) != 0)
		gc_log_err(what, it, &err);
	json_decref(obj);
}

static void gc_remove_finalizer(sim_store *st, const gc_item *it, const char *fin)
{
	json_t *o = json_deep_copy(it->obj), *f = vs_json_path(o, "metadata.finalizers"), *nf = json_array(), *v;
	size_t i;

	json_array_foreach(f, i, v)
		if (!json_is_string(v) || strcmp(json_string_value(v), fin) != 0)
			json_array_append(nf, v);
	json_object_set_new(json_object_get(o, "metadata"), "finalizers", nf);
	gc_update(st, it, o, fin);
}

/* Dependents: delete those whose owners are all gone, strip references to orphaning owners, delete
 * in the foreground those whose owner is being deleted in the foreground. */
static void gc_owner_refs(sim_store *st, const gc_item *it, const json_t *owners)
{
	json_t *refs = vs_json_path(it->obj, "metadata.ownerReferences"), *ref, *keep;
	size_t i, dangling = 0, orphaning = 0, alive = 0;
	bool foreground = false;

	if (!json_is_array(refs) || json_array_size(refs) == 0)
		return;
	keep = json_array();
	json_array_foreach(refs, i, ref) {
		const json_t *owner = json_object_get(owners, vs_json_str(ref, "uid") ? vs_json_str(ref, "uid") : "");
		if (!owner) {
			dangling++;
		} else if (deleting(owner) && has_finalizer(owner, "orphan")) {
			orphaning++;
		} else {
			alive++;
			json_array_append(keep, ref);
			if (deleting(owner) && has_finalizer(owner, "foregroundDeletion"))
				foreground = true;
		}
	}
	if (alive == 0 && dangling > 0) {
		if (!deleting(it->obj))
			gc_delete(st, it, SIM_PROPAGATE_BACKGROUND);
	} else if (dangling > 0 || orphaning > 0) {
		json_t *o = json_deep_copy(it->obj);
		if (json_array_size(keep) > 0)
			json_object_set(json_object_get(o, "metadata"), "ownerReferences", keep);
		else
			json_object_del(json_object_get(o, "metadata"), "ownerReferences");
		gc_update(st, it, o, "removing owner references");
	} else if (foreground && !deleting(it->obj)) {
		gc_delete(st, it, SIM_PROPAGATE_FOREGROUND);
	}
	json_decref(keep);
}

static void gc_namespace(sim_store *st, const gc_item *it, const gc_item *items, size_t n)
{
	const char *name = vs_json_str(it->obj, "metadata.name");
	size_t left = 0;

	for (size_t i = 0; i < n; i++) {
		if (!items[i].res->namespaced || strcmp(ns_of(items[i].obj), name) != 0)
			continue;
		left++;
		if (!deleting(items[i].obj))
			gc_delete(st, &items[i], SIM_PROPAGATE_BACKGROUND);
	}
	if (left == 0) {
		json_t *o = json_deep_copy(it->obj);
		json_object_set_new(json_object_get(o, "spec"), "finalizers", json_array());
		gc_update(st, it, o, "finalizing namespace");
	}
}

static void gc_deleting(sim_store *st, const gc_item *it, json_t *ref_count, const gc_item *items, size_t n)
{
	const char *uid = vs_json_str(it->obj, "metadata.uid");
	bool has_deps = uid && json_object_get(ref_count, uid);

	if (has_finalizer(it->obj, "orphan") && !has_deps)
		gc_remove_finalizer(st, it, "orphan");
	else if (has_finalizer(it->obj, "foregroundDeletion") && !has_deps)
		gc_remove_finalizer(st, it, "foregroundDeletion");
	if (strcmp(it->res->plural, "namespaces") == 0 && *it->res->group == '\0')
		gc_namespace(st, it, items, n);
}

static void gc_pass(sim_store *st)
{
	json_t *owners, *ref_count = json_object(), *ref;
	size_t n, i, j;
	gc_item *items = sim_store_gc_snapshot(st, &n, &owners);

	for (i = 0; i < n; i++)
		json_array_foreach(vs_json_path(items[i].obj, "metadata.ownerReferences"), j, ref)
			if (vs_json_str(ref, "uid"))
				json_object_set_new(ref_count, vs_json_str(ref, "uid"), json_true());
	for (i = 0; i < n; i++) {
		gc_owner_refs(st, &items[i], owners);
		if (deleting(items[i].obj))
			gc_deleting(st, &items[i], ref_count, items, n);
	}
	sim_crd_controllers(st, items, n);
	sim_store_snapshot_free(st, items, n);
	sim_store_release(st, owners);
	json_decref(ref_count);
}

static void *gc_main(void *arg)
{
	sim_store *st = arg;
	uint64_t seen = 0;

	for (;;) {
		bool stop;
		pthread_mutex_lock(&st->mu);
		stop = st->gc_stop || st->shutdown;
		pthread_mutex_unlock(&st->mu);
		if (stop)
			break;
		seen = sim_store_wait(st, seen, 500);
		gc_pass(st);
	}
	return NULL;
}

int sim_gc_start(sim_store *st, vs_error *err)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	if (st->gc_running) {
		pthread_mutex_unlock(&st->mu);
		return 0;
	}
	st->gc_stop = false;
	rc = pthread_create(&st->gc_thread, NULL, gc_main, st);
	st->gc_running = rc == 0;
	pthread_mutex_unlock(&st->mu);
	if (rc != 0)
		return vs_error_set(err, VS_EIO, "gc: cannot start thread: %s", strerror(rc));
	return 0;
}

void sim_gc_stop(sim_store *st)
{
	bool running;

	if (!st)
		return;
	pthread_mutex_lock(&st->mu);
	running = st->gc_running;
	st->gc_stop = true;
	st->gc_running = false;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->mu);
	if (running)
		pthread_join(st->gc_thread, NULL);
}
