/*
 * Plan files: YAML read strictly (a duplicate key or a second document is an error), then checked
 * field by field before anything runs, so that a typo is a message at a line and a column rather
 * than a half-done migration. The checks walk the JSON with a JSON pointer of where they are; the
 * pointer gives the place in the file (vs_yaml_doc_mark) and a readable path for the message.
 */
#include "engine/engine_int.h"
#include "s3/s3.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Where a check is: the document (NULL for a plan read back from a journal) and the file name. */
typedef struct plan_check {
	const vs_yaml_doc *doc;
	const char *file;
	vs_error *err;
} plan_check;

/* "/spec/steps/0/name" as "spec.steps[0].name". Caller frees. */
static char *plan_readable(const char *pointer)
{
	vs_buf b;

	vs_buf_init(&b, 4096);
	for (const char *p = pointer; *p == '/';) {
		size_t n = strcspn(p + 1, "/");
		bool index = n > 0 && strspn(p + 1, "0123456789") >= n;
		if (index)
			vs_buf_printf(&b, "[%.*s]", (int)n, p + 1);
		else
			vs_buf_printf(&b, "%s%.*s", b.len == 0 ? "" : ".", (int)n, p + 1);
		p += n + 1;
	}
	if (b.len == 0)
		vs_buf_puts(&b, "(the document)");
	return vs_buf_steal(&b);
}

/* Fail at pointer (key: at its key rather than its value) with a printf message. Returns VS_EINVAL. */
static int plan_fail(const plan_check *pc, const char *pointer, bool key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int plan_fail(const plan_check *pc, const char *pointer, bool key, const char *fmt, ...)
{
	char msg[400], *path = plan_readable(pointer);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (pc->doc) {
		vs_yaml_mark m = vs_yaml_doc_mark(pc->doc, pointer, key);
		vs_error_set(pc->err, VS_EINVAL, "%s:%u:%u: %s: %s", pc->file, m.line, m.column, path, msg);
	} else {
		vs_error_set(pc->err, VS_EINVAL, "plan: %s: %s", path, msg);
	}
	free(path);
	return VS_EINVAL;
}

/* A short name of a JSON value's type, for "got ..." */
static const char *plan_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "a mapping";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "nothing";
	}
}

/* pointer + "/" + key, into a new string. */
static char *plan_child(const char *pointer, const char *key)
{
	vs_buf b;

	vs_buf_init(&b, 4096);
	vs_buf_puts(&b, pointer);
	vs_json_pointer_push(&b, key, strlen(key));
	return vs_buf_steal(&b);
}

static char *plan_index(const char *pointer, size_t i)
{
	return vs_xasprintf("%s/%zu", pointer, i);
}

/* Every key of obj is one of allowed (NULL-terminated). */
static int plan_known_keys(const plan_check *pc, const char *pointer, const json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)obj, key, v) {
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok) {
			vs_buf b;
			vs_buf_init(&b, 1024);
			for (size_t i = 0; allowed[i]; i++)
				vs_buf_printf(&b, "%s%s", i ? ", " : "", allowed[i]);
			char *child = plan_child(pointer, key);
			int rc = plan_fail(pc, child, true, "unknown field \"%s\" (expected one of: %s)", key, b.data);
			free(child);
			vs_buf_free(&b);
			return rc;
		}
	}
	return 0;
}

/* obj[key] of type type (JSON_NULL: any); required or not. *out (may be NULL) borrows it. */
static int plan_field(const plan_check *pc, const char *pointer, const json_t *obj, const char *key, json_type type,
		      bool required, const json_t **out)
{
	const json_t *v = json_object_get(obj, key);
	int rc = 0;

	if (out)
		*out = v;
	if (!v && required)
		return plan_fail(pc, pointer, false, "missing field \"%s\"", key);
	if (v && type != JSON_NULL && json_typeof(v) != type && !(type == JSON_TRUE && json_is_boolean(v))) {
		char *child = plan_child(pointer, key);
		const char *want = type == JSON_OBJECT	  ? "a mapping"
				   : type == JSON_ARRAY	  ? "a list"
				   : type == JSON_STRING  ? "a string"
				   : type == JSON_INTEGER ? "an integer"
							  : "true or false";
		rc = plan_fail(pc, child, false, "expected %s, got %s", want, plan_type_name(v));
		free(child);
	} else if (v && type == JSON_STRING && !*json_string_value(v)) {
		char *child = plan_child(pointer, key);
		rc = plan_fail(pc, child, false, "expected a non-empty string");
		free(child);
	}
	return rc;
}

/* A DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, at
 * most max characters. */
static bool plan_is_label(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

/* A duration string ("5m", "30s") at obj[key] when present. */
static int plan_duration(const plan_check *pc, const char *pointer, const json_t *obj, const char *key)
{
	const json_t *v;
	int64_t ms;
	vs_error e;
	int rc = plan_field(pc, pointer, obj, key, JSON_STRING, false, &v);

	if (rc < 0 || !v)
		return rc;
	vs_error_clear(&e);
	if (vs_duration_parse(json_string_value(v), &ms, &e) < 0 || ms <= 0) {
		char *child = plan_child(pointer, key);
		rc = plan_fail(pc, child, false, "expected a positive duration such as 30s, 5m or 1h, got \"%s\"",
			       json_string_value(v));
		free(child);
	}
	return rc;
}

/* apiVersion, kind, namespace (optional) and name (or, with selector_ok, selector instead). */
static int plan_object_ref(const plan_check *pc, const char *pointer, const json_t *ref, bool selector_ok)
{
	const json_t *name, *selector;
	int rc = plan_field(pc, pointer, ref, "apiVersion", JSON_STRING, true, NULL);

	if (rc == 0)
		rc = plan_field(pc, pointer, ref, "kind", JSON_STRING, true, NULL);
	if (rc == 0)
		rc = plan_field(pc, pointer, ref, "namespace", JSON_STRING, false, NULL);
	if (rc == 0)
		rc = plan_field(pc, pointer, ref, "name", JSON_STRING, false, &name);
	if (rc == 0)
		rc = plan_field(pc, pointer, ref, "selector", JSON_STRING, false, &selector);
	if (rc < 0)
		return rc;
	if (selector && !selector_ok)
		return plan_fail(pc, pointer, false, "a selector is only for wait; name one object with \"name\"");
	if (!name && !selector)
		return plan_fail(pc, pointer, false,
				 selector_ok ? "expected \"name\" or \"selector\"" : "missing field \"name\"");
	if (name && selector)
		return plan_fail(pc, pointer, false, "expected \"name\" or \"selector\", not both");
	if (selector) {
		vs_selector *sel = NULL;
		vs_error e;
		vs_error_clear(&e);
		if (vs_selector_parse(json_string_value(selector), &sel, &e) < 0) {
			char *child = plan_child(pointer, "selector");
			rc = plan_fail(pc, child, false, "%s", e.message);
			free(child);
		}
		vs_selector_free(sel);
	}
	return rc;
}

#define PLAN_REF_KEYS "apiVersion", "kind", "namespace", "name"

static int plan_check_scale(const plan_check *pc, const char *pointer, const json_t *v)
{
	static const char *const keys[] = { PLAN_REF_KEYS, "replicas", NULL };
	const json_t *replicas;
	int rc = plan_known_keys(pc, pointer, v, keys);

	if (rc == 0)
		rc = plan_object_ref(pc, pointer, v, false);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "replicas", JSON_NULL, true, &replicas);
	if (rc < 0)
		return rc;
	if ((json_is_integer(replicas) && json_integer_value(replicas) >= 0) ||
	    (json_is_string(replicas) && strcmp(json_string_value(replicas), "restore") == 0))
		return 0;
	char *child = plan_child(pointer, "replicas");
	rc = plan_fail(pc, child, false, "expected an integer >= 0 or \"restore\", got %s", plan_type_name(replicas));
	free(child);
	return rc;
}

static int plan_check_wait(const plan_check *pc, const char *pointer, const json_t *v)
{
	static const char *const keys[] = { PLAN_REF_KEYS, "selector",	"jsonPath", "equals",  "exists",
					    "absent",	   "condition", "rollout",  "timeout", NULL };
	static const char *const cond_keys[] = { "type", "status", NULL };
	const json_t *jp, *cond, *rollout, *absent, *equals, *exists;
	int rc = plan_known_keys(pc, pointer, v, keys);

	if (rc == 0)
		rc = plan_object_ref(pc, pointer, v, true);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "jsonPath", JSON_STRING, false, &jp);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "condition", JSON_OBJECT, false, &cond);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "rollout", JSON_TRUE, false, &rollout);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "absent", JSON_TRUE, false, &absent);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "exists", JSON_TRUE, false, &exists);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "equals", JSON_NULL, false, &equals);
	if (rc == 0)
		rc = plan_duration(pc, pointer, v, "timeout");
	if (rc < 0)
		return rc;
	int conditions = (jp != NULL) + (cond != NULL) + json_is_true(rollout) + (json_is_true(absent) && !jp);
	if (conditions != 1)
		return plan_fail(pc, pointer, false,
				 "expected exactly one of: jsonPath (with equals, exists or absent), condition, "
				 "rollout: true, absent: true");
	if (jp && (equals != NULL) + json_is_true(exists) + json_is_true(absent) != 1)
		return plan_fail(pc, pointer, false,
				 "jsonPath needs exactly one of: equals, exists: true, absent: true");
	if (!jp && (equals || exists))
		return plan_fail(pc, pointer, false, "equals and exists go with jsonPath");
	if (json_is_true(rollout) && json_object_get(v, "selector"))
		return plan_fail(pc, pointer, false, "rollout: true waits for one object: name it");
	if (cond) {
		char *child = plan_child(pointer, "condition");
		rc = plan_known_keys(pc, child, cond, cond_keys);
		if (rc == 0)
			rc = plan_field(pc, child, cond, "type", JSON_STRING, true, NULL);
		if (rc == 0)
			rc = plan_field(pc, child, cond, "status", JSON_STRING, false, NULL);
		free(child);
	}
	return rc;
}

static int plan_check_artifacts(const plan_check *pc, const char *pointer, const json_t *arts)
{
	static const char *const keys[] = { "path", "to", NULL };
	const json_t *a, *path, *to;
	size_t i;
	int rc = 0;

	json_array_foreach (arts, i, a) {
		char *at = plan_index(pointer, i);
		if (!json_is_object(a))
			rc = plan_fail(pc, at, false, "expected a mapping {path, to}, got %s", plan_type_name(a));
		if (rc == 0)
			rc = plan_known_keys(pc, at, a, keys);
		if (rc == 0)
			rc = plan_field(pc, at, a, "path", JSON_STRING, true, &path);
		if (rc == 0)
			rc = plan_field(pc, at, a, "to", JSON_STRING, true, &to);
		if (rc == 0 && json_string_value(path)[0] != '/')
			rc = plan_fail(pc, at, false, "path must be absolute, got \"%s\"", json_string_value(path));
		if (rc == 0 && (strchr(json_string_value(to), '/') || json_string_value(to)[0] == '.'))
			rc = plan_fail(pc, at, false, "to is a file name (no '/', not starting with '.'), got \"%s\"",
				       json_string_value(to));
		free(at);
		if (rc < 0)
			break;
	}
	return rc;
}

static int plan_check_job(const plan_check *pc, const char *pointer, const json_t *v)
{
	static const char *const keys[] = { "namespace", "spec", "timeout", "artifacts", NULL };
	const json_t *spec, *arts;
	int rc = plan_known_keys(pc, pointer, v, keys);

	if (rc == 0)
		rc = plan_field(pc, pointer, v, "namespace", JSON_STRING, true, NULL);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "spec", JSON_OBJECT, true, &spec);
	if (rc == 0)
		rc = plan_duration(pc, pointer, v, "timeout");
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "artifacts", JSON_ARRAY, false, &arts);
	if (rc == 0 && arts) {
		char *child = plan_child(pointer, "artifacts");
		rc = plan_check_artifacts(pc, child, arts);
		free(child);
	}
	if (rc == 0) {
		char *child = plan_child(pointer, "spec");
		rc = plan_field(pc, child, spec, "template", JSON_OBJECT, true, NULL);
		free(child);
	}
	return rc;
}

static int plan_check_patch(const plan_check *pc, const char *pointer, const json_t *v)
{
	static const char *const keys[] = { PLAN_REF_KEYS, "type", "patch", NULL };
	const json_t *type, *patch;
	int rc = plan_known_keys(pc, pointer, v, keys);

	if (rc == 0)
		rc = plan_object_ref(pc, pointer, v, false);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "type", JSON_STRING, false, &type);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "patch", JSON_NULL, true, &patch);
	if (rc < 0)
		return rc;
	const char *t = type ? json_string_value(type) : "merge";
	char *at = plan_child(pointer, type ? "type" : "patch");
	if (strcmp(t, "merge") != 0 && strcmp(t, "strategic") != 0 && strcmp(t, "json") != 0)
		rc = plan_fail(pc, at, false, "expected merge, strategic or json, got \"%s\"", t);
	else if (strcmp(t, "json") == 0 ? !json_is_array(patch) : !json_is_object(patch))
		rc = plan_fail(pc, at, false, "a %s patch is %s, got %s", t,
			       strcmp(t, "json") == 0 ? "a list of operations" : "a mapping", plan_type_name(patch));
	free(at);
	return rc;
}

static int plan_check_apply(const plan_check *pc, const char *pointer, const json_t *v)
{
	int rc = plan_field(pc, pointer, v, "apiVersion", JSON_STRING, true, NULL);

	if (rc == 0)
		rc = plan_field(pc, pointer, v, "kind", JSON_STRING, true, NULL);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "metadata", JSON_OBJECT, true, NULL);
	if (rc == 0) {
		char *child = plan_child(pointer, "metadata");
		rc = plan_field(pc, child, json_object_get(v, "metadata"), "name", JSON_STRING, true, NULL);
		free(child);
	}
	return rc;
}

static int plan_check_delete(const plan_check *pc, const char *pointer, const json_t *v)
{
	static const char *const keys[] = { PLAN_REF_KEYS, "propagation", NULL };
	const json_t *prop;
	int rc = plan_known_keys(pc, pointer, v, keys);

	if (rc == 0)
		rc = plan_object_ref(pc, pointer, v, false);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "propagation", JSON_STRING, false, &prop);
	if (rc == 0 && prop && strcmp(json_string_value(prop), "Foreground") != 0 &&
	    strcmp(json_string_value(prop), "Background") != 0 && strcmp(json_string_value(prop), "Orphan") != 0) {
		char *child = plan_child(pointer, "propagation");
		rc = plan_fail(pc, child, false, "expected Foreground, Background or Orphan, got \"%s\"",
			       json_string_value(prop));
		free(child);
	}
	return rc;
}

/* The fields names (NULL-terminated) of obj that are there are each of type type. */
static int plan_optional_fields(const plan_check *pc, const char *pointer, const json_t *obj, const char *const *names,
				json_type type)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && names[i]; i++)
		rc = plan_field(pc, pointer, obj, names[i], type, false, NULL);
	return rc;
}

/* migrate: volshift migrate's options, named as in a plan. */
static int plan_check_migrate(const plan_check *pc, const char *pointer, const json_t *v)
{
	static const char *const keys[] = {
		"sourceStorageClass", "destStorageClass", "namespace", "selector",    "pvcs",
		"parallel",	      "warmCopy",	  "verify",    "setDefaults", "skipFreeSpaceCheck",
		"skipPreflight",      "rsyncImage",	  NULL
	};
	static const char *const strings[] = { "namespace", "selector", "verify", "rsyncImage", NULL };
	static const char *const bools[] = { "warmCopy", "setDefaults", "skipFreeSpaceCheck", "skipPreflight", NULL };
	const json_t *pvcs, *parallel, *item;
	size_t i;
	int rc = plan_known_keys(pc, pointer, v, keys);

	if (rc == 0)
		rc = plan_field(pc, pointer, v, "sourceStorageClass", JSON_STRING, true, NULL);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "destStorageClass", JSON_STRING, true, NULL);
	if (rc == 0)
		rc = plan_optional_fields(pc, pointer, v, strings, JSON_STRING);
	if (rc == 0)
		rc = plan_optional_fields(pc, pointer, v, bools, JSON_TRUE);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "pvcs", JSON_ARRAY, false, &pvcs);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "parallel", JSON_INTEGER, false, &parallel);
	if (rc < 0)
		return rc;
	char *at = plan_child(pointer, json_object_get(v, "verify") ? "verify" : "parallel");
	if (parallel && (json_integer_value(parallel) < 1 || json_integer_value(parallel) > 64))
		rc = plan_fail(pc, at, false, "expected 1 to 64 groups in flight");
	else if (json_object_get(v, "verify") && strcmp(vs_json_str(v, "verify"), "size-time") != 0 &&
		 strcmp(vs_json_str(v, "verify"), "checksum") != 0)
		rc = plan_fail(pc, at, false, "expected size-time or checksum, got \"%s\"", vs_json_str(v, "verify"));
	free(at);
	json_array_foreach (pvcs, i, item) {
		if (rc < 0 || json_is_string(item))
			continue;
		char *child = plan_child(pointer, "pvcs");
		char *elem = plan_index(child, i);
		rc = plan_fail(pc, elem, false, "expected a claim (NAME or NAMESPACE/NAME), got %s",
			       plan_type_name(item));
		free(elem);
		free(child);
	}
	return rc;
}

/* An S3 location at obj[key]: http(s)://HOST:PORT[/BUCKET[/PREFIX]], as `volshift s3 sync` takes it. */
static int plan_s3_location(const plan_check *pc, const char *pointer, const json_t *obj, const char *key)
{
	const json_t *v;
	vs_s3_location loc;
	vs_error e;
	int rc = plan_field(pc, pointer, obj, key, JSON_STRING, true, &v);

	if (rc < 0)
		return rc;
	vs_error_clear(&e);
	if (vs_s3_location_parse(json_string_value(v), &loc, &e) < 0) {
		char *child = plan_child(pointer, key);
		rc = plan_fail(pc, child, false, "expected http(s)://HOST:PORT[/BUCKET[/PREFIX]]: %s", e.message);
		free(child);
	}
	vs_s3_location_clear(&loc);
	return rc;
}

/* Credentials at obj[key]: {secret: {namespace, name}}, a Secret with access-key-id and
 * secret-access-key. */
static int plan_s3_credentials(const plan_check *pc, const char *pointer, const json_t *obj, const char *key,
			       bool required)
{
	static const char *const keys[] = { "secret", NULL };
	static const char *const secret_keys[] = { "namespace", "name", NULL };
	const json_t *v, *secret = NULL;
	char *at = plan_child(pointer, key), *at_secret = plan_child(at, "secret");
	int rc = plan_field(pc, pointer, obj, key, JSON_OBJECT, required, &v);

	if (rc == 0 && v)
		rc = plan_known_keys(pc, at, v, keys);
	if (rc == 0 && v)
		rc = plan_field(pc, at, v, "secret", JSON_OBJECT, true, &secret);
	if (rc == 0 && v)
		rc = plan_known_keys(pc, at_secret, secret, secret_keys);
	for (size_t i = 0; rc == 0 && v && secret_keys[i]; i++)
		rc = plan_field(pc, at_secret, secret, secret_keys[i], JSON_STRING, true, NULL);
	free(at_secret);
	free(at);
	return rc;
}

/* objectStore: `volshift s3 sync`'s options, named as in a plan. */
static int plan_check_object_store(const plan_check *pc, const char *pointer, const json_t *v)
{
	static const char *const keys[] = { "source",
					    "dest",
					    "sourceCredentials",
					    "destCredentials",
					    "region",
					    "parallel",
					    "delete",
					    "verify",
					    "caFile",
					    "insecureSkipTLSVerify",
					    NULL };
	static const char *const strings[] = { "region", "caFile", "verify", NULL };
	static const char *const bools[] = { "delete", "insecureSkipTLSVerify", NULL };
	const json_t *parallel;
	const char *verify;
	int rc = plan_known_keys(pc, pointer, v, keys);

	if (rc == 0)
		rc = plan_s3_location(pc, pointer, v, "source");
	if (rc == 0)
		rc = plan_s3_location(pc, pointer, v, "dest");
	if (rc == 0)
		rc = plan_s3_credentials(pc, pointer, v, "sourceCredentials", true);
	if (rc == 0)
		rc = plan_s3_credentials(pc, pointer, v, "destCredentials", false);
	if (rc == 0)
		rc = plan_optional_fields(pc, pointer, v, strings, JSON_STRING);
	if (rc == 0)
		rc = plan_optional_fields(pc, pointer, v, bools, JSON_TRUE);
	if (rc == 0)
		rc = plan_field(pc, pointer, v, "parallel", JSON_INTEGER, false, &parallel);
	if (rc < 0)
		return rc;
	verify = vs_json_str_or(v, "verify", "size");
	if (parallel && (json_integer_value(parallel) < 1 || json_integer_value(parallel) > VS_S3_PARALLEL_MAX)) {
		char *child = plan_child(pointer, "parallel");
		rc = plan_fail(pc, child, false, "expected 1 to %d objects copied at once", VS_S3_PARALLEL_MAX);
		free(child);
	} else if (strcmp(verify, "size") != 0 && strcmp(verify, "checksum") != 0) {
		char *child = plan_child(pointer, "verify");
		rc = plan_fail(pc, child, false, "expected size or checksum, got \"%s\"", verify);
		free(child);
	}
	return rc;
}

static int plan_check_string(const plan_check *pc, const char *pointer, const json_t *v)
{
	if (json_is_string(v) && *json_string_value(v))
		return 0;
	return plan_fail(pc, pointer, false, "expected a non-empty string, got %s", plan_type_name(v));
}

/* The kinds of step and how each is checked; undo: none or [steps] are checked apart. */
typedef int (*plan_check_fn)(const plan_check *pc, const char *pointer, const json_t *v);
static const struct plan_kind {
	const char *name;
	json_type type;
	plan_check_fn check;
} plan_kinds[] = {
	{ "scale", JSON_OBJECT, plan_check_scale },
	{ "wait", JSON_OBJECT, plan_check_wait },
	{ "job", JSON_OBJECT, plan_check_job },
	{ "patch", JSON_OBJECT, plan_check_patch },
	{ "apply", JSON_OBJECT, plan_check_apply },
	{ "delete", JSON_OBJECT, plan_check_delete },
	{ "setState", JSON_STRING, plan_check_string },
	{ "defaultStorageClass", JSON_STRING, plan_check_string },
	{ "migrate", JSON_OBJECT, plan_check_migrate },
	{ "objectStore", JSON_OBJECT, plan_check_object_store },
	{ NULL, JSON_NULL, NULL },
};

const char *vs_engine_step_kind(const json_t *step)
{
	for (const struct plan_kind *k = plan_kinds; k->name; k++)
		if (json_object_get(step, k->name))
			return k->name;
	return "";
}

static int plan_check_step(const plan_check *pc, const char *pointer, const json_t *step, bool nested);

/* undo: none, or a list of steps run instead of the natural undo. */
static int plan_check_undo(const plan_check *pc, const char *pointer, const json_t *undo)
{
	const json_t *s;
	size_t i;
	int rc = 0;

	if (json_is_string(undo) && strcmp(json_string_value(undo), "none") == 0)
		return 0;
	if (!json_is_array(undo) || json_array_size(undo) == 0)
		return plan_fail(pc, pointer, false, "expected none or a non-empty list of steps, got %s",
				 plan_type_name(undo));
	json_array_foreach (undo, i, s) {
		char *at = plan_index(pointer, i);
		rc = plan_check_step(pc, at, s, true);
		free(at);
		if (rc < 0)
			break;
	}
	return rc;
}

/* One step: a name (for a step of the plan), exactly one kind, and undo. */
static int plan_check_step(const plan_check *pc, const char *pointer, const json_t *step, bool nested)
{
	const struct plan_kind *found = NULL;
	const json_t *name, *v;
	const char *key;
	int rc;

	if (!json_is_object(step))
		return plan_fail(pc, pointer, false, "expected a step (a mapping with name and one kind), got %s",
				 plan_type_name(step));
	rc = plan_field(pc, pointer, step, "name", JSON_STRING, !nested, &name);
	if (rc == 0 && name && !plan_is_label(json_string_value(name), 40)) {
		char *child = plan_child(pointer, "name");
		rc = plan_fail(pc, child, false, "expected lowercase letters, digits and '-' (at most 40), got \"%s\"",
			       json_string_value(name));
		free(child);
	}
	json_object_foreach ((json_t *)step, key, v) {
		const struct plan_kind *k = plan_kinds;
		while (k->name && strcmp(k->name, key) != 0)
			k++;
		char *child = plan_child(pointer, key);
		if (rc < 0 || strcmp(key, "name") == 0) {
		} else if (strcmp(key, "undo") == 0) {
			rc = nested ? plan_fail(pc, child, true, "an undo step has no undo of its own")
				    : plan_check_undo(pc, child, v);
		} else if (!k->name) {
			rc = plan_fail(pc, child, true,
				       "unknown field \"%s\" (a step has name, undo and one of: scale, wait, job, "
				       "patch, apply, delete, migrate, objectStore, setState, defaultStorageClass)",
				       key);
		} else if (found) {
			rc = plan_fail(pc, child, true, "a step does one thing: it has %s already", found->name);
		} else if (json_typeof(v) != k->type) {
			found = k;
			rc = plan_fail(pc, child, false, "expected %s, got %s",
				       k->type == JSON_OBJECT ? "a mapping" : "a string", plan_type_name(v));
		} else {
			found = k;
			rc = k->check(pc, child, v);
		}
		free(child);
	}
	if (rc == 0 && !found)
		rc = plan_fail(pc, pointer, false,
			       "the step does nothing: expected one of scale, wait, job, patch, apply, delete, "
			       "migrate, objectStore, setState, defaultStorageClass");
	return rc;
}

static int plan_check_state(const plan_check *pc, const json_t *spec)
{
	static const char *const keys[] = { "configMap", NULL };
	static const char *const cm_keys[] = { "namespace", "name", "key", NULL };
	const json_t *state, *cm;
	int rc = plan_field(pc, "/spec", spec, "state", JSON_OBJECT, false, &state);

	if (rc < 0 || !state)
		return rc;
	rc = plan_known_keys(pc, "/spec/state", state, keys);
	if (rc == 0)
		rc = plan_field(pc, "/spec/state", state, "configMap", JSON_OBJECT, true, &cm);
	if (rc == 0)
		rc = plan_known_keys(pc, "/spec/state/configMap", cm, cm_keys);
	for (size_t i = 0; rc == 0 && cm_keys[i]; i++)
		rc = plan_field(pc, "/spec/state/configMap", cm, cm_keys[i], JSON_STRING, true, NULL);
	return rc;
}

/* The steps: a non-empty list, unique names, setState only with spec.state. */
static int plan_check_steps(const plan_check *pc, const json_t *spec)
{
	const json_t *steps, *step;
	size_t i;
	int rc = plan_field(pc, "/spec", spec, "steps", JSON_ARRAY, true, &steps);

	if (rc == 0 && json_array_size(steps) == 0)
		rc = plan_fail(pc, "/spec/steps", false, "expected at least one step");
	json_array_foreach (steps, i, step) {
		char *at = plan_index("/spec/steps", i);
		if (rc == 0)
			rc = plan_check_step(pc, at, step, false);
		for (size_t k = 0; rc == 0 && k < i; k++)
			if (strcmp(vs_json_str(step, "name"), vs_json_str(json_array_get(steps, k), "name")) == 0) {
				char *child = plan_child(at, "name");
				rc = plan_fail(pc, child, false, "step name \"%s\" is used twice (first at step %zu)",
					       vs_json_str(step, "name"), k + 1);
				free(child);
			}
		if (rc == 0 && json_object_get(step, "setState") && !json_object_get(spec, "state"))
			rc = plan_fail(pc, at, false, "setState needs spec.state (the ConfigMap key it writes)");
		free(at);
		if (rc < 0)
			break;
	}
	return rc;
}

static int plan_check_root(const plan_check *pc, const json_t *root)
{
	static const char *const keys[] = { "apiVersion", "kind", "metadata", "spec", NULL };
	static const char *const spec_keys[] = { "description", "state", "steps", NULL };
	const json_t *v, *meta, *spec, *name;
	int rc;

	if (!json_is_object(root))
		return plan_fail(pc, "", false,
				 "expected a Plan (a mapping with apiVersion, kind, metadata, spec), got %s",
				 plan_type_name(root));
	rc = plan_known_keys(pc, "", root, keys);
	if (rc == 0)
		rc = plan_field(pc, "", root, "apiVersion", JSON_STRING, true, &v);
	if (rc == 0 && strcmp(json_string_value(v), VS_ENGINE_API_VERSION) != 0)
		rc = plan_fail(pc, "/apiVersion", false, "expected %s, got \"%s\"", VS_ENGINE_API_VERSION,
			       json_string_value(v));
	if (rc == 0)
		rc = plan_field(pc, "", root, "kind", JSON_STRING, true, &v);
	if (rc == 0 && strcmp(json_string_value(v), VS_ENGINE_KIND) != 0)
		rc = plan_fail(pc, "/kind", false, "expected %s, got \"%s\"", VS_ENGINE_KIND, json_string_value(v));
	if (rc == 0)
		rc = plan_field(pc, "", root, "metadata", JSON_OBJECT, true, &meta);
	if (rc == 0)
		rc = plan_field(pc, "/metadata", meta, "name", JSON_STRING, true, &name);
	if (rc == 0 && !plan_is_label(json_string_value(name), 40))
		rc = plan_fail(pc, "/metadata/name", false,
			       "expected lowercase letters, digits and '-' (at most 40), got \"%s\"",
			       json_string_value(name));
	if (rc == 0)
		rc = plan_field(pc, "", root, "spec", JSON_OBJECT, true, &spec);
	if (rc == 0)
		rc = plan_known_keys(pc, "/spec", spec, spec_keys);
	if (rc == 0)
		rc = plan_field(pc, "/spec", spec, "description", JSON_STRING, false, NULL);
	if (rc == 0)
		rc = plan_check_state(pc, spec);
	if (rc == 0)
		rc = plan_check_steps(pc, spec);
	return rc;
}

int vs_engine_load(const char *file, const char *text, size_t len, json_t **out, vs_error *err)
{
	vs_yaml_doc *doc = NULL;
	vs_yaml_mark where = { 0, 0 };
	plan_check pc = { .file = file, .err = err };
	int rc = vs_yaml_parse(text, len, VS_YAML_STRICT, &doc, &where, err);

	*out = NULL;
	if (rc < 0)
		return vs_error_wrap(err, "%s:%u:%u", file, where.line, where.column);
	pc.doc = doc;
	rc = plan_check_root(&pc, vs_yaml_doc_root(doc));
	if (rc == 0)
		*out = json_incref(vs_yaml_doc_root(doc));
	vs_yaml_doc_free(doc);
	return rc;
}

int vs_engine_load_file(const char *path, json_t **out, vs_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = vs_file_read(path, VS_ENGINE_PLAN_MAX_BYTES, &text, &len, err);

	*out = NULL;
	if (rc == 0)
		rc = vs_engine_load(path, text, len, out, err);
	free(text);
	return rc;
}

int vs_engine_validate(const json_t *plan, vs_error *err)
{
	plan_check pc = { .err = err };

	return plan_check_root(&pc, plan);
}

const char *vs_engine_plan_name(const json_t *plan)
{
	return vs_json_str(plan, "metadata.name");
}

const json_t *vs_engine_plan_steps(const json_t *plan)
{
	return vs_json_path(plan, "spec.steps");
}

bool vs_engine_is_run(const json_t *frozen)
{
	return strcmp(vs_json_str_or(frozen, "kind", ""), VS_ENGINE_KIND) == 0 &&
	       strcmp(vs_json_str_or(frozen, "apiVersion", ""), VS_ENGINE_API_VERSION) == 0;
}
