/* The shapes of Token-IDs, Local-Token-IDs and compact JWTs (cse/core/
 * token_syntax.h), and the rule that every type with acpi also has daci
 * (TS-0001 9.6.1.3.2) and, where acpi is writable, cstn; checked over the
 * types m2m-cse serves. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cse/core/token_syntax.h"
#include "resources/dynauth.h"

#include <string.h>

static void token_ids(void **state)
{
    (void)state;
    assert_true(token_id_valid("1234abcd@token-issuer.com"));
    assert_true(token_id_valid("t_1.a-b@das.ironbark.local"));
    assert_true(token_id_valid("x@localhost"));
    assert_false(token_id_valid("noissuer"));
    assert_false(token_id_valid("@das.example"));
    assert_false(token_id_valid("t1@"));
    assert_false(token_id_valid("t1@DAS.example"));      /* the FQDN is lowercase */
    assert_false(token_id_valid("t 1@das.example"));
    assert_false(token_id_valid("t1@das..example"));
    assert_false(token_id_valid("t1@-das.example"));
    assert_false(token_id_valid("t1@das.example."));
    assert_false(token_id_valid("t@1@das.example"));
    assert_false(token_id_valid(NULL));
    char longid[300];
    memset(longid, 'a', sizeof longid);
    memcpy(longid + sizeof longid - 6, "@b.cd", 6);
    assert_false(token_id_valid(longid));
}

static void local_ids(void **state)
{
    (void)state;
    assert_true(local_token_id_valid("lt1"));
    assert_true(local_token_id_valid("_a.b-c"));
    assert_false(local_token_id_valid("1lt"));
    assert_false(local_token_id_valid("a:b"));          /* NCName: no colon */
    assert_false(local_token_id_valid(""));
    assert_false(local_token_id_valid("a b"));
    char longid[80];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    assert_false(local_token_id_valid(longid));
}

static void jwts(void **state)
{
    (void)state;
    assert_true(compact_jwt_valid("eyJh.eyJi.c2ln"));
    assert_true(compact_jwt_valid("eyJh..c2ln"));             /* empty payload is allowed */
    assert_true(compact_jwt_valid("eyJh..aXY.Y2lw.dGFn"));    /* JWE with direct key */
    assert_false(compact_jwt_valid("eyJh.eyJi."));            /* no signature (alg none) */
    assert_false(compact_jwt_valid(".eyJi.c2ln"));
    assert_false(compact_jwt_valid("a.b"));
    assert_false(compact_jwt_valid("a.b.c.d"));
    assert_false(compact_jwt_valid("a.b.c..e"));
    assert_false(compact_jwt_valid("a.b.c.d.e.f"));
    assert_false(compact_jwt_valid("YQ==.Yg.Yw"));            /* padding is not base64url here */
    assert_false(compact_jwt_valid("a+b.c.d"));
    assert_false(compact_jwt_valid(""));
}

static void lists(void **state)
{
    (void)state;
    char out[128];
    assert_true(token_list_valid("a.b.c+d.e.f", compact_jwt_valid, out, sizeof out));
    assert_string_equal(out, "a.b.c+d.e.f");
    assert_true(token_list_valid("a.b.c + d.e.f", compact_jwt_valid, out, sizeof out));
    assert_string_equal(out, "a.b.c+d.e.f");                /* TS-0009's example spacing */
    assert_true(token_list_valid("t1@x.y", token_id_valid, NULL, 0));
    assert_false(token_list_valid("a.b.c+junk", compact_jwt_valid, out, sizeof out));
    assert_false(token_list_valid("", compact_jwt_valid, out, sizeof out));
    assert_false(token_list_valid("+", compact_jwt_valid, out, sizeof out));
    assert_false(token_list_valid("a+b+c+d+e+f+g+h+i", local_token_id_valid, out, sizeof out));
    assert_true(token_list_valid("a+b+c+d+e+f+g+h", local_token_id_valid, out, sizeof out));
    static char huge[TOKENS_MAX_BYTES + 10];
    memset(huge, 'a', sizeof huge - 1);
    huge[10] = huge[20] = '.';
    assert_false(token_list_valid(huge, compact_jwt_valid, NULL, 0));
}

static void acpi_implies_daci(void **state)
{
    (void)state;
    struct registry r;
    registry_init_core(&r);
    const struct resource_type *extra[] = { DYNAUTH_TYPES };
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) assert_int_equal(registry_add(&r, extra[i]), 0);
    int checked = 0;
    for (int i = 0; i < r.n; i++) {
        const struct resource_type *t = r.types[i];
        for (const struct resource_type *const *s = t->specialisations; s && *s; s++)
            if (type_attr(*s, "acpi")) {
                assert_non_null(type_attr(*s, "daci"));
                assert_non_null(type_attr(*s, "cstn"));
                checked++;
            }
        if (!type_attr(t, "acpi")) continue;
        if (!type_attr(t, "daci")) fail_msg("%s has acpi but no daci", t->key);
        const struct attr_def *acpi = type_attr(t, "acpi"), *daci = type_attr(t, "daci");
        /* daci is as writable as acpi (both RO on the CSEBase and <request>). */
        assert_int_equal(daci->create, acpi->create);
        assert_int_equal(daci->update, acpi->update);
        /* So is the custodian: where acpi can be set, cstn can (it takes the
         * owner's place when acpi is absent). */
        if (acpi->create != NP && !type_attr(t, "cstn")) fail_msg("%s has a writable acpi but no cstn", t->key);
        checked++;
    }
    assert_true(checked >= 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_ids), cmocka_unit_test(local_ids), cmocka_unit_test(jwts),
        cmocka_unit_test(lists), cmocka_unit_test(acpi_implies_daci),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
