/* Certificates libssl receives, parsed once: OpenSSL 3.0's d2i_X509() sets
 * up a public-key decoder for every certificate it reads (~1.5 M
 * instructions, OSSL_DECODER_CTX_new_for_pkey; 3.0 caches none), and a
 * certificate handshake reads each certificate the client sends: its own
 * and, from most devices, the same CA certificate. x509_cache.c defines
 * d2i_X509() in the transports module; a call from libssl (its Certificate
 * messages, HTTPS and libcoap's DTLS) whose DER bytes equal a certificate
 * parsed before gets that X509 with a new reference. Only the parse, and
 * the check of such a certificate's signature by a key of equal value
 * (x509_cache_verify()) or of an equal CRL's (x509_cache_crl_verify()), are
 * shared: chain building, trust, revocation and expiry are checked on every
 * handshake as before. Bounded: X509_CACHE_SLOTS certificates of at most
 * X509_CACHE_DER_MAX bytes, least recently used out first
 * (docs/decisions.md, "CoAPS handshakes"). No wolfSSL headers here. */
#ifndef IRONBARK_X509_CACHE_H
#define IRONBARK_X509_CACHE_H

#include <openssl/x509.h>

enum { X509_CACHE_SLOTS = 32, X509_CACHE_DER_MAX = 4096, X509_CACHE_CRLS = 4, X509_CACHE_CRL_DER_MAX = 256 * 1024 };

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

/* X509_verify() (the signature of a by the key r; libcrypto's chain
 * verification calls it for every certificate it checks): for a certificate
 * of the cache whose signature already verified with a key equal to r
 * (EVP_PKEY_eq(), against a copy kept with the certificate), 1 without
 * verifying again; anything else, libcrypto's own, and a success by a cached
 * certificate is remembered. Only the signature's result is reused, for the
 * same bytes and the same key: a failure is never remembered, and chain
 * building, trust, expiry and the CRL are checked on every handshake.
 * X509_verify() is defined as this in the transports module. */
int x509_cache_verify(X509 *a, EVP_PKEY *r);

/* Signatures answered from the cache since start. */
unsigned long x509_cache_verify_hits(void);

/* X509_CRL_verify() (the CRL's signature by the key r; libcrypto's chain
 * verification calls it for the CRL of every certificate it checks, on
 * every handshake once a CRL is configured): a CRL whose DER (i2d, at most
 * X509_CACHE_CRL_DER_MAX bytes, compared in full) equals one that verified
 * with a key equal to r gets 1 without verifying again; anything else is
 * libcrypto's answer, a success remembered for X509_CACHE_CRLS CRLs, least
 * recently used out first. Whether the CRL revokes the certificate, and its
 * times, are checked every time. X509_CRL_verify() is defined as this in
 * the transports module. */
int x509_cache_crl_verify(X509_CRL *crl, EVP_PKEY *r);

/* CRL signatures answered from the cache since start. */
unsigned long x509_cache_crl_verify_hits(void);

#endif
