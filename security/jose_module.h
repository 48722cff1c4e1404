/* The token module (security/token.h) as a shared module, ironbark-jose.so
 * (cjose + libcrypto), so that m2m-cse's core never maps those libraries
 * (the HTTP-only idle RSS is a tracked benchmark; docs/architecture.md).
 * It is loaded on first use, like the transport module (cse/wire/transport.h).
 * Tools, tests and m2m-das link security/token.c statically instead and call
 * token.h directly. docs/dynamic-authorization.md, "Tokens". */
#ifndef IRONBARK_JOSE_MODULE_H
#define IRONBARK_JOSE_MODULE_H

#include "esprim_crypto.h"
#include "token.h"

struct config;

#define JOSE_MODULE_ABI 2
#define JOSE_MODULE_SYMBOL "ironbark_jose_module"
#define JOSE_MODULE_FILE "ironbark-jose.so"

/* One member per function of token.h, same signature and meaning. Strings
 * the module returns (sign, new_key, public_jwk) are malloc'd: free() them. */
struct jose_module {
    int abi;  /* JOSE_MODULE_ABI of the build that made the module */
    struct token_trust *(*trust_new)(void);
    void (*trust_free)(struct token_trust *t);
    int (*trust_add)(struct token_trust *t, const char *issuer, const char *jwk_json, char *err, size_t cap);
    int (*trust_load)(struct token_trust *t, const char *path, char *err, size_t cap);
    size_t (*trust_count)(const struct token_trust *t);
    enum token_verdict (*verify)(const struct token_trust *t, const char *jwt, const char *holder,
                                 const char *csi, int64_t now_s, struct token_claims *out);
    int (*peek)(const char *jwt, struct token_claims *out);
    char *(*sign)(const struct token_claims *c, const char *private_jwk_json, char *err, size_t cap);
    char *(*new_key)(void);
    char *(*public_jwk)(const char *private_jwk_json);
    const char *(*verdict_text)(enum token_verdict v);
    void (*claims_free)(struct token_claims *c);
    const struct esprim_crypto *esprim;  /* ESPrim's HMAC and AES-GCM (security/esprim.h) */
};

/* The module, loaded on first call (the jose-module setting, else
 * ironbark-jose.so beside the executable; cfg may be NULL). NULL when it
 * cannot be loaded: the reason (file, setting, dlerror) is logged once, and
 * later calls return NULL without trying again. */
const struct jose_module *jose_load(const struct config *cfg);

#endif
