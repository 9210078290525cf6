/*
 * protobuf: decodes the Kubernetes protobuf request bodies that kubectl's generators send into the
 * JSON the JSON encoding of the same object has (see protobuf.h). kube-apiserver decodes them into
 * Go structs and so silently drops fields it does not know; volshift-sim refuses a body with a
 * field its tables (protobuf_schema.c) do not know, naming it, because a silent drop would leave
 * an object other than the one the client asked for.
 *
 * The wire format: varint keys (field number << 3 | wire type), then varints or length-delimited
 * bytes, the only wire types of the known fields; proto2 as go-to-protobuf writes it (every
 * non-pointer field written, zero or not). The tables are not recursive, so nesting is bounded by
 * them. JSON follows encoding/json on the Go types: zero scalars left out unless the field is a pointer or has no
 * omitempty (SIM_PB_ZERO), embedded structs always written, Time as RFC 3339 or null, IntOrString as a number or a
 * string.
 */
#include "protobuf.h"

#include <string.h>

/* The envelope: 4 magic bytes before a runtime.Unknown. */
static const uint8_t pb_magic[4] = { 'k', '8', 's', 0 };
/* Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years RFC 3339 can write. */
#define PB_TIME_MIN (-62135596800LL)
#define PB_TIME_MAX 253402300799LL

enum { WT_VARINT = 0, WT_LEN = 2 };

/* The messages whose JSON form is not an object: decoded as one, then converted. */
static const sim_pb_field time_fields[] = {
	{ 1, "seconds", SIM_PB_INT64, 0, NULL },
	{ 2, "nanos", SIM_PB_INT32, 0, NULL },
};
static const sim_pb_message time_msg = { "io.k8s.apimachinery.pkg.apis.meta.v1.Time", time_fields, 2 };
static const sim_pb_field intstr_fields[] = {
	{ 1, "type", SIM_PB_INT64, 0, NULL },
	{ 2, "intVal", SIM_PB_INT32, 0, NULL },
	{ 3, "strVal", SIM_PB_STRING, 0, NULL },
};
static const sim_pb_message intstr_msg = { "io.k8s.apimachinery.pkg.util.intstr.IntOrString", intstr_fields, 3 };
static const sim_pb_field quantity_fields[] = {
	{ 1, "string", SIM_PB_STRING, 0, NULL },
};
static const sim_pb_message quantity_msg = { "io.k8s.apimachinery.pkg.api.resource.Quantity", quantity_fields, 1 };
static const sim_pb_field typemeta_fields[] = {
	{ 1, "apiVersion", SIM_PB_STRING, 0, NULL },
	{ 2, "kind", SIM_PB_STRING, 0, NULL },
};
static const sim_pb_message typemeta_msg = { "io.k8s.apimachinery.pkg.runtime.TypeMeta", typemeta_fields, 2 };
static const sim_pb_field unknown_fields[] = {
	{ 1, "typeMeta", SIM_PB_MESSAGE, 0, &typemeta_msg },
	{ 2, "raw", SIM_PB_BYTES, 0, NULL },
	{ 3, "contentEncoding", SIM_PB_STRING, 0, NULL },
	{ 4, "contentType", SIM_PB_STRING, 0, NULL },
};
static const sim_pb_message unknown_msg = { "io.k8s.apimachinery.pkg.runtime.Unknown", unknown_fields, 4 };

/* The envelope's runtime.Unknown: the object's type, and its message as it is. */
struct envelope {
	json_t *fields;	    /* typeMeta, contentEncoding, contentType */
	const uint8_t *raw; /* NULL (and raw_len 0) when the body has none */
	size_t raw_len;
};

/* A decoding in progress. */
struct pb_dec {
	const uint8_t *start; /* of the message being decoded, for offsets in messages */
	const char *what;     /* "apps/v1 Deployment", for the errors */
	vs_error *err;
};

struct pb_reader {
	const uint8_t *p, *end;
};

static int malformed(struct pb_dec *d, const sim_pb_message *m, const char *why)
{
	return vs_error_set_api(d->err, 400, "BadRequest",
				"the body of the request was in an unknown format: protobuf %s in %s (%s)", why,
				m->name, d->what);
}

static int read_varint(struct pb_reader *r, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
		uint8_t b = *r->p++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

static int read_bytes(struct pb_reader *r, const uint8_t **data, size_t *n)
{
	uint64_t len;

	if (read_varint(r, &len) != 0 || len > (uint64_t)(r->end - r->p))
		return -1;
	*data = r->p;
	*n = (size_t)len;
	r->p += len;
	return 0;
}

static const sim_pb_field *field_of(const sim_pb_message *m, uint32_t number)
{
	for (size_t i = 0; i < m->nfields; i++)
		if (m->fields[i].number == number)
			return &m->fields[i];
	return NULL;
}

static bool is_varint_type(enum sim_pb_type t)
{
	return t == SIM_PB_INT32 || t == SIM_PB_INT64 || t == SIM_PB_BOOL;
}

static int decode_message(struct pb_dec *d, const sim_pb_message *m, const uint8_t *p, size_t n, json_t *obj);

/* A message of m into a new object in *out. */
static int decode_object(struct pb_dec *d, const sim_pb_message *m, const uint8_t *p, size_t n, json_t **out)
{
	int rc;

	*out = json_object();
	if ((rc = decode_message(d, m, p, n, *out)) != 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* A Time, IntOrString or Quantity in its JSON form (a new reference in *out). */
static int decode_special(struct pb_dec *d, enum sim_pb_type type, const uint8_t *p, size_t n, json_t **out)
{
	const sim_pb_message *m = type == SIM_PB_TIME ? &time_msg : type == SIM_PB_INTSTR ? &intstr_msg : &quantity_msg;
	json_t *o = NULL;
	int rc = decode_object(d, m, p, n, &o);

	if (rc != 0)
		return rc;
	if (type == SIM_PB_TIME) {
		long long s = (long long)vs_json_int(o, "seconds", 0), ns = (long long)vs_json_int(o, "nanos", 0);
		char text[32];
		if (s < PB_TIME_MIN || s > PB_TIME_MAX) {
			rc = malformed(d, m, "time out of range");
		} else if (s == 0 && ns == 0) {
			*out = json_null(); /* the zero Time: its JSON is null */
		} else {
			vs_time_format(s, text);
			*out = json_string(text);
		}
	} else if (type == SIM_PB_INTSTR) {
		*out = vs_json_int(o, "type", 0) == 1 ? json_string(vs_json_str_or(o, "strVal", ""))
						      : json_integer(vs_json_int(o, "intVal", 0));
	} else {
		*out = json_string(vs_json_str_or(o, "string", "0"));
	}
	json_decref(o);
	return rc;
}

/* The value of field f, of wire type wt, into *out (a new reference); *zero when it is its type's
 * zero value, which JSON leaves out unless the field says otherwise. */
static int read_value(struct pb_dec *d, const sim_pb_message *m, const sim_pb_field *f, int wt, struct pb_reader *r,
		      json_t **out, bool *zero)
{
	const uint8_t *data;
	uint64_t v;
	size_t n;

	*zero = false;
	if (is_varint_type(f->type)) {
		if (wt != WT_VARINT || read_varint(r, &v) != 0)
			return malformed(d, m, wt != WT_VARINT ? "wire type is not a varint" : "varint is truncated");
		*zero = v == 0;
		*out = f->type == SIM_PB_BOOL	 ? json_boolean(v != 0)
		       : f->type == SIM_PB_INT32 ? json_integer((int32_t)(uint32_t)v)
						 : json_integer((json_int_t)(int64_t)v);
		return 0;
	}
	if (wt != WT_LEN || read_bytes(r, &data, &n) != 0)
		return malformed(d, m,
				 wt != WT_LEN ? "wire type is not length-delimited" : "length is beyond the body");
	switch (f->type) {
	case SIM_PB_STRING:
		*zero = n == 0;
		if (!(*out = json_stringn((const char *)data, n)))
			return malformed(d, m, "string is not UTF-8");
		return 0;
	case SIM_PB_BYTES:
		*zero = n == 0;
		{
			char *b64 = vs_base64_encode(data, n);
			*out = json_string(b64);
			free(b64);
		}
		return 0;
	case SIM_PB_MESSAGE: return decode_object(d, f->msg, data, n, out);
	default: return decode_special(d, f->type, data, n, out);
	}
}

/* The JSON value of a map entry whose value is missing: the zero value of the map's type. */
static json_t *zero_value(enum sim_pb_type type)
{
	switch (type) {
	case SIM_PB_QUANTITY: return json_string("0");
	case SIM_PB_TIME: return json_null();
	case SIM_PB_MESSAGE: return json_object();
	default: return json_string("");
	}
}

/* One entry {key = 1, value = 2} of map field f, into the object obj[f->json]. */
static int decode_map_entry(struct pb_dec *d, const sim_pb_message *m, const sim_pb_field *f, const uint8_t *p,
			    size_t n, json_t *obj)
{
	static const sim_pb_field key_field = { 1, "key", SIM_PB_STRING, 0, NULL };
	struct pb_reader r = { p, p + n };
	json_t *key = NULL, *val = NULL, *map = json_object_get(obj, f->json);
	int rc = 0;

	while (rc == 0 && r.p < r.end) {
		uint64_t k;
		bool zero;
		json_t **slot;
		if (read_varint(&r, &k) != 0) {
			rc = malformed(d, m, "map entry key is truncated");
			break;
		}
		if ((k >> 3) != 1 && (k >> 3) != 2) {
			rc = malformed(d, m, "map entry has a field other than key and value");
			break;
		}
		slot = (k >> 3) == 1 ? &key : &val;
		json_decref(*slot);
		*slot = NULL;
		rc = read_value(d, m, (k >> 3) == 1 ? &key_field : f, (int)(k & 7), &r, slot, &zero);
	}
	if (rc == 0) {
		if (!json_is_object(map)) {
			map = json_object();
			json_object_set_new(obj, f->json, map);
		}
		json_object_set_new(map, key ? json_string_value(key) : "",
				    val ? json_incref(val) : zero_value(f->type));
	}
	json_decref(key);
	json_decref(val);
	return rc;
}

static void append(json_t *obj, const char *name, json_t *v)
{
	json_t *arr = json_object_get(obj, name);

	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(obj, name, arr);
	}
	json_array_append_new(arr, v);
}

/* Field f of wire type wt, into obj. */
static int decode_field(struct pb_dec *d, const sim_pb_message *m, const sim_pb_field *f, int wt, struct pb_reader *r,
			json_t *obj)
{
	const uint8_t *data;
	json_t *v = NULL;
	bool zero;
	size_t n;
	int rc;

	if (f->flags & SIM_PB_MAP) {
		if (wt != WT_LEN || read_bytes(r, &data, &n) != 0)
			return malformed(d, m, "map entry is not length-delimited");
		return decode_map_entry(d, m, f, data, n, obj);
	}
	if ((f->flags & SIM_PB_INLINE) != 0) {
		if (wt != WT_LEN || read_bytes(r, &data, &n) != 0)
			return malformed(d, m, "embedded message is not length-delimited");
		return decode_message(d, f->msg, data, n, obj);
	}
	if ((rc = read_value(d, m, f, wt, r, &v, &zero)) != 0)
		return rc;
	if (f->flags & SIM_PB_REPEATED)
		append(obj, f->json, json_incref(v));
	else if (zero && !(f->flags & SIM_PB_ZERO))
		json_object_del(obj, f->json); /* the last value of a field wins, even a zero one */
	else
		json_object_set_new(obj, f->json, json_incref(v));
	json_decref(v);
	return 0;
}

static int unknown_field(struct pb_dec *d, const sim_pb_message *m, uint32_t number)
{
	return vs_error_set_api(d->err, 415, "UnsupportedMediaType",
				"protobuf field %u of %s (in a %s) is not known to volshift-sim; send JSON "
				"(kubectl create -f) instead",
				number, m->name, d->what);
}

/* Every field of message m (the n bytes at p) into obj. */
static int decode_message(struct pb_dec *d, const sim_pb_message *m, const uint8_t *p, size_t n, json_t *obj)
{
	struct pb_reader r = { p, p + n };
	int rc = 0;

	while (rc == 0 && r.p < r.end) {
		const sim_pb_field *f;
		uint64_t key;
		if (read_varint(&r, &key) != 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX) {
			rc = malformed(d, m, "field key is not valid");
			break;
		}
		if (!(f = field_of(m, (uint32_t)(key >> 3)))) {
			rc = unknown_field(d, m, (uint32_t)(key >> 3));
			break;
		}
		rc = decode_field(d, m, f, (int)(key & 7), &r, obj);
	}
	return rc;
}

/* The envelope: the magic, then a runtime.Unknown whose raw message is kept as it is in env. */
static int decode_envelope(struct pb_dec *d, const uint8_t *p, size_t n, struct envelope *env)
{
	struct pb_reader r;
	int rc = 0;

	if (n < sizeof(pb_magic) || memcmp(p, pb_magic, sizeof(pb_magic)) != 0)
		return vs_error_set_api(d->err, 400, "BadRequest",
					"the body of the request was in an unknown format: it does not start with the "
					"Kubernetes protobuf magic k8s\\0");
	r.p = p + sizeof(pb_magic);
	r.end = p + n;
	env->fields = json_object();
	while (rc == 0 && r.p < r.end) {
		const sim_pb_field *f;
		uint64_t key;
		if (read_varint(&r, &key) != 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
			rc = malformed(d, &unknown_msg, "field key is not valid");
		else if (!(f = field_of(&unknown_msg, (uint32_t)(key >> 3))))
			rc = unknown_field(d, &unknown_msg, (uint32_t)(key >> 3));
		else if (f->type != SIM_PB_BYTES)
			rc = decode_field(d, &unknown_msg, f, (int)(key & 7), &r, env->fields);
		else if ((key & 7) != WT_LEN || read_bytes(&r, &env->raw, &env->raw_len) != 0)
			rc = malformed(d, &unknown_msg, "raw is not length-delimited");
	}
	return rc;
}

int sim_protobuf_decode(const void *body, size_t len, json_t **out, vs_error *err)
{
	struct pb_dec d = { .what = "request body", .err = err };
	struct envelope env = { 0 };
	const sim_pb_message *m;
	const char *api_version, *kind, *encoding;
	json_t *obj = NULL;
	char what[160];
	int rc;

	*out = NULL;
	if ((rc = decode_envelope(&d, body, len, &env)) != 0)
		goto done;
	api_version = vs_json_str_or(env.fields, "typeMeta.apiVersion", "");
	kind = vs_json_str_or(env.fields, "typeMeta.kind", "");
	encoding = vs_json_str_or(env.fields, "contentEncoding", "");
	if (*encoding) {
		rc = vs_error_set_api(
			err, 415, "UnsupportedMediaType",
			"protobuf bodies with contentEncoding %s are not known to volshift-sim; send JSON "
			"(kubectl create -f) instead",
			encoding);
		goto done;
	}
	if (!(m = sim_pb_schema_kind(api_version, kind))) {
		rc = vs_error_set_api(err, 415, "UnsupportedMediaType",
				      "protobuf bodies of kind %s (apiVersion %s) are not known to volshift-sim; send "
				      "JSON (kubectl create -f) instead",
				      *kind ? kind : "(none)", *api_version ? api_version : "(none)");
		goto done;
	}
	snprintf(what, sizeof(what), "%s %s", api_version, kind);
	d.what = what;
	obj = json_pack("{s:s,s:s}", "kind", kind, "apiVersion", api_version);
	if ((rc = decode_message(&d, m, env.raw ? env.raw : pb_magic, env.raw_len, obj)) != 0)
		goto done;
	*out = obj;
	obj = NULL;
done:
	json_decref(obj);
	json_decref(env.fields);
	return rc;
}
