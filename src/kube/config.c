/*
 * config: where the cluster is and who we are, found the way kubectl finds it.
 *
 * kubeconfig files are YAML (or JSON, which is YAML) read with libyaml into jansson values, merged
 * in $KUBECONFIG order with kubectl's rule (the first file to name an entry or set current-context
 * wins), and resolved into one flat vs_kube_config for the chosen context. Relative paths are
 * resolved against the directory of the file that holds them, at merge time, because only then is
 * that file known. Every problem is reported as VS_ECONFIG naming the file, the entry and the cause.
 * Credentials that change while we run (token files, exec plugins) are fetched per request by
 * vs_kube_config_credentials, under a lock kept in a separately allocated state.
 */
#include "kube/kube.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KUBECONFIG_MAX	(16u << 20)
#define TOKEN_MAX	(1u << 20)
#define EXEC_OUTPUT_MAX (1u << 20)
/* The time an exec credential plugin gets before it is killed (client-go waits forever). */
#define EXEC_TIMEOUT_MS 60000
#define IN_CLUSTER_ROOT "/var/run/secrets/kubernetes.io/serviceaccount"

extern char **environ;

struct exec_spec {
	char *api_version;
	char *command;
	char **args; /* NULL-terminated */
	char **env;  /* NULL-terminated "NAME=VALUE" */
	bool provide_cluster_info;
};

/* Mutable state behind a const configuration: token file and exec credential caches. */
struct cred_state {
	pthread_mutex_t lock;
	char *file_token;
	struct stat file_st;
	bool file_loaded;
	char *exec_token;
	unsigned char *exec_cert, *exec_key;
	size_t exec_cert_len, exec_key_len;
	int64_t exec_expiry; /* epoch seconds; 0: never expires */
	bool exec_valid;
};

struct vs_kube_config {
	char *server, *ns, *context;
	char *origin; /* where server came from, for messages */
	vs_kube_tls tls;
	char *ca_file, *server_name, *proxy_url;
	unsigned char *ca_data;
	size_t ca_len;
	char *token, *token_file, *username, *password, *cert_file, *key_file;
	unsigned char *cert_data, *key_data;
	size_t cert_len, key_len;
	struct exec_spec *exec;
	struct cred_state *state;
};

/* ---- YAML to JSON ---------------------------------------------------------------------------- */

/* Parse YAML text (first document) into *out; an empty document is null. */
static int yaml_to_json(const char *path, const char *text, size_t len, json_t **out, vs_error *err)
{
	vs_yaml_doc *doc = NULL;
	vs_yaml_mark at;
	vs_error e = { 0 };

	*out = NULL;
	if (vs_yaml_parse(text, len, 0, &doc, &at, &e) < 0)
		return vs_error_set(err, VS_ECONFIG, "kubeconfig %s: line %u column %u: %s", path, at.line, at.column,
				    e.message);
	*out = json_incref(vs_yaml_doc_root(doc));
	vs_yaml_doc_free(doc);
	return 0;
}

/* ---- small helpers ---------------------------------------------------------------------------- */

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return vs_xstrdup(".");
	if (slash == path)
		return vs_xstrdup("/");
	return vs_xstrndup(path, (size_t)(slash - path));
}

/* Make the string at key of obj absolute against dir (when it is relative and not empty). */
static void resolve_path_field(json_t *obj, const char *key, const char *dir)
{
	const char *p = vs_json_str(obj, key);

	if (!p || !*p || p[0] == '/')
		return;
	json_object_set_new(obj, key, json_sprintf("%s/%s", dir, p));
}

static void resolve_entry_paths(const char *section, json_t *v, const char *dir)
{
	json_t *exec;
	const char *cmd;

	if (!strcmp(section, "clusters")) {
		resolve_path_field(v, "certificate-authority", dir);
	} else if (!strcmp(section, "users")) {
		resolve_path_field(v, "client-certificate", dir);
		resolve_path_field(v, "client-key", dir);
		resolve_path_field(v, "tokenFile", dir);
		exec = json_object_get(v, "exec");
		cmd = vs_json_str(exec, "command");
		/* As client-go: a command with a path separator is relative to the file, a bare name uses PATH. */
		if (cmd && strchr(cmd, '/'))
			resolve_path_field(exec, "command", dir);
	}
}

static bool json_truthy(const json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	return json_is_string(v) && !strcmp(json_string_value(v), "true");
}

static char *dup_or_null(const char *s)
{
	return s && *s ? vs_xstrdup(s) : NULL;
}

/* ---- merging files --------------------------------------------------------------------------- */

/* Entries by name: {"clusters": {name: {"file": F, "v": {...}}}, "users": ..., "contexts": ...}. */
struct merged {
	json_t *sections;
	char *current;
	char *first_file;
};

static const char *const sections[] = { "clusters", "users", "contexts" };
static const char *const section_inner[] = { "cluster", "user", "context" };

static int merge_section(struct merged *m, const char *path, const json_t *doc, int si, vs_error *err)
{
	json_t *list = json_object_get(doc, sections[si]);
	json_t *map = json_object_get(m->sections, sections[si]);
	json_t *item, *inner;
	char *dir = NULL;
	size_t i;
	int rc = 0;

	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return vs_error_set(err, VS_ECONFIG, "kubeconfig %s: %s: not a list", path, sections[si]);
	dir = dir_of(path);
	json_array_foreach (list, i, item) {
		const char *name = vs_json_str(item, "name");

		if (!name || !*name) {
			rc = vs_error_set(err, VS_ECONFIG, "kubeconfig %s: %s[%zu]: no name", path, sections[si], i);
			goto done;
		}
		if (json_object_get(map, name))
			continue; /* an earlier file named it first */
		inner = json_object_get(item, section_inner[si]);
		inner = json_is_object(inner) ? json_deep_copy(inner) : json_object();
		resolve_entry_paths(sections[si], inner, dir);
		json_object_set_new(map, name, json_pack("{s:s, s:o}", "file", path, "v", inner));
	}
done:
	free(dir);
	return rc;
}

static int merge_file(struct merged *m, const char *path, vs_error *err)
{
	char *text = NULL;
	size_t len = 0;
	json_t *doc = NULL;
	const char *cur;
	int rc, si;
	vs_error e = { 0 };

	rc = vs_file_read(path, KUBECONFIG_MAX, &text, &len, &e);
	if (rc < 0) {
		rc = vs_error_set(err, VS_ECONFIG, "kubeconfig %s", e.message);
		goto done;
	}
	rc = yaml_to_json(path, text, len, &doc, err);
	if (rc < 0)
		goto done;
	if (json_is_null(doc))
		goto done;
	if (!json_is_object(doc)) {
		rc = vs_error_set(err, VS_ECONFIG, "kubeconfig %s: not a mapping", path);
		goto done;
	}
	for (si = 0; si < 3 && rc == 0; si++)
		rc = merge_section(m, path, doc, si, err);
	cur = vs_json_str(doc, "current-context");
	if (rc == 0 && !m->current && cur && *cur)
		m->current = vs_xstrdup(cur);
	if (!m->first_file)
		m->first_file = vs_xstrdup(path);
done:
	json_decref(doc);
	free(text);
	return rc;
}

static void merged_free(struct merged *m)
{
	json_decref(m->sections);
	free(m->current);
	free(m->first_file);
}

/* ---- resolving the chosen context ------------------------------------------------------------- */

static int decode_data(const char *file, const char *what, const char *name, const char *field, const char *b64,
		       unsigned char **out, size_t *len, vs_error *err)
{
	vs_error e = { 0 };

	if (vs_base64_decode(b64, out, len, &e) < 0)
		return vs_error_set(err, VS_ECONFIG, "kubeconfig %s: %s \"%s\": %s: invalid base64: %s", file, what,
				    name, field, e.message);
	return 0;
}

static int fill_cluster(vs_kube_config *cfg, const char *file, const char *name, const json_t *v, vs_error *err)
{
	const char *server = vs_json_str(v, "server");
	const char *ca_data = vs_json_str(v, "certificate-authority-data");

	if (!server || !*server)
		return vs_error_set(err, VS_ECONFIG, "kubeconfig %s: cluster \"%s\": no server", file, name);
	cfg->server = vs_xstrdup(server);
	while (vs_str_has_suffix(cfg->server, "/") && strlen(cfg->server) > 1)
		cfg->server[strlen(cfg->server) - 1] = '\0';
	if (ca_data && *ca_data) {
		if (decode_data(file, "cluster", name, "certificate-authority-data", ca_data, &cfg->ca_data,
				&cfg->ca_len, err) < 0)
			return VS_ECONFIG;
	} else {
		cfg->ca_file = dup_or_null(vs_json_str(v, "certificate-authority"));
	}
	cfg->tls.insecure = json_truthy(json_object_get(v, "insecure-skip-tls-verify"));
	cfg->server_name = dup_or_null(vs_json_str(v, "tls-server-name"));
	cfg->proxy_url = dup_or_null(vs_json_str(v, "proxy-url"));
	return 0;
}

static char **string_array(const json_t *arr)
{
	char **out = vs_xcalloc(json_array_size(arr) + 1, sizeof(char *));
	size_t i, n = 0;
	json_t *it;

	json_array_foreach (arr, i, it) {
		if (json_is_string(it))
			out[n++] = vs_xstrdup(json_string_value(it));
	}
	return out;
}

static int fill_exec(vs_kube_config *cfg, const char *file, const char *name, const json_t *x, vs_error *err)
{
	const char *api = vs_json_str(x, "apiVersion");
	const char *cmd = vs_json_str(x, "command");
	json_t *env = json_object_get(x, "env"), *it;
	struct exec_spec *s;
	size_t i, n = 0;

	if (!cmd || !*cmd)
		return vs_error_set(err, VS_ECONFIG, "kubeconfig %s: user \"%s\": exec: no command", file, name);
	if (!api ||
	    (strcmp(api, "client.authentication.k8s.io/v1") && strcmp(api, "client.authentication.k8s.io/v1beta1")))
		return vs_error_set(err, VS_ECONFIG,
				    "kubeconfig %s: user \"%s\": exec: apiVersion \"%s\" is not supported "
				    "(use client.authentication.k8s.io/v1 or v1beta1)",
				    file, name, api ? api : "");
	s = vs_xcalloc(1, sizeof(*s));
	s->api_version = vs_xstrdup(api);
	s->command = vs_xstrdup(cmd);
	s->args = string_array(json_object_get(x, "args"));
	s->env = vs_xcalloc(json_array_size(env) + 1, sizeof(char *));
	json_array_foreach (env, i, it) {
		const char *k = vs_json_str(it, "name"), *v = vs_json_str(it, "value");
		if (k && *k)
			s->env[n++] = vs_xasprintf("%s=%s", k, v ? v : "");
	}
	s->provide_cluster_info = json_truthy(json_object_get(x, "provideClusterInfo"));
	cfg->exec = s;
	return 0;
}

static int fill_user(vs_kube_config *cfg, const char *file, const char *name, const json_t *v, vs_error *err)
{
	const char *cert = vs_json_str(v, "client-certificate-data");
	const char *key = vs_json_str(v, "client-key-data");

	if (json_object_get(v, "auth-provider"))
		return vs_error_set(err, VS_ECONFIG,
				    "kubeconfig %s: user \"%s\": auth-provider is not supported; use an exec plugin",
				    file, name);
	if (cert && *cert) {
		if (decode_data(file, "user", name, "client-certificate-data", cert, &cfg->cert_data, &cfg->cert_len,
				err) < 0)
			return VS_ECONFIG;
	} else {
		cfg->cert_file = dup_or_null(vs_json_str(v, "client-certificate"));
	}
	if (key && *key) {
		if (decode_data(file, "user", name, "client-key-data", key, &cfg->key_data, &cfg->key_len, err) < 0)
			return VS_ECONFIG;
	} else {
		cfg->key_file = dup_or_null(vs_json_str(v, "client-key"));
	}
	if ((cfg->cert_data || cfg->cert_file) != (cfg->key_data || cfg->key_file))
		return vs_error_set(err, VS_ECONFIG,
				    "kubeconfig %s: user \"%s\": a client certificate needs a client key", file, name);
	cfg->token = dup_or_null(vs_json_str(v, "token"));
	cfg->token_file = dup_or_null(vs_json_str(v, "tokenFile"));
	cfg->username = dup_or_null(vs_json_str(v, "username"));
	cfg->password = dup_or_null(vs_json_str(v, "password"));
	if (json_is_object(json_object_get(v, "exec")))
		return fill_exec(cfg, file, name, json_object_get(v, "exec"), err);
	return 0;
}

/* Look up section/name in the merged entries; *file is the file that defined it. */
static const json_t *merged_entry(const struct merged *m, const char *section, const char *name, const char **file)
{
	json_t *e = json_object_get(json_object_get(m->sections, section), name);

	*file = vs_json_str(e, "file");
	return json_object_get(e, "v");
}

static int resolve_context(vs_kube_config *cfg, const struct merged *m, const char *override, vs_error *err)
{
	const char *name = override && *override ? override : m->current;
	const char *cfile, *file, *cluster, *user, *ns;
	const json_t *ctx, *v;

	if (!name)
		return vs_error_set(err, VS_ECONFIG,
				    "kubeconfig %s: no current-context is set and no context was given", m->first_file);
	ctx = merged_entry(m, "contexts", name, &cfile);
	if (!ctx)
		return vs_error_set(err, VS_ECONFIG, "kubeconfig %s: context \"%s\" not found", m->first_file, name);
	cfg->context = vs_xstrdup(name);
	cluster = vs_json_str(ctx, "cluster");
	user = vs_json_str(ctx, "user");
	ns = vs_json_str(ctx, "namespace");
	cfg->ns = vs_xstrdup(ns && *ns ? ns : "default");
	if (!cluster || !*cluster)
		return vs_error_set(err, VS_ECONFIG, "kubeconfig %s: context \"%s\": no cluster", cfile, name);
	v = merged_entry(m, "clusters", cluster, &file);
	if (!v)
		return vs_error_set(err, VS_ECONFIG, "kubeconfig %s: context \"%s\": cluster \"%s\" not found", cfile,
				    name, cluster);
	if (fill_cluster(cfg, file, cluster, v, err) < 0)
		return VS_ECONFIG;
	cfg->origin = vs_xasprintf("kubeconfig %s, context %s", file, name);
	if (!user || !*user)
		return 0; /* anonymous */
	v = merged_entry(m, "users", user, &file);
	if (!v)
		return vs_error_set(err, VS_ECONFIG, "kubeconfig %s: context \"%s\": user \"%s\" not found", cfile,
				    name, user);
	return fill_user(cfg, file, user, v, err);
}

static vs_kube_config *config_alloc(void)
{
	vs_kube_config *cfg = vs_xcalloc(1, sizeof(*cfg));

	cfg->state = vs_xcalloc(1, sizeof(*cfg->state));
	pthread_mutex_init(&cfg->state->lock, NULL);
	return cfg;
}

/* Point the public TLS view at the owned fields. */
static void config_finish(vs_kube_config *cfg)
{
	cfg->tls.ca_file = cfg->ca_file;
	cfg->tls.ca_data = cfg->ca_data;
	cfg->tls.ca_len = cfg->ca_len;
	cfg->tls.server_name = cfg->server_name;
	cfg->tls.proxy_url = cfg->proxy_url;
}

static int load_files(char **files, size_t n, const char *context, vs_kube_config **out, vs_error *err)
{
	struct merged m = { .sections = json_pack("{s:{}, s:{}, s:{}}", "clusters", "users", "contexts") };
	vs_kube_config *cfg = NULL;
	size_t i;
	int rc = 0;

	for (i = 0; i < n; i++) {
		rc = merge_file(&m, files[i], err);
		if (rc < 0)
			goto done;
	}
	cfg = config_alloc();
	rc = resolve_context(cfg, &m, context, err);
	if (rc < 0)
		goto done;
	config_finish(cfg);
	*out = cfg;
	cfg = NULL;
done:
	vs_kube_config_free(cfg);
	merged_free(&m);
	return rc;
}

/* Split $KUBECONFIG into existing files (kubectl skips missing ones). Returns the count. */
static size_t kubeconfig_env_files(const char *env, char ***files)
{
	char *copy = vs_xstrdup(env), *save = NULL, *tok;
	size_t n = 0;
	struct stat st;

	*files = vs_xcalloc(strlen(env) / 2 + 2, sizeof(char *));
	for (tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
		if (stat(tok, &st) == 0)
			(*files)[n++] = vs_xstrdup(tok);
	}
	free(copy);
	return n;
}

static void free_strv(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int vs_kube_config_load(const vs_kube_config_opts *opts, vs_kube_config **out, vs_error *err)
{
	static const vs_kube_config_opts none = { 0 };
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
	char **files = NULL;
	size_t n = 0;
	struct stat st;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &none;
	if (opts->kubeconfig && *opts->kubeconfig) {
		files = vs_xcalloc(2, sizeof(char *));
		files[n++] = vs_xstrdup(opts->kubeconfig);
	} else if (env && *env) {
		n = kubeconfig_env_files(env, &files);
	} else if (home && *home) {
		files = vs_xcalloc(2, sizeof(char *));
		files[0] = vs_xasprintf("%s/.kube/config", home);
		n = stat(files[0], &st) == 0;
	}
	if (n > 0)
		rc = load_files(files, n, opts->context, out, err);
	else if (getenv("KUBERNETES_SERVICE_HOST"))
		rc = vs_kube_config_in_cluster(opts->in_cluster_root, out, err);
	else
		rc = vs_error_set(err, VS_ECONFIG, "no kubeconfig found (%s) and not running in a cluster",
				  env && *env ? "none of $KUBECONFIG exists" : "~/.kube/config does not exist");
	free_strv(files);
	return rc;
}

/* ---- in-cluster ------------------------------------------------------------------------------ */

static char *read_trimmed(const char *path, vs_error *err)
{
	char *s = NULL;
	size_t len = 0;

	if (vs_file_read(path, TOKEN_MAX, &s, &len, err) < 0)
		return NULL;
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	return s;
}

int vs_kube_config_in_cluster(const char *root, vs_kube_config **out, vs_error *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	vs_kube_config *cfg = NULL;
	char *path = NULL, *ns;
	struct stat st;
	int rc = 0;

	*out = NULL;
	if (!root)
		root = IN_CLUSTER_ROOT;
	if (!host || !*host || !port || !*port)
		return vs_error_set(
			err, VS_ECONFIG,
			"in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
	cfg = config_alloc();
	cfg->server = strchr(host, ':') ? vs_xasprintf("https://[%s]:%s", host, port)
					: vs_xasprintf("https://%s:%s", host, port);
	cfg->context = vs_xstrdup("");
	cfg->origin = vs_xstrdup("in-cluster service account");
	cfg->token_file = vs_xasprintf("%s/token", root);
	if (stat(cfg->token_file, &st) != 0) {
		rc = vs_error_set(err, VS_ECONFIG, "in-cluster config: %s: %s", cfg->token_file, strerror(errno));
		goto done;
	}
	path = vs_xasprintf("%s/ca.crt", root);
	if (stat(path, &st) == 0) {
		cfg->ca_file = path;
		path = NULL;
	}
	free(path);
	path = vs_xasprintf("%s/namespace", root);
	ns = read_trimmed(path, NULL);
	cfg->ns = ns && *ns ? ns : vs_xstrdup("default");
	if (ns && !*ns)
		free(ns);
	config_finish(cfg);
	*out = cfg;
	cfg = NULL;
done:
	free(path);
	vs_kube_config_free(cfg);
	return rc;
}

/* ---- accessors and free ---------------------------------------------------------------------- */

const char *vs_kube_config_server(const vs_kube_config *cfg)
{
	return cfg->server;
}

const char *vs_kube_config_namespace(const vs_kube_config *cfg)
{
	return cfg->ns;
}

const char *vs_kube_config_context(const vs_kube_config *cfg)
{
	return cfg->context;
}

const char *vs_kube_config_origin(const vs_kube_config *cfg)
{
	return cfg->origin ? cfg->origin : "";
}

const vs_kube_tls *vs_kube_config_tls(const vs_kube_config *cfg)
{
	return &cfg->tls;
}

static void exec_cache_clear(struct cred_state *s)
{
	free(s->exec_token);
	free(s->exec_cert);
	free(s->exec_key);
	s->exec_token = NULL;
	s->exec_cert = s->exec_key = NULL;
	s->exec_cert_len = s->exec_key_len = 0;
	s->exec_valid = false;
}

static void exec_spec_free(struct exec_spec *s)
{
	if (!s)
		return;
	free(s->api_version);
	free(s->command);
	free_strv(s->args);
	free_strv(s->env);
	free(s);
}

void vs_kube_config_free(vs_kube_config *cfg)
{
	if (!cfg)
		return;
	exec_cache_clear(cfg->state);
	free(cfg->state->file_token);
	pthread_mutex_destroy(&cfg->state->lock);
	free(cfg->state);
	exec_spec_free(cfg->exec);
	free(cfg->server);
	free(cfg->ns);
	free(cfg->context);
	free(cfg->origin);
	free(cfg->ca_file);
	free(cfg->server_name);
	free(cfg->proxy_url);
	free(cfg->ca_data);
	free(cfg->token);
	free(cfg->token_file);
	free(cfg->username);
	free(cfg->password);
	free(cfg->cert_file);
	free(cfg->key_file);
	free(cfg->cert_data);
	free(cfg->key_data);
	free(cfg);
}

void vs_kube_credentials_clear(vs_kube_credentials *c)
{
	if (!c)
		return;
	free(c->token);
	free(c->username);
	free(c->password);
	free(c->cert_data);
	free(c->key_data);
	free(c->cert_file);
	free(c->key_file);
	memset(c, 0, sizeof(*c));
}

/* ---- credentials: token files ---------------------------------------------------------------- */

/* The token of cfg->token_file, re-read when the file changed. Called with the lock held. */
static int token_file_current(const vs_kube_config *cfg, char **out, vs_error *err)
{
	struct cred_state *s = cfg->state;
	struct stat st;
	char *tok;

	if (stat(cfg->token_file, &st) != 0)
		return vs_error_set(err, VS_EIO, "token file %s: %s", cfg->token_file, strerror(errno));
	if (!s->file_loaded || st.st_ino != s->file_st.st_ino || st.st_size != s->file_st.st_size ||
	    st.st_mtim.tv_sec != s->file_st.st_mtim.tv_sec || st.st_mtim.tv_nsec != s->file_st.st_mtim.tv_nsec) {
		tok = read_trimmed(cfg->token_file, err);
		if (!tok)
			return VS_EIO;
		free(s->file_token);
		s->file_token = tok;
		s->file_st = st;
		s->file_loaded = true;
	}
	*out = vs_xstrdup(s->file_token);
	return 0;
}

/* ---- credentials: exec plugins --------------------------------------------------------------- */

static char *exec_info_json(const vs_kube_config *cfg)
{
	json_t *info = json_pack("{s:s, s:s, s:{s:b}}", "apiVersion", cfg->exec->api_version, "kind", "ExecCredential",
				 "spec", "interactive", 0);
	char *ca, *s;

	if (cfg->exec->provide_cluster_info) {
		json_t *cluster =
			json_pack("{s:s, s:b}", "server", cfg->server, "insecure-skip-tls-verify", cfg->tls.insecure);
		if (cfg->ca_data) {
			ca = vs_base64_encode(cfg->ca_data, cfg->ca_len);
			json_object_set_new(cluster, "certificate-authority-data", json_string(ca));
			free(ca);
		}
		if (cfg->server_name)
			json_object_set_new(cluster, "tls-server-name", json_string(cfg->server_name));
		vs_json_set_path(info, "spec.cluster", cluster);
	}
	s = json_dumps(info, JSON_COMPACT);
	json_decref(info);
	return s;
}

/* True when the "NAME=value" entry var is replaced by the plugin's env or KUBERNETES_EXEC_INFO. */
static bool env_overridden(const char *var, char *const *env)
{
	size_t len = strcspn(var, "=");

	if (len == strlen("KUBERNETES_EXEC_INFO") && !strncmp(var, "KUBERNETES_EXEC_INFO", len))
		return true;
	for (; *env; env++) {
		if (!strncmp(*env, var, len) && (*env)[len] == '=')
			return true;
	}
	return false;
}

/* The environment for the plugin: ours, then the configured env, then KUBERNETES_EXEC_INFO. */
static char **exec_environ(const vs_kube_config *cfg)
{
	size_t n = 0, m = 0, k = 0, i;
	char **envp, *info;

	while (environ[n])
		n++;
	while (cfg->exec->env[m])
		m++;
	envp = vs_xcalloc(n + m + 2, sizeof(char *));
	for (i = 0; i < n; i++) {
		if (!env_overridden(environ[i], cfg->exec->env))
			envp[k++] = vs_xstrdup(environ[i]);
	}
	for (i = 0; i < m; i++)
		envp[k++] = vs_xstrdup(cfg->exec->env[i]);
	info = exec_info_json(cfg);
	envp[k] = vs_xasprintf("KUBERNETES_EXEC_INFO=%s", info);
	free(info);
	return envp;
}

static char **exec_argv(const struct exec_spec *x)
{
	size_t n = 0, i;
	char **argv;

	while (x->args[n])
		n++;
	argv = vs_xcalloc(n + 2, sizeof(char *));
	argv[0] = x->command;
	for (i = 0; i < n; i++)
		argv[i + 1] = x->args[i];
	return argv;
}

/* How long an exec plugin may take (VOLSHIFT_EXEC_TIMEOUT, a duration; default EXEC_TIMEOUT_MS). */
static int64_t exec_timeout_ms(void)
{
	const char *env = getenv("VOLSHIFT_EXEC_TIMEOUT");
	int64_t ms;

	return env && *env && vs_duration_parse(env, &ms, NULL) == 0 && ms > 0 ? ms : EXEC_TIMEOUT_MS;
}

/* Read fd to its end into b, until the monotonic time deadline: VS_ETIMEOUT after it. */
static int read_all_fd(int fd, vs_buf *b, int64_t deadline)
{
	char chunk[4096];
	ssize_t n;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - vs_time_mono_ms();
		int r = left > 0 ? poll(&p, 1, (int)(left > 1000 ? 1000 : left)) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return VS_EIO;
		if (r == 0 && vs_time_mono_ms() >= deadline)
			return VS_ETIMEOUT;
		if (r == 0)
			continue;
		n = read(fd, chunk, sizeof(chunk));
		if (n == 0)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return VS_EIO;
		if (vs_buf_append(b, chunk, (size_t)n) < 0)
			return VS_ENOMEM;
	}
}

/* Run the plugin and return its standard output in out (caller frees). */
static int exec_run(const vs_kube_config *cfg, char **out, vs_error *err)
{
	posix_spawn_file_actions_t fa;
	char **argv = exec_argv(cfg->exec), **envp = exec_environ(cfg);
	int pipefd[2] = { -1, -1 }, status = 0, rc = 0, rrc;
	int64_t timeout = exec_timeout_ms();
	vs_buf b;
	pid_t pid;

	vs_buf_init(&b, EXEC_OUTPUT_MAX);
	*out = NULL;
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		rc = vs_error_set(err, VS_EIO, "exec plugin %s: pipe: %s", cfg->exec->command, strerror(errno));
		goto done;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	rc = posix_spawnp(&pid, cfg->exec->command, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (rc != 0) {
		rc = vs_error_set(err, VS_ECONFIG, "exec plugin %s: cannot run: %s", cfg->exec->command, strerror(rc));
		goto done;
	}
	rrc = read_all_fd(pipefd[0], &b, vs_time_mono_ms() + timeout);
	if (rrc == VS_ETIMEOUT)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rrc == VS_ETIMEOUT) {
		rc = vs_error_set(err, VS_ECONFIG, "exec plugin %s: no credential within %lld ms; killed it",
				  cfg->exec->command, (long long)timeout);
		goto done;
	}
	if (rrc < 0) {
		rc = vs_error_set(err, VS_ECONFIG, "exec plugin %s: output unreadable or over %u bytes",
				  cfg->exec->command, EXEC_OUTPUT_MAX);
		goto done;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rc = vs_error_set(err, VS_ECONFIG, "exec plugin %s: exited with status %d", cfg->exec->command,
				  WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		goto done;
	}
	*out = vs_buf_steal(&b);
done:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	free(argv);
	free_strv(envp);
	vs_buf_free(&b);
	return rc;
}

/* Parse an ExecCredential into the cache. Called with the lock held. */
static int exec_parse(const vs_kube_config *cfg, const char *text, vs_error *err)
{
	struct cred_state *s = cfg->state;
	const char *cmd = cfg->exec->command, *tok, *cert, *key, *exp, *api;
	json_t *doc = json_loads(text, 0, NULL);
	int64_t expiry = 0;
	int rc = 0;

	api = vs_json_str(doc, "apiVersion");
	if (!doc || !json_is_object(json_object_get(doc, "status"))) {
		rc = vs_error_set(err, VS_ECONFIG, "exec plugin %s: output is not an ExecCredential with a status",
				  cmd);
		goto done;
	}
	if (!api || strcmp(api, cfg->exec->api_version)) {
		rc = vs_error_set(err, VS_ECONFIG, "exec plugin %s: apiVersion \"%s\", expected \"%s\"", cmd,
				  api ? api : "", cfg->exec->api_version);
		goto done;
	}
	tok = vs_json_str(doc, "status.token");
	cert = vs_json_str(doc, "status.clientCertificateData");
	key = vs_json_str(doc, "status.clientKeyData");
	exp = vs_json_str(doc, "status.expirationTimestamp");
	if (!(tok && *tok) && !(cert && *cert && key && *key)) {
		rc = vs_error_set(err, VS_ECONFIG,
				  "exec plugin %s: status has neither a token nor a client certificate and key", cmd);
		goto done;
	}
	if (exp && *exp && vs_time_parse(exp, &expiry, NULL) < 0) {
		rc = vs_error_set(err, VS_ECONFIG, "exec plugin %s: bad status.expirationTimestamp \"%s\"", cmd, exp);
		goto done;
	}
	exec_cache_clear(s);
	s->exec_token = dup_or_null(tok);
	if (cert && *cert && key && *key) {
		s->exec_cert = (unsigned char *)vs_xstrdup(cert);
		s->exec_cert_len = strlen(cert);
		s->exec_key = (unsigned char *)vs_xstrdup(key);
		s->exec_key_len = strlen(key);
	}
	s->exec_expiry = expiry;
	s->exec_valid = true;
done:
	json_decref(doc);
	return rc;
}

static unsigned char *memdup(const unsigned char *p, size_t n)
{
	unsigned char *d = vs_xmalloc(n + 1);

	memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

/* Fill out from the exec cache, running the plugin first when needed. Called with the lock held. */
static int exec_credentials(const vs_kube_config *cfg, vs_kube_credentials *out, vs_error *err)
{
	struct cred_state *s = cfg->state;
	char *text = NULL;
	int rc = 0;

	if (!s->exec_valid || (s->exec_expiry && vs_time_now() >= s->exec_expiry)) {
		rc = exec_run(cfg, &text, err);
		if (rc == 0)
			rc = exec_parse(cfg, text, err);
		if (rc < 0)
			goto done;
	}
	out->token = dup_or_null(s->exec_token);
	if (s->exec_cert) {
		out->cert_data = memdup(s->exec_cert, s->exec_cert_len);
		out->cert_len = s->exec_cert_len;
		out->key_data = memdup(s->exec_key, s->exec_key_len);
		out->key_len = s->exec_key_len;
	}
done:
	free(text);
	return rc;
}

static void static_credentials(const vs_kube_config *cfg, vs_kube_credentials *out)
{
	if (!out->token)
		out->token = dup_or_null(cfg->token);
	out->username = dup_or_null(cfg->username);
	out->password = dup_or_null(cfg->password);
	if (!out->cert_data && cfg->cert_data) {
		out->cert_data = memdup(cfg->cert_data, cfg->cert_len);
		out->cert_len = cfg->cert_len;
		out->key_data = cfg->key_data ? memdup(cfg->key_data, cfg->key_len) : NULL;
		out->key_len = cfg->key_len;
	}
	if (!out->cert_data) {
		out->cert_file = dup_or_null(cfg->cert_file);
		out->key_file = dup_or_null(cfg->key_file);
		if (cfg->key_data && !out->key_data) {
			out->key_data = memdup(cfg->key_data, cfg->key_len);
			out->key_len = cfg->key_len;
		}
	}
}

int vs_kube_config_credentials(const vs_kube_config *cfg, vs_kube_credentials *out, vs_error *err)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&cfg->state->lock);
	if (cfg->exec)
		rc = exec_credentials(cfg, out, err);
	else if (cfg->token_file && !cfg->token)
		rc = token_file_current(cfg, &out->token, err);
	if (rc == 0)
		static_credentials(cfg, out);
	pthread_mutex_unlock(&cfg->state->lock);
	if (rc < 0)
		vs_kube_credentials_clear(out);
	return rc;
}

void vs_kube_config_invalidate(const vs_kube_config *cfg)
{
	pthread_mutex_lock(&cfg->state->lock);
	exec_cache_clear(cfg->state);
	pthread_mutex_unlock(&cfg->state->lock);
}
