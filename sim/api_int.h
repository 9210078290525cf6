/*
 * api_int: what store.c, api.c, gc.c and http*.c share inside volshift-sim's API machinery and
 * nobody else sees: the store's lock, its object maps and its history of changes.
 *
 * Objects kept in the store are never modified after they are stored (a write replaces them), so
 * a reference taken under the lock may be read after it is released.
 */
#ifndef VS_SIM_API_INT_H
#define VS_SIM_API_INT_H

#include "api.h"

#include <pthread.h>

enum sim_ev_type { SIM_EV_ADDED, SIM_EV_MODIFIED, SIM_EV_DELETED };

struct sim_hist_ev {
	uint64_t rv;
	const sim_resource *res;
	enum sim_ev_type type;
	json_t *obj; /* the object after the change (for DELETED: as last stored) */
	json_t *old; /* the object before the change, NULL for ADDED */
};

struct sim_store {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	uint64_t rv;
	json_t *objects;   /* "plural.group" -> { "ns/name" -> object } */
	json_t *uids;	   /* metadata.uid -> the stored object (for the GC's owner look-ups) */
	json_t *gc_counts; /* "plural.group" -> how many of its objects the GC acts on (sim_store_gc_snapshot) */
	struct sim_hist_ev *hist;
	size_t hist_cap, hist_start, hist_len;
	uint64_t compacted_rv; /* events with rv <= this are no longer kept */
	bool shutdown;
	int64_t commit_ms, answer_ms; /* sim_store_set_write_latency; 0: writes are immediate */
	vs_rng latency_rng;
	json_t *event_keys;	  /* identical events recorded -> the event's name (sim_api_event aggregates) */
	struct sim_crd_set *crds; /* every custom resource made from a CRD (crd.c) */
	pthread_t gc_thread;
	bool gc_running;
	bool gc_stop;
};

/* The map of one resource's objects ("ns/name" -> object), created on demand. Lock held. */
json_t *sim_store_map_locked(sim_store *st, const sim_resource *res);
/* The stored object or NULL, borrowed. Lock held. */
json_t *sim_store_lookup_locked(sim_store *st, const sim_resource *res, const char *ns, const char *name);
/* Store obj (stolen) under ns/name with the next resourceVersion and record the event. Lock held. */
uint64_t sim_store_put_locked(sim_store *st, const sim_resource *res, const char *ns, const char *name, json_t *obj);
/* Remove ns/name; last (stolen) is the object reported in the DELETED event. Lock held. */
uint64_t sim_store_remove_locked(sim_store *st, const sim_resource *res, const char *ns, const char *name,
				 json_t *last);
/* "ns/name" or "/name" key; caller frees. */
char *sim_store_key(const char *ns, const char *name);

/* One stored object and its resource. */
struct sim_store_item {
	const sim_resource *res;
	json_t *obj;
};

/* Every stored object of every built-in resource and of each CRD's storage version: a new array of
 * *n items, each object a new reference (shared with the store: read only); free with
 * sim_store_snapshot_free, which drops the references under the store's lock (the store's own
 * references change under it). */
struct sim_store_item *sim_store_snapshot(sim_store *st, size_t *n);
void sim_store_snapshot_free(sim_store *st, struct sim_store_item *items, size_t n);
/*
 * What a GC pass reads: as sim_store_snapshot, but only the objects the GC acts on (those with
 * ownerReferences or a deletionTimestamp, and CRDs; every object while a namespace is being
 * deleted), found through per-resource counts, so that a pass costs what it acts on, not what the
 * whole store holds; *owners (uid -> object, shared with the store: read only) holds each stored
 * object their ownerReferences name. Free with sim_store_snapshot_free and sim_store_release(st,
 * *owners).
 */
struct sim_store_item *sim_store_gc_snapshot(sim_store *st, size_t *n, json_t **owners);
/* Drop a reference to a value that shares objects with the store, under the store's lock. */
void sim_store_release(sim_store *st, json_t *shared);
/* True when a and b keep their objects in the same map (one resource, or two versions of a CRD). */
bool sim_resource_same_storage(const sim_resource *a, const sim_resource *b);

/* ---- CRDs (crd.c) ---- */

#define SIM_CRD_GROUP  "apiextensions.k8s.io"
#define SIM_CRD_PLURAL "customresourcedefinitions"
/* The finalizer kube-apiserver puts on a CRD at its first DELETE, until its objects are gone. */
#define SIM_CRD_CLEANUP_FINALIZER "customresourcecleanup.apiextensions.k8s.io"

struct sim_crd_set *sim_crd_set_new(void);
void sim_crd_set_free(struct sim_crd_set *set);
/* True when res is the CustomResourceDefinition resource itself. */
bool sim_res_is_crd(const sim_resource *res);
/* A custom resource's apiVersion ("GROUP/VERSION"); borrowed. */
const char *sim_crd_api_version(const sim_resource *res);
/* Follow a CRD's write (crd, borrowed) or removal (removed): its versions are served from now on
 * when it is Established, no longer when it is gone or changed. Lock held (store.c). */
void sim_crd_sync_locked(sim_store *st, const json_t *crd, bool removed);
/* The storage versions of every CRD served or being deleted: a new array of *n. Lock held. */
const sim_resource **sim_crd_storage_locked(sim_store *st, size_t *n);
/* True when the CRD of custom resource res is being deleted: no object of it may be created. Lock
 * held. */
bool sim_crd_terminating_locked(const sim_resource *res);

/* Defaults kube-apiserver gives a CRD on every write: names.singular, names.listKind,
 * conversion.strategy None, and its storage version in status.storedVersions. */
void sim_crd_default(json_t *crd);
/* The status of a new CRD: no names accepted yet, its storage version stored (new reference). */
json_t *sim_crd_initial_status(const json_t *crd);
/* Why crd is not a valid CustomResourceDefinition ("spec.group: Required value", as
 * kube-apiserver words it) into why, or false when it is valid. old: the stored CRD on an update,
 * or NULL. */
bool sim_crd_invalid(const json_t *crd, const json_t *old, char *why, size_t n);
/* The first DELETE of a CRD: add the cleanup finalizer and the Terminating condition to o. */
void sim_crd_mark_deleting(json_t *o);
/* One pass of the API server's CRD controllers over a snapshot of the store: names and
 * establishing for new CRDs, the cleanup of a deleted CRD's objects. From the GC's thread. */
void sim_crd_controllers(sim_store *st, const struct sim_store_item *items, size_t n);

/* Messages and helpers shared with http.c. */
/* "deployments.apps" or "pods": how kube-apiserver names a resource in errors. Caller frees. */
char *sim_resource_qualified(const sim_resource *res);
/* "StatefulSet.apps" or "Pod": how kube-apiserver names a kind in Invalid errors. Caller frees. */
char *sim_kind_qualified(const sim_resource *res);
/* A deep copy of obj with apiVersion and kind set. */
json_t *sim_obj_with_type(const sim_resource *res, const json_t *obj);
/* True when obj matches the label and field selectors (already parsed). */
bool sim_obj_matches(const sim_resource *res, const json_t *obj, const vs_selector *labels,
		     const vs_selector *fields);
/* Parse and check selectors: 400 BadRequest for unsupported field labels. */
int sim_parse_selectors(const sim_resource *res, const sim_list_opts *opts, vs_selector **labels,
			vs_selector **fields, vs_error *err);
/* Create obj (stolen) of group/plural in ns unless one of its name exists: a bootstrap object. */
int sim_api_create_absent(sim_store *st, const char *group, const char *plural, const char *ns, json_t *obj,
			  vs_error *err);
/* Five random characters of a generated name ("bcdfghjklmnpqrstvwxz2456789", as Kubernetes). */
void sim_random_suffix(char out[6]);
/* The ServiceAccount admission plugin on a pod being created (sa_admission.c): its ServiceAccount
 * and the projected kube-api-access volume mounted in every container. Takes the store's lock. */
void sim_admit_service_account(sim_store *st, json_t *pod);

/* Pass src into dst as a JSON merge patch (RFC 7386); returns the new object (dst is consumed). */
json_t *sim_merge_patch(json_t *dst, const json_t *patch);

#endif
