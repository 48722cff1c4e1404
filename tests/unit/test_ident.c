/* Originator identity (cse/ident.c): every spelling of every ID of a small
 * world (two SPs, two CSE-IDs, two names) against every other, plus the
 * forms, the malformed inputs and the reported foreign-SP cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cse/core/ident.h"

static const struct ident_home home = { "ironbark.local", "id-in" };

/* One spelling and the entity it names: (SP-ID in lower case, CSE-ID, rest). */
struct spelling {
    char id[128];
    char entity[128];
};

/* Every way to write (sp, cse, rest): CSE-relative only for this CSE,
 * SP-relative only within this SP, absolute always (also with the SP-ID in
 * upper case: domain names). rest "" is the CSE itself. */
static int spellings_of(const char *sp, const char *cse, const char *rest, struct spelling *out)
{
    bool local_sp = !strcmp(sp, home.sp_id), local_cse = local_sp && !strcmp(cse, home.cse_id);
    char upper[64];
    size_t i = 0;
    for (; sp[i]; i++) upper[i] = (char)(sp[i] >= 'a' && sp[i] <= 'z' ? sp[i] - 32 : sp[i]);
    upper[i] = 0;
    const char *sep = rest[0] ? "/" : "";
    int n = 0;
    if (local_cse && rest[0]) snprintf(out[n++].id, sizeof out->id, "%s", rest);
    if (local_sp) snprintf(out[n++].id, sizeof out->id, "/%s%s%s", cse, sep, rest);
    snprintf(out[n++].id, sizeof out->id, "//%s/%s%s%s", sp, cse, sep, rest);
    snprintf(out[n++].id, sizeof out->id, "//%s/%s%s%s", upper, cse, sep, rest);
    for (int k = 0; k < n; k++) snprintf(out[k].entity, sizeof out->entity, "%s|%s|%s", sp, cse, rest);
    return n;
}

static void matrix(void **state)
{
    (void)state;
    static const char *const sps[] = { "ironbark.local", "evil.example" };
    static const char *const cses[] = { "id-in", "id-mn" };
    static const char *const rests[] = { "Cother", "CAdmin", "" };
    struct spelling all[64];
    int n = 0;
    for (size_t a = 0; a < 2; a++)
        for (size_t b = 0; b < 2; b++)
            for (size_t c = 0; c < 3; c++) n += spellings_of(sps[a], cses[b], rests[c], all + n);
    assert_true(n > 30);
    int same = 0;
    for (int i = 0; i < n; i++) {
        struct ident_forms fi;
        assert_true(ident_forms(&home, all[i].id, &fi));
        for (int j = 0; j < n; j++) {
            bool want = !strcmp(all[i].entity, all[j].entity);
            if (ident_same(&home, all[i].id, all[j].id) != want || ident_is(&home, all[j].id, &fi) != want)
                fail_msg("'%s' vs '%s': expected %s", all[i].id, all[j].id, want ? "same" : "different");
            same += want;
        }
    }
    assert_true(same > n);  /* the matrix holds equal pairs beyond the diagonal */
}

static void expect_forms(const char *id, const char *rel, const char *sprel, const char *abs)
{
    struct ident_forms f;
    if (!ident_forms(&home, id, &f)) fail_msg("'%s' was refused", id);
    assert_string_equal(f.rel, rel);
    assert_string_equal(f.sprel, sprel);
    assert_string_equal(f.abs, abs);
}

static void forms(void **state)
{
    (void)state;
    expect_forms("Cother", "Cother", "/id-in/Cother", "//ironbark.local/id-in/Cother");
    expect_forms("//IronBark.Local/id-in/Cother", "Cother", "/id-in/Cother", "//ironbark.local/id-in/Cother");
    /* Another CSE of this SP: no CSE-relative form. */
    expect_forms("/id-mn/Cother", "", "/id-mn/Cother", "//ironbark.local/id-mn/Cother");
    /* A foreign SP: only the absolute form, whatever the CSE-ID. */
    expect_forms("//Evil.Example/id-in/CAdmin", "", "", "//evil.example/id-in/CAdmin");
    /* The CSE itself has no CSE-relative form. */
    expect_forms("//ironbark.local/id-in", "", "/id-in", "//ironbark.local/id-in");
    /* Patterns keep their '*'. */
    expect_forms("C*", "C*", "/id-in/C*", "//ironbark.local/id-in/C*");
}

static void shortest(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        { "Cmeter1", "Cmeter1" },
        { "/id-in/Cmeter1", "Cmeter1" },
        { "//ironbark.local/id-in/Cmeter1", "Cmeter1" },
        { "/id-mn/Cmeter1", "/id-mn/Cmeter1" },
        { "//other.example/id-in/C1", "//other.example/id-in/C1" },
        { "/id-inx/C1", "/id-inx/C1" },
        { "//ironbark.localx/id-in/C1", "//ironbark.localx/id-in/C1" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ident_forms f;
        assert_true(ident_forms(&home, cases[i][0], &f));
        assert_string_equal(ident_shortest(&f), cases[i][1]);
    }
}

static void malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "/", "//", "//sp", "//sp/", "///id-in/C1", "//sp//C1", "/id-in/", "/id-in//C1",
        "C1/", "C1//x", "//ironbark.local/id-in/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct ident_forms f;
        if (ident_forms(&home, bad[i], &f)) fail_msg("'%s' was accepted", bad[i]);
        assert_string_equal(f.abs, "");
        assert_false(ident_same(&home, bad[i], bad[i]));
        assert_false(ident_is(&home, bad[i], &f));
    }
    struct ident_forms f;
    assert_false(ident_forms(&home, NULL, &f));
    assert_false(ident_same(&home, NULL, "C1"));
    /* Too long to hold: refused, not cut (a cut form could equal another ID). */
    char longid[400];
    memset(longid, 'C', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    assert_false(ident_forms(&home, longid, &f));
    assert_false(ident_same(&home, longid, longid));
}

/* The reported attack and its neighbours. */
static void foreign_sp(void **state)
{
    (void)state;
    assert_false(ident_same(&home, "CAdmin", "//evil.example/id-in/CAdmin"));
    assert_false(ident_same(&home, "Cother", "//evil.example/id-in/Cother"));
    assert_false(ident_same(&home, "/id-in/Cother", "//evil.example/id-in/Cother"));
    assert_false(ident_same(&home, "//ironbark.local/id-in/Cother", "//evil.example/id-in/Cother"));
    assert_false(ident_same(&home, "Cother", "/id-mn/Cother"));
    assert_false(ident_same(&home, "Cother", "//ironbark.local.evil/id-in/Cother"));
    assert_false(ident_same(&home, "Cother", "/ID-IN/Cother"));          /* CSE-IDs compare exactly */
    assert_true(ident_same(&home, "Cother", "//IRONBARK.LOCAL/id-in/Cother"));
    assert_true(ident_same(&home, "//evil.example/id-in/Cother", "//EVIL.example/id-in/Cother"));
    assert_true(ident_local_sp(&home, "IronBark.Local", 14));
    assert_false(ident_local_sp(&home, "ironbark.loca", 13));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matrix),
        cmocka_unit_test(forms),
        cmocka_unit_test(shortest),
        cmocka_unit_test(malformed),
        cmocka_unit_test(foreign_sp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
