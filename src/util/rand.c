/*
 * Randomness for uids, jitter and names: a per-thread xorshift generator seeded from the OS.
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
