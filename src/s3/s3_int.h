/*
 * The s3 module's internals, shared by its files: one request and its reply, the transfer that
 * runs it with retries, and the GET-to-PUT pipe. Nothing here is used outside src/s3.
 */
#ifndef VS_S3_INT_H
#define VS_S3_INT_H

#include "s3.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#define S3_REPLY_MAX ((size_t)16 << 20) /* an XML reply or error body, at most */
#define S3_SOURCE_ETAG "x-amz-meta-volshift-source-etag" /* the source ETag a copy was made from */
#define S3_RING_SIZE ((size_t)1 << 20)	/* bytes in flight between a GET and its PUT */

/* One request. Every pointer is borrowed. */
typedef struct s3_req {
	const char *method;	    /* GET HEAD PUT POST DELETE */
	const char *bucket;	    /* NULL: the service itself (list buckets) */
	const char *key;	    /* NULL: the bucket */
	const vs_s3_param *params;  /* query, unencoded */
	size_t nparams;
	const struct curl_slist *headers; /* "Name: value" to send */
	const char *body;		  /* an in-memory body (PUT, POST), or NULL */
	size_t body_len;
	bool keep_headers; /* collect the headers a copy carries (vs_s3_head.keep) */
} s3_req;

/* What came back. */
typedef struct s3_reply {
	long status;
	vs_buf body; /* the body of an XML reply or an error (capped at S3_REPLY_MAX) */
	vs_s3_head head;
	bool headers_done; /* the final response's headers are all in */
} s3_reply;

void s3_reply_init(s3_reply *r);
void s3_reply_clear(s3_reply *r);

/* Receives a 2xx body as it streams; nonzero aborts. reset starts it over (before a retry). */
typedef struct s3_sink {
	int (*write)(const char *data, size_t n, void *ctx);
	void (*reset)(void *ctx);
	void *ctx;
} s3_sink;

/* One transfer on an easy handle of the client's pool. */
typedef struct s3_xfer {
	vs_s3_client *c;
	CURL *h;
	char *url;
	struct curl_slist *hdrs, *connect_to;
	s3_reply *reply;
	const s3_sink *sink; /* a 2xx body goes here when set, else into reply->body */
	bool sink_failed;
	char errbuf[CURL_ERROR_SIZE];
} s3_xfer;

/* Take a handle and set it up for req (URL, signing, TLS, timeouts, headers, reply capture; the
 * body is the caller's to set). sink may be NULL. */
void s3_xfer_start(s3_xfer *x, vs_s3_client *c, const s3_req *req, s3_reply *reply, const s3_sink *sink);
/* Give the handle back and free what start made. */
void s3_xfer_end(s3_xfer *x);
/* The outcome of a finished transfer as an error (0 for a 2xx reply). */
int s3_xfer_result(const s3_xfer *x, const s3_req *req, CURLcode code, vs_error *err);
/* Count a request sent (and whether it is a retry). */
void s3_count(vs_s3_client *c, bool retry);

/*
 * Run req against c with retries (transient failures only), into reply (body buffered, or given
 * to sink when not NULL and the reply is 2xx). A non-2xx final reply is VS_EAPI with the status,
 * the S3 error code as reason and a message "METHOD bucket/key: HTTP status Code: Message".
 */
int s3_do(vs_s3_client *c, const s3_req *req, s3_reply *reply, const s3_sink *sink, vs_error *err);

/* What bucket/key (or bucket, or "the endpoint") is called in messages. Caller frees. */
char *s3_what(const s3_req *req);

/* Copy an ETag header or element without its quotes (or a W/) into out. */
void s3_etag_copy(const char *raw, char *out, size_t cap);
/* Lower-case hex of a 16-byte MD5 into out (33 bytes). */
void s3_md5_hex(const unsigned char md5[16], char out[33]);

/* True for an error worth trying again: the connection failed, 5xx, SlowDown, RequestTimeout. */
bool s3_error_transient(const vs_error *err);
/* The delay before attempt (counting from 1), with full jitter. */
int64_t s3_backoff_ms(const vs_s3_client *c, int attempt);
int s3_max_attempts(const vs_s3_client *c);

/* One GET streamed into one PUT through a bounded buffer, both on one connection each. */
typedef struct s3_pipe_opts {
	int64_t size;	    /* the PUT's Content-Length (the GET must deliver exactly this) */
	EVP_MD_CTX *md5;    /* of the bytes moved, restarted with each attempt; may be NULL */
	void (*on_bytes)(int64_t n, void *ctx);
	void *ctx;
	/* Before the PUT starts: add headers taken from the GET's reply (single PUTs carry them). */
	int (*put_headers)(const s3_reply *get, struct curl_slist **headers, void *ctx);
} s3_pipe_opts;

/*
 * GET get (from src) into PUT put (to dst), with retries of the pair. *put_reply holds the PUT's
 * reply (its ETag), *get_reply the GET's headers. Errors name the side that failed.
 */
int s3_pipe(vs_s3_client *src, const s3_req *get, vs_s3_client *dst, const s3_req *put, const s3_pipe_opts *opts,
	    s3_reply *get_reply, s3_reply *put_reply, vs_error *err);

#endif
