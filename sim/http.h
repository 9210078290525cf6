/*
 * http: the Kubernetes REST API of volshift-sim over HTTP on loopback (libmicrohttpd): discovery,
 * every verb of api.h, watch streams, pod logs, pod exec (a WebSocket: http_exec.c), the scale and
 * eviction subresources, and Status errors, so that unmodified kubectl works against it.
 */
#ifndef VS_SIM_HTTP_H
#define VS_SIM_HTTP_H

#include "api.h"
#include "auth.h"
#include "fault.h"

typedef struct sim_http sim_http;

/* Where pod logs live: returns the path of a container's log file (caller frees) or NULL. */
typedef char *(*sim_log_path_fn)(void *ctx, const char *ns, const char *pod, const char *container);

/* How the server proves who it is and checks who calls (all borrowed; they outlive the server). */
typedef struct sim_http_security {
	const char *cert_pem, *key_pem; /* the serving certificate and its key: HTTPS; NULL: plain HTTP */
	const char *client_ca_pem;	/* the CA that client certificates must chain to, or NULL */
	sim_auth *auth;			/* authenticates and authorizes every request (sim_auth_check) */
} sim_http_security;

/*
 * Start serving on listen ("127.0.0.1:PORT", port 0 picks a free one). *url receives the base URL
 * ("https://127.0.0.1:PORT", or http:// without a certificate; caller frees). Every request is
 * first authenticated and authorized by sec->auth (a refusal is the Status kube-apiserver sends:
 * 401 or 403), then every API request is put to faults (fault.h);
 * GET and PUT /volshift-sim/faults read and set its SPEC and counters, and POST
 * /volshift-sim/kill?namespace=NS&pod=NAME[&container=C] kills a pod's container processes. The
 * store, the log callback and faults are borrowed and must outlive the server.
 */
int sim_http_start(sim_store *st, sim_faults *faults, const sim_http_security *sec, const char *listen,
		   sim_log_path_fn log_path, void *log_ctx, sim_http **out, char **url, vs_error *err);
/* Stop serving (ends open watches) and free the server. NULL is fine. */
void sim_http_stop(sim_http *srv);

#endif
