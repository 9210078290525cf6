/*
 * kube: the only part of volshift that speaks HTTP to a Kubernetes cluster.
 *
 * It finds the cluster the way kubectl does (kubeconfig files merged from $KUBECONFIG, a context
 * override, or the in-cluster service account), authenticates (tokens, token files, client
 * certificates, basic auth, exec credential plugins), and offers the API verbs addressed by a small
 * resource descriptor so that callers never build URLs or touch libcurl. A server error is decoded
 * from its Kubernetes Status into a vs_error (code VS_EAPI, the HTTP status, the reason such as
 * "NotFound" or "Conflict", and a message naming the verb and the object). Transient failures are
 * retried with exponential backoff and full jitter while the API server has been failing for less
 * than the client's outage budget: one clock per client says since when the server has not answered
 * (or answered only 429 and 5xx), every request and watch of every thread reads it, and once it
 * passes the budget every request fails at once with VS_EUNAVAILABLE, so that a run stops instead
 * of waiting again at each step.
 *
 * Objects in and out are jansson json_t; an object returned through an out parameter is owned by
 * the caller (json_decref it). Every function returns 0 or a negative VS_E* code and fills err.
 */
#ifndef VS_KUBE_H
#define VS_KUBE_H

#include "util/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- configuration --------------------------------------------------------------------------- */

typedef struct vs_kube_config vs_kube_config;

typedef struct vs_kube_config_opts {
	const char *kubeconfig;	     /* explicit path (--kubeconfig), or NULL */
	const char *context;	     /* context override (--context), or NULL for current-context */
	const char *in_cluster_root; /* NULL: /var/run/secrets/kubernetes.io/serviceaccount */
} vs_kube_config_opts;

/*
 * Load the configuration as kubectl does: opts->kubeconfig if set, else every file of $KUBECONFIG
 * (colon-separated; missing files skipped; the first file to set a cluster, user, context or
 * current-context wins), else ~/.kube/config if it exists, else the in-cluster service account when
 * KUBERNETES_SERVICE_HOST is set. opts may be NULL. Relative paths in a file resolve against that
 * file's directory. Errors: VS_ECONFIG naming the file, the entry and the problem (also for an
 * explicit file that cannot be read). *out is owned by the caller (vs_kube_config_free).
 */
int vs_kube_config_load(const vs_kube_config_opts *opts, vs_kube_config **out, vs_error *err);

/*
 * In-cluster configuration: server from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, CA
 * from root/ca.crt, token from root/token (re-read whenever the file changes), namespace from
 * root/namespace. root NULL means the standard service-account directory. VS_ECONFIG when the
 * variables or the token are missing. *out is owned by the caller.
 */
int vs_kube_config_in_cluster(const char *root, vs_kube_config **out, vs_error *err);

/* Free a configuration; NULL is fine. Clients made from it must be freed first. */
void vs_kube_config_free(vs_kube_config *cfg);

/* The server URL ("https://host:6443"). Borrowed, valid while cfg lives. */
const char *vs_kube_config_server(const vs_kube_config *cfg);
/* The context's namespace, or "default". Borrowed. */
const char *vs_kube_config_namespace(const vs_kube_config *cfg);
/* The context name in use ("" for in-cluster). Borrowed. */
const char *vs_kube_config_context(const vs_kube_config *cfg);
/* Where the server URL came from, for messages: "kubeconfig FILE, context NAME" (FILE: the file
 * that defines the context's cluster) or "in-cluster service account". Borrowed. */
const char *vs_kube_config_origin(const vs_kube_config *cfg);

/* How to reach the server securely. All pointers borrowed from the configuration. */
typedef struct vs_kube_tls {
	const char *ca_file;	      /* certificate-authority (absolute path) or NULL */
	const unsigned char *ca_data; /* decoded certificate-authority-data (PEM) or NULL */
	size_t ca_len;
	bool insecure;		 /* insecure-skip-tls-verify */
	const char *server_name; /* tls-server-name or NULL */
	const char *proxy_url;	 /* proxy-url or NULL */
} vs_kube_tls;

/* The TLS settings of the cluster in use. Borrowed, never NULL. */
const vs_kube_tls *vs_kube_config_tls(const vs_kube_config *cfg);

/* Credentials for one request; every member is owned by the struct (vs_kube_credentials_clear). */
typedef struct vs_kube_credentials {
	char *token;		   /* bearer token or NULL */
	char *username, *password; /* basic auth or NULL */
	unsigned char *cert_data;  /* client certificate PEM (from -data or an exec plugin) or NULL */
	size_t cert_len;
	unsigned char *key_data; /* client key PEM or NULL */
	size_t key_len;
	char *cert_file, *key_file; /* client-certificate / client-key paths or NULL */
} vs_kube_credentials;

/*
 * The credentials to send now. Token files are re-read when they change; an exec plugin is run
 * when there is no cached credential or the cached one has expired (status.expirationTimestamp),
 * and its result is cached. Thread-safe. Errors: VS_ECONFIG (plugin failed or printed a bad
 * ExecCredential), VS_EIO (token file unreadable). out is filled with copies the caller clears.
 */
int vs_kube_config_credentials(const vs_kube_config *cfg, vs_kube_credentials *out, vs_error *err);
/* Forget a cached exec credential (after the server answered 401). Thread-safe. */
void vs_kube_config_invalidate(const vs_kube_config *cfg);
/* Release the members of c and zero it; NULL is fine. */
void vs_kube_credentials_clear(vs_kube_credentials *c);

/* ---- resources and objects ------------------------------------------------------------------- */

/* Names one kind of object; the client builds URLs from it. */
typedef struct vs_kube_resource {
	const char *group;   /* "" for the core group */
	const char *version; /* "v1" */
	const char *plural;  /* "persistentvolumeclaims" */
	bool namespaced;
} vs_kube_resource;

extern const vs_kube_resource VS_KUBE_PODS;
extern const vs_kube_resource VS_KUBE_PVCS;
extern const vs_kube_resource VS_KUBE_PVS;
extern const vs_kube_resource VS_KUBE_STORAGECLASSES;
extern const vs_kube_resource VS_KUBE_CONFIGMAPS;
extern const vs_kube_resource VS_KUBE_SECRETS;
extern const vs_kube_resource VS_KUBE_NODES;
extern const vs_kube_resource VS_KUBE_EVENTS;
extern const vs_kube_resource VS_KUBE_DEPLOYMENTS;
extern const vs_kube_resource VS_KUBE_STATEFULSETS;
extern const vs_kube_resource VS_KUBE_REPLICASETS;
extern const vs_kube_resource VS_KUBE_DAEMONSETS;
extern const vs_kube_resource VS_KUBE_JOBS;
extern const vs_kube_resource VS_KUBE_CRONJOBS;
extern const vs_kube_resource VS_KUBE_CSISTORAGECAPACITIES;
extern const vs_kube_resource VS_KUBE_LEASES;

/* metadata.name / metadata.namespace / metadata.resourceVersion / metadata.uid, or NULL. Borrowed. */
const char *vs_kube_obj_name(const json_t *obj);
const char *vs_kube_obj_namespace(const json_t *obj);
const char *vs_kube_obj_resource_version(const json_t *obj);
const char *vs_kube_obj_uid(const json_t *obj);

/* ---- errors and retries (pure functions, exposed for tests) ----------------------------------- */

/*
 * Turn a non-2xx reply into err: a Kubernetes Status body gives the reason and message; any other
 * body gives a reason from the HTTP status ("NotFound" for 404, ...) and its first line. The
 * message is prefixed with what ("get persistentvolumeclaims default/data"). Returns VS_EAPI.
 */
int vs_kube_status_error(int http_status, const char *body, size_t len, const char *what, vs_error *err);

/*
 * Full-jitter exponential backoff: a delay in [0, min(cap_ms, base_ms * 2^attempt)] chosen by
 * rand (any 64-bit value; pass vs_rand_u64()). attempt counts from 0.
 */
int64_t vs_kube_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms, uint64_t rand);

/* True for an error that says nothing about the request itself: the API server or the network
 * failed (429, 5xx, a lost connection, whose request may or may not have taken effect) or another
 * writer got there first (Conflict). An idempotent action tried again may succeed. VS_EUNAVAILABLE
 * is not transient: the client already waited for the server as long as its budget allows. */
bool vs_kube_error_transient(const vs_error *err);

/* ---- client ---------------------------------------------------------------------------------- */

typedef struct vs_kube_client vs_kube_client;

#define VS_KUBE_OUTAGE_BUDGET_MS 120000 /* default of vs_kube_client_opts.outage_budget_ms */
#define VS_KUBE_FIRST_CONTACT_MS 5000	/* default of vs_kube_client_opts.first_contact_ms */

/* What a client says about the API server while it does not answer (vs_kube_outage_fn). */
enum vs_kube_outage_state {
	VS_KUBE_OUTAGE_WAITING, /* not answering for down_ms; requests are retried for left_ms more */
	VS_KUBE_OUTAGE_OVER,	/* it answers again after down_ms (only after a WAITING report) */
	VS_KUBE_OUTAGE_GAVE_UP, /* not answering for down_ms: every request fails from now on */
};

typedef struct vs_kube_outage {
	enum vs_kube_outage_state state;
	const char *server; /* the server URL */
	const char *origin; /* vs_kube_config_origin */
	const char *cause;  /* the last failure: "connection refused", "HTTP 503 ServiceUnavailable", ... */
	int64_t down_ms;    /* since the first request that got no answer in this outage */
	int64_t left_ms;    /* WAITING: how much longer requests are retried */
	int64_t budget_ms;  /* the budget in force: outage_budget_ms, or first_contact_ms */
	bool never_answered; /* the server has not answered once in the client's life */
} vs_kube_outage;

/* One line for people about ev, without a final period, into out (at most n bytes): "the API
 * server at URL does not answer (connection refused) since 12 s; retrying for up to 108 s more". */
void vs_kube_outage_describe(const vs_kube_outage *ev, char *out, size_t n);

/* Called when a client's outage changes state: the first WAITING report once the server has not
 * answered for 2 s, another every 10 s, then OVER or GAVE_UP. Calls are serialized; ev is borrowed
 * for the call; the function must not use the client. */
typedef void (*vs_kube_outage_fn)(const vs_kube_outage *ev, void *ctx);

typedef struct vs_kube_client_opts {
	/* How long the API server may go without answering (no reply, or only 429 and 5xx), counted from
	 * the first request it did not answer, before the client gives up: then every request, of every
	 * thread, fails at once with VS_EUNAVAILABLE. The same bound applies to the retries of one request
	 * that keeps failing while others succeed. 0: VS_KUBE_OUTAGE_BUDGET_MS. */
	int64_t outage_budget_ms;
	/* The budget while the server has never answered this client: a server that never answered is
	 * more likely misconfigured than down, and is reported quickly. 0: VS_KUBE_FIRST_CONTACT_MS (at
	 * most outage_budget_ms). */
	int64_t first_contact_ms;
	int64_t backoff_base_ms;    /* first backoff ceiling; 0: 100 */
	int64_t backoff_cap_ms;	    /* largest backoff ceiling; 0: 5000 */
	int64_t request_timeout_ms; /* one non-streaming request; 0: 60000 */
	const char *user_agent;	    /* NULL: "volshift" */
	vs_kube_outage_fn outage_fn; /* NULL: the reports go to the log (warn; OVER as info) */
	void *outage_ctx;
} vs_kube_client_opts;

/*
 * A client for the cluster of cfg (borrowed: it must outlive the client). opts may be NULL. The
 * client is thread-safe: requests from many threads share connections, DNS and TLS sessions, and
 * one clock of the server's availability. Connections are kept alive with TCP keepalive probes
 * (after 10 s idle, every 5 s, 3 unanswered ones end the connection; unacknowledged data ends it
 * after 30 s), so a watch or a followed log on a dead peer fails within about 30 s and is retried
 * like any request. Errors: VS_ECONFIG for an unusable server URL. *out is owned by the caller
 * (vs_kube_client_free).
 */
int vs_kube_client_new(const vs_kube_config *cfg, const vs_kube_client_opts *opts, vs_kube_client **out, vs_error *err);
/* Free a client; NULL is fine. No request may be running. */
void vs_kube_client_free(vs_kube_client *c);
/* The requests c has sent so far, each retry counted (what the API server saw). Thread-safe. */
uint64_t vs_kube_client_requests(const vs_kube_client *c);
/* True once c gave up on its API server (its requests fail with VS_EUNAVAILABLE). Thread-safe. */
bool vs_kube_client_unavailable(const vs_kube_client *c);

/* Retrying an action made of several requests (a step that reads the cluster again each time)
 * after it failed: zero-initialise one per action. */
typedef struct vs_kube_retry {
	unsigned failures; /* so far */
	int64_t since_ms;  /* the first failure (monotonic), 0 before */
} vs_kube_retry;

/*
 * After an action failed with err: true when it is worth running again, with *delay_ms, the pause to
 * take first (full-jitter backoff from 500 ms to 8 s). That is for a transient error
 * (vs_kube_error_transient): a Conflict up to 5 times in a row; a failure of the server or the
 * network while the action has been failing for less than the client's outage budget (the client
 * gives up on its own once the server stops answering for that long). Thread-safe.
 */
bool vs_kube_retry_next(vs_kube_client *c, vs_kube_retry *r, const vs_error *err, int64_t *delay_ms);

/* ---- verbs ----------------------------------------------------------------------------------- */
/*
 * For every verb: ns is the namespace (ignored for cluster-scoped resources; for list and watch NULL
 * or "" means all namespaces; create and update default to the object's metadata.namespace; other
 * verbs on a namespaced resource without one fail with VS_EINVAL); *out (when out is not NULL)
 * receives the server's reply, owned by the caller. Errors: VS_EAPI with the Status reason and a
 * message "VERB PLURAL NS/NAME: cause", VS_ENET, VS_ETIMEOUT, VS_ENOMEM (reply over 64 MiB),
 * VS_EUNAVAILABLE (the server did not answer within the client's outage budget, or kept failing
 * this request for that long; the message names the server and, when it never answered, the
 * kubeconfig it came from). GET, PUT, DELETE and merge/strategic PATCH are retried on connection
 * failures, 429 (honouring Retry-After) and 500/502/503/504 inside the client's budget; Conflict is
 * never retried.
 */

/* GET one object. */
int vs_kube_get(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name, json_t **out,
		vs_error *err);

typedef struct vs_kube_list_opts {
	const char *label_selector; /* NULL: everything */
	const char *field_selector; /* NULL: everything */
	long limit;		    /* page size; 0: 500 */
	/* NULL: every item; else only the items it returns true for (with keep_ctx), dropped page by
	 * page, so that a large list is never held whole */
	bool (*keep)(const json_t *item, void *keep_ctx);
	void *keep_ctx;
} vs_kube_list_opts;

/* LIST, following limit/continue pages; *out is one List with every item (opts->keep's). opts may
 * be NULL. */
int vs_kube_list(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_list_opts *opts,
		 json_t **out, vs_error *err);

/* POST obj (borrowed). Retried only when the connection could not be made or on 429. */
int vs_kube_create(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const json_t *obj, json_t **out,
		   vs_error *err);

/* PUT obj (borrowed) to its metadata.name; its metadata.resourceVersion makes it conditional. */
int vs_kube_update(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const json_t *obj, json_t **out,
		   vs_error *err);

enum vs_kube_patch_type {
	VS_KUBE_PATCH_MERGE,	 /* application/merge-patch+json */
	VS_KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
	VS_KUBE_PATCH_JSON,	 /* application/json-patch+json (never retried: not idempotent) */
};

/* PATCH name with patch (borrowed). */
int vs_kube_patch(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name,
		  enum vs_kube_patch_type type, const json_t *patch, json_t **out, vs_error *err);

typedef struct vs_kube_delete_opts {
	const char *propagation;	/* "Foreground", "Background", "Orphan" or NULL */
	const char *precondition_uid;	/* NULL: none */
	const char *precondition_rv;	/* NULL: none */
	long long grace_period_seconds; /* used when has_grace_period */
	bool has_grace_period;
} vs_kube_delete_opts;

/* DELETE name with a DeleteOptions body built from opts (may be NULL). */
int vs_kube_delete(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name,
		   const vs_kube_delete_opts *opts, json_t **out, vs_error *err);

/* GET / PUT / PATCH a subresource ("status", "scale"). */
int vs_kube_get_sub(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name, const char *sub,
		    json_t **out, vs_error *err);
int vs_kube_update_sub(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name,
		       const char *sub, const json_t *obj, json_t **out, vs_error *err);
int vs_kube_patch_sub(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name, const char *sub,
		      enum vs_kube_patch_type type, const json_t *patch, json_t **out, vs_error *err);

/* POST an Eviction for a pod (policy/v1); opts (may be NULL) become its deleteOptions. */
int vs_kube_evict(vs_kube_client *c, const char *ns, const char *pod, const vs_kube_delete_opts *opts, vs_error *err);

/* ---- discovery: any kind by apiVersion and kind ------------------------------------------------ */

/* The verbs a resource serves, as discovery lists them (bits of vs_kube_api_resource.verbs). */
enum {
	VS_KUBE_VERB_GET = 1u << 0,
	VS_KUBE_VERB_LIST = 1u << 1,
	VS_KUBE_VERB_WATCH = 1u << 2,
	VS_KUBE_VERB_CREATE = 1u << 3,
	VS_KUBE_VERB_UPDATE = 1u << 4,
	VS_KUBE_VERB_PATCH = 1u << 5,
	VS_KUBE_VERB_DELETE = 1u << 6,
	VS_KUBE_VERB_DELETECOLLECTION = 1u << 7,
};

/* What the API server's discovery says of the resource that serves a kind. */
typedef struct vs_kube_api_resource {
	vs_kube_resource res; /* group, version, plural, namespaced: what every verb takes */
	const char *kind;     /* "Deployment" */
	unsigned verbs;	      /* VS_KUBE_VERB_* */
	bool has_status;      /* it has the status subresource */
	bool has_scale;	      /* it has the scale subresource (an autoscaling/v1 Scale: vs_kube_get_sub) */
} vs_kube_api_resource;

/*
 * The resource that serves kind (exactly as written: "Deployment") in api_version ("v1", "apps/v1",
 * "example.com/v1alpha1"), as the discovery document of that group and version says (GET /api/v1
 * or /apis/GROUP/VERSION). The client keeps each document it fetched; when kind is missing from a
 * kept one it fetches it again, once per call (a CustomResourceDefinition may have been created
 * since). Thread-safe. *out's strings are borrowed from the client: valid until vs_kube_client_free.
 * Errors: VS_EINVAL for a malformed apiVersion or an empty kind; VS_EAPI NotFound "no kind \"Foo\"
 * in apiVersion \"example.com/v1\" on the cluster (discovery of /apis/example.com/v1: CAUSE)" when
 * the group and version are not served, or "(... lists Bar, Baz)" when they are but not the kind;
 * the transport's errors (VS_ENET, VS_ETIMEOUT, VS_EAPI) naming the kind and the document.
 */
int vs_kube_resolve(vs_kube_client *c, const char *api_version, const char *kind, vs_kube_api_resource *out,
		    vs_error *err);

/* ---- watch and logs -------------------------------------------------------------------------- */

/*
 * Called for each watch event in order. type is "ADDED", "MODIFIED", "DELETED", or "RELIST" when
 * the watch had to start again after 410 Gone (object is then the fresh List, whose items are the
 * current state). BOOKMARK events only advance the resume point and are not delivered. object is
 * borrowed for the call. Return nonzero to stop.
 */
typedef int (*vs_kube_watch_fn)(const char *type, json_t *object, void *ctx);

typedef struct vs_kube_watch_opts {
	const char *label_selector;
	const char *field_selector;
	const char *resource_version; /* start after this version; NULL: current state as ADDED first */
	int64_t timeout_ms;	      /* 0: until the callback stops */
	bool (*cancel)(void);	      /* NULL; else polled about once a second: true ends the watch */
} vs_kube_watch_opts;

/*
 * Watch res in ns, streaming events to fn as they arrive. When the server ends the stream or the
 * connection breaks, the watch resumes from the last resourceVersion seen; on 410 Gone (HTTP or an
 * ERROR event) it lists again, calls fn with "RELIST", and watches from the list's version.
 * Each connection asks the server to end it within 5 minutes (timeoutSeconds), and is given up 30 s
 * after that, so a server that stops sending without closing is noticed too.
 * Returns 0 when fn asked to stop, VS_ETIMEOUT when timeout_ms passed, VS_ECANCEL once opts->cancel
 * said so (within about a second, or after the pause before a reconnection), or an error (VS_EAPI
 * for a refused watch, VS_EUNAVAILABLE when reconnecting failed for longer than the outage budget).
 */
int vs_kube_watch(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_watch_opts *opts,
		  vs_kube_watch_fn fn, void *ctx, vs_error *err);

/* Called for each log line (without its newline; line is NUL-terminated). Return nonzero to stop. */
typedef int (*vs_kube_line_fn)(const char *line, size_t len, void *ctx);

typedef struct vs_kube_log_opts {
	const char *container; /* NULL: the pod's only container */
	bool follow;	       /* keep streaming until the container ends */
	long long tail_lines;  /* 0: all */
	int64_t timeout_ms;    /* 0: none */
	bool split_cr;	       /* a carriage return ends a line too (progress meters); empty lines dropped */
} vs_kube_log_opts;

/*
 * Stream a pod's log (GET pods/NAME/log), calling fn for each line as it arrives. A last line
 * without a newline is delivered too. Lines longer than 1 MiB fail with VS_ENOMEM. Returns 0 at the
 * end of the log or when fn stopped, VS_ETIMEOUT when timeout_ms passed.
 */
int vs_kube_logs(vs_kube_client *c, const char *ns, const char *pod, const vs_kube_log_opts *opts, vs_kube_line_fn fn,
		 void *ctx, vs_error *err);

/* ---- waits built on watches ----------------------------------------------------------------- */
/*
 * A wait lists the objects once, then follows a watch from the list's resourceVersion, keeping its
 * own copy of them (the informer pattern), and asks the caller's function after every change
 * whether they are as wanted: it sees every change without polling. When time runs out it fails
 * with VS_ETIMEOUT, "timed out after Ns waiting for WHAT; last seen: SEEN", SEEN being what the
 * function said of the objects the last time it was asked.
 */

typedef struct vs_kube_wait_opts {
	const char *label_selector; /* NULL: every object */
	const char *field_selector; /* NULL: every object */
	int64_t timeout_ms;	    /* how long to wait */
	const char *what;	    /* names the wait in the timeout's message ("the pods of default/db to stop");
				     * NULL for the one-object waits: "PLURAL NS/NAME" */
	bool (*cancel)(void);	    /* NULL: the wait is never cancelled; else polled about once a second (as
				     * vs_kube_watch does), and true ends the wait with VS_ECANCEL */
	bool (*keep)(const json_t *obj, void *ctx); /* NULL: every object is kept for the wait's function;
						     * else only those it is true for (with the function's
						     * ctx): a wait on a few of many objects holds only those */
} vs_kube_wait_opts;

/* Decides whether the objects seen are as wanted. objects (borrowed) maps each object's name to
 * the object, "NAMESPACE/NAME" when the wait spans namespaces. It may set *seen (freed by the wait)
 * to a few words on what it saw, which the timeout's message quotes. */
typedef bool (*vs_kube_wait_fn)(const json_t *objects, char **seen, void *ctx);

/* Wait until fn holds for the objects of res in ns (NULL or "": every namespace) that match
 * opts's selectors. Errors: VS_ETIMEOUT, VS_ECANCEL, and those of vs_kube_list and vs_kube_watch. */
int vs_kube_wait(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_wait_opts *opts,
		 vs_kube_wait_fn fn, void *ctx, vs_error *err);

/* As vs_kube_wait_fn for one object: obj is NULL while there is none. */
typedef bool (*vs_kube_wait_object_fn)(const json_t *obj, char **seen, void *ctx);

/* Wait until fn holds for the object ns/name of res (opts's selectors are not used). *last (may be
 * NULL) receives the object as fn last saw it (NULL: absent; caller owns). Errors as vs_kube_wait. */
int vs_kube_wait_object(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name,
			const vs_kube_wait_opts *opts, vs_kube_wait_object_fn fn, void *ctx, json_t **last,
			vs_error *err);

/* vs_kube_wait_object from an object just read or written (known, borrowed, with its namespace, name
 * and resourceVersion): fn is asked about it first, then about what a watch from its version brings,
 * without a list. */
int vs_kube_wait_from(vs_kube_client *c, const vs_kube_resource *res, const json_t *known,
		      const vs_kube_wait_opts *opts, vs_kube_wait_object_fn fn, void *ctx, json_t **last,
		      vs_error *err);

/* Wait until the object ns/name of res is gone; the timeout's message says "PLURAL NS/NAME to be
 * deleted" (opts->what is not used) and whether it was being deleted. */
int vs_kube_wait_gone(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name,
		      const vs_kube_wait_opts *opts, vs_error *err);

/* True when pod has ended: its phase is Succeeded or Failed, or it is gone (NULL). *seen (seen may
 * be NULL) receives its phase. A vs_kube_wait_object_fn; ctx is not used. */
bool vs_kube_pod_ended(const json_t *pod, char **seen, void *ctx);

/* Wait (vs_kube_wait_object with opts) until pod ns/name has ended (vs_kube_pod_ended), then read
 * its log, each line to fn (vs_kube_logs). *pod (may be NULL) receives the pod as last seen (NULL:
 * gone; caller owns). Errors: those of the wait and of vs_kube_logs (NotFound for a pod gone). */
int vs_kube_pod_wait_log(vs_kube_client *c, const char *ns, const char *name, const vs_kube_wait_opts *opts,
			 vs_kube_line_fn fn, void *ctx, json_t **pod, vs_error *err);

/* ---- access reviews ---------------------------------------------------------------------------- */

/* One permission, as RBAC names it. */
typedef struct vs_kube_access {
	const char *verb;	 /* "get", "list", "watch", "create", "update", "patch", "delete" */
	const char *group;	 /* "" for the core group */
	const char *resource;	 /* "persistentvolumeclaims" */
	const char *subresource; /* "log", or NULL */
	const char *ns;		 /* a namespace, or NULL or "" for all namespaces (cluster scope) */
} vs_kube_access;

/*
 * Ask the API server whether the user of c may do a (POST a SelfSubjectAccessReview, what
 * `kubectl auth can-i` asks). *allowed receives the answer. Transient failures are retried as
 * vs_kube_retry_next allows (a review changes nothing). Errors: those of vs_kube_create (a server
 * without the authorization API answers 404), VS_EAPI when the reply has no status.allowed.
 */
int vs_kube_can_i(vs_kube_client *c, const vs_kube_access *a, bool *allowed, vs_error *err);

/* The SelfSubjectAccessReview that asks about a (pure; exposed for tests). Owned by the caller. */
json_t *vs_kube_access_review_new(const vs_kube_access *a);

/* Read status.allowed of a SelfSubjectAccessReview reply into *allowed (pure; exposed for tests).
 * VS_EAPI, naming what was asked, when the reply has no boolean status.allowed. */
int vs_kube_access_review_allowed(const json_t *reply, const vs_kube_access *a, bool *allowed, vs_error *err);

#endif
