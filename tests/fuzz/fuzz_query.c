/* Query strings: the input is what follows '?' in a GET to cse-in. It goes
 * the HTTP binding's way (split at '&', percent-decoding, m2m_apply_query():
 * filter criteria, labelsQuery, timestamps, atrl, rcn, ...) and the request
 * is then run against the fixture tree (tests/fuzz/fuzz.h): discovery,
 * conditional and partial retrieval with the filters evaluated. RETRIEVE
 * changes nothing, so one CSE serves every input. The first byte picks the
 * target. */
#include <stdint.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cse cse;
    static bool open;
    if (!open) {
        fuzz_cse_open(&cse);
        open = true;
    }
    if (size < 1 || size > 8192) return 0;
    const char *path = fuzz_paths[data[0] % FUZZ_NPATHS];
    data++, size--;
    /* The request-target as llhttp hands it over: a C string. */
    size_t plen = strlen(path);
    char *target = malloc(plen + size + 3);
    FUZZ_CHECK(target);
    target[0] = '/';
    memcpy(target + 1, path, plen);
    target[plen + 1] = '?';
    memcpy(target + plen + 2, data, size);
    target[plen + 2 + size] = 0;

    struct http_request h = {
        .method = "GET", .target = target, .body = "", .peer_ip = "127.0.0.1", .peer_port = 40000,
        .headers = { { "X-M2M-Origin", "CAdmin" }, { "X-M2M-RI", "q" }, { "X-M2M-RVI", "3" } },
        .nheaders = 3,
    };
    struct m2m_request req;
    struct m2m_response rsp;
    if (!fuzz_http_to_primitive(&h, &req, &rsp)) {
        FUZZ_CHECK(req.op == OP_RETRIEVE);
        FUZZ_CHECK(req.fc.nty <= FC_MAX_LIST && req.fc.nlbl <= FC_MAX_LIST && req.natrl <= 32);
        cse_dispatch(&cse, &req, &rsp);
        fuzz_show(target, &rsp);
        FUZZ_CHECK(rsp.rsc >= 1000 && rsp.rsc < 7000);
        if (!rsc_is_success(rsp.rsc)) FUZZ_CHECK(json_is_object(rsp.pc));
    }
    fuzz_http_answer(&req, &rsp);
    m2m_response_clear(&rsp);
    m2m_request_clear(&req);
    free(target);
    return 0;
}
