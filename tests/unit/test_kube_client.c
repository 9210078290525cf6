/*
 * Unit tests for the kube client: the pure pieces (Status decoding, backoff bounds, access reviews),
 * then the client against a tiny libmicrohttpd server started inside the test on 127.0.0.1, port 0, whose
 * replies each test scripts: pagination, retries (503, 429 with Retry-After, none for Conflict or a
 * create, a create never sent twice on a connection closed without a reply), decoded errors, watch
 * streams resumed after the server ends them (quiet ones too, without giving up) or answers 410,
 * followed logs delivered line by line as they arrive, and the outage budget: a server that never
 * answered reported after the short first-contact budget, one that went away waited for (with
 * reports) until the budget, then every request failing at once, one that comes back in time
 * ridden out, one request failing alone bounded too, and watches giving up with the client; and
 * discovery: kinds resolved and kept, fetched again on a miss, from many threads at once.
 */
#include "kube/kube.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>

/* ---- pure functions ---------------------------------------------------------------------------- */

static void test_kube_client__status_decoding(void **state)
{
	const char *st = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
			 "\"message\":\"persistentvolumeclaims \\\"data\\\" not found\",\"reason\":\"NotFound\","
			 "\"code\":404}";
	const char *html = "\n<html>502 Bad Gateway</html>\nmore\n";
	vs_error err = { 0 };

	(void)state;
	assert_int_equal(vs_kube_status_error(404, st, strlen(st), "get persistentvolumeclaims default/data", &err),
			 VS_EAPI);
	assert_int_equal(err.code, VS_EAPI);
	assert_int_equal(err.http_status, 404);
	assert_true(vs_error_is(&err, "NotFound"));
	assert_string_equal(err.message, "get persistentvolumeclaims default/data: persistentvolumeclaims \"data\" not found");

	vs_kube_status_error(502, html, strlen(html), "list pods", &err);
	assert_true(vs_error_is(&err, "InternalError"));
	assert_string_equal(err.message, "list pods: HTTP 502: <html>502 Bad Gateway</html>");

	vs_kube_status_error(409, "", 0, "update configmaps ns/x", &err);
	assert_true(vs_error_is(&err, "Conflict"));
	assert_string_equal(err.message, "update configmaps ns/x: HTTP 409");

	st = "{\"kind\":\"Status\",\"code\":422,\"message\":\"spec.x: Invalid value\"}";
	vs_kube_status_error(422, st, strlen(st), "create pods ns/p", &err);
	assert_true(vs_error_is(&err, "Invalid")); /* no reason in the body: taken from the code */
	assert_string_equal(err.message, "create pods ns/p: spec.x: Invalid value");
}

static void test_kube_client__backoff_bounds(void **state)
{
	unsigned attempt;
	int64_t d, lo = 1 << 30, hi = -1;
	int i;

	(void)state;
	/* rand = ceiling gives the ceiling itself: base * 2^attempt, capped. */
	assert_int_equal(vs_kube_backoff_ms(0, 100, 5000, 100), 100);
	assert_int_equal(vs_kube_backoff_ms(1, 100, 5000, 200), 200);
	assert_int_equal(vs_kube_backoff_ms(3, 100, 5000, 800), 800);
	assert_int_equal(vs_kube_backoff_ms(6, 100, 5000, 5000), 5000);
	assert_int_equal(vs_kube_backoff_ms(0, 100, 5000, 0), 0);
	/* Never beyond the cap, even for huge attempts and random values (no overflow). */
	for (attempt = 0; attempt < 200; attempt += 7) {
		d = vs_kube_backoff_ms(attempt, 100, 5000, UINT64_MAX);
		assert_in_range(d, 0, 5000);
		d = vs_kube_backoff_ms(attempt, 100, 5000, vs_rand_u64());
		assert_in_range(d, 0, attempt < 6 ? (100 << attempt) : 5000);
	}
	assert_in_range(vs_kube_backoff_ms(3, 0, 0, UINT64_MAX), 0, 1);
	/* Full jitter: the whole range is used. */
	for (i = 0; i < 2000; i++) {
		d = vs_kube_backoff_ms(4, 100, 5000, vs_rand_u64());
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_in_range(lo, 0, 100);
	assert_in_range(hi, 1500, 1600);
}

/* ---- a scripted HTTP server -------------------------------------------------------------------- */

#define MAX_CHUNKS 8

struct reply {
	int status;
	const char *body;
	const char *retry_after;
	/* Streaming: chunks sent in order; chunk i waits until the client has seen gates[i] items. */
	const char *chunks[MAX_CHUNKS];
	int gates[MAX_CHUNKS];
	int nchunks;
	bool stream;
	bool hold_open; /* after the last chunk, keep the stream open until the test ends */
	bool reset;     /* close the connection without a reply */
};

struct srv;
typedef void (*scenario_fn)(struct srv *s, int hit, const char *method, const char *url, const char *query,
			    struct reply *r);

struct srv {
	struct MHD_Daemon *d;
	char url[64];
	pthread_mutex_t lock;
	int hits;
	char log[16][512]; /* "METHOD URL?QUERY" of each request */
	char auth[128];
	scenario_fn scenario;
	int seen;        /* items the client has received, for gates (atomic) */
	int connections; /* TCP connections accepted (atomic) */
	int stopping;
};

struct stream_state {
	struct srv *s;
	struct reply r;
	int idx;
	size_t off;
};

static enum MHD_Result query_append(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	char *q = cls;
	size_t n = strlen(q);

	(void)kind;
	snprintf(q + n, 384 - n, "%s%s=%s", n ? "&" : "", key, value ? value : "");
	return MHD_YES;
}

static bool wait_gate(struct stream_state *st, int gate)
{
	int i;

	for (i = 0; i < 400; i++) { /* at most 2 s */
		if (__atomic_load_n(&st->s->stopping, __ATOMIC_SEQ_CST))
			return false;
		if (__atomic_load_n(&st->s->seen, __ATOMIC_SEQ_CST) >= gate)
			return true;
		usleep(5000);
	}
	return true;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_state *st = cls;
	const char *chunk;
	size_t n;

	(void)pos;
	if (st->idx >= st->r.nchunks) {
		if (!st->r.hold_open)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (!wait_gate(st, 1 << 30))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	if (st->off == 0 && !wait_gate(st, st->r.gates[st->idx]))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	chunk = st->r.chunks[st->idx];
	n = strlen(chunk) - st->off;
	n = n < max ? n : max;
	memcpy(buf, chunk + st->off, n);
	st->off += n;
	if (st->off == strlen(chunk)) {
		st->idx++;
		st->off = 0;
	}
	return (ssize_t)n;
}

static struct MHD_Response *make_response(struct srv *s, const struct reply *r)
{
	struct MHD_Response *resp;
	struct stream_state *st;

	if (r->stream) {
		st = vs_xcalloc(1, sizeof(*st));
		st->s = s;
		st->r = *r;
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, stream_read, st, free);
	} else {
		const char *b = r->body ? r->body : "";
		resp = MHD_create_response_from_buffer(strlen(b), (void *)b, MHD_RESPMEM_MUST_COPY);
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	if (r->retry_after)
		MHD_add_response_header(resp, "Retry-After", r->retry_after);
	return resp;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct srv *s = cls;
	struct reply r = { .status = 200 };
	struct MHD_Response *resp;
	char query[384] = "";
	const char *auth;
	enum MHD_Result ret;
	int hit;

	(void)version;
	(void)upload;
	if (!*con_cls) {
		*con_cls = s;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* bodies are not inspected */
		return MHD_YES;
	}
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_append, query);
	auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	pthread_mutex_lock(&s->lock);
	hit = s->hits++;
	if (hit < 16)
		snprintf(s->log[hit], sizeof(s->log[hit]), "%s %s?%s", method, url, query);
	snprintf(s->auth, sizeof(s->auth), "%s", auth ? auth : "");
	pthread_mutex_unlock(&s->lock);
	s->scenario(s, hit, method, url, query, &r);
	if (r.reset)
		return MHD_NO;
	resp = make_response(s, &r);
	ret = MHD_queue_response(conn, (unsigned)r.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	struct srv *s = cls;

	(void)conn;
	(void)socket_ctx;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		__atomic_add_fetch(&s->connections, 1, __ATOMIC_SEQ_CST);
}

static char tmpdir[64];

static void srv_start(struct srv *s, scenario_fn scenario)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	const union MHD_DaemonInfo *info;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->scenario = scenario;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, handle,
				s, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				MHD_OPTION_END);
	assert_non_null(s->d);
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", (unsigned)info->port);
}

static void srv_stop(struct srv *s)
{
	__atomic_store_n(&s->stopping, 1, __ATOMIC_SEQ_CST);
	MHD_stop_daemon(s->d);
	pthread_mutex_destroy(&s->lock);
}

static int srv_hits(struct srv *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->hits;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* A kubeconfig for the server with a bearer token, and a client with quick retries and outage's
 * budgets, function and context (outage may be NULL: a budget of 3 s). */
static void client_with(struct srv *s, const vs_kube_client_opts *outage, vs_kube_config **cfg, vs_kube_client **c)
{
	vs_kube_client_opts opts = { .outage_budget_ms = 3000, .backoff_base_ms = 10, .backoff_cap_ms = 50 };
	char *path = vs_xasprintf("%s/config", tmpdir);
	char *text = vs_xasprintf("current-context: t\n"
				  "clusters: [{name: c, cluster: {server: '%s'}}]\n"
				  "users: [{name: u, user: {token: test-token}}]\n"
				  "contexts: [{name: t, context: {cluster: c, user: u, namespace: default}}]\n",
				  s->url);
	vs_kube_config_opts copts = { .kubeconfig = path };
	vs_error err = { 0 };

	if (outage) {
		opts.outage_budget_ms = outage->outage_budget_ms;
		opts.first_contact_ms = outage->first_contact_ms;
		opts.outage_fn = outage->outage_fn;
		opts.outage_ctx = outage->outage_ctx;
	}
	assert_int_equal(vs_file_write_atomic(path, text, strlen(text), 0600, NULL), 0);
	if (vs_kube_config_load(&copts, cfg, &err) != 0)
		fail_msg("config: %s", err.message);
	assert_int_equal(vs_kube_client_new(*cfg, &opts, c, &err), 0);
	free(path);
	free(text);
}

static void client_for(struct srv *s, vs_kube_config **cfg, vs_kube_client **c)
{
	client_with(s, NULL, cfg, c);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vs-kube-client-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	unsetenv("KUBECONFIG");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return vs_rm_rf(tmpdir, NULL);
}

/* ---- pagination -------------------------------------------------------------------------------- */

static const char *const pvc_data = "{\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":\"data\","
				    "\"namespace\":\"default\",\"resourceVersion\":\"7\"}}";

static void scenario_pages(struct srv *s, int hit, const char *method, const char *url, const char *query,
			   struct reply *r)
{
	(void)s;
	(void)hit;
	(void)method;
	(void)url;
	if (!strstr(query, "continue="))
		r->body = "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"99\","
			  "\"continue\":\"tok-2\",\"remainingItemCount\":3},\"items\":[{\"metadata\":{\"name\":\"a\"}},"
			  "{\"metadata\":{\"name\":\"b\"}}]}";
	else if (strstr(query, "continue=tok-2"))
		r->body = "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"99\",\"continue\":\"tok-3\"},"
			  "\"items\":[{\"metadata\":{\"name\":\"c\"}},{\"metadata\":{\"name\":\"d\"}}]}";
	else
		r->body = "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"99\"},"
			  "\"items\":[{\"metadata\":{\"name\":\"e\"}}]}";
}

static void test_kube_client__list_follows_pages(void **state)
{
	vs_kube_list_opts lo = { .label_selector = "app=web,tier in (db)", .limit = 2 };
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	json_t *list = NULL;
	struct srv s;
	const char *names = "abcde";
	size_t i;

	(void)state;
	srv_start(&s, scenario_pages);
	client_for(&s, &cfg, &c);
	assert_int_equal(vs_kube_list(c, &VS_KUBE_PODS, "default", &lo, &list, &err), 0);
	assert_int_equal(srv_hits(&s), 3);
	assert_string_equal(vs_json_str(list, "kind"), "PodList");
	assert_int_equal(json_array_size(json_object_get(list, "items")), 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(vs_kube_obj_name(json_array_get(json_object_get(list, "items"), i))[0], names[i]);
	assert_null(vs_json_path(list, "metadata.continue"));
	assert_null(vs_json_path(list, "metadata.remainingItemCount"));
	assert_string_equal(vs_kube_obj_resource_version(list), "99");
	assert_non_null(strstr(s.log[0], "GET /api/v1/namespaces/default/pods?"));
	assert_non_null(strstr(s.log[0], "labelSelector=app=web,tier in (db)"));
	assert_non_null(strstr(s.log[0], "limit=2"));
	assert_non_null(strstr(s.log[2], "continue=tok-3"));
	assert_string_equal(s.auth, "Bearer test-token");
	json_decref(list);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

/* The second page's token expired (410, reason Expired, as a real API server says it): the list
 * is made again in one go, as client-go's pager does. */
static void scenario_pages_expired(struct srv *s, int hit, const char *method, const char *url, const char *query,
				   struct reply *r)
{
	(void)s;
	(void)method;
	(void)url;
	if (hit == 0) {
		r->body = "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"99\",\"continue\":\"tok-2\"},"
			  "\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"c\"}}]}";
	} else if (strstr(query, "continue=tok-2")) {
		r->status = 410;
		r->body = "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\",\"message\":\"The provided "
			  "continue parameter is too old to display a consistent list result.\"}";
	} else {
		r->body = "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"120\"},\"items\":["
			  "{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"c\"}},{\"metadata\":{\"name\":"
			  "\"d\"}}]}";
	}
}

static bool keep_not_c(const json_t *item, void *ctx)
{
	(void)ctx;
	return strcmp(vs_kube_obj_name(item), "c") != 0;
}

static void test_kube_client__list_keeps_and_starts_again_when_its_token_expired(void **state)
{
	vs_kube_list_opts lo = { .limit = 2, .keep = keep_not_c };
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	json_t *list = NULL;
	struct srv s;

	(void)state;
	srv_start(&s, scenario_pages_expired);
	client_for(&s, &cfg, &c);
	assert_int_equal(vs_kube_list(c, &VS_KUBE_PODS, "default", &lo, &list, &err), 0);
	assert_int_equal(srv_hits(&s), 3);
	assert_null(strstr(s.log[2], "continue="));
	assert_null(strstr(s.log[2], "limit="));
	assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
	assert_string_equal(vs_kube_obj_name(json_array_get(json_object_get(list, "items"), 0)), "a");
	assert_string_equal(vs_kube_obj_name(json_array_get(json_object_get(list, "items"), 1)), "d");
	assert_string_equal(vs_kube_obj_resource_version(list), "120");
	json_decref(list);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

/* ---- retries and errors ------------------------------------------------------------------------ */

static void scenario_503_then_ok(struct srv *s, int hit, const char *method, const char *url, const char *query,
				 struct reply *r)
{
	(void)s;
	(void)method;
	(void)url;
	(void)query;
	if (hit == 0) {
		r->status = 503;
		r->body = "{\"kind\":\"Status\",\"reason\":\"ServiceUnavailable\",\"message\":\"etcd leader changed\","
			  "\"code\":503}";
	} else {
		r->body = pvc_data;
	}
}

static void test_kube_client__retries_503(void **state)
{
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	json_t *obj = NULL;
	struct srv s;

	(void)state;
	srv_start(&s, scenario_503_then_ok);
	client_for(&s, &cfg, &c);
	assert_int_equal(vs_kube_get(c, &VS_KUBE_PVCS, "default", "data", &obj, &err), 0);
	assert_int_equal(srv_hits(&s), 2);
	assert_string_equal(vs_kube_obj_name(obj), "data");
	assert_string_equal(s.log[1], "GET /api/v1/namespaces/default/persistentvolumeclaims/data?");
	json_decref(obj);

	/* A create is not retried on 503: the server may have acted on it. */
	s.hits = 0;
	obj = json_pack("{s:{s:s}}", "metadata", "name", "new");
	assert_int_equal(vs_kube_create(c, &VS_KUBE_PVCS, "default", obj, NULL, &err), VS_EAPI);
	assert_int_equal(srv_hits(&s), 1);
	assert_int_equal(err.http_status, 503);
	assert_string_equal(err.message, "create persistentvolumeclaims default/new: etcd leader changed");
	json_decref(obj);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

/* A create that the server closes without a reply, after it may have acted on it. */
static void scenario_reset_create(struct srv *s, int hit, const char *method, const char *url, const char *query,
				  struct reply *r)
{
	(void)s;
	(void)hit;
	(void)url;
	(void)query;
	if (!strcmp(method, "POST"))
		r->reset = true;
	else
		r->body = pvc_data;
}

static void test_kube_client__create_not_sent_again_after_reset(void **state)
{
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	json_t *obj = NULL;
	struct srv s;

	(void)state;
	srv_start(&s, scenario_reset_create);
	client_for(&s, &cfg, &c);
	assert_int_equal(vs_kube_get(c, &VS_KUBE_PVCS, "default", "data", &obj, &err), 0);
	json_decref(obj);
	/* The create could reuse the GET's connection, and libcurl sends a request again by itself
	 * when a reused connection closes without a reply: the create must reach the server once. */
	obj = json_pack("{s:{s:s}}", "metadata", "name", "new");
	assert_int_equal(vs_kube_create(c, &VS_KUBE_PVCS, "default", obj, NULL, &err), VS_ENET);
	assert_int_equal(srv_hits(&s), 2);
	assert_true(vs_str_has_prefix(err.message, "create persistentvolumeclaims default/new: "));
	json_decref(obj);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

static void scenario_429(struct srv *s, int hit, const char *method, const char *url, const char *query,
			 struct reply *r)
{
	(void)s;
	(void)method;
	(void)url;
	(void)query;
	if (hit == 0) {
		r->status = 429;
		r->retry_after = "1";
		r->body = "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"message\":\"slow down\",\"code\":429}";
	} else {
		r->body = pvc_data;
	}
}

static void test_kube_client__honours_retry_after(void **state)
{
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	json_t *obj = NULL;
	int64_t t0, elapsed;
	struct srv s;

	(void)state;
	srv_start(&s, scenario_429);
	client_for(&s, &cfg, &c);
	t0 = vs_time_mono_ms();
	assert_int_equal(vs_kube_get(c, &VS_KUBE_PVCS, "default", "data", &obj, &err), 0);
	elapsed = vs_time_mono_ms() - t0;
	assert_int_equal(srv_hits(&s), 2);
	/* The backoff cap is 50 ms: only Retry-After explains a wait of a second. */
	assert_in_range(elapsed, 950, 2900);
	json_decref(obj);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

static void scenario_errors(struct srv *s, int hit, const char *method, const char *url, const char *query,
			    struct reply *r)
{
	(void)s;
	(void)hit;
	(void)url;
	(void)query;
	if (!strcmp(method, "PUT")) {
		r->status = 409;
		r->body = "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Conflict\",\"code\":409,\"message\":"
			  "\"Operation cannot be fulfilled on persistentvolumeclaims \\\"data\\\": the object has been "
			  "modified\"}";
	} else {
		r->status = 404;
		r->body = "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NotFound\",\"code\":404,"
			  "\"message\":\"persistentvolumeclaims \\\"data\\\" not found\"}";
	}
}

static void test_kube_client__conflict_and_not_found(void **state)
{
	json_t *obj = json_loads(pvc_data, 0, NULL), *out = NULL;
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	struct srv s;

	(void)state;
	srv_start(&s, scenario_errors);
	client_for(&s, &cfg, &c);
	assert_int_equal(vs_kube_update(c, &VS_KUBE_PVCS, "default", obj, &out, &err), VS_EAPI);
	assert_null(out);
	assert_int_equal(srv_hits(&s), 1); /* never retried */
	assert_true(vs_error_is(&err, "Conflict"));
	assert_int_equal(err.http_status, 409);
	assert_true(vs_str_has_prefix(err.message, "update persistentvolumeclaims default/data: Operation cannot"));

	assert_int_equal(vs_kube_get(c, &VS_KUBE_PVCS, "default", "data", &out, &err), VS_EAPI);
	assert_int_equal(srv_hits(&s), 2);
	assert_true(vs_error_is(&err, "NotFound"));
	assert_string_equal(err.message, "get persistentvolumeclaims default/data: persistentvolumeclaims \"data\" not found");

	assert_int_equal(vs_kube_get(c, &VS_KUBE_PVS, NULL, "pv-1", &out, &err), VS_EAPI);
	assert_string_equal(s.log[2], "GET /api/v1/persistentvolumes/pv-1?");
	assert_true(vs_str_has_prefix(err.message, "get persistentvolumes pv-1: "));
	json_decref(obj);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

static void test_kube_client__connection_refused_within_budget(void **state)
{
	vs_kube_client_opts opts = { .outage_budget_ms = 300, .backoff_base_ms = 10, .backoff_cap_ms = 50 };
	vs_kube_config *cfg;
	vs_kube_client *c, *c2;
	vs_error err = { 0 };
	json_t *obj = NULL;
	int64_t t0, elapsed;
	struct srv s;

	(void)state;
	srv_start(&s, scenario_errors);
	client_for(&s, &cfg, &c);
	srv_stop(&s); /* nothing listens on the port any more */
	assert_int_equal(vs_kube_client_new(cfg, &opts, &c2, &err), 0);
	t0 = vs_time_mono_ms();
	assert_int_equal(vs_kube_get(c2, &VS_KUBE_PVCS, "default", "data", &obj, &err), VS_EUNAVAILABLE);
	elapsed = vs_time_mono_ms() - t0;
	assert_in_range(elapsed, 200, 2500);
	assert_true(vs_str_has_prefix(err.message, "get persistentvolumeclaims default/data: "));
	vs_kube_client_free(c2);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
}

static void scenario_ok(struct srv *s, int hit, const char *method, const char *url, const char *query,
			struct reply *r)
{
	(void)s;
	(void)hit;
	(void)method;
	(void)url;
	(void)query;
	r->body = pvc_data;
}

static void *get_many(void *arg)
{
	vs_kube_client *c = arg;
	vs_error err = { 0 };
	json_t *obj;
	int i;

	for (i = 0; i < 25; i++) {
		obj = NULL;
		if (vs_kube_get(c, &VS_KUBE_PVCS, "default", "data", &obj, &err) != 0 || !vs_kube_obj_name(obj))
			return (void *)1;
		json_decref(obj);
	}
	return NULL;
}

static void test_kube_client__keepalive_and_threads(void **state)
{
	pthread_t th[4];
	vs_kube_config *cfg;
	vs_kube_client *c;
	void *ret;
	struct srv s;
	int i;

	(void)state;
	srv_start(&s, scenario_ok);
	client_for(&s, &cfg, &c);
	assert_null(get_many(c));
	assert_int_equal(__atomic_load_n(&s.connections, __ATOMIC_SEQ_CST), 1); /* one kept-alive connection */
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, get_many, c), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(srv_hits(&s), 125);
	assert_in_range(__atomic_load_n(&s.connections, __ATOMIC_SEQ_CST), 1, 5); /* reused, not one per request */
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

/* ---- watch ------------------------------------------------------------------------------------- */

#define EV(type, name, rv)                                                                                      \
	"{\"type\":\"" type "\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"" name                        \
	"\",\"resourceVersion\":\"" rv "\"}}}\n"

static void scenario_watch(struct srv *s, int hit, const char *method, const char *url, const char *query,
			   struct reply *r)
{
	(void)s;
	(void)method;
	(void)url;
	r->stream = true;
	if (strstr(query, "resourceVersion=10")) {
		/* The second event is split across chunks, and sent only once the first was delivered. */
		static const char ev2[] = EV("MODIFIED", "p1", "12");
		static char half1[sizeof(ev2)], half2[sizeof(ev2)];
		size_t h = sizeof(ev2) / 2;

		memcpy(half1, ev2, h);
		half1[h] = '\0';
		strcpy(half2, ev2 + h);
		r->chunks[0] = EV("ADDED", "p1", "11");
		r->chunks[1] = half1;
		r->gates[1] = 1;
		r->chunks[2] = half2;
		r->nchunks = 3; /* then the server ends the stream */
	} else if (strstr(query, "resourceVersion=12")) {
		r->chunks[0] = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":"
			       "\"13\"}}}\n";
		r->chunks[1] = EV("DELETED", "p1", "14");
		r->nchunks = 2;
		r->hold_open = true;
	} else {
		r->status = 400;
		r->stream = false;
		r->body = "{\"kind\":\"Status\",\"reason\":\"BadRequest\",\"message\":\"unexpected watch\"}";
	}
	(void)hit;
}

struct events {
	struct srv *s;
	char seen[8][64];
	int n;
	int stop_after;
};

static int on_event(const char *type, json_t *obj, void *ctx)
{
	struct events *e = ctx;

	if (e->n < 8)
		snprintf(e->seen[e->n], sizeof(e->seen[0]), "%s %s %s", type,
			 vs_kube_obj_name(obj) ? vs_kube_obj_name(obj) : "-", vs_kube_obj_resource_version(obj));
	e->n++;
	__atomic_add_fetch(&e->s->seen, 1, __ATOMIC_SEQ_CST);
	return e->n >= e->stop_after;
}

static void test_kube_client__watch_resumes(void **state)
{
	vs_kube_watch_opts wo = { .resource_version = "10", .label_selector = "app=web", .timeout_ms = 5000 };
	struct events e = { .stop_after = 3 };
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	struct srv s;

	(void)state;
	srv_start(&s, scenario_watch);
	e.s = &s;
	client_for(&s, &cfg, &c);
	assert_int_equal(vs_kube_watch(c, &VS_KUBE_PODS, "default", &wo, on_event, &e, &err), 0);
	assert_int_equal(e.n, 3);
	assert_string_equal(e.seen[0], "ADDED p1 11");
	assert_string_equal(e.seen[1], "MODIFIED p1 12");
	assert_string_equal(e.seen[2], "DELETED p1 14"); /* the bookmark is not an event */
	assert_int_equal(srv_hits(&s), 2);
	assert_non_null(strstr(s.log[0], "watch=1"));
	assert_non_null(strstr(s.log[0], "labelSelector=app=web"));
	assert_non_null(strstr(s.log[1], "resourceVersion=12"));
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

static void scenario_watch_gone(struct srv *s, int hit, const char *method, const char *url, const char *query,
				struct reply *r)
{
	(void)s;
	(void)method;
	(void)url;
	(void)hit;
	if (!strstr(query, "watch=1")) {
		r->body = "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"50\"},\"items\":[{\"metadata\":"
			  "{\"name\":\"p2\",\"resourceVersion\":\"45\"}}]}";
		return;
	}
	r->stream = true;
	if (strstr(query, "resourceVersion=5&") || vs_str_has_suffix(query, "resourceVersion=5")) {
		r->chunks[0] = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","
			       "\"message\":\"too old resource version: 5 (40)\"}}\n";
		r->nchunks = 1;
		r->hold_open = true;
	} else if (strstr(query, "resourceVersion=50")) {
		r->chunks[0] = EV("ADDED", "p3", "51");
		r->nchunks = 1;
		r->hold_open = true;
	} else {
		r->status = 410;
		r->stream = false;
		r->body = "{\"kind\":\"Status\",\"reason\":\"Gone\",\"code\":410,\"message\":\"unexpected\"}";
	}
}

static void test_kube_client__watch_relists_on_gone(void **state)
{
	vs_kube_watch_opts wo = { .resource_version = "5", .timeout_ms = 5000 };
	struct events e = { .stop_after = 2 };
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	struct srv s;

	(void)state;
	srv_start(&s, scenario_watch_gone);
	e.s = &s;
	client_for(&s, &cfg, &c);
	assert_int_equal(vs_kube_watch(c, &VS_KUBE_PODS, "default", &wo, on_event, &e, &err), 0);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.seen[0], "RELIST - 50");
	assert_string_equal(e.seen[1], "ADDED p3 51");
	assert_int_equal(srv_hits(&s), 3);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

static void test_kube_client__watch_timeout(void **state)
{
	vs_kube_watch_opts wo = { .resource_version = "12", .timeout_ms = 300 };
	struct events e = { .stop_after = 100 };
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	int64_t t0, elapsed;
	struct srv s;

	(void)state;
	srv_start(&s, scenario_watch);
	e.s = &s;
	client_for(&s, &cfg, &c);
	t0 = vs_time_mono_ms();
	assert_int_equal(vs_kube_watch(c, &VS_KUBE_PODS, "default", &wo, on_event, &e, &err), VS_ETIMEOUT);
	elapsed = vs_time_mono_ms() - t0;
	assert_in_range(elapsed, 250, 2500);
	assert_int_equal(e.n, 1); /* the DELETED event came before the timeout */
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

/* Every watch ends at once without an event, as a server ends quiet watches on its timeouts. */
static void scenario_watch_quiet(struct srv *s, int hit, const char *method, const char *url, const char *query,
				 struct reply *r)
{
	(void)s;
	(void)hit;
	(void)method;
	(void)url;
	(void)query;
	r->stream = true;
}

static void test_kube_client__quiet_watch_ends_are_not_failures(void **state)
{
	vs_kube_watch_opts wo = { .resource_version = "12", .timeout_ms = 4000 };
	struct events e = { .stop_after = 1 };
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	int64_t t0, elapsed;
	struct srv s;

	(void)state;
	srv_start(&s, scenario_watch_quiet);
	e.s = &s;
	client_for(&s, &cfg, &c); /* a retry budget of 3 s, shorter than the watch's time */
	t0 = vs_time_mono_ms();
	assert_int_equal(vs_kube_watch(c, &VS_KUBE_PODS, "default", &wo, on_event, &e, &err), VS_ETIMEOUT);
	elapsed = vs_time_mono_ms() - t0;
	assert_in_range(elapsed, 3900, 6000);
	assert_int_equal(e.n, 0);
	assert_true(srv_hits(&s) > 10);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

/* ---- waits ------------------------------------------------------------------------------------- */

#define POD(name, rv, phase)                                                                                        \
	"{\"kind\":\"Pod\",\"metadata\":{\"name\":\"" name "\",\"namespace\":\"default\",\"resourceVersion\":\"" rv \
	"\"},\"status\":{\"phase\":\"" phase "\"}}"

/* A list of p1 (Pending) and p2 (Running) at version 20; a watch from 20 sees p1 Running, then stays
 * open without another event. */
static void scenario_wait(struct srv *s, int hit, const char *method, const char *url, const char *query,
			  struct reply *r)
{
	(void)s;
	(void)hit;
	(void)method;
	(void)url;
	if (!strstr(query, "watch=1")) {
		r->body = "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"20\"},\"items\":[" POD(
			"p1", "18", "Pending") "," POD("p2", "19", "Running") "]}";
		return;
	}
	r->stream = true;
	if (strstr(query, "resourceVersion=20")) {
		r->chunks[0] = "{\"type\":\"MODIFIED\",\"object\":" POD("p1", "21", "Running") "}\n";
		r->nchunks = 1;
		r->hold_open = true;
	} else {
		r->status = 400;
		r->stream = false;
		r->body = "{\"kind\":\"Status\",\"reason\":\"BadRequest\",\"message\":\"unexpected watch\"}";
	}
}

struct phases {
	const char *want;
	int asked;
};

/* Every pod in phase ph->want; *seen: the first that is not. */
static bool pods_in_phase(const json_t *pods, char **seen, void *ctx)
{
	struct phases *ph = ctx;
	const char *name;
	json_t *pod;

	ph->asked++;
	json_object_foreach ((json_t *)pods, name, pod) {
		const char *phase = vs_json_str_or(pod, "status.phase", "");
		if (strcmp(phase, ph->want) != 0) {
			*seen = vs_xasprintf("%s is %s", name, phase);
			return false;
		}
	}
	return true;
}

static bool pod_in_phase(const json_t *pod, char **seen, void *ctx)
{
	struct phases *ph = ctx;

	ph->asked++;
	*seen = vs_xstrdup(vs_json_str_or(pod, "status.phase", "absent"));
	return strcmp(*seen, ph->want) == 0;
}

/* A server playing scenario_wait and a client for it, as the state of the wait tests. */
struct wait_fixture {
	struct srv s;
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err;
};

static int wait_setup(void **state)
{
	struct wait_fixture *f = vs_xcalloc(1, sizeof(*f));

	setup(state);
	srv_start(&f->s, scenario_wait);
	client_for(&f->s, &f->cfg, &f->c);
	*state = f;
	return 0;
}

static int wait_teardown(void **state)
{
	struct wait_fixture *f = *state;

	vs_kube_client_free(f->c);
	vs_kube_config_free(f->cfg);
	srv_stop(&f->s);
	free(f);
	return teardown(state);
}

static void test_kube_client__wait_lists_then_watches(void **state)
{
	vs_kube_wait_opts o = { .label_selector = "app=web", .timeout_ms = 5000 };
	struct phases ph = { .want = "Running" };
	struct wait_fixture *f = *state;

	assert_int_equal(vs_kube_wait(f->c, &VS_KUBE_PODS, "default", &o, pods_in_phase, &ph, &f->err), 0);
	assert_int_equal(ph.asked, 2); /* the list, then the event */
	assert_int_equal(srv_hits(&f->s), 2);
	assert_null(strstr(f->s.log[0], "watch=1"));
	assert_non_null(strstr(f->s.log[0], "labelSelector=app=web"));
	assert_non_null(strstr(f->s.log[1], "resourceVersion=20"));
}

static bool not_p1(const json_t *pod, void *ctx)
{
	(void)ctx;
	return strcmp(vs_json_str_or(pod, "metadata.name", ""), "p1") != 0;
}

/* A wait holds only what its keep function keeps: without p1 (Pending), the list alone is enough. */
static void test_kube_client__wait_holds_only_what_it_keeps(void **state)
{
	vs_kube_wait_opts o = { .timeout_ms = 5000, .keep = not_p1 };
	struct phases ph = { .want = "Running" };
	struct wait_fixture *f = *state;

	assert_int_equal(vs_kube_wait(f->c, &VS_KUBE_PODS, "default", &o, pods_in_phase, &ph, &f->err), 0);
	assert_int_equal(ph.asked, 1);
	assert_int_equal(srv_hits(&f->s), 1);
}

static void test_kube_client__wait_times_out_saying_what_it_saw(void **state)
{
	vs_kube_wait_opts o = { .timeout_ms = 400, .what = "the pods to succeed" };
	struct phases ph = { .want = "Succeeded" };
	struct wait_fixture *f = *state;

	assert_int_equal(vs_kube_wait(f->c, &VS_KUBE_PODS, "default", &o, pods_in_phase, &ph, &f->err), VS_ETIMEOUT);
	assert_string_equal(f->err.message,
			    "timed out after 0s waiting for the pods to succeed; last seen: p1 is Running");
}

static void test_kube_client__wait_from_a_known_object(void **state)
{
	vs_kube_wait_opts o = { .timeout_ms = 5000 };
	struct phases ph = { .want = "Running" };
	json_t *known = json_loads(POD("p1", "20", "Pending"), 0, NULL), *last = NULL;
	struct wait_fixture *f = *state;

	assert_int_equal(vs_kube_wait_from(f->c, &VS_KUBE_PODS, known, &o, pod_in_phase, &ph, &last, &f->err), 0);
	assert_int_equal(ph.asked, 2); /* the known object, then the event: no list */
	assert_int_equal(srv_hits(&f->s), 1);
	assert_non_null(strstr(f->s.log[0], "fieldSelector=metadata.name=p1"));
	assert_string_equal(vs_kube_obj_resource_version(last), "21");
	json_decref(known);
	json_decref(last);
}

static void test_kube_client__pod_ended(void **state)
{
	json_t *running = json_loads(POD("p1", "1", "Running"), 0, NULL);
	json_t *failed = json_loads(POD("p1", "2", "Failed"), 0, NULL);
	char *seen = NULL;

	(void)state;
	assert_false(vs_kube_pod_ended(running, &seen, NULL));
	assert_string_equal(seen, "phase Running");
	free(seen);
	assert_true(vs_kube_pod_ended(failed, NULL, NULL));
	assert_true(vs_kube_pod_ended(NULL, &seen, NULL));
	assert_string_equal(seen, "phase (gone)");
	free(seen);
	json_decref(running);
	json_decref(failed);
}

static int64_t cancel_at;

static bool cancel_due(void)
{
	return vs_time_mono_ms() >= cancel_at;
}

/* A cancelled wait ends while its watch is open and quiet, long before its time (and before the
 * test server ends the quiet stream, after 2 s). */
static void test_kube_client__wait_cancelled(void **state)
{
	vs_kube_wait_opts o = { .timeout_ms = 10000, .cancel = cancel_due };
	struct phases ph = { .want = "Succeeded" };
	struct wait_fixture *f = *state;
	int64_t t0, elapsed;

	t0 = vs_time_mono_ms();
	cancel_at = t0 + 300;
	assert_int_equal(
		vs_kube_wait_object(f->c, &VS_KUBE_PODS, "default", "p1", &o, pod_in_phase, &ph, NULL, &f->err),
		VS_ECANCEL);
	elapsed = vs_time_mono_ms() - t0;
	assert_in_range(elapsed, 300, 1900);
	assert_string_equal(f->err.message, "stopped on request while waiting for pods default/p1");
	assert_int_equal(srv_hits(&f->s), 2); /* the list and one watch */
}

/* ---- logs -------------------------------------------------------------------------------------- */

static void scenario_logs(struct srv *s, int hit, const char *method, const char *url, const char *query,
			  struct reply *r)
{
	(void)s;
	(void)hit;
	(void)method;
	(void)query;
	if (strcmp(url, "/api/v1/namespaces/default/pods/copy-0/log") != 0) {
		r->status = 404;
		return;
	}
	r->stream = true;
	r->chunks[0] = "line one\nline t";
	r->chunks[1] = "wo\n";
	r->gates[1] = 1; /* sent only after the client has the first line */
	r->chunks[2] = "line three";
	r->gates[2] = 2;
	r->nchunks = 3;
}

struct lines {
	struct srv *s;
	char seen[4][32];
	int n;
};

static int on_line(const char *line, size_t len, void *ctx)
{
	struct lines *l = ctx;

	assert_int_equal(strlen(line), len);
	if (l->n < 4)
		snprintf(l->seen[l->n], sizeof(l->seen[0]), "%s", line);
	l->n++;
	__atomic_add_fetch(&l->s->seen, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void test_kube_client__logs_follow(void **state)
{
	vs_kube_log_opts lo = { .container = "rsync", .follow = true, .timeout_ms = 5000 };
	struct lines l = { 0 };
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	struct srv s;

	(void)state;
	srv_start(&s, scenario_logs);
	l.s = &s;
	client_for(&s, &cfg, &c);
	assert_int_equal(vs_kube_logs(c, "default", "copy-0", &lo, on_line, &l, &err), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.seen[0], "line one");
	assert_string_equal(l.seen[1], "line two");
	assert_string_equal(l.seen[2], "line three");
	assert_non_null(strstr(s.log[0], "container=rsync"));
	assert_non_null(strstr(s.log[0], "follow=true"));
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

/* ---- the outage budget --------------------------------------------------------------------------- */

/* The reports a client made, in order. */
struct reports {
	pthread_mutex_t lock;
	enum vs_kube_outage_state states[64];
	int n;
	bool never_answered; /* of the last one */
	char last[700];	     /* its text */
};

static void on_outage(const vs_kube_outage *ev, void *ctx)
{
	struct reports *r = ctx;

	pthread_mutex_lock(&r->lock);
	if (r->n < 64)
		r->states[r->n++] = ev->state;
	r->never_answered = ev->never_answered;
	vs_kube_outage_describe(ev, r->last, sizeof(r->last));
	pthread_mutex_unlock(&r->lock);
}

/* Resets every request while the clock is before reset_until, else serves pvc_data; 503 for every
 * request of pods. */
static int64_t reset_until;

static void scenario_outage(struct srv *s, int hit, const char *method, const char *url, const char *query,
			    struct reply *r)
{
	(void)s;
	(void)hit;
	(void)method;
	(void)query;
	if (vs_time_mono_ms() < __atomic_load_n(&reset_until, __ATOMIC_SEQ_CST)) {
		r->reset = true;
	} else if (strstr(url, "/pods")) {
		r->status = 503;
		r->body = "{\"kind\":\"Status\",\"reason\":\"ServiceUnavailable\",\"message\":\"no\",\"code\":503}";
	} else {
		r->body = pvc_data;
	}
}

/* What an outage test works with (outage_setup, outage_teardown): a server, a client reporting to
 * rep, and the outcome of the request the test makes. */
struct outage_case {
	struct reports rep;
	struct srv s;
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err;
	json_t *obj;
	int64_t ms; /* how long that request took */
};

static int outage_setup(void **state)
{
	struct outage_case *t = vs_xcalloc(1, sizeof(*t));

	pthread_mutex_init(&t->rep.lock, NULL);
	__atomic_store_n(&reset_until, 0, __ATOMIC_SEQ_CST);
	*state = t;
	return setup(state);
}

static int outage_teardown(void **state)
{
	struct outage_case *t = *state;

	json_decref(t->obj);
	vs_kube_client_free(t->c);
	vs_kube_config_free(t->cfg);
	pthread_mutex_destroy(&t->rep.lock);
	free(t);
	return teardown(state);
}

/* t's client for its server running scenario (started here), with these budgets, reporting to t->rep. */
static void outage_client(struct outage_case *t, scenario_fn scenario, int64_t budget_ms, int64_t first_contact_ms)
{
	vs_kube_client_opts opts = { .outage_budget_ms = budget_ms,
				     .first_contact_ms = first_contact_ms,
				     .outage_fn = on_outage,
				     .outage_ctx = &t->rep };

	srv_start(&t->s, scenario);
	client_with(&t->s, &opts, &t->cfg, &t->c);
}

/* GET the claim data with t's client: its outcome, and how long it took. */
static int outage_get(struct outage_case *t)
{
	int64_t t0 = vs_time_mono_ms();
	int rc;

	json_decref(t->obj);
	t->obj = NULL;
	rc = vs_kube_get(t->c, &VS_KUBE_PVCS, "default", "data", &t->obj, &t->err);
	t->ms = vs_time_mono_ms() - t0;
	return rc;
}

/* Once c gave up: a request fails at once, saying so, and nothing is sent. */
static void assert_given_up(vs_kube_client *c)
{
	json_t *obj = json_pack("{s:{s:s}}", "metadata", "name", "new");
	uint64_t sent = vs_kube_client_requests(c);
	vs_error err = { 0 };

	assert_true(vs_kube_client_unavailable(c));
	assert_int_equal(vs_kube_create(c, &VS_KUBE_PVCS, "default", obj, NULL, &err), VS_EUNAVAILABLE);
	assert_true(vs_str_has_prefix(err.message, "create persistentvolumeclaims default/new: the API server at "));
	assert_int_equal(vs_kube_client_requests(c), sent);
	json_decref(obj);
}

/* Nothing listens on the port, and never did: reported after the first-contact budget, with the
 * kubeconfig it came from, and no other request is sent. */
static void test_kube_client__never_answered_is_reported_after_the_first_contact_budget(void **state)
{
	struct outage_case *t = *state;
	char *origin;

	outage_client(t, scenario_ok, 60000, 1000);
	srv_stop(&t->s); /* nothing listens on the port any more */
	assert_int_equal(outage_get(t), VS_EUNAVAILABLE);
	assert_in_range(t->ms, 900, 30000); /* the first-contact budget, not the outage budget of 60 s */
	origin = vs_xasprintf("(kubeconfig %s/config, context t) does not answer (connection refused)", tmpdir);
	assert_non_null(strstr(t->err.message, t->s.url));
	assert_non_null(strstr(t->err.message, origin));
	assert_true(vs_str_has_prefix(t->err.message, "get persistentvolumeclaims default/data: the API server at "));
	assert_false(vs_kube_error_transient(&t->err));
	assert_true(t->rep.n >= 1);
	assert_int_equal(t->rep.states[t->rep.n - 1], VS_KUBE_OUTAGE_GAVE_UP);
	assert_true(t->rep.never_answered);
	assert_given_up(t->c);
	free(origin);
}

/* The server answered, then went away: waited for with reports until the budget, then given up for
 * every request. */
static void test_kube_client__gone_server_is_waited_for_then_given_up(void **state)
{
	struct outage_case *t = *state;

	outage_client(t, scenario_ok, 3000, 0);
	assert_int_equal(outage_get(t), 0);
	srv_stop(&t->s);
	assert_int_equal(outage_get(t), VS_EUNAVAILABLE);
	assert_in_range(t->ms, 2900, 60000);
	assert_non_null(strstr(t->err.message, "has not answered for 3 s (connection refused); gave up"));
	assert_int_equal(t->rep.states[0], VS_KUBE_OUTAGE_WAITING); /* after 2 s */
	assert_int_equal(t->rep.states[t->rep.n - 1], VS_KUBE_OUTAGE_GAVE_UP);
	assert_false(t->rep.never_answered);
	assert_given_up(t->c);
}

/* Every request reset for 4 s (a partition), inside a budget of 30 s: the request goes through once
 * it ends, and the reports say it waited, then that the server answers again. */
static void test_kube_client__short_outage_is_ridden_out(void **state)
{
	struct outage_case *t = *state;

	outage_client(t, scenario_outage, 30000, 0);
	assert_int_equal(outage_get(t), 0);
	__atomic_store_n(&reset_until, vs_time_mono_ms() + 4000, __ATOMIC_SEQ_CST);
	assert_int_equal(outage_get(t), 0);
	assert_string_equal(vs_kube_obj_name(t->obj), "data");
	assert_true(t->rep.n >= 2);
	assert_int_equal(t->rep.states[0], VS_KUBE_OUTAGE_WAITING);
	assert_int_equal(t->rep.states[t->rep.n - 1], VS_KUBE_OUTAGE_OVER);
	assert_false(vs_kube_client_unavailable(t->c));
	srv_stop(&t->s);
}

struct answering {
	vs_kube_client *c;
	int stop;
};

static void *keep_answering(void *arg)
{
	struct answering *a = arg;
	vs_error err = { 0 };
	json_t *obj;

	while (!__atomic_load_n(&a->stop, __ATOMIC_SEQ_CST)) {
		obj = NULL;
		vs_kube_get(a->c, &VS_KUBE_PVCS, "default", "data", &obj, &err);
		json_decref(obj);
		usleep(20000);
	}
	return NULL;
}

/* One request keeps getting 503 while the server answers others: it is bounded by the budget too,
 * without the client giving up. */
static void test_kube_client__one_failing_request_is_bounded(void **state)
{
	vs_kube_client_opts opts = { .outage_budget_ms = 1500 };
	struct answering a = { 0 };
	vs_kube_config *cfg;
	vs_error err = { 0 };
	json_t *obj = NULL;
	pthread_t th;
	struct srv s;

	(void)state;
	__atomic_store_n(&reset_until, 0, __ATOMIC_SEQ_CST);
	srv_start(&s, scenario_outage);
	client_with(&s, &opts, &cfg, &a.c);
	assert_int_equal(pthread_create(&th, NULL, keep_answering, &a), 0);
	assert_int_equal(vs_kube_get(a.c, &VS_KUBE_PODS, "default", "p", &obj, &err), VS_EUNAVAILABLE);
	assert_non_null(strstr(err.message, "get pods default/p: no (failing for "));
	assert_int_equal(err.http_status, 503);
	__atomic_store_n(&a.stop, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_false(vs_kube_client_unavailable(a.c));
	vs_kube_client_free(a.c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

struct watching {
	vs_kube_client *c;
	struct events e;
	vs_error err;
	int rc;
};

static void *watch_pods(void *arg)
{
	struct watching *w = arg;
	vs_kube_watch_opts wo = { .resource_version = "12" };

	w->rc = vs_kube_watch(w->c, &VS_KUBE_PODS, "default", &wo, on_event, &w->e, &w->err);
	return NULL;
}

/* A watch whose server goes away while it streams gives up with the client, within the budget. */
static void test_kube_client__watch_gives_up_with_the_client(void **state)
{
	vs_kube_client_opts opts = { .outage_budget_ms = 1500 };
	struct watching w = { .e = { .stop_after = 100 } };
	vs_kube_config *cfg;
	pthread_t th;
	struct srv s;
	int i;

	(void)state;
	srv_start(&s, scenario_watch);
	w.e.s = &s;
	client_with(&s, &opts, &cfg, &w.c);
	assert_int_equal(pthread_create(&th, NULL, watch_pods, &w), 0);
	for (i = 0; i < 2000 && __atomic_load_n(&s.seen, __ATOMIC_SEQ_CST) < 1; i++)
		usleep(5000);
	assert_int_equal(__atomic_load_n(&s.seen, __ATOMIC_SEQ_CST), 1); /* streaming, held open */
	srv_stop(&s); /* the open stream ends with an error, and nothing listens any more */
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(w.rc, VS_EUNAVAILABLE);
	assert_non_null(strstr(w.err.message, "watch pods in default: the API server at "));
	assert_non_null(strstr(w.err.message, "has not answered for "));
	assert_true(vs_kube_client_unavailable(w.c));
	vs_kube_client_free(w.c);
	vs_kube_config_free(cfg);
}

/* An action is run again after a Conflict 5 times at most, after a failure of the server while the
 * budget lasts, never after VS_EUNAVAILABLE or an error about the request. */
/* A SelfSubjectAccessReview names the verb, group and resource, the subresource and namespace only
 * when given; the answer is status.allowed, and a reply without it is an error naming the question. */
static void test_kube_client__access_review(void **state)
{
	(void)state;
	vs_kube_access log = { "get", "", "pods", "log", NULL };
	vs_kube_access cm = { "create", "", "configmaps", NULL, "volshift-system" };
	json_t *r = vs_kube_access_review_new(&log);
	char *text = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	bool allowed = true;
	vs_error err;

	assert_string_equal(text, "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SelfSubjectAccessReview\","
				  "\"spec\":{\"resourceAttributes\":{\"group\":\"\",\"resource\":\"pods\","
				  "\"subresource\":\"log\",\"verb\":\"get\"}}}");
	free(text);
	json_decref(r);
	r = vs_kube_access_review_new(&cm);
	assert_string_equal(vs_json_str(r, "spec.resourceAttributes.namespace"), "volshift-system");
	assert_null(vs_json_path(r, "spec.resourceAttributes.subresource"));
	json_decref(r);

	r = json_pack("{s:{s:b, s:s}}", "status", "allowed", 0, "reason", "");
	assert_int_equal(vs_kube_access_review_allowed(r, &cm, &allowed, &err), 0);
	assert_false(allowed);
	json_decref(r);
	r = json_pack("{s:{s:b}}", "status", "allowed", 1);
	assert_int_equal(vs_kube_access_review_allowed(r, &cm, &allowed, &err), 0);
	assert_true(allowed);
	json_decref(r);
	r = json_pack("{s:{}}", "status");
	assert_int_equal(vs_kube_access_review_allowed(r, &log, &allowed, &err), VS_EAPI);
	assert_non_null(strstr(err.message, "get pods/log"));
	json_decref(r);
}

static void test_kube_client__retry_next(void **state)
{
	vs_kube_client_opts opts = { .outage_budget_ms = 200 };
	vs_kube_retry conflicts = { 0 }, net = { 0 }, other = { 0 };
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	int64_t delay = -1;
	int n;
	struct srv s;

	(void)state;
	srv_start(&s, scenario_ok);
	client_with(&s, &opts, &cfg, &c);
	vs_error_set_api(&err, 409, "Conflict", "update x: conflict");
	for (n = 0; vs_kube_retry_next(c, &conflicts, &err, &delay); n++)
		assert_in_range(delay, 0, 8000);
	assert_int_equal(n, 5);
	vs_error_set(&err, VS_ENET, "get x: connection reset");
	assert_true(vs_kube_retry_next(c, &net, &err, &delay));
	usleep(250000);
	assert_false(vs_kube_retry_next(c, &net, &err, &delay)); /* failing for longer than the budget */
	vs_error_set(&err, VS_EUNAVAILABLE, "get x: the API server at ... gave up");
	assert_false(vs_kube_retry_next(c, &other, &err, &delay));
	vs_error_set_api(&err, 404, "NotFound", "get x: not found");
	assert_false(vs_kube_retry_next(c, &other, &err, &delay));
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

/* ---- discovery: any kind by apiVersion and kind ---------------------------------------------------- */

static const char *const apps_v1 =
	"{\"kind\":\"APIResourceList\",\"groupVersion\":\"apps/v1\",\"resources\":["
	"{\"name\":\"deployments\",\"singularName\":\"deployment\",\"namespaced\":true,\"kind\":\"Deployment\","
	"\"verbs\":[\"create\",\"delete\",\"deletecollection\",\"get\",\"list\",\"patch\",\"update\",\"watch\"]},"
	"{\"name\":\"deployments/scale\",\"namespaced\":true,\"group\":\"autoscaling\",\"version\":\"v1\","
	"\"kind\":\"Scale\",\"verbs\":[\"get\",\"patch\",\"update\"]},"
	"{\"name\":\"deployments/status\",\"namespaced\":true,\"kind\":\"Deployment\",\"verbs\":[\"get\"]},"
	"{\"name\":\"controllerrevisions\",\"namespaced\":true,\"kind\":\"ControllerRevision\","
	"\"verbs\":[\"get\",\"list\"]}]}";

/* Requests for /apis/example.com/v1 so far, under the server's lock (reset by each test). */
static int example_hits;

/* example.com/v1 is not served at first (404); from the 2nd request for it on, a Widget (cluster
 * scoped, no subresources) is, and from the 3rd a Gadget too: a CRD created meanwhile. */
static void scenario_discovery(struct srv *s, int hit, const char *method, const char *url, const char *query,
			       struct reply *r)
{
	(void)hit;
	(void)method;
	(void)query;
	pthread_mutex_lock(&s->lock);
	if (!strcmp(url, "/apis/example.com/v1") && ++example_hits == 1) {
		r->status = 404;
		r->body = "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NotFound\",\"code\":404,"
			  "\"message\":\"the server could not find the requested resource\"}";
	} else if (!strcmp(url, "/apis/example.com/v1")) {
		r->body = example_hits == 2 ? "{\"kind\":\"APIResourceList\",\"resources\":[{\"name\":\"widgets\","
					      "\"namespaced\":false,\"kind\":\"Widget\",\"verbs\":[\"get\"]}]}"
					    : "{\"kind\":\"APIResourceList\",\"resources\":[{\"name\":\"widgets\","
					      "\"namespaced\":false,\"kind\":\"Widget\",\"verbs\":[\"get\"]},"
					      "{\"name\":\"gadgets\",\"namespaced\":true,\"kind\":\"Gadget\"}]}";
	} else if (!strcmp(url, "/apis/apps/v1")) {
		r->body = apps_v1;
	} else if (!strcmp(url, "/apis/apps/v1/namespaces/web/deployments/front/scale")) {
		r->body = "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"spec\":{\"replicas\":3}}";
	} else if (!strcmp(url, "/api/v1")) {
		r->body = "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":[{\"name\":\"pods\","
			  "\"namespaced\":true,\"kind\":\"Pod\",\"verbs\":[\"get\",\"list\",\"watch\"]},"
			  "{\"name\":\"pods/status\",\"namespaced\":true,\"kind\":\"Pod\",\"verbs\":[\"get\"]}]}";
	} else {
		r->status = 404;
	}
	pthread_mutex_unlock(&s->lock);
}

static void test_kube_client__resolve_cached_and_used_by_verbs(void **state)
{
	vs_kube_api_resource r, again;
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	json_t *scale = NULL;
	struct srv s;

	(void)state;
	srv_start(&s, scenario_discovery);
	client_for(&s, &cfg, &c);
	assert_int_equal(vs_kube_resolve(c, "apps/v1", "Deployment", &r, &err), 0);
	assert_string_equal(r.res.group, "apps");
	assert_string_equal(r.res.version, "v1");
	assert_string_equal(r.res.plural, "deployments");
	assert_true(r.res.namespaced);
	assert_string_equal(r.kind, "Deployment");
	assert_true(r.has_scale && r.has_status);
	assert_int_equal(r.verbs, VS_KUBE_VERB_GET | VS_KUBE_VERB_LIST | VS_KUBE_VERB_WATCH | VS_KUBE_VERB_CREATE |
					  VS_KUBE_VERB_UPDATE | VS_KUBE_VERB_PATCH | VS_KUBE_VERB_DELETE |
					  VS_KUBE_VERB_DELETECOLLECTION);
	assert_string_equal(s.log[0], "GET /apis/apps/v1?");
	/* Kept: another kind of the same group and version costs no request. */
	assert_int_equal(vs_kube_resolve(c, "apps/v1", "ControllerRevision", &again, &err), 0);
	assert_string_equal(again.res.plural, "controllerrevisions");
	assert_false(again.has_scale || again.has_status);
	assert_int_equal(again.verbs, VS_KUBE_VERB_GET | VS_KUBE_VERB_LIST);
	assert_int_equal(vs_kube_resolve(c, "v1", "Pod", &again, &err), 0);
	assert_string_equal(again.res.group, "");
	assert_true(again.has_status && !again.has_scale);
	assert_string_equal(s.log[1], "GET /api/v1?");
	assert_int_equal(srv_hits(&s), 2);
	/* The verbs take the resolved resource as they take the fixed ones. */
	assert_int_equal(vs_kube_get_sub(c, &r.res, "web", "front", "scale", &scale, &err), 0);
	assert_int_equal(vs_json_int(scale, "spec.replicas", -1), 3);
	assert_string_equal(s.log[2], "GET /apis/apps/v1/namespaces/web/deployments/front/scale?");
	json_decref(scale);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

static void test_kube_client__resolve_misses(void **state)
{
	vs_kube_api_resource r;
	vs_kube_config *cfg;
	vs_kube_client *c;
	vs_error err = { 0 };
	struct srv s;

	(void)state;
	example_hits = 0;
	srv_start(&s, scenario_discovery);
	client_for(&s, &cfg, &c);
	/* A group and version the server does not serve (yet): its 404 in the message. */
	assert_int_equal(vs_kube_resolve(c, "example.com/v1", "Widget", &r, &err), VS_EAPI);
	assert_true(vs_error_is(&err, "NotFound"));
	assert_string_equal(err.message, "no kind \"Widget\" in apiVersion \"example.com/v1\" on the cluster "
					 "(discovery of /apis/example.com/v1: the server could not find the requested "
					 "resource)");
	/* Served now (a CRD was created): not remembered as missing. */
	assert_int_equal(vs_kube_resolve(c, "example.com/v1", "Widget", &r, &err), 0);
	assert_false(r.res.namespaced);
	assert_int_equal(srv_hits(&s), 2);
	/* A kind missing from the kept document: fetched again once, then found. */
	assert_int_equal(vs_kube_resolve(c, "example.com/v1", "Gadget", &r, &err), 0);
	assert_string_equal(r.res.plural, "gadgets");
	assert_int_equal(r.verbs, 0);
	assert_int_equal(srv_hits(&s), 3);
	/* Missing after the refresh too: one request, and the kinds that are there. */
	assert_int_equal(vs_kube_resolve(c, "example.com/v1", "widget", &r, &err), VS_EAPI);
	assert_true(vs_error_is(&err, "NotFound"));
	assert_string_equal(err.message, "no kind \"widget\" in apiVersion \"example.com/v1\" on the cluster "
					 "(discovery of /apis/example.com/v1 lists Widget, Gadget)");
	assert_int_equal(srv_hits(&s), 4);
	/* Malformed input never reaches the server. */
	assert_int_equal(vs_kube_resolve(c, "apps/v1/x", "Deployment", &r, &err), VS_EINVAL);
	assert_string_equal(err.message, "apiVersion \"apps/v1/x\": expected VERSION or GROUP/VERSION, such as v1 or "
					 "apps/v1");
	assert_int_equal(vs_kube_resolve(c, "/v1", "Deployment", &r, &err), VS_EINVAL);
	assert_int_equal(vs_kube_resolve(c, "Apps/v1", "Deployment", &r, &err), VS_EINVAL);
	assert_int_equal(vs_kube_resolve(c, "apps/v1", "", &r, &err), VS_EINVAL);
	assert_int_equal(srv_hits(&s), 4);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

struct resolver {
	vs_kube_client *c;
	int failures;
};

static void *resolve_many(void *arg)
{
	static const char *const kinds[][2] = { { "apps/v1", "Deployment" },
						{ "v1", "Pod" },
						{ "apps/v1", "ControllerRevision" } };
	struct resolver *rs = arg;
	vs_kube_api_resource r;
	vs_error err = { 0 };

	for (int i = 0; i < 60; i++) {
		const char *const *k = kinds[i % 3];
		if (vs_kube_resolve(rs->c, k[0], k[1], &r, &err) != 0 || strcmp(r.kind, k[1]) != 0)
			rs->failures++;
	}
	return NULL;
}

static void test_kube_client__resolve_from_threads(void **state)
{
	struct resolver rs[6];
	pthread_t th[6];
	vs_kube_config *cfg;
	vs_kube_client *c;
	struct srv s;

	(void)state;
	srv_start(&s, scenario_discovery);
	client_for(&s, &cfg, &c);
	for (int i = 0; i < 6; i++) {
		rs[i] = (struct resolver){ .c = c };
		assert_int_equal(pthread_create(&th[i], NULL, resolve_many, &rs[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(rs[i].failures, 0);
	}
	/* Each document fetched by the threads that missed it at the start, never again after. */
	assert_in_range(srv_hits(&s), 2, 12);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	srv_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kube_client__status_decoding),
		cmocka_unit_test(test_kube_client__backoff_bounds),
		cmocka_unit_test(test_kube_client__access_review),
		cmocka_unit_test_setup_teardown(test_kube_client__list_follows_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__list_keeps_and_starts_again_when_its_token_expired,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__retries_503, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__honours_retry_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__conflict_and_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__connection_refused_within_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__keepalive_and_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__watch_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__watch_relists_on_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__watch_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__create_not_sent_again_after_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__quiet_watch_ends_are_not_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__logs_follow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__wait_lists_then_watches, wait_setup, wait_teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__wait_holds_only_what_it_keeps, wait_setup,
						wait_teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__wait_times_out_saying_what_it_saw, wait_setup,
						wait_teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__wait_from_a_known_object, wait_setup, wait_teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__wait_cancelled, wait_setup, wait_teardown),
		cmocka_unit_test(test_kube_client__pod_ended),
		cmocka_unit_test_setup_teardown(
			test_kube_client__never_answered_is_reported_after_the_first_contact_budget, outage_setup,
			outage_teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__gone_server_is_waited_for_then_given_up, outage_setup,
						outage_teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__short_outage_is_ridden_out, outage_setup,
						outage_teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__one_failing_request_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__watch_gives_up_with_the_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__retry_next, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__resolve_cached_and_used_by_verbs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__resolve_misses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kube_client__resolve_from_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
