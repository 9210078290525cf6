/*
 * http: the Kubernetes REST API of volshift-sim over HTTP on loopback (libmicrohttpd): discovery,
 * every verb of api.h, watch streams, pod logs, pod exec (a WebSocket: http_exec.c), the scale and
 * eviction subresources, and Status errors, so that unmodified kubectl works against it.
 */
#ifndef VS_SIM_HTTP_H
#define VS_SIM_HTTP_H

#include "api.h"
#include "fault.h"

typedef struct sim_http sim_http;

/* Where pod logs live: returns the path of a container's log file (caller frees) or NULL. */
typedef char *(*sim_log_path_fn)(void *ctx, const char *ns, const char *pod, const char *container);

/*
 * Start serving on listen ("127.0.0.1:PORT", port 0 picks a free one). *url receives the base URL
 * ("http://127.0.0.1:PORT", caller frees). Every API request is first put to faults (fault.h);
 * GET and PUT /volshift-sim/faults read and set its SPEC and counters, and POST
 * /volshift-sim/kill?namespace=NS&pod=NAME[&container=C] kills a pod's container processes. The
 * store, the log callback and faults are borrowed and must outlive the server.
 */
int sim_http_start(sim_store *st, sim_faults *faults, const char *listen, sim_log_path_fn log_path, void *log_ctx,
		   sim_http **out, char **url, vs_error *err);
/* Stop serving (ends open watches) and free the server. NULL is fine. */
void sim_http_stop(sim_http *srv);

#endif
