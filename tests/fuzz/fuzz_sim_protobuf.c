/*
 * libFuzzer target: request bodies in the Kubernetes protobuf encoding as a client might send
 * them, hostile or broken (seeds: what kubectl's generators send). Each must decode into JSON or
 * fail with an error, never crash, leak or read past the body.
 */
#include "sim/protobuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1); /* exactly size bytes: ASan sees any read past them */
	json_t *out = NULL;
	vs_error err;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (sim_protobuf_decode(copy, size, &out, &err) == 0)
		free(json_dumps(out, JSON_COMPACT));
	json_decref(out);
	free(copy);
	return 0;
}
