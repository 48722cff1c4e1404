/* Addressing (cse/address.c): parsing every `to` form, and resolving
 * structured, unstructured, hybrid and virtual identifiers against an
 * in-memory store filled through the dispatcher. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cse/core/address.h"
#include "cse/core/cse.h"
#include "cse/core/engine.h"
#include "cse/base/log.h"
#include "cse/core/rsc.h"
#include "unit_cse.h"

static struct cse cse;

static int setup(void **state)
{
    (void)state;
    return unit_cse_open(&cse);
}

static int teardown(void **state)
{
    (void)state;
    cse_close(&cse);
    return 0;
}

static int run(enum m2m_op op, const char *to, int ty, const char *body, char *ri_out, size_t cap)
{
    return unit_run(&cse, op, to, ty, body, ri_out, cap, NULL);
}

static void parse_ok(const char *to, const char *local, const char *attr)
{
    struct address a;
    assert_int_equal(address_parse(&cse, to, &a), 0);
    assert_false(a.remote);
    assert_string_equal(a.local, local);
    if (attr) assert_string_equal(a.attr, attr);
    else assert_null(a.attr);
    address_clear(&a);
}

static void parse_remote(const char *to)
{
    struct address a;
    assert_int_equal(address_parse(&cse, to, &a), 0);
    assert_true(a.remote);
    assert_null(a.local);
    address_clear(&a);
}

static void parse_bad(const char *to)
{
    struct address a;
    assert_int_equal(address_parse(&cse, to, &a), RSC_BAD_REQUEST);
    assert_null(a.local);
    assert_null(a.attr);
}

static void parse_forms(void **state)
{
    (void)state;
    parse_ok("cse-in", "cse-in", NULL);
    parse_ok("cse-in/ae/cnt", "cse-in/ae/cnt", NULL);
    parse_ok("cnt123", "cnt123", NULL);
    parse_ok("cnt123/child", "cnt123/child", NULL);
    parse_ok("-/ae", "-/ae", NULL);
    parse_ok("/id-in/cse-in/ae", "cse-in/ae", NULL);
    parse_ok("/id-in/cnt123", "cnt123", NULL);
    parse_ok("//ironbark.local/id-in/cse-in/ae", "cse-in/ae", NULL);
    parse_ok("//IRONBARK.local/id-in/x", "x", NULL);      /* domains are case-insensitive */
    parse_ok("cse-in/ae#lbl", "cse-in/ae", "lbl");
    parse_ok("/id-in/cse-in/ae#rn", "cse-in/ae", "rn");
    parse_ok("a.b_c~d-e", "a.b_c~d-e", NULL);
}

static void parse_remote_targets(void **state)
{
    (void)state;
    parse_remote("/id-mn/cse-mn");
    parse_remote("/id-mn");
    parse_remote("//other.sp/id-in/cse-in");
    parse_remote("//ironbark.local/id-mn/x");
}

static void parse_malformed(void **state)
{
    (void)state;
    parse_bad(NULL);
    parse_bad("");
    parse_bad("/id-in");           /* a CSE-ID alone is not a resource */
    parse_bad("/id-in/");
    parse_bad("//ironbark.local/id-in");
    parse_bad("//ironbark.local/id-in/");
    parse_bad("///id-in/x");       /* empty SP domain */
    parse_bad("//ironbark.local");
    parse_bad("cse-in/");
    parse_bad("cse-in//ae");
    parse_bad("cse-in/a b");
    parse_bad("cse-in/a*b");
    parse_bad("cse-in/ae#");
    parse_bad("cse-in/ae#a/b");
    parse_bad("#rn");
}

static void resolve_forms(void **state)
{
    (void)state;
    char ae[64], cnt[64], cin1[64], cin2[64];
    assert_int_equal(run(OP_CREATE, "cse-in", 2,
                         "{\"m2m:ae\":{\"rn\":\"app\",\"api\":\"Nx\",\"rr\":false,\"srv\":[\"3\"]}}",
                         ae, sizeof ae), RSC_CREATED);
    assert_int_equal(run(OP_CREATE, "cse-in/app", 3, "{\"m2m:cnt\":{\"rn\":\"box\"}}", cnt, sizeof cnt),
                     RSC_CREATED);
    struct resource *r;
    assert_int_equal(address_resolve(&cse, "cse-in/app/box", &r), 0);
    assert_string_equal(res_ri(r), cnt);
    assert_string_equal(r->path, "cse-in/app/box");
    resource_free(r);
    assert_int_equal(address_resolve(&cse, cnt, &r), 0);
    assert_string_equal(r->path, "cse-in/app/box");
    resource_free(r);
    char hybrid[128];
    snprintf(hybrid, sizeof hybrid, "%s/box", ae);
    assert_int_equal(address_resolve(&cse, hybrid, &r), 0);
    assert_string_equal(res_ri(r), cnt);
    resource_free(r);
    assert_int_equal(address_resolve(&cse, "-/app/box", &r), 0);
    assert_string_equal(res_ri(r), cnt);
    resource_free(r);
    assert_int_equal(address_resolve(&cse, "cse-in", &r), 0);
    assert_int_equal(r->ty, 5);
    resource_free(r);
    assert_int_equal(address_resolve(&cse, "id-in", &r), 0);
    assert_int_equal(r->ty, 5);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r->attrs, "poa"), 0)),
                        "http://127.0.0.1:8080");
    resource_free(r);
    assert_int_equal(address_resolve(&cse, "cse-in/app/none", &r), RSC_NOT_FOUND);
    assert_null(r);
    assert_int_equal(address_resolve(&cse, "nosuchri", &r), RSC_NOT_FOUND);
    assert_int_equal(address_resolve(&cse, "nosuchri/box", &r), RSC_NOT_FOUND);

    /* Virtual la / ol. */
    assert_int_equal(address_resolve(&cse, "cse-in/app/box/la", &r), RSC_NOT_FOUND);
    assert_int_equal(address_resolve(&cse, "cse-in/app/la", &r), RSC_NOT_FOUND); /* AE has no la */
    assert_int_equal(run(OP_CREATE, "cse-in/app/box", 4, "{\"m2m:cin\":{\"con\":\"1\"}}", cin1, sizeof cin1),
                     RSC_CREATED);
    assert_int_equal(run(OP_CREATE, "cse-in/app/box", 4, "{\"m2m:cin\":{\"con\":\"2\"}}", cin2, sizeof cin2),
                     RSC_CREATED);
    assert_int_equal(address_resolve(&cse, "cse-in/app/box/la", &r), 0);
    assert_string_equal(res_ri(r), cin2);
    assert_int_equal(r->virtual_of, VIRT_LATEST);
    resource_free(r);
    assert_int_equal(address_resolve(&cse, "cse-in/app/box/ol", &r), 0);
    assert_string_equal(res_ri(r), cin1);
    assert_int_equal(r->virtual_of, VIRT_OLDEST);
    resource_free(r);
    char virt[128];
    snprintf(virt, sizeof virt, "%s/la", cnt);
    assert_int_equal(address_resolve(&cse, virt, &r), 0);
    assert_string_equal(res_ri(r), cin2);
    resource_free(r);
    /* A real child named la wins over the virtual one. */
    assert_int_equal(run(OP_CREATE, "cse-in/app", 3, "{\"m2m:cnt\":{\"rn\":\"la\"}}", NULL, 0), RSC_CREATED);
    assert_int_equal(address_resolve(&cse, "cse-in/app/la", &r), 0);
    assert_int_equal(r->ty, 3);
    assert_int_equal(r->virtual_of, 0);
    resource_free(r);
}

static void addresses_of(void **state)
{
    (void)state;
    struct resource *r;
    assert_int_equal(address_resolve(&cse, "cse-in/app/box", &r), 0);
    char *s = address_of(r, 1);
    assert_string_equal(s, "cse-in/app/box");
    free(s);
    s = address_of(r, 2);
    assert_string_equal(s, res_ri(r));
    free(s);
    resource_free(r);
    assert_true(address_valid_segment("abc", 3));
    assert_true(address_valid_segment("a/b", 1));
    assert_false(address_valid_segment("a/b", 3));
    assert_false(address_valid_segment("", 0));
    assert_false(address_valid_segment("a%b", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_forms),
        cmocka_unit_test(parse_remote_targets),
        cmocka_unit_test(parse_malformed),
        cmocka_unit_test(resolve_forms),
        cmocka_unit_test(addresses_of),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
