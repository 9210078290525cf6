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

/* The API server a cluster's pods are told of: none serves here, and every token is the same. */
static int fake_token(void *ctx, const char *ns, const char *sa, const json_t *audiences, int64_t seconds,
		      const json_t *pod, char **token, vs_error *err)
{
	(void)ctx, (void)ns, (void)sa, (void)audiences, (void)seconds, (void)pod, (void)err;
	*token = vs_xstrdup("test-token");
	return 0;
}

static int setup_with(void **state, const sim_timing *timing)
{
	const sim_cluster_api api = { .port = 1, .ca_pem = "", .token = fake_token };
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
	sim_cluster_set_api(f->cl, &api);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
}

/* A PV controller resyncing every 2 s (kube-controller-manager --pvclaimbinder-sync-period=2s), for
 * the cases where only its resync binds a claim, as on a real cluster. */
static int setup_fast_resync(void **state)
{
	sim_timing t;

	sim_timing_defaults(&t);
	t.pv_resync_ms = 2000;
	return setup_with(state, &t);
}

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

/* The log of container ctr of pod default/name (uid), or NULL when it has none (caller frees). */
static char *ctr_log(struct fx *f, const char *name, const char *uid, const char *ctr)
{
	char *path = vs_xasprintf("%s/pods/default_%s_%s/%s.log", f->dir, name, uid, ctr), *data = NULL;
	size_t len = 0;
	if (vs_file_read(path, 4096, &data, &len, NULL) != 0)
		data = NULL;
	free(path);
	return data;
}

/* The log of container c of pod default/name (uid) says text. */
static bool log_says(struct fx *f, const char *name, const char *uid, const char *text)
{
	char *data = ctr_log(f, name, uid, "c");
	bool ok = data && strstr(data, text) != NULL;
	free(data);
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
	/* pre-bind: claimRef {namespace, name} without uid. The claim failed its sync (FailedBinding)
	 * and nothing queues it again but the PV controller's resync: it binds after one (or, when the
	 * volume worker wins the race for the volume's status, after another) */
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

/* A string field of pod default/name, "" when it has none (caller frees). */
static char *pod_field(struct fx *f, const char *name, const char *path)
{
	json_t *p = get(f, "", "pods", "default", name);
	char *out = vs_xstrdup(vs_json_str_or(p, path, ""));
	json_decref(p);
	return out;
}

/* Entry i of the status list (status.containerStatuses, status.initContainerStatuses) of pod
 * default/name, as the kubelet reported it (new reference, NULL when there is none). */
static json_t *ctr_status(struct fx *f, const char *name, const char *list, size_t i)
{
	json_t *p = get(f, "", "pods", "default", name);
	json_t *cs = json_incref(json_array_get(vs_json_path(p, list), i));
	json_decref(p);
	return cs;
}

static json_t *init_status(struct fx *f, const char *name, size_t i)
{
	return ctr_status(f, name, "status.initContainerStatuses", i);
}

/* The condition of type type of pod default/name as "STATUS REASON" (caller frees). */
static char *pod_condition(struct fx *f, const char *name, const char *type)
{
	json_t *p = get(f, "", "pods", "default", name), *c;
	char *out = vs_xstrdup("none");
	size_t i;
	json_array_foreach(vs_json_path(p, "status.conditions"), i, c)
		if (strcmp(vs_json_str_or(c, "type", ""), type) == 0) {
			free(out);
			out = vs_xasprintf("%s %s", vs_json_str_or(c, "status", ""), vs_json_str_or(c, "reason", ""));
		}
	json_decref(p);
	return out;
}

static bool first_init_running(struct fx *f, const void *name)
{
	json_t *cs = init_status(f, name, 0);
	bool ok = vs_json_path(cs, "state.running") != NULL;
	json_decref(cs);
	return ok;
}

static bool pod_failed(struct fx *f, const void *name) { return phase_is(f, "pods", name, "Failed"); }

/*
 * Init containers run one after the other, each to completion, before the pod's container starts,
 * with the pod's volumes mounted (they write to an emptyDir the container reads). While the first
 * waits for the test to open its gate (a hostPath), the pod is Pending and not Initialized, and the
 * container waits with PodInitializing and has no log.
 */
static void test_sim_cluster__init_containers_run_in_order_first(void **state)
{
	struct fx *f = *state;
	char *gate = vs_xasprintf("%s/gate", f->dir);
	assert_int_equal(vs_mkdir_p(gate, 0755, NULL), 0);
	char *text = vs_xasprintf(
		"{\"metadata\":{\"name\":\"ini\"},\"spec\":{\"volumes\":[{\"name\":\"w\",\"emptyDir\":{}},"
		"{\"name\":\"g\",\"hostPath\":{\"path\":\"%s\"}}],"
		"\"initContainers\":[{\"name\":\"first\",\"image\":\"busybox\",\"command\":[\"/bin/sh\",\"-c\","
		"\"echo first >> /w/order; while [ ! -e /gate/open ]; do sleep 0.1; done\"],"
		"\"volumeMounts\":[{\"name\":\"w\",\"mountPath\":\"/w\"},{\"name\":\"g\",\"mountPath\":\"/gate\"}]},"
		"{\"name\":\"second\",\"image\":\"busybox\","
		"\"command\":[\"/bin/sh\",\"-c\",\"echo second >> /w/order\"],"
		"\"volumeMounts\":[{\"name\":\"w\",\"mountPath\":\"/w\"}]}],"
		"\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"command\":[\"/bin/sh\",\"-c\","
		"\"echo main >> /w/order; cat /w/order; exec sleep 1000\"],"
		"\"volumeMounts\":[{\"name\":\"w\",\"mountPath\":\"/w\"}]}]}}",
		gate);
	char *uid = create_pod(f, text);
	free(text);
	assert_true(wait_for(f, first_init_running, "ini"));
	char *phase = pod_field(f, "ini", "status.phase"), *init = pod_condition(f, "ini", "Initialized");
	json_t *second = init_status(f, "ini", 1), *ctr = ctr_status(f, "ini", "status.containerStatuses", 0);
	assert_string_equal(phase, "Pending");
	assert_string_equal(init, "False ContainersNotInitialized");
	assert_string_equal(vs_json_str_or(second, "state.waiting.reason", ""), "PodInitializing");
	assert_string_equal(vs_json_str_or(ctr, "state.waiting.reason", ""), "PodInitializing");
	char *log = ctr_log(f, "ini", uid, "c");
	assert_null(log); /* the container never started */
	json_decref(ctr);
	json_decref(second);
	free(phase);
	free(init);
	char *open_file = vs_xasprintf("%s/open", gate);
	assert_int_equal(vs_file_write_atomic(open_file, "", 0, 0644, NULL), 0);
	assert_true(wait_for(f, pod_running, "ini"));
	assert_true(log_says(f, "ini", uid, "main"));
	log = ctr_log(f, "ini", uid, "c");
	assert_string_equal(log, "first\nsecond\nmain\n");
	for (size_t i = 0; i < 2; i++) {
		json_t *cs = init_status(f, "ini", i);
		assert_int_equal(vs_json_int(cs, "state.terminated.exitCode", -1), 0);
		assert_string_equal(vs_json_str_or(cs, "state.terminated.reason", ""), "Completed");
		assert_true(vs_json_bool(cs, "ready", false));
		json_decref(cs);
	}
	init = pod_condition(f, "ini", "Initialized");
	assert_string_equal(init, "True ");
	free(init);
	free(log);
	free(open_file);
	free(uid);
	free(gate);
}

/* Pod default/name with restartPolicy policy, an init container "init" and a container "c", each
 * running a shell script with an emptyDir at /w; its uid (caller frees). */
static char *create_init_pod(struct fx *f, const char *name, const char *policy, const char *init_script,
			     const char *script)
{
	static const char ctr[] = "{\"name\":\"%s\",\"image\":\"busybox\",\"command\":[\"/bin/sh\",\"-c\",\"%s\"],"
				  "\"volumeMounts\":[{\"name\":\"w\",\"mountPath\":\"/w\"}]}";
	char *init = vs_xasprintf(ctr, "init", init_script), *main = vs_xasprintf(ctr, "c", script);
	char *text = vs_xasprintf("{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"restartPolicy\":\"%s\","
				  "\"volumes\":[{\"name\":\"w\",\"emptyDir\":{}}],"
				  "\"initContainers\":[%s],\"containers\":[%s]}}",
				  name, policy, init, main);
	char *uid = create_pod(f, text);
	free(text);
	free(main);
	free(init);
	return uid;
}

/* With restartPolicy Never, a failing init container fails the pod: its container never runs. */
static void test_sim_cluster__failing_init_container_fails_a_never_pod(void **state)
{
	struct fx *f = *state;
	char *uid = create_init_pod(f, "doomed", "Never", "echo failing; exit 3", "echo main ran; exec sleep 1000");
	assert_true(wait_for(f, pod_failed, "doomed"));
	vs_sleep_ms(2000); /* two relists more: nothing starts after the failure either */
	char *log = ctr_log(f, "doomed", uid, "c");
	assert_null(log);
	json_t *cs = init_status(f, "doomed", 0);
	assert_int_equal(vs_json_int(cs, "state.terminated.exitCode", -1), 3);
	assert_string_equal(vs_json_str_or(cs, "state.terminated.reason", ""), "Error");
	assert_int_equal(vs_json_int(cs, "restartCount", -1), 0);
	json_decref(cs);
	cs = ctr_status(f, "doomed", "status.containerStatuses", 0);
	assert_string_equal(vs_json_str_or(cs, "state.waiting.reason", ""), "PodInitializing");
	json_decref(cs);
	log = ctr_log(f, "doomed", uid, "init");
	assert_non_null(log);
	assert_string_equal(log, "failing\n");
	free(log);
	free(uid);
}

/* With restartPolicy OnFailure, a failed init container runs again (at once the first time), and the
 * pod's container starts once it has succeeded. */
static void test_sim_cluster__failing_init_container_is_retried(void **state)
{
	struct fx *f = *state;
	char *uid = create_init_pod(f, "flaky", "OnFailure",
				    "n=$(cat /w/n 2>/dev/null || echo 0); echo $((n+1)) > /w/n; [ $n -ge 1 ]",
				    "echo init ran $(cat /w/n) times; exec sleep 1000");
	assert_true(wait_for(f, pod_running, "flaky"));
	assert_true(log_says(f, "flaky", uid, "init ran 2 times"));
	json_t *cs = init_status(f, "flaky", 0);
	assert_int_equal(vs_json_int(cs, "restartCount", -1), 1);
	assert_int_equal(vs_json_int(cs, "lastState.terminated.exitCode", -1), 1);
	assert_int_equal(vs_json_int(cs, "state.terminated.exitCode", -1), 0);
	json_decref(cs);
	free(uid);
}

/* A Job of default by name (new reference) or NULL. */
static json_t *job_named(struct fx *f, const char *name) { return get(f, "batch", "jobs", "default", name); }

static bool job_complete(struct fx *f, const void *name)
{
	json_t *j = job_named(f, name), *c;
	bool ok = false;
	size_t i;
	json_array_foreach(vs_json_path(j, "status.conditions"), i, c)
		ok |= strcmp(vs_json_str_or(c, "type", ""), "Complete") == 0 &&
		      strcmp(vs_json_str_or(c, "status", ""), "True") == 0;
	json_decref(j);
	return ok;
}

static bool job_failed_one(struct fx *f, const void *name)
{
	json_t *j = job_named(f, name);
	bool ok = vs_json_int(j, "status.failed", 0) == 1;
	json_decref(j);
	return ok;
}

/* Names of the pods with label selector sel, one per line (caller frees). */
static char *pod_names(struct fx *f, const char *sel)
{
	json_t *list = NULL, *p;
	vs_error err = {0};
	sim_list_opts o = {.label_selector = sel};
	vs_buf b;
	size_t i;
	vs_buf_init(&b, 0);
	if (sim_api_list(f->st, R("", "pods"), "default", &o, &list, &err) == 0)
		json_array_foreach(json_object_get(list, "items"), i, p)
			vs_buf_printf(&b, "%s\n", vs_json_str_or(p, "metadata.name", ""));
	json_decref(list);
	return vs_buf_steal(&b);
}

static void force_delete_pods(struct fx *f, const char *sel)
{
	char *names = pod_names(f, sel), *save = NULL;
	for (char *n = strtok_r(names, "\n", &save); n; n = strtok_r(NULL, "\n", &save)) {
		sim_delete_opts o = {.grace_period_seconds = 0};
		vs_error err = {0};
		bool deleted = false;
		assert_int_equal(sim_api_delete(f->st, R("", "pods"), "default", n, &o, NULL, &deleted, &err), 0);
	}
	free(names);
}

static json_t *create_job(struct fx *f, const char *name, int completions, const char *script)
{
	char *text = vs_xasprintf("{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"completions\":%d,\"parallelism\":%d,"
				  "\"template\":{\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\","
				  "\"image\":\"busybox\",\"command\":[\"/bin/sh\",\"-c\",\"%s\"]}]}}}}",
				  name, completions, completions, script);
	json_t *job = create(f, "batch", "jobs", "default", text);
	free(text);
	return job;
}

/*
 * A Job keeps the counts in its status: once its pods have completed, deleting them takes nothing
 * from status.succeeded and the Job stays Complete. (A second Job, created after the deletion and
 * run to completion, shows that the controller has passed over the first since.) A pod of a Job
 * carries the tracking finalizer while it runs; deleted then, it counts as failed.
 */
static void test_sim_cluster__job_keeps_its_counts(void **state)
{
	struct fx *f = *state;
	json_decref(create_job(f, "twice", 2, "echo done"));
	assert_true(wait_for(f, job_complete, "twice"));
	json_t *j = job_named(f, "twice");
	assert_int_equal(vs_json_int(j, "status.succeeded", -1), 2);
	json_decref(j);
	char *names = pod_names(f, "job-name=twice");
	assert_string_not_equal(names, "");
	free(names);
	force_delete_pods(f, "job-name=twice");
	assert_true(wait_for(f, no_pods, "job-name=twice"));
	json_decref(create_job(f, "after", 1, "sleep 1000"));
	assert_true(wait_for(f, one_running, "job-name=after"));
	j = job_named(f, "twice");
	assert_int_equal(vs_json_int(j, "status.succeeded", -1), 2);
	assert_true(job_complete(f, "twice"));
	json_decref(j);
	/* the running pod of the second Job: the finalizer holds it until it has been counted */
	names = pod_names(f, "job-name=after");
	names[strcspn(names, "\n")] = '\0';
	json_t *pod = get(f, "", "pods", "default", names);
	assert_string_equal(json_string_value(json_array_get(vs_json_path(pod, "metadata.finalizers"), 0)) ?: "",
			    "batch.kubernetes.io/job-tracking");
	json_decref(pod);
	free(names);
	force_delete_pods(f, "job-name=after");
	assert_true(wait_for(f, job_failed_one, "after"));
}

int main(void)
{
	vs_log_set_level(getenv("VOLSHIFT_LOG") ? vs_log_get_level() : VS_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sim_cluster__shared_claim_binds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__deployment_with_local_volume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__statefulset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__retain_and_rebind, setup_fast_resync, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__running_only_after_a_relist, setup_slow_relist, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__deletion_waits_for_the_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__init_containers_run_in_order_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__failing_init_container_fails_a_never_pod, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__failing_init_container_is_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sim_cluster__job_keeps_its_counts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
