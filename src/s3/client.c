/*
 * client: S3 requests over libcurl. A request takes an idle easy handle from the client's pool (or
 * makes one) and gives it back when done, so connections stay alive for the next request of any
 * thread, as in the kube client. The URL is built here in canonical form (url.c) and libcurl signs
 * it with SigV4; the payload is declared UNSIGNED-PAYLOAD, so bodies stream without being hashed
 * first (a single PUT's integrity is checked on its ETag instead, see copy.c).
 * Transient failures are retried with full-jitter backoff: connection failures, 5xx, and the S3
 * codes SlowDown, RequestTimeout, InternalError and ServiceUnavailable.
 */
#include "s3/s3_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONNECT_TIMEOUT_MS 10000
#define LIST_PAGE	   "1000"

struct vs_s3_client {
	char *endpoint;
	char *sigv4; /* "aws:amz:REGION:SERVICE" */
	bool is_s3;
	vs_s3_credentials creds;
	char *ca_file;
	bool insecure;
	char *fixed_date, *connect_to;
	int max_attempts;
	int64_t base_ms, cap_ms, timeout_ms;
	pthread_mutex_t pool_lock;
	CURL **pool;
	size_t pool_len, pool_cap;
	atomic_uint_fast64_t requests, retries;
};

static pthread_once_t client_once = PTHREAD_ONCE_INIT;

static void client_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int vs_s3_client_new(const vs_s3_client_opts *opts, vs_s3_client **out, vs_error *err)
{
	vs_s3_client *c;
	const char *service = opts->service ? opts->service : "s3";

	*out = NULL;
	if (!opts->endpoint || !(vs_str_has_prefix(opts->endpoint, "http://") ||
				 vs_str_has_prefix(opts->endpoint, "https://")))
		return vs_error_set(err, VS_EINVAL, "endpoint %s: not an http(s) URL",
				    opts->endpoint ? opts->endpoint : "(none)");
	if (!opts->creds || !opts->creds->access_key_id[0] || !opts->creds->secret_access_key[0])
		return vs_error_set(err, VS_EINVAL, "endpoint %s: no credentials", opts->endpoint);
	pthread_once(&client_once, client_global_init);
	c = vs_xcalloc(1, sizeof(*c));
	c->endpoint = vs_xstrdup(opts->endpoint);
	if (vs_str_has_suffix(c->endpoint, "/"))
		c->endpoint[strlen(c->endpoint) - 1] = '\0';
	c->sigv4 = vs_xasprintf("aws:amz:%s:%s", opts->region ? opts->region : "us-east-1", service);
	c->is_s3 = strcmp(service, "s3") == 0;
	c->creds = *opts->creds;
	c->ca_file = opts->ca_file ? vs_xstrdup(opts->ca_file) : NULL;
	c->insecure = opts->insecure;
	c->fixed_date = opts->fixed_date ? vs_xstrdup(opts->fixed_date) : NULL;
	c->connect_to = opts->connect_to ? vs_xstrdup(opts->connect_to) : NULL;
	c->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : 10;
	c->base_ms = opts->backoff_base_ms > 0 ? opts->backoff_base_ms : 100;
	c->cap_ms = opts->backoff_cap_ms > 0 ? opts->backoff_cap_ms : 5000;
	c->timeout_ms = opts->request_timeout_ms > 0 ? opts->request_timeout_ms : 60000;
	pthread_mutex_init(&c->pool_lock, NULL);
	*out = c;
	return 0;
}

void vs_s3_client_free(vs_s3_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->pool_len; i++)
		curl_easy_cleanup(c->pool[i]);
	free(c->pool);
	pthread_mutex_destroy(&c->pool_lock);
	vs_s3_credentials_wipe(&c->creds);
	free(c->endpoint);
	free(c->sigv4);
	free(c->ca_file);
	free(c->fixed_date);
	free(c->connect_to);
	free(c);
}

uint64_t vs_s3_client_requests(const vs_s3_client *c)
{
	return atomic_load(&((vs_s3_client *)c)->requests);
}

uint64_t vs_s3_client_retries(const vs_s3_client *c)
{
	return atomic_load(&((vs_s3_client *)c)->retries);
}

int s3_max_attempts(const vs_s3_client *c)
{
	return c->max_attempts;
}

int64_t s3_backoff_ms(const vs_s3_client *c, int attempt)
{
	return vs_kube_backoff_ms((unsigned)(attempt > 0 ? attempt - 1 : 0), c->base_ms, c->cap_ms, vs_rand_u64());
}

/* ---- handles ----------------------------------------------------------------------------------- */

static CURL *client_take(vs_s3_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len)
		h = c->pool[--c->pool_len];
	pthread_mutex_unlock(&c->pool_lock);
	if (!h)
		h = curl_easy_init();
	if (!h)
		abort(); /* out of memory */
	return h;
}

static void client_give(vs_s3_client *c, CURL *h)
{
	curl_easy_reset(h);
	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len == c->pool_cap) {
		c->pool_cap = c->pool_cap ? c->pool_cap * 2 : 8;
		c->pool = vs_xrealloc(c->pool, c->pool_cap * sizeof(*c->pool));
	}
	c->pool[c->pool_len++] = h;
	pthread_mutex_unlock(&c->pool_lock);
}

/* ---- replies ----------------------------------------------------------------------------------- */

void s3_reply_init(s3_reply *r)
{
	memset(r, 0, sizeof(*r));
	vs_buf_init(&r->body, S3_REPLY_MAX);
	r->head.size = -1;
}

void s3_reply_clear(s3_reply *r)
{
	vs_buf_free(&r->body);
	vs_s3_head_clear(&r->head);
	memset(r, 0, sizeof(*r));
	r->head.size = -1;
}

void vs_s3_head_clear(vs_s3_head *h)
{
	if (!h)
		return;
	curl_slist_free_all(h->keep);
	memset(h, 0, sizeof(*h));
	h->size = -1;
}

/* Without its quotes and without the W/ of a weak one. */
void s3_etag_copy(const char *raw, char *out, size_t cap)
{
	size_t n;

	if (strncmp(raw, "W/", 2) == 0)
		raw += 2;
	if (raw[0] == '"')
		raw++;
	n = strlen(raw);
	if (n && raw[n - 1] == '"')
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, raw, n);
	out[n] = '\0';
}

void s3_md5_hex(const unsigned char md5[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md5[i]);
}

/* The headers an object keeps when copied. */
static bool client_kept_header(const char *name, size_t n)
{
	static const char *const kept[] = { "content-type",	   "content-encoding", "content-disposition",
					    "cache-control",	   "content-language", "expires" };

	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (strlen(kept[i]) == n && strncasecmp(name, kept[i], n) == 0)
			return true;
	return n > 11 && strncasecmp(name, "x-amz-meta-", 11) == 0 &&
	       !(n == strlen(S3_SOURCE_ETAG) && strncasecmp(name, S3_SOURCE_ETAG, n) == 0);
}

static size_t client_header_cb(char *data, size_t size, size_t nitems, void *ctx)
{
	s3_reply *r = ctx;
	size_t n = size * nitems, len = n, nl;
	const char *colon;
	char value[1024];

	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* a new response (after 100 Continue): forget the last one's headers */
		vs_s3_head_clear(&r->head);
		r->headers_done = false;
		return n;
	}
	if (len == 0) {
		r->headers_done = true;
		return n;
	}
	colon = memchr(data, ':', len);
	if (!colon)
		return n;
	nl = (size_t)(colon - data);
	const char *v = colon + 1;
	size_t vlen = len - nl - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	if (vlen >= sizeof(value))
		vlen = sizeof(value) - 1;
	memcpy(value, v, vlen);
	value[vlen] = '\0';
	if (nl == 14 && strncasecmp(data, "content-length", nl) == 0)
		r->head.size = strtoll(value, NULL, 10);
	else if (nl == 4 && strncasecmp(data, "etag", nl) == 0)
		s3_etag_copy(value, r->head.etag, sizeof(r->head.etag));
	else if (nl == strlen(S3_SOURCE_ETAG) && strncasecmp(data, S3_SOURCE_ETAG, nl) == 0)
		snprintf(r->head.source_etag, sizeof(r->head.source_etag), "%s", value);
	if (client_kept_header(data, nl)) {
		char *line = vs_xasprintf("%.*s: %s", (int)nl, data, value);
		r->head.keep = curl_slist_append(r->head.keep, line);
		free(line);
	}
	return n;
}

static size_t client_write_cb(char *data, size_t size, size_t nitems, void *ctx)
{
	s3_xfer *x = ctx;
	size_t n = size * nitems;
	long status = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (x->sink && status >= 200 && status < 300) {
		if (x->sink->write(data, n, x->sink->ctx) != 0) {
			x->sink_failed = true;
			return 0;
		}
		return n;
	}
	/* past the cap, the rest is dropped: an error body's start says enough */
	vs_buf_append(&x->reply->body, data, n);
	return n;
}

char *s3_what(const s3_req *req)
{
	if (!req->bucket)
		return vs_xstrdup("the endpoint");
	if (!req->key)
		return vs_xasprintf("bucket %s", req->bucket);
	return vs_xasprintf("%s/%s", req->bucket, req->key);
}

/* The URL of req: endpoint, encoded path and canonical query. Caller frees. */
static char *client_url(const vs_s3_client *c, const s3_req *req)
{
	vs_buf b;

	vs_buf_init(&b, 0);
	vs_buf_puts(&b, c->endpoint);
	vs_buf_puts(&b, "/");
	if (req->bucket) {
		vs_s3_uri_encode(&b, req->bucket, false);
		if (req->key) {
			vs_buf_puts(&b, "/");
			vs_s3_uri_encode(&b, req->key, true);
		}
	}
	if (req->nparams) {
		vs_buf_puts(&b, "?");
		vs_s3_query_canonical(&b, req->params, req->nparams);
	}
	return vs_buf_steal(&b);
}

void s3_count(vs_s3_client *c, bool retry)
{
	atomic_fetch_add(&c->requests, 1);
	if (retry)
		atomic_fetch_add(&c->retries, 1);
}

void s3_xfer_start(s3_xfer *x, vs_s3_client *c, const s3_req *req, s3_reply *reply, const s3_sink *sink)
{
	CURL *h = client_take(c);

	memset(x, 0, sizeof(*x));
	x->c = c;
	x->h = h;
	x->reply = reply;
	x->sink = sink;
	x->url = client_url(c, req);
	curl_easy_setopt(h, CURLOPT_URL, x->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	/* no progress for timeout_ms fails the transfer; a long transfer that moves is fine */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)((c->timeout_ms + 999) / 1000));
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, c->creds.access_key_id);
	curl_easy_setopt(h, CURLOPT_PASSWORD, c->creds.secret_access_key);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "volshift");
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->connect_to) {
		x->connect_to = curl_slist_append(NULL, c->connect_to);
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, x->connect_to);
	}
	for (const struct curl_slist *s = req->headers; s; s = s->next)
		x->hdrs = curl_slist_append(x->hdrs, s->data);
	if (c->is_s3)
		x->hdrs = curl_slist_append(x->hdrs, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	if (c->fixed_date) {
		char date[64];
		snprintf(date, sizeof(date), "X-Amz-Date: %s", c->fixed_date);
		x->hdrs = curl_slist_append(x->hdrs, date);
	}
	/* libcurl would sign an "Expect:" that removes its Expect header, and not send it; so the
	 * header stays, and a server that does not answer 100 Continue costs this wait per upload */
	curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 100L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, client_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, reply);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, client_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	if (req->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
}

void s3_xfer_end(s3_xfer *x)
{
	if (x->h)
		client_give(x->c, x->h);
	curl_slist_free_all(x->hdrs);
	curl_slist_free_all(x->connect_to);
	free(x->url);
	x->h = NULL;
	x->hdrs = x->connect_to = NULL;
	x->url = NULL;
}

/* A reason for a reply without an S3 error body (HEAD, or a proxy's page). */
static const char *client_status_reason(long status)
{
	switch (status) {
	case 400: return "BadRequest";
	case 403: return "Forbidden";
	case 404: return "NotFound";
	case 409: return "Conflict";
	case 412: return "PreconditionFailed";
	case 500: return "InternalError";
	case 503: return "ServiceUnavailable";
	default: return status >= 500 ? "ServerError" : "Error";
	}
}

/* Advice for the errors people meet first. */
static const char *client_hint(const char *code)
{
	if (strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "InvalidAccessKeyId") == 0)
		return " (the credentials were refused: check the access key id and the secret key)";
	if (strcmp(code, "AccessDenied") == 0)
		return " (the access key is not allowed to do this)";
	return "";
}

int s3_xfer_result(const s3_xfer *x, const s3_req *req, CURLcode code, vs_error *err)
{
	char *what = s3_what(req);
	long status = 0;
	int rc = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	x->reply->status = status;
	if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && x->sink_failed && status >= 300)) {
		if (x->sink_failed)
			rc = vs_error_set(err, VS_EIO, "%s %s: the reply could not be taken in", req->method, what);
		else
			rc = vs_error_set(err, VS_ENET, "%s %s: %s", req->method, what,
					  x->errbuf[0] ? x->errbuf : curl_easy_strerror(code));
	} else if (status < 200 || status >= 300) {
		char scode[64], msg[256];
		const vs_buf *b = &x->reply->body;

		if (!(b->len && vs_s3_error_parse(b->data, b->len, scode, msg))) {
			snprintf(scode, sizeof(scode), "%s", client_status_reason(status));
			msg[0] = '\0';
		}
		rc = vs_error_set_api(err, (int)status, scode, "%s %s: HTTP %ld %s%s%s%s", req->method, what, status,
				      scode, msg[0] ? ": " : "", msg, client_hint(scode));
	}
	free(what);
	return rc;
}

bool s3_error_transient(const vs_error *err)
{
	static const char *const codes[] = { "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
					     "ServerError", "RequestTimeTooSkewed" };

	if (err->code == VS_ENET)
		return true;
	if (err->code != VS_EAPI)
		return false;
	if (err->http_status >= 500 || err->http_status == 429)
		return true;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(err->reason, codes[i]) == 0)
			return true;
	return false;
}

int s3_do(vs_s3_client *c, const s3_req *req, s3_reply *reply, const s3_sink *sink, vs_error *err)
{
	int rc = 0;

	for (int attempt = 1;; attempt++) {
		s3_xfer x;
		CURLcode code;

		vs_buf_reset(&reply->body);
		vs_s3_head_clear(&reply->head);
		reply->headers_done = false;
		if (sink && sink->reset)
			sink->reset(sink->ctx);
		s3_xfer_start(&x, c, req, reply, sink);
		s3_count(c, attempt > 1);
		code = curl_easy_perform(x.h);
		rc = s3_xfer_result(&x, req, code, err);
		s3_xfer_end(&x);
		if (rc == 0 || !s3_error_transient(err) || attempt >= c->max_attempts)
			break;
		vs_debug("s3: %s; attempt %d of %d", err->message, attempt, c->max_attempts);
		vs_sleep_ms(s3_backoff_ms(c, attempt));
	}
	if (rc < 0 && !req->keep_headers && s3_error_transient(err))
		vs_error_wrap(err, "after %d attempts", c->max_attempts);
	return rc;
}

/* ---- verbs ------------------------------------------------------------------------------------- */

int vs_s3_list_buckets(vs_s3_client *c, char ***names, size_t *count, vs_error *err)
{
	s3_req req = { .method = "GET" };
	s3_reply r;
	int rc;

	*names = NULL;
	*count = 0;
	s3_reply_init(&r);
	rc = s3_do(c, &req, &r, NULL, err);
	if (rc == 0)
		rc = vs_s3_buckets_parse(r.body.data ? r.body.data : "", r.body.len, names, count, err);
	s3_reply_clear(&r);
	return rc;
}

int vs_s3_bucket_exists(vs_s3_client *c, const char *bucket, bool *exists, vs_error *err)
{
	/* a listing of one key rather than a HEAD: a refusal then comes with its reason in the body */
	vs_s3_param params[] = { { "list-type", "2" }, { "max-keys", "1" } };
	s3_req req = { .method = "GET", .bucket = bucket, .params = params, .nparams = 2 };
	s3_reply r;
	int rc;

	*exists = false;
	s3_reply_init(&r);
	rc = s3_do(c, &req, &r, NULL, err);
	if (rc == 0)
		*exists = true;
	else if (err->code == VS_EAPI && err->http_status == 404)
		rc = 0;
	s3_reply_clear(&r);
	if (rc == 0)
		vs_error_clear(err);
	return rc;
}

int vs_s3_create_bucket(vs_s3_client *c, const char *bucket, vs_error *err)
{
	s3_req req = { .method = "PUT", .bucket = bucket, .body = "", .body_len = 0 };
	s3_reply r;
	int rc;

	s3_reply_init(&r);
	rc = s3_do(c, &req, &r, NULL, err);
	if (rc < 0 && vs_error_is(err, "BucketAlreadyOwnedByYou")) {
		vs_error_clear(err);
		rc = 0;
	}
	s3_reply_clear(&r);
	return rc;
}

int vs_s3_list_objects(vs_s3_client *c, const char *bucket, const char *prefix, vs_s3_object_fn fn, void *ctx,
		       vs_error *err)
{
	char *token = NULL, *what = vs_xasprintf("listing bucket %s", bucket);
	int rc = 0;

	do {
		vs_s3_param params[5] = { { "list-type", "2" }, { "encoding-type", "url" }, { "max-keys", LIST_PAGE } };
		size_t n = 3;
		s3_req req = { .method = "GET", .bucket = bucket, .params = params };
		vs_s3_listing page;
		s3_reply r;

		if (prefix && *prefix)
			params[n++] = (vs_s3_param){ "prefix", prefix };
		if (token)
			params[n++] = (vs_s3_param){ "continuation-token", token };
		req.nparams = n;
		s3_reply_init(&r);
		rc = s3_do(c, &req, &r, NULL, err);
		if (rc == 0)
			rc = vs_s3_listing_parse(r.body.data ? r.body.data : "", r.body.len, true, what, &page, err);
		s3_reply_clear(&r);
		if (rc < 0)
			break;
		for (size_t i = 0; i < page.count && rc == 0; i++)
			rc = fn(&page.objects[i], ctx);
		free(token);
		token = page.truncated ? vs_xstrdup(page.next_token) : NULL;
		vs_s3_listing_clear(&page);
	} while (rc == 0 && token);
	free(token);
	free(what);
	return rc;
}

int vs_s3_head_object(vs_s3_client *c, const char *bucket, const char *key, vs_s3_head *out, vs_error *err)
{
	s3_req req = { .method = "HEAD", .bucket = bucket, .key = key, .keep_headers = true };
	s3_reply r;
	int rc;

	s3_reply_init(&r);
	rc = s3_do(c, &req, &r, NULL, err);
	if (rc == 0) {
		*out = r.head;
		memset(&r.head, 0, sizeof(r.head));
	} else {
		memset(out, 0, sizeof(*out));
		out->size = -1;
	}
	s3_reply_clear(&r);
	return rc;
}

int vs_s3_delete_object(vs_s3_client *c, const char *bucket, const char *key, vs_error *err)
{
	s3_req req = { .method = "DELETE", .bucket = bucket, .key = key };
	s3_reply r;
	int rc;

	s3_reply_init(&r);
	rc = s3_do(c, &req, &r, NULL, err);
	if (rc < 0 && err->code == VS_EAPI && err->http_status == 404) {
		vs_error_clear(err);
		rc = 0;
	}
	s3_reply_clear(&r);
	return rc;
}

struct client_md5 {
	EVP_MD_CTX *ctx;
	int64_t size;
};

static int client_md5_write(const char *data, size_t n, void *ctx)
{
	struct client_md5 *m = ctx;

	m->size += (int64_t)n;
	return EVP_DigestUpdate(m->ctx, data, n) == 1 ? 0 : -1;
}

static void client_md5_reset(void *ctx)
{
	struct client_md5 *m = ctx;

	m->size = 0;
	EVP_DigestInit_ex(m->ctx, EVP_md5(), NULL);
}

int vs_s3_object_md5(vs_s3_client *c, const char *bucket, const char *key, unsigned char md5[16], int64_t *size,
		     vs_error *err)
{
	struct client_md5 m = { .ctx = EVP_MD_CTX_new() };
	s3_sink sink = { client_md5_write, client_md5_reset, &m };
	s3_req req = { .method = "GET", .bucket = bucket, .key = key };
	s3_reply r;
	unsigned int len = 16;
	int rc;

	if (!m.ctx)
		abort();
	s3_reply_init(&r);
	rc = s3_do(c, &req, &r, &sink, err);
	if (rc == 0 && EVP_DigestFinal_ex(m.ctx, md5, &len) != 1)
		rc = vs_error_set(err, VS_EIO, "%s/%s: MD5 failed", bucket, key);
	*size = m.size;
	s3_reply_clear(&r);
	EVP_MD_CTX_free(m.ctx);
	return rc;
}

int vs_s3_put_object(vs_s3_client *c, const char *bucket, const char *key, const void *data, size_t len,
		     const char *const *headers, vs_error *err)
{
	struct curl_slist *h = NULL;
	s3_req req = { .method = "PUT", .bucket = bucket, .key = key, .body = data ? data : "", .body_len = len };
	s3_reply r;
	int rc;

	for (size_t i = 0; headers && headers[i]; i++)
		h = curl_slist_append(h, headers[i]);
	req.headers = h;
	s3_reply_init(&r);
	rc = s3_do(c, &req, &r, NULL, err);
	s3_reply_clear(&r);
	curl_slist_free_all(h);
	return rc;
}
