/*
 * rbac: volshift-sim's authorizer, as kube-apiserver's: the attributes of a request as its
 * RequestInfoFactory computes them, the RBAC authorizer (plugin/pkg/auth/authorizer/rbac: rules
 * bound to a user through ClusterRoleBindings, and RoleBindings of the request's namespace), the
 * refusal messages of its Forbidden responses, what a SelfSubjectRulesReview lists, the validation
 * of the four RBAC kinds, and the default roles and bindings of its bootstrap policy.
 */
#include "api_int.h"
#include "auth.h"

#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define RBAC_GROUP "rbac.authorization.k8s.io"

/* ---- request attributes (RequestInfoFactory.NewRequestInfo) -------------------------------------------- */

static char *lower_dup(const char *s)
{
	char *d = vs_xstrdup(s);

	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* The value of "metadata.name=V" (or "==") in a field selector, if it requires one (RequiresExactMatch). */
static char *selector_name(const char *fs)
{
	const char *p = fs;

	while (p && *p) {
		const char *end = strchr(p, ','), *v = NULL;
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > 15 && strncmp(p, "metadata.name==", 15) == 0)
			v = p + 15;
		else if (n > 14 && strncmp(p, "metadata.name=", 14) == 0 && p[14] != '=')
			v = p + 14;
		if (v)
			return vs_xstrndup(v, n - (size_t)(v - p));
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

/* path.IsValidPathSegmentName */
static bool valid_segment(const char *s)
{
	return *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strpbrk(s, "/%");
}

/* "watch" unless the query's watch is absent, "false" or "0" (Convert_Slice_string_To_bool). */
static bool watch_requested(const char *watch)
{
	return watch && strcasecmp(watch, "false") != 0 && strcmp(watch, "0") != 0;
}

static void set_str(char **field, const char *value)
{
	free(*field);
	*field = vs_xstrdup(value ? value : "");
}

/* The segments of path (at most max), split on '/'; they point into buf, the caller's copy. */
static size_t split_path(char *buf, char **parts, size_t max)
{
	size_t n = 0;

	for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok && n < max; tok = strtok_r(NULL, "/", &save))
		parts[n++] = tok;
	return n;
}

/* The parts after the API prefix: resource[/name[/subresource]], the namespace and special verbs taken. */
static void parse_resource_parts(sim_authz_attrs *a, const char *method, char **p, size_t n)
{
	static const char *const namespace_subresources[] = { "status", "finalize", NULL };
	bool special = strcmp(p[0], "watch") == 0 && n >= 2;

	if (special) {
		set_str(&a->verb, "watch");
		p++;
		n--;
	} else {
		const char *m = method;
		set_str(&a->verb, strcmp(m, "POST") == 0			    ? "create"
				  : strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? "get"
				  : strcmp(m, "PUT") == 0			    ? "update"
				  : strcmp(m, "PATCH") == 0			    ? "patch"
				  : strcmp(m, "DELETE") == 0			    ? "delete"
										    : "");
	}
	if (strcmp(p[0], "namespaces") == 0 && n > 1) {
		bool ns_sub = n > 2;
		set_str(&a->ns, p[1]);
		for (const char *const *s = namespace_subresources; ns_sub && *s; s++)
			if (strcmp(p[2], *s) == 0)
				ns_sub = false;
		if (ns_sub) {
			p += 2;
			n -= 2;
		}
	}
	set_str(&a->resource, p[0]);
	if (n >= 2)
		set_str(&a->name, p[1]);
	if (n >= 3)
		set_str(&a->subresource, p[2]);
}

/* The string fields of a, for setting or freeing them all. */
#define ATTR_FIELDS(a)                                                                                           \
	{                                                                                                        \
		&(a)->verb, &(a)->path, &(a)->group, &(a)->version, &(a)->resource, &(a)->subresource, &(a)->ns, \
			&(a)->name                                                                               \
	}

void sim_authz_attrs_parse(sim_authz_attrs *a, const char *method, const char *path, const char *watch,
			   const char *field_selector)
{
	char **fields[] = ATTR_FIELDS(a);
	char *buf = vs_xstrdup(path), *parts[64];
	size_t n = split_path(buf, parts, sizeof(parts) / sizeof(parts[0])), skip;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		set_str(fields[i], "");
	a->resource_request = false;
	set_str(&a->path, path);
	free(a->verb);
	a->verb = lower_dup(method);
	/* /api/V/... and /apis/G/V/... with something after the version */
	skip = n >= 3 && strcmp(parts[0], "api") == 0 ? 1 : n >= 4 && strcmp(parts[0], "apis") == 0 ? 2 : 0;
	if (skip) {
		a->resource_request = true;
		if (skip == 2)
			set_str(&a->group, parts[1]);
		set_str(&a->version, parts[skip]);
		parse_resource_parts(a, method, parts + skip + 1, n - skip - 1);
		if (!*a->name && strcmp(a->verb, "get") == 0) {
			char *name = field_selector ? selector_name(field_selector) : NULL;
			set_str(&a->verb, watch_requested(watch) ? "watch" : "list");
			if (name && valid_segment(name))
				set_str(&a->name, name);
			free(name);
		}
		if (!*a->name && strcmp(a->verb, "delete") == 0)
			set_str(&a->verb, "deletecollection");
	}
	free(buf);
}

void sim_authz_attrs_clear(sim_authz_attrs *a)
{
	char **fields[] = ATTR_FIELDS(a);

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		free(*fields[i]);
	memset(a, 0, sizeof(*a));
}

/* ---- rules (pkg/apis/rbac/v1/evaluation_helpers.go) --------------------------------------------------- */

static bool has_str(const json_t *arr, const char *s)
{
	return vs_json_array_has_str(arr, s);
}

static bool verb_matches(const json_t *rule, const char *verb)
{
	json_t *verbs = json_object_get(rule, "verbs");

	return has_str(verbs, "*") || has_str(verbs, verb);
}

/* "*", the resource (with its subresource: "pods/log"), or "*\/log" for any resource's subresource. */
static bool resource_matches(const json_t *rule, const char *combined, const char *sub)
{
	json_t *v;
	size_t i;

	json_array_foreach (json_object_get(rule, "resources"), i, v) {
		const char *r = json_string_value(v);
		if (!r)
			continue;
		if (strcmp(r, "*") == 0 || strcmp(r, combined) == 0)
			return true;
		if (*sub && strncmp(r, "*/", 2) == 0 && strcmp(r + 2, sub) == 0)
			return true;
	}
	return false;
}

static bool name_matches(const json_t *rule, const char *name)
{
	json_t *names = json_object_get(rule, "resourceNames");

	return json_array_size(names) == 0 || has_str(names, name);
}

/* "*", the path, or a prefix ending in "*". */
static bool url_matches(const json_t *rule, const char *path)
{
	json_t *v;
	size_t i;

	json_array_foreach (json_object_get(rule, "nonResourceURLs"), i, v) {
		const char *u = json_string_value(v);
		size_t n = u ? strlen(u) : 0;
		if (!u)
			continue;
		if (strcmp(u, "*") == 0 || strcmp(u, path) == 0)
			return true;
		if (n > 0 && u[n - 1] == '*' && strncmp(path, u, n - 1) == 0)
			return true;
	}
	return false;
}

bool sim_rbac_rule_allows(const json_t *rule, const sim_authz_attrs *a)
{
	char *combined;
	bool ok;

	if (!verb_matches(rule, a->verb))
		return false;
	if (!a->resource_request)
		return url_matches(rule, a->path);
	combined = *a->subresource ? vs_xasprintf("%s/%s", a->resource, a->subresource) : vs_xstrdup(a->resource);
	ok = (has_str(json_object_get(rule, "apiGroups"), "*") ||
	      has_str(json_object_get(rule, "apiGroups"), a->group)) &&
	     resource_matches(rule, combined, a->subresource) && name_matches(rule, a->name);
	free(combined);
	return ok;
}

/* ---- the authorizer (rbac.go, rule.go: VisitRulesFor) ------------------------------------------------- */

/* What a walk over the rules bound to a user does with each: decide (a set) or collect (rules set). */
struct visit {
	const json_t *user;
	const sim_authz_attrs *a; /* deciding: the request */
	bool allowed;
	char *reason;	/* "RBAC: allowed by ..." */
	json_t *rules;	/* collecting: every rule */
	json_t *errors; /* messages of missing roles, each once */
};

static bool in_groups(const json_t *user, const char *group)
{
	return has_str(json_object_get(user, "groups"), group);
}

/* appliesToUser: a subject of a binding in binding_ns ("" for a ClusterRoleBinding). */
static bool subject_applies(const json_t *user, const json_t *s, const char *binding_ns)
{
	const char *kind = vs_json_str_or(s, "kind", ""), *name = vs_json_str_or(s, "name", "");
	const char *username = vs_json_str_or(user, "username", ""), *sa_ns;
	char *want;
	bool ok;

	if (strcmp(kind, "User") == 0)
		return strcmp(username, name) == 0;
	if (strcmp(kind, "Group") == 0)
		return in_groups(user, name);
	if (strcmp(kind, "ServiceAccount") != 0)
		return false;
	sa_ns = *vs_json_str_or(s, "namespace", "") ? vs_json_str(s, "namespace") : binding_ns;
	if (!*sa_ns)
		return false;
	want = vs_xasprintf(SIM_SA_PREFIX "%s:%s", sa_ns, name);
	ok = strcmp(username, want) == 0;
	free(want);
	return ok;
}

/* The first subject of binding that applies to user, or NULL. Borrowed. */
static const json_t *applying_subject(const json_t *user, const json_t *binding, const char *binding_ns)
{
	json_t *s;
	size_t i;

	json_array_foreach (json_object_get(binding, "subjects"), i, s)
		if (subject_applies(user, s, binding_ns))
			return s;
	return NULL;
}

/* describeSubject */
static char *describe_subject(const json_t *s, const char *binding_ns)
{
	const char *kind = vs_json_str_or(s, "kind", ""), *name = vs_json_str_or(s, "name", "");

	if (strcmp(kind, "ServiceAccount") == 0)
		return vs_xasprintf("%s \"%s/%s\"", kind, name,
				    *vs_json_str_or(s, "namespace", "") ? vs_json_str(s, "namespace") : binding_ns);
	return vs_xasprintf("%s \"%s\"", kind, name);
}

/* The rules a binding's roleRef names (borrowed), or NULL with its error added to v->errors. Lock held. */
static const json_t *role_rules_locked(sim_store *st, const json_t *binding, const char *binding_ns, struct visit *v)
{
	const char *kind = vs_json_str_or(binding, "roleRef.kind", ""),
		   *name = vs_json_str_or(binding, "roleRef.name", "");
	bool cluster = strcmp(kind, "ClusterRole") == 0;
	const json_t *role = NULL;
	char *msg;

	if (cluster || strcmp(kind, "Role") == 0)
		role = sim_store_lookup_locked(st, sim_resource_find(RBAC_GROUP, cluster ? "clusterroles" : "roles"),
					       cluster ? "" : binding_ns, name);
	if (role)
		return json_object_get(role, "rules");
	msg = cluster || strcmp(kind, "Role") == 0
		      ? vs_xasprintf("%s.%s \"%s\" not found", cluster ? "clusterrole" : "role", RBAC_GROUP, name)
		      : vs_xasprintf("unsupported role reference kind: \"%s\"", kind);
	json_object_set_new(v->errors, msg, json_true());
	free(msg);
	return NULL;
}

/* Visit the rules of one binding (binding_ns "" for a ClusterRoleBinding); false to stop. Lock held. */
static bool visit_binding_locked(sim_store *st, const json_t *binding, const char *binding_ns, struct visit *v)
{
	const json_t *subject = applying_subject(v->user, binding, binding_ns), *rules, *rule;
	size_t i;

	if (!subject || !(rules = role_rules_locked(st, binding, binding_ns, v)))
		return true;
	json_array_foreach (rules, i, rule) {
		if (v->rules) {
			json_array_append(v->rules, (json_t *)rule);
		} else if (sim_rbac_rule_allows(rule, v->a)) {
			char *who = describe_subject(subject, binding_ns);
			v->allowed = true;
			if (*binding_ns)
				v->reason = vs_xasprintf("RBAC: allowed by RoleBinding \"%s/%s\" of %s \"%s\" to %s",
							 vs_json_str_or(binding, "metadata.name", ""), binding_ns,
							 vs_json_str_or(binding, "roleRef.kind", ""),
							 vs_json_str_or(binding, "roleRef.name", ""), who);
			else
				v->reason =
					vs_xasprintf("RBAC: allowed by ClusterRoleBinding \"%s\" of %s \"%s\" to %s",
						     vs_json_str_or(binding, "metadata.name", ""),
						     vs_json_str_or(binding, "roleRef.kind", ""),
						     vs_json_str_or(binding, "roleRef.name", ""), who);
			free(who);
			return false;
		}
	}
	return true;
}

/* VisitRulesFor: ClusterRoleBindings, then the RoleBindings of ns ("" for none). */
static void visit_rules(sim_store *st, const char *ns, struct visit *v)
{
	const char *key;
	json_t *b;

	pthread_mutex_lock(&st->mu);
	json_object_foreach (sim_store_map_locked(st, sim_resource_find(RBAC_GROUP, "clusterrolebindings")), key, b)
		if (!visit_binding_locked(st, b, "", v))
			goto done;
	if (*ns)
		json_object_foreach (sim_store_map_locked(st, sim_resource_find(RBAC_GROUP, "rolebindings")), key, b)
			if (strcmp(vs_json_str_or(b, "metadata.namespace", ""), ns) == 0 &&
			    !visit_binding_locked(st, b, ns, v))
				goto done;
done:
	pthread_mutex_unlock(&st->mu);
}

/* utilerrors.NewAggregate's text: one message, or "[m1, m2]". Caller frees. */
static char *aggregate(const json_t *errors)
{
	vs_buf b;
	const char *msg;
	json_t *x;

	vs_buf_init(&b, 0);
	json_object_foreach ((json_t *)errors, msg, x)
		vs_buf_printf(&b, "%s%s", b.len ? ", " : "", msg);
	if (json_object_size(errors) > 1) {
		char *s = vs_xasprintf("[%s]", b.data);
		vs_buf_free(&b);
		return s;
	}
	return vs_buf_steal(&b);
}

bool sim_rbac_authorize(sim_store *st, const sim_authz_attrs *a, char **reason)
{
	struct visit v = { .user = a->user, .a = a, .errors = json_object() };

	*reason = NULL;
	visit_rules(st, a->resource_request ? a->ns : "", &v);
	if (v.allowed) {
		*reason = v.reason;
	} else if (json_object_size(v.errors) > 0) {
		char *agg = aggregate(v.errors);
		*reason = vs_xasprintf("RBAC: %s", agg);
		free(agg);
	}
	json_decref(v.errors);
	return v.allowed;
}

/* ---- messages (responsewriters.forbiddenMessage, apierrors.NewForbidden) ----------------------------- */

char *sim_rbac_forbidden_message(const sim_authz_attrs *a, const char *reason)
{
	const char *user = vs_json_str_or(a->user, "username", "");
	char *why, *msg, *res;

	if (!a->resource_request) {
		why = vs_xasprintf("User \"%s\" cannot %s path \"%s\"", user, a->verb, a->path);
		msg = vs_xasprintf("forbidden: %s%s%s", why, reason && *reason ? ": " : "", reason ? reason : "");
		free(why);
		return msg;
	}
	res = *a->subresource ? vs_xasprintf("%s/%s", a->resource, a->subresource) : vs_xstrdup(a->resource);
	if (*a->ns)
		why = vs_xasprintf("User \"%s\" cannot %s resource \"%s\" in API group \"%s\" in the namespace \"%s\"",
				   user, a->verb, res, a->group, a->ns);
	else
		why = vs_xasprintf("User \"%s\" cannot %s resource \"%s\" in API group \"%s\" at the cluster scope",
				   user, a->verb, res, a->group);
	free(res);
	/* the qualified resource is the resource alone, with its group: "deployments.apps" */
	res = *a->group ? vs_xasprintf("%s.%s", a->resource, a->group) : vs_xstrdup(a->resource);
	if (*a->name)
		msg = vs_xasprintf("%s \"%s\" is forbidden: %s%s%s", res, a->name, why, reason && *reason ? ": " : "",
				   reason ? reason : "");
	else
		msg = vs_xasprintf("%s is forbidden: %s%s%s", res, why, reason && *reason ? ": " : "",
				   reason ? reason : "");
	free(res);
	free(why);
	return msg;
}

/* ---- SelfSubjectRulesReview (RulesFor) ---------------------------------------------------------------- */

/* A rule as the review lists it: resource rules and non-resource rules apart. */
static void add_review_rule(json_t *status, const json_t *rule)
{
	json_t *urls = json_object_get(rule, "nonResourceURLs");

	if (json_array_size(urls) > 0) {
		json_array_append_new(
			json_object_get(status, "nonResourceRules"),
			json_pack("{s:O,s:O}", "verbs", json_object_get(rule, "verbs"), "nonResourceURLs", urls));
		return;
	}
	json_t *r = json_pack("{s:O,s:O*,s:O*}", "verbs", json_object_get(rule, "verbs"), "apiGroups",
			      json_object_get(rule, "apiGroups"), "resources", json_object_get(rule, "resources"));
	if (json_array_size(json_object_get(rule, "resourceNames")) > 0)
		json_object_set(r, "resourceNames", json_object_get(rule, "resourceNames"));
	json_array_append_new(json_object_get(status, "resourceRules"), r);
}

json_t *sim_rbac_rules_review(sim_store *st, const json_t *user, const char *ns)
{
	struct visit v = { .user = user, .rules = json_array(), .errors = json_object() };
	json_t *status = json_pack("{s:[],s:[],s:b}", "resourceRules", "nonResourceRules", "incomplete", 0), *rule;
	size_t i;

	/* the privileged-groups authorizer's rules come first for system:masters */
	if (in_groups(user, SIM_GROUP_MASTERS)) {
		json_array_append_new(
			v.rules, json_pack("{s:[s],s:[s],s:[s]}", "verbs", "*", "apiGroups", "*", "resources", "*"));
		json_array_append_new(v.rules, json_pack("{s:[s],s:[s]}", "verbs", "*", "nonResourceURLs", "*"));
	}
	visit_rules(st, ns, &v);
	json_array_foreach (v.rules, i, rule)
		add_review_rule(status, rule);
	if (json_object_size(v.errors) > 0) {
		char *agg = aggregate(v.errors);
		json_object_set_new(status, "incomplete", json_true());
		json_object_set_new(status, "evaluationError", json_string(agg));
		free(agg);
	}
	json_decref(v.rules);
	json_decref(v.errors);
	return status;
}

/* ---- validation (pkg/apis/rbac/validation) ------------------------------------------------------------ */

/* 422 Invalid for obj of res, its field and cause. */
static int invalid(vs_error *err, const sim_resource *res, const json_t *obj, const char *detail)
{
	char *q = sim_kind_qualified(res);

	vs_error_set_api(err, 422, "Invalid", "%s \"%s\" is invalid: %s", q, vs_json_str_or(obj, "metadata.name", ""),
			 detail);
	free(q);
	return VS_EAPI;
}

/* A JSON array of strings as Go's %#v prints a []string: []string{"a", "b"}. Caller frees. */
static char *go_strings(const json_t *arr)
{
	vs_buf b;
	json_t *v;
	size_t i;

	vs_buf_init(&b, 0);
	vs_buf_puts(&b, "[]string{");
	json_array_foreach(arr, i, v)
		vs_buf_printf(&b, "%s\"%s\"", i ? ", " : "", json_string_value(v) ? json_string_value(v) : "");
	vs_buf_puts(&b, "}");
	return vs_buf_steal(&b);
}

/* ValidatePolicyRule: the cause of rule i's refusal, or NULL (caller frees). */
static char *rule_problem(const json_t *rule, size_t i, bool namespaced)
{
	const json_t *urls = json_object_get(rule, "nonResourceURLs");
	bool has_urls = json_array_size(urls) > 0, resources = json_array_size(json_object_get(rule, "apiGroups")) > 0 ||
								   json_array_size(json_object_get(rule, "resources")) > 0;
	char *list, *msg = NULL;

	if (json_array_size(json_object_get(rule, "verbs")) == 0)
		return vs_xasprintf("rules[%zu].verbs: Required value: verbs must contain at least one value", i);
	if (has_urls && (namespaced || resources)) {
		list = go_strings(urls);
		msg = vs_xasprintf("rules[%zu].nonResourceURLs: Invalid value: %s: %s", i, list,
				   namespaced ? "namespaced rules cannot apply to non-resource URLs"
					      : "rules cannot apply to both regular resources and non-resource URLs");
		free(list);
		return msg;
	}
	if (!has_urls && json_array_size(json_object_get(rule, "apiGroups")) == 0)
		return vs_xasprintf("rules[%zu].apiGroups: Required value: resource rules must supply at least one api "
				    "group", i);
	if (!has_urls && json_array_size(json_object_get(rule, "resources")) == 0)
		return vs_xasprintf("rules[%zu].resources: Required value: resource rules must supply at least one "
				    "resource", i);
	return NULL;
}

/* ValidateRoleBinding / ValidateClusterRoleBinding: the cause, or NULL (caller frees). */
static char *binding_problem(const json_t *obj, const json_t *cur, bool cluster)
{
	const char *kind = vs_json_str_or(obj, "roleRef.kind", "");
	const json_t *s;
	size_t i;

	if (cur && !json_equal(json_object_get(cur, "roleRef"), json_object_get(obj, "roleRef")))
		return vs_xstrdup("roleRef: Invalid value: \"roleRef\": cannot change roleRef");
	if (strcmp(vs_json_str_or(obj, "roleRef.apiGroup", ""), RBAC_GROUP) != 0)
		return vs_xasprintf("roleRef.apiGroup: Unsupported value: \"%s\": supported values: \"" RBAC_GROUP "\"",
				    vs_json_str_or(obj, "roleRef.apiGroup", ""));
	if (strcmp(kind, "ClusterRole") != 0 && (cluster || strcmp(kind, "Role") != 0))
		return vs_xasprintf("roleRef.kind: Unsupported value: \"%s\": supported values: %s", kind,
				    cluster ? "\"ClusterRole\"" : "\"ClusterRole\", \"Role\"");
	if (!*vs_json_str_or(obj, "roleRef.name", ""))
		return vs_xstrdup("roleRef.name: Required value");
	json_array_foreach (json_object_get(obj, "subjects"), i, s) {
		const char *k = vs_json_str_or(s, "kind", "");
		if (!*vs_json_str_or(s, "name", ""))
			return vs_xasprintf("subjects[%zu].name: Required value", i);
		if (strcmp(k, "ServiceAccount") != 0 && strcmp(k, "User") != 0 && strcmp(k, "Group") != 0)
			return vs_xasprintf("subjects[%zu].kind: Unsupported value: \"%s\": supported values: "
					    "\"ServiceAccount\", \"User\", \"Group\"",
					    i, k);
		if (strcmp(k, "ServiceAccount") == 0 && cluster && !*vs_json_str_or(s, "namespace", ""))
			return vs_xasprintf("subjects[%zu].namespace: Required value", i);
	}
	return NULL;
}

int sim_rbac_validate(const sim_resource *res, const json_t *cur, const json_t *obj, vs_error *err)
{
	bool role = strcmp(res->plural, "roles") == 0 || strcmp(res->plural, "clusterroles") == 0;
	char *why = NULL;
	const json_t *rule;
	size_t i;
	int rc = 0;

	if (strcmp(res->group, RBAC_GROUP) != 0)
		return 0;
	if (role)
		json_array_foreach (json_object_get(obj, "rules"), i, rule)
			if (!why)
				why = rule_problem(rule, i, res->namespaced);
	if (!role)
		why = binding_problem(obj, cur, !res->namespaced);
	if (why)
		rc = invalid(err, res, obj, why);
	free(why);
	return rc;
}

/* ---- the bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go) ----------------- */

/* The rules of the default roles, as the aggregated roles of a 1.26 cluster hold them. */
static const char bootstrap_roles[] =
	"{\"cluster-admin\": ["
	"  {\"apiGroups\": [\"*\"], \"resources\": [\"*\"], \"verbs\": [\"*\"]},"
	"  {\"nonResourceURLs\": [\"*\"], \"verbs\": [\"*\"]}],"
	" \"view\": ["
	"  {\"apiGroups\": [\"\"], \"resources\": [\"configmaps\", \"endpoints\", \"persistentvolumeclaims\","
	"   \"persistentvolumeclaims/status\", \"pods\", \"replicationcontrollers\", \"replicationcontrollers/scale\","
	"   \"serviceaccounts\", \"services\", \"services/status\", \"bindings\", \"events\", \"limitranges\","
	"   \"namespaces/status\", \"pods/log\", \"pods/status\", \"replicationcontrollers/status\", "
	"\"resourcequotas\","
	"   \"resourcequotas/status\", \"namespaces\"], \"verbs\": [\"get\", \"list\", \"watch\"]},"
	"  {\"apiGroups\": [\"apps\"], \"resources\": [\"controllerrevisions\", \"daemonsets\", \"daemonsets/status\","
	"   \"deployments\", \"deployments/scale\", \"deployments/status\", \"replicasets\", \"replicasets/scale\","
	"   \"replicasets/status\", \"statefulsets\", \"statefulsets/scale\", \"statefulsets/status\"],"
	"   \"verbs\": [\"get\", \"list\", \"watch\"]},"
	"  {\"apiGroups\": [\"batch\"], \"resources\": [\"cronjobs\", \"cronjobs/status\", \"jobs\", \"jobs/status\"],"
	"   \"verbs\": [\"get\", \"list\", \"watch\"]},"
	"  {\"apiGroups\": [\"policy\"], \"resources\": [\"poddisruptionbudgets\", \"poddisruptionbudgets/status\"],"
	"   \"verbs\": [\"get\", \"list\", \"watch\"]}],"
	" \"edit\": ["
	"  {\"apiGroups\": [\"\"], \"resources\": [\"pods/attach\", \"pods/exec\", \"pods/portforward\", "
	"\"pods/proxy\","
	"   \"secrets\", \"services/proxy\"], \"verbs\": [\"get\", \"list\", \"watch\"]},"
	"  {\"apiGroups\": [\"\"], \"resources\": [\"serviceaccounts\"], \"verbs\": [\"impersonate\"]},"
	"  {\"apiGroups\": [\"\"], \"resources\": [\"pods\", \"pods/attach\", \"pods/exec\", \"pods/portforward\","
	"   \"pods/proxy\"], \"verbs\": [\"create\", \"delete\", \"deletecollection\", \"patch\", \"update\"]},"
	"  {\"apiGroups\": [\"\"], \"resources\": [\"pods/eviction\"], \"verbs\": [\"create\"]},"
	"  {\"apiGroups\": [\"\"], \"resources\": [\"configmaps\", \"events\", \"persistentvolumeclaims\","
	"   \"replicationcontrollers\", \"replicationcontrollers/scale\", \"secrets\", \"serviceaccounts\", "
	"\"services\","
	"   \"services/proxy\"], \"verbs\": [\"create\", \"delete\", \"deletecollection\", \"patch\", \"update\"]},"
	"  {\"apiGroups\": [\"\"], \"resources\": [\"serviceaccounts/token\"], \"verbs\": [\"create\"]},"
	"  {\"apiGroups\": [\"apps\"], \"resources\": [\"daemonsets\", \"deployments\", \"deployments/rollback\","
	"   \"deployments/scale\", \"replicasets\", \"replicasets/scale\", \"statefulsets\", \"statefulsets/scale\"],"
	"   \"verbs\": [\"create\", \"delete\", \"deletecollection\", \"patch\", \"update\"]},"
	"  {\"apiGroups\": [\"batch\"], \"resources\": [\"cronjobs\", \"jobs\"],"
	"   \"verbs\": [\"create\", \"delete\", \"deletecollection\", \"patch\", \"update\"]},"
	"  {\"apiGroups\": [\"policy\"], \"resources\": [\"poddisruptionbudgets\"],"
	"   \"verbs\": [\"create\", \"delete\", \"deletecollection\", \"patch\", \"update\"]},"
	"  {\"apiGroups\": [\"coordination.k8s.io\"], \"resources\": [\"leases\"],"
	"   \"verbs\": [\"create\", \"delete\", \"deletecollection\", \"get\", \"list\", \"patch\", \"update\", "
	"\"watch\"]}],"
	" \"admin\": ["
	"  {\"apiGroups\": [\"authorization.k8s.io\"], \"resources\": [\"localsubjectaccessreviews\"],"
	"   \"verbs\": [\"create\"]},"
	"  {\"apiGroups\": [\"" RBAC_GROUP "\"], \"resources\": [\"rolebindings\", \"roles\"],"
	"   \"verbs\": [\"create\", \"delete\", \"deletecollection\", \"get\", \"list\", \"patch\", \"update\", "
	"\"watch\"]}],"
	" \"system:discovery\": ["
	"  {\"nonResourceURLs\": [\"/api\", \"/api/*\", \"/apis\", \"/apis/*\", \"/healthz\", \"/livez\", \"/openapi\","
	"   \"/openapi/*\", \"/readyz\", \"/version\", \"/version/\"], \"verbs\": [\"get\"]}],"
	" \"system:basic-user\": ["
	"  {\"apiGroups\": [\"authorization.k8s.io\"], \"resources\": [\"selfsubjectaccessreviews\","
	"   \"selfsubjectrulesreviews\"], \"verbs\": [\"create\"]}],"
	" \"system:public-info-viewer\": ["
	"  {\"nonResourceURLs\": [\"/healthz\", \"/livez\", \"/readyz\", \"/version\", \"/version/\"],"
	"   \"verbs\": [\"get\"]}]}";

/* Each role gets the rules of those it aggregates, as the clusterrole-aggregation controller does:
 * edit holds view's, admin holds edit's. */
static const char *const aggregates[][2] = { { "edit", "view" }, { "admin", "edit" } };

/* The ClusterRoleBindings of the bootstrap policy: binding (= role) and the groups it binds. */
static const char *const bootstrap_bindings[][3] = {
	{ "cluster-admin", SIM_GROUP_MASTERS, NULL },
	{ "system:discovery", SIM_GROUP_AUTHENTICATED, NULL },
	{ "system:basic-user", SIM_GROUP_AUTHENTICATED, NULL },
	{ "system:public-info-viewer", SIM_GROUP_AUTHENTICATED, SIM_GROUP_UNAUTHENTICATED },
};

/* The metadata of a bootstrap object (labels and annotation of kube-apiserver's). */
static json_t *bootstrap_meta(const char *name)
{
	return json_pack("{s:s,s:{s:s},s:{s:s}}", "name", name, "labels", "kubernetes.io/bootstrapping",
			 "rbac-defaults", "annotations", "rbac.authorization.kubernetes.io/autoupdate", "true");
}

int sim_rbac_bootstrap(sim_store *st, vs_error *err)
{
	json_t *roles = json_loads(bootstrap_roles, 0, NULL), *rules;
	const char *name;
	int rc = 0;

	assert(roles);
	for (size_t i = 0; i < sizeof(aggregates) / sizeof(aggregates[0]); i++)
		json_array_extend(json_object_get(roles, aggregates[i][0]), json_object_get(roles, aggregates[i][1]));
	json_object_foreach (roles, name, rules) {
		if (rc == 0)
			rc = sim_api_create_absent(st, RBAC_GROUP, "clusterroles", NULL,
					 json_pack("{s:o,s:O}", "metadata", bootstrap_meta(name), "rules", rules), err);
	}
	for (size_t i = 0; rc == 0 && i < sizeof(bootstrap_bindings) / sizeof(bootstrap_bindings[0]); i++) {
		json_t *subjects = json_array();
		for (size_t g = 1; g < 3 && bootstrap_bindings[i][g]; g++)
			json_array_append_new(subjects, json_pack("{s:s,s:s,s:s}", "apiGroup", RBAC_GROUP, "kind",
								  "Group", "name", bootstrap_bindings[i][g]));
		rc = sim_api_create_absent(st, RBAC_GROUP, "clusterrolebindings", NULL,
				 json_pack("{s:o,s:{s:s,s:s,s:s},s:o}", "metadata",
					   bootstrap_meta(bootstrap_bindings[i][0]), "roleRef", "apiGroup", RBAC_GROUP,
					   "kind", "ClusterRole", "name", bootstrap_bindings[i][0], "subjects",
					   subjects),
				 err);
	}
	json_decref(roles);
	return rc;
}
