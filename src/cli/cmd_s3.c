/*
 * `volshift s3 sync SOURCE DEST`: every bucket and object of one S3 endpoint onto another, through
 * the s3 module. This file parses the flags, finds the credentials (files, or Secrets read through
 * the cluster), and turns the sync's events into lines for people (a progress line, the failures,
 * a summary; also those of a plan's objectStore step, for cmd_run.c) or JSON lines for programs.
 */
#include "cli.h"
#include "s3/s3.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define S3_PLAIN_PROGRESS_MS 10000 /* plain text: a progress line this often */

enum s3_flag {
	F_SRC_CREDS = 256,
	F_DST_CREDS,
	F_SRC_PROFILE,
	F_DST_PROFILE,
	F_REGION,
	F_PARALLEL,
	F_DELETE,
	F_DRY_RUN,
	F_VERIFY,
	F_OUTPUT,
	F_CA_FILE,
	F_INSECURE,
	F_THRESHOLD,
	F_PART_SIZE,
	F_KUBECONFIG,
	F_CONTEXT,
	F_HELP,
};

static const struct option s3_options[] = {
	{ "source-credentials", required_argument, NULL, F_SRC_CREDS },
	{ "dest-credentials", required_argument, NULL, F_DST_CREDS },
	{ "source-profile", required_argument, NULL, F_SRC_PROFILE },
	{ "dest-profile", required_argument, NULL, F_DST_PROFILE },
	{ "region", required_argument, NULL, F_REGION },
	{ "parallel", required_argument, NULL, F_PARALLEL },
	{ "delete", no_argument, NULL, F_DELETE },
	{ "dry-run", no_argument, NULL, F_DRY_RUN },
	{ "verify", required_argument, NULL, F_VERIFY },
	{ "output", required_argument, NULL, F_OUTPUT },
	{ "ca-file", required_argument, NULL, F_CA_FILE },
	{ "insecure-skip-tls-verify", no_argument, NULL, F_INSECURE },
	{ "multipart-threshold", required_argument, NULL, F_THRESHOLD },
	{ "part-size", required_argument, NULL, F_PART_SIZE },
	{ "kubeconfig", required_argument, NULL, F_KUBECONFIG },
	{ "context", required_argument, NULL, F_CONTEXT },
	{ "help", no_argument, NULL, F_HELP },
	{ NULL, 0, NULL, 0 },
};

static const char s3_help[] =
	"Usage: volshift s3 sync SOURCE DEST [flags]\n"
	"\n"
	"Copy every bucket and object of SOURCE to DEST, each an S3 endpoint addressed path-style:\n"
	"http(s)://HOST:PORT[/BUCKET[/PREFIX]] (no bucket: every bucket, to the same names). Objects equal on\n"
	"both sides are skipped, so a second run copies nothing and a run after a crash finishes the rest.\n"
	"\n"
	"Flags:\n"
	"  --source-credentials FILE|secret:NAMESPACE/NAME   the source's access key (default\n"
	"                          $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials)\n"
	"  --dest-credentials FILE|secret:NAMESPACE/NAME     the destination's (default: the same)\n"
	"  --source-profile P, --dest-profile P   the profile of a credentials file (default: default)\n"
	"  --region R              the SigV4 region (default us-east-1)\n"
	"  --parallel N            objects copied at once (default 8)\n"
	"  --delete                delete destination objects that are not on the source, once every copy\n"
	"                          succeeded\n"
	"  --dry-run               list what would be copied and deleted; change nothing\n"
	"  --verify size|checksum  size (default): list the destination again and compare sizes and ETags;\n"
	"                          checksum: also read both sides and compare their content\n"
	"  --output text|json      text for people (default) or one JSON event per line\n"
	"  --ca-file F             CA bundle for https endpoints\n"
	"  --insecure-skip-tls-verify   do not verify the endpoints' certificates\n"
	"  --multipart-threshold SIZE   larger objects go as multipart uploads (default 64Mi)\n"
	"  --part-size SIZE        the parts' size (default 16Mi, at least 5Mi)\n"
	"  --kubeconfig FILE, --context NAME   the cluster that holds secret: credentials\n"
	"\n"
	"Exit status: 0 when the destination holds every object, 1 when something failed (each object is\n"
	"named with its error), 2 for bad usage.\n";

typedef struct s3_cli {
	const char *src_creds, *dst_creds, *src_profile, *dst_profile, *kubeconfig, *context;
	vs_s3_sync_opts sync;
	bool json;
	vs_out *out;
	vs_cli_s3_text text;
} s3_cli;

static int s3_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "volshift s3 sync: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nRun 'volshift s3 sync --help' for the flags.\n");
	return VS_EXIT_USAGE;
}

static int s3_size_flag(const char *flag, const char *text, int64_t *out)
{
	vs_error err;

	if (vs_quantity_parse(text, out, &err) < 0 || *out <= 0)
		return s3_usage(flag, text);
	return 0;
}

static int s3_parse(s3_cli *c, int argc, char **argv)
{
	int opt, rc = 0;
	char *end;

	optind = 1;
	while (rc == 0 && (opt = getopt_long(argc, argv, "", s3_options, NULL)) != -1) {
		switch (opt) {
		case F_SRC_CREDS: c->src_creds = optarg; break;
		case F_DST_CREDS: c->dst_creds = optarg; break;
		case F_SRC_PROFILE: c->src_profile = optarg; break;
		case F_DST_PROFILE: c->dst_profile = optarg; break;
		case F_REGION: c->sync.region = optarg; break;
		case F_DELETE: c->sync.delete_extra = true; break;
		case F_DRY_RUN: c->sync.dry_run = true; break;
		case F_CA_FILE: c->sync.ca_file = optarg; break;
		case F_INSECURE: c->sync.insecure = true; break;
		case F_KUBECONFIG: c->kubeconfig = optarg; break;
		case F_CONTEXT: c->context = optarg; break;
		case F_PARALLEL:
			errno = 0;
			c->sync.parallel = (int)strtol(optarg, &end, 10);
			if (errno || *end || c->sync.parallel < 1 || c->sync.parallel > VS_S3_PARALLEL_MAX)
				rc = s3_usage("--parallel %s: expected a number from 1 to 256", optarg);
			break;
		case F_VERIFY:
			if (strcmp(optarg, "size") == 0)
				c->sync.verify = VS_S3_VERIFY_SIZE;
			else if (strcmp(optarg, "checksum") == 0)
				c->sync.verify = VS_S3_VERIFY_CHECKSUM;
			else
				rc = s3_usage("--verify %s: expected size or checksum", optarg);
			break;
		case F_OUTPUT:
			if (strcmp(optarg, "json") == 0 || strcmp(optarg, "text") == 0)
				c->json = strcmp(optarg, "json") == 0;
			else
				rc = s3_usage("--output %s: expected text or json", optarg);
			break;
		case F_THRESHOLD:
			rc = s3_size_flag("--multipart-threshold %s: expected a size such as 64Mi", optarg,
					  &c->sync.copy.multipart_threshold);
			break;
		case F_PART_SIZE:
			rc = s3_size_flag("--part-size %s: expected a size such as 16Mi", optarg,
					  &c->sync.copy.part_size);
			break;
		case F_HELP: fputs(s3_help, stdout); return -1;
		default: return VS_EXIT_USAGE;
		}
	}
	if (rc != 0)
		return rc;
	if (argc - optind != 2)
		return s3_usage("%s", "expected SOURCE and DEST");
	c->sync.source = argv[optind];
	c->sync.dest = argv[optind + 1];
	return 0;
}

/* ---- output ----------------------------------------------------------------------------------- */

static void s3_clock(int64_t secs, char out[32])
{
	if (secs >= 3600)
		snprintf(out, 32, "%lld:%02lld:%02lld", (long long)secs / 3600, (long long)secs / 60 % 60,
			 (long long)secs % 60);
	else
		snprintf(out, 32, "%lld:%02lld", (long long)secs / 60, (long long)secs % 60);
}

static void s3_progress_text(vs_cli_s3_text *c, const json_t *ev)
{
	char done[32], total[32], rate[32], eta[32] = "-";
	int64_t now = vs_time_mono_ms();
	FILE *f = stdout;
	bool tty = vs_out_is_terminal(c->out);

	if (!tty && now - c->last_plain_ms < S3_PLAIN_PROGRESS_MS)
		return;
	c->last_plain_ms = now;
	vs_bytes_format(vs_json_int(ev, "bytes", 0), done);
	vs_bytes_format(vs_json_int(ev, "bytesTotal", 0), total);
	vs_bytes_format((int64_t)json_number_value(json_object_get(ev, "rate")), rate);
	if (json_is_integer(json_object_get(ev, "eta")))
		s3_clock(vs_json_int(ev, "eta", 0), eta);
	fprintf(f, "%sobjects %lld/%lld (copied %lld, skipped %lld, failed %lld), %s of %s, %s/s, ETA %s%s",
		tty ? "\r\033[K" : "", vs_json_int(ev, "objects", 0), vs_json_int(ev, "objectsTotal", 0),
		vs_json_int(ev, "copied", 0), vs_json_int(ev, "skipped", 0), vs_json_int(ev, "failed", 0), done, total,
		rate, eta, tty ? "" : "\n");
	fflush(f);
	c->line_open = tty;
}

/* A line above the progress line. */
static void s3_line(vs_cli_s3_text *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s3_line(vs_cli_s3_text *c, const char *fmt, ...)
{
	va_list ap;

	if (c->line_open)
		fputs("\r\033[K", stdout);
	c->line_open = false;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static void s3_summary_text(vs_cli_s3_text *c, const json_t *ev)
{
	char bytes[32], rate[32];
	int64_t ms = vs_json_int(ev, "ms", 0), b = vs_json_int(ev, "bytes", 0);
	bool dry = vs_json_bool(ev, "dryRun", false);
	size_t i;
	json_t *f;

	vs_bytes_format(b, bytes);
	vs_bytes_format(ms > 0 ? b * 1000 / ms : 0, rate);
	s3_line(c, "%s %lld objects: %s %lld (%s), skipped %lld (equal), %s %lld, failed %lld; %.1f s, %s/s",
		dry ? "dry run," : "done:", vs_json_int(ev, "objects", 0), dry ? "would copy" : "copied",
		vs_json_int(ev, "copied", 0), bytes, vs_json_int(ev, "skipped", 0), dry ? "would delete" : "deleted",
		vs_json_int(ev, "deleted", 0), vs_json_int(ev, "failed", 0), (double)ms / 1000.0, rate);
	json_array_foreach (json_object_get(ev, "failures"), i, f) {
		if (i == 0)
			s3_line(c, "failed:");
		s3_line(c, "  %s/%s: %s", vs_json_str_or(f, "bucket", "?"), vs_json_str_or(f, "key", "?"),
			vs_json_str_or(f, "message", "?"));
	}
}

void vs_cli_s3_event_text(vs_cli_s3_text *c, const json_t *ev)
{
	const char *type = vs_json_str_or(ev, "event", "");

	if (strcmp(type, "s3-progress") == 0) {
		s3_progress_text(c, ev);
	} else if (strcmp(type, "s3-listed") == 0) {
		char bytes[32];
		vs_bytes_format(vs_json_int(ev, "bytes", 0), bytes);
		s3_line(c, "%s -> %s: %lld objects (%s): %lld to copy, %lld to compare, %lld to delete",
			vs_json_str_or(ev, "bucket", "?"), vs_json_str_or(ev, "destBucket", "?"),
			vs_json_int(ev, "objects", 0), bytes, vs_json_int(ev, "toCopy", 0),
			vs_json_int(ev, "toCheck", 0), vs_json_int(ev, "toDelete", 0));
	} else if (strcmp(type, "s3-bucket-created") == 0) {
		s3_line(c, "created bucket %s on the destination", vs_json_str_or(ev, "bucket", "?"));
	} else if (strcmp(type, "s3-would-copy") == 0) {
		s3_line(c, "would copy %s/%s (%s)", vs_json_str_or(ev, "bucket", "?"), vs_json_str_or(ev, "key", "?"),
			vs_json_str_or(ev, "reason", "?"));
	} else if (strcmp(type, "s3-would-delete") == 0 || strcmp(type, "s3-deleted") == 0) {
		s3_line(c, "%s %s/%s", type[3] == 'w' ? "would delete" : "deleted", vs_json_str_or(ev, "bucket", "?"),
			vs_json_str_or(ev, "key", "?"));
	} else if (strcmp(type, "s3-failed") == 0) {
		s3_line(c, "FAILED %s/%s: %s", vs_json_str_or(ev, "bucket", "?"), vs_json_str_or(ev, "key", "?"),
			vs_json_str_or(ev, "message", "?"));
	} else if (strcmp(type, "s3-verified") == 0) {
		s3_line(c, "verified (%s): %lld objects, %lld differences", vs_json_str_or(ev, "mode", "?"),
			vs_json_int(ev, "objects", 0), vs_json_int(ev, "differences", 0));
	} else if (strcmp(type, "s3-summary") == 0) {
		s3_summary_text(c, ev);
	} else if (json_is_string(json_object_get(ev, "message"))) {
		s3_line(c, "%s: %s", type, vs_json_str(ev, "message"));
	}
	/* s3-copied: the progress line says it */
}

static void s3_on_event(const json_t *ev, void *ctx)
{
	s3_cli *c = ctx;

	if (c->json)
		vs_out_json(c->out, ev);
	else
		vs_cli_s3_event_text(&c->text, ev);
}

/* ---- credentials ------------------------------------------------------------------------------- */

static const char *s3_default_creds(char *buf, size_t cap)
{
	const char *env = getenv("AWS_SHARED_CREDENTIALS_FILE"), *home = getenv("HOME");

	if (env && *env)
		return env;
	snprintf(buf, cap, "%s/.aws/credentials", home ? home : "");
	return buf;
}

/* Both sides' credentials; a Secret needs the cluster, reached only then. */
static int s3_credentials(s3_cli *c, vs_s3_credentials *src, vs_s3_credentials *dst, vs_kube_config **cfg,
			  vs_kube_client **kube, vs_error *err)
{
	char dflt[4096];
	const char *s = c->src_creds ? c->src_creds : s3_default_creds(dflt, sizeof(dflt));
	const char *d = c->dst_creds ? c->dst_creds : s;
	int rc;

	if ((vs_str_has_prefix(s, "secret:") || vs_str_has_prefix(d, "secret:")) &&
	    vs_cli_connect("s3 sync", c->kubeconfig, c->context, c->out, cfg, kube) != VS_EXIT_OK)
		return VS_ECONFIG;
	if ((rc = vs_s3_credentials_resolve(s, c->src_profile, *kube, src, err)) < 0)
		return vs_error_wrap(err, "source credentials");
	if ((rc = vs_s3_credentials_resolve(d, c->dst_profile ? c->dst_profile : (c->dst_creds ? NULL : c->src_profile),
					    *kube, dst, err)) < 0)
		return vs_error_wrap(err, "destination credentials");
	return 0;
}

static int s3_sync(int argc, char **argv)
{
	s3_cli c = { 0 };
	vs_s3_credentials src = { 0 }, dst = { 0 };
	vs_kube_config *cfg = NULL;
	vs_kube_client *kube = NULL;
	vs_s3_sync_result res = { 0 };
	vs_error err;
	int rc = s3_parse(&c, argc, argv);

	if (rc != 0)
		return rc < 0 ? VS_EXIT_OK : rc;
	vs_error_clear(&err);
	c.out = vs_out_new(c.json, stdout);
	c.text.out = c.out;
	rc = s3_credentials(&c, &src, &dst, &cfg, &kube, &err);
	if (rc == VS_ECONFIG && !err.code) {
		rc = VS_EXIT_FAILED; /* vs_cli_connect said why */
		goto done;
	}
	if (rc < 0) {
		rc = vs_out_error(c.out, "s3 sync", "credentials", &err);
		goto done;
	}
	c.sync.source_creds = &src;
	c.sync.dest_creds = &dst;
	c.sync.on_event = s3_on_event;
	c.sync.ctx = &c;
	vs_stop_install();
	rc = vs_s3_sync(&c.sync, &res, &err);
	if (rc < 0)
		rc = vs_out_error(c.out, "s3 sync", "sync", &err);
	else
		rc = VS_EXIT_OK;
done:
	vs_s3_credentials_wipe(&src);
	vs_s3_credentials_wipe(&dst);
	vs_s3_sync_result_clear(&res);
	vs_kube_client_free(kube);
	vs_kube_config_free(cfg);
	vs_out_free(c.out);
	return rc;
}

int vs_cli_cmd_s3(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(s3_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? VS_EXIT_USAGE : VS_EXIT_OK;
	}
	if (strcmp(argv[1], "sync") == 0)
		return s3_sync(argc - 1, argv + 1);
	fprintf(stderr, "volshift s3: unknown command \"%s\"; the one there is: sync\n", argv[1]);
	return VS_EXIT_USAGE;
}
