/*
 * s3: volshift's object-store mover. It copies every bucket and object from one S3 endpoint to
 * another (`volshift s3 sync`, and a plan's objectStore step), and is the only part of
 * volshift that speaks S3.
 *
 * The client signs with SigV4 through libcurl (CURLOPT_AWS_SIGV4), addresses buckets path-style
 * (http(s)://HOST:PORT/BUCKET/KEY), and hands libcurl a request line that is already canonical: the
 * path percent-encoded as AWS specifies and the query sorted, so what libcurl signs is what the
 * server canonicalizes. Replies are parsed with libxml2. Transient failures (5xx, SlowDown, reset
 * connections) are retried with full-jitter backoff.
 *
 * The sync compares before it copies: an object is skipped when its size matches and its ETags
 * match (both plain MD5s), or when the destination records the source's ETag that it was copied
 * from (x-amz-meta-volshift-source-etag, written at upload when the ETags cannot be compared). So
 * a second run copies nothing and a run after a crash copies only what is not there yet. Objects
 * are streamed from GET to PUT through a small buffer, large ones as multipart uploads part by
 * part; an upload that fails is aborted.
 *
 * Every function returns 0 or a negative VS_E* code and fills err with one line naming the bucket,
 * the key and the cause. Credentials never appear in an error, a log line or an event.
 */
#ifndef VS_S3_H
#define VS_S3_H

#include "kube/kube.h"
#include "util/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- credentials ------------------------------------------------------------------------------ */

typedef struct vs_s3_credentials {
	char access_key_id[128];
	char secret_access_key[256];
} vs_s3_credentials;

/*
 * Parse text in the AWS shared-credentials format (INI: [profile] sections with
 * aws_access_key_id and aws_secret_access_key; '#' and ';' start comments; keys and values are
 * trimmed) and fill *out with the keys of profile (NULL or "": "default"). what names the text in
 * errors (a file's path). Errors: VS_EINVAL naming what and the profile when the profile is
 * missing, lacks a key, or a line is not "key = value" or "[section]". Secrets never appear in err.
 */
int vs_s3_credentials_parse(const char *text, size_t len, const char *what, const char *profile,
			    vs_s3_credentials *out, vs_error *err);

/* Read the file path (at most 1 MiB) and parse it as above. VS_EIO when it cannot be read. */
int vs_s3_credentials_load_file(const char *path, const char *profile, vs_s3_credentials *out, vs_error *err);

/*
 * Fill *out from a Secret object (borrowed): data keys access-key-id and secret-access-key (base64,
 * as the API serves them). VS_EINVAL naming the Secret and the missing or undecodable key.
 */
int vs_s3_credentials_from_secret(const json_t *secret, vs_s3_credentials *out, vs_error *err);

/* True when spec is "secret:NAMESPACE/NAME"; then *ns and *name (caller frees) are its parts. A
 * "secret:" spec without both parts is VS_EINVAL. */
int vs_s3_secret_spec(const char *spec, char **ns, char **name, bool *is_secret, vs_error *err);

/*
 * Resolve a credentials spec: "secret:NAMESPACE/NAME" is read through kube (borrowed; must not be
 * NULL then), anything else is a shared-credentials file read with profile. Errors as above, and
 * those of vs_kube_get (a missing Secret is VS_EAPI NotFound).
 */
int vs_s3_credentials_resolve(const char *spec, const char *profile, vs_kube_client *kube, vs_s3_credentials *out,
			      vs_error *err);

/* Overwrite the secret in c (explicit_bzero); NULL is fine. */
void vs_s3_credentials_wipe(vs_s3_credentials *c);

/* ---- locations -------------------------------------------------------------------------------- */

/* Where a sync reads or writes: http(s)://HOST:PORT[/BUCKET[/PREFIX]]. All members owned. */
typedef struct vs_s3_location {
	char *endpoint; /* "http://host:port", no path */
	char *bucket;	/* NULL: every bucket */
	char *prefix;	/* "" or a key prefix ending in '/' */
} vs_s3_location;

/* Parse url into *out (clear with vs_s3_location_clear). VS_EINVAL naming url: not http(s), no
 * host, a query or fragment, or a bucket name S3 refuses (3-63 of a-z 0-9 . -). A PREFIX is taken
 * as a folder: "dir" and "dir/" both select the keys under "dir/". Percent-escapes in the path are
 * decoded. */
int vs_s3_location_parse(const char *url, vs_s3_location *out, vs_error *err);
void vs_s3_location_clear(vs_s3_location *loc);

/* ---- encoding (pure; exposed for tests) -------------------------------------------------------- */

/* Append s percent-encoded as SigV4 specifies (all but A-Z a-z 0-9 - . _ ~ as %XX, upper-case
 * hex); a '/' stays when keep_slash. */
int vs_s3_uri_encode(vs_buf *out, const char *s, bool keep_slash);

/* One query parameter, unencoded. */
typedef struct vs_s3_param {
	const char *name;
	const char *value; /* NULL: "" */
} vs_s3_param;

/* Append the canonical query string of params (each name and value encoded, sorted by name then
 * value, joined with '&'): the form that goes on the wire and is signed. */
int vs_s3_query_canonical(vs_buf *out, const vs_s3_param *params, size_t n);

/* Decode a percent-encoded string (encoding-type=url in listings; '+' is a space when form) into a
 * newly allocated string. VS_EINVAL on a bad escape or an embedded NUL. */
int vs_s3_url_decode(const char *s, bool form, char **out, vs_error *err);

/* ---- XML replies (pure; exposed for tests and fuzzing) ------------------------------------------ */

typedef struct vs_s3_object {
	char *key;	/* owned */
	int64_t size;
	char etag[80];	/* without quotes; "" when the server sent none */
} vs_s3_object;

/* One page of ListObjectsV2. */
typedef struct vs_s3_listing {
	vs_s3_object *objects; /* owned, in the order of the reply */
	size_t count;
	bool truncated;
	char *next_token; /* NextContinuationToken, or NULL */
} vs_s3_listing;

/*
 * Parse a ListObjectsV2 reply (ListBucketResult) of len bytes into *out (clear with
 * vs_s3_listing_clear). url_encoded: keys were asked for with encoding-type=url and are decoded.
 * Errors: VS_EINVAL naming what ("listing bucket b") when the XML is malformed, is not a
 * ListBucketResult, an object lacks Key or has a bad Size, or IsTruncated is true without a token.
 * At most 100,000 objects per page.
 */
int vs_s3_listing_parse(const char *xml, size_t len, bool url_encoded, const char *what, vs_s3_listing *out,
			vs_error *err);
void vs_s3_listing_clear(vs_s3_listing *l);

/* The bucket names of a ListAllMyBucketsResult (a NULL-terminated array, caller frees each and
 * the array). VS_EINVAL as above. */
int vs_s3_buckets_parse(const char *xml, size_t len, char ***names, size_t *count, vs_error *err);

/* An S3 <Error> body's Code and Message (each "" when absent; truncated to fit). False when xml is
 * not an Error document. */
bool vs_s3_error_parse(const char *xml, size_t len, char code[64], char message[256]);

/* The first element named name anywhere in xml (its text, caller frees), or NULL. */
char *vs_s3_xml_find(const char *xml, size_t len, const char *name);

/* True when etag (no quotes) is a plain MD5: 32 hex digits. Multipart ETags ("md5-N") are not. */
bool vs_s3_etag_is_md5(const char *etag);

/* ---- client ----------------------------------------------------------------------------------- */

typedef struct vs_s3_client vs_s3_client;

typedef struct vs_s3_client_opts {
	const char *endpoint; /* "http(s)://host:port" */
	const char *region;   /* NULL: "us-east-1" */
	const char *service;  /* NULL: "s3" (only "s3" sends x-amz-content-sha256) */
	const vs_s3_credentials *creds; /* copied */
	const char *ca_file;		/* NULL: the system's */
	bool insecure;			/* do not verify TLS */
	int max_attempts;		/* per request, first included; 0: 10 */
	int64_t backoff_base_ms;	/* 0: 100 */
	int64_t backoff_cap_ms;		/* 0: 5000 */
	int64_t request_timeout_ms;	/* a request without progress for this long fails; 0: 60000 */
	/* For tests: sign with this X-Amz-Date ("20150830T123600Z") and connect to this
	 * "HOST:PORT:HOST2:PORT2" (libcurl's CONNECT_TO) instead. NULL normally. */
	const char *fixed_date;
	const char *connect_to;
} vs_s3_client_opts;

/* A thread-safe client for one endpoint. VS_EINVAL for a bad endpoint. *out: vs_s3_client_free. */
int vs_s3_client_new(const vs_s3_client_opts *opts, vs_s3_client **out, vs_error *err);
void vs_s3_client_free(vs_s3_client *c);
/* Requests sent so far, each retry counted; and how many were retries. Thread-safe. */
uint64_t vs_s3_client_requests(const vs_s3_client *c);
uint64_t vs_s3_client_retries(const vs_s3_client *c);

/* What a HEAD or GET said of an object. */
typedef struct vs_s3_head {
	int64_t size;
	char etag[80];		/* without quotes */
	char source_etag[80];	/* x-amz-meta-volshift-source-etag, or "" */
	struct curl_slist *keep; /* the headers to carry to a copy ("Name: value"), owned */
} vs_s3_head;
void vs_s3_head_clear(vs_s3_head *h);

/* Names of the buckets (NULL-terminated; caller frees each and the array). */
int vs_s3_list_buckets(vs_s3_client *c, char ***names, size_t *count, vs_error *err);
/* Create bucket; one that exists already and is ours is fine. */
int vs_s3_create_bucket(vs_s3_client *c, const char *bucket, vs_error *err);
/* *exists: whether bucket exists (HEAD; 404 is false, other errors fail). */
int vs_s3_bucket_exists(vs_s3_client *c, const char *bucket, bool *exists, vs_error *err);

/* Called with each object listed (borrowed for the call); nonzero stops with that code. */
typedef int (*vs_s3_object_fn)(const vs_s3_object *obj, void *ctx);
/* Every object of bucket whose key starts with prefix (NULL: all), following continuation tokens. */
int vs_s3_list_objects(vs_s3_client *c, const char *bucket, const char *prefix, vs_s3_object_fn fn, void *ctx,
		       vs_error *err);

/* HEAD an object into *out (vs_s3_head_clear). A missing object is VS_EAPI with http_status 404. */
int vs_s3_head_object(vs_s3_client *c, const char *bucket, const char *key, vs_s3_head *out, vs_error *err);
/* DELETE an object (a missing one is fine). */
int vs_s3_delete_object(vs_s3_client *c, const char *bucket, const char *key, vs_error *err);
/* Stream an object's content into md5 (16 bytes; the MD5 of what was read) and *size. */
int vs_s3_object_md5(vs_s3_client *c, const char *bucket, const char *key, unsigned char md5[16], int64_t *size,
		     vs_error *err);
/* PUT a small object from memory with extra headers ("Name: value", may be NULL). For tests and
 * tools; copies go through vs_s3_copy_object. */
int vs_s3_put_object(vs_s3_client *c, const char *bucket, const char *key, const void *data, size_t len,
		     const char *const *headers, vs_error *err);

/* ---- copying one object ----------------------------------------------------------------------- */

typedef struct vs_s3_copy_opts {
	int64_t multipart_threshold; /* larger objects go as multipart uploads; 0: 64 MiB */
	int64_t part_size;	     /* 0: 16 MiB (at least 5 MiB, raised so no more than 10,000 parts) */
	/* Called from the copying thread as bytes reach the destination (may be NULL). */
	void (*on_bytes)(int64_t n, void *ctx);
	void *ctx;
} vs_s3_copy_opts;

/* What a copy did. */
typedef struct vs_s3_copy_result {
	int64_t size;
	unsigned char md5[16]; /* of the content, when md5_known (a single PUT) */
	bool md5_known;
	bool multipart;
	char etag[80];	       /* the source's ETag that was copied */
} vs_s3_copy_result;

/*
 * Copy object obj (as listed: its key, size and ETag) of src_bucket on src to dst_bucket/dst_key on
 * dst, with its Content-Type, Content-Encoding, Content-Disposition, Cache-Control,
 * Content-Language, Expires and x-amz-meta-* headers, streaming through a bounded buffer. Up to
 * multipart_threshold it is one PUT, whose ETag must equal the MD5 of what was sent; above, a
 * multipart upload part by part (each part's ETag checked the same way), aborted when it fails;
 * an upload of the same key left by an earlier run is aborted first. The source is read with
 * If-Match on the listed ETag, so an object changed since the listing fails (PreconditionFailed)
 * instead of mixing versions. When the destination's ETag will not be a plain MD5 equal to the
 * source's, the source's ETag is recorded as x-amz-meta-volshift-source-etag. Transient errors are
 * retried. opts may be NULL.
 */
int vs_s3_copy_object(vs_s3_client *src, const char *src_bucket, const vs_s3_object *obj, vs_s3_client *dst,
		      const char *dst_bucket, const char *dst_key, const vs_s3_copy_opts *opts, vs_s3_copy_result *out,
		      vs_error *err);

/* The ids of the unfinished multipart uploads of exactly key in a ListMultipartUploadsResult
 * (NULL-terminated; caller frees each and the array). */
int vs_s3_uploads_parse(const char *xml, size_t len, const char *key, char ***ids, size_t *count, vs_error *err);

/* ---- sync ------------------------------------------------------------------------------------- */

enum vs_s3_verify {
	VS_S3_VERIFY_SIZE,     /* list the destination again: every object there with its size (and ETag) */
	VS_S3_VERIFY_CHECKSUM, /* also read both sides: equal objects are compared by content */
};

/* Called with each event (borrowed for the call). Calls never overlap (the sync serializes them). */
typedef void (*vs_s3_event_fn)(const json_t *event, void *ctx);

/* The most transfers a sync runs at once (vs_s3_sync_opts.parallel). */
#define VS_S3_PARALLEL_MAX 256

typedef struct vs_s3_sync_opts {
	const char *source, *dest; /* http(s)://HOST:PORT[/BUCKET[/PREFIX]] */
	const vs_s3_credentials *source_creds, *dest_creds; /* borrowed */
	const char *region;				     /* NULL: us-east-1 */
	const char *ca_file;
	bool insecure;
	int parallel; /* transfers at once; 0: 8; at most VS_S3_PARALLEL_MAX */
	bool delete_extra; /* delete destination objects not on the source, after every copy succeeded */
	bool dry_run;	   /* list what would change; change nothing */
	enum vs_s3_verify verify;
	vs_s3_copy_opts copy; /* thresholds; its callbacks are the sync's own */
	int max_attempts;     /* per request; 0: 10 */
	int64_t progress_ms;  /* between progress events; 0: 1000 */
	vs_s3_event_fn on_event; /* may be NULL */
	void *ctx;
} vs_s3_sync_opts;

/* The outcome; failures is an array of {bucket, key, message} (owned; vs_s3_sync_result_clear). */
typedef struct vs_s3_sync_result {
	int64_t objects, copied, skipped, deleted, failed;
	int64_t bytes;	       /* copied */
	int64_t bytes_total;   /* of the source objects */
	int64_t ms;
	int64_t requests, retries; /* both endpoints */
	json_t *failures;
} vs_s3_sync_result;
void vs_s3_sync_result_clear(vs_s3_sync_result *r);

/*
 * Make dest hold every object of source. For each source bucket (or the one named), the
 * destination bucket is created when missing; both sides are listed; each source object whose
 * destination is not equal (see the file's comment) is copied, parallel at once; with delete_extra
 * and no failure, destination objects not on the source are deleted; then the destination is
 * verified (opts->verify). Objects that fail do not stop the others. Events: see the README's
 * "JSON events" (s3-*). Returns 0 when everything is equal at the end; VS_EIO when objects failed
 * (each in out->failures, err naming the first and the count); other errors (unreachable endpoint,
 * refused credentials, a listing that failed) stop the sync and are returned as they are.
 * *out is filled in every case.
 */
int vs_s3_sync(const vs_s3_sync_opts *opts, vs_s3_sync_result *out, vs_error *err);

#endif
