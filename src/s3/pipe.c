/*
 * pipe: one object (or one part) streamed from a GET on the source into a PUT on the destination,
 * in one thread, through a ring buffer of S3_RING_SIZE bytes. Both transfers run on one curl
 * multi handle: when the ring is full the GET is paused, when it is empty the PUT is, and each is
 * resumed as soon as the other has made room or data. So memory stays at the ring whatever the
 * object's size, and neither side waits for the other to finish. The PUT starts once the GET's
 * headers are in (a single PUT carries the object's headers from them). A failure of either side
 * fails the pair, which is tried again as a whole while the failure is transient.
 */
#include "s3/s3_int.h"

#include <stdlib.h>
#include <string.h>

#define PIPE_RESUME_ROOM ((size_t)256 << 10) /* a paused GET resumes when this much is free */

struct pipe_ring {
	char *buf;
	size_t head, len; /* data at buf[head .. head+len) modulo S3_RING_SIZE */
};

struct pipe_state {
	const s3_pipe_opts *opts;
	struct pipe_ring ring;
	s3_xfer get, put;
	bool get_done, get_ok, put_started, put_done;
	bool get_paused, put_paused;
	CURLcode get_code, put_code;
	int64_t got, sent;
	bool md5_failed;
};

static size_t pipe_free(const struct pipe_ring *r)
{
	return S3_RING_SIZE - r->len;
}

/* The GET's body into the ring (or, for an error reply, into its body buffer). */
static size_t pipe_get_write(char *data, size_t size, size_t nitems, void *ctx)
{
	struct pipe_state *p = ctx;
	size_t n = size * nitems, tail, first;
	long status = 0;

	curl_easy_getinfo(p->get.h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		vs_buf_append(&p->get.reply->body, data, n);
		return n;
	}
	if (n > pipe_free(&p->ring)) {
		p->get_paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (p->opts->md5 && EVP_DigestUpdate(p->opts->md5, data, n) != 1) {
		p->md5_failed = true;
		return 0;
	}
	tail = (p->ring.head + p->ring.len) % S3_RING_SIZE;
	first = n < S3_RING_SIZE - tail ? n : S3_RING_SIZE - tail;
	memcpy(p->ring.buf + tail, data, first);
	memcpy(p->ring.buf, data + first, n - first);
	p->ring.len += n;
	p->got += (int64_t)n;
	return n;
}

/* The PUT's body from the ring. */
static size_t pipe_put_read(char *data, size_t size, size_t nitems, void *ctx)
{
	struct pipe_state *p = ctx;
	size_t want = size * nitems, n, first;

	if (p->ring.len == 0) {
		if (p->get_done)
			return p->get_ok ? 0 : CURL_READFUNC_ABORT;
		p->put_paused = true;
		return CURL_READFUNC_PAUSE;
	}
	n = want < p->ring.len ? want : p->ring.len;
	first = n < S3_RING_SIZE - p->ring.head ? n : S3_RING_SIZE - p->ring.head;
	memcpy(data, p->ring.buf + p->ring.head, first);
	memcpy(data + first, p->ring.buf, n - first);
	p->ring.head = (p->ring.head + n) % S3_RING_SIZE;
	p->ring.len -= n;
	p->sent += (int64_t)n;
	if (p->opts->on_bytes)
		p->opts->on_bytes((int64_t)n, p->opts->ctx);
	return n;
}

/* Start the PUT once the GET said it has the object. */
static int pipe_start_put(struct pipe_state *p, CURLM *m, vs_s3_client *dst, const s3_req *put,
			  s3_reply *put_reply, vs_error *err)
{
	struct curl_slist *extra = NULL;
	s3_req req = *put;
	int rc = 0;

	if (p->opts->put_headers) {
		for (const struct curl_slist *s = put->headers; s; s = s->next)
			extra = curl_slist_append(extra, s->data);
		if ((rc = p->opts->put_headers(p->get.reply, &extra, p->opts->ctx)) < 0) {
			curl_slist_free_all(extra);
			return vs_error_set(err, VS_EINVAL, "the object's headers could not be carried over");
		}
		req.headers = extra;
	}
	s3_xfer_start(&p->put, dst, &req, put_reply, NULL);
	curl_slist_free_all(extra);
	curl_easy_setopt(p->put.h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(p->put.h, CURLOPT_READFUNCTION, pipe_put_read);
	curl_easy_setopt(p->put.h, CURLOPT_READDATA, p);
	curl_easy_setopt(p->put.h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)p->opts->size);
	s3_count(dst, false);
	curl_multi_add_handle(m, p->put.h);
	p->put_started = true;
	return 0;
}

/* Resume a side that waits for the other, once the other has moved. */
static void pipe_unpause(struct pipe_state *p)
{
	if (p->get_paused && pipe_free(&p->ring) >= PIPE_RESUME_ROOM) {
		p->get_paused = false;
		curl_easy_pause(p->get.h, CURLPAUSE_CONT);
	}
	if (p->put_started && p->put_paused && (p->ring.len > 0 || p->get_done)) {
		p->put_paused = false;
		curl_easy_pause(p->put.h, CURLPAUSE_CONT);
	}
}

static void pipe_collect(struct pipe_state *p, CURLM *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		if (msg->easy_handle == p->get.h) {
			long status = 0;
			p->get_done = true;
			p->get_code = msg->data.result;
			curl_easy_getinfo(p->get.h, CURLINFO_RESPONSE_CODE, &status);
			p->get_ok = p->get_code == CURLE_OK && status >= 200 && status < 300;
		} else if (p->put_started && msg->easy_handle == p->put.h) {
			p->put_done = true;
			p->put_code = msg->data.result;
		}
	}
}

/* One attempt of the pair. */
static int pipe_once(vs_s3_client *src, const s3_req *get, vs_s3_client *dst, const s3_req *put,
		     struct pipe_state *p, s3_reply *get_reply, s3_reply *put_reply, vs_error *err)
{
	CURLM *m = curl_multi_init();
	int running = 1, rc = 0;

	if (!m)
		abort();
	s3_xfer_start(&p->get, src, get, get_reply, NULL);
	curl_easy_setopt(p->get.h, CURLOPT_WRITEFUNCTION, pipe_get_write);
	curl_easy_setopt(p->get.h, CURLOPT_WRITEDATA, p);
	curl_multi_add_handle(m, p->get.h);
	while (running || !p->get_done || (p->put_started && !p->put_done)) {
		CURLMcode mc = curl_multi_perform(m, &running);
		if (mc != CURLM_OK) {
			rc = vs_error_set(err, VS_EIO, "curl: %s", curl_multi_strerror(mc));
			break;
		}
		pipe_collect(p, m);
		if (!p->put_started && get_reply->headers_done && !p->get_done) {
			long status = 0;
			curl_easy_getinfo(p->get.h, CURLINFO_RESPONSE_CODE, &status);
			if (status >= 200 && status < 300 &&
			    (rc = pipe_start_put(p, m, dst, put, put_reply, err)) < 0)
				break;
		}
		if (!p->put_started && p->get_done) {
			/* an error reply, or an empty object whose GET ended before a turn of this loop */
			if (!p->get_ok || p->put_done)
				break;
			if ((rc = pipe_start_put(p, m, dst, put, put_reply, err)) < 0)
				break;
			running = 1;
		}
		if (p->get_done && !p->get_ok && p->put_started && !p->put_done && p->put_paused) {
			p->put_paused = false;
			curl_easy_pause(p->put.h, CURLPAUSE_CONT); /* its read aborts */
		}
		pipe_unpause(p);
		if (p->get_done && (!p->put_started || p->put_done))
			break;
		if (p->put_done)
			break; /* the PUT ended first (refused, throttled): the rest of the GET is not needed */
		curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	if (rc == 0 && p->md5_failed)
		rc = vs_error_set(err, VS_EIO, "MD5 failed");
	if (rc == 0 && p->put_done) {
		rc = s3_xfer_result(&p->put, put, p->put_code, err);
		if (rc == 0 && p->sent != p->opts->size)
			rc = vs_error_set(err, VS_ENET, "PUT %s/%s: sent %lld of %lld bytes", put->bucket, put->key,
					  (long long)p->sent, (long long)p->opts->size);
	} else if (rc == 0) {
		/* the GET failed before the PUT could finish */
		rc = s3_xfer_result(&p->get, get, p->get_done ? p->get_code : CURLE_RECV_ERROR, err);
		if (rc == 0)
			rc = vs_error_set(err, VS_ENET, "GET %s/%s: the reply ended early", get->bucket, get->key);
	}
	curl_multi_remove_handle(m, p->get.h);
	s3_xfer_end(&p->get);
	if (p->put_started) {
		curl_multi_remove_handle(m, p->put.h);
		s3_xfer_end(&p->put);
	}
	curl_multi_cleanup(m);
	return rc;
}

int s3_pipe(vs_s3_client *src, const s3_req *get, vs_s3_client *dst, const s3_req *put, const s3_pipe_opts *opts,
	    s3_reply *get_reply, s3_reply *put_reply, vs_error *err)
{
	char *ring = vs_xmalloc(S3_RING_SIZE);
	int rc = 0, max = s3_max_attempts(src);

	for (int attempt = 1;; attempt++) {
		struct pipe_state p = { .opts = opts, .ring = { .buf = ring } };

		s3_reply_clear(get_reply);
		s3_reply_clear(put_reply);
		s3_reply_init(get_reply);
		s3_reply_init(put_reply);
		if (opts->md5)
			EVP_DigestInit_ex(opts->md5, EVP_md5(), NULL);
		s3_count(src, attempt > 1);
		rc = pipe_once(src, get, dst, put, &p, get_reply, put_reply, err);
		if (rc < 0 && p.sent && opts->on_bytes)
			opts->on_bytes(-p.sent, opts->ctx); /* those bytes go again */
		if (rc == 0 || !s3_error_transient(err) || attempt >= max)
			break;
		vs_debug("s3: %s; attempt %d of %d", err->message, attempt, max);
		vs_sleep_ms(s3_backoff_ms(src, attempt));
	}
	free(ring);
	return rc;
}
