/* The access control decision over a matrix of originators, operations and
 * contexts (security/acr.c), plus the store-backed resolution (acl.c) on an
 * in-memory CSE. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cse/base/clock.h"
#include "cse/core/cse.h"
#include "cse/core/engine.h"
#include "cse/core/rsc.h"
#include "security/acl.h"
#include "security/acr.h"

static struct acr_set *parse(const char *json)
{
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    assert_non_null(j);
    char err[256] = "";
    struct acr_set *s = acr_parse(j, NULL, NULL, err, sizeof err);
    json_decref(j);
    if (!s) print_error("parse failed: %s\n", err);
    assert_non_null(s);
    return s;
}

static bool rejects(const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    char err[256];
    struct acr_set *s = acr_parse(j, NULL, NULL, err, sizeof err);
    json_decref(j);
    acr_free(s);
    return s == NULL;
}

/* A local AE originator ("Cae1" on /id-in at sp.example). */
static struct acr_subject who(const char *rel, int op)
{
    static char sprel[8][64], abs[8][96];
    static int k;
    k = (k + 1) % 8;
    snprintf(sprel[k], sizeof sprel[k], "/id-in/%s", rel);
    snprintf(abs[k], sizeof abs[k], "//sp.example/id-in/%s", rel);
    struct acr_subject s = { .rel = rel, .sprel = sprel[k], .abs = abs[k], .ip = "10.1.2.3",
                             .now_us = 0, .op_bit = op };
    return s;
}

static void originators(void **state)
{
    (void)state;
    struct acr_set *s = parse("{\"acr\":[{\"acor\":[\"Cae1\",\"/id-in/Cmon*\",\"//other.sp\","
                              "\"//*/id-mn/Sgw*\"],\"acop\":63}]}");
    struct acr_subject a = who("Cae1", ACOP_RETRIEVE);
    assert_true(acr_permits(s, &a, NULL));
    struct acr_subject b = who("Cae2", ACOP_RETRIEVE);
    assert_false(acr_permits(s, &b, NULL));
    struct acr_subject c = who("Cmonitor7", ACOP_RETRIEVE);
    assert_true(acr_permits(s, &c, NULL));                 /* SP-relative wildcard */
    struct acr_subject d = { .sprel = "/id-x/C1", .abs = "//other.sp/id-x/C1", .op_bit = ACOP_DELETE };
    assert_true(acr_permits(s, &d, NULL));                 /* SP domain */
    struct acr_subject e = { .sprel = "/id-mn/Sgw9", .abs = "//any.sp/id-mn/Sgw9", .op_bit = ACOP_CREATE };
    assert_true(acr_permits(s, &e, NULL));                 /* absolute wildcard */
    struct acr_subject f = { .sprel = "/id-mn/x/Sgw9", .abs = "//a/b/id-mn/Sgw9", .op_bit = ACOP_CREATE };
    assert_false(acr_permits(s, &f, NULL));                /* '*' never crosses '/' */
    acr_free(s);

    s = parse("{\"acr\":[{\"acor\":[\"all\"],\"acop\":2}]}");
    struct acr_subject g = who("Canyone", ACOP_RETRIEVE);
    assert_true(acr_permits(s, &g, NULL));
    g.op_bit = ACOP_UPDATE;
    const char *why = NULL;
    assert_false(acr_permits(s, &g, &why));
    assert_string_equal(why, "no rule grants this operation");
    acr_free(s);

    /* Role IDs match the roles the originator holds. */
    s = parse("{\"acr\":[{\"acor\":[\"r17@roles.example\"],\"acop\":2}]}");
    struct acr_subject h = who("Cae3", ACOP_RETRIEVE);
    assert_false(acr_permits(s, &h, NULL));
    const char *roles[] = { "r1@x", "r17@roles.example" };
    h.roles = roles;
    h.nroles = 2;
    assert_true(acr_permits(s, &h, NULL));
    acr_free(s);
}

static void wildcards(void **state)
{
    (void)state;
    assert_true(acr_wildcard_match("C*", "Cabc"));
    assert_true(acr_wildcard_match("C*", "C"));
    assert_true(acr_wildcard_match("*", ""));
    assert_true(acr_wildcard_match("/id-*/C*x", "/id-mn/Cabcx"));
    assert_true(acr_wildcard_match("a*b*c", "aXbYbZc"));
    assert_false(acr_wildcard_match("a*b*c", "aXbYbZ"));
    assert_false(acr_wildcard_match("C*", "C/x"));
    assert_false(acr_wildcard_match("/id-in/C*", "/id-in"));
    assert_false(acr_wildcard_match("/id-in", "/id-in/Cx"));
    assert_false(acr_wildcard_match("Cae1", NULL));
    /* Many stars against a long near-miss stay fast (no exponential backtracking). */
    char pat[80], text[300];
    memset(pat, 0, sizeof pat);
    for (int i = 0; i < 30; i++) { pat[2 * i] = '*'; pat[2 * i + 1] = 'a'; }
    pat[60] = 'b';
    memset(text, 'a', 290);
    text[290] = 0;
    assert_false(acr_wildcard_match(pat, text));
}

static void every_acop_bit(void **state)
{
    (void)state;
    const int bits[] = { ACOP_CREATE, ACOP_RETRIEVE, ACOP_UPDATE, ACOP_DELETE, ACOP_NOTIFY, ACOP_DISCOVERY };
    for (int mask = 1; mask <= 63; mask++) {
        char json[128];
        snprintf(json, sizeof json, "{\"acr\":[{\"acor\":[\"Cae1\"],\"acop\":%d}]}", mask);
        struct acr_set *s = parse(json);
        for (int i = 0; i < 6; i++) {
            struct acr_subject a = who("Cae1", bits[i]);
            assert_int_equal(acr_permits(s, &a, NULL), (mask & bits[i]) != 0);
        }
        acr_free(s);
    }
}

static void permit_overrides(void **state)
{
    (void)state;
    struct acr_set *s = parse("{\"acr\":[{\"acor\":[\"Cae1\"],\"acop\":2},{\"acor\":[\"Cae1\"],\"acop\":8}]}");
    struct acr_subject a = who("Cae1", ACOP_DELETE);
    assert_true(acr_permits(s, &a, NULL));
    a.op_bit = ACOP_UPDATE;
    assert_false(acr_permits(s, &a, NULL));
    acr_free(s);
    s = parse("{\"acr\":[]}");
    assert_int_equal(acr_count(s), 0);
    assert_false(acr_permits(s, &a, NULL));
    acr_free(s);
}

static int64_t at(const char *ts)
{
    int64_t us;
    assert_true(ts_parse(ts, &us));
    return us;
}

static void time_windows(void **state)
{
    (void)state;
    /* Office hours: 08:00-17:59 UTC, Monday to Friday. */
    struct acr_set *s = parse("{\"acr\":[{\"acor\":[\"Cae1\"],\"acop\":2,"
                              "\"acco\":[{\"actw\":[\"* * 8-17 * * 1-5 *\"]}]}]}");
    struct acr_subject a = who("Cae1", ACOP_RETRIEVE);
    clock_set_fixed(at("20261118T093000"));      /* Wednesday 09:30 */
    a.now_us = clock_now_us();
    assert_true(acr_permits(s, &a, NULL));
    clock_set_fixed(at("20261118T180000"));      /* Wednesday 18:00 */
    a.now_us = clock_now_us();
    const char *why;
    assert_false(acr_permits(s, &a, &why));
    assert_string_equal(why, "outside the rule's time, address or location context");
    clock_set_fixed(at("20261122T100000"));      /* Sunday */
    a.now_us = clock_now_us();
    assert_false(acr_permits(s, &a, NULL));
    clock_set_fixed(0);
    acr_free(s);

    /* Steps, lists and years. */
    assert_true(acr_schedule_match("*/15 * * * * * *", at("20260101T000030")));
    assert_false(acr_schedule_match("*/15 * * * * * *", at("20260101T000031")));
    assert_true(acr_schedule_match("* 0-5 2,6,10 * * * *", at("20260101T060400")));
    assert_false(acr_schedule_match("* 0-5 2,6,10 * * * *", at("20260101T070400")));
    assert_true(acr_schedule_match("0 0 0 1 1 * 2026-2030", at("20270101T000000")));
    assert_false(acr_schedule_match("0 0 0 1 1 * 2026-2030", at("20310101T000000")));
    assert_false(acr_schedule_valid("* * * * *"));       /* five fields */
    assert_false(acr_schedule_valid("60 * * * * * *"));  /* second out of range */
    assert_false(acr_schedule_valid("* * * 0 * * *"));   /* day 0 */
    assert_false(acr_schedule_valid("* * * * * 7 *"));   /* weekday 7 */
    assert_false(acr_schedule_valid("*/0 * * * * * *"));
    assert_false(acr_schedule_valid("5-3 * * * * * *"));

    /* The full syntax: "n/s" runs from n to the field's maximum, ranges with
     * steps in lists, any white space between fields. */
    assert_true(acr_schedule_match("5/20 * * * * * *", at("20260101T000045")));
    assert_false(acr_schedule_match("5/20 * * * * * *", at("20260101T000035")));
    assert_true(acr_schedule_match("0 0 9-17/4,20 * * * *", at("20260101T130000")));
    assert_false(acr_schedule_match("0 0 9-17/4,20 * * * *", at("20260101T150000")));
    assert_true(acr_schedule_match("0 0 9-17/4,20 * * * *", at("20260101T200000")));
    assert_true(acr_schedule_match("*\t*  *\t* *   * *", at("20260101T200000")));
    assert_true(acr_schedule_match(" 0 0 0 1 1 4 2026 ", at("20260101T000000")));  /* a Thursday */
    assert_false(acr_schedule_match("0 0 0 1 1 5 2026", at("20260101T000000")));
    assert_true(acr_schedule_match("* * * 1/7 * * *", at("20260115T101010")));
    assert_false(acr_schedule_match("* * * 1/7 * * *", at("20260116T101010")));
    assert_false(acr_schedule_valid("70/5 * * * * * *"));  /* start beyond the maximum */
    assert_false(acr_schedule_valid("5/ * * * * * *"));
    assert_false(acr_schedule_valid("/5 * * * * * *"));
    assert_false(acr_schedule_valid("1,,2 * * * * * *"));
    assert_false(acr_schedule_valid("1, * * * * * *"));
    assert_false(acr_schedule_valid("* * * * * * * *"));     /* eight fields */
    assert_false(acr_schedule_valid(""));
}

/* accessControlAttributes (aca): the rule covers the listed attributes only. */
static void attribute_lists(void **state)
{
    (void)state;
    struct acr_set *s = parse("{\"acr\":[{\"acor\":[\"Cae1\"],\"acop\":6,\"aca\":[\"lbl\",\"mni\"]}]}");
    struct acr_subject a = who("Cae1", ACOP_UPDATE);
    const char *why;
    assert_false(acr_permits(s, &a, &why));          /* attributes not supplied: no grant */
    assert_string_equal(why, "attributes outside the rule's aca");
    const char *both[] = { "lbl", "mni" }, *other[] = { "lbl", "mbs" };
    a.attrs = both; a.nattrs = 2; a.attrs_known = true;
    assert_true(acr_permits(s, &a, NULL));
    a.attrs = other;
    assert_false(acr_permits(s, &a, &why));
    assert_string_equal(why, "attributes outside the rule's aca");
    a.attrs = both;
    struct acr_subject b = a;
    b.rel = "Cae2"; b.sprel = "/id-in/Cae2"; b.abs = "//sp.example/id-in/Cae2";
    assert_false(acr_permits(s, &b, NULL));          /* the originator still has to match */
    acr_free(s);
    /* A rule without aca grants whatever attributes; permit-overrides across rules. */
    s = parse("{\"acr\":[{\"acor\":[\"Cae1\"],\"acop\":2,\"aca\":[\"lbl\"]},{\"acor\":[\"Cae1\"],\"acop\":4}]}");
    a.op_bit = ACOP_UPDATE;
    a.attrs = other;
    assert_true(acr_permits(s, &a, NULL));
    a.op_bit = ACOP_RETRIEVE;
    assert_false(acr_permits(s, &a, NULL));
    const char *lbl[] = { "lbl" };
    a.attrs = lbl; a.nattrs = 1;
    assert_true(acr_permits(s, &a, NULL));
    acr_free(s);
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":2,\"aca\":[]}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":2,\"aca\":\"lbl\"}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":2,\"aca\":[\"\"]}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":2,\"aca\":[3]}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":2,\"aca\":[\"l b\"]}]}"));
}

static void ip_ranges(void **state)
{
    (void)state;
    struct acr_set *s = parse("{\"acr\":[{\"acor\":[\"all\"],\"acop\":2,\"acco\":[{\"acip\":"
                              "{\"ipv4\":[\"10.0.0.0/8\",\"192.168.1.7\"],\"ipv6\":[\"fd00::/8\"]}}]}]}");
    struct acr_subject a = who("Cae1", ACOP_RETRIEVE);
    const char *ok[] = { "10.200.3.4", "192.168.1.7", "fd12::1", "::ffff:10.9.9.9" };
    const char *no[] = { "11.0.0.1", "192.168.1.8", "fe80::1", "", "garbage" };
    for (size_t i = 0; i < 4; i++) { a.ip = ok[i]; assert_true(acr_permits(s, &a, NULL)); }
    for (size_t i = 0; i < 5; i++) { a.ip = no[i]; assert_false(acr_permits(s, &a, NULL)); }
    a.ip = NULL;
    assert_false(acr_permits(s, &a, NULL));
    acr_free(s);
    assert_true(acr_ip_in("0.0.0.0/0", "1.2.3.4"));
    assert_true(acr_ip_in("::/0", "2001:db8::1"));
    assert_true(acr_ip_in("2001:db8::/33", "2001:db8:7fff::1"));
    assert_false(acr_ip_in("2001:db8::/33", "2001:db8:8000::1"));
    assert_false(acr_cidr_valid("10.0.0.0/33", false));
    assert_false(acr_cidr_valid("10.0.0", false));
    assert_true(acr_cidr_valid("fadf:ddd0::/32", true));
}

static void contexts_combine(void **state)
{
    (void)state;
    /* Two context elements: either may hold; inside one, all must hold. */
    struct acr_set *s = parse("{\"acr\":[{\"acor\":[\"Cae1\"],\"acop\":2,\"acco\":["
                              "{\"actw\":[\"* * 0-11 * * * *\"],\"acip\":{\"ipv4\":[\"10.0.0.0/8\"]}},"
                              "{\"acip\":{\"ipv6\":[\"::1\"]}}]}]}");
    struct acr_subject a = who("Cae1", ACOP_RETRIEVE);
    a.now_us = at("20260101T100000");
    a.ip = "10.1.1.1";
    assert_true(acr_permits(s, &a, NULL));
    a.now_us = at("20260101T130000");
    assert_false(acr_permits(s, &a, NULL));
    a.ip = "::1";
    assert_true(acr_permits(s, &a, NULL));
    acr_free(s);
    /* Location regions cannot be established: such a context never holds. */
    s = parse("{\"acr\":[{\"acor\":[\"all\"],\"acop\":2,\"acco\":[{\"aclr\":{\"accc\":[\"KR\"]}}]}]}");
    assert_false(acr_permits(s, &a, NULL));
    acr_free(s);
}

static void authentication_flag(void **state)
{
    (void)state;
    struct acr_set *s = parse("{\"acr\":[{\"acor\":[\"Cae1\"],\"acop\":2,\"acaf\":true}]}");
    struct acr_subject a = who("Cae1", ACOP_RETRIEVE);
    const char *why;
    assert_false(acr_permits(s, &a, &why));
    assert_string_equal(why, "rule requires an authenticated originator");
    a.authenticated = true;
    assert_true(acr_permits(s, &a, NULL));
    acr_free(s);
    s = parse("{\"acr\":[{\"acor\":[\"Cae1\"],\"acop\":2,\"acaf\":false}]}");
    a.authenticated = false;
    assert_true(acr_permits(s, &a, NULL));
    acr_free(s);
}

static void object_details(void **state)
{
    (void)state;
    struct acr_set *s = parse("{\"acr\":[{\"acor\":[\"Cae1\"],\"acop\":3,\"acod\":[{\"ty\":3,\"chty\":[4]}]}]}");
    struct acr_subject a = who("Cae1", ACOP_CREATE);
    a.target_ty = 3;
    a.child_ty = 4;
    assert_true(acr_permits(s, &a, NULL));
    a.child_ty = 3;
    assert_false(acr_permits(s, &a, NULL));
    a.child_ty = 4;
    a.target_ty = 2;
    assert_false(acr_permits(s, &a, NULL));
    /* acod only restricts CREATE. */
    struct acr_subject r = who("Cae1", ACOP_RETRIEVE);
    r.target_ty = 2;
    assert_true(acr_permits(s, &r, NULL));
    acr_free(s);
    /* spty names the new resource's specialization (cnd / mgd). */
    s = parse("{\"acr\":[{\"acor\":[\"Cae1\"],\"acop\":1,\"acod\":[{\"ty\":28,\"spty\":\"org.x.temp\",\"chty\":[28]},"
              "{\"ty\":13,\"spty\":1001,\"chty\":[13]}]}]}");
    struct acr_subject f = who("Cae1", ACOP_CREATE);
    f.target_ty = 28;
    f.child_ty = 28;
    assert_false(acr_permits(s, &f, NULL));
    f.child_spty = "org.x.temp";
    assert_true(acr_permits(s, &f, NULL));
    f.target_ty = f.child_ty = 13;
    assert_false(acr_permits(s, &f, NULL));
    f.child_spty = "1001";
    assert_true(acr_permits(s, &f, NULL));
    acr_free(s);
}

static bool fake_group(void *data, const char *entry)
{
    (void)data;
    return !strcmp(entry, "grpWorkers");
}

static bool fake_member(void *data, const char *group)
{
    const char *who = data;
    return !strcmp(group, "grpWorkers") && (!strcmp(who, "Cw1") || !strcmp(who, "Cw2"));
}

static void groups(void **state)
{
    (void)state;
    json_t *j = json_loads("{\"acr\":[{\"acor\":[\"grpWorkers\"],\"acop\":2}]}", 0, NULL);
    char err[128];
    struct acr_set *s = acr_parse(j, fake_group, NULL, err, sizeof err);
    json_decref(j);
    assert_non_null(s);
    struct acr_subject a = who("Cw1", ACOP_RETRIEVE);
    a.in_group = fake_member;
    a.group_data = (void *)"Cw1";
    assert_true(acr_permits(s, &a, NULL));
    struct acr_subject b = who("Cx", ACOP_RETRIEVE);
    b.in_group = fake_member;
    b.group_data = (void *)"Cx";
    assert_false(acr_permits(s, &b, NULL));
    /* An entry that happens to equal the group ID as an AE-ID does not count. */
    struct acr_subject c = who("grpWorkers", ACOP_RETRIEVE);
    c.in_group = fake_member;
    c.group_data = (void *)"grpWorkers";
    assert_false(acr_permits(s, &c, NULL));
    acr_free(s);
}

static void malformed_sets(void **state)
{
    (void)state;
    assert_true(rejects("[]"));
    assert_true(rejects("{\"acr\":{}}"));
    assert_true(rejects("{\"acr\":[{\"acop\":2}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[],\"acop\":2}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":0}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":64}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":\"2\"}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":2,\"acaf\":1}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":2,\"acco\":[{\"actw\":[\"bad\"]}]}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":2,\"acco\":[{\"acip\":{\"ipv4\":[\"::1\"]}}]}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":2,\"acco\":[{\"aclr\":{\"accc\":[\"KR\"],\"accr\":[1,2,3]}}]}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":2,\"acco\":[{\"aclr\":{\"accr\":[91,0,3]}}]}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":1,\"acod\":[{\"ty\":[3],\"chty\":[4]}]}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":1,\"acod\":[{\"ty\":3}]}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":1,\"acod\":[{\"ty\":13,\"chty\":[4]}]}]}"));
    assert_true(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":2,\"xyz\":1}]}"));
    assert_false(rejects("{\"acr\":[{\"acor\":[\"a\"],\"acop\":2,\"acco\":[{\"aclr\":{\"accr\":[37.5,127.0,500]}}]}]}"));
}

/* Mutated rule sets never crash the parser or the evaluator (ASan run). */
static void mutations(void **state)
{
    (void)state;
    static const char seed[] =
        "{\"acr\":[{\"acor\":[\"C*\",\"/id-in/Cx\",\"//sp\",\"all\"],\"acop\":63,"
        "\"acco\":[{\"actw\":[\"*/5 0-30 8-17 * 1,6 1-5 2020-2030\"],\"acip\":{\"ipv4\":[\"10.0.0.0/8\"],"
        "\"ipv6\":[\"fd00::/8\"]},\"aclr\":{\"accr\":[1.5,2.5,30]}}],\"acaf\":true,"
        "\"acod\":[{\"ty\":3,\"chty\":[4,23]}]}]}";
    static const char alphabet[] = "{}[]\":,*/-0123456789acoprtwilyvh ";
    uint32_t rng = 12345;
    char buf[sizeof seed];
    int parsed = 0;
    for (int i = 0; i < 3000; i++) {
        memcpy(buf, seed, sizeof seed);
        for (int k = 0; k < 1 + i % 4; k++) {
            rng = rng * 1103515245u + 12345u;
            size_t at = (rng >> 8) % (sizeof seed - 1);
            buf[at] = alphabet[(rng >> 20) % (sizeof alphabet - 1)];
        }
        json_t *j = json_loads(buf, 0, NULL);
        if (!j) continue;
        char err[256];
        struct acr_set *s = acr_parse(j, NULL, NULL, err, sizeof err);
        json_decref(j);
        if (!s) continue;
        parsed++;
        struct acr_subject a = who("Cx", ACOP_CREATE);
        a.child_ty = 4;
        a.target_ty = 3;
        a.authenticated = true;
        acr_permits(s, &a, NULL);
        acr_free(s);
    }
    assert_true(parsed > 0);
}

/* ---- store-backed resolution on an in-memory CSE ---- */

struct fixture { struct cse cse; };

static int put(struct cse *cse, int ty, const char *path, const char *json)
{
    struct resource *r = resource_new(ty, json_loads(json, 0, NULL), path);
    int rc = store_insert(cse->store, r);
    resource_free(r);
    return rc;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct config cfg;
    config_defaults(&cfg);
    strcpy(cfg.db_file, ":memory:");
    assert_int_equal(cse_open(&f->cse, &cfg, NULL), 0);
    struct cse *c = &f->cse;
    assert_int_equal(put(c, 2, "cse-in/ae1", "{\"ty\":2,\"ri\":\"Cae1\",\"rn\":\"ae1\",\"pi\":\"id-in\"}"), 0);
    assert_int_equal(put(c, 2, "cse-in/ae2", "{\"ty\":2,\"ri\":\"Cae2\",\"rn\":\"ae2\",\"pi\":\"id-in\"}"), 0);
    assert_int_equal(put(c, 1, "cse-in/ae1/acpR", "{\"ty\":1,\"ri\":\"acpR\",\"rn\":\"acpR\",\"pi\":\"Cae1\","
                     "\"pv\":{\"acr\":[{\"acor\":[\"Cae2\"],\"acop\":34}]},"
                     "\"pvs\":{\"acr\":[{\"acor\":[\"Cae1\"],\"acop\":63}]}}"), 0);
    assert_int_equal(put(c, 3, "cse-in/ae1/open", "{\"ty\":3,\"ri\":\"cntOpen\",\"rn\":\"open\",\"pi\":\"Cae1\","
                     "\"acpi\":[\"acpR\"]}"), 0);
    assert_int_equal(put(c, 3, "cse-in/ae1/closed", "{\"ty\":3,\"ri\":\"cntClosed\",\"rn\":\"closed\",\"pi\":\"Cae1\"}"), 0);
    assert_int_equal(put(c, 4, "cse-in/ae1/open/i1", "{\"ty\":4,\"ri\":\"cin1\",\"rn\":\"i1\",\"pi\":\"cntOpen\",\"con\":1}"), 0);
    assert_int_equal(put(c, 9, "cse-in/ae1/team", "{\"ty\":9,\"ri\":\"grpTeam\",\"rn\":\"team\",\"pi\":\"Cae1\","
                     "\"mid\":[\"/id-in/Cae2\",\"cse-in/ae3\"]}"), 0);
    assert_int_equal(put(c, 2, "cse-in/ae3", "{\"ty\":2,\"ri\":\"Cae3\",\"rn\":\"ae3\",\"pi\":\"id-in\"}"), 0);
    assert_int_equal(put(c, 1, "cse-in/ae1/acpG", "{\"ty\":1,\"ri\":\"acpG\",\"rn\":\"acpG\",\"pi\":\"Cae1\","
                     "\"pv\":{\"acr\":[{\"acor\":[\"grpTeam\"],\"acop\":2}]},"
                     "\"pvs\":{\"acr\":[{\"acor\":[\"Cae1\"],\"acop\":63}]}}"), 0);
    assert_int_equal(put(c, 3, "cse-in/ae1/team-only", "{\"ty\":3,\"ri\":\"cntTeam\",\"rn\":\"team-only\","
                     "\"pi\":\"Cae1\",\"acpi\":[\"acpG\"]}"), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cse_close(&f->cse);
    free(f);
    return 0;
}

static int check(struct cse *cse, const char *fr, const char *ri, int acop, const char *body)
{
    struct m2m_request req;
    m2m_request_init(&req);
    req.binding = BINDING_HTTP;
    req.fr = strdup(fr);
    req.op = acop == ACOP_UPDATE ? OP_UPDATE : OP_RETRIEVE;
    if (body) req.pc = json_loads(body, 0, NULL);
    struct resource *r = NULL;
    assert_int_equal(store_get(cse->store, ri, &r), 0);
    int rc = acl_check(cse, &req, r, acop);
    resource_free(r);
    m2m_request_clear(&req);
    return rc;
}

static void resolution(void **state)
{
    struct cse *c = &((struct fixture *)*state)->cse;
    const int deny = RSC_ORIGINATOR_HAS_NO_PRIVILEGE;
    /* acpi: Cae2 may retrieve and discover, nothing else. */
    assert_int_equal(check(c, "Cae2", "cntOpen", ACOP_RETRIEVE, NULL), 0);
    assert_int_equal(check(c, "/id-in/Cae2", "cntOpen", ACOP_DISCOVERY, NULL), 0);
    assert_int_equal(check(c, "Cae2", "cntOpen", ACOP_DELETE, NULL), deny);
    /* A linked ACP binds the owner too. */
    assert_int_equal(check(c, "Cae1", "cntOpen", ACOP_RETRIEVE, NULL), deny);
    /* contentInstance inherits from its container. */
    assert_int_equal(check(c, "Cae2", "cin1", ACOP_RETRIEVE, NULL), 0);
    assert_int_equal(check(c, "Cae2", "cin1", ACOP_DELETE, NULL), deny);
    /* Empty acpi: the owning AE only. */
    assert_int_equal(check(c, "Cae1", "cntClosed", ACOP_DELETE, NULL), 0);
    assert_int_equal(check(c, "Cae2", "cntClosed", ACOP_RETRIEVE, NULL), deny);
    /* The ACP itself answers to pvs. */
    assert_int_equal(check(c, "Cae1", "acpR", ACOP_UPDATE, NULL), 0);
    assert_int_equal(check(c, "Cae2", "acpR", ACOP_RETRIEVE, NULL), deny);
    /* Changing acpi is judged by pvs: Cae1 may, Cae2 (pv only) may not. */
    const char *acpi = "{\"m2m:cnt\":{\"acpi\":[]}}";
    assert_int_equal(check(c, "Cae1", "cntOpen", ACOP_UPDATE, acpi), 0);
    assert_int_equal(check(c, "Cae2", "cntOpen", ACOP_UPDATE, acpi), deny);
    /* The admin may do anything; the CSEBase lets registered AEs read it. */
    assert_int_equal(check(c, "CAdmin", "cntClosed", ACOP_DELETE, NULL), 0);
    assert_int_equal(check(c, "Cae2", "id-in", ACOP_RETRIEVE, NULL), 0);
    assert_int_equal(check(c, "Cae2", "id-in", ACOP_UPDATE, NULL), deny);
    assert_int_equal(check(c, "Cstranger", "id-in", ACOP_RETRIEVE, NULL), deny);
    assert_int_equal(check(c, "/id-mn", "id-in", ACOP_NOTIFY, NULL), 0);
    /* Group members (by AE-ID or by the AE's address) are covered by a group entry. */
    assert_int_equal(check(c, "Cae2", "cntTeam", ACOP_RETRIEVE, NULL), 0);
    assert_int_equal(check(c, "Cae3", "cntTeam", ACOP_RETRIEVE, NULL), 0);
    assert_int_equal(check(c, "Cae1", "cntTeam", ACOP_RETRIEVE, NULL), deny);
    assert_int_equal(check(c, "grpTeam", "cntTeam", ACOP_RETRIEVE, NULL), deny);
    /* NOTIFY rights for notification targets. */
    struct resource *ae1 = NULL;
    assert_int_equal(store_get(c->store, "Cae1", &ae1), 0);
    assert_int_equal(acl_check_notify(c, "Cae1", ae1), 0);
    assert_int_equal(acl_check_notify(c, "Cae2", ae1), deny);
    resource_free(ae1);
}

/* An originator of another SP, or of another CSE, is never the local AE of
 * the same name: not the admin, not an owner, not a group member, not an
 * acor entry written in CSE-relative or SP-relative form (cse/ident.h). */
static void foreign_originators(void **state)
{
    struct cse *c = &((struct fixture *)*state)->cse;
    const int deny = RSC_ORIGINATOR_HAS_NO_PRIVILEGE;
    static const char *const strangers[] = {
        "//evil.example/id-in/", "//ironbark.local/id-mn/", "/id-mn/", "//ironbark.localx/id-in/",
    };
    for (size_t i = 0; i < sizeof strangers / sizeof *strangers; i++) {
        char admin[64], ae1[64], ae2[64], ae3[64];
        snprintf(admin, sizeof admin, "%sCAdmin", strangers[i]);
        snprintf(ae1, sizeof ae1, "%sCae1", strangers[i]);
        snprintf(ae2, sizeof ae2, "%sCae2", strangers[i]);
        snprintf(ae3, sizeof ae3, "%sCae3", strangers[i]);
        assert_int_equal(check(c, admin, "cntClosed", ACOP_DELETE, NULL), deny);   /* admin */
        assert_int_equal(check(c, admin, "id-in", ACOP_UPDATE, NULL), deny);
        assert_int_equal(check(c, ae1, "cntClosed", ACOP_RETRIEVE, NULL), deny);   /* owner */
        assert_int_equal(check(c, ae1, "cntClosed", ACOP_DELETE, NULL), deny);
        assert_int_equal(check(c, ae1, "Cae1", ACOP_DELETE, NULL), deny);          /* the AE itself */
        assert_int_equal(check(c, ae1, "acpR", ACOP_UPDATE, NULL), deny);          /* pvs acor "Cae1" */
        assert_int_equal(check(c, ae2, "cntOpen", ACOP_RETRIEVE, NULL), deny);     /* pv acor "Cae2" */
        assert_int_equal(check(c, ae2, "cntTeam", ACOP_RETRIEVE, NULL), deny);     /* mid "/id-in/Cae2" */
        assert_int_equal(check(c, ae3, "cntTeam", ACOP_RETRIEVE, NULL), deny);     /* mid "cse-in/ae3" */
        assert_int_equal(check(c, ae2, "id-in", ACOP_RETRIEVE, NULL), deny);       /* registered AEs only */
        struct resource *r = NULL;
        assert_int_equal(store_get(c->store, "Cae1", &r), 0);
        assert_int_equal(acl_check_notify(c, ae1, r), deny);
        resource_free(r);
    }
    /* The local forms are still the same AE (the SP-ID in any case). */
    assert_int_equal(check(c, "//IRONBARK.local/id-in/CAdmin", "cntClosed", ACOP_DELETE, NULL), 0);
    assert_int_equal(check(c, "/id-in/Cae1", "cntClosed", ACOP_DELETE, NULL), 0);
    assert_int_equal(check(c, "//ironbark.local/id-in/Cae1", "acpR", ACOP_UPDATE, NULL), 0);
    assert_int_equal(check(c, "//Ironbark.Local/id-in/Cae2", "cntOpen", ACOP_RETRIEVE, NULL), 0);
    assert_int_equal(check(c, "//ironbark.local/id-in/Cae3", "cntTeam", ACOP_RETRIEVE, NULL), 0);
    /* A malformed originator names no one. */
    assert_int_equal(check(c, "/id-in//Cae1", "cntClosed", ACOP_RETRIEVE, NULL), deny);
}

/* acor entries: a foreign subject has only its absolute form. */
static void foreign_acor(void **state)
{
    (void)state;
    struct acr_set *s = parse("{\"acr\":[{\"acor\":[\"Cx\",\"/id-in/C*\",\"//Evil.Example/id-in/Cy\"],"
                              "\"acop\":2}]}");
    struct acr_subject foreign_x = { .abs = "//evil.example/id-in/Cx", .op_bit = ACOP_RETRIEVE };
    struct acr_subject foreign_y = { .abs = "//evil.example/id-in/Cy", .op_bit = ACOP_RETRIEVE };
    struct acr_subject local_y = who("Cy", ACOP_RETRIEVE);
    assert_false(acr_permits(s, &foreign_x, NULL));   /* neither "Cx" nor "/id-in/C*" */
    assert_true(acr_permits(s, &foreign_y, NULL));    /* the absolute entry, SP-ID in any case */
    local_y.abs = "//sp.example/id-in/Cy";
    assert_true(acr_permits(s, &local_y, NULL));      /* by "/id-in/C*" */
    acr_free(s);
}

static void validates_acpi(void **state)
{
    struct cse *c = &((struct fixture *)*state)->cse;
    struct m2m_response rsp;
    m2m_response_init(&rsp);
    json_t *good = json_pack("[s,s]", "acpR", "cse-in/ae1/acpR");
    json_t *bad = json_pack("[s,s]", "acpR", "cntOpen");
    assert_int_equal(acl_validate_acpi(c, good, &rsp), 0);
    assert_int_equal(acl_validate_acpi(c, bad, &rsp), RSC_BAD_REQUEST);
    json_decref(good);
    json_decref(bad);
    m2m_response_clear(&rsp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(originators),
        cmocka_unit_test(wildcards),
        cmocka_unit_test(every_acop_bit),
        cmocka_unit_test(permit_overrides),
        cmocka_unit_test(time_windows),
        cmocka_unit_test(attribute_lists),
        cmocka_unit_test(ip_ranges),
        cmocka_unit_test(contexts_combine),
        cmocka_unit_test(authentication_flag),
        cmocka_unit_test(object_details),
        cmocka_unit_test(groups),
        cmocka_unit_test(malformed_sets),
        cmocka_unit_test(mutations),
        cmocka_unit_test_setup_teardown(resolution, setup, teardown),
        cmocka_unit_test_setup_teardown(validates_acpi, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_originators, setup, teardown),
        cmocka_unit_test(foreign_acor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
