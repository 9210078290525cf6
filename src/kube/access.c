/*
 * access: asking the API server what the user may do before doing it. A run that RBAC would stop
 * half way leaves a migration to resume by hand; asking first (SelfSubjectAccessReview, as
 * `kubectl auth can-i` does) lets volshift list every missing permission before it changes anything.
 */
#include "kube/kube.h"

static const vs_kube_resource access_reviews = { "authorization.k8s.io", "v1", "selfsubjectaccessreviews", false };

json_t *vs_kube_access_review_new(const vs_kube_access *a)
{
	json_t *attrs = json_pack("{s:s, s:s, s:s}", "verb", a->verb, "group", a->group, "resource", a->resource);

	if (a->subresource && *a->subresource)
		json_object_set_new(attrs, "subresource", json_string(a->subresource));
	if (a->ns && *a->ns)
		json_object_set_new(attrs, "namespace", json_string(a->ns));
	return json_pack("{s:s, s:s, s:{s:o}}", "apiVersion", "authorization.k8s.io/v1", "kind",
			 "SelfSubjectAccessReview", "spec", "resourceAttributes", attrs);
}

int vs_kube_access_review_allowed(const json_t *reply, const vs_kube_access *a, bool *allowed, vs_error *err)
{
	const json_t *v = vs_json_path(reply, "status.allowed");

	if (!json_is_boolean(v))
		return vs_error_set(err, VS_EAPI, "access review of %s %s%s%s: the reply has no status.allowed",
				    a->verb, a->resource, a->subresource ? "/" : "",
				    a->subresource ? a->subresource : "");
	*allowed = json_is_true(v);
	return 0;
}

int vs_kube_can_i(vs_kube_client *c, const vs_kube_access *a, bool *allowed, vs_error *err)
{
	json_t *review = vs_kube_access_review_new(a);
	json_t *reply = NULL;
	vs_kube_retry retry = { 0 };
	int64_t delay;
	int rc;

	/* a review changes nothing: asking again after any transient failure is safe */
	while ((rc = vs_kube_create(c, &access_reviews, NULL, review, &reply, err)) < 0 &&
	       vs_kube_retry_next(c, &retry, err, &delay))
		vs_sleep_ms(delay);
	if (rc == 0)
		rc = vs_kube_access_review_allowed(reply, a, allowed, err);
	json_decref(review);
	json_decref(reply);
	return rc;
}
