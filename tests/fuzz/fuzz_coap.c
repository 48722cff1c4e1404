/* A CoAP datagram as the server receives it: coap_wire_check() (our check
 * and rewrite in front of libcoap's parser), then the request it carries ->
 * coap_to_primitive() -> coap_from_primitive(), and the Block2 slicing of
 * the answer. Our option iterator (coap_optiter.c) walks the same bytes as
 * libcoap's and must give the same options. The input is the datagram. */
#include <dlfcn.h>
#include <stdint.h>

#include "fuzz.h"
#include "coap_decode.h"
#include "cse/wire/coap_block.h"
#include "cse/wire/coap_optiter.h"
#include "cse/wire/coap_wire.h"

/* The datagram's verdict; a rewrite is checked and replaces msg. */
static enum coap_wire_verdict check(const uint8_t *msg, size_t len, uint8_t *copy, size_t *copylen)
{
    const char *why = NULL;
    size_t outlen = 1;
    enum coap_wire_verdict v = coap_wire_check(msg, len, NULL, 0, &outlen, &why);
    FUZZ_CHECK(v == COAP_WIRE_OK || v == COAP_WIRE_REWRITTEN || v == COAP_WIRE_MALFORMED);
    FUZZ_CHECK(outlen == 0);
    FUZZ_CHECK((v == COAP_WIRE_MALFORMED) == (why != NULL));
    if (v != COAP_WIRE_REWRITTEN) return v;
    /* Too little room is refused, never overrun. */
    if (len > 0) FUZZ_CHECK(coap_wire_check(msg, len, copy, len - 1, &outlen, &why) == COAP_WIRE_MALFORMED);
    FUZZ_CHECK(coap_wire_check(msg, len, copy, len, copylen, &why) == COAP_WIRE_REWRITTEN);
    /* A rewrite never grows the datagram, and is itself well formed as it is. */
    FUZZ_CHECK(*copylen >= 4 && *copylen <= len);
    FUZZ_CHECK(coap_wire_check(copy, *copylen, NULL, 0, &outlen, &why) == COAP_WIRE_OK);
    FUZZ_CHECK(memcmp(copy, msg, 4 + (msg[0] & 15)) == 0);   /* header and token kept */
    return v;
}

static void check_answer(const struct m2m_request *req, const struct m2m_response *rsp,
                         const struct coap_msg_in *in)
{
    struct coap_msg_out out;
    coap_msg_out_init(&out);
    coap_from_primitive(req, rsp, &out);
    FUZZ_CHECK(out.nopts <= COAP_OUT_MAX_OPTS && out.optbuf_used <= COAP_OUT_OPTBUF);
    for (int i = 0; i < out.nopts; i++)
        FUZZ_CHECK((size_t)out.opts[i].off + out.opts[i].len <= out.optbuf_used);
    FUZZ_CHECK((out.code >> 5) >= 2 && (out.code >> 5) <= 5);
    /* Slicing the payload for the Block2 the request asked for. */
    struct coap_block asked, piece;
    int has = coap_block_find(in, COAPOPT_BLOCK2, &asked);
    static const size_t rooms[] = { 15, 16, 100, 1024, 1152 };
    for (size_t i = 0; has >= 0 && i < sizeof rooms / sizeof *rooms; i++) {
        size_t off = 0, len = out.payload_len;
        int cut = coap_block2_piece(out.payload_len, has ? &asked : NULL, rooms[i], &piece, &off, &len);
        FUZZ_CHECK(cut >= -2 && cut <= 1);
        if (cut == 0) FUZZ_CHECK(out.payload_len <= rooms[i]);
        if (cut == 1) {
            FUZZ_CHECK(len <= rooms[i] && len <= coap_block_size(piece.szx));
            FUZZ_CHECK(off + len <= out.payload_len);
            FUZZ_CHECK(off == (size_t)piece.num << (piece.szx + 4));
            FUZZ_CHECK(piece.more == (off + len < out.payload_len));
            uint8_t enc[3];
            struct coap_block back;
            size_t n = coap_block_encode(&piece, enc);
            if (piece.num < (1u << 20)) {
                FUZZ_CHECK(coap_block_decode(enc, n, &back) == 0);
                FUZZ_CHECK(back.num == piece.num && back.more == piece.more && back.szx == piece.szx);
            }
        }
    }
    coap_msg_out_clear(&out);
}

typedef coap_opt_t *next_fn(coap_opt_iterator_t *oi);
typedef coap_opt_t *check_fn(const coap_pdu_t *pdu, coap_option_num_t number, coap_opt_iterator_t *oi);
typedef coap_string_t *string_fn(const coap_pdu_t *pdu);

static void *libcoap_fn(const char *name)
{
    void *f = dlvsym(RTLD_NEXT, name, "VER_3");
    return f ? f : dlsym(RTLD_NEXT, name);
}

/* Both iterators to their end: the same options at the same numbers. */
static void same_walk(coap_opt_iterator_t *a, coap_opt_iterator_t *b, next_fn *real)
{
    for (;;) {
        coap_opt_t *x = coap_option_next(a), *y = real(b);
        FUZZ_CHECK(x == y);
        if (!x) break;
        FUZZ_CHECK(a->number == b->number);
    }
    FUZZ_CHECK(a->bad && b->bad);
}

/* Our path or query string and libcoap's for the same request. */
static void same_string(const coap_pdu_t *pdu, string_fn *ours, string_fn *real)
{
    coap_string_t *a = ours(pdu), *b = real(pdu);
    FUZZ_CHECK((a == NULL) == (b == NULL));
    if (a) FUZZ_CHECK(a->length == b->length && !memcmp(a->s, b->s, a->length));
    coap_delete_string(a);
    coap_delete_string(b);
}

/* coap_optiter_read() and libcoap's unfiltered walk: the same options. */
static void same_read(const coap_pdu_t *pdu, next_fn *real)
{
    struct coap_option_in opts[8];
    bool more;
    int n = coap_optiter_read(pdu, opts, 8, &more), k = 0;
    coap_opt_iterator_t it;
    coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
    coap_opt_t *o;
    while (k < 8 && (o = real(&it))) {
        FUZZ_CHECK(k < n && opts[k].number == it.number && opts[k].value == coap_opt_value(o) &&
                   opts[k].len == coap_opt_length(o));
        k++;
    }
    FUZZ_CHECK(n == k && more == (k == 8 && real(&it) != NULL));
}

/* The datagram's options through our iterator and libcoap's: unfiltered,
 * filtered on numbers taken from the datagram, and (once libcoap parsed
 * it) coap_check_option() for those numbers, the path and query strings
 * and the one-walk read of every option. */
static void same_options_as_libcoap(const uint8_t *msg, size_t len)
{
    static next_fn *real_next;
    static check_fn *real_check;
    static string_fn *real_path, *real_query;
    if (!real_next) real_next = (next_fn *)libcoap_fn("coap_option_next");
    if (!real_check) real_check = (check_fn *)libcoap_fn("coap_check_option");
    if (!real_path) real_path = (string_fn *)libcoap_fn("coap_get_uri_path");
    if (!real_query) real_query = (string_fn *)libcoap_fn("coap_get_query");
    FUZZ_CHECK(real_next && real_check && real_path && real_query);
    size_t head = len >= 4 ? 4u + (msg[0] & 15) : len;
    if (head > len) return;
    coap_option_num_t numbers[3] = { 11, 279, 60 };
    for (size_t i = 0; i < 3 && len >= 2 * i + 2; i++)
        numbers[i] = (coap_option_num_t)(msg[len - 2 * i - 2] << 8 | msg[len - 2 * i - 1]) % (i ? 65536u : 300u);
    for (int filtered = 0; filtered < 2; filtered++) {
        coap_opt_iterator_t a;
        memset(&a, 0, sizeof a);
        a.length = len - head;
        a.next_option = (coap_opt_t *)(msg + head);
        if (filtered) {
            a.filtered = 1;
            for (int i = 0; i < 3; i++) coap_option_filter_set(&a.filter, numbers[i]);
        }
        coap_opt_iterator_t b = a;
        same_walk(&a, &b, real_next);
    }
    coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, len + 8);
    if (pdu && coap_pdu_parse(COAP_PROTO_UDP, msg, len, pdu)) {
        for (int i = 0; i < 3; i++) {
            coap_opt_iterator_t a, b;
            coap_opt_t *x = coap_check_option(pdu, numbers[i], &a), *y = real_check(pdu, numbers[i], &b);
            FUZZ_CHECK(x == y);
            if (x) same_walk(&a, &b, real_next);
        }
        same_string(pdu, coap_get_uri_path, real_path);
        same_string(pdu, coap_get_query, real_query);
        same_read(pdu, real_next);
    }
    if (pdu) coap_delete_pdu(pdu);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet++) fuzz_quiet();
    uint8_t *copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy);
    size_t copylen = 0;
    same_options_as_libcoap(data, size);
    enum coap_wire_verdict v = check(data, size, copy, &copylen);
    if (v != COAP_WIRE_MALFORMED) {
        const uint8_t *msg = v == COAP_WIRE_REWRITTEN ? copy : data;
        size_t len = v == COAP_WIRE_REWRITTEN ? copylen : size;
        struct coap_msg_in *in = malloc(sizeof *in);
        FUZZ_CHECK(in);
        FUZZ_CHECK(coap_decode(msg, len, in) == 0);
        struct m2m_request req;
        struct m2m_response rsp;
        m2m_request_init(&req);
        m2m_response_init(&rsp);
        int rc = coap_to_primitive(in, &req, &rsp);
        if (rc) {
            FUZZ_CHECK(rsp.rsc == rc && json_is_object(rsp.pc));
        } else {
            FUZZ_CHECK(req.to && req.op >= OP_CREATE && req.op <= OP_NOTIFY);
            FUZZ_CHECK(!in->payload_len || req.pc);
            rsp.rsc = req.op == OP_CREATE ? RSC_CREATED : RSC_OK;
            if (req.pc) rsp.pc = json_incref(req.pc);
            if (req.op == OP_CREATE) rsp.location = strdup(req.to);
        }
        check_answer(&req, &rsp, in);
        m2m_response_clear(&rsp);
        m2m_request_clear(&req);
        free(in);
    }
    free(copy);
    return 0;
}
