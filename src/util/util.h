/*
 * util: the small pieces every other module of volshift and volshift-sim stands on.
 *
 * Errors are values: a function that can fail returns 0 or a negative VS_E* code and fills the
 * caller's vs_error with the code, an HTTP status where there is one, a Kubernetes reason where
 * there is one, and one line naming the object and the cause. There is no hidden error state.
 *
 * Memory: vs_x* allocators abort on exhaustion (a process out of memory cannot keep its promises,
 * so it stops loudly); everything else states its ownership next to its declaration.
 */
#ifndef VS_UTIL_H
#define VS_UTIL_H

/* A macro's value as a string literal: VS_STR(8) is "8". */
#define VS_STR_(x) #x
#define VS_STR(x)  VS_STR_(x)

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* ---- errors ---------------------------------------------------------------------------------- */

enum {
	VS_OK = 0,
	VS_EINVAL = -1,	       /* bad input from the user or the caller's data */
	VS_ENOMEM = -2,	       /* a capped buffer would overflow */
	VS_EIO = -3,	       /* a local file or process failed */
	VS_ECONFIG = -4,       /* kubeconfig or other configuration is broken */
	VS_ENET = -5,	       /* could not reach the server, or the connection broke */
	VS_EAPI = -6,	       /* the server answered with an error; see http_status and reason */
	VS_ETIMEOUT = -7,      /* a bounded wait ran out */
	VS_ECANCEL = -8,       /* stopped on request */
	VS_EBUSY = -9,	       /* something belongs to another run, which goes on */
	VS_EUNAVAILABLE = -10, /* the API server did not answer within the outage budget; not worth retrying */
};

typedef struct vs_error {
	int code;	   /* one of VS_E*, 0 when clear */
	int http_status;   /* HTTP status for VS_EAPI, else 0 */
	char reason[48];   /* Kubernetes Status reason ("NotFound", "Conflict", ...) or "" */
	char message[512]; /* one line: the object and the cause */
} vs_error;

/* Clear err (NULL is allowed). */
void vs_error_clear(vs_error *err);

/* Fill err (NULL is allowed) with code and a printf-style message; returns code. */
int vs_error_set(vs_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Fill err with an API error: code VS_EAPI, the HTTP status, the reason and the message. */
int vs_error_set_api(vs_error *err, int http_status, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prefix err's message with "what: " (for adding context while an error travels up). Returns code. */
int vs_error_wrap(vs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when err is an API error with this reason, e.g. vs_error_is(err, "NotFound"). */
bool vs_error_is(const vs_error *err, const char *reason);

/* A short name for a VS_E* code ("invalid input", "network", ...). Static string. */
const char *vs_error_code_name(int code);

/* ---- memory and strings ---------------------------------------------------------------------- */

void *vs_xmalloc(size_t n);
void *vs_xcalloc(size_t n, size_t size);
void *vs_xrealloc(void *p, size_t n);
char *vs_xstrdup(const char *s);
char *vs_xstrndup(const char *s, size_t n);
/* A newly allocated printf result; caller frees. */
char *vs_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when s starts with prefix / ends with suffix. */
bool vs_str_has_prefix(const char *s, const char *prefix);
bool vs_str_has_suffix(const char *s, const char *suffix);

/* ---- growable byte buffer with a cap ---------------------------------------------------------- */

typedef struct vs_buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t limit; /* 0: no limit; else appends that would pass it fail with VS_ENOMEM */
} vs_buf;

/* Initialise an empty buffer that refuses to grow past limit bytes (0 = unlimited). */
void vs_buf_init(vs_buf *b, size_t limit);
/* Append n bytes; VS_ENOMEM when the limit would be passed (the buffer is unchanged then). */
int vs_buf_append(vs_buf *b, const void *data, size_t n);
int vs_buf_puts(vs_buf *b, const char *s);
int vs_buf_printf(vs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as one word for a POSIX shell: in single quotes, each ' written as '\''. */
int vs_buf_shell_word(vs_buf *b, const char *s);
/* Empty the buffer, keeping its memory. */
void vs_buf_reset(vs_buf *b);
/* Release the memory; the buffer may be initialised again. */
void vs_buf_free(vs_buf *b);
/* Hand the contents to the caller (who frees them) and leave the buffer empty. Never NULL. */
char *vs_buf_steal(vs_buf *b);

/* ---- logging (diagnostics to stderr; user-facing output goes elsewhere) ------------------------ */

enum vs_log_level { VS_LOG_DEBUG, VS_LOG_INFO, VS_LOG_WARN, VS_LOG_ERROR, VS_LOG_OFF };

/* Set the lowest level that is printed (default INFO, or $VOLSHIFT_LOG: debug|info|warn|error|off). */
void vs_log_set_level(enum vs_log_level level);
enum vs_log_level vs_log_get_level(void);
/* Set a tag printed before every line ("volshift", "volshift-sim"). The string is borrowed. */
void vs_log_set_tag(const char *tag);
/* Print one line at level; thread-safe, lines never interleave. */
void vs_log(enum vs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define vs_debug(...) vs_log(VS_LOG_DEBUG, __VA_ARGS__)
#define vs_info(...)  vs_log(VS_LOG_INFO, __VA_ARGS__)
#define vs_warn(...)  vs_log(VS_LOG_WARN, __VA_ARGS__)
#define vs_err(...)   vs_log(VS_LOG_ERROR, __VA_ARGS__)

/* ---- time ------------------------------------------------------------------------------------ */

/* Milliseconds on the monotonic clock. */
int64_t vs_time_mono_ms(void);
/* Wall-clock milliseconds since the epoch (for times kept across processes, e.g. in the journal). */
int64_t vs_time_wall_ms(void);
/* Wall-clock seconds since the epoch. */
int64_t vs_time_now(void);
/* Write t (epoch seconds) as RFC 3339 UTC ("2026-11-21T10:00:00Z") into out (>= 21 bytes). */
void vs_time_format(int64_t t, char out[32]);
/* Write the wall clock's now as RFC 3339 UTC to the microsecond ("2026-11-21T10:00:00.123456Z", a
 * Kubernetes MicroTime) into out. */
void vs_time_format_micro(char out[40]);
/* Parse an RFC 3339 timestamp (Z or offset, optional fraction); VS_EINVAL when malformed. */
int vs_time_parse(const char *s, int64_t *out, vs_error *err);
/* Sleep for ms milliseconds. */
void vs_sleep_ms(int64_t ms);
/* An absolute CLOCK_MONOTONIC time ms from now (0 for a negative ms), for pthread_cond_timedwait on
 * a condition made by vs_cond_init_monotonic. */
void vs_time_deadline(struct timespec *ts, int64_t ms);
/* Initialize a condition variable whose timed waits take vs_time_deadline's times. */
void vs_cond_init_monotonic(pthread_cond_t *cond);
/* Parse a duration as Go writes it ("15s", "200ms", "1m30s", "1.5s", "0") into milliseconds;
 * VS_EINVAL naming the text when malformed or negative. */
int vs_duration_parse(const char *text, int64_t *ms, vs_error *err);

/* ---- files ----------------------------------------------------------------------------------- */

/* Read a whole file (at most max bytes, else VS_ENOMEM) into out (caller frees); NUL-terminated. */
int vs_file_read(const char *path, size_t max, char **out, size_t *len, vs_error *err);
/* Write a file atomically: temp file in the same directory, fsync, rename, fsync the directory. */
int vs_file_write_atomic(const char *path, const void *data, size_t len, int mode, vs_error *err);
/* mkdir -p with mode; existing directories are fine. */
int vs_mkdir_p(const char *path, int mode, vs_error *err);
/* rm -rf; a missing path is fine. */
int vs_rm_rf(const char *path, vs_error *err);

/* ---- base64 ---------------------------------------------------------------------------------- */

/* Decode standard base64 (padding optional, whitespace ignored) into out (caller frees). */
int vs_base64_decode(const char *in, unsigned char **out, size_t *len, vs_error *err);
/* Encode n bytes as standard base64 with padding; caller frees. */
char *vs_base64_encode(const unsigned char *in, size_t n);

/* ---- JSON accessors -------------------------------------------------------------------------- */

/* Follow a dotted path ("metadata.name", "spec.template.spec") through objects. Borrowed or NULL. */
json_t *vs_json_path(const json_t *obj, const char *path);
/* The string at path, or NULL when missing or not a string. Borrowed. */
const char *vs_json_str(const json_t *obj, const char *path);
/* The string at path, or dflt when missing or not a string. Borrowed. */
const char *vs_json_str_or(const json_t *obj, const char *path, const char *dflt);
/* The integer at path, or dflt when missing or not an integer. */
long long vs_json_int(const json_t *obj, const char *path, long long dflt);
/* The boolean at path, or dflt. */
bool vs_json_bool(const json_t *obj, const char *path, bool dflt);
/* The annotation key of a Kubernetes object (keys hold dots and slashes, so not by path). Borrowed or NULL. */
const char *vs_json_annotation(const json_t *obj, const char *key);
/* True when arr is an array holding the string s. */
bool vs_json_array_has_str(const json_t *arr, const char *s);
/* Set value at a dotted path, creating intermediate objects; steals value. 0 or VS_EINVAL. */
int vs_json_set_path(json_t *obj, const char *path, json_t *value);

/* Append one JSON pointer (RFC 6901) segment to b: "/" and the len bytes of segment, each ~ written
 * as ~0 and each / as ~1. */
void vs_json_pointer_push(vs_buf *b, const char *segment, size_t len);

/* ---- YAML ------------------------------------------------------------------------------------ */

/* A place in YAML text: line and column from 1 (the column counts characters); 0 when unknown. */
typedef struct vs_yaml_mark {
	unsigned line, column;
} vs_yaml_mark;

/* A parsed YAML document: its value as JSON and where each value and key began. */
typedef struct vs_yaml_doc vs_yaml_doc;

/* For files people write to drive actions: a duplicate key, a second document (---), a merge key
 * (<<) and a tag other than !!str (or !!map, !!seq) are errors. Without it the last duplicate key
 * wins, documents after the first are ignored and tags are ignored, as kubeconfig readers do. */
#define VS_YAML_STRICT 1u

/*
 * Parse the first document of text (len bytes, UTF-8) into *out (vs_yaml_doc_free). Plain scalars
 * follow YAML 1.2's core schema (null, true/false, decimal integers, finite floats; else strings);
 * quoted ones and !!str are strings. Aliases are expanded into copies (at most 100000 values in
 * all, and never nested deeper than 64 levels, as anything else). An empty text is null.
 * Errors: VS_EINVAL with the cause in err ("invalid YAML: ...", "duplicate key \"x\" (first at
 * line 3)", a NUL character in a string, UTF-16 text, ...) and, when where is not NULL, where it is.
 */
int vs_yaml_parse(const char *text, size_t len, unsigned flags, vs_yaml_doc **out, vs_yaml_mark *where, vs_error *err);
/* The document's value. Borrowed: valid while doc lives (json_incref it to keep it longer). */
json_t *vs_yaml_doc_root(const vs_yaml_doc *doc);
/*
 * Where the value at pointer (RFC 6901: "" the root, "/spec/steps/0/name") began, or with key where
 * the key of that mapping member began. A value that was not written in the text itself (one that
 * an alias copied, or a missing one) gives the place of its closest ancestor that was; {0, 0} when
 * there is none.
 */
vs_yaml_mark vs_yaml_doc_mark(const vs_yaml_doc *doc, const char *pointer, bool key);
/* Free a document; NULL is fine. */
void vs_yaml_doc_free(vs_yaml_doc *doc);

/* ---- quantities ------------------------------------------------------------------------------ */

/*
 * Parse a Kubernetes resource quantity ("10Gi", "500M", "1.5Gi", "1e3", "128974848") into bytes,
 * rounded up. VS_EINVAL naming the text when it is not a quantity or does not fit in 63 bits.
 */
int vs_quantity_parse(const char *text, int64_t *out, vs_error *err);
/* Format bytes for people: "0 B", "512 B", "1.5 KiB", "20.0 MiB", "3.2 GiB". */
void vs_bytes_format(int64_t bytes, char out[32]);

/* ---- label and field selectors --------------------------------------------------------------- */

/*
 * A parsed selector: label selectors with =, ==, !=, in, notin, exists (key) and !exists (!key),
 * as documented for Kubernetes; field selectors use the same grammar restricted to =, ==, !=.
 */
typedef struct vs_selector vs_selector;

/* Looks up key for matching; returns the value or NULL when the key is absent. */
typedef const char *(*vs_selector_lookup)(const char *key, void *ctx);

/* Parse text (NULL or "" selects everything) into *out (free with vs_selector_free). */
int vs_selector_parse(const char *text, vs_selector **out, vs_error *err);
/* Parse as a field selector: only =, == and != are allowed. */
int vs_selector_parse_fields(const char *text, vs_selector **out, vs_error *err);
void vs_selector_free(vs_selector *sel);
/* True when every requirement holds for the values lookup returns. */
bool vs_selector_matches(const vs_selector *sel, vs_selector_lookup lookup, void *ctx);
/* True when sel matches a JSON labels object (NULL labels means no labels). */
bool vs_selector_matches_labels(const vs_selector *sel, const json_t *labels);
/* Number of requirements and the key of the i-th (borrowed), for callers that restrict keys. */
size_t vs_selector_count(const vs_selector *sel);
const char *vs_selector_key(const vs_selector *sel, size_t i);

/* ---- failpoints ------------------------------------------------------------------------------ */

/*
 * A named point where a test can make volshift fail, as etcd's gofail does. Inert unless the
 * environment variable VOLSHIFT_FAILPOINTS names the point: a comma-separated list of
 * NAME=crash (exit at once with status 86, no cleanup), NAME=error (return VS_EIO) or
 * NAME=sleep:MS (pause, so a test can act in between), each optionally with @N to act on the Nth
 * time the point is reached only (counting from 1).
 * Returns 0, or VS_EIO with err filled. Thread-safe.
 */
int vs_failpoint(const char *name, vs_error *err);

/* ---- stopping on request ---------------------------------------------------------------------- */

/* From now on the first SIGINT or SIGTERM only sets the request vs_stop_requested reports; a second
 * one writes the last words (if set) to stderr and ends the process with status 128 + signal. */
void vs_stop_install(void);
/* True once a stop was asked for (a first SIGINT or SIGTERM). Async-signal-safe to poll anywhere. */
bool vs_stop_requested(void);
/* The lines a second signal writes before the process ends (copied; at most 1 KiB). */
void vs_stop_set_last_words(const char *text);

/* ---- processes ------------------------------------------------------------------------------- */

/* What /proc/PID/stat says of a process. */
typedef struct vs_proc_stat {
	char state;		  /* R, S, D, Z (a zombie), ... */
	long ppid;		  /* its parent */
	unsigned long long start; /* when it started, in clock ticks since boot */
} vs_proc_stat;
/* Read process pid's /proc/PID/stat into *out; false when it cannot be read (no such process, or
 * no /proc). */
bool vs_process_read_stat(long pid, vs_proc_stat *out);
/* The identity of process pid as "BOOT_ID/PID_NAMESPACE/PID/START_TIME" (Linux /proc: the kernel's
 * boot id, the inode of the PID namespace, the pid, its start in clock ticks since boot), or "" when
 * /proc does not say. Caller frees. */
char *vs_process_id(long pid);
/* This process's identity (vs_process_id). Static, computed once; thread-safe. */
const char *vs_process_self(void);

enum vs_process_state {
	VS_PROCESS_RUNNING, /* the process still runs (or /proc hides it while its pid exists) */
	VS_PROCESS_GONE,    /* it ended: its pid is free, reused by another process, or a zombie */
	VS_PROCESS_UNKNOWN, /* not this boot and PID namespace (another machine, container or reboot), or unreadable */
};
/* Whether the process that vs_process_id described as id (NULL is UNKNOWN) still runs. Only a
 * process of the same boot and PID namespace can tell; no clock is compared. Thread-safe. */
enum vs_process_state vs_process_state(const char *id);
/* The first child of process pid (/proc/PID/task/PID/children), or 0 when it has none or /proc
 * does not say. */
long vs_process_first_child(long pid);

/* ---- random ---------------------------------------------------------------------------------- */

/* A uniformly random 64-bit value from a thread-safe generator seeded from the OS. */
uint64_t vs_rand_u64(void);
/* A random RFC 4122 version 4 UUID string into out (37 bytes). */
void vs_uuid(char out[37]);

/* A seeded generator (xorshift64*), for sequences that a seed must reproduce. Not thread-safe: one
 * per thread, or under the caller's lock. */
typedef struct vs_rng {
	uint64_t state;
} vs_rng;
/* Seed it; seed 0 takes a random seed from vs_rand_u64. Returns the seed used. */
uint64_t vs_rng_seed(vs_rng *g, uint64_t seed);
/* The next 64-bit value. */
uint64_t vs_rng_next(vs_rng *g);
/* A value uniformly in [lo, hi] (hi < lo gives lo). */
int64_t vs_rng_range(vs_rng *g, int64_t lo, int64_t hi);
/* A value uniformly in [0, 1). */
double vs_rng_unit(vs_rng *g);

#endif
