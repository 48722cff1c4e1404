/* SHA-256 (FIPS 180-4), streaming. The engine links no crypto library
 * (they live in dlopened modules, docs/architecture.md), yet the store
 * tool's tree checksum needs a digest: a plain one is small enough to carry.
 * Not for secrets: no constant-time or key handling concerns apply to it. */
#ifndef IRONBARK_SHA256_H
#define IRONBARK_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES 32

struct sha256 {
    uint32_t h[8];
    uint64_t bytes;            /* message length so far */
    uint8_t block[64];
    size_t used;               /* bytes waiting in block */
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, uint8_t out[SHA256_BYTES]);
/* Lowercase hex of the digest of everything hashed so far; c is finished. */
void sha256_hex(struct sha256 *c, char out[2 * SHA256_BYTES + 1]);

#endif
