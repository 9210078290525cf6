/*
 * Unit tests for kube configuration: kubeconfig shapes seen in the wild (files merged through
 * $KUBECONFIG, -data fields against file fields, relative paths, JSON kubeconfigs, exec credential
 * plugins and their cache), broken files whose errors must name the file and the entry, token files
 * re-read when they change, and the in-cluster service account.
 */
#include "kube/kube.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vs-kube-config-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	unsetenv("KUBECONFIG");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	return 0;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	assert_int_equal(vs_rm_rf(tmpdir, NULL), 0);
	unsetenv("KUBECONFIG");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	return 0;
}

/* Write text to tmpdir/name (making directories) and return the full path (caller frees). */
static char *write_file(const char *name, const char *text, int mode)
{
	char *path = vs_xasprintf("%s/%s", tmpdir, name);
	char *dir = vs_xstrdup(path);

	*strrchr(dir, '/') = '\0';
	assert_int_equal(vs_mkdir_p(dir, 0700, NULL), 0);
	assert_int_equal(vs_file_write_atomic(path, text, strlen(text), mode, NULL), 0);
	free(dir);
	return path;
}

static vs_kube_config *load_ok(const char *path, const char *context)
{
	vs_kube_config_opts opts = { .kubeconfig = path, .context = context };
	vs_kube_config *cfg = NULL;
	vs_error err = { 0 };

	if (vs_kube_config_load(&opts, &cfg, &err) != 0)
		fail_msg("load failed: %s", err.message);
	return cfg;
}

static void load_fails(const char *path, const char *context, const char *want1, const char *want2)
{
	vs_kube_config_opts opts = { .kubeconfig = path, .context = context };
	vs_kube_config *cfg = NULL;
	vs_error err = { 0 };

	assert_int_equal(vs_kube_config_load(&opts, &cfg, &err), VS_ECONFIG);
	assert_null(cfg);
	assert_int_equal(err.code, VS_ECONFIG);
	if (!strstr(err.message, path) || !strstr(err.message, want1) || (want2 && !strstr(err.message, want2)))
		fail_msg("message \"%s\" should name %s, %s and %s", err.message, path, want1, want2 ? want2 : "");
}

static const char *const file_a = "apiVersion: v1\n"
				  "kind: Config\n"
				  "current-context: alpha\n"
				  "clusters:\n"
				  "- name: shared\n"
				  "  cluster: {server: 'https://from-a.example:6443'}\n"
				  "- name: a\n"
				  "  cluster:\n"
				  "    server: https://a.example:6443/\n"
				  "users:\n"
				  "- name: ua\n"
				  "  user: {token: token-a}\n"
				  "contexts:\n"
				  "- name: alpha\n"
				  "  context: {cluster: a, user: ua, namespace: team-a}\n";

static const char *const file_b = "apiVersion: v1\n"
				  "kind: Config\n"
				  "current-context: beta\n"
				  "clusters:\n"
				  "- name: shared\n"
				  "  cluster: {server: 'https://from-b.example:6443'}\n"
				  "users:\n"
				  "- name: ua\n"
				  "  user: {token: token-from-b}\n"
				  "- name: ub\n"
				  "  user: {username: admin, password: secret}\n"
				  "contexts:\n"
				  "- name: beta\n"
				  "  context: {cluster: shared, user: ub}\n"
				  "- name: alpha\n"
				  "  context: {cluster: shared, user: ub}\n";

static void test_kube_config__kubeconfig_env_merge(void **state)
{
	char *a = write_file("a/config", file_a, 0600), *b = write_file("b/config", file_b, 0600);
	char *env = vs_xasprintf("%s:%s/missing:%s", a, tmpdir, b);
	vs_kube_config_opts opts = { 0 };
	vs_kube_credentials cred;
	vs_kube_config *cfg = NULL;
	vs_error err = { 0 };

	(void)state;
	setenv("KUBECONFIG", env, 1);
	assert_int_equal(vs_kube_config_load(&opts, &cfg, &err), 0);
	/* The first file's current-context and its definition of "alpha" and "ua" win. */
	assert_string_equal(vs_kube_config_context(cfg), "alpha");
	assert_string_equal(vs_kube_config_server(cfg), "https://a.example:6443");
	assert_string_equal(vs_kube_config_namespace(cfg), "team-a");
	assert_int_equal(vs_kube_config_credentials(cfg, &cred, &err), 0);
	assert_string_equal(cred.token, "token-a");
	vs_kube_credentials_clear(&cred);
	vs_kube_config_free(cfg);

	/* A context only the second file has, using a cluster both define: the first file's wins. */
	opts.context = "beta";
	assert_int_equal(vs_kube_config_load(&opts, &cfg, &err), 0);
	assert_string_equal(vs_kube_config_server(cfg), "https://from-a.example:6443");
	assert_string_equal(vs_kube_config_namespace(cfg), "default");
	assert_int_equal(vs_kube_config_credentials(cfg, &cred, &err), 0);
	assert_null(cred.token);
	assert_string_equal(cred.username, "admin");
	assert_string_equal(cred.password, "secret");
	vs_kube_credentials_clear(&cred);
	vs_kube_config_free(cfg);

	/* Reversed order: the other file wins. */
	free(env);
	env = vs_xasprintf("%s:%s", b, a);
	setenv("KUBECONFIG", env, 1);
	opts.context = NULL;
	assert_int_equal(vs_kube_config_load(&opts, &cfg, &err), 0);
	assert_string_equal(vs_kube_config_context(cfg), "beta");
	assert_string_equal(vs_kube_config_server(cfg), "https://from-b.example:6443");
	vs_kube_config_free(cfg);
	free(env);
	free(a);
	free(b);
}

static void test_kube_config__home_default(void **state)
{
	char *path = write_file("home/.kube/config", file_a, 0600);
	char *home = vs_xasprintf("%s/home", tmpdir), *old = getenv("HOME") ? vs_xstrdup(getenv("HOME")) : NULL;
	vs_kube_config *cfg = NULL;
	vs_error err = { 0 };

	(void)state;
	setenv("HOME", home, 1);
	assert_int_equal(vs_kube_config_load(NULL, &cfg, &err), 0);
	assert_string_equal(vs_kube_config_context(cfg), "alpha");
	vs_kube_config_free(cfg);
	unlink(path);
	assert_int_equal(vs_kube_config_load(NULL, &cfg, &err), VS_ECONFIG);
	assert_non_null(strstr(err.message, "no kubeconfig"));
	if (old)
		setenv("HOME", old, 1);
	free(old);
	free(home);
	free(path);
}

static void test_kube_config__data_files_and_relative_paths(void **state)
{
	char *cert64 = vs_base64_encode((const unsigned char *)"CERT PEM", 8);
	char *key64 = vs_base64_encode((const unsigned char *)"KEY PEM", 7);
	char *ca64 = vs_base64_encode((const unsigned char *)"CA PEM", 6);
	char *text = vs_xasprintf("current-context: files\n"
				  "clusters:\n"
				  "- name: c-files\n"
				  "  cluster:\n"
				  "    server: https://files.example\n"
				  "    certificate-authority: pki/ca.pem\n"
				  "    tls-server-name: kubernetes.internal\n"
				  "    proxy-url: http://proxy.example:3128\n"
				  "- name: c-data\n"
				  "  cluster:\n"
				  "    server: https://data.example\n"
				  "    certificate-authority: ignored.pem\n"
				  "    certificate-authority-data: %s\n"
				  "    insecure-skip-tls-verify: true\n"
				  "users:\n"
				  "- name: u-files\n"
				  "  user: {client-certificate: pki/client.crt, client-key: /abs/client.key}\n"
				  "- name: u-data\n"
				  "  user: {client-certificate-data: %s, client-key-data: %s}\n"
				  "contexts:\n"
				  "- {name: files, context: {cluster: c-files, user: u-files}}\n"
				  "- {name: data, context: {cluster: c-data, user: u-data}}\n",
				  ca64, cert64, key64);
	char *path = write_file("nested/dir/kubeconfig", text, 0600);
	char *want = vs_xasprintf("%s/nested/dir/pki/ca.pem", tmpdir);
	char *want_cert = vs_xasprintf("%s/nested/dir/pki/client.crt", tmpdir);
	vs_kube_config *cfg = load_ok(path, NULL);
	const vs_kube_tls *tls = vs_kube_config_tls(cfg);
	vs_kube_credentials cred;
	vs_error err = { 0 };

	(void)state;
	assert_string_equal(tls->ca_file, want);
	assert_null(tls->ca_data);
	assert_false(tls->insecure);
	assert_string_equal(tls->server_name, "kubernetes.internal");
	assert_string_equal(tls->proxy_url, "http://proxy.example:3128");
	assert_int_equal(vs_kube_config_credentials(cfg, &cred, &err), 0);
	assert_string_equal(cred.cert_file, want_cert);
	assert_string_equal(cred.key_file, "/abs/client.key");
	assert_null(cred.cert_data);
	vs_kube_credentials_clear(&cred);
	vs_kube_config_free(cfg);

	cfg = load_ok(path, "data");
	tls = vs_kube_config_tls(cfg);
	assert_null(tls->ca_file); /* -data overrides the file field */
	assert_int_equal(tls->ca_len, 6);
	assert_memory_equal(tls->ca_data, "CA PEM", 6);
	assert_true(tls->insecure);
	assert_int_equal(vs_kube_config_credentials(cfg, &cred, &err), 0);
	assert_int_equal(cred.cert_len, 8);
	assert_memory_equal(cred.cert_data, "CERT PEM", 8);
	assert_int_equal(cred.key_len, 7);
	assert_memory_equal(cred.key_data, "KEY PEM", 7);
	assert_null(cred.cert_file);
	vs_kube_credentials_clear(&cred);
	vs_kube_config_free(cfg);
	free(want);
	free(want_cert);
	free(path);
	free(text);
	free(cert64);
	free(key64);
	free(ca64);
}

static void test_kube_config__json_kubeconfig(void **state)
{
	char *path = write_file("json/config",
				"{\"apiVersion\":\"v1\",\"kind\":\"Config\",\"current-context\":\"j\","
				"\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":\"http://127.0.0.1:8080\","
				"\"insecure-skip-tls-verify\":true}}],"
				"\"users\":[{\"name\":\"u\",\"user\":{\"token\":\"12345\"}}],"
				"\"contexts\":[{\"name\":\"j\",\"context\":{\"cluster\":\"c\",\"user\":\"u\","
				"\"namespace\":\"json-ns\"}}]}",
				0600);
	vs_kube_config *cfg = load_ok(path, NULL);
	vs_kube_credentials cred;
	vs_error err = { 0 };

	(void)state;
	assert_string_equal(vs_kube_config_server(cfg), "http://127.0.0.1:8080");
	assert_string_equal(vs_kube_config_namespace(cfg), "json-ns");
	assert_true(vs_kube_config_tls(cfg)->insecure);
	assert_int_equal(vs_kube_config_credentials(cfg, &cred, &err), 0);
	assert_string_equal(cred.token, "12345"); /* a quoted number stays a string */
	vs_kube_credentials_clear(&cred);
	vs_kube_config_free(cfg);
	free(path);
}

static void test_kube_config__token_file_reread(void **state)
{
	char *tok = write_file("tok/token", "first-token\n", 0600);
	char *path = write_file("tok/config", "current-context: t\n"
					      "clusters: [{name: c, cluster: {server: 'https://t.example'}}]\n"
					      "users: [{name: u, user: {tokenFile: token}}]\n"
					      "contexts: [{name: t, context: {cluster: c, user: u}}]\n",
				0600);
	vs_kube_config *cfg = load_ok(path, NULL);
	vs_kube_credentials cred;
	vs_error err = { 0 };

	(void)state;
	assert_int_equal(vs_kube_config_credentials(cfg, &cred, &err), 0);
	assert_string_equal(cred.token, "first-token");
	vs_kube_credentials_clear(&cred);
	free(write_file("tok/token", "rotated-token-2\n", 0600));
	assert_int_equal(vs_kube_config_credentials(cfg, &cred, &err), 0);
	assert_string_equal(cred.token, "rotated-token-2");
	vs_kube_credentials_clear(&cred);
	vs_kube_config_free(cfg);
	free(tok);
	free(path);
}

/* A plugin that counts its runs and prints a token naming the run, its argument and its env. */
static char *write_plugin(const char *name, const char *expiry)
{
	char *script = vs_xasprintf("#!/bin/sh\n"
				    "n=$(cat \"$(dirname \"$0\")/%s.count\" 2>/dev/null || echo 0)\n"
				    "n=$((n + 1))\n"
				    "echo $n > \"$(dirname \"$0\")/%s.count\"\n"
				    "case \"$KUBERNETES_EXEC_INFO\" in *'\"kind\":\"ExecCredential\"'*) ;; *) exit 3 ;; esac\n"
				    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
				    "\"status\":{\"token\":\"%%s-%%s-%%s\",\"expirationTimestamp\":\"%s\"}}\\n' "
				    "\"$1\" \"$PLUGIN_ENV\" \"$n\"\n",
				    name, name, expiry);
	char *rel = vs_xasprintf("exec/bin/%s", name);
	char *path = write_file(rel, script, 0700);

	free(script);
	free(rel);
	return path;
}

static char *exec_kubeconfig(const char *plugin)
{
	char *text = vs_xasprintf("current-context: e\n"
				  "clusters: [{name: c, cluster: {server: 'https://e.example'}}]\n"
				  "users:\n"
				  "- name: u\n"
				  "  user:\n"
				  "    exec:\n"
				  "      apiVersion: client.authentication.k8s.io/v1\n"
				  "      command: ./bin/%s\n"
				  "      args: [arg1]\n"
				  "      env: [{name: PLUGIN_ENV, value: envval}]\n"
				  "      interactiveMode: Never\n"
				  "contexts: [{name: e, context: {cluster: c, user: u}}]\n",
				  plugin);
	char *name = vs_xasprintf("exec/%s.yaml", plugin);
	char *path = write_file(name, text, 0600);

	free(text);
	free(name);
	return path;
}

static char *credential_token(const vs_kube_config *cfg)
{
	vs_kube_credentials cred;
	vs_error err = { 0 };
	char *tok;

	if (vs_kube_config_credentials(cfg, &cred, &err) != 0)
		fail_msg("credentials: %s", err.message);
	tok = vs_xstrdup(cred.token ? cred.token : "(none)");
	vs_kube_credentials_clear(&cred);
	return tok;
}

static void assert_token(const vs_kube_config *cfg, const char *want)
{
	char *tok = credential_token(cfg);

	assert_string_equal(tok, want);
	free(tok);
}

static void test_kube_config__exec_plugin_cached_until_expiry(void **state)
{
	char *long_lived = write_plugin("long", "2999-01-01T00:00:00Z");
	char *expired = write_plugin("expired", "2001-01-01T00:00:00Z");
	char *k1 = exec_kubeconfig("long"), *k2 = exec_kubeconfig("expired");
	vs_kube_config *cfg = load_ok(k1, NULL);

	(void)state;
	setenv("PLUGIN_ENV", "from-parent", 1); /* the kubeconfig's env entry must win */
	/* Run once, then served from the cache until the expiry (far away). */
	assert_token(cfg, "arg1-envval-1");
	assert_token(cfg, "arg1-envval-1");
	/* A 401 makes the client forget the credential: the plugin runs again. */
	vs_kube_config_invalidate(cfg);
	assert_token(cfg, "arg1-envval-2");
	vs_kube_config_free(cfg);

	/* An already expired credential is fetched again for every request. */
	cfg = load_ok(k2, NULL);
	assert_token(cfg, "arg1-envval-1");
	assert_token(cfg, "arg1-envval-2");
	vs_kube_config_free(cfg);
	unsetenv("PLUGIN_ENV");
	free(long_lived);
	free(expired);
	free(k1);
	free(k2);
}

static void test_kube_config__exec_plugin_failures(void **state)
{
	char *bad = write_file("exec/bin/bad", "#!/bin/sh\necho 'not json'\n", 0700);
	char *fails = write_file("exec/bin/fails", "#!/bin/sh\nexit 7\n", 0700);
	char *k1 = exec_kubeconfig("bad"), *k2 = exec_kubeconfig("fails");
	vs_kube_config *cfg = load_ok(k1, NULL);
	vs_kube_credentials cred;
	vs_error err = { 0 };

	(void)state;
	assert_int_equal(vs_kube_config_credentials(cfg, &cred, &err), VS_ECONFIG);
	assert_non_null(strstr(err.message, "ExecCredential"));
	vs_kube_config_free(cfg);
	cfg = load_ok(k2, NULL);
	assert_int_equal(vs_kube_config_credentials(cfg, &cred, &err), VS_ECONFIG);
	assert_non_null(strstr(err.message, "status 7"));
	vs_kube_config_free(cfg);
	free(bad);
	free(fails);
	free(k1);
	free(k2);
}

static void test_kube_config__broken_files(void **state)
{
	char *ok = write_file("broken/ok", file_a, 0600);
	char *no_user = write_file("broken/no-user", "current-context: foo\n"
						     "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
						     "contexts: [{name: foo, context: {cluster: c, user: bar}}]\n",
				   0600);
	char *no_cluster = write_file("broken/no-cluster", "current-context: foo\n"
							   "contexts: [{name: foo, context: {cluster: gone}}]\n",
				      0600);
	char *bad_b64 = write_file("broken/b64", "current-context: foo\n"
						 "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
						 "users: [{name: bar, user: {client-certificate-data: '!!notbase64!!',"
						 " client-key-data: a2V5}}]\n"
						 "contexts: [{name: foo, context: {cluster: c, user: bar}}]\n",
				   0600);
	char *bad_yaml = write_file("broken/yaml", "clusters:\n- name: c\n  cluster: {server: [unclosed\n", 0600);
	char *no_server = write_file("broken/no-server", "current-context: foo\n"
							 "clusters: [{name: c, cluster: {insecure-skip-tls-verify: true}}]\n"
							 "contexts: [{name: foo, context: {cluster: c}}]\n",
				     0600);
	char *no_current = write_file("broken/no-current", "clusters: []\n", 0600);
	char *missing = vs_xasprintf("%s/broken/does-not-exist", tmpdir);

	(void)state;
	load_fails(ok, "nope", "context \"nope\"", "not found");
	load_fails(no_user, NULL, "context \"foo\"", "user \"bar\" not found");
	load_fails(no_cluster, NULL, "context \"foo\"", "cluster \"gone\" not found");
	load_fails(bad_b64, NULL, "user \"bar\"", "client-certificate-data: invalid base64");
	load_fails(bad_yaml, NULL, "line ", "invalid YAML");
	load_fails(no_server, NULL, "cluster \"c\"", "no server");
	load_fails(no_current, NULL, "no current-context", NULL);
	load_fails(missing, NULL, "cannot open", NULL);
	free(ok);
	free(no_user);
	free(no_cluster);
	free(bad_b64);
	free(bad_yaml);
	free(no_server);
	free(no_current);
	free(missing);
}

static void test_kube_config__in_cluster(void **state)
{
	char *root = vs_xasprintf("%s/sa", tmpdir);
	vs_kube_config *cfg = NULL;
	vs_error err = { 0 };

	(void)state;
	free(write_file("sa/token", "sa-token-1\n", 0600));
	free(write_file("sa/ca.crt", "CA\n", 0600));
	free(write_file("sa/namespace", "kube-system\n", 0600));
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(vs_kube_config_in_cluster(root, &cfg, &err), 0);
	assert_string_equal(vs_kube_config_server(cfg), "https://10.96.0.1:443");
	assert_string_equal(vs_kube_config_namespace(cfg), "kube-system");
	assert_non_null(strstr(vs_kube_config_tls(cfg)->ca_file, "/sa/ca.crt"));
	assert_token(cfg, "sa-token-1");
	free(write_file("sa/token", "sa-token-rotated\n", 0600)); /* kubelet rotates the token */
	assert_token(cfg, "sa-token-rotated");
	vs_kube_config_free(cfg);

	/* vs_kube_config_load falls back to in-cluster when there is no kubeconfig at all. */
	setenv("KUBECONFIG", "/nonexistent/kubeconfig", 1);
	{
		vs_kube_config_opts opts = { .in_cluster_root = root };
		assert_int_equal(vs_kube_config_load(&opts, &cfg, &err), 0);
		assert_string_equal(vs_kube_config_server(cfg), "https://10.96.0.1:443");
		vs_kube_config_free(cfg);
	}
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	assert_int_equal(vs_kube_config_in_cluster(root, &cfg, &err), 0);
	assert_string_equal(vs_kube_config_server(cfg), "https://[fd00::1]:443");
	vs_kube_config_free(cfg);

	{
		char *token = vs_xasprintf("%s/token", root);
		unlink(token);
		free(token);
	}
	assert_int_equal(vs_kube_config_in_cluster(root, &cfg, &err), VS_ECONFIG);
	assert_non_null(strstr(err.message, "token"));
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(vs_kube_config_in_cluster(root, &cfg, &err), VS_ECONFIG);
	assert_non_null(strstr(err.message, "KUBERNETES_SERVICE_HOST"));
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kube_config__kubeconfig_env_merge, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_kube_config__home_default, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_kube_config__data_files_and_relative_paths, make_tmpdir,
						remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_kube_config__json_kubeconfig, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_kube_config__token_file_reread, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_kube_config__exec_plugin_cached_until_expiry, make_tmpdir,
						remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_kube_config__exec_plugin_failures, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_kube_config__broken_files, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_kube_config__in_cluster, make_tmpdir, remove_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
