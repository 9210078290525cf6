/*
 * yaml: YAML text into jansson values, for kubeconfig files and plan files. libyaml parses; this
 * file composes its events into JSON and remembers where each value and each key began, by JSON
 * pointer, so that code validating the result can point at a line and a column.
 *
 * Plain scalars follow YAML 1.2's core schema: null (empty, ~, null), true and false, decimal
 * integers and finite floats; anything else, and every quoted scalar, is a string. Aliases are
 * expanded into copies, at most YAML_ALIAS_NODES_MAX values in all and never deeper than
 * YAML_DEPTH_MAX, so that a small file cannot grow into a huge or deep one. The strict mode is for
 * files people write by hand to drive actions: a duplicate key, a second document, a merge key
 * (<<) and a tag other than !!str are errors rather than guesses. Text must be UTF-8 in both modes
 * (libyaml checks every byte; a UTF-16 byte order mark is refused here with a clear message).
 */
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define YAML_DEPTH_MAX	     64
#define YAML_ALIAS_NODES_MAX 100000
#define YAML_TAG_STR	     "tag:yaml.org,2002:str"

/* Where a value and, for a mapping member, its key began. */
struct yaml_place {
	vs_yaml_mark value, key;
};

struct vs_yaml_doc {
	json_t *root;
	json_t *index; /* JSON pointer -> index into places */
	struct yaml_place *places;
	size_t nplaces, cap;
};

/* A value an anchor names, for its aliases to copy. */
struct yaml_anchor {
	json_t *value;
	size_t nodes;	 /* values in it, itself included */
	unsigned height; /* levels of collections in it (0 for a scalar) */
};

/* A mapping or sequence being built. */
struct yaml_frame {
	json_t *node;
	size_t path_len; /* length of the pointer of the node's parent */
	char *key;	 /* mapping: the key waiting for its value, or NULL */
	size_t key_len;
	vs_yaml_mark key_mark;
	char *anchor; /* its anchor, registered when it is complete */
	size_t nodes;
	unsigned height;
};

struct yaml_compose {
	unsigned flags;
	vs_yaml_doc *doc;
	struct yaml_frame stack[YAML_DEPTH_MAX];
	unsigned depth;
	vs_buf path;	      /* JSON pointer of the value being built */
	json_t *anchor_index; /* name -> index into anchors */
	struct yaml_anchor *anchors;
	size_t nanchors, anchors_cap;
	size_t alias_nodes;
	int documents;
	bool done; /* lenient mode: a second document ends the input */
	vs_yaml_mark *where;
	vs_error *err;
};

/* ---- marks ------------------------------------------------------------------- */

static vs_yaml_mark mark_of(yaml_mark_t m)
{
	vs_yaml_mark out = { (unsigned)m.line + 1, (unsigned)m.column + 1 };

	return out;
}

/* The line and column of byte offset off of text (columns count characters, as libyaml's do). */
static vs_yaml_mark mark_at_offset(const char *text, size_t len, size_t off)
{
	vs_yaml_mark m = { 1, 1 };

	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			m.line++;
			m.column = 1;
		} else if (((unsigned char)text[i] & 0xC0) != 0x80) {
			m.column++;
		}
	}
	return m;
}

static void doc_place(vs_yaml_doc *d, const char *pointer, vs_yaml_mark value, vs_yaml_mark key)
{
	json_t *at = json_object_get(d->index, pointer);

	if (at) {
		d->places[json_integer_value(at)] = (struct yaml_place){ value, key };
		return;
	}
	if (d->nplaces == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 64;
		d->places = vs_xrealloc(d->places, d->cap * sizeof(*d->places));
	}
	d->places[d->nplaces] = (struct yaml_place){ value, key };
	json_object_set_new(d->index, pointer, json_integer((json_int_t)d->nplaces++));
}

vs_yaml_mark vs_yaml_doc_mark(const vs_yaml_doc *doc, const char *pointer, bool key)
{
	vs_yaml_mark none = { 0, 0 };
	char *p = vs_xstrdup(pointer ? pointer : "");
	json_t *at;

	for (;;) {
		at = json_object_get(doc->index, p);
		if (at) {
			const struct yaml_place *pl = &doc->places[json_integer_value(at)];
			none = key && pl->key.line ? pl->key : pl->value;
			break;
		}
		if (!*p)
			break;
		*strrchr(p, '/') = '\0';
		key = false; /* an ancestor's key is not the place of the member asked for */
	}
	free(p);
	return none;
}

json_t *vs_yaml_doc_root(const vs_yaml_doc *doc)
{
	return doc->root;
}

void vs_yaml_doc_free(vs_yaml_doc *doc)
{
	if (!doc)
		return;
	json_decref(doc->root);
	json_decref(doc->index);
	free(doc->places);
	free(doc);
}

/* ---- scalars ----------------------------------------------------------------------------------- */

static bool all_digits(const char *s, const char *end)
{
	if (s == end)
		return false;
	for (; s < end; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* YAML 1.2 core: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool looks_float(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *e;
	const char *dot, *mant_end;

	if (p < end && (*p == '-' || *p == '+'))
		p++;
	e = p;
	while (e < end && *e != 'e' && *e != 'E')
		e++;
	mant_end = e;
	dot = memchr(p, '.', (size_t)(mant_end - p));
	if (dot) {
		bool before = all_digits(p, dot), after = all_digits(dot + 1, mant_end);
		if (!(before || after) || (dot > p && !before) || (dot + 1 < mant_end && !after))
			return false;
	} else if (!all_digits(p, mant_end)) {
		return false;
	}
	if (e == end)
		return true;
	e++;
	if (e < end && (*e == '-' || *e == '+'))
		e++;
	return all_digits(e, end);
}

static json_t *plain_scalar(const char *s, size_t len)
{
	const char *digits = s + (len && (s[0] == '-' || s[0] == '+'));
	char *end;
	long long v;
	double d;

	if (len == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	if (all_digits(digits, s + len)) {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno == 0 && end == s + len)
			return json_integer(v);
		return json_stringn(s, len); /* out of range: kept as written */
	}
	if (looks_float(s, len)) {
		errno = 0;
		d = strtod(s, &end);
		if (end == s + len && isfinite(d))
			return json_real(d);
	}
	return json_stringn(s, len);
}

static int compose_fail(struct yaml_compose *cp, vs_yaml_mark at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int compose_fail(struct yaml_compose *cp, vs_yaml_mark at, const char *fmt, ...)
{
	char msg[sizeof(cp->err->message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cp->where)
		*cp->where = at;
	return vs_error_set(cp->err, VS_EINVAL, "%s", msg);
}

/* The JSON value of a scalar event into *out. */
static int scalar_value(struct yaml_compose *cp, const yaml_event_t *ev, json_t **out)
{
	const char *s = (const char *)ev->data.scalar.value, *tag = (const char *)ev->data.scalar.tag;
	size_t len = ev->data.scalar.length;
	vs_yaml_mark at = mark_of(ev->start_mark);
	bool as_string = tag && (!strcmp(tag, YAML_TAG_STR) || !strcmp(tag, "!"));

	if (memchr(s, '\0', len))
		return compose_fail(cp, at, "a string holds a NUL character (\\0)");
	if (tag && !as_string && (cp->flags & VS_YAML_STRICT))
		return compose_fail(cp, at, "the tag %s is not supported (only !!str)", tag);
	*out = !as_string && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(s, len)
									      : json_stringn(s, len);
	return *out ? 0 : compose_fail(cp, at, "not valid UTF-8");
}

/* ---- composing --------------------------------------------------------------------------------- */

static struct yaml_frame *top(struct yaml_compose *cp)
{
	return cp->depth ? &cp->stack[cp->depth - 1] : NULL;
}

/*
 * Make room for the next value at mark: its pointer appended to cp->path (the previous length in
 * *saved) and its place recorded. A mapping's key must be waiting.
 */
static int child_begin(struct yaml_compose *cp, vs_yaml_mark mark, size_t *saved)
{
	struct yaml_frame *f = top(cp);
	vs_yaml_mark key_mark = { 0, 0 };
	char index[24];

	*saved = cp->path.len;
	if (f && json_is_array(f->node)) {
		snprintf(index, sizeof(index), "%zu", json_array_size(f->node));
		vs_json_pointer_push(&cp->path, index, strlen(index));
	} else if (f) {
		vs_json_pointer_push(&cp->path, f->key, f->key_len);
		key_mark = f->key_mark;
		if ((cp->flags & VS_YAML_STRICT) && json_object_getn(f->node, f->key, f->key_len)) {
			vs_yaml_mark first = vs_yaml_doc_mark(cp->doc, cp->path.data, true);
			return compose_fail(cp, key_mark, "duplicate key \"%s\" (first at line %u)", f->key,
					    first.line);
		}
	}
	doc_place(cp->doc, cp->path.data ? cp->path.data : "", mark, key_mark);
	return 0;
}

/* Put value (stolen) where child_begin made room, counting nodes and levels up the stack. */
static void child_end(struct yaml_compose *cp, json_t *value, size_t nodes, unsigned height, size_t saved)
{
	struct yaml_frame *f = top(cp);

	cp->path.len = saved;
	if (cp->path.data)
		cp->path.data[saved] = '\0';
	if (!f) {
		json_decref(cp->doc->root);
		cp->doc->root = value;
		return;
	}
	if (json_is_array(f->node)) {
		json_array_append_new(f->node, value);
	} else {
		json_object_setn_new(f->node, f->key, f->key_len, value);
		free(f->key);
		f->key = NULL;
	}
	f->nodes += nodes;
	if (height + 1 > f->height)
		f->height = height + 1;
}

static void anchor_set(struct yaml_compose *cp, const char *name, const json_t *value, size_t nodes, unsigned height)
{
	json_t *at = json_object_get(cp->anchor_index, name);
	struct yaml_anchor *a;

	if (at) {
		a = &cp->anchors[json_integer_value(at)];
		json_decref(a->value);
	} else {
		if (cp->nanchors == cp->anchors_cap) {
			cp->anchors_cap = cp->anchors_cap ? 2 * cp->anchors_cap : 16;
			cp->anchors = vs_xrealloc(cp->anchors, cp->anchors_cap * sizeof(*cp->anchors));
		}
		json_object_set_new(cp->anchor_index, name, json_integer((json_int_t)cp->nanchors));
		a = &cp->anchors[cp->nanchors++];
	}
	a->value = json_incref((json_t *)value);
	a->nodes = nodes;
	a->height = height;
}

/* A scalar becomes the waiting key of a mapping. */
static int take_key(struct yaml_compose *cp, struct yaml_frame *f, const yaml_event_t *ev)
{
	vs_yaml_mark at = mark_of(ev->start_mark);
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	if (memchr(s, '\0', len))
		return compose_fail(cp, at, "a key holds a NUL character (\\0)");
	if ((cp->flags & VS_YAML_STRICT) && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(s, "<<"))
		return compose_fail(cp, at, "merge keys (<<) are not supported: write the fields out");
	f->key = vs_xstrndup(s, len);
	f->key_len = len;
	f->key_mark = at;
	if (ev->data.scalar.anchor) {
		json_t *v = json_stringn(s, len);
		anchor_set(cp, (const char *)ev->data.scalar.anchor, v, 1, 0);
		json_decref(v);
	}
	return 0;
}

static bool wants_key(struct yaml_compose *cp)
{
	struct yaml_frame *f = top(cp);

	return f && json_is_object(f->node) && !f->key;
}

static int compose_scalar(struct yaml_compose *cp, const yaml_event_t *ev)
{
	json_t *v;
	size_t saved;
	int rc;

	if (wants_key(cp))
		return take_key(cp, top(cp), ev);
	rc = scalar_value(cp, ev, &v);
	if (rc < 0)
		return rc;
	rc = child_begin(cp, mark_of(ev->start_mark), &saved);
	if (rc < 0) {
		json_decref(v);
		return rc;
	}
	if (ev->data.scalar.anchor)
		anchor_set(cp, (const char *)ev->data.scalar.anchor, v, 1, 0);
	child_end(cp, v, 1, 0, saved);
	return 0;
}

static int compose_alias(struct yaml_compose *cp, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	vs_yaml_mark at = mark_of(ev->start_mark);
	json_t *idx = json_object_get(cp->anchor_index, name);
	const struct yaml_anchor *a;
	size_t saved;
	int rc;

	if (wants_key(cp))
		return compose_fail(cp, at, "an alias (*%s) cannot be a mapping key", name);
	if (!idx)
		return compose_fail(cp, at, "the alias *%s names no complete anchor before it", name);
	a = &cp->anchors[json_integer_value(idx)];
	if (cp->depth + a->height > YAML_DEPTH_MAX)
		return compose_fail(cp, at, "the alias *%s nests values more than %d levels deep", name,
				    YAML_DEPTH_MAX);
	cp->alias_nodes += a->nodes;
	if (cp->alias_nodes > YAML_ALIAS_NODES_MAX)
		return compose_fail(cp, at, "aliases expand to more than %d values", YAML_ALIAS_NODES_MAX);
	rc = child_begin(cp, at, &saved);
	if (rc < 0)
		return rc;
	child_end(cp, json_deep_copy(a->value), a->nodes, a->height, saved);
	return 0;
}

static int compose_open(struct yaml_compose *cp, const yaml_event_t *ev)
{
	bool mapping = ev->type == YAML_MAPPING_START_EVENT;
	const char *tag = (const char *)(mapping ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
	const char *anchor = (const char *)(mapping ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
	const char *want = mapping ? "tag:yaml.org,2002:map" : "tag:yaml.org,2002:seq";
	vs_yaml_mark at = mark_of(ev->start_mark);
	struct yaml_frame *f;
	size_t saved;
	int rc;

	if (wants_key(cp))
		return compose_fail(cp, at, "a mapping key must be a scalar, not a %s", mapping ? "mapping" : "list");
	if (tag && strcmp(tag, want) != 0 && strcmp(tag, "!") != 0 && (cp->flags & VS_YAML_STRICT))
		return compose_fail(cp, at, "the tag %s is not supported", tag);
	if (cp->depth == YAML_DEPTH_MAX)
		return compose_fail(cp, at, "values nested more than %d levels deep", YAML_DEPTH_MAX);
	rc = child_begin(cp, at, &saved);
	if (rc < 0)
		return rc;
	f = &cp->stack[cp->depth++];
	*f = (struct yaml_frame){ .node = mapping ? json_object() : json_array(),
				  .path_len = saved,
				  .nodes = 1,
				  .height = 1,
				  .anchor = anchor ? vs_xstrdup(anchor) : NULL };
	return 0;
}

static void frame_clear(struct yaml_frame *f)
{
	json_decref(f->node);
	free(f->key);
	free(f->anchor);
	memset(f, 0, sizeof(*f));
}

static int compose_close(struct yaml_compose *cp)
{
	struct yaml_frame f = cp->stack[--cp->depth];

	if (f.anchor)
		anchor_set(cp, f.anchor, f.node, f.nodes, f.height);
	child_end(cp, f.node, f.nodes, f.height, f.path_len);
	f.node = NULL;
	frame_clear(&f);
	return 0;
}

static int compose_event(struct yaml_compose *cp, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++cp->documents == 1)
			return 0;
		if (cp->flags & VS_YAML_STRICT)
			return compose_fail(cp, mark_of(ev->start_mark),
					    "a second document (---): the file must hold one document");
		cp->done = true;
		return 0;
	case YAML_SCALAR_EVENT: return compose_scalar(cp, ev);
	case YAML_ALIAS_EVENT: return compose_alias(cp, ev);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: return compose_open(cp, ev);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: return compose_close(cp);
	default: return 0;
	}
}

/* libyaml's error as ours: what went wrong, and where. */
static int parser_fail(struct yaml_compose *cp, const yaml_parser_t *p, const char *text, size_t len)
{
	vs_yaml_mark at =
		p->error == YAML_READER_ERROR ? mark_at_offset(text, len, p->problem_offset) : mark_of(p->problem_mark);

	return compose_fail(cp, at, "invalid YAML: %s%s%s", p->problem ? p->problem : "syntax error",
			    p->context ? " " : "", p->context ? p->context : "");
}

static void compose_clear(struct yaml_compose *cp)
{
	while (cp->depth > 0)
		frame_clear(&cp->stack[--cp->depth]);
	for (size_t i = 0; i < cp->nanchors; i++)
		json_decref(cp->anchors[i].value);
	free(cp->anchors);
	json_decref(cp->anchor_index);
	vs_buf_free(&cp->path);
}

static int compose_all(struct yaml_compose *cp, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	bool end = false;
	int rc = 0;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (rc == 0 && !end && !cp->done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = parser_fail(cp, &parser, text, len);
			break;
		}
		end = ev.type == YAML_STREAM_END_EVENT;
		rc = compose_event(cp, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

int vs_yaml_parse(const char *text, size_t len, unsigned flags, vs_yaml_doc **out, vs_yaml_mark *where, vs_error *err)
{
	struct yaml_compose cp = { .flags = flags, .where = where, .err = err };
	static const vs_yaml_mark first = { 1, 1 };
	int rc;

	*out = NULL;
	if (where)
		*where = (vs_yaml_mark){ 0, 0 };
	cp.doc = vs_xcalloc(1, sizeof(*cp.doc));
	cp.doc->index = json_object();
	cp.anchor_index = json_object();
	vs_buf_init(&cp.path, 0);
	if (len >= 2 && (((unsigned char)text[0] == 0xFF && (unsigned char)text[1] == 0xFE) ||
			 ((unsigned char)text[0] == 0xFE && (unsigned char)text[1] == 0xFF))) {
		rc = compose_fail(&cp, first,
				  "the text is UTF-16 (it starts with a byte order mark): save it as UTF-8");
		goto done;
	}
	rc = compose_all(&cp, text, len);
	if (rc == 0 && !cp.doc->root)
		cp.doc->root = json_null();
done:
	compose_clear(&cp);
	if (rc < 0) {
		vs_yaml_doc_free(cp.doc);
		return rc;
	}
	*out = cp.doc;
	return 0;
}
