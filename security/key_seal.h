/* Keys at rest: a key-encryption key (KEK) derived from a root secret file
 * (32 random bytes, owner-only, made at first use) and AES-256-GCM sealing
 * under it, with associated data that ties a sealed key to its record.
 * Shared by the CSE's credential store (security/credentials.c, through
 * ironbark-jose.so: m2m-cse's core maps no libcrypto) and the MEF's vault
 * (mef/vault.c, linked statically). OpenSSL libcrypto only.
 * docs/security.md "Keys at rest". */
#ifndef IRONBARK_KEY_SEAL_H
#define IRONBARK_KEY_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define KEY_SEAL_ROOT_LEN 32
#define KEY_SEAL_KEK_LEN 32
#define KEY_SEAL_NONCE_LEN 12
#define KEY_SEAL_TAG_LEN 16
#define KEY_SEAL_OVERHEAD (KEY_SEAL_NONCE_LEN + KEY_SEAL_TAG_LEN)

/* Reads the root secret file, creating it (mode 0600, fresh random bytes)
 * when it does not exist. 0, or -1 with the reason in err: a file group or
 * others may read is refused, as is one of the wrong size. */
int key_seal_read_root(const char *root_file, uint8_t root[KEY_SEAL_ROOT_LEN], char *err, size_t errlen);

/* out = nonce || AES-256-GCM(kek, aad, in) || tag: n + KEY_SEAL_OVERHEAD
 * bytes, a fresh random nonce each time. 0 or -1. */
int key_seal_gcm_seal(const uint8_t kek[KEY_SEAL_KEK_LEN], const uint8_t *aad, size_t aad_len,
                      const uint8_t *in, size_t n, uint8_t *out);
/* Opens what key_seal_gcm_seal made: 0 and n - KEY_SEAL_OVERHEAD bytes in
 * out, or -1 (wrong KEK, other associated data, altered). */
int key_seal_gcm_open(const uint8_t kek[KEY_SEAL_KEK_LEN], const uint8_t *aad, size_t aad_len,
                      const uint8_t *in, size_t n, uint8_t *out);

/* A KEK of HKDF-SHA256(root file, info = label), behind a table so that
 * m2m-cse reaches it through ironbark-jose.so (security/jose_module.h). */
struct key_seal;
struct key_seal_ops {
    /* Reads (creating) the root file and derives the KEK; NULL with the
     * reason in err. */
    struct key_seal *(*open)(const char *root_file, const char *label, char *err, size_t errlen);
    void (*close)(struct key_seal *k);
    int (*seal)(const struct key_seal *k, const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t n,
                uint8_t *out);
    int (*unseal)(const struct key_seal *k, const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t n,
                  uint8_t *out);
};

/* The libcrypto implementation. A function, not a global table: m2m-mef
 * links this file and also loads ironbark-jose.so, which holds it too, and
 * a global defined twice is an ODR violation (ASan stops the process). */
const struct key_seal_ops *key_seal_openssl(void);

#endif
