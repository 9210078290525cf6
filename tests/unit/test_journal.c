/*
 * Unit tests of the journal's storage (src/journal) against volshift-sim's API served in this
 * process on loopback: records spread over shards that each stay far below a ConfigMap's 1 MiB and
 * read back whole; a change rewrites its shard alone; a large plan goes in pieces; shards the head
 * does not count (a crash between creating one and counting it) are ignored, then deleted; a record
 * left in two shards is the later one's; a journal of one ConfigMap (an earlier volshift's) is read
 * and moved to shards; a missing shard is an error; another holder stops this one; an abort request
 * is seen without a write; a discarded journal leaves nothing; threads writing at once lose nothing.
 */
#include "journal/journal.h"

#include "../../sim/api.h"
#include "../../sim/http.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NS "volshift-system"

struct tj {
	sim_store *st;
	sim_faults *faults;
	sim_http *http;
	char kubeconfig[64];
	vs_kube_config *cfg;
	vs_kube_client *c;
};

static struct tj T;

static int tj_setup(void **state)
{
	vs_error err = { 0 };
	char *url = NULL;
	FILE *f;
	int fd;

	(void)state;
	T.st = sim_store_new();
	if (sim_api_bootstrap(T.st, 1, NULL, &err) < 0 || sim_fault_new(NULL, &T.faults, &err) < 0 ||
	    sim_http_start(T.st, T.faults, NULL, "127.0.0.1:0", NULL, NULL, &T.http, &url, &err) < 0)
		goto fail;
	snprintf(T.kubeconfig, sizeof(T.kubeconfig), "/tmp/test-journal-XXXXXX");
	fd = mkstemp(T.kubeconfig);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f)
		goto fail;
	fprintf(f,
		"apiVersion: v1\nkind: Config\nclusters: [{name: sim, cluster: {server: \"%s\"}}]\n"
		"users: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: sim, user: u}}]\n"
		"current-context: c\n",
		url);
	fclose(f);
	free(url);
	vs_kube_config_opts co = { .kubeconfig = T.kubeconfig };
	if (vs_kube_config_load(&co, &T.cfg, &err) < 0 || vs_kube_client_new(T.cfg, NULL, &T.c, &err) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "journal tests: %s\n", err.message);
	return -1;
}

static int tj_teardown(void **state)
{
	(void)state;
	vs_kube_client_free(T.c);
	vs_kube_config_free(T.cfg);
	sim_http_stop(T.http);
	sim_fault_free(T.faults);
	sim_store_shutdown(T.st);
	sim_store_free(T.st);
	unlink(T.kubeconfig);
	return 0;
}

/* Every ConfigMap of journal id, by name. Caller owns. */
static json_t *tj_pieces(const char *id)
{
	char selector[64];
	vs_kube_list_opts lo = { .label_selector = selector };
	json_t *list = NULL, *by = json_object(), *cm;
	vs_error err = { 0 };
	size_t i;

	snprintf(selector, sizeof(selector), "volshift.io/migration=%s", id);
	if (vs_kube_list(T.c, &VS_KUBE_CONFIGMAPS, NS, &lo, &list, &err) < 0)
		fail_msg("list: %s", err.message);
	json_array_foreach (json_object_get(list, "items"), i, cm)
		json_object_set(by, vs_kube_obj_name(cm), cm);
	json_decref(list);
	return by;
}

/* Piece kind k of journal id in pieces (the head when kind is NULL), or NULL. Borrowed. */
static json_t *tj_piece(const json_t *pieces, const char *id, const char *kind, int k)
{
	char name[96];

	if (kind)
		snprintf(name, sizeof(name), "volshift-%s-%s-%d", id, kind, k);
	else
		snprintf(name, sizeof(name), "volshift-%s", id);
	return json_object_get(pieces, name);
}

/* The number of pieces of kind among pieces. */
static size_t tj_count(const json_t *pieces, const char *kind)
{
	const char *name;
	json_t *cm;
	size_t n = 0;

	json_object_foreach ((json_t *)pieces, name, cm) {
		const json_t *labels = vs_json_path(cm, "metadata.labels");
		n += strcmp(json_string_value(json_object_get(labels, "volshift.io/journal-piece")) ?: "", kind) == 0;
	}
	return n;
}

static vs_journal *tj_create(const json_t *plan)
{
	vs_journal *j = NULL;
	vs_error err = { 0 };
	json_t *dflt = json_pack("{s:s}", "kind", "test");

	if (vs_journal_create(T.c, NS, plan ? plan : dflt, &j, &err) < 0)
		fail_msg("create: %s", err.message);
	json_decref(dflt);
	return j;
}

static vs_journal *tj_open(const char *id, bool force)
{
	vs_journal *j = NULL;
	vs_error err = { 0 };

	if (vs_journal_open(T.c, NS, id, force, &j, &err) < 0)
		fail_msg("open %s: %s", id, err.message);
	return j;
}

static void tj_step(vs_journal *j, const char *key, const char *state, const json_t *extra, bool durable)
{
	vs_error err = { 0 };

	if (vs_journal_step(j, key, state, NULL, extra, durable, &err) < 0)
		fail_msg("step %s: %s", key, err.message);
}

static void tj_save(vs_journal *j, const char *key, const json_t *obj, bool durable)
{
	vs_error err = { 0 };

	if (vs_journal_save_object(j, key, obj, durable, &err) < 0)
		fail_msg("save %s: %s", key, err.message);
}

static void tj_forget(vs_journal *j, const char *key, bool durable)
{
	vs_error err = { 0 };

	if (vs_journal_forget_step(j, key, durable, &err) < 0)
		fail_msg("forget %s: %s", key, err.message);
}

/* A claim-sized object for key i. Caller owns. */
static json_t *tj_object(int i)
{
	char pad[2048];

	memset(pad, 'a' + i % 26, sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	return json_pack("{s:s, s:{s:s, s:i}, s:s}", "kind", "PersistentVolumeClaim", "metadata", "name", "claim",
			 "index", i, "pad", pad);
}

/* Fill j with n steps and n / 10 objects (about 1.5 MiB for n = 4000), then write it durably. */
static void tj_fill(vs_journal *j, int n)
{
	char key[64];

	for (int i = 0; i < n; i++) {
		json_t *extra = json_pack("{s:i, s:s}", "bytes", i, "note", "a record of some length, as copies have");
		snprintf(key, sizeof(key), "claim/ns/c%05d/copy", i);
		tj_step(j, key, VS_STEP_DONE, extra, false);
		json_decref(extra);
		if (i % 10 == 0) {
			json_t *obj = tj_object(i);
			snprintf(key, sizeof(key), "claim/ns/c%05d/original", i);
			tj_save(j, key, obj, false);
			json_decref(obj);
		}
	}
	tj_step(j, "default-class", VS_STEP_INTENT, NULL, true);
}

/* The records of journal id as peek reads them, checked against open journal j's. */
static void tj_same_records(vs_journal *j, const char *id, int n)
{
	json_t *m = NULL;
	vs_error err = { 0 };
	char key[64];

	assert_int_equal(vs_journal_peek(T.c, NS, id, &m, &err), 0);
	assert_non_null(m);
	assert_int_equal(json_object_size(json_object_get(m, "steps")), (size_t)n + 1);
	assert_int_equal(json_object_size(json_object_get(m, "objects")), (size_t)(n + 9) / 10);
	for (int i = 0; i < n; i += 7) {
		snprintf(key, sizeof(key), "claim/ns/c%05d/copy", i);
		assert_true(
			json_equal(vs_journal_step_record(j, key), json_object_get(json_object_get(m, "steps"), key)));
		assert_int_equal(vs_json_int(vs_journal_step_record(j, key), "bytes", -1), i);
	}
	for (int i = 0; i < n; i += 10) {
		json_t *obj = tj_object(i);
		snprintf(key, sizeof(key), "claim/ns/c%05d/original", i);
		assert_true(json_equal(vs_journal_object(j, key), obj));
		json_decref(obj);
	}
	json_decref(m);
}

static void test_journal__records_spread_over_shards_and_read_back(void **state)
{
	vs_journal *j = tj_create(NULL);
	char *id = vs_xstrdup(vs_journal_id(j)), count[16];
	json_t *pieces, *cm;
	const char *name;
	size_t shards;

	(void)state;
	tj_fill(j, 4000);
	vs_journal_free(j);
	pieces = tj_pieces(id);
	json_object_foreach (pieces, name, cm)
		/* far below 1 MiB (the data as JSON is longer than as the API server counts it) */
		assert_true(json_dumpb(json_object_get(cm, "data"), NULL, 0, JSON_COMPACT) < (200 << 10));
	shards = tj_count(pieces, "records");
	assert_true(shards >= 8);
	snprintf(count, sizeof(count), "%zu", shards);
	assert_string_equal(vs_json_str(tj_piece(pieces, id, NULL, 0), "data.shards"), count);
	assert_null(vs_json_str(tj_piece(pieces, id, NULL, 0), "data.steps"));
	j = tj_open(id, false);
	assert_string_equal(vs_journal_step_state(j, "default-class"), VS_STEP_INTENT);
	tj_same_records(j, id, 4000);
	vs_journal_free(j);
	json_decref(pieces);
	free(id);
}

/* The resourceVersion of every piece. Caller owns. */
static json_t *tj_versions(const char *id)
{
	json_t *pieces = tj_pieces(id), *rvs = json_object(), *cm;
	const char *name;

	json_object_foreach (pieces, name, cm)
		json_object_set_new(rvs, name, json_string(vs_kube_obj_resource_version(cm)));
	json_decref(pieces);
	return rvs;
}

static void test_journal__a_change_rewrites_only_its_shard(void **state)
{
	vs_journal *j = tj_create(NULL);
	char *id = vs_xstrdup(vs_journal_id(j)), first[96];
	json_t *before, *after, *rv;
	const char *name;

	(void)state;
	tj_fill(j, 2000);
	before = tj_versions(id);
	tj_step(j, "claim/ns/c00000/copy", VS_STEP_FAILED, NULL, true); /* kept in the first shard */
	after = tj_versions(id);
	snprintf(first, sizeof(first), "volshift-%s-records-0", id);
	assert_true(json_object_size(before) >= 5);
	json_object_foreach (before, name, rv) {
		bool same = json_equal(rv, json_object_get(after, name));
		if (strcmp(name, first) == 0)
			assert_false(same);
		else if (strstr(name, "-records-"))
			assert_true(same);
	}
	vs_journal_free(j);
	json_decref(before);
	json_decref(after);
	free(id);
}

static void test_journal__a_large_plan_goes_in_pieces(void **state)
{
	json_t *plan = json_pack("{s:s, s:[]}", "kind", "big", "claims"), *pieces;
	vs_journal *j;
	char *id;

	(void)state;
	for (int i = 0; i < 10000; i++)
		json_array_append_new(json_object_get(plan, "claims"),
				      json_pack("{s:s, s:s, s:i, s:s}", "namespace", "some-namespace", "name",
						"a-claim-with-a-long-name-é", "index", i, "node", "node-1"));
	j = tj_create(plan);
	id = vs_xstrdup(vs_journal_id(j));
	vs_journal_free(j);
	pieces = tj_pieces(id);
	assert_true(tj_count(pieces, "plan") >= 1);
	assert_int_equal(strtoul(vs_json_str(tj_piece(pieces, id, NULL, 0), "data.planPieces"), NULL, 10),
			 tj_count(pieces, "plan") + 1);
	assert_non_null(tj_piece(pieces, id, "plan", 1));
	j = tj_open(id, false);
	assert_true(json_equal(vs_journal_plan(j), plan));
	vs_journal_discard(j);
	json_decref(pieces);
	pieces = tj_pieces(id);
	assert_int_equal(json_object_size(pieces), 0); /* discarded: every piece */
	json_decref(pieces);
	json_decref(plan);
	free(id);
}

/* Create ConfigMap name of journal id (piece kind, or none) with data (stolen). */
static void tj_put_cm(const char *id, const char *name, const char *kind, json_t *data)
{
	json_t *cm = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:o}", "apiVersion", "v1", "kind", "ConfigMap", "metadata",
			       "name", name, "labels", "volshift.io/migration", id, "data", data);
	vs_error err = { 0 };

	if (kind)
		json_object_set_new(vs_json_path(cm, "metadata.labels"), "volshift.io/journal-piece",
				    json_string(kind));
	if (vs_kube_create(T.c, &VS_KUBE_CONFIGMAPS, NS, cm, NULL, &err) < 0)
		fail_msg("create %s: %s", name, err.message);
	json_decref(cm);
}

static void test_journal__uncounted_shards_are_ignored_then_deleted(void **state)
{
	vs_journal *j = tj_create(NULL);
	char *id = vs_xstrdup(vs_journal_id(j)), orphan[96];
	json_t *m = NULL, *pieces;
	vs_error err = { 0 };

	(void)state;
	tj_step(j, "group/0/stop", VS_STEP_DONE, NULL, true);
	vs_journal_free(j);
	/* what a volshift that died after creating shard 1, before the head counted it, left */
	snprintf(orphan, sizeof(orphan), "volshift-%s-records-1", id);
	tj_put_cm(id, orphan, "records",
		  json_pack("{s:s, s:s}", "steps", "{\"group/0/start\":{\"state\":\"intent\"}}", "objects", "{}"));
	assert_int_equal(vs_journal_peek(T.c, NS, id, &m, &err), 0);
	assert_null(json_object_get(json_object_get(m, "steps"), "group/0/start"));
	assert_non_null(json_object_get(json_object_get(m, "steps"), "group/0/stop"));
	j = tj_open(id, false);
	assert_null(vs_journal_step_state(j, "group/0/start"));
	pieces = tj_pieces(id);
	assert_null(json_object_get(pieces, orphan));
	tj_step(j, "group/0/start", VS_STEP_DONE, NULL, true);
	vs_journal_free(j);
	json_decref(pieces);
	json_decref(m);
	free(id);
}

static void test_journal__a_record_in_two_shards_is_the_later_ones(void **state)
{
	vs_journal *j = tj_create(NULL);
	char *id = vs_xstrdup(vs_journal_id(j));
	json_t *pieces, *stale, *m = NULL;
	vs_error err = { 0 };

	(void)state;
	tj_step(j, "group/0/copy", VS_STEP_FAILED, NULL, true);
	pieces = tj_pieces(id);
	stale = json_deep_copy(tj_piece(pieces, id, "records", 0));
	json_decref(pieces);
	tj_fill(j, 1000);		     /* shard 0 full: a record written anew goes to a later shard */
	tj_forget(j, "group/0/copy", false); /* an undone group, done again */
	tj_step(j, "group/0/copy", VS_STEP_DONE, NULL, true);
	/* a crash between the writes of the later shard and of shard 0: shard 0 still has the record */
	pieces = tj_pieces(id);
	json_object_set_new(vs_json_path(stale, "metadata"), "resourceVersion",
			    json_string(vs_kube_obj_resource_version(tj_piece(pieces, id, "records", 0))));
	json_decref(pieces);
	if (vs_kube_update(T.c, &VS_KUBE_CONFIGMAPS, NS, stale, NULL, &err) < 0)
		fail_msg("update: %s", err.message);
	assert_int_equal(vs_journal_peek(T.c, NS, id, &m, &err), 0);
	assert_string_equal(vs_json_str(json_object_get(json_object_get(m, "steps"), "group/0/copy"), "state"),
			    VS_STEP_DONE);
	vs_journal_free(j);
	j = tj_open(id, false);
	assert_string_equal(vs_journal_step_state(j, "group/0/copy"), VS_STEP_DONE);
	vs_journal_free(j);
	pieces = tj_pieces(id); /* the open wrote shard 0 again, without it */
	assert_null(strstr(vs_json_str(tj_piece(pieces, id, "records", 0), "data.steps"), "group/0/copy"));
	json_decref(pieces);
	json_decref(stale);
	json_decref(m);
	free(id);
}

static void test_journal__a_journal_of_one_configmap_moves_to_shards(void **state)
{
	const char *id = "legacy01";
	json_t *pieces, *obj = json_pack("{s:s}", "kind", "StatefulSet");
	vs_journal *j;

	(void)state;
	tj_put_cm(id, "volshift-legacy01", NULL,
		  json_pack("{s:s, s:s, s:s, s:s}", "plan", "{\"kind\":\"old\"}", "steps",
			    "{\"group/0/stop\":{\"state\":\"done\",\"stoppedMs\":7}}", "objects",
			    "{\"statefulset/ns/db\":{\"kind\":\"StatefulSet\"}}", "phase", "failed"));
	j = tj_open(id, false);
	assert_string_equal(vs_journal_phase(j), "failed");
	assert_string_equal(vs_json_str(vs_journal_plan(j), "kind"), "old");
	assert_int_equal(vs_json_int(vs_journal_step_record(j, "group/0/stop"), "stoppedMs", 0), 7);
	assert_true(json_equal(vs_journal_object(j, "statefulset/ns/db"), obj));
	vs_journal_free(j);
	pieces = tj_pieces(id);
	assert_null(vs_json_str(tj_piece(pieces, id, NULL, 0), "data.steps"));
	assert_non_null(strstr(vs_json_str(tj_piece(pieces, id, "records", 0), "data.steps"), "group/0/stop"));
	assert_non_null(strstr(vs_json_str(tj_piece(pieces, id, "records", 0), "data.objects"), "statefulset/ns/db"));
	j = tj_open(id, false);
	assert_int_equal(vs_json_int(vs_journal_step_record(j, "group/0/stop"), "stoppedMs", 0), 7);
	vs_journal_free(j);
	json_decref(pieces);
	json_decref(obj);
}

static void test_journal__a_missing_shard_is_an_error(void **state)
{
	vs_journal *j = tj_create(NULL), *again = NULL;
	char *id = vs_xstrdup(vs_journal_id(j)), name[96];
	json_t *list = NULL, *cm, *m;
	vs_error err = { 0 };
	size_t i;
	bool listed = false;

	(void)state;
	tj_fill(j, 1000);
	vs_journal_free(j);
	snprintf(name, sizeof(name), "volshift-%s-records-1", id);
	assert_int_equal(vs_kube_delete(T.c, &VS_KUBE_CONFIGMAPS, NS, name, NULL, NULL, &err), 0);
	assert_int_equal(vs_journal_open(T.c, NS, id, false, &again, &err), VS_EIO);
	assert_null(again);
	assert_non_null(strstr(err.message, name));
	assert_int_equal(vs_journal_list(T.c, NS, &list, &err), 0);
	json_array_foreach (json_object_get(list, "items"), i, cm) {
		m = vs_journal_decode(cm);
		if (strcmp(vs_json_str_or(m, "id", ""), id) == 0) {
			listed = true;
			assert_non_null(strstr(vs_json_str_or(m, "error", ""), "is incomplete"));
		}
		json_decref(m);
	}
	assert_true(listed);
	json_decref(list);
	free(id);
}

static void test_journal__another_holder_stops_this_one(void **state)
{
	vs_journal *j = tj_create(NULL), *other;
	vs_error err = { 0 };

	(void)state;
	tj_step(j, "group/0/stop", VS_STEP_INTENT, NULL, true);
	other = tj_open(vs_journal_id(j), true);
	tj_step(other, "group/0/stop", VS_STEP_DONE, NULL, true);
	assert_int_equal(vs_journal_step(j, "group/0/stop", VS_STEP_FAILED, NULL, NULL, true, &err), VS_EINVAL);
	assert_non_null(strstr(err.message, "taken over"));
	vs_journal_free(j);
	assert_string_equal(vs_journal_step_state(other, "group/0/stop"), VS_STEP_DONE);
	vs_journal_free(other);
}

static void test_journal__an_abort_is_seen_without_a_write(void **state)
{
	vs_journal *j = tj_create(NULL);
	vs_error err = { 0 };

	(void)state;
	assert_false(vs_journal_abort_requested(j));
	assert_int_equal(vs_journal_request_abort(T.c, NS, vs_journal_id(j), "someone@host", &err), 0);
	usleep(1100 * 1000);
	assert_true(vs_journal_abort_requested(j));
	assert_int_equal(vs_journal_withdraw_abort(j, &err), 0);
	assert_false(vs_journal_abort_requested(j));
	vs_journal_free(j);
}

/* One thread of a run: its group's steps, every tenth durable. */
struct tj_group {
	vs_journal *j;
	int group;
	int rc;
};

#define TJ_GROUPS 8
#define TJ_STEPS  300

static void *tj_group_run(void *arg)
{
	struct tj_group *g = arg;
	json_t *extra = json_pack("{s:s}", "note", "a record of some length, as copies have, with room");
	vs_error err = { 0 };
	char key[64];

	for (int i = 0; g->rc == 0 && i < TJ_STEPS; i++) {
		snprintf(key, sizeof(key), "group/%d/step-%03d", g->group, i);
		g->rc = vs_journal_step(g->j, key, VS_STEP_DONE, NULL, extra, i % 10 == 9, &err);
	}
	json_decref(extra);
	return NULL;
}

static void test_journal__threads_writing_at_once_lose_nothing(void **state)
{
	vs_journal *j = tj_create(NULL);
	char *id = vs_xstrdup(vs_journal_id(j)), key[64];
	struct tj_group groups[TJ_GROUPS];
	pthread_t threads[TJ_GROUPS];
	json_t *m = NULL;
	vs_error err = { 0 };

	(void)state;
	for (int g = 0; g < TJ_GROUPS; g++) {
		groups[g] = (struct tj_group){ .j = j, .group = g };
		assert_int_equal(pthread_create(&threads[g], NULL, tj_group_run, &groups[g]), 0);
	}
	for (int g = 0; g < TJ_GROUPS; g++) {
		pthread_join(threads[g], NULL);
		assert_int_equal(groups[g].rc, 0);
	}
	/* every durable step is in the cluster already, without a release */
	assert_int_equal(vs_journal_peek(T.c, NS, id, &m, &err), 0);
	for (int g = 0; g < TJ_GROUPS; g++) {
		snprintf(key, sizeof(key), "group/%d/step-%03d", g, TJ_STEPS - 1);
		assert_non_null(json_object_get(json_object_get(m, "steps"), key));
	}
	assert_int_equal(json_object_size(json_object_get(m, "steps")), TJ_GROUPS * TJ_STEPS);
	vs_journal_free(j);
	json_decref(m);
	free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal__records_spread_over_shards_and_read_back),
		cmocka_unit_test(test_journal__a_change_rewrites_only_its_shard),
		cmocka_unit_test(test_journal__a_large_plan_goes_in_pieces),
		cmocka_unit_test(test_journal__uncounted_shards_are_ignored_then_deleted),
		cmocka_unit_test(test_journal__a_record_in_two_shards_is_the_later_ones),
		cmocka_unit_test(test_journal__a_journal_of_one_configmap_moves_to_shards),
		cmocka_unit_test(test_journal__a_missing_shard_is_an_error),
		cmocka_unit_test(test_journal__another_holder_stops_this_one),
		cmocka_unit_test(test_journal__an_abort_is_seen_without_a_write),
		cmocka_unit_test(test_journal__threads_writing_at_once_lose_nothing),
	};

	return cmocka_run_group_tests(tests, tj_setup, tj_teardown);
}
