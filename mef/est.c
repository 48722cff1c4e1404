/* OpenSSL only (est.h). */
#include "est.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctype.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *b64_of(const unsigned char *der, int n)
{
    char *out = n > 0 ? malloc((size_t)(4 * ((n + 2) / 3) + 1)) : NULL;
    if (out) EVP_EncodeBlock((unsigned char *)out, der, n);
    return out;
}

/* base64 (whitespace skipped) into *der; its length, or -1. */
static int der_of(const char *b64, size_t len, unsigned char **der)
{
    char *clean = malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; clean && i < len; i++)
        if (!isspace((unsigned char)b64[i])) clean[n++] = b64[i];
    *der = clean && n && n % 4 == 0 ? malloc(n / 4 * 3) : NULL;
    int out = *der ? EVP_DecodeBlock(*der, (unsigned char *)clean, (int)n) : -1;
    if (out >= 0) out -= (clean[n - 1] == '=') + (clean[n - 2] == '=');
    free(clean);
    if (out < 0) { free(*der); *der = NULL; }
    return out;
}

static char *certs_only(STACK_OF(X509) *certs)
{
    PKCS7 *p7 = PKCS7_new();
    unsigned char *der = NULL;
    int n = -1;
    /* Degenerate SignedData (RFC 7030 4.1.3): no signers, no content, only certificates. */
    if (p7 && PKCS7_set_type(p7, NID_pkcs7_signed)) {
        p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);
        bool ok = true;
        for (int i = 0; ok && i < sk_X509_num(certs); i++) ok = PKCS7_add_certificate(p7, sk_X509_value(certs, i));
        if (ok) n = i2d_PKCS7(p7, &der);
    }
    char *out = b64_of(der, n);
    OPENSSL_free(der);
    PKCS7_free(p7);
    return out;
}

char *est_cacerts(const char *pem_file, char *err, size_t errlen)
{
    FILE *f = fopen(pem_file, "r");
    STACK_OF(X509) *certs = sk_X509_new_null();
    X509 *c;
    while (f && certs && (c = PEM_read_X509(f, NULL, NULL, NULL))) sk_X509_push(certs, c);
    if (f) fclose(f);
    char *out = sk_X509_num(certs) > 0 ? certs_only(certs) : NULL;
    if (!out) snprintf(err, errlen, "cannot read the CA certificates of %s", pem_file);
    sk_X509_pop_free(certs, X509_free);
    return out;
}

char *est_csrattrs(void)
{
    /* SEQUENCE { challengePassword (1.2.840.113549.1.9.7), subjectAltName (2.5.29.17) } */
    static const unsigned char der[] = { 0x30, 0x10, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
                                         0x09, 0x07, 0x06, 0x03, 0x55, 0x1d, 0x11 };
    return b64_of(der, sizeof der);
}

static bool is_p256(EVP_PKEY *pk)
{
    char group[64];
    return pk && EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC &&
           EVP_PKEY_get_group_name(pk, group, sizeof group, NULL) && !strcmp(group, "prime256v1");
}

static bool password_matches(X509_REQ *req, const char *password)
{
    int idx = X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, -1);
    X509_ATTRIBUTE *a = idx >= 0 ? X509_REQ_get_attr(req, idx) : NULL;
    ASN1_TYPE *t = a && X509_ATTRIBUTE_count(a) == 1 ? X509_ATTRIBUTE_get0_type(a, 0) : NULL;
    if (!t || (t->type != V_ASN1_UTF8STRING && t->type != V_ASN1_PRINTABLESTRING && t->type != V_ASN1_IA5STRING))
        return false;
    const ASN1_STRING *s = t->value.asn1_string;
    size_t n = strlen(password);
    return (size_t)ASN1_STRING_length(s) == n && !memcmp(ASN1_STRING_get0_data(s), password, n);
}

/* The request's subjectAltName when it is exactly one URI equal to identity. */
static GENERAL_NAMES *san_of(X509_REQ *req, const char *identity, const char **why)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *names = NULL;
    for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts) && !names; i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name) names = X509V3_EXT_d2i(e);
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAME *g = names && sk_GENERAL_NAME_num(names) == 1 ? sk_GENERAL_NAME_value(names, 0) : NULL;
    const ASN1_IA5STRING *uri = g && g->type == GEN_URI ? g->d.uniformResourceIdentifier : NULL;
    size_t n = strlen(identity);
    if (uri && (size_t)ASN1_STRING_length(uri) == n && !memcmp(ASN1_STRING_get0_data(uri), identity, n))
        return names;
    *why = !names ? "the CSR has no subjectAltName (it must carry the identity as its one URI)"
                  : "the CSR's subjectAltName must be exactly one URI: the identity the MEF vouches for";
    GENERAL_NAMES_free(names);
    return NULL;
}

static bool add_ext(X509 *c, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    bool ok = e && X509_add_ext(c, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

static X509 *issue(X509_REQ *req, GENERAL_NAMES *san, X509 *ca, EVP_PKEY *ca_key, int64_t not_after_s)
{
    X509 *c = X509_new();
    BIGNUM *bn = BN_new();
    ASN1_INTEGER *serial = NULL;
    X509V3_CTX ctx;
    bool ok = c && bn && X509_set_version(c, 2) && BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
              (serial = BN_to_ASN1_INTEGER(bn, NULL)) && X509_set_serialNumber(c, serial) &&
              X509_set_issuer_name(c, X509_get_subject_name(ca)) &&
              X509_set_subject_name(c, X509_REQ_get_subject_name(req)) &&
              X509_set_pubkey(c, X509_REQ_get0_pubkey(req)) && X509_gmtime_adj(X509_getm_notBefore(c), -300) &&
              X509_gmtime_adj(X509_getm_notAfter(c), (long)(not_after_s - time(NULL)));
    if (ok) {
        X509V3_set_ctx(&ctx, ca, c, NULL, NULL, 0);
        ok = add_ext(c, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(c, &ctx, NID_key_usage, "critical,digitalSignature") &&
             add_ext(c, &ctx, NID_ext_key_usage, "clientAuth") &&
             add_ext(c, &ctx, NID_subject_key_identifier, "hash") &&
             add_ext(c, &ctx, NID_authority_key_identifier, "keyid") &&
             X509_add1_ext_i2d(c, NID_subject_alt_name, san, 0, 0) == 1 &&
             X509_sign(c, ca_key, EVP_sha256()) > 0;
    }
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    if (!ok) { X509_free(c); c = NULL; }
    return c;
}

static bool load_ca(const struct est_issue *in, X509 **ca, EVP_PKEY **key)
{
    FILE *f = fopen(in->ca_cert, "r");
    *ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    f = fopen(in->ca_key, "r");
    *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    return *ca && *key;
}

char *est_enroll(const char *b64, size_t len, const struct est_issue *in, char *serial, size_t serial_cap,
                 char *err, size_t errlen)
{
    unsigned char *der = NULL;
    int n = der_of(b64, len, &der);
    const unsigned char *p = der;
    X509_REQ *req = n > 0 ? d2i_X509_REQ(NULL, &p, n) : NULL;
    const char *why = n < 0 ? "the body is not base64 (RFC 7030: base64 of a DER PKCS#10 request)"
                    : !req || p != der + n ? "the body is not one DER PKCS#10 certificate request"
                    : !is_p256(X509_REQ_get0_pubkey(req)) ? "the CSR's key must be EC P-256 (TS-0003 10.1.1)"
                    : X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1 ? "the CSR's signature does not verify"
                    : !password_matches(req, in->password) ? "wrong or missing challengePassword"
                    : NULL;
    GENERAL_NAMES *san = why ? NULL : san_of(req, in->identity, &why);
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *ca_key = NULL;
    if (!why && !load_ca(in, &ca, &ca_key)) why = "the MEF's CA cannot be read";
    if (!why && !(cert = issue(req, san, ca, ca_key, in->not_after_s))) why = "the certificate could not be made";
    char *out = NULL;
    if (cert) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        snprintf(serial, serial_cap, "%s", hex ? hex : "");
        OPENSSL_free(hex);
        BN_free(bn);
        STACK_OF(X509) *one = sk_X509_new_null();
        if (one && sk_X509_push(one, cert)) out = certs_only(one);
        sk_X509_free(one);
        if (!out) why = "the certificate could not be encoded";
    }
    if (why) snprintf(err, errlen, "%s", why);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    GENERAL_NAMES_free(san);
    X509_REQ_free(req);
    free(der);
    return out;
}

static bool revoke_serial(X509_CRL *crl, const char *hex, const ASN1_TIME *when)
{
    BIGNUM *bn = NULL;
    X509_REVOKED *rev = X509_REVOKED_new();
    ASN1_INTEGER *serial = BN_hex2bn(&bn, hex) ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    bool ok = rev && serial && X509_REVOKED_set_serialNumber(rev, serial) &&
              X509_REVOKED_set_revocationDate(rev, (ASN1_TIME *)when) && X509_CRL_add0_revoked(crl, rev);
    if (!ok) X509_REVOKED_free(rev);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok;
}

int est_write_crl(const char *ca_cert, const char *ca_key, const char *const *serials, int n, const char *out_file,
                  char *err, size_t errlen)
{
    struct est_issue in = { .ca_cert = ca_cert, .ca_key = ca_key };
    X509 *ca = NULL;
    EVP_PKEY *key = NULL;
    X509_CRL *crl = X509_CRL_new();
    /* thisUpdate a minute back: a verifier whose clock is a second behind (or
     * that wants thisUpdate strictly in the past, as wolfSSL does) takes it. */
    ASN1_TIME *now = ASN1_TIME_adj(NULL, time(NULL) - 60, 0, 0), *next = ASN1_TIME_adj(NULL, time(NULL), 1, 0);
    bool ok = crl && now && next && load_ca(&in, &ca, &key) && X509_CRL_set_version(crl, 1) &&
              X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) && X509_CRL_set1_lastUpdate(crl, now) &&
              X509_CRL_set1_nextUpdate(crl, next);
    /* The issuer's key ID: every Ironbark CA has the same subject name, so a
     * verifier must find the right one by key (wolfSSL looks the CRL's CA up
     * by its authorityKeyIdentifier, else by name). */
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, ca, NULL, NULL, crl, 0);
    X509_EXTENSION *akid = ok ? X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always") : NULL;
    ok = akid && X509_CRL_add_ext(crl, akid, -1);
    X509_EXTENSION_free(akid);
    for (int i = 0; ok && i < n; i++) ok = revoke_serial(crl, serials[i], now);
    ok = ok && X509_CRL_sort(crl) && X509_CRL_sign(crl, key, EVP_sha256()) > 0;
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.new", out_file);
    FILE *f = ok ? fopen(tmp, "w") : NULL;
    ok = f && PEM_write_X509_CRL(f, crl);
    if (f && fclose(f)) ok = false;
    if (ok) chmod(tmp, 0644);   /* public: CSEs read it */
    ok = ok && !rename(tmp, out_file);
    if (!ok) {
        snprintf(err, errlen, "cannot write the CRL %s", out_file);
        unlink(tmp);
    }
    ASN1_TIME_free(now);
    ASN1_TIME_free(next);
    X509_CRL_free(crl);
    X509_free(ca);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

char *est_make_csr(const char *key_file, const char *identity, const char *password, char *err, size_t errlen)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    GENERAL_NAMES *san = GENERAL_NAMES_new();
    GENERAL_NAME *uri = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *ext = NULL;
    bool ok = key && req && name && san && uri && ia5 && exts && ASN1_STRING_set(ia5, identity, -1) &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)identity, -1, -1, 0) &&
              X509_REQ_set_subject_name(req, name) && X509_REQ_set_pubkey(req, key) &&
              X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                                        (const unsigned char *)password, -1);
    if (ok) {
        GENERAL_NAME_set0_value(uri, GEN_URI, ia5);
        ia5 = NULL;
        ok = sk_GENERAL_NAME_push(san, uri) > 0;
        if (ok) uri = NULL;
    }
    ok = ok && (ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, san)) && sk_X509_EXTENSION_push(exts, ext) > 0 &&
         X509_REQ_add_extensions(req, exts) && X509_REQ_sign(req, key, EVP_sha256()) > 0;
    if (ext && !ok) X509_EXTENSION_free(ext);
    FILE *f = NULL;
    if (ok) {
        unlink(key_file);
        int fd = open(key_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        f = fd >= 0 ? fdopen(fd, "w") : NULL;
        ok = f && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
        if (f && fclose(f)) ok = false;
        if (!ok) snprintf(err, errlen, "cannot write the key file %s", key_file);
    } else {
        snprintf(err, errlen, "cannot make the certificate request");
    }
    unsigned char *der = NULL;
    int n = ok ? i2d_X509_REQ(req, &der) : -1;
    char *out = b64_of(der, n);
    OPENSSL_free(der);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAME_free(uri);
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAMES_free(san);
    X509_NAME_free(name);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return out;
}

int est_save_certs(const char *b64, size_t len, const char *cert_file, char *err, size_t errlen)
{
    unsigned char *der = NULL;
    int n = der_of(b64, len, &der);
    const unsigned char *p = der;
    PKCS7 *p7 = n > 0 ? d2i_PKCS7(NULL, &p, n) : NULL;
    STACK_OF(X509) *certs = p7 && PKCS7_type_is_signed(p7) ? p7->d.sign->cert : NULL;
    FILE *f = sk_X509_num(certs) > 0 ? fopen(cert_file, "w") : NULL;
    bool ok = f != NULL;
    for (int i = 0; ok && i < sk_X509_num(certs); i++) ok = PEM_write_X509(f, sk_X509_value(certs, i));
    if (f && fclose(f)) ok = false;
    if (!ok) snprintf(err, errlen, certs ? "cannot write %s" : "the answer is not a PKCS#7 certs-only (base64)", cert_file);
    PKCS7_free(p7);
    free(der);
    return ok ? 0 : -1;
}
