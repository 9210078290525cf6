/*
 * Failpoints for the fault-injection tests: VOLSHIFT_FAILPOINTS="copy:before=crash@2,swap:pinned=error".
 * The variable is read once; each named point counts its hits.
 */
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAILPOINT_MAX 32
#define FAILPOINT_CRASH_STATUS 86

enum failpoint_action { FAILPOINT_ERROR, FAILPOINT_CRASH, FAILPOINT_SLEEP };

struct failpoint {
	char name[64];
	enum failpoint_action action;
	long sleep_ms; /* FAILPOINT_SLEEP: for how long */
	long nth;      /* 0: every time */
	long hits;
};

static struct failpoint failpoints[FAILPOINT_MAX];
static size_t nfailpoints;
static pthread_once_t failpoint_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t failpoint_mu = PTHREAD_MUTEX_INITIALIZER;

static void failpoint_load(void)
{
	const char *env = getenv("VOLSHIFT_FAILPOINTS");
	char *copy, *save = NULL;

	if (!env || !*env)
		return;
	copy = vs_xstrdup(env);
	for (char *tok = strtok_r(copy, ",", &save); tok && nfailpoints < FAILPOINT_MAX; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *at;
		struct failpoint *f = &failpoints[nfailpoints];
		if (!eq || (size_t)(eq - tok) >= sizeof(f->name)) {
			vs_warn("VOLSHIFT_FAILPOINTS: \"%s\" is not NAME=crash|error|sleep:MS[@N]; ignored", tok);
			continue;
		}
		*eq = '\0';
		at = strchr(eq + 1, '@');
		if (at)
			*at = '\0';
		if (strcmp(eq + 1, "crash") == 0) {
			f->action = FAILPOINT_CRASH;
		} else if (strcmp(eq + 1, "error") == 0) {
			f->action = FAILPOINT_ERROR;
		} else if (vs_str_has_prefix(eq + 1, "sleep:") && (f->sleep_ms = strtol(eq + 7, NULL, 10)) > 0) {
			f->action = FAILPOINT_SLEEP;
		} else {
			vs_warn("VOLSHIFT_FAILPOINTS: action \"%s\" of %s is not crash, error or sleep:MS; ignored", eq + 1,
				tok);
			continue;
		}
		strcpy(f->name, tok);
		f->nth = at ? strtol(at + 1, NULL, 10) : 0;
		nfailpoints++;
	}
	free(copy);
}

int vs_failpoint(const char *name, vs_error *err)
{
	bool fire = false;
	enum failpoint_action action = FAILPOINT_ERROR;
	long sleep_ms = 0;

	pthread_once(&failpoint_once, failpoint_load);
	if (nfailpoints == 0)
		return 0;
	pthread_mutex_lock(&failpoint_mu);
	for (size_t i = 0; i < nfailpoints; i++) {
		struct failpoint *f = &failpoints[i];
		if (strcmp(f->name, name) != 0)
			continue;
		f->hits++;
		fire = f->nth == 0 || f->hits == f->nth;
		action = f->action;
		sleep_ms = f->sleep_ms;
	}
	pthread_mutex_unlock(&failpoint_mu);
	if (!fire)
		return 0;
	switch (action) {
	case FAILPOINT_CRASH:
		vs_err("failpoint %s: crashing (VOLSHIFT_FAILPOINTS)", name);
		_exit(FAILPOINT_CRASH_STATUS);
	case FAILPOINT_SLEEP:
		vs_info("failpoint %s: sleeping %ld ms (VOLSHIFT_FAILPOINTS)", name, sleep_ms);
		vs_sleep_ms(sleep_ms);
		return 0;
	case FAILPOINT_ERROR:
		break;
	}
	return vs_error_set(err, VS_EIO, "failpoint %s: injected error (VOLSHIFT_FAILPOINTS)", name);
}
