/*
 * auth: who a request of volshift-sim comes from and whether it may do what it asks, as
 * kube-apiserver's authentication and authorization filters decide it (a client certificate of the
 * cluster's CA, a static token, a service-account token, else anonymous, which only the health and
 * version endpoints accept; then system:masters, else RBAC), and the API objects that are answers
 * rather than stored objects: TokenRequest (serviceaccounts/NAME/token), SelfSubjectAccessReview
 * and SelfSubjectRulesReview. A refused request gets kube-apiserver's own Status: 401 Unauthorized,
 * or 403 Forbidden with its message, so that kubectl and volshift see what a real cluster says.
 */
#include "auth.h"
#include "api_int.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The issuer and the API audience of service-account tokens (kube-apiserver's defaults in kubeadm). */
#define SA_ISSUER	      "https://kubernetes.default.svc.cluster.local"
#define TOKEN_MIN_SECONDS     600
#define TOKEN_DEFAULT_SECONDS 3600
#define TOKEN_MAX_SECONDS     (1LL << 32)
/* A pod's token of the legacy lifetime (an hour and 7 s) is extended to a year (token.ExpirationExtensionSeconds). */
#define TOKEN_LEGACY_SECONDS   3607
#define TOKEN_EXTENDED_SECONDS (24LL * 365 * 3600)

struct sim_auth {
	sim_store *st;
	bool insecure;
	char *admin_token;
	sim_jwt_key *key;
};

/* ---- the Authorization header --------------------------------------------------------------------- */

const char *sim_auth_bearer(const char *header, size_t *len)
{
	const char *p;

	*len = 0;
	if (!header)
		return NULL;
	while (*header == ' ')
		header++;
	if (strncasecmp(header, "bearer ", 7) != 0)
		return NULL;
	for (p = header + 7; *p == ' '; p++)
		;
	*len = strcspn(p, " ");
	return *len ? p : NULL;
}

/* ---- the authenticator ---------------------------------------------------------------------------- */

/* 32 random bytes as hex: a static token no one guesses. */
static char *random_token(void)
{
	unsigned char raw[32];
	char *hex = vs_xmalloc(2 * sizeof(raw) + 1);

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		abort(); /* no randomness: nothing here could be trusted */
	for (size_t i = 0; i < sizeof(raw); i++)
		sprintf(hex + 2 * i, "%02x", raw[i]);
	return hex;
}

const char *sim_auth_admin_token(const sim_auth *auth)
{
	return auth->admin_token;
}

int sim_auth_new(sim_store *st, const sim_auth_opts *opts, sim_auth **out, vs_error *err)
{
	sim_auth *auth = vs_xcalloc(1, sizeof(*auth));
	int rc = sim_jwt_key_new(&auth->key, err);

	*out = NULL;
	auth->st = st;
	auth->insecure = opts->insecure;
	auth->admin_token = random_token();
	if (rc == 0 && opts->key_dir)
		rc = sim_jwt_key_write(auth->key, opts->key_dir, err);
	if (rc != 0) {
		sim_auth_free(auth);
		return rc;
	}
	*out = auth;
	return 0;
}

void sim_auth_free(sim_auth *auth)
{
	if (!auth)
		return;
	sim_jwt_key_free(auth->key);
	free(auth->admin_token);
	free(auth);
}

/* A UserInfo with its groups (NULL-terminated); system:authenticated added for anyone but anonymous. */
static json_t *user_new(const char *name, const char *uid, const char *const *groups)
{
	json_t *u = json_pack("{s:s,s:[]}", "username", name, "groups");
	json_t *g = json_object_get(u, "groups");

	for (; groups && *groups; groups++)
		json_array_append_new(g, json_string(*groups));
	if (strcmp(name, SIM_USER_ANONYMOUS) != 0)
		json_array_append_new(g, json_string(SIM_GROUP_AUTHENTICATED));
	if (uid)
		json_object_set_new(u, "uid", json_string(uid));
	return u;
}

/* The object a token's claims name (kubernetes.io.serviceaccount or .pod) still exists with that uid. */
static bool claim_object_exists(sim_store *st, const char *resource, const char *ns, const json_t *ref)
{
	const char *name = vs_json_str_or(ref, "name", ""), *uid = vs_json_str_or(ref, "uid", "");
	const json_t *obj;
	bool ok;

	pthread_mutex_lock(&st->mu);
	obj = sim_store_lookup_locked(st, sim_resource_find("", resource), ns, name);
	ok = obj && strcmp(vs_json_str_or(obj, "metadata.uid", ""), uid) == 0;
	pthread_mutex_unlock(&st->mu);
	return ok;
}

/* True when the claim aud (a string or an array) holds the API's audience. */
static bool audience_ok(const json_t *aud)
{
	return json_is_string(aud) ? strcmp(json_string_value(aud), SA_ISSUER) == 0
				   : vs_json_array_has_str(aud, SA_ISSUER);
}

/* The user of a service-account token (pkg/serviceaccount: JWTTokenAuthenticator and its validator):
 * issuer, audience, expiry, and the ServiceAccount (and pod) it was issued for, as they are now. */
static int token_user(sim_auth *auth, const char *token, json_t **user, vs_error *err)
{
	json_t *claims = NULL, *k8s;
	const char *ns, *sa, *sa_uid;
	int64_t now = vs_time_now();
	int rc = sim_jwt_verify(auth->key, token, &claims, err);

	if (rc != 0)
		goto done;
	k8s = json_object_get(claims, "kubernetes.io");
	ns = vs_json_str_or(k8s, "namespace", "");
	sa = vs_json_str_or(k8s, "serviceaccount.name", "");
	sa_uid = vs_json_str_or(k8s, "serviceaccount.uid", "");
	if (strcmp(vs_json_str_or(claims, "iss", ""), SA_ISSUER) != 0 || !audience_ok(json_object_get(claims, "aud")))
		rc = vs_error_set(err, VS_EINVAL, "token: not issued for this API server");
	else if (vs_json_int(claims, "exp", 0) <= now || vs_json_int(claims, "nbf", 0) > now)
		rc = vs_error_set(err, VS_EINVAL, "token: expired or not yet valid");
	else if (!*ns || !*sa ||
		 !claim_object_exists(auth->st, "serviceaccounts", ns, json_object_get(k8s, "serviceaccount")))
		rc = vs_error_set(err, VS_EINVAL, "token: service account %s/%s has been deleted", ns, sa);
	else if (json_object_get(k8s, "pod") && !claim_object_exists(auth->st, "pods", ns, json_object_get(k8s, "pod")))
		rc = vs_error_set(err, VS_EINVAL, "token: the pod it was bound to has been deleted");
	if (rc == 0) {
		char *name = vs_xasprintf(SIM_SA_PREFIX "%s:%s", ns, sa),
		     *nsgroup = vs_xasprintf(SIM_GROUP_SERVICEACCOUNTS ":%s", ns);
		const char *groups[] = { SIM_GROUP_SERVICEACCOUNTS, nsgroup, NULL };
		*user = user_new(name, sa_uid, groups);
		free(name);
		free(nsgroup);
	}
done:
	json_decref(claims);
	return rc;
}

/* The user of a request's credentials; 0 with *user NULL when it has none (anonymous). */
static int authenticate(sim_auth *auth, const sim_auth_request *req, json_t **user, vs_error *err)
{
	static const char *const masters[] = { SIM_GROUP_MASTERS, NULL };
	size_t len;
	const char *bearer = sim_auth_bearer(req->authorization, &len);
	char *token;
	int rc;

	*user = NULL;
	if (auth->insecure) {
		*user = user_new("system:unsecured", NULL, masters);
		return 0;
	}
	if ((rc = sim_tls_client_user(req->tls_session, user, err)) != 0 || *user) {
		if (*user)
			json_array_append_new(json_object_get(*user, "groups"), json_string(SIM_GROUP_AUTHENTICATED));
		return rc;
	}
	if (!bearer)
		return 0;
	token = vs_xstrndup(bearer, len);
	if (strcmp(token, auth->admin_token) == 0)
		*user = user_new("admin", NULL, masters);
	else
		rc = token_user(auth, token, user, err);
	free(token);
	return rc;
}

/* The paths kube-apiserver's system:public-info-viewer role opens to anyone. */
static bool public_path(const char *path)
{
	static const char *const paths[] = { "/healthz", "/livez", "/readyz", "/version", "/version/", NULL };

	for (const char *const *p = paths; *p; p++)
		if (strcmp(path, *p) == 0)
			return true;
	return false;
}

static bool is_master(const json_t *user)
{
	return vs_json_array_has_str(json_object_get(user, "groups"), SIM_GROUP_MASTERS);
}

/* system:masters, else RBAC: true when a may be done; else *reason as sim_rbac_authorize says it. */
static bool authorize(sim_auth *auth, const sim_authz_attrs *a, char **reason)
{
	*reason = NULL;
	return is_master(a->user) || sim_rbac_authorize(auth->st, a, reason);
}

/* The details of a 403 (apierrors.NewForbidden): the name, group and resource, where there are. */
static json_t *forbidden_details(const sim_authz_attrs *a)
{
	json_t *d = json_object();

	if (*a->name)
		json_object_set_new(d, "name", json_string(a->name));
	if (*a->group)
		json_object_set_new(d, "group", json_string(a->group));
	if (*a->resource)
		json_object_set_new(d, "kind", json_string(a->resource));
	return d;
}

/* The 403 of a refused a, logged; *details (details may be NULL) the Status's details. */
static int forbidden(const sim_authz_attrs *a, const char *reason, json_t **details, vs_error *err)
{
	char *msg = sim_rbac_forbidden_message(a, reason);
	int rc = vs_error_set_api(err, 403, "Forbidden", "%s", msg);

	vs_info("auth: %s %s: 403: %s", a->verb, a->path, msg);
	free(msg);
	if (details)
		*details = forbidden_details(a);
	return rc;
}

/* May *u impersonate resource ("users", "groups" or "serviceaccounts") name (in ns)? As
 * kube-apiserver's WithImpersonation asks its authorizer. */
static int may_impersonate(sim_auth *auth, const json_t *u, const char *resource, const char *ns, const char *name,
			   json_t **details, vs_error *err)
{
	sim_authz_attrs a = { 0 };
	char *reason = NULL;
	int rc = 0;

	sim_authz_attrs_parse(&a, "IMPERSONATE", "/", NULL, NULL);
	a.user = u;
	a.resource_request = true;
	free(a.resource), free(a.name), free(a.ns);
	a.resource = vs_xstrdup(resource), a.name = vs_xstrdup(name), a.ns = vs_xstrdup(ns);
	if (!authorize(auth, &a, &reason))
		rc = forbidden(&a, reason, details, err);
	free(reason);
	sim_authz_attrs_clear(&a);
	return rc;
}

/* Impersonate-User and Impersonate-Group: *u becomes that user, with those groups (a service
 * account without groups gets its own), when it may impersonate each. */
static int impersonate(sim_auth *auth, const sim_auth_request *req, json_t **u, json_t **details, vs_error *err)
{
	const char *name = req->impersonate_user, *sa = NULL, *groups[SIM_IMPERSONATE_GROUPS_MAX + 3] = { NULL };
	char *ns = NULL, *nsgroup = NULL;
	size_t n = 0;
	int rc;

	if (vs_str_has_prefix(name, SIM_SA_PREFIX) && (sa = strchr(name + strlen(SIM_SA_PREFIX), ':')) != NULL) {
		ns = vs_xstrndup(name + strlen(SIM_SA_PREFIX), (size_t)(sa - name - strlen(SIM_SA_PREFIX)));
		rc = may_impersonate(auth, *u, "serviceaccounts", ns, sa + 1, details, err);
	} else {
		rc = may_impersonate(auth, *u, "users", "", name, details, err);
	}
	for (const char *const *g = req->impersonate_groups; rc == 0 && g && *g && n < SIM_IMPERSONATE_GROUPS_MAX; g++) {
		rc = may_impersonate(auth, *u, "groups", "", *g, details, err);
		groups[n++] = *g;
	}
	if (rc == 0 && n == 0 && sa) {
		nsgroup = vs_xasprintf(SIM_GROUP_SERVICEACCOUNTS ":%s", ns);
		groups[n++] = SIM_GROUP_SERVICEACCOUNTS;
		groups[n++] = nsgroup;
	}
	if (rc == 0) {
		json_decref(*u);
		*u = user_new(name, NULL, groups);
	}
	free(nsgroup);
	free(ns);
	return rc;
}

int sim_auth_check(sim_auth *auth, const sim_auth_request *req, json_t **user, json_t **details, vs_error *err)
{
	sim_authz_attrs a = { 0 };
	json_t *u = NULL;
	char *reason = NULL;
	int rc;

	*user = NULL;
	if (details)
		*details = NULL;
	if ((rc = authenticate(auth, req, &u, err)) != 0) {
		vs_info("auth: %s %s: 401: %s", req->method, req->path, err->message);
		return vs_error_set_api(err, 401, "Unauthorized", "Unauthorized");
	}
	if (!u) {
		if (!public_path(req->path))
			return vs_error_set_api(err, 401, "Unauthorized", "Unauthorized");
		u = user_new(SIM_USER_ANONYMOUS, NULL, (const char *const[]){ SIM_GROUP_UNAUTHENTICATED, NULL });
	}
	if (req->impersonate_user && *req->impersonate_user && (rc = impersonate(auth, req, &u, details, err)) != 0)
		goto done;
	sim_authz_attrs_parse(&a, req->method, req->path, req->watch, req->field_selector);
	a.user = u;
	if (public_path(req->path) || authorize(auth, &a, &reason)) {
		*user = u;
		u = NULL;
		goto done;
	}
	rc = forbidden(&a, reason, details, err);
done:
	free(reason);
	sim_authz_attrs_clear(&a);
	json_decref(u);
	return rc;
}

/* ---- TokenRequest ------------------------------------------------------------------------------- */

/* The claims of a service-account token (pkg/serviceaccount/claims.go: Claims). */
/* The claims of a token valid for seconds from now; one for a pod that asks for the legacy hour
 * (3607 s) for the API's audience is valid a year and says when it ought to have been renewed, as
 * kube-apiserver's --service-account-extend-token-expiration (on by default) makes it. */
static json_t *token_claims(const char *ns, const json_t *sa, const json_t *audiences, int64_t now, int64_t seconds,
			    const json_t *pod)
{
	bool extend = pod && seconds == TOKEN_LEGACY_SECONDS && (json_array_size(audiences) == 0 || audience_ok(audiences));
	char *sub = vs_xasprintf(SIM_SA_PREFIX "%s:%s", ns, vs_json_str_or(sa, "metadata.name", ""));
	json_t *k8s = json_pack("{s:s,s:{s:s,s:s}}", "namespace", ns, "serviceaccount", "name",
				vs_json_str_or(sa, "metadata.name", ""), "uid", vs_json_str_or(sa, "metadata.uid", ""));
	json_t *claims = json_pack("{s:o,s:I,s:I,s:s,s:o,s:I,s:s}", "aud",
				   json_array_size(audiences) ? json_deep_copy(audiences) : json_pack("[s]", SA_ISSUER),
				   "exp", (json_int_t)(now + (extend ? TOKEN_EXTENDED_SECONDS : seconds)), "iat",
				   (json_int_t)now, "iss", SA_ISSUER, "kubernetes.io", k8s, "nbf", (json_int_t)now, "sub", sub);

	if (extend)
		json_object_set_new(k8s, "warnafter", json_integer(now + seconds));
	if (pod)
		json_object_set_new(k8s, "pod",
				    json_pack("{s:s,s:s}", "name", vs_json_str_or(pod, "metadata.name", ""), "uid",
					      vs_json_str_or(pod, "metadata.uid", "")));
	free(sub);
	return claims;
}

int sim_auth_issue_token(sim_auth *auth, const char *ns, const char *sa_name, const json_t *audiences, int64_t seconds,
			 const json_t *pod, char **token, int64_t *expiry, vs_error *err)
{
	json_t *sa = NULL, *claims;
	int64_t now = vs_time_now();
	int rc = sim_api_get(auth->st, sim_resource_find("", "serviceaccounts"), ns, sa_name, &sa, err);

	*token = NULL;
	if (rc != 0)
		return rc;
	claims = token_claims(ns, sa, audiences, now, seconds, pod);
	rc = sim_jwt_sign(auth->key, claims, token, err);
	*expiry = now + seconds;
	json_decref(claims);
	json_decref(sa);
	return rc;
}

/* The pod a TokenRequest binds its token to (spec.boundObjectRef of kind Pod), checked against the
 * store: *pod (caller's) or NULL when none is named; 404 or 422 as kube-apiserver answers. */
static int bound_pod(sim_store *st, const char *ns, const json_t *ref, json_t **pod, vs_error *err)
{
	const char *kind = vs_json_str_or(ref, "kind", ""), *uid = vs_json_str_or(ref, "uid", "");
	int rc;

	*pod = NULL;
	if (!ref)
		return 0;
	if (strcmp(kind, "Pod") != 0)
		return vs_error_set_api(err, 422, "Invalid",
					"TokenRequest.authentication.k8s.io \"\" is invalid: spec.boundObjectRef.kind: "
					"Unsupported value: \"%s\": supported values: \"Pod\"",
					kind);
	if ((rc = sim_api_get(st, sim_resource_find("", "pods"), ns, vs_json_str_or(ref, "name", ""), pod, err)) != 0)
		return rc;
	if (*uid && strcmp(uid, vs_json_str_or(*pod, "metadata.uid", "")) != 0) {
		json_decref(*pod);
		*pod = NULL;
		return vs_error_set_api(
			err, 409, "Conflict",
			"Operation cannot be fulfilled on pods \"%s\": the UID in the bound object reference "
			"(%s) does not match the UID in record. The object might have been deleted and then "
			"recreated",
			vs_json_str_or(ref, "name", ""), uid);
	}
	return 0;
}

/* POST serviceaccounts/NAME/token (pkg/registry/core/serviceaccount/storage/token.go). */
static int token_request(sim_auth *auth, const char *ns, const char *name, const json_t *body, json_t **out,
			 vs_error *err)
{
	const json_t *spec = json_object_get(body, "spec");
	long long seconds = vs_json_int(spec, "expirationSeconds", TOKEN_DEFAULT_SECONDS);
	json_t *pod = NULL;
	char *token = NULL, ts[32];
	int64_t expiry = 0;
	int rc;

	*out = NULL;
	if (seconds < TOKEN_MIN_SECONDS || seconds > TOKEN_MAX_SECONDS)
		return vs_error_set_api(err, 422, "Invalid",
					"TokenRequest.authentication.k8s.io \"%s\" is invalid: spec.expirationSeconds: "
					"Invalid value: %lld: may not specify a duration %s",
					name, seconds,
					seconds < TOKEN_MIN_SECONDS ? "less than 10 minutes"
								    : "larger than 2^32 seconds");
	if ((rc = bound_pod(auth->st, ns, json_object_get(spec, "boundObjectRef"), &pod, err)) != 0 ||
	    (rc = sim_auth_issue_token(auth, ns, name, json_object_get(spec, "audiences"), seconds, pod, &token,
				       &expiry, err)) != 0)
		goto done;
	vs_time_format(expiry, ts);
	*out = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:o,s:I},s:{s:s,s:s}}", "kind", "TokenRequest", "apiVersion",
			 "authentication.k8s.io/v1", "metadata", "name", name, "namespace", ns, "spec", "audiences",
			 json_array_size(json_object_get(spec, "audiences"))
				 ? json_deep_copy(json_object_get(spec, "audiences"))
				 : json_pack("[s]", SA_ISSUER),
			 "expirationSeconds", (json_int_t)seconds, "status", "token", token, "expirationTimestamp", ts);
	if (pod)
		json_object_set(json_object_get(*out, "spec"), "boundObjectRef",
				json_object_get(spec, "boundObjectRef"));
done:
	json_decref(pod);
	free(token);
	return rc;
}

/* ---- the reviews ---------------------------------------------------------------------------------- */

/* The attributes a SelfSubjectAccessReview's spec asks about (authorizationutil.ResourceAttributesFrom). */
static void review_attrs(sim_authz_attrs *a, const json_t *spec)
{
	const json_t *r = json_object_get(spec, "resourceAttributes"),
		     *nr = json_object_get(spec, "nonResourceAttributes");
	char **fields[] = { &a->verb, &a->group, &a->version, &a->resource, &a->subresource, &a->ns, &a->name };
	const char *keys[] = { "verb", "group", "version", "resource", "subresource", "namespace", "name" };

	sim_authz_attrs_parse(a, "GET", r ? "/" : vs_json_str_or(nr, "path", ""), NULL, NULL);
	if (!r) {
		free(a->verb);
		a->verb = vs_xstrdup(vs_json_str_or(nr, "verb", ""));
		return;
	}
	a->resource_request = true;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		free(*fields[i]);
		*fields[i] = vs_xstrdup(vs_json_str_or(r, keys[i], ""));
	}
}

static json_t *self_subject_access_review(sim_auth *auth, const json_t *user, const json_t *body)
{
	const json_t *spec = json_object_get(body, "spec");
	sim_authz_attrs a = { 0 };
	char *reason = NULL;
	json_t *out, *status;
	bool allowed;

	review_attrs(&a, spec);
	a.user = user;
	allowed = authorize(auth, &a, &reason);
	status = json_pack("{s:b}", "allowed", allowed);
	if (reason)
		json_object_set_new(status, "reason", json_string(reason));
	out = json_pack("{s:s,s:s,s:{},s:O,s:o}", "kind", "SelfSubjectAccessReview", "apiVersion",
			"authorization.k8s.io/v1", "metadata", "spec", spec ? spec : json_object(), "status", status);
	free(reason);
	sim_authz_attrs_clear(&a);
	return out;
}

static json_t *self_subject_rules_review(sim_auth *auth, const json_t *user, const json_t *body)
{
	const json_t *spec = json_object_get(body, "spec");

	return json_pack("{s:s,s:s,s:{},s:O,s:o}", "kind", "SelfSubjectRulesReview", "apiVersion",
			 "authorization.k8s.io/v1", "metadata", "spec", spec ? spec : json_object(), "status",
			 sim_rbac_rules_review(auth->st, user, vs_json_str_or(spec, "namespace", "")));
}

bool sim_auth_creates(const sim_resource *res, const char *sub)
{
	return sim_resource_create_only(res) ||
	       (sub && strcmp(sub, "token") == 0 && strcmp(res->plural, "serviceaccounts") == 0);
}

int sim_auth_create(sim_auth *auth, const json_t *user, const sim_resource *res, const char *ns, const char *name,
		    const json_t *body, json_t **out, vs_error *err)
{
	*out = NULL;
	if (!json_is_object(body))
		return vs_error_set_api(err, 400, "BadRequest", "the request has no body");
	if (strcmp(res->plural, "serviceaccounts") == 0)
		return token_request(auth, ns, name, body, out, err);
	if (strcmp(res->plural, "selfsubjectaccessreviews") == 0) {
		const json_t *spec = json_object_get(body, "spec");
		if (!json_object_get(spec, "resourceAttributes") == !json_object_get(spec, "nonResourceAttributes"))
			return vs_error_set_api(err, 422, "Invalid",
						"SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: "
						"spec.resourceAttributes: Invalid value: \"null\": exactly one of "
						"nonResourceAttributes or resourceAttributes must be specified");
		*out = self_subject_access_review(auth, user, body);
		return 0;
	}
	*out = self_subject_rules_review(auth, user, body);
	return 0;
}
