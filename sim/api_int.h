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
	json_t *objects; /* "plural.group" -> { "ns/name" -> object } */
	struct sim_hist_ev *hist;
	size_t hist_cap, hist_start, hist_len;
	uint64_t compacted_rv; /* events with rv <= this are no longer kept */
	bool shutdown;
	int64_t commit_ms, answer_ms; /* sim_store_set_write_latency; 0: writes are immediate */
	vs_rng latency_rng;
	json_t *event_keys; /* identical events recorded -> the event's name (sim_api_event aggregates) */
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

/* Every stored object of every resource: an array of [resource index, object] pairs (shared refs). */
json_t *sim_store_snapshot(sim_store *st);

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
