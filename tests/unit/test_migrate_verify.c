/*
 * Unit tests for the verification pass's pure parts: which lines of rsync's itemized output are
 * differences (with the names they carry), the --verify modes, and the mode kept in a journal's
 * options.
 */
#include "migrate/migrate.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* line is a difference about name. */
static void differs(const char *line, const char *name)
{
	const char *got = NULL;

	if (!vs_rsync_item_differs(line, &got))
		fail_msg("not counted as a difference: \"%s\"", line);
	assert_string_equal(got, name);
}

static void same(const char *line)
{
	const char *got = NULL;

	if (vs_rsync_item_differs(line, &got))
		fail_msg("counted as a difference: \"%s\"", line);
}

static void test_migrate_verify__differences(void **state)
{
	(void)state;
	differs(">f+++++++++ new", "new");
	differs(">f.st...... sub/deeper/x", "sub/deeper/x");
	differs(">fc........ hello", "hello");             /* --checksum: same size and time */
	differs(">f..t...... hello", "hello");             /* a file's time alone */
	differs(".f..t...... hello", "hello");             /* ... as --checksum reports it */
	differs(".f...p..... sub/random.bin", "sub/random.bin");
	differs(".f....og... sub/theirs", "sub/theirs");
	differs(".f.......a. hello", "hello");
	differs(".f........x sub/random.bin", "sub/random.bin");
	differs("*deleting   we ird", "we ird");            /* only in the destination */
	differs("*deleting   extra/", "extra/");
	differs("cd+++++++++ empty/", "empty/");
	differs("cL+++++++++ sub/link -> ../hello", "sub/link -> ../hello");
	differs("cLc.t...... sub/link -> ../other", "sub/link -> ../other");
	differs("hf.......a. sub/hello-hardlink => hello", "sub/hello-hardlink => hello");
	differs("hf          sub/hello-hardlink => hello", "sub/hello-hardlink => hello"); /* a link to make */
	differs("cS+++++++++ fifo", "fifo");
	differs(".d..tp..... sub/", "sub/");               /* time and mode: the mode counts */
	differs(".d...p..... sub/deeper/", "sub/deeper/");
	differs(".L..t...... sub/hello-symlink -> ../hello", "sub/hello-symlink -> ../hello");
}

static void test_migrate_verify__not_differences(void **state)
{
	(void)state;
	/* A directory whose only difference is its time: see verify.c. */
	same(".d..t...... ./");
	same(".d..T...... sub/");
	/* Unchanged entries, as -ii or -vv in --rsync-flags list them. */
	same(".d          ./");
	same(".f          hello");
	same(".L          sub/hello-symlink -> ../hello");
	same("hf          sub/hello-hardlink");
	/* Everything else rsync prints. */
	same("");
	same(">f+++++++++");
	same(">f+++++++++ ");
	same("Number of files: 11 (reg: 6, dir: 4, link: 1)");
	same("Number of created files: 0");
	same("Total file size: 52,728,848 bytes");
	same("sent 392 bytes  received 22 bytes  828.00 bytes/sec");
	same("total size is 52,728,848  speedup is 127,364.37 (DRY RUN)");
	same("building file list ... done");
	same("sending incremental file list");
	same("created directory /dest");
	same("delta-transmission disabled for local transfer or --whole-file");
	same("rsync: [sender] link_stat \"/source/x\" failed: No such file or directory (2)");
	same("     10,485,763  99%  714.29MB/s    0:00:00 (xfr#2, to-chk=0/5)");
}

static void test_migrate_verify__modes(void **state)
{
	enum vs_verify_mode m = VS_VERIFY_CHECKSUM;
	vs_error err;

	(void)state;
	vs_error_clear(&err);
	assert_int_equal(vs_verify_mode_parse("size-time", &m, &err), 0);
	assert_int_equal(m, VS_VERIFY_SIZE_TIME);
	assert_int_equal(vs_verify_mode_parse("checksum", &m, &err), 0);
	assert_int_equal(m, VS_VERIFY_CHECKSUM);
	assert_string_equal(vs_verify_mode_name(VS_VERIFY_SIZE_TIME), "size-time");
	assert_string_equal(vs_verify_mode_name(VS_VERIFY_CHECKSUM), "checksum");
	assert_int_equal(vs_verify_mode_parse("none", &m, &err), VS_EINVAL);
	assert_int_equal(m, VS_VERIFY_CHECKSUM);
	assert_non_null(strstr(err.message, "\"none\""));
	assert_non_null(strstr(err.message, "size-time or checksum"));
	/* The zero value is the default. */
	assert_int_equal((vs_migrate_opts){ 0 }.verify, VS_VERIFY_SIZE_TIME);
}

/* The mode survives the journal; a journal written before --verify existed means size-time. */
static void test_migrate_verify__journal_options(void **state)
{
	vs_migrate_opts in = { .plan = { .source_sc = "local", .dest_sc = "shared" }, .rsync_image = "img",
			       .verify = VS_VERIFY_CHECKSUM };
	vs_migrate_opts out;
	json_t *json = vs_migrate_opts_to_json(&in);
	vs_error err;

	(void)state;
	vs_error_clear(&err);
	assert_non_null(json);
	assert_string_equal(json_string_value(json_object_get(json, "verify")), "checksum");
	assert_int_equal(vs_migrate_opts_from_json(json, &out, &err), 0);
	assert_int_equal(out.verify, VS_VERIFY_CHECKSUM);
	free((void *)out.rsync_flags);

	json_object_del(json, "verify");
	assert_int_equal(vs_migrate_opts_from_json(json, &out, &err), 0);
	assert_int_equal(out.verify, VS_VERIFY_SIZE_TIME);
	free((void *)out.rsync_flags);

	json_object_set_new(json, "verify", json_string("sometimes"));
	assert_int_equal(vs_migrate_opts_from_json(json, &out, &err), VS_EINVAL);
	assert_non_null(strstr(err.message, "journal options"));
	assert_non_null(strstr(err.message, "sometimes"));
	free((void *)out.rsync_flags);
	json_decref(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_verify__differences),
		cmocka_unit_test(test_migrate_verify__not_differences),
		cmocka_unit_test(test_migrate_verify__modes),
		cmocka_unit_test(test_migrate_verify__journal_options),
	};

	return cmocka_run_group_tests_name("migrate verify", tests, NULL, NULL);
}
