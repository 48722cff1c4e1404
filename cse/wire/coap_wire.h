/* Our own reading of a CoAP-over-UDP datagram (RFC 7252 section 3), done
 * before libcoap parses it. libcoap 4.3.1, the only libcoap Debian 12 ships,
 * rejects some messages the RFCs allow (a zero-length Uri-Query: every
 * request of the CoAPthon client) and answers them with a Reset. This module
 * decides, from the RFCs' option-length tables, whether a datagram is well
 * formed, and rewrites the allowed forms libcoap would reject into equivalent
 * ones it accepts. Pure functions on bytes: unit-tested byte for byte and
 * fuzzed (tests/fuzz/). See docs/decisions.md for the list of covered defects. */
#ifndef IRONBARK_COAP_WIRE_H
#define IRONBARK_COAP_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Option numbers with a length rule (RFC 7252 Table 4, RFC 7641, 7959, 7967,
 * 8613, 8768, 9175): X(number, name, min length, max length). Numbers not
 * listed (oneM2M's among them) may have any length. */
#define COAP_WIRE_OPTION_LENGTHS(X) \
    X(1, IF_MATCH, 0, 8) X(3, URI_HOST, 1, 255) X(4, ETAG, 1, 8) \
    X(5, IF_NONE_MATCH, 0, 0) X(6, OBSERVE, 0, 3) X(7, URI_PORT, 0, 2) \
    X(8, LOCATION_PATH, 0, 255) X(9, OSCORE, 0, 255) X(11, URI_PATH, 0, 255) \
    X(12, CONTENT_FORMAT, 0, 2) X(14, MAX_AGE, 0, 4) X(15, URI_QUERY, 0, 255) \
    X(16, HOP_LIMIT, 1, 1) X(17, ACCEPT, 0, 2) X(20, LOCATION_QUERY, 0, 255) \
    X(23, BLOCK2, 0, 3) X(27, BLOCK1, 0, 3) X(28, SIZE2, 0, 4) \
    X(35, PROXY_URI, 1, 1034) X(39, PROXY_SCHEME, 1, 255) X(60, SIZE1, 0, 4) \
    X(252, ECHO, 1, 40) X(258, NO_RESPONSE, 0, 1) X(292, REQUEST_TAG, 0, 8)

enum coap_wire_verdict {
    COAP_WIRE_OK,          /* well formed, hand it to libcoap as it is */
    COAP_WIRE_REWRITTEN,   /* well formed; hand libcoap the rewritten copy */
    COAP_WIRE_MALFORMED,   /* a message format error (RFC 7252 4.2: Reset) */
};

/* An option header's extended delta or length (RFC 7252 3.1): nibble 13
 * adds one byte (+13), 14 two bytes (+269), 15 is reserved (-1). */
static inline int coap_wire_ext(unsigned nibble, const uint8_t **p, const uint8_t *end, size_t *value)
{
    if (nibble < 13) {
        *value = nibble;
        return 0;
    }
    if (nibble == 13 && end - *p >= 1) {
        *value = 13u + (*p)[0];
        *p += 1;
        return 0;
    }
    if (nibble == 14 && end - *p >= 2) {
        *value = 269u + ((size_t)(*p)[0] << 8 | (*p)[1]);
        *p += 2;
        return 0;
    }
    return -1;
}

/* The option at p (len bytes left) as RFC 7252 3.1 encodes it: its whole
 * size, with its number delta and value length; 0 when it is the payload
 * marker, has a reserved nibble (15) or runs past len. Inline: libcoap's
 * option iterator (coap_optiter.h) runs it about 80 times per request. */
static inline size_t coap_wire_option_at(const uint8_t *p, size_t len, size_t *delta, size_t *vlen)
{
    if (!len) return 0;
    unsigned dn = *p >> 4, ln = *p & 15;
    if (dn < 13 && ln < 13) {   /* the common one-byte header */
        *delta = dn;
        *vlen = ln;
        return len - 1 >= ln ? 1u + ln : 0;
    }
    const uint8_t *q = p + 1, *end = p + len;
    if (coap_wire_ext(dn, &q, end, delta) || coap_wire_ext(ln, &q, end, vlen)) return 0;
    if ((size_t)(end - q) < *vlen) return 0;
    return (size_t)(q - p) + *vlen;
}

/* The allowed length range of an option; 0 when the number has no rule. */
int coap_wire_option_limits(unsigned number, size_t *min, size_t *max);

/* Reads a datagram of len bytes. When it is well formed but holds options
 * libcoap 4.3.1 would reject although the RFCs allow them, writes an
 * equivalent message to out (at most outcap bytes; len always suffices) and
 * sets *outlen. The rewrite drops zero-length Uri-Query options: an empty
 * query segment, which no oneM2M query parameter can be. With out NULL it
 * only tells whether a rewrite is needed (COAP_WIRE_REWRITTEN, *outlen 0).
 * why (may be NULL) receives a short reason for COAP_WIRE_MALFORMED. */
enum coap_wire_verdict coap_wire_check(const uint8_t *msg, size_t len, uint8_t *out,
                                       size_t outcap, size_t *outlen, const char **why);

/* An elective option number of our own (experimental range, RFC 7252
 * 12.2) that marks a request whose payload was too large for libcoap to
 * take in one datagram; its value is the payload's length. The same option
 * from a peer is dropped by coap_wire_check(), so only we can set it. */
#define COAP_WIRE_OPT_TOO_LARGE 65002

/* Writes msg (well formed, as coap_wire_check said) without its payload and
 * with a COAP_WIRE_OPT_TOO_LARGE option carrying the payload's length, so
 * that a request libcoap cannot hold can still be answered (4.13). Returns
 * the length written to out (outcap >= 4 + 8 + options + 8 suffices), or 0
 * when msg has no payload or already an option numbered that high. */
size_t coap_wire_strip_payload(const uint8_t *msg, size_t len, uint8_t *out, size_t outcap);

#endif
