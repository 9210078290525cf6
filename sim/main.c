/*
 * volshift-sim: a local Kubernetes cluster for the demo, the tests and fault injection. This file
 * is only the command line and the order of start and stop: the store and the API (api.h), the
 * HTTP server (http.h), then the controllers and the node agent (cluster.h).
 *
 *   volshift-sim run --data-dir DIR [--nodes N] [--listen 127.0.0.1:PORT] [--kubeconfig-out FILE]
 *                    [--insecure-http] [--faults SPEC] [timing flags]
 */
#include "api.h"
#include "auth.h"
#include "cluster.h"
#include "fault.h"
#include "http.h"

#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef VS_VERSION
#define VS_VERSION "0.1.0"
#endif

struct sim_options {
	const char *data_dir;
	const char *listen;
	const char *kubeconfig_out;
	sim_faults *faults; /* owned: from --faults, else off */
	bool insecure;	    /* --insecure-http */
	int nodes;
	sim_timing timing;
};

static void sim_usage(FILE *out)
{
	fprintf(out,
		"Usage: volshift-sim run --data-dir DIR [--nodes N] [--listen 127.0.0.1:PORT] [--kubeconfig-out FILE]\n"
		"                        [--insecure-http] [--faults SPEC] [--seed N] [--informer-delay-ms N] "
		"[--write-latency-ms N]\n"
		"                        [--pv-resync-period D] [--pleg-relist-period D] [--volume-loop-period D]\n"
		"                        [--mount-poll-period D]\n"
		"\n"
		"Runs a local Kubernetes API server with a provisioner, the PV controller, workload\n"
		"controllers, a scheduler and a node agent that runs each pod's command as a local process.\n"
		"\n"
		"  --data-dir DIR         where volumes, pod logs and the kubeconfig live (created if missing)\n"
		"  --nodes N              number of nodes, named node-1 ... node-N (default 3)\n"
		"  --listen ADDR:PORT     loopback address to serve on (default 127.0.0.1:0, any free port)\n"
		"  --kubeconfig-out FILE  where to write a kubeconfig for kubectl and volshift (default DIR/kubeconfig)\n"
		"  --insecure-http        serve plain HTTP where everyone is in system:masters, instead of HTTPS with\n"
		"                         client certificates, tokens and RBAC (the CA, the certificates and keys in\n"
		"                         DIR/pki, the static admin token in DIR/admin-token)\n"
		"  --faults SPEC          inject API faults (default off); SPEC is KEY=VALUE,... with lists in ':':\n"
		"      rate=P             probability that a matching request is faulted (0 to 1)\n"
		"      kinds=K:...        500, 503, 429, reset, reset-after, latency (default 500:503:429:reset:latency)\n"
		"      verbs=V:...        get, list, watch, create, update, patch, delete, deletecollection (default all)\n"
		"      resources=R:...    plural names (pods) or one subresource (pods/log) (default all)\n"
		"      latency-ms=N       delay of the latency kind (default 200)\n"
		"      retry-after=N      seconds in 429's Retry-After header (default 1)\n"
		"      watch-cut=P        probability that a watch ends early (default 0)\n"
		"      watch-cut-ms=N     it ends after a random time below N ms (default 2000)\n"
		"      seed=N             seed of the generator, for reproducible runs (default random)\n"
		"    e.g. --faults rate=0.05,kinds=500:429:reset,verbs=create:patch,watch-cut=0.2,seed=7\n"
		"\n"
		"Timings (defaults: a real cluster's; D is a duration such as 15s or 200ms):\n"
		"  --seed N               seed of every random delay, for reproducible runs (default random)\n"
		"  --informer-delay-ms N  mean delay before a controller sees a change through its watch (default 5;\n"
		"                         the answer to a write comes 0-10 ms after its commit, whatever this is)\n"
		"  --write-latency-ms N   mean time a write (of any client) takes in kube-apiserver and etcd before\n"
		"                         it commits (default 5)\n"
		"  --pv-resync-period D   the PV controller's periodic resync, kube-controller-manager's\n"
		"                         --pvclaimbinder-sync-period (default 15s)\n"
		"  --pleg-relist-period D how often the kubelet lists its containers to notice starts and exits\n"
		"                         (default 1s)\n"
		"  --volume-loop-period D the period of the kubelet's volume manager loops, which mount a pod's\n"
		"                         volumes before it starts and unmount them after it stops (default 100ms)\n"
		"  --mount-poll-period D  how often the kubelet checks that a pod's volumes are mounted before\n"
		"                         starting it, or unmounted before removing it (default 300ms)\n"
		"\n"
		"volshift-sim's own endpoints (never faulted):\n"
		"  GET  /volshift-sim/faults   the SPEC in force and the counters, as JSON\n"
		"  PUT  /volshift-sim/faults   set a new SPEC (the body; \"off\" turns faults off)\n"
		"  POST /volshift-sim/kill?namespace=NS&pod=NAME[&container=C]\n"
		"                              SIGKILL the pod's container processes (containerID sim://PID)\n"
		"\n"
		"When ready it prints: volshift-sim ready: URL kubeconfig=FILE\n"
		"SIGINT or SIGTERM stops every pod and exits 0.\n");
}

/* The duration flag --NAME, at least min_ms, into *out. */
static int sim_parse_period(const char *name, const char *value, int64_t min_ms, int64_t *out, vs_error *err)
{
	int rc = vs_duration_parse(value, out, err);

	if (rc == 0 && *out < min_ms)
		rc = vs_error_set(err, VS_EINVAL, "--%s %s: expected at least %lldms", name, value, (long long)min_ms);
	return rc;
}

/* A flag's value in milliseconds, 0 to 60000. */
static int sim_parse_ms(const char *flag, const char *value, int64_t *out, vs_error *err)
{
	char *end;
	long long n = strtoll(value, &end, 10);

	if (*end || !*value || n < 0 || n > 60000)
		return vs_error_set(err, VS_EINVAL, "%s \"%s\": expected milliseconds from 0 to 60000", flag, value);
	*out = n;
	return 0;
}

/* One timing flag (its getopt letter) into *t; -1 with a message printed when its value is bad. */
static int sim_parse_timing(int flag, const char *value, sim_timing *t)
{
	vs_error err = { 0 };
	char *end;
	int rc = 0;

	switch (flag) {
	case 's':
		t->seed = strtoull(value, &end, 10);
		if (*end || !*value)
			rc = vs_error_set(&err, VS_EINVAL, "--seed \"%s\": expected a number", value);
		break;
	case 'i':
		rc = sim_parse_ms("--informer-delay-ms", value, &t->informer_delay_ms, &err);
		break;
	case 'w':
		rc = sim_parse_ms("--write-latency-ms", value, &t->write_latency_ms, &err);
		break;
	case 'r':
		rc = sim_parse_period("pv-resync-period", value, 100, &t->pv_resync_ms, &err);
		break;
	case 'p':
		rc = sim_parse_period("pleg-relist-period", value, 10, &t->pleg_relist_ms, &err);
		break;
	case 'v':
		rc = sim_parse_period("volume-loop-period", value, 10, &t->volume_loop_ms, &err);
		break;
	case 'm':
		rc = sim_parse_period("mount-poll-period", value, 10, &t->mount_poll_ms, &err);
		break;
	}
	if (rc < 0)
		fprintf(stderr, "volshift-sim: %s\n", err.message);
	return rc;
}

/* Parses "run" and its flags into *o (which owns o->faults then); returns 0, or 2 for bad usage
 * with a message printed. */
static int sim_parse_args(int argc, char **argv, struct sim_options *o)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },    { "nodes", required_argument, NULL, 'n' },
		{ "listen", required_argument, NULL, 'l' },      { "kubeconfig-out", required_argument, NULL, 'k' },
		{ "faults", required_argument, NULL, 'f' },      { "help", no_argument, NULL, 'h' },
		{ "seed", required_argument, NULL, 's' },        { "informer-delay-ms", required_argument, NULL, 'i' },
		{ "insecure-http", no_argument, NULL, 'H' },
		{ "write-latency-ms", required_argument, NULL, 'w' },
		{ "pv-resync-period", required_argument, NULL, 'r' }, { "pleg-relist-period", required_argument, NULL, 'p' },
		{ "volume-loop-period", required_argument, NULL, 'v' }, { "mount-poll-period", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	const char *faults = NULL;
	vs_error err = { 0 };
	char *end;
	int c;

	*o = (struct sim_options){ .listen = "127.0.0.1:0", .nodes = 3 };
	sim_timing_defaults(&o->timing);
	if (argc < 2 || strcmp(argv[1], "run") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			sim_usage(stdout);
			exit(0);
		}
		if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
			printf("volshift-sim %s\n", VS_VERSION);
			exit(0);
		}
		fprintf(stderr, "volshift-sim: expected the command \"run\"\n\n");
		sim_usage(stderr);
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->data_dir = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'k': o->kubeconfig_out = optarg; break;
		case 'f': faults = optarg; break;
		case 'H': o->insecure = true; break;
		case 'n':
			o->nodes = (int)strtol(optarg, &end, 10);
			if (*end || o->nodes < 1 || o->nodes > 100) {
				fprintf(stderr, "volshift-sim: --nodes \"%s\": expected a number from 1 to 100\n", optarg);
				return 2;
			}
			break;
		case 's':
		case 'i':
		case 'w':
		case 'r':
		case 'p':
		case 'v':
		case 'm':
			if (sim_parse_timing(c, optarg, &o->timing) < 0)
				return 2;
			break;
		case 'h': sim_usage(stdout); exit(0);
		default: fprintf(stderr, "Run 'volshift-sim --help' for usage.\n"); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "volshift-sim: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (!o->data_dir) {
		fprintf(stderr, "volshift-sim: --data-dir is required (a directory for volumes and pod logs)\n");
		return 2;
	}
	if (sim_fault_new(faults, &o->faults, &err) < 0) {
		fprintf(stderr, "volshift-sim: --faults: %s\n", err.message);
		return 2;
	}
	return 0;
}

/* What the API server proves and checks: its PKI and its authenticator (HTTPS off with --insecure-http). */
struct sim_security {
	sim_pki *pki;
	sim_auth *auth;
	sim_http_security http;
};

/* base64 of a PEM text, for a kubeconfig's *-data fields; caller frees. */
static char *pem_b64(const sim_pki *pki, enum sim_pki_pem which)
{
	const char *pem = sim_pki_pem(pki, which);

	return vs_base64_encode((const unsigned char *)pem, strlen(pem));
}

/* The kubeconfig's cluster and user: the CA and the admin's client certificate (HTTPS), or nothing. */
static char *kubeconfig_creds(const struct sim_security *sec, bool user)
{
	char *a, *b, *s;

	if (!sec->http.cert_pem)
		return vs_xstrdup(user ? " {}" : "");
	if (!user) {
		a = pem_b64(sec->pki, SIM_PEM_CA);
		s = vs_xasprintf("\n    certificate-authority-data: %s", a);
		free(a);
		return s;
	}
	a = pem_b64(sec->pki, SIM_PEM_ADMIN_CERT);
	b = pem_b64(sec->pki, SIM_PEM_ADMIN_KEY);
	s = vs_xasprintf("\n    client-certificate-data: %s\n    client-key-data: %s", a, b);
	free(a);
	free(b);
	return s;
}

/* Writes a kubeconfig with one context that kubectl and volshift can use as is. */
static int sim_write_kubeconfig(const char *path, const char *url, const struct sim_security *sec, vs_error *err)
{
	char *cluster = kubeconfig_creds(sec, false), *user = kubeconfig_creds(sec, true);
	char *text = vs_xasprintf("apiVersion: v1\n"
				  "kind: Config\n"
				  "clusters:\n"
				  "- name: volshift-sim\n"
				  "  cluster:\n"
				  "    server: %s%s\n"
				  "contexts:\n"
				  "- name: volshift-sim\n"
				  "  context:\n"
				  "    cluster: volshift-sim\n"
				  "    user: volshift-sim\n"
				  "    namespace: default\n"
				  "current-context: volshift-sim\n"
				  "users:\n"
				  "- name: volshift-sim\n"
				  "  user:%s\n"
				  "preferences: {}\n",
				  url, cluster, user);
	int rc = vs_file_write_atomic(path, text, strlen(text), 0600, err);

	free(text);
	free(cluster);
	free(user);
	return rc;
}

/* The PKI in DATA_DIR/pki, the authenticator with its signing key there and the static admin token
 * in DATA_DIR/admin-token; with --insecure-http the same PKI (for the pods) and an authenticator that
 * lets everyone in. */
static int sim_security_new(const char *data_dir, bool insecure, sim_store *st, struct sim_security *sec, vs_error *err)
{
	char *dir = vs_xasprintf("%s/pki", data_dir), *token_file = vs_xasprintf("%s/admin-token", data_dir);
	sim_auth_opts ao = { .insecure = insecure, .key_dir = dir };
	int rc = vs_mkdir_p(dir, 0700, err);

	memset(sec, 0, sizeof(*sec));
	if (rc == 0)
		rc = sim_pki_new(dir, &sec->pki, err);
	if (rc == 0)
		rc = sim_auth_new(st, &ao, &sec->auth, err);
	if (rc == 0 && !insecure)
		rc = vs_file_write_atomic(token_file, sim_auth_admin_token(sec->auth),
					  strlen(sim_auth_admin_token(sec->auth)), 0600, err);
	if (rc == 0)
		rc = sim_rbac_bootstrap(st, err);
	sec->http.auth = sec->auth;
	if (!insecure) {
		sec->http.cert_pem = sim_pki_pem(sec->pki, SIM_PEM_SERVER_CERT);
		sec->http.key_pem = sim_pki_pem(sec->pki, SIM_PEM_SERVER_KEY);
		sec->http.client_ca_pem = sim_pki_pem(sec->pki, SIM_PEM_CA);
	}
	free(dir);
	free(token_file);
	return rc;
}

/* A sim_token_fn on the authenticator (ctx). */
static int sim_issue_token(void *ctx, const char *ns, const char *sa, const json_t *audiences, int64_t seconds,
			   const json_t *pod, char **token, vs_error *err)
{
	int64_t expiry;

	return sim_auth_issue_token(ctx, ns, sa, audiences, seconds, pod, token, &expiry, err);
}

/* Tell the cluster where the API server serves, for its pods. */
static void sim_cluster_connect(sim_cluster *cluster, const char *url, const struct sim_security *sec)
{
	const char *colon = strrchr(url, ':');
	sim_cluster_api api = {
		.port = colon ? atoi(colon + 1) : 0,
		.ca_pem = sim_pki_pem(sec->pki, SIM_PEM_CA),
		.token = sim_issue_token,
		.token_ctx = sec->auth,
	};

	sim_cluster_set_api(cluster, &api);
}

static void sim_security_free(struct sim_security *sec)
{
	sim_auth_free(sec->auth);
	sim_pki_free(sec->pki);
}

/* Blocks the stop signals in every thread so that only sigwait in main receives them. */
static void sim_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int sim_run(const struct sim_options *o)
{
	sim_store *st = sim_store_new();
	sim_cluster *cluster = NULL;
	sim_http *srv = NULL;
	struct sim_security sec = { 0 };
	char *url = NULL, *kubeconfig = NULL, data_dir[PATH_MAX];
	bool gc_started = false;
	vs_error err = { 0 };
	sigset_t set;
	int sig, rc = 1;

	sim_block_signals(&set);
	if (vs_mkdir_p(o->data_dir, 0755, &err) < 0 || !realpath(o->data_dir, data_dir)) {
		fprintf(stderr, "volshift-sim: --data-dir %s: %s\n", o->data_dir, err.message);
		goto done;
	}
	kubeconfig = o->kubeconfig_out ? vs_xstrdup(o->kubeconfig_out) : vs_xasprintf("%s/kubeconfig", data_dir);
	if (sim_api_bootstrap(st, o->nodes, data_dir, &err) < 0 ||
	    sim_security_new(data_dir, o->insecure, st, &sec, &err) < 0 || sim_gc_start(st, &err) < 0)
		goto fail;
	gc_started = true;
	if (sim_cluster_start(st, data_dir, &o->timing, &cluster, &err) < 0 ||
	    sim_http_start(st, o->faults, &sec.http, o->listen, sim_cluster_log_path, cluster, &srv, &url, &err) < 0 ||
	    sim_write_kubeconfig(kubeconfig, url, &sec, &err) < 0)
		goto fail;
	sim_cluster_connect(cluster, url, &sec);
	printf("volshift-sim ready: %s kubeconfig=%s\n", url, kubeconfig);
	fflush(stdout);
	sigwait(&set, &sig);
	vs_info("received %s, stopping every pod", sig == SIGINT ? "SIGINT" : "SIGTERM");
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "volshift-sim: %s\n", err.message);
done:
	sim_http_stop(srv);
	sim_fault_log_counters(o->faults);
	sim_cluster_stop(cluster);
	if (gc_started)
		sim_gc_stop(st);
	sim_store_shutdown(st);
	sim_store_free(st);
	sim_security_free(&sec);
	free(url);
	free(kubeconfig);
	return rc;
}

int main(int argc, char **argv)
{
	struct sim_options o;
	int rc;

	vs_log_set_tag("volshift-sim");
	rc = sim_parse_args(argc, argv, &o);
	if (rc == 0)
		rc = sim_run(&o);
	sim_fault_free(o.faults);
	return rc;
}
