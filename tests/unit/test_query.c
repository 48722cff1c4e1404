/* Query parameter mapping shared by the HTTP and CoAP bindings
 * (m2m_apply_query) and percent-decoding (m2m_percent_decode). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cse/core/primitive.h"
#include "cse/core/rsc.h"
#include "resources/registry.h"

static struct m2m_request req;

static int fresh(void **state)
{
    (void)state;
    m2m_request_init(&req);
    return 0;
}

static int release(void **state)
{
    (void)state;
    m2m_request_clear(&req);
    return 0;
}

/* Which keys name attributes is settled against the CSE's types once the
 * query is read (m2m_query_attributes_known): a query is both steps. */
static bool core_attribute(const void *ctx, const char *sn)
{
    (void)ctx;
    static struct registry core;
    if (!core.n) registry_init_core(&core);
    return registry_is_attribute_name(&core, sn);
}

static int query(const char *k, const char *v)
{
    int rc = m2m_apply_query(&req, k, v);
    return rc ? rc : m2m_query_attributes_known(&req, core_attribute, NULL);
}

#define APPLY(k, v) assert_int_equal(query(k, v), 0)
#define REJECT(k, v) assert_int_equal(query(k, v), RSC_BAD_REQUEST)

static void defaults(void **state)
{
    (void)state;
    assert_int_equal(req.rcn, -1);
    assert_int_equal(req.drt, 1);
    assert_int_equal(req.fc.fu, 2);
    assert_int_equal(req.fc.fo, 1);
    assert_int_equal(req.fc.lim, -1);
    assert_false(req.fc.present);
}

static void scalars(void **state)
{
    (void)state;
    APPLY("rcn", "0"); assert_int_equal(req.rcn, 0);
    APPLY("rcn", "12"); assert_int_equal(req.rcn, 12);
    REJECT("rcn", "13"); REJECT("rcn", "-1"); REJECT("rcn", "x"); REJECT("rcn", ""); REJECT("rcn", "1x");
    APPLY("rt", "3"); assert_int_equal(req.rt, 3);
    REJECT("rt", "0"); REJECT("rt", "6");
    APPLY("drt", "2"); assert_int_equal(req.drt, 2);
    REJECT("drt", "3");
    assert_false(req.fc.present);              /* none of these is a filter */
    APPLY("fu", "1"); assert_int_equal(req.fc.fu, 1);
    assert_true(req.fc.present);
    REJECT("fu", "0"); REJECT("fu", "5");
    APPLY("fo", "2"); assert_int_equal(req.fc.fo, 2);
    REJECT("fo", "3"); REJECT("fo", "0");
    APPLY("lim", "0"); assert_int_equal(req.fc.lim, 0);
    APPLY("lim", "9223372036854775807");
    REJECT("lim", "9223372036854775808"); REJECT("lim", "-1");
    APPLY("lvl", "1"); REJECT("lvl", "0");
    APPLY("ofst", "1"); REJECT("ofst", "0");
    APPLY("sts", "1"); REJECT("sts", "0");
    APPLY("stb", "0"); assert_int_equal(req.fc.stb, 0);
    APPLY("sza", "0"); APPLY("szb", "1"); REJECT("szb", "0");
    APPLY("rp", "PT1H"); assert_string_equal(req.rp, "PT1H");
    APPLY("rp", "PT2H"); assert_string_equal(req.rp, "PT2H");
    APPLY("rids", "r1");
    APPLY("da", "true"); APPLY("sqi", "0"); REJECT("tqi", "yes");
    /* Issue #9: tids, ltids and tkns are checked now (they were taken as
     * given, "anything" included). */
    REJECT("tids", "anything");
    APPLY("tids", "t1@das.example");
    APPLY("tids", "t2@das.example+t3@das.example");   /* a repeated key adds */
    assert_string_equal(req.tids, "t1@das.example+t2@das.example+t3@das.example");
    REJECT("tids", "t4@DAS.example");
    APPLY("ltids", "lt1 lt2"); assert_string_equal(req.ltids, "lt1+lt2");
    REJECT("ltids", "1lt"); REJECT("ltids", "a:b");
    APPLY("tqi", "1"); assert_true(req.tqi);
    APPLY("tqi", "false"); assert_false(req.tqi);
    APPLY("tkns", "eyJh.eyJi.c2ln+eyJh..aXY.Y2lw.dGFn");
    assert_string_equal(req.tokens, "eyJh.eyJi.c2ln+eyJh..aXY.Y2lw.dGFn");
    APPLY("tkns", "abc.def");   /* truncated: the verifier's to refuse (4103), not the binding's */
    REJECT("tkns", "a\"b");
    REJECT("ltids", "a+b+c+d+e+f+g+h+i");                 /* more than TOKENS_MAX_COUNT */
}

static void timestamps(void **state)
{
    (void)state;
    APPLY("crb", "20250101T000000");
    assert_string_equal(req.fc.crb, "20250101T000000,000000");
    APPLY("cra", "20250101T000000,5");
    assert_string_equal(req.fc.cra, "20250101T000000,500000");
    APPLY("ms", "20250101T000000"); APPLY("us", "20250101T000000");
    APPLY("exb", "20250101T000000"); APPLY("exa", "20250101T000000");
    REJECT("crb", "2025-01-01"); REJECT("exa", "20251301T000000"); REJECT("ms", "");
}

static void lists(void **state)
{
    (void)state;
    APPLY("ty", "2+3");
    APPLY("ty", "4");
    APPLY("ty", "5 16");
    assert_int_equal(req.fc.nty, 5);
    assert_int_equal(req.fc.ty[0], 2);
    assert_int_equal(req.fc.ty[4], 16);
    REJECT("ty", "x"); REJECT("ty", ""); REJECT("ty", "+");
    APPLY("lbl", "a/b+c");
    assert_int_equal(req.fc.nlbl, 2);
    assert_string_equal(req.fc.lbl[1], "c");
    APPLY("chty", "4"); APPLY("pty", "2"); APPLY("clbl", "x"); APPLY("palb", "y"); APPLY("cty", "text/plain");
    assert_int_equal(req.fc.nchty, 1);
    assert_string_equal(req.fc.cty[0], "text/plain");
    /* At most FC_MAX_LIST entries per list. */
    for (int i = 0; i < FC_MAX_LIST - 2; i++) APPLY("lbl", "more");
    REJECT("lbl", "one-too-many");
    APPLY("atrl", "rn+lbl");
    assert_int_equal(req.natrl, 2);
    assert_string_equal(req.atrl[1], "lbl");
    char huge[1100];
    memset(huge, '1', sizeof huge - 1);
    huge[sizeof huge - 1] = 0;
    REJECT("ty", huge);
}

static void attribute_filters_and_unknown_keys(void **state)
{
    (void)state;
    APPLY("rn", "cnt*");
    APPLY("rn", "other");
    APPLY("mni", "5");
    assert_int_equal(req.fc.natr, 3);
    assert_string_equal(req.fc.atr_nm[2], "mni");
    assert_string_equal(req.fc.atr_val[0], "cnt*");
    assert_true(req.fc.present);
    assert_false(req.unknown_query);
    APPLY("bogus", "1");
    assert_true(req.unknown_query);
    assert_string_equal(req.unknown_key, "bogus");
    /* Recognised but not implemented: refused rather than ignored. */
    const char *unsupported[] = { "cfs", "cfq", "smf" };
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
        assert_int_equal(m2m_apply_query(&req, unsupported[i], "x"), RSC_NOT_IMPLEMENTED);
    APPLY("arp", "la");
    assert_string_equal(req.fc.arp, "la");
    /* Attributes with a condition of their own, or not filterable by value. */
    const char *excluded[] = { "ct", "lt", "st", "et", "cs", "cnf" };
    for (size_t i = 0; i < sizeof excluded / sizeof *excluded; i++)
        REJECT(excluded[i], "x");
    REJECT("p.lbl", "x");                      /* palb is the label condition */
}

static void child_parent_attributes(void **state)
{
    (void)state;
    APPLY("c.rn", "cin*");
    APPLY("c.con", "5");
    APPLY("p.rn", "app");
    assert_int_equal(req.fc.ncatr, 2);
    assert_string_equal(req.fc.catr_nm[1], "con");
    assert_string_equal(req.fc.catr_val[0], "cin*");
    assert_int_equal(req.fc.npatr, 1);
    assert_true(req.fc.present);
    REJECT("c.nope", "1");
    REJECT("p.ct", "1");
    REJECT("c.", "1");
}

static void labels_query(void **state)
{
    (void)state;
    const char *good[] = { "site", "site:a", "NT site", "NT+site", "site EQ a", "site+NE+a",
                           "site IN (a, b)", "site NI (a)", "site IN(a,b)", "  site  ", "NT" /* a key named NT */ };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) APPLY("lbq", good[i]);
    assert_int_equal(req.fc.nlbq, (int)(sizeof good / sizeof *good));
    assert_true(req.fc.present);
    const char *bad[] = { "", " ", "NT a b", "site EQ", "site EQ a b", "site XX a",
                          "site IN a", "site IN ()", "site IN (a,)", "site IN (a) x", "site IN (a",
                          ":a", "site:" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (m2m_apply_query(&req, "lbq", bad[i]) != RSC_BAD_REQUEST) fail_msg("accepted lbq \"%s\"", bad[i]);
    }
}

static void percent_decoding(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(m2m_percent_decode("a%2Fb", 5, out, sizeof out), 3);
    assert_string_equal(out, "a/b");
    assert_int_equal(m2m_percent_decode("%41%62", 6, out, sizeof out), 2);
    assert_string_equal(out, "Ab");
    assert_int_equal(m2m_percent_decode("a+b", 3, out, sizeof out), 3);
    assert_string_equal(out, "a+b");              /* '+' is kept */
    assert_int_equal(m2m_percent_decode("abcdef", 3, out, sizeof out), 3);
    assert_string_equal(out, "abc");              /* only len bytes */
    assert_int_equal(m2m_percent_decode("", 0, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(m2m_percent_decode("%", 1, out, sizeof out), -1);
    assert_int_equal(m2m_percent_decode("%4", 2, out, sizeof out), -1);
    assert_int_equal(m2m_percent_decode("%zz", 3, out, sizeof out), -1);
    assert_int_equal(m2m_percent_decode("%00", 3, out, sizeof out), -1);
    assert_int_equal(m2m_percent_decode("%41", 2, out, sizeof out), -1); /* escape cut by len */
    assert_int_equal(m2m_percent_decode("0123456789abcdef", 16, out, sizeof out), -1);
    assert_int_equal(m2m_percent_decode("0123456789abcde", 15, out, sizeof out), 15);
}

/* What a forwarded request carries on (req->query) and via (loop detection). */
static void kept_for_forwarding(void **state)
{
    (void)state;
    APPLY("rcn", "6");
    APPLY("lbl", "a/b");
    APPLY("rp", "x&y z");
    APPLY("drt", "2");
    assert_int_equal(m2m_apply_query(&req, "tkns", "aaa.bbb.ccc"), 0);
    assert_string_equal(req.query, "rcn=6&lbl=a%2Fb&rp=x%26y%20z&drt=2");   /* tokens travel in their header */
    assert_null(req.via);
    APPLY("via", "/id-in+/id-mn1");
    assert_string_equal(req.via, "/id-in+/id-mn1");
    assert_string_equal(req.query, "rcn=6&lbl=a%2Fb&rp=x%26y%20z&drt=2");   /* via is rewritten per hop */
    REJECT("via", "/id-x");                                           /* once only */
}

static void via_malformed(void **state)
{
    (void)state;
    const char *bad[] = { "", "id-in", "/", "/id in", "/id-in/x", "/id-in+", "+/id-in", "/a+/b+/c+/d+/e+/f+/g+/h+/i" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct m2m_request r;
        m2m_request_init(&r);
        if (m2m_apply_query(&r, "via", bad[i]) != RSC_BAD_REQUEST) fail_msg("accepted via \"%s\"", bad[i]);
        assert_null(r.via);
        m2m_request_clear(&r);
    }
    APPLY("via", "/a+/b+/c+/d+/e+/f+/g+/h");                          /* M2M_VIA_MAX */
}

static void percent_encoding(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(m2m_percent_encode("a/b c+@~", out, sizeof out), 12);
    assert_string_equal(out, "a%2Fb%20c+@~");
    assert_int_equal(m2m_percent_encode("", out, sizeof out), 0);
    assert_int_equal(m2m_percent_encode("0123456789abcdef", out, sizeof out), -1);
    assert_int_equal(m2m_percent_encode("0123456789abcd//", out, sizeof out), -1);
    char back[16];
    assert_int_equal(m2m_percent_encode("x&y=z", out, sizeof out), 9);
    assert_int_equal(m2m_percent_decode(out, strlen(out), back, sizeof back), 5);
    assert_string_equal(back, "x&y=z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(defaults, fresh, release),
        cmocka_unit_test_setup_teardown(scalars, fresh, release),
        cmocka_unit_test_setup_teardown(timestamps, fresh, release),
        cmocka_unit_test_setup_teardown(lists, fresh, release),
        cmocka_unit_test_setup_teardown(attribute_filters_and_unknown_keys, fresh, release),
        cmocka_unit_test_setup_teardown(child_parent_attributes, fresh, release),
        cmocka_unit_test_setup_teardown(labels_query, fresh, release),
        cmocka_unit_test_setup_teardown(percent_decoding, fresh, release),
        cmocka_unit_test_setup_teardown(kept_for_forwarding, fresh, release),
        cmocka_unit_test_setup_teardown(via_malformed, fresh, release),
        cmocka_unit_test_setup_teardown(percent_encoding, fresh, release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
