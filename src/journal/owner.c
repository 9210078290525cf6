/*
 * What a run keeps besides its journal (a plan run's artifacts and Job logs) is owned by the
 * journal's ConfigMap, so that deleting the run deletes them with it (the garbage collector follows
 * ownerReferences). This file hands out that reference; it only reads the ConfigMap, by the name
 * journal.c gives it.
 */
#include "journal/journal.h"

#include <stdlib.h>

int vs_journal_owner_ref(vs_kube_client *c, const char *ns, const char *id, json_t **out, vs_error *err)
{
	char *name = vs_xasprintf("volshift-%s", id);
	json_t *cm = NULL;
	int rc = vs_kube_get(c, &VS_KUBE_CONFIGMAPS, ns, name, &cm, err);

	*out = NULL;
	if (rc == 0)
		*out = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", "v1", "kind", "ConfigMap", "name", name, "uid",
				 vs_kube_obj_uid(cm) ? vs_kube_obj_uid(cm) : "");
	json_decref(cm);
	free(name);
	return rc < 0 ? vs_error_wrap(err, "run %s", id) : 0;
}
