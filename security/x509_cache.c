/* libcrypto only: this file must never include wolfSSL headers (design.md). */
#include "x509_cache.h"
#include "ossl_fetch.h"

#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef X509 *d2i_fn(X509 **a, const unsigned char **in, long len);
typedef int verify_fn(X509 *a, EVP_PKEY *r);
typedef int crl_verify_fn(X509_CRL *crl, EVP_PKEY *r);

/* One certificate: its DER bytes and the X509 libcrypto parsed from them,
 * holding one reference of the cache's. */
struct slot {
    unsigned char *der;
    size_t len;
    X509 *x509;
    EVP_PKEY *signer;     /* a copy of the key its signature last verified with, or NULL */
    unsigned long used;   /* tick of the last hit or insert: least recent goes first */
};

/* One CRL whose signature verified: its DER and a copy of the key. */
struct crl_slot {
    unsigned char *der;   /* OPENSSL_malloc'd by i2d_X509_CRL() */
    size_t len;
    EVP_PKEY *signer;
    unsigned long used;
};

static struct {
    pthread_mutex_t lock;   /* outbound TLS may parse beside the event loop */
    unsigned long tick;
    struct slot slot[X509_CACHE_SLOTS];
    struct crl_slot crl[X509_CACHE_CRLS];
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static atomic_ulong hits, verify_hits, crl_verify_hits;

unsigned long x509_cache_hits(void) { return atomic_load_explicit(&hits, memory_order_relaxed); }

unsigned long x509_cache_verify_hits(void) { return atomic_load_explicit(&verify_hits, memory_order_relaxed); }

unsigned long x509_cache_crl_verify_hits(void)
{
    return atomic_load_explicit(&crl_verify_hits, memory_order_relaxed);
}

/* libcrypto's definition of symbol, looked up once into *found. */
static void *libcrypto_definition(_Atomic(void *) *found, const char *symbol)
{
    void *f = atomic_load_explicit(found, memory_order_acquire);
    if (!f) {
        f = ossl_next_definition(symbol);
        atomic_store_explicit(found, f, memory_order_release);
    }
    return f;
}

static d2i_fn *real_d2i(void)
{
    static _Atomic(void *) real;
    return (d2i_fn *)libcrypto_definition(&real, "d2i_X509");
}

/* The length of the DER SEQUENCE at p with its header, if it is one of
 * definite length that fits in len and is small enough to keep; else 0.
 * libcrypto consumes exactly these bytes when it parses a certificate from
 * them, so equal bytes here mean an equal parse. */
static size_t sequence_length(const unsigned char *p, long len)
{
    if (len < 2 || p[0] != 0x30) return 0;
    size_t header = 2, content = p[1];
    if (content & 0x80) {
        size_t n = content & 0x7f;   /* 0: indefinite length, not keyed */
        if (n == 0 || n > 2 || (long)(2 + n) > len) return 0;
        content = 0;
        for (size_t i = 0; i < n; i++) content = content << 8 | p[2 + i];
        header += n;
    }
    size_t total = header + content;
    return total <= (size_t)len && total <= X509_CACHE_DER_MAX ? total : 0;
}

/* x's library context and property query are the default ones: libcrypto
 * parses into a reused *a with its context, so only a default one may
 * receive, or give, a certificate parsed with the default context. Asked
 * through the item's own callback, as libcrypto's decoder asks. */
static bool default_context(X509 *x)
{
    const ASN1_ITEM *it = X509_it();
    const ASN1_AUX *aux = it->funcs;
    if (!aux || !aux->asn1_cb) return false;
    OSSL_LIB_CTX *libctx = NULL;
    const char *propq = NULL;
    ASN1_VALUE *v = (ASN1_VALUE *)x;
    aux->asn1_cb(ASN1_OP_GET0_LIBCTX, &v, it, &libctx);
    aux->asn1_cb(ASN1_OP_GET0_PROPQ, &v, it, &propq);
    return (!libctx || libctx == OSSL_LIB_CTX_get0_global_default()) && (!propq || !*propq);
}

/* The cached X509 for these bytes with a new reference, or NULL. */
static X509 *lookup(const unsigned char *der, size_t len)
{
    X509 *found = NULL;
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < X509_CACHE_SLOTS; i++) {
        struct slot *s = &cache.slot[i];
        if (s->x509 && s->len == len && !memcmp(s->der, der, len) && X509_up_ref(s->x509) == 1) {
            s->used = ++cache.tick;
            found = s->x509;
            break;
        }
    }
    pthread_mutex_unlock(&cache.lock);
    return found;
}

/* Keeps x (a reference of the cache's) for these bytes in the least
 * recently used slot; the certificate it held loses the cache's reference. */
static void insert(const unsigned char *der, size_t len, X509 *x)
{
    unsigned char *copy = malloc(len);
    if (!copy || X509_up_ref(x) != 1) {
        free(copy);
        return;
    }
    memcpy(copy, der, len);
    X509 *evicted = NULL;
    EVP_PKEY *evicted_signer = NULL;
    unsigned char *evicted_der = NULL;
    pthread_mutex_lock(&cache.lock);
    struct slot *victim = &cache.slot[0];
    for (int i = 0; i < X509_CACHE_SLOTS; i++) {
        struct slot *s = &cache.slot[i];
        if (s->x509 && s->len == len && !memcmp(s->der, der, len)) {   /* another thread's */
            victim = NULL;
            break;
        }
        if (!s->x509 || (victim->x509 && s->used < victim->used)) victim = s;
    }
    if (victim) {
        evicted = victim->x509;
        evicted_signer = victim->signer;
        evicted_der = victim->der;
        *victim = (struct slot){ .der = copy, .len = len, .x509 = x, .used = ++cache.tick };
    }
    pthread_mutex_unlock(&cache.lock);
    if (!victim) {
        free(copy);
        X509_free(x);
    }
    X509_free(evicted);
    EVP_PKEY_free(evicted_signer);
    free(evicted_der);
}

X509 *x509_cache_d2i(X509 **a, const unsigned char **in, long len)
{
    d2i_fn *real = real_d2i();
    if (!real) return NULL;
    if (!in || !*in) return real(a, in, len);
    const unsigned char *start = *in;
    size_t total = sequence_length(start, len);
    if (!total || (a && *a && !default_context(*a))) return real(a, in, len);
    /* Never parsed into the caller's object: it could be one of ours. */
    X509 *x = lookup(start, total);
    if (x) {
        atomic_fetch_add_explicit(&hits, 1, memory_order_relaxed);
        *in = start + total;
    } else if ((x = real(NULL, in, len)) && (size_t)(*in - start) == total) {
        insert(start, total, x);
    }
    /* As libcrypto: a reused *a is replaced on success, freed on failure. */
    if (a) {
        X509_free(*a);
        *a = x;
    }
    return x;
}

static verify_fn *real_verify(void)
{
    static _Atomic(void *) real;
    return (verify_fn *)libcrypto_definition(&real, "X509_verify");
}

/* Whether x is one of the cache's certificates; if so, *signer is a new
 * reference to the key its signature verified with before, or NULL. */
static bool cached_signer(const X509 *x, EVP_PKEY **signer)
{
    bool cached = false;
    *signer = NULL;
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < X509_CACHE_SLOTS && !cached; i++) {
        struct slot *s = &cache.slot[i];
        if (s->x509 != x) continue;
        cached = true;
        if (s->signer && EVP_PKEY_up_ref(s->signer) == 1) *signer = s->signer;
    }
    pthread_mutex_unlock(&cache.lock);
    return cached;
}

/* A copy of key, so that a later key is compared by value, whatever
 * becomes of this one; NULL (and no error queued) if it cannot be copied. */
static EVP_PKEY *key_copy(EVP_PKEY *key)
{
    ERR_set_mark();
    EVP_PKEY *copy = EVP_PKEY_dup(key);
    ERR_pop_to_mark();
    return copy;
}

/* Whether the remembered key (a reference, released here) equals key. */
static bool same_key(EVP_PKEY *remembered, EVP_PKEY *key)
{
    ERR_set_mark();   /* EVP_PKEY_eq() of keys of other types may queue an error */
    bool same = remembered && EVP_PKEY_eq(remembered, key) == 1;
    ERR_pop_to_mark();
    EVP_PKEY_free(remembered);
    return same;
}

/* Remembers that x's signature verified with key. */
static void remember_signer(const X509 *x, EVP_PKEY *key)
{
    EVP_PKEY *copy = key_copy(key);
    if (!copy) return;
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < X509_CACHE_SLOTS; i++) {
        struct slot *s = &cache.slot[i];
        if (s->x509 != x) continue;
        EVP_PKEY *old = s->signer;
        s->signer = copy;
        copy = old;
        break;
    }
    pthread_mutex_unlock(&cache.lock);
    EVP_PKEY_free(copy);
}

int x509_cache_verify(X509 *a, EVP_PKEY *r)
{
    verify_fn *real = real_verify();
    if (!real) return -1;
    EVP_PKEY *signer;
    if (!a || !r || !cached_signer(a, &signer)) return real(a, r);
    if (same_key(signer, r)) {
        atomic_fetch_add_explicit(&verify_hits, 1, memory_order_relaxed);
        return 1;
    }
    int rc = real(a, r);
    if (rc == 1) remember_signer(a, r);
    return rc;
}

int X509_verify(X509 *a, EVP_PKEY *r) { return x509_cache_verify(a, r); }

static crl_verify_fn *real_crl_verify(void)
{
    static _Atomic(void *) real;
    return (crl_verify_fn *)libcrypto_definition(&real, "X509_CRL_verify");
}

/* A new reference to the key a CRL of these bytes verified with, or NULL. */
static EVP_PKEY *crl_signer(const unsigned char *der, size_t len)
{
    EVP_PKEY *signer = NULL;
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < X509_CACHE_CRLS; i++) {
        struct crl_slot *c = &cache.crl[i];
        if (c->der && c->len == len && !memcmp(c->der, der, len) && EVP_PKEY_up_ref(c->signer) == 1) {
            c->used = ++cache.tick;
            signer = c->signer;
            break;
        }
    }
    pthread_mutex_unlock(&cache.lock);
    return signer;
}

/* Remembers that the CRL of these bytes (der is taken) verified with key,
 * in the slot of the same bytes or else the least recently used one. */
static void remember_crl(unsigned char *der, size_t len, EVP_PKEY *key)
{
    EVP_PKEY *copy = key_copy(key);
    if (!copy) {
        OPENSSL_free(der);
        return;
    }
    pthread_mutex_lock(&cache.lock);
    struct crl_slot *victim = &cache.crl[0];
    for (int i = 0; i < X509_CACHE_CRLS; i++) {
        struct crl_slot *c = &cache.crl[i];
        if (c->der && c->len == len && !memcmp(c->der, der, len)) {
            victim = c;
            break;
        }
        if (!c->der || (victim->der && c->used < victim->used)) victim = c;
    }
    struct crl_slot old = *victim;
    *victim = (struct crl_slot){ .der = der, .len = len, .signer = copy, .used = ++cache.tick };
    pthread_mutex_unlock(&cache.lock);
    OPENSSL_free(old.der);
    EVP_PKEY_free(old.signer);
}

int x509_cache_crl_verify(X509_CRL *crl, EVP_PKEY *r)
{
    crl_verify_fn *real = real_crl_verify();
    if (!real) return -1;
    if (!crl || !r) return real(crl, r);
    unsigned char *der = NULL;
    ERR_set_mark();
    int len = i2d_X509_CRL(crl, &der);
    ERR_pop_to_mark();
    if (len <= 0 || len > X509_CACHE_CRL_DER_MAX) {
        OPENSSL_free(der);
        return real(crl, r);
    }
    if (same_key(crl_signer(der, (size_t)len), r)) {
        OPENSSL_free(der);
        atomic_fetch_add_explicit(&crl_verify_hits, 1, memory_order_relaxed);
        return 1;
    }
    int rc = real(crl, r);
    if (rc == 1) remember_crl(der, (size_t)len, r);
    else OPENSSL_free(der);
    return rc;
}

int X509_CRL_verify(X509_CRL *crl, EVP_PKEY *r) { return x509_cache_crl_verify(crl, r); }

/* libssl's executable segment, found once: only its calls are answered
 * from the cache. Other callers may change what they parsed (libcrypto's
 * d2i_X509_AUX() adds trust settings to it) or keep the object they passed. */
static struct { uintptr_t start, end; } libssl_text;
static pthread_once_t libssl_once = PTHREAD_ONCE_INIT;

static int find_libssl(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "/libssl.so")) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            libssl_text.start = info->dlpi_addr + ph->p_vaddr;
            libssl_text.end = libssl_text.start + ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

static void locate_libssl(void) { dl_iterate_phdr(find_libssl, NULL); }

static bool from_libssl(const void *return_address)
{
    pthread_once(&libssl_once, locate_libssl);
    uintptr_t at = (uintptr_t)return_address;
    return at >= libssl_text.start && at < libssl_text.end;
}

X509 *d2i_X509(X509 **a, const unsigned char **in, long len)
{
    if (from_libssl(__builtin_return_address(0))) return x509_cache_d2i(a, in, len);
    d2i_fn *real = real_d2i();
    return real ? real(a, in, len) : NULL;
}
