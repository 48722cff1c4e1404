/* EST (RFC 7030) encodings as TS-0003 8.3.6.2 profiles them: the CA
 * certificates and an issued certificate as base64 PKCS#7 certs-only, the
 * CSR attributes (challengePassword and the subjectAltName identity), and
 * the check-then-issue of a base64 DER PKCS#10 request. Pure in the sense
 * that they touch only the files named; OpenSSL only (never wolfSSL here). */
#ifndef IRONBARK_MEF_EST_H
#define IRONBARK_MEF_EST_H

#include <stddef.h>
#include <stdint.h>

/* base64 of a degenerate PKCS#7 SignedData carrying the certificates of a
 * PEM file (/cacerts). NULL with err. malloc'd. */
char *est_cacerts(const char *pem_file, char *err, size_t errlen);

/* base64 of the CsrAttrs: the challengePassword OID and the subjectAltName
 * OID (the identity attribute: the client's ID goes in a URI SAN). */
char *est_csrattrs(void);

struct est_issue {
    const char *identity;      /* the one URI subjectAltName the CSR must carry */
    const char *password;      /* the challengePassword it must carry */
    const char *ca_cert, *ca_key;   /* PEM files of the issuing CA */
    int64_t not_after_s;       /* Unix seconds */
};

/* Checks a base64 DER PKCS#10 request (whitespace allowed): well-formed, its
 * signature, a P-256 key, the challengePassword, exactly one SAN entry which
 * is the URI identity. Then issues a P-256/SHA-256 certificate (keyUsage
 * digitalSignature, EKU clientAuth, the SAN) and returns it as base64
 * PKCS#7 certs-only. NULL with the reason in err; *serial gets the new
 * certificate's serial number in hex. */
char *est_enroll(const char *b64, size_t len, const struct est_issue *in, char *serial, size_t serial_cap,
                 char *err, size_t errlen);

/* Writes a CRL (PEM, signed by the CA, next update in a day) listing the
 * serial numbers (hex) to out_file, atomically (a new file renamed over
 * the old, mode 0644). 0, or -1 with err. */
int est_write_crl(const char *ca_cert, const char *ca_key, const char *const *serials, int n, const char *out_file,
                  char *err, size_t errlen);

/* The client side (m2m enrol --est-cert): a new P-256 key written to
 * key_file (0600), and a CSR for it with identity as its one URI SAN (and
 * CN) and password as challengePassword, as base64 DER (malloc'd). */
char *est_make_csr(const char *key_file, const char *identity, const char *password, char *err, size_t errlen);
/* The certificates of a base64 PKCS#7 certs-only answer, as PEM into
 * cert_file. 0, or -1 with err. */
int est_save_certs(const char *b64, size_t len, const char *cert_file, char *err, size_t errlen);

#endif
