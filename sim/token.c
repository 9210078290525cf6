/*
 * token: the JSON Web Tokens of volshift-sim's service accounts, as kube-apiserver signs them: a
 * compact JWS, RS256 with an RSA-2048 key made at start, its header naming the key by the id
 * kube-apiserver computes. Parsing takes any bytes from the Authorization header of any request,
 * so it checks every step and has a fuzz target (tests/fuzz/fuzz_sim_token.c).
 */
#include "auth.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

/* The longest token worth parsing: real service-account tokens are about 1 KiB. */
#define JWT_MAX_BYTES (16u << 10)

struct sim_jwt_key {
	EVP_PKEY *pkey;
	char *kid;
};

/* ---- base64url without padding (RFC 7515) ---------------------------------------------------------- */

static char *b64url_encode(const unsigned char *in, size_t n)
{
	char *s = vs_base64_encode(in, n);

	for (char *p = s; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=')
			*p = '\0';
	}
	return s;
}

/* Decode n characters of base64url (no padding, no other character); VS_EINVAL otherwise. */
static int b64url_decode(const char *in, size_t n, unsigned char **out, size_t *len, vs_error *err)
{
	char *std = vs_xmalloc(n + 1);
	int rc;

	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			  ch == '-' || ch == '_';
		if (!ok) {
			free(std);
			return vs_error_set(err, VS_EINVAL, "not base64url: character %zu", i);
		}
		std[i] = ch == '-' ? '+' : ch == '_' ? '/' : ch;
	}
	std[n] = '\0';
	rc = n % 4 == 1 ? vs_error_set(err, VS_EINVAL, "not base64url: bad length")
			: vs_base64_decode(std, out, len, err);
	free(std);
	return rc;
}

/* ---- the key ------------------------------------------------------------------------------------- */

/* kube-apiserver's keyIDFromPublicKey: base64url(SHA-256(PKIX DER of the public key)). */
static char *key_id(EVP_PKEY *pkey)
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int n = i2d_PUBKEY(pkey, &der);
	char *kid = NULL;

	if (n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1)
		kid = b64url_encode(md, mdlen);
	OPENSSL_free(der);
	return kid;
}

int sim_jwt_key_new(sim_jwt_key **out, vs_error *err)
{
	EVP_PKEY *pkey = EVP_RSA_gen(2048);
	char *kid = pkey ? key_id(pkey) : NULL;

	*out = NULL;
	if (!kid) {
		EVP_PKEY_free(pkey);
		return vs_error_set(err, VS_EIO, "service-account key: OpenSSL could not make an RSA key");
	}
	*out = vs_xcalloc(1, sizeof(**out));
	(*out)->pkey = pkey;
	(*out)->kid = kid;
	return 0;
}

void sim_jwt_key_free(sim_jwt_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key->kid);
	free(key);
}

/* Write the PEM that write_pem puts into a memory BIO to path, with mode. */
static int write_pem_file(const char *path, int mode, EVP_PKEY *pkey, bool private_key, vs_error *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;
	int ok = private_key ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
			     : PEM_write_bio_PUBKEY(bio, pkey);
	int rc;

	n = BIO_get_mem_data(bio, &data);
	rc = ok == 1 && n > 0 ? vs_file_write_atomic(path, data, (size_t)n, mode, err)
			      : vs_error_set(err, VS_EIO, "%s: OpenSSL could not write the key", path);
	BIO_free(bio);
	return rc;
}

int sim_jwt_key_write(const sim_jwt_key *key, const char *dir, vs_error *err)
{
	char *priv = vs_xasprintf("%s/sa.key", dir), *pub = vs_xasprintf("%s/sa.pub", dir);
	int rc = write_pem_file(priv, 0600, key->pkey, true, err);

	if (rc == 0)
		rc = write_pem_file(pub, 0644, key->pkey, false, err);
	free(priv);
	free(pub);
	return rc;
}

/* ---- signing ------------------------------------------------------------------------------------- */

/* The base64url of a JSON value's compact text; caller frees. */
static char *b64url_json(const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	char *enc = b64url_encode((const unsigned char *)(text ? text : "{}"), text ? strlen(text) : 2);

	free(text);
	return enc;
}

int sim_jwt_sign(const sim_jwt_key *key, const json_t *claims, char **out, vs_error *err)
{
	json_t *header = json_pack("{s:s,s:s}", "alg", "RS256", "kid", key->kid);
	char *h = b64url_json(header), *p = b64url_json(claims), *input = vs_xasprintf("%s.%s", h, p), *sig64 = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t siglen = 0;
	int rc = 0;

	*out = NULL;
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
		rc = vs_error_set(err, VS_EIO, "service-account token: OpenSSL could not sign");
		goto done;
	}
	sig = vs_xmalloc(siglen);
	if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
		rc = vs_error_set(err, VS_EIO, "service-account token: OpenSSL could not sign");
		goto done;
	}
	sig64 = b64url_encode(sig, siglen);
	*out = vs_xasprintf("%s.%s", input, sig64);
done:
	EVP_MD_CTX_free(ctx);
	json_decref(header);
	free(h);
	free(p);
	free(input);
	free(sig);
	free(sig64);
	return rc;
}

/* ---- parsing and verifying -------------------------------------------------------------------------- */

/* One base64url part of n characters holding a JSON object; *obj is the caller's. */
static int decode_json_part(const char *part, size_t n, const char *what, json_t **obj, vs_error *err)
{
	unsigned char *raw = NULL;
	size_t len = 0;
	json_error_t jerr;

	*obj = NULL;
	if (b64url_decode(part, n, &raw, &len, err) != 0)
		return vs_error_wrap(err, "token %s", what);
	*obj = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, &jerr);
	free(raw);
	if (!json_is_object(*obj)) {
		json_decref(*obj);
		*obj = NULL;
		return vs_error_set(err, VS_EINVAL, "token %s: not a JSON object", what);
	}
	return 0;
}

static int check_signature(const sim_jwt_key *key, const char *token, size_t signed_len, const char *sig64,
			   vs_error *err)
{
	unsigned char *sig = NULL;
	size_t siglen = 0;
	EVP_MD_CTX *ctx = NULL;
	int rc = b64url_decode(sig64, strlen(sig64), &sig, &siglen, err);

	if (rc != 0)
		return vs_error_wrap(err, "token signature");
	ctx = EVP_MD_CTX_new();
	if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) != 1 ||
	    EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)token, signed_len) != 1)
		rc = vs_error_set(err, VS_EINVAL, "token signature: not made by this server's key");
	EVP_MD_CTX_free(ctx);
	free(sig);
	return rc;
}

int sim_jwt_verify(const sim_jwt_key *key, const char *token, json_t **claims, vs_error *err)
{
	const char *dot1, *dot2;
	json_t *header = NULL, *payload = NULL;
	size_t n = strnlen(token, JWT_MAX_BYTES + 1);
	int rc;

	*claims = NULL;
	if (n > JWT_MAX_BYTES)
		return vs_error_set(err, VS_EINVAL, "token: longer than %u bytes", JWT_MAX_BYTES);
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (!dot2 || strchr(dot2 + 1, '.'))
		return vs_error_set(err, VS_EINVAL, "token: not a compact JWS (three parts separated by dots)");
	if ((rc = decode_json_part(token, (size_t)(dot1 - token), "header", &header, err)) != 0)
		goto done;
	if (strcmp(vs_json_str_or(header, "alg", ""), "RS256") != 0) {
		rc = vs_error_set(err, VS_EINVAL, "token header: algorithm \"%s\" is not RS256",
				  vs_json_str_or(header, "alg", ""));
		goto done;
	}
	if ((rc = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1), "payload", &payload, err)) != 0 ||
	    (rc = check_signature(key, token, (size_t)(dot2 - token), dot2 + 1, err)) != 0)
		goto done;
	*claims = payload;
	payload = NULL;
done:
	json_decref(header);
	json_decref(payload);
	return rc;
}
