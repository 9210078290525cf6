/*
 * Standard base64, for the *-data fields of a kubeconfig and the data of Secrets.
 */
#include "util.h"

#include <stdlib.h>
#include <string.h>

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
	const char *p = c ? strchr(b64_alphabet, c) : NULL;

	return p ? (int)(p - b64_alphabet) : -1;
}

int vs_base64_decode(const char *in, unsigned char **out, size_t *len, vs_error *err)
{
	size_t n = strlen(in), o = 0;
	unsigned char *buf = vs_xmalloc(n / 4 * 3 + 3);
	unsigned acc = 0;
	int bits = 0;

	for (const char *p = in; *p; p++) {
		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
			continue;
		if (*p == '=')
			break;
		int v = b64_value(*p);
		if (v < 0) {
			free(buf);
			return vs_error_set(err, VS_EINVAL, "invalid base64: unexpected character '%c' at offset %zu",
					    *p, (size_t)(p - in));
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	buf[o] = 0;
	*out = buf;
	*len = o;
	return 0;
}

char *vs_base64_encode(const unsigned char *in, size_t n)
{
	char *out = vs_xmalloc((n + 2) / 3 * 4 + 1), *p = out;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		*p++ = b64_alphabet[(v >> 18) & 63];
		*p++ = b64_alphabet[(v >> 12) & 63];
		*p++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		*p++ = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	*p = '\0';
	return out;
}
