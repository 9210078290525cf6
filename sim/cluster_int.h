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
#include <time.h>

struct sim_node_agent;

/* Annotations the volume controllers, the provisioner and the scheduler share. */
#define ANN_BIND_COMPLETED           "pv.kubernetes.io/bind-completed"
#define ANN_BOUND_BY_CONTROLLER      "pv.kubernetes.io/bound-by-controller"
#define ANN_DYNAMICALLY_PROVISIONED  "pv.kubernetes.io/provisioned-by"
#define ANN_SELECTED_NODE            "volume.kubernetes.io/selected-node"
#define ANN_STORAGE_PROVISIONER      "volume.kubernetes.io/storage-provisioner"
#define ANN_BETA_STORAGE_PROVISIONER "volume.beta.kubernetes.io/storage-provisioner"

/* What a subsystem does when the cluster stops (stop its threads, free what it owns). */
typedef void (*cl_stop_fn)(void *arg);

struct sim_cluster {
	sim_store *st;
	char *data_dir;
	sim_timing timing;
	pthread_mutex_t rng_mu;
	vs_rng rng; /* seeded from timing.seed: every random delay (cl_random_ms) */
	atomic_bool stopping;
	pthread_t threads[8];
	int nthreads;
	struct {
		cl_stop_fn fn;
		void *arg;
	} stops[16]; /* cl_at_stop, run in reverse order by sim_cluster_stop */
	int nstops;
	struct sim_node_agent *agent; /* owned; see node.c */
	json_t *sched_lists;	      /* the scheduler's thread's own (cl_list_reuse) */
	json_t *workload_lists;	      /* the workload controllers' thread's own (cl_list_reuse) */
	pthread_mutex_t api_mu;	      /* guards api (sim_cluster_set_api) */
	sim_cluster_api api;	      /* port 0 until set; ca_pem owned */
};

/* A copy of the cluster's API (sim_cluster_set_api) with ca_pem the caller's; false until it is set. */
bool cl_api(sim_cluster *c, sim_cluster_api *out);

/*
 * A cluster that runs nothing yet (sim_cluster_start starts its subsystems on one): for tests that
 * drive one controller by hand. Free with cl_free, which runs the cl_at_stop hooks first.
 */
int cl_new(sim_store *st, const char *data_dir, const sim_timing *timing, sim_cluster **out, vs_error *err);
void cl_free(sim_cluster *c);
/* Run fn(arg) when the cluster stops, after `stopping` is set, in the reverse order of registration. */
int cl_at_stop(sim_cluster *c, cl_stop_fn fn, void *arg, vs_error *err);

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

/*
 * The items of every object of res, as cl_list(c, res, NULL, NULL) gives them, reusing the copies
 * of the objects that did not change since this thread's last call with the same *lists (an object
 * of resource -> copies, NULL at first, owned by one thread; free with json_decref). The items are
 * shared with *lists: read only. New reference to the array.
 */
json_t *cl_list_reuse(sim_cluster *c, const sim_resource *res, json_t **lists);
/* cl_list_reuse for cl_lists_find only: the copies of res in *lists made current, no list. */
void cl_lists_refresh(sim_cluster *c, const sim_resource *res, json_t **lists);
/* The item ns/name (ns ignored for a cluster-scoped res) of the last cl_list_reuse of res with
 * lists, or NULL: cl_find without the walk (borrowed from lists). */
json_t *cl_lists_find(const json_t *lists, const sim_resource *res, const char *ns, const char *name);

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

/* ---- caches, work queues and informers (informer.c, workqueue.c) ---------------------------- */

/* A thread-safe map of objects by key ("ns/name", or "name" for cluster-scoped objects, as
 * client-go's MetaNamespaceKeyFunc). It keeps its own deep copy of what is put in and hands out
 * deep copies (the caller's, to free), so that threads never share a JSON object. */
typedef struct cl_cache {
	pthread_mutex_t mu;
	json_t *objs;
} cl_cache;

void cl_cache_init(cl_cache *cache);
void cl_cache_destroy(cl_cache *cache);
/* The key of an object (caller frees). */
char *cl_key(const json_t *obj);
json_t *cl_cache_get(cl_cache *cache, const char *key);
void cl_cache_put(cl_cache *cache, const json_t *obj);
/* storeObjectUpdate of the PV controller: store obj unless the cache holds a newer resourceVersion
 * of it (the same one passes); true when stored. */
bool cl_cache_store_newer(cl_cache *cache, const json_t *obj);
void cl_cache_del(cl_cache *cache, const char *key);
/* Every object, sorted by key (new reference to a new array). */
json_t *cl_cache_list(cl_cache *cache);
/* Chooses one object of objs (borrowed, sorted by key) or NULL; returns it borrowed. */
typedef const json_t *(*cl_pick_fn)(const json_t *objs, void *arg);
/* A copy of the object pick chooses among every object (NULL when none), with no copy of the others:
 * pick runs under the cache's lock, so it must not call into the cache. */
json_t *cl_cache_pick(cl_cache *cache, cl_pick_fn pick, void *arg);

/* client-go's work queue: a key is queued once however often it is added; a key added while a
 * worker has it is queued again when that worker calls done. Thread-safe. */
typedef struct cl_wq {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	json_t *queue, *dirty, *processing; /* keys in order; sets of keys */
	json_t *later;                      /* [{key, due}] added with a delay */
	json_t *failures;                   /* key -> failures, for rate-limited retries */
	int64_t retry_base_ms, retry_max_ms;
	bool shutdown;
} cl_wq;

/* retry_base_ms / retry_max_ms: the per-key exponential delay of cl_wq_add_rate_limited. */
void cl_wq_init(cl_wq *q, int64_t retry_base_ms, int64_t retry_max_ms);
void cl_wq_destroy(cl_wq *q);
void cl_wq_add(cl_wq *q, const char *key);
void cl_wq_add_after(cl_wq *q, const char *key, int64_t delay_ms);
/* Add after base x 2^(failures so far), capped; cl_wq_forget resets the count. */
void cl_wq_add_rate_limited(cl_wq *q, const char *key);
void cl_wq_forget(cl_wq *q, const char *key);
/* The next key (caller frees, then calls cl_wq_done), waiting up to timeout_ms (-1: until one comes
 * or the queue shuts down); NULL on timeout or shutdown. */
char *cl_wq_get(cl_wq *q, int64_t timeout_ms);
void cl_wq_done(cl_wq *q, const char *key);
/* Wake every waiting cl_wq_get with NULL; later adds are dropped. */
void cl_wq_shutdown(cl_wq *q);
/* Keys waiting (not counting delayed ones). */
size_t cl_wq_len(cl_wq *q);
/* A worker: fn(arg, key) for each key, then done, until the queue shuts down. */
void cl_wq_serve(cl_wq *q, void (*fn)(void *arg, const char *key), void *arg);

/* An informer's consumer: called from the informer's thread, one event at a time, in order, after
 * the lister was updated. Objects are borrowed and read-only. Any may be NULL. */
typedef struct cl_handlers {
	void (*add)(void *arg, const json_t *obj);
	void (*update)(void *arg, const json_t *old, const json_t *obj);
	void (*del)(void *arg, const json_t *obj);
	void *arg;
} cl_handlers;

typedef struct cl_informer cl_informer;

/* Handlers (arg: a cl_wq) that only queue the object's key, as enqueueWork does. */
void cl_enqueue_key(void *q, const json_t *obj);
void cl_enqueue_new_key(void *q, const json_t *old, const json_t *obj);
#define CL_QUEUE_HANDLERS(q) ((cl_handlers){cl_enqueue_key, cl_enqueue_new_key, cl_enqueue_key, (q)})

/*
 * Start an informer on every object of res (all namespaces): it lists at once (the initial objects
 * reach the handlers before this returns, so its lister has synced), then follows the watch from a
 * thread, delivering each event after cl_informer_delay_ms and in order. Stop with
 * cl_informer_stop (also when the cluster stops: the thread then returns by itself).
 */
int cl_informer_start(sim_cluster *c, const sim_resource *res, const cl_handlers *h, cl_informer **out,
		      vs_error *err);
/* Join its thread and free it. NULL is fine. Call it before the handlers' argument goes away. */
void cl_informer_stop(cl_informer *inf);
/* Lister: the object with that key as last delivered, or NULL (new reference). */
json_t *cl_informer_get(cl_informer *inf, const char *key);
/* Lister: every object as last delivered (new reference to an array). */
json_t *cl_informer_list(cl_informer *inf);
/* cl_cache_pick over the lister's objects: a copy of the one pick chooses, or NULL. */
json_t *cl_informer_pick(cl_informer *inf, cl_pick_fn pick, void *arg);
/* For tests: wait until every change up to resourceVersion rv was delivered; false on timeout. */
bool cl_informer_wait(cl_informer *inf, uint64_t rv, int64_t timeout_ms);
/* fn(arg, obj) for every object the lister holds. */
void cl_informer_each(cl_informer *inf, void (*fn)(void *arg, const json_t *obj), void *arg);

/* What a controller watches a resource with: an informer and the work queue its events feed. */
typedef struct cl_source {
	cl_informer *inf;
	cl_wq q;
	bool live; /* q initialized (by cl_source_start) */
} cl_source;

/* Start a source on res: h (NULL: CL_QUEUE_HANDLERS, every event queues the object's key) with
 * h->arg NULL meaning the source's own queue; retry_*: the queue's rate limiter (0, 0: none). */
int cl_source_start(sim_cluster *c, const sim_resource *res, const cl_handlers *h, int64_t retry_base_ms,
		    int64_t retry_max_ms, cl_source *s, vs_error *err);
/* Stop n sources and their workers: shut the queues down, join the nthreads threads, stop the
 * informers and free the queues. */
void cl_sources_stop(cl_source *s, size_t n, pthread_t *threads, int *nthreads);

/* Subsystems. */
int sim_pv_controller_start(sim_cluster *c, vs_error *err); /* pv_controller_base.c */
int sim_provisioner_start(sim_cluster *c, vs_error *err);   /* ctrl_provisioner.c */
int sim_protection_start(sim_cluster *c, vs_error *err);    /* ctrl_protection.c */
int sim_sched_start(sim_cluster *c, vs_error *err);
int sim_workload_start(sim_cluster *c, vs_error *err);
int sim_ttl_start(sim_cluster *c, vs_error *err); /* ctrl_ttl.c */
int sim_serviceaccount_start(sim_cluster *c, vs_error *err); /* ctrl_serviceaccount.c */
int sim_node_start(sim_cluster *c, vs_error *err);
void sim_node_stop(sim_cluster *c);

#endif
