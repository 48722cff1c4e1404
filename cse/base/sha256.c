#include "sha256.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>

/* The six EVP functions used, resolved once from libcrypto.so.3 (the
 * Debian package libssl3, present wherever the TLS module is). */
static struct {
    bool tried, ok;
    void *(*ctx_new)(void);
    void (*ctx_free)(void *);
    const void *(*sha256)(void);
    int (*init)(void *, const void *, void *);
    int (*update)(void *, const void *, size_t);
    int (*final)(void *, unsigned char *, unsigned int *);
} evp;

static bool load(void)
{
    if (evp.tried) return evp.ok;
    evp.tried = true;
    void *l = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!l) return false;
    *(void **)&evp.ctx_new = dlsym(l, "EVP_MD_CTX_new");
    *(void **)&evp.ctx_free = dlsym(l, "EVP_MD_CTX_free");
    *(void **)&evp.sha256 = dlsym(l, "EVP_sha256");
    *(void **)&evp.init = dlsym(l, "EVP_DigestInit_ex");
    *(void **)&evp.update = dlsym(l, "EVP_DigestUpdate");
    *(void **)&evp.final = dlsym(l, "EVP_DigestFinal_ex");
    evp.ok = evp.ctx_new && evp.ctx_free && evp.sha256 && evp.init && evp.update && evp.final;
    return evp.ok;   /* the library stays loaded: the functions point into it */
}

int sha256_init(struct sha256 *c)
{
    c->ctx = load() ? evp.ctx_new() : NULL;
    if (c->ctx && evp.init(c->ctx, evp.sha256(), NULL) == 1) return 0;
    if (c->ctx) evp.ctx_free(c->ctx);
    c->ctx = NULL;
    return -1;
}

void sha256_update(struct sha256 *c, const void *data, size_t len)
{
    if (c->ctx && evp.update(c->ctx, data, len) != 1) {
        evp.ctx_free(c->ctx);
        c->ctx = NULL;
    }
}

void sha256_hex(struct sha256 *c, char out[2 * SHA256_BYTES + 1])
{
    unsigned char md[SHA256_BYTES];
    unsigned int n = 0;
    out[0] = 0;
    if (!c->ctx) return;
    if (evp.final(c->ctx, md, &n) == 1 && n == SHA256_BYTES)
        for (unsigned i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
    evp.ctx_free(c->ctx);
    c->ctx = NULL;
}

void sha256_discard(struct sha256 *c)
{
    if (c->ctx) evp.ctx_free(c->ctx);
    c->ctx = NULL;
}
