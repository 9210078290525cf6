/*
 * Diagnostics: one line per call on stderr, with time, level and tag, never interleaved between
 * threads. The level comes from $VOLSHIFT_LOG unless a program sets it.
 */
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_level = -1;
static const char *log_tag = "volshift";

static enum vs_log_level log_level_from_env(void)
{
	static const char *names[] = { "debug", "info", "warn", "error", "off" };
	const char *env = getenv("VOLSHIFT_LOG");

	for (int i = 0; env && i < 5; i++)
		if (strcasecmp(env, names[i]) == 0)
			return (enum vs_log_level)i;
	return VS_LOG_INFO;
}

void vs_log_set_level(enum vs_log_level level)
{
	log_level = (int)level;
}

enum vs_log_level vs_log_get_level(void)
{
	if (log_level < 0)
		log_level = (int)log_level_from_env();
	return (enum vs_log_level)log_level;
}

void vs_log_set_tag(const char *tag)
{
	log_tag = tag;
}

void vs_log(enum vs_log_level level, const char *fmt, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	char line[2048], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level < vs_log_get_level() || level >= VS_LOG_OFF)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s.%03ld %s %s: %s\n", stamp, ts.tv_nsec / 1000000L, log_tag, names[level], line);
	pthread_mutex_unlock(&log_lock);
}
