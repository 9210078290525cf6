/*
 * Clocks and RFC 3339 timestamps, the format of every time in the Kubernetes API.
 */
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t vs_time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t vs_time_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t vs_time_now(void)
{
	return (int64_t)time(NULL);
}

void vs_time_format(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void vs_time_format_micro(char out[40])
{
	struct timespec ts;
	struct tm tm;
	char secs[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%06ldZ", secs, ts.tv_nsec / 1000);
}

int vs_time_parse(const char *s, int64_t *out, vs_error *err)
{
	struct tm tm;
	const char *p;
	int off = 0;

	memset(&tm, 0, sizeof(tm));
	p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!p)
		goto bad;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int h, m;
		if (sscanf(p + 1, "%2d:%2d", &h, &m) != 2)
			goto bad;
		off = (h * 60 + m) * 60 * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		goto bad;
	}
	if (*p)
		goto bad;
	*out = (int64_t)timegm(&tm) - off;
	return 0;
bad:
	return vs_error_set(err, VS_EINVAL, "timestamp \"%s\" is not RFC 3339 (expected 2006-01-02T15:04:05Z)",
			    s ? s : "(null)");
}

void vs_time_deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ms = ms < 0 ? 0 : ms;
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void vs_cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
}

void vs_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The longest duration accepted, in hours (about 114 years). */
#define DURATION_MAX_H 1e6

/* One number and its unit at s ("1.5s"): milliseconds into *ms, the end into *end; false when s
 * holds no number followed by a known unit. */
static bool duration_part(const char *s, double *ms, const char **end)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = { { "ms", 1 }, { "us", 1e-3 }, { "ns", 1e-6 }, { "h", 3600e3 }, { "m", 60e3 }, { "s", 1e3 } };
	char *num_end;
	double v;

	if (*s < '0' || *s > '9')
		if (*s != '.')
			return false;
	errno = 0;
	v = strtod(s, &num_end);
	if (errno || num_end == s)
		return false;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strncmp(num_end, units[i].unit, strlen(units[i].unit)) == 0) {
			*ms = v * units[i].ms;
			*end = num_end + strlen(units[i].unit);
			return true;
		}
	return false;
}

int vs_duration_parse(const char *text, int64_t *ms, vs_error *err)
{
	const char *s = text ? text : "";
	double total = 0, part;

	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	if (!*s)
		return vs_error_set(err, VS_EINVAL, "duration \"\": expected a number and a unit, such as 15s or 200ms");
	while (*s) {
		if (!duration_part(s, &part, &s))
			return vs_error_set(err, VS_EINVAL,
					    "duration \"%s\": expected numbers with units (h, m, s, ms), such as 15s, 1m30s or 200ms",
					    text);
		total += part;
	}
	if (!(total <= DURATION_MAX_H * 3600e3)) /* beyond int64_t, or infinite: refused, not converted */
		return vs_error_set(err, VS_EINVAL, "duration \"%s\" is too long: at most %gh", text, DURATION_MAX_H);
	*ms = (int64_t)(total + 0.5);
	return 0;
}
