/*
 * copy: one object from one endpoint to another. A small object is one GET streamed into one PUT
 * (pipe.c) whose headers come from the GET's reply; a large one is a multipart upload whose parts
 * are ranged GETs streamed into UploadPart, one after another, so memory stays at one ring buffer
 * whatever the size. Each PUT's ETag is checked against the MD5 of what was sent. The source is
 * read with If-Match on the ETag it was listed with: an object rewritten during the sync fails
 * instead of arriving as a mix of two versions.
 */
#include "s3/s3_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COPY_THRESHOLD_DEFAULT ((int64_t)64 << 20)
#define COPY_PART_DEFAULT      ((int64_t)16 << 20)
#define COPY_PART_MIN	       ((int64_t)5 << 20)
#define COPY_MAX_PARTS	       10000
#define COPY_ETAG_ATTEMPTS     3

struct copy_ctx {
	const vs_s3_copy_opts *opts;
	const char *source_etag; /* to record, or NULL */
};

static void copy_on_bytes(int64_t n, void *ctx)
{
	struct copy_ctx *cc = ctx;

	if (cc->opts && cc->opts->on_bytes)
		cc->opts->on_bytes(n, cc->opts->ctx);
}

/* A single PUT carries the object's headers as the GET gave them. */
static int copy_put_headers(const s3_reply *get, struct curl_slist **headers, void *ctx)
{
	struct copy_ctx *cc = ctx;

	for (const struct curl_slist *s = get->head.keep; s; s = s->next)
		*headers = curl_slist_append(*headers, s->data);
	if (cc->source_etag) {
		char line[160];
		snprintf(line, sizeof(line), S3_SOURCE_ETAG ": %s", cc->source_etag);
		*headers = curl_slist_append(*headers, line);
	}
	return 0;
}

/* The ETag the destination gave for what was sent must be its MD5 (when it is an MD5 at all:
 * encrypted objects have other ETags). */
static int copy_check_etag(const s3_reply *put, const unsigned char md5[16], const char *what, vs_error *err)
{
	char hex[33];

	s3_md5_hex(md5, hex);
	if (!vs_s3_etag_is_md5(put->head.etag) || strcasecmp(put->head.etag, hex) == 0)
		return 0;
	return vs_error_set(err, VS_ENET, "%s: the destination's ETag %s is not the MD5 of what was sent (%s)", what,
			    put->head.etag, hex);
}

static int copy_md5_final(EVP_MD_CTX *ctx, unsigned char md5[16], vs_error *err)
{
	unsigned int len = 16;

	return EVP_DigestFinal_ex(ctx, md5, &len) == 1 ? 0 : vs_error_set(err, VS_EIO, "MD5 failed");
}

static struct curl_slist *copy_if_match(const char *etag)
{
	char line[160];

	if (!etag || !etag[0])
		return NULL;
	snprintf(line, sizeof(line), "If-Match: \"%s\"", etag);
	return curl_slist_append(NULL, line);
}

static int copy_single(vs_s3_client *src, const char *src_bucket, const vs_s3_object *obj, vs_s3_client *dst,
		       const char *dst_bucket, const char *dst_key, const vs_s3_copy_opts *opts,
		       vs_s3_copy_result *out, vs_error *err)
{
	struct copy_ctx cc = { opts, vs_s3_etag_is_md5(obj->etag) ? NULL : obj->etag };
	struct curl_slist *match = copy_if_match(obj->etag);
	EVP_MD_CTX *md5 = EVP_MD_CTX_new();
	s3_req get = { .method = "GET", .bucket = src_bucket, .key = obj->key, .headers = match, .keep_headers = true };
	s3_req put = { .method = "PUT", .bucket = dst_bucket, .key = dst_key };
	s3_pipe_opts po = { .size = obj->size, .md5 = md5, .on_bytes = copy_on_bytes, .ctx = &cc,
			    .put_headers = copy_put_headers };
	s3_reply gr, pr;
	int rc = 0;

	if (!md5)
		abort();
	s3_reply_init(&gr);
	s3_reply_init(&pr);
	for (int attempt = 1; attempt <= COPY_ETAG_ATTEMPTS; attempt++) {
		rc = s3_pipe(src, &get, dst, &put, &po, &gr, &pr, err);
		if (rc == 0)
			rc = copy_md5_final(md5, out->md5, err);
		if (rc == 0)
			rc = copy_check_etag(&pr, out->md5, dst_key, err);
		if (rc == 0 || err->code != VS_ENET || pr.status == 0)
			break;
		copy_on_bytes(-obj->size, &cc); /* sent again */
	}
	out->md5_known = rc == 0;
	s3_reply_clear(&gr);
	s3_reply_clear(&pr);
	EVP_MD_CTX_free(md5);
	curl_slist_free_all(match);
	return rc;
}

/* Abort the unfinished uploads of dst_key an earlier run left (a crash mid-upload). */
static void copy_abort_stale(vs_s3_client *dst, const char *bucket, const char *key)
{
	vs_s3_param params[] = { { "uploads", "" }, { "prefix", key } };
	s3_req req = { .method = "GET", .bucket = bucket, .params = params, .nparams = 2 };
	s3_reply r;
	vs_error err;
	char **ids = NULL;
	size_t n = 0;

	vs_error_clear(&err);
	s3_reply_init(&r);
	if (s3_do(dst, &req, &r, NULL, &err) == 0 &&
	    vs_s3_uploads_parse(r.body.data ? r.body.data : "", r.body.len, key, &ids, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++) {
			vs_s3_param p[] = { { "uploadId", ids[i] } };
			s3_req del = { .method = "DELETE", .bucket = bucket, .key = key, .params = p, .nparams = 1 };
			s3_reply dr;
			s3_reply_init(&dr);
			if (s3_do(dst, &del, &dr, NULL, &err) == 0)
				vs_info("s3: aborted an unfinished upload of %s/%s left by an earlier run", bucket, key);
			s3_reply_clear(&dr);
		}
	} else {
		vs_debug("s3: listing the unfinished uploads of %s/%s: %s", bucket, key, err.message);
	}
	for (size_t i = 0; ids && ids[i]; i++)
		free(ids[i]);
	free(ids);
	s3_reply_clear(&r);
}

static int64_t copy_part_size(const vs_s3_copy_opts *opts, int64_t size)
{
	int64_t ps = opts && opts->part_size > 0 ? opts->part_size : COPY_PART_DEFAULT;

	if (ps < COPY_PART_MIN)
		ps = COPY_PART_MIN;
	while ((size + ps - 1) / ps > COPY_MAX_PARTS)
		ps *= 2;
	return ps;
}

/* One part: a ranged GET streamed into UploadPart; its ETag goes into *complete. */
static int copy_part(vs_s3_client *src, const char *src_bucket, const vs_s3_object *obj, vs_s3_client *dst,
		     const char *dst_bucket, const char *dst_key, const char *upload_id, int number, int64_t off,
		     int64_t len, struct copy_ctx *cc, vs_buf *complete, vs_error *err)
{
	char range[80], num[16], hex[33];
	struct curl_slist *h = copy_if_match(obj->etag);
	EVP_MD_CTX *md5 = EVP_MD_CTX_new();
	unsigned char digest[16];
	s3_reply gr, pr;
	int rc = 0;

	if (!md5)
		abort();
	snprintf(range, sizeof(range), "Range: bytes=%lld-%lld", (long long)off, (long long)(off + len - 1));
	snprintf(num, sizeof(num), "%d", number);
	h = curl_slist_append(h, range);
	vs_s3_param params[] = { { "partNumber", num }, { "uploadId", upload_id } };
	s3_req get = { .method = "GET", .bucket = src_bucket, .key = obj->key, .headers = h };
	s3_req put = { .method = "PUT", .bucket = dst_bucket, .key = dst_key, .params = params, .nparams = 2 };
	s3_pipe_opts po = { .size = len, .md5 = md5, .on_bytes = copy_on_bytes, .ctx = cc };

	s3_reply_init(&gr);
	s3_reply_init(&pr);
	for (int attempt = 1; attempt <= COPY_ETAG_ATTEMPTS; attempt++) {
		rc = s3_pipe(src, &get, dst, &put, &po, &gr, &pr, err);
		if (rc == 0)
			rc = copy_md5_final(md5, digest, err);
		if (rc == 0)
			rc = copy_check_etag(&pr, digest, dst_key, err);
		if (rc == 0 || err->code != VS_ENET || pr.status == 0)
			break;
		copy_on_bytes(-len, cc);
	}
	if (rc == 0) {
		s3_md5_hex(digest, hex);
		vs_buf_printf(complete, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>", number,
			      pr.head.etag[0] ? pr.head.etag : hex);
	} else {
		vs_error_wrap(err, "part %d", number);
	}
	s3_reply_clear(&gr);
	s3_reply_clear(&pr);
	EVP_MD_CTX_free(md5);
	curl_slist_free_all(h);
	return rc;
}

/* POST ?uploads with the object's headers; *id is the new upload's (caller frees). */
static int copy_create_upload(vs_s3_client *dst, const char *bucket, const char *key, const vs_s3_head *head,
			      const char *source_etag, char **id, vs_error *err)
{
	vs_s3_param params[] = { { "uploads", "" } };
	struct curl_slist *h = NULL;
	char line[160];
	s3_reply r;
	int rc;

	bool typed = false;
	for (const struct curl_slist *s = head->keep; s; s = s->next) {
		h = curl_slist_append(h, s->data);
		typed = typed || strncasecmp(s->data, "content-type:", 13) == 0;
	}
	/* else libcurl would call the empty POST a form, and the object would be one */
	if (!typed)
		h = curl_slist_append(h, "Content-Type: binary/octet-stream");
	snprintf(line, sizeof(line), S3_SOURCE_ETAG ": %s", source_etag);
	h = curl_slist_append(h, line);
	s3_req req = { .method = "POST", .bucket = bucket, .key = key, .params = params, .nparams = 1, .headers = h,
		       .body = "", .body_len = 0 };
	s3_reply_init(&r);
	rc = s3_do(dst, &req, &r, NULL, err);
	*id = rc == 0 ? vs_s3_xml_find(r.body.data ? r.body.data : "", r.body.len, "UploadId") : NULL;
	if (rc == 0 && (!*id || !**id)) {
		free(*id);
		*id = NULL;
		rc = vs_error_set(err, VS_EAPI, "POST %s/%s?uploads: the reply has no UploadId", bucket, key);
	}
	s3_reply_clear(&r);
	curl_slist_free_all(h);
	return rc;
}

static int copy_complete_upload(vs_s3_client *dst, const char *bucket, const char *key, const char *id,
				const vs_buf *parts, vs_error *err)
{
	vs_s3_param params[] = { { "uploadId", id } };
	char *body = vs_xasprintf("<CompleteMultipartUpload>%s</CompleteMultipartUpload>", parts->data ? parts->data : "");
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/xml");
	s3_req req = { .method = "POST", .bucket = bucket, .key = key, .params = params, .nparams = 1, .body = body,
		       .body_len = strlen(body), .headers = h };
	char code[64], msg[256];
	s3_reply r;
	int rc;

	s3_reply_init(&r);
	rc = s3_do(dst, &req, &r, NULL, err);
	/* a 200 whose body is an Error: the completion failed after all */
	if (rc == 0 && r.body.len && vs_s3_error_parse(r.body.data, r.body.len, code, msg))
		rc = vs_error_set_api(err, 200, code, "completing the upload of %s/%s: %s: %s", bucket, key, code, msg);
	s3_reply_clear(&r);
	curl_slist_free_all(h);
	free(body);
	return rc;
}

static void copy_abort_upload(vs_s3_client *dst, const char *bucket, const char *key, const char *id)
{
	vs_s3_param params[] = { { "uploadId", id } };
	s3_req req = { .method = "DELETE", .bucket = bucket, .key = key, .params = params, .nparams = 1 };
	s3_reply r;
	vs_error err;

	s3_reply_init(&r);
	if (s3_do(dst, &req, &r, NULL, &err) < 0)
		vs_warn("s3: aborting the upload of %s/%s: %s", bucket, key, err.message);
	s3_reply_clear(&r);
}

static int copy_multipart(vs_s3_client *src, const char *src_bucket, const vs_s3_object *obj, vs_s3_client *dst,
			  const char *dst_bucket, const char *dst_key, const vs_s3_copy_opts *opts,
			  vs_s3_copy_result *out, vs_error *err)
{
	struct copy_ctx cc = { opts, NULL };
	vs_s3_object cur = *obj;
	vs_s3_head head = { 0 };
	char *id = NULL;
	vs_buf parts;
	int64_t ps, off = 0;
	int rc, number = 1;

	vs_buf_init(&parts, 0);
	if ((rc = vs_s3_head_object(src, src_bucket, obj->key, &head, err)) < 0)
		goto done;
	if (obj->etag[0] && strcmp(head.etag, obj->etag) != 0) {
		rc = vs_error_set_api(err, 412, "PreconditionFailed", "%s/%s changed since it was listed", src_bucket,
				      obj->key);
		goto done;
	}
	snprintf(cur.etag, sizeof(cur.etag), "%s", head.etag);
	cur.size = head.size >= 0 ? head.size : obj->size;
	copy_abort_stale(dst, dst_bucket, dst_key);
	if ((rc = copy_create_upload(dst, dst_bucket, dst_key, &head, cur.etag, &id, err)) < 0)
		goto done;
	ps = copy_part_size(opts, cur.size);
	for (; off < cur.size && rc == 0; off += ps, number++)
		rc = copy_part(src, src_bucket, &cur, dst, dst_bucket, dst_key, id, number,
			       off, cur.size - off < ps ? cur.size - off : ps, &cc, &parts, err);
	if (rc == 0)
		rc = copy_complete_upload(dst, dst_bucket, dst_key, id, &parts, err);
	if (rc < 0)
		copy_abort_upload(dst, dst_bucket, dst_key, id);
	out->multipart = true;
	out->size = cur.size;
	snprintf(out->etag, sizeof(out->etag), "%s", cur.etag);
done:
	vs_s3_head_clear(&head);
	vs_buf_free(&parts);
	free(id);
	return rc;
}

int vs_s3_copy_object(vs_s3_client *src, const char *src_bucket, const vs_s3_object *obj, vs_s3_client *dst,
		      const char *dst_bucket, const char *dst_key, const vs_s3_copy_opts *opts, vs_s3_copy_result *out,
		      vs_error *err)
{
	int64_t threshold = opts && opts->multipart_threshold > 0 ? opts->multipart_threshold : COPY_THRESHOLD_DEFAULT;
	int rc;

	memset(out, 0, sizeof(*out));
	out->size = obj->size;
	snprintf(out->etag, sizeof(out->etag), "%s", obj->etag);
	if (obj->size > threshold)
		rc = copy_multipart(src, src_bucket, obj, dst, dst_bucket, dst_key, opts, out, err);
	else
		rc = copy_single(src, src_bucket, obj, dst, dst_bucket, dst_key, opts, out, err);
	if (rc < 0 && err->code == VS_EAPI && err->http_status == 412)
		vs_error_wrap(err, "%s/%s changed during the sync (run it again)", src_bucket, obj->key);
	return rc;
}
