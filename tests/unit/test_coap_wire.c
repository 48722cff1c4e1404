/* Our datagram check in front of libcoap (cse/coap_wire.c), byte for byte:
 * every option length RFC 7252/7959/7641/9175 allows passes, the forms
 * libcoap 4.3.1 rejects are rewritten to equivalent ones, format errors are
 * refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cse/wire/coap_wire.h"

#define CHECK(bytes, expect)                                                         \
    do {                                                                             \
        static const uint8_t m_[] = bytes;                                           \
        uint8_t o_[sizeof m_];                                                       \
        size_t ol_ = 99;                                                             \
        const char *why_ = NULL;                                                     \
        assert_int_equal(coap_wire_check(m_, sizeof m_, o_, sizeof o_, &ol_, &why_), \
                         expect);                                                    \
        if ((expect) == COAP_WIRE_MALFORMED) assert_non_null(why_);                  \
    } while (0)

#define B(...) { __VA_ARGS__ }

static void well_formed_as_is(void **state)
{
    (void)state;
    /* A bare CON GET; an Empty message (ping). */
    CHECK(B(0x40, 0x01, 0x12, 0x34), COAP_WIRE_OK);
    CHECK(B(0x40, 0x00, 0x12, 0x34), COAP_WIRE_OK);
    /* Token of 8 bytes, Uri-Path "a", Uri-Path "" (zero-length segment). */
    CHECK(B(0x48, 0x01, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0xb1, 'a', 0x00), COAP_WIRE_OK);
    /* If-None-Match (5, empty), If-Match (1, empty). */
    CHECK(B(0x40, 0x03, 0, 1, 0x10, 0x40), COAP_WIRE_OK);
    /* Zero-length uint options meaning 0: Content-Format, Accept, Block2. */
    CHECK(B(0x40, 0x01, 0, 1, 0xc0, 0x50, 0x60), COAP_WIRE_OK);
    /* Repeated options: Uri-Path x3. */
    CHECK(B(0x40, 0x01, 0, 1, 0xb1, 'a', 0x01, 'b', 0x01, 'c'), COAP_WIRE_OK);
    /* Delta 13 form (Size1 = 60: 13 + 47) and delta 14 form (oneM2M-FR 279). */
    CHECK(B(0x40, 0x02, 0, 1, 0xd1, 47, 9), COAP_WIRE_OK);
    CHECK(B(0x40, 0x01, 0, 1, 0xe1, 0x00, 10, 'C'), COAP_WIRE_OK);
    /* Length 13 form: a 13-byte Uri-Path. */
    CHECK(B(0x40, 0x01, 0, 1, 0xbd, 0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm'),
          COAP_WIRE_OK);
    /* A payload after the marker. */
    CHECK(B(0x40, 0x02, 0, 1, 0xff, '{', '}'), COAP_WIRE_OK);
    /* Unknown options of any length are libcoap's to judge (4.02 / ignore). */
    CHECK(B(0x40, 0x01, 0, 1, 0xe0, 0xfc, 0x00), COAP_WIRE_OK);
}

static void empty_uri_query_rewritten(void **state)
{
    (void)state;
    /* GET /cse-in with an empty Uri-Query then oneM2M-FR "C": CoAPthon's form. */
    static const uint8_t m[] = { 0x40, 0x01, 0x00, 0x07, 0xb6, 'c', 's', 'e', '-', 'i', 'n',
                                 0x40, 0xd1, 0xfb, 'C' };
    static const uint8_t want[] = { 0x40, 0x01, 0x00, 0x07, 0xb6, 'c', 's', 'e', '-', 'i', 'n',
                                    0xd1, 0xff, 'C' };
    uint8_t out[sizeof m];
    size_t outlen = 0;
    assert_int_equal(coap_wire_check(m, sizeof m, out, sizeof out, &outlen, NULL), COAP_WIRE_REWRITTEN);
    assert_int_equal(outlen, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    /* Re-checked, the rewrite is as libcoap wants it. */
    assert_int_equal(coap_wire_check(out, outlen, NULL, 0, &outlen, NULL), COAP_WIRE_OK);
    /* Asked only whether: REWRITTEN, nothing written. */
    assert_int_equal(coap_wire_check(m, sizeof m, NULL, 0, &outlen, NULL), COAP_WIRE_REWRITTEN);
    assert_int_equal(outlen, 0);
}

static void rewrite_keeps_deltas_and_payload(void **state)
{
    (void)state;
    /* Uri-Query "" then Uri-Query "a=1" then Accept (17), payload: the
     * remaining query keeps its number, Accept's delta stays 2. */
    static const uint8_t m[] = { 0x40, 0x01, 0, 1, 0xd0, 0x02, 0x03, 'a', '=', '1', 0x20,
                                 0xff, 'x' };
    static const uint8_t want[] = { 0x40, 0x01, 0, 1, 0xd3, 0x02, 'a', '=', '1', 0x20, 0xff, 'x' };
    uint8_t out[sizeof m];
    size_t outlen;
    assert_int_equal(coap_wire_check(m, sizeof m, out, sizeof out, &outlen, NULL), COAP_WIRE_REWRITTEN);
    assert_int_equal(outlen, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    /* Two empty queries between deltas that then need an extended form. */
    static const uint8_t m2[] = { 0x40, 0x01, 0, 1, 0xc0, 0x30, 0x00, 0xd1, 0xf3, '3' };
    /* 12 Content-Format, 15, 15, 271 RVI "3": 12 -> 271 is delta 259 (13 + 246). */
    static const uint8_t want2[] = { 0x40, 0x01, 0, 1, 0xc0, 0xd1, 0xf6, '3' };
    uint8_t out2[sizeof m2];
    assert_int_equal(coap_wire_check(m2, sizeof m2, out2, sizeof out2, &outlen, NULL), COAP_WIRE_REWRITTEN);
    assert_int_equal(outlen, sizeof want2);
    assert_memory_equal(out2, want2, sizeof want2);
}

static void elective_bad_length_ignored(void **state)
{
    (void)state;
    /* Size1 (60, elective) of 5 bytes: RFC 7252 5.4.3 treats it as an
     * unrecognised elective option, i.e. ignored: dropped here. */
    static const uint8_t m[] = { 0x40, 0x02, 0, 1, 0xd5, 47, 1, 2, 3, 4, 5 };
    uint8_t out[sizeof m];
    size_t outlen;
    assert_int_equal(coap_wire_check(m, sizeof m, out, sizeof out, &outlen, NULL), COAP_WIRE_REWRITTEN);
    assert_int_equal(outlen, 4);
    /* ETag (4) of 9 bytes: same. */
    static const uint8_t e[] = { 0x40, 0x01, 0, 1, 0x49, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    uint8_t out2[sizeof e];
    assert_int_equal(coap_wire_check(e, sizeof e, out2, sizeof out2, &outlen, NULL), COAP_WIRE_REWRITTEN);
    assert_int_equal(outlen, 4);
}

static void format_errors(void **state)
{
    (void)state;
    CHECK(B(0x40, 0x01, 0x00), COAP_WIRE_MALFORMED);                 /* runt */
    CHECK(B(0x80, 0x01, 0, 1), COAP_WIRE_MALFORMED);                 /* version 2 */
    CHECK(B(0x49, 0x01, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9), COAP_WIRE_MALFORMED); /* TKL 9 */
    CHECK(B(0x44, 0x01, 0, 1, 1, 2), COAP_WIRE_MALFORMED);          /* token cut */
    CHECK(B(0x40, 0x00, 0, 1, 0xb1, 'a'), COAP_WIRE_MALFORMED);     /* Empty with options */
    CHECK(B(0x40, 0x01, 0, 1, 0xf1, 'a'), COAP_WIRE_MALFORMED);     /* delta nibble 15 */
    CHECK(B(0x40, 0x01, 0, 1, 0xbf, 'a'), COAP_WIRE_MALFORMED);     /* length nibble 15 */
    CHECK(B(0x40, 0x01, 0, 1, 0xd1), COAP_WIRE_MALFORMED);          /* extended delta cut */
    CHECK(B(0x40, 0x01, 0, 1, 0xb5, 'a', 'b'), COAP_WIRE_MALFORMED); /* value cut */
    CHECK(B(0x40, 0x02, 0, 1, 0xff), COAP_WIRE_MALFORMED);          /* marker, no payload */
    /* Option number above 65535: 65000 + 65000. */
    CHECK(B(0x40, 0x01, 0, 1, 0xe0, 0xfc, 0xdb, 0xe0, 0xfc, 0xdb), COAP_WIRE_MALFORMED);
    /* A critical option with a length outside its range: Uri-Host (3) empty,
     * Block2 (23) of 4 bytes, If-None-Match (5) of 1 byte. */
    CHECK(B(0x40, 0x01, 0, 1, 0x30), COAP_WIRE_MALFORMED);
    CHECK(B(0x40, 0x01, 0, 1, 0xd4, 10, 1, 2, 3, 4), COAP_WIRE_MALFORMED);
    CHECK(B(0x40, 0x01, 0, 1, 0x51, 0), COAP_WIRE_MALFORMED);
}

static void limits_table(void **state)
{
    (void)state;
    size_t lo, hi;
    assert_true(coap_wire_option_limits(15, &lo, &hi));
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 255);
    assert_true(coap_wire_option_limits(35, &lo, &hi));
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 1034);
    assert_false(coap_wire_option_limits(279, &lo, &hi));   /* oneM2M: no rule */
}

static void strip_payload(void **state)
{
    (void)state;
    /* POST, token "t", Uri-Path "a", payload "xyz": kept up to the options,
     * then option 65002 (delta 65002 - 11 = 269 + 64722) of 4 bytes = 3. */
    static const uint8_t m[] = { 0x41, 0x02, 0, 9, 't', 0xb1, 'a', 0xff, 'x', 'y', 'z' };
    static const uint8_t want[] = { 0x41, 0x02, 0, 9, 't', 0xb1, 'a', 0xe4, 0xfc, 0xd2, 0, 0, 0, 3 };
    uint8_t out[64];
    assert_int_equal(coap_wire_strip_payload(m, sizeof m, out, sizeof out), sizeof want);
    assert_memory_equal(out, want, sizeof want);
    /* From a peer, the marker is dropped: only we may set it. */
    assert_int_equal(coap_wire_check(out, sizeof want, NULL, 0, NULL, NULL), COAP_WIRE_REWRITTEN);
    /* No payload, or no room: nothing. */
    assert_int_equal(coap_wire_strip_payload(m, 7, out, sizeof out), 0);
    assert_int_equal(coap_wire_strip_payload(m, sizeof m, out, 8), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(well_formed_as_is), cmocka_unit_test(empty_uri_query_rewritten),
        cmocka_unit_test(rewrite_keeps_deltas_and_payload), cmocka_unit_test(elective_bad_length_ignored),
        cmocka_unit_test(format_errors), cmocka_unit_test(limits_table), cmocka_unit_test(strip_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
