/* HTTP request parsing: bytes as a connection receives them -> llhttp and
 * the server's callbacks (http_parse_*, the code a connection runs) ->
 * http_head_to_primitive(), http_body_to_primitive() -> http_from_primitive(). The first byte chooses how
 * the stream is split into reads and the body limit; the rest is the stream. */
#include <stdint.h>

#include "fuzz.h"

static void on_request(void *arg, const struct http_request *hreq, bool keep_alive)
{
    (void)arg; (void)keep_alive;
    FUZZ_CHECK(hreq->method && hreq->target && hreq->body);
    FUZZ_CHECK(hreq->nheaders >= 0 && hreq->nheaders <= HTTP_MAX_HEADERS);
    struct http_request h = *hreq;
    h.peer_ip = "127.0.0.1";
    h.peer_port = 40000;
    struct m2m_request req;
    struct m2m_response rsp;
    if (!fuzz_http_to_primitive(&h, &req, &rsp)) {
        FUZZ_CHECK(req.op == OP_CREATE ? req.ty > 0 : req.ty == 0);
        FUZZ_CHECK(!h.body_len || req.pc);
        /* Answer with what came in, as a RETRIEVE of it would. */
        rsp.rsc = RSC_OK;
        if (req.pc) rsp.pc = json_incref(req.pc);
    }
    fuzz_http_answer(&req, &rsp);
    m2m_response_clear(&rsp);
    m2m_request_clear(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet++) fuzz_quiet();
    if (size < 1) return 0;
    /* Low 7 bits: read size (0 = all at once); high bit: a 1 KiB body limit
     * (max-body's lowest setting) instead of the default 1 MiB. */
    size_t chunk = data[0] & 0x7f;
    int64_t max_body = data[0] & 0x80 ? 1024 : 1 << 20;
    data++, size--;
    if (!chunk) chunk = size ? size : 1;
    struct http_parse *ps = http_parse_new(max_body, on_request, NULL);
    FUZZ_CHECK(ps);
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        int status = http_parse_feed(ps, (const char *)data + off, n);
        if (status) {
            FUZZ_CHECK(status == 400 || status == 413 || status == 431 || status == 503);
            break;   /* the connection answers and closes */
        }
    }
    http_parse_free(ps);
    return 0;
}
