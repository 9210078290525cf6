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
 * Start the provisioner (volumes under data_dir/volumes/<pv-name>), the PV controller, the
 * workload controllers (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob), the
 * scheduler and the node agent (pod processes; logs under data_dir/pods). The store is borrowed.
 */
int sim_cluster_start(sim_store *st, const char *data_dir, sim_cluster **out, vs_error *err);
/* Stop every controller, kill every pod process (SIGTERM, then SIGKILL) and free. NULL is fine. */
void sim_cluster_stop(sim_cluster *c);
/* The log file of a container (caller frees), or NULL when the pod is unknown: a sim_log_path_fn. */
char *sim_cluster_log_path(void *cluster, const char *ns, const char *pod, const char *container);

#endif
