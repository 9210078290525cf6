/*
 * sa_admission: the ServiceAccount admission plugin of kube-apiserver (plugin/pkg/admission/
 * serviceaccount), run on every pod created, whoever creates it: the pod gets its ServiceAccount
 * ("default" when it names none) and, unless automountServiceAccountToken is false on the pod or
 * else on its ServiceAccount, the projected volume kube-api-access-XXXXX (a bound token, the
 * cluster's CA from the ConfigMap kube-root-ca.crt, the namespace) mounted read-only in every
 * container at /var/run/secrets/kubernetes.io/serviceaccount. The node agent fills that volume.
 *
 * Unlike the real plugin, a pod whose ServiceAccount does not exist yet is not refused: the node
 * waits for it when it mounts the token, so that a namespace and its pods may be created at once.
 */
#include "api_int.h"

#include <stdlib.h>
#include <string.h>

#define SA_MOUNT_PATH "/var/run/secrets/kubernetes.io/serviceaccount"
/* The token lifetime the plugin asks for: an hour, and 7 s that mark it as the legacy kind. */
#define SA_TOKEN_SECONDS 3607

/* automountServiceAccountToken of the pod, else of its ServiceAccount, else true. */
static bool automount(sim_store *st, const json_t *pod, const char *ns, const char *sa)
{
	json_t *v = vs_json_path(pod, "spec.automountServiceAccountToken");
	const json_t *obj;
	bool on = true;

	if (json_is_boolean(v))
		return json_is_true(v);
	pthread_mutex_lock(&st->mu);
	obj = sim_store_lookup_locked(st, sim_resource_find("", "serviceaccounts"), ns, sa);
	if (obj && json_is_boolean(json_object_get(obj, "automountServiceAccountToken")))
		on = json_is_true(json_object_get(obj, "automountServiceAccountToken"));
	pthread_mutex_unlock(&st->mu);
	return on;
}

/* True when a container of spec already mounts something at the service-account path. */
static bool path_taken(const json_t *spec)
{
	static const char *const lists[] = { "initContainers", "containers" };
	const json_t *ctr, *vm;
	size_t i, j;

	for (size_t l = 0; l < 2; l++)
		json_array_foreach (json_object_get(spec, lists[l]), i, ctr)
			json_array_foreach (json_object_get(ctr, "volumeMounts"), j, vm)
				if (strcmp(vs_json_str_or(vm, "mountPath", ""), SA_MOUNT_PATH) == 0)
					return true;
	return false;
}

static json_t *api_access_volume(const char *name)
{
	return json_pack("{s:s,s:{s:i,s:[{s:{s:i,s:s}},{s:{s:s,s:[{s:s,s:s}]}},{s:{s:[{s:{s:s,s:s},s:s}]}}]}}", "name",
			 name, "projected", "defaultMode", 0644, "sources", "serviceAccountToken", "expirationSeconds",
			 SA_TOKEN_SECONDS, "path", "token", "configMap", "name", "kube-root-ca.crt", "items", "key",
			 "ca.crt", "path", "ca.crt", "downwardAPI", "items", "fieldRef", "apiVersion", "v1",
			 "fieldPath", "metadata.namespace", "path", "namespace");
}

void sim_admit_service_account(sim_store *st, json_t *pod)
{
	static const char *const lists[] = { "initContainers", "containers" };
	json_t *spec = json_object_get(pod, "spec"), *ctr;
	const char *sa, *ns = vs_json_str_or(pod, "metadata.namespace", "default");
	char suffix[6], *name, *copy;
	size_t i;

	if (!json_is_object(spec))
		return;
	sa = vs_json_str_or(spec, "serviceAccountName", vs_json_str_or(spec, "serviceAccount", ""));
	copy = vs_xstrdup(*sa ? sa : "default"); /* setting the fields frees the text sa points into */
	json_object_set_new(spec, "serviceAccountName", json_string(copy));
	json_object_set_new(spec, "serviceAccount", json_string(copy));
	free(copy);
	if (!automount(st, pod, ns, vs_json_str(spec, "serviceAccountName")) || path_taken(spec))
		return;
	sim_random_suffix(suffix);
	name = vs_xasprintf("kube-api-access-%s", suffix);
	if (!json_is_array(json_object_get(spec, "volumes")))
		json_object_set_new(spec, "volumes", json_array());
	json_array_append_new(json_object_get(spec, "volumes"), api_access_volume(name));
	for (size_t l = 0; l < 2; l++)
		json_array_foreach (json_object_get(spec, lists[l]), i, ctr) {
			if (!json_is_array(json_object_get(ctr, "volumeMounts")))
				json_object_set_new(ctr, "volumeMounts", json_array());
			json_array_append_new(
				json_object_get(ctr, "volumeMounts"),
				json_pack("{s:s,s:b,s:s}", "name", name, "readOnly", 1, "mountPath", SA_MOUNT_PATH));
		}
	free(name);
}
