/* OpenSSL libcrypto only (key_seal.h). */
#include "key_seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct key_seal {
    uint8_t kek[KEY_SEAL_KEK_LEN];
};

static int make_root(const char *file, char *err, size_t errlen)
{
    uint8_t root[KEY_SEAL_ROOT_LEN];
    if (RAND_bytes(root, sizeof root) != 1) { snprintf(err, errlen, "no randomness for %s", file); return -1; }
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, root, sizeof root) == (ssize_t)sizeof root;
    OPENSSL_cleanse(root, sizeof root);
    if (fd >= 0 && (close(fd) || !ok)) ok = false;
    if (!ok) snprintf(err, errlen, "cannot create %s: %s", file, strerror(errno));
    return ok ? 0 : -1;
}

int key_seal_read_root(const char *root_file, uint8_t root[KEY_SEAL_ROOT_LEN], char *err, size_t errlen)
{
    struct stat st;
    if (stat(root_file, &st)) {
        if (errno != ENOENT) { snprintf(err, errlen, "cannot read %s: %s", root_file, strerror(errno)); return -1; }
        if (make_root(root_file, err, errlen)) return -1;
    }
    int fd = open(root_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st)) {
        snprintf(err, errlen, "cannot read %s: %s", root_file, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_mode & 077) {
        snprintf(err, errlen, "%s may be read by group or others (mode %04o), or is not a file: chmod 600 it",
                 root_file, (unsigned)(st.st_mode & 0777));
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, root, KEY_SEAL_ROOT_LEN);
    uint8_t extra;
    bool longer = n == KEY_SEAL_ROOT_LEN && read(fd, &extra, 1) == 1;
    close(fd);
    if (n != KEY_SEAL_ROOT_LEN || longer) {
        OPENSSL_cleanse(root, KEY_SEAL_ROOT_LEN);
        snprintf(err, errlen, "%s must hold exactly %d bytes of root secret", root_file, KEY_SEAL_ROOT_LEN);
        return -1;
    }
    return 0;
}

/* One AES-256-GCM pass: seal (enc) or open; tag after the ciphertext. */
static int gcm(const uint8_t *kek, bool enc, const uint8_t *aad, size_t aad_len, const uint8_t *nonce,
               const uint8_t *in, size_t n, uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, kek, nonce, enc ? 1 : 0) &&
                      EVP_CipherUpdate(c, NULL, &len, aad, (int)aad_len) &&
                      EVP_CipherUpdate(c, out, &len, in, (int)n);
    if (ok && !enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, KEY_SEAL_TAG_LEN, tag);
    ok = ok && EVP_CipherFinal_ex(c, out + len, &len);
    if (ok && enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, KEY_SEAL_TAG_LEN, tag);
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int key_seal_gcm_seal(const uint8_t kek[KEY_SEAL_KEK_LEN], const uint8_t *aad, size_t aad_len,
                      const uint8_t *in, size_t n, uint8_t *out)
{
    if (RAND_bytes(out, KEY_SEAL_NONCE_LEN) != 1) return -1;
    return gcm(kek, true, aad, aad_len, out, in, n, out + KEY_SEAL_NONCE_LEN, out + KEY_SEAL_NONCE_LEN + n);
}

int key_seal_gcm_open(const uint8_t kek[KEY_SEAL_KEK_LEN], const uint8_t *aad, size_t aad_len,
                      const uint8_t *in, size_t n, uint8_t *out)
{
    if (n < KEY_SEAL_OVERHEAD) return -1;
    size_t m = n - KEY_SEAL_OVERHEAD;
    uint8_t tag[KEY_SEAL_TAG_LEN];
    memcpy(tag, in + KEY_SEAL_NONCE_LEN + m, sizeof tag);
    int rc = gcm(kek, false, aad, aad_len, in, in + KEY_SEAL_NONCE_LEN, m, out, tag);
    if (rc) OPENSSL_cleanse(out, m);
    return rc;
}

/* HKDF-SHA256 (RFC 5869), no salt, info = label: the root file is already
 * uniformly random, the label keeps KEKs of different stores apart. */
static int hkdf(const uint8_t root[KEY_SEAL_ROOT_LEN], const char *label, uint8_t kek[KEY_SEAL_KEK_LEN])
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    size_t len = KEY_SEAL_KEK_LEN;
    int ok = c && EVP_PKEY_derive_init(c) > 0 && EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) > 0 &&
             EVP_PKEY_CTX_set1_hkdf_key(c, root, KEY_SEAL_ROOT_LEN) > 0 &&
             EVP_PKEY_CTX_add1_hkdf_info(c, (const unsigned char *)label, (int)strlen(label)) > 0 &&
             EVP_PKEY_derive(c, kek, &len) > 0 && len == KEY_SEAL_KEK_LEN;
    EVP_PKEY_CTX_free(c);
    return ok ? 0 : -1;
}

static struct key_seal *seal_open(const char *root_file, const char *label, char *err, size_t errlen)
{
    uint8_t root[KEY_SEAL_ROOT_LEN];
    if (key_seal_read_root(root_file, root, err, errlen)) return NULL;
    struct key_seal *k = calloc(1, sizeof *k);
    if (!k || hkdf(root, label, k->kek)) {
        snprintf(err, errlen, "cannot derive the key-encryption key from %s", root_file);
        free(k);
        k = NULL;
    }
    OPENSSL_cleanse(root, sizeof root);
    return k;
}

static void seal_close(struct key_seal *k)
{
    if (!k) return;
    OPENSSL_cleanse(k, sizeof *k);
    free(k);
}

static int seal_seal(const struct key_seal *k, const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t n,
                     uint8_t *out)
{
    return key_seal_gcm_seal(k->kek, aad, aad_len, in, n, out);
}

static int seal_unseal(const struct key_seal *k, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                       size_t n, uint8_t *out)
{
    return key_seal_gcm_open(k->kek, aad, aad_len, in, n, out);
}

const struct key_seal_ops *key_seal_openssl(void)
{
    static const struct key_seal_ops ops = {
        .open = seal_open, .close = seal_close, .seal = seal_seal, .unseal = seal_unseal,
    };
    return &ops;
}
