/*
 * http_int: what http.c and http_patch.c share: the patch formats.
 */
#ifndef VS_SIM_HTTP_INT_H
#define VS_SIM_HTTP_INT_H

#include "api_int.h"
#include "http.h"

/* Strategic merge patch of dst (consumed) with patch; returns the new object. */
json_t *sim_strategic_patch(json_t *dst, const json_t *patch);
/* Apply a JSON patch (RFC 6902) to *doc in place; 422 Invalid when an operation fails. */
int sim_json_patch(json_t **doc, const json_t *ops, vs_error *err);

/* A meta.k8s.io/v1 Table for an object or a List of res, or NULL when res has no table columns. */
json_t *sim_table_of(const sim_resource *res, const json_t *obj_or_list);

#endif
