/* The messages of dynamic authorization (security/das_msg.h): the
 * consultation's dreq as TS-0004 names it, the answers a DAS may send in
 * its own spelling (TS-0004, KETI's bare gp array, acco object, acaf
 * "TRUE"), tqf, and the absolute IDs the DAS compares. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "security/acr.h"
#include "security/das_msg.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    assert_non_null(v);
    return v;
}

static void assert_json(json_t *got, const char *want_text)
{
    json_t *want = parse(want_text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        fail_msg("got %s, want %s", g, want_text);
    }
    json_decref(want);
}

static void consultation_has_every_member(void **state)
{
    (void)state;
    json_t *rfa = parse("[\"reader@roles.example\"]");
    struct das_facts f = { "//ironbark.local/id-in/Cviewer", 3, 2, "127.0.0.1", "20260101T101500,000000",
                           "//ironbark.local/id-in/cse-in/meter/power", "20260101T111500", rfa,
                           "r1@roles.example,r2@roles.example", "t1@das.example+t2@das.example" };
    json_t *c = das_consultation(&f);
    assert_json(c, "{\"m2m:seci\":{\"sit\":1,\"dreq\":{\"or\":\"//ironbark.local/id-in/Cviewer\",\"trt\":3,\"op\":2,"
                   "\"oip\":{\"ip4\":\"127.0.0.1\"},\"rts\":\"20260101T101500,000000\","
                   "\"trid\":\"//ironbark.local/id-in/cse-in/meter/power\",\"ppl\":\"20260101T111500\","
                   "\"rfa\":[\"reader@roles.example\"],\"orid\":[\"r1@roles.example\",\"r2@roles.example\"],"
                   "\"tids\":[\"t1@das.example\",\"t2@das.example\"]}}}");
    json_decref(c);
    json_decref(rfa);
}

static void consultation_leaves_out_what_is_absent(void **state)
{
    (void)state;
    struct das_facts f = { "//sp/id-in/C1", 0, 4, "::1", NULL, "//sp/id-in/cse-in", "", NULL, NULL, NULL };
    json_t *d = das_dreq(&f);
    /* An IPv6 peer is ip6; no trt, ppl, rfa, orid or tids when there is none. */
    assert_json(d, "{\"or\":\"//sp/id-in/C1\",\"op\":4,\"oip\":{\"ip6\":\"::1\"},\"trid\":\"//sp/id-in/cse-in\"}");
    json_decref(d);
}

static void lists_split_on_plus_comma_and_space(void **state)
{
    (void)state;
    json_t *l = das_split_list("a+b, c  d,,+");
    assert_json(l, "[\"a\",\"b\",\"c\",\"d\"]");
    json_decref(l);
    l = das_split_list(NULL);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
}

static void answer_in_ts0004_shape(void **state)
{
    (void)state;
    json_t *a = parse("{\"m2m:seci\":{\"sit\":2,\"dres\":{\"dai\":{\"gp\":{\"acr\":[{\"acor\":[\"//sp/id-in/C1\"],"
                      "\"acop\":2}]},\"pl\":\"20260101T111500\"},\"tkns\":[\"a.b.c\"]}}}");
    struct das_answer out;
    char err[200];
    assert_int_equal(das_answer_parse(a, &out, err, sizeof err), 0);
    assert_json(out.gp, "{\"acr\":[{\"acor\":[\"//sp/id-in/C1\"],\"acop\":2}]}");
    assert_string_equal(out.pl, "20260101T111500");
    assert_json(out.tkns, "[\"a.b.c\"]");
    das_answer_clear(&out);
    json_decref(a);
}

static void answer_in_keti_spelling(void **state)
{
    (void)state;
    /* KETI: gp a bare list of rules, acco one object, acaf the string "TRUE". */
    json_t *a = parse("{\"m2m:seci\":{\"sit\":2,\"dres\":{\"dai\":{\"gp\":[{\"acor\":[\"C1\"],\"acop\":3,"
                      "\"acco\":{\"acip\":{\"ipv4\":[\"127.0.0.1\"]}},\"acaf\":\"TRUE\"}],\"pl\":\"20260101T111500\"}}}}");
    struct das_answer out;
    char err[200];
    assert_int_equal(das_answer_parse(a, &out, err, sizeof err), 0);
    assert_json(out.gp, "{\"acr\":[{\"acor\":[\"C1\"],\"acop\":3,\"acco\":[{\"acip\":{\"ipv4\":[\"127.0.0.1\"]}}],"
                        "\"acaf\":true}]}");
    /* What comes out is a rule set the ACP evaluator takes as it is. */
    struct acr_set *set = acr_parse(out.gp, NULL, NULL, err, sizeof err);
    assert_non_null(set);
    assert_int_equal(acr_count(set), 1);
    acr_free(set);
    assert_null(out.tkns);
    das_answer_clear(&out);
    json_decref(a);
}

static void answer_without_grant(void **state)
{
    (void)state;
    struct das_answer out;
    char err[200];
    /* No content at all, a bare seci without dres, a dres without dai. */
    assert_int_equal(das_answer_parse(NULL, &out, err, sizeof err), 0);
    assert_null(out.gp);
    json_t *a = parse("{\"sit\":2}");
    assert_int_equal(das_answer_parse(a, &out, err, sizeof err), 0);
    assert_null(out.gp);
    json_decref(a);
    a = parse("{\"m2m:seci\":{\"sit\":2,\"dres\":{}}}");
    assert_int_equal(das_answer_parse(a, &out, err, sizeof err), 0);
    assert_null(out.gp);
    assert_null(out.tkns);
    json_decref(a);
}

static void garbage_answers_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"m2m:seci\":{\"sit\":1,\"dreq\":{}}}",        /* a request, not an answer */
        "{\"m2m:seci\":{\"dres\":{}}}",                   /* no sit */
        "{\"m2m:seci\":{\"sit\":\"2\",\"dres\":{}}}",     /* sit not a number */
        "[1,2]",
        "\"granted\"",
        "{\"m2m:seci\":{\"sit\":2,\"dres\":[]}}",
        "{\"m2m:seci\":{\"sit\":2,\"dres\":{\"dai\":{\"gp\":\"all\"}}}}",
        "{\"m2m:seci\":{\"sit\":2,\"dres\":{\"dai\":{\"gp\":{\"acr\":[]},\"pl\":5}}}}",
        "{\"m2m:seci\":{\"sit\":2,\"dres\":{\"tkns\":[1]}}}",
        "{\"m2m:seci\":{\"sit\":2,\"dres\":{\"tkns\":\"a.b.c\"}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *a = parse(bad[i]);
        struct das_answer out;
        char err[200] = "";
        assert_int_equal(das_answer_parse(a, &out, err, sizeof err), -1);
        assert_true(err[0]);
        assert_null(out.gp);
        assert_null(out.tkns);
        json_decref(a);
    }
}

static void token_request_info(void **state)
{
    (void)state;
    json_t *dreq = parse("{\"or\":\"//sp/id-in/C1\",\"op\":2}");
    json_t *tqf = das_token_request_info("http://127.0.0.1:8281/~/id-das/das-in", dreq);
    assert_json(tqf, "{\"dasi\":[{\"uri\":\"http://127.0.0.1:8281/~/id-das/das-in\",\"dreq\":{\"or\":\"//sp/id-in/C1\",\"op\":2}}]}");
    json_decref(tqf);
    json_decref(dreq);
}

static void absolute_ids(void **state)
{
    (void)state;
    char out[200];
    assert_true(das_absolute("Ironbark.Local", "/id-in", "CAE1", out, sizeof out));
    assert_string_equal(out, "//ironbark.local/id-in/CAE1");
    assert_true(das_absolute("ironbark.local", "/id-in", "/id-in/CAE1", out, sizeof out));
    assert_string_equal(out, "//ironbark.local/id-in/CAE1");
    assert_true(das_absolute("ironbark.local", "/id-in", "//Other.SP/id-x/C9", out, sizeof out));
    assert_string_equal(out, "//other.sp/id-x/C9");
    assert_true(das_absolute("ironbark.local", "/id-in", "cse-in/meter", out, sizeof out));
    assert_string_equal(out, "//ironbark.local/id-in/cse-in/meter");
    assert_true(das_absolute("ironbark.local", "/id-in", "/id-in", out, sizeof out));
    assert_string_equal(out, "//ironbark.local/id-in");
    assert_false(das_absolute("ironbark.local", "/id-in", "", out, sizeof out));
    assert_false(das_absolute("ironbark.local", "/id-in", "CAE1", out, 10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(consultation_has_every_member),
        cmocka_unit_test(consultation_leaves_out_what_is_absent),
        cmocka_unit_test(lists_split_on_plus_comma_and_space),
        cmocka_unit_test(answer_in_ts0004_shape),
        cmocka_unit_test(answer_in_keti_spelling),
        cmocka_unit_test(answer_without_grant),
        cmocka_unit_test(garbage_answers_are_refused),
        cmocka_unit_test(token_request_info),
        cmocka_unit_test(absolute_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
