/* m2m-das's pure parts: the dreq parser with every spelling and every
 * refusal (das/consult.h) and the rule match over who, what, where and
 * when (das/rules.h). The server itself: test_das_server.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "das/consult.h"
#include "das/rules.h"
#include "cse/core/rsc.h"

#include <string.h>

#define DEV "//ironbark.local/id-in/CAE1"
#define TRID "//ironbark.local/id-in/cse-in/room1/temp"

static int parse(const char *text, struct das_dreq *q, json_t **keep)
{
    char err[200];
    *keep = json_loads(text, 0, NULL);
    assert_non_null(*keep);
    return das_parse_seci(*keep, q, err, sizeof err);
}

static void seci_spellings(void **state)
{
    (void)state;
    struct das_dreq q;
    json_t *pc;
    assert_int_equal(parse("{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"" DEV "\",\"op\":2,\"trid\":\"" TRID "\","
                           "\"oip\":{\"ip4\":\"10.0.0.1\"},\"rids\":[\"r@das.x\"]}}}", &q, &pc), 0);
    assert_string_equal(q.originator, DEV);
    assert_int_equal(q.op, 2);
    assert_string_equal(q.target, TRID);
    assert_string_equal(q.ip4, "10.0.0.1");
    assert_null(q.ip6);
    assert_int_equal(q.nrids, 1);
    json_decref(pc);
    /* KETI's and older spellings: daq, org, oid, ipv6. */
    assert_int_equal(parse("{\"m2m:seci\":{\"sit\":1,\"daq\":{\"org\":\"" DEV "\",\"tirt\":4,\"op\":1,"
                           "\"trid\":\"x\",\"oid\":{\"ipv6\":\"fd00::1\"}}}}", &q, &pc), 0);
    assert_string_equal(q.originator, DEV);
    assert_string_equal(q.ip6, "fd00::1");
    json_decref(pc);
    assert_int_equal(parse("{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"a\",\"op\":5,\"trid\":\"x\",\"oip\":\"::1\"}}}",
                           &q, &pc), 0);
    assert_string_equal(q.ip6, "::1");
    json_decref(pc);
    /* Token by ID needs neither op nor trid. */
    assert_int_equal(parse("{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"a\",\"tids\":[\"t@das.x\",\"u@das.x\"]}}}",
                           &q, &pc), 0);
    assert_int_equal(q.ntids, 2);
    json_decref(pc);
}

static void seci_refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{}",
        "{\"m2m:seci\":[]}",
        "{\"m2m:seci\":{\"dreq\":{}}}",
        "{\"m2m:seci\":{\"sit\":2,\"dres\":{}}}",
        "{\"m2m:seci\":{\"sit\":\"1\",\"dreq\":{\"or\":\"a\",\"op\":2,\"trid\":\"x\"}}}",
        "{\"m2m:seci\":{\"sit\":1}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":[]}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"op\":2,\"trid\":\"x\"}}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"\",\"op\":2,\"trid\":\"x\"}}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":7,\"op\":2,\"trid\":\"x\"}}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"a\",\"op\":0,\"trid\":\"x\"}}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"a\",\"op\":6,\"trid\":\"x\"}}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"a\",\"op\":2}}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"a\",\"trid\":\"x\"}}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"a\",\"op\":2,\"trid\":\"x\",\"oip\":7}}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"a\",\"op\":2,\"trid\":\"x\",\"oip\":{\"ip4\":1}}}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"a\",\"tids\":\"t@das.x\"}}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"a\",\"tids\":[1]}}}",
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"a\",\"op\":2,\"trid\":\"x\",\"rids\":{}}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct das_dreq q;
        json_t *pc;
        assert_int_equal(parse(bad[i], &q, &pc), RSC_BAD_REQUEST);
        json_decref(pc);
    }
    /* Bounds: 17 token IDs, a 513-character originator. */
    json_t *pc = json_pack("{s:{s:i,s:{s:s,s:[]}}}", "m2m:seci", "sit", 1, "dreq", "or", "a", "tids");
    json_t *tids = json_object_get(json_object_get(json_object_get(pc, "m2m:seci"), "dreq"), "tids");
    for (int i = 0; i < 17; i++) json_array_append_new(tids, json_string("t@das.x"));
    struct das_dreq q;
    char err[200], longid[600];
    assert_int_equal(das_parse_seci(pc, &q, err, sizeof err), RSC_BAD_REQUEST);
    json_decref(pc);
    memset(longid, 'a', 513);
    longid[513] = 0;
    pc = json_pack("{s:{s:i,s:{s:s,s:i,s:s}}}", "m2m:seci", "sit", 1, "dreq", "or", longid, "op", 2, "trid", "x");
    assert_int_equal(das_parse_seci(pc, &q, err, sizeof err), RSC_BAD_REQUEST);
    json_decref(pc);
}

static bool holds_operator(void *data, const char *role)
{
    (void)data;
    return !strcmp(role, "operator@das.x");
}

static struct das_subject subject(const char *who, int op_bit, const char *ip4)
{
    return (struct das_subject){ .originator = who, .op_bit = op_bit, .target = TRID, .ip4 = ip4,
                                 /* 2026-12-06 10:30:00 UTC */
                                 .now_us = 1796553000LL * 1000000, .holds_role = holds_operator };
}

static enum das_match match(const char *rule_text, const struct das_subject *s)
{
    json_t *rule = json_loads(rule_text, 0, NULL);
    assert_non_null(rule);
    const char *why = NULL;
    enum das_match m = das_rule_match(rule, s, &why);
    if (m != DAS_MATCH) assert_non_null(why);
    json_decref(rule);
    return m;
}

static void rule_match(void **state)
{
    (void)state;
    struct das_subject s = subject(DEV, 2, "10.1.2.3");
    const char *base = "{\"orp\":[\"//ironbark.local/id-in/C*\"],\"acop\":18,\"trp\":[\"//ironbark.local/id-in/cse-in/*\"]}";
    assert_int_equal(match(base, &s), DAS_MATCH);     /* '*' crosses '/' in targets */
    s.op_bit = 4;
    assert_int_equal(match(base, &s), DAS_NOT_APPLICABLE);
    s = subject("//ironbark.local/id-other/CAE1", 2, NULL);
    assert_int_equal(match(base, &s), DAS_NOT_APPLICABLE);
    s = subject(DEV, 2, NULL);
    s.target = "//ironbark.local/id-in/other/x";
    assert_int_equal(match(base, &s), DAS_NOT_APPLICABLE);

    /* Roles. */
    s = subject("//ironbark.local/id-in/Cnobody", 2, NULL);
    assert_int_equal(match("{\"rlid\":[\"operator@das.x\"],\"acop\":2,\"trp\":[\"*\"]}", &s), DAS_MATCH);
    assert_int_equal(match("{\"rlid\":[\"guest@das.x\"],\"acop\":2,\"trp\":[\"*\"]}", &s), DAS_NOT_APPLICABLE);

    /* Contexts. */
    s = subject(DEV, 2, "10.1.2.3");
    assert_int_equal(match("{\"orp\":[\"*\"],\"acop\":2,\"trp\":[\"*\"],\"acip\":{\"ipv4\":[\"10.0.0.0/8\"]}}", &s),
                     DAS_MATCH);
    assert_int_equal(match("{\"orp\":[\"*\"],\"acop\":2,\"trp\":[\"*\"],\"acip\":{\"ipv4\":[\"192.168.0.0/16\"]}}", &s),
                     DAS_CONTEXT_DENIED);
    s.ip4 = NULL;
    assert_int_equal(match("{\"orp\":[\"*\"],\"acop\":2,\"trp\":[\"*\"],\"acip\":{\"ipv4\":[\"10.0.0.0/8\"]}}", &s),
                     DAS_CONTEXT_DENIED);
    s.ip6 = "fd00::5";
    assert_int_equal(match("{\"orp\":[\"*\"],\"acop\":2,\"trp\":[\"*\"],\"acip\":{\"ipv6\":[\"fd00::/8\"]}}", &s),
                     DAS_MATCH);
    assert_int_equal(match("{\"orp\":[\"*\"],\"acop\":2,\"trp\":[\"*\"],\"ctw\":[\"* * 10 * * * *\"]}", &s), DAS_MATCH);
    assert_int_equal(match("{\"orp\":[\"*\"],\"acop\":2,\"trp\":[\"*\"],\"ctw\":[\"* * 22 * * * *\",\"* * 3 * * * *\"]}", &s),
                     DAS_CONTEXT_DENIED);
    assert_int_equal(match("{\"orp\":[\"*\"],\"acop\":2,\"trp\":[\"*\"],\"aut\":true}", &s), DAS_CONTEXT_DENIED);
    s.authenticated = true;
    assert_int_equal(match("{\"orp\":[\"*\"],\"acop\":2,\"trp\":[\"*\"],\"aut\":true}", &s), DAS_MATCH);

    /* A record kept past the end of the rule it holds (an m2m-ppm consent's cet). */
    assert_int_equal(match("{\"orp\":[\"*\"],\"acop\":2,\"trp\":[\"*\"],\"cet\":\"20261206T103001\"}", &s),
                     DAS_MATCH);
    assert_int_equal(match("{\"orp\":[\"*\"],\"acop\":2,\"trp\":[\"*\"],\"cet\":\"20261206T103000\"}", &s),
                     DAS_NOT_APPLICABLE);
    assert_int_equal(match("{\"orp\":[\"*\"],\"acop\":2,\"trp\":[\"*\"],\"cet\":\"soon\"}", &s), DAS_NOT_APPLICABLE);
}

static void patterns(void **state)
{
    (void)state;
    assert_true(das_pattern_match("*", "//sp/id-in/a/b"));
    assert_true(das_pattern_match("//sp/id-in/C?", "//sp/id-in/C1"));
    assert_false(das_pattern_match("//sp/id-in/C?", "//sp/id-in/C12"));
    assert_false(das_pattern_match(NULL, "x"));
    assert_false(das_pattern_match("x", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seci_spellings),
        cmocka_unit_test(seci_refusals),
        cmocka_unit_test(rule_match),
        cmocka_unit_test(patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
