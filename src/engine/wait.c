/*
 * Waiting for the cluster: the wait step kind (an object or the objects of a selector reaching a
 * jsonPath value, a condition, the end of a rollout, or gone) and the waits other kinds need (an
 * object deleted, a Job finished), all made with the waits of src/kube (built on watches, saying
 * what they saw last when they run out of time). A stop request ends any of them during a run.
 */
#include "engine/engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vs_kube_wait_opts eng_wait_opts(const eng_run *r, int64_t timeout_ms)
{
	return (vs_kube_wait_opts){ .timeout_ms = timeout_ms, .cancel = r->stoppable ? vs_stop_requested : NULL };
}

int eng_wait_gone(eng_run *r, const vs_kube_resource *res, const char *ns, const char *name, int64_t timeout_ms,
		  vs_error *err)
{
	vs_kube_wait_opts o = eng_wait_opts(r, timeout_ms);

	return vs_kube_wait_gone(r->c, res, ns, name, &o, err);
}

/* ---- the wait step --------------------------------------------------------------------------------- */

/* The value at a kubectl-style jsonPath ("{.status.phase}", ".status.conditions[0].type"), or NULL.
 * Only fields and indexes: no filters or wildcards. Borrowed. */
static const json_t *wait_json_path(const json_t *obj, const char *path)
{
	const json_t *v = obj;
	const char *p = path;

	p += strspn(p, "{$");
	while (v && *p && *p != '}') {
		if (*p == '.') {
			p++;
			size_t n = strcspn(p, ".[}");
			char *key = vs_xstrndup(p, n);
			v = json_object_get(v, key);
			free(key);
			p += n;
		} else if (*p == '[') {
			char *end;
			long i = strtol(p + 1, &end, 10);
			if (*end != ']')
				return NULL;
			v = json_array_get(v, (size_t)i);
			p = end + 1;
		} else {
			size_t n = strcspn(p, ".[}");
			char *key = vs_xstrndup(p, n);
			v = json_object_get(v, key);
			free(key);
			p += n;
		}
	}
	return v;
}

/* A scalar as text ("3", "true", "Running"); objects and lists as compact JSON. Caller frees. */
static char *wait_text(const json_t *v)
{
	if (json_is_string(v))
		return vs_xstrdup(json_string_value(v));
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

/* Does one object meet a wait step's condition (jsonPath, condition or rollout)? *seen: what it shows. */
static bool wait_meets(const json_t *def, const json_t *obj, char **seen)
{
	const char *jp = vs_json_str(def, "jsonPath");

	if (jp) {
		const json_t *v = wait_json_path(obj, jp);
		char *have = v ? wait_text(v) : NULL, *want = wait_text(json_object_get(def, "equals"));
		bool ok = json_is_true(json_object_get(def, "absent"))	 ? !v
			  : json_is_true(json_object_get(def, "exists")) ? v != NULL
									 : have && strcmp(have, want) == 0;
		*seen = have ? vs_xasprintf("%s is %s", jp, have) : vs_xasprintf("%s has no value", jp);
		free(have);
		free(want);
		return ok;
	}
	if (json_object_get(def, "condition")) {
		const char *type = vs_json_str(def, "condition.type"),
			   *want = vs_json_str_or(def, "condition.status", "True");
		const json_t *c;
		size_t i;
		json_array_foreach (vs_json_path(obj, "status.conditions"), i, c)
			if (strcmp(vs_json_str_or(c, "type", ""), type) == 0) {
				*seen = vs_xasprintf("condition %s is %s%s%s", type, vs_json_str_or(c, "status", "?"),
						     vs_json_str(c, "message") ? ": " : "",
						     vs_json_str_or(c, "message", ""));
				return strcmp(vs_json_str_or(c, "status", ""), want) == 0;
			}
		*seen = vs_xasprintf("no condition %s", type);
		return false;
	}
	/* rollout: as kubectl rollout status for Deployments, StatefulSets and DaemonSets */
	long long gen = vs_json_int(obj, "metadata.generation", 0),
		  seen_gen = vs_json_int(obj, "status.observedGeneration", 0);
	bool ds = strcmp(vs_json_str_or(obj, "kind", ""), "DaemonSet") == 0;
	long long want =
		ds ? vs_json_int(obj, "status.desiredNumberScheduled", 0) : vs_json_int(obj, "spec.replicas", 1);
	long long updated = vs_json_int(obj, ds ? "status.updatedNumberScheduled" : "status.updatedReplicas", 0);
	long long ready = vs_json_int(obj, ds ? "status.numberAvailable" : "status.readyReplicas", 0);
	long long total = vs_json_int(obj, ds ? "status.currentNumberScheduled" : "status.replicas", 0);
	*seen = vs_xasprintf("generation %lld observed %lld, %lld wanted, %lld updated, %lld ready, %lld in all", gen,
			     seen_gen, want, updated, ready, total);
	return seen_gen >= gen && updated >= want && ready >= want && total == want;
}

static bool wait_step_done(const json_t *objects, char **seen, void *ctx)
{
	const json_t *def = ctx, *obj;
	const char *name;
	vs_buf b;
	bool all = json_object_size(objects) > 0;

	if (json_is_true(json_object_get(def, "absent")) && !json_object_get(def, "jsonPath")) {
		*seen = vs_xasprintf("%zu present", json_object_size(objects));
		return json_object_size(objects) == 0;
	}
	vs_buf_init(&b, 4096);
	if (json_object_size(objects) == 0)
		vs_buf_puts(&b, "not found");
	json_object_foreach ((json_t *)objects, name, obj) {
		char *one = NULL;
		all = wait_meets(def, obj, &one) && all;
		if (b.len < 1000)
			vs_buf_printf(&b, "%s%s: %s", b.len ? "; " : "", name, one);
		free(one);
	}
	*seen = vs_buf_steal(&b);
	return all;
}

static int wait_apply(eng_step *s, const json_t *undo, vs_error *err)
{
	const json_t *def = json_object_get(s->def, "wait");
	vs_kube_api_resource res;
	char *what = eng_ref_text(def);
	int rc = eng_resolve(s->run, def, &res, err);
	char *field = vs_json_str(def, "name") ? vs_xasprintf("metadata.name=%s", vs_json_str(def, "name")) : NULL;
	vs_kube_wait_opts o = eng_wait_opts(s->run, eng_timeout_ms(def, ENG_WAIT_DEFAULT_MS));

	(void)undo;
	o.label_selector = vs_json_str(def, "selector");
	o.field_selector = field;
	o.what = what;
	if (rc == 0)
		rc = vs_kube_wait(s->run->c, &res.res, res.res.namespaced ? vs_json_str(def, "namespace") : NULL, &o,
				  wait_step_done, (void *)def, err);
	free(field);
	free(what);
	return rc;
}

const eng_kind eng_kind_wait = { .name = "wait", .apply = wait_apply };
