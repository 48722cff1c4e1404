/* libcrypto only: this file must never include wolfSSL headers (design.md). */
#include "ossl_fetch.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef void *fetch_fn(OSSL_LIB_CTX *libctx, const char *name, const char *propq);

/* Names per kind of object; the three NIST curves, each asked for with a
 * NULL context or the default context's address. */
enum { SLOTS = 24, NAME_MAX_LEN = 40, GROUP_SLOTS = 6 };

/* One kind of algorithm object: the real fetch, how to take a reference,
 * and the objects fetched so far (each holding one reference of the
 * cache's, kept for the life of the process). */
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

void *ossl_next_definition(const char *symbol)
{
    void *sym = dlvsym(RTLD_NEXT, symbol, "OPENSSL_3.0.0");
    return sym ? sym : dlsym(RTLD_NEXT, symbol);
}

static fetch_fn *real_fetch(struct fetch_cache *c)
{
    fetch_fn *f = atomic_load_explicit(&c->real, memory_order_acquire);
    if (!f) {
        f = (fetch_fn *)ossl_next_definition(c->symbol);
        atomic_store_explicit(&c->real, f, memory_order_release);
    }
    return f;
}

/* Only the default context (never freed) and no properties: any other
 * context could be freed and another made at the same address. */
static bool default_context(OSSL_LIB_CTX *libctx, const char *propq)
{
    return (!propq || !*propq) && (!libctx || libctx == OSSL_LIB_CTX_get0_global_default());
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
    bool cacheable = name && strlen(name) < NAME_MAX_LEN && default_context(libctx, propq);
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
        .symbol = #PREFIX "_fetch", .up_ref = PREFIX##_ref,                                        \
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
FETCH_CACHE(EVP_SIGNATURE, EVP_SIGNATURE)
FETCH_CACHE(EVP_KEYEXCH, EVP_KEYEXCH)
FETCH_CACHE(EVP_KEYMGMT, EVP_KEYMGMT)

/* The NIST curves' groups: libcrypto builds one from its parameters for
 * every ephemeral key and every peer key decoded (Montgomery constants,
 * generator: ~140 k instructions for P-256); a copy of one built before is
 * the same group for 6.5 k. The copy is the caller's, as a new one is. */
typedef EC_GROUP *group_fn(OSSL_LIB_CTX *libctx, const char *propq, int nid);

static struct {
    pthread_mutex_t lock;
    int used;
    struct { OSSL_LIB_CTX *libctx; int nid; EC_GROUP *group; } slot[GROUP_SLOTS];
} groups = { .lock = PTHREAD_MUTEX_INITIALIZER };

static EC_GROUP *prototype(OSSL_LIB_CTX *libctx, int nid)
{
    for (int i = 0; i < groups.used; i++)
        if (groups.slot[i].libctx == libctx && groups.slot[i].nid == nid) return groups.slot[i].group;
    return NULL;
}

EC_GROUP *EC_GROUP_new_by_curve_name_ex(OSSL_LIB_CTX *libctx, const char *propq, int nid)
{
    static _Atomic(group_fn *) real;
    group_fn *f = atomic_load_explicit(&real, memory_order_acquire);
    if (!f) {
        f = (group_fn *)ossl_next_definition("EC_GROUP_new_by_curve_name_ex");
        atomic_store_explicit(&real, f, memory_order_release);
    }
    if (!f) return NULL;
    bool nist = nid == NID_X9_62_prime256v1 || nid == NID_secp384r1 || nid == NID_secp521r1;
    if (!nist || !default_context(libctx, propq)) return f(libctx, propq, nid);
    pthread_mutex_lock(&groups.lock);
    EC_GROUP *proto = prototype(libctx, nid), *group = proto ? EC_GROUP_dup(proto) : NULL;
    pthread_mutex_unlock(&groups.lock);
    if (group) {
        atomic_fetch_add_explicit(&hits, 1, memory_order_relaxed);
        return group;
    }
    group = f(libctx, propq, nid);
    if (!group) return NULL;
    pthread_mutex_lock(&groups.lock);
    EC_GROUP *copy = !prototype(libctx, nid) && groups.used < GROUP_SLOTS ? EC_GROUP_dup(group) : NULL;
    if (copy) {
        groups.slot[groups.used].libctx = libctx;
        groups.slot[groups.used].nid = nid;
        groups.slot[groups.used++].group = copy;
    }
    pthread_mutex_unlock(&groups.lock);
    return group;
}
