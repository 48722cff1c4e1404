/* OpenSSL libcrypto only (vault.h). */
#include "vault.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROOT_LEN 32
static const char kek_label[] = "Ironbark MEF key-encryption key v1";

struct vault {
    uint8_t kek[32];
};

static int make_root(const char *file, char *err, size_t errlen)
{
    uint8_t root[ROOT_LEN];
    if (RAND_bytes(root, sizeof root) != 1) { snprintf(err, errlen, "no randomness for %s", file); return -1; }
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, root, sizeof root) == (ssize_t)sizeof root;
    OPENSSL_cleanse(root, sizeof root);
    if (fd >= 0 && (close(fd) || !ok)) ok = false;
    if (!ok) snprintf(err, errlen, "cannot create %s: %s", file, strerror(errno));
    return ok ? 0 : -1;
}

struct vault *vault_open(const char *root_file, char *err, size_t errlen)
{
    struct stat st;
    if (stat(root_file, &st) && (errno != ENOENT || make_root(root_file, err, errlen))) {
        if (errno != ENOENT) snprintf(err, errlen, "cannot read %s: %s", root_file, strerror(errno));
        return NULL;
    }
    int fd = open(root_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st)) {
        snprintf(err, errlen, "cannot read %s: %s", root_file, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "%s may be read by group or others (mode %04o): chmod 600 it", root_file,
                 (unsigned)(st.st_mode & 0777));
        close(fd);
        return NULL;
    }
    uint8_t root[ROOT_LEN];
    ssize_t n = read(fd, root, sizeof root);
    close(fd);
    struct vault *v = n == ROOT_LEN ? calloc(1, sizeof *v) : NULL;
    unsigned int len = 0;
    if (!v || !HMAC(EVP_sha256(), root, sizeof root, (const unsigned char *)kek_label, sizeof kek_label - 1,
                    v->kek, &len)) {
        snprintf(err, errlen, "%s must hold %d bytes of root secret", root_file, ROOT_LEN);
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

/* One AES-256-GCM pass: seal (enc) or open; tag after the ciphertext. */
static int gcm(const struct vault *v, bool enc, const char *aad, const uint8_t *nonce, const uint8_t *in,
               size_t n, uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, v->kek, nonce, enc ? 1 : 0) &&
                      EVP_CipherUpdate(c, NULL, &len, (const uint8_t *)aad, (int)strlen(aad)) &&
                      EVP_CipherUpdate(c, out, &len, in, (int)n);
    if (ok && !enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag);
    ok = ok && EVP_CipherFinal_ex(c, out + len, &len);
    if (ok && enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int vault_seal(struct vault *v, const char *aad, const uint8_t *in, size_t n, uint8_t *out)
{
    if (RAND_bytes(out, 12) != 1) return -1;
    return gcm(v, true, aad, out, in, n, out + 12, out + 12 + n);
}

int vault_open_sealed(struct vault *v, const char *aad, const uint8_t *in, size_t n, uint8_t *out)
{
    if (n < VAULT_OVERHEAD) return -1;
    size_t m = n - VAULT_OVERHEAD;
    uint8_t tag[16];
    memcpy(tag, in + 12 + m, 16);
    int rc = gcm(v, false, aad, in, in + 12, m, out, tag);
    if (rc) OPENSSL_cleanse(out, m);
    return rc;
}
