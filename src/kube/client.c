/*
 * client: the HTTP transport under every verb, and the verbs themselves. It is the one place that
 * touches libcurl. A request takes an idle easy handle from the client's pool (or makes one) and
 * gives it back when done, so a handle is used by one thread at a time and keeps its connections
 * alive for the next request, whichever thread makes it. Connections and TLS sessions stay in their
 * handle: libcurl does not support sharing them between concurrent threads (CURLSHOPT_SHARE(3));
 * only the DNS cache is shared, under a mutex.
 * Requests are retried here, with full-jitter backoff, according to what is safe for the verb:
 * idempotent requests on connection failures, 429 and 5xx; creates and JSON patches only when
 * nothing reached the server (connection refused) or on 429. For how long is the client's outage
 * budget, measured on one clock per client (struct availability): since when the server has not
 * answered (no reply, or only 429/5xx) to any thread's requests. Once that passes the budget the
 * client gives up for good and every request fails at once with VS_EUNAVAILABLE, so a run and its
 * cleanup do not wait again at each request. Streaming replies (watch, logs) are cut into lines as
 * they arrive and handed to a line callback.
 */
#include "kube/kube.h"
#include "kube/kube_int.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#define BODY_MAX	   ((size_t)64 << 20)
#define LINE_MAX_BYTES	   ((size_t)1 << 20)
#define CONNECT_TIMEOUT_MS 10000
#define LIST_PAGE_DEFAULT  500
/* A dead peer: keepalive probes after 10 s idle, every 5 s, the connection ended after 3 unanswered
 * (or once sent data stays unacknowledged for 30 s). */
#define KEEPALIVE_IDLE_S   10
#define KEEPALIVE_INTVL_S  5
#define KEEPALIVE_PROBES   3
#define USER_TIMEOUT_MS	   30000
/* A watch connection is ended by the server after at most this (timeoutSeconds), and given up by
 * the client this much later: client-go's reflector asks for 5 to 10 minutes. */
#define WATCH_CONN_MS	   (300 * 1000)
#define WATCH_CONN_GRACE_MS 30000
/* Outage reports: the first once the server has not answered for this long, then this often. */
#define OUTAGE_REPORT_AFTER_MS 2000
#define OUTAGE_REPORT_EVERY_MS 10000
/* An action run again after a Conflict (vs_kube_retry_next), at most this many times. */
#define RETRY_CONFLICTS 5

/* The API server's availability as the client's requests find it, shared by every thread. */
struct availability {
	pthread_mutex_t mu;
	int64_t since;	     /* monotonic ms: the start of the first unanswered request of this outage; 0: none */
	int64_t last_answer; /* monotonic ms of the last answer */
	int64_t reported;    /* the last WAITING report of this outage; 0: none yet */
	int64_t down_ms;     /* once given up: how long the server had not answered */
	bool answered;	     /* the server answered once */
	bool gave_up;	     /* every request fails with VS_EUNAVAILABLE from now on */
	char cause[160];     /* the last failure, short */
};

struct vs_kube_client {
	const vs_kube_config *cfg;
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	CURL **pool; /* idle easy handles, each with its own live connections */
	size_t pool_len, pool_cap;
	char *base;	  /* server URL, its host replaced by tls-server-name when one is set */
	char *connect_to; /* "name:port:host:port" when tls-server-name is set */
	char *user_agent;
	int64_t outage_ms, first_contact_ms, base_ms, cap_ms, timeout_ms;
	uint64_t requests; /* sent, retries included (atomic) */
	struct availability avail;
	vs_kube_outage_fn outage_fn;
	void *outage_ctx;
	kube_discovery *discovery; /* resources found by vs_kube_resolve (discovery.c) */
};

enum retry_policy {
	RETRY_IDEMPOTENT, /* connection failures, timeouts, 429, 500/502/503/504 */
	RETRY_UNSENT,	  /* only when the request cannot have reached the server: refused, 429 */
	RETRY_NEVER,	  /* streaming requests retry at their own level */
};

/* Receives each complete line of a streaming 2xx reply; nonzero stops the transfer. */
typedef int (*line_fn)(char *line, size_t len, void *ctx);

struct line_sink {
	vs_buf line;
	line_fn fn;
	void *ctx;
	bool stopped;  /* fn returned nonzero */
	bool too_long; /* a line passed LINE_MAX_BYTES */
	bool got_data; /* some of the 2xx body arrived */
	bool split_cr; /* a carriage return ends a line too, and empty lines are dropped */
};

struct request {
	const char *verb;   /* "get", "list", ... for messages */
	const char *method; /* "GET", "POST", ... */
	char *url;
	const char *what; /* "persistentvolumeclaims default/data" */
	const char *body;
	size_t body_len;
	const char *content_type;
	const char *accept; /* NULL: application/json */
	enum retry_policy policy;
	struct line_sink *sink; /* streaming replies; NULL buffers the body */
	int64_t timeout_ms;	/* 0: the client's request timeout; -1: none */
	bool (*cancel)(void);	/* NULL; else polled during the transfer: true ends it with VS_ECANCEL */
};

struct transfer {
	const struct request *req;
	CURL *h;
	vs_buf body;
	long status;
	int64_t retry_after_ms; /* -1: none */
	bool too_big;
	char errbuf[CURL_ERROR_SIZE];
	char cause[160]; /* a failed transfer's cause, short: "connection refused" */
	bool connected;	 /* a failed transfer got as far as a connection */
};

/* ---- client lifetime --------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
	vs_kube_client *c = ctx;

	(void)h;
	(void)access;
	pthread_mutex_lock(&c->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
	vs_kube_client *c = ctx;

	(void)h;
	pthread_mutex_unlock(&c->locks[data]);
}

/* With tls-server-name, talk to the name (SNI and verification) but connect to the real host. */
static int client_set_base(vs_kube_client *c, vs_error *err)
{
	const vs_kube_tls *tls = vs_kube_config_tls(c->cfg);
	const char *server = vs_kube_config_server(c->cfg);
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *url = NULL;
	int rc = 0;

	if (curl_url_set(u, CURLUPART_URL, server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		rc = vs_error_set(err, VS_ECONFIG, "server URL \"%s\" is not valid", server);
		goto done;
	}
	if (!tls->server_name) {
		c->base = vs_xstrdup(server);
		goto done;
	}
	if (curl_url_set(u, CURLUPART_HOST, tls->server_name, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
		rc = vs_error_set(err, VS_ECONFIG, "tls-server-name \"%s\" is not a valid host", tls->server_name);
		goto done;
	}
	c->base = vs_xstrdup(url);
	while (vs_str_has_suffix(c->base, "/"))
		c->base[strlen(c->base) - 1] = '\0';
	c->connect_to = vs_xasprintf("%s:%s:%s:%s", tls->server_name, port, host, port);
done:
	curl_free(host);
	curl_free(port);
	curl_free(url);
	curl_url_cleanup(u);
	return rc;
}

int vs_kube_client_new(const vs_kube_config *cfg, const vs_kube_client_opts *opts, vs_kube_client **out, vs_error *err)
{
	static const vs_kube_client_opts none = { 0 };
	vs_kube_client *c;
	int i, rc;

	*out = NULL;
	if (!opts)
		opts = &none;
	pthread_once(&curl_once, curl_init_once);
	c = vs_xcalloc(1, sizeof(*c));
	c->cfg = cfg;
	c->outage_ms = opts->outage_budget_ms > 0 ? opts->outage_budget_ms : VS_KUBE_OUTAGE_BUDGET_MS;
	c->first_contact_ms = opts->first_contact_ms > 0 ? opts->first_contact_ms : VS_KUBE_FIRST_CONTACT_MS;
	if (c->first_contact_ms > c->outage_ms)
		c->first_contact_ms = c->outage_ms;
	c->outage_fn = opts->outage_fn;
	c->outage_ctx = opts->outage_ctx;
	pthread_mutex_init(&c->avail.mu, NULL);
	c->base_ms = opts->backoff_base_ms > 0 ? opts->backoff_base_ms : 100;
	c->cap_ms = opts->backoff_cap_ms > 0 ? opts->backoff_cap_ms : 5000;
	c->timeout_ms = opts->request_timeout_ms > 0 ? opts->request_timeout_ms : 60000;
	c->user_agent = vs_xstrdup(opts->user_agent ? opts->user_agent : "volshift");
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->locks[i], NULL);
	c->share = curl_share_init();
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	pthread_mutex_init(&c->pool_lock, NULL);
	c->discovery = kube_discovery_new();
	rc = client_set_base(c, err);
	if (rc < 0) {
		vs_kube_client_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

uint64_t vs_kube_client_requests(const vs_kube_client *c)
{
	return __atomic_load_n(&c->requests, __ATOMIC_RELAXED);
}

void vs_kube_client_free(vs_kube_client *c)
{
	int i;

	if (!c)
		return;
	while (c->pool_len > 0)
		curl_easy_cleanup(c->pool[--c->pool_len]);
	free(c->pool);
	pthread_mutex_destroy(&c->pool_lock);
	pthread_mutex_destroy(&c->avail.mu);
	curl_share_cleanup(c->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->locks[i]);
	free(c->base);
	free(c->connect_to);
	free(c->user_agent);
	kube_discovery_free(c->discovery);
	free(c);
}

kube_discovery *kube_client_discovery(vs_kube_client *c)
{
	return c->discovery;
}

/* ---- the API server's availability ------------------------------------------------------------ */

static int64_t seconds_of(int64_t ms)
{
	return ms > 0 ? (ms + 500) / 1000 : 0;
}

void vs_kube_outage_describe(const vs_kube_outage *ev, char *out, size_t n)
{
	char at[400];
	int64_t down = seconds_of(ev->down_ms);

	if (ev->never_answered)
		snprintf(at, sizeof(at), "the API server at %s (%s)", ev->server, ev->origin);
	else
		snprintf(at, sizeof(at), "the API server at %s", ev->server);
	switch (ev->state) {
	case VS_KUBE_OUTAGE_WAITING:
		snprintf(out, n, "%s does not answer (%s) since %lld s; retrying for up to %lld s more", at, ev->cause,
			 (long long)down, (long long)((ev->left_ms + 999) / 1000));
		break;
	case VS_KUBE_OUTAGE_OVER:
		snprintf(out, n, "%s answers again, after %lld s without an answer", at, (long long)down);
		break;
	case VS_KUBE_OUTAGE_GAVE_UP:
		if (ev->never_answered)
			snprintf(out, n,
				 "%s does not answer (%s); gave up after %lld s. Check that the cluster is running "
				 "and reachable from here, and that this kubeconfig names its API server",
				 at, ev->cause, (long long)down);
		else
			snprintf(out, n, "%s has not answered for %lld s (%s); gave up after the outage budget of %lld s",
				 at, (long long)down, ev->cause, (long long)seconds_of(ev->budget_ms));
		break;
	}
}

/* Under c->avail.mu: the budget in force. */
static int64_t avail_budget(const vs_kube_client *c)
{
	return c->avail.answered ? c->outage_ms : c->first_contact_ms;
}

/* Under c->avail.mu: the outage as of now (monotonic ms), in state. */
static vs_kube_outage avail_event(const vs_kube_client *c, enum vs_kube_outage_state state, int64_t now)
{
	const struct availability *a = &c->avail;
	vs_kube_outage ev = { .state = state,
			      .server = vs_kube_config_server(c->cfg),
			      .origin = vs_kube_config_origin(c->cfg),
			      .cause = a->cause,
			      .budget_ms = avail_budget(c),
			      .never_answered = !a->answered };

	ev.down_ms = a->gave_up ? a->down_ms : (a->since ? now - a->since : 0);
	ev.left_ms = a->since && !a->gave_up ? a->since + ev.budget_ms - now : 0;
	if (ev.left_ms < 0)
		ev.left_ms = 0;
	return ev;
}

/* Under c->avail.mu: tell the caller's function, or the log. */
static void avail_report(vs_kube_client *c, enum vs_kube_outage_state state, int64_t now)
{
	vs_kube_outage ev = avail_event(c, state, now);
	char text[700];

	if (c->outage_fn) {
		c->outage_fn(&ev, c->outage_ctx);
		return;
	}
	vs_kube_outage_describe(&ev, text, sizeof(text));
	vs_log(state == VS_KUBE_OUTAGE_OVER ? VS_LOG_INFO : VS_LOG_WARN, "%s", text);
}

/* Under c->avail.mu, once given up: err says so for this request; returns VS_EUNAVAILABLE. */
static int avail_error(const vs_kube_client *c, const struct request *req, vs_error *err)
{
	vs_kube_outage ev = avail_event(c, VS_KUBE_OUTAGE_GAVE_UP, vs_time_mono_ms());
	char text[700];

	vs_kube_outage_describe(&ev, text, sizeof(text));
	return vs_error_set(err, VS_EUNAVAILABLE, "%s %s: %s", req->verb, req->what, text);
}

/* Under c->avail.mu: give up for good. */
static void avail_give_up(vs_kube_client *c, int64_t now)
{
	c->avail.down_ms = now - c->avail.since;
	c->avail.gave_up = true;
	avail_report(c, VS_KUBE_OUTAGE_GAVE_UP, now);
}

/* Before a request: VS_EUNAVAILABLE once the client gave up, else 0. */
static int avail_check(vs_kube_client *c, const struct request *req, vs_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&c->avail.mu);
	if (c->avail.gave_up)
		rc = avail_error(c, req, err);
	pthread_mutex_unlock(&c->avail.mu);
	return rc;
}

bool vs_kube_client_unavailable(const vs_kube_client *c)
{
	vs_kube_client *mc = (vs_kube_client *)c; /* the lock is not part of the client's value */
	bool gave_up;

	pthread_mutex_lock(&mc->avail.mu);
	gave_up = c->avail.gave_up;
	pthread_mutex_unlock(&mc->avail.mu);
	return gave_up;
}

/* True when an attempt's outcome says the server is not serving: no reply at all (but the end of a
 * time the caller chose, once connected), or 429 or 5xx. */
static bool attempt_unanswered(const struct request *req, const struct transfer *t, int rc)
{
	if (t->status == 429 || t->status == 500 || t->status == 502 || t->status == 503 || t->status == 504)
		return true;
	if (t->status != 0 || (rc != VS_ENET && rc != VS_ETIMEOUT))
		return false;
	return rc == VS_ENET || req->timeout_ms == 0 || !t->connected;
}

/* Account for an attempt that started at t0 and ended as rc with t->status: an answer ends an
 * outage (reported OVER when WAITING was); none starts one, or goes on with it. Returns whether the
 * server did not answer. */
static bool avail_note(vs_kube_client *c, const struct request *req, const struct transfer *t, int rc, int64_t t0)
{
	struct availability *a = &c->avail;
	bool unanswered = attempt_unanswered(req, t, rc);
	int64_t now = vs_time_mono_ms();

	if (!unanswered && t->status == 0)
		return false; /* no reply, but not the server's doing (credentials, a cap, a chosen timeout) */
	pthread_mutex_lock(&a->mu);
	if (!unanswered) {
		if (a->since && a->reported && !a->gave_up)
			avail_report(c, VS_KUBE_OUTAGE_OVER, now);
		a->since = 0;
		a->reported = 0;
		a->answered = true;
		a->last_answer = now;
	} else {
		if (!a->since)
			a->since = t0 > a->last_answer ? t0 : a->last_answer;
		if (t->status)
			snprintf(a->cause, sizeof(a->cause), "HTTP %ld", t->status);
		else
			snprintf(a->cause, sizeof(a->cause), "%s", t->cause);
	}
	pthread_mutex_unlock(&a->mu);
	return unanswered;
}

/* After a request the caller will not retry got no answer: once the outage has lasted the budget
 * the client gives up, and rc becomes VS_EUNAVAILABLE. Returns rc. */
static int avail_expire(vs_kube_client *c, const struct request *req, int rc, vs_error *err)
{
	struct availability *a = &c->avail;
	int64_t now = vs_time_mono_ms();

	pthread_mutex_lock(&a->mu);
	if (!a->gave_up && a->since && now - a->since >= avail_budget(c))
		avail_give_up(c, now);
	if (a->gave_up)
		rc = avail_error(c, req, err);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

/*
 * Before retrying a request that failed (err says how) and has been failing since call_start: sleep
 * delay ms, shortened so that the last try comes as the budget ends, and return 0; or, once the
 * outage lasted the budget, give up (VS_EUNAVAILABLE with err saying so, for every request from now
 * on); or, once this request alone failed for the whole budget while others got answers,
 * VS_EUNAVAILABLE with err's message saying so. A WAITING report is made when one is due.
 */
static int avail_wait(vs_kube_client *c, const struct request *req, int64_t call_start, int64_t delay, vs_error *err)
{
	struct availability *a = &c->avail;
	int64_t now = vs_time_mono_ms(), end;
	int rc = 0;

	pthread_mutex_lock(&a->mu);
	if (!a->gave_up && a->since) {
		end = a->since + avail_budget(c);
		if (now >= end)
			avail_give_up(c, now);
		else if (now + delay > end)
			delay = end - now;
		if (!a->gave_up && now - a->since >= OUTAGE_REPORT_AFTER_MS &&
		    (!a->reported || now - a->reported >= OUTAGE_REPORT_EVERY_MS)) {
			a->reported = now;
			avail_report(c, VS_KUBE_OUTAGE_WAITING, now);
		}
	}
	if (a->gave_up) {
		rc = avail_error(c, req, err);
	} else if (now + delay - call_start > c->outage_ms) {
		char why[sizeof(err->message)];
		snprintf(why, sizeof(why), "%s (failing for %lld s)", err->message,
			 (long long)seconds_of(now - call_start));
		snprintf(err->message, sizeof(err->message), "%s", why);
		rc = err->code = VS_EUNAVAILABLE;
	}
	pthread_mutex_unlock(&a->mu);
	if (rc == 0)
		vs_sleep_ms(delay);
	return rc;
}

bool vs_kube_retry_next(vs_kube_client *c, vs_kube_retry *r, const vs_error *err, int64_t *delay_ms)
{
	int64_t now = vs_time_mono_ms();

	if (!vs_kube_error_transient(err) || vs_kube_client_unavailable(c))
		return false;
	if (r->failures++ == 0)
		r->since_ms = now;
	if (vs_error_is(err, "Conflict") ? r->failures > RETRY_CONFLICTS : now - r->since_ms >= c->outage_ms)
		return false;
	*delay_ms = vs_kube_backoff_ms(r->failures, 500, 8000, vs_rand_u64());
	return true;
}

/* ---- one HTTP exchange ------------------------------------------------------------------------- */

/* An idle easy handle of the pool, or a new one; the caller owns it until handle_give. */
static CURL *handle_take(vs_kube_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len > 0)
		h = c->pool[--c->pool_len];
	pthread_mutex_unlock(&c->pool_lock);
	return h ? h : curl_easy_init();
}

/* Back to the pool: its options cleared, its live connections and caches kept (curl_easy_reset(3)). */
static void handle_give(vs_kube_client *c, CURL *h)
{
	curl_easy_reset(h);
	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len == c->pool_cap) {
		c->pool_cap = c->pool_cap ? 2 * c->pool_cap : 8;
		c->pool = vs_xrealloc(c->pool, c->pool_cap * sizeof(*c->pool));
	}
	c->pool[c->pool_len++] = h;
	pthread_mutex_unlock(&c->pool_lock);
}

static const char *sink_eol(const struct line_sink *s, const char *data, size_t n)
{
	if (!s->split_cr)
		return memchr(data, '\n', n);
	for (size_t i = 0; i < n; i++)
		if (data[i] == '\n' || data[i] == '\r')
			return data + i;
	return NULL;
}

static int sink_feed(struct line_sink *s, const char *data, size_t n)
{
	const char *nl;
	size_t take;

	s->got_data = true;
	while (n > 0) {
		nl = sink_eol(s, data, n);
		take = nl ? (size_t)(nl - data) : n;
		if (vs_buf_append(&s->line, data, take) < 0) {
			s->too_long = true;
			return -1;
		}
		if (!nl)
			return 0;
		if (s->line.len && s->line.data[s->line.len - 1] == '\r')
			s->line.data[--s->line.len] = '\0';
		if ((!s->split_cr || s->line.len > 0) &&
		    s->fn(s->line.data ? s->line.data : (char *)"", s->line.len, s->ctx) != 0) {
			s->stopped = true;
			return -1;
		}
		vs_buf_reset(&s->line);
		data += take + 1;
		n -= take + 1;
	}
	return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct transfer *t = ctx;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
	if (t->req->sink && status >= 200 && status < 300)
		return sink_feed(t->req->sink, data, n) == 0 ? n : 0;
	if (vs_buf_append(&t->body, data, n) < 0) {
		t->too_big = true;
		return 0;
	}
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct transfer *t = ctx;
	size_t n = size * nmemb;
	char line[128], *p = line;

	/* Only the delay-seconds form; an HTTP-date falls back to our own backoff. */
	if (n < sizeof(line) && n > 12 && !strncasecmp(data, "Retry-After:", 12)) {
		memcpy(line, data + 12, n - 12);
		line[n - 12] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p >= '0' && *p <= '9')
			t->retry_after_ms = strtoll(p, NULL, 10) * 1000;
	}
	return n;
}

static struct curl_slist *request_headers(const struct request *req, const vs_kube_credentials *cred)
{
	struct curl_slist *h = NULL;
	char *s;

	s = vs_xasprintf("Accept: %s", req->accept ? req->accept : "application/json");
	h = curl_slist_append(h, s);
	free(s);
	h = curl_slist_append(h, "Expect:");
	if (req->content_type) {
		s = vs_xasprintf("Content-Type: %s", req->content_type);
		h = curl_slist_append(h, s);
		free(s);
	}
	if (cred->token) {
		s = vs_xasprintf("Authorization: Bearer %s", cred->token);
		h = curl_slist_append(h, s);
		free(s);
	}
	return h;
}

static void set_blob(CURL *h, CURLoption opt, const unsigned char *data, size_t len)
{
	struct curl_blob blob = { .data = (void *)data, .len = len, .flags = CURL_BLOB_COPY };

	curl_easy_setopt(h, opt, &blob);
}

static void setup_tls(const vs_kube_client *c, CURL *h, const vs_kube_credentials *cred)
{
	const vs_kube_tls *tls = vs_kube_config_tls(c->cfg);

	if (tls->ca_data)
		set_blob(h, CURLOPT_CAINFO_BLOB, tls->ca_data, tls->ca_len);
	else if (tls->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, tls->ca_file);
	if (tls->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (tls->proxy_url)
		curl_easy_setopt(h, CURLOPT_PROXY, tls->proxy_url);
	if (cred->cert_data) {
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		set_blob(h, CURLOPT_SSLCERT_BLOB, cred->cert_data, cred->cert_len);
	} else if (cred->cert_file) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, cred->cert_file);
	}
	if (cred->key_data) {
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
		set_blob(h, CURLOPT_SSLKEY_BLOB, cred->key_data, cred->key_len);
	} else if (cred->key_file) {
		curl_easy_setopt(h, CURLOPT_SSLKEY, cred->key_file);
	}
	if (cred->username && cred->password) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, cred->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, cred->password);
	}
}

/* Each new connection: the keepalive probes that libcurl has no option for before 8.9, and an end to
 * data that stays unacknowledged (a peer gone while a request was being sent). */
static int on_socket(void *ctx, curl_socket_t fd, curlsocktype purpose)
{
	int probes = KEEPALIVE_PROBES;
	unsigned user_timeout = USER_TIMEOUT_MS;

	(void)ctx;
	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKOPT_OK;
#ifdef TCP_KEEPCNT
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
#endif
#ifdef TCP_USER_TIMEOUT
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
#endif
	(void)probes;
	(void)user_timeout;
	return CURL_SOCKOPT_OK; /* a socket that refuses an option works as before */
}

/* libcurl's progress callback, called about once a second even while nothing arrives. */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	const struct transfer *t = ctx;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return t->req->cancel() ? 1 : 0;
}

static void setup_handle(const vs_kube_client *c, struct transfer *t, struct curl_slist *hdrs, struct curl_slist *ct,
			 const vs_kube_credentials *cred)
{
	const struct request *req = t->req;
	CURL *h = t->h;
	int64_t timeout = req->timeout_ms == 0 ? c->timeout_ms : req->timeout_ms;

	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, (long)KEEPALIVE_IDLE_S);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, (long)KEEPALIVE_INTVL_S);
	curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, on_socket);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	/* libcurl sends a request again by itself when a reused connection closes without a reply,
	 * which must not happen to one that may have been acted on: it gets a connection of its own. */
	if (req->policy == RETRY_UNSENT)
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
	if (timeout > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
	if (ct)
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, ct);
	if (req->cancel) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
	}
	if (req->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	setup_tls(c, h, cred);
}

/* A failed transfer's cause in a few words, into t->cause: "connection refused", "no reply in time". */
static void transfer_cause(struct transfer *t, CURLcode cc)
{
	long os = 0;
	char buf[128];
	const char *why;

	curl_off_t connect_us = 0;

	curl_easy_getinfo(t->h, CURLINFO_OS_ERRNO, &os);
	curl_easy_getinfo(t->h, CURLINFO_CONNECT_TIME_T, &connect_us);
	t->connected = connect_us > 0;
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: why = "host name not found"; break;
	case CURLE_OPERATION_TIMEDOUT: why = t->connected ? "no reply in time" : "connection timed out"; break;
	case CURLE_GOT_NOTHING: why = "connection closed without a reply"; break;
	default: why = os ? strerror_r((int)os, buf, sizeof(buf)) : (t->errbuf[0] ? t->errbuf : curl_easy_strerror(cc));
	}
	snprintf(t->cause, sizeof(t->cause), "%s", why);
	if (os && t->cause[0] >= 'A' && t->cause[0] <= 'Z')
		t->cause[0] = (char)(t->cause[0] - 'A' + 'a');
}

/* Map a failed transfer to an error; *unsent tells whether the request cannot have been sent. */
static int transfer_error(const struct request *req, struct transfer *t, CURLcode cc, bool *unsent, vs_error *err)
{
	const char *why = t->errbuf[0] ? t->errbuf : curl_easy_strerror(cc);

	transfer_cause(t, cc);
	*unsent = cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY;
	if (t->too_big)
		return vs_error_set(err, VS_ENOMEM, "%s %s: reply larger than %zu bytes", req->verb, req->what,
				    BODY_MAX);
	if (req->sink && req->sink->too_long)
		return vs_error_set(err, VS_ENOMEM, "%s %s: a line longer than %zu bytes", req->verb, req->what,
				    LINE_MAX_BYTES);
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return vs_error_set(err, VS_ETIMEOUT, "%s %s: %s", req->verb, req->what, why);
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		return vs_error_set(err, VS_ECANCEL, "%s %s: stopped on request", req->verb, req->what);
	/* the server's certificate or our TLS settings: another attempt meets the same */
	if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM)
		return vs_error_set(err, VS_ECONFIG, "%s %s: %s", req->verb, req->what, why);
	return vs_error_set(err, VS_ENET, "%s %s: %s", req->verb, req->what, why);
}

/*
 * One attempt. Returns 0 with t->status and t->body filled (any HTTP status), or an error for a
 * transfer that failed; a sink that stopped on request is not a failure.
 */
static int perform_once(vs_kube_client *c, struct transfer *t, bool *unsent, vs_error *err)
{
	vs_kube_credentials cred = { 0 };
	struct curl_slist *hdrs = NULL, *ct = NULL;
	CURLcode cc;
	int rc;

	*unsent = false;
	rc = vs_kube_config_credentials(c->cfg, &cred, err);
	if (rc < 0)
		return rc;
	__atomic_add_fetch(&c->requests, 1, __ATOMIC_RELAXED);
	vs_debug("%s %s", t->req->verb, t->req->what);
	t->h = handle_take(c);
	hdrs = request_headers(t->req, &cred);
	if (c->connect_to)
		ct = curl_slist_append(NULL, c->connect_to);
	setup_handle(c, t, hdrs, ct, &cred);
	cc = curl_easy_perform(t->h);
	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &t->status);
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && t->req->sink && t->req->sink->stopped))
		rc = transfer_error(t->req, t, cc, unsent, err);
	handle_give(c, t->h);
	t->h = NULL;
	curl_slist_free_all(hdrs);
	curl_slist_free_all(ct);
	vs_kube_credentials_clear(&cred);
	return rc;
}

static bool status_retryable(long status, enum retry_policy policy)
{
	if (status == 429)
		return policy != RETRY_NEVER;
	if (status == 500 || status == 502 || status == 503 || status == 504)
		return policy == RETRY_IDEMPOTENT;
	return false;
}

static bool failure_retryable(int rc, bool unsent, enum retry_policy policy)
{
	if (rc != VS_ENET && rc != VS_ETIMEOUT)
		return false;
	return policy == RETRY_IDEMPOTENT || (policy == RETRY_UNSENT && unsent);
}

/* The error of a reply that is not 2xx, into err; VS_EAPI. */
static int reply_error(const struct request *req, const struct transfer *t, vs_error *err)
{
	char what[320];

	snprintf(what, sizeof(what), "%s %s", req->verb, req->what);
	return vs_kube_status_error((int)t->status, t->body.data, t->body.len, what, err);
}

/* Whether a failed attempt (rc, with t's status) may be sent again as it is. */
static bool attempt_retryable(const struct request *req, const struct transfer *t, int rc, bool unsent)
{
	if (req->sink && req->sink->got_data)
		return false; /* a retry would deliver the same lines again */
	if (rc == VS_EAPI)
		return status_retryable(t->status, req->policy);
	return failure_retryable(rc, unsent, req->policy);
}

/*
 * Run req with retries while the client's availability allows (avail_wait). On success (2xx) *out
 * receives the parsed reply when out is not NULL and the reply is JSON (else NULL). *status (may be
 * NULL) receives the last HTTP status.
 */
static int do_request(vs_kube_client *c, const struct request *req, json_t **out, long *status, vs_error *err)
{
	int64_t start = vs_time_mono_ms(), t0, delay;
	struct transfer t = { .req = req };
	bool unsent, reauthed = false, unanswered;
	unsigned attempt;
	int rc;

	for (attempt = 0;; attempt++) {
		vs_buf_init(&t.body, BODY_MAX);
		t.retry_after_ms = -1;
		t.too_big = false;
		t.status = 0;
		t.errbuf[0] = '\0';
		t.connected = false;
		rc = avail_check(c, req, err);
		if (rc < 0)
			break;
		t0 = vs_time_mono_ms();
		rc = perform_once(c, &t, &unsent, err);
		if (rc == 0 && (t.status < 200 || t.status >= 300))
			rc = reply_error(req, &t, err);
		unanswered = avail_note(c, req, &t, rc, t0);
		if (rc == VS_EAPI && t.status == 401 && !reauthed) {
			reauthed = true; /* an exec credential may have been revoked early */
			vs_kube_config_invalidate(c->cfg);
		} else if (rc == 0 || !attempt_retryable(req, &t, rc, unsent)) {
			if (unanswered)
				rc = avail_expire(c, req, rc, err);
			break;
		}
		delay = t.status == 429 && t.retry_after_ms >= 0
				? t.retry_after_ms
				: vs_kube_backoff_ms(attempt, c->base_ms, c->cap_ms, vs_rand_u64());
		vs_debug("%s %s: retrying in %lld ms (HTTP %ld)", req->verb, req->what, (long long)delay, t.status);
		rc = avail_wait(c, req, start, delay, err);
		if (rc < 0)
			break;
		vs_buf_free(&t.body);
	}
	if (status)
		*status = t.status;
	if (rc == 0 && out)
		*out = t.body.len ? json_loadb(t.body.data, t.body.len, 0, NULL) : NULL;
	vs_buf_free(&t.body);
	return rc;
}

/* ---- URLs -------------------------------------------------------------------------------------- */

static void put_escaped(vs_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '.' || ch == '_' || ch == '~') {
			vs_buf_append(b, s, 1);
		} else {
			char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
			vs_buf_append(b, e, 3);
		}
	}
}

/* /api/VERSION for the core group, /apis/GROUP/VERSION for the others. */
static void put_group_version(vs_buf *b, const char *group, const char *version)
{
	if (group && *group)
		vs_buf_printf(b, "/apis/%s/%s", group, version);
	else
		vs_buf_printf(b, "/api/%s", version);
}

/* base + /api/v1 or /apis/G/V [+ /namespaces/NS] + /plural [+ /name [+ /sub]]. Caller frees. */
static char *resource_url(const vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name,
			  const char *sub)
{
	vs_buf b;

	vs_buf_init(&b, 0);
	vs_buf_puts(&b, c->base);
	put_group_version(&b, res->group, res->version);
	if (res->namespaced && ns && *ns) {
		vs_buf_puts(&b, "/namespaces/");
		put_escaped(&b, ns);
	}
	vs_buf_printf(&b, "/%s", res->plural);
	if (name) {
		vs_buf_puts(&b, "/");
		put_escaped(&b, name);
	}
	if (sub)
		vs_buf_printf(&b, "/%s", sub);
	return vs_buf_steal(&b);
}

/* Append "?key=value" or "&key=value" (value escaped) when value is set. */
static void add_query(char **url, const char *key, const char *value)
{
	vs_buf b;

	if (!value || !*value)
		return;
	vs_buf_init(&b, 0);
	vs_buf_printf(&b, "%s%c%s=", *url, strchr(*url, '?') ? '&' : '?', key);
	put_escaped(&b, value);
	free(*url);
	*url = vs_buf_steal(&b);
}

static void add_query_int(char **url, const char *key, long long value)
{
	char s[32];

	snprintf(s, sizeof(s), "%lld", value);
	add_query(url, key, s);
}

/* "persistentvolumeclaims default/data[/status]" or "persistentvolumes pv-1"; caller frees. */
static char *describe(const vs_kube_resource *res, const char *ns, const char *name, const char *sub)
{
	bool has_ns = res->namespaced && ns && *ns;

	if (!name)
		return has_ns ? vs_xasprintf("%s in %s", res->plural, ns) : vs_xstrdup(res->plural);
	return vs_xasprintf("%s %s%s%s%s%s", res->plural, has_ns ? ns : "", has_ns ? "/" : "", name, sub ? "/" : "",
			    sub ? sub : "");
}

/* ---- simple verbs ------------------------------------------------------------------------------- */

/* Run one non-streaming verb on res/ns/name/sub with an optional JSON body. */
static int simple_verb(vs_kube_client *c, const char *verb, const char *method, enum retry_policy policy,
		       const vs_kube_resource *res, const char *ns, const char *name, const char *sub,
		       const json_t *body, const char *content_type, json_t **out, vs_error *err)
{
	struct request req = { .verb = verb, .method = method, .policy = policy, .content_type = content_type };
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_t *reply = NULL;
	int rc;

	if (res->namespaced && name && (!ns || !*ns)) {
		free(text);
		return vs_error_set(err, VS_EINVAL, "%s %s %s: a namespace is needed", verb, res->plural, name);
	}
	req.url = resource_url(c, res, ns, name, sub);
	req.what = describe(res, ns, name, sub);
	if (text) {
		req.body = text;
		req.body_len = strlen(text);
		if (!content_type)
			req.content_type = "application/json";
	}
	rc = do_request(c, &req, out ? &reply : NULL, NULL, err);
	if (rc == 0 && out)
		*out = reply;
	free(req.url);
	free((char *)req.what);
	free(text);
	return rc;
}

int kube_get_discovery(vs_kube_client *c, const char *group, const char *version, json_t **out, vs_error *err)
{
	struct request req = { .verb = "discovery of", .method = "GET", .policy = RETRY_IDEMPOTENT };
	vs_buf path;
	int rc;

	*out = NULL;
	vs_buf_init(&path, 0);
	put_group_version(&path, group, version);
	req.what = path.data;
	req.url = vs_xasprintf("%s%s", c->base, path.data);
	rc = do_request(c, &req, out, NULL, err);
	if (rc == 0 && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = vs_error_set(err, VS_EAPI, "discovery of %s: the reply is not a JSON object", path.data);
	}
	free(req.url);
	vs_buf_free(&path);
	return rc;
}

int vs_kube_get(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name, json_t **out,
		vs_error *err)
{
	return simple_verb(c, "get", "GET", RETRY_IDEMPOTENT, res, ns, name, NULL, NULL, NULL, out, err);
}

int vs_kube_get_sub(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name, const char *sub,
		    json_t **out, vs_error *err)
{
	return simple_verb(c, "get", "GET", RETRY_IDEMPOTENT, res, ns, name, sub, NULL, NULL, out, err);
}

int vs_kube_create(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const json_t *obj, json_t **out,
		   vs_error *err)
{
	const char *name = vs_kube_obj_name(obj);
	char *what;

	if (!ns || !*ns)
		ns = vs_kube_obj_namespace(obj);
	what = describe(res, ns, name ? name : "(generated name)", NULL);
	struct request req = { .verb = "create",
			       .method = "POST",
			       .policy = RETRY_UNSENT,
			       .content_type = "application/json",
			       .what = what };
	char *text = json_dumps(obj, JSON_COMPACT);
	json_t *reply = NULL;
	int rc;

	req.url = resource_url(c, res, ns, NULL, NULL);
	req.body = text;
	req.body_len = text ? strlen(text) : 0;
	rc = do_request(c, &req, out ? &reply : NULL, NULL, err);
	if (rc == 0 && out)
		*out = reply;
	free(req.url);
	free(what);
	free(text);
	return rc;
}

int vs_kube_update(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const json_t *obj, json_t **out,
		   vs_error *err)
{
	const char *name = vs_kube_obj_name(obj);

	if (!name || !*name)
		return vs_error_set(err, VS_EINVAL, "update %s: the object has no metadata.name", res->plural);
	if (!ns || !*ns)
		ns = vs_kube_obj_namespace(obj);
	return simple_verb(c, "update", "PUT", RETRY_IDEMPOTENT, res, ns, name, NULL, obj, NULL, out, err);
}

int vs_kube_update_sub(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name,
		       const char *sub, const json_t *obj, json_t **out, vs_error *err)
{
	return simple_verb(c, "update", "PUT", RETRY_IDEMPOTENT, res, ns, name, sub, obj, NULL, out, err);
}

static const char *patch_content_type(enum vs_kube_patch_type type)
{
	switch (type) {
	case VS_KUBE_PATCH_STRATEGIC: return "application/strategic-merge-patch+json";
	case VS_KUBE_PATCH_JSON: return "application/json-patch+json";
	default: return "application/merge-patch+json";
	}
}

int vs_kube_patch_sub(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name, const char *sub,
		      enum vs_kube_patch_type type, const json_t *patch, json_t **out, vs_error *err)
{
	enum retry_policy policy = type == VS_KUBE_PATCH_JSON ? RETRY_UNSENT : RETRY_IDEMPOTENT;

	return simple_verb(c, "patch", "PATCH", policy, res, ns, name, sub, patch, patch_content_type(type), out, err);
}

int vs_kube_patch(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name,
		  enum vs_kube_patch_type type, const json_t *patch, json_t **out, vs_error *err)
{
	return vs_kube_patch_sub(c, res, ns, name, NULL, type, patch, out, err);
}

/* A DeleteOptions object for opts (NULL: an empty one). Caller owns it. */
static json_t *delete_options(const vs_kube_delete_opts *opts)
{
	json_t *o = json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions");

	if (!opts)
		return o;
	if (opts->propagation)
		json_object_set_new(o, "propagationPolicy", json_string(opts->propagation));
	if (opts->has_grace_period)
		json_object_set_new(o, "gracePeriodSeconds", json_integer(opts->grace_period_seconds));
	if (opts->precondition_uid)
		vs_json_set_path(o, "preconditions.uid", json_string(opts->precondition_uid));
	if (opts->precondition_rv)
		vs_json_set_path(o, "preconditions.resourceVersion", json_string(opts->precondition_rv));
	return o;
}

int vs_kube_delete(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const char *name,
		   const vs_kube_delete_opts *opts, json_t **out, vs_error *err)
{
	json_t *body = delete_options(opts);
	int rc;

	rc = simple_verb(c, "delete", "DELETE", RETRY_IDEMPOTENT, res, ns, name, NULL, body, NULL, out, err);
	json_decref(body);
	return rc;
}

int vs_kube_evict(vs_kube_client *c, const char *ns, const char *pod, const vs_kube_delete_opts *opts, vs_error *err)
{
	json_t *body = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "policy/v1", "kind", "Eviction",
				 "metadata", "name", pod, "namespace", ns, "deleteOptions", delete_options(opts));
	int rc;

	/* An eviction is safe to repeat: evicting an evicted pod is NotFound, not a second eviction. */
	rc = simple_verb(c, "evict", "POST", RETRY_IDEMPOTENT, &VS_KUBE_PODS, ns, pod, "eviction", body, NULL, NULL,
			 err);
	json_decref(body);
	return rc;
}

/* ---- list with pagination ---------------------------------------------------------------------- */

static int list_page(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_list_opts *opts,
		     long limit, const char *cont, json_t **page, vs_error *err)
{
	struct request req = { .verb = "list", .method = "GET", .policy = RETRY_IDEMPOTENT };
	int rc;

	req.url = resource_url(c, res, ns, NULL, NULL);
	req.what = describe(res, ns, NULL, NULL);
	add_query(&req.url, "labelSelector", opts ? opts->label_selector : NULL);
	add_query(&req.url, "fieldSelector", opts ? opts->field_selector : NULL);
	if (limit > 0)
		add_query_int(&req.url, "limit", limit);
	add_query(&req.url, "continue", cont);
	rc = do_request(c, &req, page, NULL, err);
	if (rc == 0 && !json_is_array(json_object_get(*page, "items"))) {
		json_decref(*page);
		*page = NULL;
		rc = vs_error_set(err, VS_EAPI, "list %s: the reply is not a List", req.what);
	}
	free(req.url);
	free((char *)req.what);
	return rc;
}

/* Drop the items of page (a List) that opts->keep refuses. */
static void list_keep(json_t *page, const vs_kube_list_opts *opts)
{
	json_t *items, *kept, *item;
	size_t i;

	if (!opts || !opts->keep)
		return;
	items = json_object_get(page, "items");
	kept = json_array();
	json_array_foreach (items, i, item)
		if (opts->keep(item, opts->keep_ctx))
			json_array_append(kept, item);
	json_object_set_new(page, "items", kept);
}

/* Join page (borrowed) to all, the list so far: its items, and its metadata less the paging. */
static void list_merge(json_t *all, json_t *page)
{
	json_t *meta;

	if (all != page)
		json_array_extend(json_object_get(all, "items"), json_object_get(page, "items"));
	meta = json_object_get(page, "metadata");
	meta = json_is_object(meta) ? json_deep_copy(meta) : json_object();
	json_object_del(meta, "continue");
	json_object_del(meta, "remainingItemCount");
	json_object_set_new(all, "metadata", meta);
}

static int list_all(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_list_opts *opts,
		    long limit, json_t **out, vs_error *err)
{
	json_t *all = NULL, *page = NULL;
	char *cont = NULL;
	int rc;

	do {
		rc = list_page(c, res, ns, opts, limit, cont, &page, err);
		if (rc < 0)
			goto done;
		free(cont);
		cont = vs_json_str(page, "metadata.continue") ? vs_xstrdup(vs_json_str(page, "metadata.continue"))
							      : NULL;
		if (cont && !*cont) {
			free(cont);
			cont = NULL;
		}
		list_keep(page, opts);
		if (!all) /* the first page is the list (not a copy of it: a list may be large) */
			all = json_incref(page);
		list_merge(all, page);
		json_decref(page);
		page = NULL;
	} while (cont);
	*out = all;
	all = NULL;
done:
	free(cont);
	json_decref(all);
	return rc;
}

int vs_kube_list(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_list_opts *opts,
		 json_t **out, vs_error *err)
{
	long limit = opts && opts->limit > 0 ? opts->limit : LIST_PAGE_DEFAULT;
	int rc;

	*out = NULL;
	rc = list_all(c, res, ns, opts, limit, out, err);
	if (rc == VS_EAPI && err->http_status == 410) {
		/* The continue token expired between pages (reason Expired): as client-go's pager, list in
		 * one go. */
		vs_error_clear(err);
		rc = list_all(c, res, ns, opts, 0, out, err);
	}
	return rc;
}

/* ---- streaming: watch ---------------------------------------------------------------------------- */

struct watch_state {
	vs_kube_watch_fn fn;
	void *ctx;
	char *rv;     /* last resourceVersion seen */
	bool gone;    /* an ERROR event with code 410 */
	bool failed;  /* an ERROR event with another code: err is filled */
	bool stopped; /* fn returned nonzero */
	vs_error *err;
	const char *what;
};

static void watch_set_rv(struct watch_state *w, const char *rv)
{
	if (!rv || !*rv)
		return;
	free(w->rv);
	w->rv = vs_xstrdup(rv);
}

static int watch_line(char *line, size_t len, void *ctx)
{
	struct watch_state *w = ctx;
	json_t *ev = len ? json_loadb(line, len, 0, NULL) : NULL;
	const char *type = vs_json_str(ev, "type");
	json_t *obj = json_object_get(ev, "object");
	int rc = 0;

	if (!type || !obj) {
		if (len)
			vs_warn("watch %s: ignoring a malformed event", w->what);
		goto done;
	}
	if (!strcmp(type, "ERROR")) {
		char *body = json_dumps(obj, JSON_COMPACT);
		if (vs_json_int(obj, "code", 0) == 410) {
			w->gone = true;
		} else {
			char what[320];
			snprintf(what, sizeof(what), "watch %s", w->what);
			vs_kube_status_error((int)vs_json_int(obj, "code", 500), body, strlen(body), what, w->err);
			w->failed = true;
		}
		free(body);
		rc = 1;
		goto done;
	}
	watch_set_rv(w, vs_kube_obj_resource_version(obj));
	if (!strcmp(type, "BOOKMARK"))
		goto done;
	if (w->fn(type, obj, w->ctx) != 0) {
		w->stopped = true;
		rc = 1;
	}
done:
	json_decref(ev);
	return rc;
}

/* After 410 Gone: list again, tell the callback, and continue from the list's version. */
static int watch_relist(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_watch_opts *opts,
			struct watch_state *w, vs_error *err)
{
	vs_kube_list_opts lo = { .label_selector = opts->label_selector, .field_selector = opts->field_selector };
	json_t *list = NULL;
	int rc;

	rc = vs_kube_list(c, res, ns, &lo, &list, err);
	if (rc < 0)
		return rc;
	watch_set_rv(w, vs_kube_obj_resource_version(list));
	if (w->fn("RELIST", list, w->ctx) != 0)
		w->stopped = true;
	json_decref(list);
	return 0;
}

static char *watch_url(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_watch_opts *opts,
		       const char *rv, int64_t conn_ms)
{
	char *url = resource_url(c, res, ns, NULL, NULL);

	add_query(&url, "watch", "1");
	add_query(&url, "allowWatchBookmarks", "true");
	add_query(&url, "labelSelector", opts->label_selector);
	add_query(&url, "fieldSelector", opts->field_selector);
	add_query(&url, "resourceVersion", rv);
	add_query_int(&url, "timeoutSeconds", (conn_ms + 999) / 1000);
	return url;
}

/* One watch connection until the server ends it (asked to within WATCH_CONN_MS, or at the watch's
 * deadline when that comes first: then *last is set); *status receives the HTTP status. */
static int watch_once(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_watch_opts *opts,
		      struct watch_state *w, int64_t deadline, long *status, bool *got_data, bool *last, vs_error *err)
{
	struct line_sink sink = { .fn = watch_line, .ctx = w };
	struct request req = {
		.verb = "watch", .method = "GET", .policy = RETRY_NEVER, .what = w->what, .sink = &sink
	};
	int64_t conn = WATCH_CONN_MS, remaining = deadline ? deadline - vs_time_mono_ms() : 0;
	int rc;

	*last = deadline && remaining <= conn;
	if (*last)
		conn = remaining > 0 ? remaining : 1;
	vs_buf_init(&sink.line, LINE_MAX_BYTES);
	req.url = watch_url(c, res, ns, opts, w->rv, conn);
	req.cancel = opts->cancel;
	req.timeout_ms = *last ? conn : conn + WATCH_CONN_GRACE_MS; /* a server that stops sending */
	rc = do_request(c, &req, NULL, status, err);
	*got_data = sink.got_data;
	vs_buf_free(&sink.line);
	free(req.url);
	return rc;
}

/* What to do after a watch connection ended: 1 to reconnect, 0 to return rc, <0 an error. */
static int watch_after(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_watch_opts *opts,
		       struct watch_state *w, int rc, long status, vs_error *err)
{
	if (w->stopped)
		return 0;
	if (w->failed)
		return VS_EAPI;
	if (rc < 0 && rc != VS_ENET && rc != VS_ETIMEOUT && rc != VS_EAPI)
		return rc; /* credentials or a line over the cap: reconnecting will not help */
	if (w->gone || (rc == VS_EAPI && status == 410)) {
		w->gone = false;
		vs_error_clear(err);
		rc = watch_relist(c, res, ns, opts, w, err);
		return rc < 0 ? rc : (w->stopped ? 0 : 1);
	}
	if (rc == VS_EAPI && !status_retryable(status, RETRY_IDEMPOTENT))
		return rc;
	return 1;
}

int vs_kube_watch(vs_kube_client *c, const vs_kube_resource *res, const char *ns, const vs_kube_watch_opts *opts,
		  vs_kube_watch_fn fn, void *ctx, vs_error *err)
{
	static const vs_kube_watch_opts none = { 0 };
	struct watch_state w = { .fn = fn, .ctx = ctx, .err = err };
	struct request failing = { .verb = "watch" };
	int64_t deadline, failing_since = 0;
	unsigned failures = 0;
	bool got_data, last;
	long status;
	int rc, next;

	if (!opts)
		opts = &none;
	deadline = opts->timeout_ms > 0 ? vs_time_mono_ms() + opts->timeout_ms : 0;
	w.what = describe(res, ns, NULL, NULL);
	failing.what = w.what;
	watch_set_rv(&w, opts->resource_version);
	for (;;) {
		if (opts->cancel && opts->cancel()) {
			rc = vs_error_set(err, VS_ECANCEL, "watch %s: stopped on request", w.what);
			goto done;
		}
		if (deadline && vs_time_mono_ms() >= deadline) {
			rc = vs_error_set(err, VS_ETIMEOUT, "watch %s: no stop after %lld ms", w.what,
					  (long long)opts->timeout_ms);
			goto done;
		}
		status = 0;
		rc = watch_once(c, res, ns, opts, &w, deadline, &status, &got_data, &last, err);
		if (last && rc == VS_ETIMEOUT && !w.stopped)
			goto done; /* the last connection's timeout is the time left: the watch's time is up */
		next = watch_after(c, res, ns, opts, &w, rc, status, err);
		if (next <= 0) {
			rc = next;
			goto done;
		}
		if (got_data || rc == 0) {
			/* The server ended a stream, quiet ones too (as on its timeouts): not a failure. Resume
			 * at once after data; after none, a short pause keeps it from spinning. */
			failures = 0;
			if (!got_data)
				vs_sleep_ms(vs_kube_backoff_ms(0, c->base_ms, c->cap_ms, vs_rand_u64()));
			continue;
		}
		if (failures++ == 0)
			failing_since = vs_time_mono_ms();
		rc = avail_wait(c, &failing, failing_since,
				vs_kube_backoff_ms(failures - 1, c->base_ms, c->cap_ms, vs_rand_u64()), err);
		if (rc < 0)
			goto done; /* the server stays away: err says since when */
	}
done:
	if (rc == 0)
		vs_error_clear(err);
	free(w.rv);
	free((char *)w.what);
	return rc;
}

/* ---- streaming: logs --------------------------------------------------------------------------- */

struct log_state {
	vs_kube_line_fn fn;
	void *ctx;
};

static int log_line(char *line, size_t len, void *ctx)
{
	struct log_state *l = ctx;

	return l->fn(line, len, l->ctx);
}

int vs_kube_logs(vs_kube_client *c, const char *ns, const char *pod, const vs_kube_log_opts *opts, vs_kube_line_fn fn,
		 void *ctx, vs_error *err)
{
	static const vs_kube_log_opts none = { 0 };
	struct log_state l = { .fn = fn, .ctx = ctx };
	struct line_sink sink = { .fn = log_line, .ctx = &l, .split_cr = opts && opts->split_cr };
	struct request req = {
		.verb = "logs", .method = "GET", .policy = RETRY_IDEMPOTENT, .sink = &sink, .accept = "*/*"
	};
	int rc;

	if (!opts)
		opts = &none;
	vs_buf_init(&sink.line, LINE_MAX_BYTES);
	req.url = resource_url(c, &VS_KUBE_PODS, ns, pod, "log");
	req.what = describe(&VS_KUBE_PODS, ns, pod, NULL);
	add_query(&req.url, "container", opts->container);
	if (opts->follow)
		add_query(&req.url, "follow", "true");
	if (opts->tail_lines > 0)
		add_query_int(&req.url, "tailLines", opts->tail_lines);
	req.timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : (opts->follow ? -1 : 0);
	rc = do_request(c, &req, NULL, NULL, err);
	if (rc == 0 && !sink.stopped && sink.line.len > 0)
		fn(sink.line.data, sink.line.len, ctx); /* a last line without a newline */
	vs_buf_free(&sink.line);
	free(req.url);
	free((char *)req.what);
	return rc;
}
