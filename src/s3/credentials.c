/*
 * credentials: the access key of an S3 endpoint, from an AWS shared-credentials file (what the aws
 * CLI writes to ~/.aws/credentials) or from a Kubernetes Secret. Errors name the file or Secret,
 * the profile and the line, never a value: a secret key must not reach a log, an event or a
 * terminal.
 */
#include "s3/s3.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define CRED_FILE_MAX ((size_t)1 << 20)

void vs_s3_credentials_wipe(vs_s3_credentials *c)
{
	if (c)
		explicit_bzero(c, sizeof(*c));
}

/* Trim s[0..*n) in place of its pointer and length. */
static const char *cred_trim(const char *s, size_t *n)
{
	while (*n && isspace((unsigned char)s[0])) {
		s++;
		(*n)--;
	}
	while (*n && isspace((unsigned char)s[*n - 1]))
		(*n)--;
	return s;
}

static bool cred_eq(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncmp(s, word, n) == 0;
}

/* Copy a value into dst (cap bytes with its NUL); false when it does not fit or holds a NUL. */
static bool cred_copy(char *dst, size_t cap, const char *v, size_t n)
{
	if (n == 0 || n >= cap || memchr(v, '\0', n))
		return false;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return true;
}

/* One "key = value" line of the profile we want. */
static int cred_key(const char *key, size_t klen, const char *val, size_t vlen, vs_s3_credentials *out,
		    const char *what, int line, vs_error *err)
{
	char *dst = NULL;
	size_t cap = 0;

	if (cred_eq(key, klen, "aws_access_key_id")) {
		dst = out->access_key_id;
		cap = sizeof(out->access_key_id);
	} else if (cred_eq(key, klen, "aws_secret_access_key")) {
		dst = out->secret_access_key;
		cap = sizeof(out->secret_access_key);
	} else {
		return 0; /* aws_session_token, region, ...: not ours */
	}
	if (!cred_copy(dst, cap, val, vlen))
		return vs_error_set(err, VS_EINVAL, "%s line %d: the value of %.*s is empty or too long", what, line,
				    (int)klen, key);
	return 0;
}

int vs_s3_credentials_parse(const char *text, size_t len, const char *what, const char *profile,
			    vs_s3_credentials *out, vs_error *err)
{
	const char *want = profile && *profile ? profile : "default";
	const char *p = text, *end = text + len;
	bool in_profile = false, seen = false;
	int line = 0, rc = 0;

	memset(out, 0, sizeof(*out));
	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *s = cred_trim(p, &n);

		line++;
		p = nl ? nl + 1 : end;
		if (n == 0 || s[0] == '#' || s[0] == ';')
			continue;
		if (s[0] == '[') {
			if (s[n - 1] != ']') {
				rc = vs_error_set(err, VS_EINVAL, "%s line %d: a section header without ']'", what, line);
				break;
			}
			size_t sn = n - 2;
			const char *name = cred_trim(s + 1, &sn);
			/* ~/.aws/config spells profiles "[profile NAME]"; accept that too */
			if (sn > 8 && strncmp(name, "profile ", 8) == 0) {
				name += 8;
				sn -= 8;
				name = cred_trim(name, &sn);
			}
			in_profile = cred_eq(name, sn, want);
			seen = seen || in_profile;
			continue;
		}
		const char *eq = memchr(s, '=', n);
		if (!eq) {
			rc = vs_error_set(err, VS_EINVAL, "%s line %d: neither \"key = value\" nor \"[profile]\"", what,
					  line);
			break;
		}
		if (!in_profile)
			continue;
		size_t klen = (size_t)(eq - s), vlen = n - klen - 1;
		const char *key = cred_trim(s, &klen), *val = cred_trim(eq + 1, &vlen);
		rc = cred_key(key, klen, val, vlen, out, what, line, err);
	}
	if (rc == 0 && !seen)
		rc = vs_error_set(err, VS_EINVAL, "%s: no profile [%s]", what, want);
	else if (rc == 0 && (!out->access_key_id[0] || !out->secret_access_key[0]))
		rc = vs_error_set(err, VS_EINVAL, "%s: profile [%s] lacks %s", what, want,
				  out->access_key_id[0] ? "aws_secret_access_key" : "aws_access_key_id");
	if (rc < 0)
		vs_s3_credentials_wipe(out);
	return rc;
}

int vs_s3_credentials_load_file(const char *path, const char *profile, vs_s3_credentials *out, vs_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = vs_file_read(path, CRED_FILE_MAX, &text, &len, err);

	if (rc < 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	rc = vs_s3_credentials_parse(text, len, path, profile, out, err);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

/* data[key] of secret, base64-decoded, into dst. */
static int cred_secret_key(const json_t *secret, const char *key, char *dst, size_t cap, const char *what,
			   vs_error *err)
{
	const json_t *data = json_object_get(secret, "data");
	const char *b64 = json_string_value(json_object_get(data, key));
	unsigned char *raw = NULL;
	size_t n = 0;
	int rc;

	if (!b64)
		return vs_error_set(err, VS_EINVAL, "Secret %s has no key %s", what, key);
	if (vs_base64_decode(b64, &raw, &n, err) < 0)
		return vs_error_set(err, VS_EINVAL, "Secret %s: key %s is not base64", what, key);
	/* a trailing newline is what `echo ... | base64` leaves */
	size_t t = n;
	const char *v = cred_trim((const char *)raw, &t);
	rc = cred_copy(dst, cap, v, t) ? 0
				       : vs_error_set(err, VS_EINVAL, "Secret %s: key %s is empty or too long", what, key);
	explicit_bzero(raw, n);
	free(raw);
	return rc;
}

int vs_s3_credentials_from_secret(const json_t *secret, vs_s3_credentials *out, vs_error *err)
{
	char what[300];
	int rc;

	snprintf(what, sizeof(what), "%s/%s", vs_json_str_or(secret, "metadata.namespace", "?"),
		 vs_json_str_or(secret, "metadata.name", "?"));
	memset(out, 0, sizeof(*out));
	rc = cred_secret_key(secret, "access-key-id", out->access_key_id, sizeof(out->access_key_id), what, err);
	if (rc == 0)
		rc = cred_secret_key(secret, "secret-access-key", out->secret_access_key,
				     sizeof(out->secret_access_key), what, err);
	if (rc < 0)
		vs_s3_credentials_wipe(out);
	return rc;
}

int vs_s3_secret_spec(const char *spec, char **ns, char **name, bool *is_secret, vs_error *err)
{
	const char *rest, *slash;

	*ns = *name = NULL;
	*is_secret = vs_str_has_prefix(spec, "secret:");
	if (!*is_secret)
		return 0;
	rest = spec + 7;
	slash = strchr(rest, '/');
	if (!slash || slash == rest || !slash[1] || strchr(slash + 1, '/'))
		return vs_error_set(err, VS_EINVAL, "\"%s\": expected secret:NAMESPACE/NAME", spec);
	*ns = vs_xstrndup(rest, (size_t)(slash - rest));
	*name = vs_xstrdup(slash + 1);
	return 0;
}

int vs_s3_credentials_resolve(const char *spec, const char *profile, vs_kube_client *kube, vs_s3_credentials *out,
			      vs_error *err)
{
	char *ns = NULL, *name = NULL;
	bool is_secret = false;
	json_t *secret = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = vs_s3_secret_spec(spec, &ns, &name, &is_secret, err)) < 0)
		return rc;
	if (!is_secret)
		return vs_s3_credentials_load_file(spec, profile, out, err);
	if (!kube) {
		rc = vs_error_set(err, VS_EINVAL, "%s: a Secret needs a cluster to read it from", spec);
		goto done;
	}
	if ((rc = vs_kube_get(kube, &VS_KUBE_SECRETS, ns, name, &secret, err)) < 0)
		goto done;
	rc = vs_s3_credentials_from_secret(secret, out, err);
done:
	if (secret) {
		/* the reply holds the keys too */
		json_t *data = json_object_get(secret, "data");
		const char *k;
		json_t *v;
		json_object_foreach(data, k, v)
		{
			if (json_is_string(v))
				explicit_bzero((char *)json_string_value(v), json_string_length(v));
		}
		json_decref(secret);
	}
	free(ns);
	free(name);
	return rc;
}
