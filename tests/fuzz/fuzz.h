/* Shared by the libFuzzer targets (tests/fuzz/README.md): a check that
 * aborts with a message (libFuzzer then saves the input), and an in-memory
 * CSE with a small fixed resource tree for the targets that dispatch. */
#ifndef IRONBARK_FUZZ_H
#define IRONBARK_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cse/core/cse.h"
#include "cse/wire/http_binding.h"
#include "cse/base/log.h"
#include "cse/events/notify.h"
#include "cse/events/outbound.h"
#include "cse/core/rsc.h"
#include "tests/unit/unit_cse.h"

/* An invariant the target asserts; abort() is what libFuzzer records. */
#define FUZZ_CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort(); \
        } \
    } while (0)

/* The input after its selector byte, as a NUL-terminated copy (free() it). */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size);
    if (!text) abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    return text;
}

/* Logging off (stderr is libFuzzer's), unless FUZZ_LOG names a level:
 * then the log lines' arguments are evaluated too. */
static inline void fuzz_quiet(void)
{
    const char *want = getenv("FUZZ_LOG");
    log_set_level(want ? log_level_parse(want) : -1);
}

/* FUZZ_VERBOSE=1: each answer on stderr, to see what the seeds reach. */
static inline void fuzz_show(const char *what, const struct m2m_response *rsp)
{
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (!verbose) return;
    char *pc = rsp->pc ? json_dumps(rsp->pc, JSON_COMPACT) : NULL;
    fprintf(stderr, "%s -> %d %.200s\n", what, rsp->rsc, pc ? pc : "");
    free(pc);
}

/* Verification requests and forwarded NOTIFYs answer at once, as if every
 * target accepted them: no network from a fuzz target. */
static inline void fuzz_send_blocking(struct cse *cse, const struct outbound_request *a,
                                      struct outbound_answer *out)
{
    (void)cse; (void)a;
    *out = (struct outbound_answer){ RSC_OK, NULL, NULL, 0 };
}

static inline int fuzz_send(struct cse *cse, const struct outbound_request *a,
                            outbound_done_fn *done, void *data)
{
    (void)cse; (void)a; (void)done; (void)data;
    return -1;   /* never called: without a loop exchanges are blocking */
}

static inline int fuzz_run(struct cse *cse, enum m2m_op op, const char *to, const char *fr, int ty,
                           const char *body)
{
    return unit_run_as(cse, fr, op, to, ty, body, NULL, 0, NULL);
}

/* An HTTP request -> primitive, with what must hold either way. */
static inline int fuzz_http_to_primitive(const struct http_request *h, struct m2m_request *req,
                                         struct m2m_response *rsp)
{
    m2m_request_init(req);
    m2m_response_init(rsp);
    int rc = http_head_to_primitive(h, req, rsp);
    if (!rc) rc = http_body_to_primitive(h, req, rsp);
    if (rc) FUZZ_CHECK(rsp->rsc == rc && json_is_object(rsp->pc));   /* every refusal says why */
    else FUZZ_CHECK(req->to && req->op >= OP_CREATE && req->op <= OP_NOTIFY);
    return rc;
}

/* A response primitive -> HTTP response, with what must hold. */
static inline void fuzz_http_answer(const struct m2m_request *req, const struct m2m_response *rsp)
{
    struct http_response h = { .status = 500 };
    http_from_primitive(req, rsp, &h);
    FUZZ_CHECK(h.headers_len < sizeof h.headers);
    FUZZ_CHECK(h.status >= 100 && h.status <= 599);
    /* Text bodies are one C string; a CBOR body is binary and may hold NULs. */
    bool binary = h.content_type && strstr(h.content_type, "cbor");
    FUZZ_CHECK(!h.body || binary || h.body_len == strlen(h.body));
    free(h.body);
}

/* Paths of the fixture tree, for targets that pick one. */
static const char *const fuzz_paths[] = {
    "cse-in", "cse-in/fuzzae", "cse-in/fuzzae/cnt", "cse-in/fuzzae/cnt/la",
    "cse-in/fuzzae/cnt/ol", "cse-in/fuzzae/cnt/sub", "cse-in/fuzzae/grp", "cse-in/acp",
    "cse-in/fuzzae/grp/fopt", "/id-in/cse-in/fuzzae", "//ironbark.local/id-in/cse-in",
};
#define FUZZ_NPATHS (sizeof fuzz_paths / sizeof *fuzz_paths)

/* An in-memory CSE (no loop, no files) holding an AE with a container of
 * two instances, a subscription, a group and an ACP. Aborts when the tree
 * cannot be built: the target would test nothing. */
static inline void fuzz_cse_open(struct cse *cse)
{
    FUZZ_CHECK(unit_cse_open(cse) == 0);
    outbound_set_sender(cse, "http://", fuzz_send, fuzz_send_blocking);
    outbound_set_sender(cse, "coap://", fuzz_send, fuzz_send_blocking);
    fuzz_quiet();
    static const struct { const char *to, *fr; int ty; const char *body; } tree[] = {
        { "cse-in", "CAdmin", 1, "{\"m2m:acp\":{\"rn\":\"acp\",\"pv\":{\"acr\":[{\"acor\":[\"Cfuzz\"],"
          "\"acop\":63}]},\"pvs\":{\"acr\":[{\"acor\":[\"CAdmin\"],\"acop\":63}]}}}" },
        { "cse-in", "Cfuzz", 2, "{\"m2m:ae\":{\"rn\":\"fuzzae\",\"api\":\"Nfuzz\",\"rr\":true,"
          "\"srv\":[\"3\"],\"lbl\":[\"a\",\"b:c\"],\"poa\":[\"http://127.0.0.1:9/\"]}}" },
        { "cse-in/fuzzae", "Cfuzz", 3, "{\"m2m:cnt\":{\"rn\":\"cnt\",\"lbl\":[\"x\"],\"mni\":5}}" },
        { "cse-in/fuzzae/cnt", "Cfuzz", 4, "{\"m2m:cin\":{\"con\":\"42\",\"cnf\":\"text/plain:0\","
          "\"lbl\":[\"k:v\"]}}" },
        { "cse-in/fuzzae/cnt", "Cfuzz", 4, "{\"m2m:cin\":{\"rn\":\"second\",\"con\":{\"a\":[1,2]}}}" },
        { "cse-in/fuzzae/cnt", "Cfuzz", 23, "{\"m2m:sub\":{\"rn\":\"sub\",\"nu\":[\"http://127.0.0.1:9/n\"],"
          "\"enc\":{\"net\":[1,3]}}}" },
        { "cse-in/fuzzae", "Cfuzz", 9, "{\"m2m:grp\":{\"rn\":\"grp\",\"mt\":0,\"mnm\":10,"
          "\"mid\":[\"cse-in/fuzzae/cnt\"]}}" },
    };
    for (size_t i = 0; i < sizeof tree / sizeof *tree; i++) {
        int rsc = fuzz_run(cse, OP_CREATE, tree[i].to, tree[i].fr, tree[i].ty, tree[i].body);
        if (rsc != RSC_CREATED) fprintf(stderr, "fixture %zu: %d\n", i, rsc);
        FUZZ_CHECK(rsc == RSC_CREATED);
    }
}

#endif
