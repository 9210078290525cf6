/*
 * Stopping on request: the first SIGINT or SIGTERM asks volshift to stop at its next safe point
 * (the engine polls vs_stop_requested, as it polls a `volshift abort`); a second one ends the
 * process at once, after writing the lines set with vs_stop_set_last_words (how to go on with the
 * migration), with write(2), the only output a signal handler may make.
 */
#include "util.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Atomic, not volatile sig_atomic_t: the handler runs on whichever thread took the signal and the
 * engine's threads read it (a lock-free atomic is safe in a signal handler). */
static atomic_int stop_signals;
static char stop_words[1024];
static atomic_bool stop_words_set;

static void stop_handler(int sig)
{
	static const char first[] = "\nvolshift: stopping at the next safe point (again to exit at once)\n";

	if (atomic_fetch_add(&stop_signals, 1) == 0) {
		ssize_t w = write(STDERR_FILENO, first, sizeof(first) - 1);
		(void)w;
		return;
	}
	if (atomic_load(&stop_words_set)) {
		ssize_t w = write(STDERR_FILENO, stop_words, strlen(stop_words));
		(void)w;
	}
	_exit(128 + sig);
}

void vs_stop_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stop_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

bool vs_stop_requested(void)
{
	return atomic_load(&stop_signals) > 0;
}

void vs_stop_set_last_words(const char *text)
{
	atomic_store(&stop_words_set, false);
	snprintf(stop_words, sizeof(stop_words), "\n%s\n", text);
	atomic_store(&stop_words_set, true);
}
