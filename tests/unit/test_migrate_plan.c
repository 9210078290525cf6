/*
 * Unit tests for planning: the plan is a pure function of the listed objects, so each case builds
 * a small cluster in memory and checks the groups, workloads, problems and warnings. Also the list
 * of permissions a migration needs, and how the missing ones are written as rules.
 */
#include "migrate/migrate.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct fixture {
	json_t *scs, *pvs, *pvcs, *pods, *rss, *deps, *stss, *dss, *jobs, *cjs, *nodes, *caps;
	vs_plan_input in;
	int uid;
};

static json_t *list(void)
{
	return json_pack("{s:[]}", "items");
}

static void add(json_t *l, json_t *obj)
{
	json_array_append_new(json_object_get(l, "items"), obj);
}

static int fx_setup(void **state)
{
	struct fixture *f = vs_xcalloc(1, sizeof(*f));

	f->scs = list(), f->pvs = list(), f->pvcs = list(), f->pods = list(), f->rss = list();
	f->deps = list(), f->stss = list(), f->dss = list(), f->jobs = list(), f->cjs = list();
	f->nodes = list(), f->caps = list();
	f->in = (vs_plan_input){ f->scs,  f->pvs, f->pvcs, f->pods, f->rss,   f->deps,
				 f->stss, f->dss, f->jobs, f->cjs,  f->nodes, f->caps };
	for (int n = 1; n <= 3; n++) {
		char name[16];
		snprintf(name, sizeof(name), "node-%d", n);
		add(f->nodes, json_pack("{s:{s:s}}", "metadata", "name", name));
	}
	add(f->scs, json_pack("{s:{s:s, s:{s:s}}}", "metadata", "name", "local", "annotations",
			      "storageclass.kubernetes.io/is-default-class", "true"));
	add(f->scs, json_pack("{s:{s:s}}", "metadata", "name", "shared"));
	add(f->scs, json_pack("{s:{s:s}}", "metadata", "name", "other"));
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fixture *f = *state;

	json_decref(f->scs), json_decref(f->pvs), json_decref(f->pvcs), json_decref(f->pods), json_decref(f->rss);
	json_decref(f->deps), json_decref(f->stss), json_decref(f->dss), json_decref(f->jobs), json_decref(f->cjs);
	json_decref(f->nodes), json_decref(f->caps);
	free(f);
	return 0;
}

/* A claim bound to a volume of class cls; node names a node-local volume's node, or NULL. */
static json_t *fx_claim(struct fixture *f, const char *ns, const char *name, const char *cls, const char *node)
{
	char uid[32], pv[64];
	json_t *pvc, *vol;

	snprintf(uid, sizeof(uid), "uid-%d", ++f->uid);
	snprintf(pv, sizeof(pv), "pv-%s-%s", ns, name);
	pvc = json_pack("{s:{s:s, s:s, s:s, s:{s:s}}, s:{s:s, s:s, s:[s], s:{s:{s:s}}}}", "metadata", "name", name,
			"namespace", ns, "uid", uid, "labels", "app", name, "spec", "storageClassName", cls,
			"volumeName", pv, "accessModes", "ReadWriteOnce", "resources", "requests", "storage", "1Gi");
	vol = json_pack("{s:{s:s}, s:{s:s, s:{s:s}, s:{s:s, s:s, s:s}}}", "metadata", "name", pv, "spec",
			"storageClassName", cls, "capacity", "storage", "1Gi", "claimRef", "namespace", ns, "name",
			name, "uid", uid);
	if (node)
		vs_json_set_path(vol, "spec.nodeAffinity",
				 json_pack("{s:{s:[{s:[{s:s, s:s, s:[s]}]}]}}", "required", "nodeSelectorTerms",
					   "matchExpressions", "key", "kubernetes.io/hostname", "operator", "In",
					   "values", node));
	add(f->pvs, vol);
	add(f->pvcs, pvc);
	return pvc;
}

/* A pod mounting claims (NULL-terminated), controlled by kind/name (kind NULL: a bare pod). */
static void fx_pod(struct fixture *f, const char *ns, const char *name, const char *kind, const char *owner, ...)
{
	json_t *pod =
		json_pack("{s:{s:s, s:s}, s:{s:[]}}", "metadata", "name", name, "namespace", ns, "spec", "volumes");
	const char *claim;
	va_list ap;

	if (kind)
		vs_json_set_path(pod, "metadata.ownerReferences",
				 json_pack("[{s:s, s:s, s:b}]", "kind", kind, "name", owner, "controller", 1));
	va_start(ap, owner);
	while ((claim = va_arg(ap, const char *)) != NULL)
		json_array_append_new(
			vs_json_path(pod, "spec.volumes"),
			json_pack("{s:s, s:{s:s}}", "name", claim, "persistentVolumeClaim", "claimName", claim));
	va_end(ap);
	add(f->pods, pod);
}

static json_t *fx_workload(json_t *l, const char *ns, const char *name, long replicas, const char *okind,
			   const char *oname)
{
	json_t *w = json_pack("{s:{s:s, s:s}, s:{s:I}}", "metadata", "name", name, "namespace", ns, "spec", "replicas",
			      (json_int_t)replicas);
	if (okind)
		vs_json_set_path(w, "metadata.ownerReferences",
				 json_pack("[{s:s, s:s, s:b}]", "kind", okind, "name", oname, "controller", 1));
	add(l, w);
	return w;
}

static void fx_deployment(struct fixture *f, const char *ns, const char *name, long replicas)
{
	char rs[64], pod[80];

	snprintf(rs, sizeof(rs), "%s-5d8f9c", name);
	snprintf(pod, sizeof(pod), "%s-abcde", rs);
	fx_workload(f->deps, ns, name, replicas, NULL, NULL);
	fx_workload(f->rss, ns, rs, replicas, "Deployment", name);
}

static vs_plan *plan_ok(struct fixture *f, const vs_plan_opts *opts)
{
	vs_plan *plan = NULL;
	vs_error err = { 0 };

	assert_int_equal(vs_plan_build(&f->in, opts, &plan, &err), 0);
	assert_non_null(plan);
	return plan;
}

static const vs_plan_opts opts_local_to_shared = { .source_sc = "local", .dest_sc = "shared" };

static void test_migrate_plan__deployment_with_one_claim(void **state)
{
	struct fixture *f = *state;
	vs_plan *plan;

	fx_claim(f, "default", "data", "local", "node-2");
	fx_claim(f, "default", "elsewhere", "shared", NULL);
	fx_deployment(f, "default", "web", 2);
	fx_pod(f, "default", "web-5d8f9c-abcde", "ReplicaSet", "web-5d8f9c", "data", NULL);
	plan = plan_ok(f, &opts_local_to_shared);
	assert_int_equal(plan->nproblems, 0);
	assert_int_equal(plan->npvcs, 1);
	assert_int_equal(plan->ngroups, 1);
	assert_string_equal(plan->pvcs[0].name, "data");
	assert_string_equal(plan->pvcs[0].pv, "pv-default-data");
	assert_string_equal(plan->pvcs[0].node, "node-2");
	assert_string_equal(plan->pvcs[0].temp_name, "data-pvcmigrate");
	assert_string_equal(plan->pvcs[0].copy_pod, "migrate-data");
	assert_int_equal(plan->groups[0].nworkloads, 1);
	vs_plan_workload *w = &plan->workloads[plan->groups[0].workloads[0]];
	assert_int_equal(w->kind, VS_WORKLOAD_DEPLOYMENT);
	assert_string_equal(w->name, "web");
	assert_int_equal(w->replicas, 2);
	vs_plan_free(plan);
}

static void test_migrate_plan__groups_follow_shared_claims(void **state)
{
	struct fixture *f = *state;
	vs_plan *plan;

	fx_claim(f, "default", "p1", "local", NULL);
	fx_claim(f, "default", "p2", "local", NULL);
	fx_claim(f, "default", "p3", "local", NULL);
	fx_claim(f, "default", "alone", "local", NULL);
	fx_deployment(f, "default", "a", 1);
	fx_deployment(f, "default", "b", 1);
	fx_deployment(f, "default", "c", 1);
	fx_pod(f, "default", "a-pod", "ReplicaSet", "a-5d8f9c", "p1", "p2", NULL);
	fx_pod(f, "default", "b-pod", "ReplicaSet", "b-5d8f9c", "p2", "p3", NULL);
	fx_pod(f, "default", "c-pod", "ReplicaSet", "c-5d8f9c", "alone", NULL);
	plan = plan_ok(f, &opts_local_to_shared);
	assert_int_equal(plan->nproblems, 0);
	assert_int_equal(plan->ngroups, 2);
	const vs_plan_group *big = plan->groups[0].npvcs == 3 ? &plan->groups[0] : &plan->groups[1];
	const vs_plan_group *small = big == &plan->groups[0] ? &plan->groups[1] : &plan->groups[0];
	assert_int_equal(big->npvcs, 3);
	assert_int_equal(big->nworkloads, 2);
	assert_int_equal(small->npvcs, 1);
	assert_int_equal(small->nworkloads, 1);
	assert_string_equal(plan->workloads[small->workloads[0]].name, "c");
	vs_plan_free(plan);
}

static void test_migrate_plan__statefulset_claims_one_group(void **state)
{
	struct fixture *f = *state;
	vs_plan *plan;
	json_t *sts;

	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "data-db-%d", i);
		fx_claim(f, "shop", name, "local", NULL);
	}
	fx_claim(f, "shop", "data-db-x", "local", NULL); /* not an ordinal: not the StatefulSet's */
	sts = fx_workload(f->stss, "shop", "db", 3, NULL, NULL);
	vs_json_set_path(sts, "spec.volumeClaimTemplates", json_pack("[{s:{s:s}}]", "metadata", "name", "data"));
	fx_pod(f, "shop", "db-0", "StatefulSet", "db", "data-db-0", NULL); /* only one pod runs */
	plan = plan_ok(f, &opts_local_to_shared);
	assert_int_equal(plan->nproblems, 0);
	assert_int_equal(plan->ngroups, 2);
	assert_int_equal(plan->nworkloads, 1);
	assert_int_equal(plan->workloads[0].kind, VS_WORKLOAD_STATEFULSET);
	assert_int_equal(plan->workloads[0].replicas, 3);
	size_t g = plan->pvcs[0].group;
	for (size_t i = 0; i < plan->npvcs; i++)
		assert_true(strcmp(plan->pvcs[i].name, "data-db-x") == 0 ? plan->pvcs[i].group != g
									 : plan->pvcs[i].group == g);
	vs_plan_free(plan);
}

static bool has_problem(const vs_plan *plan, const char *name, const char *text)
{
	for (size_t i = 0; i < plan->nproblems; i++)
		if (((!name && !plan->problems[i].name) ||
		     (name && plan->problems[i].name && strcmp(name, plan->problems[i].name) == 0)) &&
		    strstr(plan->problems[i].reason, text))
			return true;
	return false;
}

static void test_migrate_plan__bare_pod(void **state)
{
	struct fixture *f = *state;
	vs_plan_opts opts = opts_local_to_shared;
	vs_plan *plan;

	fx_claim(f, "default", "scratch", "local", NULL);
	fx_pod(f, "default", "loner", NULL, NULL, "scratch", NULL);
	plan = plan_ok(f, &opts);
	assert_true(has_problem(plan, "scratch", "pod loner mounts it and has no controller"));
	assert_true(has_problem(plan, "scratch", "--delete-bare-pods"));
	vs_plan_free(plan);
	opts.delete_bare_pods = true;
	plan = plan_ok(f, &opts);
	assert_int_equal(plan->nproblems, 0);
	assert_int_equal(plan->workloads[0].kind, VS_WORKLOAD_POD);
	vs_plan_free(plan);
}

static void test_migrate_plan__unknown_controller_and_cronjob(void **state)
{
	struct fixture *f = *state;
	vs_plan *plan;

	fx_claim(f, "default", "odd", "local", NULL);
	fx_claim(f, "default", "nightly", "local", NULL);
	fx_pod(f, "default", "odd-0", "Rollout", "odd", "odd", NULL);
	fx_workload(f->cjs, "default", "backup", 0, NULL, NULL);
	fx_workload(f->jobs, "default", "backup-29000000", 0, "CronJob", "backup");
	fx_pod(f, "default", "backup-29000000-x", "Job", "backup-29000000", "nightly", NULL);
	plan = plan_ok(f, &opts_local_to_shared);
	assert_true(has_problem(plan, "odd", "controlled by Rollout odd"));
	assert_int_equal(plan->nproblems, 1);
	bool cron = false, job = false;
	for (size_t i = 0; i < plan->nworkloads; i++) {
		cron = cron || plan->workloads[i].kind == VS_WORKLOAD_CRONJOB;
		job = job || plan->workloads[i].kind == VS_WORKLOAD_JOB;
	}
	assert_true(cron);
	assert_true(job);
	vs_plan_free(plan);
}

static void test_migrate_plan__classes_and_defaults(void **state)
{
	struct fixture *f = *state;
	vs_plan_opts opts = { .source_sc = "gone", .dest_sc = "missing" };
	vs_plan *plan;

	plan = plan_ok(f, &opts);
	assert_true(has_problem(plan, NULL, "destination StorageClass \"missing\" does not exist"));
	assert_true(has_problem(plan, NULL, "--skip-source-validation"));
	vs_plan_free(plan);
	opts = (vs_plan_opts){ .source_sc = "gone", .dest_sc = "shared", .skip_source_validation = true };
	plan = plan_ok(f, &opts);
	assert_int_equal(plan->nproblems, 0);
	vs_plan_free(plan);
	/* The default (local) is the source: it moves. */
	opts = (vs_plan_opts){ .source_sc = "local", .dest_sc = "shared", .set_defaults = true };
	plan = plan_ok(f, &opts);
	assert_true(plan->change_default);
	assert_string_equal(plan->current_default, "local");
	vs_plan_free(plan);
	/* The default is another class: refused up front (pvmigrate's limitation 8). */
	opts = (vs_plan_opts){ .source_sc = "other", .dest_sc = "shared", .set_defaults = true };
	plan = plan_ok(f, &opts);
	assert_false(plan->change_default);
	assert_true(has_problem(plan, NULL, "but the default is \"local\""));
	vs_plan_free(plan);
}

static void test_migrate_plan__claim_problems_and_annotation(void **state)
{
	struct fixture *f = *state;
	json_t *block, *annotated, *bad;
	vs_plan *plan;

	block = fx_claim(f, "default", "raw", "local", NULL);
	vs_json_set_path(block, "spec.volumeMode", json_string("Block"));
	annotated = fx_claim(f, "default", "many", "local", NULL);
	vs_json_set_path(annotated, "metadata.annotations",
			 json_pack("{s:s}", "kurl.sh/pvcmigrate-destinationaccessmode", "ReadWriteMany"));
	bad = fx_claim(f, "default", "typo", "local", NULL);
	vs_json_set_path(bad, "metadata.annotations",
			 json_pack("{s:s}", "kurl.sh/pvcmigrate-destinationaccessmode", "ReadWriteSome"));
	add(f->pvs, json_pack("{s:{s:s}, s:{s:s}, s:{s:s}}", "metadata", "name", "orphan-pv", "spec",
			      "storageClassName", "local", "status", "phase", "Available"));
	plan = plan_ok(f, &opts_local_to_shared);
	assert_true(has_problem(plan, "raw", "volumeMode Block"));
	assert_true(has_problem(plan, "typo", "\"ReadWriteSome\""));
	assert_int_equal(plan->nproblems, 2);
	for (size_t i = 0; i < plan->npvcs; i++)
		if (strcmp(plan->pvcs[i].name, "many") == 0)
			assert_string_equal(plan->pvcs[i].dest_access_mode, "ReadWriteMany");
	assert_int_equal(plan->nwarnings, 1);
	assert_non_null(strstr(plan->warnings[0], "orphan-pv"));
	vs_plan_free(plan);
}

/* The volume fx_claim made last. */
static json_t *fx_last_pv(struct fixture *f)
{
	json_t *items = json_object_get(f->pvs, "items");

	return json_array_get(items, json_array_size(items) - 1);
}

/* A finalizer other than Kubernetes' own (and a CSI provisioner's on volumes) is refused, named. */
static void test_migrate_plan__foreign_finalizers(void **state)
{
	struct fixture *f = *state;
	vs_plan *plan;

	vs_json_set_path(fx_claim(f, "default", "guarded", "local", NULL), "metadata.finalizers",
			 json_pack("[s, s]", "kubernetes.io/pvc-protection", "backup.example.com/protect"));
	fx_claim(f, "default", "csi", "local", NULL);
	vs_json_set_path(fx_last_pv(f), "metadata.finalizers",
			 json_pack("[s, s]", "kubernetes.io/pv-protection",
				   "external-provisioner.volume.kubernetes.io/finalizer"));
	fx_claim(f, "default", "kept", "local", NULL);
	vs_json_set_path(fx_last_pv(f), "metadata.finalizers", json_pack("[s]", "example.com/keep"));
	plan = plan_ok(f, &opts_local_to_shared);
	assert_true(has_problem(plan, "guarded", "the claim carries the finalizer backup.example.com/protect"));
	assert_true(has_problem(plan, "kept", "the volume pv-default-kept carries the finalizer example.com/keep"));
	assert_int_equal(plan->nproblems, 2);
	vs_plan_free(plan);
}

static void test_migrate_plan__filters(void **state)
{
	struct fixture *f = *state;
	const char *only[] = { "b/two" };
	vs_plan_opts opts = opts_local_to_shared;
	vs_plan *plan;
	vs_error err = { 0 };

	fx_claim(f, "a", "one", "local", NULL);
	fx_claim(f, "b", "two", "local", NULL);
	fx_claim(f, "b", "three", "local", NULL);
	opts.namespace = "b";
	plan = plan_ok(f, &opts);
	assert_int_equal(plan->npvcs, 2);
	vs_plan_free(plan);
	opts = opts_local_to_shared;
	opts.pvcs = only, opts.npvcs = 1;
	plan = plan_ok(f, &opts);
	assert_int_equal(plan->npvcs, 1);
	assert_string_equal(plan->pvcs[0].name, "two");
	vs_plan_free(plan);
	opts = opts_local_to_shared;
	opts.selector = "app in (one,three)";
	plan = plan_ok(f, &opts);
	assert_int_equal(plan->npvcs, 2);
	vs_plan_free(plan);
	const char *bad[] = { "two" };
	opts = opts_local_to_shared;
	opts.pvcs = bad, opts.npvcs = 1;
	assert_int_equal(vs_plan_build(&f->in, &opts, &plan, &err), VS_EINVAL);
	assert_non_null(strstr(err.message, "NAMESPACE/NAME"));
	opts = (vs_plan_opts){ .source_sc = "local", .dest_sc = "local" };
	assert_int_equal(vs_plan_build(&f->in, &opts, &plan, &err), VS_EINVAL);
}

static void test_migrate_plan__derived_names(void **state)
{
	char long_name[80];
	char *a, *b;

	(void)state;
	memset(long_name, 'x', 70);
	long_name[70] = '\0';
	a = vs_plan_derived_name(long_name, "-pvcmigrate");
	long_name[69] = 'y';
	b = vs_plan_derived_name(long_name, "-pvcmigrate");
	assert_int_equal(strlen(a), 63);
	assert_true(vs_str_has_suffix(a, "-pvcmigrate"));
	assert_string_not_equal(a, b);
	free(a);
	free(b);
	a = vs_plan_derived_name("short", "-pvcmigrate");
	assert_string_equal(a, "short-pvcmigrate");
	free(a);
}

static void test_migrate_plan__json(void **state)
{
	struct fixture *f = *state;
	vs_plan *plan;
	json_t *j;

	fx_claim(f, "default", "data", "local", "node-1");
	fx_deployment(f, "default", "web", 1);
	fx_pod(f, "default", "web-pod", "ReplicaSet", "web-5d8f9c", "data", NULL);
	plan = plan_ok(f, &opts_local_to_shared);
	j = vs_plan_to_json(plan);
	assert_string_equal(
		vs_json_str(
			json_array_get(json_object_get(json_array_get(json_object_get(j, "groups"), 0), "claims"), 0),
			"tempClaim"),
		"data-pvcmigrate");
	assert_string_equal(
		vs_json_str(json_array_get(
				    json_object_get(json_array_get(json_object_get(j, "groups"), 0), "workloads"), 0),
			    "kind"),
		"Deployment");
	/* the journal keeps this JSON: reading it back gives the same plan */
	vs_plan *back = NULL;
	vs_error err;
	assert_int_equal(vs_plan_from_json(j, &back, &err), 0);
	json_t *again = vs_plan_to_json(back);
	assert_true(json_equal(j, again));
	json_decref(again);
	vs_plan_free(back);
	json_object_del(json_array_get(json_object_get(json_array_get(json_object_get(j, "groups"), 0), "claims"), 0),
			"uid");
	assert_int_equal(vs_plan_from_json(j, &back, &err), VS_EINVAL);
	assert_null(back);
	assert_non_null(strstr(err.message, "\"uid\""));
	json_decref(j);
	vs_plan_free(plan);
}

/* A node-local volume is copied on its node: a missing or cordoned node is a problem, said before anything. */
static void test_migrate_plan__node_local_volume_needs_its_node(void **state)
{
	struct fixture *f = *state;
	vs_plan *plan;

	fx_claim(f, "default", "here", "local", "node-1");
	fx_claim(f, "default", "gone", "local", "node-9");
	fx_claim(f, "default", "cordoned", "local", "node-2");
	vs_json_set_path(json_array_get(json_object_get(f->nodes, "items"), 1), "spec.unschedulable", json_true());
	plan = plan_ok(f, &opts_local_to_shared);
	assert_int_equal(plan->npvcs, 3);
	assert_int_equal(plan->nproblems, 2);
	assert_string_equal(plan->problems[0].name, "gone");
	assert_non_null(strstr(plan->problems[0].reason, "node-9"));
	assert_string_equal(plan->problems[1].name, "cordoned");
	assert_non_null(strstr(plan->problems[1].reason, "kubectl uncordon node-2"));
	vs_plan_free(plan);
}

/* Where each warm copy runs: beside the running pod of a network ReadWriteOnce volume, on a
 * node-local volume's node, anywhere for ReadWriteMany; none for ReadWriteOncePod or pods on two nodes. */
static void test_migrate_plan__warm_copy_placement(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = { "net", "pinned", "many", "solo", "split", "idle" };
	vs_plan *plan;

	fx_claim(f, "default", "net", "local", NULL);
	fx_claim(f, "default", "pinned", "local", "node-2");
	json_array_set_new(vs_json_path(fx_claim(f, "default", "many", "local", NULL), "spec.accessModes"), 0,
			   json_string("ReadWriteMany"));
	json_array_set_new(vs_json_path(fx_claim(f, "default", "solo", "local", NULL), "spec.accessModes"), 0,
			   json_string("ReadWriteOncePod"));
	fx_claim(f, "default", "split", "local", NULL);
	fx_claim(f, "default", "idle", "local", NULL);
	fx_deployment(f, "default", "web", 1);
	for (size_t k = 0; k < 5; k++) {
		char pod[32];
		snprintf(pod, sizeof(pod), "web-%zu", k);
		fx_pod(f, "default", pod, "ReplicaSet", "web-5d8f9c", names[k], NULL);
		vs_json_set_path(json_array_get(json_object_get(f->pods, "items"), k), "spec.nodeName",
				 json_string("node-3"));
	}
	fx_pod(f, "default", "web-x", "ReplicaSet", "web-5d8f9c", "split", NULL);
	vs_json_set_path(json_array_get(json_object_get(f->pods, "items"), 5), "spec.nodeName", json_string("node-1"));
	plan = plan_ok(f, &opts_local_to_shared);
	assert_int_equal(plan->npvcs, 6);
	for (size_t i = 0; i < plan->npvcs; i++) {
		const vs_plan_pvc *p = &plan->pvcs[i];
		if (strcmp(p->name, "net") == 0) {
			assert_string_equal(p->warm_node, "node-3");
		} else if (strcmp(p->name, "pinned") == 0) {
			assert_string_equal(p->warm_node, "node-2"); /* the volume's node, whatever the pod says */
		} else if (strcmp(p->name, "many") == 0 || strcmp(p->name, "idle") == 0) {
			assert_null(p->warm_node);
			assert_null(p->cold_reason);
		} else if (strcmp(p->name, "solo") == 0) {
			assert_null(p->warm_node);
			assert_non_null(strstr(p->cold_reason, "ReadWriteOncePod"));
		} else {
			assert_non_null(strstr(p->cold_reason, "node-3 and node-1"));
		}
	}
	vs_plan_free(plan);
}

/* Where CSIStorageCapacity is published for the destination, a claim that cannot fit is refused. */
static void test_migrate_plan__storage_capacity(void **state)
{
	struct fixture *f = *state;
	vs_plan *plan;

	fx_claim(f, "default", "big", "local", NULL);
	plan = plan_ok(f, &opts_local_to_shared);
	assert_int_equal(plan->nproblems, 0); /* nothing published: nothing to check */
	assert_int_equal(plan->space.method, VS_SPACE_UNKNOWN);
	vs_plan_free(plan);
	add(f->caps, json_pack("{s:s, s:s}", "storageClassName", "shared", "capacity", "512Mi"));
	add(f->caps, json_pack("{s:s, s:s}", "storageClassName", "other", "capacity", "100Gi"));
	plan = plan_ok(f, &opts_local_to_shared);
	assert_int_equal(plan->space.method, VS_SPACE_CSI);
	assert_int_equal(plan->nproblems, 1);
	assert_non_null(strstr(plan->problems[0].reason, "512.0 MiB"));
	vs_plan_free(plan);
	add(f->caps,
	    json_pack("{s:s, s:s, s:s}", "storageClassName", "shared", "capacity", "1Gi", "maximumVolumeSize", "2Gi"));
	plan = plan_ok(f, &opts_local_to_shared);
	assert_int_equal(plan->nproblems, 0);
	vs_plan_free(plan);
}

/* A claim whose volume is made on a known node (a node-local source: its copy runs there) counts
 * only the segments whose nodeTopology reaches that node, and the claims made on one node must fit
 * there together; --skip-free-space-check checks nothing. */
static void test_migrate_plan__storage_capacity_per_node(void **state)
{
	struct fixture *f = *state;
	vs_plan_opts skip = opts_local_to_shared;
	vs_plan *plan;

	for (int n = 0; n < 3; n++) {
		json_t *node = json_array_get(json_object_get(f->nodes, "items"), (size_t)n);
		char host[16];
		snprintf(host, sizeof(host), "node-%d", n + 1);
		vs_json_set_path(node, "metadata.labels", json_pack("{s:s}", "kubernetes.io/hostname", host));
	}
	fx_claim(f, "default", "a", "local", "node-1");
	fx_claim(f, "default", "b", "local", "node-1");
	fx_claim(f, "default", "c", "local", "node-2");
	/* node-1: 1.5Gi in all, node-2: nothing published, node-3: plenty (reaches neither claim) */
	add(f->caps, json_pack("{s:s, s:s, s:{s:{s:s}}}", "storageClassName", "shared", "capacity", "1536Mi",
			       "nodeTopology", "matchLabels", "kubernetes.io/hostname", "node-1"));
	add(f->caps, json_pack("{s:s, s:s, s:{s:[{s:s, s:s, s:[s]}]}}", "storageClassName", "shared", "capacity",
			       "100Gi", "nodeTopology", "matchExpressions", "key", "kubernetes.io/hostname", "operator",
			       "In", "values", "node-3"));
	plan = plan_ok(f, &opts_local_to_shared);
	assert_int_equal(plan->nproblems, 3);
	for (size_t i = 0; i < plan->nproblems; i++) {
		const vs_plan_problem *p = &plan->problems[i];
		if (strcmp(p->name, "c") == 0) {
			assert_non_null(strstr(p->reason, "none that reaches node node-2"));
		} else {
			assert_non_null(strstr(p->reason, "on node node-1 need 2.0 GiB together"));
			assert_non_null(strstr(p->reason, "default/a (1Gi), default/b (1Gi)"));
			assert_non_null(strstr(p->reason, "1.5 GiB free there"));
		}
	}
	vs_plan_free(plan);
	skip.skip_free_space_check = true;
	plan = plan_ok(f, &skip);
	assert_int_equal(plan->nproblems, 0);
	assert_int_equal(plan->space.method, VS_SPACE_SKIPPED);
	vs_plan_free(plan);
}

/* The base directory of a node-local destination: volshift's annotation, OpenEBS's BasePath in
 * cas.openebs.io/config (or its default), the parameter basePath; none otherwise. */
static void test_migrate_plan__free_space_base_dir(void **state)
{
	static const char openebs[] = "- name: StorageType\n  value: \"hostpath\"\n- name: BasePath\n  value: "
				      "\"/var/local-hostpath\"\n";
	json_t *sc;
	const char *from = NULL;
	char *dir;

	(void)state;
	sc = json_pack("{s:{s:s, s:{s:s}}, s:s}", "metadata", "name", "hp", "annotations", "cas.openebs.io/config",
		       openebs, "provisioner", "openebs.io/local");
	dir = vs_space_base_dir(sc, &from);
	assert_string_equal(dir, "/var/local-hostpath");
	assert_non_null(strstr(from, "BasePath"));
	free(dir);
	json_object_set_new(vs_json_path(sc, "metadata.annotations"), "cas.openebs.io/config",
			    json_string("[{name: StorageType, value: hostpath}]"));
	dir = vs_space_base_dir(sc, &from);
	assert_string_equal(dir, "/var/openebs/local"); /* OpenEBS's default */
	free(dir);
	json_object_set_new(vs_json_path(sc, "metadata.annotations"), "volshift.io/base-path", json_string("/mnt/disks"));
	dir = vs_space_base_dir(sc, &from);
	assert_string_equal(dir, "/mnt/disks");
	free(dir);
	json_decref(sc);
	sc = json_pack("{s:{s:s}, s:s, s:{s:s}}", "metadata", "name", "local", "provisioner", "volshift-sim/local",
		       "parameters", "basePath", "/data/volumes");
	dir = vs_space_base_dir(sc, &from);
	assert_string_equal(dir, "/data/volumes");
	assert_string_equal(from, "its parameter basePath");
	free(dir);
	json_object_set_new(json_object_get(sc, "parameters"), "basePath", json_string("relative"));
	assert_null(vs_space_base_dir(sc, &from));
	json_decref(sc);
}

static void test_migrate_plan__df_output(void **state)
{
	int64_t avail = 0, size = 0;
	vs_error err = { 0 };

	(void)state;
	assert_int_equal(vs_space_parse_df("Filesystem     1024-blocks     Used Available Capacity Mounted on\n"
					   "/dev/sda2         61608748 48707392   9739400      84% /base\n",
					   &avail, &size, &err),
			 0);
	assert_int_equal(avail, 9739400LL * 1024);
	assert_int_equal(size, 61608748LL * 1024);
	/* busybox, and a device name with a space */
	assert_int_equal(vs_space_parse_df("Filesystem           1024-blocks    Used Available Capacity Mounted on\n"
					   "my disk 100 40 60 40% /base\n",
					   &avail, &size, &err),
			 0);
	assert_int_equal(avail, 60 * 1024);
	assert_int_equal(vs_space_parse_df("df: /base: No such file or directory\n", &avail, &size, &err), VS_EINVAL);
	assert_non_null(strstr(err.message, "No such file"));
}

/* A node-local destination: the claims made on a node must fit in what df measured there; the
 * claims that may land anywhere must fit on every node where a copy pod may land, besides those. */
static void test_migrate_plan__free_space_judge(void **state)
{
	struct fixture *f = *state;
	vs_space_node nodes[3] = { { .node = "node-1" }, { .node = "node-2" }, { .node = "node-3" } };
	vs_plan *plan;
	json_t *sc = json_array_get(json_object_get(f->scs, "items"), 1); /* shared */

	vs_json_set_path(sc, "parameters", json_pack("{s:s}", "basePath", "/srv/volumes"));
	vs_json_set_path(json_array_get(json_object_get(f->nodes, "items"), 2), "spec.taints",
			 json_pack("[{s:s, s:s}]", "key", "node-role.kubernetes.io/control-plane", "effect", "NoSchedule"));
	fx_claim(f, "default", "pinned", "local", "node-1"); /* 1Gi, made on node-1 */
	fx_claim(f, "default", "free", "local", NULL);	     /* 1Gi, anywhere */
	plan = plan_ok(f, &opts_local_to_shared);
	assert_int_equal(plan->space.method, VS_SPACE_NODE);
	assert_string_equal(plan->space.base_dir, "/srv/volumes");
	assert_int_equal(plan->space.nnodes, 2); /* node-3 is tainted */
	for (int k = 0; k < 3; k++)
		nodes[k].avail = 3LL << 30, nodes[k].size = 8LL << 30;
	vs_space_judge(plan, true, nodes, 3);
	assert_int_equal(plan->nproblems, 0);
	assert_int_equal(nodes[0].placed, 1LL << 30);
	assert_int_equal(nodes[0].anywhere, 1LL << 30);
	assert_int_equal(nodes[2].anywhere, 0);
	assert_true(nodes[0].fits && nodes[1].fits && nodes[2].fits);
	assert_false(nodes[0].low);
	nodes[1].avail = 512LL << 20; /* the claim that may land anywhere does not fit on node-2 */
	vs_space_judge(plan, true, nodes, 3);
	assert_int_equal(plan->nproblems, 1);
	assert_string_equal(plan->problems[0].name, "free");
	assert_non_null(strstr(plan->problems[0].reason, "node node-2 has 512.0 MiB free in /srv/volumes"));
	assert_true(nodes[0].fits && !nodes[1].fits);
	vs_plan_free(plan);
	plan = plan_ok(f, &opts_local_to_shared);
	nodes[0].avail = 512LL << 20; /* the pinned claim does not fit on its node */
	nodes[1].avail = nodes[2].avail = 3LL << 30;
	vs_space_judge(plan, true, nodes, 3);
	assert_int_equal(plan->nproblems, 1);
	assert_string_equal(plan->problems[0].name, "pinned");
	assert_non_null(strstr(plan->problems[0].reason, "made on node node-1, where /srv/volumes has 512.0 MiB free"));
	nodes[0].avail = 3LL << 30, nodes[0].size = 30LL << 30; /* 1 GiB left after both copies: 3% */
	vs_space_judge(plan, true, nodes, 3);
	assert_true(nodes[0].fits && nodes[0].low);
	nodes[0].size = 4LL << 30; /* ... 25% */
	vs_space_judge(plan, true, nodes, 3);
	assert_true(nodes[0].fits && !nodes[0].low);
	vs_plan_free(plan);
}

/* Claims of the source class that no volume is bound to yet: named in the plan and left out (a
 * warning), or a problem when --pvc names one; --pvc must name a claim of the source class. */
static void test_migrate_plan__pending_and_named_claims(void **state)
{
	struct fixture *f = *state;
	const char *pending[] = { "default/waiting" }, *missing[] = { "ns2/doesnotexist" };
	const char *other[] = { "default/elsewhere" }, *outside[] = { "default/data" };
	vs_plan_opts opts = opts_local_to_shared;
	vs_error err = { 0 };
	vs_plan *plan;

	fx_claim(f, "default", "data", "local", NULL);
	fx_claim(f, "default", "elsewhere", "shared", NULL);
	add(f->pvcs, json_pack("{s:{s:s, s:s}, s:{s:s}, s:{s:s}}", "metadata", "name", "waiting", "namespace", "default",
			       "spec", "storageClassName", "local", "status", "phase", "Pending"));
	add(f->pvcs, json_pack("{s:{s:s, s:s}, s:{s:s}, s:{s:s}}", "metadata", "name", "notmine", "namespace", "default",
			       "spec", "storageClassName", "shared", "status", "phase", "Pending"));
	plan = plan_ok(f, &opts);
	assert_int_equal(plan->npvcs, 1);
	assert_int_equal(plan->nproblems, 0);
	assert_int_equal(plan->nwarnings, 1);
	assert_non_null(strstr(plan->warnings[0], "claim default/waiting (class local) is Pending"));
	assert_non_null(strstr(plan->warnings[0], "bind it"));
	vs_plan_free(plan);
	opts.pvcs = pending, opts.npvcs = 1;
	plan = plan_ok(f, &opts);
	assert_int_equal(plan->npvcs, 0);
	assert_int_equal(plan->nproblems, 1);
	assert_string_equal(plan->problems[0].name, "waiting");
	assert_non_null(strstr(plan->problems[0].reason, "nothing to copy"));
	vs_plan_free(plan);
	opts.pvcs = missing;
	assert_int_equal(vs_plan_build(&f->in, &opts, &plan, &err), VS_EINVAL);
	assert_null(plan);
	assert_non_null(strstr(err.message, "--pvc ns2/doesnotexist: there is no claim doesnotexist in namespace ns2"));
	/* the same check on claims and volumes alone, as migrate makes it before anything else */
	assert_int_equal(vs_plan_check_pvcs(&(vs_plan_input){ .pvcs = f->pvcs, .pvs = f->pvs }, &opts, &err), VS_EINVAL);
	assert_non_null(strstr(err.message, "--pvc ns2/doesnotexist"));
	opts.pvcs = pending;
	assert_int_equal(vs_plan_check_pvcs(&(vs_plan_input){ .pvcs = f->pvcs, .pvs = f->pvs }, &opts, &err), 0);
	opts.pvcs = missing;
	opts.pvcs = other;
	assert_int_equal(vs_plan_build(&f->in, &opts, &plan, &err), VS_EINVAL);
	assert_non_null(strstr(err.message, "is of class shared, not --source-sc local"));
	opts.pvcs = outside, opts.namespace = "shop";
	assert_int_equal(vs_plan_build(&f->in, &opts, &plan, &err), VS_EINVAL);
	assert_non_null(strstr(err.message, "outside --namespace shop"));
	opts.namespace = NULL, opts.selector = "app=web";
	assert_int_equal(vs_plan_build(&f->in, &opts, &plan, &err), VS_EINVAL);
	assert_non_null(strstr(err.message, "does not match --selector app=web"));
}

/* A workload an interrupted run (or pvmigrate) scaled to 0 has no pod left: it is found through its
 * pod template and restored to the recorded scale. */
static void test_migrate_plan__recorded_scale_wins(void **state)
{
	struct fixture *f = *state;
	vs_plan *plan;
	json_t *dep;

	fx_claim(f, "default", "data", "local", NULL);
	fx_claim(f, "default", "other", "local", NULL);
	fx_deployment(f, "default", "web", 0);
	dep = json_array_get(json_object_get(f->deps, "items"), 0);
	vs_json_set_path(dep, "metadata.annotations", json_pack("{s:s}", "kurl.sh/pvcmigrate-scale", "3"));
	vs_json_set_path(dep, "spec.template.spec.volumes",
			 json_pack("[{s:s, s:{s:s}}]", "name", "d", "persistentVolumeClaim", "claimName", "data"));
	plan = plan_ok(f, &opts_local_to_shared);
	assert_int_equal(plan->nworkloads, 1);
	assert_string_equal(plan->workloads[0].name, "web");
	assert_int_equal(plan->workloads[0].replicas, 3);
	assert_int_equal(plan->ngroups, 2);
	assert_int_equal(plan->groups[plan->pvcs[0].group].nworkloads, 1);
	assert_int_equal(plan->groups[plan->pvcs[1].group].nworkloads, 0);
	vs_plan_free(plan);
}

/* The permissions a migration needs: the journal's in its namespace, the rest everywhere; missing
 * ones are listed as rules, one per resource and namespace. */
static void test_migrate_plan__access_rules(void **state)
{
	(void)state;
	vs_kube_access need[64];
	size_t n = vs_migrate_access_needed("state", need, 64), cms = 0;

	assert_true(n > 0 && n <= 64);
	for (size_t i = 0; i < n; i++) {
		bool cm = !strcmp(need[i].resource, "configmaps");
		cms += cm;
		if (cm)
			assert_string_equal(need[i].ns, "state");
		else
			assert_null(need[i].ns);
	}
	assert_true(cms > 0);
	assert_int_equal(vs_migrate_access_needed("state", need, 2), n);

	vs_kube_access missing[] = {
		{ "get", "", "pods", NULL, NULL },
		{ "delete", "", "pods", NULL, NULL },
		{ "get", "", "pods", "log", NULL },
		{ "patch", "apps", "statefulsets", NULL, NULL },
		{ "create", "", "configmaps", NULL, "state" },
	};
	char *text = vs_migrate_access_rules_text(missing, 5);
	assert_string_equal(
		text,
		"  - {apiGroups: [\"\"], resources: [pods], verbs: [get, delete]}  # a ClusterRole: all namespaces\n"
		"  - {apiGroups: [\"\"], resources: [pods/log], verbs: [get]}  # a ClusterRole: all namespaces\n"
		"  - {apiGroups: [\"apps\"], resources: [statefulsets], verbs: [patch]}  # a ClusterRole: all "
		"namespaces\n"
		"  - {apiGroups: [\"\"], resources: [configmaps], verbs: [create]}  # a Role in namespace state\n");
	free(text);
}

static void test_migrate_plan__rsync_progress(void **state)
{
	vs_rsync_progress p;

	(void)state;
	assert_true(vs_rsync_parse_progress("     10,485,763  99%  714.29MB/s    0:00:00 (xfr#2, to-chk=0/5)", &p));
	assert_int_equal(p.bytes, 10485763);
	assert_int_equal(p.percent, 99);
	assert_string_equal(p.rate, "714.29MB/s");
	assert_string_equal(p.eta, "0:00:00");
	assert_int_equal(p.files_done, 2);
	assert_int_equal(p.files_left, 0);
	assert_int_equal(p.files_total, 5);
	assert_true(vs_rsync_parse_progress("              3   0%    0.00kB/s    0:00:00  ", &p));
	assert_int_equal(p.bytes, 3);
	assert_int_equal(p.files_total, 0);
	assert_false(vs_rsync_parse_progress("Number of files: 5 (reg: 3, dir: 1, link: 1)", &p));
	assert_false(vs_rsync_parse_progress("sent 10,488,545 bytes  received 75 bytes  20,977,240.00 bytes/sec", &p));
	assert_false(vs_rsync_parse_progress("", &p));
	assert_false(vs_rsync_parse_progress("2024 is a year", &p));
}

#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_migrate_plan__deployment_with_one_claim),
		FX_TEST(test_migrate_plan__groups_follow_shared_claims),
		FX_TEST(test_migrate_plan__statefulset_claims_one_group),
		FX_TEST(test_migrate_plan__bare_pod),
		FX_TEST(test_migrate_plan__unknown_controller_and_cronjob),
		FX_TEST(test_migrate_plan__classes_and_defaults),
		FX_TEST(test_migrate_plan__claim_problems_and_annotation),
		FX_TEST(test_migrate_plan__filters),
		FX_TEST(test_migrate_plan__foreign_finalizers),
		cmocka_unit_test(test_migrate_plan__derived_names),
		FX_TEST(test_migrate_plan__json),
		FX_TEST(test_migrate_plan__node_local_volume_needs_its_node),
		FX_TEST(test_migrate_plan__warm_copy_placement),
		FX_TEST(test_migrate_plan__storage_capacity),
		FX_TEST(test_migrate_plan__storage_capacity_per_node),
		cmocka_unit_test(test_migrate_plan__free_space_base_dir),
		cmocka_unit_test(test_migrate_plan__df_output),
		FX_TEST(test_migrate_plan__free_space_judge),
		FX_TEST(test_migrate_plan__pending_and_named_claims),
		FX_TEST(test_migrate_plan__recorded_scale_wins),
		cmocka_unit_test(test_migrate_plan__rsync_progress),
		cmocka_unit_test(test_migrate_plan__access_rules),
	};

	return cmocka_run_group_tests_name("migrate plan", tests, NULL, NULL);
}
