/*
 * Small named accessors over jansson: volshift reads the fields it needs from an object by path
 * instead of mirroring every API type in a struct.
 */
#include "util.h"

#include <stdlib.h>
#include <string.h>

json_t *vs_json_path(const json_t *obj, const char *path)
{
	const char *p = path;
	json_t *cur = (json_t *)obj;

	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (!json_is_object(cur))
			return NULL;
		cur = json_object_getn(cur, p, n);
		p += n + (dot ? 1 : 0);
	}
	return cur;
}

const char *vs_json_str(const json_t *obj, const char *path)
{
	return json_string_value(vs_json_path(obj, path));
}

const char *vs_json_str_or(const json_t *obj, const char *path, const char *dflt)
{
	const char *s = vs_json_str(obj, path);

	return s ? s : dflt;
}

long long vs_json_int(const json_t *obj, const char *path, long long dflt)
{
	json_t *v = vs_json_path(obj, path);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

bool vs_json_bool(const json_t *obj, const char *path, bool dflt)
{
	json_t *v = vs_json_path(obj, path);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

bool vs_json_array_has_str(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach (arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

int vs_json_set_path(json_t *obj, const char *path, json_t *value)
{
	char *copy = vs_xstrdup(path), *p = copy, *dot;
	json_t *cur = obj;
	int rc = VS_EINVAL;

	while ((dot = strchr(p, '.')) != NULL) {
		*dot = '\0';
		json_t *next = json_object_get(cur, p);
		if (!next) {
			next = json_object();
			json_object_set_new(cur, p, next);
		}
		if (!json_is_object(next))
			goto done;
		cur = next;
		p = dot + 1;
	}
	if (json_is_object(cur) && json_object_set_new(cur, p, value) == 0) {
		value = NULL;
		rc = 0;
	}
done:
	json_decref(value);
	free(copy);
	return rc;
}

const char *vs_json_annotation(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(vs_json_path(obj, "metadata.annotations"), key));
}

void vs_json_pointer_push(vs_buf *b, const char *segment, size_t len)
{
	vs_buf_append(b, "/", 1);
	for (size_t i = 0; i < len; i++) {
		if (segment[i] == '~')
			vs_buf_append(b, "~0", 2);
		else if (segment[i] == '/')
			vs_buf_append(b, "~1", 2);
		else
			vs_buf_append(b, segment + i, 1);
	}
}
