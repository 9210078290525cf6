/*
 * auth: volshift-sim's security, as kube-apiserver has it: its PKI (a CA, the serving certificate and
 * client certificates, tls.c), signed service-account tokens (JWT with RS256, token.c), the
 * authentication of every request (client certificates, bearer tokens, anonymous access to the
 * health endpoints only, auth.c) and the RBAC authorizer with the default roles and bindings, the
 * request attributes it decides on and the refusal messages (rbac.c).
 *
 * A user is a JSON UserInfo as the API shows it ({"username", "uid", "groups": [...], "extra": {}}).
 * Thread-safety: everything here may be called from any thread once set up.
 */
#ifndef VS_SIM_AUTH_H
#define VS_SIM_AUTH_H

#include "api.h"

/* The groups and names Kubernetes gives meaning to (k8s.io/apiserver/pkg/authentication/user). */
#define SIM_GROUP_MASTERS	  "system:masters"
#define SIM_GROUP_AUTHENTICATED	  "system:authenticated"
#define SIM_GROUP_UNAUTHENTICATED "system:unauthenticated"
#define SIM_USER_ANONYMOUS	  "system:anonymous"
#define SIM_SA_PREFIX		  "system:serviceaccount:"
#define SIM_GROUP_SERVICEACCOUNTS "system:serviceaccounts"

/* ---- PKI (tls.c) ------------------------------------------------------------------------------ */

typedef struct sim_pki sim_pki;

/*
 * Generate volshift-sim's PKI into dir (as kubeadm lays out /etc/kubernetes/pki): ca.crt and
 * ca.key (the cluster's CA), apiserver.crt and apiserver.key (the serving certificate for
 * 127.0.0.1, localhost and the kubernetes.default.svc names), admin.crt and admin.key (a client
 * certificate of user "admin" in group system:masters). Keys are ECDSA P-256, files
 * with keys mode 0600. *out is the caller's (sim_pki_free). VS_EIO when a file cannot be written.
 */
int sim_pki_new(const char *dir, sim_pki **out, vs_error *err);
void sim_pki_free(sim_pki *pki);

enum sim_pki_pem { SIM_PEM_CA, SIM_PEM_SERVER_CERT, SIM_PEM_SERVER_KEY, SIM_PEM_ADMIN_CERT, SIM_PEM_ADMIN_KEY };
/* One of the PEM texts, borrowed while pki lives. */
const char *sim_pki_pem(const sim_pki *pki, enum sim_pki_pem which);

/*
 * A new client certificate signed by the CA, for user (CN) in groups (O, one each; NULL-terminated
 * list or NULL), valid for days: *cert and *key are PEM texts the caller frees.
 */
int sim_pki_issue_client(const sim_pki *pki, const char *user, const char *const *groups, int days, char **cert,
			 char **key, vs_error *err);

/*
 * The user a TLS connection's client certificate names, as kube-apiserver's x509 authenticator
 * reads it: session is the connection's gnutls_session_t (NULL: plain HTTP). 0 with *user NULL when
 * the client sent no certificate; 0 with *user (caller's) {"username": CN, "groups": [O...]} when it
 * chains to the CA of the server's trust list and is meant for client authentication; VS_EINVAL
 * with the cause otherwise.
 */
int sim_tls_client_user(void *session, json_t **user, vs_error *err);

/* ---- service-account tokens (token.c) ------------------------------------------------------------ */

typedef struct sim_jwt_key sim_jwt_key;

/* A new RSA-2048 signing key, its key id that of kube-apiserver (base64url of the SHA-256 of the
 * public key's DER). *out is the caller's (sim_jwt_key_free). */
int sim_jwt_key_new(sim_jwt_key **out, vs_error *err);
void sim_jwt_key_free(sim_jwt_key *key);
/* Write the key as dir/sa.key (0600) and its public half as dir/sa.pub, as kubeadm does. */
int sim_jwt_key_write(const sim_jwt_key *key, const char *dir, vs_error *err);

/* Sign claims (a JSON object, borrowed) as a compact JWS with RS256 and the key's kid; *out is the
 * caller's. */
int sim_jwt_sign(const sim_jwt_key *key, const json_t *claims, char **out, vs_error *err);

/*
 * Parse a compact JWS from outside (any bytes, at most 16 KiB) and check its RS256 signature
 * against key: *claims (caller's) is its payload object. VS_EINVAL with the cause for anything
 * else (not three base64url parts, not JSON objects, another algorithm, a bad signature). Nothing
 * but the signature is checked: expiry, issuer and audience are the caller's.
 */
int sim_jwt_verify(const sim_jwt_key *key, const char *token, json_t **claims, vs_error *err);

/* ---- authentication (auth.c) ---------------------------------------------------------------------- */

/*
 * The bearer token of an Authorization header as kube-apiserver reads it (the scheme "Bearer" in
 * any case, then the token up to the next space): a pointer into header and its length, or NULL
 * when the header carries none.
 */
const char *sim_auth_bearer(const char *header, size_t *len);

typedef struct sim_auth sim_auth;

typedef struct sim_auth_opts {
	bool insecure;		 /* --insecure-http: every request is "system:unsecured" in system:masters,
				    as kube-apiserver's old insecure port */
	const char *key_dir;	 /* where the service-account signing key is written (sa.key, sa.pub), or NULL */
} sim_auth_opts;

/* The authenticator and authorizer of the API server of st (borrowed), with a new service-account
 * signing key and a new random static token of user "admin" in system:masters. *out is the
 * caller's. VS_EIO when the key cannot be made or written. */
int sim_auth_new(sim_store *st, const sim_auth_opts *opts, sim_auth **out, vs_error *err);
void sim_auth_free(sim_auth *auth);
/* The static admin token, borrowed while auth lives. */
const char *sim_auth_admin_token(const sim_auth *auth);

/* What the authentication and authorization filters see of a request. All borrowed. */
#define SIM_IMPERSONATE_GROUPS_MAX 16 /* Impersonate-Group headers looked at */

typedef struct sim_auth_request {
	const char *method;	    /* "GET" */
	const char *path;	    /* the URL's path, decoded */
	const char *watch;	    /* the query's watch, or NULL */
	const char *field_selector; /* the query's fieldSelector, or NULL */
	const char *authorization;  /* the Authorization header, or NULL */
	void *tls_session;	    /* the connection's gnutls_session_t, or NULL on plain HTTP */
	const char *impersonate_user;	      /* the Impersonate-User header, or NULL */
	const char *const *impersonate_groups; /* the Impersonate-Group headers, NULL-terminated, or NULL */
} sim_auth_request;

/*
 * Authenticate and authorize a request as kube-apiserver's filters do: a valid client certificate,
 * else a valid bearer token (the static admin token or a service-account token), else anonymous,
 * which only /healthz, /livez, /readyz and /version accept; then impersonation, when the request
 * asks for it and the user may "impersonate" that user (users, or serviceaccounts for a service
 * account's name) and those groups; then system:masters, else RBAC. 0 with
 * *user (caller's) when allowed. Else VS_EAPI with err as the Status to send: 401 Unauthorized
 * (credentials that fail, or none) or 403 Forbidden with kube-apiserver's message, *details (caller's,
 * or NULL) the Status's details.
 */
int sim_auth_check(sim_auth *auth, const sim_auth_request *req, json_t **user, json_t **details, vs_error *err);

/*
 * A service-account token for ServiceAccount ns/sa_name, as TokenRequest issues it: for audiences
 * (a JSON array, borrowed; empty or NULL: the API server's), valid for seconds, bound to pod
 * (borrowed, or NULL). *token (caller's) is the JWT, *expiry its exp (epoch seconds). 404 when the
 * ServiceAccount does not exist.
 */
int sim_auth_issue_token(sim_auth *auth, const char *ns, const char *sa_name, const json_t *audiences, int64_t seconds,
			 const json_t *pod, char **token, int64_t *expiry, vs_error *err);

/* True when POST to res (and sub) is answered by sim_auth_create: the review kinds and
 * serviceaccounts/NAME/token. */
bool sim_auth_creates(const sim_resource *res, const char *sub);

/*
 * Answer a POST that sim_auth_creates: SelfSubjectAccessReview, SelfSubjectRulesReview,
 * SelfSubjectReview for user (borrowed), or a TokenRequest for serviceaccount ns/name. *out (caller's)
 * is the object to send with 201. Errors are the API's (400, 404, 422).
 */
int sim_auth_create(sim_auth *auth, const json_t *user, const sim_resource *res, const char *ns, const char *name,
		    const json_t *body, json_t **out, vs_error *err);

/* ---- authorization: RBAC (rbac.c) ----------------------------------------------------------------- */

/* What the authorizer decides on (authorizer.Attributes). Strings are "" when absent. */
typedef struct sim_authz_attrs {
	const json_t *user;    /* UserInfo, borrowed */
	bool resource_request; /* an API resource (else a path: discovery, /healthz, ...) */
	char *verb;	       /* get, list, watch, create, update, patch, delete, deletecollection; for
				  a non-resource request the method in lower case */
	char *path;	       /* the URL path */
	char *group, *version, *resource, *subresource, *ns, *name;
} sim_authz_attrs;

/*
 * Fill a from a request as kube-apiserver's RequestInfoFactory does: /api/V/... and /apis/G/V/...
 * are resource requests (the verb from the method: get, list (watch with ?watch=true or a /watch/
 * path), create, update, patch, delete, deletecollection; the namespace, resource, name and
 * subresource from the path; for a list or watch a fieldSelector metadata.name=N names N); any
 * other path is not. watch and field_selector are the query's values or NULL. a->user is left
 * alone. Free with sim_authz_attrs_clear.
 */
void sim_authz_attrs_parse(sim_authz_attrs *a, const char *method, const char *path, const char *watch,
			   const char *field_selector);
void sim_authz_attrs_clear(sim_authz_attrs *a);

/* True when one PolicyRule (JSON, borrowed) allows a (rbac.RuleAllows, with "*" and "*\/sub"). */
bool sim_rbac_rule_allows(const json_t *rule, const sim_authz_attrs *a);

/*
 * The RBAC authorizer on st's Roles, ClusterRoles and their bindings: true when a rule bound to
 * the user (by name, group or service account) allows a. *reason (caller's, may be NULL) says
 * why: "RBAC: allowed by ClusterRoleBinding ..." or, on a refusal, the bindings whose role is
 * missing ("RBAC: clusterrole.rbac.authorization.k8s.io \"x\" not found").
 */
bool sim_rbac_authorize(sim_store *st, const sim_authz_attrs *a, char **reason);

/* The message of a 403 as kube-apiserver words it, e.g. 'pods "p" is forbidden: User "u" cannot
 * get resource "pods" in API group "" in the namespace "ns"', with ": REASON" when reason is set.
 * Caller frees. */
char *sim_rbac_forbidden_message(const sim_authz_attrs *a, const char *reason);

/* The rules that apply to user in namespace ns ("" for cluster-wide only), as a
 * SelfSubjectRulesReview's status ({resourceRules, nonResourceRules, incomplete}). Caller's. */
json_t *sim_rbac_rules_review(sim_store *st, const json_t *user, const char *ns);

/* Check a Role, ClusterRole, RoleBinding or ClusterRoleBinding as the API validates one (cur: the
 * stored object on an update, else NULL): 422 Invalid. 0 for every other resource. */
int sim_rbac_validate(const sim_resource *res, const json_t *cur, const json_t *obj, vs_error *err);

/* Create the default ClusterRoles and ClusterRoleBindings of kube-apiserver's bootstrap policy
 * (cluster-admin, admin, edit, view and their aggregated parts, system:discovery,
 * system:basic-user, system:public-info-viewer, ...); existing ones are left alone. */
int sim_rbac_bootstrap(sim_store *st, vs_error *err);

#endif
