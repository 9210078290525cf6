/*
 * libFuzzer target: label and field selectors as a user types them after --selector, or as a
 * client sends them to volshift-sim in ?labelSelector= and ?fieldSelector=. Each must parse or
 * fail with an error, and a parsed one must answer for any labels without crashing.
 */
#include "util/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_label(const char *key, void *ctx)
{
	(void)ctx;
	return strcmp(key, "app") == 0 ? "web" : strcmp(key, "tier") == 0 ? "" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = strndup((const char *)data, size);
	vs_selector *sel = NULL;
	vs_error err;

	if (vs_selector_parse(text, &sel, &err) == 0) {
		(void)vs_selector_matches(sel, fuzz_label, NULL);
		vs_selector_free(sel);
	} else if (!err.code) {
		abort(); /* a refusal says why */
	}
	sel = NULL;
	if (vs_selector_parse_fields(text, &sel, &err) == 0)
		vs_selector_free(sel);
	free(text);
	return 0;
}
