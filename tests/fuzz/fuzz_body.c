/* JSON request bodies -> resources: the body is parsed as the bindings do
 * (json_loadb, duplicates refused) and dispatched as a CREATE or UPDATE, so
 * it goes through content extraction, the attribute-table validation
 * (resources/schema.c), the type's hooks and the store. Every input gets a
 * fresh in-memory CSE with the fixture tree (tests/fuzz/fuzz.h), so runs do
 * not depend on each other.
 *
 * First byte: bit 7 UPDATE (else CREATE), the rest the resource type of a
 * CREATE. Second byte: bits 0-3 the target, 4-5 the originator. The rest
 * is the body. */
#include <stdint.h>

#include "fuzz.h"

static const int types[] = { 1, 2, 3, 4, 9, 23, 5, 17, 0 };
#define NTYPES (sizeof types / sizeof *types)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static const char *const originators[] = { "CAdmin", "Cfuzz", "C", "Cnew" };
    bool update = data[0] & 0x80;
    int ty = update ? 0 : types[(data[0] & 0x7f) % NTYPES];
    const char *to = fuzz_paths[(data[1] & 15) % FUZZ_NPATHS];
    const char *fr = originators[data[1] >> 4 & 3];
    data += 2, size -= 2;

    struct m2m_request req;
    struct m2m_response rsp;
    m2m_request_init(&req);
    m2m_response_init(&rsp);
    json_error_t err;
    req.pc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
    if (!req.pc) return 0;   /* the binding answers 4000 before dispatch */

    struct cse cse;
    fuzz_cse_open(&cse);
    req.op = update ? OP_UPDATE : OP_CREATE;
    req.to = strdup(to);
    req.fr = strdup(fr);
    req.rqi = strdup("fuzz");
    req.rvi = strdup("3");
    req.ty = ty;
    req.binding = BINDING_HTTP;
    cse_dispatch(&cse, &req, &rsp);
    fuzz_show(to, &rsp);
    FUZZ_CHECK(rsp.rsc >= 1000 && rsp.rsc < 7000);
    if (!rsc_is_success(rsp.rsc)) FUZZ_CHECK(json_is_object(rsp.pc));
    if (rsp.rsc == RSC_CREATED) FUZZ_CHECK(rsp.location && req.op == OP_CREATE);

    /* What was stored reads back, and the answer serialises. */
    fuzz_http_answer(&req, &rsp);
    if (rsp.rsc == RSC_CREATED || rsp.rsc == RSC_UPDATED) {
        int rsc = fuzz_run(&cse, OP_RETRIEVE, rsp.rsc == RSC_CREATED ? rsp.location : to, "CAdmin", 0, NULL);
        FUZZ_CHECK(rsc == RSC_OK);
    }
    m2m_response_clear(&rsp);
    m2m_request_clear(&req);
    cse_close(&cse);
    return 0;
}
