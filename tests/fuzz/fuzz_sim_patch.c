/*
 * libFuzzer target: volshift-sim's three patch formats (JSON merge, strategic merge and RFC 6902
 * JSON patch), as kubectl or any client may send them, applied to any object. The input is two
 * JSON texts one after the other: the object, then the patch. Each patch must apply or fail with an
 * error, never crash or leak, and a failed JSON patch must leave a document behind.
 */
#include "sim/http_int.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *doc = json_loadb((const char *)data, size, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &jerr);
	json_t *patch = NULL, *copy;
	vs_error err;

	if (!doc)
		return 0;
	patch = json_loadb((const char *)data + jerr.position, size - (size_t)jerr.position, JSON_DECODE_ANY, &jerr);
	if (!patch)
		goto done;
	json_decref(sim_merge_patch(json_deep_copy(doc), patch));
	json_decref(sim_strategic_patch(json_deep_copy(doc), patch));
	copy = json_deep_copy(doc);
	if (sim_json_patch(&copy, patch, &err) < 0 && !err.code)
		abort(); /* a refusal says why */
	if (!copy)
		abort();
	json_decref(copy);
done:
	json_decref(patch);
	json_decref(doc);
	return 0;
}
