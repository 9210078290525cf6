/*
 * The bind-time benchmark (make bench, scripts/bench.sh): how long a recreated claim takes to bind
 * to the volume that holds its data, against a running volshift-sim ($KUBECONFIG), as a swap
 * leaves it: a volume of class "shared", Retain, Released by a deleted temporary claim whose uid
 * it still names. Two sequences:
 *   new: volshift's own (bind.c, mig_bind_claim): the claim created naming the volume, the volume
 *        pinned to its uid, the claim nudged;
 *   old: what volshift did before: the volume pre-bound to {namespace, name} without a uid, then
 *        the claim created naming it, then waited for.
 * Usage: bench_bind new|old COUNT PARALLEL NAMESPACE. Prints one line per swap, "ms N CLAIM" (claim
 * creation to Bound), or "failed MESSAGE"; exit 1 when a swap failed.
 */
#include "migrate/migrate_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bench {
	vs_kube_client *c;
	vs_migrate_opts opts;
	const char *ns;
	bool old;
	size_t count, next;
	pthread_mutex_t mu;
	int failed;
};

static bool bench_bound(const json_t *claim, void *ctx)
{
	(void)ctx;
	return claim && strcmp(vs_json_str_or(claim, "status.phase", ""), "Bound") == 0;
}

/* The temporary claim bb-I-temp of class shared, its volume made Retain, then the claim deleted:
 * *pv_name gets the volume (caller frees). Not timed. */
static int bench_prepare(mig_run *r, const struct bench *b, size_t i, char **pv_name, vs_error *err)
{
	char temp[64];
	json_t *claim, *bound = NULL, *patch;
	int rc;

	snprintf(temp, sizeof(temp), "bb-%zu-temp", i);
	claim = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:[s], s:{s:{s:s}}}}", "apiVersion", "v1", "kind",
			  "PersistentVolumeClaim", "metadata", "name", temp, "namespace", b->ns, "spec",
			  "storageClassName", "shared", "accessModes", "ReadWriteOnce", "resources", "requests",
			  "storage", "1Mi");
	rc = vs_kube_create(r->c, &VS_KUBE_PVCS, b->ns, claim, NULL, err);
	json_decref(claim);
	if (rc == 0)
		rc = mig_wait_obj(r, &VS_KUBE_PVCS, b->ns, temp, bench_bound, NULL, 120000, "the temporary claim", err);
	if (rc == 0)
		rc = vs_kube_get(r->c, &VS_KUBE_PVCS, b->ns, temp, &bound, err);
	if (rc == 0) {
		*pv_name = vs_xstrdup(vs_json_str_or(bound, "spec.volumeName", ""));
		patch = json_pack("{s:{s:s}}", "spec", "persistentVolumeReclaimPolicy", "Retain");
		rc = vs_kube_patch(r->c, &VS_KUBE_PVS, NULL, *pv_name, VS_KUBE_PATCH_MERGE, patch, NULL, err);
		json_decref(patch);
	}
	int64_t deleted_at = vs_time_mono_ms();
	if (rc == 0)
		rc = mig_delete(r, &VS_KUBE_PVCS, b->ns, temp, NULL, NULL, err);
	if (rc == 0)
		rc = mig_wait_gone(r, &VS_KUBE_PVCS, b->ns, temp, 120000, err);
	if (rc == 0) /* what the swap measures too: how fast the controllers follow this namespace's claims */
		mig_note_claim_lag(r, deleted_at);
	json_decref(bound);
	return rc;
}

/* The old sequence: pre-bind by name without uid, create, wait. */
static int bench_old(mig_run *r, const json_t *claim, const char *pv_name, vs_error *err)
{
	const char *ns = vs_kube_obj_namespace(claim), *name = vs_kube_obj_name(claim);
	json_t *patch =
		json_pack("{s:{s:{s:s, s:s, s:s, s:s, s:n, s:n}}}", "spec", "claimRef", "apiVersion", "v1", "kind",
			  "PersistentVolumeClaim", "namespace", ns, "name", name, "uid", "resourceVersion");
	int rc = vs_kube_patch(r->c, &VS_KUBE_PVS, NULL, pv_name, VS_KUBE_PATCH_MERGE, patch, NULL, err);

	json_decref(patch);
	if (rc == 0)
		rc = vs_kube_create(r->c, &VS_KUBE_PVCS, ns, claim, NULL, err);
	if (rc == 0)
		rc = mig_wait_obj(r, &VS_KUBE_PVCS, ns, name, mig_claim_bound_to, (void *)pv_name,
				  r->opts->delete_pv_timeout_ms, "the claim to bind", err);
	return rc;
}

/* Swap i: prepared, then the claim bb-I recreated on the volume by the chosen sequence, timed. */
static void bench_swap(struct bench *b, mig_run *r, size_t i)
{
	char name[64];
	char *pv_name = NULL;
	vs_error err = { 0 };
	int64_t t0 = 0;
	int rc = bench_prepare(r, b, i, &pv_name, &err);

	snprintf(name, sizeof(name), "bb-%zu", i);
	if (rc == 0) {
		json_t *claim = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:[s], s:{s:{s:s}}}}", "apiVersion",
					  "v1", "kind", "PersistentVolumeClaim", "metadata", "name", name, "namespace",
					  b->ns, "spec", "storageClassName", "shared", "volumeName", pv_name,
					  "accessModes", "ReadWriteOnce", "resources", "requests", "storage", "1Mi");
		char temp[64];
		snprintf(temp, sizeof(temp), "%s-temp", name);
		t0 = vs_time_mono_ms();
		rc = b->old ? bench_old(r, claim, pv_name, &err) : mig_bind_claim(r, claim, NULL, temp, &err);
		json_decref(claim);
	}
	pthread_mutex_lock(&b->mu);
	if (rc == 0) {
		printf("ms %lld %s\n", (long long)(vs_time_mono_ms() - t0), name);
	} else {
		printf("failed %s: %s\n", name, err.message);
		b->failed = 1;
	}
	fflush(stdout);
	pthread_mutex_unlock(&b->mu);
	free(pv_name);
}

static void *bench_worker(void *arg)
{
	struct bench *b = arg;
	mig_run r = { .c = b->c, .opts = &b->opts };

	for (;;) {
		size_t i;
		pthread_mutex_lock(&b->mu);
		i = b->next++;
		pthread_mutex_unlock(&b->mu);
		if (i >= b->count)
			break;
		bench_swap(b, &r, i);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench b = { .opts = { .delete_pv_timeout_ms = 120000 } };
	vs_kube_config *cfg = NULL;
	vs_error err = { 0 };
	pthread_t threads[64];
	long parallel;

	if (argc != 5 || (strcmp(argv[1], "new") != 0 && strcmp(argv[1], "old") != 0) ||
	    (b.count = strtoul(argv[2], NULL, 10)) == 0 || (parallel = strtol(argv[3], NULL, 10)) < 1 ||
	    parallel > 64) {
		fprintf(stderr, "usage: bench_bind new|old COUNT PARALLEL(1-64) NAMESPACE\n");
		return 2;
	}
	b.old = strcmp(argv[1], "old") == 0;
	b.ns = argv[4];
	pthread_mutex_init(&b.mu, NULL);
	if (vs_kube_config_load(NULL, &cfg, &err) < 0 || vs_kube_client_new(cfg, NULL, &b.c, &err) < 0) {
		fprintf(stderr, "bench_bind: %s\n", err.message);
		vs_kube_config_free(cfg);
		return 1;
	}
	for (long k = 0; k < parallel; k++)
		pthread_create(&threads[k], NULL, bench_worker, &b);
	for (long k = 0; k < parallel; k++)
		pthread_join(threads[k], NULL);
	vs_kube_client_free(b.c);
	vs_kube_config_free(cfg);
	pthread_mutex_destroy(&b.mu);
	return b.failed;
}
