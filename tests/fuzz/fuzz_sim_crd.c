/*
 * libFuzzer target: a CustomResourceDefinition as a client might send it to volshift-sim, hostile
 * or broken. The input is JSON; when it is an object, it is created as a CRD (validation and
 * defaults), the API server's CRD controllers run over it until they settle (names, establishing),
 * and an object of each version it then serves is created, listed and printed as kubectl's table
 * (its printer columns' JSON paths). Each step must succeed or fail with an error, never crash or
 * leak.
 */
#include "sim/api_int.h"
#include "sim/http_int.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run the CRD controllers over the store a few times, as the GC's passes would. */
static void settle(sim_store *st)
{
	for (int pass = 0; pass < 3; pass++) {
		size_t n;
		struct sim_store_item *items = sim_store_snapshot(st, &n);
		sim_crd_controllers(st, items, n);
		sim_store_snapshot_free(st, items, n);
	}
}

/* An object of res (named after its version: the versions share one storage), listed and printed
 * as a table. */
static void exercise(sim_store *st, const sim_resource *res)
{
	json_t *obj = json_pack("{s:{s:s},s:{s:i,s:[{s:s}]},s:{s:i}}", "metadata", "name", res->version, "spec",
				"replicas", 2, "items", "name", "a", "status", "replicas", 1);
	json_t *list = NULL;
	vs_error err;

	if (sim_api_create(st, res, res->namespaced ? "default" : NULL, obj, NULL, &err) == 0 &&
	    sim_api_list(st, res, res->namespaced ? "default" : NULL, NULL, &list, &err) == 0)
		json_decref(sim_table_of(res, list));
	json_decref(list);
	json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *crd = json_loadb((const char *)data, size, 0, NULL);
	const sim_resource **all;
	sim_store *st;
	vs_error err;
	size_t n;

	if (!json_is_object(crd)) {
		json_decref(crd);
		return 0;
	}
	st = sim_store_new();
	if (sim_api_bootstrap(st, 1, NULL, &err) == 0 &&
	    sim_api_create(st, sim_resource_find(SIM_CRD_GROUP, SIM_CRD_PLURAL), NULL, crd, NULL, &err) == 0) {
		settle(st);
		all = sim_store_resources(st, &n);
		for (size_t i = 0; i < n; i++)
			if (sim_resource_is_custom(all[i]))
				exercise(st, all[i]);
		free(all);
	}
	json_decref(crd);
	sim_store_shutdown(st);
	sim_store_free(st);
	return 0;
}
