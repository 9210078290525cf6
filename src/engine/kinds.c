/*
 * The step kinds that change one object (or a few) through the API: scale, patch, apply, delete,
 * setState and defaultStorageClass. Each records the state it changes before changing it (the
 * previous scale, the object as it was, the previous value), applies the change so that doing it
 * twice does what doing it once does, and undoes it from what it recorded.
 */
#include "engine/engine_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- objects ------------------------------------------------------------------------------------ */

/* The namespace of a reference ({namespace}) or of a whole object (metadata.namespace). */
static const char *kinds_ns(const json_t *obj)
{
	return vs_json_str(obj, "namespace") ?: vs_json_str(obj, "metadata.namespace");
}

static const char *kinds_name(const json_t *obj)
{
	return vs_json_str(obj, "name") ?: vs_json_str(obj, "metadata.name");
}

/* GET the object obj names into *out; NotFound is *out NULL and no error. */
static int kinds_get(eng_run *r, const json_t *obj, vs_kube_api_resource *res, json_t **out, vs_error *err)
{
	int rc = eng_resolve(r, obj, res, err);

	*out = NULL;
	if (rc == 0)
		rc = vs_kube_get(r->c, &res->res, kinds_ns(obj), kinds_name(obj), out, err);
	if (rc < 0 && vs_error_is(err, "NotFound")) {
		vs_error_clear(err);
		rc = 0;
	}
	return rc;
}

/* {object: the object as it is} or {absent: true}: what undo restores. */
static int kinds_prepare_object(eng_step *s, const json_t *ref, json_t **undo, vs_error *err)
{
	vs_kube_api_resource res;
	json_t *obj = NULL;
	int rc = kinds_get(s->run, ref, &res, &obj, err);

	*undo = NULL;
	if (rc == 0)
		*undo = obj ? json_pack("{s:o}", "object", obj) : json_pack("{s:b}", "absent", true);
	return rc;
}

/* A copy of a saved object fit to be created again: no server-set metadata, no status. */
static json_t *kinds_clean(const json_t *saved)
{
	static const char *const server[] = { "uid",
					      "resourceVersion",
					      "creationTimestamp",
					      "generation",
					      "managedFields",
					      "deletionTimestamp",
					      "deletionGracePeriodSeconds",
					      "selfLink",
					      NULL };
	json_t *obj = json_deep_copy(saved), *meta = json_object_get(obj, "metadata");

	for (size_t i = 0; server[i]; i++)
		json_object_del(meta, server[i]);
	json_object_del(obj, "status");
	return obj;
}

/* Put saved back: replace the object with it (as of its current version), or create it again. */
static int kinds_restore(eng_run *r, const json_t *saved, vs_error *err)
{
	vs_kube_api_resource res;
	json_t *now = NULL, *body = kinds_clean(saved);
	int rc = kinds_get(r, saved, &res, &now, err);

	if (rc == 0 && now) {
		vs_json_set_path(body, "metadata.resourceVersion", json_string(vs_kube_obj_resource_version(now)));
		rc = vs_kube_update(r->c, &res.res, kinds_ns(saved), body, NULL, err);
	} else if (rc == 0) {
		rc = vs_kube_create(r->c, &res.res, kinds_ns(saved), body, NULL, err);
	}
	json_decref(now);
	json_decref(body);
	return rc;
}

/* Delete the object ref names (propagation may be NULL) and wait until it is gone. */
static int kinds_delete_object(eng_run *r, const json_t *ref, const char *propagation, vs_error *err)
{
	vs_kube_api_resource res;
	vs_kube_delete_opts opts = { .propagation = propagation };
	int rc = eng_resolve(r, ref, &res, err);

	if (rc == 0)
		rc = vs_kube_delete(r->c, &res.res, kinds_ns(ref), kinds_name(ref), &opts, NULL, err);
	if (rc < 0 && vs_error_is(err, "NotFound")) {
		vs_error_clear(err);
		rc = 0;
	}
	if (rc == 0)
		rc = eng_wait_gone(r, &res.res, kinds_ns(ref), kinds_name(ref), ENG_WAIT_DEFAULT_MS, err);
	return rc;
}

/* Undo of patch and apply: the object as it was, or, when there was none, none. */
static int kinds_undo_object(eng_step *s, const json_t *undo, vs_error *err)
{
	const json_t *def = json_object_get(s->def, vs_engine_step_kind(s->def));

	if (json_is_true(json_object_get(undo, "absent")))
		return kinds_delete_object(s->run, def, NULL, err);
	if (!json_object_get(undo, "object"))
		return 0;
	return kinds_restore(s->run, json_object_get(undo, "object"), err);
}

/* ---- scale --------------------------------------------------------------------------------------- */

static const json_t *kinds_def(const eng_step *s, const char *kind)
{
	return json_object_get(s->def, kind);
}

static int kinds_scale_prepare(eng_step *s, json_t **undo, vs_error *err)
{
	const json_t *def = kinds_def(s, "scale");
	vs_kube_api_resource res;
	json_t *scale = NULL;
	int rc = eng_resolve(s->run, def, &res, err);

	*undo = NULL;
	if (rc == 0 && !res.has_scale)
		rc = vs_error_set(err, VS_EINVAL, "%s %s has no scale subresource", vs_json_str(def, "apiVersion"),
				  vs_json_str(def, "kind"));
	if (rc == 0)
		rc = vs_kube_get_sub(s->run->c, &res.res, kinds_ns(def), kinds_name(def), "scale", &scale, err);
	if (rc == 0)
		*undo = json_pack("{s:I}", "replicas", (json_int_t)vs_json_int(scale, "spec.replicas", 0));
	json_decref(scale);
	return rc;
}

static bool kinds_same_object(const json_t *a, const json_t *b)
{
	static const char *const keys[] = { "apiVersion", "kind", "namespace", "name", NULL };

	for (size_t i = 0; keys[i]; i++)
		if (strcmp(vs_json_str_or(a, keys[i], ""), vs_json_str_or(b, keys[i], "")) != 0)
			return false;
	return true;
}

/* replicas: restore: the scale recorded by the first earlier step of this plan that scaled the
 * same object. */
static int kinds_scale_restore(eng_step *s, const json_t *def, json_int_t *out, vs_error *err)
{
	const json_t *steps = vs_engine_plan_steps(s->run->plan);

	for (size_t i = 0; i < s->index && i < json_array_size(steps); i++) {
		const json_t *other = json_array_get(steps, i);
		const json_t *rec = eng_step_record(s->run, vs_json_str(other, "name"));
		if (!json_object_get(other, "scale") || !kinds_same_object(json_object_get(other, "scale"), def) ||
		    !json_is_integer(vs_json_path(rec, "undo.replicas")))
			continue;
		*out = json_integer_value(vs_json_path(rec, "undo.replicas"));
		return 0;
	}
	char *what = eng_ref_text(def);
	int rc = vs_error_set(err, VS_EINVAL, "replicas: restore: no earlier step of this run scaled %s", what);
	free(what);
	return rc;
}

static int kinds_scale_to(eng_run *r, const json_t *def, json_int_t replicas, vs_error *err)
{
	vs_kube_api_resource res;
	json_t *patch = json_pack("{s:{s:I}}", "spec", "replicas", replicas), *out = NULL;
	int rc = eng_resolve(r, def, &res, err);

	if (rc == 0)
		rc = vs_kube_patch_sub(r->c, &res.res, kinds_ns(def), kinds_name(def), "scale", VS_KUBE_PATCH_MERGE,
				       patch, &out, err);
	if (rc == 0 && vs_json_int(out, "spec.replicas", -1) != replicas)
		rc = vs_error_set(err, VS_EAPI, "the scale of %s reads %lld after it was set to %lld", kinds_name(def),
				  vs_json_int(out, "spec.replicas", -1), (long long)replicas);
	json_decref(patch);
	json_decref(out);
	return rc;
}

static int kinds_scale_apply(eng_step *s, const json_t *undo, vs_error *err)
{
	const json_t *def = kinds_def(s, "scale"), *want = json_object_get(def, "replicas");
	json_int_t replicas = json_integer_value(want);
	int rc = json_is_string(want) ? kinds_scale_restore(s, def, &replicas, err) : 0;

	(void)undo;
	return rc == 0 ? kinds_scale_to(s->run, def, replicas, err) : rc;
}

static int kinds_scale_undo(eng_step *s, const json_t *undo, vs_error *err)
{
	if (!json_is_integer(json_object_get(undo, "replicas")))
		return 0;
	return kinds_scale_to(s->run, kinds_def(s, "scale"), json_integer_value(json_object_get(undo, "replicas")),
			      err);
}

const eng_kind eng_kind_scale = {
	.name = "scale", .prepare = kinds_scale_prepare, .apply = kinds_scale_apply, .undo = kinds_scale_undo
};

/* ---- patch --------------------------------------------------------------------------------------- */

static int kinds_patch_prepare(eng_step *s, json_t **undo, vs_error *err)
{
	int rc = kinds_prepare_object(s, kinds_def(s, "patch"), undo, err);

	if (rc == 0 && json_is_true(json_object_get(*undo, "absent"))) {
		char *what = eng_ref_text(kinds_def(s, "patch"));
		rc = vs_error_set_api(err, 404, "NotFound", "%s not found: nothing to patch", what);
		free(what);
	}
	return rc;
}

/*
 * A JSON patch is not idempotent, so it goes with a test of the resourceVersion recorded before it:
 * applied twice (a crash between the patch and its record), the test fails and the object, changed
 * since, has it already.
 */
static int kinds_patch_apply(eng_step *s, const json_t *undo, vs_error *err)
{
	const json_t *def = kinds_def(s, "patch"), *patch = json_object_get(def, "patch");
	const char *type = vs_json_str_or(def, "type", "merge");
	const char *rv = vs_json_str(undo, "object.metadata.resourceVersion");
	vs_kube_api_resource res;
	json_t *body = NULL;
	int rc = eng_resolve(s->run, def, &res, err);
	enum vs_kube_patch_type t = strcmp(type, "json") == 0	     ? VS_KUBE_PATCH_JSON
				    : strcmp(type, "strategic") == 0 ? VS_KUBE_PATCH_STRATEGIC
								     : VS_KUBE_PATCH_MERGE;

	if (t == VS_KUBE_PATCH_JSON && rv) {
		body = json_pack("[{s:s, s:s, s:s}]", "op", "test", "path", "/metadata/resourceVersion", "value", rv);
		json_array_extend(body, (json_t *)patch);
	} else {
		body = json_incref((json_t *)patch);
	}
	if (rc == 0)
		rc = vs_kube_patch(s->run->c, &res.res, kinds_ns(def), kinds_name(def), t, body, NULL, err);
	if (rc < 0 && t == VS_KUBE_PATCH_JSON && rv && err->http_status == 422) {
		json_t *now = NULL;
		vs_error e;
		vs_error_clear(&e);
		if (vs_kube_get(s->run->c, &res.res, kinds_ns(def), kinds_name(def), &now, &e) == 0 &&
		    strcmp(vs_kube_obj_resource_version(now) ?: "", rv) != 0) {
			vs_error_clear(err); /* changed since it was recorded: by this patch, applied before */
			rc = 0;
		}
		json_decref(now);
	}
	json_decref(body);
	return rc;
}

const eng_kind eng_kind_patch = {
	.name = "patch", .prepare = kinds_patch_prepare, .apply = kinds_patch_apply, .undo = kinds_undo_object
};

/* ---- apply --------------------------------------------------------------------------------------- */

static int kinds_apply_prepare(eng_step *s, json_t **undo, vs_error *err)
{
	return kinds_prepare_object(s, kinds_def(s, "apply"), undo, err);
}

static int kinds_apply_apply(eng_step *s, const json_t *undo, vs_error *err)
{
	const json_t *def = kinds_def(s, "apply");
	vs_kube_api_resource res;
	json_t *now = NULL, *body = json_deep_copy(def);
	int rc = kinds_get(s->run, def, &res, &now, err);

	(void)undo;
	if (rc == 0 && now) {
		vs_json_set_path(body, "metadata.resourceVersion", json_string(vs_kube_obj_resource_version(now)));
		rc = vs_kube_update(s->run->c, &res.res, kinds_ns(def), body, NULL, err);
	} else if (rc == 0) {
		rc = vs_kube_create(s->run->c, &res.res, kinds_ns(def), body, NULL, err);
	}
	json_decref(now);
	json_decref(body);
	return rc;
}

const eng_kind eng_kind_apply = {
	.name = "apply", .prepare = kinds_apply_prepare, .apply = kinds_apply_apply, .undo = kinds_undo_object
};

/* ---- delete -------------------------------------------------------------------------------------- */

static int kinds_delete_prepare(eng_step *s, json_t **undo, vs_error *err)
{
	return kinds_prepare_object(s, kinds_def(s, "delete"), undo, err);
}

static int kinds_delete_apply(eng_step *s, const json_t *undo, vs_error *err)
{
	const json_t *def = kinds_def(s, "delete");

	(void)undo;
	return kinds_delete_object(s->run, def, vs_json_str(def, "propagation"), err);
}

/* The object deleted is created again (unless something made it again meanwhile). */
static int kinds_delete_undo(eng_step *s, const json_t *undo, vs_error *err)
{
	const json_t *saved = json_object_get(undo, "object");
	vs_kube_api_resource res;
	json_t *now = NULL, *body;
	int rc;

	if (!saved)
		return 0;
	rc = kinds_get(s->run, saved, &res, &now, err);
	if (rc == 0 && !now) {
		body = kinds_clean(saved);
		rc = vs_kube_create(s->run->c, &res.res, kinds_ns(saved), body, NULL, err);
		json_decref(body);
	}
	json_decref(now);
	return rc;
}

const eng_kind eng_kind_delete = {
	.name = "delete", .prepare = kinds_delete_prepare, .apply = kinds_delete_apply, .undo = kinds_delete_undo
};

/* ---- setState ------------------------------------------------------------------------------------ */

static int kinds_state_prepare(eng_step *s, json_t **undo, vs_error *err)
{
	const json_t *ref = vs_json_path(s->run->plan, "spec.state.configMap");
	json_t *cm = NULL;
	int rc = vs_kube_get(s->run->c, &VS_KUBE_CONFIGMAPS, vs_json_str(ref, "namespace"), vs_json_str(ref, "name"),
			     &cm, err);

	*undo = NULL;
	if (rc < 0 && vs_error_is(err, "NotFound")) {
		vs_error_clear(err);
		rc = 0;
	}
	if (rc == 0)
		*undo = json_pack(
			"{s:s?}", "previous",
			json_string_value(json_object_get(json_object_get(cm, "data"), vs_json_str(ref, "key"))));
	if (*undo && !json_object_get(*undo, "previous"))
		json_object_set_new(*undo, "previous", json_null());
	json_decref(cm);
	return rc;
}

static int kinds_state_apply(eng_step *s, const json_t *undo, vs_error *err)
{
	(void)undo;
	return eng_state_write(s->run, "", json_string_value(kinds_def(s, "setState")), NULL, err);
}

static int kinds_state_undo(eng_step *s, const json_t *undo, vs_error *err)
{
	return eng_state_write(s->run, "", json_string_value(json_object_get(undo, "previous")), NULL, err);
}

const eng_kind eng_kind_set_state = {
	.name = "setState", .prepare = kinds_state_prepare, .apply = kinds_state_apply, .undo = kinds_state_undo
};

/* ---- defaultStorageClass -------------------------------------------------------------------------- */

#define KINDS_DEFAULT_ANN "storageclass.kubernetes.io/is-default-class"

static int kinds_default_prepare(eng_step *s, json_t **undo, vs_error *err)
{
	json_t *list = NULL, *sc, *names = json_array();
	size_t i;
	int rc = vs_kube_list(s->run->c, &VS_KUBE_STORAGECLASSES, NULL, NULL, &list, err);

	json_array_foreach (json_object_get(list, "items"), i, sc)
		if (strcmp(vs_json_annotation(sc, KINDS_DEFAULT_ANN) ?: "", "true") == 0)
			json_array_append_new(names, json_string(vs_kube_obj_name(sc)));
	*undo = rc == 0 ? json_pack("{s:O}", "defaults", names) : NULL;
	json_decref(names);
	json_decref(list);
	return rc;
}

/* Mark the classes named in defaults (a list of strings) default and every other one not. */
static int kinds_default_set(eng_run *r, const json_t *defaults, vs_error *err)
{
	json_t *list = NULL, *sc;
	size_t i;
	int rc = vs_kube_list(r->c, &VS_KUBE_STORAGECLASSES, NULL, NULL, &list, err);

	json_array_foreach (json_object_get(list, "items"), i, sc) {
		bool want = vs_json_array_has_str(defaults, vs_kube_obj_name(sc));
		bool is = strcmp(vs_json_annotation(sc, KINDS_DEFAULT_ANN) ?: "", "true") == 0;
		if (rc < 0 || want == is)
			continue;
		json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", KINDS_DEFAULT_ANN,
					  want ? "true" : "false");
		rc = vs_kube_patch(r->c, &VS_KUBE_STORAGECLASSES, NULL, vs_kube_obj_name(sc), VS_KUBE_PATCH_MERGE,
				   patch, NULL, err);
		json_decref(patch);
	}
	json_decref(list);
	return rc;
}

static int kinds_default_apply(eng_step *s, const json_t *undo, vs_error *err)
{
	json_t *one = json_pack("[O]", kinds_def(s, "defaultStorageClass")), *sc = NULL;
	int rc = vs_kube_get(s->run->c, &VS_KUBE_STORAGECLASSES, NULL, json_string_value(json_array_get(one, 0)), &sc,
			     err);

	(void)undo;
	if (rc == 0) /* the class exists */
		rc = kinds_default_set(s->run, one, err);
	json_decref(sc);
	json_decref(one);
	return rc;
}

static int kinds_default_undo(eng_step *s, const json_t *undo, vs_error *err)
{
	if (!json_is_array(json_object_get(undo, "defaults")))
		return 0;
	return kinds_default_set(s->run, json_object_get(undo, "defaults"), err);
}

const eng_kind eng_kind_default_class = { .name = "defaultStorageClass",
					  .prepare = kinds_default_prepare,
					  .apply = kinds_default_apply,
					  .undo = kinds_default_undo };

/* ---- the table ------------------------------------------------------------------------------------ */

const eng_kind *eng_kind_of(const json_t *def)
{
	static const eng_kind *const kinds[] = { &eng_kind_scale,	&eng_kind_wait,		 &eng_kind_job,
						 &eng_kind_patch,	&eng_kind_apply,	 &eng_kind_delete,
						 &eng_kind_set_state,	&eng_kind_default_class, &eng_kind_migrate,
						 &eng_kind_object_store };
	const char *name = vs_engine_step_kind(def);

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i]->name, name) == 0)
			return kinds[i];
	return NULL;
}

char *vs_engine_step_describe(const json_t *step)
{
	const char *kind = vs_engine_step_kind(step);
	const json_t *v = json_object_get(step, kind);
	char *ref, *text;

	if (json_is_string(v))
		return vs_xasprintf("%s %s", kind, json_string_value(v));
	if (strcmp(kind, "job") == 0)
		return vs_xasprintf("job in namespace %s", vs_json_str_or(v, "namespace", "?"));
	if (strcmp(kind, "migrate") == 0)
		return vs_xasprintf("migrate the claims of class %s to class %s",
				    vs_json_str_or(v, "sourceStorageClass", "?"),
				    vs_json_str_or(v, "destStorageClass", "?"));
	if (strcmp(kind, "objectStore") == 0)
		return vs_xasprintf("sync the objects of %s to %s", vs_json_str_or(v, "source", "?"),
				    vs_json_str_or(v, "dest", "?"));
	ref = eng_ref_text(v);
	if (strcmp(kind, "scale") == 0) {
		const json_t *n = json_object_get(v, "replicas");
		text = json_is_integer(n) ? vs_xasprintf("scale %s to %lld", ref, (long long)json_integer_value(n))
					  : vs_xasprintf("scale %s back to its recorded replicas", ref);
	} else {
		text = vs_xasprintf("%s %s", kind, ref);
	}
	free(ref);
	return text;
}
