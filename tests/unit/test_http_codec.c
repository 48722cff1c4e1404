/* The HTTP codec of outgoing requests (cse/wire/http_codec.h), byte for byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cse/core/rsc.h"
#include "cse/wire/http_codec.h"

static void notify_headers(void **state)
{
    (void)state;
    struct m2m_request req = { .op = OP_NOTIFY, .fr = "/id-in", .rqi = "ntf-7", .ec = 4 };
    char out[512];
    int n = http_codec_headers(&req, true, out, sizeof out);
    const char *want = "X-M2M-Origin: /id-in\r\nX-M2M-RI: ntf-7\r\nX-M2M-RVI: 3\r\nX-M2M-EC: 4\r\n"
                       "Content-Type: application/json\r\nAccept: application/json\r\n";
    assert_string_equal(out, want);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(http_codec_method(OP_NOTIFY), "POST");
}

static void create_and_retrieve(void **state)
{
    (void)state;
    char out[512];
    struct m2m_request c = { .op = OP_CREATE, .fr = "Cae", .rqi = "r1", .rvi = "4", .ty = 4 };
    assert_true(http_codec_headers(&c, true, out, sizeof out) > 0);
    assert_string_equal(out, "X-M2M-Origin: Cae\r\nX-M2M-RI: r1\r\nX-M2M-RVI: 4\r\n"
                             "Content-Type: application/json;ty=4\r\nAccept: application/json\r\n");
    struct m2m_request g = { .op = OP_RETRIEVE, .rqi = "r2" };
    assert_true(http_codec_headers(&g, false, out, sizeof out) > 0);
    assert_string_equal(out, "X-M2M-RI: r2\r\nX-M2M-RVI: 3\r\nAccept: application/json\r\n");
    assert_string_equal(http_codec_method(OP_RETRIEVE), "GET");
    assert_string_equal(http_codec_method(OP_UPDATE), "PUT");
    assert_string_equal(http_codec_method(OP_DELETE), "DELETE");
    assert_null(http_codec_method(OP_NONE));
}

static void too_small_or_unknown(void **state)
{
    (void)state;
    char out[16];
    struct m2m_request req = { .op = OP_NOTIFY, .fr = "/id-in", .rqi = "ntf-1" };
    assert_int_equal(http_codec_headers(&req, true, out, sizeof out), -1);
    struct m2m_request none = { .op = OP_NONE, .rqi = "x" };
    char big[256];
    assert_int_equal(http_codec_headers(&none, false, big, sizeof big), -1);
}

static void response_rsc(void **state)
{
    (void)state;
    assert_int_equal(http_codec_rsc(200, "2004"), 2004);
    assert_int_equal(http_codec_rsc(403, "4101"), 4101);
    assert_int_equal(http_codec_rsc(204, NULL), RSC_OK);
    assert_int_equal(http_codec_rsc(200, "junk"), RSC_OK);
    assert_int_equal(http_codec_rsc(403, NULL), RSC_ORIGINATOR_HAS_NO_PRIVILEGE);
    assert_int_equal(http_codec_rsc(404, NULL), RSC_NOT_FOUND);
    assert_int_equal(http_codec_rsc(502, NULL), RSC_INTERNAL_SERVER_ERROR);
    assert_int_equal(http_codec_rsc(400, NULL), RSC_BAD_REQUEST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(notify_headers),
        cmocka_unit_test(create_and_retrieve),
        cmocka_unit_test(too_small_or_unknown),
        cmocka_unit_test(response_rsc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
