/*
 * Failpoints for the fault-injection tests: VOLSHIFT_FAILPOINTS="copy:before=crash@2,swap:prebound=error".
 * The variable is read once; each named point counts its hits.
 */
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAILPOINT_MAX 32
#define FAILPOINT_CRASH_STATUS 86

struct failpoint {
	char name[64];
	bool crash;
	long nth;  /* 0: every time */
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
			vs_warn("VOLSHIFT_FAILPOINTS: \"%s\" is not NAME=crash|error[@N]; ignored", tok);
			continue;
		}
		*eq = '\0';
		at = strchr(eq + 1, '@');
		if (at)
			*at = '\0';
		if (strcmp(eq + 1, "crash") != 0 && strcmp(eq + 1, "error") != 0) {
			vs_warn("VOLSHIFT_FAILPOINTS: action \"%s\" of %s is not crash or error; ignored", eq + 1, tok);
			continue;
		}
		strcpy(f->name, tok);
		f->crash = strcmp(eq + 1, "crash") == 0;
		f->nth = at ? strtol(at + 1, NULL, 10) : 0;
		nfailpoints++;
	}
	free(copy);
}

int vs_failpoint(const char *name, vs_error *err)
{
	bool fire = false, crash = false;

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
		crash = f->crash;
	}
	pthread_mutex_unlock(&failpoint_mu);
	if (!fire)
		return 0;
	if (crash) {
		vs_err("failpoint %s: crashing (VOLSHIFT_FAILPOINTS)", name);
		_exit(FAILPOINT_CRASH_STATUS);
	}
	return vs_error_set(err, VS_EIO, "failpoint %s: injected error (VOLSHIFT_FAILPOINTS)", name);
}
