/*
 * xml: S3's XML replies read with libxml2: object listings, bucket lists, error bodies and the
 * few single values (an upload's id). The parser runs without network access, entity substitution
 * or DTD loading, on bodies the client has already capped in size, so a hostile server can make a
 * reply fail but not make volshift fetch, expand or trust anything.
 */
#include "s3/s3_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define XML_MAX_OBJECTS 100000
#define XML_MAX_BUCKETS 100000

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void xml_init(void)
{
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, xml_silent);
}

static xmlDocPtr xml_read(const char *xml, size_t len)
{
	pthread_once(&xml_once, xml_init);
	if (len > INT_MAX)
		return NULL;
	return xmlReadMemory(xml, (int)len, "reply.xml", NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS);
}

/* The element's local name is name (S3 replies carry a default namespace or none). */
static bool xml_is(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The first child element named name, or NULL. */
static xmlNode *xml_child(const xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (xml_is(c, name))
			return c;
	return NULL;
}

/* The text of n (caller frees with free()), "" for an empty element. */
static char *xml_text(const xmlNode *n)
{
	xmlChar *t = xmlNodeGetContent(n);
	char *s = vs_xstrdup(t ? (const char *)t : "");

	xmlFree(t);
	return s;
}

void vs_s3_listing_clear(vs_s3_listing *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->count; i++)
		free(l->objects[i].key);
	free(l->objects);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

static int xml_size(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* One <Contents> into obj. */
static int xml_object(const xmlNode *c, bool url_encoded, vs_s3_object *obj, const char *what, vs_error *err)
{
	const xmlNode *k = xml_child(c, "Key"), *s = xml_child(c, "Size"), *e = xml_child(c, "ETag");
	char *key = NULL, *size = NULL, *etag = NULL;
	int rc = 0;

	memset(obj, 0, sizeof(*obj));
	if (!k || !s) {
		rc = vs_error_set(err, VS_EINVAL, "%s: an object without %s", what, k ? "Size" : "Key");
		goto done;
	}
	key = xml_text(k);
	size = xml_text(s);
	if (xml_size(size, &obj->size) < 0) {
		rc = vs_error_set(err, VS_EINVAL, "%s: object %s: bad Size \"%.32s\"", what, key, size);
		goto done;
	}
	if (url_encoded) {
		if ((rc = vs_s3_url_decode(key, true, &obj->key, err)) < 0) {
			vs_error_wrap(err, "%s: object key \"%.200s\"", what, key);
			goto done;
		}
	} else {
		obj->key = key;
		key = NULL;
	}
	if (!obj->key[0]) {
		rc = vs_error_set(err, VS_EINVAL, "%s: an object with an empty key", what);
		goto done;
	}
	if (e) {
		etag = xml_text(e);
		s3_etag_copy(etag, obj->etag, sizeof(obj->etag)); /* listings send it as &quot;...&quot; */
	}
done:
	if (rc < 0) {
		free(obj->key);
		obj->key = NULL;
	}
	free(key);
	free(size);
	free(etag);
	return rc;
}

int vs_s3_listing_parse(const char *xml, size_t len, bool url_encoded, const char *what, vs_s3_listing *out,
			vs_error *err)
{
	xmlDocPtr doc = xml_read(xml, len);
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	size_t cap = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!root || !xml_is(root, "ListBucketResult")) {
		rc = vs_error_set(err, VS_EINVAL, "%s: the reply is not a ListBucketResult", what);
		goto done;
	}
	for (xmlNode *c = root->children; c && rc == 0; c = c->next) {
		if (!xml_is(c, "Contents"))
			continue;
		if (out->count == XML_MAX_OBJECTS) {
			rc = vs_error_set(err, VS_EINVAL, "%s: more than %d objects in one page", what, XML_MAX_OBJECTS);
			break;
		}
		if (out->count == cap) {
			cap = cap ? cap * 2 : 64;
			out->objects = vs_xrealloc(out->objects, cap * sizeof(*out->objects));
		}
		rc = xml_object(c, url_encoded, &out->objects[out->count], what, err);
		if (rc == 0)
			out->count++;
	}
	if (rc == 0) {
		char *t = xml_child(root, "IsTruncated") ? xml_text(xml_child(root, "IsTruncated")) : NULL;
		out->truncated = t && strcmp(t, "true") == 0;
		free(t);
		if (xml_child(root, "NextContinuationToken"))
			out->next_token = xml_text(xml_child(root, "NextContinuationToken"));
		if (out->truncated && (!out->next_token || !out->next_token[0]))
			rc = vs_error_set(err, VS_EINVAL, "%s: the listing is truncated but has no continuation token",
					  what);
	}
done:
	if (rc < 0)
		vs_s3_listing_clear(out);
	xmlFreeDoc(doc);
	return rc;
}

int vs_s3_buckets_parse(const char *xml, size_t len, char ***names, size_t *count, vs_error *err)
{
	xmlDocPtr doc = xml_read(xml, len);
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNode *buckets = xml_child(root, "Buckets");
	size_t n = 0;
	int rc = 0;

	*names = vs_xcalloc(1, sizeof(char *));
	*count = 0;
	if (!root || !xml_is(root, "ListAllMyBucketsResult")) {
		rc = vs_error_set(err, VS_EINVAL, "listing buckets: the reply is not a ListAllMyBucketsResult");
		goto done;
	}
	for (xmlNode *b = buckets ? buckets->children : NULL; b; b = b->next) {
		xmlNode *nm = xml_child(b, "Name");
		if (!xml_is(b, "Bucket") || !nm)
			continue;
		if (n == XML_MAX_BUCKETS) {
			rc = vs_error_set(err, VS_EINVAL, "listing buckets: more than %d", XML_MAX_BUCKETS);
			break;
		}
		*names = vs_xrealloc(*names, (n + 2) * sizeof(char *));
		(*names)[n++] = xml_text(nm);
		(*names)[n] = NULL;
	}
	*count = n;
done:
	xmlFreeDoc(doc);
	return rc;
}

static void xml_copy_text(const xmlNode *n, char *out, size_t cap)
{
	char *t = n ? xml_text(n) : vs_xstrdup("");

	snprintf(out, cap, "%s", t);
	free(t);
}

bool vs_s3_error_parse(const char *xml, size_t len, char code[64], char message[256])
{
	xmlDocPtr doc = xml_read(xml, len);
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	bool ok = xml_is(root, "Error");

	code[0] = message[0] = '\0';
	if (ok) {
		xml_copy_text(xml_child(root, "Code"), code, 64);
		xml_copy_text(xml_child(root, "Message"), message, 256);
	}
	xmlFreeDoc(doc);
	return ok;
}

static const xmlNode *xml_find_in(const xmlNode *n, const char *name, int depth)
{
	for (; n && depth < 16; n = n->next) {
		if (xml_is(n, name))
			return n;
		const xmlNode *f = xml_find_in(n->children, name, depth + 1);
		if (f)
			return f;
	}
	return NULL;
}

char *vs_s3_xml_find(const char *xml, size_t len, const char *name)
{
	xmlDocPtr doc = xml_read(xml, len);
	const xmlNode *n = doc ? xml_find_in(xmlDocGetRootElement(doc), name, 0) : NULL;
	char *s = n ? xml_text(n) : NULL;

	xmlFreeDoc(doc);
	return s;
}

int vs_s3_uploads_parse(const char *xml, size_t len, const char *key, char ***ids, size_t *count, vs_error *err)
{
	xmlDocPtr doc = xml_read(xml, len);
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	size_t n = 0;
	int rc = 0;

	*ids = vs_xcalloc(1, sizeof(char *));
	*count = 0;
	if (!root || !xml_is(root, "ListMultipartUploadsResult")) {
		rc = vs_error_set(err, VS_EINVAL, "listing the uploads of %s: the reply is not a ListMultipartUploadsResult",
				  key);
		goto done;
	}
	for (xmlNode *u = root->children; u && n < XML_MAX_BUCKETS; u = u->next) {
		xmlNode *k = xml_child(u, "Key"), *id = xml_child(u, "UploadId");
		if (!xml_is(u, "Upload") || !k || !id)
			continue;
		char *kt = xml_text(k);
		if (strcmp(kt, key) == 0) {
			*ids = vs_xrealloc(*ids, (n + 2) * sizeof(char *));
			(*ids)[n++] = xml_text(id);
			(*ids)[n] = NULL;
		}
		free(kt);
	}
	*count = n;
done:
	xmlFreeDoc(doc);
	return rc;
}
