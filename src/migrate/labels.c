/*
 * The labels volshift puts on what it creates (their keys are in migrate.h), built in one place so
 * that every object says the same things about itself, and read back in one place: an object is
 * treated as volshift's only when its labels say so, never because of its name.
 */
#include "migrate_int.h"

#include <stdarg.h>
#include <string.h>

json_t *mig_labels(const char *key, ...)
{
	json_t *labels = json_pack("{s:s}", VS_MIGRATE_MANAGED_BY_LABEL, VS_MIGRATE_MANAGED_BY);
	va_list ap;

	va_start(ap, key);
	for (; key; key = va_arg(ap, const char *)) {
		const char *value = va_arg(ap, const char *);
		if (value)
			json_object_set_new(labels, key, json_string(value));
	}
	va_end(ap);
	return labels;
}

bool mig_has_label(const json_t *obj, const char *key, const char *value)
{
	const char *have = json_string_value(json_object_get(vs_json_path(obj, "metadata.labels"), key));

	return have && strcmp(have, value) == 0;
}
