/* What ESPrim needs of the crypto libraries (TS-0003 8.4, 10.3.8.2):
 * HMAC-SHA256 for the session key, randomness for nonce objects, and the
 * JWE compact object ("dir" + AES-GCM) through the project's JOSE API
 * (security/jose.h). It lives in ironbark-jose.so (m2m-cse's core maps no
 * libcrypto or cjose, security/jose_module.h); the framing checks and the
 * protocol are in security/esprim.c. Tools and tests link esprim_crypto.c
 * statically and use esprim_crypto_openssl. */
#ifndef IRONBARK_ESPRIM_CRYPTO_H
#define IRONBARK_ESPRIM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

enum esprim_open_result {
    ESPRIM_OPENED = 0,
    ESPRIM_NOT_AUTHENTIC,   /* the tag does not verify: wrong key or altered object */
    ESPRIM_NOT_OPENABLE,    /* malformed for the JOSE library, or an algorithm it refuses */
    ESPRIM_CRYPTO_FAILED,   /* out of memory, library failure */
};

struct esprim_crypto {
    /* out = HMAC-SHA256(key, msg). 0, or -1 on a library failure. */
    int (*hmac_sha256)(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                       uint8_t out[32]);
    /* Fills buf with len bytes from the CSPRNG. 0 or -1. */
    int (*random)(uint8_t *buf, size_t len);
    /* JWE compact, alg "dir", enc "A256GCM" under the 32-byte key, with kid,
     * cty and the members of extra_json (ori, rri, oro) in the protected
     * header. *out malloc'd. 0 or -1. */
    int (*seal)(const uint8_t key[32], const char *kid, const char *cty, const char *extra_json,
                const char *plain, size_t len, char **out);
    /* Opens compact under the 32-byte key: *plain malloc'd, '\0' after *len. */
    enum esprim_open_result (*open)(const uint8_t key[32], const char *compact, char **plain, size_t *len);
};

extern const struct esprim_crypto esprim_crypto_openssl;

#endif
