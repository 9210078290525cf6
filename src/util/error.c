/*
 * Errors as values: the one place where a vs_error is filled, so every message has the same shape.
 */
#include "util.h"

#include <stdio.h>
#include <string.h>

void vs_error_clear(vs_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

static void error_vset(vs_error *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

int vs_error_set(vs_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->http_status = 0;
	err->reason[0] = '\0';
	va_start(ap, fmt);
	error_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int vs_error_set_api(vs_error *err, int http_status, const char *reason, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return VS_EAPI;
	err->http_status = http_status;
	snprintf(err->reason, sizeof(err->reason), "%s", reason ? reason : "");
	va_start(ap, fmt);
	error_vset(err, VS_EAPI, fmt, ap);
	va_end(ap);
	return VS_EAPI;
}

int vs_error_wrap(vs_error *err, const char *fmt, ...)
{
	char prefix[256];
	char old[sizeof(err->message)];
	va_list ap;

	if (!err)
		return VS_EINVAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->message, sizeof(old));
	snprintf(err->message, sizeof(err->message), "%s: %s", prefix, old);
	return err->code;
}

bool vs_error_is(const vs_error *err, const char *reason)
{
	return err && err->code == VS_EAPI && strcmp(err->reason, reason) == 0;
}

const char *vs_error_code_name(int code)
{
	switch (code) {
	case VS_OK: return "ok";
	case VS_EINVAL: return "invalid input";
	case VS_ENOMEM: return "too large";
	case VS_EIO: return "i/o error";
	case VS_ECONFIG: return "configuration error";
	case VS_ENET: return "network error";
	case VS_EAPI: return "API error";
	case VS_ETIMEOUT: return "timed out";
	case VS_ECANCEL: return "cancelled";
	case VS_EBUSY: return "busy";
	case VS_EUNAVAILABLE: return "API server unavailable";
	default: return "unknown error";
	}
}
