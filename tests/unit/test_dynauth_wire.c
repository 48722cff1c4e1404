/* The dynamic-authorization parameters on the wire, both directions of both
 * bindings, without sockets: tqf as the body of a 4103 (no debug text) and
 * ati as X-M2M-ATI / CoAP option 327 from the CSE's response codecs, read
 * back by the m2m client's decoders; tokens, tids, ltids, rids, tqi from the
 * client's request codecs, read back by the CSE's request mapping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cse/core/rsc.h"
#include "cse/core/token_syntax.h"
#include "cse/wire/coap_map.h"
#include "cse/wire/http.h"
#include "cse/wire/http_binding.h"
#include "cse/wire/http_codec.h"
#include "tools/client.h"
#include "tools/client_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const TQF = "{\"dasi\":[{\"uri\":\"http://127.0.0.1:8281/~/id-das/das-in\"}]}";
static const char *const ATI = "lt1:t-1@das.ironbark.local+lt2:t-2@das.ironbark.local";

/* A 4103 as the decider leaves it: an m2m:dbg pc, and tqf and ati. */
static void denied(struct m2m_request *req, struct m2m_response *rsp)
{
    m2m_request_init(req);
    m2m_response_init(rsp);
    req->op = OP_RETRIEVE;
    req->rqi = strdup("r-1");
    req->rvi = strdup("3");
    m2m_error(rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "access denied");
    rsp->tqf = json_loads(TQF, 0, NULL);
    rsp->ati = strdup(ATI);
}

static void http_response_carries_tqf_and_ati(void **state)
{
    (void)state;
    struct m2m_request req;
    struct m2m_response rsp;
    denied(&req, &rsp);
    static struct http_response h;
    memset(&h, 0, sizeof h);
    http_from_primitive(&req, &rsp, &h);
    assert_int_equal(h.status, 403);
    assert_string_equal(h.content_type, "application/json");
    assert_non_null(strstr(h.headers, "X-M2M-RSC: 4103\r\n"));
    assert_non_null(strstr(h.headers, "X-M2M-ATI: lt1:t-1@das.ironbark.local+lt2:t-2@das.ironbark.local\r\n"));
    assert_string_equal(h.body, TQF);                  /* the tqf alone: no m2m:dbg */
    assert_null(strstr(h.body, "m2m:dbg"));

    /* The m2m client reads it back. */
    char raw[8192];
    int n = snprintf(raw, sizeof raw, "HTTP/1.1 403 Forbidden\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
                     h.headers, h.content_type, h.body_len, h.body);
    struct client_response c = { 0 };
    char err[128];
    assert_int_equal(client_http_parse(raw, (size_t)n, &c, err, sizeof err), 0);
    assert_int_equal(c.rsc, 4103);
    assert_string_equal(c.ati, ATI);
    assert_string_equal(c.body, TQF);
    char canonical[256];
    assert_int_equal(http_codec_ati(c.ati, canonical, sizeof canonical), (int)strlen(ATI));
    assert_string_equal(canonical, ATI);
    client_response_clear(&c);
    free(h.body);
    m2m_request_clear(&req);
    m2m_response_clear(&rsp);
}

static void coap_response_carries_tqf_and_ati(void **state)
{
    (void)state;
    struct m2m_request req;
    struct m2m_response rsp;
    denied(&req, &rsp);
    static struct coap_msg_out out;
    coap_msg_out_init(&out);
    coap_from_primitive(&req, &rsp, &out);
    assert_int_equal(out.code, 4 << 5 | 3);
    assert_int_equal(out.content_format, COAP_CF_JSON);
    assert_string_equal(out.payload, TQF);

    /* Every option through the client's decoder, as libcoap hands them over. */
    struct client_response c = { 0 };
    char location[256] = "";
    int seen_ati = 0;
    for (int i = 0; i < out.nopts; i++) {
        seen_ati += out.opts[i].number == 327;
        client_coap_option(&c, location, sizeof location, out.opts[i].number, out.optbuf + out.opts[i].off,
                           out.opts[i].len);
    }
    assert_int_equal(seen_ati, 1);
    assert_int_equal(c.rsc, 4103);
    assert_string_equal(c.ati, ATI);
    assert_true(coap_is_onem2m_option(327));
    assert_string_equal(coap_onem2m_option_name(327), "ATI");
    client_response_clear(&c);
    coap_msg_out_clear(&out);
    m2m_request_clear(&req);
    m2m_response_clear(&rsp);
}

/* Without tqf the content goes out as before; without ati no header. */
static void nothing_added_when_absent(void **state)
{
    (void)state;
    struct m2m_request req;
    struct m2m_response rsp;
    m2m_request_init(&req);
    m2m_response_init(&rsp);
    req.op = OP_RETRIEVE;
    m2m_error(&rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "access denied");
    static struct http_response h;
    memset(&h, 0, sizeof h);
    http_from_primitive(&req, &rsp, &h);
    assert_null(strstr(h.headers, "X-M2M-ATI"));
    assert_non_null(strstr(h.body, "m2m:dbg"));
    free(h.body);
    static struct coap_msg_out out;
    coap_msg_out_init(&out);
    coap_from_primitive(&req, &rsp, &out);
    for (int i = 0; i < out.nopts; i++) assert_int_not_equal(out.opts[i].number, 327);
    coap_msg_out_clear(&out);
    m2m_request_clear(&req);
    m2m_response_clear(&rsp);
}

static const char *const JWT1 = "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ0MSJ9.c2ln";
static const char *const JWT2 = "eyJhbGciOiJkaXIifQ..aXY.Y2lw.dGFn";

static struct m2m_request outgoing(void)
{
    static char tokens[256];
    snprintf(tokens, sizeof tokens, "%s+%s", JWT1, JWT2);
    struct m2m_request r = { .op = OP_RETRIEVE, .to = "cse-in/ae", .fr = "Cae", .rqi = "q1", .tokens = tokens,
                             .tids = "t1@das.example+t2@das.example", .ltids = "lt1", .rids = "reader@roles.example",
                             .tqi = true };
    return r;
}

static void http_request_round_trip(void **state)
{
    (void)state;
    struct m2m_request r = outgoing();
    static char headers[TOKENS_MAX_BYTES + 1024];
    char query[512], target[1024], auth[512];
    assert_true(http_codec_headers(&r, false, headers, sizeof headers) > 0);
    snprintf(auth, sizeof auth, "Authorization: %s+%s\r\n", JWT1, JWT2);
    assert_non_null(strstr(headers, auth));
    assert_true(http_codec_query(&r, query, sizeof query) > 0);
    assert_string_equal(query, "tids=t1@das.example+t2@das.example&ltids=lt1&rids=reader@roles.example&tqi=true");
    char small[16];
    assert_int_equal(http_codec_query(&r, small, sizeof small), -1);

    /* The CSE's request mapping reads what the client wrote. */
    snprintf(target, sizeof target, "/cse-in/ae?%s", query);
    snprintf(auth, sizeof auth, "Bearer %s + %s", JWT1, JWT2);   /* RFC 6750 scheme, spaced as TS-0009 shows */
    struct http_request h = { .method = "GET", .target = target, .nheaders = 3,
                              .headers = { { "X-M2M-Origin", "Cae" }, { "X-M2M-RI", "q1" }, { "authorization", auth } } };
    struct m2m_request in;
    struct m2m_response rsp;
    m2m_request_init(&in);
    m2m_response_init(&rsp);
    assert_int_equal(http_head_to_primitive(&h, &in, &rsp), 0);
    assert_string_equal(in.tokens, r.tokens);
    assert_string_equal(in.tids, r.tids);
    assert_string_equal(in.ltids, "lt1");
    assert_string_equal(in.rids, "reader@roles.example");
    assert_true(in.tqi);
    m2m_request_clear(&in);
    m2m_response_clear(&rsp);
}

static int http_head(const char *target, const char *auth, struct m2m_response *rsp)
{
    struct http_request h = { .method = "GET", .target = target, .nheaders = auth ? 2 : 1,
                              .headers = { { "X-M2M-RI", "q" }, { "Authorization", auth } } };
    struct m2m_request in;
    m2m_request_init(&in);
    m2m_response_init(rsp);
    int rc = http_head_to_primitive(&h, &in, rsp);
    m2m_request_clear(&in);
    return rc;
}

static void http_request_refusals(void **state)
{
    (void)state;
    struct m2m_response rsp;
    static char huge[TOKENS_MAX_BYTES + 64];
    memset(huge, 'A', sizeof huge - 1);
    huge[100] = huge[200] = '.';
    const char *bad_auth[] = { "Basic dXNlcjpwYXNz", "a.b.c+\"x\"", "", "Bearer ", huge,
                               "a.b.c+a.b.c+a.b.c+a.b.c+a.b.c+a.b.c+a.b.c+a.b.c+a.b.c" };
    for (size_t i = 0; i < sizeof bad_auth / sizeof *bad_auth; i++) {
        assert_int_equal(http_head("/cse-in", bad_auth[i], &rsp), RSC_BAD_REQUEST);
        assert_non_null(json_object_get(rsp.pc, "m2m:dbg"));
        m2m_response_clear(&rsp);
    }
    assert_int_equal(http_head("/cse-in", "abc.def", &rsp), 0);   /* truncated: the verifier's 4103 */
    m2m_response_clear(&rsp);
    const char *bad_query[] = { "/cse-in?tkns=a.b.c", "/cse-in?tids=nope", "/cse-in?ltids=9x", "/cse-in?tqi=yes",
                                "/cse-in?tids=a@b.c&tids=a@b.c&tids=a@b.c&tids=a@b.c&tids=a@b.c&tids=a@b.c"
                                "&tids=a@b.c&tids=a@b.c&tids=a@b.c" };
    for (size_t i = 0; i < sizeof bad_query / sizeof *bad_query; i++) {
        assert_int_equal(http_head(bad_query[i], NULL, &rsp), RSC_BAD_REQUEST);
        m2m_response_clear(&rsp);
    }
}

static void coap_request_round_trip(void **state)
{
    (void)state;
    struct m2m_request r = outgoing();
    static struct coap_msg_out out;
    coap_msg_out_init(&out);
    assert_int_equal(coap_request_from_primitive(&r, NULL, "rcn=1", false, &out), 0);
    /* Back in as the CSE receives it. */
    static struct coap_msg_in in;
    memset(&in, 0, sizeof in);
    in.code = out.code;
    int queries = 0;
    for (int i = 0; i < out.nopts; i++) {
        in.opts[in.nopts].number = out.opts[i].number;
        in.opts[in.nopts].value = out.optbuf + out.opts[i].off;
        in.opts[in.nopts].len = out.opts[i].len;
        in.nopts++;
        queries += out.opts[i].number == COAPOPT_URI_QUERY;
    }
    assert_int_equal(queries, 6);   /* rcn, tkns, tids, ltids, rids, tqi */
    for (int i = 1; i < out.nopts; i++) assert_true(out.opts[i - 1].number <= out.opts[i].number);
    struct m2m_request got;
    struct m2m_response rsp;
    m2m_request_init(&got);
    m2m_response_init(&rsp);
    assert_int_equal(coap_to_primitive(&in, &got, &rsp), 0);
    assert_string_equal(got.tokens, r.tokens);
    assert_string_equal(got.tids, r.tids);
    assert_string_equal(got.ltids, "lt1");
    assert_string_equal(got.rids, "reader@roles.example");
    assert_true(got.tqi);
    assert_int_equal(got.rcn, 1);
    m2m_request_clear(&got);
    m2m_response_clear(&rsp);
    coap_msg_out_clear(&out);
}

static void ati_text(void **state)
{
    (void)state;
    json_t *a = ati_parse("lt1:t1@das.example + lt2:t2@das.example");
    assert_non_null(a);
    assert_int_equal(json_array_size(json_object_get(a, "ltia")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(a, "ltia"), 1), "tkid")),
                        "t2@das.example");
    char *text = ati_format(a);
    assert_string_equal(text, "lt1:t1@das.example+lt2:t2@das.example");
    free(text);
    json_decref(a);
    const char *bad[] = { "", "lt1", "lt1:", ":t1@d.e", "1lt:t1@d.e", "lt1:t1", "lt1:t1@d.e+junk" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_null(ati_parse(bad[i]));
    json_t *wrong = json_pack("{s:[{s:s}]}", "ltia", "lti", "x");
    assert_null(ati_format(wrong));
    json_decref(wrong);
    char out[8];
    assert_int_equal(http_codec_ati(NULL, out, sizeof out), 0);
    assert_int_equal(http_codec_ati("lt1:t1@das.example", out, sizeof out), -1);   /* does not fit */
    assert_int_equal(http_codec_ati("garbage", out, sizeof out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(http_response_carries_tqf_and_ati), cmocka_unit_test(coap_response_carries_tqf_and_ati),
        cmocka_unit_test(nothing_added_when_absent), cmocka_unit_test(http_request_round_trip),
        cmocka_unit_test(http_request_refusals), cmocka_unit_test(coap_request_round_trip),
        cmocka_unit_test(ati_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
