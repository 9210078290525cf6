/*
 * Unit tests for the engine's plan files: the examples load, and every kind of mistake is refused
 * before anything runs with a message that names the file, the line and column, the field and what
 * was expected.
 */
#include "engine/engine.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define HEAD                                 \
	"apiVersion: volshift.io/v1alpha1\n" \
	"kind: Plan\n"                       \
	"metadata: {name: p}\n"              \
	"spec:\n"

/* Load text as plan.yaml; it must fail with a message starting with want. */
static void assert_plan_refused(const char *text, const char *want)
{
	json_t *plan = NULL;
	vs_error err = { 0 };
	int rc = vs_engine_load("plan.yaml", text, strlen(text), &plan, &err);

	if (rc == 0)
		fail_msg("accepted:\n%s", text);
	assert_int_equal(rc, VS_EINVAL);
	assert_null(plan);
	if (strncmp(err.message, want, strlen(want)) != 0)
		fail_msg("for:\n%s\nexpected: %s\ngot:      %s", text, want, err.message);
}

static json_t *load_ok(const char *text)
{
	json_t *plan = NULL;
	vs_error err = { 0 };

	if (vs_engine_load("plan.yaml", text, strlen(text), &plan, &err) != 0)
		fail_msg("refused: %s\n%s", err.message, text);
	return plan;
}

static void test_engine_plan__examples_load(void **state)
{
	static const char *const files[] = { "examples/linstor-db/plan.yaml", "examples/control-plane/plan.yaml" };
	(void)state;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		json_t *plan = NULL;
		vs_error err = { 0 };
		if (vs_engine_load_file(files[i], &plan, &err) != 0)
			fail_msg("%s: %s", files[i], err.message);
		assert_true(json_array_size(vs_engine_plan_steps(plan)) >= 5);
		assert_int_equal(vs_engine_validate(plan, &err), 0);
		json_decref(plan);
	}
}

static void test_engine_plan__kinds_and_descriptions(void **state)
{
	json_t *plan = load_ok(
		HEAD "  steps:\n"
		     "  - name: a\n"
		     "    scale: {apiVersion: apps/v1, kind: Deployment, namespace: n, name: d, replicas: 0}\n"
		     "  - name: b\n"
		     "    scale: {apiVersion: apps/v1, kind: Deployment, namespace: n, name: d, replicas: restore}\n"
		     "    undo: none\n"
		     "  - name: c\n"
		     "    defaultStorageClass: fast\n");
	char *text;
	(void)state;

	assert_string_equal(vs_engine_plan_name(plan), "p");
	assert_string_equal(vs_engine_step_kind(json_array_get(vs_engine_plan_steps(plan), 1)), "scale");
	text = vs_engine_step_describe(json_array_get(vs_engine_plan_steps(plan), 0));
	assert_string_equal(text, "scale apps/v1 Deployment n/d to 0");
	free(text);
	text = vs_engine_step_describe(json_array_get(vs_engine_plan_steps(plan), 2));
	assert_string_equal(text, "defaultStorageClass fast");
	free(text);
	assert_true(vs_engine_is_run(plan));
	json_decref(plan);
}

static void test_engine_plan__document_errors(void **state)
{
	(void)state;
	assert_plan_refused("- a\n", "plan.yaml:1:1: (the document): expected a Plan");
	assert_plan_refused("apiVersion: v1\nkind: Plan\n",
			    "plan.yaml:1:13: apiVersion: expected volshift.io/v1alpha1");
	assert_plan_refused("apiVersion: volshift.io/v1alpha1\nkind: Pod\n", "plan.yaml:2:7: kind: expected Plan");
	assert_plan_refused("apiVersion: volshift.io/v1alpha1\nkind: Plan\nspec: {}\n",
			    "plan.yaml:1:1: (the document): missing field \"metadata\"");
	assert_plan_refused("apiVersion: volshift.io/v1alpha1\nkind: Plan\nmetadata: {name: Big_Name}\nspec: {}\n",
			    "plan.yaml:3:18: metadata.name: expected lowercase letters");
	assert_plan_refused(HEAD "  stpes: []\n", "plan.yaml:5:3: spec.stpes: unknown field \"stpes\"");
	assert_plan_refused(HEAD "  steps: []\n", "plan.yaml:5:10: spec.steps: expected at least one step");
	assert_plan_refused(HEAD "  steps:\n  - name: a\n    setState: x\n",
			    "plan.yaml:6:5: spec.steps[0]: setState needs spec.state");
	assert_plan_refused(HEAD "  state: {configMap: {namespace: n, name: c}}\n  steps: [{name: a, setState: x}]\n",
			    "plan.yaml:5:22: spec.state.configMap: missing field \"key\"");
	/* the YAML itself */
	assert_plan_refused(HEAD "  steps: [\n", "plan.yaml:6:1: invalid YAML");
	assert_plan_refused(HEAD "  steps: []\n  steps: []\n", "plan.yaml:6:3: duplicate key \"steps\"");
}

static void test_engine_plan__step_errors(void **state)
{
	(void)state;
	assert_plan_refused(
		HEAD
		"  steps:\n  - name: a\n    scale: {apiVersion: apps/v1, kind: Deployment, name: d, replicas: many}\n",
		"plan.yaml:7:71: spec.steps[0].scale.replicas: expected an integer >= 0 or \"restore\"");
	assert_plan_refused(HEAD
			    "  steps:\n  - name: a\n    scale: {apiVersion: apps/v1, kind: Deployment, replicas: 1}\n",
			    "plan.yaml:7:12: spec.steps[0].scale: missing field \"name\"");
	assert_plan_refused(HEAD "  steps:\n  - name: a\n    setState: x\n    scale: {}\n",
			    "plan.yaml:8:5: spec.steps[0].scale: a step does one thing");
	assert_plan_refused(HEAD "  steps:\n  - name: a\n", "plan.yaml:6:5: spec.steps[0]: the step does nothing");
	assert_plan_refused(HEAD "  steps:\n  - name: a\n    sclae: {}\n",
			    "plan.yaml:7:5: spec.steps[0].sclae: unknown field \"sclae\"");
	assert_plan_refused(HEAD
			    "  steps:\n  - {name: a, defaultStorageClass: x}\n  - {name: a, defaultStorageClass: y}\n",
			    "plan.yaml:7:12: spec.steps[1].name: step name \"a\" is used twice (first at step 1)");
	assert_plan_refused(HEAD "  steps:\n  - {defaultStorageClass: x}\n",
			    "plan.yaml:6:5: spec.steps[0]: missing field \"name\"");
	assert_plan_refused(HEAD "  steps:\n  - {name: a, wait: {apiVersion: v1, kind: Pod, name: x}}\n",
			    "plan.yaml:6:21: spec.steps[0].wait: expected exactly one of");
	assert_plan_refused(HEAD "  steps:\n  - {name: a, wait: {apiVersion: v1, kind: Pod, name: x, jsonPath: .a}}\n",
			    "plan.yaml:6:21: spec.steps[0].wait: jsonPath needs exactly one of");
	assert_plan_refused(
		HEAD
		"  steps:\n  - {name: a, wait: {apiVersion: v1, kind: Pod, name: x, absent: true, timeout: soon}}\n",
		"plan.yaml:6:81: spec.steps[0].wait.timeout: expected a positive duration");
	assert_plan_refused(
		HEAD "  steps:\n  - {name: a, wait: {apiVersion: v1, kind: Pod, selector: 'a in (', absent: true}}\n",
		"plan.yaml:6:59: spec.steps[0].wait.selector:");
	assert_plan_refused(HEAD "  steps:\n  - {name: a, job: {namespace: n, spec: {}}}\n",
			    "plan.yaml:6:41: spec.steps[0].job.spec: missing field \"template\"");
	assert_plan_refused(HEAD "  steps:\n  - name: a\n    job:\n      namespace: n\n      spec: {template: {}}\n"
				 "      artifacts: [{path: backup.json, to: b}]\n",
			    "plan.yaml:10:19: spec.steps[0].job.artifacts[0]: path must be absolute");
	assert_plan_refused(
		HEAD
		"  steps:\n  - {name: a, patch: {apiVersion: v1, kind: ConfigMap, name: c, type: json, patch: {}}}\n",
		"plan.yaml:6:71: spec.steps[0].patch.type: a json patch is a list of operations");
	assert_plan_refused(
		HEAD
		"  steps:\n  - {name: a, patch: {apiVersion: v1, kind: ConfigMap, name: c, type: apply, patch: {}}}\n",
		"plan.yaml:6:71: spec.steps[0].patch.type: expected merge, strategic or json");
	assert_plan_refused(HEAD "  steps:\n  - {name: a, apply: {apiVersion: v1, kind: ConfigMap}}\n",
			    "plan.yaml:6:22: spec.steps[0].apply: missing field \"metadata\"");
	assert_plan_refused(
		HEAD "  steps:\n  - {name: a, delete: {apiVersion: v1, kind: Pod, name: x, propagation: Later}}\n",
		"plan.yaml:6:73: spec.steps[0].delete.propagation: expected Foreground, Background or Orphan");
	assert_plan_refused(HEAD "  steps:\n  - {name: a, defaultStorageClass: x, undo: sometimes}\n",
			    "plan.yaml:6:45: spec.steps[0].undo: expected none or a non-empty list of steps");
	assert_plan_refused(
		HEAD "  steps:\n  - {name: a, defaultStorageClass: x, undo: [{defaultStorageClass: y, undo: none}]}\n",
		"plan.yaml:6:71: spec.steps[0].undo[0].undo: an undo step has no undo of its own");
}

#define OS_STEP(fields)                                \
	HEAD "  steps:\n"                              \
	     "  - name: sync\n"                        \
	     "    objectStore:\n"                      \
	     "      source: http://minio.minio:9000\n" \
	     "      sourceCredentials: {secret: {namespace: minio, name: minio-credentials}}\n" fields

static void test_engine_plan__object_store(void **state)
{
	json_t *plan = load_ok(OS_STEP("      dest: http://rook-ceph-rgw.rook-ceph:80/bucket/prefix\n"
				       "      destCredentials: {secret: {namespace: rook-ceph, name: rgw}}\n"
				       "      region: eu-west-1\n"
				       "      parallel: 4\n"
				       "      delete: true\n"
				       "      verify: checksum\n"
				       "      caFile: /etc/ca.pem\n"
				       "      insecureSkipTLSVerify: false\n"));
	const json_t *step = json_array_get(vs_engine_plan_steps(plan), 0);
	char *text = vs_engine_step_describe(step);
	(void)state;

	assert_string_equal(vs_engine_step_kind(step), "objectStore");
	assert_string_equal(text, "sync the objects of http://minio.minio:9000 to "
				  "http://rook-ceph-rgw.rook-ceph:80/bucket/prefix");
	free(text);
	json_decref(plan);
	/* the destination's credentials default to the source's */
	json_decref(load_ok(OS_STEP("      dest: http://rgw:80\n")));
}

static void test_engine_plan__object_store_errors(void **state)
{
	(void)state;
	assert_plan_refused(OS_STEP(""), "plan.yaml:8:7: spec.steps[0].objectStore: missing field \"dest\"");
	assert_plan_refused(
		OS_STEP("      dest: s3://rgw/b\n"),
		"plan.yaml:10:13: spec.steps[0].objectStore.dest: expected http(s)://HOST:PORT[/BUCKET[/PREFIX]]: "
		"s3://rgw/b: not an http:// or https:// URL");
	assert_plan_refused(OS_STEP("      dest: http://rgw:80/Bad_Bucket\n"),
			    "plan.yaml:10:13: spec.steps[0].objectStore.dest: expected http(s)://HOST:PORT");
	assert_plan_refused(
		OS_STEP("      dest: http://key:secret@rgw:80\n"),
		"plan.yaml:10:13: spec.steps[0].objectStore.dest: expected http(s)://HOST:PORT[/BUCKET[/PREFIX]]: "
		"the URL: credentials do not go in the URL");
	assert_plan_refused(
		OS_STEP("      dest: http://rgw:80\n      parallel: 0\n"),
		"plan.yaml:11:17: spec.steps[0].objectStore.parallel: expected 1 to 256 objects copied at once");
	assert_plan_refused(
		OS_STEP("      dest: http://rgw:80\n      verify: size-time\n"),
		"plan.yaml:11:15: spec.steps[0].objectStore.verify: expected size or checksum, got \"size-time\"");
	assert_plan_refused(OS_STEP("      dest: http://rgw:80\n      delete: yes please\n"),
			    "plan.yaml:11:15: spec.steps[0].objectStore.delete: expected true or false, got a string");
	assert_plan_refused(OS_STEP("      dest: http://rgw:80\n      dryRun: true\n"),
			    "plan.yaml:11:7: spec.steps[0].objectStore.dryRun: unknown field \"dryRun\"");
	assert_plan_refused(
		OS_STEP("      dest: http://rgw:80\n      destCredentials: {secret: {name: rgw}}\n"),
		"plan.yaml:11:33: spec.steps[0].objectStore.destCredentials.secret: missing field \"namespace\"");
	assert_plan_refused(
		OS_STEP("      dest: http://rgw:80\n      destCredentials: {file: /root/.aws/credentials}\n"),
		"plan.yaml:11:25: spec.steps[0].objectStore.destCredentials.file: unknown field \"file\"");
	assert_plan_refused(
		OS_STEP("      dest: http://rgw:80\n      destCredentials: secret:rook-ceph/rgw\n"),
		"plan.yaml:11:24: spec.steps[0].objectStore.destCredentials: expected a mapping, got a string");
	assert_plan_refused(HEAD "  steps:\n  - name: sync\n    objectStore: {source: http://a:1, dest: http://b:2}\n",
			    "plan.yaml:7:18: spec.steps[0].objectStore: missing field \"sourceCredentials\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_plan__examples_load),
		cmocka_unit_test(test_engine_plan__kinds_and_descriptions),
		cmocka_unit_test(test_engine_plan__document_errors),
		cmocka_unit_test(test_engine_plan__step_errors),
		cmocka_unit_test(test_engine_plan__object_store),
		cmocka_unit_test(test_engine_plan__object_store_errors),
	};

	return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
