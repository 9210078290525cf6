/*
 * Unit tests for the CLI's output of a migration's events while several groups are in flight: the
 * block a terminal redraws in place (checked on a small emulated screen), the "[g/G]" prefixes of
 * plain text, and JSON lines; and the kube client's reports of an API server that does not answer,
 * above the block or as JSON lines, from another thread too.
 */
#include "cli/cli.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SCREEN_ROWS 200
#define SCREEN_COLS 256

/* What a terminal shows after some output: lines, and the cursor's row (a line below the text). */
struct screen {
	char lines[SCREEN_ROWS][SCREEN_COLS];
	int nrows, row, col;
};

/* Apply an escape sequence at *p ("\033[<n>A", "\033[J", "\033[K"); anything else fails. */
static const char *screen_escape(struct screen *s, const char *p)
{
	char *end;
	long n;

	assert_int_equal(p[1], '[');
	n = strtol(p + 2, &end, 10);
	if (*end == 'A') {
		s->row -= (int)n;
		assert_true(s->row >= 0);
	} else if (*end == 'J') {
		s->lines[s->row][s->col] = '\0';
		for (int r = s->row + 1; r < s->nrows; r++)
			s->lines[r][0] = '\0';
		s->nrows = s->row + 1;
	} else {
		assert_int_equal(*end, 'K');
		s->lines[s->row][s->col] = '\0';
	}
	return end;
}

/* Play out (what volshift wrote) on an empty screen; a newline also returns the carriage, as a
 * terminal's output processing does. */
static void screen_play(struct screen *s, const char *out)
{
	memset(s, 0, sizeof(*s));
	s->nrows = 1;
	for (const char *p = out; *p; p++) {
		if (*p == '\033') {
			p = screen_escape(s, p);
		} else if (*p == '\n') {
			s->row++;
			s->col = 0;
			assert_true(s->row < SCREEN_ROWS);
			if (s->row >= s->nrows) {
				s->lines[s->row][0] = '\0';
				s->nrows = s->row + 1;
			}
		} else if (*p == '\r') {
			s->col = 0;
		} else {
			size_t len = strlen(s->lines[s->row]);
			assert_true(s->col < SCREEN_COLS - 1);
			s->lines[s->row][s->col] = *p;
			if ((size_t)s->col >= len)
				s->lines[s->row][s->col + 1] = '\0';
			s->col++;
		}
	}
}

/* Row i counted from the cursor's row up (1: the line just above the cursor). */
static const char *screen_above(const struct screen *s, int i)
{
	assert_true(s->row - i >= 0);
	return s->lines[s->row - i];
}

static bool screen_has(const struct screen *s, const char *text)
{
	for (int r = 0; r < s->nrows; r++)
		if (strstr(s->lines[r], text))
			return true;
	return false;
}

/* An output to memory: text (tty or not) or JSON. */
struct capture {
	char *data;
	size_t len;
	FILE *f;
	vs_out *o;
};

static void capture_open(struct capture *c, bool json, bool tty, int cols)
{
	memset(c, 0, sizeof(*c));
	c->f = open_memstream(&c->data, &c->len);
	assert_non_null(c->f);
	c->o = vs_out_new(json, c->f);
	vs_out_set_terminal(c->o, tty, cols);
}

/* Everything written so far (borrowed; valid until the next call). */
static const char *capture_text(struct capture *c)
{
	fflush(c->f);
	return c->data;
}

static void capture_close(struct capture *c)
{
	vs_out_free(c->o);
	fclose(c->f);
	free(c->data);
}

/* Send one event: JSON with ' for " (for legibility here); "time" is added. */
static void send(struct capture *c, const char *text)
{
	char *json = vs_xstrdup(text);
	json_error_t jerr;
	json_t *ev;

	for (char *q = strchr(json, '\''); q; q = strchr(q, '\''))
		*q = '"';
	ev = json_loads(json, 0, &jerr);
	if (!ev)
		fail_msg("bad test event %s: %s", json, jerr.text);
	json_object_set_new(ev, "time", json_string("2026-01-01T00:00:00Z"));
	vs_out_event(ev, c->o);
	json_decref(ev);
	free(json);
}

/* Send events (a NULL-terminated list); returns how many. */
static int send_all(struct capture *c, const char *const *events)
{
	int n = 0;

	for (; events[n]; n++)
		send(c, events[n]);
	return n;
}

/* Two groups, interleaved: group 1 (default/web, warm then final copy) and group 2 (default/db and
 * default/logs, a cold copy), until both copy. */
static const char *const both_copying[] = {
	"{'event':'stage','message':'Migrating 3 claims in 2 groups'}",
	"{'event':'group-start','group':1,'groups':2,'namespace':'default','claims':['web'],'workloads':['Deployment "
	"default/web']}",
	"{'event':'group-start','group':2,'groups':2,'namespace':'default','claims':['db','logs'],'workloads':[]}",
	"{'event':'group-phase','group':1,'groups':2,'phase':'warm'}",
	"{'event':'copy-start','group':1,'groups':2,'namespace':'default','pvc':'web','node':'n1','pass':'warm','"
	"passNumber':"
	"1}",
	"{'event':'group-phase','group':2,'groups':2,'phase':'copy'}",
	"{'event':'copy-start','group':2,'groups':2,'namespace':'default','pvc':'db','node':'n2','pass':'cold','"
	"passNumber':1}",
	"{'event':'copy-progress','group':1,'groups':2,'namespace':'default','pvc':'web','bytes':1048576,'percent':10,'"
	"rate':'"
	"1.0MB/s','eta':'0:00:09','pass':'warm'}",
	"{'event':'copy-progress','group':2,'groups':2,'namespace':'default','pvc':'db','bytes':2097152,'percent':11,'"
	"rate':'2."
	"0MB/s','eta':'0:00:08','pass':'cold'}",
	"{'event':'copy-progress','group':1,'groups':2,'namespace':'default','pvc':'web','bytes':1258291,'percent':12,'"
	"rate':'"
	"1.0MB/s','eta':'0:00:09','pass':'warm'}",
	"{'event':'copy-progress','group':1,'groups':2,'namespace':'default','pvc':'web','bytes':5242880,'percent':50,'"
	"rate':'"
	"1.0MB/s','eta':'0:00:05','pass':'warm'}",
	NULL,
};

/* Group 1 to its end while group 2 still copies. */
static const char *const group1_done[] = {
	"{'event':'copy-done','group':1,'groups':2,'namespace':'default','pvc':'web','bytes':10485760,'transferred':"
	"10485760,'"
	"files':12,'ms':3000,'pass':'warm','passNumber':1}",
	"{'event':'group-phase','group':1,'groups':2,'phase':'stop'}",
	"{'event':'workload-stopped','group':1,'groups':2,'kind':'Deployment','namespace':'default','name':'web','"
	"replicas':1}",
	"{'event':'group-phase','group':1,'groups':2,'phase':'final'}",
	"{'event':'copy-start','group':1,'groups':2,'namespace':'default','pvc':'web','node':'n1','pass':'final','"
	"passNumber':"
	"2}",
	"{'event':'copy-done','group':1,'groups':2,'namespace':'default','pvc':'web','bytes':10485760,'transferred':"
	"4096,'"
	"files':12,'ms':200,'pass':'final','passNumber':2}",
	"{'event':'group-phase','group':1,'groups':2,'phase':'swap'}",
	"{'event':'swapped','group':1,'groups':2,'namespace':'default','pvc':'web','newPv':'pv-new','oldPv':'pv-old'}",
	"{'event':'workload-ready','group':1,'groups':2,'kind':'Deployment','namespace':'default','name':'web','"
	"downtimeMs':"
	"1100}",
	"{'event':'group-done','group':1,'groups':2,'ms':4200,'downtimeMs':{'Deployment default/web':1100},"
	"'downtimePartsMs':{'stop':100,'copy':200,'verify':100,'swap':200,'start':500}}",
	NULL,
};

/* Group 2 ends, then the migration. */
static const char *const all_done[] = {
	"{'event':'group-done','group':2,'groups':2,'ms':9000,'downtimeMs':{}}",
	"{'event':'done','pvcs':3,'bytes':31457280,'ms':42000,'apiRequests':812,'parallel':2}",
	NULL,
};

static void test_cli_output__plain_prefixes(void **state)
{
	struct capture c;
	const char *out;

	(void)state;
	capture_open(&c, false, false, 0);
	send_all(&c, both_copying);
	send_all(&c, group1_done);
	send_all(&c, all_done);
	out = capture_text(&c);
	assert_null(strchr(out, '\033'));
	assert_non_null(strstr(out, "==> Migrating 3 claims in 2 groups\n"));
	assert_non_null(strstr(out, "[1/2] ==> default/web (workloads: Deployment default/web)\n"));
	assert_non_null(strstr(out, "[2/2] ==> default/db,logs (no workloads to stop)\n"));
	assert_non_null(strstr(out, "[1/2] copying default/web (warm pass 1, app running) on node n1\n"));
	assert_non_null(strstr(out, "[2/2] copying default/db on node n2\n"));
	assert_non_null(strstr(out, "[1/2] copying default/web (final pass, app stopped) on node n1\n"));
	/* progress: a line per claim each 10 percent, whatever the other claims do */
	assert_non_null(strstr(out, "[1/2] default/web: 10%"));
	assert_non_null(strstr(out, "[2/2] default/db: 11%"));
	assert_null(strstr(out, "default/web: 12%"));
	assert_non_null(strstr(out, "[1/2] default/web: 50%"));
	assert_non_null(strstr(
		out, "[1/2] copied default/web (final pass): 10.0 MiB in 12 files and directories, 4.0 KiB sent"));
	assert_non_null(strstr(out, "[1/2] Deployment default/web is ready again (downtime 1.1s)\n"));
	assert_non_null(strstr(out, "[1/2] done in 4.2s; downtime: Deployment default/web 1.1s (stop 0.1s, copy 0.2s, "
				    "verify 0.1s, swap 0.2s, start 0.5s)\n"));
	assert_non_null(strstr(
		out, "Done: 3 claims moved, 30.0 MiB copied, in 42.0s (2 groups at a time, 812 API requests).\n"));
	assert_non_null(strstr(out, "Deployment default/web  1.1s\n"));
	capture_close(&c);
}

/* A single group: nothing interleaves, so lines stay as they were (no prefix). */
static void test_cli_output__plain_single_group(void **state)
{
	struct capture c;
	const char *out;

	(void)state;
	capture_open(&c, false, false, 0);
	send(&c, "{'event':'verify-done','group':1,'groups':1,'namespace':'default','pvc':'web',"
		 "'files':12,'differences':0,'ms':100}");
	send(&c, "{'event':'done','pvcs':1,'bytes':1024,'ms':1000}");
	out = capture_text(&c);
	assert_non_null(strstr(out, "    verified default/web: 12 files and directories, 0 differences, 0.1s\n"));
	assert_non_null(strstr(out, "\nDone: 1 claim moved, 1.0 KiB copied, in 1.0s.\n"));
	capture_close(&c);
}

static void test_cli_output__terminal_block(void **state)
{
	struct capture c;
	struct screen *s = malloc(sizeof(*s));

	(void)state;
	capture_open(&c, false, true, 80);
	send_all(&c, both_copying);
	vs_sleep_ms(250); /* progress redraws the block at most 5 times a second */
	send(&c, "{'event':'copy-progress','group':1,'groups':2,'namespace':'default','pvc':'web','bytes':6291456,"
		 "'percent':60,'rate':'1.0MB/s','eta':'0:00:04','pass':'warm'}");
	screen_play(s, capture_text(&c));
	/* the block: a line per group in flight, then the overall line, at the bottom */
	assert_true(strncmp(screen_above(s, 1), "overall: 0/2 done, 2 in flight, elapsed 0:00:0", 46) == 0);
	assert_true(strncmp(screen_above(s, 2), "[2/2] default/db,logs  copying", 30) == 0);
	assert_non_null(strstr(screen_above(s, 2), "db [#.........]  11% 2.0/18.2 MiB"));
	assert_true(strncmp(screen_above(s, 3), "[1/2] default/web      warm copy", 32) == 0);
	assert_non_null(strstr(screen_above(s, 3), "[######....]  60% 6.0/10.0 MiB ETA 0:00:04"));
	/* lines above it, once each */
	assert_string_equal(screen_above(s, 4), "[2/2] copying default/db on node n2");
	assert_string_equal(screen_above(s, 5), "[1/2] copying default/web (warm pass 1, app running) on node n1");
	assert_false(screen_has(s, "%, ")); /* no plain progress lines */

	send_all(&c, group1_done);
	screen_play(s, capture_text(&c));
	assert_true(strncmp(screen_above(s, 1), "overall: 1/2 done, 1 in flight", 30) == 0);
	assert_true(strncmp(screen_above(s, 2), "[2/2] default/db,logs", 21) == 0);
	assert_string_equal(screen_above(s, 3),
			    "[1/2] done in 4.2s; downtime: Deployment default/web 1.1s (stop 0.1s, copy 0.2s, verify "
			    "0.1s, swap 0.2s, start 0.5s)");

	send_all(&c, all_done);
	screen_play(s, capture_text(&c));
	assert_false(screen_has(s, "overall:"));
	assert_false(screen_has(s, "[#"));
	assert_true(screen_has(
		s, "Done: 3 claims moved, 30.0 MiB copied, in 42.0s (2 groups at a time, 812 API requests)."));
	free(s);
	capture_close(&c);
}

/* Lines of the block never wrap: long names are cut to fit a narrow terminal. */
static void test_cli_output__terminal_narrow(void **state)
{
	struct capture c;
	struct screen *s = malloc(sizeof(*s));

	(void)state;
	capture_open(&c, false, true, 50);
	send(&c, "{'event':'group-start','group':1,'groups':12,'namespace':'a-rather-long-namespace',"
		 "'claims':['a-claim-with-a-very-long-name-indeed'],'workloads':[]}");
	send(&c, "{'event':'group-phase','group':1,'groups':12,'phase':'warm'}");
	vs_sleep_ms(250);
	send(&c, "{'event':'copy-progress','group':1,'groups':12,'namespace':'a-rather-long-namespace',"
		 "'pvc':'a-claim-with-a-very-long-name-indeed','bytes':1048576,'percent':10,'rate':'1.0MB/s',"
		 "'eta':'0:00:09'}");
	screen_play(s, capture_text(&c));
	/* the labels are as wide as the widest, "[12/12]"; the names at least 12 characters */
	assert_true(strncmp(screen_above(s, 2), "[1/12]  a-rather-...  warm copy   [#.........]", 46) == 0);
	assert_true(strlen(screen_above(s, 2)) == 49);
	assert_true(strncmp(screen_above(s, 1), "overall: 0/12 done, 1 in flight, elapsed 0:00:0", 47) == 0);
	assert_true(strlen(screen_above(s, 1)) <= 49);
	free(s);
	capture_close(&c);
}

static void test_cli_output__json_lines(void **state)
{
	struct capture c;
	const char *out, *p;
	int events = 0, lines = 0;

	(void)state;
	capture_open(&c, true, true, 80); /* no terminal in JSON mode */
	assert_false(vs_out_is_terminal(c.o));
	events += send_all(&c, both_copying);
	events += send_all(&c, group1_done);
	events += send_all(&c, all_done);
	out = capture_text(&c);
	assert_null(strchr(out, '\033'));
	for (p = out; *p; p = strchr(p, '\n') + 1) {
		json_t *line = json_loadb(p, (size_t)(strchr(p, '\n') - p), 0, NULL);
		assert_non_null(line);
		assert_non_null(vs_json_str(line, "event"));
		json_decref(line);
		lines++;
	}
	assert_int_equal(lines, events);
	capture_close(&c);
}

/* A report of the API server at https://10.0.0.1:6443, down 12 s of a budget of 120 s. */
static void outage_report(vs_out *o, enum vs_kube_outage_state state, bool never_answered)
{
	vs_kube_outage ev = { .state = state,
			      .server = "https://10.0.0.1:6443",
			      .origin = "kubeconfig /k, context c",
			      .cause = "connection refused",
			      .down_ms = 12000,
			      .left_ms = 108000,
			      .budget_ms = 120000,
			      .never_answered = never_answered };

	vs_out_api(&ev, o);
}

static void test_cli_output__api_outage_above_the_block(void **state)
{
	struct capture c;
	struct screen *s = malloc(sizeof(*s));

	(void)state;
	capture_open(&c, false, true, 200);
	send_all(&c, both_copying);
	outage_report(c.o, VS_KUBE_OUTAGE_WAITING, false);
	screen_play(s, capture_text(&c));
	assert_true(strncmp(screen_above(s, 1), "overall: 0/2 done, 2 in flight", 30) == 0);
	assert_string_equal(screen_above(s, 4), "warning: the API server at https://10.0.0.1:6443 does not answer "
						"(connection refused) since 12 s; retrying for up to 108 s more "
						"(--api-timeout 120s)");
	outage_report(c.o, VS_KUBE_OUTAGE_OVER, false);
	outage_report(c.o, VS_KUBE_OUTAGE_GAVE_UP, true); /* the error that follows says it */
	screen_play(s, capture_text(&c));
	assert_string_equal(
		screen_above(s, 4),
		"note: the API server at https://10.0.0.1:6443 answers again, after 12 s without an answer");
	assert_false(screen_has(s, "gave up"));
	free(s);
	capture_close(&c);
}

/* Reports come from whichever thread waits for the server, while the engine's events go on. */
static void *report_many(void *arg)
{
	for (int i = 0; i < 200; i++)
		outage_report(arg, VS_KUBE_OUTAGE_WAITING, false);
	return NULL;
}

static void test_cli_output__api_outage_json_from_another_thread(void **state)
{
	struct capture c;
	const char *p;
	int lines = 0, reports = 0;
	pthread_t th;

	(void)state;
	capture_open(&c, true, false, 0);
	assert_int_equal(pthread_create(&th, NULL, report_many, c.o), 0);
	for (int i = 0; i < 100; i++)
		send_all(&c, both_copying + 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	for (p = capture_text(&c); *p; p = strchr(p, '\n') + 1) {
		json_t *line = json_loadb(p, (size_t)(strchr(p, '\n') - p), 0, NULL);
		assert_non_null(line);
		if (!strcmp(vs_json_str_or(line, "event", ""), "api-outage")) {
			assert_string_equal(vs_json_str(line, "state"), "waiting");
			assert_string_equal(vs_json_str(line, "server"), "https://10.0.0.1:6443");
			assert_string_equal(vs_json_str(line, "cause"), "connection refused");
			assert_int_equal(vs_json_int(line, "leftMs", 0), 108000);
			reports++;
		}
		json_decref(line);
		lines++;
	}
	assert_int_equal(reports, 200);
	assert_int_equal(lines, 200 + 100 * 10);
	capture_close(&c);
}

/* A plan of three claims, raw refused: default/web and shop/db can go (raw in namespace ns). */
static vs_plan *rest_plan(const char *raw_ns)
{
	const char *claims[3][2] = { { "default", "web" }, { raw_ns, "raw" }, { "shop", "db" } };
	vs_plan *plan = vs_xcalloc(1, sizeof(*plan));

	plan->pvcs = vs_xcalloc(3, sizeof(vs_plan_pvc));
	for (size_t i = 0; i < 3; i++) {
		plan->pvcs[i].ns = vs_xstrdup(claims[i][0]);
		plan->pvcs[i].name = vs_xstrdup(claims[i][1]);
	}
	plan->npvcs = 3;
	vs_plan_add_problem(plan, raw_ns, "raw", "volumeMode Block: volshift copies files");
	return plan;
}

/* A refusal of some claims says how to migrate the others: the command as given, with --pvc for
 * each; --namespace when the refused ones are elsewhere; --selector once they are labelled. */
static void test_cli_output__problems_say_how_to_migrate_the_rest(void **state)
{
	vs_migrate_opts opts = { .plan = { .source_sc = "local", .dest_sc = "shared" } };
	const char *again = "pvmigrate --source-sc local --dest-sc shared --rsync-image 'my image'";
	struct capture c;
	const char *out;
	vs_plan *plan = rest_plan("default");
	json_t *ev;

	(void)state;
	capture_open(&c, false, false, 0);
	vs_out_problems(c.o, plan, &opts, again);
	out = capture_text(&c);
	assert_non_null(strstr(out, "  default    raw    volumeMode Block"));
	assert_non_null(strstr(out, "The other 2 claims can be migrated now, and these once their problem is solved:\n"
				    "  pvmigrate --source-sc local --dest-sc shared --rsync-image 'my image' --pvc "
				    "default/web --pvc shop/db\n"));
	assert_null(strstr(out, "--namespace")); /* default holds the refused claim too */
	assert_non_null(strstr(out,
			       "or, after labelling the claims refused here:\n"
			       "  kubectl label pvc -n default raw volshift.io/later=true\n"
			       "  pvmigrate --source-sc local --dest-sc shared --rsync-image 'my image' --selector "
			       "'!volshift.io/later'\n"));
	capture_close(&c);
	vs_plan_free(plan);

	plan = rest_plan("legacy");
	opts.plan.selector = "tier in (gold)";
	capture_open(&c, false, false, 0);
	vs_out_problems(c.o, plan, &opts, NULL);
	out = capture_text(&c);
	assert_non_null(strstr(out, "or, by namespace:\n  volshift migrate --source-sc local --dest-sc shared "
				    "--namespace default --selector 'tier in (gold)'\n"));
	assert_non_null(strstr(out, "or, by namespace:\n  volshift migrate --source-sc local --dest-sc shared "
				    "--namespace shop --selector 'tier in (gold)'\n"));
	assert_non_null(strstr(out, "--selector 'tier in (gold),!volshift.io/later'\n"));
	capture_close(&c);

	capture_open(&c, true, false, 0);
	vs_out_problems(c.o, plan, &opts, NULL);
	ev = json_loads(capture_text(&c), 0, NULL);
	assert_string_equal(vs_json_str(ev, "event"), "problems");
	assert_int_equal(json_array_size(json_object_get(ev, "migratable")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(ev, "migratable"), 1)), "shop/db");
	assert_int_equal(json_array_size(json_object_get(ev, "commands")), 4);
	json_decref(ev);
	capture_close(&c);

	/* a problem of the whole migration: nothing can go now */
	vs_plan_add_problem(plan, NULL, NULL, "destination StorageClass \"shared\" does not exist");
	capture_open(&c, false, false, 0);
	vs_out_problems(c.o, plan, &opts, NULL);
	assert_null(strstr(capture_text(&c), "can be migrated now"));
	capture_close(&c);
	vs_plan_free(plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli_output__plain_prefixes),
		cmocka_unit_test(test_cli_output__plain_single_group),
		cmocka_unit_test(test_cli_output__terminal_block),
		cmocka_unit_test(test_cli_output__terminal_narrow),
		cmocka_unit_test(test_cli_output__json_lines),
		cmocka_unit_test(test_cli_output__api_outage_above_the_block),
		cmocka_unit_test(test_cli_output__api_outage_json_from_another_thread),
		cmocka_unit_test(test_cli_output__problems_say_how_to_migrate_the_rest),
	};

	return cmocka_run_group_tests_name("cli_output", tests, NULL, NULL);
}
