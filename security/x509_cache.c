/* libcrypto only: this file must never include wolfSSL headers (design.md). */
#include "x509_cache.h"
#include "ossl_fetch.h"

#include <openssl/asn1t.h>
#include <openssl/crypto.h>

#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef X509 *d2i_fn(X509 **a, const unsigned char **in, long len);

/* One certificate: its DER bytes and the X509 libcrypto parsed from them,
 * holding one reference of the cache's. */
struct slot {
    unsigned char *der;
    size_t len;
    X509 *x509;
    unsigned long used;   /* tick of the last hit or insert: least recent goes first */
};

static struct {
    pthread_mutex_t lock;   /* outbound TLS may parse beside the event loop */
    unsigned long tick;
    struct slot slot[X509_CACHE_SLOTS];
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static atomic_ulong hits;

unsigned long x509_cache_hits(void) { return atomic_load_explicit(&hits, memory_order_relaxed); }

static d2i_fn *real_d2i(void)
{
    static _Atomic(d2i_fn *) real;
    d2i_fn *f = atomic_load_explicit(&real, memory_order_acquire);
    if (!f) {
        f = (d2i_fn *)ossl_next_definition("d2i_X509");
        atomic_store_explicit(&real, f, memory_order_release);
    }
    return f;
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
        evicted_der = victim->der;
        *victim = (struct slot){ .der = copy, .len = len, .x509 = x, .used = ++cache.tick };
    }
    pthread_mutex_unlock(&cache.lock);
    if (!victim) {
        free(copy);
        X509_free(x);
    }
    X509_free(evicted);
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
