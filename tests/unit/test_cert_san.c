/* The URI subjectAltName shared by HTTPS and CoAPS (security/cert_san.c):
 * the URI rule byte for byte, and the DER walk on certificates built here
 * TLV by TLV (only the structure matters to it, not signatures). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "security/cert_san.h"

#define VALID(lit) san_uri_valid((const uint8_t *)(lit), sizeof(lit) - 1)

static void uri_rule(void **state)
{
    (void)state;
    assert_true(VALID("Cdev1"));
    assert_true(VALID("/id-in/Cdev1"));
    assert_true(VALID("//ironbark.local/id-in/Cdev1"));
    assert_true(VALID("https://x.example:8443/a_b~c?q=1&r=(2)#f"));
    assert_true(VALID("urn:uuid:0c2ee2b4-2d91-4a1c-9f3e-7c1a5b2e8f10"));
    assert_true(VALID("C%41%7e"));
    assert_true(VALID("[::1]!$'*+,;=@"));

    assert_false(VALID(""));
    assert_false(VALID("Cdev1\0evil"));         /* the reported bypass: text before the NUL */
    assert_false(VALID("\0Cdev1"));
    assert_false(VALID("Cdev1\0"));
    assert_false(VALID("Cdev 1"));
    assert_false(VALID("Cdev1\n"));
    assert_false(VALID("Cdev1\r\nX-M2M-Origin: CAdmin"));
    assert_false(VALID("C\x01"));
    assert_false(VALID("C\x1f"));
    assert_false(VALID("C\x7f"));
    assert_false(VALID("C\xc3\xa9"));           /* non-ASCII (an IRI, not a URI) */
    assert_false(VALID("C\x80"));
    assert_false(VALID("C\xff"));
    assert_false(VALID("C\"dev\""));
    assert_false(VALID("C<dev>"));
    assert_false(VALID("C\\dev"));
    assert_false(VALID("C{dev}|^`"));
    assert_false(VALID("C%"));
    assert_false(VALID("C%4"));
    assert_false(VALID("C%4g"));
    assert_false(VALID("C%%41"));
    assert_false(san_uri_valid(NULL, 0));

    uint8_t longest[SAN_URI_MAX + 1];
    memset(longest, 'a', sizeof longest);
    assert_true(san_uri_valid(longest, SAN_URI_MAX));
    assert_false(san_uri_valid(longest, SAN_URI_MAX + 1));
}

/* A tiny DER writer: one TLV appended to a buffer. */
struct buf { uint8_t b[2048]; size_t n; };

static void tlv(struct buf *out, uint8_t tag, const void *value, size_t n)
{
    out->b[out->n++] = tag;
    if (n < 0x80) {
        out->b[out->n++] = (uint8_t)n;
    } else if (n < 0x100) {
        out->b[out->n++] = 0x81;
        out->b[out->n++] = (uint8_t)n;
    } else {
        out->b[out->n++] = 0x82;
        out->b[out->n++] = (uint8_t)(n >> 8);
        out->b[out->n++] = (uint8_t)n;
    }
    memcpy(out->b + out->n, value, n);
    out->n += n;
}

static const uint8_t oid_san[] = { 0x55, 0x1d, 0x11 };
static const uint8_t oid_basic[] = { 0x55, 0x1d, 0x13 };

/* Extension { oid, [critical TRUE], OCTET STRING { inner } } appended to exts. */
static void add_ext(struct buf *exts, const uint8_t *oid, bool critical, const struct buf *inner)
{
    struct buf e = { .n = 0 };
    static const uint8_t yes = 0xff;
    tlv(&e, 0x06, oid, 3);
    if (critical) tlv(&e, 0x01, &yes, 1);
    tlv(&e, 0x04, inner->b, inner->n);
    tlv(exts, 0x30, e.b, e.n);
}

/* GeneralNames { names... }: pairs of (tag, bytes, length). */
static void general_names(struct buf *out, int count, const uint8_t *tags, const char *const *values,
                          const size_t *lens)
{
    struct buf seq = { .n = 0 };
    for (int i = 0; i < count; i++) tlv(&seq, tags[i], values[i], lens[i]);
    tlv(out, 0x30, seq.b, seq.n);
}

/* Certificate { TBSCertificate { version, serial, alg, issuer, validity,
 * subject, key, [3] { exts } }, alg, signature }; exts NULL = no extensions. */
static void make_cert(struct buf *cert, const struct buf *exts)
{
    static const uint8_t head[] = {
        0xa0, 0x03, 0x02, 0x01, 0x02,      /* [0] version v3 */
        0x02, 0x01, 0x07,                  /* serial */
        0x30, 0x00, 0x30, 0x00, 0x30, 0x00, 0x30, 0x00, 0x30, 0x00,   /* alg, issuer, validity, subject, key */
    };
    struct buf tbs = { .n = 0 }, body = { .n = 0 }, wrapped = { .n = 0 };
    memcpy(tbs.b, head, sizeof head);
    tbs.n = sizeof head;
    if (exts) {
        tlv(&wrapped, 0x30, exts->b, exts->n);
        tlv(&tbs, 0xa3, wrapped.b, wrapped.n);
    }
    tlv(&body, 0x30, tbs.b, tbs.n);
    static const uint8_t tail[] = { 0x30, 0x00, 0x03, 0x01, 0x00 };
    memcpy(body.b + body.n, tail, sizeof tail);
    body.n += sizeof tail;
    cert->n = 0;
    tlv(cert, 0x30, body.b, body.n);
}

/* A certificate whose SAN holds the given names (after a basicConstraints). */
static enum san_uri san_of(int count, const uint8_t *tags, const char *const *values, const size_t *lens,
                           bool critical, char *out, size_t cap)
{
    struct buf names = { .n = 0 }, exts = { .n = 0 }, basic = { .n = 0 }, cert;
    static const uint8_t ca_false[] = { 0x30, 0x00 };
    memcpy(basic.b, ca_false, sizeof ca_false);
    basic.n = sizeof ca_false;
    add_ext(&exts, oid_basic, true, &basic);
    general_names(&names, count, tags, values, lens);
    add_ext(&exts, oid_san, critical, &names);
    make_cert(&cert, &exts);
    return cert_san_uri(cert.b, cert.n, out, cap);
}

static void der_walk(void **state)
{
    (void)state;
    char out[SAN_URI_MAX + 1];
    const uint8_t uri1[] = { 0x86 }, dns_uri[] = { 0x82, 0x86 }, two_uris[] = { 0x86, 0x86 }, dns[] = { 0x82 };

    const char *good[] = { "Cdev1" };
    size_t good_len[] = { 5 };
    assert_int_equal(san_of(1, uri1, good, good_len, false, out, sizeof out), SAN_URI_OK);
    assert_string_equal(out, "Cdev1");
    assert_int_equal(san_of(1, uri1, good, good_len, true, out, sizeof out), SAN_URI_OK);   /* critical */

    const char *after_dns[] = { "dev1.example", "//ironbark.local/id-in/Cdev1" };
    size_t after_dns_len[] = { 12, 28 };
    assert_int_equal(san_of(2, dns_uri, after_dns, after_dns_len, false, out, sizeof out), SAN_URI_OK);
    assert_string_equal(out, "//ironbark.local/id-in/Cdev1");

    /* The reported bypass: an embedded NUL never binds the text before it. */
    const char *nul[] = { "Cdev1\0evil" };
    size_t nul_len[] = { 10 };
    assert_int_equal(san_of(1, uri1, nul, nul_len, false, out, sizeof out), SAN_URI_BAD);
    /* A bad first URI is not skipped for a later one. */
    const char *bad_first[] = { "Cdev1\0evil", "Cdev1" };
    size_t bad_first_len[] = { 10, 5 };
    assert_int_equal(san_of(2, two_uris, bad_first, bad_first_len, false, out, sizeof out), SAN_URI_BAD);
    const char *first_wins[] = { "Cdev1", "Cother" };
    size_t first_wins_len[] = { 5, 6 };
    assert_int_equal(san_of(2, two_uris, first_wins, first_wins_len, false, out, sizeof out), SAN_URI_OK);
    assert_string_equal(out, "Cdev1");
    const char *ctl[] = { "Cdev1\r\n" };
    size_t ctl_len[] = { 7 };
    assert_int_equal(san_of(1, uri1, ctl, ctl_len, false, out, sizeof out), SAN_URI_BAD);

    /* Length limits: SAN_URI_MAX binds, one more does not; a small buffer is no truncation. */
    char longest[SAN_URI_MAX + 2];
    memset(longest, 'a', sizeof longest);
    const char *lv[] = { longest };
    size_t max_len[] = { SAN_URI_MAX }, over_len[] = { SAN_URI_MAX + 1 };
    assert_int_equal(san_of(1, uri1, lv, max_len, false, out, sizeof out), SAN_URI_OK);
    assert_int_equal(strlen(out), SAN_URI_MAX);
    assert_int_equal(san_of(1, uri1, lv, over_len, false, out, sizeof out), SAN_URI_BAD);
    char small[4];
    assert_int_equal(san_of(1, uri1, good, good_len, false, small, sizeof small), SAN_URI_BAD);

    /* Nothing to bind. */
    const char *only_dns[] = { "dev1.example" };
    size_t only_dns_len[] = { 12 };
    assert_int_equal(san_of(1, dns, only_dns, only_dns_len, false, out, sizeof out), SAN_URI_NONE);
    struct buf cert, exts = { .n = 0 }, basic = { .n = 2, .b = { 0x30, 0x00 } };
    make_cert(&cert, NULL);
    assert_int_equal(cert_san_uri(cert.b, cert.n, out, sizeof out), SAN_URI_NONE);
    add_ext(&exts, oid_basic, false, &basic);
    make_cert(&cert, &exts);
    assert_int_equal(cert_san_uri(cert.b, cert.n, out, sizeof out), SAN_URI_NONE);
}

static void malformed_der(void **state)
{
    (void)state;
    char out[SAN_URI_MAX + 1];
    struct buf names = { .n = 0 }, exts = { .n = 0 }, cert;
    const uint8_t uri1[] = { 0x86 };
    const char *v[] = { "Cdev1" };
    size_t l[] = { 5 };
    general_names(&names, 1, uri1, v, l);
    add_ext(&exts, oid_san, false, &names);
    make_cert(&cert, &exts);
    assert_int_equal(cert_san_uri(cert.b, cert.n, out, sizeof out), SAN_URI_OK);

    /* Every truncation of a good certificate is malformed, never a URI. */
    for (size_t n = 0; n < cert.n; n++)
        assert_int_equal(cert_san_uri(cert.b, n, out, sizeof out), SAN_URI_BAD);
    assert_int_equal(cert_san_uri(NULL, 0, out, sizeof out), SAN_URI_BAD);

    /* A length beyond the data, in short and long form. */
    struct buf bad = cert;
    bad.b[1] = 0x7f;
    assert_int_equal(cert_san_uri(bad.b, bad.n, out, sizeof out), SAN_URI_BAD);
    static const uint8_t huge[] = { 0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30, 0x00 };
    assert_int_equal(cert_san_uri(huge, sizeof huge, out, sizeof out), SAN_URI_BAD);
    static const uint8_t too_many_len_bytes[] = { 0x30, 0x85, 0, 0, 0, 0, 2, 0x30, 0x00 };
    assert_int_equal(cert_san_uri(too_many_len_bytes, sizeof too_many_len_bytes, out, sizeof out), SAN_URI_BAD);
    static const uint8_t indefinite[] = { 0x30, 0x80, 0x30, 0x00, 0x00, 0x00 };
    assert_int_equal(cert_san_uri(indefinite, sizeof indefinite, out, sizeof out), SAN_URI_BAD);
    static const uint8_t high_tag[] = { 0x30, 0x04, 0x1f, 0x81, 0x01, 0x00 };
    assert_int_equal(cert_san_uri(high_tag, sizeof high_tag, out, sizeof out), SAN_URI_BAD);

    /* The SAN extension's value is not an OCTET STRING holding a SEQUENCE. */
    struct buf e = { .n = 0 }, inner = { .n = 0 }, list = { .n = 0 };
    tlv(&e, 0x06, oid_san, 3);
    tlv(&e, 0x02, "\x01", 1);
    tlv(&list, 0x30, e.b, e.n);
    make_cert(&cert, &list);
    assert_int_equal(cert_san_uri(cert.b, cert.n, out, sizeof out), SAN_URI_BAD);
    tlv(&inner, 0x31, "", 0);
    list.n = 0;
    add_ext(&list, oid_san, false, &inner);
    make_cert(&cert, &list);
    assert_int_equal(cert_san_uri(cert.b, cert.n, out, sizeof out), SAN_URI_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uri_rule),
        cmocka_unit_test(der_walk),
        cmocka_unit_test(malformed_der),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
