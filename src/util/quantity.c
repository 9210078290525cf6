/*
 * Resource quantities as Kubernetes writes them (a decimal number, then a binary suffix Ki..Ei, a
 * decimal suffix k, M, G, T, P, E, or an exponent e3/E3), and sizes formatted for people.
 */
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct quantity_suffix {
	const char *text;
	double factor;
};

static const struct quantity_suffix quantity_suffixes[] = {
	{ "Ki", 1024.0 }, { "Mi", 1048576.0 }, { "Gi", 1073741824.0 }, { "Ti", 1099511627776.0 },
	{ "Pi", 1125899906842624.0 }, { "Ei", 1152921504606846976.0 }, { "k", 1e3 }, { "M", 1e6 }, { "G", 1e9 },
	{ "T", 1e12 }, { "P", 1e15 }, { "E", 1e18 }, { "m", 1e-3 }, { "", 1.0 },
};

int vs_quantity_parse(const char *text, int64_t *out, vs_error *err)
{
	char *end = NULL;
	double value, factor = 0;

	if (!text || !*text || strchr(" \t+", text[0]))
		goto bad;
	value = strtod(text, &end);
	if (end == text || value < 0 || strspn(text, "0123456789.-eE") == 0)
		goto bad;
	for (size_t i = 0; i < sizeof(quantity_suffixes) / sizeof(quantity_suffixes[0]); i++) {
		if (strcmp(end, quantity_suffixes[i].text) == 0) {
			factor = quantity_suffixes[i].factor;
			break;
		}
	}
	if (factor == 0 || value * factor >= 9.2e18)
		goto bad;
	*out = (int64_t)ceil(value * factor);
	return 0;
bad:
	return vs_error_set(err, VS_EINVAL, "\"%s\" is not a storage quantity (examples: 10Gi, 500M, 1048576)",
			    text ? text : "");
}

void vs_bytes_format(int64_t bytes, char out[32])
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(out, 32, "%lld B", (long long)bytes);
		return;
	}
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0]))
		v /= 1024, u++;
	snprintf(out, 32, "%.1f %s", v, units[u]);
}
