/*
 * cluster: the controllers and the node agent of volshift-sim, the parts that a real cluster runs
 * in kube-controller-manager, kube-scheduler, an external provisioner and the kubelet. They see
 * the cluster only through api.h, as real controllers see it only through the API.
 */
#ifndef VS_SIM_CLUSTER_H
#define VS_SIM_CLUSTER_H

#include "api.h"

typedef struct sim_cluster sim_cluster;

/*
 * How fast volshift-sim's controllers and kubelet act, and how late they see what happens. The
 * defaults are a real cluster's (README, "Timings"): a test may shorten one only to check that
 * volshift never depends on it.
 */
typedef struct sim_timing {
	uint64_t seed;             /* --seed: the generator of every random delay (0: from the OS) */
	/* kube-controller-manager and the external provisioner (informer.c, pv_controller*.c,
	 * ctrl_provisioner.c, ctrl_protection.c), and kube-apiserver (api.c) */
	int64_t informer_delay_ms; /* --informer-delay-ms: mean delay of a watch event to a controller */
	int64_t pv_resync_ms;      /* --pv-resync-period: the PV controller's periodic resync */
	int64_t write_latency_ms;  /* --write-latency-ms: mean time a write takes to commit (kube-apiserver
				      and etcd, for every writer; api.c) */
	/* the kubelet (node.c) */
	int64_t pleg_relist_ms;    /* --pleg-relist-period: how often a node lists its containers */
	int64_t volume_loop_ms;    /* --volume-loop-period: the volume manager's populator and reconciler */
	int64_t mount_poll_ms;     /* --mount-poll-period: WaitForAttachAndMount's and WaitForUnmount's poll */
} sim_timing;

/* A real cluster's timings. */
void sim_timing_defaults(sim_timing *t);

/*
 * Start the external provisioner (volumes under data_dir/volumes/<pv-name>), the PV controller,
 * the pvc-protection and pv-protection controllers, the workload controllers (Deployment,
 * ReplicaSet, StatefulSet, DaemonSet, Job, CronJob), the scheduler and the node agent (pod
 * processes; logs under data_dir/pods), acting as timing says (copied; NULL:
 * sim_timing_defaults), and give the store's writes their latency (sim_store_set_write_latency).
 * The store is borrowed.
 */
int sim_cluster_start(sim_store *st, const char *data_dir, const sim_timing *timing, sim_cluster **out,
		      vs_error *err);
/* Issues a service-account token for ServiceAccount ns/sa bound to pod (TokenRequest), valid for
 * seconds, for audiences (a JSON array or NULL: the API server's); *token is the caller's. */
typedef int (*sim_token_fn)(void *ctx, const char *ns, const char *sa, const json_t *audiences, int64_t seconds,
			    const json_t *pod, char **token, vs_error *err);

/* What pods need to reach the API server, as a kubelet and kube-controller-manager give it to them. */
typedef struct sim_cluster_api {
	int port;	    /* KUBERNETES_SERVICE_PORT of every container (the host is 127.0.0.1) */
	const char *ca_pem; /* the cluster's CA: ConfigMap kube-root-ca.crt of every namespace (copied) */
	sim_token_fn token; /* fills the serviceAccountToken sources of projected volumes */
	void *token_ctx;    /* borrowed; outlives the cluster */
} sim_cluster_api;

/* Tell the cluster where its API server is, once it serves: until then pods that need the API
 * (a service-account token) wait for it. Thread-safe; call once. */
void sim_cluster_set_api(sim_cluster *c, const sim_cluster_api *api);

/* Stop every controller, kill every pod process (SIGTERM, then SIGKILL) and free. NULL is fine. */
void sim_cluster_stop(sim_cluster *c);
/* The monotonic time (vs_time_mono_ms) of the first PLEG relist of a node that existed when the
 * cluster started; its relists follow every pleg_relist_ms. -1 for another node. For tests. */
int64_t sim_cluster_pleg_epoch_ms(sim_cluster *c, const char *node);
/* The log file of a container (caller frees), or NULL when the pod is unknown: a sim_log_path_fn. */
char *sim_cluster_log_path(void *cluster, const char *ns, const char *pod, const char *container);

#endif
