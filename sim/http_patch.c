/*
 * http_patch: the three patch formats kube-apiserver accepts (JSON merge patch, strategic merge
 * patch with the list merge keys of the built-in types, JSON patch), applied to plain JSON.
 */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>

json_t *sim_merge_patch(json_t *dst, const json_t *patch)
{
	const char *k;
	json_t *v;

	if (!json_is_object(patch)) {
		json_decref(dst);
		return json_deep_copy(patch);
	}
	if (!json_is_object(dst)) {
		json_decref(dst);
		dst = json_object();
	}
	json_object_foreach((json_t *)patch, k, v) {
		if (json_is_null(v))
			json_object_del(dst, k);
		else
			json_object_set_new(dst, k, sim_merge_patch(json_incref(json_object_get(dst, k)), v));
	}
	return dst;
}

/* ---- strategic merge patch ------------------------------------------------------------------ */

static const char *merge_key(const char *field)
{
	static const char *const keys[][2] = {
		{"containers", "name"},   {"initContainers", "name"}, {"ephemeralContainers", "name"},
		{"volumes", "name"},      {"volumeMounts", "mountPath"}, {"volumeDevices", "devicePath"},
		{"env", "name"},          {"ports", "containerPort"}, {"conditions", "type"},
		{"imagePullSecrets", "name"}, {"ownerReferences", "uid"}, {"hostAliases", "ip"},
		{"topologySpreadConstraints", "topologyKey"}, {"containerStatuses", "name"},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i][0], field) == 0)
			return keys[i][1];
	return NULL;
}

static bool primitive_merge(const char *field)
{
	return strcmp(field, "finalizers") == 0;
}

static json_t *smp_value(json_t *dst, const json_t *patch, const char *field);

static json_t *copy_without_directives(const json_t *v)
{
	json_t *c = json_deep_copy(v);

	if (json_is_object(c))
		json_object_del(c, "$patch");
	return c;
}

static json_t *smp_list(json_t *dst, const json_t *patch, const char *field)
{
	const char *mk = merge_key(field);
	json_t *e;
	size_t i;

	if (primitive_merge(field) && json_is_array(dst)) {
		json_array_foreach(patch, i, e) {
			bool found = false;
			json_t *d;
			size_t j;
			json_array_foreach(dst, j, d)
				if (json_equal(d, e))
					found = true;
			if (!found)
				json_array_append(dst, e);
		}
		return dst;
	}
	if (!mk || !json_is_array(dst)) {
		json_decref(dst);
		json_t *c = json_array();
		json_array_foreach(patch, i, e)
			if (!json_is_object(e) || !json_string_value(json_object_get(e, "$patch")))
				json_array_append_new(c, copy_without_directives(e));
		return c;
	}
	json_array_foreach(patch, i, e) {
		const char *dir = json_string_value(json_object_get(e, "$patch"));
		json_t *kv = json_object_get(e, mk), *d;
		size_t j, at = (size_t)-1;

		if (dir && strcmp(dir, "replace") == 0) {
			json_t *c = json_array(), *x;
			size_t m;
			json_decref(dst);
			json_array_foreach(patch, m, x)
				if (!json_is_object(x) || !json_object_get(x, "$patch"))
					json_array_append(c, x);
			return c;
		}
		if (!json_is_object(e) || !kv) {
			json_array_append_new(dst, copy_without_directives(e));
			continue;
		}
		json_array_foreach(dst, j, d)
			if (json_equal(json_object_get(d, mk), kv))
				at = j;
		if (dir && strcmp(dir, "delete") == 0) {
			if (at != (size_t)-1)
				json_array_remove(dst, at);
		} else if (at != (size_t)-1) {
			json_array_set_new(dst, at, smp_value(json_incref(json_array_get(dst, at)), e, ""));
		} else {
			json_array_append_new(dst, copy_without_directives(e));
		}
	}
	return dst;
}

static void smp_delete_primitives(json_t *dst, const char *field, const json_t *values)
{
	json_t *arr = json_object_get(dst, field), *v;
	size_t i;

	if (!json_is_array(arr))
		return;
	json_array_foreach(values, i, v)
		for (size_t j = json_array_size(arr); j > 0; j--)
			if (json_equal(json_array_get(arr, j - 1), v))
				json_array_remove(arr, j - 1);
}

/* Returns the merged value (dst consumed), or NULL when the patch says "$patch": "delete". */
static json_t *smp_value(json_t *dst, const json_t *patch, const char *field)
{
	const char *k, *dir;
	json_t *v;

	if (json_is_array(patch))
		return smp_list(dst, patch, field);
	if (!json_is_object(patch)) {
		json_decref(dst);
		return json_deep_copy(patch);
	}
	dir = json_string_value(json_object_get(patch, "$patch"));
	if (dir && strcmp(dir, "delete") == 0) {
		json_decref(dst);
		return NULL;
	}
	if (dir && strcmp(dir, "replace") == 0) {
		json_decref(dst);
		return copy_without_directives(patch);
	}
	if (!json_is_object(dst)) {
		json_decref(dst);
		dst = json_object();
	} else if (dst->refcount > 1) {
		json_t *c = json_deep_copy(dst);
		json_decref(dst);
		dst = c;
	}
	json_object_foreach((json_t *)patch, k, v) {
		json_t *r;
		if (vs_str_has_prefix(k, "$deleteFromPrimitiveList/")) {
			smp_delete_primitives(dst, k + strlen("$deleteFromPrimitiveList/"), v);
			continue;
		}
		if (k[0] == '$')
			continue;
		if (json_is_null(v)) {
			json_object_del(dst, k);
			continue;
		}
		r = smp_value(json_incref(json_object_get(dst, k)), v, k);
		if (r)
			json_object_set_new(dst, k, r);
		else
			json_object_del(dst, k);
	}
	return dst;
}

json_t *sim_strategic_patch(json_t *dst, const json_t *patch)
{
	json_t *r = smp_value(dst, patch, "");

	return r ? r : json_object();
}

/* ---- JSON patch (RFC 6902) ------------------------------------------------------------------ */

static char *unescape_token(const char *s, size_t n)
{
	char *out = vs_xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '~' && i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
			*o++ = s[i + 1] == '0' ? '~' : '/';
			i++;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* Resolve a pointer to its parent container and last token (caller frees *last). */
static int jp_parent(json_t *doc, const char *ptr, json_t **parent, char **last)
{
	json_t *cur = doc;
	const char *p = ptr;

	if (*p != '/')
		return -1;
	for (;;) {
		const char *slash = strchr(p + 1, '/');
		size_t n = slash ? (size_t)(slash - p - 1) : strlen(p + 1);
		char *tok = unescape_token(p + 1, n);
		if (!slash) {
			*parent = cur;
			*last = tok;
			return 0;
		}
		if (json_is_object(cur))
			cur = json_object_get(cur, tok);
		else if (json_is_array(cur))
			cur = json_array_get(cur, strtoul(tok, NULL, 10));
		else
			cur = NULL;
		free(tok);
		if (!cur)
			return -1;
		p = slash;
	}
}

static json_t *jp_get(json_t *doc, const char *ptr)
{
	json_t *parent, *v = NULL;
	char *last;

	if (!*ptr)
		return doc;
	if (jp_parent(doc, ptr, &parent, &last) != 0)
		return NULL;
	if (json_is_object(parent))
		v = json_object_get(parent, last);
	else if (json_is_array(parent) && strcmp(last, "-") != 0)
		v = json_array_get(parent, strtoul(last, NULL, 10));
	free(last);
	return v;
}

/* add/replace/remove on a pointer; value stolen (NULL for remove). */
static int jp_write(json_t **doc, const char *ptr, json_t *value, const char *op)
{
	json_t *parent;
	char *last = NULL;
	int rc = -1;

	if (!*ptr) {
		if (!value)
			return -1;
		json_decref(*doc);
		*doc = value;
		return 0;
	}
	if (jp_parent(*doc, ptr, &parent, &last) != 0)
		goto done;
	if (json_is_object(parent)) {
		bool exists = json_object_get(parent, last) != NULL;
		if (strcmp(op, "add") != 0 && !exists)
			goto done;
		rc = value ? json_object_set(parent, last, value) : json_object_del(parent, last);
	} else if (json_is_array(parent)) {
		size_t size = json_array_size(parent), idx = strcmp(last, "-") == 0 ? size : strtoul(last, NULL, 10);
		if (strcmp(op, "add") == 0)
			rc = idx <= size ? json_array_insert(parent, idx, value) : -1;
		else if (idx < size)
			rc = value ? json_array_set(parent, idx, value) : json_array_remove(parent, idx);
	}
done:
	json_decref(value);
	free(last);
	return rc;
}

int sim_json_patch(json_t **doc, const json_t *ops, vs_error *err)
{
	json_t *op;
	size_t i;

	if (!json_is_array(ops))
		return vs_error_set_api(err, 400, "BadRequest", "json patch must be an array of operations");
	json_array_foreach(ops, i, op) {
		const char *name = vs_json_str(op, "op"), *path = vs_json_str(op, "path"), *from = vs_json_str(op, "from");
		json_t *value = json_object_get(op, "value");
		int rc = -1;

		if (!name || !path)
			return vs_error_set_api(err, 400, "BadRequest", "json patch operation %zu lacks op or path", i);
		if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0) {
			rc = value ? jp_write(doc, path, json_deep_copy(value), name) : -1;
		} else if (strcmp(name, "remove") == 0) {
			rc = jp_write(doc, path, NULL, "remove");
		} else if ((strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) && from) {
			json_t *src = jp_get(*doc, from);
			json_t *c = src ? json_deep_copy(src) : NULL;
			if (c && strcmp(name, "move") == 0 && jp_write(doc, from, NULL, "remove") != 0) {
				json_decref(c);
				c = NULL;
			}
			rc = c ? jp_write(doc, path, c, "add") : -1;
		} else if (strcmp(name, "test") == 0) {
			json_t *cur = jp_get(*doc, path);
			rc = cur && value && json_equal(cur, value) ? 0 : -1;
		}
		if (rc != 0)
			return vs_error_set_api(err, 422, "Invalid",
						"the server rejected our request due to an error in our request: json "
						"patch %s operation on %s failed",
						name, path);
	}
	return 0;
}
