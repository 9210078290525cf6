/*
 * tls: volshift-sim's PKI and the identity of a client's certificate. At start it makes a CA, a
 * serving certificate for the names a client may dial (127.0.0.1, localhost, kubernetes.default.svc
 * ...) and the admin's client certificate, with OpenSSL, and writes them into the data directory as
 * kubeadm lays them out, so that kubectl, curl and volshift verify the server and prove who they
 * are. libmicrohttpd serves TLS with GnuTLS, so the client certificate of a connection is checked
 * and read with GnuTLS, against the CA the server was given as its trust list.
 */
#include "auth.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* The names of the serving certificate: loopback, and those of the kubernetes Service, as a real
 * API server's certificate has them. */
#define SERVER_SANS                                                                                    \
	"IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc," \
	"DNS:kubernetes.default.svc.cluster.local"
#define CA_DAYS	  3650
#define LEAF_DAYS 365
#define CN_MAX	  256

struct sim_pki {
	X509 *ca;
	EVP_PKEY *ca_key;
	char *pem[SIM_PEM_ADMIN_KEY + 1];
};

/* What a certificate is for. */
enum cert_kind { CERT_CA, CERT_SERVER, CERT_CLIENT };

/* ---- making certificates (OpenSSL) ------------------------------------------------------------------ */

static char *pem_of(int (*write)(BIO *, const void *), const void *obj)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *out = NULL;
	long n;

	if (write(bio, obj) == 1 && (n = BIO_get_mem_data(bio, &data)) > 0)
		out = vs_xstrndup(data, (size_t)n);
	BIO_free(bio);
	return out;
}

static int write_cert(BIO *bio, const void *cert)
{
	return PEM_write_bio_X509(bio, (X509 *)cert);
}

static int write_key(BIO *bio, const void *key)
{
	return PEM_write_bio_PrivateKey(bio, (EVP_PKEY *)key, NULL, NULL, 0, NULL, NULL);
}

static bool add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	bool ok = ext && X509_add_ext(cert, ext, -1) == 1;

	X509_EXTENSION_free(ext);
	return ok;
}

static bool add_extensions(X509 *cert, X509 *issuer, enum cert_kind kind)
{
	X509V3_CTX ctx;

	X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
	if (kind == CERT_CA)
		return add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE") &&
		       add_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign") &&
		       add_ext(cert, &ctx, NID_subject_key_identifier, "hash");
	return add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
	       add_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
	       add_ext(cert, &ctx, NID_ext_key_usage, kind == CERT_SERVER ? "serverAuth" : "clientAuth") &&
	       add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always") &&
	       (kind != CERT_SERVER || add_ext(cert, &ctx, NID_subject_alt_name, SERVER_SANS));
}

static bool set_subject(X509 *cert, const char *cn, const char *const *orgs)
{
	X509_NAME *name = X509_get_subject_name(cert);

	for (; orgs && *orgs; orgs++)
		if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)*orgs, -1, -1, 0) != 1)
			return false;
	return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) == 1;
}

/* A random positive 128-bit serial number. */
static bool set_serial(X509 *cert)
{
	unsigned char raw[16];
	BIGNUM *bn;
	bool ok;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return false;
	raw[0] &= 0x7f;
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
	BN_free(bn);
	return ok;
}

/* A certificate for key, signed by issuer (NULL: self-signed), valid from an hour ago (clocks
 * differ) for days. NULL when OpenSSL fails. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *const *orgs, enum cert_kind kind, X509 *issuer,
		       EVP_PKEY *issuer_key, int days)
{
	X509 *cert = X509_new();
	bool ok = cert && X509_set_version(cert, 2) == 1 && set_serial(cert) &&
		  X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
		  X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * days) && X509_set_pubkey(cert, key) == 1 &&
		  set_subject(cert, cn, orgs) &&
		  X509_set_issuer_name(cert, X509_get_subject_name(issuer ? issuer : cert)) == 1 &&
		  add_extensions(cert, issuer, kind) &&
		  X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) > 0;

	if (!ok) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

/* A new key and a certificate for it, both as PEM (caller frees). */
static int issue(X509 *ca, EVP_PKEY *ca_key, const char *cn, const char *const *orgs, enum cert_kind kind, int days,
		 char **cert_pem, char **key_pem, vs_error *err)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = key ? make_cert(key, cn, orgs, kind, ca, ca_key, days) : NULL;
	int rc = 0;

	*cert_pem = cert ? pem_of(write_cert, cert) : NULL;
	*key_pem = cert ? pem_of(write_key, key) : NULL;
	if (!*cert_pem || !*key_pem) {
		free(*cert_pem);
		free(*key_pem);
		*cert_pem = *key_pem = NULL;
		rc = vs_error_set(err, VS_EIO, "certificate for \"%s\": OpenSSL could not make it", cn);
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

int sim_pki_issue_client(const sim_pki *pki, const char *user, const char *const *groups, int days, char **cert,
			 char **key, vs_error *err)
{
	return issue(pki->ca, pki->ca_key, user, groups, CERT_CLIENT, days, cert, key, err);
}

/* ---- the PKI ----------------------------------------------------------------------------------------- */

static int make_ca(sim_pki *pki, vs_error *err)
{
	pki->ca_key = EVP_EC_gen("P-256");
	pki->ca = pki->ca_key ? make_cert(pki->ca_key, "kubernetes", NULL, CERT_CA, NULL, NULL, CA_DAYS) : NULL;
	pki->pem[SIM_PEM_CA] = pki->ca ? pem_of(write_cert, pki->ca) : NULL;
	if (!pki->pem[SIM_PEM_CA])
		return vs_error_set(err, VS_EIO, "the cluster's CA: OpenSSL could not make it");
	return 0;
}

static int write_files(const sim_pki *pki, const char *dir, vs_error *err)
{
	static const struct {
		const char *file;
		int mode;
		enum sim_pki_pem pem;
	} files[] = {
		{ "ca.crt", 0644, SIM_PEM_CA },
		{ "apiserver.crt", 0644, SIM_PEM_SERVER_CERT },
		{ "apiserver.key", 0600, SIM_PEM_SERVER_KEY },
		{ "admin.crt", 0644, SIM_PEM_ADMIN_CERT },
		{ "admin.key", 0600, SIM_PEM_ADMIN_KEY },
	};
	char *ca_key = pem_of(write_key, pki->ca_key), *path = vs_xasprintf("%s/ca.key", dir);
	int rc = ca_key ? vs_file_write_atomic(path, ca_key, strlen(ca_key), 0600, err)
			: vs_error_set(err, VS_EIO, "%s: OpenSSL could not write the key", path);

	for (size_t i = 0; rc == 0 && i < sizeof(files) / sizeof(files[0]); i++) {
		free(path);
		path = vs_xasprintf("%s/%s", dir, files[i].file);
		rc = vs_file_write_atomic(path, pki->pem[files[i].pem], strlen(pki->pem[files[i].pem]), files[i].mode,
					  err);
	}
	free(path);
	free(ca_key);
	return rc;
}

int sim_pki_new(const char *dir, sim_pki **out, vs_error *err)
{
	static const char *const masters[] = { SIM_GROUP_MASTERS, NULL };
	sim_pki *pki = vs_xcalloc(1, sizeof(*pki));
	int rc;

	*out = NULL;
	if ((rc = make_ca(pki, err)) != 0 ||
	    (rc = issue(pki->ca, pki->ca_key, "kube-apiserver", NULL, CERT_SERVER, LEAF_DAYS,
			&pki->pem[SIM_PEM_SERVER_CERT], &pki->pem[SIM_PEM_SERVER_KEY], err)) != 0 ||
	    (rc = issue(pki->ca, pki->ca_key, "admin", masters, CERT_CLIENT, LEAF_DAYS, &pki->pem[SIM_PEM_ADMIN_CERT],
			&pki->pem[SIM_PEM_ADMIN_KEY], err)) != 0 ||
	    (rc = write_files(pki, dir, err)) != 0) {
		sim_pki_free(pki);
		return rc;
	}
	*out = pki;
	return 0;
}

void sim_pki_free(sim_pki *pki)
{
	if (!pki)
		return;
	X509_free(pki->ca);
	EVP_PKEY_free(pki->ca_key);
	for (size_t i = 0; i < sizeof(pki->pem) / sizeof(pki->pem[0]); i++)
		free(pki->pem[i]);
	free(pki);
}

const char *sim_pki_pem(const sim_pki *pki, enum sim_pki_pem which)
{
	return pki->pem[which];
}

/* ---- a client's certificate (GnuTLS, as libmicrohttpd) ------------------------------------------------ */

/* Attribute oid of the subject, the idx-th one, into buf; false when there is none. */
static bool subject_attr(gnutls_x509_crt_t crt, const char *oid, unsigned idx, char buf[CN_MAX])
{
	size_t size = CN_MAX;

	return gnutls_x509_crt_get_dn_by_oid(crt, oid, idx, 0, buf, &size) == 0 && size < CN_MAX;
}

/* The user of a verified certificate (CommonNameUserConversion): CN, groups from every O. */
static int user_of(const gnutls_datum_t *der, json_t **user, vs_error *err)
{
	gnutls_x509_crt_t crt;
	char buf[CN_MAX];
	json_t *groups;
	int rc = 0;

	if (gnutls_x509_crt_init(&crt) < 0)
		return vs_error_set(err, VS_EIO, "client certificate: GnuTLS failed");
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0 ||
	    !subject_attr(crt, GNUTLS_OID_X520_COMMON_NAME, 0, buf) || !*buf) {
		rc = vs_error_set(err, VS_EINVAL, "client certificate: no common name");
		goto done;
	}
	*user = json_pack("{s:s,s:[]}", "username", buf, "groups");
	groups = json_object_get(*user, "groups");
	for (unsigned i = 0; subject_attr(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i, buf); i++)
		json_array_append_new(groups, json_string(buf));
done:
	gnutls_x509_crt_deinit(crt);
	return rc;
}

int sim_tls_client_user(void *session, json_t **user, vs_error *err)
{
	gnutls_session_t s = session;
	gnutls_typed_vdata_st purpose = { .type = GNUTLS_DT_KEY_PURPOSE_OID,
					  .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT };
	const gnutls_datum_t *certs;
	unsigned n = 0, status = 0;

	*user = NULL;
	if (!s || !(certs = gnutls_certificate_get_peers(s, &n)) || n == 0)
		return 0;
	if (gnutls_certificate_verify_peers(s, &purpose, 1, &status) < 0 || status != 0) {
		gnutls_datum_t why = { NULL, 0 };
		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
		vs_error_set(err, VS_EINVAL, "client certificate: %s",
			     why.data ? (const char *)why.data : "not verified");
		gnutls_free(why.data);
		return VS_EINVAL;
	}
	return user_of(&certs[0], user, err);
}
