/*
 * access: the permissions a migration needs, asked for before anything is changed. RBAC that
 * refuses one request in the middle of a run leaves claims half switched; asking the API server
 * first (a SelfSubjectAccessReview per verb) lists every missing permission at once, as rules the
 * user can add. The table below is the one list: deploy/clusterrole.yaml and deploy/role.yaml grant
 * exactly these permissions, and tests/e2e/test_in_cluster.sh checks that they agree.
 */
#include "migrate/migrate.h"

#include <assert.h>
#include <string.h>

/* One rule of the role: verbs on a resource, everywhere or only in the journal's namespace. */
struct access_rule {
	const char *group, *resource, *subresource;
	const char *verbs[7];
	bool state_ns; /* granted by the Role in the journal's namespace, not the ClusterRole */
};

static const struct access_rule access_rules[] = {
	{ "", "persistentvolumeclaims", NULL, { "get", "list", "watch", "create", "patch", "delete" }, false },
	{ "", "persistentvolumes", NULL, { "get", "list", "watch", "patch", "delete" }, false },
	{ "", "pods", NULL, { "get", "list", "watch", "create", "delete" }, false },
	{ "", "pods", "log", { "get" }, false },
	{ "", "events", NULL, { "list" }, false },
	{ "", "nodes", NULL, { "list" }, false },
	{ "storage.k8s.io", "storageclasses", NULL, { "list", "patch" }, false },
	{ "storage.k8s.io", "csistoragecapacities", NULL, { "list" }, false },
	{ "apps", "deployments", NULL, { "get", "list", "watch", "patch" }, false },
	{ "apps", "replicasets", NULL, { "get", "list", "watch", "patch" }, false },
	{ "apps", "daemonsets", NULL, { "get", "list", "watch", "patch" }, false },
	{ "apps", "statefulsets", NULL, { "get", "list", "watch", "patch", "create", "delete" }, false },
	{ "batch", "jobs", NULL, { "get", "list", "watch" }, false },
	{ "batch", "cronjobs", NULL, { "get", "list", "watch", "patch" }, false },
	{ "coordination.k8s.io", "leases", NULL, { "get", "list", "watch", "create", "update", "delete" }, false },
	{ "", "configmaps", NULL, { "get", "list", "create", "update", "delete" }, true },
};

#define ACCESS_MAX 64 /* permissions in access_rules, at most */

size_t vs_migrate_access_needed(const char *state_ns, vs_kube_access *out, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < sizeof(access_rules) / sizeof(access_rules[0]); i++) {
		const struct access_rule *a = &access_rules[i];
		for (size_t v = 0; v < sizeof(a->verbs) / sizeof(a->verbs[0]) && a->verbs[v]; v++, k++) {
			if (k < n)
				out[k] = (vs_kube_access){ .verb = a->verbs[v],
							   .group = a->group,
							   .resource = a->resource,
							   .subresource = a->subresource,
							   .ns = a->state_ns ? state_ns : NULL };
		}
	}
	return k;
}

static bool access_same_rule(const vs_kube_access *a, const vs_kube_access *b)
{
	return !strcmp(a->group, b->group) && !strcmp(a->resource, b->resource) &&
	       !strcmp(a->subresource ? a->subresource : "", b->subresource ? b->subresource : "") &&
	       !strcmp(a->ns ? a->ns : "", b->ns ? b->ns : "");
}

char *vs_migrate_access_rules_text(const vs_kube_access *missing, size_t n)
{
	vs_buf b;

	vs_buf_init(&b, 0);
	for (size_t i = 0; i < n; i++) {
		const vs_kube_access *a = &missing[i];
		bool first = i == 0 || !access_same_rule(a, &missing[i - 1]);
		bool last = i + 1 == n || !access_same_rule(a, &missing[i + 1]);
		if (first)
			vs_buf_printf(&b, "  - {apiGroups: [\"%s\"], resources: [%s%s%s], verbs: [", a->group,
				      a->resource, a->subresource ? "/" : "", a->subresource ? a->subresource : "");
		vs_buf_printf(&b, "%s%s", first ? "" : ", ", a->verb);
		if (last && a->ns && *a->ns)
			vs_buf_printf(&b, "]}  # a Role in namespace %s\n", a->ns);
		else if (last)
			vs_buf_puts(&b, "]}  # a ClusterRole: all namespaces\n");
	}
	return b.data ? b.data : vs_xstrdup("");
}

int vs_migrate_access_check(vs_kube_client *c, const char *state_ns, char **missing_rules, vs_error *err)
{
	vs_kube_access need[ACCESS_MAX], missing[ACCESS_MAX];
	size_t n = vs_migrate_access_needed(state_ns, need, ACCESS_MAX), nmissing = 0;
	int rc = 0;

	assert(n <= ACCESS_MAX);
	*missing_rules = NULL;
	for (size_t i = 0; i < n && rc == 0; i++) {
		bool allowed = false;
		rc = vs_kube_can_i(c, &need[i], &allowed, err);
		if (rc == 0 && !allowed)
			missing[nmissing++] = need[i];
	}
	if (rc < 0)
		return rc;
	if (nmissing == 0)
		return 0;
	*missing_rules = vs_migrate_access_rules_text(missing, nmissing);
	return vs_error_set_api(err, 403, "Forbidden",
				"RBAC denies %zu of the %zu permissions a migration needs; nothing was changed. Add "
				"these rules to the roles bound to the account volshift runs as (deploy/ has them all)",
				nmissing, n);
}
