/*
 * Unit tests of volshift-sim's protobuf decoder (sim/protobuf.h): request bodies built here byte by
 * byte as go-to-protobuf writes them (the k8s\0 envelope, a runtime.Unknown, the object's message),
 * the JSON they become, and the refusals: 415 for a kind or field the tables do not know, 400 for
 * a body that is not well-formed.
 */
#include "../../sim/protobuf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

enum { WT_VARINT = 0, WT_LEN = 2 };

/* ---- writing protobuf --------------------------------------------------------------------------- */

static void put_varint(vs_buf *b, uint64_t v)
{
	uint8_t c;

	do {
		c = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			c |= 0x80;
		assert_int_equal(vs_buf_append(b, &c, 1), 0);
	} while (v);
}

static void put_bytes(vs_buf *b, uint32_t field, const void *data, size_t n)
{
	put_varint(b, (uint64_t)field << 3 | WT_LEN);
	put_varint(b, n);
	assert_int_equal(vs_buf_append(b, data, n), 0);
}

static void put_str(vs_buf *b, uint32_t field, const char *s)
{
	put_bytes(b, field, s, strlen(s));
}

static void put_uint(vs_buf *b, uint32_t field, uint64_t v)
{
	put_varint(b, (uint64_t)field << 3 | WT_VARINT);
	put_varint(b, v);
}

/* Field field of b holds the message msg, which is freed. */
static void put_msg(vs_buf *b, uint32_t field, vs_buf *msg)
{
	put_bytes(b, field, msg->data ? msg->data : "", msg->len);
	vs_buf_free(msg);
}

static vs_buf buf_new(void)
{
	vs_buf b;

	vs_buf_init(&b, 1 << 20);
	return b;
}

/* ObjectMeta as go-to-protobuf writes it for an object with only a name: every non-pointer field,
 * empty or zero, and the zero creationTimestamp. */
static vs_buf object_meta(const char *name)
{
	vs_buf m = buf_new(), ts = buf_new();

	put_str(&m, 1, name);
	for (uint32_t f = 2; f <= 6; f++)
		put_str(&m, f, "");
	put_uint(&m, 7, 0);
	put_msg(&m, 8, &ts);
	return m;
}

/* A map entry {key = 1, value = 2} of field field. */
static void put_entry(vs_buf *b, uint32_t field, const char *key, const void *value, size_t n)
{
	vs_buf e = buf_new();

	put_str(&e, 1, key);
	put_bytes(&e, 2, value, n);
	put_msg(b, field, &e);
}

/* The request body: magic, then runtime.Unknown {typeMeta {apiVersion, kind}, raw = obj (freed),
 * contentEncoding, contentType}. */
static vs_buf envelope(const char *api_version, const char *kind, vs_buf *obj, const char *encoding)
{
	vs_buf body = buf_new(), unknown = buf_new(), type_meta = buf_new();

	put_str(&type_meta, 1, api_version);
	put_str(&type_meta, 2, kind);
	put_msg(&unknown, 1, &type_meta);
	put_msg(&unknown, 2, obj);
	put_str(&unknown, 3, encoding);
	put_str(&unknown, 4, "");
	assert_int_equal(vs_buf_append(&body, "k8s\0", 4), 0);
	assert_int_equal(vs_buf_append(&body, unknown.data, unknown.len), 0);
	vs_buf_free(&unknown);
	return body;
}

/* ---- checking -------------------------------------------------------------------------------- */

/* Decode body (freed) and compare with the JSON text expected. */
static void assert_decodes_to(vs_buf *body, const char *expected)
{
	json_t *out = NULL, *want = json_loads(expected, 0, NULL);
	vs_error err = { 0 };
	int rc = sim_protobuf_decode(body->data, body->len, &out, &err);

	vs_buf_free(body);
	if (rc != 0)
		fail_msg("decode: %s", err.message);
	assert_non_null(want);
	if (!json_equal(out, want)) {
		char *got = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("decoded to %s", got);
	}
	json_decref(out);
	json_decref(want);
}

/* Decode body (freed): it must fail with status, and its message must contain each of the
 * NULL-terminated strings that follow. */
static void assert_refused(vs_buf *body, int status, ...)
{
	json_t *out = (json_t *)1;
	vs_error err = { 0 };
	const char *s;
	va_list ap;

	assert_int_not_equal(sim_protobuf_decode(body->data, body->len, &out, &err), 0);
	vs_buf_free(body);
	assert_null(out);
	assert_int_equal(err.http_status, status);
	va_start(ap, status);
	while ((s = va_arg(ap, const char *)))
		if (!strstr(err.message, s))
			fail_msg("\"%s\" is not in \"%s\"", s, err.message);
	va_end(ap);
}

/* ---- tests ----------------------------------------------------------------------------------- */

/* kubectl create namespace x, byte for byte as kubectl 1.32 sends it. */
static void test_namespace_as_kubectl_sends_it(void **state)
{
	static const char wire[] = "k8s\0"
				   "\x0a\x0f\x0a\x02v1\x12\x09Namespace"
				   "\x12\x19\x0a\x11\x0a\x01x\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00"
				   "\x12\x00\x1a\x02\x0a\x00"
				   "\x1a\x00\x22\x00";
	vs_buf body = buf_new();

	(void)state;
	assert_int_equal(vs_buf_append(&body, wire, sizeof(wire) - 1), 0);
	assert_decodes_to(&body, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"x\","
				 "\"creationTimestamp\":null},\"spec\":{},\"status\":{}}");
}

/* Maps of strings and of bytes (base64 in JSON), a type, labels. */
static void test_secret_maps(void **state)
{
	vs_buf obj = buf_new(), meta = object_meta("s1"), labels = buf_new(), body;

	(void)state;
	put_str(&labels, 1, "app");
	put_str(&labels, 2, "web");
	put_msg(&meta, 11, &labels);
	put_msg(&obj, 1, &meta);
	put_entry(&obj, 2, "bin", "\x00\xff", 2);
	put_entry(&obj, 2, "a", "b", 1);
	put_str(&obj, 3, "Opaque");
	body = envelope("v1", "Secret", &obj, "");
	assert_decodes_to(&body, "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s1\","
				 "\"creationTimestamp\":null,\"labels\":{\"app\":\"web\"}},"
				 "\"data\":{\"bin\":\"AP8=\",\"a\":\"Yg==\"},\"type\":\"Opaque\"}");
}

/* Repeated messages and strings, zero values kept where the Go field has no omitempty (a
 * ServicePort's port) and left out where it has (nodePort), IntOrString as a string and a number. */
static void test_service_ports_and_intorstring(void **state)
{
	vs_buf obj = buf_new(), meta = object_meta("svc"), spec = buf_new(), body;

	(void)state;
	for (int i = 0; i < 2; i++) {
		vs_buf port = buf_new(), target = buf_new();
		put_str(&port, 1, i ? "web" : "");
		put_str(&port, 2, "TCP");
		put_uint(&port, 3, i ? 80 : 0);
		if (i) {
			put_uint(&target, 1, 1);
			put_uint(&target, 2, 0);
			put_str(&target, 3, "http");
		} else {
			put_uint(&target, 1, 0);
			put_uint(&target, 2, 8080);
			put_str(&target, 3, "");
		}
		put_msg(&port, 4, &target);
		put_uint(&port, 5, 0);
		put_msg(&spec, 1, &port);
	}
	put_str(&spec, 5, "10.0.0.1");
	put_str(&spec, 5, "10.0.0.2");
	put_str(&spec, 4, "ClusterIP");
	put_msg(&obj, 1, &meta);
	put_msg(&obj, 2, &spec);
	body = envelope("v1", "Service", &obj, "");
	assert_decodes_to(&body, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"svc\","
				 "\"creationTimestamp\":null},\"spec\":{\"ports\":["
				 "{\"protocol\":\"TCP\",\"port\":0,\"targetPort\":8080},"
				 "{\"name\":\"web\",\"protocol\":\"TCP\",\"port\":80,\"targetPort\":\"http\"}],"
				 "\"externalIPs\":[\"10.0.0.1\",\"10.0.0.2\"],\"type\":\"ClusterIP\"}}");
}

/* A pointer field present with its zero value stays (replicas: 0), a Time that is set becomes RFC
 * 3339, Quantities their strings, and the inline IngressRuleValue merges into its rule. */
static void test_pointers_time_quantity_inline(void **state)
{
	vs_buf obj = buf_new(), meta = object_meta("d"), spec = buf_new(), ts = buf_new(), body;
	vs_buf quota = buf_new(), qspec = buf_new(), qty = buf_new(), entry = buf_new();
	vs_buf ing = buf_new(), ispec = buf_new(), rule = buf_new(), value = buf_new(), http = buf_new(),
	       path = buf_new();

	(void)state;
	put_uint(&ts, 1, 1700000000);
	put_msg(&meta, 9, &ts);
	put_msg(&obj, 1, &meta);
	put_uint(&spec, 1, 0);
	put_msg(&obj, 2, &spec);
	body = envelope("apps/v1", "Deployment", &obj, "");
	assert_decodes_to(&body, "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\","
				 "\"creationTimestamp\":null,\"deletionTimestamp\":\"2023-11-14T22:13:20Z\"},"
				 "\"spec\":{\"replicas\":0}}");

	put_str(&qty, 1, "1Gi");
	put_str(&entry, 1, "memory");
	put_msg(&entry, 2, &qty);
	put_msg(&qspec, 1, &entry);
	put_msg(&quota, 2, &qspec);
	body = envelope("v1", "ResourceQuota", &quota, "");
	assert_decodes_to(
		&body, "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"spec\":{\"hard\":{\"memory\":\"1Gi\"}}}");

	put_str(&path, 1, "/a");
	put_str(&path, 3, "Prefix");
	put_msg(&http, 1, &path);
	put_msg(&value, 1, &http);
	put_str(&rule, 1, "foo.com");
	put_msg(&rule, 2, &value);
	put_msg(&ispec, 3, &rule);
	put_msg(&ing, 2, &ispec);
	body = envelope("networking.k8s.io/v1", "Ingress", &ing, "");
	assert_decodes_to(&body,
			  "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"Ingress\",\"spec\":{\"rules\":["
			  "{\"host\":\"foo.com\",\"http\":{\"paths\":[{\"path\":\"/a\",\"pathType\":\"Prefix\"}]}}]}}");
}

/* kubectl create token's TokenRequest, which volshift-sim decodes whether or not it serves it. */
static void test_token_request(void **state)
{
	vs_buf obj = buf_new(), meta = object_meta(""), spec = buf_new(), status = buf_new(), ts = buf_new(), body;

	(void)state;
	put_str(&spec, 1, "api");
	put_uint(&spec, 4, 600);
	put_str(&status, 1, "");
	put_msg(&status, 2, &ts);
	put_msg(&obj, 1, &meta);
	put_msg(&obj, 2, &spec);
	put_msg(&obj, 3, &status);
	body = envelope("authentication.k8s.io/v1", "TokenRequest", &obj, "");
	assert_decodes_to(&body,
			  "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\","
			  "\"metadata\":{\"creationTimestamp\":null},\"spec\":{\"audiences\":[\"api\"],"
			  "\"expirationSeconds\":600},\"status\":{\"token\":\"\",\"expirationTimestamp\":null}}");
}

/* kubectl auth can-i get /logs, byte for byte as kubectl 1.32 sends it. */
static void test_self_subject_access_review_as_kubectl_sends_it(void **state)
{
	static const char wire[] = "k8s\0"
				   "\x0a\x32\x0a\x17"
				   "authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview"
				   "\x12\x2c\x0a\x10\x0a\x00\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00"
				   "\x12\x0e\x12\x0c\x0a\x05/logs\x12\x03get"
				   "\x1a\x08\x08\x00\x12\x00\x1a\x00\x20\x00"
				   "\x1a\x00\x22\x00";
	vs_buf body = buf_new();

	(void)state;
	assert_int_equal(vs_buf_append(&body, wire, sizeof(wire) - 1), 0);
	assert_decodes_to(&body, "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SelfSubjectAccessReview\","
				 "\"metadata\":{\"creationTimestamp\":null},\"spec\":{\"nonResourceAttributes\":"
				 "{\"path\":\"/logs\",\"verb\":\"get\"}},\"status\":{\"allowed\":false}}");
}

/* A field the tables do not know, at the top or deep inside, is a 415 naming it and its message. */
static void test_unknown_field_is_415(void **state)
{
	vs_buf obj = buf_new(), meta = object_meta("cm"), body;
	vs_buf dep = buf_new(), spec = buf_new(), tmpl = buf_new(), pod = buf_new(), ctr = buf_new(), probe = buf_new();

	(void)state;
	put_msg(&obj, 1, &meta);
	put_uint(&obj, 99, 1);
	body = envelope("v1", "ConfigMap", &obj, "");
	assert_refused(&body, 415, "field 99", "io.k8s.api.core.v1.ConfigMap", "v1 ConfigMap", NULL);

	put_str(&ctr, 1, "c");
	put_msg(&ctr, 10, &probe); /* livenessProbe */
	put_msg(&pod, 2, &ctr);
	put_msg(&tmpl, 2, &pod);
	put_msg(&spec, 3, &tmpl);
	put_msg(&dep, 2, &spec);
	body = envelope("apps/v1", "Deployment", &dep, "");
	assert_refused(&body, 415, "field 10", "io.k8s.api.core.v1.Container", "apps/v1 Deployment", NULL);
}

static void test_unknown_kind_and_encoding_are_415(void **state)
{
	vs_buf obj = buf_new(), body;

	(void)state;
	body = envelope("apps/v1", "StatefulSet", &obj, "");
	assert_refused(&body, 415, "StatefulSet", "apps/v1", NULL);
	obj = buf_new();
	body = envelope("v1", "ConfigMap", &obj, "gzip");
	assert_refused(&body, 415, "contentEncoding gzip", NULL);
}

static void test_malformed_is_400(void **state)
{
#define BYTES(s) s, sizeof(s) - 1
	static const struct {
		const char *bytes;
		size_t n;
		const char *why;
	} cases[] = {
		{ BYTES("{\"kind\":\"Namespace\"}"), "magic" },
		{ BYTES("k8s"), "magic" },
		{ BYTES("k8s\0\x0a\x7f"), "beyond the body" },	    /* typeMeta longer than the body */
		{ BYTES("k8s\0\x08\x01"), "not length-delimited" }, /* typeMeta as a varint */
		{ BYTES("k8s\0\x80"), "field key" },		    /* a key cut inside its varint */
		{ BYTES("k8s\0\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x02\x0a\x05"), "beyond the body" },
		{ BYTES("k8s\0\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x02\x08\x01"), "not length-delimited" },
		{ BYTES("k8s\0\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x05\x0a\x03\x0a\x01\xff"), "UTF-8" },
	};
#undef BYTES
	vs_buf body;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		body = buf_new();
		assert_int_equal(vs_buf_append(&body, cases[i].bytes, cases[i].n), 0);
		assert_refused(&body, 400, cases[i].why, NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_namespace_as_kubectl_sends_it),
		cmocka_unit_test(test_secret_maps),
		cmocka_unit_test(test_service_ports_and_intorstring),
		cmocka_unit_test(test_pointers_time_quantity_inline),
		cmocka_unit_test(test_token_request),
		cmocka_unit_test(test_self_subject_access_review_as_kubectl_sends_it),
		cmocka_unit_test(test_unknown_field_is_415),
		cmocka_unit_test(test_unknown_kind_and_encoding_are_415),
		cmocka_unit_test(test_malformed_is_400),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
