/*
 * fault: API fault injection for volshift-sim, so that the tests can check that clients survive
 * what a real API server does under load or in a rollout: 500 and 503 Status errors, 429 with
 * Retry-After, connections reset before or after the request took effect, added latency, watches
 * ended early, and container processes killed.
 *
 * A SPEC is a comma-separated list of KEY=VALUE; a list inside a value is separated by ':'.
 *
 *   rate=P             probability (0 to 1) that a request matching verbs and resources is faulted
 *   kinds=K:...        what a faulted request gets, one kind picked at random each time, from
 *                      500, 503, 429, reset (closed without a response, nothing done),
 *                      reset-after (done, then closed without a response) and latency (delayed,
 *                      then done); default 500:503:429:reset:latency
 *   verbs=V:...        get, list, watch, create, update, patch, delete, deletecollection (default all)
 *   resources=R:...    plural resource names (with their subresources), or one subresource as
 *                      RESOURCE/SUBRESOURCE (pods/log) (default all)
 *   latency-ms=N       the delay of the latency kind (default 200)
 *   retry-after=N      the seconds of 429's Retry-After header (default 1)
 *   watch-cut=P        probability that a watch of a matching resource ends early (default 0)
 *   watch-cut-ms=N     such a watch ends after a random time below N milliseconds (default 2000)
 *   seed=N             seed of the generator (default: the generator goes on, or a random seed)
 *
 * "off" or an empty SPEC turns faults off. Requests are decided in the order they arrive: a seed
 * makes the sequence of decisions reproducible, not which concurrent request gets which.
 */
#ifndef VS_SIM_FAULT_H
#define VS_SIM_FAULT_H

#include "api.h"

#include <stdint.h>

typedef struct sim_faults sim_faults;

enum sim_fault_kind {
	SIM_FAULT_NONE,
	SIM_FAULT_500,
	SIM_FAULT_503,
	SIM_FAULT_429,
	SIM_FAULT_RESET,
	SIM_FAULT_RESET_AFTER,
	SIM_FAULT_LATENCY,
	SIM_FAULT_WATCH_CUT, /* counted only: never the kind of a request */
	SIM_FAULT_NKINDS,
};

/* What one request gets. */
typedef struct sim_fault {
	enum sim_fault_kind kind;
	int latency_ms;    /* SIM_FAULT_LATENCY: sleep this long, then serve the request */
	int retry_after_s; /* SIM_FAULT_429: the Retry-After header */
} sim_fault;

/* A fault injector set to spec (NULL or "off": off) into *out (free with sim_fault_free). VS_EINVAL
 * naming the bad key or value when spec does not parse. */
int sim_fault_new(const char *spec, sim_faults **out, vs_error *err);
/* Free the injector. NULL is fine. */
void sim_fault_free(sim_faults *f);
/* Replace the whole spec (keys left out take their defaults); counters are kept. On VS_EINVAL the
 * current spec stays. Thread-safe. */
int sim_fault_set(sim_faults *f, const char *spec, vs_error *err);
/* The name of a kind as the SPEC writes it ("500", "reset-after", "watch-cut"). Static string. */
const char *sim_fault_kind_name(enum sim_fault_kind kind);

/* Count one API request (verb as in the SPEC; plural and sub as in the URL, sub may be NULL) and
 * decide its fault. Thread-safe. */
sim_fault sim_fault_decide(sim_faults *f, const char *verb, const char *plural, const char *sub);
/* For a watch of plural that starts: 0 to leave it alone, else the milliseconds after which to end
 * it (counted as a watch-cut). Thread-safe. */
int64_t sim_fault_watch_cut(sim_faults *f, const char *plural);

/* {"spec": canonical SPEC or "off", "requests": N, "injected": N, "faults": {KIND: N, ...}}; the
 * caller owns it. Thread-safe. */
json_t *sim_fault_report(sim_faults *f);
/* Log the counters (at shutdown). */
void sim_fault_log_counters(sim_faults *f);

/*
 * Kill (SIGKILL) the process of every running container of pod ns/name, or only of container when
 * it is not NULL, as a crash would: the node agent then reports it terminated. The process is the
 * one status.containerStatuses[].containerID names ("sim://PID"). *out receives
 * {"killed": [{"container": NAME, "pid": PID}, ...]} (caller owns it). 404 NotFound for an unknown
 * pod, 409 Conflict when no matching container runs.
 */
int sim_fault_kill_pod(sim_store *st, const char *ns, const char *name, const char *container, json_t **out,
		       vs_error *err);

#endif
