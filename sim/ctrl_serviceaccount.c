/*
 * ctrl_serviceaccount: two small controllers of kube-controller-manager that every namespace relies
 * on: the serviceaccounts-controller, which keeps a ServiceAccount "default" in every active
 * namespace (made again when deleted), and the root-ca-cert-publisher, which keeps the cluster's CA
 * in the ConfigMap kube-root-ca.crt of every namespace, where the projected service-account volume
 * of each pod reads it. Both act once the cluster knows its API server (sim_cluster_set_api).
 */
#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>

#define ROOT_CA_CONFIGMAP "kube-root-ca.crt"

static const sim_resource *res_sa;

/* The ServiceAccount "default" of namespace ns, when it is missing. */
static void ensure_default_sa(sim_cluster *c, const char *ns)
{
	json_t *sa = cl_get(c, res_sa, ns, "default");

	if (!sa) {
		json_t *obj = json_pack("{s:{s:s,s:s}}", "metadata", "name", "default", "namespace", ns);
		cl_create(c, res_sa, ns, obj, NULL);
		json_decref(obj);
	}
	json_decref(sa);
}

/* The ConfigMap kube-root-ca.crt of namespace ns holding ca_pem, made or put right. */
static void ensure_root_ca(sim_cluster *c, const char *ns, const char *ca_pem)
{
	json_t *cm = cl_get(c, cl_res_cm, ns, ROOT_CA_CONFIGMAP);

	if (!cm) {
		json_t *obj =
			json_pack("{s:{s:s,s:s,s:{s:s}},s:{s:s}}", "metadata", "name", ROOT_CA_CONFIGMAP, "namespace",
				  ns, "annotations", "kubernetes.io/description",
				  "Contains a CA bundle that can be used to verify the kube-apiserver when using "
				  "internal endpoints such as the internal service IP or kubernetes.default.svc. No "
				  "other usage is guaranteed across distributions of Kubernetes clusters.",
				  "data", "ca.crt", ca_pem);
		cl_create(c, cl_res_cm, ns, obj, NULL);
		json_decref(obj);
	} else if (strcmp(json_string_value(json_object_get(json_object_get(cm, "data"), "ca.crt")) ?: "", ca_pem) !=
		   0) {
		json_object_set_new(cm, "data", json_pack("{s:s}", "ca.crt", ca_pem));
		cl_update(c, cl_res_cm, cm, SIM_UPDATE_MAIN);
	}
	json_decref(cm);
}

static void serviceaccount_reconcile(sim_cluster *c)
{
	sim_cluster_api api;
	json_t *namespaces, *ns;
	size_t i;

	if (!cl_api(c, &api))
		return;
	namespaces = cl_list(c, sim_resource_find("", "namespaces"), NULL, NULL);
	json_array_foreach (namespaces, i, ns) {
		if (cl_deleting(ns))
			continue;
		ensure_default_sa(c, cl_name(ns));
		ensure_root_ca(c, cl_name(ns), api.ca_pem);
	}
	json_decref(namespaces);
	free((char *)api.ca_pem);
}

int sim_serviceaccount_start(sim_cluster *c, vs_error *err)
{
	res_sa = sim_resource_find("", "serviceaccounts");
	return cl_spawn(c, "serviceaccount", serviceaccount_reconcile, NULL, 1000, err);
}
