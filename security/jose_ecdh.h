/* What security/jose.c needs beyond cjose 0.6.2 for ECDH-ES+A128KW/A192KW/
 * A256KW (RFC 7518 4.6): the ECDH-ES key agreement with the Concat KDF, AES
 * key wrap and AES-GCM, on the libcrypto cjose already links. Private to
 * jose.c (docs/decisions.md, "Certificate-based ESData"). */
#ifndef IRONBARK_JOSE_ECDH_H
#define IRONBARK_JOSE_ECDH_H

#include <cjose/cjose.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The key encryption key of alg ("ECDH-ES+A128KW", ...) agreed between own
 * (with its private part) and peer (public): Z = ECDH, then the Concat KDF
 * with AlgorithmID = alg, PartyUInfo = apu, PartyVInfo = apv, SuppPubInfo =
 * kek_bytes * 8. 0, or -1. */
int ecdh_es_kek(const cjose_jwk_t *own, json_t *peer, const char *alg, const uint8_t *apu,
                size_t apu_n, const uint8_t *apv, size_t apv_n, uint8_t *kek, size_t kek_bytes);

/* AES key wrap (RFC 3394) of n bytes (a multiple of 8) under kek: out has n + 8 bytes. */
int aes_kw_wrap(const uint8_t *kek, size_t kek_n, const uint8_t *in, size_t n, uint8_t *out);
/* Unwraps n bytes into n - 8; -1 when the integrity check fails. */
int aes_kw_unwrap(const uint8_t *kek, size_t kek_n, const uint8_t *in, size_t n, uint8_t *out);

/* AES-GCM with a 12-byte IV and a 16-byte tag; decryption returns -1 on a tag mismatch. */
int aes_gcm(bool encrypt, const uint8_t *key, size_t key_n, const uint8_t iv[12], const uint8_t *aad, size_t aad_n,
            const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16]);

#endif
