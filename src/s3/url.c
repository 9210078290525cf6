/*
 * url: the text of S3 requests. SigV4 signs the request line as the server canonicalizes it, and
 * libcurl signs the path and query it is given as they are, so they are built here in canonical
 * form: each byte but the unreserved ones percent-encoded with upper-case hex, the query sorted by
 * name and value. Also the parsing of a sync's SOURCE and DEST.
 */
#include "s3/s3.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool url_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

int vs_s3_uri_encode(vs_buf *out, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
		int rc = (url_unreserved(*p) || (keep_slash && *p == '/')) ? vs_buf_append(out, p, 1)
									   : vs_buf_append(out, esc, 3);
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct url_pair {
	char *name, *value; /* encoded */
};

static int url_pair_cmp(const void *a, const void *b)
{
	const struct url_pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static char *url_encoded(const char *s)
{
	vs_buf b;

	vs_buf_init(&b, 0);
	vs_s3_uri_encode(&b, s ? s : "", false);
	return vs_buf_steal(&b);
}

int vs_s3_query_canonical(vs_buf *out, const vs_s3_param *params, size_t n)
{
	struct url_pair *pairs = vs_xcalloc(n ? n : 1, sizeof(*pairs));
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		pairs[i].name = url_encoded(params[i].name);
		pairs[i].value = url_encoded(params[i].value);
	}
	qsort(pairs, n, sizeof(*pairs), url_pair_cmp);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = vs_buf_printf(out, "%s%s=%s", i ? "&" : "", pairs[i].name, pairs[i].value);
	for (size_t i = 0; i < n; i++) {
		free(pairs[i].name);
		free(pairs[i].value);
	}
	free(pairs);
	return rc;
}

static int url_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int vs_s3_url_decode(const char *s, bool form, char **out, vs_error *err)
{
	size_t n = strlen(s), j = 0;
	char *d = vs_xmalloc(n + 1);

	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 1 < n ? url_hex(s[i + 1]) : -1;
			int lo = i + 2 < n ? url_hex(s[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(d);
				return vs_error_set(err, VS_EINVAL, "bad percent-escape at byte %zu", i);
			}
			d[j++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			d[j++] = (form && s[i] == '+') ? ' ' : s[i];
		}
	}
	d[j] = '\0';
	*out = d;
	return 0;
}

/* S3's rule for bucket names (the DNS-compatible one): 3 to 63 of a-z 0-9 . -, starting and ending
 * with a letter or digit. */
static bool url_bucket_ok(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63 || !isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
		return false;
	for (const char *p = b; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '.' || *p == '-'))
			return false;
	return true;
}

void vs_s3_location_clear(vs_s3_location *loc)
{
	if (!loc)
		return;
	free(loc->endpoint);
	free(loc->bucket);
	free(loc->prefix);
	memset(loc, 0, sizeof(*loc));
}

int vs_s3_location_parse(const char *url, vs_s3_location *out, vs_error *err)
{
	const char *rest, *slash;
	char *path = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (vs_str_has_prefix(url, "http://"))
		rest = url + 7;
	else if (vs_str_has_prefix(url, "https://"))
		rest = url + 8;
	else
		return vs_error_set(err, VS_EINVAL, "%s: not an http:// or https:// URL", url);
	if (strpbrk(url, "?#"))
		return vs_error_set(err, VS_EINVAL, "%s: a query or fragment has no meaning here", url);
	slash = strchr(rest, '/');
	if ((slash ? (size_t)(slash - rest) : strlen(rest)) == 0 || strchr("@:", rest[0]))
		return vs_error_set(err, VS_EINVAL, "%s: no host", url);
	out->endpoint = vs_xstrndup(url, slash ? (size_t)(slash - url) : strlen(url));
	if (strchr(out->endpoint + (rest - url), '@')) {
		rc = vs_error_set(err, VS_EINVAL, "%s: credentials do not go in the URL; use --*-credentials", "the URL");
		goto done;
	}
	out->prefix = vs_xstrdup("");
	if (!slash || !slash[1])
		goto done;
	if ((rc = vs_s3_url_decode(slash + 1, false, &path, err)) < 0) {
		vs_error_wrap(err, "%s", out->endpoint);
		goto done;
	}
	char *p = strchr(path, '/');
	if (p)
		*p++ = '\0';
	if (!url_bucket_ok(path)) {
		rc = vs_error_set(err, VS_EINVAL, "%s: \"%s\" is not a bucket name (3-63 of a-z 0-9 . -)", out->endpoint,
				  path);
		goto done;
	}
	out->bucket = vs_xstrdup(path);
	if (p && *p) {
		free(out->prefix);
		out->prefix = vs_str_has_suffix(p, "/") ? vs_xstrdup(p) : vs_xasprintf("%s/", p);
	}
done:
	free(path);
	if (rc < 0)
		vs_s3_location_clear(out);
	return rc;
}

bool vs_s3_etag_is_md5(const char *etag)
{
	size_t n = strlen(etag);

	if (n != 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)etag[i]))
			return false;
	return true;
}
