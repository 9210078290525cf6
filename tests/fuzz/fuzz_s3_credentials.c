/*
 * libFuzzer target: AWS shared-credentials files as people write them, and worse: any bytes, any
 * profile. Each must parse or fail with an error, and a failure must leave no key behind.
 */
#include "s3/s3.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const profiles[] = { NULL, "rook", "profile x" };
	vs_s3_credentials c;
	vs_error err;

	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
		if (vs_s3_credentials_parse((const char *)data, size, "fuzz", profiles[i], &c, &err) == 0) {
			if (!c.access_key_id[0] || !c.secret_access_key[0])
				abort();
		} else if (c.access_key_id[0] || c.secret_access_key[0]) {
			abort();
		}
	}
	return 0;
}
