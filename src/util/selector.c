/*
 * Label and field selectors in the text form of the Kubernetes API ("app=web,tier in (a,b),!old"),
 * parsed once and matched against any source of values through a lookup callback, so the client
 * (which builds them) and volshift-sim (which evaluates them) share one grammar.
 */
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum sel_op { SEL_EQ, SEL_NE, SEL_IN, SEL_NOTIN, SEL_EXISTS, SEL_NOT_EXISTS };

struct sel_req {
	char *key;
	enum sel_op op;
	char **values;
	size_t nvalues;
};

struct vs_selector {
	struct sel_req *reqs;
	size_t n;
};

struct sel_parser {
	const char *text;
	const char *p;
	vs_error *err;
};

static void sel_skip_space(struct sel_parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t')
		ps->p++;
}

static bool sel_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '/';
}

/* Reads a key or value word; an empty word is returned as "" (values may be empty). */
static char *sel_word(struct sel_parser *ps)
{
	const char *start;

	sel_skip_space(ps);
	start = ps->p;
	while (sel_word_char(*ps->p))
		ps->p++;
	return vs_xstrndup(start, (size_t)(ps->p - start));
}

static int sel_fail(struct sel_parser *ps, const char *what)
{
	return vs_error_set(ps->err, VS_EINVAL, "selector \"%s\": %s at offset %zu", ps->text, what,
			    (size_t)(ps->p - ps->text));
}

static void sel_add_value(struct sel_req *r, char *v)
{
	r->values = vs_xrealloc(r->values, (r->nvalues + 1) * sizeof(char *));
	r->values[r->nvalues++] = v;
}

static int sel_parse_set(struct sel_parser *ps, struct sel_req *r)
{
	sel_skip_space(ps);
	if (*ps->p != '(')
		return sel_fail(ps, "expected '(' after in/notin");
	ps->p++;
	for (;;) {
		sel_add_value(r, sel_word(ps));
		sel_skip_space(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == ')') {
			ps->p++;
			return 0;
		}
		return sel_fail(ps, "expected ',' or ')' in value set");
	}
}

static bool sel_keyword(struct sel_parser *ps, const char *kw)
{
	size_t n = strlen(kw);
	const char *save = ps->p;

	sel_skip_space(ps);
	if (strncmp(ps->p, kw, n) == 0 && !sel_word_char(ps->p[n])) {
		ps->p += n;
		return true;
	}
	ps->p = save;
	return false;
}

static int sel_parse_req(struct sel_parser *ps, struct sel_req *r, bool fields_only)
{
	sel_skip_space(ps);
	if (*ps->p == '!') {
		ps->p++;
		r->op = SEL_NOT_EXISTS;
		r->key = sel_word(ps);
		return *r->key ? 0 : sel_fail(ps, "expected a key after '!'");
	}
	r->key = sel_word(ps);
	if (!*r->key)
		return sel_fail(ps, "expected a key");
	sel_skip_space(ps);
	if (ps->p[0] == '!' && ps->p[1] == '=') {
		ps->p += 2;
		r->op = SEL_NE;
	} else if (ps->p[0] == '=') {
		ps->p += ps->p[1] == '=' ? 2 : 1;
		r->op = SEL_EQ;
	} else if (!fields_only && sel_keyword(ps, "notin")) {
		r->op = SEL_NOTIN;
		return sel_parse_set(ps, r);
	} else if (!fields_only && sel_keyword(ps, "in")) {
		r->op = SEL_IN;
		return sel_parse_set(ps, r);
	} else if (!fields_only && (*ps->p == ',' || *ps->p == '\0')) {
		r->op = SEL_EXISTS;
		return 0;
	} else {
		return sel_fail(ps, fields_only ? "expected '=', '==' or '!=' (field selectors support only these)"
						: "expected an operator (=, ==, !=, in, notin)");
	}
	sel_add_value(r, sel_word(ps));
	return 0;
}

static int sel_parse(const char *text, bool fields_only, vs_selector **out, vs_error *err)
{
	struct sel_parser ps = { .text = text ? text : "", .p = text ? text : "", .err = err };
	vs_selector *sel = vs_xcalloc(1, sizeof(*sel));
	int rc = 0;

	*out = NULL;
	sel_skip_space(&ps);
	while (*ps.p) {
		sel->reqs = vs_xrealloc(sel->reqs, (sel->n + 1) * sizeof(*sel->reqs));
		struct sel_req *r = &sel->reqs[sel->n++];
		memset(r, 0, sizeof(*r));
		rc = sel_parse_req(&ps, r, fields_only);
		if (rc < 0)
			goto done;
		sel_skip_space(&ps);
		if (*ps.p == ',') {
			ps.p++;
			if (!*ps.p) {
				rc = sel_fail(&ps, "trailing ','");
				goto done;
			}
		} else if (*ps.p) {
			rc = sel_fail(&ps, "expected ',' between requirements");
			goto done;
		}
	}
	*out = sel;
	sel = NULL;
done:
	vs_selector_free(sel);
	return rc;
}

int vs_selector_parse(const char *text, vs_selector **out, vs_error *err)
{
	return sel_parse(text, false, out, err);
}

int vs_selector_parse_fields(const char *text, vs_selector **out, vs_error *err)
{
	return sel_parse(text, true, out, err);
}

void vs_selector_free(vs_selector *sel)
{
	if (!sel)
		return;
	for (size_t i = 0; i < sel->n; i++) {
		free(sel->reqs[i].key);
		for (size_t j = 0; j < sel->reqs[i].nvalues; j++)
			free(sel->reqs[i].values[j]);
		free(sel->reqs[i].values);
	}
	free(sel->reqs);
	free(sel);
}

static bool sel_in(const struct sel_req *r, const char *v)
{
	for (size_t i = 0; v && i < r->nvalues; i++)
		if (strcmp(r->values[i], v) == 0)
			return true;
	return false;
}

static bool sel_req_matches(const struct sel_req *r, const char *v)
{
	switch (r->op) {
	case SEL_EQ: return v && strcmp(v, r->values[0]) == 0;
	case SEL_NE: return !v || strcmp(v, r->values[0]) != 0;
	case SEL_IN: return sel_in(r, v);
	case SEL_NOTIN: return !sel_in(r, v);
	case SEL_EXISTS: return v != NULL;
	case SEL_NOT_EXISTS: return v == NULL;
	}
	return false;
}

bool vs_selector_matches(const vs_selector *sel, vs_selector_lookup lookup, void *ctx)
{
	for (size_t i = 0; sel && i < sel->n; i++)
		if (!sel_req_matches(&sel->reqs[i], lookup(sel->reqs[i].key, ctx)))
			return false;
	return true;
}

static const char *sel_label_lookup(const char *key, void *ctx)
{
	return json_string_value(json_object_get((const json_t *)ctx, key));
}

bool vs_selector_matches_labels(const vs_selector *sel, const json_t *labels)
{
	return vs_selector_matches(sel, sel_label_lookup, (void *)labels);
}

size_t vs_selector_count(const vs_selector *sel)
{
	return sel ? sel->n : 0;
}

const char *vs_selector_key(const vs_selector *sel, size_t i)
{
	return i < vs_selector_count(sel) ? sel->reqs[i].key : NULL;
}
