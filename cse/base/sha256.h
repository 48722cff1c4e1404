/* SHA-256, streaming, from OpenSSL's libcrypto loaded when first used. The
 * engine links no crypto library (TLS and DTLS live in dlopened modules,
 * docs/architecture.md, and an HTTP-only CSE must not load one), yet the
 * store tool's tree checksum needs a digest: the well-kept implementation
 * is borrowed at run time rather than a copy carried here. */
#ifndef IRONBARK_SHA256_H
#define IRONBARK_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES 32

struct sha256 {
    void *ctx;                 /* libcrypto's EVP_MD_CTX; NULL after a failure */
};

/* 0, or -1 when libcrypto cannot be loaded or the digest set up (then
 * update does nothing and hex gives ""). */
int sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
/* Lowercase hex of the digest of everything hashed so far ("" after a
 * failure); c is finished and freed. */
void sha256_hex(struct sha256 *c, char out[2 * SHA256_BYTES + 1]);
/* Frees an unfinished c (a no-op once finished or failed). */
void sha256_discard(struct sha256 *c);

#endif
