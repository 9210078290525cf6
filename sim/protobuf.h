/*
 * protobuf: the Kubernetes protobuf encoding of request bodies (application/vnd.kubernetes.protobuf),
 * which kubectl's generators (kubectl create namespace, configmap, secret, deployment, ...,
 * kubectl create token) and kubectl auth (can-i, whoami) send, decoded into the JSON object the same request would
 * carry as JSON, so that the rest of volshift-sim sees one format. Replies stay JSON.
 *
 * The decoder (protobuf.c) knows the messages of its schema tables (protobuf_schema.c), written
 * from the Kubernetes API's published generated.proto files; a body it cannot decode completely is
 * refused, never decoded in part.
 */
#ifndef VS_SIM_PROTOBUF_H
#define VS_SIM_PROTOBUF_H

#include "util/util.h"

#include <stddef.h>
#include <stdint.h>

/* How a field's value is written in JSON. */
enum sim_pb_type {
	SIM_PB_STRING,	 /* string */
	SIM_PB_INT32,	 /* varint, a signed 32-bit number */
	SIM_PB_INT64,	 /* varint, a signed 64-bit number */
	SIM_PB_BOOL,	 /* varint, true or false */
	SIM_PB_BYTES,	 /* bytes, base64 in JSON */
	SIM_PB_MESSAGE,	 /* an embedded message, a JSON object (or merged into its parent: SIM_PB_INLINE) */
	SIM_PB_TIME,	 /* meta.v1.Time {seconds, nanos}: RFC 3339 in JSON, null when zero */
	SIM_PB_INTSTR,	 /* util.intstr.IntOrString {type, intVal, strVal}: a number or a string */
	SIM_PB_QUANTITY, /* api.resource.Quantity {string}: its string */
};

/* Field flags. */
enum {
	SIM_PB_REPEATED = 1 << 0, /* a JSON array of values */
	SIM_PB_MAP = 1 << 1,	  /* map<string, type>: a JSON object (entries {key = 1, value = 2}) */
	SIM_PB_ZERO = 1 << 2,	  /* a zero value is written (a pointer field, or one without omitempty) */
	SIM_PB_INLINE = 1 << 3,	  /* an embedded message whose fields are its parent's in JSON */
};

typedef struct sim_pb_message sim_pb_message;

typedef struct sim_pb_field {
	uint32_t number;
	const char *json;      /* the JSON name; NULL for SIM_PB_INLINE */
	enum sim_pb_type type; /* of the value (of each element, of each map value) */
	unsigned flags;
	const sim_pb_message *msg; /* SIM_PB_MESSAGE: its message */
} sim_pb_field;

struct sim_pb_message {
	const char *name;	    /* "io.k8s.api.core.v1.PodSpec" */
	const sim_pb_field *fields; /* sorted by nothing; looked up by number */
	size_t nfields;
};

/* The message of a top-level object by its apiVersion and kind ("apps/v1", "Deployment"), or NULL
 * when the tables do not know it. Static. */
const sim_pb_message *sim_pb_schema_kind(const char *api_version, const char *kind);

/*
 * Decode a request body in the Kubernetes protobuf encoding (the "k8s\0" magic, then a
 * runtime.Unknown with the object's apiVersion, kind and raw message) into *out: a new JSON
 * object with apiVersion, kind and every field the body sets, as the JSON encoding writes them.
 * Errors: 415 UnsupportedMediaType naming the kind, or the field number and its message, when
 * the schema tables do not know it (the body must then be sent as JSON); 400 BadRequest when the
 * body is not well-formed protobuf. *out is NULL on error.
 */
int sim_protobuf_decode(const void *body, size_t len, json_t **out, vs_error *err);

#endif
