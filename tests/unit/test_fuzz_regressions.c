/* Defects the fuzz targets (tests/fuzz/) found, each replayed here on the
 * unit that had it; the inputs that found them are kept in
 * tests/fuzz/corpus/<target>/crash-*. docs/security.md#fuzzing lists them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cse/wire/coap_block.h"

static const char peer[] = "0|127.0.0.1|5683";

/* One Block1 piece of a POST to cse-in with a payload of len bytes of fill. */
static void put_piece(struct coap_blocks *bs, uint32_t num, bool more, unsigned szx, size_t len,
                      uint8_t fill, struct coap_block1_result *r)
{
    static uint8_t payload[1024];
    static struct coap_msg_in in;
    uint8_t opt[3];
    struct coap_block b = { num, more, szx };
    memset(&in, 0, sizeof in);
    memset(payload, fill, len);
    in.code = COAP_M_POST;
    in.opts[in.nopts++] = (struct coap_option_in){ COAPOPT_URI_PATH, (const uint8_t *)"cse-in", 6 };
    in.opts[in.nopts++] = (struct coap_option_in){ COAPOPT_BLOCK1, opt, coap_block_encode(&b, opt) };
    in.payload = payload;
    in.payload_len = len;
    coap_blocks_put(bs, peer, &in, 1000, r);
}

/* fuzz_coap_block: piece 1 taken with more = 1, then the same piece with
 * more = 0 was answered 2.31 Continue as if it were a retransmission: the
 * client, done sending, waited for an answer that never came. It is not a
 * repeat (its Block1 option differs), so it is out of order: 4.08. */
static void block1_repeat_must_match_the_option(void **state)
{
    (void)state;
    struct coap_blocks_limits lim = { 4096, 8, 4, 16384, 10000 };
    struct coap_blocks *bs = coap_blocks_new(&lim);
    struct coap_block1_result r;
    put_piece(bs, 0, true, 0, 16, 'a', &r);
    assert_int_equal(r.status, COAP_B1_CONTINUE);
    put_piece(bs, 1, true, 0, 16, 'b', &r);
    assert_int_equal(r.status, COAP_B1_CONTINUE);
    put_piece(bs, 1, true, 0, 16, 'b', &r);          /* a true repeat: same answer */
    assert_int_equal(r.status, COAP_B1_CONTINUE);
    assert_int_equal(coap_blocks_count(bs), 1);
    put_piece(bs, 1, false, 0, 16, 'b', &r);
    assert_int_equal(r.status, COAP_B1_ERROR);
    assert_int_equal(r.code, 4 << 5 | 8);
    assert_int_equal(coap_blocks_count(bs), 0);      /* the transfer is gone */
    assert_int_equal(coap_blocks_bytes(bs), 0);
    coap_blocks_free(bs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(block1_repeat_must_match_the_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
