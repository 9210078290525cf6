/*
 * Unit tests for the timing of a group's stop against its node's PLEG relists (migrate_int.h,
 * mig_stop_delay_ms): the stop starts MIG_STOP_LEAD_MS before the first relist at least that far
 * away, never waits a period or more, and does not wait when no relist was seen. And for the pace
 * of the bind's nudges (mig_note_claim_lag, mig_bind_first_quiet_ms): the first pause is the
 * longest lag the thread saw, within bounds.
 */
#include "migrate/migrate_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define T0 1000000 /* a monotonic time, ms */

static void test_migrate_stop__before_the_next_relist(void **state)
{
	(void)state;
	/* seen just now: the next relist is a period away, the stop the lead before it */
	assert_int_equal(mig_stop_delay_ms(T0, T0), MIG_RELIST_PERIOD_MS - MIG_STOP_LEAD_MS);
	assert_int_equal(mig_stop_delay_ms(T0, T0 + 100), MIG_RELIST_PERIOD_MS - MIG_STOP_LEAD_MS - 100);
	/* exactly the lead before it: now */
	assert_int_equal(mig_stop_delay_ms(T0, T0 + MIG_RELIST_PERIOD_MS - MIG_STOP_LEAD_MS), 0);
}

static void test_migrate_stop__a_later_relist_when_that_one_is_too_near(void **state)
{
	(void)state;
	/* 1 ms too late for the next relist: the one after */
	assert_int_equal(mig_stop_delay_ms(T0, T0 + MIG_RELIST_PERIOD_MS - MIG_STOP_LEAD_MS + 1),
			 MIG_RELIST_PERIOD_MS - 1);
	/* seen long ago (the arming of other claims took a while): the phase is kept */
	assert_int_equal(mig_stop_delay_ms(T0, T0 + 10 * MIG_RELIST_PERIOD_MS + 200),
			 MIG_RELIST_PERIOD_MS - MIG_STOP_LEAD_MS - 200);
	for (int64_t now = T0; now < T0 + 3 * MIG_RELIST_PERIOD_MS; now += 37) {
		int64_t d = mig_stop_delay_ms(T0, now);
		assert_in_range(d, 0, MIG_RELIST_PERIOD_MS - 1);
		assert_int_equal((now + d - T0 + MIG_STOP_LEAD_MS) % MIG_RELIST_PERIOD_MS, 0);
	}
}

static void test_migrate_stop__no_relist_seen(void **state)
{
	(void)state;
	assert_int_equal(mig_stop_delay_ms(0, T0), 0);
}

static void test_migrate_stop__nudges_wait_for_the_longest_lag_seen(void **state)
{
	mig_run r = { 0 };

	(void)state;
	/* nothing seen yet, or controllers faster than the shortest pause: the shortest */
	assert_int_equal(mig_bind_first_quiet_ms(r.claim_lag_ms), MIG_BIND_QUIET_MIN_MS);
	mig_note_claim_lag(&r, vs_time_mono_ms() - 30);
	assert_int_equal(mig_bind_first_quiet_ms(r.claim_lag_ms), MIG_BIND_QUIET_MIN_MS);
	/* a lag of 400 ms, then a shorter one: the longest is kept */
	mig_note_claim_lag(&r, vs_time_mono_ms() - 400);
	mig_note_claim_lag(&r, vs_time_mono_ms() - 150);
	assert_in_range(r.claim_lag_ms, 400, 450);
	assert_int_equal(mig_bind_first_quiet_ms(r.claim_lag_ms), r.claim_lag_ms);
	/* a deletion that waited on something else for a minute: never more than the longest pause */
	mig_note_claim_lag(&r, vs_time_mono_ms() - 60000);
	assert_int_equal(r.claim_lag_ms, MIG_BIND_QUIET_MAX_MS);
	assert_int_equal(mig_bind_first_quiet_ms(r.claim_lag_ms), MIG_BIND_QUIET_MAX_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_stop__before_the_next_relist),
		cmocka_unit_test(test_migrate_stop__a_later_relist_when_that_one_is_too_near),
		cmocka_unit_test(test_migrate_stop__no_relist_seen),
		cmocka_unit_test(test_migrate_stop__nudges_wait_for_the_longest_lag_seen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
