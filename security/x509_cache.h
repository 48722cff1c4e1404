/* Certificates libssl receives, parsed once: OpenSSL 3.0's d2i_X509() sets
 * up a public-key decoder for every certificate it reads (~1.5 M
 * instructions, OSSL_DECODER_CTX_new_for_pkey; 3.0 caches none), and a
 * certificate handshake reads each certificate the client sends: its own
 * and, from most devices, the same CA certificate. x509_cache.c defines
 * d2i_X509() in the transports module; a call from libssl (its Certificate
 * messages, HTTPS and libcoap's DTLS) whose DER bytes equal a certificate
 * parsed before gets that X509 with a new reference. Only the parse is
 * shared: chain building, signatures, CRL and expiry are checked on every
 * handshake as before. Bounded: X509_CACHE_SLOTS certificates of at most
 * X509_CACHE_DER_MAX bytes, least recently used out first
 * (docs/decisions.md, "CoAPS handshakes"). No wolfSSL headers here. */
#ifndef IRONBARK_X509_CACHE_H
#define IRONBARK_X509_CACHE_H

#include <openssl/x509.h>

enum { X509_CACHE_SLOTS = 32, X509_CACHE_DER_MAX = 4096 };

/* d2i_X509() answered from the cache: the same result, *in advanced as far
 * and *a set as libcrypto's would be (a reused *a is freed and replaced,
 * since the cached object must not be overwritten). Any input it cannot
 * key (not one definite-length DER SEQUENCE within len, longer than
 * X509_CACHE_DER_MAX, *a of another library context) and every miss go to
 * libcrypto's own; a successful miss is kept. d2i_X509() calls this for
 * libssl's calls only. */
X509 *x509_cache_d2i(X509 **a, const unsigned char **in, long len);

/* Parses answered from the cache since start: > 0 once libssl reached it. */
unsigned long x509_cache_hits(void);

#endif
