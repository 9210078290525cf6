/*
 * Unit tests for util: selectors (the grammar the client builds and volshift-sim evaluates),
 * base64, JSON paths, timestamps, the capped buffer and atomic file writes.
 */
#include "util/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static bool labels_match(const char *selector, const char *labels_json)
{
	json_t *labels = json_loads(labels_json, 0, NULL);
	vs_selector *sel = NULL;
	vs_error err = { 0 };
	bool ok;

	assert_int_equal(vs_selector_parse(selector, &sel, &err), 0);
	ok = vs_selector_matches_labels(sel, labels);
	vs_selector_free(sel);
	json_decref(labels);
	return ok;
}

static void test_util_selector__equality(void **state)
{
	(void)state;
	assert_true(labels_match("app=web", "{\"app\":\"web\",\"tier\":\"t1\"}"));
	assert_true(labels_match("app==web,tier=t1", "{\"app\":\"web\",\"tier\":\"t1\"}"));
	assert_false(labels_match("app=web,tier=t2", "{\"app\":\"web\",\"tier\":\"t1\"}"));
	assert_true(labels_match("app!=db", "{\"app\":\"web\"}"));
	assert_true(labels_match("app!=db", "{}"));
	assert_false(labels_match("app!=web", "{\"app\":\"web\"}"));
	assert_true(labels_match("", "{\"app\":\"web\"}"));
}

static void test_util_selector__sets(void **state)
{
	(void)state;
	assert_true(labels_match("tier in (t2,t4)", "{\"tier\":\"t4\"}"));
	assert_false(labels_match("tier in (t2,t4)", "{\"tier\":\"t3\"}"));
	assert_false(labels_match("tier in (t2,t4)", "{}"));
	assert_true(labels_match("tier notin (t2, t4)", "{\"tier\":\"t3\"}"));
	assert_true(labels_match("tier notin (t2,t4)", "{}"));
	assert_true(labels_match("!tier", "{\"app\":\"x\"}"));
	assert_false(labels_match("!tier", "{\"tier\":\"x\"}"));
	assert_true(labels_match("tier,app=x", "{\"tier\":\"\",\"app\":\"x\"}"));
	assert_true(labels_match("example.com/role in (a),app", "{\"example.com/role\":\"a\",\"app\":\"1\"}"));
}

static void test_util_selector__errors(void **state)
{
	const char *bad[] = { "app=web,", "tier in t2", "tier in (t2", "=x", "a b", "!", NULL };
	vs_selector *sel = NULL;
	vs_error err = { 0 };

	(void)state;
	for (int i = 0; bad[i]; i++) {
		assert_int_equal(vs_selector_parse(bad[i], &sel, &err), VS_EINVAL);
		assert_null(sel);
		assert_non_null(strstr(err.message, bad[i]));
	}
	assert_int_equal(vs_selector_parse_fields("metadata.name in (a)", &sel, &err), VS_EINVAL);
	assert_non_null(strstr(err.message, "field selectors"));
	assert_int_equal(vs_selector_parse_fields("metadata.name=a,spec.nodeName!=node-1", &sel, &err), 0);
	assert_int_equal(vs_selector_count(sel), 2);
	assert_string_equal(vs_selector_key(sel, 1), "spec.nodeName");
	vs_selector_free(sel);
}

static void test_util_base64__roundtrip(void **state)
{
	const char *cases[] = { "", "a", "ab", "abc", "abcd", "hello, kubernetes\n", NULL };
	unsigned char *out;
	size_t len;
	vs_error err = { 0 };

	(void)state;
	for (int i = 0; cases[i]; i++) {
		char *enc = vs_base64_encode((const unsigned char *)cases[i], strlen(cases[i]));
		assert_int_equal(vs_base64_decode(enc, &out, &len, &err), 0);
		assert_int_equal(len, strlen(cases[i]));
		assert_memory_equal(out, cases[i], len);
		free(out);
		free(enc);
	}
	assert_int_equal(vs_base64_decode("aGVs\nbG8=", &out, &len, &err), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	assert_int_equal(vs_base64_decode("aGV*bG8=", &out, &len, &err), VS_EINVAL);
	assert_non_null(strstr(err.message, "'*'"));
}

static void test_util_json__paths(void **state)
{
	json_t *o = json_loads("{\"metadata\":{\"name\":\"data\",\"generation\":3},\"spec\":{\"ok\":true}}", 0, NULL);

	(void)state;
	assert_string_equal(vs_json_str(o, "metadata.name"), "data");
	assert_null(vs_json_str(o, "metadata.namespace"));
	assert_string_equal(vs_json_str_or(o, "metadata.namespace", "default"), "default");
	assert_string_equal(vs_json_str_or(o, "metadata.name", "default"), "data");
	assert_string_equal(vs_json_str_or(o, "metadata.generation", "x"), "x");
	assert_null(vs_json_str(o, "metadata.name.deeper"));
	assert_int_equal(vs_json_int(o, "metadata.generation", -1), 3);
	assert_int_equal(vs_json_int(o, "metadata.name", -1), -1);
	assert_true(vs_json_bool(o, "spec.ok", false));
	assert_int_equal(vs_json_set_path(o, "status.phase", json_string("Bound")), 0);
	assert_string_equal(vs_json_str(o, "status.phase"), "Bound");
	assert_int_equal(vs_json_set_path(o, "metadata.name.x", json_string("y")), VS_EINVAL);
	json_decref(o);
	o = json_pack("[s, i, s]", "ReadWriteOnce", 3, "ReadOnlyMany");
	assert_true(vs_json_array_has_str(o, "ReadOnlyMany"));
	assert_false(vs_json_array_has_str(o, "ReadWriteMany"));
	assert_false(vs_json_array_has_str(NULL, "ReadWriteOnce"));
	json_decref(o);
}

static void test_util_time__rfc3339(void **state)
{
	int64_t t;
	char buf[32];
	vs_error err = { 0 };

	(void)state;
	assert_int_equal(vs_time_parse("2026-11-21T10:00:00Z", &t, &err), 0);
	vs_time_format(t, buf);
	assert_string_equal(buf, "2026-11-21T10:00:00Z");
	assert_int_equal(vs_time_parse("2026-11-21T12:00:00.123+02:00", &t, &err), 0);
	vs_time_format(t, buf);
	assert_string_equal(buf, "2026-11-21T10:00:00Z");
	assert_int_equal(vs_time_parse("2026-11-21 10:00", &t, &err), VS_EINVAL);
	assert_non_null(strstr(err.message, "RFC 3339"));
	int64_t before = vs_time_now();
	char micro[40];
	vs_time_format_micro(micro);
	assert_int_equal(strlen(micro), strlen("2026-11-21T10:00:00.123456Z"));
	assert_int_equal(micro[19], '.');
	assert_int_equal(vs_time_parse(micro, &t, &err), 0);
	assert_true(t >= before && t <= vs_time_now());
}

static void test_util_time__duration(void **state)
{
	static const struct {
		const char *text;
		int64_t ms;
	} ok[] = { { "15s", 15000 }, { "200ms", 200 }, { "1m30s", 90000 }, { "1.5s", 1500 }, { "0", 0 }, { "2h", 7200000 } };
	static const char *const bad[] = { "", "15", "s", "-1s", "1x", "1s2", "ms", "1e300h", "1000001h", "1e999s" };
	int64_t ms;
	vs_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		vs_error_clear(&err);
		assert_int_equal(vs_duration_parse(ok[i].text, &ms, &err), 0);
		assert_int_equal(ms, ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vs_error_clear(&err);
		assert_int_equal(vs_duration_parse(bad[i], &ms, &err), VS_EINVAL);
		assert_non_null(strstr(err.message, "duration"));
	}
}

static void test_util_rand__seeded(void **state)
{
	vs_rng a, b;
	int64_t v;

	(void)state;
	assert_int_equal(vs_rng_seed(&a, 42), 42);
	vs_rng_seed(&b, 42);
	for (int i = 0; i < 100; i++) {
		assert_true(vs_rng_next(&a) == vs_rng_next(&b));
		v = vs_rng_range(&a, 5, 9);
		assert_true(v >= 5 && v <= 9);
		vs_rng_range(&b, 5, 9);
		assert_true(vs_rng_unit(&a) < 1.0);
		vs_rng_unit(&b);
	}
	assert_int_equal(vs_rng_range(&a, 7, 3), 7);
	assert_int_not_equal(vs_rng_seed(&a, 0), 0);
}

static void test_util_buf__limit(void **state)
{
	vs_buf b;

	(void)state;
	vs_buf_init(&b, 8);
	assert_int_equal(vs_buf_puts(&b, "12345"), 0);
	assert_int_equal(vs_buf_puts(&b, "6789"), VS_ENOMEM);
	assert_string_equal(b.data, "12345");
	assert_int_equal(vs_buf_printf(&b, "%d", 678), 0);
	assert_string_equal(b.data, "12345678");
	vs_buf_free(&b);
	vs_buf_init(&b, 0);
	assert_int_equal(vs_buf_shell_word(&b, "a b"), 0);
	assert_int_equal(vs_buf_shell_word(&b, "it's '$x'"), 0);
	assert_int_equal(vs_buf_shell_word(&b, ""), 0);
	assert_string_equal(b.data, "'a b''it'\\''s '\\''$x'\\'''''");
	vs_buf_free(&b);
}

static void test_util_quantity__parse_and_format(void **state)
{
	static const struct {
		const char *text;
		int64_t bytes;
	} good[] = { { "10Gi", 10737418240LL }, { "500M", 500000000 }, { "1.5Ki", 1536 }, { "128974848", 128974848 },
		     { "1e3", 1000 }, { "20Mi", 20971520 }, { "0", 0 }, { "100m", 1 } };
	static const char *bad[] = { "", "Gi", "10Xi", "-1Gi", " 10Gi", "10 Gi", "99999Ei" };
	char out[32];
	int64_t n;
	vs_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(vs_quantity_parse(good[i].text, &n, &err), 0);
		assert_int_equal(n, good[i].bytes);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vs_quantity_parse(bad[i], &n, &err), VS_EINVAL);
		assert_non_null(strstr(err.message, "is not a storage quantity"));
	}
	vs_bytes_format(512, out);
	assert_string_equal(out, "512 B");
	vs_bytes_format(1536, out);
	assert_string_equal(out, "1.5 KiB");
	vs_bytes_format(20971520, out);
	assert_string_equal(out, "20.0 MiB");
}

static void test_util_file__atomic_write(void **state)
{
	char dir[] = "/tmp/vs-test-util-XXXXXX";
	char *path, *parent, *data = NULL;
	size_t len;
	vs_error err = { 0 };
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	parent = vs_xasprintf("%s/a/b", dir);
	path = vs_xasprintf("%s/file", parent);
	assert_int_equal(vs_mkdir_p(parent, 0755, &err), 0);
	assert_int_equal(vs_file_write_atomic(path, "first", 5, 0600, &err), 0);
	assert_int_equal(vs_file_write_atomic(path, "second", 6, 0600, &err), 0);
	assert_int_equal(vs_file_read(path, 100, &data, &len, &err), 0);
	assert_string_equal(data, "second");
	free(data);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(vs_file_read(path, 3, &data, &len, &err), VS_ENOMEM);
	assert_int_equal(vs_rm_rf(dir, &err), 0);
	assert_int_not_equal(stat(dir, &st), 0);
	free(path);
	free(parent);
}

/* A process identity says whether its process still runs: this one does; a child that ended
 * (reaped or a zombie) does not; a reused pid, another boot or namespace, or garbage cannot pass
 * for a running one. */
static void test_util_process__state(void **state)
{
	const char *self = vs_process_self();
	char *child_id, *reused, *foreign;
	pid_t child;
	int status;

	(void)state;
	assert_true(*self != '\0');
	assert_int_equal(vs_process_state(self), VS_PROCESS_RUNNING);
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	child_id = vs_process_id(child);
	assert_true(*child_id != '\0');
	for (int i = 0; i < 500 && vs_process_state(child_id) != VS_PROCESS_GONE; i++)
		usleep(10000); /* it exits, not yet reaped: a zombie */
	assert_int_equal(vs_process_state(child_id), VS_PROCESS_GONE);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(vs_process_state(child_id), VS_PROCESS_GONE);
	reused = vs_xstrdup(self);
	strcpy(strrchr(reused, '/') + 1, "1"); /* our pid, another start time */
	assert_int_equal(vs_process_state(reused), VS_PROCESS_GONE);
	foreign = vs_xasprintf("00000000-0000-0000-0000-000000000000/%s", strchr(self, '/') + 1);
	assert_int_equal(vs_process_state(foreign), VS_PROCESS_UNKNOWN);
	assert_int_equal(vs_process_state("not an identity"), VS_PROCESS_UNKNOWN);
	assert_int_equal(vs_process_state(""), VS_PROCESS_UNKNOWN);
	assert_int_equal(vs_process_state(NULL), VS_PROCESS_UNKNOWN);
	free(child_id);
	free(reused);
	free(foreign);
}

/* ---- YAML ---------------------------------------------------------------------------------------- */

/* text parsed (strict when asked) and dumped as compact JSON with sorted keys; caller frees. */
static char *yaml_json(const char *text, unsigned flags)
{
	vs_yaml_doc *doc = NULL;
	vs_error err = { 0 };
	char *out;

	if (vs_yaml_parse(text, strlen(text), flags, &doc, NULL, &err) != 0)
		fail_msg("yaml %s: %s", text, err.message);
	out = json_dumps(vs_yaml_doc_root(doc), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	vs_yaml_doc_free(doc);
	return out;
}

static void assert_yaml(const char *text, unsigned flags, const char *json)
{
	char *got = yaml_json(text, flags);

	assert_string_equal(got, json);
	free(got);
}

/* text must fail with message at line:column. */
static void assert_yaml_fails(const char *text, size_t len, unsigned flags, unsigned line, unsigned column,
			      const char *message)
{
	vs_yaml_doc *doc = NULL;
	vs_yaml_mark at;
	vs_error err = { 0 };

	assert_int_equal(vs_yaml_parse(text, len, flags, &doc, &at, &err), VS_EINVAL);
	assert_null(doc);
	assert_string_equal(err.message, message);
	assert_int_equal(at.line, line);
	assert_int_equal(at.column, column);
}

static void test_util_yaml__scalars(void **state)
{
	(void)state;
	assert_yaml("[~, null, '', true, False, 12, -3, +4, 0.5, .5, 1., 1e3, -2.5E-1]", 0,
		    "[null,null,\"\",true,false,12,-3,4,0.5,0.5,1.0,1000.0,-0.25]");
	/* Quoted, tagged, or not a YAML 1.2 core number: a string. */
	assert_yaml(
		"[\"12\", '1.5', !!str 7, ! true, 0x10, 1.2.3, .inf, 1_000, 99999999999999999999, yes, \"\"]",
		VS_YAML_STRICT,
		"[\"12\",\"1.5\",\"7\",\"true\",\"0x10\",\"1.2.3\",\".inf\",\"1_000\",\"99999999999999999999\",\"yes\","
		"\"\"]");
	assert_yaml("a: {b: [1, {c: d}]}\ne: |\n  line\n", VS_YAML_STRICT,
		    "{\"a\":{\"b\":[1,{\"c\":\"d\"}]},\"e\":\"line\\n\"}");
	assert_yaml("", 0, "null");
	assert_yaml("# only a comment\n", VS_YAML_STRICT, "null");
}

static void test_util_yaml__marks(void **state)
{
	const char *text = "kind: Plan\n"
			   "spec:\n"
			   "  steps:\n"
			   "  - name: a\n"
			   "    job: &j {timeout: 5m}\n"
			   "  - {name: b, job: *j}\n"
			   "  \"x/y~z\": 1\n";
	vs_yaml_doc *doc = NULL;
	vs_error err = { 0 };
	vs_yaml_mark m;

	(void)state;
	assert_int_equal(vs_yaml_parse(text, strlen(text), VS_YAML_STRICT, &doc, NULL, &err), 0);
	m = vs_yaml_doc_mark(doc, "", false);
	assert_true(m.line == 1 && m.column == 1);
	m = vs_yaml_doc_mark(doc, "/kind", false);
	assert_true(m.line == 1 && m.column == 7);
	m = vs_yaml_doc_mark(doc, "/spec/steps/0/name", true);
	assert_true(m.line == 4 && m.column == 5);
	m = vs_yaml_doc_mark(doc, "/spec/steps/0/job/timeout", false);
	assert_true(m.line == 5 && m.column == 23);
	/* A copy made by an alias: the alias's place. */
	m = vs_yaml_doc_mark(doc, "/spec/steps/1/job/timeout", false);
	assert_true(m.line == 6 && m.column == 20);
	assert_string_equal(
		vs_json_str(json_array_get(vs_json_path(vs_yaml_doc_root(doc), "spec.steps"), 1), "job.timeout"), "5m");
	/* Missing values: their closest ancestor; keys escaped as RFC 6901 says. */
	m = vs_yaml_doc_mark(doc, "/spec/steps/0/job/nothing/deeper", false);
	assert_true(m.line == 5 && m.column == 10);
	m = vs_yaml_doc_mark(doc, "/spec/x~1y~0z", true);
	assert_true(m.line == 7 && m.column == 3);
	vs_yaml_doc_free(doc);
}

static void test_util_yaml__strict_refusals(void **state)
{
	static const char utf16[] = "\xff\xfek\x00:\x00";
	static const char bad_utf8[] = "a: 1\nb: x\xc3(\n";
	char deep[200] = "", bomb[600] = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n";

	(void)state;
	assert_yaml_fails("a: 1\nb: 2\na: 3\n", 15, VS_YAML_STRICT, 3, 1, "duplicate key \"a\" (first at line 1)");
	assert_yaml("a: 1\na: 3\n", 0, "{\"a\":3}"); /* kubeconfig readers: the last one wins */
	assert_yaml_fails("a: 1\n---\nb: 2\n", 14, VS_YAML_STRICT, 2, 1,
			  "a second document (---): the file must hold one document");
	assert_yaml("a: 1\n---\nb: 2\n", 0, "{\"a\":1}");
	assert_yaml_fails("base: &b {x: 1}\nc:\n  <<: *b\n", 28, VS_YAML_STRICT, 3, 3,
			  "merge keys (<<) are not supported: write the fields out");
	assert_yaml_fails("a: !!int 5\n", 11, VS_YAML_STRICT, 1, 4,
			  "the tag tag:yaml.org,2002:int is not supported (only !!str)");
	assert_yaml_fails("a: \"x\\0y\"\n", 10, 0, 1, 4, "a string holds a NUL character (\\0)");
	assert_yaml_fails("? [a]\n: 1\n", 10, 0, 1, 3, "a mapping key must be a scalar, not a list");
	assert_yaml_fails("a: *nope\n", 9, 0, 1, 4, "the alias *nope names no complete anchor before it");
	assert_yaml_fails(utf16, sizeof(utf16) - 1, 0, 1, 1,
			  "the text is UTF-16 (it starts with a byte order mark): save it as UTF-8");
	assert_yaml_fails(bad_utf8, sizeof(bad_utf8) - 1, VS_YAML_STRICT, 2, 6, /* the bad octet */
			  "invalid YAML: invalid trailing UTF-8 octet");
	assert_yaml_fails("a: [1,\nb: 2\n", 12, 0, 3, 1,
			  "invalid YAML: did not find expected ',' or ']' while parsing a flow sequence");
	/* Nesting and aliases are bounded. */
	memset(deep, '[', 65);
	assert_yaml_fails(deep, strlen(deep), 0, 1, 65, "values nested more than 64 levels deep");
	for (char c = 'b'; c <= 'f'; c++) {
		size_t n = strlen(bomb);
		snprintf(bomb + n, sizeof(bomb) - n, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c,
			 c, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
	}
	assert_yaml_fails(bomb, strlen(bomb), 0, 5, 36, "aliases expand to more than 100000 values");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_util_selector__equality), cmocka_unit_test(test_util_selector__sets),
		cmocka_unit_test(test_util_selector__errors),   cmocka_unit_test(test_util_base64__roundtrip),
		cmocka_unit_test(test_util_json__paths),        cmocka_unit_test(test_util_time__rfc3339),
		cmocka_unit_test(test_util_buf__limit),         cmocka_unit_test(test_util_file__atomic_write),
		cmocka_unit_test(test_util_quantity__parse_and_format),
		cmocka_unit_test(test_util_time__duration),     cmocka_unit_test(test_util_rand__seeded),
		cmocka_unit_test(test_util_process__state),
		cmocka_unit_test(test_util_yaml__scalars),
		cmocka_unit_test(test_util_yaml__marks),
		cmocka_unit_test(test_util_yaml__strict_refusals),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
