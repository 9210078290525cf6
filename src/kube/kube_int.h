/*
 * The kube module's internals, shared by its files: the discovery cache each client owns
 * (discovery.c) and the one request it needs from the transport (client.c). Nothing here is used
 * outside src/kube.
 */
#ifndef VS_KUBE_INT_H
#define VS_KUBE_INT_H

#include "kube/kube.h"

/* The resources a client has found by discovery, and the strings it hands out for them. */
typedef struct kube_discovery kube_discovery;

/* An empty cache; kube_discovery_free releases it and every string it handed out. */
kube_discovery *kube_discovery_new(void);
void kube_discovery_free(kube_discovery *d);

/* The cache of client c (borrowed, lives as long as c). */
kube_discovery *kube_client_discovery(vs_kube_client *c);

/*
 * GET the discovery document of group and version (/api/VERSION when group is "", else
 * /apis/GROUP/VERSION), retried as any GET. *out is the reply, owned by the caller. Errors as the
 * verbs', their message starting "discovery of /apis/GROUP/VERSION: ".
 */
int kube_get_discovery(vs_kube_client *c, const char *group, const char *version, json_t **out, vs_error *err);

#endif
