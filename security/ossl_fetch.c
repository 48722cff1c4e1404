/* libcrypto only: this file must never include wolfSSL headers (design.md). */
#include "ossl_fetch.h"

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef void *fetch_fn(OSSL_LIB_CTX *libctx, const char *name, const char *propq);

enum { SLOTS = 24, NAME_MAX_LEN = 40 };

/* One kind of algorithm object: the real fetch, how to take a reference, and the objects fetched so far (each holding one reference of
 * the cache's, kept for the life of the process). */
struct fetch_cache {
    const char *symbol;
    _Atomic(fetch_fn *) real;
    int (*up_ref)(void *obj);
    pthread_mutex_t lock;
    int used;
    struct { char name[NAME_MAX_LEN]; void *obj; } slot[SLOTS];
};

static atomic_ulong hits;

unsigned long ossl_fetch_hits(void) { return atomic_load_explicit(&hits, memory_order_relaxed); }

/* libcrypto's definition: the next one after ours. */
static fetch_fn *real_fetch(struct fetch_cache *c)
{
    fetch_fn *f = atomic_load_explicit(&c->real, memory_order_acquire);
    if (!f) {
        void *sym = dlvsym(RTLD_NEXT, c->symbol, "OPENSSL_3.0.0");
        f = (fetch_fn *)(sym ? sym : dlsym(RTLD_NEXT, c->symbol));
        atomic_store_explicit(&c->real, f, memory_order_release);
    }
    return f;
}

static void *find(struct fetch_cache *c, const char *name)
{
    for (int i = 0; i < c->used; i++)
        if (!strcmp(c->slot[i].name, name)) return c->slot[i].obj;
    return NULL;
}

static void *cached_fetch(struct fetch_cache *c, OSSL_LIB_CTX *libctx, const char *name, const char *propq)
{
    fetch_fn *real = real_fetch(c);
    if (!real) return NULL;
    /* Only the default context (never freed) and no properties: any other
     * context could be freed and another made at the same address. */
    bool cacheable = name && strlen(name) < NAME_MAX_LEN && (!propq || !*propq) &&
                     (!libctx || libctx == OSSL_LIB_CTX_get0_global_default());
    if (!cacheable) return real(libctx, name, propq);
    pthread_mutex_lock(&c->lock);
    void *obj = find(c, name);
    if (obj && c->up_ref(obj) == 1) {
        pthread_mutex_unlock(&c->lock);
        atomic_fetch_add_explicit(&hits, 1, memory_order_relaxed);
        return obj;
    }
    pthread_mutex_unlock(&c->lock);
    /* Outside the lock: a first fetch may activate a provider, which may fetch. */
    obj = real(libctx, name, propq);
    if (!obj) return NULL;
    pthread_mutex_lock(&c->lock);
    if (!find(c, name) && c->used < SLOTS && c->up_ref(obj) == 1) {
        snprintf(c->slot[c->used].name, NAME_MAX_LEN, "%s", name);
        c->slot[c->used++].obj = obj;
    }
    pthread_mutex_unlock(&c->lock);
    return obj;
}

#define FETCH_CACHE(TYPE, PREFIX)                                                                  \
    static int PREFIX##_ref(void *obj) { return PREFIX##_up_ref(obj); }                            \
    static struct fetch_cache PREFIX##_cache = {                                                   \
        .symbol = #PREFIX "_fetch", .up_ref = PREFIX##_ref,                                           \
        .lock = PTHREAD_MUTEX_INITIALIZER,                                                         \
    };                                                                                             \
    TYPE *PREFIX##_fetch(OSSL_LIB_CTX *libctx, const char *name, const char *propq)                \
    {                                                                                              \
        return cached_fetch(&PREFIX##_cache, libctx, name, propq);                                 \
    }

FETCH_CACHE(EVP_MD, EVP_MD)
FETCH_CACHE(EVP_KDF, EVP_KDF)
FETCH_CACHE(EVP_MAC, EVP_MAC)
FETCH_CACHE(EVP_CIPHER, EVP_CIPHER)
