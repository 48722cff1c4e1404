#include "cert_san.h"

#include <string.h>

/* A read position in DER bytes. */
struct der { const uint8_t *p, *end; };

/* Reads one TLV: its tag, and its value as a sub-range. Definite lengths of
 * at most 4 bytes and low tag numbers only: all that an X.509 TBSCertificate
 * holds up to its extensions. */
static bool der_next(struct der *d, uint8_t *tag, struct der *value)
{
    size_t avail = (size_t)(d->end - d->p);
    if (avail < 2 || (d->p[0] & 0x1f) == 0x1f) return false;
    size_t len = d->p[1], hdr = 2;
    if (len & 0x80) {
        size_t nbytes = len & 0x7f;
        if (!nbytes || nbytes > 4 || avail < 2 + nbytes) return false;
        len = 0;
        for (size_t i = 0; i < nbytes; i++) len = len << 8 | d->p[2 + i];
        hdr += nbytes;
    }
    if (avail - hdr < len) return false;
    *tag = d->p[0];
    value->p = d->p + hdr;
    value->end = value->p + len;
    d->p = value->end;
    return true;
}

/* Reads one TLV that must carry the given tag. */
static bool der_expect(struct der *d, uint8_t tag, struct der *value)
{
    uint8_t t;
    return der_next(d, &t, value) && t == tag;
}

#define TAG_BOOLEAN 0x01
#define TAG_OCTET_STRING 0x04
#define TAG_OID 0x06
#define TAG_SEQUENCE 0x30
#define TAG_EXTENSIONS 0xa3     /* [3] EXPLICIT in TBSCertificate */
#define TAG_GN_URI 0x86         /* GeneralName uniformResourceIdentifier, [6] IMPLICIT IA5String */

static const uint8_t oid_san[] = { 0x55, 0x1d, 0x11 };   /* 2.5.29.17 subjectAltName */

static bool is_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool san_uri_valid(const uint8_t *s, size_t n)
{
    /* RFC 3986 2.2/2.3: unreserved and reserved characters; '%' escapes apart. */
    static const char allowed[] = "-._~:/?#[]@!$&'()*+,;=";
    if (!n || n > SAN_URI_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '%') {
            if (i + 2 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
            i += 2;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     memchr(allowed, c, sizeof allowed - 1))) {
            return false;
        }
    }
    return true;
}

/* The first URI among GeneralNames. */
static enum san_uri first_uri(struct der names, char *out, size_t cap)
{
    uint8_t tag;
    struct der v;
    while (names.p < names.end) {
        if (!der_next(&names, &tag, &v)) return SAN_URI_BAD;
        if (tag != TAG_GN_URI) continue;
        size_t n = (size_t)(v.end - v.p);
        if (!san_uri_valid(v.p, n) || n >= cap) return SAN_URI_BAD;
        memcpy(out, v.p, n);
        out[n] = 0;
        return SAN_URI_OK;
    }
    return SAN_URI_NONE;
}

/* Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
static enum san_uri from_extensions(struct der exts, char *out, size_t cap)
{
    struct der ext, oid, value, names;
    uint8_t tag;
    while (exts.p < exts.end) {
        if (!der_expect(&exts, TAG_SEQUENCE, &ext) || !der_expect(&ext, TAG_OID, &oid)) return SAN_URI_BAD;
        if ((size_t)(oid.end - oid.p) != sizeof oid_san || memcmp(oid.p, oid_san, sizeof oid_san)) continue;
        if (!der_next(&ext, &tag, &value)) return SAN_URI_BAD;
        if (tag == TAG_BOOLEAN && !der_next(&ext, &tag, &value)) return SAN_URI_BAD;
        if (tag != TAG_OCTET_STRING || !der_expect(&value, TAG_SEQUENCE, &names)) return SAN_URI_BAD;
        return first_uri(names, out, cap);
    }
    return SAN_URI_NONE;
}

enum san_uri cert_san_uri(const uint8_t *der, size_t len, char *out, size_t cap)
{
    struct der d = { der, der + len }, cert, tbs, wrapper, exts;
    uint8_t tag;
    if (!der || !der_expect(&d, TAG_SEQUENCE, &cert) || !der_expect(&cert, TAG_SEQUENCE, &tbs))
        return SAN_URI_BAD;
    /* version, serial, signature, issuer, validity, subject, key, unique IDs: skipped. */
    while (tbs.p < tbs.end) {
        if (!der_next(&tbs, &tag, &wrapper)) return SAN_URI_BAD;
        if (tag != TAG_EXTENSIONS) continue;
        if (!der_expect(&wrapper, TAG_SEQUENCE, &exts)) return SAN_URI_BAD;
        return from_extensions(exts, out, cap);
    }
    return SAN_URI_NONE;
}
