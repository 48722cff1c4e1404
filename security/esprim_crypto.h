/* The cryptographic primitives ESPrim needs (TS-0003 8.4, 10.3.8.2):
 * HMAC-SHA256 for the session key and AES-GCM for the JWE object, on
 * libcrypto. They live in ironbark-jose.so beside the tokens (m2m-cse's core
 * maps no libcrypto, security/jose_module.h); the JWE framing and all
 * checks are in security/esprim.c. Tools and tests link esprim_crypto.c
 * statically and use esprim_crypto_openssl. */
#ifndef IRONBARK_ESPRIM_CRYPTO_H
#define IRONBARK_ESPRIM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define ESPRIM_IV_LEN 12   /* 96-bit GCM IV (RFC 7518 5.3) */
#define ESPRIM_TAG_LEN 16  /* 128-bit GCM tag */

struct esprim_crypto {
    /* out = HMAC-SHA256(key, msg). 0, or -1 on a library failure. */
    int (*hmac_sha256)(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                       uint8_t out[32]);
    /* AES-GCM with a 16/24/32-byte key: ct has room for len bytes. 0 or -1. */
    int (*gcm_seal)(const uint8_t *key, size_t key_len, const uint8_t iv[ESPRIM_IV_LEN],
                    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len,
                    uint8_t *ct, uint8_t tag[ESPRIM_TAG_LEN]);
    /* 0 = authentic (pt filled), 1 = the tag does not match (pt wiped),
     * -1 = the library failed otherwise. */
    int (*gcm_open)(const uint8_t *key, size_t key_len, const uint8_t iv[ESPRIM_IV_LEN],
                    const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t len,
                    const uint8_t tag[ESPRIM_TAG_LEN], uint8_t *pt);
    /* Fills buf with len bytes from the system's CSPRNG. 0 or -1. */
    int (*random)(uint8_t *buf, size_t len);
};

extern const struct esprim_crypto esprim_crypto_openssl;

#endif
