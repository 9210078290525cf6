/*
 * object: the pure parts of the client, kept apart so they can be tested without a server: the
 * resource descriptors callers name, accessors for an object's metadata, the decoding of a
 * Kubernetes Status reply into a vs_error, and the backoff delay between retries.
 */
#include "kube/kube.h"

#include <string.h>

const vs_kube_resource VS_KUBE_PODS = { "", "v1", "pods", true };
const vs_kube_resource VS_KUBE_PVCS = { "", "v1", "persistentvolumeclaims", true };
const vs_kube_resource VS_KUBE_PVS = { "", "v1", "persistentvolumes", false };
const vs_kube_resource VS_KUBE_STORAGECLASSES = { "storage.k8s.io", "v1", "storageclasses", false };
const vs_kube_resource VS_KUBE_CONFIGMAPS = { "", "v1", "configmaps", true };
const vs_kube_resource VS_KUBE_SECRETS = { "", "v1", "secrets", true };
const vs_kube_resource VS_KUBE_NODES = { "", "v1", "nodes", false };
const vs_kube_resource VS_KUBE_EVENTS = { "", "v1", "events", true };
const vs_kube_resource VS_KUBE_DEPLOYMENTS = { "apps", "v1", "deployments", true };
const vs_kube_resource VS_KUBE_STATEFULSETS = { "apps", "v1", "statefulsets", true };
const vs_kube_resource VS_KUBE_REPLICASETS = { "apps", "v1", "replicasets", true };
const vs_kube_resource VS_KUBE_DAEMONSETS = { "apps", "v1", "daemonsets", true };
const vs_kube_resource VS_KUBE_JOBS = { "batch", "v1", "jobs", true };
const vs_kube_resource VS_KUBE_CRONJOBS = { "batch", "v1", "cronjobs", true };
const vs_kube_resource VS_KUBE_CSISTORAGECAPACITIES = { "storage.k8s.io", "v1", "csistoragecapacities", true };
const vs_kube_resource VS_KUBE_LEASES = { "coordination.k8s.io", "v1", "leases", true };

const char *vs_kube_obj_name(const json_t *obj)
{
	return vs_json_str(obj, "metadata.name");
}

const char *vs_kube_obj_namespace(const json_t *obj)
{
	return vs_json_str(obj, "metadata.namespace");
}

const char *vs_kube_obj_resource_version(const json_t *obj)
{
	return vs_json_str(obj, "metadata.resourceVersion");
}

const char *vs_kube_obj_uid(const json_t *obj)
{
	return vs_json_str(obj, "metadata.uid");
}

/* The reason the API server would give for a status, for replies without a Status body. */
static const char *reason_for_status(int http_status)
{
	switch (http_status) {
	case 400: return "BadRequest";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "NotFound";
	case 405: return "MethodNotAllowed";
	case 406: return "NotAcceptable";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "RequestEntityTooLarge";
	case 415: return "UnsupportedMediaType";
	case 422: return "Invalid";
	case 429: return "TooManyRequests";
	case 500: return "InternalError";
	case 503: return "ServiceUnavailable";
	case 504: return "Timeout";
	default: return http_status >= 500 ? "InternalError" : "Unknown";
	}
}

/* The first line of a non-Status body, at most 200 bytes, printable characters only. */
static void body_excerpt(const char *body, size_t len, char out[201])
{
	size_t i, n = 0;

	for (i = 0; body && i < len && n < 200; i++) {
		unsigned char ch = (unsigned char)body[i];
		if (ch == '\n' || ch == '\r') {
			if (n > 0)
				break;
			continue;
		}
		out[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[n] = '\0';
}

int vs_kube_status_error(int http_status, const char *body, size_t len, const char *what, vs_error *err)
{
	json_t *st = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	const char *kind = vs_json_str(st, "kind"), *reason = vs_json_str(st, "reason");
	const char *msg = vs_json_str(st, "message");
	char excerpt[201];
	int code = (int)vs_json_int(st, "code", http_status);

	if (kind && !strcmp(kind, "Status")) {
		if (!reason || !*reason)
			reason = reason_for_status(code ? code : http_status);
		vs_error_set_api(err, http_status, reason, "%s: %s", what, msg && *msg ? msg : reason);
	} else {
		body_excerpt(body, len, excerpt);
		vs_error_set_api(err, http_status, reason_for_status(http_status), "%s: HTTP %d%s%s", what, http_status,
				 excerpt[0] ? ": " : "", excerpt);
	}
	json_decref(st);
	return VS_EAPI;
}

int64_t vs_kube_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms, uint64_t rand)
{
	int64_t ceiling = base_ms > 0 ? base_ms : 1;

	if (cap_ms < ceiling)
		cap_ms = ceiling;
	while (attempt-- > 0 && ceiling < cap_ms)
		ceiling = ceiling > cap_ms / 2 ? cap_ms : ceiling * 2;
	if (ceiling > cap_ms)
		ceiling = cap_ms;
	return (int64_t)(rand % ((uint64_t)ceiling + 1));
}

bool vs_kube_error_transient(const vs_error *err)
{
	if (err->code == VS_ENET)
		return true;
	if (err->code != VS_EAPI)
		return false;
	return err->http_status == 429 || err->http_status >= 500 || vs_error_is(err, "Conflict");
}
