/* The store (cse/store.c) through store.h: uniqueness, subtree bounds,
 * ordering, depth, edge children, expiry scans, transactions, reopening. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>

#include "cse/base/log.h"
#include "cse/core/rsc.h"
#include "cse/store/store.h"

static struct store *s;

static struct resource *mk(const char *ri, const char *pi, int ty, const char *path, const char *et)
{
    json_t *a = json_pack("{s:s,s:s,s:i}", "ri", ri, "pi", pi, "ty", ty);
    if (et) json_object_set_new(a, "et", json_string(et));
    return resource_new(ty, a, path);
}

static int put(const char *ri, const char *pi, int ty, const char *path, const char *et)
{
    struct resource *r = mk(ri, pi, ty, path, et);
    int rc = store_insert(s, r);
    if (!rc) assert_true(r->seq > 0);
    resource_free(r);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    log_set_level(LOG_LVL_ERROR - 1); /* silence: the failures below are provoked */
    if (store_open(&s, ":memory:", STORE_SYNC_OFF)) return -1;
    /* cse-in
     *   a          (ae)      a/c1 (cnt) a/c1/i1 i2 i3 (cin), a/c1/sub (cnt), a/c1/sub/j (cin)
     *   a-x, a.y, a0b   siblings whose names sort right around "a/" */
    int rc = put("cb", "", 5, "cse-in", NULL) | put("ae1", "cb", 2, "cse-in/a", "20300101T000000,000000") |
             put("cnt1", "ae1", 3, "cse-in/a/c1", "20300101T000000,000000") |
             put("i1", "cnt1", 4, "cse-in/a/c1/i1", "20250101T000000,000000") |
             put("i2", "cnt1", 4, "cse-in/a/c1/i2", "20240101T000000,000000") |
             put("sub", "cnt1", 3, "cse-in/a/c1/sub", "20290101T000000,000000") |
             put("i3", "cnt1", 4, "cse-in/a/c1/i3", "20260101T000000,000000") |
             put("j", "sub", 4, "cse-in/a/c1/sub/j", NULL) |
             put("x1", "cb", 2, "cse-in/a-x", NULL) | put("x2", "cb", 2, "cse-in/a.y", NULL) |
             put("x3", "cb", 2, "cse-in/a0b", NULL);
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close(s);
    return 0;
}

static void lookups(void **state)
{
    (void)state;
    struct resource *r;
    assert_int_equal(store_get(s, "cnt1", &r), 0);
    assert_string_equal(r->path, "cse-in/a/c1");
    assert_int_equal(r->ty, 3);
    resource_free(r);
    assert_int_equal(store_get_path(s, "cse-in/a/c1/sub", &r), 0);
    assert_string_equal(res_ri(r), "sub");
    resource_free(r);
    assert_int_equal(store_get(s, "nope", &r), RSC_NOT_FOUND);
    assert_int_equal(store_get_path(s, "cse-in/nope", &r), RSC_NOT_FOUND);
    /* SQL metacharacters are plain data. */
    assert_int_equal(store_get(s, "x' OR '1'='1", &r), RSC_NOT_FOUND);
    assert_int_equal(store_get_path(s, "cse-in/%", &r), RSC_NOT_FOUND);
}

static void uniqueness(void **state)
{
    (void)state;
    assert_int_equal(put("other", "ae1", 3, "cse-in/a/c1", NULL), RSC_CONFLICT);      /* path taken */
    assert_int_equal(put("cnt1", "ae1", 3, "cse-in/a/c9", NULL), RSC_ALREADY_EXISTS); /* ri taken */
}

struct list { char items[32][64]; int n; };

static int collect(struct resource *r, void *data)
{
    struct list *l = data;
    if (l->n < 32) snprintf(l->items[l->n++], 64, "%s", res_ri(r));
    return 0;
}

static void children_and_descendants(void **state)
{
    (void)state;
    struct list l = { .n = 0 };
    assert_int_equal(store_children(s, "cnt1", 0, collect, &l), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.items[0], "i1");   /* creation order */
    assert_string_equal(l.items[2], "sub");
    l.n = 0;
    assert_int_equal(store_children(s, "cnt1", 4, collect, &l), 0);
    assert_int_equal(l.n, 3);
    l.n = 0;
    assert_int_equal(store_descendants(s, "cse-in/a", 0, collect, &l), 0);
    assert_int_equal(l.n, 6);                /* not a-x, a.y, a0b */
    assert_string_equal(l.items[0], "cnt1"); /* parents before children */
    /* Pre-order, siblings in creation order: sub's j before i3, created
     * after it (a subtree scan in key order needs no sort, see below). */
    assert_string_equal(l.items[3], "sub");
    assert_string_equal(l.items[4], "j");
    assert_string_equal(l.items[5], "i3");
    l.n = 0;
    assert_int_equal(store_descendants(s, "cse-in/a", 1, collect, &l), 0);
    assert_int_equal(l.n, 1);
    l.n = 0;
    assert_int_equal(store_descendants(s, "cse-in/a", 2, collect, &l), 0);
    assert_int_equal(l.n, 5);
    int64_t n;
    assert_int_equal(store_count_children(s, "cnt1", 4, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(store_count_children(s, "cnt1", 0, &n), 0);
    assert_int_equal(n, 4);
    struct resource *r;
    assert_int_equal(store_edge_child(s, "cnt1", 4, false, &r), 0);
    assert_string_equal(res_ri(r), "i1");
    resource_free(r);
    assert_int_equal(store_edge_child(s, "cnt1", 4, true, &r), 0);
    assert_string_equal(res_ri(r), "i3");
    resource_free(r);
    assert_int_equal(store_edge_child(s, "sub", 3, true, &r), RSC_NOT_FOUND);
}

static int stop_at_two(struct resource *r, void *data)
{
    (void)r;
    return ++*(int *)data == 2 ? 7 : 0;
}

static void visitor_stops(void **state)
{
    (void)state;
    int seen = 0;
    assert_int_equal(store_children(s, "cnt1", 0, stop_at_two, &seen), 7);
    assert_int_equal(seen, 2);
}

static void expiry(void **state)
{
    (void)state;
    struct list l = { .n = 0 };
    assert_int_equal(store_expired(s, "20250601T000000,000000", collect, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0], "i2");   /* earliest et first */
    assert_string_equal(l.items[1], "i1");
    char ts[23];
    assert_int_equal(store_next_expiry(s, ts), 0);
    assert_string_equal(ts, "20240101T000000,000000");
}

static void update_and_transactions(void **state)
{
    (void)state;
    struct resource *r;
    assert_int_equal(store_get(s, "i2", &r), 0);
    json_object_set_new(r->attrs, "et", json_string("20350101T000000,000000"));
    json_object_set_new(r->attrs, "lbl", json_pack("[s]", "x"));
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_update(s, r), 0);
    store_rollback(s);
    resource_free(r);
    assert_int_equal(store_get(s, "i2", &r), 0);
    assert_null(json_object_get(r->attrs, "lbl"));   /* rolled back */
    json_object_set_new(r->attrs, "et", json_string("20350101T000000,000000"));
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_update(s, r), 0);
    assert_int_equal(store_commit(s), 0);
    resource_free(r);
    char ts[23];
    assert_int_equal(store_next_expiry(s, ts), 0);
    assert_string_equal(ts, "20250101T000000,000000");  /* the et column follows the body */
    struct resource *ghost = mk("ghost", "x", 3, "cse-in/ghost", NULL);
    assert_int_equal(store_update(s, ghost), RSC_NOT_FOUND);
    resource_free(ghost);
    store_rollback(s);                                  /* harmless outside a transaction */
}

static int count(struct resource *r, void *data)
{
    (void)r;
    ++*(int *)data;
    return 0;
}

static void subtree_delete(void **state)
{
    (void)state;
    struct resource *a;
    assert_int_equal(store_get(s, "ae1", &a), 0);
    int visited = 0;
    assert_int_equal(store_delete_subtree(s, a, count, &visited), 0);
    assert_int_equal(visited, 6);
    struct resource *r;
    assert_int_equal(store_get(s, "j", &r), RSC_NOT_FOUND);
    assert_int_equal(store_get(s, "ae1", &r), RSC_NOT_FOUND);
    const char *siblings[] = { "x1", "x2", "x3", "cb" };
    for (int i = 0; i < 4; i++) {
        assert_int_equal(store_get(s, siblings[i], &r), 0);   /* neighbours by name survive */
        resource_free(r);
    }
    assert_int_equal(store_delete_subtree(s, a, NULL, NULL), RSC_NOT_FOUND);
    resource_free(a);
}

/* A fresh temporary file name into path (a mkstemp template). */
static void temp_db(char *path)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
}

static void remove_db(const char *path)
{
    char extra[64];
    snprintf(extra, sizeof extra, "%s-wal", path); unlink(extra);
    snprintf(extra, sizeof extra, "%s-shm", path); unlink(extra);
    unlink(path);
}

static void reopen_file(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-store-XXXXXX";
    temp_db(path);
    unlink(path);
    struct store *f;
    assert_int_equal(store_open(&f, path, STORE_SYNC_NORMAL), 0);
    struct resource *r = mk("p1", "", 5, "cse-in", NULL);
    assert_int_equal(store_begin(f), 0);
    assert_int_equal(store_insert(f, r), 0);
    assert_int_equal(store_commit(f), 0);
    resource_free(r);
    store_close(f);
    assert_int_equal(store_open(&f, path, STORE_SYNC_FULL), 0);
    assert_int_equal(store_get(f, "p1", &r), 0);
    assert_string_equal(r->path, "cse-in");
    resource_free(r);
    store_close(f);
    remove_db(path);
    assert_int_not_equal(store_open(&f, "/nonexistent-dir/x.db", STORE_SYNC_NORMAL), 0);
}

static int stop_at(struct resource *r, void *data)
{
    (void)r;
    return --*(int *)data == 0;
}

static void put_many(struct store *st, const char *parent_ri, const char *parent_path,
                     const char *prefix, int ty, int n)
{
    char ri[64], path[160];
    assert_int_equal(store_begin(st), 0);
    for (int i = 0; i < n; i++) {
        snprintf(ri, sizeof ri, "%s%d", prefix, i);
        snprintf(path, sizeof path, "%s/%s%d", parent_path, prefix, i);
        json_t *a = json_pack("{s:s,s:s,s:i}", "ri", ri, "pi", parent_ri, "ty", ty);
        struct resource *r = resource_new(ty, a, path);
        assert_int_equal(store_insert(st, r), 0);
        resource_free(r);
    }
    assert_int_equal(store_commit(st), 0);
}

/* Collects the first resource it sees, then stops. */
static int first_only(struct resource *r, void *data)
{
    collect(r, data);
    return 1;
}

/* A fresh in-memory store with a CSEBase (cb_ri) and a container cse-in/c. */
static struct store *open_with_container(const char *cb_ri, const char *cnt_ri)
{
    struct store *st;
    assert_int_equal(store_open(&st, ":memory:", STORE_SYNC_OFF), 0);
    struct resource *cb = mk(cb_ri, "", 5, "cse-in", NULL), *cnt = mk(cnt_ri, cb_ri, 3, "cse-in/c", NULL);
    assert_int_equal(store_insert(st, cb), 0);
    assert_int_equal(store_insert(st, cnt), 0);
    resource_free(cb);
    resource_free(cnt);
    return st;
}

/* The plan of a limited subtree scan, pinned by what SQLite did: no sort
 * (temporary B-tree for ORDER BY), no full scan, and rows read in
 * proportion to the rows taken, not to the subtree (2 000 instances here,
 * and 2 000 subscriptions after them). */
static void limited_scan_reads_only_what_it_takes(void **state)
{
    (void)state;
    struct store *st = open_with_container("pcb", "pcnt");
    put_many(st, "pcnt", "cse-in/c", "cin", 4, 2000);
    put_many(st, "pcnt", "cse-in/c", "sub", 23, 2000);
    struct { const char *path; int depth, ty; } cases[] = {
        { "cse-in/c", 0, 0 }, { "cse-in/c", 0, 4 }, { "cse-in", 0, 4 }, { "cse-in", 0, 0 },
        { "cse-in", 2, 0 }, { "cse-in/c", 1, 4 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int left = 10;
        assert_int_equal(store_scan_subtree(st, cases[i].path, cases[i].depth, cases[i].ty,
                                            stop_at, &left), 1);
        struct store_scan_stats stats = store_last_scan(st);
        assert_int_equal(stats.sorts, 0);
        assert_int_equal(stats.full_scan_steps, 0);
        assert_true(stats.rows <= 11);
        assert_true(stats.seeks <= 1);
        /* Every row looked at costs VM steps: a few hundred for ten rows,
         * tens of thousands for the 4 000 of the subtree. */
        assert_true(stats.vm_steps < 1000);
    }
    /* Groups sparse among instances and subscriptions (created after
     * them): found through the (ty, sk) index, without reading the others. */
    put_many(st, "pcnt", "cse-in/c", "late", 9, 5);
    struct list late = { .n = 0 };
    assert_int_equal(store_scan_subtree(st, "cse-in", 0, 9, first_only, &late), 1);
    assert_string_equal(late.items[0], "late0");
    assert_true(store_last_scan(st).vm_steps < 1000);
    assert_int_equal(store_last_scan(st).sorts, 0);
    /* A depth limit skips the subtree under the last level instead of
     * reading it: lvl=1 from the CSEBase sees only the container. */
    struct list l = { .n = 0 };
    assert_int_equal(store_scan_subtree(st, "cse-in", 1, 0, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0], "pcnt");
    assert_true(store_last_scan(st).rows <= 2);
    /* A type scan finds the instances in creation order, and only them. */
    l.n = 0;
    int left = 3;
    assert_int_equal(store_scan_subtree(st, "cse-in", 0, 4, stop_at, &left), 1);
    assert_int_equal(store_scan_subtree(st, "cse-in", 0, 4, collect, &l), 0);
    assert_int_equal(l.n, 32);
    assert_string_equal(l.items[0], "cin0");
    assert_string_equal(l.items[31], "cin31");
    assert_int_equal(store_last_scan(st).rows, 2000);
    assert_int_equal(store_scan_subtree(st, "cse-in/none", 0, 0, collect, &l), 0);
    store_close(st);
}

/* A peek (store_peek_fn) that checks what it is shown, passes rows with
 * an odd number over and stops the scan (9) at "cin50". */
struct peek_probe { struct list l; int peeked; };

static int peek_odd(const struct store_row *row, void *data)
{
    struct peek_probe *p = data;
    p->peeked++;
    char path[80];
    snprintf(path, sizeof path, "cse-in/c/%s", row->ri);
    assert_string_equal(row->path, path);
    assert_string_equal(row->pi, "pcnt");
    assert_int_equal(row->ty, 4);
    assert_true(row->et && !strcmp(row->et, "20991231T000000"));
    assert_true(row->body_len > strlen(row->ri) && row->body[0] == '{' && memmem(row->body, row->body_len, row->ri, strlen(row->ri)));
    if (!strcmp(row->ri, "cin50")) return 9;
    return (row->ri[strlen(row->ri) - 1] - '0') % 2 ? STORE_ROW_PASS : 0;
}

static int collect_peeked(struct resource *r, void *data)
{
    return collect(r, &((struct peek_probe *)data)->l);
}

/* A scan's peek sees each row (its ri, path, pi, ty, et and body) before
 * it is decoded: rows it passes over are not visited, its stop value ends
 * the scan with the cursor at that row, and the scan goes on after it.
 * The plan is the same: rows read in order, no sort, no full scan. */
static void peek_passes_rows_over(void **state)
{
    (void)state;
    struct store *st = open_with_container("pcb", "pcnt");
    assert_int_equal(store_begin(st), 0);
    for (int i = 0; i < 100; i++) {
        char ri[16], path[48];
        snprintf(ri, sizeof ri, "cin%d", i);
        snprintf(path, sizeof path, "cse-in/c/%s", ri);
        struct resource *r = mk(ri, "pcnt", 4, path, "20991231T000000");
        assert_int_equal(store_insert(st, r), 0);
        resource_free(r);
    }
    assert_int_equal(store_commit(st), 0);
    for (int ty = 0; ty <= 4; ty += 4) {
        struct store_cursor at = { .len = 0 };
        struct peek_probe p = { .peeked = 0 };
        /* Through (sk) with ty checked in SQL, and through (sk) alone. */
        assert_int_equal(store_scan_subtree_from(st, "cse-in/c", 0, ty, &at, peek_odd, collect_peeked, &p), 9);
        assert_int_equal(p.peeked, 51);
        assert_int_equal(p.l.n, 25);   /* cin0, cin2, ... cin48 */
        assert_string_equal(p.l.items[0], "cin0");
        assert_string_equal(p.l.items[24], "cin48");
        struct store_scan_stats stats = store_last_scan(st);
        assert_int_equal(stats.rows, 51);
        assert_int_equal(stats.sorts, 0);
        assert_int_equal(stats.full_scan_steps, 0);
        p.l.n = 0;
        assert_int_equal(store_scan_subtree_from(st, "cse-in/c", 0, ty, &at, NULL, collect_peeked, &p), 0);
        assert_string_equal(p.l.items[0], "cin51");
        assert_int_equal(store_last_scan(st).rows, 49);
    }
    store_close(st);
}

/* Instance i of 4 200 under cse-in/c: ct in creation order, cs i % 100
 * (5 000 for two), cnf text/plain (application/json for two), labels on
 * four. */
static void put_filterable(struct store *st, int i)
{
    char ri[32], path[64], ct[32];
    snprintf(ri, sizeof ri, "f%d", i);
    snprintf(path, sizeof path, "cse-in/c/f%d", i);
    snprintf(ct, sizeof ct, "20260101T%06d", i);
    json_t *a = json_pack("{s:s,s:s,s:i,s:s,s:i,s:s}", "ri", ri, "pi", "fcnt", "ty", 4, "ct", ct,
                          "cs", i == 1500 || i == 1700 ? 5000 : i % 100, "cnf",
                          i == 1800 || i == 1900 ? "application/json:1" : "text/plain:0");
    if (i == 1000) json_object_set_new(a, "lbl", json_pack("[s]", "k:v"));
    if (i == 1200 || i == 1999) json_object_set_new(a, "lbl", json_pack("[s,s]", "hot", "hot"));
    if (i == 1300) json_object_set_new(a, "lbl", json_pack("[s]", "k"));
    struct resource *r = resource_new(4, a, path);
    assert_int_equal(store_insert(st, r), 0);
    resource_free(r);
}

/* The last filtered scan read `rows` rows by index: no full scan, no
 * sort beyond the matches' keys, few VM steps (a read of all 4 200 rows
 * takes > 20 000). */
static void expect_index_only(struct store *st, int64_t rows)
{
    struct store_scan_stats stats = store_last_scan(st);
    assert_int_equal(stats.rows, rows);
    assert_int_equal(stats.full_scan_steps, 0);
    assert_true(stats.vm_steps < 1000);
}

/* Scans st's cse-in/c through need; its result, the rows visited in l. */
static int scan_need(struct store *st, const struct store_term *terms, int n, struct list *l)
{
    struct store_need need = { .nterms = n };
    memcpy(need.term, terms, (size_t)n * sizeof *terms);
    l->n = 0;
    return store_scan_matching(st, "cse-in/c", 0, 4, &need, NULL, collect, l);
}

/* Only the matching rows are read, in pre-order, without a full scan;
 * the plan falls back (RSC_NOT_IMPLEMENTED) when a condition matches too
 * many rows to sort or has no index (ct once out of order; cs with too
 * many distinct cnf values), and
 * the labels follow updates and deletes. */
static void filtered_scan_reads_only_matches(void **state)
{
    (void)state;
    struct store *st;
    assert_int_equal(store_open(&st, ":memory:", STORE_SYNC_OFF), 0);
    struct resource *cb = mk("fcb", "", 5, "cse-in", NULL), *cnt = mk("fcnt", "fcb", 3, "cse-in/c", NULL);
    json_object_set_new(cb->attrs, "ct", json_string("20250101T000000"));
    json_object_set_new(cnt->attrs, "ct", json_string("20250101T000000"));
    assert_int_equal(store_insert(st, cb), 0);
    assert_int_equal(store_insert(st, cnt), 0);
    resource_free(cb);
    resource_free(cnt);
    assert_int_equal(store_begin(st), 0);
    for (int i = 0; i < 4200; i++) put_filterable(st, i);
    assert_int_equal(store_commit(st), 0);
    struct list l;
    const struct store_term hot = { .attr = STORE_ATTR_LABEL, .eq = "hot" };
    assert_int_equal(scan_need(st, &hot, 1, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0], "f1200");
    assert_string_equal(l.items[1], "f1999");
    struct store_scan_stats stats = store_last_scan(st);
    assert_int_equal(stats.rows, 2);
    assert_int_equal(stats.full_scan_steps, 0);
    assert_int_equal(stats.sorts, 0);     /* one label's entries are in pre-order */
    assert_true(stats.vm_steps < 1000);   /* a full read of 4 200 rows takes > 20 000 */
    /* lbq "k": the label "k" or any "k:..."; two terms, sorted (2 rows). */
    const struct store_term key[] = { { .attr = STORE_ATTR_LABEL, .eq = "k" },
                                      { .attr = STORE_ATTR_LABEL, .lo = "k:", .hi = "k;" } };
    assert_int_equal(scan_need(st, key, 2, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0], "f1000");
    assert_string_equal(l.items[1], "f1300");
    assert_true(store_last_scan(st).vm_steps < 1000);
    const struct store_term json[] = { { .attr = STORE_ATTR_CNF, .eq = "application/json" },
                                       { .attr = STORE_ATTR_CNF, .lo = "application/json:",
                                         .hi = "application/json;" } };
    /* cty: a range of resources_content (cnf, cs, sk), two rows read. */
    assert_int_equal(scan_need(st, json, 2, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0], "f1800");
    assert_string_equal(l.items[1], "f1900");
    expect_index_only(st, 2);
    /* sza: one range per distinct cnf (two here, and the rows without). */
    const struct store_term big = { .attr = STORE_ATTR_CS, .ilo = 1000, .ihi = INT64_MAX };
    assert_int_equal(scan_need(st, &big, 1, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0], "f1500");
    assert_string_equal(l.items[1], "f1700");
    expect_index_only(st, 2);
    /* szb matching nearly every row: too many to sort, the plain scan's job. */
    const struct store_term small = { .attr = STORE_ATTR_CS, .ilo = 0, .ihi = 100 };
    assert_int_equal(scan_need(st, &small, 1, &l), RSC_NOT_IMPLEMENTED);
    assert_int_equal(l.n, 0);
    /* cs follows updates (a flexContainer's changes). */
    struct resource *u;
    assert_int_equal(store_get(st, "f1500", &u), 0);
    json_object_set_new(u->attrs, "cs", json_integer(7));
    assert_int_equal(store_update(st, u), 0);
    resource_free(u);
    assert_int_equal(store_get(st, "f7", &u), 0);
    json_object_set_new(u->attrs, "cs", json_integer(6000));
    json_object_del(u->attrs, "cnf");
    assert_int_equal(store_update(st, u), 0);
    resource_free(u);
    assert_int_equal(scan_need(st, &big, 1, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0], "f7");
    assert_string_equal(l.items[1], "f1700");
    const struct store_term late = { .attr = STORE_ATTR_CT, .lo = "20260101T004190" };
    assert_int_equal(scan_need(st, &late, 1, &l), 0);
    assert_int_equal(l.n, 10);
    assert_string_equal(l.items[0], "f4190");
    assert_string_equal(l.items[9], "f4199");
    assert_true(store_last_scan(st).vm_steps < 1000);   /* with the binary search for the seq bounds */
    const struct store_term window = { .attr = STORE_ATTR_CT, .lo = "20260101T000500", .hi = "20260101T000503" };
    assert_int_equal(scan_need(st, &window, 1, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0], "f500");
    assert_string_equal(l.items[2], "f502");
    /* Groups: both must hold; the smaller one is read. */
    const struct store_term both[] = { { .attr = STORE_ATTR_CT, .group = 0, .lo = "20260101T000100" },
                                       { .attr = STORE_ATTR_LABEL, .group = 1, .eq = "hot" } };
    assert_int_equal(scan_need(st, both, 2, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(store_last_scan(st).rows, 2);
    /* Too many to sort (every row is older than this): the plain scan's job. */
    const struct store_term all = { .attr = STORE_ATTR_CT, .hi = "20270101T000000" };
    assert_int_equal(scan_need(st, &all, 1, &l), RSC_NOT_IMPLEMENTED);
    assert_int_equal(l.n, 0);
    /* Depth: the instances are one level below the container. */
    struct store_need need = { .nterms = 1, .term = { hot } };
    l.n = 0;
    assert_int_equal(store_scan_matching(st, "cse-in", 1, 0, &need, NULL, collect, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(store_scan_matching(st, "cse-in", 2, 0, &need, NULL, collect, &l), 0);
    assert_int_equal(l.n, 2);
    /* Labels follow an update (removed from f1200, added to f5) and a delete. */
    assert_int_equal(store_last_scan(st).full_scan_steps, 0);
    struct resource *r;
    assert_int_equal(store_get(st, "f1200", &r), 0);
    json_object_del(r->attrs, "lbl");
    assert_int_equal(store_update(st, r), 0);
    resource_free(r);
    assert_int_equal(store_get(st, "f5", &r), 0);
    json_object_set_new(r->attrs, "lbl", json_pack("[s]", "hot"));
    assert_int_equal(store_update(st, r), 0);
    assert_int_equal(scan_need(st, &hot, 1, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0], "f5");
    assert_string_equal(l.items[1], "f1999");
    assert_int_equal(store_delete_subtree(st, r, NULL, NULL), 0);
    resource_free(r);
    assert_int_equal(store_get(st, "f1999", &r), 0);
    assert_int_equal(store_delete_subtree(st, r, NULL, NULL), 0);
    resource_free(r);
    assert_int_equal(scan_need(st, &hot, 1, &l), 0);
    assert_int_equal(l.n, 0);
    /* A delete of an ancestor takes its descendants' labels too. */
    assert_int_equal(store_get(st, "fcnt", &r), 0);
    assert_int_equal(store_delete_subtree(st, r, NULL, NULL), 0);
    resource_free(r);
    assert_int_equal(scan_need(st, key, 2, &l), RSC_NOT_IMPLEMENTED);   /* no cse-in/c any more */
    /* A row older than the last one starts a new ordered run. */
    assert_int_equal(scan_need(st, &late, 1, &l), RSC_NOT_IMPLEMENTED);   /* (no cse-in/c) */
    cnt = mk("fcnt2", "fcb", 3, "cse-in/c", NULL);
    json_object_set_new(cnt->attrs, "ct", json_string("20270101T000000"));
    assert_int_equal(store_insert(st, cnt), 0);
    resource_free(cnt);
    struct store_need at_root = { .nterms = 1, .term = { { .attr = STORE_ATTR_CT, .lo = "20261231T000000" } } };
    l.n = 0;
    assert_int_equal(store_scan_matching(st, "cse-in", 0, 0, &at_root, NULL, collect, &l), 0);
    assert_int_equal(l.n, 1);
    cnt = mk("old", "fcb", 3, "cse-in/old", NULL);
    json_object_set_new(cnt->attrs, "ct", json_string("20200101T000000"));
    assert_int_equal(store_insert(st, cnt), 0);
    resource_free(cnt);
    /* The rows before it are read besides (fcnt2); the ordered rows from it
     * on through their seq interval ("old" is not in it, "new" is). */
    cnt = mk("new", "fcb", 3, "cse-in/new", NULL);
    json_object_set_new(cnt->attrs, "ct", json_string("20280101T000000"));
    assert_int_equal(store_insert(st, cnt), 0);
    resource_free(cnt);
    l.n = 0;
    assert_int_equal(store_scan_matching(st, "cse-in", 0, 0, &at_root, NULL, collect, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0], "fcnt2");
    assert_string_equal(l.items[1], "new");
    assert_int_equal(store_last_scan(st).full_scan_steps, 0);
    /* More distinct cnf values than a cs term is read through: the plain
     * scan; a cnf is still one range. */
    assert_int_equal(store_begin(st), 0);
    for (int i = 0; i < 40; i++) {
        char ri[16], path[32], cnf[32];
        snprintf(ri, sizeof ri, "m%d", i);
        snprintf(path, sizeof path, "cse-in/m%d", i);
        snprintf(cnf, sizeof cnf, "text/x-%02d:0", i);
        struct resource *m = mk(ri, "fcb", 4, path, NULL);
        json_object_set_new(m->attrs, "ct", json_string("20290101T000000"));
        json_object_set_new(m->attrs, "cnf", json_string(cnf));
        json_object_set_new(m->attrs, "cs", json_integer(1000));
        assert_int_equal(store_insert(st, m), 0);
        resource_free(m);
    }
    assert_int_equal(store_commit(st), 0);
    struct store_need sized = { .nterms = 1, .term = { big } };
    l.n = 0;
    assert_int_equal(store_scan_matching(st, "cse-in", 0, 0, &sized, NULL, collect, &l), RSC_NOT_IMPLEMENTED);
    struct store_need typed = { .nterms = 1, .term = { { .attr = STORE_ATTR_CNF, .eq = "text/x-05:0" } } };
    assert_int_equal(store_scan_matching(st, "cse-in", 0, 0, &typed, NULL, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0], "m5");
    store_close(st);
}

static void expect_newest(struct store *st, const char *ri)
{
    struct resource *r;
    assert_int_equal(store_edge_child_at(st, "cse-in/c", 3, 4, true, &r), 0);
    assert_string_equal(res_ri(r), ri);
    char path[64];
    snprintf(path, sizeof path, "cse-in/c/%s", ri);
    assert_string_equal(r->path, path);
    assert_int_equal(r->ty, 4);
    /* A memo answer shares the cached attributes (read only); a caller
     * that changes them takes its own copy first. */
    assert_true(resource_own(r));
    assert_false(r->shared);
    json_object_set_new(r->attrs, "con", json_string("changed by the caller"));
    resource_free(r);
    assert_int_equal(store_edge_child_at(st, "cse-in/c", 3, 4, true, &r), 0);
    assert_null(json_object_get(r->attrs, "con"));   /* the change stayed the caller's */
    resource_free(r);
}

/* la/ol answered again without a change come from the memo; any change
 * (insert, rollback) is seen at once. */
static void edge_child_memo_follows_changes(void **state)
{
    (void)state;
    struct store *st = open_with_container("mcb", "mc");
    put_many(st, "mc", "cse-in/c", "i", 4, 3);
    expect_newest(st, "i2");
    expect_newest(st, "i2");                           /* again: from the memo */
    assert_int_equal(store_begin(st), 0);
    struct resource *added = mk("i3", "mc", 4, "cse-in/c/i3", NULL);
    assert_int_equal(store_insert(st, added), 0);
    resource_free(added);
    expect_newest(st, "i3");
    store_rollback(st);
    expect_newest(st, "i2");                           /* the rollback is seen */
    struct resource *r;
    assert_int_equal(store_edge_child_at(st, "cse-in/c", 3, 4, false, &r), 0);
    assert_string_equal(res_ri(r), "i0");
    resource_free(r);
    assert_int_equal(store_edge_child_at(st, "cse-in/c", 2, 4, true, &r), RSC_NOT_FOUND);
    store_close(st);
}

static int64_t st_val(struct store *st, const char *path)
{
    struct resource *r;
    assert_int_equal(store_get_path(st, path, &r), 0);
    int64_t v = res_int(r, "st", -1);
    resource_free(r);
    return v;
}

static void set_st(struct store *st, const char *path, int64_t v)
{
    struct resource *r;
    assert_int_equal(store_get_path(st, path, &r), 0);
    json_object_set_new(r->attrs, "st", json_integer(v));
    assert_int_equal(store_update(st, r), 0);
    resource_free(r);
}

static int64_t subs_of(struct store *st, const char *pi)
{
    int64_t n = -1;
    assert_int_equal(store_count_children(st, pi, 23, &n), 0);
    return n;
}

/* A path asked again comes from the path memo and the body cache, without
 * SQLite: it must follow updates, rollbacks and deletes as a lookup would,
 * and a caller's changes to its copy stay the caller's. The count of a
 * type that has no row at all (subscriptions, asked on every CREATE) is
 * answered without SQLite too, and must follow inserts, deletes and
 * rollbacks. */
static void path_memo_and_absent_types_follow_changes(void **state)
{
    (void)state;
    struct store *st = open_with_container("pmcb", "pmc");
    set_st(st, "cse-in/c", 1);
    assert_int_equal(st_val(st, "cse-in/c"), 1);
    assert_int_equal(st_val(st, "cse-in/c"), 1);          /* from the memo */
    struct resource *r;
    assert_int_equal(store_get_path(st, "cse-in/c", &r), 0);
    json_object_set_new(r->attrs, "st", json_integer(99));  /* changed, not stored */
    resource_free(r);
    assert_int_equal(st_val(st, "cse-in/c"), 1);
    assert_int_equal(store_begin(st), 0);
    set_st(st, "cse-in/c", 2);
    assert_int_equal(st_val(st, "cse-in/c"), 2);          /* own write seen */
    store_rollback(st);
    assert_int_equal(st_val(st, "cse-in/c"), 1);          /* the rollback is seen */
    assert_int_equal(store_begin(st), 0);
    set_st(st, "cse-in/c", 3);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(st_val(st, "cse-in/c"), 3);
    /* Deleted and made again under the same path: the new row. */
    assert_int_equal(store_get_path(st, "cse-in/c", &r), 0);
    assert_int_equal(store_delete_subtree(st, r, NULL, NULL), 0);
    resource_free(r);
    assert_int_equal(store_get_path(st, "cse-in/c", &r), RSC_NOT_FOUND);
    struct resource *again = mk("pmc2", "pmcb", 3, "cse-in/c", NULL);
    assert_int_equal(store_insert(st, again), 0);
    resource_free(again);
    assert_int_equal(store_get_path(st, "cse-in/c", &r), 0);
    assert_string_equal(res_ri(r), "pmc2");
    assert_int_equal(res_int(r, "st", -1), -1);
    resource_free(r);

    assert_int_equal(subs_of(st, "pmc2"), 0);
    assert_int_equal(subs_of(st, "pmc2"), 0);             /* known absent */
    assert_int_equal(store_begin(st), 0);
    struct resource *sub = mk("pms", "pmc2", 23, "cse-in/c/s", NULL);
    assert_int_equal(store_insert(st, sub), 0);
    assert_int_equal(subs_of(st, "pmc2"), 1);             /* own insert seen */
    store_rollback(st);
    assert_int_equal(subs_of(st, "pmc2"), 0);
    assert_int_equal(store_insert(st, sub), 0);
    assert_int_equal(subs_of(st, "pmc2"), 1);
    assert_int_equal(subs_of(st, "pmcb"), 0);             /* elsewhere: still counted */
    assert_int_equal(store_begin(st), 0);
    assert_int_equal(store_delete_subtree(st, sub, NULL, NULL), 0);
    assert_int_equal(subs_of(st, "pmc2"), 0);
    store_rollback(st);
    assert_int_equal(subs_of(st, "pmc2"), 1);             /* the delete rolled back */
    assert_int_equal(store_get_path(st, "cse-in/c", &r), 0);
    assert_int_equal(store_delete_subtree(st, r, NULL, NULL), 0);   /* the sub goes with it */
    resource_free(r);
    assert_int_equal(subs_of(st, "pmc2"), 0);
    resource_free(sub);
    store_close(st);
}

static bool has_ri(struct store *st, const char *ri)
{
    struct resource *r = NULL;
    int rc = store_get(st, ri, &r);
    resource_free(r);
    return rc == 0;
}

static int put_batched(struct store *st, const char *ri, bool keep)
{
    char path[64];
    snprintf(path, sizeof path, "cse-in/c/%s", ri);
    struct resource *r = mk(ri, "bgc", 4, path, NULL);
    assert_int_equal(store_begin_batched(st), 0);
    int rc = store_insert(st, r);
    resource_free(r);
    if (rc || !keep) store_rollback(st);
    else rc = store_commit(st);
    return rc;
}

/* The batch's first primitive has no savepoint: rolling it back rolls back
 * the batch, which holds nothing else; later primitives roll back alone,
 * and what the others wrote commits with the batch. */
static void batch_first_primitive_rolls_back_alone(void **state)
{
    (void)state;
    struct store *st = open_with_container("bgcb", "bgc");
    store_batch_enable(st, true);
    assert_int_equal(put_batched(st, "f1", false), 0);
    assert_false(store_batch_pending(st));              /* nothing left to commit */
    assert_false(has_ri(st, "f1"));
    assert_int_equal(put_batched(st, "a1", true), 0);   /* first of a new batch */
    assert_int_equal(put_batched(st, "b1", false), 0);  /* a later one, rolled back */
    assert_int_equal(put_batched(st, "c1", true), 0);
    assert_int_equal(put_batched(st, "a1", true), RSC_CONFLICT);   /* name taken: refused alone */
    assert_true(store_batch_pending(st));
    assert_int_equal(store_batch_size(st), 4);
    assert_int_equal(store_batch_commit(st), 0);
    assert_false(store_batch_pending(st));
    assert_true(has_ri(st, "a1"));
    assert_false(has_ri(st, "b1"));
    assert_true(has_ri(st, "c1"));
    /* A first primitive refused by the store, then more in the same batch. */
    assert_int_equal(put_batched(st, "a1", true), RSC_CONFLICT);
    assert_int_equal(put_batched(st, "d1", true), 0);
    assert_int_equal(store_batch_commit(st), 0);
    assert_true(has_ri(st, "d1"));
    store_batch_enable(st, false);
    store_close(st);
}

/* A database written before the scan keys and filter columns existed is
 * migrated on open: every row gets its key, its filter columns and its
 * labels, and scans see the tree as before. */
static void migrates_old_schema(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-store-old-XXXXXX";
    temp_db(path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    const char *old_schema =
        "CREATE TABLE resources(seq INTEGER PRIMARY KEY, ri TEXT NOT NULL UNIQUE,"
        " path TEXT NOT NULL UNIQUE, pi TEXT NOT NULL, ty INTEGER NOT NULL, et TEXT, body TEXT NOT NULL);"
        "CREATE INDEX resources_children ON resources(pi, ty);"
        "INSERT INTO resources(ri, path, pi, ty, body) VALUES"
        " ('cb', 'cse-in', '', 5, '{\"ri\":\"cb\",\"pi\":\"\"}'),"
        " ('ae', 'cse-in/ae', 'cb', 2, '{\"ri\":\"ae\",\"pi\":\"cb\"}'),"
        " ('c', 'cse-in/ae/c', 'ae', 3, '{\"ri\":\"c\",\"pi\":\"ae\"}'),"
        " ('i1', 'cse-in/ae/c/i1', 'c', 4, '{\"ri\":\"i1\",\"pi\":\"c\",\"lbl\":[\"a\",\"b\"],\"cs\":3}'),"
        " ('ae2', 'cse-in/ae2', 'cb', 2, '{\"ri\":\"ae2\",\"pi\":\"cb\"}'),"
        " ('i2', 'cse-in/ae/c/i2', 'c', 4, '{\"ri\":\"i2\",\"pi\":\"c\"}');";
    assert_int_equal(sqlite3_exec(db, old_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct store *st;
    assert_int_equal(store_open(&st, path, STORE_SYNC_NORMAL), 0);
    struct list l = { .n = 0 };
    assert_int_equal(store_descendants(st, "cse-in", 0, collect, &l), 0);
    assert_int_equal(l.n, 5);
    const char *order[] = { "ae", "c", "i1", "i2", "ae2" };
    for (int i = 0; i < 5; i++) assert_string_equal(l.items[i], order[i]);
    l.n = 0;
    assert_int_equal(store_scan_subtree(st, "cse-in/ae", 0, 4, collect, &l), 0);
    assert_int_equal(l.n, 2);
    /* The filter columns and labels are filled from the bodies. */
    struct store_need need = { .nterms = 1, .term = { { .attr = STORE_ATTR_LABEL, .eq = "b" } } };
    l.n = 0;
    assert_int_equal(store_scan_matching(st, "cse-in", 0, 0, &need, NULL, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0], "i1");
    need.term[0] = (struct store_term){ .attr = STORE_ATTR_CS, .ilo = 3, .ihi = 4 };
    l.n = 0;
    assert_int_equal(store_scan_matching(st, "cse-in", 0, 0, &need, NULL, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0], "i1");
    /* Rows without ct are in no order: a ct condition reads them all. */
    need.term[0] = (struct store_term){ .attr = STORE_ATTR_CT, .lo = "20200101T000000" };
    l.n = 0;
    assert_int_equal(store_scan_matching(st, "cse-in", 0, 0, &need, NULL, collect, &l), 0);
    assert_int_equal(l.n, 5);
    /* New rows join the migrated tree, after the old ones. */
    struct resource *r = mk("i3", "c", 4, "cse-in/ae/c/i3", NULL);
    assert_int_equal(store_insert(st, r), 0);
    assert_true(r->seq > 6);
    resource_free(r);
    l.n = 0;
    assert_int_equal(store_scan_subtree(st, "cse-in/ae/c", 0, 4, collect, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[2], "i3");
    store_close(st);
    assert_int_equal(store_open(&st, path, STORE_SYNC_NORMAL), 0);   /* reopening: nothing to do */
    l.n = 0;
    assert_int_equal(store_descendants(st, "cse-in", 0, collect, &l), 0);
    assert_int_equal(l.n, 6);
    store_close(st);
    remove_db(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lookups),
        cmocka_unit_test(uniqueness),
        cmocka_unit_test(children_and_descendants),
        cmocka_unit_test(visitor_stops),
        cmocka_unit_test(expiry),
        cmocka_unit_test(update_and_transactions),
        cmocka_unit_test(subtree_delete),
        cmocka_unit_test(reopen_file),
        cmocka_unit_test(limited_scan_reads_only_what_it_takes),
        cmocka_unit_test(peek_passes_rows_over),
        cmocka_unit_test(filtered_scan_reads_only_matches),
        cmocka_unit_test(migrates_old_schema),
        cmocka_unit_test(edge_child_memo_follows_changes),
        cmocka_unit_test(path_memo_and_absent_types_follow_changes),
        cmocka_unit_test(batch_first_primitive_rolls_back_alone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
