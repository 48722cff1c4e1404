/* libcrypto only: this file must never include wolfSSL headers (design.md). */
#include "ossl_names.h"

#include "ossl_fetch.h"

#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/provider.h>
#include <openssl/store.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Key types remembered, names per type (EC has 3, DSA 15), the default
 * context's providers (default, perhaps base or legacy from the config). */
enum { TYPES = 24, NAMES = 20, TYPE_LEN = 32, PROVIDERS = 8 };

typedef void name_fn(const char *name, void *data);
typedef int names_do_all_fn(const EVP_KEYMGMT *keymgmt, name_fn *fn, void *data);

/* A type's names are pointers into the default context's name map, whose
 * entries live as long as the context, i.e. the process. */
struct type_names {
    char type[TYPE_LEN];       /* EVP_KEYMGMT_get0_name(): one name of the number */
    int count;
    const char *name[NAMES];   /* in libcrypto's order */
};

static struct {
    pthread_mutex_t lock;
    atomic_bool frozen;
    int providers;
    const OSSL_PROVIDER *provider[PROVIDERS];
    int used;
    struct type_names set[TYPES];
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static atomic_ulong hits;

unsigned long ossl_names_hits(void) { return atomic_load_explicit(&hits, memory_order_relaxed); }

static names_do_all_fn *real_names_do_all(void)
{
    static _Atomic(names_do_all_fn *) real;
    names_do_all_fn *f = atomic_load_explicit(&real, memory_order_acquire);
    if (!f) {
        f = (names_do_all_fn *)ossl_next_definition("EVP_KEYMGMT_names_do_all");
        atomic_store_explicit(&real, f, memory_order_release);
    }
    return f;
}

/* Callbacks of the do_all_provided() calls: the building is what counts. */
#define IGNORE(TYPE) static void ignore_##TYPE(TYPE *method, void *arg) { (void)method; (void)arg; }
IGNORE(EVP_MD)
IGNORE(EVP_CIPHER)
IGNORE(EVP_MAC)
IGNORE(EVP_KDF)
IGNORE(EVP_RAND)
IGNORE(EVP_KEYMGMT)
IGNORE(EVP_KEYEXCH)
IGNORE(EVP_SIGNATURE)
IGNORE(EVP_ASYM_CIPHER)
IGNORE(EVP_KEM)
IGNORE(OSSL_ENCODER)
IGNORE(OSSL_DECODER)
IGNORE(OSSL_STORE_LOADER)

static int record_provider(OSSL_PROVIDER *provider, void *arg)
{
    (void)arg;
    if (cache.providers == PROVIDERS) return 0;
    cache.provider[cache.providers++] = provider;
    return 1;
}

/* Names join the name map when an operation's algorithms are first built
 * for a provider (and when the map is made): building every operation of
 * every active provider now leaves nothing to add later, so the map (and
 * the order it lists a number's names in) stays as it is. */
void ossl_names_freeze(void)
{
    if (atomic_load_explicit(&cache.frozen, memory_order_acquire)) return;
    pthread_mutex_lock(&cache.lock);
    if (!atomic_load_explicit(&cache.frozen, memory_order_relaxed)) {
        EVP_MD_do_all_provided(NULL, ignore_EVP_MD, NULL);
        EVP_CIPHER_do_all_provided(NULL, ignore_EVP_CIPHER, NULL);
        EVP_MAC_do_all_provided(NULL, ignore_EVP_MAC, NULL);
        EVP_KDF_do_all_provided(NULL, ignore_EVP_KDF, NULL);
        EVP_RAND_do_all_provided(NULL, ignore_EVP_RAND, NULL);
        EVP_KEYMGMT_do_all_provided(NULL, ignore_EVP_KEYMGMT, NULL);
        EVP_KEYEXCH_do_all_provided(NULL, ignore_EVP_KEYEXCH, NULL);
        EVP_SIGNATURE_do_all_provided(NULL, ignore_EVP_SIGNATURE, NULL);
        EVP_ASYM_CIPHER_do_all_provided(NULL, ignore_EVP_ASYM_CIPHER, NULL);
        EVP_KEM_do_all_provided(NULL, ignore_EVP_KEM, NULL);
        OSSL_ENCODER_do_all_provided(NULL, ignore_OSSL_ENCODER, NULL);
        OSSL_DECODER_do_all_provided(NULL, ignore_OSSL_DECODER, NULL);
        OSSL_STORE_LOADER_do_all_provided(NULL, ignore_OSSL_STORE_LOADER, NULL);
        /* More providers than we can hold: stay unfrozen (libcrypto answers). */
        cache.providers = 0;
        if (OSSL_PROVIDER_do_all(NULL, record_provider, NULL) == 1 && cache.providers > 0)
            atomic_store_explicit(&cache.frozen, true, memory_order_release);
    }
    pthread_mutex_unlock(&cache.lock);
}

static bool default_context(const EVP_KEYMGMT *keymgmt)
{
    const OSSL_PROVIDER *p = EVP_KEYMGMT_get0_provider(keymgmt);
    for (int i = 0; p && i < cache.providers; i++)
        if (cache.provider[i] == p) return true;
    return false;
}

static const struct type_names *find(const char *type)
{
    for (int i = 0; i < cache.used; i++)
        if (!strcmp(cache.set[i].type, type)) return &cache.set[i];
    return NULL;
}

static void collect(const char *name, void *data)
{
    struct type_names *t = data;
    if (t->count < NAMES) t->name[t->count] = name;
    t->count++;                /* past NAMES: too many to keep */
}

int EVP_KEYMGMT_names_do_all(const EVP_KEYMGMT *keymgmt, name_fn *fn, void *data)
{
    names_do_all_fn *real = real_names_do_all();
    if (!real) return 0;
    const char *type = keymgmt ? EVP_KEYMGMT_get0_name(keymgmt) : NULL;
    if (!atomic_load_explicit(&cache.frozen, memory_order_acquire) || !type || strlen(type) >= TYPE_LEN ||
        !default_context(keymgmt))
        return real(keymgmt, fn, data);
    struct type_names t = { .count = 0 };
    pthread_mutex_lock(&cache.lock);
    const struct type_names *known = find(type);
    if (known) t = *known;
    pthread_mutex_unlock(&cache.lock);
    if (known) {
        atomic_fetch_add_explicit(&hits, 1, memory_order_relaxed);
    } else {
        /* libcrypto's answer, kept; fn is called the way libcrypto calls it:
         * after the names were collected. */
        if (real(keymgmt, collect, &t) != 1 || t.count > NAMES || t.count == 0) return real(keymgmt, fn, data);
        snprintf(t.type, sizeof t.type, "%s", type);
        pthread_mutex_lock(&cache.lock);
        if (!find(type) && cache.used < TYPES) cache.set[cache.used++] = t;
        pthread_mutex_unlock(&cache.lock);
    }
    for (int i = 0; i < t.count; i++) fn(t.name[i], data);
    return 1;
}
