/* ESPrim's primitives on libcrypto and security/jose.h (esprim_crypto.h). */
#include "esprim_crypto.h"
#include "jose.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static int hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                       uint8_t out[32])
{
    unsigned int n = 0;
    return key_len <= INT32_MAX && HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &n) && n == 32
               ? 0 : -1;
}

static int random_bytes(uint8_t *buf, size_t len)
{
    return len <= INT32_MAX && RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static int seal(const uint8_t key[32], const char *kid, const char *cty, const char *extra_json,
                const char *plain, size_t len, char **out)
{
    struct jose_key *k = NULL;
    *out = NULL;
    if (jose_key_from_bytes(key, 32, &k) != JOSE_OK) return -1;
    struct jose_params p = { .alg = "dir", .enc = "A256GCM", .kid = kid, .cty = cty, .extra = extra_json };
    enum jose_error e = jose_jwe_seal(k, &p, (const uint8_t *)plain, len, out);
    jose_key_free(k);
    return e == JOSE_OK ? 0 : -1;
}

static enum esprim_open_result open_object(const uint8_t key[32], const char *compact, char **plain, size_t *len)
{
    struct jose_key *k = NULL;
    *plain = NULL;
    if (jose_key_from_bytes(key, 32, &k) != JOSE_OK) return ESPRIM_CRYPTO_FAILED;
    uint8_t *out = NULL;
    enum jose_error e = jose_jwe_open(k, compact, &out, len, NULL);
    jose_key_free(k);
    *plain = (char *)out;
    switch (e) {
    case JOSE_OK: return ESPRIM_OPENED;
    case JOSE_E_DECRYPT: return ESPRIM_NOT_AUTHENTIC;
    case JOSE_E_INTERNAL: case JOSE_E_ARGUMENT: return ESPRIM_CRYPTO_FAILED;
    default: return ESPRIM_NOT_OPENABLE;
    }
}

const struct esprim_crypto esprim_crypto_openssl = {
    .hmac_sha256 = hmac_sha256,
    .random = random_bytes,
    .seal = seal,
    .open = open_object,
};
