/*
 * crd: CustomResourceDefinitions, the part of kube-apiserver that apiextensions-apiserver is. A CRD
 * is stored like any object; once Established, each of its versions is a resource of its own (a
 * crd_res below) that the REST API serves like a built-in one, and the objects of every version
 * live in one map of the store under the CRD's group and plural. There is no conversion (strategy
 * None): an object is returned with the apiVersion it is asked for. The API server's own CRD
 * controllers run in the garbage collector's thread: names (NamesAccepted, conflicts within the
 * group), establishing (Established), and the cleanup finalizer that deletes a deleted CRD's
 * objects before the CRD goes (pkg/controller/{status,establish,finalizer} of
 * apiextensions-apiserver).
 */
#include "api_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The finalizer's check for objects left, after its first one (wait.PollImmediate(5s, 1m)). */
#define CRD_INSTANCE_POLL_MS 5000

/* One version of one CRD as a resource. Never freed before its store: watches, the store's history
 * and other threads may hold it after its CRD changed or went (it is then inactive). */
struct crd_res {
	sim_resource res; /* first: a custom sim_resource * points at its crd_res */
	char *api_version, *crd_uid, *categories, *signature;
	sim_scale_paths scale;
	json_t *columns;
	bool served, storage;
	bool active;	  /* its CRD serves it as it is now */
	bool terminating; /* its CRD is being deleted */
	struct crd_res *next;
};

struct sim_crd_set {
	struct crd_res *all; /* every entry ever made, newest first */
	json_t *next_check;  /* CRD uid -> monotonic ms before which its finalizer does not look again */
};

static const struct crd_res *entry_of(const sim_resource *res)
{
	return (const struct crd_res *)res;
}

struct sim_crd_set *sim_crd_set_new(void)
{
	struct sim_crd_set *set = vs_xcalloc(1, sizeof(*set));

	set->next_check = json_object();
	return set;
}

static void crd_res_free(struct crd_res *e)
{
	const char *strings[] = { e->res.group,
				  e->res.version,
				  e->res.plural,
				  e->res.singular,
				  e->res.kind,
				  e->res.short_names,
				  e->res.subresources,
				  e->scale.spec_replicas,
				  e->scale.status_replicas,
				  e->scale.label_selector,
				  e->api_version,
				  e->crd_uid,
				  e->categories,
				  e->signature };

	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		free((char *)strings[i]);
	json_decref(e->columns);
	free(e);
}

void sim_crd_set_free(struct sim_crd_set *set)
{
	if (!set)
		return;
	while (set->all) {
		struct crd_res *next = set->all->next;
		crd_res_free(set->all);
		set->all = next;
	}
	json_decref(set->next_check);
	free(set);
}

bool sim_res_is_crd(const sim_resource *res)
{
	return strcmp(res->plural, SIM_CRD_PLURAL) == 0 && strcmp(res->group, SIM_CRD_GROUP) == 0;
}

/* ---- what a custom resource is ----------------------------------------------------------------- */

const char *sim_crd_api_version(const sim_resource *res)
{
	return entry_of(res)->api_version;
}

const char *sim_resource_categories(const sim_resource *res)
{
	return sim_resource_is_custom(res) ? entry_of(res)->categories : "";
}

const json_t *sim_resource_printer_columns(const sim_resource *res)
{
	return sim_resource_is_custom(res) ? entry_of(res)->columns : NULL;
}

void sim_resource_scale_paths(const sim_resource *res, sim_scale_paths *out)
{
	if (sim_resource_is_custom(res))
		*out = entry_of(res)->scale;
	else
		*out = (sim_scale_paths){ "spec.replicas", "status.replicas", NULL };
}

/* The strings of a JSON array joined with commas (caller frees). */
static char *join_strings(const json_t *arr)
{
	vs_buf b;
	json_t *v;
	size_t i;

	vs_buf_init(&b, 0);
	json_array_foreach (arr, i, v)
		if (json_is_string(v))
			vs_buf_printf(&b, "%s%s", b.len ? "," : "", json_string_value(v));
	return b.data ? vs_buf_steal(&b) : vs_xstrdup("");
}

/* A JSON path of a CRD (".spec.replicas") as a dotted path ("spec.replicas"), or NULL. */
static char *dotted(const char *json_path)
{
	return json_path && *json_path ? vs_xstrdup(json_path + (*json_path == '.')) : NULL;
}

/* What a version's resource is made of: an entry with the same signature serves it unchanged. */
static char *signature_of(const json_t *crd, const json_t *ver)
{
	json_t *sig = json_pack("{s:O*,s:O*,s:O*,s:O*}", "group", vs_json_path(crd, "spec.group"), "scope",
				vs_json_path(crd, "spec.scope"), "names", vs_json_path(crd, "status.acceptedNames"),
				"version", ver);
	char *text = json_dumps(sig, JSON_SORT_KEYS | JSON_COMPACT);

	json_decref(sig);
	return text;
}

static json_t *printer_columns(const json_t *ver)
{
	json_t *cols = json_object_get(ver, "additionalPrinterColumns");

	if (json_is_array(cols) && json_array_size(cols) > 0)
		return json_deep_copy(cols);
	return json_pack("[{s:s,s:s,s:s}]", "name", "Age", "type", "date", "jsonPath", ".metadata.creationTimestamp");
}

static struct crd_res *crd_res_new(const json_t *crd, const json_t *ver, char *signature)
{
	struct crd_res *e = vs_xcalloc(1, sizeof(*e));
	const json_t *names = vs_json_path(crd, "status.acceptedNames"), *subs = json_object_get(ver, "subresources");
	const json_t *scale = json_object_get(subs, "scale");
	const char *group = vs_json_str_or(crd, "spec.group", ""), *version = vs_json_str_or(ver, "name", "");

	e->res.group = vs_xstrdup(group);
	e->res.version = vs_xstrdup(version);
	e->res.plural = vs_xstrdup(vs_json_str_or(names, "plural", ""));
	e->res.singular = vs_xstrdup(vs_json_str_or(names, "singular", ""));
	e->res.kind = vs_xstrdup(vs_json_str_or(names, "kind", ""));
	e->res.short_names = join_strings(json_object_get(names, "shortNames"));
	e->res.namespaced = strcmp(vs_json_str_or(crd, "spec.scope", ""), "Namespaced") == 0;
	e->res.subresources = vs_xasprintf("%s%s%s", json_object_get(subs, "status") ? "status" : "",
					   json_object_get(subs, "status") && scale ? "," : "", scale ? "scale" : "");
	e->scale = (sim_scale_paths){ dotted(vs_json_str(scale, "specReplicasPath")),
				      dotted(vs_json_str(scale, "statusReplicasPath")),
				      dotted(vs_json_str(scale, "labelSelectorPath")) };
	e->api_version = vs_xasprintf("%s/%s", group, version);
	e->crd_uid = vs_xstrdup(vs_json_str_or(crd, "metadata.uid", ""));
	e->categories = join_strings(json_object_get(names, "categories"));
	e->signature = signature;
	e->columns = printer_columns(ver);
	e->served = vs_json_bool(ver, "served", false);
	e->storage = vs_json_bool(ver, "storage", false);
	e->active = true;
	return e;
}

/* ---- serving ---------------------------------------------------------------------------------- */

static bool condition_true(const json_t *obj, const char *type)
{
	json_t *c;
	size_t i;

	json_array_foreach (vs_json_path(obj, "status.conditions"), i, c)
		if (strcmp(vs_json_str_or(c, "type", ""), type) == 0)
			return strcmp(vs_json_str_or(c, "status", ""), "True") == 0;
	return false;
}

/* The active entry of this CRD with this signature, or NULL. */
static struct crd_res *find_entry(struct sim_crd_set *set, const char *uid, const char *signature)
{
	for (struct crd_res *e = set->all; e; e = e->next)
		if (e->active && strcmp(e->crd_uid, uid) == 0 && strcmp(e->signature, signature) == 0)
			return e;
	return NULL;
}

void sim_crd_sync_locked(sim_store *st, const json_t *crd, bool removed)
{
	struct sim_crd_set *set = st->crds;
	const char *uid = vs_json_str_or(crd, "metadata.uid", "");
	json_t *keep = json_object(), *ver;
	size_t i;

	if (!removed && condition_true(crd, "Established"))
		json_array_foreach (vs_json_path(crd, "spec.versions"), i, ver) {
			char *sig = signature_of(crd, ver);
			struct crd_res *e = find_entry(set, uid, sig);
			if (e) {
				free(sig);
			} else {
				e = crd_res_new(crd, ver, sig);
				e->next = set->all;
				set->all = e;
			}
			e->terminating = vs_json_path(crd, "metadata.deletionTimestamp") != NULL;
			json_object_set_new(keep, e->signature, json_true());
		}
	for (struct crd_res *e = set->all; e; e = e->next)
		if (e->active && strcmp(e->crd_uid, uid) == 0 && !json_object_get(keep, e->signature))
			e->active = false;
	if (removed)
		json_object_del(set->next_check, uid);
	json_decref(keep);
}

bool sim_crd_terminating_locked(const sim_resource *res)
{
	return sim_resource_is_custom(res) && entry_of(res)->terminating;
}

const sim_resource **sim_crd_storage_locked(sim_store *st, size_t *n)
{
	const sim_resource **out = NULL;
	size_t cap = 0;

	*n = 0;
	for (struct crd_res *e = st->crds->all; e; e = e->next) {
		if (!e->active || !e->storage)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			out = vs_xrealloc(out, cap * sizeof(*out));
		}
		out[(*n)++] = &e->res;
	}
	return out;
}

const sim_resource *sim_store_resource(sim_store *st, const char *group, const char *version, const char *plural)
{
	const sim_resource *found = sim_resource_find(group, plural);

	if (found)
		return strcmp(found->version, version) == 0 ? found : NULL;
	pthread_mutex_lock(&st->mu);
	for (struct crd_res *e = st->crds->all; e && !found; e = e->next)
		if (e->active && e->served && strcmp(e->res.group, group) == 0 &&
		    strcmp(e->res.version, version) == 0 && strcmp(e->res.plural, plural) == 0)
			found = &e->res;
	pthread_mutex_unlock(&st->mu);
	return found;
}

const sim_resource **sim_store_resources(sim_store *st, size_t *n)
{
	const sim_resource *builtin = sim_resource_all(), **out;
	size_t cap = 0, k = 0, ncustom = 0;

	while (builtin[cap].plural)
		cap++;
	pthread_mutex_lock(&st->mu);
	for (struct crd_res *e = st->crds->all; e; e = e->next)
		ncustom += e->active && e->served;
	out = vs_xcalloc(cap + ncustom + 1, sizeof(*out));
	for (const sim_resource *r = builtin; r->plural; r++)
		out[k++] = r;
	/* the list is newest first: backwards, the oldest CRD comes first, its versions in order */
	k += ncustom;
	for (struct crd_res *e = st->crds->all; e; e = e->next)
		if (e->active && e->served)
			out[--k] = &e->res;
	pthread_mutex_unlock(&st->mu);
	*n = cap + ncustom;
	return out;
}

/* ---- defaults and validation ------------------------------------------------------------------ */

/* The name of the version marked storage, or NULL (borrowed). */
static const char *storage_version(const json_t *crd)
{
	json_t *v;
	size_t i;

	json_array_foreach (vs_json_path(crd, "spec.versions"), i, v)
		if (vs_json_bool(v, "storage", false))
			return vs_json_str(v, "name");
	return NULL;
}

void sim_crd_default(json_t *crd)
{
	const char *kind = vs_json_str(crd, "spec.names.kind"), *sv = storage_version(crd);
	json_t *stored;

	if (kind && !vs_json_str(crd, "spec.names.singular")) {
		char *lower = vs_xstrdup(kind);
		for (char *p = lower; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		vs_json_set_path(crd, "spec.names.singular", json_string(lower));
		free(lower);
	}
	if (kind && !vs_json_str(crd, "spec.names.listKind"))
		vs_json_set_path(crd, "spec.names.listKind", json_sprintf("%sList", kind));
	if (!vs_json_path(crd, "spec.conversion"))
		vs_json_set_path(crd, "spec.conversion", json_pack("{s:s}", "strategy", "None"));
	stored = vs_json_path(crd, "status.storedVersions");
	if (sv && !vs_json_array_has_str(stored, sv)) {
		if (!json_is_array(stored)) {
			stored = json_array();
			vs_json_set_path(crd, "status.storedVersions", stored);
		}
		json_array_append_new(stored, json_string(sv));
	}
}

json_t *sim_crd_initial_status(const json_t *crd)
{
	const char *sv = storage_version(crd);

	return json_pack("{s:{s:s,s:s},s:[],s:[s*]}", "acceptedNames", "plural", "", "kind", "", "conditions",
			 "storedVersions", sv);
}

static bool dns_label(const char *s, bool alpha_first)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || !isalnum((unsigned char)s[n - 1]) || (alpha_first && !islower((unsigned char)s[0])))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
			return false;
	return isalnum((unsigned char)s[0]);
}

static bool invalid(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool invalid(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return true;
}

static bool scale_invalid(const json_t *scale, size_t i, char *why, size_t n)
{
	static const struct {
		const char *field, *under;
		bool required;
	} paths[] = { { "specReplicasPath", ".spec.", true },
		      { "statusReplicasPath", ".status.", true },
		      { "labelSelectorPath", NULL, false } };

	for (size_t k = 0; scale && k < sizeof(paths) / sizeof(paths[0]); k++) {
		const char *p = vs_json_str(scale, paths[k].field);
		if (!p && paths[k].required)
			return invalid(why, n, "spec.versions[%zu].subresources.scale.%s: Required value", i,
				       paths[k].field);
		if (p && paths[k].under && !vs_str_has_prefix(p, paths[k].under))
			return invalid(why, n,
				       "spec.versions[%zu].subresources.scale.%s: Invalid value: \"%s\": should be a "
				       "json path under %.*s",
				       i, paths[k].field, p, (int)strlen(paths[k].under) - 1, paths[k].under);
		if (p && !paths[k].under && !vs_str_has_prefix(p, ".spec.") && !vs_str_has_prefix(p, ".status."))
			return invalid(why, n,
				       "spec.versions[%zu].subresources.scale.%s: Invalid value: \"%s\": should be a "
				       "json path under either .spec or .status",
				       i, paths[k].field, p);
	}
	return false;
}

static bool version_invalid(const json_t *v, size_t i, char *why, size_t n)
{
	const char *name = vs_json_str_or(v, "name", ""), *type = vs_json_str(v, "schema.openAPIV3Schema.type");

	if (!dns_label(name, true))
		return invalid(why, n,
			       "spec.versions[%zu].name: Invalid value: \"%s\": a DNS-1035 label must consist of lower "
			       "case alphanumeric characters or '-', start with an alphabetic character, and end with "
			       "an alphanumeric character",
			       i, name);
	if (!vs_json_path(v, "schema.openAPIV3Schema"))
		return invalid(why, n,
			       "spec.versions[%zu].schema.openAPIV3Schema: Required value: schemas are required", i);
	if (!type || strcmp(type, "object") != 0)
		return invalid(why, n,
			       "spec.versions[%zu].schema.openAPIV3Schema.type: Unsupported value: \"%s\": supported "
			       "values: \"object\"",
			       i, type ? type : "");
	return scale_invalid(vs_json_path(v, "subresources.scale"), i, why, n);
}

static bool versions_invalid(const json_t *crd, char *why, size_t n)
{
	json_t *versions = vs_json_path(crd, "spec.versions"), *v, *seen = json_object();
	size_t i, storage = 0;
	bool bad = false;

	json_array_foreach (versions, i, v) {
		const char *name = vs_json_str_or(v, "name", "");
		if (json_object_get(seen, name))
			bad = invalid(why, n, "spec.versions[%zu].name: Duplicate value: \"%s\"", i, name);
		else
			bad = version_invalid(v, i, why, n);
		if (bad)
			break;
		json_object_set_new(seen, name, json_true());
		storage += vs_json_bool(v, "storage", false);
	}
	if (!bad && storage != 1)
		bad = invalid(
			why, n,
			"spec.versions: Invalid value: %zu: must have exactly one version marked as storage version",
			storage);
	json_decref(seen);
	return bad;
}

static bool names_invalid(const json_t *crd, char *why, size_t n)
{
	const char *name = vs_json_str_or(crd, "metadata.name", ""), *group = vs_json_str_or(crd, "spec.group", "");
	const char *plural = vs_json_str_or(crd, "spec.names.plural", ""),
		   *kind = vs_json_str_or(crd, "spec.names.kind", "");
	const char *scope = vs_json_str_or(crd, "spec.scope", "");
	char *want = vs_xasprintf("%s.%s", plural, group);
	bool bad = false;

	if (!*group)
		bad = invalid(why, n, "spec.group: Required value");
	else if (!strchr(group, '.'))
		bad = invalid(why, n, "spec.group: Invalid value: \"%s\": should be a domain with at least one dot",
			      group);
	else if (!*plural)
		bad = invalid(why, n, "spec.names.plural: Required value");
	else if (!dns_label(plural, false))
		bad = invalid(
			why, n,
			"spec.names.plural: Invalid value: \"%s\": a lowercase RFC 1123 label must consist of lower "
			"case alphanumeric characters or '-', and must start and end with an alphanumeric character",
			plural);
	else if (!*kind)
		bad = invalid(why, n, "spec.names.kind: Required value");
	else if (strcmp(name, want) != 0)
		bad = invalid(why, n,
			      "metadata.name: Invalid value: \"%s\": must be spec.names.plural+\".\"+spec.group", name);
	else if (strcmp(scope, "Namespaced") != 0 && strcmp(scope, "Cluster") != 0)
		bad = invalid(why, n,
			      "spec.scope: Unsupported value: \"%s\": supported values: \"Cluster\", \"Namespaced\"",
			      scope);
	free(want);
	return bad;
}

/* An update may not change the scope, nor drop a version that objects may be stored in. */
static bool update_invalid(const json_t *crd, const json_t *old, char *why, size_t n)
{
	json_t *stored = vs_json_path(crd, "status.storedVersions"), *v, *w;
	size_t i, j;

	if (!json_equal(vs_json_path(crd, "spec.scope"), vs_json_path(old, "spec.scope")))
		return invalid(why, n, "spec.scope: Invalid value: \"%s\": field is immutable",
			       vs_json_str_or(crd, "spec.scope", ""));
	json_array_foreach (stored, i, v) {
		bool found = false;
		json_array_foreach (vs_json_path(crd, "spec.versions"), j, w)
			found |= json_equal(json_object_get(w, "name"), v);
		if (!found)
			return invalid(
				why, n,
				"status.storedVersions[%zu]: Invalid value: \"%s\": must appear in spec.versions", i,
				json_string_value(v));
	}
	return false;
}

bool sim_crd_invalid(const json_t *crd, const json_t *old, char *why, size_t n)
{
	return names_invalid(crd, why, n) || versions_invalid(crd, why, n) || (old && update_invalid(crd, old, why, n));
}

/* SetCRDCondition: a condition of type in status.conditions, its lastTransitionTime kept when its
 * status does not change. */
static void set_condition(json_t *obj, const char *type, bool status, const char *reason, const char *message)
{
	json_t *conds = vs_json_path(obj, "status.conditions"), *c, *next;
	const char *s = status ? "True" : "False";
	char now[32];
	size_t i;

	vs_time_format(vs_time_now(), now);
	if (!json_is_array(conds)) {
		conds = json_array();
		vs_json_set_path(obj, "status.conditions", conds);
	}
	next = json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", type, "status", s, "lastTransitionTime", now, "reason",
			 reason, "message", message);
	json_array_foreach (conds, i, c)
		if (strcmp(vs_json_str_or(c, "type", ""), type) == 0) {
			if (strcmp(vs_json_str_or(c, "status", ""), s) == 0 && vs_json_str(c, "lastTransitionTime"))
				json_object_set(next, "lastTransitionTime", json_object_get(c, "lastTransitionTime"));
			json_array_set_new(conds, i, next);
			return;
		}
	json_array_append_new(conds, next);
}

void sim_crd_mark_deleting(json_t *o)
{
	json_t *meta = json_object_get(o, "metadata"), *fins = json_object_get(meta, "finalizers");

	if (!json_is_array(fins)) {
		fins = json_array();
		json_object_set_new(meta, "finalizers", fins);
	}
	if (!vs_json_array_has_str(fins, SIM_CRD_CLEANUP_FINALIZER))
		json_array_append_new(fins, json_string(SIM_CRD_CLEANUP_FINALIZER));
	set_condition(o, "Terminating", true, "InstanceDeletionPending",
		      "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon");
}

/* ---- the controllers --------------------------------------------------------------------------- */

static const sim_resource *crd_resource(void)
{
	return sim_resource_find(SIM_CRD_GROUP, SIM_CRD_PLURAL);
}

/* Write crd (borrowed) through /status (status) or as a whole; *out (or NULL) the object written.
 * NotFound and Conflict mean that the next pass sees a newer CRD. */
static int crd_write(sim_store *st, const json_t *crd, enum sim_update_kind kind, const char *what, json_t **out)
{
	vs_error err;
	int rc = sim_api_update(st, crd_resource(), NULL, crd, kind, out, &err);

	if (rc != 0 && !vs_error_is(&err, "NotFound") && !vs_error_is(&err, "Conflict"))
		vs_warn("crd: %s of %s: %s", what, vs_json_str_or(crd, "metadata.name", "?"), err.message);
	else if (rc == 0)
		vs_debug("crd: %s of %s", what, vs_json_str_or(crd, "metadata.name", "?"));
	return rc;
}

/* The names the other CRDs of crd's group have taken: resources (plural, singular, short names)
 * or kinds (kind, list kind), as a set. */
static json_t *names_in_use(const json_t *crd, const struct sim_store_item *items, size_t n, bool kinds)
{
	static const char *const resource_fields[] = { "plural", "singular", NULL };
	static const char *const kind_fields[] = { "kind", "listKind", NULL };
	json_t *used = json_object(), *v;
	size_t k;

	for (size_t i = 0; i < n; i++) {
		const json_t *o = items[i].obj, *acc = vs_json_path(o, "status.acceptedNames");
		if (!sim_res_is_crd(items[i].res) ||
		    json_equal(vs_json_path(o, "metadata.uid"), vs_json_path(crd, "metadata.uid")) ||
		    !json_equal(vs_json_path(o, "spec.group"), vs_json_path(crd, "spec.group")))
			continue;
		for (const char *const *f = kinds ? kind_fields : resource_fields; *f; f++)
			if (vs_json_str(acc, *f) && *vs_json_str(acc, *f))
				json_object_set_new(used, vs_json_str(acc, *f), json_true());
		if (!kinds)
			json_array_foreach (json_object_get(acc, "shortNames"), k, v)
				if (json_is_string(v))
					json_object_set_new(used, json_string_value(v), json_true());
	}
	return used;
}

/* equalToAcceptedOrFresh: whether crd may take requested (a name it asks for in spec.names). */
static bool name_free(const char *requested, const char *accepted, const json_t *used)
{
	return (accepted && strcmp(requested, accepted) == 0) || !json_object_get(used, requested);
}

/* The names of spec.names that no other CRD of the group holds, into next (status.acceptedNames),
 * checked in the order of calculateNamesAndConditions; the last conflict's reason and message, or
 * NULL. */
static const char *accept_names(const json_t *crd, json_t *next, const json_t *resources, const json_t *kinds,
				char *msg, size_t n)
{
	static const struct {
		const char *field, *reason;
		bool kind;
	} fields[] = { { "plural", "PluralConflict", false },
		       { "singular", "SingularConflict", false },
		       { "shortNames", "ShortNamesConflict", false },
		       { "kind", "KindConflict", true },
		       { "listKind", "ListKindConflict", true } };
	const json_t *req = vs_json_path(crd, "spec.names"), *s;
	const char *reason = NULL;
	size_t i;

	for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
		const json_t *want = json_object_get(req, fields[k].field),
			     *have = json_object_get(next, fields[k].field);
		const char *taken = NULL;
		json_array_foreach (want, i, s) /* short names: each one new to this CRD must be free */
			if (!vs_json_array_has_str(have, json_string_value(s)) &&
			    !name_free(json_string_value(s), NULL, resources))
				taken = json_string_value(s);
		if (json_is_string(want) &&
		    !name_free(json_string_value(want), json_string_value(have), fields[k].kind ? kinds : resources))
			taken = json_string_value(want);
		if (taken) {
			reason = fields[k].reason;
			snprintf(msg, n, "\"%s\" is already in use", taken);
		} else if (want) {
			json_object_set(next, fields[k].field, (json_t *)want);
		} else {
			json_object_del(next, fields[k].field);
		}
	}
	if (json_object_get(req, "categories"))
		json_object_set(next, "categories", json_object_get(req, "categories"));
	else
		json_object_del(next, "categories");
	return reason;
}

/*
 * The naming controller's status for crd (calculateNamesAndConditions): NamesAccepted with the
 * names taken, and Established False until the establishing controller makes it True ("Installing"
 * when the names are accepted). A new reference.
 */
static json_t *named_crd(const json_t *crd, const struct sim_store_item *items, size_t n)
{
	json_t *out = json_deep_copy(crd), *resources = names_in_use(crd, items, n, false);
	json_t *kinds = names_in_use(crd, items, n, true),
	       *next = json_deep_copy(vs_json_path(crd, "status.acceptedNames"));
	const char *reason;
	char msg[300];

	if (!json_is_object(next)) {
		json_decref(next);
		next = json_object();
	}
	reason = accept_names(crd, next, resources, kinds, msg, sizeof(msg));
	vs_json_set_path(out, "status.acceptedNames", next);
	set_condition(out, "NamesAccepted", !reason, reason ? reason : "NoConflicts",
		      reason ? msg : "no conflicts found");
	if (!condition_true(crd, "Established"))
		set_condition(out, "Established", false, reason ? "NotAccepted" : "Installing",
			      reason ? "not all names are accepted" : "the initial names have been accepted");
	json_decref(resources);
	json_decref(kinds);
	return out;
}

static void crd_establish(sim_store *st, const json_t *crd, const struct sim_store_item *items, size_t n)
{
	json_t *named = named_crd(crd, items, n);

	if (!json_equal(named, crd)) {
		crd_write(st, named, SIM_UPDATE_STATUS, "names", NULL);
	} else if (condition_true(crd, "NamesAccepted") && !condition_true(crd, "Established")) {
		set_condition(named, "Established", true, "InitialNamesAccepted",
			      "the initial names have been accepted");
		crd_write(st, named, SIM_UPDATE_STATUS, "established", NULL);
	}
	json_decref(named);
}

/* The storage version of the CRD with this uid, active, or NULL. */
static const sim_resource *storage_of(sim_store *st, const char *uid)
{
	const sim_resource *found = NULL;

	pthread_mutex_lock(&st->mu);
	for (struct crd_res *e = st->crds->all; e && !found; e = e->next)
		if (e->active && e->storage && strcmp(e->crd_uid, uid) == 0)
			found = &e->res;
	pthread_mutex_unlock(&st->mu);
	return found;
}

/* deleteInstances: DELETE every object of res that is not being deleted yet; the number of
 * objects left after that (a live list), or -1 when it could not be listed. */
static long delete_instances(sim_store *st, const sim_resource *res)
{
	json_t *list = NULL, *it;
	long left = -1;
	vs_error err;
	size_t i;

	if (sim_api_list(st, res, NULL, NULL, &list, &err) != 0) {
		vs_warn("crd: could not list instances of %s.%s: %s", res->plural, res->group, err.message);
		return -1;
	}
	json_array_foreach (json_object_get(list, "items"), i, it) {
		sim_delete_opts opts = { SIM_PROPAGATE_DEFAULT, vs_json_str(it, "metadata.uid"), NULL, -1 };
		if (!vs_json_path(it, "metadata.deletionTimestamp") &&
		    sim_api_delete(st, res, vs_json_str(it, "metadata.namespace"), vs_json_str(it, "metadata.name"),
				   &opts, NULL, NULL, &err) != 0 &&
		    !vs_error_is(&err, "NotFound"))
			vs_warn("crd: could not delete %s %s: %s", res->singular,
				vs_json_str_or(it, "metadata.name", "?"), err.message);
	}
	json_decref(list);
	if (sim_api_list(st, res, NULL, NULL, &list, &err) == 0)
		left = (long)json_array_size(json_object_get(list, "items"));
	json_decref(list);
	return left;
}

/* True while the finalizer of the CRD with this uid waits for its next poll. */
static bool finalizer_waits(sim_store *st, const char *uid)
{
	bool waits;

	pthread_mutex_lock(&st->mu);
	waits = vs_json_int(st->crds->next_check, uid, 0) > vs_time_mono_ms();
	pthread_mutex_unlock(&st->mu);
	return waits;
}

static void finalizer_poll_later(sim_store *st, const char *uid)
{
	pthread_mutex_lock(&st->mu);
	json_object_set_new(st->crds->next_check, uid, json_integer(vs_time_mono_ms() + CRD_INSTANCE_POLL_MS));
	pthread_mutex_unlock(&st->mu);
}

/* Write o with the Terminating condition given, through /status; o becomes what was written. */
static int set_terminating(sim_store *st, json_t **o, bool status, const char *reason, const char *message)
{
	json_t *next = json_deep_copy(*o), *out = NULL;
	int rc = 0;

	set_condition(next, "Terminating", status, reason, message);
	if (!json_equal(next, *o) && (rc = crd_write(st, next, SIM_UPDATE_STATUS, reason, &out)) == 0) {
		json_decref(*o);
		*o = out;
	}
	json_decref(next);
	return rc;
}

/* The CRD finalizer (crdFinalizer.sync): Terminating, its objects deleted, then the finalizer
 * removed, which lets the CRD go. */
static void crd_finalize(sim_store *st, const json_t *crd)
{
	const char *uid = vs_json_str_or(crd, "metadata.uid", "");
	const sim_resource *res = storage_of(st, uid);
	bool established = condition_true(crd, "Established");
	json_t *o = json_deep_copy(crd), *fins = json_array(), *f;
	long left;
	size_t i;

	if (finalizer_waits(st, uid) ||
	    set_terminating(st, &o, true, "InstanceDeletionInProgress", "CustomResource deletion is in progress") != 0)
		goto done;
	if (established && res && (left = delete_instances(st, res)) != 0) {
		vs_debug("crd: %s waits for %ld objects to go", vs_json_str_or(crd, "metadata.name", "?"), left);
		finalizer_poll_later(st, uid);
		goto done;
	}
	if (set_terminating(st, &o, false, established ? "InstanceDeletionCompleted" : "NeverEstablished",
			    established ? "removed all instances" : "resource was never established") != 0)
		goto done;
	json_array_foreach (vs_json_path(o, "metadata.finalizers"), i, f)
		if (!json_is_string(f) || strcmp(json_string_value(f), SIM_CRD_CLEANUP_FINALIZER) != 0)
			json_array_append(fins, f);
	json_object_set(json_object_get(o, "metadata"), "finalizers", fins);
	crd_write(st, o, SIM_UPDATE_MAIN, "finalizer removed", NULL);
done:
	json_decref(fins);
	json_decref(o);
}

void sim_crd_controllers(sim_store *st, const struct sim_store_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const json_t *crd = items[i].obj;
		if (!sim_res_is_crd(items[i].res))
			continue;
		if (!vs_json_path(crd, "metadata.deletionTimestamp"))
			crd_establish(st, crd, items, n);
		else if (vs_json_array_has_str(vs_json_path(crd, "metadata.finalizers"), SIM_CRD_CLEANUP_FINALIZER))
			crd_finalize(st, crd);
	}
}
