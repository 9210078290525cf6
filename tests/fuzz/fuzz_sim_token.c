/*
 * libFuzzer target: what volshift-sim reads of every request before it knows who sent it: the
 * Authorization header, the service-account token in it (a JWT: base64url parts, JSON, a
 * signature), and the path the authorizer takes apart. Any bytes must be refused with an error or
 * accepted; a token this server signed must verify to the claims it was given.
 */
#include "sim/auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sim_jwt_key *fuzz_key(void)
{
	static sim_jwt_key *key;
	vs_error err;

	if (!key && sim_jwt_key_new(&key, &err) != 0)
		abort();
	return key;
}

/* The input as the claims of a token we sign: it must come back the same. */
static void roundtrip(const char *text, size_t size)
{
	json_t *claims = json_loadb(text, size, 0, NULL), *got = NULL;
	char *tok = NULL;
	vs_error err;

	if (json_is_object(claims) && sim_jwt_sign(fuzz_key(), claims, &tok, &err) == 0 &&
	    (sim_jwt_verify(fuzz_key(), tok, &got, &err) != 0 || !json_equal(got, claims)))
		abort();
	free(tok);
	json_decref(got);
	json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = vs_xstrndup((const char *)data, size), *tok;
	sim_authz_attrs a = { 0 };
	json_t *claims = NULL;
	const char *bearer;
	size_t n;
	vs_error err;

	bearer = sim_auth_bearer(text, &n);
	if (bearer) {
		tok = vs_xstrndup(bearer, n);
		if (sim_jwt_verify(fuzz_key(), tok, &claims, &err) == 0 && !json_is_object(claims))
			abort();
		json_decref(claims);
		free(tok);
	}
	sim_authz_attrs_parse(&a, "GET", text, text, text);
	if (!a.verb || !a.path || !a.resource || !a.name)
		abort();
	sim_authz_attrs_clear(&a);
	roundtrip(text, strlen(text));
	free(text);
	return 0;
}
