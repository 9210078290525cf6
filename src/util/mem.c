/*
 * Allocation that aborts on exhaustion, string helpers and the capped growable buffer used for
 * everything that arrives from a network or a process.
 */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mem_die(size_t n)
{
	fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", n);
	abort();
}

void *vs_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		mem_die(n);
	return p;
}

void *vs_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		mem_die(n * size);
	return p;
}

void *vs_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		mem_die(n);
	return q;
}

char *vs_xstrdup(const char *s)
{
	return vs_xstrndup(s, strlen(s));
}

char *vs_xstrndup(const char *s, size_t n)
{
	char *p = vs_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *vs_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *out = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&out, fmt, ap);
	va_end(ap);
	if (n < 0)
		mem_die(strlen(fmt));
	return out;
}

bool vs_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool vs_str_has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

void vs_buf_init(vs_buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
}

static int buf_reserve(vs_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (b->limit && b->len + extra > b->limit)
		return VS_ENOMEM;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	b->data = vs_xrealloc(b->data, cap);
	b->cap = cap;
	return 0;
}

int vs_buf_append(vs_buf *b, const void *data, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return VS_ENOMEM;
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int vs_buf_puts(vs_buf *b, const char *s)
{
	return vs_buf_append(b, s, strlen(s));
}

int vs_buf_shell_word(vs_buf *b, const char *s)
{
	int rc = vs_buf_puts(b, "'");

	for (const char *q; rc == 0 && (q = strchr(s, '\'')) != NULL; s = q + 1) {
		rc = vs_buf_append(b, s, (size_t)(q - s));
		if (rc == 0)
			rc = vs_buf_puts(b, "'\\''");
	}
	if (rc == 0)
		rc = vs_buf_puts(b, s);
	return rc == 0 ? vs_buf_puts(b, "'") : rc;
}

int vs_buf_printf(vs_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return VS_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void vs_buf_reset(vs_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void vs_buf_free(vs_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *vs_buf_steal(vs_buf *b)
{
	char *p = b->data ? b->data : vs_xstrdup("");

	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
