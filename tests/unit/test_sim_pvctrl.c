/*
 * test_sim_pvctrl: volshift-sim's PV controller driven by hand, as the real controller's unit
 * tests drive it: a store, a cluster that runs nothing, and the controller with its informers
 * running but no worker thread; each case makes objects, lets the informers catch up and runs the
 * claim and volume workers itself until nothing is left to do (settle), then checks what the
 * controller wrote. Also: the informer facility, the work queue, and the protection controllers.
 */
#include "sim/pv_controller.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define OLD_UID "0b0e5d2c-0000-4000-8000-000000000001"

struct fx {
	sim_store *st;
	sim_cluster *c;
	struct pv_ctrl *pv;
	char dir[64];
};

static int setup(void **state)
{
	struct fx *f = vs_xcalloc(1, sizeof *f);
	vs_error err = {0};

	snprintf(f->dir, sizeof f->dir, "/tmp/vs-pvctrl-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->st = sim_store_new();
	if (sim_api_bootstrap(f->st, 3, NULL, &err) != 0 || cl_new(f->st, f->dir, NULL, &f->c, &err) != 0 ||
	    pv_ctrl_new(f->c, &f->pv, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.message);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	pv_ctrl_free(f->pv);
	cl_free(f->c);
	sim_store_shutdown(f->st);
	sim_store_free(f->st);
	vs_rm_rf(f->dir, NULL);
	free(f);
	return 0;
}

/* ---- objects -------------------------------------------------------------------------------------- */

static json_t *create(struct fx *f, const sim_resource *res, json_t *obj /* stolen */)
{
	json_t *out = NULL;
	vs_error err = {0};

	if (sim_api_create(f->st, res, res->namespaced ? "default" : NULL, obj, &out, &err) != 0)
		fail_msg("create: %s", err.message);
	json_decref(obj);
	return out;
}

static json_t *get(struct fx *f, const sim_resource *res, const char *name)
{
	json_t *out = NULL;
	vs_error err = {0};

	return sim_api_get(f->st, res, res->namespaced ? "default" : NULL, name, &out, &err) == 0 ? out : NULL;
}

static void update(struct fx *f, const sim_resource *res, json_t *obj /* stolen */)
{
	vs_error err = {0};

	if (sim_api_update(f->st, res, cl_ns(obj), obj, SIM_UPDATE_MAIN, NULL, &err) != 0)
		fail_msg("update: %s", err.message);
	json_decref(obj);
}

/* A claim of class shared and 1Gi, naming volume (or none), with annotations (NULL or stolen). */
static json_t *claim_obj(const char *name, const char *volume, json_t *annotations)
{
	json_t *c = json_pack("{s:{s:s}, s:{s:s, s:[s], s:{s:{s:s}}}}", "metadata", "name", name, "spec",
			      "storageClassName", "shared", "accessModes", "ReadWriteOnce", "resources", "requests",
			      "storage", "1Gi");

	if (volume)
		vs_json_set_path(c, "spec.volumeName", json_string(volume));
	if (annotations)
		vs_json_set_path(c, "metadata.annotations", annotations);
	return c;
}

/* A hostPath volume of class shared, with a claimRef (NULL or stolen). */
static json_t *volume_obj(const char *name, const char *size, json_t *claim_ref)
{
	json_t *v = json_pack("{s:{s:s}, s:{s:{s:s}, s:[s], s:s, s:s, s:{s:s}}}", "metadata", "name", name, "spec",
			      "capacity", "storage", size, "accessModes", "ReadWriteOnce", "persistentVolumeReclaimPolicy",
			      "Retain", "storageClassName", "shared", "hostPath", "path", "/tmp/nowhere");

	if (claim_ref)
		vs_json_set_path(v, "spec.claimRef", claim_ref);
	return v;
}

static json_t *ref_to(const char *name, const char *uid)
{
	json_t *r = json_pack("{s:s, s:s, s:s, s:s}", "kind", "PersistentVolumeClaim", "apiVersion", "v1", "namespace",
			      "default", "name", name);

	if (uid)
		json_object_set_new(r, "uid", json_string(uid));
	return r;
}

static char *field(struct fx *f, const sim_resource *res, const char *name, const char *path)
{
	json_t *o = get(f, res, name);
	char *v = vs_xstrdup(vs_json_str_or(o, path, ""));

	json_decref(o);
	return v;
}

static void assert_field(struct fx *f, const sim_resource *res, const char *name, const char *path, const char *want)
{
	char *have = field(f, res, name, path);

	if (strcmp(have, want) != 0)
		fail_msg("%s %s %s: expected \"%s\", got \"%s\"", res->singular, name, path, want, have);
	free(have);
}

static void assert_annotation(struct fx *f, const sim_resource *res, const char *name, const char *key,
			      const char *want /* NULL: absent */)
{
	json_t *o = get(f, res, name);
	const char *have = vs_json_annotation(o, key);

	if (want ? !have || strcmp(have, want) != 0 : have != NULL)
		fail_msg("%s %s annotation %s: expected %s, got %s", res->singular, name, key, want ? want : "none",
			 have ? have : "none");
	json_decref(o);
}

/* The events about an object with this reason (their messages, one per line, into a new string). */
static char *events(struct fx *f, const char *name, const char *reason)
{
	json_t *list = NULL, *e;
	vs_error err = {0};
	vs_buf b;
	size_t i;

	vs_buf_init(&b, 0);
	vs_buf_puts(&b, "");
	assert_int_equal(sim_api_list(f->st, sim_resource_find("", "events"), NULL, NULL, &list, &err), 0);
	json_array_foreach(json_object_get(list, "items"), i, e)
		if (strcmp(vs_json_str_or(e, "involvedObject.name", ""), name) == 0 &&
		    strcmp(vs_json_str_or(e, "reason", ""), reason) == 0)
			vs_buf_printf(&b, "%s\n", vs_json_str_or(e, "message", ""));
	json_decref(list);
	return vs_buf_steal(&b);
}

/* ---- driving the controller ---------------------------------------------------------------------- */

/* Let the informers deliver everything written so far, then run the workers until no key is left,
 * as long as anything still changes. */
static void settle(struct fx *f)
{
	for (int round = 0; round < 100; round++) {
		uint64_t rv = sim_store_rv(f->st);
		bool worked = false;
		assert_true(cl_informer_wait(f->pv->src[PV_CLAIMS].inf, rv, 10000));
		assert_true(cl_informer_wait(f->pv->src[PV_VOLUMES].inf, rv, 10000));
		while (pv_volume_work(f->pv, 0))
			worked = true;
		while (pv_claim_work(f->pv, 0))
			worked = true;
		if (!worked && sim_store_rv(f->st) == rv)
			return;
	}
	fail_msg("the PV controller did not settle");
}

/* The claim stays Pending as long as nothing but the controller's own work happens, and binds
 * once the resync queues it. */
static void assert_binds_at_resync(struct fx *f, const char *claim)
{
	settle(f);
	assert_field(f, cl_res_pvc, claim, "status.phase", "Pending");
	pv_resync(f->pv);
	settle(f);
	assert_field(f, cl_res_pvc, claim, "status.phase", "Bound");
}

/* ---- syncClaim ------------------------------------------------------------------------------------ */

static void test_pvctrl__volume_missing_stays_pending(void **state)
{
	struct fx *f = *state;

	json_decref(create(f, cl_res_pvc, claim_obj("c", "nowhere", NULL)));
	settle(f);
	assert_field(f, cl_res_pvc, "c", "status.phase", "Pending");
	assert_annotation(f, cl_res_pvc, "c", ANN_BIND_COMPLETED, NULL);
	/* the volume appears: syncVolume makes it Available but does not queue the claim */
	json_decref(create(f, cl_res_pv, volume_obj("nowhere", "1Gi", NULL)));
	settle(f);
	assert_field(f, cl_res_pv, "nowhere", "status.phase", "Available");
	assert_binds_at_resync(f, "c"); /* the resync does */
}

static void test_pvctrl__free_volume_binds(void **state)
{
	struct fx *f = *state;
	json_t *claim;

	json_decref(create(f, cl_res_pv, volume_obj("free", "2Gi", NULL)));
	settle(f);
	claim = create(f, cl_res_pvc, claim_obj("c", "free", NULL));
	settle(f);
	assert_field(f, cl_res_pvc, "c", "status.phase", "Bound");
	assert_field(f, cl_res_pvc, "c", "status.capacity.storage", "2Gi");
	json_t *bound = get(f, cl_res_pvc, "c");
	assert_true(vs_json_array_has_str(vs_json_path(bound, "status.accessModes"), "ReadWriteOnce"));
	json_decref(bound);
	assert_field(f, cl_res_pv, "free", "status.phase", "Bound");
	assert_field(f, cl_res_pv, "free", "spec.claimRef.uid", cl_uid(claim));
	/* the controller chose nothing: the claim named it; but it wrote the claimRef */
	assert_annotation(f, cl_res_pv, "free", ANN_BOUND_BY_CONTROLLER, "yes");
	assert_annotation(f, cl_res_pvc, "c", ANN_BOUND_BY_CONTROLLER, NULL);
	assert_annotation(f, cl_res_pvc, "c", ANN_BIND_COMPLETED, "yes");
	json_decref(claim);
}

static void test_pvctrl__smallest_available_volume_for_unnamed_claim(void **state)
{
	struct fx *f = *state;

	json_decref(create(f, cl_res_pv, volume_obj("big", "5Gi", NULL)));
	json_decref(create(f, cl_res_pv, volume_obj("small", "1Gi", NULL)));
	json_decref(create(f, cl_res_pv, volume_obj("tiny", "100Mi", NULL)));
	settle(f);
	json_decref(create(f, cl_res_pvc, claim_obj("c", NULL, NULL)));
	settle(f);
	assert_field(f, cl_res_pvc, "c", "spec.volumeName", "small");
	assert_annotation(f, cl_res_pvc, "c", ANN_BOUND_BY_CONTROLLER, "yes");
	assert_field(f, cl_res_pv, "big", "status.phase", "Available");
}

static void test_pvctrl__prebound_without_uid_binds(void **state)
{
	struct fx *f = *state;
	json_t *claim;

	json_decref(create(f, cl_res_pv, volume_obj("pre", "1Gi", ref_to("c", NULL))));
	settle(f);
	assert_field(f, cl_res_pv, "pre", "status.phase", "Available");
	claim = create(f, cl_res_pvc, claim_obj("c", "pre", NULL));
	settle(f);
	assert_field(f, cl_res_pvc, "c", "status.phase", "Bound");
	assert_field(f, cl_res_pv, "pre", "spec.claimRef.uid", cl_uid(claim));
	/* pre-bound by the user: not marked as the controller's */
	assert_annotation(f, cl_res_pv, "pre", ANN_BOUND_BY_CONTROLLER, NULL);
	json_decref(claim);
}

static void test_pvctrl__volume_of_another_uid_fails_binding(void **state)
{
	struct fx *f = *state;
	char *ev;

	json_decref(create(f, cl_res_pv, volume_obj("taken", "1Gi", ref_to("c", OLD_UID))));
	settle(f);
	assert_field(f, cl_res_pv, "taken", "status.phase", "Released"); /* its claim is gone */
	json_decref(create(f, cl_res_pvc, claim_obj("c", "taken", NULL)));
	settle(f);
	assert_field(f, cl_res_pvc, "c", "status.phase", "Pending");
	assert_field(f, cl_res_pv, "taken", "spec.claimRef.uid", OLD_UID);
	ev = events(f, "c", "FailedBinding");
	assert_string_equal(ev, "volume \"taken\" already bound to a different claim.\n");
	free(ev);
	/* and a resync tries again, with the same result and the same (counted) event */
	pv_resync(f->pv);
	settle(f);
	assert_field(f, cl_res_pvc, "c", "status.phase", "Pending");
	ev = events(f, "c", "FailedBinding");
	assert_string_equal(ev, "volume \"taken\" already bound to a different claim.\n");
	free(ev);
}

static void test_pvctrl__volume_bound_to_this_claim_finishes_binding(void **state)
{
	struct fx *f = *state;
	json_t *claim = create(f, cl_res_pvc, claim_obj("c", NULL, NULL));

	/* as a provisioner makes it: claimRef with the claim's uid, no volumeName on the claim */
	json_decref(create(f, cl_res_pv, volume_obj("made", "1Gi", ref_to("c", cl_uid(claim)))));
	settle(f);
	assert_field(f, cl_res_pvc, "c", "status.phase", "Bound");
	assert_field(f, cl_res_pvc, "c", "spec.volumeName", "made");
	assert_annotation(f, cl_res_pvc, "c", ANN_BOUND_BY_CONTROLLER, "yes");
	assert_annotation(f, cl_res_pv, "made", ANN_BOUND_BY_CONTROLLER, NULL);
	assert_field(f, cl_res_pv, "made", "status.phase", "Bound");
	json_decref(claim);
}

static void test_pvctrl__bind_completed_on_another_uid_is_misbound(void **state)
{
	struct fx *f = *state;
	char *ev;

	json_decref(create(f, cl_res_pv, volume_obj("taken", "1Gi", ref_to("c", OLD_UID))));
	settle(f);
	json_decref(create(f, cl_res_pvc, claim_obj("c", "taken", json_pack("{s:s}", ANN_BIND_COMPLETED, "yes"))));
	settle(f);
	assert_field(f, cl_res_pvc, "c", "status.phase", "Lost");
	ev = events(f, "c", "ClaimMisbound");
	assert_string_equal(ev, "Two claims are bound to the same volume, this one is bound incorrectly\n");
	free(ev);
	assert_field(f, cl_res_pv, "taken", "spec.claimRef.uid", OLD_UID);
}

static void test_pvctrl__bound_claim_whose_volume_is_gone_is_lost(void **state)
{
	struct fx *f = *state;
	json_t *v;
	char *ev;

	json_decref(create(f, cl_res_pv, volume_obj("v", "1Gi", NULL)));
	json_decref(create(f, cl_res_pvc, claim_obj("c", "v", NULL)));
	settle(f);
	assert_field(f, cl_res_pvc, "c", "status.phase", "Bound");
	/* the volume goes (its finalizer lifted by hand: no pv-protection here) */
	vs_error err = {0};
	assert_int_equal(sim_api_delete(f->st, cl_res_pv, NULL, "v", NULL, NULL, NULL, &err), 0);
	v = get(f, cl_res_pv, "v");
	json_object_set_new(json_object_get(v, "metadata"), "finalizers", json_array());
	update(f, cl_res_pv, v);
	assert_null(get(f, cl_res_pv, "v"));
	/* deleteVolume queues the claim at once: no resync needed */
	settle(f);
	assert_field(f, cl_res_pvc, "c", "status.phase", "Lost");
	ev = events(f, "c", "ClaimLost");
	assert_string_equal(ev, "Bound claim has lost its PersistentVolume. Data on the volume is lost!\n");
	free(ev);
}

static void test_pvctrl__failed_claim_waits_for_the_resync(void **state)
{
	struct fx *f = *state;
	json_t *v, *claim;

	json_decref(create(f, cl_res_pv, volume_obj("old", "1Gi", ref_to("c", OLD_UID))));
	settle(f);
	claim = create(f, cl_res_pvc, claim_obj("c", "old", NULL));
	settle(f);
	assert_field(f, cl_res_pvc, "c", "status.phase", "Pending"); /* FailedBinding */
	/* the old uid goes: the volume is pre-bound; syncVolume makes it Available and stops there */
	v = get(f, cl_res_pv, "old");
	json_object_del(vs_json_path(v, "spec.claimRef"), "uid");
	update(f, cl_res_pv, v);
	settle(f);
	assert_field(f, cl_res_pv, "old", "status.phase", "Available");
	assert_int_equal(cl_wq_len(&f->pv->src[PV_CLAIMS].q), 0);
	assert_binds_at_resync(f, "c");
	assert_field(f, cl_res_pv, "old", "spec.claimRef.uid", cl_uid(claim));
	json_decref(claim);
}

static void test_pvctrl__stale_cache_gets_conflict_and_gives_up(void **state)
{
	struct fx *f = *state;
	json_t *v;
	char *key;

	json_decref(create(f, cl_res_pv, volume_obj("v", "1Gi", NULL)));
	settle(f);
	/* someone writes the volume; the volume worker does not run, so the controller's cache is stale */
	v = get(f, cl_res_pv, "v");
	cl_set_label(v, "touched", "yes");
	update(f, cl_res_pv, v);
	json_decref(create(f, cl_res_pvc, claim_obj("c", "v", NULL)));
	assert_true(cl_informer_wait(f->pv->src[PV_CLAIMS].inf, sim_store_rv(f->st), 10000));
	key = vs_xstrdup("default/c");
	cl_wq_add(&f->pv->src[PV_CLAIMS].q, key);
	while (pv_claim_work(f->pv, 0))
		;
	free(key);
	/* bind's first write (the claimRef, with the cached resourceVersion) got 409: nothing changed */
	assert_field(f, cl_res_pvc, "c", "status.phase", "Pending");
	assert_field(f, cl_res_pv, "v", "spec.claimRef.name", "");
	/* its own writes queue nothing for the claim: the next event or the resync retries */
	assert_binds_at_resync(f, "c");
}

static void test_pvctrl__deleted_claim_releases_its_volume(void **state)
{
	struct fx *f = *state;
	json_t *c;
	vs_error err = {0};

	json_decref(create(f, cl_res_pv, volume_obj("v", "1Gi", NULL)));
	json_decref(create(f, cl_res_pvc, claim_obj("c", "v", NULL)));
	settle(f);
	assert_int_equal(sim_api_delete(f->st, cl_res_pvc, "default", "c", NULL, NULL, NULL, &err), 0);
	c = get(f, cl_res_pvc, "c");
	json_object_set_new(json_object_get(c, "metadata"), "finalizers", json_array());
	update(f, cl_res_pvc, c);
	settle(f);
	assert_field(f, cl_res_pv, "v", "status.phase", "Released");
	assert_field(f, cl_res_pv, "v", "spec.claimRef.name", "c");
}

/* ---- the work queue and the informer -------------------------------------------------------------- */

static void test_pvctrl__workqueue_semantics(void **state)
{
	cl_wq q;
	char *k;

	(void)state;
	cl_wq_init(&q, 10, 40);
	cl_wq_add(&q, "a");
	cl_wq_add(&q, "b");
	cl_wq_add(&q, "a"); /* queued once */
	assert_int_equal(cl_wq_len(&q), 2);
	k = cl_wq_get(&q, 0);
	assert_string_equal(k, "a");
	cl_wq_add(&q, "a"); /* added while processed: not handed out twice at once */
	assert_int_equal(cl_wq_len(&q), 1);
	cl_wq_done(&q, k); /* ... but again after done */
	free(k);
	assert_int_equal(cl_wq_len(&q), 2);
	k = cl_wq_get(&q, 0);
	assert_string_equal(k, "b");
	cl_wq_done(&q, k);
	free(k);
	k = cl_wq_get(&q, 0);
	assert_string_equal(k, "a");
	cl_wq_done(&q, k);
	free(k);
	assert_null(cl_wq_get(&q, 0));
	/* delayed and rate-limited keys come back later */
	cl_wq_add_rate_limited(&q, "r");
	assert_int_equal(cl_wq_len(&q), 0);
	k = cl_wq_get(&q, 5000);
	assert_string_equal(k, "r");
	cl_wq_done(&q, k);
	free(k);
	cl_wq_shutdown(&q);
	assert_null(cl_wq_get(&q, -1));
	cl_wq_destroy(&q);
}

struct recorder {
	pthread_mutex_t mu;
	json_t *seen; /* ["ADDED name rv", ...] */
};

static void rec(struct recorder *r, const char *what, const json_t *obj)
{
	pthread_mutex_lock(&r->mu);
	json_array_append_new(r->seen, json_sprintf("%s %s %s", what, cl_name(obj),
						     vs_json_str_or(obj, "metadata.resourceVersion", "")));
	pthread_mutex_unlock(&r->mu);
}

static void rec_add(void *r, const json_t *o) { rec(r, "add", o); }
static void rec_update(void *r, const json_t *old, const json_t *o)
{
	(void)old;
	rec(r, "update", o);
}
static void rec_del(void *r, const json_t *o) { rec(r, "delete", o); }

static void test_pvctrl__informer_delivers_in_order_and_relists(void **state)
{
	struct fx *f = *state;
	struct recorder r = {PTHREAD_MUTEX_INITIALIZER, json_array()};
	const sim_resource *cm = sim_resource_find("", "configmaps");
	cl_informer *inf = NULL;
	vs_error err = {0};
	json_t *list, *o;
	uint64_t prev = 0;
	size_t i;

	assert_int_equal(cl_informer_start(f->c, cm, &(cl_handlers){rec_add, rec_update, rec_del, &r}, &inf, &err), 0);
	for (int n = 0; n < 30; n++) {
		char name[16];
		snprintf(name, sizeof name, "cm-%d", n % 10);
		o = get(f, cm, name);
		if (!o)
			json_decref(create(f, cm, json_pack("{s:{s:s}, s:{s:i}}", "metadata", "name", name, "data", "n", n)));
		else if (n < 20)
			update(f, cm, json_pack("{s:{s:s}, s:{s:i}}", "metadata", "name", name, "data", "n", n));
		else
			assert_int_equal(sim_api_delete(f->st, cm, "default", name, NULL, NULL, NULL, &err), 0);
		json_decref(o);
	}
	assert_true(cl_informer_wait(inf, sim_store_rv(f->st), 10000));
	/* one informer's events come in the order of the changes */
	pthread_mutex_lock(&r.mu);
	assert_int_equal(json_array_size(r.seen), 30);
	json_array_foreach(r.seen, i, o) {
		uint64_t rv = strtoull(strrchr(json_string_value(o), ' ') + 1, NULL, 10);
		assert_true(rv > prev);
		prev = rv;
	}
	pthread_mutex_unlock(&r.mu);
	list = cl_informer_list(inf);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	/* a watch that falls behind the kept history gets 410 Gone: the informer lists again */
	sim_store_set_history_limit(f->st, 1);
	for (int n = 0; n < 5; n++) {
		char name[16];
		snprintf(name, sizeof name, "late-%d", n);
		json_decref(create(f, cm, json_pack("{s:{s:s}}", "metadata", "name", name)));
	}
	for (int n = 0; n < 50 && json_array_size(list = cl_informer_list(inf)) != 5; n++) {
		json_decref(list);
		vs_sleep_ms(100);
	}
	assert_int_equal(json_array_size(list), 5);
	json_decref(list);
	cl_informer_stop(inf);
	json_decref(r.seen);
}

/* ---- protection ----------------------------------------------------------------------------------- */

static bool gone(struct fx *f, const sim_resource *res, const char *name)
{
	for (int i = 0; i < 200; i++) {
		json_t *o = get(f, res, name);
		if (!o)
			return true;
		json_decref(o);
		vs_sleep_ms(50);
	}
	return false;
}

static bool phase_becomes(struct fx *f, const sim_resource *res, const char *name, const char *phase)
{
	for (int i = 0; i < 200; i++) {
		char *have = field(f, res, name, "status.phase");
		bool ok = strcmp(have, phase) == 0;
		free(have);
		if (ok)
			return true;
		vs_sleep_ms(50);
	}
	return false;
}

static void test_pvctrl__pvc_protection_waits_for_the_pod_object(void **state)
{
	struct fx *f = *state;
	vs_error err = {0};
	json_t *pod, *c;

	assert_int_equal(sim_protection_start(f->c, &err), 0);
	json_decref(create(f, cl_res_pvc, claim_obj("c", NULL, NULL)));
	pod = create(f, cl_res_pod,
		     json_pack("{s:{s:s}, s:{s:s, s:[{s:s, s:s}], s:[{s:s, s:{s:s}}]}}", "metadata", "name", "user", "spec",
			       "nodeName", "node-1", "containers", "name", "c", "image", "busybox", "volumes", "name", "v",
			       "persistentVolumeClaim", "claimName", "c"));
	/* the pod completes: it still blocks the claim's deletion */
	vs_json_set_path(pod, "status.phase", json_string("Succeeded"));
	assert_int_equal(sim_api_update(f->st, cl_res_pod, "default", pod, SIM_UPDATE_STATUS, NULL, &err), 0);
	json_decref(pod);
	assert_int_equal(sim_api_delete(f->st, cl_res_pvc, "default", "c", NULL, NULL, NULL, &err), 0);
	vs_sleep_ms(500);
	c = get(f, cl_res_pvc, "c");
	assert_non_null(c);
	assert_non_null(vs_json_str(c, "metadata.deletionTimestamp"));
	assert_true(vs_json_array_has_str(vs_json_path(c, "metadata.finalizers"), "kubernetes.io/pvc-protection"));
	json_decref(c);
	/* the pod object goes: so does the claim */
	assert_int_equal(sim_api_delete(f->st, cl_res_pod, "default", "user", NULL, NULL, NULL, &err), 0);
	assert_true(gone(f, cl_res_pod, "user"));
	assert_true(gone(f, cl_res_pvc, "c"));
}

static void test_pvctrl__pv_protection_keeps_a_bound_volume(void **state)
{
	struct fx *f = *state;
	vs_error err = {0};

	assert_int_equal(sim_protection_start(f->c, &err), 0);
	assert_int_equal(pv_ctrl_run(f->pv, &err), 0);
	/* the volume first, Available, then the claim: a claim synced before its volume is known
	 * waits for the resync */
	json_decref(create(f, cl_res_pv, volume_obj("v", "1Gi", NULL)));
	assert_true(phase_becomes(f, cl_res_pv, "v", "Available"));
	json_decref(create(f, cl_res_pvc, claim_obj("c", "v", NULL)));
	assert_true(phase_becomes(f, cl_res_pv, "v", "Bound"));
	assert_field(f, cl_res_pv, "v", "status.phase", "Bound");
	assert_int_equal(sim_api_delete(f->st, cl_res_pv, NULL, "v", NULL, NULL, NULL, &err), 0);
	vs_sleep_ms(500);
	assert_field(f, cl_res_pv, "v", "status.phase", "Bound"); /* still there, being deleted */
	/* its claim goes: the volume is Released, then gone */
	assert_int_equal(sim_api_delete(f->st, cl_res_pvc, "default", "c", NULL, NULL, NULL, &err), 0);
	assert_true(gone(f, cl_res_pvc, "c"));
	assert_true(gone(f, cl_res_pv, "v"));
}

int main(void)
{
	vs_log_set_level(getenv("VOLSHIFT_LOG") ? vs_log_get_level() : VS_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pvctrl__volume_missing_stays_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvctrl__free_volume_binds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvctrl__smallest_available_volume_for_unnamed_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvctrl__prebound_without_uid_binds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvctrl__volume_of_another_uid_fails_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvctrl__volume_bound_to_this_claim_finishes_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvctrl__bind_completed_on_another_uid_is_misbound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvctrl__bound_claim_whose_volume_is_gone_is_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvctrl__failed_claim_waits_for_the_resync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvctrl__stale_cache_gets_conflict_and_gives_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvctrl__deleted_claim_releases_its_volume, setup, teardown),
		cmocka_unit_test(test_pvctrl__workqueue_semantics),
		cmocka_unit_test_setup_teardown(test_pvctrl__informer_delivers_in_order_and_relists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvctrl__pvc_protection_waits_for_the_pod_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvctrl__pv_protection_keeps_a_bound_volume, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
