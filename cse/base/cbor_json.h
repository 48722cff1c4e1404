/* CBOR <-> JSON (jansson) for the bindings' application/cbor bodies, with
 * libcbor's streaming decoder and encoder. The mapping is exact both ways:
 * integers (int64 range), UTF-8 text strings, arrays, maps with text keys
 * (no duplicates), booleans, null, finite floats. CBOR without a JSON
 * equivalent (byte strings, tags, undefined, NaN/infinity, indefinite-length
 * strings, non-text map keys) and anything malformed, truncated or followed
 * by more bytes is refused. */
#ifndef IRONBARK_CBOR_JSON_H
#define IRONBARK_CBOR_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Nesting refused beyond this many arrays/maps (bounds the builder's stack). */
#define CBOR_JSON_MAX_DEPTH 64

/* The JSON value of one CBOR data item filling buf (a new reference), or
 * NULL with a short reason in why (may be NULL). */
json_t *cbor_to_json(const uint8_t *buf, size_t len, const char **why);

/* The CBOR encoding of v (malloc'ed, *len bytes and a NUL not counted, as
 * the bindings' bodies have), or NULL (out of memory,
 * NaN/infinity, nesting deeper than CBOR_JSON_MAX_DEPTH). */
uint8_t *json_to_cbor(const json_t *v, size_t *len);

#endif
