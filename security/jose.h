/* JOSE compact objects (RFC 7515/7516/7518) for end-to-end security:
 * ESData envelopes (TS-0003 8.5), ESPrim objects (TS-0003 8.4.3.2) and
 * signed firmware. The one general JOSE API of the project, on cjose.
 *
 * Claimed algorithms, nothing else is produced or accepted:
 *   JWE alg: dir, A128KW, A192KW, A256KW (oct keys of the matching size);
 *            ECDH-ES+A128KW, ECDH-ES+A192KW, ECDH-ES+A256KW (EC P-256/384/521 JWK:
 *            sealed to the public key, opened with the private one; on libcrypto,
 *            security/jose_ecdh.c, as cjose 0.6.2 lacks them);
 *            RSA-OAEP-256 (RSA JWK of 2048 to 8192 bits, the same way; on libcrypto in
 *            jose.c; a private JWK without the CRT members p, q, dp, dq, qi works too)
 *   JWE enc: A128GCM, A192GCM, A256GCM
 *   JWS alg: HS256 (oct key >= 32 bytes), ES256 (EC P-256 JWK)
 * "none", unknown algorithms, "crit", "zip" and unprotected headers are refused.
 * Compact serialisation only. A JWS may have a detached payload (RFC 7515
 * Appendix F: the middle part empty, the payload supplied by the verifier).
 *
 * Pure functions on plain structs: no I/O, no clock, no logging; key
 * material never appears in error text. m2m-cse reaches these through the
 * module table (security/jose_module.h); tools and tests link them. */
#ifndef IRONBARK_JOSE_H
#define IRONBARK_JOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOSE_MAX_COMPACT_BYTES (4u << 20)   /* longest compact object accepted */
#define JOSE_MAX_PAYLOAD_BYTES (3u << 20)   /* longest plaintext / JWS payload */
#define JOSE_MAX_KEY_JSON_BYTES 16384u      /* longest JWK text */
#define JOSE_MAX_HEADER_BYTES 8192u         /* longest decoded protected header */

enum jose_error {
    JOSE_OK = 0,
    JOSE_E_ARGUMENT,    /* NULL or inconsistent arguments (a programming error) */
    JOSE_E_TOO_LARGE,   /* input above the JOSE_MAX_* bounds */
    JOSE_E_MALFORMED,   /* not a compact JWE/JWS, bad base64url, bad header JSON, bad JWK */
    JOSE_E_ALG,         /* algorithm or enc not claimed above, or not usable with this key */
    JOSE_E_KEY,         /* key of the wrong type or size for the algorithm */
    JOSE_E_DECRYPT,     /* JWE: authentication failed: wrong key or tampered object */
    JOSE_E_SIGNATURE,   /* JWS: signature does not verify: wrong key, payload or tampered */
    JOSE_E_INTERNAL,    /* out of memory, library failure */
};
/* A short English text for e (static storage, never NULL). */
const char *jose_error_text(enum jose_error e);

/* A key: a JWK (oct, EC, RSA; public or private) or raw symmetric bytes. */
struct jose_key;
enum jose_error jose_key_from_jwk(const char *jwk_json, struct jose_key **out);
enum jose_error jose_key_from_bytes(const uint8_t *bytes, size_t len, struct jose_key **out);
void jose_key_free(struct jose_key *k);
/* The JWK's "kid", NULL when it has none (storage owned by k). */
const char *jose_key_kid(const struct jose_key *k);

/* What to put in the protected header when sealing or signing. */
struct jose_params {
    const char *alg;    /* required: "dir", "A128KW".., "ECDH-ES+A128KW".., "RSA-OAEP-256" (JWE);
                           "HS256", "ES256" (JWS) */
    const char *enc;    /* JWE only, required: "A128GCM", "A192GCM", "A256GCM" */
    const char *kid;    /* NULL: absent */
    const char *typ;    /* NULL: absent */
    const char *cty;    /* NULL: absent */
    const char *extra;  /* NULL, or a JSON object text whose members are added to the
                           header (e.g. ESPrim ori/rri/oro); it may not name alg, enc,
                           kid, typ, cty, crit, zip, b64, jku, jwk, x5u, x5c */
};

/* A decoded protected header. Strings are malloc'd, NULL when absent;
 * json is the whole header as JSON text. Free with jose_header_clear. */
struct jose_header {
    char *alg, *enc, *kid, *typ, *cty;
    char *json;
};
void jose_header_clear(struct jose_header *h);

/* JWE compact: seals plain (len may be 0) under key. *out: malloc'd, NUL-terminated. */
enum jose_error jose_jwe_seal(const struct jose_key *key, const struct jose_params *p,
                              const uint8_t *plain, size_t len, char **out);
/* Opens a JWE compact object. *plain: malloc'd (NUL appended after *len bytes);
 * hdr may be NULL. On any error nothing is returned. */
enum jose_error jose_jwe_open(const struct jose_key *key, const char *compact,
                              uint8_t **plain, size_t *len, struct jose_header *hdr);

/* JWS compact: signs payload; detached: the middle part is left empty. */
enum jose_error jose_jws_sign(const struct jose_key *key, const struct jose_params *p,
                              const uint8_t *payload, size_t len, bool detached, char **out);
/* Verifies a JWS compact object. Attached payload: detached must be NULL and
 * *payload / *len (may be NULL when not wanted) receive it (malloc'd, NUL appended).
 * Detached: compact's middle part must be empty and detached/detached_len is
 * the payload; payload/len are then not set. hdr may be NULL. */
enum jose_error jose_jws_verify(const struct jose_key *key, const char *compact,
                                const uint8_t *detached, size_t detached_len,
                                uint8_t **payload, size_t *len, struct jose_header *hdr);

/* The protected header of a compact JWE or JWS without any key or check
 * beyond its form (for choosing a key by kid, and for tools). */
enum jose_error jose_peek_header(const char *compact, struct jose_header *out);

/* A fresh key as private JWK JSON (malloc'd): "oct" of bytes 16/24/32/64,
 * or EC P-256 when bytes is 0. kid: NULL or the "kid" to set. NULL on failure. */
char *jose_new_jwk(size_t bytes, const char *kid);
/* The public half of an EC or RSA private JWK (malloc'd JSON); NULL for oct or bad input. */
char *jose_public_jwk(const char *jwk_json);

#endif
