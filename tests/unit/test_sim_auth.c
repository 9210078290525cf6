/*
 * Unit tests of volshift-sim's security (sim/auth.h): request attributes, RBAC rule matching and
 * the authorizer on stored roles and bindings, the refusal messages, service-account token signing
 * and verification, the Authorization header, and authentication end to end on a store.
 */
#include "../../sim/auth.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The attributes of METHOD PATH for user (borrowed), as the filters compute them. */
static sim_authz_attrs attrs(const char *method, const char *path, const char *watch, const char *fs, const json_t *user)
{
	sim_authz_attrs a = { 0 };

	sim_authz_attrs_parse(&a, method, path, watch, fs);
	a.user = user;
	return a;
}

static void test_request_attributes(void **state)
{
	sim_authz_attrs a;

	(void)state;
	a = attrs("GET", "/api/v1/namespaces/ns/pods", NULL, NULL, NULL);
	assert_true(a.resource_request);
	assert_string_equal(a.verb, "list");
	assert_string_equal(a.ns, "ns");
	assert_string_equal(a.resource, "pods");
	assert_string_equal(a.name, "");
	sim_authz_attrs_clear(&a);
	a = attrs("GET", "/api/v1/namespaces/ns/pods", "true", "metadata.name=p", NULL);
	assert_string_equal(a.verb, "watch");
	assert_string_equal(a.name, "p");
	sim_authz_attrs_clear(&a);
	a = attrs("PUT", "/apis/apps/v1/namespaces/ns/deployments/d/scale", NULL, NULL, NULL);
	assert_string_equal(a.verb, "update");
	assert_string_equal(a.group, "apps");
	assert_string_equal(a.resource, "deployments");
	assert_string_equal(a.name, "d");
	assert_string_equal(a.subresource, "scale");
	sim_authz_attrs_clear(&a);
	a = attrs("DELETE", "/api/v1/namespaces/ns/configmaps", NULL, NULL, NULL);
	assert_string_equal(a.verb, "deletecollection");
	sim_authz_attrs_clear(&a);
	a = attrs("GET", "/api/v1/namespaces/ns", NULL, NULL, NULL);
	assert_string_equal(a.verb, "get");
	assert_string_equal(a.resource, "namespaces");
	assert_string_equal(a.name, "ns");
	assert_string_equal(a.ns, "ns");
	sim_authz_attrs_clear(&a);
	a = attrs("GET", "/api/v1/nodes", NULL, NULL, NULL);
	assert_string_equal(a.ns, "");
	sim_authz_attrs_clear(&a);
	a = attrs("GET", "/healthz", NULL, NULL, NULL);
	assert_false(a.resource_request);
	assert_string_equal(a.verb, "get");
	assert_string_equal(a.path, "/healthz");
	sim_authz_attrs_clear(&a);
}

/* allows(RULE_JSON, METHOD, PATH): sim_rbac_rule_allows for that request. */
static bool allows(const char *rule_json, const char *method, const char *path)
{
	json_t *rule = json_loads(rule_json, 0, NULL);
	sim_authz_attrs a = attrs(method, path, NULL, NULL, NULL);
	bool ok;

	assert_non_null(rule);
	ok = sim_rbac_rule_allows(rule, &a);
	sim_authz_attrs_clear(&a);
	json_decref(rule);
	return ok;
}

static void test_rule_matching(void **state)
{
	const char *pods = "{\"apiGroups\": [\"\"], \"resources\": [\"pods\"], \"verbs\": [\"get\", \"list\"]}";

	(void)state;
	assert_true(allows(pods, "GET", "/api/v1/namespaces/a/pods"));
	assert_true(allows(pods, "GET", "/api/v1/namespaces/a/pods/p"));
	assert_false(allows(pods, "DELETE", "/api/v1/namespaces/a/pods/p"));
	assert_false(allows(pods, "GET", "/api/v1/namespaces/a/pods/p/log"));       /* a subresource is its own */
	assert_false(allows(pods, "GET", "/apis/apps/v1/namespaces/a/deployments")); /* another group */
	assert_true(allows("{\"apiGroups\": [\"\"], \"resources\": [\"pods/log\"], \"verbs\": [\"get\"]}", "GET",
			   "/api/v1/namespaces/a/pods/p/log"));
	assert_true(allows("{\"apiGroups\": [\"*\"], \"resources\": [\"*/scale\"], \"verbs\": [\"update\"]}", "PUT",
			   "/apis/apps/v1/namespaces/a/statefulsets/s/scale"));
	assert_false(allows("{\"apiGroups\": [\"*\"], \"resources\": [\"*/scale\"], \"verbs\": [\"update\"]}", "PUT",
			    "/apis/apps/v1/namespaces/a/statefulsets/s"));
	assert_true(allows("{\"apiGroups\": [\"*\"], \"resources\": [\"*\"], \"verbs\": [\"*\"]}", "DELETE",
			   "/apis/apps/v1/namespaces/a/statefulsets/s/status"));
	assert_true(allows("{\"apiGroups\": [\"\"], \"resources\": [\"configmaps\"], \"resourceNames\": [\"c\"], "
			   "\"verbs\": [\"get\"]}",
			   "GET", "/api/v1/namespaces/a/configmaps/c"));
	assert_false(allows("{\"apiGroups\": [\"\"], \"resources\": [\"configmaps\"], \"resourceNames\": [\"c\"], "
			    "\"verbs\": [\"get\", \"list\"]}",
			    "GET", "/api/v1/namespaces/a/configmaps")); /* a list names nothing */
	assert_true(allows("{\"nonResourceURLs\": [\"/debug/*\"], \"verbs\": [\"get\"]}", "GET", "/debug/pprof"));
	assert_false(allows("{\"nonResourceURLs\": [\"/debug/*\"], \"verbs\": [\"get\"]}", "GET", "/metrics"));
	assert_false(allows("{\"nonResourceURLs\": [\"/debug/*\"], \"verbs\": [\"get\"]}", "POST", "/debug/x"));
	assert_false(allows("{\"nonResourceURLs\": [\"*\"], \"verbs\": [\"get\"]}", "GET", "/api/v1/nodes"));
}

static void test_forbidden_messages(void **state)
{
	json_t *user = json_pack("{s:s}", "username", "system:serviceaccount:ns:sa");
	struct {
		const char *method, *path, *want;
	} cases[] = {
		{ "DELETE", "/api/v1/namespaces/ns/persistentvolumeclaims/data",
		  "persistentvolumeclaims \"data\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot delete "
		  "resource \"persistentvolumeclaims\" in API group \"\" in the namespace \"ns\"" },
		{ "POST", "/apis/apps/v1/namespaces/ns/deployments",
		  "deployments.apps is forbidden: User \"system:serviceaccount:ns:sa\" cannot create resource "
		  "\"deployments\" in API group \"apps\" in the namespace \"ns\"" },
		{ "GET", "/api/v1/nodes",
		  "nodes is forbidden: User \"system:serviceaccount:ns:sa\" cannot list resource \"nodes\" in API group "
		  "\"\" at the cluster scope" },
		{ "PATCH", "/apis/apps/v1/namespaces/ns/statefulsets/s/scale",
		  "statefulsets.apps \"s\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot patch resource "
		  "\"statefulsets/scale\" in API group \"apps\" in the namespace \"ns\"" },
		{ "GET", "/logs", "forbidden: User \"system:serviceaccount:ns:sa\" cannot get path \"/logs\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sim_authz_attrs a = attrs(cases[i].method, cases[i].path, NULL, NULL, user);
		char *msg = sim_rbac_forbidden_message(&a, NULL);
		assert_string_equal(msg, cases[i].want);
		free(msg);
		sim_authz_attrs_clear(&a);
	}
	json_decref(user);
}

/* A store with the bootstrap policy and one namespace. */
static int store_setup(void **state)
{
	sim_store *st = sim_store_new();
	vs_error err = { 0 };

	if (sim_api_bootstrap(st, 1, NULL, &err) != 0 || sim_rbac_bootstrap(st, &err) != 0) {
		fprintf(stderr, "%s\n", err.message);
		return -1;
	}
	*state = st;
	return 0;
}

static int store_teardown(void **state)
{
	sim_store_shutdown(*state);
	sim_store_free(*state);
	return 0;
}

static void create(sim_store *st, const char *plural, const char *ns, const char *json)
{
	json_t *obj = json_loads(json, 0, NULL);
	vs_error err = { 0 };
	int rc;

	assert_non_null(obj);
	rc = sim_api_create(st, sim_resource_find(strchr(plural, '.') ? "rbac.authorization.k8s.io" : "",
						  strchr(plural, '.') ? strchr(plural, '.') + 1 : plural),
			    ns, obj, NULL, &err);
	if (rc != 0)
		fail_msg("create %s: %s", plural, err.message);
	json_decref(obj);
}

static bool authorized(sim_store *st, const json_t *user, const char *method, const char *path, char **reason)
{
	sim_authz_attrs a = attrs(method, path, NULL, NULL, user);
	bool ok = sim_rbac_authorize(st, &a, reason);

	sim_authz_attrs_clear(&a);
	return ok;
}

static void test_authorizer(void **state)
{
	sim_store *st = *state;
	json_t *sa = json_pack("{s:s,s:[sss]}", "username", "system:serviceaccount:ns:sa", "groups", "system:serviceaccounts",
			       "system:serviceaccounts:ns", "system:authenticated");
	json_t *other = json_pack("{s:s,s:[s]}", "username", "jane", "groups", "system:authenticated");
	char *reason = NULL;

	create(st, "namespaces", NULL, "{\"metadata\": {\"name\": \"ns\"}}");
	create(st, "rbac.roles", "ns",
	       "{\"metadata\": {\"name\": \"r\"}, \"rules\": [{\"apiGroups\": [\"\"], \"resources\": [\"secrets\"], "
	       "\"verbs\": [\"get\"]}]}");
	create(st, "rbac.rolebindings", "ns",
	       "{\"metadata\": {\"name\": \"b\"}, \"roleRef\": {\"apiGroup\": \"rbac.authorization.k8s.io\", \"kind\": "
	       "\"Role\", \"name\": \"r\"}, \"subjects\": [{\"kind\": \"ServiceAccount\", \"name\": \"sa\"}]}");
	create(st, "rbac.rolebindings", "ns",
	       "{\"metadata\": {\"name\": \"view\"}, \"roleRef\": {\"apiGroup\": \"rbac.authorization.k8s.io\", \"kind\": "
	       "\"ClusterRole\", \"name\": \"view\"}, \"subjects\": [{\"kind\": \"Group\", \"name\": "
	       "\"system:serviceaccounts:ns\"}]}");
	create(st, "rbac.rolebindings", "ns",
	       "{\"metadata\": {\"name\": \"gone\"}, \"roleRef\": {\"apiGroup\": \"rbac.authorization.k8s.io\", \"kind\": "
	       "\"ClusterRole\", \"name\": \"gone\"}, \"subjects\": [{\"kind\": \"User\", \"name\": \"jane\"}]}");

	assert_true(authorized(st, sa, "GET", "/api/v1/namespaces/ns/secrets/s", &reason)); /* ServiceAccount subject */
	assert_non_null(strstr(reason, "RoleBinding \"b/ns\" of Role \"r\" to ServiceAccount \"sa/ns\""));
	free(reason);
	assert_true(authorized(st, sa, "GET", "/api/v1/namespaces/ns/pods", &reason)); /* group, ClusterRole view */
	free(reason);
	assert_false(authorized(st, sa, "GET", "/api/v1/namespaces/default/pods", &reason)); /* bound in ns only */
	assert_null(reason);
	assert_false(authorized(st, sa, "GET", "/api/v1/namespaces/ns/secrets", &reason)); /* view has no secrets */
	assert_true(authorized(st, sa, "GET", "/apis", &reason));                           /* system:discovery */
	free(reason);
	assert_false(authorized(st, other, "GET", "/api/v1/namespaces/ns/pods", &reason));
	assert_string_equal(reason, "RBAC: clusterrole.rbac.authorization.k8s.io \"gone\" not found");
	free(reason);
	json_decref(sa);
	json_decref(other);
}

static void test_rbac_validation(void **state)
{
	const sim_resource *roles = sim_resource_find("rbac.authorization.k8s.io", "roles");
	const sim_resource *crb = sim_resource_find("rbac.authorization.k8s.io", "clusterrolebindings");
	json_t *role = json_loads("{\"metadata\": {\"name\": \"r\"}, \"rules\": [{\"apiGroups\": [\"\"], \"resources\": "
				  "[\"pods\"], \"verbs\": []}]}",
				  0, NULL);
	json_t *b1 = json_loads("{\"metadata\": {\"name\": \"b\"}, \"roleRef\": {\"apiGroup\": \"rbac.authorization.k8s.io\", "
				"\"kind\": \"ClusterRole\", \"name\": \"x\"}}",
				0, NULL);
	json_t *b2 = json_deep_copy(b1);
	vs_error err = { 0 };

	(void)state;
	assert_int_equal(sim_rbac_validate(roles, NULL, role, &err), VS_EAPI);
	assert_string_equal(err.message, "Role.rbac.authorization.k8s.io \"r\" is invalid: rules[0].verbs: Required "
					 "value: verbs must contain at least one value");
	assert_int_equal(sim_rbac_validate(crb, NULL, b1, &err), 0);
	json_object_set_new(json_object_get(b2, "roleRef"), "name", json_string("y"));
	assert_int_equal(sim_rbac_validate(crb, b1, b2, &err), VS_EAPI);
	assert_non_null(strstr(err.message, "cannot change roleRef"));
	json_object_set_new(json_object_get(b2, "roleRef"), "kind", json_string("Role"));
	assert_int_equal(sim_rbac_validate(crb, NULL, b2, &err), VS_EAPI);
	assert_non_null(strstr(err.message, "roleRef.kind: Unsupported value: \"Role\""));
	json_decref(role);
	json_decref(b1);
	json_decref(b2);
}

static void test_jwt_sign_and_verify(void **state)
{
	sim_jwt_key *key = NULL, *other = NULL;
	json_t *claims = json_pack("{s:s,s:i}", "sub", "system:serviceaccount:ns:sa", "exp", 4000000000), *got = NULL;
	char *tok = NULL, *bad;
	vs_error err = { 0 };

	(void)state;
	assert_int_equal(sim_jwt_key_new(&key, &err), 0);
	assert_int_equal(sim_jwt_key_new(&other, &err), 0);
	assert_int_equal(sim_jwt_sign(key, claims, &tok, &err), 0);
	assert_int_equal(sim_jwt_verify(key, tok, &got, &err), 0);
	assert_true(json_equal(got, claims));
	json_decref(got);
	assert_int_equal(sim_jwt_verify(other, tok, &got, &err), VS_EINVAL); /* another key */
	assert_null(got);
	bad = vs_xstrdup(tok);
	bad[strchr(bad, '.') - bad + 3] ^= 1; /* a changed payload */
	assert_int_equal(sim_jwt_verify(key, bad, &got, &err), VS_EINVAL);
	free(bad);
	/* alg "none", with the signature dropped */
	bad = vs_xasprintf("eyJhbGciOiJub25lIn0.%s", strchr(tok, '.') + 1);
	*strrchr(bad, '.') = '\0';
	strcat(bad, ".");
	assert_int_equal(sim_jwt_verify(key, bad, &got, &err), VS_EINVAL);
	free(bad);
	assert_int_equal(sim_jwt_verify(key, "a.b", &got, &err), VS_EINVAL);
	assert_int_equal(sim_jwt_verify(key, "a.b.c.d", &got, &err), VS_EINVAL);
	assert_int_equal(sim_jwt_verify(key, "!!.??.**", &got, &err), VS_EINVAL);
	free(tok);
	json_decref(claims);
	sim_jwt_key_free(key);
	sim_jwt_key_free(other);
}

static void test_bearer_header(void **state)
{
	size_t n;
	const char *t;

	(void)state;
	t = sim_auth_bearer("Bearer abc.def", &n);
	assert_non_null(t);
	assert_int_equal(n, 7);
	assert_memory_equal(t, "abc.def", 7);
	t = sim_auth_bearer("bearer  tok extra", &n);
	assert_int_equal(n, 3);
	assert_memory_equal(t, "tok", 3);
	assert_null(sim_auth_bearer("Basic dXNlcjpwYXNz", &n));
	assert_null(sim_auth_bearer("Bearer ", &n));
	assert_null(sim_auth_bearer(NULL, &n));
}

/* check(auth, METHOD, PATH, AUTHORIZATION): sim_auth_check's code; *user set when allowed. */
static int check(sim_auth *auth, const char *method, const char *path, const char *authorization, vs_error *err,
		 json_t **user)
{
	sim_auth_request req = { .method = method, .path = path, .authorization = authorization };

	return sim_auth_check(auth, &req, user, NULL, err);
}

static void test_authentication(void **state)
{
	sim_store *st = *state;
	sim_auth *auth = NULL;
	sim_auth_opts opts = { 0 };
	vs_error err = { 0 };
	json_t *user = NULL;
	char *tok = NULL, *hdr;
	int64_t exp;

	assert_int_equal(sim_auth_new(st, &opts, &auth, &err), 0);
	create(st, "namespaces", NULL, "{\"metadata\": {\"name\": \"ns\"}}");
	create(st, "serviceaccounts", "ns", "{\"metadata\": {\"name\": \"sa\"}}");
	/* anonymous: the health endpoints only */
	assert_int_equal(check(auth, "GET", "/healthz", NULL, &err, &user), 0);
	assert_string_equal(vs_json_str(user, "username"), "system:anonymous");
	json_decref(user);
	assert_int_equal(check(auth, "GET", "/api/v1/pods", NULL, &err, &user), VS_EAPI);
	assert_int_equal(err.http_status, 401);
	/* the static token */
	hdr = vs_xasprintf("Bearer %s", sim_auth_admin_token(auth));
	assert_int_equal(check(auth, "DELETE", "/api/v1/nodes/n", hdr, &err, &user), 0);
	assert_string_equal(vs_json_str(user, "username"), "admin");
	json_decref(user);
	free(hdr);
	/* a service-account token: authenticated, then refused by RBAC with the message */
	assert_int_equal(sim_auth_issue_token(auth, "ns", "sa", NULL, 600, NULL, &tok, &exp, &err), 0);
	hdr = vs_xasprintf("Bearer %s", tok);
	assert_int_equal(check(auth, "GET", "/api/v1/namespaces/ns/pods", hdr, &err, &user), VS_EAPI);
	assert_int_equal(err.http_status, 403);
	assert_string_equal(err.message, "pods is forbidden: User \"system:serviceaccount:ns:sa\" cannot list resource "
					 "\"pods\" in API group \"\" in the namespace \"ns\"");
	assert_int_equal(check(auth, "GET", "/version", hdr, &err, &user), 0);
	assert_true(vs_json_array_has_str(json_object_get(user, "groups"), "system:serviceaccounts:ns"));
	json_decref(user);
	/* its ServiceAccount gone: 401 */
	assert_int_equal(sim_api_delete(st, sim_resource_find("", "serviceaccounts"), "ns", "sa", NULL, NULL, NULL, &err), 0);
	assert_int_equal(check(auth, "GET", "/version", hdr, &err, &user), VS_EAPI);
	assert_int_equal(err.http_status, 401);
	free(hdr);
	free(tok);
	sim_auth_free(auth);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_attributes),
		cmocka_unit_test(test_rule_matching),
		cmocka_unit_test(test_forbidden_messages),
		cmocka_unit_test_setup_teardown(test_authorizer, store_setup, store_teardown),
		cmocka_unit_test(test_rbac_validation),
		cmocka_unit_test(test_jwt_sign_and_verify),
		cmocka_unit_test(test_bearer_header),
		cmocka_unit_test_setup_teardown(test_authentication, store_setup, store_teardown),
	};

	vs_log_set_level(VS_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
