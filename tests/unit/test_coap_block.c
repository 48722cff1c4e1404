/* Block-wise transfer tables (cse/coap_block.c) without sockets: option
 * codec, Block2 piece choice, Block1 assembly with every limit checked as
 * pieces arrive, and hostile sequences (restarts, gaps, overlaps, size
 * changes, huge NUM, many peers) that must stay within the bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cse/wire/coap_block.h"

#define CODE(c, d) ((c) << 5 | (d))

static const struct coap_blocks_limits LIM = {
    .max_body = 4096, .max_entries = 8, .per_peer = 2, .max_bytes = 16384, .idle_ms = 1000,
};

/* A request with a Uri-Path and optionally Block1 and Request-Tag. */
struct req {
    struct coap_msg_in in;
    uint8_t b1[3], tag[8];
    uint8_t payload[1100];
};

static void make(struct req *r, int code, const char *path, int num, int more, int szx,
                 size_t len, const char *tag)
{
    memset(r, 0, sizeof *r);
    r->in.code = code;
    r->in.opts[r->in.nopts++] = (struct coap_option_in){ COAPOPT_URI_PATH, (const uint8_t *)path, strlen(path) };
    if (num >= 0) {
        struct coap_block b = { (uint32_t)num, more != 0, (unsigned)szx };
        size_t n = coap_block_encode(&b, r->b1);
        r->in.opts[r->in.nopts++] = (struct coap_option_in){ COAPOPT_BLOCK1, r->b1, n };
    }
    if (tag) {
        memcpy(r->tag, tag, strlen(tag));
        r->in.opts[r->in.nopts++] = (struct coap_option_in){ COAPOPT_REQUEST_TAG, r->tag, strlen(tag) };
    }
    for (size_t i = 0; i < len && i < sizeof r->payload; i++) r->payload[i] = (uint8_t)('a' + (num + i) % 26);
    r->in.payload = r->payload;
    r->in.payload_len = len;
}

static struct coap_block1_result put(struct coap_blocks *bs, const char *peer, struct req *r, int64_t now)
{
    struct coap_block1_result res;
    coap_blocks_put(bs, peer, &r->in, now, &res);
    assert_true(coap_blocks_count(bs) <= LIM.max_entries);
    assert_true(coap_blocks_bytes(bs) <= LIM.max_bytes);
    return res;
}

static void option_codec(void **state)
{
    (void)state;
    uint8_t buf[3];
    struct coap_block b = { 0, false, 0 }, d;
    assert_int_equal(coap_block_encode(&b, buf), 0);           /* 0/0/16: empty */
    assert_int_equal(coap_block_decode(buf, 0, &d), 0);
    assert_int_equal(d.num, 0);
    b = (struct coap_block){ 1, true, 6 };
    assert_int_equal(coap_block_encode(&b, buf), 1);
    assert_int_equal(buf[0], 0x1e);
    b = (struct coap_block){ 0xfffff, false, 4 };                /* the largest NUM */
    assert_int_equal(coap_block_encode(&b, buf), 3);
    assert_int_equal(coap_block_decode(buf, 3, &d), 0);
    assert_int_equal(d.num, 0xfffff);
    assert_int_equal(d.szx, 4);
    const uint8_t bert = 0x0f, four[4] = { 0 };
    assert_int_equal(coap_block_decode(&bert, 1, &d), -1);      /* SZX 7 */
    assert_int_equal(coap_block_decode(four, 4, &d), -1);
}

static void block2_pieces(void **state)
{
    (void)state;
    struct coap_block p, asked = { 0, false, 4 };
    size_t off, len;
    assert_int_equal(coap_block2_piece(500, NULL, 1100, &p, &off, &len), 0);   /* fits */
    assert_int_equal(coap_block2_piece(3000, NULL, 1100, &p, &off, &len), 1);
    assert_int_equal(p.num, 0);
    assert_true(p.more);
    assert_int_equal(p.szx, 6);
    assert_int_equal(len, 1024);
    /* The client asked for 256-byte pieces, piece 2. */
    asked = (struct coap_block){ 2, false, 4 };
    assert_int_equal(coap_block2_piece(3000, &asked, 1100, &p, &off, &len), 1);
    assert_int_equal(off, 512);
    assert_int_equal(len, 256);
    /* Last piece is short and says no more. */
    asked = (struct coap_block){ 2, false, 6 };
    assert_int_equal(coap_block2_piece(3000, &asked, 1100, &p, &off, &len), 1);
    assert_int_equal(off, 2048);
    assert_int_equal(len, 952);
    assert_false(p.more);
    /* Past the end; no room at all. */
    asked = (struct coap_block){ 3, false, 6 };
    assert_int_equal(coap_block2_piece(3000, &asked, 1100, &p, &off, &len), -1);
    assert_int_equal(coap_block2_piece(3000, NULL, 10, &p, &off, &len), -2);
    /* Little room: a smaller piece at the same offset (piece 1 of 1024 is
     * piece 4 of 256). */
    asked = (struct coap_block){ 1, false, 6 };
    assert_int_equal(coap_block2_piece(3000, &asked, 300, &p, &off, &len), 1);
    assert_int_equal(p.szx, 4);
    assert_int_equal(p.num, 4);
    assert_int_equal(off, 1024);
    /* Block2 0 asked although it fits: one piece, no more. */
    asked = (struct coap_block){ 0, false, 6 };
    assert_int_equal(coap_block2_piece(100, &asked, 1100, &p, &off, &len), 1);
    assert_false(p.more);
    assert_int_equal(len, 100);
}

static void block1_assembly(void **state)
{
    (void)state;
    struct coap_blocks *bs = coap_blocks_new(&LIM);
    struct req r;
    struct coap_block1_result res;
    make(&r, 2, "cnt", -1, 0, 0, 10, NULL);
    assert_int_equal(put(bs, "p1", &r, 0).status, COAP_B1_NONE);
    for (int i = 0; i < 3; i++) {
        make(&r, 2, "cnt", i, 1, 4, 256, NULL);
        res = put(bs, "p1", &r, i);
        assert_int_equal(res.status, COAP_B1_CONTINUE);
        assert_int_equal(res.echo.num, i);
        assert_true(res.echo.more);
    }
    /* The same piece again (a new MID): the same answer, not appended twice. */
    res = put(bs, "p1", &r, 3);
    assert_int_equal(res.status, COAP_B1_CONTINUE);
    make(&r, 2, "cnt", 3, 0, 4, 100, NULL);
    res = put(bs, "p1", &r, 4);
    assert_int_equal(res.status, COAP_B1_DONE);
    assert_int_equal(res.body_len, 3 * 256 + 100);
    assert_int_equal(res.body[256], 'a' + 1 % 26);
    free(res.body);
    assert_int_equal(coap_blocks_count(bs), 0);
    assert_int_equal(coap_blocks_bytes(bs), 0);
    /* A single piece with Block1 0/0: done at once, nothing kept. */
    make(&r, 2, "cnt", 0, 0, 6, 5, NULL);
    res = put(bs, "p1", &r, 5);
    assert_int_equal(res.status, COAP_B1_DONE);
    assert_int_equal(res.body_len, 5);
    free(res.body);
    assert_int_equal(coap_blocks_count(bs), 0);
    coap_blocks_free(bs);
}

static void block1_refusals(void **state)
{
    (void)state;
    struct coap_blocks *bs = coap_blocks_new(&LIM);
    struct req r;
    /* A piece of no transfer. */
    make(&r, 2, "x", 1, 1, 4, 256, NULL);
    struct coap_block1_result res = put(bs, "p", &r, 0);
    assert_int_equal(res.status, COAP_B1_ERROR);
    assert_int_equal(res.code, CODE(4, 8));
    /* More to follow but short. */
    make(&r, 2, "x", 0, 1, 4, 100, NULL);
    assert_int_equal(put(bs, "p", &r, 0).code, CODE(4, 0));
    /* Larger than its block. */
    make(&r, 2, "x", 0, 0, 0, 17, NULL);
    assert_int_equal(put(bs, "p", &r, 0).code, CODE(4, 0));
    /* A gap: 0 then 2. */
    make(&r, 2, "x", 0, 1, 4, 256, NULL);
    assert_int_equal(put(bs, "p", &r, 0).status, COAP_B1_CONTINUE);
    make(&r, 2, "x", 2, 1, 4, 256, NULL);
    assert_int_equal(put(bs, "p", &r, 0).code, CODE(4, 8));
    assert_int_equal(coap_blocks_count(bs), 0);   /* the transfer is gone */
    /* Huge NUM: the offset is past max-body, 4.13 before anything is kept. */
    make(&r, 2, "x", 0xfffff, 1, 6, 1024, NULL);
    assert_int_equal(put(bs, "p", &r, 0).code, CODE(4, 13));
    /* The body limit during assembly: 4096 = 16 pieces of 256; the 17th is refused. */
    for (int i = 0; i < 16; i++) {
        make(&r, 2, "big", i, 1, 4, 256, NULL);
        assert_int_equal(put(bs, "p", &r, 0).status, COAP_B1_CONTINUE);
    }
    make(&r, 2, "big", 16, 1, 4, 256, NULL);
    res = put(bs, "p", &r, 0);
    assert_int_equal(res.code, CODE(4, 13));
    assert_int_equal(coap_blocks_count(bs), 0);
    assert_int_equal(coap_blocks_bytes(bs), 0);
    coap_blocks_free(bs);
}

static void block1_size_change_and_restart(void **state)
{
    (void)state;
    struct coap_blocks *bs = coap_blocks_new(&LIM);
    struct req r;
    struct coap_block1_result res;
    /* 1024-byte piece 0, then the client goes down to 256: NUM 4 at offset 1024. */
    make(&r, 2, "y", 0, 1, 6, 1024, NULL);
    assert_int_equal(put(bs, "p", &r, 0).status, COAP_B1_CONTINUE);
    make(&r, 2, "y", 4, 0, 4, 10, NULL);
    res = put(bs, "p", &r, 0);
    assert_int_equal(res.status, COAP_B1_DONE);
    assert_int_equal(res.body_len, 1034);
    free(res.body);
    /* The crash of the issue: 0/M=1/256 then 0/M=0/1024 at the same path. */
    make(&r, 2, "y", 0, 1, 4, 256, NULL);
    assert_int_equal(put(bs, "p", &r, 0).status, COAP_B1_CONTINUE);
    make(&r, 2, "y", 0, 0, 6, 100, NULL);
    res = put(bs, "p", &r, 0);
    assert_int_equal(res.status, COAP_B1_DONE);   /* a fresh start replaces the old one */
    assert_int_equal(res.body_len, 100);
    free(res.body);
    assert_int_equal(coap_blocks_count(bs), 0);
    /* Request-Tag keeps two transfers to one path apart (RFC 9175). */
    make(&r, 2, "z", 0, 1, 4, 256, "t1");
    assert_int_equal(put(bs, "p", &r, 0).status, COAP_B1_CONTINUE);
    make(&r, 2, "z", 0, 1, 4, 256, "t2");
    assert_int_equal(put(bs, "p", &r, 0).status, COAP_B1_CONTINUE);
    assert_int_equal(coap_blocks_count(bs), 2);
    make(&r, 2, "z", 1, 0, 4, 1, "t1");
    res = put(bs, "p", &r, 0);
    assert_int_equal(res.status, COAP_B1_DONE);
    assert_int_equal(res.body_len, 257);
    free(res.body);
    coap_blocks_free(bs);
}

static void bounds_under_many_peers(void **state)
{
    (void)state;
    struct coap_blocks *bs = coap_blocks_new(&LIM);
    struct req r;
    char peer[16];
    /* 50 peers start 3 transfers each and then idle: entries and bytes stay bounded. */
    for (int p = 0; p < 50; p++)
        for (int k = 0; k < 3; k++) {
            char path[8];
            snprintf(peer, sizeof peer, "peer%d", p);
            snprintf(path, sizeof path, "u%d", k);
            make(&r, 2, path, 0, 1, 6, 1024, NULL);
            /* the path string must outlive the call only */
            struct coap_block1_result res = put(bs, peer, &r, p);
            assert_int_equal(res.status, COAP_B1_CONTINUE);
        }
    assert_true(coap_blocks_count(bs) <= LIM.max_entries);
    /* The newest peer still has at most per_peer. */
    assert_true(coap_blocks_count(bs) >= LIM.per_peer);
    /* After the idle time everything is forgotten. */
    make(&r, 2, "v", -1, 0, 0, 0, NULL);
    struct coap_msg_out out;
    coap_msg_out_init(&out);
    assert_null(coap_blocks_held(bs, "q", &r.in, 100000));
    assert_int_equal(coap_blocks_count(bs), 0);
    assert_int_equal(coap_blocks_bytes(bs), 0);
    coap_blocks_free(bs);
}

static void held_responses(void **state)
{
    (void)state;
    struct coap_blocks *bs = coap_blocks_new(&LIM);
    struct req r;
    make(&r, 1, "la", -1, 0, 0, 0, NULL);
    struct coap_msg_out out;
    coap_msg_out_init(&out);
    out.code = CODE(2, 5);
    out.payload = calloc(1, 3001);   /* payloads end in a NUL (coap_map.h) */
    memset(out.payload, 'q', 3000);
    out.payload_len = 3000;
    coap_blocks_keep(bs, "p", &r.in, &out, 0);
    const struct coap_msg_out *h = coap_blocks_held(bs, "p", &r.in, 10);
    assert_non_null(h);
    assert_int_equal(h->payload_len, 3000);
    assert_null(coap_blocks_held(bs, "other", &r.in, 10));   /* another peer */
    make(&r, 1, "other-path", -1, 0, 0, 0, NULL);
    assert_null(coap_blocks_held(bs, "p", &r.in, 10));
    /* A response larger than all the bytes allowed is not kept. */
    struct coap_msg_out huge;
    coap_msg_out_init(&huge);
    huge.payload = calloc(1, 20001);
    huge.payload_len = 20000;
    coap_blocks_keep(bs, "p", &r.in, &huge, 20);
    assert_null(coap_blocks_held(bs, "p", &r.in, 20));
    assert_true(coap_blocks_bytes(bs) <= LIM.max_bytes);
    coap_msg_out_clear(&out);
    coap_msg_out_clear(&huge);
    coap_blocks_free(bs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(option_codec), cmocka_unit_test(block2_pieces),
        cmocka_unit_test(block1_assembly), cmocka_unit_test(block1_refusals),
        cmocka_unit_test(block1_size_change_and_restart), cmocka_unit_test(bounds_under_many_peers),
        cmocka_unit_test(held_responses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
