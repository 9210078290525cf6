/*
 * cluster_int: what the controllers, the scheduler and the node agent of volshift-sim share inside
 * the cluster module: the cluster handle, the resource table entries they use, small accessors and
 * the loop every level-triggered controller runs. Not a public interface (see cluster.h).
 */
#ifndef VS_SIM_CLUSTER_INT_H
#define VS_SIM_CLUSTER_INT_H

#include "cluster.h"

#include <pthread.h>
#include <stdatomic.h>

struct sim_node_agent;

struct sim_cluster {
	sim_store *st;
	char *data_dir;
	sim_timing timing;
	pthread_mutex_t rng_mu;
	vs_rng rng; /* seeded from timing.seed: every random delay (cl_random_ms) */
	atomic_bool stopping;
	pthread_t threads[8];
	int nthreads;
	struct sim_node_agent *agent; /* owned; see node.c */
};

/* Resource table entries (static; looked up once at start). */
extern const sim_resource *cl_res_pod, *cl_res_pvc, *cl_res_pv, *cl_res_sc, *cl_res_node, *cl_res_cm,
	*cl_res_secret, *cl_res_deploy, *cl_res_rs, *cl_res_sts, *cl_res_ds, *cl_res_job, *cl_res_cronjob;

/* One reconcile pass of a controller; runs in its own thread through cl_loop. */
typedef void (*cl_reconcile_fn)(sim_cluster *c);

/* Start a thread that calls fn whenever the store changes, at least every period_ms; on_exit (or
 * NULL) runs in the same thread when the cluster stops. */
int cl_spawn(sim_cluster *c, const char *name, cl_reconcile_fn fn, cl_reconcile_fn on_exit, int64_t period_ms,
	     vs_error *err);

/* The items of a list (new reference to the array; empty array on error, which is logged). */
json_t *cl_list(sim_cluster *c, const sim_resource *res, const char *ns, const char *label_selector);

/* GET; NULL when missing or on error (new reference). */
json_t *cl_get(sim_cluster *c, const sim_resource *res, const char *ns, const char *name);

/* Find an item by namespace and name in a list array (borrowed) or NULL. */
json_t *cl_find(const json_t *items, const char *ns, const char *name);

/* Metadata shortcuts (borrowed, may be NULL). */
const char *cl_name(const json_t *o);
const char *cl_ns(const json_t *o);
const char *cl_uid(const json_t *o);
bool cl_deleting(const json_t *o);

/* An ownerReference (controller, blockOwnerDeletion) to owner (new reference). */
json_t *cl_owner_ref(const json_t *owner);
/* The uid of obj's controller ownerReference, or NULL (borrowed). */
const char *cl_controller_uid(const json_t *obj);

/* True when a LabelSelector ({matchLabels, matchExpressions}) matches labels. An empty or NULL
 * selector matches nothing when match_empty is false (as controllers treat it) */
bool cl_selector_matches(const json_t *selector, const json_t *labels, bool match_empty);

/* True when a node matches a pod spec's nodeSelector and required node affinity. */
bool cl_node_matches_pod(const json_t *node, const json_t *pod_spec);
/* True when a node matches a NodeSelector ({nodeSelectorTerms: [...]}, the PV form). */
bool cl_node_matches_selector(const json_t *node, const json_t *node_selector);
/* True when a node is Ready and schedulable. */
bool cl_node_schedulable(const json_t *node);

/* Pod helpers. */
bool cl_pod_ready(const json_t *pod);
bool cl_pod_active(const json_t *pod); /* not Succeeded/Failed and not being deleted */

/* Update obj (MAIN or STATUS); logs everything except Conflict/NotFound; returns 0 on success. */
int cl_update(sim_cluster *c, const sim_resource *res, const json_t *obj, enum sim_update_kind kind);
/* Write next (borrowed) as obj's status through the status subresource, only when it differs
 * from the stored status (an empty object counts as equal to none or a non-object); 0 also when nothing was written. */
int cl_update_status(sim_cluster *c, const sim_resource *res, const json_t *obj, json_t *next);
/* Create; logs failures except AlreadyExists; returns 0 on success. */
int cl_create(sim_cluster *c, const sim_resource *res, const char *ns, const json_t *obj, json_t **out);
/* Delete with default options; 0 on success or NotFound. */
int cl_delete(sim_cluster *c, const sim_resource *res, const char *ns, const char *name, long grace);

/* A delay uniformly in [lo, hi] ms from the cluster's seeded generator. Thread-safe. */
int64_t cl_random_ms(sim_cluster *c, int64_t lo, int64_t hi);
/* How late a controller sees one change through its watch: uniform in [0, 2 x informer_delay_ms],
 * so its mean is --informer-delay-ms. Thread-safe. */
int64_t cl_informer_delay_ms(sim_cluster *c);

/* Sleep cl_informer_delay_ms, or less when the cluster stops: a controller that reconciles from
 * fresh lists calls this first, so that it sees each change as late as through its informer. */
void cl_watch_delay(sim_cluster *c);

/* Random lower-case alphanumerics ("bcdfghjklmnpqrstvwxz2456789" as Kubernetes) into out[n+1]. */
void cl_rand_suffix(char *out, size_t n);

/* Set a string annotation / label in obj's metadata. */
void cl_set_annotation(json_t *obj, const char *key, const char *value);
void cl_set_label(json_t *obj, const char *key, const char *value);

/* Record an Event once per (object uid, reason, message): controllers retry often, and a real
 * cluster would aggregate the repeats into one event with a count. */
void cl_event_once(sim_cluster *c, const json_t *obj, const char *type, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Parse a Kubernetes quantity ("1Gi", "500M", "1.5Gi", "100m") into a number; -1 when malformed. */
double cl_quantity(const char *s);

/* Subsystems. */
int sim_volume_start(sim_cluster *c, vs_error *err);
int sim_sched_start(sim_cluster *c, vs_error *err);
int sim_workload_start(sim_cluster *c, vs_error *err);
int sim_node_start(sim_cluster *c, vs_error *err);
void sim_node_stop(sim_cluster *c);

#endif
