/*
 * resources: the table of built-in API resources volshift-sim serves (group, version, plural, kind,
 * scope, subresources), the one place that decides which built-in paths exist and what discovery
 * reports of them (the resources that CRDs add are crd.c's).
 */
#include "api_int.h"

#include <stdint.h>
#include <string.h>

static const sim_resource resources[] = {
	{"", "v1", "namespaces", "namespace", "Namespace", "ns", false, "status,finalize"},
	{"", "v1", "nodes", "node", "Node", "no", false, "status"},
	{"", "v1", "pods", "pod", "Pod", "po", true, "status,log,eviction,binding,exec"},
	{"", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", "pv", false, "status"},
	{"", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", "pvc", true, "status"},
	{"", "v1", "configmaps", "configmap", "ConfigMap", "cm", true, ""},
	{"", "v1", "secrets", "secret", "Secret", "", true, ""},
	{"", "v1", "events", "event", "Event", "ev", true, ""},
	{"", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", "sa", true, "token"},
	{"", "v1", "services", "service", "Service", "svc", true, "status"},
	{"", "v1", "endpoints", "endpoints", "Endpoints", "ep", true, ""},
	{"", "v1", "resourcequotas", "resourcequota", "ResourceQuota", "quota", true, "status"},
	{"apps", "v1", "deployments", "deployment", "Deployment", "deploy", true, "status,scale"},
	{"apps", "v1", "replicasets", "replicaset", "ReplicaSet", "rs", true, "status,scale"},
	{"apps", "v1", "statefulsets", "statefulset", "StatefulSet", "sts", true, "status,scale"},
	{"apps", "v1", "daemonsets", "daemonset", "DaemonSet", "ds", true, "status"},
	{"apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", "", true, ""},
	{"batch", "v1", "jobs", "job", "Job", "", true, "status"},
	{"batch", "v1", "cronjobs", "cronjob", "CronJob", "cj", true, "status"},
	{"storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", "sc", false, ""},
	{"scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", "pc", false, ""},
	{"networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", "ing", true, "status"},
	{"policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", "pdb", true, "status"},
	{"coordination.k8s.io", "v1", "leases", "lease", "Lease", "", true, ""},
	{"events.k8s.io", "v1", "events", "event", "Event", "ev", true, ""},
	{"rbac.authorization.k8s.io", "v1", "roles", "role", "Role", "", true, ""},
	{"rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", "", true, ""},
	{"rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", "", false, ""},
	{"rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", "", false, ""},
	{SIM_CRD_GROUP, "v1", SIM_CRD_PLURAL, "customresourcedefinition", "CustomResourceDefinition", "crd,crds", false,
	 "status"},
	{"authorization.k8s.io", "v1", "selfsubjectaccessreviews", "", "SelfSubjectAccessReview", "", false, ""},
	{"authorization.k8s.io", "v1", "selfsubjectrulesreviews", "", "SelfSubjectRulesReview", "", false, ""},
	{NULL, NULL, NULL, NULL, NULL, NULL, false, NULL},
};

static const char *const api_versions[] = {
	"v1", "v1", "v1", "v1", "v1", "v1", "v1", "v1", "v1", "v1", "v1", "v1",
	"apps/v1", "apps/v1", "apps/v1", "apps/v1", "apps/v1",
	"batch/v1", "batch/v1",
	"storage.k8s.io/v1",
	"scheduling.k8s.io/v1", "networking.k8s.io/v1",
	"policy/v1",
	"coordination.k8s.io/v1",
	"events.k8s.io/v1",
	"rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1",
	"rbac.authorization.k8s.io/v1",
	SIM_CRD_GROUP "/v1",
	"authorization.k8s.io/v1", "authorization.k8s.io/v1",
};

_Static_assert(sizeof(resources) / sizeof(resources[0]) == sizeof(api_versions) / sizeof(api_versions[0]) + 1,
	       "one apiVersion per resource");

const sim_resource *sim_resource_all(void)
{
	return resources;
}

const sim_resource *sim_resource_find(const char *group, const char *plural)
{
	if (!group || !plural)
		return NULL;
	for (const sim_resource *r = resources; r->plural; r++)
		if (strcmp(r->group, group) == 0 && strcmp(r->plural, plural) == 0)
			return r;
	return NULL;
}

bool sim_resource_is_custom(const sim_resource *res)
{
	uintptr_t p = (uintptr_t)res;

	return p < (uintptr_t)resources || p >= (uintptr_t)(resources + sizeof(api_versions) / sizeof(api_versions[0]));
}

const char *sim_resource_api_version(const sim_resource *res)
{
	return sim_resource_is_custom(res) ? sim_crd_api_version(res) : api_versions[res - resources];
}

bool sim_resource_create_only(const sim_resource *res)
{
	return strcmp(res->group, "authorization.k8s.io") == 0;
}

const sim_resource *sim_resource_by_kind(const char *api_version, const char *kind)
{
	if (!api_version || !kind)
		return NULL;
	for (const sim_resource *r = resources; r->plural; r++)
		if (strcmp(sim_resource_api_version(r), api_version) == 0 && strcmp(r->kind, kind) == 0)
			return r;
	return NULL;
}
