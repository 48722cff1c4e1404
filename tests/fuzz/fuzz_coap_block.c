/* Block-wise transfer state (cse/coap_block.c): the input is a sequence of
 * requests from a few peers to a few URIs, with Block1/Block2, Size1 and
 * Request-Tag options, on an advancing fake clock; after every step the
 * tables' bounds must hold. The first bytes choose the limits within the
 * ranges the server can be configured with (cse/coap.c).
 *
 * Step: op, block value (3 bytes: the top 2 bits of the first say how many
 * are sent), payload length (2), time step (1: bit 0 the Request-Tag), then
 * the payload. op bits: 0-1 peer, 2-3 URI, 4 method (POST/PUT, or GET for
 * Block2), 5-6 what (0-1 Block1 piece, 2 keep a response, 3 fetch a held
 * one), 7 extra options (Size1 from the block value, a Request-Tag). */
#include <stdint.h>

#include "fuzz.h"
#include "cse/wire/coap_block.h"

#define NPEERS 4
#define NURIS 4

static const char *const peers[NPEERS] = { "0|127.0.0.1|5683", "0|127.0.0.1|5684",
                                           "1|::1|5684", "0|10.0.0.1|5683" };
static const char *const uris[NURIS][2] = { { "cse-in", NULL }, { "cse-in", "ae" },
                                            { "cse-in", "ae?x" }, { "~", "id-in" } };

/* What coap_blocks_keep() was last given per peer, URI and method, to check
 * what coap_blocks_held() returns (it may have been evicted: NULL). */
struct kept { size_t len; uint8_t fill; bool set; };

struct input { const uint8_t *p, *end; };

static unsigned take(struct input *in, size_t n)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | (in->p < in->end ? *in->p++ : 0);
    return v;
}

static void build_request(struct coap_msg_in *m, unsigned op, int tag, const uint8_t *block, size_t blen,
                          uint16_t block_number, const uint8_t *payload, size_t plen)
{
    memset(m, 0, sizeof *m);
    bool get = (op >> 5 & 3) >= 2 && !(op & 0x10);
    m->code = get ? COAP_M_GET : op & 0x10 ? COAP_M_PUT : COAP_M_POST;
    const char *const *uri = uris[op >> 2 & 3];
    for (int i = 0; i < 2 && uri[i]; i++)
        m->opts[m->nopts++] = (struct coap_option_in){ COAPOPT_URI_PATH, (const uint8_t *)uri[i],
                                                       strlen(uri[i]) };
    if (block_number) m->opts[m->nopts++] = (struct coap_option_in){ block_number, block, blen };
    if (op & 0x80) {
        m->opts[m->nopts++] = (struct coap_option_in){ COAPOPT_SIZE1, block, blen };
        static const uint8_t tags[2] = { 'a', 'b' };
        m->opts[m->nopts++] = (struct coap_option_in){ COAPOPT_REQUEST_TAG, tags + tag, 1 };
    }
    m->payload = payload;
    m->payload_len = plen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = { data, data + size };
    /* max-body is at least 1024 (configuration); the server's table takes at
     * least two bodies (coap_server_start). */
    struct coap_blocks_limits lim = {
        .max_body = 1024 + take(&in, 2) % 8192,
        .max_entries = 1 + (int)take(&in, 1) % 16,
        .per_peer = 1 + (int)take(&in, 1) % 8,
        .idle_ms = 1 + take(&in, 1) * 100,
    };
    lim.max_bytes = 2 * lim.max_body + take(&in, 2) * 4;
    struct coap_blocks *bs = coap_blocks_new(&lim);
    FUZZ_CHECK(bs);
    struct kept kept[NPEERS][NURIS][2] = { 0 };
    struct coap_msg_in *m = malloc(sizeof *m);
    FUZZ_CHECK(m);
    int64_t now = 1000;
    for (int steps = 0; in.p < in.end && steps < 256; steps++) {
        unsigned op = take(&in, 1);
        uint8_t block[3];
        for (int i = 0; i < 3; i++) block[i] = (uint8_t)take(&in, 1);
        size_t blen = block[0] >> 6;          /* 0-3 bytes of the value */
        const uint8_t *value = block + (3 - blen);
        size_t plen = take(&in, 2) % 1200;
        unsigned tick = take(&in, 1);
        now += (tick >> 1) * 20;
        int tag = tick & 1;
        if (plen > (size_t)(in.end - in.p)) plen = (size_t)(in.end - in.p);
        const uint8_t *payload = in.p;
        in.p += plen;
        int peer = op & 3, uri = op >> 2 & 3, what = op >> 5 & 3, method = op >> 4 & 1;
        if (what < 2) {
            build_request(m, op, tag, value, blen, COAPOPT_BLOCK1, payload, plen);
            struct coap_block1_result r;
            coap_blocks_put(bs, peers[peer], m, now, &r);
            struct coap_block b;
            int valid = coap_block_decode(value, blen, &b) == 0;
            switch (r.status) {
            case COAP_B1_NONE: FUZZ_CHECK(0); break;   /* the request has a Block1 option */
            case COAP_B1_ERROR:
                FUZZ_CHECK(r.why && (r.code >> 5 == 4 || r.code >> 5 == 5) && !r.body);
                break;
            case COAP_B1_CONTINUE:
                FUZZ_CHECK(valid && b.more && plen == coap_block_size(b.szx) && !r.body);
                break;
            case COAP_B1_DONE: {
                FUZZ_CHECK(valid && !b.more && r.body);
                FUZZ_CHECK(r.body_len <= lim.max_body);
                /* The body ends with this piece, at the piece's offset. */
                size_t off = (size_t)b.num << (b.szx + 4);
                FUZZ_CHECK(r.body_len == off + plen);
                FUZZ_CHECK(!plen || !memcmp(r.body + off, payload, plen));
                free(r.body);
                break;
            }
            }
            if (r.status == COAP_B1_CONTINUE || r.status == COAP_B1_DONE)
                FUZZ_CHECK(r.echo.num == b.num && r.echo.more == b.more && r.echo.szx == b.szx);
        } else if (what == 2) {
            /* A response too large for one datagram, kept for its later pieces. */
            build_request(m, op, tag, value, blen, COAPOPT_BLOCK2, NULL, 0);
            struct coap_msg_out out;
            coap_msg_out_init(&out);
            out.code = 0x45;
            coap_msg_out_add(&out, 283, "rqi", 3);
            out.payload = malloc(plen + 1);
            FUZZ_CHECK(out.payload);
            memset(out.payload, op, plen);
            out.payload[plen] = 0;
            out.payload_len = plen;
            coap_blocks_keep(bs, peers[peer], m, &out, now);
            kept[peer][uri][method] = (struct kept){ plen, (uint8_t)op, true };
            coap_msg_out_clear(&out);
        } else {
            build_request(m, op, tag, value, blen, COAPOPT_BLOCK2, NULL, 0);
            const struct coap_msg_out *held = coap_blocks_held(bs, peers[peer], m, now);
            if (held) {
                /* A held response belongs to this peer, URI and method. */
                struct kept *k = &kept[peer][uri][method];
                FUZZ_CHECK(k->set && held->payload_len == k->len && held->nopts == 1);
                FUZZ_CHECK(!k->len || ((uint8_t)held->payload[0] == k->fill &&
                                       (uint8_t)held->payload[k->len - 1] == k->fill));
            }
        }
        FUZZ_CHECK(coap_blocks_count(bs) >= 0 && coap_blocks_count(bs) <= lim.max_entries);
        FUZZ_CHECK(coap_blocks_bytes(bs) <= lim.max_bytes);
    }
    coap_blocks_free(bs);
    free(m);
    return 0;
}
