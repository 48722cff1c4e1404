/* Keys at rest in the MEF: every Ke is sealed (AES-256-GCM) under a
 * key-encryption key derived from a root secret file (<data-dir>/mef-root.key,
 * 32 random bytes, owner-only, made on first start). The KEK never sits in
 * the database and the database never holds a key in the clear.
 * OpenSSL libcrypto only. */
#ifndef IRONBARK_MEF_VAULT_H
#define IRONBARK_MEF_VAULT_H

#include <stddef.h>
#include <stdint.h>

#define VAULT_OVERHEAD 28      /* 12-byte nonce + 16-byte tag */

struct vault;

/* Opens (creating) the root secret file and derives the KEK; NULL with the
 * reason in err (a root file readable by others is refused). */
struct vault *vault_open(const char *root_file, char *err, size_t errlen);
void vault_close(struct vault *v);

/* Seals n bytes into out (n + VAULT_OVERHEAD); the associated data (the
 * KeID) ties a sealed key to its record. 0 or -1. */
int vault_seal(struct vault *v, const char *aad, const uint8_t *in, size_t n, uint8_t *out);
/* Opens what vault_seal made: 0 and n - VAULT_OVERHEAD bytes in out, or -1
 * (wrong KEK, wrong record, tampered). */
int vault_open_sealed(struct vault *v, const char *aad, const uint8_t *in, size_t n, uint8_t *out);

#endif
