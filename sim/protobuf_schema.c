/*
 * protobuf_schema: the messages volshift-sim decodes from protobuf request bodies (protobuf.h),
 * written from the field numbers of the Kubernetes API's generated.proto files (k8s.io/api
 * core/v1, apps/v1, batch/v1, rbac/v1, policy/v1, scheduling/v1, networking/v1,
 * authentication/v1, authorization/v1 and k8s.io/apimachinery meta/v1), with each field's JSON
 * name and whether its JSON keeps a zero value (pointer fields and fields without omitempty in the
 * Go types: SIM_PB_ZERO).
 *
 * They cover the objects kubectl's generators build (kubectl create namespace, configmap, secret,
 * serviceaccount, deployment, job, cronjob, service, role, rolebinding, clusterrole,
 * clusterrolebinding, poddisruptionbudget, priorityclass, quota, ingress, token) and kubectl auth
 * sends (can-i, can-i --list, whoami: the self reviews): every field those messages always write,
 * and the optional ones the commands set. Fields left out (volumes, probes, security contexts,
 * conditions, managedFields, ...) are refused by the decoder with a 415 that names them.
 */
#include "protobuf.h"

#include <string.h>

#define NFIELDS(a)	   (sizeof(a) / sizeof((a)[0]))
#define MESSAGE(var, name) static const sim_pb_message var = { name, var##_fields, NFIELDS(var##_fields) }

enum {
	R = SIM_PB_REPEATED,
	M = SIM_PB_MAP,
	Z = SIM_PB_ZERO,
};

#define STR    SIM_PB_STRING
#define I32    SIM_PB_INT32
#define I64    SIM_PB_INT64
#define BOOL   SIM_PB_BOOL
#define BYTES  SIM_PB_BYTES
#define MSG    SIM_PB_MESSAGE
#define TIME   SIM_PB_TIME
#define INTSTR SIM_PB_INTSTR
#define QTY    SIM_PB_QUANTITY

/* ---- k8s.io.apimachinery.pkg.apis.meta.v1 ---------------------------------------------------- */

static const sim_pb_field owner_ref_fields[] = {
	{ 1, "kind", STR, Z, NULL },	    { 3, "name", STR, Z, NULL },
	{ 4, "uid", STR, Z, NULL },	    { 5, "apiVersion", STR, Z, NULL },
	{ 6, "controller", BOOL, Z, NULL }, { 7, "blockOwnerDeletion", BOOL, Z, NULL },
};
MESSAGE(owner_ref, "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference");

static const sim_pb_field object_meta_fields[] = {
	{ 1, "name", STR, 0, NULL },
	{ 2, "generateName", STR, 0, NULL },
	{ 3, "namespace", STR, 0, NULL },
	{ 4, "selfLink", STR, 0, NULL },
	{ 5, "uid", STR, 0, NULL },
	{ 6, "resourceVersion", STR, 0, NULL },
	{ 7, "generation", I64, 0, NULL },
	{ 8, "creationTimestamp", TIME, 0, NULL },
	{ 9, "deletionTimestamp", TIME, 0, NULL },
	{ 10, "deletionGracePeriodSeconds", I64, Z, NULL },
	{ 11, "labels", STR, M, NULL },
	{ 12, "annotations", STR, M, NULL },
	{ 13, "ownerReferences", MSG, R, &owner_ref },
	{ 14, "finalizers", STR, R, NULL },
};
MESSAGE(object_meta, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");

static const sim_pb_field selector_req_fields[] = {
	{ 1, "key", STR, Z, NULL },
	{ 2, "operator", STR, Z, NULL },
	{ 3, "values", STR, R, NULL },
};
MESSAGE(selector_req, "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement");

static const sim_pb_field label_selector_fields[] = {
	{ 1, "matchLabels", STR, M, NULL },
	{ 2, "matchExpressions", MSG, R, &selector_req },
};
MESSAGE(label_selector, "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector");

/* ---- k8s.io.api.core.v1 ---------------------------------------------------------------------- */

static const sim_pb_field local_ref_fields[] = {
	{ 1, "name", STR, 0, NULL },
};
MESSAGE(local_ref, "io.k8s.api.core.v1.LocalObjectReference");

static const sim_pb_field object_ref_fields[] = {
	{ 1, "kind", STR, 0, NULL },	  { 2, "namespace", STR, 0, NULL },  { 3, "name", STR, 0, NULL },
	{ 4, "uid", STR, 0, NULL },	  { 5, "apiVersion", STR, 0, NULL }, { 6, "resourceVersion", STR, 0, NULL },
	{ 7, "fieldPath", STR, 0, NULL },
};
MESSAGE(object_ref, "io.k8s.api.core.v1.ObjectReference");

static const sim_pb_field container_port_fields[] = {
	{ 1, "name", STR, 0, NULL },	 { 2, "hostPort", I32, 0, NULL }, { 3, "containerPort", I32, Z, NULL },
	{ 4, "protocol", STR, 0, NULL }, { 5, "hostIP", STR, 0, NULL },
};
MESSAGE(container_port, "io.k8s.api.core.v1.ContainerPort");

static const sim_pb_field env_var_fields[] = {
	{ 1, "name", STR, Z, NULL },
	{ 2, "value", STR, 0, NULL },
};
MESSAGE(env_var, "io.k8s.api.core.v1.EnvVar");

static const sim_pb_field resources_fields[] = {
	{ 1, "limits", QTY, M, NULL },
	{ 2, "requests", QTY, M, NULL },
};
MESSAGE(resources, "io.k8s.api.core.v1.ResourceRequirements");

static const sim_pb_field volume_mount_fields[] = {
	{ 1, "name", STR, Z, NULL },
	{ 2, "readOnly", BOOL, 0, NULL },
	{ 3, "mountPath", STR, Z, NULL },
	{ 4, "subPath", STR, 0, NULL },
	{ 5, "mountPropagation", STR, Z, NULL },
	{ 6, "subPathExpr", STR, 0, NULL },
	{ 7, "recursiveReadOnly", STR, Z, NULL },
};
MESSAGE(volume_mount, "io.k8s.api.core.v1.VolumeMount");

static const sim_pb_field container_fields[] = {
	{ 1, "name", STR, Z, NULL },
	{ 2, "image", STR, 0, NULL },
	{ 3, "command", STR, R, NULL },
	{ 4, "args", STR, R, NULL },
	{ 5, "workingDir", STR, 0, NULL },
	{ 6, "ports", MSG, R, &container_port },
	{ 7, "env", MSG, R, &env_var },
	{ 8, "resources", MSG, 0, &resources },
	{ 9, "volumeMounts", MSG, R, &volume_mount },
	{ 13, "terminationMessagePath", STR, 0, NULL },
	{ 14, "imagePullPolicy", STR, 0, NULL },
	{ 16, "stdin", BOOL, 0, NULL },
	{ 17, "stdinOnce", BOOL, 0, NULL },
	{ 18, "tty", BOOL, 0, NULL },
	{ 20, "terminationMessagePolicy", STR, 0, NULL },
	{ 24, "restartPolicy", STR, Z, NULL },
};
MESSAGE(container, "io.k8s.api.core.v1.Container");

static const sim_pb_field toleration_fields[] = {
	{ 1, "key", STR, 0, NULL },    { 2, "operator", STR, 0, NULL },		 { 3, "value", STR, 0, NULL },
	{ 4, "effect", STR, 0, NULL }, { 5, "tolerationSeconds", I64, Z, NULL },
};
MESSAGE(toleration, "io.k8s.api.core.v1.Toleration");

static const sim_pb_field pod_spec_fields[] = {
	{ 2, "containers", MSG, R, &container },
	{ 3, "restartPolicy", STR, 0, NULL },
	{ 4, "terminationGracePeriodSeconds", I64, Z, NULL },
	{ 5, "activeDeadlineSeconds", I64, Z, NULL },
	{ 6, "dnsPolicy", STR, 0, NULL },
	{ 7, "nodeSelector", STR, M, NULL },
	{ 8, "serviceAccountName", STR, 0, NULL },
	{ 9, "serviceAccount", STR, 0, NULL },
	{ 10, "nodeName", STR, 0, NULL },
	{ 11, "hostNetwork", BOOL, 0, NULL },
	{ 12, "hostPID", BOOL, 0, NULL },
	{ 13, "hostIPC", BOOL, 0, NULL },
	{ 15, "imagePullSecrets", MSG, R, &local_ref },
	{ 16, "hostname", STR, 0, NULL },
	{ 17, "subdomain", STR, 0, NULL },
	{ 19, "schedulerName", STR, 0, NULL },
	{ 20, "initContainers", MSG, R, &container },
	{ 21, "automountServiceAccountToken", BOOL, Z, NULL },
	{ 22, "tolerations", MSG, R, &toleration },
	{ 24, "priorityClassName", STR, 0, NULL },
	{ 25, "priority", I32, Z, NULL },
	{ 27, "shareProcessNamespace", BOOL, Z, NULL },
	{ 29, "runtimeClassName", STR, Z, NULL },
	{ 30, "enableServiceLinks", BOOL, Z, NULL },
	{ 31, "preemptionPolicy", STR, Z, NULL },
	{ 35, "setHostnameAsFQDN", BOOL, Z, NULL },
	{ 37, "hostUsers", BOOL, Z, NULL },
};
MESSAGE(pod_spec, "io.k8s.api.core.v1.PodSpec");

static const sim_pb_field pod_template_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &pod_spec },
};
MESSAGE(pod_template, "io.k8s.api.core.v1.PodTemplateSpec");

static const sim_pb_field namespace_spec_fields[] = {
	{ 1, "finalizers", STR, R, NULL },
};
MESSAGE(namespace_spec, "io.k8s.api.core.v1.NamespaceSpec");

static const sim_pb_field namespace_status_fields[] = {
	{ 1, "phase", STR, 0, NULL },
};
MESSAGE(namespace_status, "io.k8s.api.core.v1.NamespaceStatus");

static const sim_pb_field namespace_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &namespace_spec },
	{ 3, "status", MSG, 0, &namespace_status },
};
MESSAGE(namespace, "io.k8s.api.core.v1.Namespace");

static const sim_pb_field config_map_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "data", STR, M, NULL },
	{ 3, "binaryData", BYTES, M, NULL },
	{ 4, "immutable", BOOL, Z, NULL },
};
MESSAGE(config_map, "io.k8s.api.core.v1.ConfigMap");

static const sim_pb_field secret_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta }, { 2, "data", BYTES, M, NULL },	    { 3, "type", STR, 0, NULL },
	{ 4, "stringData", STR, M, NULL },	 { 5, "immutable", BOOL, Z, NULL },
};
MESSAGE(secret, "io.k8s.api.core.v1.Secret");

static const sim_pb_field service_account_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "secrets", MSG, R, &object_ref },
	{ 3, "imagePullSecrets", MSG, R, &local_ref },
	{ 4, "automountServiceAccountToken", BOOL, Z, NULL },
};
MESSAGE(service_account, "io.k8s.api.core.v1.ServiceAccount");

static const sim_pb_field service_port_fields[] = {
	{ 1, "name", STR, 0, NULL },	      { 2, "protocol", STR, 0, NULL }, { 3, "port", I32, Z, NULL },
	{ 4, "targetPort", INTSTR, 0, NULL }, { 5, "nodePort", I32, 0, NULL }, { 6, "appProtocol", STR, Z, NULL },
};
MESSAGE(service_port, "io.k8s.api.core.v1.ServicePort");

static const sim_pb_field service_spec_fields[] = {
	{ 1, "ports", MSG, R, &service_port },
	{ 2, "selector", STR, M, NULL },
	{ 3, "clusterIP", STR, 0, NULL },
	{ 4, "type", STR, 0, NULL },
	{ 5, "externalIPs", STR, R, NULL },
	{ 7, "sessionAffinity", STR, 0, NULL },
	{ 8, "loadBalancerIP", STR, 0, NULL },
	{ 9, "loadBalancerSourceRanges", STR, R, NULL },
	{ 10, "externalName", STR, 0, NULL },
	{ 11, "externalTrafficPolicy", STR, 0, NULL },
	{ 12, "healthCheckNodePort", I32, 0, NULL },
	{ 13, "publishNotReadyAddresses", BOOL, 0, NULL },
	{ 17, "ipFamilyPolicy", STR, Z, NULL },
	{ 18, "clusterIPs", STR, R, NULL },
	{ 19, "ipFamilies", STR, R, NULL },
	{ 20, "allocateLoadBalancerNodePorts", BOOL, Z, NULL },
	{ 21, "loadBalancerClass", STR, Z, NULL },
	{ 22, "internalTrafficPolicy", STR, Z, NULL },
	{ 23, "trafficDistribution", STR, Z, NULL },
};
MESSAGE(service_spec, "io.k8s.api.core.v1.ServiceSpec");

static const sim_pb_field lb_ingress_fields[] = {
	{ 1, "ip", STR, 0, NULL },
	{ 2, "hostname", STR, 0, NULL },
	{ 3, "ipMode", STR, Z, NULL },
};
MESSAGE(lb_ingress, "io.k8s.api.core.v1.LoadBalancerIngress");

static const sim_pb_field lb_status_fields[] = {
	{ 1, "ingress", MSG, R, &lb_ingress },
};
MESSAGE(lb_status, "io.k8s.api.core.v1.LoadBalancerStatus");

static const sim_pb_field service_status_fields[] = {
	{ 1, "loadBalancer", MSG, 0, &lb_status },
};
MESSAGE(service_status, "io.k8s.api.core.v1.ServiceStatus");

static const sim_pb_field service_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &service_spec },
	{ 3, "status", MSG, 0, &service_status },
};
MESSAGE(service, "io.k8s.api.core.v1.Service");

static const sim_pb_field scope_req_fields[] = {
	{ 1, "scopeName", STR, Z, NULL },
	{ 2, "operator", STR, Z, NULL },
	{ 3, "values", STR, R, NULL },
};
MESSAGE(scope_req, "io.k8s.api.core.v1.ScopedResourceSelectorRequirement");

static const sim_pb_field scope_selector_fields[] = {
	{ 1, "matchExpressions", MSG, R, &scope_req },
};
MESSAGE(scope_selector, "io.k8s.api.core.v1.ScopeSelector");

static const sim_pb_field quota_spec_fields[] = {
	{ 1, "hard", QTY, M, NULL },
	{ 2, "scopes", STR, R, NULL },
	{ 3, "scopeSelector", MSG, 0, &scope_selector },
};
MESSAGE(quota_spec, "io.k8s.api.core.v1.ResourceQuotaSpec");

static const sim_pb_field quota_status_fields[] = {
	{ 1, "hard", QTY, M, NULL },
	{ 2, "used", QTY, M, NULL },
};
MESSAGE(quota_status, "io.k8s.api.core.v1.ResourceQuotaStatus");

static const sim_pb_field quota_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &quota_spec },
	{ 3, "status", MSG, 0, &quota_status },
};
MESSAGE(quota, "io.k8s.api.core.v1.ResourceQuota");

/* ---- k8s.io.api.apps.v1 ---------------------------------------------------------------------- */

static const sim_pb_field rolling_update_fields[] = {
	{ 1, "maxUnavailable", INTSTR, 0, NULL },
	{ 2, "maxSurge", INTSTR, 0, NULL },
};
MESSAGE(rolling_update, "io.k8s.api.apps.v1.RollingUpdateDeployment");

static const sim_pb_field strategy_fields[] = {
	{ 1, "type", STR, 0, NULL },
	{ 2, "rollingUpdate", MSG, 0, &rolling_update },
};
MESSAGE(strategy, "io.k8s.api.apps.v1.DeploymentStrategy");

static const sim_pb_field deployment_spec_fields[] = {
	{ 1, "replicas", I32, Z, NULL },	  { 2, "selector", MSG, 0, &label_selector },
	{ 3, "template", MSG, 0, &pod_template }, { 4, "strategy", MSG, 0, &strategy },
	{ 5, "minReadySeconds", I32, 0, NULL },	  { 6, "revisionHistoryLimit", I32, Z, NULL },
	{ 7, "paused", BOOL, 0, NULL },		  { 9, "progressDeadlineSeconds", I32, Z, NULL },
};
MESSAGE(deployment_spec, "io.k8s.api.apps.v1.DeploymentSpec");

static const sim_pb_field deployment_status_fields[] = {
	{ 1, "observedGeneration", I64, 0, NULL },  { 2, "replicas", I32, 0, NULL },
	{ 3, "updatedReplicas", I32, 0, NULL },	    { 4, "availableReplicas", I32, 0, NULL },
	{ 5, "unavailableReplicas", I32, 0, NULL }, { 7, "readyReplicas", I32, 0, NULL },
	{ 8, "collisionCount", I32, Z, NULL },	    { 9, "terminatingReplicas", I32, Z, NULL },
};
MESSAGE(deployment_status, "io.k8s.api.apps.v1.DeploymentStatus");

static const sim_pb_field deployment_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &deployment_spec },
	{ 3, "status", MSG, 0, &deployment_status },
};
MESSAGE(deployment, "io.k8s.api.apps.v1.Deployment");

/* ---- k8s.io.api.batch.v1 --------------------------------------------------------------------- */

static const sim_pb_field job_spec_fields[] = {
	{ 1, "parallelism", I32, Z, NULL },	      { 2, "completions", I32, Z, NULL },
	{ 3, "activeDeadlineSeconds", I64, Z, NULL }, { 4, "selector", MSG, 0, &label_selector },
	{ 5, "manualSelector", BOOL, Z, NULL },	      { 6, "template", MSG, 0, &pod_template },
	{ 7, "backoffLimit", I32, Z, NULL },	      { 8, "ttlSecondsAfterFinished", I32, Z, NULL },
	{ 9, "completionMode", STR, Z, NULL },	      { 10, "suspend", BOOL, Z, NULL },
	{ 12, "backoffLimitPerIndex", I32, Z, NULL }, { 13, "maxFailedIndexes", I32, Z, NULL },
	{ 14, "podReplacementPolicy", STR, Z, NULL }, { 15, "managedBy", STR, Z, NULL },
};
MESSAGE(job_spec, "io.k8s.api.batch.v1.JobSpec");

static const sim_pb_field job_status_fields[] = {
	{ 2, "startTime", TIME, 0, NULL },   { 3, "completionTime", TIME, 0, NULL },
	{ 4, "active", I32, 0, NULL },	     { 5, "succeeded", I32, 0, NULL },
	{ 6, "failed", I32, 0, NULL },	     { 7, "completedIndexes", STR, 0, NULL },
	{ 9, "ready", I32, Z, NULL },	     { 10, "failedIndexes", STR, Z, NULL },
	{ 11, "terminating", I32, Z, NULL },
};
MESSAGE(job_status, "io.k8s.api.batch.v1.JobStatus");

static const sim_pb_field job_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &job_spec },
	{ 3, "status", MSG, 0, &job_status },
};
MESSAGE(job, "io.k8s.api.batch.v1.Job");

static const sim_pb_field job_template_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &job_spec },
};
MESSAGE(job_template, "io.k8s.api.batch.v1.JobTemplateSpec");

static const sim_pb_field cron_job_spec_fields[] = {
	{ 1, "schedule", STR, Z, NULL },
	{ 2, "startingDeadlineSeconds", I64, Z, NULL },
	{ 3, "concurrencyPolicy", STR, 0, NULL },
	{ 4, "suspend", BOOL, Z, NULL },
	{ 5, "jobTemplate", MSG, 0, &job_template },
	{ 6, "successfulJobsHistoryLimit", I32, Z, NULL },
	{ 7, "failedJobsHistoryLimit", I32, Z, NULL },
	{ 8, "timeZone", STR, Z, NULL },
};
MESSAGE(cron_job_spec, "io.k8s.api.batch.v1.CronJobSpec");

static const sim_pb_field cron_job_status_fields[] = {
	{ 1, "active", MSG, R, &object_ref },
	{ 4, "lastScheduleTime", TIME, 0, NULL },
	{ 5, "lastSuccessfulTime", TIME, 0, NULL },
};
MESSAGE(cron_job_status, "io.k8s.api.batch.v1.CronJobStatus");

static const sim_pb_field cron_job_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &cron_job_spec },
	{ 3, "status", MSG, 0, &cron_job_status },
};
MESSAGE(cron_job, "io.k8s.api.batch.v1.CronJob");

/* ---- k8s.io.api.rbac.v1 ---------------------------------------------------------------------- */

static const sim_pb_field policy_rule_fields[] = {
	{ 1, "verbs", STR, R, NULL },	      { 2, "apiGroups", STR, R, NULL },	      { 3, "resources", STR, R, NULL },
	{ 4, "resourceNames", STR, R, NULL }, { 5, "nonResourceURLs", STR, R, NULL },
};
MESSAGE(policy_rule, "io.k8s.api.rbac.v1.PolicyRule");

static const sim_pb_field role_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "rules", MSG, R, &policy_rule },
};
MESSAGE(role, "io.k8s.api.rbac.v1.Role");

static const sim_pb_field aggregation_rule_fields[] = {
	{ 1, "clusterRoleSelectors", MSG, R, &label_selector },
};
MESSAGE(aggregation_rule, "io.k8s.api.rbac.v1.AggregationRule");

static const sim_pb_field cluster_role_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "rules", MSG, R, &policy_rule },
	{ 3, "aggregationRule", MSG, 0, &aggregation_rule },
};
MESSAGE(cluster_role, "io.k8s.api.rbac.v1.ClusterRole");

static const sim_pb_field subject_fields[] = {
	{ 1, "kind", STR, Z, NULL },
	{ 2, "apiGroup", STR, 0, NULL },
	{ 3, "name", STR, Z, NULL },
	{ 4, "namespace", STR, 0, NULL },
};
MESSAGE(subject, "io.k8s.api.rbac.v1.Subject");

static const sim_pb_field role_ref_fields[] = {
	{ 1, "apiGroup", STR, Z, NULL },
	{ 2, "kind", STR, Z, NULL },
	{ 3, "name", STR, Z, NULL },
};
MESSAGE(role_ref, "io.k8s.api.rbac.v1.RoleRef");

/* RoleBinding and ClusterRoleBinding have the same fields. */
static const sim_pb_field binding_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "subjects", MSG, R, &subject },
	{ 3, "roleRef", MSG, 0, &role_ref },
};
MESSAGE(binding, "io.k8s.api.rbac.v1.RoleBinding");
static const sim_pb_message cluster_binding = { "io.k8s.api.rbac.v1.ClusterRoleBinding", binding_fields,
						NFIELDS(binding_fields) };

/* ---- k8s.io.api.policy.v1 -------------------------------------------------------------------- */

static const sim_pb_field pdb_spec_fields[] = {
	{ 1, "minAvailable", INTSTR, 0, NULL },
	{ 2, "selector", MSG, 0, &label_selector },
	{ 3, "maxUnavailable", INTSTR, 0, NULL },
	{ 4, "unhealthyPodEvictionPolicy", STR, Z, NULL },
};
MESSAGE(pdb_spec, "io.k8s.api.policy.v1.PodDisruptionBudgetSpec");

static const sim_pb_field pdb_status_fields[] = {
	{ 1, "observedGeneration", I64, 0, NULL }, { 2, "disruptedPods", TIME, M, NULL },
	{ 3, "disruptionsAllowed", I32, Z, NULL }, { 4, "currentHealthy", I32, Z, NULL },
	{ 5, "desiredHealthy", I32, Z, NULL },	   { 6, "expectedPods", I32, Z, NULL },
};
MESSAGE(pdb_status, "io.k8s.api.policy.v1.PodDisruptionBudgetStatus");

static const sim_pb_field pdb_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &pdb_spec },
	{ 3, "status", MSG, 0, &pdb_status },
};
MESSAGE(pdb, "io.k8s.api.policy.v1.PodDisruptionBudget");

/* ---- k8s.io.api.scheduling.v1 ---------------------------------------------------------------- */

static const sim_pb_field priority_class_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta }, { 2, "value", I32, Z, NULL },
	{ 3, "globalDefault", BOOL, 0, NULL },	 { 4, "description", STR, 0, NULL },
	{ 5, "preemptionPolicy", STR, Z, NULL },
};
MESSAGE(priority_class, "io.k8s.api.scheduling.v1.PriorityClass");

/* ---- k8s.io.api.networking.v1 ---------------------------------------------------------------- */

static const sim_pb_field backend_port_fields[] = {
	{ 1, "name", STR, 0, NULL },
	{ 2, "number", I32, 0, NULL },
};
MESSAGE(backend_port, "io.k8s.api.networking.v1.ServiceBackendPort");

static const sim_pb_field service_backend_fields[] = {
	{ 1, "name", STR, Z, NULL },
	{ 2, "port", MSG, 0, &backend_port },
};
MESSAGE(service_backend, "io.k8s.api.networking.v1.IngressServiceBackend");

static const sim_pb_field ingress_backend_fields[] = {
	{ 4, "service", MSG, 0, &service_backend },
};
MESSAGE(ingress_backend, "io.k8s.api.networking.v1.IngressBackend");

static const sim_pb_field ingress_tls_fields[] = {
	{ 1, "hosts", STR, R, NULL },
	{ 2, "secretName", STR, 0, NULL },
};
MESSAGE(ingress_tls, "io.k8s.api.networking.v1.IngressTLS");

static const sim_pb_field http_path_fields[] = {
	{ 1, "path", STR, 0, NULL },
	{ 2, "backend", MSG, 0, &ingress_backend },
	{ 3, "pathType", STR, Z, NULL },
};
MESSAGE(http_path, "io.k8s.api.networking.v1.HTTPIngressPath");

static const sim_pb_field http_rule_fields[] = {
	{ 1, "paths", MSG, R, &http_path },
};
MESSAGE(http_rule, "io.k8s.api.networking.v1.HTTPIngressRuleValue");

static const sim_pb_field rule_value_fields[] = {
	{ 1, "http", MSG, 0, &http_rule },
};
MESSAGE(rule_value, "io.k8s.api.networking.v1.IngressRuleValue");

static const sim_pb_field ingress_rule_fields[] = {
	{ 1, "host", STR, 0, NULL },
	{ 2, NULL, MSG, SIM_PB_INLINE, &rule_value },
};
MESSAGE(ingress_rule, "io.k8s.api.networking.v1.IngressRule");

static const sim_pb_field ingress_spec_fields[] = {
	{ 1, "defaultBackend", MSG, 0, &ingress_backend },
	{ 2, "tls", MSG, R, &ingress_tls },
	{ 3, "rules", MSG, R, &ingress_rule },
	{ 4, "ingressClassName", STR, Z, NULL },
};
MESSAGE(ingress_spec, "io.k8s.api.networking.v1.IngressSpec");

static const sim_pb_field ingress_lb_ingress_fields[] = {
	{ 1, "ip", STR, 0, NULL },
	{ 2, "hostname", STR, 0, NULL },
};
MESSAGE(ingress_lb_ingress, "io.k8s.api.networking.v1.IngressLoadBalancerIngress");

static const sim_pb_field ingress_lb_fields[] = {
	{ 1, "ingress", MSG, R, &ingress_lb_ingress },
};
MESSAGE(ingress_lb, "io.k8s.api.networking.v1.IngressLoadBalancerStatus");

static const sim_pb_field ingress_status_fields[] = {
	{ 1, "loadBalancer", MSG, 0, &ingress_lb },
};
MESSAGE(ingress_status, "io.k8s.api.networking.v1.IngressStatus");

static const sim_pb_field ingress_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &ingress_spec },
	{ 3, "status", MSG, 0, &ingress_status },
};
MESSAGE(ingress, "io.k8s.api.networking.v1.Ingress");

/* ---- k8s.io.api.authentication.v1 ------------------------------------------------------------ */

static const sim_pb_field bound_ref_fields[] = {
	{ 1, "kind", STR, 0, NULL },
	{ 2, "apiVersion", STR, 0, NULL },
	{ 3, "name", STR, 0, NULL },
	{ 4, "uid", STR, 0, NULL },
};
MESSAGE(bound_ref, "io.k8s.api.authentication.v1.BoundObjectReference");

static const sim_pb_field token_spec_fields[] = {
	{ 1, "audiences", STR, R, NULL },
	{ 3, "boundObjectRef", MSG, 0, &bound_ref },
	{ 4, "expirationSeconds", I64, Z, NULL },
};
MESSAGE(token_spec, "io.k8s.api.authentication.v1.TokenRequestSpec");

static const sim_pb_field token_status_fields[] = {
	{ 1, "token", STR, Z, NULL },
	{ 2, "expirationTimestamp", TIME, 0, NULL },
};
MESSAGE(token_status, "io.k8s.api.authentication.v1.TokenRequestStatus");

static const sim_pb_field token_request_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &token_spec },
	{ 3, "status", MSG, 0, &token_status },
};
MESSAGE(token_request, "io.k8s.api.authentication.v1.TokenRequest");

/* ---- k8s.io.api.authorization.v1 and the self reviews of authentication.k8s.io/v1 ---------- */

static const sim_pb_field resource_attrs_fields[] = {
	{ 1, "namespace", STR, 0, NULL }, { 2, "verb", STR, 0, NULL },	   { 3, "group", STR, 0, NULL },
	{ 4, "version", STR, 0, NULL },	  { 5, "resource", STR, 0, NULL }, { 6, "subresource", STR, 0, NULL },
	{ 7, "name", STR, 0, NULL },
};
MESSAGE(resource_attrs, "io.k8s.api.authorization.v1.ResourceAttributes");

static const sim_pb_field non_resource_attrs_fields[] = {
	{ 1, "path", STR, 0, NULL },
	{ 2, "verb", STR, 0, NULL },
};
MESSAGE(non_resource_attrs, "io.k8s.api.authorization.v1.NonResourceAttributes");

static const sim_pb_field ssar_spec_fields[] = {
	{ 1, "resourceAttributes", MSG, 0, &resource_attrs },
	{ 2, "nonResourceAttributes", MSG, 0, &non_resource_attrs },
};
MESSAGE(ssar_spec, "io.k8s.api.authorization.v1.SelfSubjectAccessReviewSpec");

static const sim_pb_field sar_status_fields[] = {
	{ 1, "allowed", BOOL, Z, NULL },
	{ 2, "reason", STR, 0, NULL },
	{ 3, "evaluationError", STR, 0, NULL },
	{ 4, "denied", BOOL, 0, NULL },
};
MESSAGE(sar_status, "io.k8s.api.authorization.v1.SubjectAccessReviewStatus");

static const sim_pb_field ssar_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &ssar_spec },
	{ 3, "status", MSG, 0, &sar_status },
};
MESSAGE(ssar, "io.k8s.api.authorization.v1.SelfSubjectAccessReview");

static const sim_pb_field ssrr_spec_fields[] = {
	{ 1, "namespace", STR, 0, NULL },
};
MESSAGE(ssrr_spec, "io.k8s.api.authorization.v1.SelfSubjectRulesReviewSpec");

/* What a client sends in status: no rules, only the scalars. */
static const sim_pb_field rules_status_fields[] = {
	{ 3, "incomplete", BOOL, Z, NULL },
	{ 4, "evaluationError", STR, 0, NULL },
};
MESSAGE(rules_status, "io.k8s.api.authorization.v1.SubjectRulesReviewStatus");

static const sim_pb_field ssrr_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "spec", MSG, 0, &ssrr_spec },
	{ 3, "status", MSG, 0, &rules_status },
};
MESSAGE(ssrr, "io.k8s.api.authorization.v1.SelfSubjectRulesReview");

static const sim_pb_field user_info_fields[] = {
	{ 1, "username", STR, 0, NULL },
	{ 2, "uid", STR, 0, NULL },
	{ 3, "groups", STR, R, NULL },
};
MESSAGE(user_info, "io.k8s.api.authentication.v1.UserInfo");

static const sim_pb_field ssr_status_fields[] = {
	{ 1, "userInfo", MSG, 0, &user_info },
};
MESSAGE(ssr_status, "io.k8s.api.authentication.v1.SelfSubjectReviewStatus");

static const sim_pb_field ssr_fields[] = {
	{ 1, "metadata", MSG, 0, &object_meta },
	{ 2, "status", MSG, 0, &ssr_status },
};
MESSAGE(ssr, "io.k8s.api.authentication.v1.SelfSubjectReview");

/* ---- the kinds ------------------------------------------------------------------------------- */

static const struct {
	const char *api_version, *kind;
	const sim_pb_message *msg;
} kinds[] = {
	{ "v1", "Namespace", &namespace },
	{ "v1", "ConfigMap", &config_map },
	{ "v1", "Secret", &secret },
	{ "v1", "ServiceAccount", &service_account },
	{ "v1", "Service", &service },
	{ "v1", "ResourceQuota", &quota },
	{ "apps/v1", "Deployment", &deployment },
	{ "batch/v1", "Job", &job },
	{ "batch/v1", "CronJob", &cron_job },
	{ "rbac.authorization.k8s.io/v1", "Role", &role },
	{ "rbac.authorization.k8s.io/v1", "ClusterRole", &cluster_role },
	{ "rbac.authorization.k8s.io/v1", "RoleBinding", &binding },
	{ "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", &cluster_binding },
	{ "policy/v1", "PodDisruptionBudget", &pdb },
	{ "scheduling.k8s.io/v1", "PriorityClass", &priority_class },
	{ "networking.k8s.io/v1", "Ingress", &ingress },
	{ "authentication.k8s.io/v1", "TokenRequest", &token_request },
	{ "authentication.k8s.io/v1", "SelfSubjectReview", &ssr },
	{ "authorization.k8s.io/v1", "SelfSubjectAccessReview", &ssar },
	{ "authorization.k8s.io/v1", "SelfSubjectRulesReview", &ssrr },
};

const sim_pb_message *sim_pb_schema_kind(const char *api_version, const char *kind)
{
	for (size_t i = 0; i < NFIELDS(kinds); i++)
		if (strcmp(kinds[i].api_version, api_version) == 0 && strcmp(kinds[i].kind, kind) == 0)
			return kinds[i].msg;
	return NULL;
}
