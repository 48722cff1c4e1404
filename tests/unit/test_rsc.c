/* RSC -> HTTP / CoAP status mapping (TS-0009 Table 6.3.2-1, TS-0008 Table 6.2.4-1). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cse/primitive.h"
#include "cse/rsc.h"

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

static void names(void **state)
{
    (void)state;
    assert_string_equal(rsc_name(RSC_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(rsc_name(RSC_ORIGINATOR_HAS_ALREADY_REGISTERED), "ORIGINATOR_HAS_ALREADY_REGISTERED");
    assert_string_equal(rsc_name(42), "UNKNOWN");
    assert_true(rsc_is_success(RSC_CREATED));
    assert_false(rsc_is_success(RSC_BAD_REQUEST));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(http_mapping),
        cmocka_unit_test(coap_mapping),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
