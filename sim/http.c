/*
 * http: the Kubernetes REST API of volshift-sim over libmicrohttpd (HTTPS with GnuTLS, every request
 * authenticated and authorized by auth.h before anything else): request routing, discovery,
 * every verb of api.h, patches, the status/scale/eviction/binding/log subresources, watch streams
 * and Status errors, shaped so that unmodified kubectl works against it. One thread per
 * connection: handlers may block (watches and followed logs do).
 */
#include "http_int.h"
#include "protobuf.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#define BODY_LIMIT (3u << 20)
#define GIT_VERSION "v1.26.0-volshift-sim"

struct sim_http {
	struct MHD_Daemon *daemon;
	sim_store *st;
	sim_faults *faults;
	sim_http_security sec;
	sim_log_path_fn log_path;
	void *log_ctx;
	atomic_bool stopping;
	sim_exec_sessions *exec;
};

struct req_ctx {
	vs_buf body;
	bool too_big;
	json_t *user; /* who sent the request (UserInfo), once authenticated */
};

/* What a request addresses. */
struct route {
	const sim_resource *res;
	const char *group, *version;
	char *segs[16];
	size_t nsegs;
	const char *ns, *name, *sub;
	bool watch;
};

/* ---- responses ----------------------------------------------------------------------------- */

/* A response that owns body, with the headers of every reply. */
static struct MHD_Response *response_of(char *body, const char *ctype)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);

	MHD_add_response_header(r, "Content-Type", ctype);
	MHD_add_response_header(r, "Cache-Control", "no-cache, private");
	return r;
}

static enum MHD_Result queue_response(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result ret = MHD_queue_response(c, status, r);

	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned status, char *body, const char *ctype)
{
	return queue_response(c, status, response_of(body, ctype));
}

/* The compact text of body, which is consumed; caller frees. */
static char *json_text(json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);

	json_decref(body);
	return s ? s : vs_xstrdup("{}");
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
	return send_body(c, status, json_text(body), "application/json");
}

static json_t *status_object(int code, const char *status, const char *reason, const char *message)
{
	return json_pack("{s:s,s:s,s:{},s:s,s:s*,s:s*,s:i}", "kind", "Status", "apiVersion", "v1", "metadata", "status",
			 status, "message", message, "reason", reason && *reason ? reason : NULL, "code", code);
}

static enum MHD_Result send_error(struct MHD_Connection *c, const struct route *rt, const vs_error *err)
{
	int code = err->http_status ? err->http_status : 500;
	json_t *st = status_object(code, "Failure", *err->reason ? err->reason : "InternalError", err->message);

	if (rt && rt->res && (rt->name || vs_error_is(err, "AlreadyExists"))) {
		json_t *d = json_object();
		if (rt->name)
			json_object_set_new(d, "name", json_string(rt->name));
		if (*rt->res->group)
			json_object_set_new(d, "group", json_string(rt->res->group));
		json_object_set_new(d, "kind", json_string(vs_error_is(err, "Invalid") ? rt->res->kind : rt->res->plural));
		if (vs_error_is(err, "Invalid")) {
			const char *p = strstr(err->message, " is invalid: ");
			if (p) {
				const char *field = p + strlen(" is invalid: "), *colon = strstr(field, ": ");
				json_t *cause = json_object();
				if (colon) {
					json_object_set_new(cause, "field", json_stringn(field, (size_t)(colon - field)));
					json_object_set_new(cause, "message", json_string(colon + 2));
				} else {
					json_object_set_new(cause, "message", json_string(field));
				}
				json_object_set_new(cause, "reason", json_string(strstr(field, "Forbidden") ? "FieldValueForbidden" : "FieldValueInvalid"));
				json_object_set_new(d, "causes", json_pack("[o]", cause));
			} else {
				json_object_set_new(d, "causes", json_pack("[{s:s,s:s}]", "reason", "FieldValueInvalid",
									   "message", err->message));
			}
		}
		json_object_set_new(st, "details", d);
	}
	return send_json(c, (unsigned)code, st);
}

static enum MHD_Result send_simple_error(struct MHD_Connection *c, int code, const char *reason, const char *msg)
{
	vs_error err;

	vs_error_set_api(&err, code, reason, "%s", msg);
	return send_error(c, NULL, &err);
}

/* ---- discovery ----------------------------------------------------------------------------- */

/* A kube-aware version's rank (v1 > v1beta2 > v1beta1 > v1alpha1 > anything else); false when
 * name is not of that form. */
static bool version_rank(const char *name, long rank[3])
{
	const char *p;
	char *end;

	if (name[0] != 'v' || name[1] < '1' || name[1] > '9')
		return false;
	rank[0] = strtol(name + 1, &end, 10);
	rank[1] = 2;
	rank[2] = 0;
	if (*end == '\0')
		return true;
	if (vs_str_has_prefix(end, "beta"))
		rank[1] = 1, p = end + 4;
	else if (vs_str_has_prefix(end, "alpha"))
		rank[1] = 0, p = end + 5;
	else
		return false;
	if (*p < '0' || *p > '9')
		return false;
	rank[2] = strtol(p, &end, 10);
	return *end == '\0';
}

/* CompareKubeAwareVersionStrings, the order of discovery's versions: the preferred one first. */
static int version_cmp(const void *a, const void *b)
{
	const char *x = json_string_value(*(json_t *const *)a), *y = json_string_value(*(json_t *const *)b);
	long rx[3], ry[3];
	bool kx = version_rank(x, rx), ky = version_rank(y, ry);

	if (kx != ky)
		return kx ? -1 : 1;
	if (!kx)
		return strcmp(x, y);
	for (int i = 0; i < 3; i++)
		if (rx[i] != ry[i])
			return rx[i] > ry[i] ? -1 : 1;
	return 0;
}

/* The APIGroup of a served group: its versions, the preferred one first (new reference). */
static json_t *group_versions(const sim_resource *const *all, size_t n, const char *group)
{
	json_t *names = json_array(), *versions = json_array(), *v, **sorted;
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (strcmp(all[i]->group, group) == 0 && !vs_json_array_has_str(names, all[i]->version))
			json_array_append_new(names, json_string(all[i]->version));
	sorted = vs_xcalloc(json_array_size(names) + 1, sizeof(*sorted));
	json_array_foreach (names, i, v)
		sorted[k++] = v;
	qsort(sorted, k, sizeof(*sorted), version_cmp);
	for (i = 0; i < k; i++)
		json_array_append_new(versions,
				      json_pack("{s:s++,s:s}", "groupVersion", group, "/", json_string_value(sorted[i]),
						"version", json_string_value(sorted[i])));
	free(sorted);
	json_decref(names);
	return json_pack("{s:s,s:o,s:O*}", "name", group, "versions", versions, "preferredVersion",
			 json_array_get(versions, 0));
}

static json_t *api_group_list(sim_store *st)
{
	json_t *groups = json_array(), *seen = json_object();
	size_t n;
	const sim_resource **all = sim_store_resources(st, &n);

	for (size_t i = 0; i < n; i++) {
		if (!*all[i]->group || json_object_get(seen, all[i]->group))
			continue;
		json_object_set_new(seen, all[i]->group, json_true());
		json_array_append_new(groups, group_versions(all, n, all[i]->group));
	}
	free(all);
	json_decref(seen);
	return json_pack("{s:s,s:s,s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups", groups);
}

static json_t *split_csv(const char *s)
{
	json_t *arr = json_array();

	while (s && *s) {
		const char *c = strchr(s, ',');
		size_t n = c ? (size_t)(c - s) : strlen(s);
		json_array_append_new(arr, json_stringn(s, n));
		s = c ? c + 1 : NULL;
	}
	return arr;
}

static bool in_all(const sim_resource *r)
{
	static const char *const all[] = {"pods", "services", "deployments", "replicasets", "statefulsets",
					  "daemonsets", "jobs", "cronjobs", NULL};

	for (const char *const *a = all; *a; a++)
		if (strcmp(*a, r->plural) == 0 && strcmp(r->plural, "events") != 0)
			return true;
	return false;
}

/* A minimal OpenAPI v3 document for one group/version: one PATCH operation per kind that
 * declares the fieldValidation parameter, which is what kubectl looks for before it lets the
 * server validate (instead of downloading the full schema). */
static json_t *openapi_v3_gv(sim_store *st, const char *group, const char *version)
{
	json_t *paths = json_object();
	size_t n;
	const sim_resource **all = sim_store_resources(st, &n);

	for (size_t i = 0; i < n; i++) {
		const sim_resource *r = all[i];
		char path[300];
		if (strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
			continue;
		snprintf(path, sizeof(path), "/%s%s%s/%s%s/%s/{name}", *group ? "apis/" : "api", group, *group ? "/" : "",
			 version, r->namespaced ? "/namespaces/{namespace}" : "", r->plural);
		json_object_set_new(
			paths, path,
			json_pack("{s:{s:s,s:{s:s,s:s,s:s},s:[{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}}],s:{s:{s:s}}}}", "patch",
				  "operationId", r->plural, "x-kubernetes-group-version-kind", "group", group, "version",
				  version, "kind", r->kind, "parameters", "name", "fieldValidation", "in", "query",
				  "schema", "type", "string", "name", "fieldManager", "in", "query", "schema", "type",
				  "string", "responses", "200", "description", "OK"));
	}
	free(all);
	return json_pack("{s:s,s:{s:s,s:s},s:o,s:{s:{}}}", "openapi", "3.0.0", "info", "title", "Kubernetes",
			 "version", GIT_VERSION, "paths", paths, "components", "schemas");
}

static json_t *openapi_v3_root(sim_store *st)
{
	json_t *paths = json_object();
	size_t n;
	const sim_resource **all = sim_store_resources(st, &n);

	for (size_t i = 0; i < n; i++) {
		char key[200], url[240];
		if (*all[i]->group)
			snprintf(key, sizeof(key), "apis/%s/%s", all[i]->group, all[i]->version);
		else
			snprintf(key, sizeof(key), "api/%s", all[i]->version);
		snprintf(url, sizeof(url), "/openapi/v3/%s?hash=0", key);
		json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
	}
	free(all);
	return json_pack("{s:o}", "paths", paths);
}

static json_t *api_resource_list(sim_store *st, const char *group, const char *version)
{
	json_t *list = json_array();
	char gv[128];
	size_t n;
	const sim_resource **all = sim_store_resources(st, &n);

	snprintf(gv, sizeof(gv), "%s%s%s", group, *group ? "/" : "", version);
	for (size_t k = 0; k < n; k++) {
		const sim_resource *r = all[k];
		json_t *subs;
		size_t i;
		json_t *s;
		if (strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
			continue;
		json_array_append_new(
			list, json_pack("{s:s,s:s,s:b,s:s,s:o,s:o}", "name", r->plural, "singularName", r->singular,
					"namespaced", r->namespaced, "kind", r->kind, "verbs",
					sim_resource_create_only(r)
						? json_pack("[s]", "create")
						: json_pack("[ssssssss]", "create", "delete", "deletecollection", "get", "list",
							    "patch", "update", "watch"),
					"shortNames", split_csv(r->short_names)));
		if (in_all(r) || *sim_resource_categories(r))
			json_object_set_new(json_array_get(list, json_array_size(list) - 1), "categories",
					    in_all(r) ? json_pack("[s]", "all")
						      : split_csv(sim_resource_categories(r)));
		subs = split_csv(r->subresources);
		json_array_foreach (subs, i, s) {
			const char *sub = json_string_value(s);
			char name[128];
			json_t *e;
			snprintf(name, sizeof(name), "%s/%s", r->plural, sub);
			e = json_pack("{s:s,s:s,s:b,s:s}", "name", name, "singularName", "", "namespaced",
				      r->namespaced, "kind", r->kind);
			if (strcmp(sub, "scale") == 0) {
				json_object_set_new(e, "group", json_string("autoscaling"));
				json_object_set_new(e, "version", json_string("v1"));
				json_object_set_new(e, "kind", json_string("Scale"));
				json_object_set_new(e, "verbs", json_pack("[sss]", "get", "patch", "update"));
			} else if (strcmp(sub, "log") == 0) {
				json_object_set_new(e, "kind", json_string("Pod"));
				json_object_set_new(e, "verbs", json_pack("[s]", "get"));
			} else if (strcmp(sub, "eviction") == 0) {
				json_object_set_new(e, "group", json_string("policy"));
				json_object_set_new(e, "version", json_string("v1"));
				json_object_set_new(e, "kind", json_string("Eviction"));
				json_object_set_new(e, "verbs", json_pack("[s]", "create"));
			} else if (strcmp(sub, "token") == 0) {
				json_object_set_new(e, "group", json_string("authentication.k8s.io"));
				json_object_set_new(e, "version", json_string("v1"));
				json_object_set_new(e, "kind", json_string("TokenRequest"));
				json_object_set_new(e, "verbs", json_pack("[s]", "create"));
			} else if (strcmp(sub, "binding") == 0) {
				json_object_set_new(e, "kind", json_string("Binding"));
				json_object_set_new(e, "verbs", json_pack("[s]", "create"));
			} else if (strcmp(sub, "finalize") == 0) {
				json_object_set_new(e, "verbs", json_pack("[s]", "update"));
			} else {
				json_object_set_new(e, "verbs", json_pack("[sss]", "get", "patch", "update"));
			}
			json_array_append_new(list, e);
		}
		json_decref(subs);
	}
	free(all);
	return json_pack("{s:s,s:s,s:s,s:o}", "kind", "APIResourceList", "apiVersion", "v1", "groupVersion", gv,
			 "resources", list);
}

static bool group_known(sim_store *st, const char *group, const char *version)
{
	size_t n;
	const sim_resource **all = sim_store_resources(st, &n);
	bool known = false;

	for (size_t i = 0; i < n && !known; i++)
		known = strcmp(all[i]->group, group) == 0 && (!version || strcmp(all[i]->version, version) == 0);
	free(all);
	return known;
}

/* The APIGroup of /apis/GROUP. */
static json_t *api_group(sim_store *st, const char *group)
{
	size_t n;
	const sim_resource **all = sim_store_resources(st, &n);
	json_t *gr = group_versions(all, n, group);

	free(all);
	json_object_set_new(gr, "kind", json_string("APIGroup"));
	json_object_set_new(gr, "apiVersion", json_string("v1"));
	return gr;
}

/* Answers discovery and health paths; returns false when path is not one of them. */
static bool serve_discovery(sim_store *st, struct MHD_Connection *c, const char *url, enum MHD_Result *ret)
{
	char g[100], v[20], extra;

	if (strcmp(url, "/version") == 0 || strcmp(url, "/version/") == 0) {
		*ret = send_json(c, 200,
				 json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "major", "1", "minor", "26",
					   "gitVersion", GIT_VERSION, "gitCommit",
					   "0000000000000000000000000000000000000000", "gitTreeState", "clean",
					   "buildDate", "2026-11-21T00:00:00Z", "goVersion", "go1.19", "compiler", "gc",
					   "platform", "linux/amd64"));
	} else if (strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0 || strcmp(url, "/readyz") == 0) {
		*ret = send_body(c, 200, vs_xstrdup("ok"), "text/plain; charset=utf-8");
	} else if (strcmp(url, "/api") == 0 || strcmp(url, "/api/") == 0) {
		*ret = send_json(c, 200,
				 json_pack("{s:s,s:[s],s:[{s:s,s:s}]}", "kind", "APIVersions", "versions", "v1",
					   "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress",
					   "127.0.0.1"));
	} else if (strcmp(url, "/apis") == 0 || strcmp(url, "/apis/") == 0) {
		*ret = send_json(c, 200, api_group_list(st));
	} else if (strcmp(url, "/api/v1") == 0 || strcmp(url, "/api/v1/") == 0) {
		*ret = send_json(c, 200, api_resource_list(st, "", "v1"));
	} else if (sscanf(url, "/apis/%99[^/]/%19[^/]%c", g, v, &extra) == 2 ||
		   (sscanf(url, "/apis/%99[^/]/%19[^/]%c", g, v, &extra) == 3 && extra == '/' &&
		    url[strlen(url) - 1] == '/' && strlen(url) == 7 + strlen(g) + strlen(v) + 1)) {
		if (!group_known(st, g, v))
			*ret = send_simple_error(c, 404, "NotFound",
						 "the server could not find the requested resource");
		else
			*ret = send_json(c, 200, api_resource_list(st, g, v));
	} else if (sscanf(url, "/apis/%99[^/]%c", g, &extra) == 1) {
		if (!group_known(st, g, NULL))
			*ret = send_simple_error(c, 404, "NotFound",
						 "the server could not find the requested resource");
		else
			*ret = send_json(c, 200, api_group(st, g));
	} else if (strcmp(url, "/openapi/v3") == 0 || strcmp(url, "/openapi/v3/") == 0) {
		*ret = send_json(c, 200, openapi_v3_root(st));
	} else if (strcmp(url, "/openapi/v3/api/v1") == 0) {
		*ret = send_json(c, 200, openapi_v3_gv(st, "", "v1"));
	} else if (sscanf(url, "/openapi/v3/apis/%99[^/]/%19[^/]%c", g, v, &extra) == 2 && group_known(st, g, v)) {
		*ret = send_json(c, 200, openapi_v3_gv(st, g, v));
	} else if (vs_str_has_prefix(url, "/openapi")) {
		*ret = send_simple_error(c, 404, "NotFound", "the server could not find the requested resource");
	} else {
		return false;
	}
	return true;
}

/* ---- routing ------------------------------------------------------------------------------- */

static void route_free(struct route *rt)
{
	for (size_t i = 0; i < rt->nsegs; i++)
		free(rt->segs[i]);
}

/* Parse /api/v1/... and /apis/G/V/... into a route; false when the path is not a resource path. */
static bool route_parse(sim_store *st, const char *url, struct route *rt)
{
	const char *p = url;
	char **s;
	size_t n, i = 0;

	memset(rt, 0, sizeof(*rt));
	while (*p && rt->nsegs < sizeof(rt->segs) / sizeof(rt->segs[0])) {
		const char *slash;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		rt->segs[rt->nsegs++] = vs_xstrndup(p, n);
		p += n;
	}
	s = rt->segs;
	n = rt->nsegs;
	if (n >= 3 && strcmp(s[0], "api") == 0) {
		rt->group = "";
		rt->version = s[1];
		i = 2;
	} else if (n >= 4 && strcmp(s[0], "apis") == 0) {
		rt->group = s[1];
		rt->version = s[2];
		i = 3;
	} else {
		return false;
	}
	if (i < n && strcmp(s[i], "watch") == 0) {
		rt->watch = true;
		i++;
	}
	if (i >= n)
		return false;
	if (strcmp(s[i], "namespaces") == 0 && n - i >= 3) {
		const sim_resource *r = sim_store_resource(st, rt->group, rt->version, s[i + 2]);
		if (r && r->namespaced) {
			rt->ns = s[i + 1];
			i += 2;
		}
	}
	rt->res = sim_store_resource(st, rt->group, rt->version, s[i]);
	if (!rt->res)
		return false;
	if (rt->ns == NULL && rt->res->namespaced && n - i > 1)
		return false; /* a namespaced object needs its namespace in the path */
	rt->name = i + 1 < n ? s[i + 1] : NULL;
	rt->sub = i + 2 < n ? s[i + 2] : NULL;
	return i + 3 >= n;
}

static const char *qarg(struct MHD_Connection *c, const char *key)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

static bool qbool(struct MHD_Connection *c, const char *key)
{
	const char *v = qarg(c, key);

	return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || *v == '\0');
}

static void list_opts_from_query(struct MHD_Connection *c, sim_list_opts *o)
{
	const char *limit = qarg(c, "limit");

	memset(o, 0, sizeof(*o));
	o->label_selector = qarg(c, "labelSelector");
	o->field_selector = qarg(c, "fieldSelector");
	o->limit = limit ? strtol(limit, NULL, 10) : 0;
	o->continue_token = qarg(c, "continue");
}

/* The request's body as JSON: a JSON body, or a protobuf one (kubectl's generators) decoded into the
 * JSON it stands for. CBOR gets a 415. */
static int parse_body(struct MHD_Connection *c, const struct req_ctx *rc, json_t **out, vs_error *err)
{
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	json_error_t jerr;

	if (ct && vs_str_has_prefix(ct, "application/vnd.kubernetes.protobuf"))
		return sim_protobuf_decode(rc->body.data, rc->body.len, out, err);
	if (ct && strstr(ct, "cbor")) {
		*out = NULL;
		return vs_error_set_api(err, 415, "UnsupportedMediaType",
					"the body of the request was in an unknown format - accepted media types include: "
					"application/json, application/vnd.kubernetes.protobuf, "
					"application/merge-patch+json, application/strategic-merge-patch+json, "
					"application/json-patch+json");
	}
	*out = json_loadb(rc->body.data ? rc->body.data : "", rc->body.len, 0, &jerr);
	if (!*out)
		return vs_error_set_api(err, 400, "BadRequest", "the body of the request was in an unknown format: %s",
					jerr.text);
	return 0;
}

static bool wants_table(struct MHD_Connection *c)
{
	const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");

	return acc && strstr(acc, "as=Table") != NULL;
}

/* ---- streams ------------------------------------------------------------------------------- */

/* The socket of connection c, for peer_gone. */
static int connection_fd(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

	return ci ? ci->connect_fd : -1;
}

/*
 * True when the client has closed connection fd (or it failed). A stream waiting for events or log
 * lines writes nothing, so without this check it would hold its thread and connection until its
 * deadline, as an API server does not: it ends a watch when its client goes.
 */
static bool peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	char ch;

	if (fd < 0 || poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
		return true;
	return recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* ---- watch streams ------------------------------------------------------------------------- */

struct watch_stream {
	sim_http *srv;
	const sim_resource *res;
	char *ns, *labels, *fields;
	uint64_t rv;
	int64_t deadline;
	int fd; /* the client's socket */
	vs_buf out;
	size_t off;
	bool done;
	bool table; /* the client asked for Table objects */
};

static void watch_append_event(struct watch_stream *w, const char *type, json_t *obj)
{
	json_t *ev;

	if (w->table && strcmp(type, "ERROR") != 0) {
		json_t *t = sim_table_of(w->res, obj);
		if (t) {
			json_decref(obj);
			obj = t;
		}
	}
	ev = json_pack("{s:s,s:o}", "type", type, "object", obj);
	char *js = json_dumps(ev, JSON_COMPACT);

	vs_buf_puts(&w->out, js);
	vs_buf_puts(&w->out, "\n");
	free(js);
	json_decref(ev);
}

/* False once the CRD of a custom resource is gone or no longer serves it: its watches end. */
static bool still_served(sim_store *st, const sim_resource *res)
{
	return !sim_resource_is_custom(res) || sim_store_resource(st, res->group, res->version, res->plural) == res;
}

static ssize_t watch_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct watch_stream *w = cls;
	size_t n;

	(void)pos;
	while (w->off >= w->out.len) {
		sim_list_opts opts = {w->labels, w->fields, 0, NULL};
		int64_t left = w->deadline - vs_time_mono_ms();
		json_t *evs = NULL, *ev;
		vs_error err;
		size_t i;

		vs_buf_reset(&w->out);
		w->off = 0;
		if (w->done || left <= 0 || atomic_load(&w->srv->stopping) || !still_served(w->srv->st, w->res))
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (peer_gone(w->fd))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (sim_api_watch(w->srv->st, w->res, w->ns, &opts, w->rv, left < 1000 ? left : 1000, &evs, &w->rv,
				  &err) != 0) {
			watch_append_event(w, "ERROR",
					   status_object(err.http_status, "Failure", err.reason, err.message));
			w->done = true;
			continue;
		}
		json_array_foreach(evs, i, ev)
			watch_append_event(w, json_string_value(json_object_get(ev, "type")),
					   json_incref(json_object_get(ev, "object")));
		json_decref(evs);
	}
	n = w->out.len - w->off;
	if (n > max)
		n = max;
	memcpy(buf, w->out.data + w->off, n);
	w->off += n;
	return (ssize_t)n;
}

static void watch_free(void *cls)
{
	struct watch_stream *w = cls;

	free(w->ns);
	free(w->labels);
	free(w->fields);
	vs_buf_free(&w->out);
	free(w);
}

static enum MHD_Result serve_watch(sim_http *srv, struct MHD_Connection *c, const struct route *rt)
{
	struct watch_stream *w = vs_xcalloc(1, sizeof(*w));
	const char *rvs = qarg(c, "resourceVersion"), *timeout = qarg(c, "timeoutSeconds");
	sim_list_opts opts;
	struct MHD_Response *r;
	enum MHD_Result ret;
	vs_error err;
	long secs = timeout ? strtol(timeout, NULL, 10) : 0;
	int64_t cut_ms;

	list_opts_from_query(c, &opts);
	w->srv = srv;
	w->res = rt->res;
	w->ns = rt->ns ? vs_xstrdup(rt->ns) : NULL;
	w->labels = opts.label_selector ? vs_xstrdup(opts.label_selector) : NULL;
	w->fields = opts.field_selector ? vs_xstrdup(opts.field_selector) : NULL;
	w->deadline = vs_time_mono_ms() + (secs > 0 ? secs : 1800) * 1000;
	cut_ms = sim_fault_watch_cut(srv->faults, rt->res->plural);
	if (cut_ms > 0 && vs_time_mono_ms() + cut_ms < w->deadline) {
		vs_info("fault: watch of %s ends in %lld ms", rt->res->plural, (long long)cut_ms);
		w->deadline = vs_time_mono_ms() + cut_ms;
	}
	w->table = wants_table(c);
	w->fd = connection_fd(c);
	vs_buf_init(&w->out, 0);
	if (!rvs || !*rvs || strcmp(rvs, "0") == 0) {
		/* No resourceVersion: the current state as ADDED events, then changes. */
		json_t *list = NULL, *it;
		size_t i;
		opts.limit = 0;
		opts.continue_token = NULL;
		if (sim_api_list(srv->st, rt->res, rt->ns, &opts, &list, &err) != 0) {
			watch_free(w);
			return send_error(c, rt, &err);
		}
		w->rv = strtoull(vs_json_str(list, "metadata.resourceVersion"), NULL, 10);
		json_array_foreach(json_object_get(list, "items"), i, it)
			watch_append_event(w, "ADDED", json_incref(it));
		json_decref(list);
	} else {
		json_t *evs = NULL;
		w->rv = strtoull(rvs, NULL, 10);
		/* Check selectors and the resourceVersion now, so errors are HTTP errors. */
		if (sim_api_watch(srv->st, rt->res, rt->ns, &opts, w->rv, 0, &evs, NULL, &err) != 0) {
			if (err.http_status != 410) {
				watch_free(w);
				return send_error(c, rt, &err);
			}
			watch_append_event(w, "ERROR", status_object(410, "Failure", "Expired", err.message));
			w->done = true;
		}
		json_decref(evs);
	}
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, watch_reader, w, watch_free);
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-cache, private");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- pod logs ------------------------------------------------------------------------------ */

/* How often a followed log that does not grow looks whether its container ended or its client left. */
#define LOG_CHECK_MS 100

struct log_stream {
	sim_http *srv;
	FILE *f;
	char *ns, *pod, *container;
	int fd;	       /* the client's socket */
	int notify_fd; /* inotify on the log file while following, or -1 */
	bool follow;
};

/* The status of the pod's container or init container named name, or NULL (borrowed from pod). */
static const json_t *container_status_of(const json_t *pod, const char *name)
{
	static const char *const lists[] = {"status.containerStatuses", "status.initContainerStatuses"};
	json_t *cs;
	size_t i;

	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
		json_array_foreach(vs_json_path(pod, lists[l]), i, cs) {
			const char *n = vs_json_str(cs, "name");
			if (n && strcmp(n, name) == 0)
				return cs;
		}
	return NULL;
}

/* True when the container has finished or the pod is gone. */
static bool container_done(struct log_stream *ls)
{
	json_t *pod = NULL;
	vs_error err;
	bool done;

	if (sim_api_get(ls->srv->st, sim_resource_find("", "pods"), ls->ns, ls->pod, &pod, &err) != 0)
		return true;
	done = vs_json_path(container_status_of(pod, ls->container), "state.terminated") != NULL;
	json_decref(pod);
	return done;
}

/*
 * Wait until the log may have grown: as a kubelet follows a log (kuberuntime/logs: an fsnotify
 * watch of the file), woken by the write itself, and at least every LOG_CHECK_MS to see whether the
 * container ended or the client left.
 */
static void log_wait_growth(struct log_stream *ls)
{
	struct pollfd p = { .fd = ls->notify_fd, .events = POLLIN };
	char events[4096];

	if (ls->notify_fd < 0) {
		vs_sleep_ms(LOG_CHECK_MS);
		return;
	}
	if (poll(&p, 1, LOG_CHECK_MS) > 0)
		while (read(ls->notify_fd, events, sizeof events) > 0) /* drain: one wake-up per wait */
			;
}

static ssize_t log_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct log_stream *ls = cls;

	(void)pos;
	for (;;) {
		size_t n = fread(buf, 1, max, ls->f);
		bool done;
		if (n > 0)
			return (ssize_t)n;
		if (!ls->follow || atomic_load(&ls->srv->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		clearerr(ls->f);
		done = container_done(ls);
		n = fread(buf, 1, max, ls->f);
		if (n > 0)
			return (ssize_t)n;
		if (done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (peer_gone(ls->fd))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		clearerr(ls->f);
		log_wait_growth(ls);
	}
}

static void log_free(void *cls)
{
	struct log_stream *ls = cls;

	if (ls->f)
		fclose(ls->f);
	if (ls->notify_fd >= 0)
		close(ls->notify_fd);
	free(ls->ns);
	free(ls->pod);
	free(ls->container);
	free(ls);
}

/* Position f at the start of the last n lines. */
static void seek_tail(FILE *f, long n)
{
	long size, pos, lines = 0;

	fseek(f, 0, SEEK_END);
	size = ftell(f);
	for (pos = size - 1; pos >= 0; pos--) {
		int ch;
		fseek(f, pos, SEEK_SET);
		ch = fgetc(f);
		if (ch == '\n' && pos != size - 1 && ++lines == n) {
			fseek(f, pos + 1, SEEK_SET);
			return;
		}
	}
	fseek(f, 0, SEEK_SET);
}

/*
 * Why a container has no log yet, as the kubelet's validateContainerLogStatus decides from the pod's
 * status: its waiting reason ("ContainerCreating" while the kubelet has reported nothing), or NULL
 * once it has been reported running or terminated (now or in its last run). Borrowed from pod.
 */
static const char *log_waiting_reason(const json_t *pod, const char *container)
{
	const json_t *cs = container_status_of(pod, container);

	if (!cs)
		return "ContainerCreating";
	if (vs_json_path(cs, "state.running") || vs_json_path(cs, "state.terminated") ||
	    vs_json_path(cs, "lastState.terminated"))
		return NULL;
	return vs_json_str_or(cs, "state.waiting.reason", "ContainerCreating");
}

static enum MHD_Result serve_log(sim_http *srv, struct MHD_Connection *c, const struct route *rt)
{
	const char *container = qarg(c, "container"), *tail = qarg(c, "tailLines"), *waiting;
	json_t *pod = NULL;
	struct log_stream *ls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *path = NULL;
	vs_error err;
	FILE *f;

	if (sim_api_get(srv->st, rt->res, rt->ns, rt->name, &pod, &err) != 0)
		return send_error(c, rt, &err);
	if (!container || !*container)
		container = vs_json_str(json_array_get(vs_json_path(pod, "spec.containers"), 0), "name");
	if (!container) {
		json_decref(pod);
		return send_simple_error(c, 400, "BadRequest", "a container name must be specified");
	}
	waiting = log_waiting_reason(pod, container);
	if (srv->log_path && !waiting)
		path = srv->log_path(srv->log_ctx, rt->ns, rt->name, container);
	f = path ? fopen(path, "rb") : NULL;
	if (!f) {
		free(path);
		char msg[300];
		snprintf(msg, sizeof(msg), "container \"%s\" in pod \"%s\" is waiting to start: %s", container, rt->name,
			 waiting ? waiting : "ContainerCreating");
		json_decref(pod);
		return send_simple_error(c, 400, "BadRequest", msg);
	}
	if (tail && strtol(tail, NULL, 10) >= 0) {
		long n = strtol(tail, NULL, 10);
		if (n == 0)
			fseek(f, 0, SEEK_END);
		else
			seek_tail(f, n);
	}
	ls = vs_xcalloc(1, sizeof(*ls));
	ls->srv = srv;
	ls->f = f;
	ls->ns = vs_xstrdup(rt->ns);
	ls->pod = vs_xstrdup(rt->name);
	ls->container = vs_xstrdup(container);
	ls->fd = connection_fd(c);
	ls->follow = qbool(c, "follow") && qarg(c, "follow") && strcmp(qarg(c, "follow"), "false") != 0;
	ls->notify_fd = ls->follow ? inotify_init1(IN_NONBLOCK | IN_CLOEXEC) : -1;
	if (ls->notify_fd >= 0 && inotify_add_watch(ls->notify_fd, path, IN_MODIFY) < 0) {
		close(ls->notify_fd);
		ls->notify_fd = -1; /* followed by polling */
	}
	free(path);
	json_decref(pod);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, log_reader, ls, log_free);
	MHD_add_response_header(r, "Content-Type", "text/plain");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- scale --------------------------------------------------------------------------------- */

static char *selector_string(const json_t *sel)
{
	vs_buf b;
	json_t *ml = json_object_get(sel, "matchLabels"), *me = json_object_get(sel, "matchExpressions"), *e;
	const char **keys;
	size_t n = json_object_size(ml), i = 0;
	const char *k;
	json_t *v;

	vs_buf_init(&b, 0);
	keys = vs_xcalloc(n ? n : 1, sizeof(*keys));
	json_object_foreach(ml, k, v)
		keys[i++] = k;
	for (size_t a = 0; a < n; a++)
		for (size_t z = a + 1; z < n; z++)
			if (strcmp(keys[z], keys[a]) < 0) {
				const char *t = keys[a];
				keys[a] = keys[z];
				keys[z] = t;
			}
	for (i = 0; i < n; i++)
		vs_buf_printf(&b, "%s%s=%s", b.len ? "," : "", keys[i], json_string_value(json_object_get(ml, keys[i])));
	free(keys);
	json_array_foreach(me, i, e) {
		const char *op = vs_json_str(e, "operator"), *key = vs_json_str(e, "key");
		json_t *vals = json_object_get(e, "values"), *x;
		size_t j;
		if (!op || !key)
			continue;
		if (b.len)
			vs_buf_puts(&b, ",");
		if (strcmp(op, "Exists") == 0) {
			vs_buf_puts(&b, key);
		} else if (strcmp(op, "DoesNotExist") == 0) {
			vs_buf_printf(&b, "!%s", key);
		} else {
			vs_buf_printf(&b, "%s %s (", key, strcmp(op, "In") == 0 ? "in" : "notin");
			json_array_foreach(vals, j, x)
				vs_buf_printf(&b, "%s%s", j ? "," : "", json_string_value(x));
			vs_buf_puts(&b, ")");
		}
	}
	return vs_buf_steal(&b);
}

/* The autoscaling/v1 Scale of o, an object of res. */
static json_t *scale_of(const sim_resource *res, const json_t *o)
{
	json_t *meta = json_object(), *m = json_object_get(o, "metadata");
	sim_scale_paths paths;
	char *sel = NULL;
	json_t *s;

	sim_resource_scale_paths(res, &paths);
	if (!paths.label_selector && !sim_resource_is_custom(res))
		sel = selector_string(vs_json_path(o, "spec.selector"));
	for (const char *const *k =
		     (const char *const[]){ "name", "namespace", "uid", "resourceVersion", "creationTimestamp", NULL };
	     *k; k++)
		if (json_object_get(m, *k))
			json_object_set(meta, *k, json_object_get(m, *k));
	s = json_pack("{s:s,s:s,s:o,s:{s:I},s:{s:I,s:s*}}", "kind", "Scale", "apiVersion", "autoscaling/v1", "metadata",
		      meta, "spec", "replicas", (json_int_t)vs_json_int(o, paths.spec_replicas, 0), "status",
		      "replicas", (json_int_t)vs_json_int(o, paths.status_replicas, 0), "selector",
		      paths.label_selector ? vs_json_str(o, paths.label_selector) : sel);
	free(sel);
	return s;
}

/* Write scale's spec.replicas into the object; scale's resourceVersion (if any) is a precondition. */
static int scale_write(sim_store *st, const struct route *rt, const json_t *scale, json_t **out, vs_error *err)
{
	json_t *cur = NULL, *res = NULL;
	json_t *rep = vs_json_path(scale, "spec.replicas");
	const char *rv = vs_json_str(scale, "metadata.resourceVersion");
	sim_scale_paths paths;
	int rc;

	if (!json_is_integer(rep))
		return vs_error_set_api(err, 422, "Invalid", "Scale.autoscaling \"%s\" is invalid: spec.replicas: Required value",
					rt->name);
	if (json_integer_value(rep) < 0)
		return vs_error_set_api(err, 422, "Invalid",
					"Scale.autoscaling \"%s\" is invalid: spec.replicas: Invalid value: %lld: must be "
					"greater than or equal to 0",
					rt->name, (long long)json_integer_value(rep));
	if ((rc = sim_api_get(st, rt->res, rt->ns, rt->name, &cur, err)) != 0)
		return rc;
	sim_resource_scale_paths(rt->res, &paths);
	vs_json_set_path(cur, paths.spec_replicas, json_incref(rep));
	if (rv && *rv)
		vs_json_set_path(cur, "metadata.resourceVersion", json_string(rv));
	rc = sim_api_update(st, rt->res, rt->ns, cur, SIM_UPDATE_MAIN, &res, err);
	json_decref(cur);
	if (rc == 0)
		*out = scale_of(rt->res, res);
	json_decref(res);
	return rc;
}

/* ---- verbs --------------------------------------------------------------------------------- */

enum patch_type { PATCH_MERGE, PATCH_STRATEGIC, PATCH_JSON, PATCH_UNSUPPORTED };

static enum patch_type patch_type_of(struct MHD_Connection *c)
{
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");

	if (!ct)
		return PATCH_UNSUPPORTED;
	if (vs_str_has_prefix(ct, "application/merge-patch+json"))
		return PATCH_MERGE;
	if (vs_str_has_prefix(ct, "application/strategic-merge-patch+json"))
		return PATCH_STRATEGIC;
	if (vs_str_has_prefix(ct, "application/json-patch+json"))
		return PATCH_JSON;
	return PATCH_UNSUPPORTED;
}

static int apply_patch(enum patch_type pt, json_t **doc, const json_t *patch, vs_error *err)
{
	if (pt == PATCH_JSON)
		return sim_json_patch(doc, patch, err);
	if (!json_is_object(patch))
		return vs_error_set_api(err, 400, "BadRequest", "the patch is not a JSON object");
	*doc = pt == PATCH_MERGE ? sim_merge_patch(*doc, patch) : sim_strategic_patch(*doc, patch);
	return 0;
}

/* PATCH the object, its status or its scale; retried on conflicts the client did not ask for. */
static int do_patch(sim_store *st, struct MHD_Connection *c, const struct route *rt, const json_t *patch, json_t **out,
		    vs_error *err)
{
	enum patch_type pt = patch_type_of(c);
	bool is_scale = rt->sub && strcmp(rt->sub, "scale") == 0;
	bool is_status = rt->sub && strcmp(rt->sub, "status") == 0;
	int rc = 0;

	if (pt == PATCH_UNSUPPORTED || (pt == PATCH_STRATEGIC && sim_resource_is_custom(rt->res) && !is_scale))
		return vs_error_set_api(
			err, 415, "UnsupportedMediaType",
			"the body of the request was in an unknown format - accepted media types include: "
			"application/json-patch+json, application/merge-patch+json%s",
			sim_resource_is_custom(rt->res) ? ", application/apply-patch+yaml"
							: ", application/strategic-merge-patch+json");
	for (int attempt = 0; attempt < 5; attempt++) {
		json_t *cur = NULL, *doc;
		const char *crv;
		char *rv_before;
		if ((rc = sim_api_get(st, rt->res, rt->ns, rt->name, &cur, err)) != 0)
			return rc;
		doc = is_scale ? scale_of(rt->res, cur) : json_incref(cur);
		crv = vs_json_str(doc, "metadata.resourceVersion");
		rv_before = vs_xstrdup(crv ? crv : "");
		if ((rc = apply_patch(pt, &doc, patch, err)) != 0) {
			json_decref(doc);
			json_decref(cur);
			free(rv_before);
			return rc;
		}
		if (!json_is_object(doc)) {
			rc = vs_error_set_api(err, 422, "Invalid",
					      "the patch produced something that is not an object");
		} else {
			if (!json_is_object(json_object_get(doc, "metadata")))
				json_object_set_new(doc, "metadata", json_object());
			json_object_set_new(json_object_get(doc, "metadata"), "name", json_string(rt->name));
			if (is_scale)
				rc = scale_write(st, rt, doc, out, err);
			else
				rc = sim_api_update(st, rt->res, rt->ns, doc,
						    is_status ? SIM_UPDATE_STATUS : SIM_UPDATE_MAIN, out, err);
		}
		{
			const char *after = vs_json_str(doc, "metadata.resourceVersion");
			bool client_rv = after && strcmp(after, rv_before) != 0;
			json_decref(doc);
			json_decref(cur);
			free(rv_before);
			if (rc == 0 || !vs_error_is(err, "Conflict") || client_rv)
				return rc;
		}
	}
	return rc;
}

static void delete_opts_from(struct MHD_Connection *c, const json_t *body, sim_delete_opts *o)
{
	const char *pp = json_string_value(json_object_get(body, "propagationPolicy"));
	const char *grace = qarg(c, "gracePeriodSeconds");
	json_t *g = json_object_get(body, "gracePeriodSeconds");

	memset(o, 0, sizeof(*o));
	o->grace_period_seconds = -1;
	if (!pp)
		pp = qarg(c, "propagationPolicy");
	if (pp && strcmp(pp, "Orphan") == 0)
		o->propagation = SIM_PROPAGATE_ORPHAN;
	else if (pp && strcmp(pp, "Foreground") == 0)
		o->propagation = SIM_PROPAGATE_FOREGROUND;
	else if (pp && strcmp(pp, "Background") == 0)
		o->propagation = SIM_PROPAGATE_BACKGROUND;
	if (json_is_true(json_object_get(body, "orphanDependents")) || (qarg(c, "orphanDependents") && qbool(c, "orphanDependents")))
		o->propagation = SIM_PROPAGATE_ORPHAN;
	if (json_is_integer(g))
		o->grace_period_seconds = (long)json_integer_value(g);
	else if (grace)
		o->grace_period_seconds = strtol(grace, NULL, 10);
	o->precondition_uid = vs_json_str(body, "preconditions.uid");
	o->precondition_rv = vs_json_str(body, "preconditions.resourceVersion");
}

static json_t *success_status(const struct route *rt, const json_t *obj, int code)
{
	json_t *s = status_object(code, "Success", NULL, NULL);

	json_object_set_new(s, "details",
			    json_pack("{s:s,s:s,s:s*}", "name", rt->name ? rt->name : "", "kind", rt->res->plural, "uid",
				      vs_json_str(obj, "metadata.uid")));
	return s;
}

static enum MHD_Result do_delete(sim_http *srv, struct MHD_Connection *c, const struct route *rt, const json_t *body)
{
	sim_delete_opts opts;
	json_t *out = NULL;
	bool deleted = false;
	vs_error err;

	delete_opts_from(c, body, &opts);
	if (sim_api_delete(srv->st, rt->res, rt->ns, rt->name, &opts, &out, &deleted, &err) != 0)
		return send_error(c, rt, &err);
	if (deleted) {
		json_t *s = success_status(rt, out, 200);
		json_decref(out);
		return send_json(c, 200, s);
	}
	return send_json(c, 200, out);
}

static enum MHD_Result do_delete_collection(sim_http *srv, struct MHD_Connection *c, const struct route *rt,
					    const json_t *body)
{
	sim_list_opts lo;
	sim_delete_opts opts;
	json_t *list = NULL, *it;
	vs_error err;
	size_t i;

	list_opts_from_query(c, &lo);
	delete_opts_from(c, body, &opts);
	if (sim_api_list(srv->st, rt->res, rt->ns, &lo, &list, &err) != 0)
		return send_error(c, rt, &err);
	json_array_foreach(json_object_get(list, "items"), i, it) {
		vs_error e2;
		if (sim_api_delete(srv->st, rt->res, vs_json_str(it, "metadata.namespace"), vs_json_str(it, "metadata.name"),
				   &opts, NULL, NULL, &e2) != 0)
			vs_debug("deletecollection: %s", e2.message);
	}
	return send_json(c, 200, list);
}

static enum MHD_Result do_eviction(sim_http *srv, struct MHD_Connection *c, const struct route *rt, const json_t *body)
{
	json_t *dopts = json_object_get(body, "deleteOptions");
	sim_delete_opts opts;
	vs_error err;

	delete_opts_from(c, dopts, &opts);
	if (sim_api_delete(srv->st, rt->res, rt->ns, rt->name, &opts, NULL, NULL, &err) != 0)
		return send_error(c, rt, &err);
	return send_json(c, 201, status_object(201, "Success", NULL, NULL));
}

static enum MHD_Result do_binding(sim_http *srv, struct MHD_Connection *c, const struct route *rt, const json_t *body)
{
	const char *node = vs_json_str(body, "target.name"), *cur_node;
	json_t *pod = NULL;
	vs_error err;
	int rc;

	if (!node)
		return send_simple_error(c, 400, "BadRequest", "binding has no target.name");
	if (sim_api_get(srv->st, rt->res, rt->ns, rt->name, &pod, &err) != 0)
		return send_error(c, rt, &err);
	cur_node = vs_json_str(pod, "spec.nodeName");
	if (cur_node && *cur_node) {
		char msg[300];
		snprintf(msg, sizeof(msg), "Operation cannot be fulfilled on pods/binding \"%s\": pod %s is already assigned to node \"%s\"",
			 rt->name, rt->name, cur_node);
		json_decref(pod);
		return send_simple_error(c, 409, "Conflict", msg);
	}
	vs_json_set_path(pod, "spec.nodeName", json_string(node));
	rc = sim_api_update(srv->st, rt->res, rt->ns, pod, SIM_UPDATE_MAIN, NULL, &err);
	json_decref(pod);
	if (rc != 0)
		return send_error(c, rt, &err);
	return send_json(c, 201, status_object(201, "Success", NULL, NULL));
}


static enum MHD_Result send_read(struct MHD_Connection *c, const struct route *rt, json_t *body)
{
	if (wants_table(c) && !rt->sub) {
		json_t *t = sim_table_of(rt->res, body);
		if (t) {
			json_decref(body);
			return send_json(c, 200, t);
		}
	}
	return send_json(c, 200, body);
}

/* pods/NAME/exec: a WebSocket session (http_exec.c), or the Status of its refusal. */
static enum MHD_Result serve_exec(sim_http *srv, struct MHD_Connection *c, const struct route *rt)
{
	enum MHD_Result ret = MHD_NO;
	vs_error err;

	if (sim_http_exec(srv->exec, srv->st, c, rt->ns, rt->name, &ret, &err) != 0)
		return send_error(c, rt, &err);
	return ret;
}

/* The answer of a review or a TokenRequest (auth.h), for the user of the request. */
static enum MHD_Result auth_create(sim_http *srv, struct MHD_Connection *c, const struct route *rt,
				   const struct req_ctx *rq, const json_t *body)
{
	json_t *out = NULL;
	vs_error err;

	if (!srv->sec.auth)
		return send_simple_error(c, 404, "NotFound", "the server could not find the requested resource");
	if (sim_auth_create(srv->sec.auth, rq->user, rt->res, rt->ns, rt->name, body, &out, &err) != 0)
		return send_error(c, rt, &err);
	return send_json(c, 201, out);
}

static enum MHD_Result dispatch(sim_http *srv, struct MHD_Connection *c, const char *method, const struct route *rt,
				struct req_ctx *rq)
{
	sim_store *st = srv->st;
	json_t *body = NULL, *out = NULL;
	const char *sub = rt->sub;
	vs_error err;
	enum MHD_Result ret;
	int rc = 0;

	if (sub && !strstr(rt->res->subresources, sub))
		return send_simple_error(c, 404, "NotFound", "the server could not find the requested resource");
	if (sub && strcmp(sub, "exec") == 0)
		return serve_exec(srv, c, rt);
	if (sim_resource_create_only(rt->res) && (strcmp(method, "POST") != 0 || rt->name))
		return send_simple_error(c, 405, "MethodNotAllowed",
					 "the server does not allow this method on the requested resource");
	if (rt->ns && strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0 && !rt->name &&
	    strcmp(method, "DELETE") != 0)
		return send_simple_error(c, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
	if (strcmp(method, "GET") == 0) {
		if (!rt->name) {
			sim_list_opts lo;
			if (rt->watch || qbool(c, "watch"))
				return serve_watch(srv, c, rt);
			list_opts_from_query(c, &lo);
			if ((rc = sim_api_list(st, rt->res, rt->ns, &lo, &out, &err)) != 0)
				return send_error(c, rt, &err);
			return send_read(c, rt, out);
		}
		if (sub && strcmp(sub, "log") == 0)
			return serve_log(srv, c, rt);
		if ((rc = sim_api_get(st, rt->res, rt->ns, rt->name, &out, &err)) != 0)
			return send_error(c, rt, &err);
		if (sub && strcmp(sub, "scale") == 0) {
			json_t *s = scale_of(rt->res, out);
			json_decref(out);
			return send_json(c, 200, s);
		}
		return send_read(c, rt, out);
	}
	if (rq->body.len > 0 && (rc = parse_body(c, rq, &body, &err)) != 0)
		return send_error(c, rt, &err);
	if (strcmp(method, "POST") == 0) {
		if (sim_auth_creates(rt->res, sub))
			ret = auth_create(srv, c, rt, rq, body);
		else if (rt->name && sub && strcmp(sub, "eviction") == 0)
			ret = do_eviction(srv, c, rt, body);
		else if (rt->name && sub && strcmp(sub, "binding") == 0)
			ret = do_binding(srv, c, rt, body);
		else if (rt->name)
			ret = send_simple_error(c, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
		else if (!body)
			ret = send_simple_error(c, 400, "BadRequest", "the request has no body");
		else if ((rc = sim_api_create(st, rt->res, rt->ns, body, &out, &err)) != 0)
			ret = send_error(c, rt, &err);
		else
			ret = send_json(c, 201, out);
	} else if (strcmp(method, "PUT") == 0 && rt->name) {
		if (!body) {
			ret = send_simple_error(c, 400, "BadRequest", "the request has no body");
		} else {
			const char *bn = vs_json_str(body, "metadata.name");
			if (bn && strcmp(bn, rt->name) != 0 && !(sub && strcmp(sub, "scale") == 0))
				rc = vs_error_set_api(&err, 400, "BadRequest",
						      "the name of the object (%s) does not match the name on the URL (%s)", bn,
						      rt->name);
			else if (!bn)
				vs_json_set_path(body, "metadata.name", json_string(rt->name));
			if (rc == 0) {
				if (sub && strcmp(sub, "scale") == 0)
					rc = scale_write(st, rt, body, &out, &err);
				else
					rc = sim_api_update(st, rt->res, rt->ns, body,
							    sub && strcmp(sub, "status") == 0 ? SIM_UPDATE_STATUS : SIM_UPDATE_MAIN,
							    &out, &err);
			}
			ret = rc ? send_error(c, rt, &err) : send_json(c, 200, out);
		}
	} else if (strcmp(method, "PATCH") == 0 && rt->name) {
		if (!body)
			ret = send_simple_error(c, 400, "BadRequest", "the request has no body");
		else if ((rc = do_patch(st, c, rt, body, &out, &err)) != 0)
			ret = send_error(c, rt, &err);
		else
			ret = send_json(c, 200, out);
	} else if (strcmp(method, "DELETE") == 0) {
		ret = rt->name ? do_delete(srv, c, rt, body) : do_delete_collection(srv, c, rt, body);
	} else {
		ret = send_simple_error(c, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
	}
	json_decref(body);
	return ret;
}

/* ---- fault injection and volshift-sim's own endpoints ------------------------------------- */

/* The verb of a request as RBAC and the fault SPEC name it. */
static const char *request_verb(struct MHD_Connection *c, const char *method, const struct route *rt)
{
	if (strcmp(method, "GET") == 0)
		return rt->name ? "get" : rt->watch || qbool(c, "watch") ? "watch" : "list";
	if (strcmp(method, "POST") == 0)
		return "create";
	if (strcmp(method, "PUT") == 0)
		return "update";
	if (strcmp(method, "PATCH") == 0)
		return "patch";
	if (strcmp(method, "DELETE") == 0)
		return rt->name ? "delete" : "deletecollection";
	return method;
}

/* The Status reply of an injected 500, 503 or 429, worded as kube-apiserver words its own. */
static enum MHD_Result send_fault_status(struct MHD_Connection *c, const sim_fault *f)
{
	static const struct {
		int code;
		const char *reason, *message;
	} replies[] = {
		[SIM_FAULT_500] = { 500, "InternalError",
				    "an error on the server (\"injected by volshift-sim\") has prevented the request from "
				    "succeeding" },
		[SIM_FAULT_503] = { 503, "ServiceUnavailable",
				    "the server is currently unable to handle the request (injected by volshift-sim)" },
		[SIM_FAULT_429] = { 429, "TooManyRequests",
				    "too many requests, please try again later (injected by volshift-sim)" },
	};
	json_t *st = status_object(replies[f->kind].code, "Failure", replies[f->kind].reason, replies[f->kind].message);
	struct MHD_Response *r;
	char secs[16];

	if (f->kind == SIM_FAULT_429)
		json_object_set_new(st, "details", json_pack("{s:i}", "retryAfterSeconds", f->retry_after_s));
	r = response_of(json_text(st), "application/json");
	if (f->kind == SIM_FAULT_429) {
		snprintf(secs, sizeof(secs), "%d", f->retry_after_s);
		MHD_add_response_header(r, "Retry-After", secs);
	}
	return queue_response(c, (unsigned)replies[f->kind].code, r);
}

/* Serve an API request after asking the fault injector about it; MHD_NO resets the connection. */
static enum MHD_Result serve_api(sim_http *srv, struct MHD_Connection *c, const char *method, const char *url,
				 const struct route *rt, struct req_ctx *rq)
{
	sim_fault f = sim_fault_decide(srv->faults, request_verb(c, method, rt), rt->res->plural, rt->sub);

	if (f.kind != SIM_FAULT_NONE)
		vs_info("fault: %s for %s %s", sim_fault_kind_name(f.kind), method, url);
	switch (f.kind) {
	case SIM_FAULT_500:
	case SIM_FAULT_503:
	case SIM_FAULT_429:
		return send_fault_status(c, &f);
	case SIM_FAULT_RESET:
		return MHD_NO;
	case SIM_FAULT_RESET_AFTER:
		/* the reply is queued, but MHD_NO closes the connection before it is sent */
		dispatch(srv, c, method, rt, rq);
		return MHD_NO;
	case SIM_FAULT_LATENCY:
		vs_sleep_ms(f.latency_ms);
		break;
	default:
		break;
	}
	return dispatch(srv, c, method, rt, rq);
}

/* Answers /volshift-sim/... (never faulted); returns false for every other path. */
static bool serve_admin(sim_http *srv, struct MHD_Connection *c, const char *url, const char *method,
			const struct req_ctx *rq, enum MHD_Result *ret)
{
	bool faults = strcmp(url, "/volshift-sim/faults") == 0, kill = strcmp(url, "/volshift-sim/kill") == 0;
	json_t *out = NULL;
	vs_error err;

	if (!vs_str_has_prefix(url, "/volshift-sim/"))
		return false;
	if (faults && strcmp(method, "GET") == 0) {
		*ret = send_json(c, 200, sim_fault_report(srv->faults));
	} else if (faults && strcmp(method, "PUT") == 0) {
		if (sim_fault_set(srv->faults, rq->body.data ? rq->body.data : "", &err) != 0)
			*ret = send_simple_error(c, 400, "BadRequest", err.message);
		else
			*ret = send_json(c, 200, sim_fault_report(srv->faults));
	} else if (kill && strcmp(method, "POST") == 0) {
		const char *ns = qarg(c, "namespace"), *pod = qarg(c, "pod");
		if (!pod || !*pod)
			*ret = send_simple_error(c, 400, "BadRequest", "kill: the query parameter pod is required");
		else if (sim_fault_kill_pod(srv->st, ns && *ns ? ns : "default", pod, qarg(c, "container"), &out, &err) != 0)
			*ret = send_error(c, NULL, &err);
		else
			*ret = send_json(c, 200, out);
	} else if (faults || kill) {
		*ret = send_simple_error(c, 405, "MethodNotAllowed",
					 faults ? "use GET or PUT on /volshift-sim/faults" : "use POST on /volshift-sim/kill");
	} else {
		*ret = send_simple_error(c, 404, "NotFound", "the server could not find the requested resource");
	}
	return true;
}

/* ---- the server ---------------------------------------------------------------------------- */

/* The TLS session of a connection (gnutls_session_t), or NULL on plain HTTP. */
static void *tls_session(sim_http *srv, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		srv->sec.cert_pem ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION) : NULL;

	return ci ? ci->tls_session : NULL;
}

/* Authenticate and authorize a request (auth.h) into rq->user; false with the refusal queued. */
/* Collects the Impersonate-Group headers into a NULL-terminated array of SIM_IMPERSONATE_GROUPS_MAX. */
static enum MHD_Result impersonate_group(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	const char **groups = cls;
	size_t n = 0;

	(void)kind;
	while (groups[n])
		n++;
	if (strcasecmp(key, "Impersonate-Group") == 0 && value && n < SIM_IMPERSONATE_GROUPS_MAX)
		groups[n] = value;
	return MHD_YES;
}

static bool authorized(sim_http *srv, struct MHD_Connection *c, const char *method, const char *url, struct req_ctx *rq,
		       enum MHD_Result *ret)
{
	const char *groups[SIM_IMPERSONATE_GROUPS_MAX + 1] = { NULL };
	sim_auth_request req = {
		.method = method,
		.path = url,
		.watch = qarg(c, "watch"),
		.field_selector = qarg(c, "fieldSelector"),
		.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
		.tls_session = tls_session(srv, c),
		.impersonate_user = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Impersonate-User"),
		.impersonate_groups = groups,
	};
	json_t *details = NULL, *st;
	vs_error err;

	MHD_get_connection_values(c, MHD_HEADER_KIND, impersonate_group, groups);
	if (sim_auth_check(srv->sec.auth, &req, &rq->user, &details, &err) == 0)
		return true;
	st = status_object(err.http_status, "Failure", err.reason, err.message);
	if (details)
		json_object_set_new(st, "details", details);
	*ret = send_json(c, (unsigned)err.http_status, st);
	return false;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	sim_http *srv = cls;
	struct req_ctx *rq = *con_cls;
	struct route rt;
	enum MHD_Result ret;

	(void)version;
	if (!rq) {
		rq = vs_xcalloc(1, sizeof(*rq));
		vs_buf_init(&rq->body, BODY_LIMIT);
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size) {
		if (vs_buf_append(&rq->body, upload_data, *upload_size) != 0)
			rq->too_big = true;
		*upload_size = 0;
		return MHD_YES;
	}
	vs_debug("http: %s %s", method, url);
	if (rq->too_big)
		return send_simple_error(c, 413, "RequestEntityTooLarge", "the request body is too large");
	if (srv->sec.auth && !authorized(srv, c, method, url, rq, &ret))
		return ret;
	if (serve_admin(srv, c, url, method, rq, &ret) || serve_discovery(srv->st, c, url, &ret))
		return ret;
	if (!route_parse(srv->st, url, &rt)) {
		route_free(&rt);
		return send_simple_error(c, 404, "NotFound", "the server could not find the requested resource");
	}
	ret = serve_api(srv, c, method, url, &rt, rq);
	route_free(&rt);
	return ret;
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rq) {
		vs_buf_free(&rq->body);
		json_decref(rq->user);
		free(rq);
		*con_cls = NULL;
	}
}

/*
 * libmicrohttpd's messages, through the sim's log. Those that only say a client went away mid-reply
 * (a watch or a followed log it stopped reading) are normal for an API server: debug level.
 */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	static const char *const client_gone[] = { "Closing connection (application error", "Failed to send",
						   "no longer available", "Connection reset" };
	enum vs_log_level level = VS_LOG_WARN;
	char msg[512];
	size_t i, n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '.'))
		msg[--n] = '\0';
	for (i = 0; i < sizeof(client_gone) / sizeof(client_gone[0]); i++)
		if (strstr(msg, client_gone[i]))
			level = VS_LOG_DEBUG;
	vs_log(level, "http: %s", msg);
}

/* Start libmicrohttpd on addr: with TLS (GnuTLS) when srv has a certificate, asking clients for
 * theirs against the client CA. */
static struct MHD_Daemon *start_daemon(sim_http *srv, const struct sockaddr_in *addr)
{
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_UPGRADE;
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)srv->sec.cert_pem },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)srv->sec.key_pem },
		{ srv->sec.client_ca_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
		  (void *)srv->sec.client_ca_pem },
		{ MHD_OPTION_END, 0, NULL },
	};

	if (srv->sec.cert_pem)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(flags, 0, NULL, NULL, handler, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)addr, MHD_OPTION_NOTIFY_COMPLETED,
				request_done, srv, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0, MHD_OPTION_ARRAY,
				srv->sec.cert_pem ? tls : tls + 3, MHD_OPTION_END);
}

int sim_http_start(sim_store *st, sim_faults *faults, const sim_http_security *sec, const char *listen,
		   sim_log_path_fn log_path, void *log_ctx, sim_http **out, char **url, vs_error *err)
{
	struct sockaddr_in addr;
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	char host[64];
	const union MHD_DaemonInfo *info;
	sim_http *srv;

	*out = NULL;
	if (url)
		*url = NULL;
	if (!colon || (size_t)(colon - listen) >= sizeof(host))
		return vs_error_set(err, VS_EINVAL, "listen address \"%s\": expected HOST:PORT", listen ? listen : "");
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
		return vs_error_set(err, VS_EINVAL, "listen address \"%s\": not an IPv4 address", listen);
	srv = vs_xcalloc(1, sizeof(*srv));
	srv->st = st;
	srv->faults = faults;
	if (sec)
		srv->sec = *sec;
	srv->log_path = log_path;
	srv->log_ctx = log_ctx;
	atomic_init(&srv->stopping, false);
	srv->exec = sim_exec_sessions_new();
	srv->daemon = start_daemon(srv, &addr);
	if (!srv->daemon) {
		sim_exec_sessions_free(srv->exec);
		free(srv);
		return vs_error_set(err, VS_ENET, "cannot listen on %s", listen);
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (url)
		*url = vs_xasprintf("%s://%s:%u", srv->sec.cert_pem ? "https" : "http", host,
				    info ? (unsigned)info->port : 0);
	vs_info("serving the Kubernetes API on %s://%s:%u", srv->sec.cert_pem ? "https" : "http", host,
		info ? (unsigned)info->port : 0);
	*out = srv;
	return 0;
}

void sim_http_stop(sim_http *srv)
{
	if (!srv)
		return;
	atomic_store(&srv->stopping, true);
	sim_exec_sessions_stop(srv->exec);
	MHD_stop_daemon(srv->daemon);
	sim_exec_sessions_free(srv->exec);
	free(srv);
}
