/* security/x509_cache.c's d2i_X509() against libcrypto's own (found with
 * dlsym(RTLD_NEXT)): the same certificate (DER, public key), the input
 * advanced as far, the same failures on truncated, malformed and mutated
 * DER, a reused *a replaced or freed as libcrypto does; the bound; its
 * X509_verify() and X509_CRL_verify() against libcrypto's (a signature
 * remembered only for the same certificate or CRL and an equal key); and
 * libssl reaching them in handshakes whose verification, revocation
 * included, still runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "security/x509_cache.h"
#include "ssl_mem.h"

typedef X509 *d2i_fn(X509 **a, const unsigned char **in, long len);

static d2i_fn *libcrypto_d2i(void)
{
    d2i_fn *f = (d2i_fn *)dlsym(RTLD_NEXT, "d2i_X509");
    assert_non_null(f);
    return f;
}

/* A P-256 certificate for cn, signed by signer (itself when NULL), with
 * an optional comment of comment_len bytes to make it large. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *signer, long serial, size_t comment_len)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, issuer ? "CA:FALSE" : "critical,CA:TRUE");
    X509_add_ext(x, bc, -1);
    X509_EXTENSION_free(bc);
    if (comment_len) {
        char *text = malloc(comment_len + 1);
        memset(text, 'c', comment_len);
        text[comment_len] = 0;
        X509_EXTENSION *c = X509V3_EXT_conf_nid(NULL, &v3, NID_netscape_comment, text);
        assert_non_null(c);
        X509_add_ext(x, c, -1);
        X509_EXTENSION_free(c);
        free(text);
    }
    assert_true(X509_sign(x, signer ? signer : key, EVP_sha256()) > 0);
    return x;
}

static EVP_PKEY *p256(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    return k;
}

/* DER of x in a buffer with room after it. */
static unsigned char *der_of(X509 *x, int *n, size_t room)
{
    *n = i2d_X509(x, NULL);
    assert_true(*n > 0);
    unsigned char *der = malloc((size_t)*n + room), *p = der;
    assert_int_equal(i2d_X509(x, &p), *n);
    memset(der + *n, 0xa5, room);
    return der;
}

/* Both d2i's on the same bytes: the same success or failure, the input
 * advanced as far, an equal certificate. Returns whether it parsed. */
static int compare(const unsigned char *der, long len)
{
    const unsigned char *p = der, *q = der;
    ERR_clear_error();
    X509 *ours = x509_cache_d2i(NULL, &p, len);
    int our_error = ours == NULL && ERR_peek_error() != 0;
    ERR_clear_error();
    X509 *theirs = libcrypto_d2i()(NULL, &q, len);
    int their_error = theirs == NULL && ERR_peek_error() != 0;
    ERR_clear_error();
    assert_int_equal(ours == NULL, theirs == NULL);
    assert_ptr_equal(p, q);
    assert_int_equal(our_error, their_error);
    if (ours) {
        unsigned char *a = NULL, *b = NULL;
        int na = i2d_X509(ours, &a), nb = i2d_X509(theirs, &b);
        assert_true(na > 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, (size_t)na);
        assert_int_equal(X509_cmp(ours, theirs), 0);
        EVP_PKEY *ka = X509_get0_pubkey(ours), *kb = X509_get0_pubkey(theirs);
        assert_int_equal(ka == NULL, kb == NULL);
        if (ka) assert_int_equal(EVP_PKEY_eq(ka, kb), 1);
        assert_int_equal(X509_get_extension_flags(ours), X509_get_extension_flags(theirs));
        OPENSSL_free(a);
        OPENSSL_free(b);
    }
    X509_free(ours);
    X509_free(theirs);
    return ours != NULL;
}

/* A certificate parsed twice is one object with two references, equal to
 * libcrypto's parse; bytes after it are not consumed. */
static void same_certificate(void **state)
{
    (void)state;
    EVP_PKEY *key = p256();
    X509 *cert = make_cert("same", key, NULL, NULL, 1, 0);
    int n;
    unsigned char *der = der_of(cert, &n, 16);
    unsigned long before = x509_cache_hits();
    assert_true(compare(der, n));
    assert_int_equal(x509_cache_hits(), before);
    assert_true(compare(der, n + 16));
    assert_int_equal(x509_cache_hits(), before + 1);
    const unsigned char *p = der, *q = der;
    X509 *a = x509_cache_d2i(NULL, &p, n), *b = x509_cache_d2i(NULL, &q, n);
    assert_ptr_equal(a, b);
    assert_ptr_equal(p, der + n);
    X509_free(a);
    assert_int_equal(X509_check_private_key(b, key), 1);   /* still ours to use */
    X509_free(b);
    free(der);
    X509_free(cert);
    EVP_PKEY_free(key);
}

/* d2i_X509(&x, ...) with x allocated: libcrypto returns x with the new
 * contents; ours frees x and sets it to the certificate. On failure both
 * free x and set it to NULL. */
static void reused_object(void **state)
{
    (void)state;
    EVP_PKEY *key = p256();
    X509 *cert = make_cert("reused", key, NULL, NULL, 2, 0);
    int n;
    unsigned char *der = der_of(cert, &n, 0);
    for (int round = 0; round < 2; round++) {   /* a miss, then a hit */
        X509 *x = X509_new(), *y = X509_new();
        const unsigned char *p = der, *q = der;
        X509 *ours = x509_cache_d2i(&x, &p, n), *theirs = libcrypto_d2i()(&y, &q, n);
        assert_non_null(ours);
        assert_ptr_equal(ours, x);
        assert_ptr_equal(theirs, y);
        assert_ptr_equal(p, q);
        assert_int_equal(X509_cmp(x, y), 0);
        X509_free(x);
        X509_free(y);
    }
    X509 *x = X509_new(), *y = X509_new();
    const unsigned char *p = der, *q = der;
    assert_null(x509_cache_d2i(&x, &p, n - 1));
    assert_null(libcrypto_d2i()(&y, &q, n - 1));
    assert_null(x);
    assert_null(y);
    assert_ptr_equal(p, q);
    ERR_clear_error();
    free(der);
    X509_free(cert);
    EVP_PKEY_free(key);
}

/* An object of another library context is parsed into by libcrypto, with
 * that context, never from or into the cache. */
static void other_context(void **state)
{
    (void)state;
    EVP_PKEY *key = p256();
    X509 *cert = make_cert("context", key, NULL, NULL, 3, 0);
    int n;
    unsigned char *der = der_of(cert, &n, 0);
    assert_true(compare(der, n));   /* now cached */
    OSSL_LIB_CTX *other = OSSL_LIB_CTX_new();
    unsigned long before = x509_cache_hits();
    X509 *x = X509_new_ex(other, NULL), *kept = x;
    const unsigned char *p = der;
    assert_ptr_equal(x509_cache_d2i(&x, &p, n), kept);
    assert_ptr_equal(p, der + n);
    X509_free(x);
    x = X509_new_ex(NULL, "provider=default");
    kept = x;
    p = der;
    assert_ptr_equal(x509_cache_d2i(&x, &p, n), kept);
    X509_free(x);
    assert_int_equal(x509_cache_hits(), before);
    OSSL_LIB_CTX_free(other);
    free(der);
    X509_free(cert);
    EVP_PKEY_free(key);
}

/* Truncations, bad lengths, garbage: what libcrypto does, nothing cached. */
static void malformed(void **state)
{
    (void)state;
    EVP_PKEY *key = p256();
    X509 *cert = make_cert("malformed", key, NULL, NULL, 4, 0);
    int n;
    unsigned char *der = der_of(cert, &n, 8);
    unsigned long before = x509_cache_hits();
    for (long len = -1; len < n; len += len < 8 ? 1 : 37) assert_false(compare(der, len));
    unsigned char indefinite[] = { 0x30, 0x80, 0x30, 0x80, 0x00, 0x00, 0x00, 0x00 };
    assert_false(compare(indefinite, sizeof indefinite));
    unsigned char overlong[] = { 0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00 };
    assert_false(compare(overlong, sizeof overlong));
    unsigned char garbage[512];
    srand(17);
    for (int i = 0; i < 200; i++) {
        for (size_t j = 0; j < sizeof garbage; j++) garbage[j] = (unsigned char)rand();
        if (i % 2) {   /* a plausible header over garbage */
            garbage[0] = 0x30;
            garbage[1] = 0x82;
            garbage[2] = 0x01;
            garbage[3] = 0xfc;
        }
        assert_false(compare(garbage, sizeof garbage));
    }
    /* A certificate with a length longer than the input it claims. */
    memcpy(garbage, der, 4);
    assert_false(compare(garbage, 4));
    assert_int_equal(x509_cache_hits(), before);
    free(der);
    X509_free(cert);
    EVP_PKEY_free(key);
}

/* Mutated certificates: each compared twice (the second from the cache
 * where the first parsed) against libcrypto. */
static void mutated(void **state)
{
    (void)state;
    EVP_PKEY *key = p256(), *ca_key = p256();
    X509 *ca = make_cert("mutation CA", ca_key, NULL, NULL, 5, 0);
    X509 *cert = make_cert("mutated", key, ca, ca_key, 6, 0);
    int n;
    unsigned char *der = der_of(cert, &n, 0), *m = malloc((size_t)n);
    srand(42);
    int parsed = 0;
    for (int i = 0; i < 600; i++) {
        memcpy(m, der, (size_t)n);
        int flips = 1 + rand() % 3;
        for (int f = 0; f < flips; f++) {
            int at = rand() % n;
            m[at] = rand() % 4 ? (unsigned char)(m[at] ^ (1u << (rand() % 8))) : (unsigned char)rand();
        }
        long len = rand() % 8 ? n : rand() % (n + 1);
        int first = compare(m, len);
        assert_int_equal(compare(m, len), first);
        parsed += first;
    }
    assert_true(parsed > 0);   /* some mutations are still certificates */
    free(m);
    free(der);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
}

/* At most X509_CACHE_SLOTS certificates: the least recently used goes;
 * a certificate larger than X509_CACHE_DER_MAX is never kept. */
static void bounded(void **state)
{
    (void)state;
    EVP_PKEY *key = p256();
    enum { N = X509_CACHE_SLOTS + 1 };
    unsigned char *der[N];
    int len[N];
    for (int i = 0; i < N; i++) {
        char cn[32];
        snprintf(cn, sizeof cn, "bound %d", i);
        X509 *c = make_cert(cn, key, NULL, NULL, 100 + i, 0);
        der[i] = der_of(c, &len[i], 0);
        X509_free(c);
    }
    for (int i = 0; i < N; i++) assert_true(compare(der[i], len[i]));
    unsigned long before = x509_cache_hits();
    assert_true(compare(der[0], len[0]));   /* evicted by the last */
    assert_int_equal(x509_cache_hits(), before);
    assert_true(compare(der[N - 1], len[N - 1]));
    assert_int_equal(x509_cache_hits(), before + 1);
    for (int i = 0; i < N; i++) free(der[i]);
    X509 *big = make_cert("big", key, NULL, NULL, 200, X509_CACHE_DER_MAX);
    int n;
    unsigned char *bytes = der_of(big, &n, 0);
    assert_true(n > X509_CACHE_DER_MAX);
    assert_true(compare(bytes, n));
    before = x509_cache_hits();
    assert_true(compare(bytes, n));
    assert_int_equal(x509_cache_hits(), before);
    free(bytes);
    X509_free(big);
    EVP_PKEY_free(key);
}

/* Calls from elsewhere than libssl are libcrypto's: a new object each time. */
static void others_uncached(void **state)
{
    (void)state;
    EVP_PKEY *key = p256();
    X509 *cert = make_cert("direct", key, NULL, NULL, 7, 0);
    int n;
    unsigned char *der = der_of(cert, &n, 0);
    const unsigned char *p = der;
    X509 *a = x509_cache_d2i(NULL, &p, n);   /* cached */
    unsigned long before = x509_cache_hits();
    p = der;
    X509 *b = d2i_X509(NULL, &p, n);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(x509_cache_hits(), before);
    X509_free(a);
    X509_free(b);
    free(der);
    X509_free(cert);
    EVP_PKEY_free(key);
}

typedef int verify_fn(X509 *a, EVP_PKEY *r);

/* x509_cache_verify() and libcrypto's X509_verify() on the same certificate
 * and key: the same answer. Returns it; counts whether ours remembered. */
static int verify_both(X509 *x, EVP_PKEY *key, int *remembered)
{
    verify_fn *theirs = (verify_fn *)dlsym(RTLD_NEXT, "X509_verify");
    assert_non_null(theirs);
    unsigned long before = x509_cache_verify_hits();
    int rc = x509_cache_verify(x, key);
    *remembered = (int)(x509_cache_verify_hits() - before);
    ERR_clear_error();
    assert_int_equal(rc, theirs(x, key));
    ERR_clear_error();
    return rc;
}

static X509 *parse(const unsigned char *der, int n)
{
    const unsigned char *p = der;
    X509 *x = x509_cache_d2i(NULL, &p, n);
    assert_non_null(x);
    return x;
}

/* A cached certificate's signature is verified once per key: again with an
 * equal key (another object) it is answered from the cache; another key, a
 * certificate outside the cache, a forged signature and an evicted
 * certificate are libcrypto's answer every time, and a failure is never
 * remembered. */
static void signature_remembered(void **state)
{
    (void)state;
    EVP_PKEY *ca_key = p256(), *other = p256(), *leaf_key = p256();
    X509 *ca = make_cert("signature CA", ca_key, NULL, NULL, 30, 0);
    X509 *leaf = make_cert("signed", leaf_key, ca, ca_key, 31, 0);
    int n, hit;
    unsigned char *der = der_of(leaf, &n, 0);
    X509 *a = parse(der, n);
    assert_int_equal(verify_both(a, other, &hit), 0);
    assert_int_equal(hit, 0);
    assert_int_equal(verify_both(a, ca_key, &hit), 1);
    assert_int_equal(hit, 0);                       /* the first is libcrypto's */
    assert_int_equal(verify_both(a, ca_key, &hit), 1);
    assert_int_equal(hit, 1);
    assert_int_equal(verify_both(a, other, &hit), 0);   /* not the key it verified with */
    assert_int_equal(hit, 0);
    /* The CA's key as its certificate parsed from DER holds it: equal,
     * another object. */
    int ca_n;
    unsigned char *ca_der = der_of(ca, &ca_n, 0);
    const unsigned char *q = ca_der;
    X509 *ca_parsed = d2i_X509(NULL, &q, ca_n);
    assert_non_null(ca_parsed);
    assert_ptr_not_equal(X509_get0_pubkey(ca_parsed), ca_key);
    assert_int_equal(verify_both(a, X509_get0_pubkey(ca_parsed), &hit), 1);
    assert_int_equal(hit, 1);
    X509_free(ca_parsed);
    free(ca_der);
    /* The same bytes parsed by libcrypto: not the cache's object. */
    const unsigned char *p = der;
    X509 *own = d2i_X509(NULL, &p, n);
    assert_int_equal(verify_both(own, ca_key, &hit), 1);
    assert_int_equal(hit, 0);
    X509_free(own);
    /* A forged signature: other bytes, so another object, failing each time. */
    unsigned char *forged = malloc((size_t)n);
    memcpy(forged, der, (size_t)n);
    forged[n - 1] ^= 1;   /* the last byte of the signature's s */
    X509 *f = parse(forged, n);
    assert_ptr_not_equal(f, a);
    for (int i = 0; i < 2; i++) {
        assert_true(verify_both(f, ca_key, &hit) <= 0);
        assert_int_equal(hit, 0);
    }
    X509_free(f);
    free(forged);
    /* Evicted: parsed again, it is verified again before it is remembered. */
    for (int i = 0; i < X509_CACHE_SLOTS; i++) {
        char cn[32];
        snprintf(cn, sizeof cn, "evict %d", i);
        X509 *c = make_cert(cn, other, NULL, NULL, 300 + i, 0);
        int m;
        unsigned char *d = der_of(c, &m, 0);
        X509_free(parse(d, m));
        free(d);
        X509_free(c);
    }
    X509 *b = parse(der, n);
    assert_ptr_not_equal(b, a);
    assert_int_equal(verify_both(b, ca_key, &hit), 1);
    assert_int_equal(hit, 0);
    assert_int_equal(verify_both(b, ca_key, &hit), 1);
    assert_int_equal(hit, 1);
    X509_free(a);
    X509_free(b);
    free(der);
    X509_free(leaf);
    X509_free(ca);
    EVP_PKEY *keys[] = { ca_key, other, leaf_key };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) EVP_PKEY_free(keys[i]);
}

typedef int crl_verify_fn(X509_CRL *crl, EVP_PKEY *r);

/* A CRL of issuer signed with key, revoking serial (none when < 0). */
static X509_CRL *make_crl(X509 *issuer, EVP_PKEY *key, long serial, int next_update_s)
{
    X509_CRL *crl = X509_CRL_new();
    assert_non_null(crl);
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
    ASN1_TIME *t = X509_gmtime_adj(NULL, -60);
    X509_CRL_set1_lastUpdate(crl, t);
    X509_gmtime_adj(t, next_update_s);
    X509_CRL_set1_nextUpdate(crl, t);
    if (serial >= 0) {
        X509_REVOKED *r = X509_REVOKED_new();
        ASN1_INTEGER *n = ASN1_INTEGER_new();
        ASN1_INTEGER_set(n, serial);
        X509_REVOKED_set_serialNumber(r, n);
        X509_gmtime_adj(t, -30);
        X509_REVOKED_set_revocationDate(r, t);
        X509_CRL_add0_revoked(crl, r);
        ASN1_INTEGER_free(n);
    }
    ASN1_TIME_free(t);
    X509_CRL_sort(crl);
    assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
    return crl;
}

/* x509_cache_crl_verify() and libcrypto's X509_CRL_verify() on the same
 * CRL and key: the same answer. Returns it; counts whether ours remembered. */
static int crl_verify_both(X509_CRL *crl, EVP_PKEY *key, int *remembered)
{
    crl_verify_fn *theirs = (crl_verify_fn *)dlsym(RTLD_NEXT, "X509_CRL_verify");
    assert_non_null(theirs);
    unsigned long before = x509_cache_crl_verify_hits();
    int rc = x509_cache_crl_verify(crl, key);
    *remembered = (int)(x509_cache_crl_verify_hits() - before);
    ERR_clear_error();
    assert_int_equal(rc, theirs(crl, key));
    ERR_clear_error();
    return rc;
}

/* A CRL's signature is verified once per key: again (the same bytes, even
 * as another object) with an equal key it is answered from the cache;
 * another key, a CRL changed after it verified, a forged signature and an
 * evicted CRL are libcrypto's answer, and a failure is never remembered. */
static void crl_signature_remembered(void **state)
{
    (void)state;
    EVP_PKEY *ca_key = p256(), *other = p256();
    X509 *ca = make_cert("CRL CA", ca_key, NULL, NULL, 40, 0);
    X509_CRL *crl = make_crl(ca, ca_key, 41, 3600);
    int hit;
    assert_int_equal(crl_verify_both(crl, other, &hit), 0);
    assert_int_equal(hit, 0);
    assert_int_equal(crl_verify_both(crl, ca_key, &hit), 1);
    assert_int_equal(hit, 0);
    assert_int_equal(crl_verify_both(crl, ca_key, &hit), 1);
    assert_int_equal(hit, 1);
    assert_int_equal(crl_verify_both(crl, X509_get0_pubkey(ca), &hit), 1);
    assert_int_equal(hit, 1);
    assert_int_equal(crl_verify_both(crl, other, &hit), 0);
    assert_int_equal(hit, 0);
    /* The same bytes parsed again: another object, the same answer. */
    unsigned char *der = NULL;
    int n = i2d_X509_CRL(crl, &der);
    assert_true(n > 0);
    const unsigned char *p = der;
    X509_CRL *again = d2i_X509_CRL(NULL, &p, n);
    assert_non_null(again);
    assert_int_equal(crl_verify_both(again, ca_key, &hit), 1);
    assert_int_equal(hit, 1);
    X509_CRL_free(again);
    /* Forged: one bit of the signature flipped, refused every time. */
    der[n - 1] ^= 1;
    p = der;
    X509_CRL *forged = d2i_X509_CRL(NULL, &p, n);
    assert_non_null(forged);
    for (int i = 0; i < 2; i++) {
        assert_true(crl_verify_both(forged, ca_key, &hit) <= 0);
        assert_int_equal(hit, 0);
    }
    X509_CRL_free(forged);
    OPENSSL_free(der);
    /* Changed in place after it verified: other bytes, no longer signed. */
    ASN1_TIME *t = X509_gmtime_adj(NULL, 7200);
    X509_CRL_set1_nextUpdate(crl, t);
    ASN1_TIME_free(t);
    for (int i = 0; i < 2; i++) {
        assert_true(crl_verify_both(crl, ca_key, &hit) <= 0);
        assert_int_equal(hit, 0);
    }
    /* Evicted by X509_CACHE_CRLS others, then verified again. */
    X509_CRL *first = make_crl(ca, ca_key, 50, 3600);
    assert_int_equal(crl_verify_both(first, ca_key, &hit), 1);
    for (int i = 0; i < X509_CACHE_CRLS; i++) {
        X509_CRL *c = make_crl(ca, ca_key, 51 + i, 3600);
        assert_int_equal(crl_verify_both(c, ca_key, &hit), 1);
        assert_int_equal(hit, 0);
        X509_CRL_free(c);
    }
    assert_int_equal(crl_verify_both(first, ca_key, &hit), 1);
    assert_int_equal(hit, 0);
    assert_int_equal(crl_verify_both(first, ca_key, &hit), 1);
    assert_int_equal(hit, 1);
    X509_CRL_free(first);
    X509_CRL_free(crl);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other);
}

/* One TLS 1.2 handshake in memory, the client sending its certificate
 * and its CA; whether it succeeded with the chain verified. The server's
 * peer certificate in *peer. */
static int handshake(SSL_CTX *sctx, SSL_CTX *cctx, X509 **peer)
{
    SSL *c, *s;
    ssl_mem_pair(cctx, sctx, &c, &s);
    int ok = ssl_mem_handshake(c, s);
    *peer = ok ? SSL_get1_peer_certificate(s) : NULL;
    ok = ok && SSL_get_verify_result(s) == X509_V_OK;
    SSL_free(s);
    SSL_free(c);
    return ok;
}

static SSL_CTX *client_ctx(X509 *cert, EVP_PKEY *key, X509 *ca)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
    assert_int_equal(SSL_CTX_use_certificate(c, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(c, key), 1);
    assert_int_equal(SSL_CTX_add1_chain_cert(c, ca), 1);
    return c;
}

/* A server asking for a client certificate issued by trusted, without a
 * session cache (every handshake full). */
static SSL_CTX *server_ctx(X509 *cert, EVP_PKEY *key, X509 *trusted)
{
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate(s, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(s, key), 1);
    assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(s), trusted), 1);
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    return s;
}

/* libssl's Certificate messages go through the cache: the second
 * handshake's peer certificate is the first's object, its signature not
 * verified again; a certificate from a CA the server does not trust fails
 * verification, cached or not, and so does the good client's certificate
 * at a server trusting another CA of the same name, although its signature
 * verified before with the first CA's key. */
static void libssl_handshake(void **state)
{
    (void)state;
    EVP_PKEY *ca_key = p256(), *server_key = p256(), *client_key = p256(), *rogue_key = p256();
    X509 *ca = make_cert("handshake CA", ca_key, NULL, NULL, 10, 0);
    X509 *server = make_cert("server", server_key, ca, ca_key, 11, 0);
    X509 *client = make_cert("client", client_key, ca, ca_key, 12, 0);
    X509 *rogue_ca = make_cert("handshake CA", rogue_key, NULL, NULL, 10, 0);   /* same name, other key */
    X509 *rogue = make_cert("client", client_key, rogue_ca, rogue_key, 12, 0);
    SSL_CTX *sctx = server_ctx(server, server_key, ca);
    SSL_CTX *good = client_ctx(client, client_key, ca), *bad = client_ctx(rogue, client_key, rogue_ca);
    X509 *first = NULL, *second = NULL, *none = NULL;
    assert_true(handshake(sctx, good, &first));
    unsigned long before = x509_cache_hits(), verified = x509_cache_verify_hits();
    assert_true(handshake(sctx, good, &second));
    assert_true(x509_cache_hits() >= before + 2);   /* the client's two at the server */
    assert_true(x509_cache_verify_hits() >= verified + 1);   /* the client's, by the CA */
    assert_ptr_equal(first, second);
    assert_int_equal(X509_cmp(first, client), 0);
    for (int i = 0; i < 2; i++) {
        assert_false(handshake(sctx, bad, &none));
        assert_null(none);
    }
    assert_true(handshake(sctx, good, &none));
    X509_free(none);
    SSL_CTX *rogue_server = server_ctx(server, server_key, rogue_ca);
    for (int i = 0; i < 2; i++) {
        assert_false(handshake(rogue_server, good, &none));
        assert_null(none);
    }
    SSL_CTX_free(rogue_server);
    X509_free(first);
    X509_free(second);
    SSL_CTX_free(good);
    SSL_CTX_free(bad);
    SSL_CTX_free(sctx);
    X509 *all[] = { ca, server, client, rogue_ca, rogue };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) X509_free(all[i]);
    EVP_PKEY *keys[] = { ca_key, server_key, client_key, rogue_key };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) EVP_PKEY_free(keys[i]);
}

/* With CRL checking: the second handshake does not verify the CRL's
 * signature again, and a CRL of the same CA that revokes the client's
 * certificate refuses it at once, its certificate and signature seen before. */
static void crl_handshake(void **state)
{
    (void)state;
    EVP_PKEY *ca_key = p256(), *server_key = p256(), *client_key = p256();
    X509 *ca = make_cert("CRL handshake CA", ca_key, NULL, NULL, 60, 0);
    X509 *server = make_cert("server", server_key, ca, ca_key, 61, 0);
    X509 *client = make_cert("client", client_key, ca, ca_key, 62, 0);
    SSL_CTX *good = client_ctx(client, client_key, ca);
    X509 *none = NULL;
    for (int revoked = 0; revoked < 2; revoked++) {
        SSL_CTX *sctx = server_ctx(server, server_key, ca);
        X509_STORE *store = SSL_CTX_get_cert_store(sctx);
        X509_CRL *crl = make_crl(ca, ca_key, revoked ? 62 : 99, 3600);
        assert_int_equal(X509_STORE_add_crl(store, crl), 1);
        X509_CRL_free(crl);
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
        unsigned long before = x509_cache_crl_verify_hits();
        for (int i = 0; i < 2; i++) {
            assert_int_equal(handshake(sctx, good, &none), !revoked);
            X509_free(none);
            none = NULL;
        }
        assert_true(x509_cache_crl_verify_hits() >= before + 1);
        SSL_CTX_free(sctx);
    }
    SSL_CTX_free(good);
    X509 *all[] = { ca, server, client };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) X509_free(all[i]);
    EVP_PKEY *keys[] = { ca_key, server_key, client_key };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) EVP_PKEY_free(keys[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_certificate),
        cmocka_unit_test(reused_object),
        cmocka_unit_test(other_context),
        cmocka_unit_test(malformed),
        cmocka_unit_test(mutated),
        cmocka_unit_test(bounded),
        cmocka_unit_test(others_uncached),
        cmocka_unit_test(signature_remembered),
        cmocka_unit_test(libssl_handshake),
        cmocka_unit_test(crl_signature_remembered),
        cmocka_unit_test(crl_handshake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
