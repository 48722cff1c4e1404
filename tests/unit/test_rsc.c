/* RSC -> HTTP / CoAP status mapping (TS-0009 Table 6.3.2-1, TS-0008 Table 6.2.4-1). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cse/core/primitive.h"
#include "cse/core/rsc.h"

static void http_mapping(void **state)
{
    (void)state;
    assert_int_equal(rsc_http_status(RSC_OK), 200);
    assert_int_equal(rsc_http_status(RSC_CREATED), 201);
    assert_int_equal(rsc_http_status(RSC_DELETED), 200);
    assert_int_equal(rsc_http_status(RSC_UPDATED), 200);
    assert_int_equal(rsc_http_status(RSC_BAD_REQUEST), 400);
    assert_int_equal(rsc_http_status(RSC_RELEASE_VERSION_NOT_SUPPORTED), 501);
    assert_int_equal(rsc_http_status(RSC_NOT_FOUND), 404);
    assert_int_equal(rsc_http_status(RSC_OPERATION_NOT_ALLOWED), 405);
    assert_int_equal(rsc_http_status(RSC_REQUEST_TIMEOUT), 504);
    assert_int_equal(rsc_http_status(RSC_UNSUPPORTED_MEDIA_TYPE), 415);
    assert_int_equal(rsc_http_status(RSC_ORIGINATOR_HAS_NO_PRIVILEGE), 403);
    assert_int_equal(rsc_http_status(RSC_CONFLICT), 409);
    assert_int_equal(rsc_http_status(RSC_ALREADY_EXISTS), 409);
    assert_int_equal(rsc_http_status(RSC_NOT_ACCEPTABLE), 406);
    assert_int_equal(rsc_http_status(RSC_MAX_NUMBER_OF_MEMBER_EXCEEDED), 400);
    assert_int_equal(rsc_http_status(RSC_INTERNAL_SERVER_ERROR), 500);
    assert_int_equal(rsc_http_status(1234), 500);
}

static void coap_mapping(void **state)
{
    (void)state;
    assert_int_equal(rsc_coap_code(RSC_OK, OP_RETRIEVE), 0x45);     /* 2.05 */
    assert_int_equal(rsc_coap_code(RSC_OK, OP_NOTIFY), 0x44);       /* 2.04 */
    assert_int_equal(rsc_coap_code(RSC_CREATED, OP_CREATE), 0x41);  /* 2.01 */
    assert_int_equal(rsc_coap_code(RSC_DELETED, OP_DELETE), 0x42);  /* 2.02 */
    assert_int_equal(rsc_coap_code(RSC_CONFLICT, OP_CREATE), 0x83); /* 4.03 */
    assert_int_equal(rsc_coap_code(RSC_INVALID_SEMANTICS, OP_CREATE), 0x82); /* 4.02 */
    assert_int_equal(rsc_coap_code(RSC_NOT_ACCEPTABLE, OP_RETRIEVE), 0x86);  /* 4.06 */
}

/* Every row of TS-0009 Table 6.3.2-1 / TS-0008 Table 6.2.4-1 as digested in
 * /work/shared/spec/bindings.md: RSC, HTTP status, CoAP code (-1 = not
 * fixed). 2000 is checked with RETRIEVE (2.05). */
static const struct { int rsc, http, coap; } spec_rows[] = {
    { 1001, 202, 0x41 },
    { 1002, 202, -1 },          /* CoAP depends on a <request> resource */
    { 2000, 200, 0x45 },
    { 2001, 201, 0x41 },
    { 2002, 200, 0x42 },
    { 2004, 200, 0x44 },
    { 4000, 400, 0x80 },
    { 4001, 501, 0xa1 },
    { 4004, 404, 0x84 },
    { 4005, 405, 0x85 },
    { 4008, 504, 0xa4 },
    { 4015, 415, 0x8f },
    { 4101, 403, 0x83 },
    { 4102, 400, 0x80 },
    { 4103, 403, 0x83 },
    { 4104, 409, 0x80 },
    { 4105, 409, 0x83 },
    { 4106, 403, 0x83 },
    { 4107, 403, 0x83 },
    { 4108, 403, 0x83 },
    { 4109, 403, 0x83 },
    { 4110, 400, 0x80 },
    { 4111, 403, 0x83 },
    { 4112, 403, 0x83 },
    { 4113, 403, 0x83 },
    { 4114, 403, 0x83 },
    { 4115, 403, 0x83 },
    { 4116, 403, 0x83 },
    { 4117, 403, 0x83 },
    { 4118, 404, 0x84 },
    { 4119, 404, 0x84 },
    { 4120, 400, 0x82 },
    { 4121, 404, 0x84 },
    { 4122, 400, 0x82 },
    { 4123, 400, 0x80 },
    { 4124, 409, 0x80 },
    { 4125, 501, 0xa1 },
    { 4126, 403, 0x83 },
    { 4127, 403, 0x83 },
    { 4128, 403, 0x83 },        /* not in the TS tables: as ACME and tinyIoT */
    { 4143, 400, 0x80 },
    { 5000, 500, 0xa0 },
    { 5001, 501, 0xa1 },
    { 5103, 404, 0x84 },
    { 5105, 403, 0x83 },
    { 5106, 409, 0x80 },
    { 5107, 404, 0x84 },
    { 5203, 403, 0x83 },
    { 5204, 500, 0xa0 },
    { 5205, 403, 0x83 },
    { 5206, 501, 0xa1 },
    { 5207, 406, 0x86 },
    { 5208, 403, 0x83 },
    { 5209, 500, 0xa0 },
    { 5210, 500, 0xa0 },
    { 5211, 500, 0xa0 },
    { 5212, 500, 0xa0 },
    { 5214, 403, 0x83 },
    { 5215, 403, 0x83 },
    { 5216, 500, 0xa0 },
    { 5217, 500, 0xa0 },
    { 5218, 403, 0x83 },
    { 5219, 409, 0x80 },
    { 5220, 409, 0x80 },
    { 5221, 500, 0xa0 },
    { 5222, 403, 0x83 },
    { 6003, 404, 0x84 },
    { 6005, 404, 0x84 },
    { 6010, 400, 0x80 },
    { 6020, 500, 0xa0 },
    { 6021, 500, 0xa0 },
    { 6022, 400, 0x80 },
    { 6023, 400, 0x80 },
    { 6024, 400, 0x80 },
    { 6025, 500, 0xa0 },
    { 6026, 500, 0xa0 },
    { 6028, 409, 0x80 },
    { 6029, 409, 0x80 },
    { 6030, 504, 0xa4 },
    { 6031, 504, 0xa4 },
};

static void full_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof spec_rows / sizeof *spec_rows; i++) {
        int rsc = spec_rows[i].rsc;
        if (rsc_http_status(rsc) != spec_rows[i].http)
            fail_msg("RSC %d: HTTP %d, expected %d", rsc, rsc_http_status(rsc), spec_rows[i].http);
        int coap = rsc_coap_code(rsc, OP_RETRIEVE);
        if (spec_rows[i].coap >= 0 && coap != spec_rows[i].coap)
            fail_msg("RSC %d: CoAP 0x%02x, expected 0x%02x", rsc, coap, spec_rows[i].coap);
        assert_string_not_equal(rsc_name(rsc), "UNKNOWN");
    }
}

static void names(void **state)
{
    (void)state;
    assert_string_equal(rsc_name(RSC_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(rsc_name(RSC_ORIGINATOR_HAS_ALREADY_REGISTERED), "ORIGINATOR_HAS_ALREADY_REGISTERED");
    assert_string_equal(rsc_name(42), "UNKNOWN");
    assert_true(rsc_is_success(RSC_CREATED));
    assert_false(rsc_is_success(RSC_BAD_REQUEST));
}

/* The m2m:dbg text of an error whose message is fmt with arg. */
static char *dbg_of(const char *fmt, const char *arg)
{
    struct m2m_response rsp;
    m2m_response_init(&rsp);
    assert_int_equal(m2m_error(&rsp, RSC_BAD_REQUEST, fmt, arg), RSC_BAD_REQUEST);
    /* Found by tests/fuzz (fuzz_query): a query key that is not UTF-8 left
     * the answer without any m2m:dbg, as jansson refuses such strings. */
    assert_non_null(rsp.pc);
    char *msg = strdup(json_string_value(json_object_get(rsp.pc, "m2m:dbg")));
    m2m_response_clear(&rsp);
    return msg;
}

static void error_text_is_utf8(void **state)
{
    (void)state;
    static const struct { const char *in, *out; } cases[] = {
        { "plain", "plain" },
        { "\xb0\xb3:\xf6", "??:?" },                      /* stray bytes (the fuzz input) */
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
        { "\xc0\xaf", "??" },                               /* overlong '/' */
        { "\xed\xa0\x80", "???" },                         /* a UTF-16 surrogate */
        { "\xf4\x90\x80\x80", "????" },                   /* above U+10FFFF */
        { "a\xe2\x82", "a??" },                             /* cut short */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *msg = dbg_of("%s", cases[i].in);
        assert_string_equal(msg, cases[i].out);
        free(msg);
    }
    /* Cut by the message length limit in the middle of a character. */
    char long_arg[600];
    memset(long_arg, 'x', sizeof long_arg);
    for (size_t i = 500; i + 1 < sizeof long_arg; i += 2) memcpy(long_arg + i, "\xc3\xa9", 2);
    long_arg[sizeof long_arg - 1] = 0;
    for (int shift = 0; shift < 2; shift++) {
        char *msg = dbg_of(shift ? "k%s" : "%s", long_arg);
        assert_true(strlen(msg) >= 500);
        free(msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_text_is_utf8),
        cmocka_unit_test(http_mapping),
        cmocka_unit_test(coap_mapping),
        cmocka_unit_test(full_table),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
