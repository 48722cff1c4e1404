/* The token module (security/token.h) as a shared module, ironbark-jose.so
 * (cjose + libcrypto), so that m2m-cse's core never maps those libraries
 * (the HTTP-only idle RSS is a tracked benchmark; docs/architecture.md).
 * It is loaded on first use, like the transport module (cse/wire/transport.h).
 * Tools, tests and m2m-das link security/token.c statically instead and call
 * token.h directly. docs/dynamic-authorization.md, "Tokens". */
#ifndef IRONBARK_JOSE_MODULE_H
#define IRONBARK_JOSE_MODULE_H

#include "esprim_crypto.h"
#include "jose.h"
#include "key_seal.h"
#include "token.h"

struct config;

#define JOSE_MODULE_ABI 4
#define JOSE_MODULE_SYMBOL "ironbark_jose_module"
#define JOSE_MODULE_FILE "ironbark-jose.so"

/* One member per function of token.h and jose.h, same signature and
 * meaning. Strings the module returns (sign, new_key, public_jwk, the jose_*
 * outputs) are malloc'd: free() them. */
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

    /* jose.h (abi 2) */
    const char *(*jose_error_text)(enum jose_error e);
    enum jose_error (*jose_key_from_jwk)(const char *jwk_json, struct jose_key **out);
    enum jose_error (*jose_key_from_bytes)(const uint8_t *bytes, size_t len, struct jose_key **out);
    void (*jose_key_free)(struct jose_key *k);
    const char *(*jose_key_kid)(const struct jose_key *k);
    void (*jose_header_clear)(struct jose_header *h);
    enum jose_error (*jose_jwe_seal)(const struct jose_key *key, const struct jose_params *p,
                                     const uint8_t *plain, size_t len, char **out);
    enum jose_error (*jose_jwe_open)(const struct jose_key *key, const char *compact,
                                     uint8_t **plain, size_t *len, struct jose_header *hdr);
    enum jose_error (*jose_jws_sign)(const struct jose_key *key, const struct jose_params *p,
                                     const uint8_t *payload, size_t len, bool detached, char **out);
    enum jose_error (*jose_jws_verify)(const struct jose_key *key, const char *compact,
                                       const uint8_t *detached, size_t detached_len,
                                       uint8_t **payload, size_t *len, struct jose_header *hdr);
    enum jose_error (*jose_peek_header)(const char *compact, struct jose_header *out);
    char *(*jose_new_jwk)(size_t bytes, const char *kid);
    char *(*jose_public_jwk)(const char *jwk_json);

    /* ESPrim (abi 3): its HMAC, randomness and JWE (security/esprim_crypto.h) */
    const struct esprim_crypto *esprim;

    /* Keys at rest in the credential store (abi 4; security/key_seal.h) */
    const struct key_seal_ops *(*seal)(void);
};

/* The module, loaded on first call (the jose-module setting, else
 * ironbark-jose.so beside the executable; cfg may be NULL). NULL when it
 * cannot be loaded: the reason (file, setting, dlerror) is logged once, and
 * later calls return NULL without trying again. */
const struct jose_module *jose_load(const struct config *cfg);

#endif
