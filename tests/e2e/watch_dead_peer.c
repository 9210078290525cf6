/*
 * End-to-end: a watch whose connection dies without a word (its peer's packets no longer arrive)
 * gives up within the client's outage budget instead of waiting for the server to end it, which a
 * server does after 30 minutes or more. Run by test_api_outage.sh in a network namespace of its own,
 * whose loopback it takes down; the cluster is $KUBECONFIG's. Prints "watch returned CODE after MS
 * ms: MESSAGE" and exits 0 when the watch gave up with VS_EUNAVAILABLE.
 */
#include "kube/kube.h"

#include <stdio.h>

static int on_event(const char *type, json_t *obj, void *ctx)
{
	(void)type, (void)obj, (void)ctx;
	return 0; /* never stops by itself */
}

int main(void)
{
	vs_kube_client_opts opts = { .outage_budget_ms = 5000 };
	vs_kube_config *cfg = NULL;
	vs_kube_client *c = NULL;
	vs_error err = { 0 };
	int64_t t0;
	int rc;

	if (vs_kube_config_load(NULL, &cfg, &err) < 0 || vs_kube_client_new(cfg, &opts, &c, &err) < 0) {
		fprintf(stderr, "watch_dead_peer: %s\n", err.message);
		vs_kube_config_free(cfg);
		return 2;
	}
	t0 = vs_time_mono_ms();
	rc = vs_kube_watch(c, &VS_KUBE_CONFIGMAPS, "default", NULL, on_event, NULL, &err);
	printf("watch returned %d after %lld ms: %s\n", rc, (long long)(vs_time_mono_ms() - t0), err.message);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	return rc == VS_EUNAVAILABLE ? 0 : 1;
}
