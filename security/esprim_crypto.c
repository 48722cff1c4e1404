/* ESPrim's primitives on libcrypto (security/esprim_crypto.h). */
#include "esprim_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static int hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                       uint8_t out[32])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &n) && n == 32 ? 0 : -1;
}

static const EVP_CIPHER *gcm_for(size_t key_len)
{
    switch (key_len) {
    case 16: return EVP_aes_128_gcm();
    case 24: return EVP_aes_192_gcm();
    case 32: return EVP_aes_256_gcm();
    default: return NULL;
    }
}

/* One GCM pass; seal != 0 encrypts. Returns 0, 1 (open: bad tag) or -1. */
static int gcm(int seal, const uint8_t *key, size_t key_len, const uint8_t *iv, const uint8_t *aad,
               size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
    const EVP_CIPHER *cipher = gcm_for(key_len);
    if (!cipher || len > INT32_MAX || aad_len > INT32_MAX) return -1;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c) return -1;
    int n = 0, rc = -1;
    if (EVP_CipherInit_ex(c, cipher, NULL, NULL, NULL, seal) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, ESPRIM_IV_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(c, NULL, NULL, key, iv, seal) != 1 ||
        (aad_len && EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) != 1) ||
        (len && EVP_CipherUpdate(c, out, &n, in, (int)len) != 1))
        goto done;
    if (!seal && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, ESPRIM_TAG_LEN, tag) != 1) goto done;
    if (EVP_CipherFinal_ex(c, out + n, &n) != 1) {
        rc = seal ? -1 : 1;
        goto done;
    }
    rc = seal && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, ESPRIM_TAG_LEN, tag) != 1 ? -1 : 0;
done:
    EVP_CIPHER_CTX_free(c);
    /* Unauthenticated plaintext never leaves. */
    if (rc && !seal && len) OPENSSL_cleanse(out, len);
    return rc;
}

static int gcm_seal(const uint8_t *key, size_t key_len, const uint8_t iv[ESPRIM_IV_LEN], const uint8_t *aad,
                    size_t aad_len, const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[ESPRIM_TAG_LEN])
{
    return gcm(1, key, key_len, iv, aad, aad_len, pt, len, ct, tag);
}

static int gcm_open(const uint8_t *key, size_t key_len, const uint8_t iv[ESPRIM_IV_LEN], const uint8_t *aad,
                    size_t aad_len, const uint8_t *ct, size_t len, const uint8_t tag[ESPRIM_TAG_LEN],
                    uint8_t *pt)
{
    return gcm(0, key, key_len, iv, aad, aad_len, ct, len, pt, (uint8_t *)tag);
}

static int random_bytes(uint8_t *buf, size_t len)
{
    return len <= INT32_MAX && RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

const struct esprim_crypto esprim_crypto_openssl = {
    .hmac_sha256 = hmac_sha256,
    .gcm_seal = gcm_seal,
    .gcm_open = gcm_open,
    .random = random_bytes,
};
