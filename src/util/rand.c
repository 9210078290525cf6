/*
 * Randomness for uids, jitter and names: a per-thread xorshift generator seeded from the OS; and
 * seeded generators for what a seed must reproduce (volshift-sim's delays and faults).
 */
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static _Thread_local uint64_t rand_state;

uint64_t vs_rand_u64(void)
{
	if (rand_state == 0) {
		if (getrandom(&rand_state, sizeof(rand_state), 0) != sizeof(rand_state))
			rand_state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)pthread_self();
		rand_state |= 1;
	}
	rand_state ^= rand_state << 13;
	rand_state ^= rand_state >> 7;
	rand_state ^= rand_state << 17;
	return rand_state;
}

void vs_uuid(char out[37])
{
	uint64_t a = vs_rand_u64(), b = vs_rand_u64();

	snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
		 (unsigned)a & 0xfff, (unsigned)((b >> 48) & 0x3fff) | 0x8000,
		 (unsigned long long)(b & 0xffffffffffffULL));
}

uint64_t vs_rng_seed(vs_rng *g, uint64_t seed)
{
	if (seed == 0)
		seed = vs_rand_u64() >> 1 | 1;
	g->state = seed;
	return seed;
}

uint64_t vs_rng_next(vs_rng *g)
{
	uint64_t x = g->state ? g->state : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	g->state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

int64_t vs_rng_range(vs_rng *g, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t)(vs_rng_next(g) % (uint64_t)(hi - lo + 1));
}

double vs_rng_unit(vs_rng *g)
{
	return (double)(vs_rng_next(g) >> 11) / 9007199254740992.0;
}
