/*
 * api: the object store and the API machinery of volshift-sim, the part that a real cluster keeps
 * in kube-apiserver and etcd. Every writer (the HTTP server and every controller) goes through
 * these functions, so defaulting, validation, resourceVersion checks, finalizers and deletion
 * semantics apply the same way to all of them, as they do in Kubernetes.
 *
 * Thread-safety: every function may be called from any thread; the store holds one lock.
 * Ownership: objects passed in are borrowed (copied when kept); objects returned through **out
 * are new references the caller releases with json_decref.
 * Errors: Kubernetes Status semantics, filled into vs_error with vs_error_set_api (http_status,
 * reason "NotFound" / "AlreadyExists" / "Conflict" / "Invalid" / "BadRequest" / "Gone" /
 * "MethodNotAllowed", and a message as kube-apiserver words it).
 */
#ifndef VS_SIM_API_H
#define VS_SIM_API_H

#include "util/util.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- resource types ------------------------------------------------------------------------- */

typedef struct sim_resource {
	const char *group;          /* "" for the core group */
	const char *version;        /* "v1" */
	const char *plural;         /* "pods" */
	const char *singular;       /* "pod" */
	const char *kind;           /* "Pod" */
	const char *short_names;    /* comma-separated, "po" or "" */
	bool namespaced;
	const char *subresources;   /* comma-separated: "status,log,eviction" or "" */
} sim_resource;

/* Look a resource up by group and plural ("apps", "deployments"); NULL when unknown. Static. */
const sim_resource *sim_resource_find(const char *group, const char *plural);
/* Look a resource up by apiVersion ("apps/v1", "v1") and kind; NULL when unknown. Static. */
const sim_resource *sim_resource_by_kind(const char *api_version, const char *kind);
/* The apiVersion string of a resource ("v1", "apps/v1"). Static. */
const char *sim_resource_api_version(const sim_resource *res);
/* True for the kinds that are only ever created, never stored (SelfSubjectAccessReview, ...). */
bool sim_resource_create_only(const sim_resource *res);
/* The table of every built-in resource, terminated by an entry with plural == NULL. Static. */
const sim_resource *sim_resource_all(void);

/* ---- custom resources (crd.c) ---------------------------------------------------------------- */

/*
 * A CustomResourceDefinition's versions are served as resources of their own once the CRD is
 * Established (and until it is gone), beside the built-in table above. A custom sim_resource stays
 * valid as long as its store, even after its CRD is gone; what follows is thread-safe.
 */
typedef struct sim_store sim_store;

/* The resource a request names by group, version and plural: built-in, or a served version of an
 * Established CRD. NULL when the server does not serve it. */
const sim_resource *sim_store_resource(sim_store *st, const char *group, const char *version, const char *plural);
/* Every resource served now, the built-in ones first, then each CRD's served versions: a new array
 * the caller frees (its resources stay valid as long as the store), *n entries. */
const sim_resource **sim_store_resources(sim_store *st, size_t *n);
/* True when res is a version of a CRD rather than a built-in resource. */
bool sim_resource_is_custom(const sim_resource *res);
/* A custom resource's categories, comma-separated ("" when none, and for a built-in resource). */
const char *sim_resource_categories(const sim_resource *res);
/* A custom resource's printer columns (its version's additionalPrinterColumns, or the Age column
 * when it declares none), borrowed; NULL for a built-in resource. */
const json_t *sim_resource_printer_columns(const sim_resource *res);

/* Where the scale subresource of a resource reads and writes its numbers (dotted paths). */
typedef struct sim_scale_paths {
	const char *spec_replicas;   /* "spec.replicas" */
	const char *status_replicas; /* "status.replicas" */
	const char *label_selector;  /* a custom resource's labelSelectorPath, or NULL: a built-in
					resource's selector is its spec.selector */
} sim_scale_paths;

/* The paths of res's scale subresource: a built-in resource's, or what its CRD declares. Borrowed
 * from res. */
void sim_resource_scale_paths(const sim_resource *res, sim_scale_paths *out);

/* ---- the store ----------------------------------------------------------------------------- */

sim_store *sim_store_new(void);
void sim_store_free(sim_store *st);

/* The current cluster-wide resourceVersion (increases by one on every write). */
uint64_t sim_store_rv(sim_store *st);

/*
 * Block until the resourceVersion is greater than since or timeout_ms passes (or
 * sim_store_shutdown is called); returns the current resourceVersion. Controllers use this to
 * wake up on any change.
 */
uint64_t sim_store_wait(sim_store *st, uint64_t since, int64_t timeout_ms);

/* Wake every waiter and make further waits return at once (used at exit). */
void sim_store_shutdown(sim_store *st);

/*
 * How long a write takes, as kube-apiserver and etcd take it, for every writer (an HTTP client or a
 * controller alike): each create, update and delete waits a random time in [commit_ms / 2,
 * 3 commit_ms / 2] before it commits (admission, the etcd round trip and its fsync), and its answer
 * reaches the writer a random time in [0, 2 answer_ms] after the commit: the apiserver sends the
 * answer and the watch events of the commit at the same moment. No wait holds the store's lock. A new store has 0 and 0 (immediate
 * writes). seed: of the generator of these waits (0: from the OS).
 */
void sim_store_set_write_latency(sim_store *st, int64_t commit_ms, int64_t answer_ms, uint64_t seed);

/* Keep at most n events of history for watches (default 20000); drops the kept history. For tests. */
void sim_store_set_history_limit(sim_store *st, size_t n);

/* ---- verbs (the same as the REST API's) ---------------------------------------------------- */

/* GET one object. 404 NotFound when missing. */
int sim_api_get(sim_store *st, const sim_resource *res, const char *ns, const char *name, json_t **out,
		vs_error *err);

typedef struct sim_list_opts {
	const char *label_selector; /* NULL or text */
	const char *field_selector; /* NULL or text; metadata.name, metadata.namespace, spec.nodeName,
				       status.phase, and for events involvedObject.* ; others 400 */
	long limit;                 /* 0: no limit */
	const char *continue_token; /* NULL or the token of the previous page */
} sim_list_opts;

/*
 * LIST objects (ns NULL or "" for all namespaces), sorted by namespace then name, as a complete
 * List object ({"kind": "<Kind>List", "apiVersion", "metadata": {"resourceVersion", "continue"?},
 * "items": [...]}) with each item's apiVersion and kind set.
 */
int sim_api_list(sim_store *st, const sim_resource *res, const char *ns, const sim_list_opts *opts,
		 json_t **out, vs_error *err);

/*
 * A copy of every object of res, in sim_api_list's form, for a controller that lists the same
 * resource again and again: *copies (key -> copy, NULL at first, owned by the caller's thread) is
 * replaced by one that keeps each earlier copy whose resourceVersion is still the stored one and
 * copies only the objects that changed. Free *copies with json_decref.
 */
void sim_api_list_copies(sim_store *st, const sim_resource *res, json_t **copies);

/*
 * The items of an unfiltered LIST of every object of res, in sim_api_list's order and form, from
 * sim_api_list_copies(st, res, copies): the items are shared with *copies, so read them, never
 * change them. A list costs one copy per changed object, not one per object. New reference.
 */
json_t *sim_api_list_reuse(sim_store *st, const sim_resource *res, json_t **copies);

/* The item ns/name (ns ignored for a cluster-scoped res) in copies (of sim_api_list_reuse), or NULL
 * (borrowed). */
json_t *sim_api_list_reuse_find(const json_t *copies, const sim_resource *res, const char *ns, const char *name);

/*
 * CREATE: fills metadata (uid, resourceVersion, creationTimestamp, generation 1, name from
 * generateName, namespace), applies defaults (e.g. a PVC without storageClassName gets the
 * default class, every PVC gets the kubernetes.io/pvc-protection finalizer, every PV
 * kubernetes.io/pv-protection), validates (422 Invalid), 409 AlreadyExists when the name is taken,
 * 404 when the namespace does not exist. *out is the stored object.
 */
int sim_api_create(sim_store *st, const sim_resource *res, const char *ns, const json_t *obj, json_t **out,
		   vs_error *err);

enum sim_update_kind {
	SIM_UPDATE_MAIN,   /* PUT on the object: status is kept as stored (for types with a status subresource) */
	SIM_UPDATE_STATUS, /* PUT on /status: only status changes */
};

/*
 * UPDATE (PUT): 409 Conflict when obj's metadata.resourceVersion is set and stale; 422 Invalid for
 * changes to immutable fields; bumps generation when spec changes. When the update leaves an
 * object that is being deleted with no finalizers, the object is removed (and *out is the object
 * as it was last). *out may be NULL when the caller does not want the result.
 */
int sim_api_update(sim_store *st, const sim_resource *res, const char *ns, const json_t *obj,
		   enum sim_update_kind kind, json_t **out, vs_error *err);

enum sim_propagation { SIM_PROPAGATE_DEFAULT, SIM_PROPAGATE_BACKGROUND, SIM_PROPAGATE_FOREGROUND, SIM_PROPAGATE_ORPHAN };

typedef struct sim_delete_opts {
	enum sim_propagation propagation;
	const char *precondition_uid;       /* NULL or must match, else 409 Conflict */
	const char *precondition_rv;        /* NULL or must match, else 409 Conflict */
	long grace_period_seconds;          /* -1: the object's default */
} sim_delete_opts;

/*
 * DELETE: an object with finalizers (including those the propagation policy adds: "orphan",
 * "foregroundDeletion") gets deletionTimestamp and stays; a pod bound to a node is deleted
 * gracefully (deletionTimestamp + deletionGracePeriodSeconds; the node agent removes it once its
 * processes are gone); anything else is removed at once. *out is the object after the call
 * (*deleted tells whether it is gone). The garbage collector handles dependents.
 */
int sim_api_delete(sim_store *st, const sim_resource *res, const char *ns, const char *name,
		   const sim_delete_opts *opts, json_t **out, bool *deleted, vs_error *err);

/* ---- watch --------------------------------------------------------------------------------- */

/*
 * Return the events after resourceVersion since for this resource (ns NULL for all namespaces),
 * filtered by the selectors in opts, as a JSON array of {"type": ADDED|MODIFIED|DELETED,
 * "object": {...}}; waits up to timeout_ms for at least one. *next_rv is the resourceVersion to
 * pass next time. 410 Gone (reason "Expired") when since is older than the kept history.
 * An object that stops matching the selectors is reported as DELETED, one that starts as ADDED.
 */
int sim_api_watch(sim_store *st, const sim_resource *res, const char *ns, const sim_list_opts *opts,
		  uint64_t since, int64_t timeout_ms, json_t **events, uint64_t *next_rv, vs_error *err);

/* ---- cluster helpers used by controllers ---------------------------------------------------- */

/*
 * Record an Event (core/v1) about obj (borrowed) with a type ("Normal"/"Warning"), reason and
 * message, from the component "volshift-sim". As client-go's recorder, an event identical to one
 * recorded before (same component, object, type, reason and message) increments that event's count
 * and lastTimestamp instead. Events take no write latency: a recorder sends them in the background.
 */
void sim_api_event(sim_store *st, const json_t *obj, const char *type, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* The same from a named component (source.component), e.g. "persistentvolume-controller". */
void sim_api_event_from(sim_store *st, const char *component, const json_t *obj, const char *type,
			const char *reason, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Bootstrap objects: namespaces default, kube-system, kube-public, kube-node-lease, volshift-sim's
 * two StorageClasses (local: default, WaitForFirstConsumer, and, when data_dir is given, the
 * parameter basePath DATA_DIR/volumes, the directory its provisioner makes volumes in on every node,
 * as a hostPath provisioner's class names it; shared: Immediate) and nodes node-1..node-N. Called
 * once at start. */
int sim_api_bootstrap(sim_store *st, int nodes, const char *data_dir, vs_error *err);

/* The garbage collector (ownerReferences, deletion propagation, namespaces): runs in its own
 * thread until sim_gc_stop or sim_store_shutdown. The protection finalizers are the cluster's
 * (cluster.h). */
int sim_gc_start(sim_store *st, vs_error *err);
void sim_gc_stop(sim_store *st);

#endif
