/*
 * discovery: objects of any kind, custom resources included, addressed as people write them
 * (apiVersion and kind) rather than through the fixed descriptors of object.c. The API server says
 * which resource serves a kind in its discovery document of each group and version (/api/v1,
 * /apis/GROUP/VERSION: an APIResourceList); nothing is assumed. Each client keeps the documents it
 * fetched, and fetches one again when a kind is missing from it, once per lookup, because a
 * CustomResourceDefinition may have been created since. The descriptors it hands out are plain
 * vs_kube_resource values, so the verbs build their URLs the same way for every resource.
 */
#include "kube/kube.h"
#include "kube/kube_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_MAX   253
#define VERSION_MAX 63

struct kube_discovery {
	pthread_mutex_t lock;
	json_t *lists; /* "GROUP/VERSION" -> the APIResourceList last fetched */
	json_t *names; /* every string handed out: text -> a JSON string holding it, kept until the end */
};

kube_discovery *kube_discovery_new(void)
{
	kube_discovery *d = vs_xcalloc(1, sizeof(*d));

	pthread_mutex_init(&d->lock, NULL);
	d->lists = json_object();
	d->names = json_object();
	return d;
}

void kube_discovery_free(kube_discovery *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	json_decref(d->lists);
	json_decref(d->names);
	free(d);
}

/* A copy of s that lives as long as d (under d's lock). */
static const char *intern(kube_discovery *d, const char *s)
{
	json_t *v = json_object_get(d->names, s);

	if (!v) {
		v = json_string(s);
		json_object_set_new(d->names, s, v);
	}
	return json_string_value(v);
}

static bool is_group_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
}

/* "apps/v1" into group "apps" and version "v1", "v1" into "" and "v1". */
static int split_api_version(const char *api_version, char group[GROUP_MAX + 1], char version[VERSION_MAX + 1],
			     vs_error *err)
{
	const char *slash = strchr(api_version, '/'), *v = slash ? slash + 1 : api_version;
	size_t glen = slash ? (size_t)(slash - api_version) : 0;

	if ((slash && glen == 0) || glen > GROUP_MAX || !*v || strlen(v) > VERSION_MAX || strchr(v, '/'))
		goto bad;
	for (size_t i = 0; i < glen; i++)
		if (!is_group_char(api_version[i]))
			goto bad;
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			goto bad;
	memcpy(group, api_version, glen);
	group[glen] = '\0';
	strcpy(version, v);
	return 0;
bad:
	return vs_error_set(err, VS_EINVAL,
			    "apiVersion \"%s\": expected VERSION or GROUP/VERSION, such as v1 or apps/v1", api_version);
}

static unsigned verb_bits(const json_t *verbs)
{
	static const char *const names[] = { "get",    "list",	"watch",  "create",
					     "update", "patch", "delete", "deletecollection" };
	unsigned bits = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (vs_json_array_has_str(verbs, names[i]))
			bits |= 1u << i;
	return bits;
}

/* The entry "PLURAL/sub" of list, or NULL. */
static const json_t *subresource(const json_t *resources, const char *plural, const char *sub)
{
	size_t plen = strlen(plural), i;
	const json_t *r;

	json_array_foreach (resources, i, r) {
		const char *name = vs_json_str(r, "name");
		if (name && !strncmp(name, plural, plen) && name[plen] == '/' && !strcmp(name + plen + 1, sub))
			return r;
	}
	return NULL;
}

/* Find kind in list (under d's lock) and fill *out with strings of d. */
static bool list_find(kube_discovery *d, const json_t *list, const char *group, const char *version, const char *kind,
		      vs_kube_api_resource *out)
{
	const json_t *resources = json_object_get(list, "resources"), *r;
	size_t i;

	json_array_foreach (resources, i, r) {
		const char *name = vs_json_str(r, "name"), *k = vs_json_str(r, "kind");
		if (!name || !*name || strchr(name, '/') || !k || strcmp(k, kind) != 0)
			continue;
		memset(out, 0, sizeof(*out));
		out->res.group = intern(d, group);
		out->res.version = intern(d, version);
		out->res.plural = intern(d, name);
		out->res.namespaced = vs_json_bool(r, "namespaced", false);
		out->kind = intern(d, k);
		out->verbs = verb_bits(json_object_get(r, "verbs"));
		out->has_status = subresource(resources, name, "status") != NULL;
		out->has_scale = subresource(resources, name, "scale") != NULL;
		return true;
	}
	return false;
}

/* The kinds list serves, comma-separated, into b (at most about 200 bytes). */
static void list_kinds(const json_t *list, vs_buf *b)
{
	const json_t *r;
	size_t i;

	json_array_foreach (json_object_get(list, "resources"), i, r) {
		const char *name = vs_json_str(r, "name"), *k = vs_json_str(r, "kind");
		if (!name || strchr(name, '/') || !k)
			continue;
		if (b->len > 200) {
			vs_buf_puts(b, ", ...");
			return;
		}
		vs_buf_printf(b, "%s%s", b->len ? ", " : "", k);
	}
}

/* 1: found in the cached list; 0: the list is cached but has no such kind; -1: no list cached. */
static int cache_find(kube_discovery *d, const char *gv, const char *group, const char *version, const char *kind,
		      vs_kube_api_resource *out)
{
	const json_t *list;
	int found;

	pthread_mutex_lock(&d->lock);
	list = json_object_get(d->lists, gv);
	found = !list ? -1 : list_find(d, list, group, version, kind, out) ? 1 : 0;
	pthread_mutex_unlock(&d->lock);
	return found;
}

/* Keep list (stolen) as gv's, and look kind up in it; on a miss, say which kinds it has. */
static int cache_store(kube_discovery *d, const char *gv, json_t *list, const char *group, const char *version,
		       const char *kind, vs_kube_api_resource *out, vs_error *err)
{
	vs_buf kinds;
	bool found;
	int rc = 0;

	vs_buf_init(&kinds, 0);
	pthread_mutex_lock(&d->lock);
	json_object_set_new(d->lists, gv, list);
	found = list_find(d, list, group, version, kind, out);
	if (!found)
		list_kinds(list, &kinds);
	pthread_mutex_unlock(&d->lock);
	if (!found)
		rc = vs_error_set_api(err, 404, "NotFound",
				      "no kind \"%s\" in apiVersion \"%s\" on the cluster (discovery of %s%s lists %s)",
				      kind, gv, *group ? "/apis/" : "/api/", gv, kinds.len ? kinds.data : "no kinds");
	vs_buf_free(&kinds);
	return rc;
}

int vs_kube_resolve(vs_kube_client *c, const char *api_version, const char *kind, vs_kube_api_resource *out,
		    vs_error *err)
{
	kube_discovery *d = kube_client_discovery(c);
	char group[GROUP_MAX + 1], version[VERSION_MAX + 1];
	json_t *list = NULL;
	vs_error e = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = split_api_version(api_version, group, version, err);
	if (rc < 0)
		return rc;
	if (!kind || !*kind)
		return vs_error_set(err, VS_EINVAL, "apiVersion \"%s\": no kind given", api_version);
	if (cache_find(d, api_version, group, version, kind, out) == 1)
		return 0;
	rc = kube_get_discovery(c, group, version, &list, &e);
	if (rc == VS_EAPI && e.http_status == 404)
		return vs_error_set_api(err, 404, "NotFound", "no kind \"%s\" in apiVersion \"%s\" on the cluster (%s)",
					kind, api_version, e.message);
	if (rc < 0) {
		if (err)
			*err = e;
		return vs_error_wrap(err, "kind \"%s\" of apiVersion \"%s\"", kind, api_version);
	}
	return cache_store(d, api_version, list, group, version, kind, out, err);
}
