/*
 * End-to-end: volshift's Kubernetes client against a running volshift-sim ($KUBECONFIG). Each case
 * uses its own names, so the cases share one cluster.
 */
#include "kube/kube.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static vs_kube_config *e2e_cfg;
static vs_kube_client *e2e_client;

static const vs_kube_resource e2e_scale_deployments = { "apps", "v1", "deployments", true };

static int e2e_setup(void **state)
{
	vs_error err = { 0 };

	(void)state;
	if (vs_kube_config_load(NULL, &e2e_cfg, &err) < 0 || vs_kube_client_new(e2e_cfg, NULL, &e2e_client, &err) < 0) {
		fprintf(stderr, "client e2e: %s\n", err.message);
		return -1;
	}
	return 0;
}

static int e2e_teardown(void **state)
{
	(void)state;
	vs_kube_client_free(e2e_client);
	vs_kube_config_free(e2e_cfg);
	return 0;
}

static json_t *e2e_json(const char *fmt, ...)
{
	char text[4096];
	json_error_t jerr;
	json_t *obj;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	obj = json_loads(text, 0, &jerr);
	if (!obj)
		fail_msg("bad test JSON: %s: %s", jerr.text, text);
	return obj;
}

static void e2e_create(const vs_kube_resource *res, const char *json)
{
	json_t *obj = e2e_json("%s", json);
	vs_error err = { 0 };

	if (vs_kube_create(e2e_client, res, "default", obj, NULL, &err) < 0)
		fail_msg("create: %s", err.message);
	json_decref(obj);
}

struct e2e_wait {
	const char *path;  /* field that must reach value, or NULL to wait for DELETED */
	const char *value;
	bool seen;
};

static int e2e_wait_event(const char *type, json_t *object, void *ctx)
{
	struct e2e_wait *w = ctx;

	if (!w->path) {
		w->seen = strcmp(type, "DELETED") == 0;
	} else if (strcmp(type, "RELIST") == 0) {
		json_t *item = json_array_get(json_object_get(object, "items"), 0);
		const char *v = vs_json_str(item, w->path);
		w->seen = v && strcmp(v, w->value) == 0;
	} else {
		const char *v = vs_json_str(object, w->path);
		w->seen = v && strcmp(v, w->value) == 0;
	}
	return w->seen;
}

/* Watches res until the object selected by field_selector has path == value (or is deleted). */
static void e2e_watch_until(const vs_kube_resource *res, const char *selector, bool by_label, const char *path,
			    const char *value)
{
	struct e2e_wait w = { path, value, false };
	vs_kube_watch_opts opts = { .timeout_ms = 30000 };
	vs_error err = { 0 };
	int rc;

	if (by_label)
		opts.label_selector = selector;
	else
		opts.field_selector = selector;
	if (!path) {
		/* Waiting for a deletion: it may have happened already, so list first and watch from there. */
		vs_kube_list_opts lopts = { .label_selector = opts.label_selector, .field_selector = opts.field_selector };
		json_t *list = NULL;
		if (vs_kube_list(e2e_client, res, "default", &lopts, &list, &err) < 0)
			fail_msg("list %s: %s", selector, err.message);
		size_t n = json_array_size(json_object_get(list, "items"));
		char *rv = vs_xstrdup(vs_json_str(list, "metadata.resourceVersion"));
		json_decref(list);
		if (n == 0) {
			free(rv);
			return;
		}
		opts.resource_version = rv;
		rc = vs_kube_watch(e2e_client, res, "default", &opts, e2e_wait_event, &w, &err);
		free(rv);
		if (rc < 0 || !w.seen)
			fail_msg("watch %s until deleted: %s", selector, rc < 0 ? err.message : "not seen");
		return;
	}
	rc = vs_kube_watch(e2e_client, res, "default", &opts, e2e_wait_event, &w, &err);
	if (rc < 0 || !w.seen)
		fail_msg("watch %s until %s=%s: %s", selector, path, value, rc < 0 ? err.message : "not seen");
}

static void test_client__pvc_binds_seen_by_watch(void **state)
{
	json_t *pvc = NULL;
	vs_error err = { 0 };

	(void)state;
	e2e_create(&VS_KUBE_PVCS, "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":\"w1\"},"
				  "\"spec\":{\"storageClassName\":\"shared\",\"accessModes\":[\"ReadWriteMany\"],"
				  "\"resources\":{\"requests\":{\"storage\":\"1Mi\"}}}}");
	e2e_watch_until(&VS_KUBE_PVCS, "metadata.name=w1", false, "status.phase", "Bound");
	assert_int_equal(vs_kube_get(e2e_client, &VS_KUBE_PVCS, "default", "w1", &pvc, &err), 0);
	assert_string_equal(vs_json_str(pvc, "status.phase"), "Bound");
	assert_non_null(vs_json_str(pvc, "spec.volumeName"));
	json_decref(pvc);
}

static void test_client__pagination_and_selectors(void **state)
{
	vs_kube_list_opts opts = { .limit = 3, .label_selector = "suite=page" };
	json_t *list = NULL;
	vs_error err = { 0 };
	char body[256];

	(void)state;
	for (int i = 0; i < 7; i++) {
		snprintf(body, sizeof(body),
			 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"page-%d\","
			 "\"labels\":{\"suite\":\"page\",\"parity\":\"%s\"}}}",
			 i, i % 2 ? "odd" : "even");
		e2e_create(&VS_KUBE_CONFIGMAPS, body);
	}
	assert_int_equal(vs_kube_list(e2e_client, &VS_KUBE_CONFIGMAPS, "default", &opts, &list, &err), 0);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 7);
	json_decref(list);
	opts.label_selector = "suite=page,parity notin (even)";
	assert_int_equal(vs_kube_list(e2e_client, &VS_KUBE_CONFIGMAPS, "default", &opts, &list, &err), 0);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 3);
	json_decref(list);
	opts = (vs_kube_list_opts){ .field_selector = "spec.volumeName=x" };
	assert_int_equal(vs_kube_list(e2e_client, &VS_KUBE_PVCS, "default", &opts, &list, &err), VS_EAPI);
	assert_int_equal(err.http_status, 400);
	assert_string_equal(err.reason, "BadRequest");
}

static void test_client__conflict_and_preconditions(void **state)
{
	json_t *first = NULL, *second = NULL;
	vs_kube_delete_opts del = { .precondition_uid = "00000000-0000-4000-8000-000000000000" };
	vs_error err = { 0 };

	(void)state;
	e2e_create(&VS_KUBE_CONFIGMAPS, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cf\"},"
					"\"data\":{\"v\":\"1\"}}");
	assert_int_equal(vs_kube_get(e2e_client, &VS_KUBE_CONFIGMAPS, "default", "cf", &first, &err), 0);
	json_object_set_new(json_object_get(first, "data"), "v", json_string("2"));
	assert_int_equal(vs_kube_update(e2e_client, &VS_KUBE_CONFIGMAPS, "default", first, &second, &err), 0);
	assert_string_not_equal(vs_kube_obj_resource_version(first), vs_kube_obj_resource_version(second));
	/* first still carries the old resourceVersion: the server must refuse it. */
	assert_int_equal(vs_kube_update(e2e_client, &VS_KUBE_CONFIGMAPS, "default", first, NULL, &err), VS_EAPI);
	assert_true(vs_error_is(&err, "Conflict"));
	assert_int_equal(err.http_status, 409);
	assert_int_equal(vs_kube_create(e2e_client, &VS_KUBE_CONFIGMAPS, "default", first, NULL, &err), VS_EAPI);
	assert_true(vs_error_is(&err, "AlreadyExists"));
	assert_int_equal(vs_kube_delete(e2e_client, &VS_KUBE_CONFIGMAPS, "default", "cf", &del, NULL, &err), VS_EAPI);
	assert_true(vs_error_is(&err, "Conflict"));
	del.precondition_uid = vs_kube_obj_uid(second);
	assert_int_equal(vs_kube_delete(e2e_client, &VS_KUBE_CONFIGMAPS, "default", "cf", &del, NULL, &err), 0);
	assert_int_equal(vs_kube_get(e2e_client, &VS_KUBE_CONFIGMAPS, "default", "cf", NULL, &err), VS_EAPI);
	assert_true(vs_error_is(&err, "NotFound"));
	assert_non_null(strstr(err.message, "cf"));
	json_decref(first);
	json_decref(second);
}

struct e2e_lines {
	int n;
	char first[64];
};

static int e2e_line(const char *line, size_t len, void *ctx)
{
	struct e2e_lines *l = ctx;

	(void)len;
	if (l->n++ == 0)
		snprintf(l->first, sizeof(l->first), "%s", line);
	return l->n >= 3;
}

static void test_client__deployment_scale_and_logs(void **state)
{
	vs_kube_list_opts lopts = { .label_selector = "app=ticker" };
	vs_kube_log_opts log = { .follow = true, .timeout_ms = 30000 };
	struct e2e_lines lines = { 0 };
	json_t *scale = NULL, *pods = NULL, *patch;
	vs_error err = { 0 };

	(void)state;
	e2e_create(&VS_KUBE_DEPLOYMENTS,
		   "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"ticker\"},\"spec\":{"
		   "\"replicas\":1,\"selector\":{\"matchLabels\":{\"app\":\"ticker\"}},\"template\":{\"metadata\":{"
		   "\"labels\":{\"app\":\"ticker\"}},\"spec\":{\"containers\":[{\"name\":\"t\",\"image\":\"busybox\","
		   "\"command\":[\"/bin/sh\",\"-c\",\"i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done\"]"
		   "}]}}}}");
	e2e_watch_until(&VS_KUBE_PODS, "app=ticker", true, "status.phase", "Running");
	assert_int_equal(vs_kube_list(e2e_client, &VS_KUBE_PODS, "default", &lopts, &pods, &err), 0);
	assert_int_equal(json_array_size(json_object_get(pods, "items")), 1);
	const char *pod = vs_kube_obj_name(json_array_get(json_object_get(pods, "items"), 0));
	assert_int_equal(vs_kube_logs(e2e_client, "default", pod, &log, e2e_line, &lines, &err), 0);
	assert_int_equal(lines.n, 3);
	assert_string_equal(lines.first, "tick 1");
	assert_int_equal(vs_kube_get_sub(e2e_client, &e2e_scale_deployments, "default", "ticker", "scale", &scale, &err), 0);
	assert_string_equal(vs_json_str(scale, "kind"), "Scale");
	assert_int_equal(vs_json_int(scale, "spec.replicas", -1), 1);
	patch = e2e_json("{\"spec\":{\"replicas\":0}}");
	assert_int_equal(vs_kube_patch_sub(e2e_client, &e2e_scale_deployments, "default", "ticker", "scale",
					   VS_KUBE_PATCH_MERGE, patch, NULL, &err), 0);
	e2e_watch_until(&VS_KUBE_PODS, "app=ticker", true, NULL, NULL);
	json_decref(patch);
	json_decref(scale);
	json_decref(pods);
}

static void test_client__eviction_removes_pod(void **state)
{
	vs_error err = { 0 };

	(void)state;
	e2e_create(&VS_KUBE_PODS, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"evictee\","
				  "\"labels\":{\"app\":\"evictee\"}},\"spec\":{\"terminationGracePeriodSeconds\":1,"
				  "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"command\":[\"sleep\",\"600\"]}]}}");
	e2e_watch_until(&VS_KUBE_PODS, "metadata.name=evictee", false, "status.phase", "Running");
	assert_int_equal(vs_kube_evict(e2e_client, "default", "evictee", NULL, &err), 0);
	e2e_watch_until(&VS_KUBE_PODS, "metadata.name=evictee", false, NULL, NULL);
	assert_int_equal(vs_kube_get(e2e_client, &VS_KUBE_PODS, "default", "evictee", NULL, &err), VS_EAPI);
	assert_true(vs_error_is(&err, "NotFound"));
}

/* Discovery resolves what the sim serves, each with its scope and subresources. */
static void test_client__resolve_builtin_kinds(void **state)
{
	static const struct {
		const char *api_version, *kind, *plural;
		bool namespaced, scale;
	} kinds[] = {
		{ "apps/v1", "Deployment", "deployments", true, true },
		{ "v1", "ConfigMap", "configmaps", true, false },
		{ "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, false },
		{ "v1", "PersistentVolume", "persistentvolumes", false, false },
		{ "batch/v1", "Job", "jobs", true, false },
		{ "apps/v1", "StatefulSet", "statefulsets", true, true },
	};
	vs_kube_api_resource r;
	json_t *scale = NULL, *patch;
	vs_error err = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (vs_kube_resolve(e2e_client, kinds[i].api_version, kinds[i].kind, &r, &err) < 0)
			fail_msg("resolve %s %s: %s", kinds[i].api_version, kinds[i].kind, err.message);
		assert_string_equal(r.res.plural, kinds[i].plural);
		assert_string_equal(r.kind, kinds[i].kind);
		assert_int_equal(r.res.namespaced, kinds[i].namespaced);
		assert_int_equal(r.has_scale, kinds[i].scale);
		assert_true(r.verbs & VS_KUBE_VERB_WATCH);
	}
	assert_int_equal(vs_kube_resolve(e2e_client, "apps/v1", "Deployment", &r, &err), 0);
	assert_true(r.has_status);
	/* The resolved resource drives the verbs: create, then scale through the subresource. */
	e2e_create(&r.res,
		   "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"resolved\"},"
		   "\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":\"resolved\"}},\"template\":{"
		   "\"metadata\":{\"labels\":{\"app\":\"resolved\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
		   "\"image\":\"busybox\",\"command\":[\"sleep\",\"600\"]}]}}}}");
	assert_int_equal(vs_kube_get_sub(e2e_client, &r.res, "default", "resolved", "scale", &scale, &err), 0);
	assert_int_equal(vs_json_int(scale, "spec.replicas", -1), 2);
	json_decref(scale);
	patch = e2e_json("{\"spec\":{\"replicas\":0}}");
	assert_int_equal(vs_kube_patch_sub(e2e_client, &r.res, "default", "resolved", "scale", VS_KUBE_PATCH_MERGE,
					   patch, &scale, &err),
			 0);
	assert_int_equal(vs_json_int(scale, "spec.replicas", -1), 0);
	json_decref(scale);
	json_decref(patch);
	assert_int_equal(vs_kube_delete(e2e_client, &r.res, "default", "resolved", NULL, NULL, &err), 0);
	/* What is not there says so, and names the document it read. */
	assert_int_equal(vs_kube_resolve(e2e_client, "apps/v1", "Deployments", &r, &err), VS_EAPI);
	assert_true(vs_error_is(&err, "NotFound"));
	assert_non_null(strstr(err.message, "no kind \"Deployments\" in apiVersion \"apps/v1\" on the cluster "
					    "(discovery of /apis/apps/v1 lists "));
	assert_int_equal(vs_kube_resolve(e2e_client, "e2e.volshift.io/v9", "Widget", &r, &err), VS_EAPI);
	assert_true(vs_error_is(&err, "NotFound"));
	assert_non_null(strstr(err.message, "(discovery of /apis/e2e.volshift.io/v9: "));
}

/* Waits until discovery serves kind (a new CRD is established in the background). */
static void e2e_resolve_eventually(const char *api_version, const char *kind, vs_kube_api_resource *r)
{
	vs_error err = { 0 };

	for (int i = 0; i < 200; i++) {
		if (vs_kube_resolve(e2e_client, api_version, kind, r, &err) == 0)
			return;
		if (!vs_error_is(&err, "NotFound"))
			break;
		vs_sleep_ms(50);
	}
	fail_msg("resolve %s %s: %s", api_version, kind, err.message);
}

/* A CRD of kind KIND (plural PLURAL) in group e2e.volshift.io, version v1, with subresources. */
static void e2e_create_crd(const vs_kube_resource *crds, const char *plural, const char *kind)
{
	char body[1024];

	snprintf(body, sizeof(body),
		 "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\",\"metadata\":{"
		 "\"name\":\"%s.e2e.volshift.io\"},\"spec\":{\"group\":\"e2e.volshift.io\",\"scope\":\"Namespaced\","
		 "\"names\":{\"plural\":\"%s\",\"kind\":\"%s\"},\"versions\":[{\"name\":\"v1\",\"served\":true,"
		 "\"storage\":true,\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\","
		 "\"x-kubernetes-preserve-unknown-fields\":true}},\"subresources\":{\"status\":{},\"scale\":{"
		 "\"specReplicasPath\":\".spec.replicas\",\"statusReplicasPath\":\".status.replicas\"}}}]}}",
		 plural, plural, kind);
	e2e_create(crds, body);
}

/* Kinds created while the client runs (CRDs) are found: a new group, then a new kind in a group
 * whose document the client already keeps (fetched again on the miss). */
static void test_client__resolve_custom_resource(void **state)
{
	vs_kube_api_resource crd, widget, gadget;
	json_t *scale = NULL;
	vs_error err = { 0 };

	(void)state;
	if (vs_kube_resolve(e2e_client, "apiextensions.k8s.io/v1", "CustomResourceDefinition", &crd, &err) < 0) {
		/* volshift-sim without CustomResourceDefinitions (being added): nothing to resolve yet. */
		fprintf(stderr, "client e2e: skipped: %s\n", err.message);
		skip();
	}
	e2e_create_crd(&crd.res, "widgets", "Widget");
	e2e_resolve_eventually("e2e.volshift.io/v1", "Widget", &widget);
	assert_string_equal(widget.res.plural, "widgets");
	assert_true(widget.res.namespaced && widget.has_status && widget.has_scale);
	e2e_create_crd(&crd.res, "gadgets", "Gadget");
	e2e_resolve_eventually("e2e.volshift.io/v1", "Gadget", &gadget);
	assert_string_equal(gadget.res.plural, "gadgets");
	e2e_create(&widget.res,
		   "{\"apiVersion\":\"e2e.volshift.io/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"w\"},"
		   "\"spec\":{\"replicas\":3}}");
	assert_int_equal(vs_kube_get_sub(e2e_client, &widget.res, "default", "w", "scale", &scale, &err), 0);
	assert_int_equal(vs_json_int(scale, "spec.replicas", -1), 3);
	json_decref(scale);
	assert_int_equal(vs_kube_delete(e2e_client, &crd.res, NULL, "widgets.e2e.volshift.io", NULL, NULL, &err), 0);
	assert_int_equal(vs_kube_delete(e2e_client, &crd.res, NULL, "gadgets.e2e.volshift.io", NULL, NULL, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client__pvc_binds_seen_by_watch),
		cmocka_unit_test(test_client__pagination_and_selectors),
		cmocka_unit_test(test_client__conflict_and_preconditions),
		cmocka_unit_test(test_client__deployment_scale_and_logs),
		cmocka_unit_test(test_client__eviction_removes_pod),
		cmocka_unit_test(test_client__resolve_builtin_kinds),
		cmocka_unit_test(test_client__resolve_custom_resource),
	};

	return cmocka_run_group_tests_name("client e2e", tests, e2e_setup, e2e_teardown);
}
