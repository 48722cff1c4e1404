/* Filter criteria (cse/filter.c): every condition, fo AND/OR, same-tag OR,
 * ranges, parent and child conditions through an in-memory store. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cse/core/filter.h"
#include "cse/base/log.h"
#include "cse/core/primitive.h"
#include "cse/core/rsc.h"

static struct resource *mk(int ty, const char *json, const char *path)
{
    struct resource *r = resource_new(ty, json_loads(json, 0, NULL), path);
    assert_non_null(r);
    assert_non_null(r->attrs);
    return r;
}

/* Builds the filter from "k=v&k=v" exactly as a binding would. */
static struct m2m_filter *fc_of(struct m2m_request *req, const char *query)
{
    m2m_request_clear(req);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", query);
    char *save = NULL;
    for (char *kv = strtok_r(buf, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        assert_non_null(eq);
        *eq = 0;
        assert_int_equal(m2m_apply_query(req, kv, eq + 1), 0);
    }
    return &req->fc;
}

static struct resource *cin, *cnt;
static struct m2m_request req;

static int setup(void **state)
{
    (void)state;
    log_set_level(LOG_LVL_ERROR);
    m2m_request_init(&req);
    cnt = mk(3, "{\"ri\":\"cnt1\",\"rn\":\"temp\",\"pi\":\"ae1\",\"ty\":3,\"ct\":\"20250101T000000,000000\","
                "\"lt\":\"20250601T000000,000000\",\"et\":\"20300101T000000,000000\",\"st\":5,"
                "\"lbl\":[\"kind/temp\",\"room/1\"],\"mni\":10,\"disr\":false}", "cse-in/ae/temp");
    cin = mk(4, "{\"ri\":\"cin1\",\"rn\":\"cin_1\",\"pi\":\"cnt1\",\"ty\":4,\"ct\":\"20250301T000000,000000\","
                "\"lt\":\"20250301T000000,000000\",\"et\":\"20260101T000000,000000\",\"st\":3,\"cs\":12,"
                "\"cnf\":\"application/json:0\",\"con\":\"hello\"}", "cse-in/ae/temp/cin_1");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    resource_free(cin);
    resource_free(cnt);
    m2m_request_clear(&req);
    return 0;
}

#define MATCH(res, q) assert_true(filter_match(fc_of(&req, q), NULL, res))
#define NOMATCH(res, q) assert_false(filter_match(fc_of(&req, q), NULL, res))

static void no_conditions(void **state)
{
    (void)state;
    struct m2m_filter *f = fc_of(&req, "fu=1&lim=5&lvl=2&ofst=1");
    assert_false(filter_has_conditions(f));
    assert_true(filter_match(f, NULL, cin));
    assert_true(filter_has_conditions(fc_of(&req, "ty=3")));
    assert_true(filter_has_conditions(fc_of(&req, "rn=x")));
}

static void timestamps(void **state)
{
    (void)state;
    MATCH(cnt, "crb=20250102T000000");
    NOMATCH(cnt, "crb=20250101T000000");       /* ct < crb, strictly */
    MATCH(cnt, "cra=20250101T000000");         /* cra <= ct */
    NOMATCH(cnt, "cra=20250101T000001");
    MATCH(cnt, "ms=20250601T000000");
    NOMATCH(cnt, "ms=20250601T000000,5");
    MATCH(cnt, "us=20250601T000001");
    NOMATCH(cnt, "us=20250601T000000");
    MATCH(cnt, "exb=20300102T000000");
    NOMATCH(cnt, "exb=20291231T000000");
    MATCH(cnt, "exa=20291231T000000");
    NOMATCH(cnt, "exa=20300102T000000");
    MATCH(cnt, "cra=20241231T000000&crb=20250102T000000");
    NOMATCH(cnt, "cra=20250102T000000&crb=20250103T000000");
}

static void state_tags_and_sizes(void **state)
{
    (void)state;
    MATCH(cnt, "sts=6");
    NOMATCH(cnt, "sts=5");
    MATCH(cnt, "stb=5");
    NOMATCH(cnt, "stb=6");
    MATCH(cnt, "stb=4&sts=6");
    MATCH(cin, "sza=12");
    NOMATCH(cin, "sza=13");
    MATCH(cin, "szb=13");
    NOMATCH(cin, "szb=12");
    NOMATCH(cnt, "sza=0");                     /* no cs: a size condition fails */
    MATCH(cin, "sza=10&szb=20");
    NOMATCH(cin, "sza=13&szb=20");
}

static void types_labels_content(void **state)
{
    (void)state;
    MATCH(cnt, "ty=3");
    NOMATCH(cnt, "ty=4");
    MATCH(cnt, "ty=2+3");                      /* same tag: OR */
    MATCH(cnt, "ty=2&ty=3");
    MATCH(cnt, "lbl=room/1");
    MATCH(cnt, "lbl=nope+kind/temp");
    NOMATCH(cnt, "lbl=room/2");
    NOMATCH(cin, "lbl=room/1");                /* no labels at all */
    MATCH(cin, "cty=application/json");
    MATCH(cin, "cty=text/plain+application/json");
    NOMATCH(cin, "cty=application/js");        /* whole media type only */
    NOMATCH(cin, "cty=text/plain");
    NOMATCH(cnt, "cty=application/json");
}

static void attributes(void **state)
{
    (void)state;
    MATCH(cnt, "rn=temp");
    MATCH(cnt, "rn=te*");
    MATCH(cnt, "rn=t?mp");
    MATCH(cnt, "rn=*");
    NOMATCH(cnt, "rn=hum");
    MATCH(cnt, "rn=hum&rn=temp");              /* same name: OR */
    NOMATCH(cnt, "rn=temp&mni=11");            /* different names: AND */
    MATCH(cnt, "rn=temp&mni=11&fo=2");
    MATCH(cnt, "mni=10");
    MATCH(cnt, "mni=1*");
    MATCH(cnt, "disr=false");
    NOMATCH(cnt, "disr=true");
    NOMATCH(cnt, "mbs=10");                    /* absent attribute never matches */
    MATCH(cin, "con=hel*");
}

static void filter_operation(void **state)
{
    (void)state;
    NOMATCH(cnt, "ty=4&lbl=room/1");
    MATCH(cnt, "ty=4&lbl=room/1&fo=2");
    NOMATCH(cnt, "ty=4&lbl=room/2&fo=2");
    MATCH(cnt, "ty=3&lbl=room/1&fo=1");
    MATCH(cnt, "crb=20000101T000000&stb=1&fo=2");
    NOMATCH(cnt, "crb=20000101T000000&stb=1");
    assert_int_equal(m2m_apply_query(&req, "fo", "3"), RSC_BAD_REQUEST); /* XOR is R4 */
}

static void labels_query(void **state)
{
    (void)state;
    struct resource *r = mk(3, "{\"ri\":\"x\",\"lbl\":[\"site:berlin\",\"floor:2\",\"indoor\"]}", "cse-in/x");
    MATCH(r, "lbq=site");
    MATCH(r, "lbq=indoor");
    NOMATCH(r, "lbq=outdoor");
    NOMATCH(r, "lbq=sit");                     /* whole keys only */
    MATCH(r, "lbq=NT outdoor");
    NOMATCH(r, "lbq=NT site");
    MATCH(r, "lbq=site:berlin");
    MATCH(r, "lbq=site EQ berlin");
    NOMATCH(r, "lbq=site EQ paris");
    NOMATCH(r, "lbq=indoor EQ x");
    MATCH(r, "lbq=site NE paris");
    NOMATCH(r, "lbq=site NE berlin");
    NOMATCH(r, "lbq=roof NE x");               /* NE needs the key */
    MATCH(r, "lbq=floor IN (1, 2, 3)");
    NOMATCH(r, "lbq=floor IN (1, 3)");
    MATCH(r, "lbq=floor NI (1, 3)");
    NOMATCH(r, "lbq=floor NI (2)");
    MATCH(r, "lbq=site EQ paris&lbq=floor:2"); /* repeated lbq: ORed */
    NOMATCH(r, "lbq=site EQ paris&lbq=floor:3");
    MATCH(r, "lbq=site&ty=3");
    NOMATCH(r, "lbq=site&ty=4");
    MATCH(r, "lbq=site&ty=4&fo=2");
    MATCH(cin, "lbq=NT x&lbq=x");              /* no labels at all: NT holds */
    NOMATCH(cin, "lbq=x");
    resource_free(r);
}

/* Does r meet need (every group has a term it satisfies)? The definition
 * store_scan_matching() relies on, evaluated here on the resource. */
static bool term_met(const struct store_term *t, const struct resource *r)
{
    if (t->attr == STORE_ATTR_CS) {
        json_t *cs = json_object_get(r->attrs, "cs");
        return json_is_integer(cs) && json_integer_value(cs) >= t->ilo && json_integer_value(cs) < t->ihi;
    }
    json_t *values = t->attr == STORE_ATTR_LABEL ? json_object_get(r->attrs, "lbl") : NULL;
    json_t *one = t->attr == STORE_ATTR_CT ? json_object_get(r->attrs, "ct")
                                           : t->attr == STORE_ATTR_CNF ? json_object_get(r->attrs, "cnf") : NULL;
    size_t n = values ? json_array_size(values) : one ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = json_string_value(values ? json_array_get(values, i) : one);
        if (v && (t->eq ? !strcmp(v, t->eq)
                        : (!t->lo || strcmp(v, t->lo) >= 0) && (!t->hi || strcmp(v, t->hi) < 0)))
            return true;
    }
    return false;
}

static bool need_met(const struct store_need *need, const struct resource *r)
{
    for (int g = 0; g < STORE_NEED_TERMS; g++) {
        bool any = false, hit = false;
        for (int i = 0; i < need->nterms; i++)
            if (need->term[i].group == g) { any = true; hit = hit || term_met(&need->term[i], r); }
        if (any && !hit) return false;
    }
    return true;
}

/* What an index may narrow a discovery to: never a resource that matches
 * (checked on resources that match and that do not), and nothing when a
 * condition no index answers is ORed in. */
static void index_need(void **state)
{
    (void)state;
    struct resource *rs[] = {
        mk(4, "{\"ri\":\"a\",\"ct\":\"20250101T000000\",\"cs\":5,\"cnf\":\"text/plain:0\","
              "\"lbl\":[\"site:berlin\",\"floor:2\",\"indoor\"]}", "cse-in/c/a"),
        mk(4, "{\"ri\":\"b\",\"ct\":\"20260101T000000\",\"cs\":50,\"cnf\":\"text/plain\"}", "cse-in/c/b"),
        mk(3, "{\"ri\":\"c\",\"ct\":\"20240101T000000\",\"lbl\":[\"site\",\"indoor:x\"]}", "cse-in/c"),
        mk(4, "{\"ri\":\"d\",\"ct\":\"20270101T000000\",\"cs\":0,\"cnf\":\"application/json:1\","
              "\"lbl\":[\"x\"]}", "cse-in/c/d"),
    };
    const char *queries[] = {
        "lbl=indoor", "lbl=indoor+x", "lbl=site", "lbq=site", "lbq=indoor", "lbq=floor IN (1, 2)",
        "lbq=site EQ berlin&lbq=x", "lbq=NT x&lbl=x", "cty=text/plain", "cty=application/json+text",
        "cra=20250101T000000", "crb=20260101T000000", "cra=20250101T000000&crb=20260101T000000",
        "cra=20260101T000000&crb=20250101T000000&fo=2", "sza=5", "szb=5", "sza=5&szb=51",
        "sza=50&szb=1&fo=2", "lbl=x&cty=text/plain", "lbl=x&cty=text/plain&fo=2",
        "lbl=indoor&ty=4", "lbl=indoor&cra=20250601T000000&sza=1",
    };
    struct store_need need;
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
        struct m2m_filter *f = fc_of(&req, queries[q]);
        assert_true(filter_index_need(f, &need));
        for (size_t i = 0; i < sizeof rs / sizeof *rs; i++)
            if (filter_match(f, NULL, rs[i]) && !need_met(&need, rs[i]))
                fail_msg("%s: %s matches but does not meet the need", queries[q], res_ri(rs[i]));
    }
    /* A narrowing that narrows: the label's group leaves b and c out. */
    assert_true(filter_index_need(fc_of(&req, "lbl=indoor&ty=4"), &need));
    assert_false(need_met(&need, rs[1]));
    assert_false(need_met(&need, rs[2]));
    /* Nothing to narrow by: no indexed condition, a negative lbq, or an
     * unindexed condition ORed in. */
    assert_false(filter_index_need(fc_of(&req, "ty=4"), &need));
    assert_false(filter_index_need(fc_of(&req, "lbq=NT x"), &need));
    assert_false(filter_index_need(fc_of(&req, "lbl=x&ty=3&fo=2"), &need));
    assert_false(filter_index_need(fc_of(&req, "lbl=x&lbq=NT y&fo=2"), &need));
    for (size_t i = 0; i < sizeof rs / sizeof *rs; i++) resource_free(rs[i]);
}

static void glob(void **state)
{
    (void)state;
    assert_true(filter_glob("*", ""));
    assert_true(filter_glob("a*c", "abbbc"));
    assert_true(filter_glob("a*c", "ac"));
    assert_false(filter_glob("a*c", "abd"));
    assert_true(filter_glob("?b", "ab"));
    assert_false(filter_glob("?b", "b"));
    assert_true(filter_glob("*b*", "abc"));
    assert_false(filter_glob("abc", "ab"));
    assert_true(filter_glob("a**", "a"));
}

static void parents_and_children(void **state)
{
    (void)state;
    struct store *s;
    assert_int_equal(store_open(&s, ":memory:", STORE_SYNC_OFF), 0);
    struct resource *ae = mk(2, "{\"ri\":\"ae1\",\"rn\":\"ae\",\"pi\":\"id-in\",\"ty\":2,\"lbl\":[\"site/a\"]}",
                             "cse-in/ae");
    assert_int_equal(store_insert(s, ae), 0);
    assert_int_equal(store_insert(s, cnt), 0);
    assert_int_equal(store_insert(s, cin), 0);
    struct m2m_filter *f = fc_of(&req, "pty=2");
    assert_true(filter_match(f, s, cnt));
    assert_false(filter_match(f, s, cin));
    f = fc_of(&req, "palb=site/a");
    assert_true(filter_match(f, s, cnt));
    assert_false(filter_match(f, s, ae));
    f = fc_of(&req, "chty=4");
    assert_true(filter_match(f, s, cnt));
    assert_false(filter_match(f, s, ae));
    f = fc_of(&req, "chty=3");
    assert_true(filter_match(f, s, ae));
    f = fc_of(&req, "clbl=room/1");
    assert_true(filter_match(f, s, ae));
    assert_false(filter_match(f, s, cnt));
    f = fc_of(&req, "clbl=room/1&chty=4");
    assert_false(filter_match(f, s, ae));      /* chty fails for the AE */
    f = fc_of(&req, "clbl=room/1&chty=4&fo=2");
    assert_true(filter_match(f, s, ae));
    assert_true(filter_match(f, s, cnt));
    /* c.<attr> and p.<attr>. */
    f = fc_of(&req, "c.rn=cin_*");
    assert_true(filter_match(f, s, cnt));
    assert_false(filter_match(f, s, ae));
    f = fc_of(&req, "c.rn=temp&c.rn=other");
    assert_true(filter_match(f, s, ae));
    f = fc_of(&req, "c.rn=temp&c.mni=10");     /* two names: both needed (by some child) */
    assert_true(filter_match(f, s, ae));
    f = fc_of(&req, "c.rn=temp&c.mni=11");
    assert_false(filter_match(f, s, ae));
    f = fc_of(&req, "p.rn=temp");
    assert_true(filter_match(f, s, cin));
    assert_false(filter_match(f, s, cnt));
    f = fc_of(&req, "p.rn=nope&ty=4&fo=2");
    assert_true(filter_match(f, s, cin));
    f = fc_of(&req, "p.mni=10&c.rn=x");
    assert_false(filter_match(f, s, cin));
    resource_free(ae);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_conditions),
        cmocka_unit_test(timestamps),
        cmocka_unit_test(state_tags_and_sizes),
        cmocka_unit_test(types_labels_content),
        cmocka_unit_test(attributes),
        cmocka_unit_test(filter_operation),
        cmocka_unit_test(labels_query),
        cmocka_unit_test(index_need),
        cmocka_unit_test(glob),
        cmocka_unit_test(parents_and_children),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
