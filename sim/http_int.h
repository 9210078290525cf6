/*
 * http_int: what http.c and http_patch.c share: the patch formats.
 */
#ifndef VS_SIM_HTTP_INT_H
#define VS_SIM_HTTP_INT_H

#include "api_int.h"
#include "http.h"

#include <microhttpd.h>

/* Strategic merge patch of dst (consumed) with patch; returns the new object. */
json_t *sim_strategic_patch(json_t *dst, const json_t *patch);
/* Apply a JSON patch (RFC 6902) to *doc in place; 422 Invalid when an operation fails. */
int sim_json_patch(json_t **doc, const json_t *ops, vs_error *err);

/* A meta.k8s.io/v1 Table for an object or a List of res, or NULL when res has no table columns. */
json_t *sim_table_of(const sim_resource *res, const json_t *obj_or_list);

/* The exec sessions of a server (http_exec.c): each a WebSocket with a command in a container. */
typedef struct sim_exec_sessions sim_exec_sessions;
sim_exec_sessions *sim_exec_sessions_new(void);
/* Make every session end (its command killed) and wait until none runs. */
void sim_exec_sessions_stop(sim_exec_sessions *s);
/* Stop (sim_exec_sessions_stop) and free. NULL is fine. */
void sim_exec_sessions_free(sim_exec_sessions *s);
/*
 * Serve GET or POST pods/POD/exec in ns on connection c: check the WebSocket upgrade (subprotocol
 * v5.channel.k8s.io), the command and the container, then queue the 101 reply (*ret) and run the
 * session in a thread of its own. Errors (nothing queued, the caller sends the Status): 400 when
 * the request is not a WebSocket upgrade for v5.channel.k8s.io, has no command, or the container
 * cannot run one (node_exec.h); 404 when the pod does not exist. st and all are borrowed.
 */
int sim_http_exec(sim_exec_sessions *all, sim_store *st, struct MHD_Connection *c, const char *ns, const char *pod,
		  enum MHD_Result *ret, vs_error *err);

#endif
