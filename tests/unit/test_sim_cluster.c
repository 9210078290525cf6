/*
 * test_sim_cluster: the controllers, scheduler and node agent of volshift-sim against a real store
 * (api.h), with pod processes run by bubblewrap. Each case starts a fresh store and cluster on a
 * temporary data directory and waits (bounded, 20 s) for the cluster to converge. Timing is
 * asserted only as bounds that follow from the kubelet's model (never that something is fast).
 */
#include "sim/cluster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

struct fx {
	sim_store *st;
	sim_cluster *cl;
	char dir[64];
};

/* The PLEG relist period of the cases that need relists far apart. */
#define SLOW_RELIST_MS 3000

static int setup_with(void **state, const sim_timing *timing)
{
	struct fx *f = vs_xcalloc(1, sizeof *f);
	vs_error err = {0};
	snprintf(f->dir, sizeof f->dir, "/tmp/vs-cluster-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->st = sim_store_new();
	if (sim_api_bootstrap(f->st, 3, NULL, &err) != 0 || sim_gc_start(f->st, &err) != 0 ||
	    sim_cluster_start(f->st, f->dir, timing, &f->cl, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.message);
		return -1;
	}
	*state = f;
	return 0;
}

static int setup(void **state) { return setup_with(state, NULL); }

static int setup_slow_relist(void **state)
{
	sim_timing t;
	sim_timing_defaults(&t);
	t.pleg_relist_ms = SLOW_RELIST_MS;
	return setup_with(state, &t);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sim_cluster_stop(f->cl);
	sim_gc_stop(f->st);
	sim_store_shutdown(f->st);
	sim_store_free(f->st);
	vs_rm_rf(f->dir, NULL);
	free(f);
	return 0;
}

static const sim_resource *R(const char *group, const char *plural)
{
	const sim_resource *r = sim_resource_find(group, plural);
	assert_non_null(r);
	return r;
}

static json_t *create(struct fx *f, const char *group, const char *plural, const char *ns, const char *text)
{
	json_error_t jerr;
	json_t *obj = json_loads(text, 0, &jerr);
	if (!obj)
		fail_msg("bad test JSON: %s", jerr.text);
	json_t *out = NULL;
	vs_error err = {0};
	if (sim_api_create(f->st, R(group, plural), ns, obj, &out, &err) != 0)
		fail_msg("create %s: %s", plural, err.message);
	json_decref(obj);
	return out;
}

static json_t *get(struct fx *f, const char *group, const char *plural, const char *ns, const char *name)
{
	json_t *out = NULL;
	vs_error err = {0};
	if (sim_api_get(f->st, R(group, plural), ns, name, &out, &err) != 0)
		return NULL;
	return out;
}

typedef bool (*cond_fn)(struct fx *f, const void *arg);

static bool wait_for(struct fx *f, cond_fn cond, const void *arg)
{
	int64_t deadline = vs_time_mono_ms() + 20000;
	uint64_t rv = 0;
	while (vs_time_mono_ms() < deadline) {
		if (cond(f, arg))
			return true;
		rv = sim_store_wait(f->st, rv, 250);
	}
	return cond(f, arg);
}

/* True when object default/name of a core resource is in status.phase phase. */
static bool phase_is(struct fx *f, const char *plural, const char *name, const char *phase)
{
	json_t *o = get(f, "", plural, "default", name);
	const char *have = vs_json_str(o, "status.phase");
	bool ok = have && strcmp(have, phase) == 0;
	json_decref(o);
	return ok;
}

static bool pvc_bound(struct fx *f, const void *name) { return phase_is(f, "persistentvolumeclaims", name, "Bound"); }

static size_t count_pods(struct fx *f, const char *selector, const char *phase)
{
	json_t *list = NULL;
	vs_error err = {0};
	sim_list_opts o = {.label_selector = selector};
	if (sim_api_list(f->st, R("", "pods"), "default", &o, &list, &err) != 0)
		return 0;
	size_t n = 0, i;
	json_t *p;
	json_array_foreach(json_object_get(list, "items"), i, p) {
		const char *ph = vs_json_str(p, "status.phase");
		if (!phase || (ph && strcmp(ph, phase) == 0))
			n++;
	}
	json_decref(list);
	return n;
}

static bool one_running(struct fx *f, const void *sel) { return count_pods(f, sel, "Running") == 1; }
static bool no_pods(struct fx *f, const void *sel) { return count_pods(f, sel, NULL) == 0; }

static void test_sim_cluster__shared_claim_binds(void **state)
{
	struct fx *f = *state;
	json_decref(create(f, "", "persistentvolumeclaims", "default",
			   "{\"metadata\":{\"name\":\"c1\"},\"spec\":{\"storageClassName\":\"shared\","
			   "\"accessModes\":[\"ReadWriteMany\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}"));
	assert_true(wait_for(f, pvc_bound, "c1"));
	json_t *pvc = get(f, "", "persistentvolumeclaims", "default", "c1");
	const char *vn = vs_json_str(pvc, "spec.volumeName");
	assert_non_null(vn);
	json_t *pv = get(f, "", "persistentvolumes", NULL, vn);
	assert_non_null(pv);
	assert_string_equal(vs_json_str(pv, "spec.claimRef.uid"), vs_json_str(pvc, "metadata.uid"));
	assert_string_equal(vs_json_str(pv, "spec.capacity.storage"), "1Gi");
	assert_non_null(vs_json_str(pv, "spec.hostPath.path"));
	assert_string_equal(json_string_value(json_object_get(vs_json_path(pvc, "metadata.annotations"),
							      "pv.kubernetes.io/bind-completed")),
			    "yes");
	json_decref(pv);
	json_decref(pvc);
}

static bool file_says_hi(struct fx *f, const void *path)
{
	(void)f;
	char *text = NULL;
	size_t len = 0;
	if (vs_file_read(path, 1024, &text, &len, NULL) != 0)
		return false;
	bool ok = strcmp(text, "hi\n") == 0;
	free(text);
	return ok;
}

static void test_sim_cluster__deployment_with_local_volume(void **state)
{
	struct fx *f = *state;
	json_decref(create(f, "", "persistentvolumeclaims", "default",
			   "{\"metadata\":{\"name\":\"data\"},\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
			   "\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}"));
	json_decref(create(f, "apps", "deployments", "default",
			   "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":1,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
			   "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
			   "\"image\":\"busybox\",\"command\":[\"/bin/sh\",\"-c\",\"echo hi > /data/f; exec sleep 1000\"],"
			   "\"volumeMounts\":[{\"name\":\"d\",\"mountPath\":\"/data\"}]}],"
			   "\"volumes\":[{\"name\":\"d\",\"persistentVolumeClaim\":{\"claimName\":\"data\"}}]}}}}"));
	assert_true(wait_for(f, one_running, "app=web"));
	assert_true(wait_for(f, pvc_bound, "data"));
	json_t *pvc = get(f, "", "persistentvolumeclaims", "default", "data");
	json_t *pv = get(f, "", "persistentvolumes", NULL, vs_json_str(pvc, "spec.volumeName"));
	assert_non_null(pv);
	const char *path = vs_json_str(pv, "spec.local.path");
	assert_non_null(path);
	char *file = vs_xasprintf("%s/f", path);
	assert_true(wait_for(f, file_says_hi, file));
	free(file);
	/* the volume is on the node the pod runs on */
	json_t *list = NULL;
	vs_error err = {0};
	sim_list_opts o = {.label_selector = "app=web"};
	assert_int_equal(sim_api_list(f->st, R("", "pods"), "default", &o, &list, &err), 0);
	const char *node = vs_json_str(json_array_get(json_object_get(list, "items"), 0), "spec.nodeName");
	json_t *vals = vs_json_path(json_array_get(vs_json_path(pv, "spec.nodeAffinity.required.nodeSelectorTerms"), 0),
				    "matchExpressions");
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(vals, 0), "values"), 0)), node);
	json_decref(list);
	json_decref(pv);
	json_decref(pvc);
	/* scale to 0 */
	json_t *d = get(f, "apps", "deployments", "default", "web");
	vs_json_set_path(d, "spec.replicas", json_integer(0));
	assert_int_equal(sim_api_update(f->st, R("apps", "deployments"), "default", d, SIM_UPDATE_MAIN, NULL, &err), 0);
	json_decref(d);
	assert_true(wait_for(f, no_pods, "app=web"));
}

static bool three_claims(struct fx *f, const void *arg)
{
	(void)arg;
	int n = 0;
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof name, "data-db-%d", i);
		json_t *p = get(f, "", "persistentvolumeclaims", "default", name);
		n += p != NULL;
		json_decref(p);
	}
	return n == 3;
}

/* Counts the snapshots of the StatefulSet's pods in which a pod exists while the one before it is
 * not Ready (OrderedReady forbids it); true once all three are Running. */
static bool three_running_in_order(struct fx *f, const void *arg)
{
	int *violations = (int *)arg;
	json_t *list = NULL;
	vs_error err = {0};
	sim_list_opts o = {.label_selector = "app=db"};
	if (sim_api_list(f->st, R("", "pods"), "default", &o, &list, &err) != 0)
		return false;
	json_t *items = json_object_get(list, "items");
	bool ready[3] = {false}, exists[3] = {false};
	int running = 0;
	size_t i;
	json_t *p;
	json_array_foreach(items, i, p) {
		const char *name = vs_json_str(p, "metadata.name"), *phase = vs_json_str(p, "status.phase");
		int ord = name && strlen(name) == 4 ? name[3] - '0' : -1;
		if (ord < 0 || ord > 2)
			continue;
		exists[ord] = true;
		json_t *cond;
		size_t k;
		json_array_foreach(vs_json_path(p, "status.conditions"), k, cond) {
			const char *type = vs_json_str(cond, "type"), *status = vs_json_str(cond, "status");
			if (type && status && strcmp(type, "Ready") == 0 && strcmp(status, "True") == 0)
				ready[ord] = true;
		}
		running += phase && strcmp(phase, "Running") == 0;
	}
	json_decref(list);
	for (int k = 1; k < 3; k++)
		*violations += exists[k] && !ready[k - 1];
	return running == 3;
}

static void test_sim_cluster__statefulset(void **state)
{
	int violations = 0;
	struct fx *f = *state;
	json_decref(create(f, "apps", "statefulsets", "default",
			   "{\"metadata\":{\"name\":\"db\"},\"spec\":{\"replicas\":3,\"serviceName\":\"db\","
			   "\"selector\":{\"matchLabels\":{\"app\":\"db\"}},"
			   "\"template\":{\"metadata\":{\"labels\":{\"app\":\"db\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
			   "\"image\":\"busybox\",\"command\":[\"/bin/sh\",\"-c\",\"hostname > /var/lib/db/name; exec sleep 1000\"],"
			   "\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/var/lib/db\"}]}]}},"
			   "\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"data\"},\"spec\":{\"accessModes\":"
			   "[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}]}}"));
	assert_true(wait_for(f, three_running_in_order, &violations));
	assert_int_equal(violations, 0); /* OrderedReady: each pod Running and Ready before the next */
	assert_true(wait_for(f, three_claims, NULL));
	json_t *p = get(f, "", "pods", "default", "db-2");
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(vs_json_path(p, "metadata.labels"),
							      "statefulset.kubernetes.io/pod-name")),
			    "db-2");
	json_decref(p);
	assert_false(access("/var/lib/db", F_OK) == 0); /* the mount point was not made on the host */
}

/* Create pod (JSON) in default; its uid (caller frees). */
static char *create_pod(struct fx *f, const char *text)
{
	json_t *pod = create(f, "", "pods", "default", text);
	char *uid = vs_xstrdup(vs_json_str(pod, "metadata.uid"));
	json_decref(pod);
	return uid;
}

/* The log of container c of pod default/name (uid) says text. */
static bool log_says(struct fx *f, const char *name, const char *uid, const char *text)
{
	char *path = vs_xasprintf("%s/pods/default_%s_%s/c.log", f->dir, name, uid), *data = NULL;
	size_t len = 0;
	bool ok = vs_file_read(path, 4096, &data, &len, NULL) == 0 && strstr(data, text) != NULL;
	free(data);
	free(path);
	return ok;
}

static bool pod_running(struct fx *f, const void *name) { return phase_is(f, "pods", name, "Running"); }

/*
 * A pod's status shows its container running only from the first PLEG relist after the container
 * started: created just after a relist of its node, it runs well before the next one (its log
 * says so) while its status is not Running yet, and Running is never seen before that relist.
 */
static void test_sim_cluster__running_only_after_a_relist(void **state)
{
	struct fx *f = *state;
	int64_t epoch = sim_cluster_pleg_epoch_ms(f->cl, "node-1");
	assert_true(epoch > 0);
	int64_t now = vs_time_mono_ms();
	int64_t k = now <= epoch ? 0 : (now - epoch) / SLOW_RELIST_MS + 1; /* relist k is the next one */
	vs_sleep_ms(epoch + k * SLOW_RELIST_MS + 100 - now);
	int64_t relist = epoch + (k + 1) * SLOW_RELIST_MS; /* the first relist that can see the container */
	char *uid = create_pod(f, "{\"metadata\":{\"name\":\"slow\"},\"spec\":{\"nodeName\":\"node-1\",\"restartPolicy\":\"Never\","
				 "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"command\":[\"/bin/sh\",\"-c\","
				 "\"echo started; exec sleep 1000\"]}]}}");
	while (!log_says(f, "slow", uid, "started") && vs_time_mono_ms() < relist)
		vs_sleep_ms(20);
	bool ran = log_says(f, "slow", uid, "started");
	json_t *seen = get(f, "", "pods", "default", "slow");
	if (ran && vs_time_mono_ms() < relist) { /* else too slow a machine to tell: the bound below holds */
		assert_string_not_equal(vs_json_str_or(seen, "status.phase", ""), "Running");
		assert_null(vs_json_path(json_array_get(vs_json_path(seen, "status.containerStatuses"), 0), "state.running"));
	}
	json_decref(seen);
	assert_true(wait_for(f, pod_running, "slow"));
	assert_true(vs_time_mono_ms() >= relist);
	free(uid);
}

/* True when process pid exists and has not exited (a zombie has). */
static bool process_alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] != 'Z';
}

/*
 * Deleting a pod: SIGTERM reaches the container's process (its trap logs it and takes a second to
 * finish), the pod object stays as long as the process lives, and goes once it is gone.
 */
static void test_sim_cluster__deletion_waits_for_the_process(void **state)
{
	struct fx *f = *state;
	vs_error err = {0};
	char *uid = create_pod(f, "{\"metadata\":{\"name\":\"stopper\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
				 "\"command\":[\"/bin/sh\",\"-c\",\"trap 'echo got TERM; sleep 1; exit 0' TERM; echo started; "
				 "while :; do sleep 0.1; done\"]}]}}");
	assert_true(wait_for(f, pod_running, "stopper"));
	json_t *pod = get(f, "", "pods", "default", "stopper");
	const char *id = vs_json_str(json_array_get(vs_json_path(pod, "status.containerStatuses"), 0), "containerID");
	assert_non_null(id);
	pid_t pid = (pid_t)strtol(id + strlen("sim://"), NULL, 10);
	json_decref(pod);
	assert_true(process_alive(pid));
	sim_delete_opts o = {.grace_period_seconds = -1};
	bool deleted = false;
	assert_int_equal(sim_api_delete(f->st, R("", "pods"), "default", "stopper", &o, NULL, &deleted, &err), 0);
	assert_false(deleted);
	bool term_seen = false, stayed_while_stopping = false, gone = false;
	int64_t deadline = vs_time_mono_ms() + 20000;
	while (!gone && vs_time_mono_ms() < deadline) {
		json_t *p = get(f, "", "pods", "default", "stopper"); /* first the object, then the process */
		gone = !p || strcmp(vs_json_str_or(p, "metadata.uid", ""), uid) != 0;
		bool alive = process_alive(pid);
		if (gone && alive)
			fail_msg("the pod object went while its process %d still ran", (int)pid);
		if (!gone && log_says(f, "stopper", uid, "got TERM")) {
			term_seen = true;
			stayed_while_stopping |= alive;
		}
		json_decref(p);
		vs_sleep_ms(20);
	}
	assert_true(term_seen);
	assert_true(stayed_while_stopping);
	assert_true(gone);
	assert_false(process_alive(pid));
	free(uid);
}

struct released {
	const char *pv;
};

static bool pv_phase_is(struct fx *f, const char *pv, const char *phase)
{
	json_t *o = get(f, "", "persistentvolumes", NULL, pv);
	const char *ph = vs_json_str(o, "status.phase");
	bool ok = ph && strcmp(ph, phase) == 0;
	json_decref(o);
	return ok;
}

static bool pv_released(struct fx *f, const void *pv) { return pv_phase_is(f, pv, "Released"); }

static void test_sim_cluster__retain_and_rebind(void **state)
{
	struct fx *f = *state;
	vs_error err = {0};
	json_decref(create(f, "", "persistentvolumeclaims", "default",
			   "{\"metadata\":{\"name\":\"old\"},\"spec\":{\"storageClassName\":\"shared\","
			   "\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}"));
	assert_true(wait_for(f, pvc_bound, "old"));
	json_t *pvc = get(f, "", "persistentvolumeclaims", "default", "old");
	char *pv_name = vs_xstrdup(vs_json_str(pvc, "spec.volumeName"));
	char *old_uid = vs_xstrdup(vs_json_str(pvc, "metadata.uid"));
	json_decref(pvc);
	json_t *pv = get(f, "", "persistentvolumes", NULL, pv_name);
	vs_json_set_path(pv, "spec.persistentVolumeReclaimPolicy", json_string("Retain"));
	assert_int_equal(sim_api_update(f->st, R("", "persistentvolumes"), NULL, pv, SIM_UPDATE_MAIN, NULL, &err), 0);
	json_decref(pv);
	sim_delete_opts o = {.grace_period_seconds = -1};
	bool deleted = false;
	assert_int_equal(sim_api_delete(f->st, R("", "persistentvolumeclaims"), "default", "old", &o, NULL, &deleted, &err), 0);
	assert_true(wait_for(f, pv_released, pv_name));
	vs_sleep_ms(1500); /* past the reclaim delay: Retain keeps it */
	pv = get(f, "", "persistentvolumes", NULL, pv_name);
	assert_non_null(pv);
	assert_string_equal(vs_json_str(pv, "spec.claimRef.uid"), old_uid);
	json_decref(pv);
	/* a new claim naming the volume waits while the old uid is there */
	char *text = vs_xasprintf("{\"metadata\":{\"name\":\"new\"},\"spec\":{\"storageClassName\":\"shared\",\"volumeName\":\"%s\","
				  "\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}",
				  pv_name);
	json_decref(create(f, "", "persistentvolumeclaims", "default", text));
	free(text);
	vs_sleep_ms(1000);
	assert_false(pvc_bound(f, "new"));
	/* pre-bind: claimRef {namespace, name} without uid */
	pv = get(f, "", "persistentvolumes", NULL, pv_name);
	vs_json_set_path(pv, "spec.claimRef", json_pack("{s:s, s:s}", "namespace", "default", "name", "new"));
	assert_int_equal(sim_api_update(f->st, R("", "persistentvolumes"), NULL, pv, SIM_UPDATE_MAIN, NULL, &err), 0);
	json_decref(pv);
	assert_true(wait_for(f, pvc_bound, "new"));
	pv = get(f, "", "persistentvolumes", NULL, pv_name);
	json_t *np = get(f, "", "persistentvolumeclaims", "default", "new");
	assert_string_equal(vs_json_str(pv, "spec.claimRef.uid"), vs_json_str(np, "metadata.uid"));
	assert_string_equal(vs_json_str(pv, "status.phase"), "Bound");
	json_decref(np);
	json_decref(pv);
	free(pv_name);
	free(old_uid);
}

int main(void)
{
	vs_log_set_level(getenv("VOLSHIFT_LOG") ? vs_log_get_level() : VS_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sim_cluster__shared_claim_binds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__deployment_with_local_volume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__statefulset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__retain_and_rebind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__running_only_after_a_relist, setup_slow_relist, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__deletion_waits_for_the_process, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
