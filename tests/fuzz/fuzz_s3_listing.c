/*
 * libFuzzer target: S3's XML replies as a server might send them, hostile or broken: a
 * ListObjectsV2 page (with and without url-encoded keys), a bucket list, an uploads list and an
 * error body. Each must parse or fail with an error, never crash or leak.
 */
#include "s3/s3.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	vs_s3_listing l;
	vs_error err;
	char **names, code[64], msg[256];
	size_t n;

	for (int encoded = 0; encoded < 2; encoded++)
		if (vs_s3_listing_parse(xml, size, encoded, "fuzz", &l, &err) == 0)
			vs_s3_listing_clear(&l);
	if (vs_s3_buckets_parse(xml, size, &names, &n, &err) == 0 || names) {
		for (size_t i = 0; names[i]; i++)
			free(names[i]);
		free(names);
	}
	if (vs_s3_uploads_parse(xml, size, "k", &names, &n, &err) == 0 || names) {
		for (size_t i = 0; names[i]; i++)
			free(names[i]);
		free(names);
	}
	vs_s3_error_parse(xml, size, code, msg);
	free(vs_s3_xml_find(xml, size, "UploadId"));
	return 0;
}
