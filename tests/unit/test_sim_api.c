/*
 * Unit tests of volshift-sim's API machinery (sim/api.h): resourceVersions, conflicts, defaults,
 * validation, finalizers, list paging and selectors, watch history, the garbage collector and
 * CustomResourceDefinitions.
 */
#include "../../sim/api_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const sim_resource *R(const char *group, const char *plural)
{
	const sim_resource *r = sim_resource_find(group, plural);

	assert_non_null(r);
	return r;
}

static int setup(void **state)
{
	sim_store *st = sim_store_new();
	vs_error err;

	assert_int_equal(sim_api_bootstrap(st, 2, NULL, &err), 0);
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	sim_store_shutdown(*state);
	sim_store_free(*state);
	return 0;
}

static json_t *make_cm(const char *name, const char *tier)
{
	json_t *o = json_pack("{s:{s:s}}", "metadata", "name", name);

	if (tier)
		vs_json_set_path(o, "metadata.labels", json_pack("{s:s}", "tier", tier));
	return o;
}

static void create_ok(sim_store *st, const sim_resource *res, const char *ns, json_t *obj, json_t **out)
{
	vs_error err;
	int rc = sim_api_create(st, res, ns, obj, out, &err);

	if (rc != 0)
		fail_msg("create: %s", err.message);
	json_decref(obj);
}

static json_t *make_pvc(const char *name)
{
	return json_pack("{s:{s:s},s:{s:[s],s:{s:{s:s}}}}", "metadata", "name", name, "spec", "accessModes",
			 "ReadWriteOnce", "resources", "requests", "storage", "1Gi");
}

static void test_rv_increases_and_conflict(void **state)
{
	sim_store *st = *state;
	json_t *a = NULL, *b = NULL, *stale;
	vs_error err;
	uint64_t rv0 = sim_store_rv(st);

	create_ok(st, R("", "configmaps"), "default", make_cm("c1", NULL), &a);
	assert_true(sim_store_rv(st) > rv0);
	assert_true(strtoull(vs_json_str(a, "metadata.resourceVersion"), NULL, 10) > rv0);
	assert_non_null(vs_json_str(a, "metadata.uid"));
	assert_string_equal(vs_json_str(a, "kind"), "ConfigMap");
	stale = json_deep_copy(a);
	vs_json_set_path(a, "data", json_pack("{s:s}", "k", "v"));
	assert_int_equal(sim_api_update(st, R("", "configmaps"), "default", a, SIM_UPDATE_MAIN, &b, &err), 0);
	assert_true(strtoull(vs_json_str(b, "metadata.resourceVersion"), NULL, 10) >
		    strtoull(vs_json_str(a, "metadata.resourceVersion"), NULL, 10));
	vs_json_set_path(stale, "data", json_pack("{s:s}", "k", "other"));
	assert_int_not_equal(sim_api_update(st, R("", "configmaps"), "default", stale, SIM_UPDATE_MAIN, NULL, &err), 0);
	assert_int_equal(err.http_status, 409);
	assert_string_equal(err.reason, "Conflict");
	assert_non_null(strstr(err.message, "Operation cannot be fulfilled on configmaps \"c1\": the object has been modified"));
	json_decref(a);
	json_decref(b);
	json_decref(stale);
}

static void test_create_twice_and_missing(void **state)
{
	sim_store *st = *state;
	json_t *o = make_cm("dup", NULL), *got = NULL;
	vs_error err;

	assert_int_equal(sim_api_create(st, R("", "configmaps"), "default", o, NULL, &err), 0);
	assert_int_not_equal(sim_api_create(st, R("", "configmaps"), "default", o, NULL, &err), 0);
	assert_int_equal(err.http_status, 409);
	assert_string_equal(err.reason, "AlreadyExists");
	assert_int_not_equal(sim_api_get(st, R("", "persistentvolumeclaims"), "default", "x", &got, &err), 0);
	assert_int_equal(err.http_status, 404);
	assert_string_equal(err.message, "persistentvolumeclaims \"x\" not found");
	assert_int_not_equal(sim_api_create(st, R("", "configmaps"), "nope", o, NULL, &err), 0);
	assert_int_equal(err.http_status, 404);
	json_decref(o);
}

/* A ConfigMap's data holds at most 1 MiB, counted over its values (binaryData decoded), on create
 * and on update; at the limit it is accepted. */
static void test_configmap_data_limit(void **state)
{
	sim_store *st = *state;
	char *big = vs_xcalloc(1, (1 << 20) + 2);
	json_t *cm = NULL, *upd; /* the update, then the create */
	vs_error err;

	memset(big, 'x', (1 << 20) - 4);
	create_ok(st, R("", "configmaps"), "default",
		  json_pack("{s:{s:s},s:{s:s,s:s}}", "metadata", "name", "full", "data", "a", big, "b", "1234"), &cm);
	upd = json_deep_copy(cm);
	vs_json_set_path(upd, "binaryData", json_pack("{s:s}", "c", "QQ==")); /* one byte more */
	assert_int_not_equal(sim_api_update(st, R("", "configmaps"), "default", upd, SIM_UPDATE_MAIN, NULL, &err), 0);
	assert_int_equal(err.http_status, 422);
	assert_string_equal(err.message,
			    "ConfigMap \"full\" is invalid: []: Too long: must have at most 1048576 bytes");
	memset(big, 'x', (1 << 20) + 1);
	json_decref(upd);
	upd = json_pack("{s:{s:s},s:{s:s}}", "metadata", "name", "over", "data", "a", big);
	assert_int_not_equal(sim_api_create(st, R("", "configmaps"), "default", upd, NULL, &err), 0);
	assert_int_equal(err.http_status, 422);
	json_decref(upd);
	json_decref(cm);
	free(big);
}

static void test_generate_name(void **state)
{
	sim_store *st = *state;
	json_t *o = NULL;

	create_ok(st, R("", "configmaps"), "default", json_pack("{s:{s:s}}", "metadata", "generateName", "gen-"), &o);
	assert_int_equal(strlen(vs_json_str(o, "metadata.name")), 9);
	assert_true(vs_str_has_prefix(vs_json_str(o, "metadata.name"), "gen-"));
	json_decref(o);
}

static void test_pvc_defaults_and_immutable(void **state)
{
	sim_store *st = *state;
	json_t *pvc = NULL, *upd, *out = NULL;
	vs_error err;

	create_ok(st, R("", "persistentvolumeclaims"), "default", make_pvc("data"), &pvc);
	assert_string_equal(vs_json_str(pvc, "spec.storageClassName"), "local");
	assert_string_equal(json_string_value(json_array_get(vs_json_path(pvc, "metadata.finalizers"), 0)),
			    "kubernetes.io/pvc-protection");
	assert_string_equal(vs_json_str(pvc, "status.phase"), "Pending");
	upd = json_deep_copy(pvc);
	vs_json_set_path(upd, "spec.storageClassName", json_string("shared"));
	assert_int_not_equal(sim_api_update(st, R("", "persistentvolumeclaims"), "default", upd, SIM_UPDATE_MAIN, NULL, &err), 0);
	assert_int_equal(err.http_status, 422);
	assert_string_equal(err.reason, "Invalid");
	json_decref(upd);
	upd = json_deep_copy(pvc);
	vs_json_set_path(upd, "spec.resources.requests.storage", json_string("2Gi"));
	vs_json_set_path(upd, "spec.volumeName", json_string("pv-1"));
	assert_int_equal(sim_api_update(st, R("", "persistentvolumeclaims"), "default", upd, SIM_UPDATE_MAIN, &out, &err), 0);
	assert_string_equal(vs_json_str(out, "spec.volumeName"), "pv-1");
	json_decref(upd);
	json_decref(out);
	json_decref(pvc);
	/* a missing access mode is invalid */
	upd = make_pvc("bad");
	json_object_del(json_object_get(upd, "spec"), "accessModes");
	assert_int_not_equal(sim_api_create(st, R("", "persistentvolumeclaims"), "default", upd, NULL, &err), 0);
	assert_int_equal(err.http_status, 422);
	json_decref(upd);
}

static void test_sts_spec_immutable(void **state)
{
	sim_store *st = *state;
	json_t *sts = NULL, *upd;
	vs_error err;

	create_ok(st, R("apps", "statefulsets"), "default",
		  json_pack("{s:{s:s},s:{s:{s:{s:s}},s:{s:{s:{s:s}},s:{s:[{s:s,s:s}]}},s:[]}}", "metadata", "name", "db",
			    "spec", "selector", "matchLabels", "app", "db", "template", "metadata", "labels", "app", "db",
			    "spec", "containers", "name", "c", "image", "busybox", "volumeClaimTemplates"),
		  &sts);
	assert_int_equal(vs_json_int(sts, "spec.replicas", -1), 1);
	upd = json_deep_copy(sts);
	vs_json_set_path(upd, "spec.replicas", json_integer(3));
	assert_int_equal(sim_api_update(st, R("apps", "statefulsets"), "default", upd, SIM_UPDATE_MAIN, NULL, &err), 0);
	json_decref(upd);
	upd = json_deep_copy(sts);
	json_object_del(json_object_get(upd, "metadata"), "resourceVersion");
	vs_json_set_path(upd, "spec.volumeClaimTemplates", json_pack("[{s:{s:s}}]", "metadata", "name", "d"));
	assert_int_not_equal(sim_api_update(st, R("apps", "statefulsets"), "default", upd, SIM_UPDATE_MAIN, NULL, &err), 0);
	assert_int_equal(err.http_status, 422);
	assert_non_null(strstr(err.message, "updates to statefulset spec for fields other than"));
	json_decref(upd);
	json_decref(sts);
}

static void test_delete_with_finalizer(void **state)
{
	sim_store *st = *state;
	json_t *o = NULL, *after = NULL;
	bool deleted = true;
	vs_error err;

	o = make_cm("fin", NULL);
	vs_json_set_path(o, "metadata.finalizers", json_pack("[s]", "example.com/hold"));
	create_ok(st, R("", "configmaps"), "default", o, NULL);
	assert_int_equal(sim_api_delete(st, R("", "configmaps"), "default", "fin", NULL, &after, &deleted, &err), 0);
	assert_false(deleted);
	assert_non_null(vs_json_str(after, "metadata.deletionTimestamp"));
	json_object_set_new(json_object_get(after, "metadata"), "finalizers", json_array());
	json_t *last = NULL;
	assert_int_equal(sim_api_update(st, R("", "configmaps"), "default", after, SIM_UPDATE_MAIN, &last, &err), 0);
	json_decref(last);
	assert_int_not_equal(sim_api_get(st, R("", "configmaps"), "default", "fin", &o, &err), 0);
	assert_int_equal(err.http_status, 404);
	json_decref(after);
}

static void test_delete_preconditions_and_pod_grace(void **state)
{
	sim_store *st = *state;
	json_t *pod = NULL, *after = NULL;
	sim_delete_opts opts = {SIM_PROPAGATE_DEFAULT, "wrong-uid", NULL, -1};
	bool deleted = true;
	vs_error err;

	create_ok(st, R("", "pods"), "default",
		  json_pack("{s:{s:s},s:{s:s,s:[{s:s,s:s}]}}", "metadata", "name", "p", "spec", "nodeName", "node-1",
			    "containers", "name", "c", "image", "busybox"),
		  &pod);
	assert_string_equal(vs_json_str(pod, "spec.restartPolicy"), "Always");
	assert_int_equal(vs_json_int(pod, "spec.terminationGracePeriodSeconds", 0), 30);
	assert_string_equal(vs_json_str(pod, "status.phase"), "Pending");
	assert_int_not_equal(sim_api_delete(st, R("", "pods"), "default", "p", &opts, NULL, NULL, &err), 0);
	assert_int_equal(err.http_status, 409);
	opts.precondition_uid = NULL;
	assert_int_equal(sim_api_delete(st, R("", "pods"), "default", "p", &opts, &after, &deleted, &err), 0);
	assert_false(deleted);
	assert_int_equal(vs_json_int(after, "metadata.deletionGracePeriodSeconds", -1), 30);
	json_decref(after);
	opts.grace_period_seconds = 0;
	assert_int_equal(sim_api_delete(st, R("", "pods"), "default", "p", &opts, NULL, &deleted, &err), 0);
	assert_true(deleted);
	json_decref(pod);
}

static void test_list_paging_and_selectors(void **state)
{
	sim_store *st = *state;
	const char *tiers[] = {"t1", "t2", "t3", "t4", "t5"};
	sim_list_opts opts = {"tier in (t2,t3,t4,t5)", NULL, 2, NULL};
	json_t *list = NULL;
	vs_error err;
	char *cont;
	int names = 0;

	for (int i = 0; i < 5; i++) {
		char name[8];
		snprintf(name, sizeof(name), "cm%d", i);
		create_ok(st, R("", "configmaps"), "default", make_cm(name, tiers[i]), NULL);
	}
	create_ok(st, R("", "configmaps"), "default", make_cm("untiered", NULL), NULL);
	for (;;) {
		assert_int_equal(sim_api_list(st, R("", "configmaps"), "default", &opts, &list, &err), 0);
		names += (int)json_array_size(json_object_get(list, "items"));
		assert_true(json_array_size(json_object_get(list, "items")) <= 2);
		cont = vs_json_str(list, "metadata.continue") ? vs_xstrdup(vs_json_str(list, "metadata.continue")) : NULL;
		json_decref(list);
		free((char *)opts.continue_token);
		opts.continue_token = cont;
		if (!cont)
			break;
	}
	assert_int_equal(names, 4);
	opts = (sim_list_opts){"tier in (t2,t4)", NULL, 0, NULL};
	assert_int_equal(sim_api_list(st, R("", "configmaps"), "default", &opts, &list, &err), 0);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
	assert_string_equal(vs_json_str(json_array_get(json_object_get(list, "items"), 0), "metadata.name"), "cm1");
	assert_string_equal(vs_json_str(list, "kind"), "ConfigMapList");
	json_decref(list);
	opts = (sim_list_opts){"!tier", NULL, 0, NULL};
	assert_int_equal(sim_api_list(st, R("", "configmaps"), "default", &opts, &list, &err), 0);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
	json_decref(list);
	opts = (sim_list_opts){NULL, "metadata.name=cm3", 0, NULL};
	assert_int_equal(sim_api_list(st, R("", "configmaps"), NULL, &opts, &list, &err), 0);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
	json_decref(list);
	opts = (sim_list_opts){NULL, "spec.volumeName=x", 0, NULL};
	assert_int_not_equal(sim_api_list(st, R("", "persistentvolumeclaims"), NULL, &opts, &list, &err), 0);
	assert_int_equal(err.http_status, 400);
	assert_string_equal(err.reason, "BadRequest");
}

/* The later pages of a list show the objects as they were at its first page, whose resourceVersion
 * each page carries (a real API server reads them from etcd at that revision), so a watch from it
 * misses nothing; a token older than the history kept is refused with 410 Expired. */
static void test_list_pages_are_one_snapshot(void **state)
{
	sim_store *st = *state;
	const sim_resource *cms = R("", "configmaps");
	sim_list_opts opts = { NULL, NULL, 2, NULL };
	json_t *page = NULL, *cm3 = NULL, *names = json_array(), *item;
	char *rv, *cont;
	vs_error err;
	size_t i;

	for (int k = 0; k < 5; k++) {
		char name[8];
		snprintf(name, sizeof(name), "cm%d", k);
		create_ok(st, cms, "default", make_cm(name, "old"), k == 3 ? &cm3 : NULL);
	}
	assert_int_equal(sim_api_list(st, cms, "default", &opts, &page, &err), 0);
	rv = vs_xstrdup(vs_json_str(page, "metadata.resourceVersion"));
	opts.continue_token = vs_xstrdup(vs_json_str(page, "metadata.continue"));
	json_decref(page);
	/* between the pages: cm2 deleted, cm3 changed, cm5 created */
	assert_int_equal(sim_api_delete(st, cms, "default", "cm2", NULL, NULL, NULL, &err), 0);
	vs_json_set_path(cm3, "metadata.labels", json_pack("{s:s}", "tier", "new"));
	assert_int_equal(sim_api_update(st, cms, "default", cm3, SIM_UPDATE_MAIN, NULL, &err), 0);
	create_ok(st, cms, "default", make_cm("cm5", "new"), NULL);
	while (opts.continue_token) {
		assert_int_equal(sim_api_list(st, cms, "default", &opts, &page, &err), 0);
		assert_string_equal(vs_json_str(page, "metadata.resourceVersion"), rv);
		json_array_foreach (json_object_get(page, "items"), i, item) {
			assert_string_equal(vs_json_str(item, "metadata.labels.tier"), "old");
			json_array_append_new(names, json_string(vs_json_str(item, "metadata.name")));
		}
		cont = vs_json_str(page, "metadata.continue") ? vs_xstrdup(vs_json_str(page, "metadata.continue"))
							      : NULL;
		free((char *)opts.continue_token);
		opts.continue_token = cont;
		json_decref(page);
	}
	assert_int_equal(json_array_size(names), 3);
	assert_string_equal(json_string_value(json_array_get(names, 0)), "cm2");
	assert_string_equal(json_string_value(json_array_get(names, 2)), "cm4");

	/* the history no longer reaches back to the first page */
	assert_int_equal(sim_api_list(st, cms, "default", &opts, &page, &err), 0);
	opts.continue_token = vs_xstrdup(vs_json_str(page, "metadata.continue"));
	json_decref(page);
	sim_store_set_history_limit(st, 1);
	create_ok(st, cms, "default", make_cm("cm6", NULL), NULL);
	create_ok(st, cms, "default", make_cm("cm7", NULL), NULL); /* cm6's change is forgotten */
	assert_int_not_equal(sim_api_list(st, cms, "default", &opts, &page, &err), 0);
	assert_int_equal(err.http_status, 410);
	assert_string_equal(err.reason, "Expired");
	free((char *)opts.continue_token);
	free(rv);
	json_decref(names);
	json_decref(cm3);
}

/* A repeated list reuses the copies of unchanged objects, copies changed ones anew and drops deleted
 * ones, in sim_api_list's order and form. */
static void test_list_reuse(void **state)
{
	sim_store *st = *state;
	const sim_resource *cms = R("", "configmaps");
	json_t *copies = NULL, *first, *second, *o = NULL;
	vs_error err;

	create_ok(st, cms, "default", make_cm("b", NULL), NULL);
	create_ok(st, cms, "default", make_cm("a", NULL), &o);
	create_ok(st, cms, "default", make_cm("c", NULL), NULL);
	first = sim_api_list_reuse(st, cms, &copies);
	assert_int_equal(json_array_size(first), 3);
	assert_string_equal(vs_json_str(json_array_get(first, 0), "metadata.name"), "a");
	assert_string_equal(vs_json_str(json_array_get(first, 2), "metadata.name"), "c");
	assert_string_equal(vs_json_str(json_array_get(first, 0), "kind"), "ConfigMap");
	assert_string_equal(vs_json_str(json_array_get(first, 0), "apiVersion"), "v1");

	vs_json_set_path(o, "data", json_pack("{s:s}", "k", "v"));
	assert_int_equal(sim_api_update(st, cms, "default", o, SIM_UPDATE_MAIN, NULL, &err), 0);
	assert_int_equal(sim_api_delete(st, cms, "default", "c", NULL, NULL, NULL, &err), 0);
	second = sim_api_list_reuse(st, cms, &copies);
	assert_int_equal(json_array_size(second), 2);
	assert_ptr_not_equal(json_array_get(second, 0), json_array_get(first, 0));
	assert_string_equal(vs_json_str(json_array_get(second, 0), "data.k"), "v");
	assert_ptr_equal(json_array_get(second, 1), json_array_get(first, 1));
	assert_int_equal(json_object_size(copies), 2);
	json_decref(first);
	json_decref(second);
	json_decref(copies);
	json_decref(o);
}

static void test_watch_order_and_gone(void **state)
{
	sim_store *st = *state;
	uint64_t since = sim_store_rv(st), next = 0;
	json_t *o = NULL, *evs = NULL;
	vs_error err;

	create_ok(st, R("", "configmaps"), "default", make_cm("w", NULL), &o);
	vs_json_set_path(o, "data", json_pack("{s:s}", "a", "b"));
	assert_int_equal(sim_api_update(st, R("", "configmaps"), "default", o, SIM_UPDATE_MAIN, NULL, &err), 0);
	assert_int_equal(sim_api_delete(st, R("", "configmaps"), "default", "w", NULL, NULL, NULL, &err), 0);
	create_ok(st, R("", "secrets"), "default", make_cm("other", NULL), NULL);
	assert_int_equal(sim_api_watch(st, R("", "configmaps"), "default", NULL, since, 100, &evs, &next, &err), 0);
	assert_int_equal(json_array_size(evs), 3);
	assert_string_equal(vs_json_str(json_array_get(evs, 0), "type"), "ADDED");
	assert_string_equal(vs_json_str(json_array_get(evs, 1), "type"), "MODIFIED");
	assert_string_equal(vs_json_str(json_array_get(evs, 2), "type"), "DELETED");
	assert_string_equal(vs_json_str(json_array_get(evs, 0), "object.kind"), "ConfigMap");
	assert_int_equal(next, sim_store_rv(st));
	json_decref(evs);
	/* nothing new: waits and returns empty */
	assert_int_equal(sim_api_watch(st, R("", "configmaps"), "default", NULL, next, 50, &evs, &next, &err), 0);
	assert_int_equal(json_array_size(evs), 0);
	json_decref(evs);
	sim_store_set_history_limit(st, 2);
	for (int i = 0; i < 4; i++) {
		char name[8];
		snprintf(name, sizeof(name), "h%d", i);
		create_ok(st, R("", "configmaps"), "default", make_cm(name, NULL), NULL);
	}
	assert_int_not_equal(sim_api_watch(st, R("", "configmaps"), "default", NULL, since, 0, &evs, &next, &err), 0);
	assert_int_equal(err.http_status, 410);
	assert_string_equal(err.reason, "Expired");
	json_decref(o);
}

static json_t *owned_cm(const char *name, const json_t *owner)
{
	json_t *o = make_cm(name, NULL);

	vs_json_set_path(o, "metadata.ownerReferences",
			 json_pack("[{s:s,s:s,s:s,s:s,s:b}]", "apiVersion", "apps/v1", "kind", "Deployment", "name",
				   vs_json_str(owner, "metadata.name"), "uid", vs_json_str(owner, "metadata.uid"), "controller", 1));
	return o;
}

static json_t *make_deploy(const char *name)
{
	return json_pack("{s:{s:s},s:{s:{s:{s:s}},s:{s:{s:{s:s}},s:{s:[{s:s,s:s}]}}}}", "metadata", "name", name, "spec",
			 "selector", "matchLabels", "app", name, "template", "metadata", "labels", "app", name, "spec",
			 "containers", "name", "c", "image", "busybox");
}

static bool wait_gone(sim_store *st, const sim_resource *res, const char *name)
{
	for (int i = 0; i < 100; i++) {
		json_t *o = NULL;
		vs_error err;
		if (sim_api_get(st, res, "default", name, &o, &err) != 0)
			return true;
		json_decref(o);
		vs_sleep_ms(20);
	}
	return false;
}

/* Whether items holds an object of res named name. */
static bool items_have(const struct sim_store_item *items, size_t n, const sim_resource *res, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (items[i].res == res && strcmp(vs_json_str(items[i].obj, "metadata.name"), name) == 0)
			return true;
	return false;
}

/* The GC reads only the objects it acts on, and finds their owners by uid anywhere. */
static void test_gc_snapshot_reads_what_it_acts_on(void **state)
{
	sim_store *st = *state;
	const sim_resource *cms = R("", "configmaps"), *deploys = R("apps", "deployments");
	json_t *d = NULL, *owners = NULL;
	struct sim_store_item *items;
	size_t n;
	vs_error err;

	create_ok(st, deploys, "default", make_deploy("owner"), &d);
	create_ok(st, cms, "default", make_cm("plain", NULL), NULL);
	items = sim_store_gc_snapshot(st, &n, &owners);
	assert_false(items_have(items, n, cms, "plain"));
	assert_false(items_have(items, n, deploys, "owner"));
	assert_int_equal(json_object_size(owners), 0);
	sim_store_snapshot_free(st, items, n);
	sim_store_release(st, owners);

	create_ok(st, cms, "default", owned_cm("dep", d), NULL);
	items = sim_store_gc_snapshot(st, &n, &owners);
	assert_true(items_have(items, n, cms, "dep"));
	assert_false(items_have(items, n, cms, "plain"));
	assert_false(items_have(items, n, deploys, "owner"));
	assert_string_equal(vs_json_str(json_object_get(owners, vs_json_str(d, "metadata.uid")), "metadata.name"),
			    "owner");
	sim_store_snapshot_free(st, items, n);
	sim_store_release(st, owners);

	assert_int_equal(sim_api_delete(st, cms, "default", "dep", NULL, NULL, NULL, &err), 0);
	assert_int_equal(sim_api_delete(st, deploys, "default", "owner", NULL, NULL, NULL, &err), 0);
	items = sim_store_gc_snapshot(st, &n, &owners);
	assert_false(items_have(items, n, cms, "plain"));
	assert_true(json_object_size(st->uids) > 0);
	assert_null(json_object_get(st->uids, vs_json_str(d, "metadata.uid")));
	sim_store_snapshot_free(st, items, n);
	sim_store_release(st, owners);
	json_decref(d);
}

static void test_gc_background_and_orphan(void **state)
{
	sim_store *st = *state;
	json_t *d1 = NULL, *d2 = NULL, *dep = NULL;
	sim_delete_opts orphan = {SIM_PROPAGATE_ORPHAN, NULL, NULL, -1};
	vs_error err;

	assert_int_equal(sim_gc_start(st, &err), 0);
	create_ok(st, R("apps", "deployments"), "default", make_deploy("d1"), &d1);
	create_ok(st, R("apps", "deployments"), "default", make_deploy("d2"), &d2);
	create_ok(st, R("", "configmaps"), "default", owned_cm("dep1", d1), NULL);
	create_ok(st, R("", "configmaps"), "default", owned_cm("dep2", d2), NULL);
	/* background: the dependent goes after its owner */
	assert_int_equal(sim_api_delete(st, R("apps", "deployments"), "default", "d1", NULL, NULL, NULL, &err), 0);
	assert_true(wait_gone(st, R("", "configmaps"), "dep1"));
	/* orphan: the owner goes, the dependent stays without owner references */
	assert_int_equal(sim_api_delete(st, R("apps", "deployments"), "default", "d2", &orphan, NULL, NULL, &err), 0);
	assert_true(wait_gone(st, R("apps", "deployments"), "d2"));
	assert_int_equal(sim_api_get(st, R("", "configmaps"), "default", "dep2", &dep, &err), 0);
	assert_null(vs_json_path(dep, "metadata.ownerReferences"));
	json_decref(dep);
	/* pvc-protection is the cluster's (ctrl_protection.c): tested in test_sim_pvctrl */
	sim_gc_stop(st);
	json_decref(d1);
	json_decref(d2);
}

/* ---- CustomResourceDefinitions ---- */

static json_t *make_crd(const char *name, const char *group, const char *plural)
{
	return json_pack("{s:{s:s},s:{s:s,s:s,s:{s:s,s:s},s:[{s:s,s:b,s:b,s:{s:{s:s}}}]}}", "metadata", "name", name,
			 "spec", "group", group, "scope", "Namespaced", "names", "plural", plural, "kind", "Widget",
			 "versions", "name", "v1", "served", 1, "storage", 1, "schema", "openAPIV3Schema", "type",
			 "object");
}

static void test_crd_validation_and_defaults(void **state)
{
	sim_store *st = *state;
	const sim_resource *crds = R("apiextensions.k8s.io", "customresourcedefinitions");
	json_t *wrong_name = make_crd("wrong.example.com", "example.com", "widgets");
	json_t *bad_group = make_crd("widgets.example", "example", "widgets"), *out = NULL;
	vs_error err;

	assert_int_equal(sim_api_create(st, crds, NULL, wrong_name, NULL, &err), VS_EAPI);
	assert_int_equal(err.http_status, 422);
	assert_non_null(strstr(err.message, "must be spec.names.plural+\".\"+spec.group"));
	assert_int_equal(sim_api_create(st, crds, NULL, bad_group, NULL, &err), VS_EAPI);
	assert_non_null(strstr(err.message, "spec.group: Invalid value: \"example\": should be a domain"));
	json_decref(wrong_name);
	json_decref(bad_group);
	create_ok(st, crds, NULL, make_crd("widgets.example.com", "example.com", "widgets"), &out);
	assert_string_equal(vs_json_str(out, "spec.names.singular"), "widget");
	assert_string_equal(vs_json_str(out, "spec.names.listKind"), "WidgetList");
	assert_string_equal(vs_json_str(out, "spec.conversion.strategy"), "None");
	assert_string_equal(json_string_value(json_array_get(vs_json_path(out, "status.storedVersions"), 0)), "v1");
	/* not served before the controllers establish it (no GC running here) */
	assert_null(sim_store_resource(st, "example.com", "v1", "widgets"));
	json_decref(out);
}

static const sim_resource *wait_served(sim_store *st, const char *group, const char *plural, bool served)
{
	const sim_resource *r = NULL;

	for (int i = 0; i < 250; i++) {
		r = sim_store_resource(st, group, "v1", plural);
		if ((r != NULL) == served)
			break;
		vs_sleep_ms(20);
	}
	return r;
}

/* Established by the controllers of the GC's thread, served, then deleted with its objects. */
static void test_crd_served_then_deleted_with_objects(void **state)
{
	sim_store *st = *state;
	const sim_resource *crds = R("apiextensions.k8s.io", "customresourcedefinitions"), *widgets;
	json_t *list = NULL;
	vs_error err;

	assert_int_equal(sim_gc_start(st, &err), 0);
	create_ok(st, crds, NULL, make_crd("widgets.example.com", "example.com", "widgets"), NULL);
	widgets = wait_served(st, "example.com", "widgets", true);
	assert_non_null(widgets);
	assert_true(sim_resource_is_custom(widgets));
	assert_false(sim_resource_is_custom(crds));
	assert_string_equal(sim_resource_api_version(widgets), "example.com/v1");
	assert_true(widgets->namespaced);
	create_ok(st, widgets, "default", make_cm("w1", "front"), NULL);
	assert_int_equal(sim_api_list(st, widgets, "default", NULL, &list, &err), 0);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
	assert_string_equal(vs_json_str(json_array_get(json_object_get(list, "items"), 0), "kind"), "Widget");
	json_decref(list);
	assert_int_equal(sim_api_delete(st, crds, NULL, "widgets.example.com", NULL, NULL, NULL, &err), 0);
	assert_null(wait_served(st, "example.com", "widgets", false));
	assert_true(wait_gone(st, widgets, "w1"));
	for (int i = 0; i < 250 && sim_api_get(st, crds, NULL, "widgets.example.com", &list, &err) == 0; i++) {
		json_decref(list);
		vs_sleep_ms(20);
	}
	assert_true(vs_error_is(&err, "NotFound"));
	sim_gc_stop(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rv_increases_and_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_twice_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_configmap_data_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generate_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvc_defaults_and_immutable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sts_spec_immutable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_with_finalizer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_preconditions_and_pod_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_paging_and_selectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_pages_are_one_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_order_and_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_snapshot_reads_what_it_acts_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_background_and_orphan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crd_validation_and_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crd_served_then_deleted_with_objects, setup, teardown),
	};

	vs_log_set_level(VS_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
