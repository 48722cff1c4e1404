/* The URI subjectAltName a client certificate binds to (TS-0003 8.1.2:
 * "URI in SAN equals the absolute AE-ID"), read the same way for HTTPS
 * (wolfSSL, security/tls.c) and CoAPS (OpenSSL, security/dtls.c): from the
 * certificate's DER bytes, so neither TLS library decides what is bound.
 * No TLS headers here (docs/security.md). */
#ifndef IRONBARK_CERT_SAN_H
#define IRONBARK_CERT_SAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest URI bound, as long as a KpsaID: "33-" + URI fits a Credential-ID
 * (struct m2m_request's sec.credential_id). */
#define SAN_URI_MAX 127

enum san_uri {
    SAN_URI_BAD = -1,          /* malformed DER, or a first URI that fails san_uri_valid() */
    SAN_URI_NONE = 0,          /* no URI subjectAltName: nothing to bind */
    SAN_URI_OK = 1,
};

/* Is s[0..n) a URI we may bind to: 1 to SAN_URI_MAX bytes, each one an RFC 3986
 * character (no NUL, control, space or non-ASCII byte), every '%' followed by
 * two hex digits. */
bool san_uri_valid(const uint8_t *s, size_t n);

/* The first uniformResourceIdentifier of the subjectAltName extension of a DER
 * certificate, copied NUL-terminated into out (cap > SAN_URI_MAX) when it is
 * SAN_URI_OK. A first URI that is invalid makes the result SAN_URI_BAD (never
 * a fall-through to a later one). */
enum san_uri cert_san_uri(const uint8_t *der, size_t len, char *out, size_t cap);

#endif
