/*
 * libFuzzer target: the continue token of a paginated list, which volshift-sim reads from any
 * client's query (base64 of "RV/namespace/name"). Any bytes must be refused with 400 BadRequest or
 * 410 Expired, or answered with a page of at most the limit.
 */
#include "sim/api.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A store with five ConfigMaps, one of them changed and one deleted since they were made. */
static sim_store *fuzz_store(void)
{
	static sim_store *st;
	const sim_resource *cms = sim_resource_find("", "configmaps");
	vs_error err;

	if (st)
		return st;
	st = sim_store_new();
	if (sim_api_bootstrap(st, 1, NULL, &err) != 0)
		abort();
	for (int i = 0; i < 5; i++) {
		char name[8];
		snprintf(name, sizeof(name), "cm%d", i);
		json_t *cm = json_pack("{s:{s:s}}", "metadata", "name", name);
		if (sim_api_create(st, cms, "default", cm, NULL, &err) != 0)
			abort();
		json_decref(cm);
	}
	if (sim_api_delete(st, cms, "default", "cm2", NULL, NULL, NULL, &err) != 0)
		abort();
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *token = strndup((const char *)data, size);
	sim_list_opts opts = { NULL, NULL, 2, token };
	json_t *page = NULL;
	vs_error err;

	if (!token)
		abort();
	if (sim_api_list(fuzz_store(), sim_resource_find("", "configmaps"), "default", &opts, &page, &err) == 0) {
		if (json_array_size(json_object_get(page, "items")) > 2)
			abort();
	} else if (err.http_status != 400 && err.http_status != 410) {
		abort();
	}
	json_decref(page);
	free(token);
	return 0;
}
