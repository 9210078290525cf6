/*
 * fault: the fault injector of volshift-sim (see fault.h for the SPEC): parsing a SPEC, deciding
 * each request's fault with a seeded generator, counting, and killing a container's process. The
 * HTTP server asks it about every API request (never about discovery or its own endpoints) and
 * acts on the answer; this file knows nothing of HTTP.
 */
#include "fault.h"
#include "node_exec.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_RESOURCES 32
#define DEFAULT_KINDS                                                                                              \
	(1u << SIM_FAULT_500 | 1u << SIM_FAULT_503 | 1u << SIM_FAULT_429 | 1u << SIM_FAULT_RESET |                 \
	 1u << SIM_FAULT_LATENCY)

static const char *const kind_names[SIM_FAULT_NKINDS] = {
	[SIM_FAULT_NONE] = "none",	    [SIM_FAULT_500] = "500",	       [SIM_FAULT_503] = "503",
	[SIM_FAULT_429] = "429",	    [SIM_FAULT_RESET] = "reset",       [SIM_FAULT_RESET_AFTER] = "reset-after",
	[SIM_FAULT_LATENCY] = "latency", [SIM_FAULT_WATCH_CUT] = "watch-cut",
};
static const char *const verb_names[] = { "get", "list", "watch", "create", "update", "patch", "delete",
					  "deletecollection" };
#define NVERBS (sizeof(verb_names) / sizeof(verb_names[0]))

/* One parsed SPEC. */
struct fault_spec {
	double rate, watch_cut;
	unsigned kinds; /* a bit per enum sim_fault_kind that a request may get */
	unsigned verbs; /* a bit per verb_names entry; 0 for every verb */
	char *resources[MAX_RESOURCES];
	size_t nresources; /* 0 for every resource */
	int latency_ms, retry_after_s, watch_cut_ms;
	bool seeded;
	uint64_t seed;
};

struct sim_faults {
	pthread_mutex_t mu; /* guards everything below */
	struct fault_spec spec;
	uint64_t rng, seed;
	uint64_t requests, counts[SIM_FAULT_NKINDS];
};

/* ---- the SPEC ------------------------------------------------------------------------------ */

static void spec_init(struct fault_spec *s)
{
	*s = (struct fault_spec){ .kinds = DEFAULT_KINDS, .latency_ms = 200, .retry_after_s = 1, .watch_cut_ms = 2000 };
}

static void spec_clear(struct fault_spec *s)
{
	for (size_t i = 0; i < s->nresources; i++)
		free(s->resources[i]);
	spec_init(s);
}

static int parse_probability(const char *key, const char *v, double *out, vs_error *err)
{
	char *end;

	errno = 0;
	*out = strtod(v, &end);
	if (!*v || *end || errno || !(*out >= 0 && *out <= 1))
		return vs_error_set(err, VS_EINVAL, "fault spec: %s=%s: expected a probability from 0 to 1", key, v);
	return 0;
}

static int parse_count(const char *key, const char *v, long max, int *out, vs_error *err)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < 0 || n > max)
		return vs_error_set(err, VS_EINVAL, "fault spec: %s=%s: expected a number from 0 to %ld", key, v, max);
	*out = (int)n;
	return 0;
}

static int parse_seed(const char *v, struct fault_spec *s, vs_error *err)
{
	char *end;

	errno = 0;
	s->seed = strtoull(v, &end, 10);
	if (!*v || *end || errno || *v == '-')
		return vs_error_set(err, VS_EINVAL, "fault spec: seed=%s: expected a number", v);
	s->seeded = true;
	return 0;
}

/* A ':'-separated list of names into bits: bit i for names[i], first <= i < end. */
static int parse_names(const char *key, const char *v, const char *const *names, size_t first, size_t end,
		       unsigned *bits, vs_error *err)
{
	char *copy = vs_xstrdup(v), *save = NULL;
	int rc = 0;

	*bits = 0;
	for (char *tok = strtok_r(copy, ":", &save); tok && rc == 0; tok = strtok_r(NULL, ":", &save)) {
		size_t i = first;
		while (i < end && strcmp(names[i], tok) != 0)
			i++;
		if (i == end)
			rc = vs_error_set(err, VS_EINVAL, "fault spec: %s: unknown name \"%s\"", key, tok);
		else
			*bits |= 1u << i;
	}
	if (rc == 0 && *bits == 0)
		rc = vs_error_set(err, VS_EINVAL, "fault spec: %s: an empty list", key);
	free(copy);
	return rc;
}

static int parse_resources(const char *v, struct fault_spec *s, vs_error *err)
{
	char *copy = vs_xstrdup(v), *save = NULL;
	int rc = 0;

	for (size_t i = 0; i < s->nresources; i++)
		free(s->resources[i]);
	s->nresources = 0;
	for (char *tok = strtok_r(copy, ":", &save); tok && rc == 0; tok = strtok_r(NULL, ":", &save)) {
		if (s->nresources == MAX_RESOURCES)
			rc = vs_error_set(err, VS_EINVAL, "fault spec: resources: more than %d names", MAX_RESOURCES);
		else
			s->resources[s->nresources++] = vs_xstrdup(tok);
	}
	if (rc == 0 && s->nresources == 0)
		rc = vs_error_set(err, VS_EINVAL, "fault spec: resources: an empty list");
	free(copy);
	return rc;
}

static int parse_item(const char *key, const char *v, struct fault_spec *s, vs_error *err)
{
	if (strcmp(key, "rate") == 0)
		return parse_probability(key, v, &s->rate, err);
	if (strcmp(key, "watch-cut") == 0)
		return parse_probability(key, v, &s->watch_cut, err);
	if (strcmp(key, "kinds") == 0)
		return parse_names(key, v, kind_names, SIM_FAULT_500, SIM_FAULT_WATCH_CUT, &s->kinds, err);
	if (strcmp(key, "verbs") == 0)
		return parse_names(key, v, verb_names, 0, NVERBS, &s->verbs, err);
	if (strcmp(key, "resources") == 0)
		return parse_resources(v, s, err);
	if (strcmp(key, "latency-ms") == 0)
		return parse_count(key, v, 600000, &s->latency_ms, err);
	if (strcmp(key, "retry-after") == 0)
		return parse_count(key, v, 3600, &s->retry_after_s, err);
	if (strcmp(key, "watch-cut-ms") == 0) {
		int rc = parse_count(key, v, 3600000, &s->watch_cut_ms, err);
		if (rc == 0 && s->watch_cut_ms == 0)
			rc = vs_error_set(err, VS_EINVAL, "fault spec: watch-cut-ms=0: expected at least 1");
		return rc;
	}
	if (strcmp(key, "seed") == 0)
		return parse_seed(v, s, err);
	return vs_error_set(err, VS_EINVAL,
			    "fault spec: unknown key \"%s\" (expected rate, kinds, verbs, resources, latency-ms, "
			    "retry-after, watch-cut, watch-cut-ms or seed)",
			    key);
}

/* Trim the whitespace around s in place; returns the start. */
static char *trim(char *s)
{
	char *e = s + strlen(s);

	while (isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Parse text into *s (initialised here; spec_clear it in every case). */
static int spec_parse(const char *text, struct fault_spec *s, vs_error *err)
{
	char *copy = vs_xstrdup(text ? text : ""), *save = NULL, *all = trim(copy);
	int rc = 0;

	spec_init(s);
	if (strcmp(all, "off") == 0)
		*all = '\0';
	for (char *item = strtok_r(all, ",", &save); item && rc == 0; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (!eq) {
			rc = vs_error_set(err, VS_EINVAL, "fault spec: \"%s\": expected KEY=VALUE", trim(item));
			break;
		}
		*eq = '\0';
		rc = parse_item(trim(item), trim(eq + 1), s, err);
	}
	free(copy);
	return rc;
}

static bool spec_is_off(const struct fault_spec *s)
{
	return s->rate == 0 && s->watch_cut == 0;
}

/* Append ",key=" and the names of the set bits (bit i for names[i], i < n), ':'-separated. */
static void put_names(vs_buf *b, const char *key, const char *const *names, size_t n, unsigned bits)
{
	const char *sep = "";

	vs_buf_printf(b, ",%s=", key);
	for (size_t i = 0; i < n; i++)
		if (bits & (1u << i)) {
			vs_buf_printf(b, "%s%s", sep, names[i]);
			sep = ":";
		}
}

/* The canonical SPEC of s with the seed in force; caller frees. */
static char *spec_string(const struct fault_spec *s, uint64_t seed)
{
	vs_buf b;

	if (spec_is_off(s))
		return vs_xstrdup("off");
	vs_buf_init(&b, 0);
	vs_buf_printf(&b, "rate=%g", s->rate);
	put_names(&b, "kinds", kind_names, SIM_FAULT_NKINDS, s->kinds);
	if (s->verbs)
		put_names(&b, "verbs", verb_names, NVERBS, s->verbs);
	for (size_t i = 0; i < s->nresources; i++)
		vs_buf_printf(&b, "%s%s", i ? ":" : ",resources=", s->resources[i]);
	vs_buf_printf(&b, ",latency-ms=%d,retry-after=%d,watch-cut=%g,watch-cut-ms=%d,seed=%llu", s->latency_ms,
		      s->retry_after_s, s->watch_cut, s->watch_cut_ms, (unsigned long long)seed);
	return vs_buf_steal(&b);
}

/* ---- the injector -------------------------------------------------------------------------- */

/* splitmix64: small, fast, and every seed (0 included) gives a good sequence. Lock held. */
static uint64_t next_u64(sim_faults *f)
{
	uint64_t z = (f->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). Lock held. */
static double next_unit(sim_faults *f)
{
	return (double)(next_u64(f) >> 11) * 0x1p-53;
}

int sim_fault_set(sim_faults *f, const char *spec, vs_error *err)
{
	struct fault_spec s;
	char *text;
	int rc;

	rc = spec_parse(spec, &s, err);
	if (rc != 0) {
		spec_clear(&s);
		return rc;
	}
	pthread_mutex_lock(&f->mu);
	spec_clear(&f->spec);
	f->spec = s;
	if (s.seeded)
		f->rng = f->seed = s.seed;
	text = spec_string(&f->spec, f->seed);
	pthread_mutex_unlock(&f->mu);
	vs_info("faults: %s", text);
	free(text);
	return 0;
}

int sim_fault_new(const char *spec, sim_faults **out, vs_error *err)
{
	sim_faults *f = vs_xcalloc(1, sizeof(*f));
	int rc;

	pthread_mutex_init(&f->mu, NULL);
	spec_init(&f->spec);
	f->rng = f->seed = vs_rand_u64();
	rc = sim_fault_set(f, spec, err);
	if (rc != 0) {
		sim_fault_free(f);
		f = NULL;
	}
	*out = f;
	return rc;
}

void sim_fault_free(sim_faults *f)
{
	if (!f)
		return;
	spec_clear(&f->spec);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

const char *sim_fault_kind_name(enum sim_fault_kind kind)
{
	return kind < SIM_FAULT_NKINDS ? kind_names[kind] : "unknown";
}

/* True when the spec's resources name plural (or plural/sub). Lock held. */
static bool resource_matches(const struct fault_spec *s, const char *plural, const char *sub)
{
	size_t n = strlen(plural);

	if (s->nresources == 0)
		return true;
	for (size_t i = 0; i < s->nresources; i++) {
		const char *r = s->resources[i];
		if (strcmp(r, plural) == 0 ||
		    (sub && strncmp(r, plural, n) == 0 && r[n] == '/' && strcmp(r + n + 1, sub) == 0))
			return true;
	}
	return false;
}

static bool verb_matches(const struct fault_spec *s, const char *verb)
{
	if (s->verbs == 0)
		return true;
	for (size_t i = 0; i < NVERBS; i++)
		if (strcmp(verb_names[i], verb) == 0)
			return (s->verbs & (1u << i)) != 0;
	return false;
}

/* One of the spec's kinds, each as likely. Lock held. */
static enum sim_fault_kind pick_kind(sim_faults *f)
{
	unsigned n = (unsigned)__builtin_popcount(f->spec.kinds), k = (unsigned)(next_u64(f) % n);

	for (unsigned i = SIM_FAULT_500; i < SIM_FAULT_NKINDS; i++)
		if ((f->spec.kinds & (1u << i)) && k-- == 0)
			return (enum sim_fault_kind)i;
	return SIM_FAULT_NONE; /* not reached: kinds is never empty */
}

sim_fault sim_fault_decide(sim_faults *f, const char *verb, const char *plural, const char *sub)
{
	sim_fault out = { .kind = SIM_FAULT_NONE };

	pthread_mutex_lock(&f->mu);
	f->requests++;
	if (f->spec.rate > 0 && verb_matches(&f->spec, verb) && resource_matches(&f->spec, plural, sub) &&
	    next_unit(f) < f->spec.rate) {
		out.kind = pick_kind(f);
		out.latency_ms = f->spec.latency_ms;
		out.retry_after_s = f->spec.retry_after_s;
		f->counts[out.kind]++;
	}
	pthread_mutex_unlock(&f->mu);
	return out;
}

int64_t sim_fault_watch_cut(sim_faults *f, const char *plural)
{
	int64_t ms = 0;

	pthread_mutex_lock(&f->mu);
	if (f->spec.watch_cut > 0 && resource_matches(&f->spec, plural, NULL) && next_unit(f) < f->spec.watch_cut) {
		ms = 1 + (int64_t)(next_u64(f) % (uint64_t)f->spec.watch_cut_ms);
		f->counts[SIM_FAULT_WATCH_CUT]++;
	}
	pthread_mutex_unlock(&f->mu);
	return ms;
}

json_t *sim_fault_report(sim_faults *f)
{
	json_t *counts = json_object();
	json_int_t injected = 0;
	json_t *out;
	char *text;

	pthread_mutex_lock(&f->mu);
	for (int k = SIM_FAULT_500; k < SIM_FAULT_NKINDS; k++) {
		json_object_set_new(counts, kind_names[k], json_integer((json_int_t)f->counts[k]));
		injected += (json_int_t)f->counts[k];
	}
	text = spec_string(&f->spec, f->seed);
	out = json_pack("{s:s,s:I,s:I,s:o}", "spec", text, "requests", (json_int_t)f->requests, "injected", injected,
			"faults", counts);
	pthread_mutex_unlock(&f->mu);
	free(text);
	return out;
}

void sim_fault_log_counters(sim_faults *f)
{
	json_t *r = sim_fault_report(f);
	char *faults = json_dumps(json_object_get(r, "faults"), JSON_COMPACT);

	vs_info("faults: %lld requests, %lld faults injected %s", (long long)vs_json_int(r, "requests", 0),
		(long long)vs_json_int(r, "injected", 0), faults ? faults : "{}");
	free(faults);
	json_decref(r);
}

/* ---- killing a container ------------------------------------------------------------------- */

/* True when pid is a child of this process (a container's process), read from /proc/PID/stat. */
static bool is_our_child(long pid)
{
	vs_proc_stat st;

	return vs_process_read_stat(pid, &st) && st.ppid == (long)getpid();
}


int sim_fault_kill_pod(sim_store *st, const char *ns, const char *name, const char *container, json_t **out,
		       vs_error *err)
{
	json_t *pod = NULL, *killed = json_array(), *cs;
	size_t i;
	int rc;

	*out = NULL;
	rc = sim_api_get(st, sim_resource_find("", "pods"), ns, name, &pod, err);
	if (rc != 0)
		goto done;
	json_array_foreach(vs_json_path(pod, "status.containerStatuses"), i, cs) {
		const char *cname = vs_json_str_or(cs, "name", "");
		long pid = sim_exec_status_pid(cs);
		if ((container && strcmp(container, cname) != 0) || !pid || !is_our_child(pid))
			continue;
		if (kill((pid_t)pid, SIGKILL) != 0) {
			vs_warn("faults: kill %ld (pod %s/%s container %s): %s", pid, ns, name, cname, strerror(errno));
			continue;
		}
		vs_info("faults: killed pod %s/%s container %s (pid %ld)", ns, name, cname, pid);
		json_array_append_new(killed, json_pack("{s:s,s:I}", "container", cname, "pid", (json_int_t)pid));
	}
	if (json_array_size(killed) == 0) {
		rc = vs_error_set_api(err, 409, "Conflict", "pod %s/%s has no running container%s%s to kill", ns, name,
				      container ? " " : "", container ? container : "");
		goto done;
	}
	*out = json_pack("{s:O}", "killed", killed);
done:
	json_decref(killed);
	json_decref(pod);
	return rc;
}
