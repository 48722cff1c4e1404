/* OpenSSL libcrypto only (vault.h); the root file and AES-256-GCM are
 * security/key_seal.c's, shared with the CSE's credential store. */
#include "vault.h"

#include "../security/key_seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char kek_label[] = "Ironbark MEF key-encryption key v1";

struct vault {
    uint8_t kek[KEY_SEAL_KEK_LEN];
};

struct vault *vault_open(const char *root_file, char *err, size_t errlen)
{
    uint8_t root[KEY_SEAL_ROOT_LEN];
    if (key_seal_read_root(root_file, root, err, errlen)) return NULL;
    struct vault *v = calloc(1, sizeof *v);
    unsigned int len = 0;
    /* HMAC-SHA256(root, label), not key_seal's HKDF: the Ke already sealed
     * in existing mef.db files were sealed under this KEK. */
    if (!v || !HMAC(EVP_sha256(), root, sizeof root, (const unsigned char *)kek_label, sizeof kek_label - 1,
                    v->kek, &len)) {
        snprintf(err, errlen, "cannot derive the key-encryption key from %s", root_file);
        free(v);
        v = NULL;
    }
    OPENSSL_cleanse(root, sizeof root);
    return v;
}

void vault_close(struct vault *v)
{
    if (!v) return;
    OPENSSL_cleanse(v, sizeof *v);
    free(v);
}

int vault_seal(struct vault *v, const char *aad, const uint8_t *in, size_t n, uint8_t *out)
{
    return key_seal_gcm_seal(v->kek, (const uint8_t *)aad, strlen(aad), in, n, out);
}

int vault_open_sealed(struct vault *v, const char *aad, const uint8_t *in, size_t n, uint8_t *out)
{
    return key_seal_gcm_open(v->kek, (const uint8_t *)aad, strlen(aad), in, n, out);
}
