/*
 * http_exec: the pods/NAME/exec subresource as kubectl 1.30+ speaks it: an HTTP upgrade to a
 * WebSocket (RFC 6455, framed by libwslay) with the subprotocol v5.channel.k8s.io. Every binary
 * message starts with its channel: 0 stdin, 1 stdout, 2 stderr, 3 the error channel (one Status at
 * the end: Success, or NonZeroExitCode with the exit code as an ExitCode cause), 4 terminal resize
 * ({"Width":W,"Height":H}) and 255 the v5 CLOSE signal ([255, channel]: no more stdin). The command
 * runs in the container (node_exec.h). `kubectl cp` is tar over the same exec.
 *
 * The request is checked (pod, container, command) before the upgrade, so that a refusal is an
 * HTTP Status; after it, one thread per session moves bytes between the socket and the command's
 * streams with poll, taking no more from either side than the other has taken (stdin waits for the
 * command to read, output for the client to read). A session ends when the command has exited and
 * its output is drained, or when the client goes away (the command is then killed). A command is
 * killed when its container stops, as a runtime's exec ends with its container.
 */
#include "http_int.h"
#include "node_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define WS_PROTOCOL "v5.channel.k8s.io"
#define WS_GUID	    "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* The largest message taken from a client (kubectl sends stdin in 32 KiB pieces). */
#define MSG_MAX (1u << 20)
/* Stdin the command has not read yet: above it the socket is not read. */
#define STDIN_MAX (1u << 20)
/* Messages queued to the client: above it the command's output is not read. */
#define QUEUE_MAX 16
#define CHUNK	  32768
/* How often a session looks at the server stopping, and how long its last messages may take. */
#define TICK_MS	 200
#define FLUSH_MS 5000
/* How long a session with a terminal waits for the client's terminal size before it starts. */
#define SIZE_WAIT_MS 1000

enum { CH_STDIN = 0, CH_STDOUT = 1, CH_STDERR = 2, CH_ERROR = 3, CH_RESIZE = 4, CH_CLOSE = 255 };

struct sim_exec_sessions {
	pthread_mutex_t mu;
	pthread_cond_t idle;
	int running;
	atomic_bool stopping;
};

/* An exec request, checked, waiting for its upgrade. */
struct request {
	sim_exec_sessions *all;
	long pid; /* the container's process */
	sim_exec_opts opts;
	char **argv;
	char *what; /* "NS/POD", for the log */
};

/* A session after the upgrade. */
struct session {
	struct request *rq;
	struct MHD_UpgradeResponseHandle *urh;
	int sock;
	char *extra_buf;   /* what MHD read past the request (a copy), given to wslay first */
	const char *extra; /* what of it is left */
	size_t extra_len;
	wslay_event_context_ptr ws;
	sim_exec_proc proc;
	uint8_t *in; /* stdin received, not yet written */
	size_t in_len, in_off;
	bool in_closing;     /* the client sent CLOSE for stdin */
	bool started;	     /* the command was started (or failed to) */
	unsigned cols, rows; /* the terminal's size the client sent before the start, or 0 */
	bool exited;
	int code;
	bool client_gone;
	int peer_fd; /* the client's own TCP socket, watched for its close only */
};

/* ---- sessions ---------------------------------------------------------------------------------- */

sim_exec_sessions *sim_exec_sessions_new(void)
{
	sim_exec_sessions *s = vs_xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->idle, NULL);
	atomic_init(&s->stopping, false);
	return s;
}

void sim_exec_sessions_stop(sim_exec_sessions *s)
{
	atomic_store(&s->stopping, true);
	pthread_mutex_lock(&s->mu);
	while (s->running > 0)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

void sim_exec_sessions_free(sim_exec_sessions *s)
{
	if (!s)
		return;
	sim_exec_sessions_stop(s);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void request_free(struct request *rq)
{
	if (!rq)
		return;
	for (size_t i = 0; rq->argv && rq->argv[i]; i++)
		free(rq->argv[i]);
	free(rq->argv);
	free(rq->what);
	free(rq);
}

/* ---- the WebSocket ----------------------------------------------------------------------------- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct session *s = user;
	ssize_t n;

	(void)flags;
	if (s->extra_len > 0) {
		n = (ssize_t)(len < s->extra_len ? len : s->extra_len);
		memcpy(buf, s->extra, (size_t)n);
		s->extra += n;
		s->extra_len -= (size_t)n;
		return n;
	}
	do
		n = read(s->sock, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	else if (n <= 0)
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return n > 0 ? n : -1;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct session *s = user;
	ssize_t n;

	(void)flags;
	do
		n = send(s->sock, data, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK ? WSLAY_ERR_WOULDBLOCK
										   : WSLAY_ERR_CALLBACK_FAILURE);
	return n;
}

/* Queue data on channel ch to the client. */
static void send_channel(struct session *s, uint8_t ch, const void *data, size_t len)
{
	uint8_t *msg = vs_xmalloc(len + 1);
	struct wslay_event_msg m = { WSLAY_BINARY_FRAME, msg, len + 1 };

	msg[0] = ch;
	if (len)
		memcpy(msg + 1, data, len);
	wslay_event_queue_msg(s->ws, &m);
	free(msg);
}

/* A message from the client: stdin, a resize or a CLOSE signal. */
static void ws_message(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	struct session *s = user;
	const uint8_t *d = arg->msg;
	size_t n = arg->msg_length;

	(void)ctx;
	if (arg->opcode != WSLAY_BINARY_FRAME || n == 0)
		return;
	if (d[0] == CH_STDIN && s->rq->opts.stdin && !s->in_closing && !(s->started && s->proc.in_fd < 0)) {
		if (s->in_off > 0) { /* keep only what is not written yet */
			memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
			s->in_len -= s->in_off;
			s->in_off = 0;
		}
		s->in = vs_xrealloc(s->in, s->in_len + n - 1);
		memcpy(s->in + s->in_len, d + 1, n - 1);
		s->in_len += n - 1;
	} else if (d[0] == CH_RESIZE) {
		json_t *size = json_loadb((const char *)d + 1, n - 1, 0, NULL);
		s->cols = (unsigned)vs_json_int(size, "Width", 80);
		s->rows = (unsigned)vs_json_int(size, "Height", 24);
		if (s->started)
			sim_exec_resize(&s->proc, s->cols, s->rows);
		json_decref(size);
	} else if (d[0] == CH_CLOSE && n == 2 && d[1] == CH_STDIN) {
		s->in_closing = true;
	}
}

/* ---- moving bytes ------------------------------------------------------------------------------ */

/* Read what the command wrote on *fd into channel ch; closes *fd at its end. */
static void pump_output(struct session *s, int *fd, uint8_t ch)
{
	uint8_t buf[CHUNK];
	ssize_t n;

	do
		n = read(*fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n > 0)
		send_channel(s, ch, buf, (size_t)n);
	else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) /* a terminal ends with EIO */
		sim_exec_close_fd(fd);
}

/* Write pending stdin; closes it once written after the client's CLOSE (a terminal's stays). */
static void pump_stdin(struct session *s)
{
	ssize_t n = 0;

	if (s->in_off < s->in_len) {
		do
			n = write(s->proc.in_fd, s->in + s->in_off, s->in_len - s->in_off);
		while (n < 0 && errno == EINTR);
		if (n > 0)
			s->in_off += (size_t)n;
		else if (errno != EAGAIN && errno != EWOULDBLOCK) /* the command closed its stdin */
			s->in_off = s->in_len;
	}
	if (s->in_off == s->in_len && s->in_closing && !s->proc.tty)
		sim_exec_close_fd(&s->proc.in_fd);
}

static bool output_open(const struct session *s)
{
	return s->proc.out_fd >= 0 || s->proc.err_fd >= 0;
}

/* One round of poll over the socket and the command's streams. */
static void pump(struct session *s)
{
	/* The client's close is seen on its TCP socket (the peer's FIN): over TLS libmicrohttpd 0.9.75
	 * does not pass it on to the upgraded socket, from which only EAGAIN would come. */
	struct pollfd p[5] = { { .fd = s->sock }, { .fd = -1 }, { .fd = -1 }, { .fd = -1 },
			       { .fd = s->peer_fd, .events = POLLRDHUP } };
	bool read_out = wslay_event_get_queued_msg_count(s->ws) < QUEUE_MAX;

	if (wslay_event_want_read(s->ws) && s->in_len - s->in_off < STDIN_MAX)
		p[0].events |= POLLIN;
	if (wslay_event_want_write(s->ws))
		p[0].events |= POLLOUT;
	if (read_out) {
		p[1] = (struct pollfd){ .fd = s->proc.out_fd, .events = POLLIN };
		p[2] = (struct pollfd){ .fd = s->proc.err_fd, .events = POLLIN };
	}
	if (s->proc.in_fd >= 0 && (s->in_off < s->in_len || (s->in_closing && !s->proc.tty)))
		p[3] = (struct pollfd){ .fd = s->proc.in_fd, .events = POLLOUT };
	if (poll(p, 5, s->extra_len > 0 ? 0 : TICK_MS) < 0)
		return;
	if (p[4].revents & (POLLRDHUP | POLLHUP | POLLERR))
		s->client_gone = true;
	if (((p[0].revents & (POLLIN | POLLHUP | POLLERR)) || s->extra_len > 0) && wslay_event_recv(s->ws) != 0)
		s->client_gone = true;
	if ((p[0].revents & POLLOUT) && wslay_event_send(s->ws) != 0)
		s->client_gone = true;
	if (p[1].revents)
		pump_output(s, &s->proc.out_fd, CH_STDOUT);
	if (p[2].revents)
		pump_output(s, &s->proc.err_fd, CH_STDERR);
	if (p[3].revents)
		pump_stdin(s);
	if (!wslay_event_want_read(s->ws) && !wslay_event_want_write(s->ws))
		s->client_gone = true; /* it closed the WebSocket */
	if (!s->exited)
		s->exited = sim_exec_exited(&s->proc, &s->code);
	if (!s->exited && kill((pid_t)s->rq->pid, 0) != 0 && errno == ESRCH)
		sim_exec_signal(&s->proc, SIGKILL); /* its container has stopped: so does the command */
}

/* ---- the end ----------------------------------------------------------------------------------- */

/* The Status of the error channel for exit code code, or for the error err when it is not NULL. */
static json_t *final_status(const struct request *rq, int code, const vs_error *err)
{
	json_t *st;
	char *cmd, *msg, num[16];

	if (err)
		return json_pack("{s:{},s:s,s:s,s:s,s:{s:[{s:s}]},s:i}", "metadata", "status", "Failure", "message",
				 err->message, "reason", *err->reason ? err->reason : "InternalError", "details",
				 "causes", "message", err->message, "code", err->http_status ? err->http_status : 500);
	if (code == 0)
		return json_pack("{s:{},s:s}", "metadata", "status", "Success");
	cmd = vs_xstrdup(rq->argv[0]);
	for (size_t i = 1; rq->argv[i]; i++) {
		char *more = vs_xasprintf("%s %s", cmd, rq->argv[i]);
		free(cmd);
		cmd = more;
	}
	msg = vs_xasprintf("command terminated with non-zero exit code: error executing command [%s], exit code %d",
			   cmd, code);
	snprintf(num, sizeof(num), "%d", code);
	st = json_pack("{s:{},s:s,s:s,s:s,s:{s:[{s:s,s:s}]}}", "metadata", "status", "Failure", "message", msg,
		       "reason", "NonZeroExitCode", "details", "causes", "reason", "ExitCode", "message", num);
	free(msg);
	free(cmd);
	return st;
}

/* Send what is queued, until end (monotonic ms). */
static void flush(struct session *s, int64_t end)
{
	while (!s->client_gone && wslay_event_want_write(s->ws) && vs_time_mono_ms() < end) {
		struct pollfd p = { .fd = s->sock, .events = POLLOUT };
		if (poll(&p, 1, TICK_MS) > 0 && wslay_event_send(s->ws) != 0)
			s->client_gone = true;
	}
}

/* Send the error channel's Status, then the close frame (wslay sends control frames before data
 * frames, so the Status must be out first), within FLUSH_MS. */
static void finish(struct session *s, const vs_error *err)
{
	json_t *st = final_status(s->rq, s->code, err);
	char *text = json_dumps(st, JSON_COMPACT);
	int64_t end = vs_time_mono_ms() + FLUSH_MS;

	send_channel(s, CH_ERROR, text, strlen(text));
	free(text);
	json_decref(st);
	flush(s, end);
	wslay_event_queue_close(s->ws, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
	flush(s, end);
}

/* With a terminal, the client's first message is its size: the command starts once it is there (or
 * after SIZE_WAIT_MS), so that it sees its terminal's size from the start. */
static void wait_for_size(struct session *s)
{
	int64_t end = vs_time_mono_ms() + SIZE_WAIT_MS;

	while (s->rq->opts.tty && !s->rows && !s->client_gone && vs_time_mono_ms() < end) {
		struct pollfd p = { .fd = s->sock, .events = POLLIN };
		if ((s->extra_len > 0 || poll(&p, 1, TICK_MS) > 0) && wslay_event_recv(s->ws) != 0)
			s->client_gone = true;
	}
}

static void *session_main(void *arg)
{
	struct session *s = arg;
	struct wslay_event_callbacks cb = { .recv_callback = ws_recv,
					    .send_callback = ws_send,
					    .on_msg_recv_callback = ws_message };
	sim_exec_sessions *all = s->rq->all;
	vs_error err;
	bool failed;

	fcntl(s->sock, F_SETFL, fcntl(s->sock, F_GETFL) | O_NONBLOCK);
	if (wslay_event_context_server_init(&s->ws, &cb, s) != 0)
		abort(); /* out of memory, where vs_x* allocators abort too */
	wslay_event_config_set_max_recv_msg_length(s->ws, MSG_MAX);
	wait_for_size(s);
	failed = sim_exec_start(s->rq->pid, s->rq->argv, &s->rq->opts, &s->proc, &err) != 0;
	s->started = true;
	if (!failed && s->rows)
		sim_exec_resize(&s->proc, s->cols, s->rows);
	if (failed)
		vs_info("exec: %s: %s", s->rq->what, err.message);
	while (!failed && !s->client_gone && !atomic_load(&all->stopping) &&
	       (!s->exited || output_open(s) || wslay_event_get_queued_msg_count(s->ws) > 0))
		pump(s);
	if (s->exited && !output_open(s))
		vs_info("exec: %s: %s exited with %d", s->rq->what, s->rq->argv[0], s->code);
	else if (!failed)
		vs_info("exec: %s: %s killed (%s)", s->rq->what, s->rq->argv[0],
			s->client_gone ? "the client went away" : "volshift-sim stops");
	sim_exec_kill(&s->proc);
	if (!s->client_gone)
		finish(s, failed ? &err : NULL);
	wslay_event_context_free(s->ws);
	MHD_upgrade_action(s->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(s->in);
	free(s->extra_buf);
	request_free(s->rq);
	free(s);
	pthread_mutex_lock(&all->mu);
	if (--all->running == 0)
		pthread_cond_broadcast(&all->idle);
	pthread_mutex_unlock(&all->mu);
	return NULL;
}

/* MHD has switched the connection: the session runs in a thread of its own. */
static void upgraded(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra, size_t extra_len,
		     MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct session *s = vs_xcalloc(1, sizeof(*s));
	sim_exec_sessions *all = ((struct request *)cls)->all;
	pthread_t t;

	const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

	(void)req_cls;
	*s = (struct session){ .rq = cls,
			       .peer_fd = info ? info->connect_fd : -1,
			       .urh = urh,
			       .sock = sock,
			       .extra_buf = extra_len ? vs_xmalloc(extra_len) : NULL,
			       .extra_len = extra_len,
			       .proc = { .in_fd = -1, .out_fd = -1, .err_fd = -1 } };
	if (extra_len)
		memcpy(s->extra_buf, extra, extra_len);
	s->extra = s->extra_buf;
	pthread_mutex_lock(&all->mu);
	all->running++;
	pthread_mutex_unlock(&all->mu);
	if (pthread_create(&t, NULL, session_main, s) != 0) {
		vs_warn("exec: %s: cannot start a thread", s->rq->what);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		request_free(s->rq);
		free(s->extra_buf);
		free(s);
		pthread_mutex_lock(&all->mu);
		all->running--;
		pthread_mutex_unlock(&all->mu);
		return;
	}
	pthread_detach(t);
}

/* ---- the request ------------------------------------------------------------------------------- */

struct args {
	char **v;
	size_t n;
};

static enum MHD_Result collect_command(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct args *a = cls;

	(void)kind;
	if (strcmp(key, "command") == 0) {
		a->v = vs_xrealloc(a->v, (a->n + 2) * sizeof(char *));
		a->v[a->n++] = vs_xstrdup(value ? value : "");
		a->v[a->n] = NULL;
	}
	return MHD_YES;
}

static bool query_bool(struct MHD_Connection *c, const char *key, bool dflt)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);

	return v ? strcmp(v, "true") == 0 || strcmp(v, "1") == 0 : dflt;
}

/* Sec-WebSocket-Accept for key: base64(SHA-1(key + GUID)). Caller frees. */
static char *ws_accept(const char *key)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *text = vs_xasprintf("%s%s", key, WS_GUID), *out;

	EVP_Digest(text, strlen(text), md, &n, EVP_sha1(), NULL);
	out = vs_base64_encode(md, n);
	free(text);
	return out;
}

/* The WebSocket headers of the upgrade (*key: Sec-WebSocket-Key); 400 when the request is not the
 * WebSocket upgrade kubectl 1.30+ sends. */
static int check_upgrade(struct MHD_Connection *c, const char **key, vs_error *err)
{
	const char *upgrade = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade");
	const char *protocols = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol");

	*key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	if (!upgrade || strcasecmp(upgrade, "websocket") != 0 || !*key)
		return vs_error_set_api(
			err, 400, "BadRequest",
			"Upgrade request required: volshift-sim serves exec over WebSocket (%s), not %s", WS_PROTOCOL,
			upgrade ? upgrade : "plain HTTP");
	if (!protocols || !strstr(protocols, WS_PROTOCOL))
		return vs_error_set_api(
			err, 400, "BadRequest",
			"unable to upgrade connection: the WebSocket subprotocol %s is required, the client "
			"offers %s",
			WS_PROTOCOL, protocols ? protocols : "none");
	return 0;
}

int sim_http_exec(sim_exec_sessions *all, sim_store *st, struct MHD_Connection *c, const char *ns, const char *pod,
		  enum MHD_Result *ret, vs_error *err)
{
	struct request *rq = vs_xcalloc(1, sizeof(*rq));
	struct args cmd = { 0 };
	struct MHD_Response *r;
	json_t *obj = NULL;
	const char *key = NULL;
	char *accept;
	int rc;

	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_command, &cmd);
	rq->argv = cmd.v;
	rq->all = all;
	rq->what = vs_xasprintf("%s/%s", ns, pod);
	rq->opts = (sim_exec_opts){ .stdin = query_bool(c, "stdin", false),
				    .stdout = query_bool(c, "stdout", true),
				    .stderr = query_bool(c, "stderr", true),
				    .tty = query_bool(c, "tty", false) };
	if (!rq->argv) {
		rc = vs_error_set_api(err, 400, "BadRequest", "you must specify at least 1 command");
		goto done;
	}
	/* the pod and container first: a client that falls back to SPDY gets the same refusal */
	if ((rc = sim_api_get(st, sim_resource_find("", "pods"), ns, pod, &obj, err)) != 0 ||
	    (rc = sim_exec_target(obj, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "container"), &rq->pid,
				  err)) != 0 ||
	    (rc = check_upgrade(c, &key, err)) != 0)
		goto done;
	if (!(r = MHD_create_response_for_upgrade(upgraded, rq))) {
		rc = vs_error_set_api(err, 500, "InternalError", "cannot upgrade the connection");
		goto done;
	}
	accept = ws_accept(key);
	MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
	MHD_add_response_header(r, "Sec-WebSocket-Protocol", WS_PROTOCOL);
	free(accept);
	*ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, r);
	MHD_destroy_response(r);
	rq = NULL; /* the session's now */
done:
	json_decref(obj);
	request_free(rq);
	return rc;
}
