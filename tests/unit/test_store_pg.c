/* The PostgreSQL store's own edges (cse/store/store_pg.c through store.h):
 * taken names, savepoints in a batch, a failed batch commit, paged scans,
 * sliced scans (a cursor, and the plan of its continuation query),
 * filtered scans through the labels table,
 * the change feed between two connections (also behind a fiber that holds
 * the connection), and a database restart. Needs a
 * server: tests/integration/test_store_pg.py starts one and passes
 * IRONBARK_PG_URI (a fresh database) and IRONBARK_PG_RESTART (a command that
 * restarts the server). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cse/base/fiber.h"
#include "cse/base/log.h"
#include "cse/base/loop.h"
#include "cse/core/rsc.h"
#include "cse/store/pq_lib.h"
#include "cse/store/store.h"
#include "cse/store/store_pg.h"

static struct store *s, *other;
static char fail_flag[256];

static int put(struct store *st, const char *ri, const char *pi, int ty, const char *path)
{
    json_t *a = json_pack("{s:s,s:s,s:i}", "ri", ri, "pi", pi, "ty", ty);
    struct resource *r = resource_new(ty, a, path);
    int rc = store_insert(st, r);
    if (!rc) assert_true(r->seq > 0);
    resource_free(r);
    return rc;
}

static bool present(struct store *st, const char *ri)
{
    struct resource *r = NULL;
    int rc = store_get(st, ri, &r);
    resource_free(r);
    return rc == 0;
}

static int setup(void **state)
{
    (void)state;
    log_set_level(LOG_LVL_ERROR - 1);   /* the failures below are provoked */
    snprintf(fail_flag, sizeof fail_flag, "/tmp/ironbark-store-pg-fail-%d", (int)getpid());
    setenv("IRONBARK_TEST_FAIL_COMMIT", fail_flag, 1);
    const char *uri = getenv("IRONBARK_PG_URI");
    if (!uri || store_open(&s, uri, STORE_SYNC_NORMAL) || store_open(&other, uri, STORE_SYNC_NORMAL)) return -1;
    return put(s, "cb", "", 5, "cse-in") ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close(s);
    store_close(other);
    return 0;
}

static void taken_names(void **state)
{
    (void)state;
    assert_true(store_shared(s));
    assert_int_equal(put(s, "ae1", "cb", 2, "cse-in/a"), 0);
    assert_int_equal(put(s, "ae2", "cb", 2, "cse-in/a"), RSC_CONFLICT);        /* path taken */
    assert_int_equal(put(s, "ae1", "cb", 2, "cse-in/b"), RSC_ALREADY_EXISTS);  /* ri taken */
    /* Inside a transaction the statement after a taken name still works. */
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(put(s, "ae3", "cb", 2, "cse-in/a"), RSC_CONFLICT);
    assert_int_equal(put(s, "ae3", "cb", 2, "cse-in/c"), 0);
    assert_int_equal(store_commit(s), 0);
    assert_true(present(s, "ae3"));
}

static void savepoints_in_a_batch(void **state)
{
    (void)state;
    store_batch_enable(s, true);
    assert_int_equal(store_begin_batched(s), 0);
    assert_int_equal(put(s, "keep", "cb", 2, "cse-in/keep"), 0);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(store_begin_batched(s), 0);
    assert_int_equal(put(s, "undo", "cb", 2, "cse-in/undo"), 0);
    assert_int_equal(put(s, "undo2", "cb", 2, "cse-in/keep"), RSC_CONFLICT);
    uint64_t g = store_generation(s);
    store_rollback(s);                     /* this primitive only */
    assert_true(store_generation(s) != g);
    assert_int_equal(store_batch_size(s), 2);
    assert_true(store_batch_pending(s));
    assert_false(present(other, "keep"));  /* not committed yet */
    assert_int_equal(store_batch_commit(s), 0);
    assert_false(store_batch_take_failure(s));
    assert_true(present(other, "keep"));
    assert_false(present(other, "undo"));
    store_batch_enable(s, false);
}

static void failed_batch_commit(void **state)
{
    (void)state;
    store_batch_enable(s, true);
    assert_int_equal(store_begin_batched(s), 0);
    assert_int_equal(put(s, "lost", "cb", 2, "cse-in/lost"), 0);
    assert_int_equal(store_commit(s), 0);
    FILE *f = fopen(fail_flag, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(store_batch_commit(s), RSC_INTERNAL_SERVER_ERROR);
    assert_true(store_batch_take_failure(s));
    assert_false(store_batch_take_failure(s));   /* reported once */
    assert_false(store_batch_pending(s));
    assert_false(present(s, "lost"));
    store_batch_enable(s, false);
}

struct list { int n, stop; char ri[1024][16]; };

static int collect(struct resource *r, void *data)
{
    struct list *l = data;
    snprintf(l->ri[l->n++], sizeof l->ri[0], "%s", res_ri(r));
    return l->n == l->stop ? 1 : 0;
}

/* A container (ri cnt_ri at path) with n instances "<prefix>000".., and
 * one instance under the sixth: one transaction. */
static void put_box(const char *cnt_ri, const char *pi, const char *path, char prefix, int n)
{
    assert_int_equal(put(s, cnt_ri, pi, 3, path), 0);
    assert_int_equal(store_begin(s), 0);
    char ri[16], at[48];
    for (int i = 0; i < n; i++) {
        snprintf(ri, sizeof ri, "%c%03d", prefix, i);
        snprintf(at, sizeof at, "%s/%s", path, ri);
        assert_int_equal(put(s, ri, cnt_ri, 4, at), 0);
    }
    snprintf(ri, sizeof ri, "%c005", prefix);
    snprintf(at, sizeof at, "%s/%s/deep", path, ri);
    assert_int_equal(put(s, prefix == 'i' ? "deep" : "sdeep", ri, 4, at), 0);
    assert_int_equal(store_commit(s), 0);
}

static void paged_scans(void **state)
{
    (void)state;
    put_box("cnt", "ae1", "cse-in/a/box", 'i', 120);
    static struct list l;
    l.n = 0;
    assert_int_equal(store_children(s, "cnt", 4, collect, &l), 0);
    assert_int_equal(l.n, 120);                               /* more than one page */
    assert_string_equal(l.ri[0], "i000");
    assert_string_equal(l.ri[119], "i119");
    l.n = 0;
    assert_int_equal(store_descendants(s, "cse-in/a", 0, collect, &l), 0);
    assert_int_equal(l.n, 122);                               /* box, 120, deep: pre-order */
    assert_string_equal(l.ri[0], "cnt");
    assert_string_equal(l.ri[7], "deep");                     /* right after i005 */
    l.n = 0;
    assert_int_equal(store_descendants(s, "cse-in/a", 2, collect, &l), 0);
    assert_int_equal(l.n, 121);                               /* not deep */
    l.n = 0;
    l.stop = 40;
    assert_int_equal(store_descendants(s, "cse-in", 0, collect, &l), 1);   /* the visitor stopped */
    assert_int_equal(l.n, 40);
    l.stop = 0;
    int64_t count = 0;
    assert_int_equal(store_count_children(s, "cnt", 4, &count), 0);
    assert_int_equal(count, 120);
    struct resource *r = NULL;
    assert_int_equal(store_edge_child_at(s, "cse-in/a/box", 3, 4, true, &r), 0);
    assert_string_equal(res_ri(r), "i119");
    resource_free(r);
    l.n = 0;
    struct resource *box = NULL;
    assert_int_equal(store_get(s, "cnt", &box), 0);
    assert_int_equal(store_delete_subtree(s, box, collect, &l), 0);
    assert_int_equal(l.n, 121);
    resource_free(box);
    assert_false(present(s, "deep"));
}

/* The plan PostgreSQL keeps for a prepared statement once it goes generic
 * (after five runs), asked on a connection of the test's own. */
static char *generic_plan(PGconn *c, const char *sql, const char *args)
{
    static char plan[4096];
    char text[1024];
    plan[0] = 0;
    PGresult *r = pq_PQexec(c, "DEALLOCATE ALL");
    pq_PQclear(r);
    snprintf(text, sizeof text, "PREPARE q AS %s", sql);
    r = pq_PQexec(c, text);
    assert_int_equal(pq_PQresultStatus(r), PGRES_COMMAND_OK);
    pq_PQclear(r);
    snprintf(text, sizeof text, "EXPLAIN EXECUTE q(%s)", args);
    r = pq_PQexec(c, text);
    assert_int_equal(pq_PQresultStatus(r), PGRES_TUPLES_OK);
    for (int i = 0; i < pq_PQntuples(r); i++) {
        strncat(plan, pq_PQgetvalue(r, i, 0), sizeof plan - strlen(plan) - 2);
        strcat(plan, "\n");
    }
    pq_PQclear(r);
    return plan;
}

static void plan_is_one_range(const char *plan, const char *index)
{
    if (!strstr(plan, index) || strstr(plan, "Seq Scan") || strstr(plan, "Sort"))
        fail_msg("not one ordered range of %s:\n%s", index, plan);
}

/* A scan in slices (store_scan_subtree_from) visits what one whole scan
 * does, in order, going on from its cursor; a row made behind the cursor
 * between slices is not seen, one ahead is; the continuation query (sk
 * after the cursor, in sk order, LIMIT) is one range of the subtree index
 * for every type, never a sort of the table: the plans are pinned. */
static void sliced_scans(void **state)
{
    (void)state;
    put_box("sbox", "cb", "cse-in/sbox", 's', 600);
    static struct list whole, l;
    assert_int_equal(store_descendants(s, "cse-in/sbox", 0, collect, &whole), 0);
    assert_int_equal(whole.n, 601);
    struct store_cursor at = { 0 };
    l.stop = 250;
    int slices = 0, rc;
    while ((rc = store_scan_subtree_from(s, "cse-in/sbox", 0, 0, &at, NULL, collect, &l)) == 1) {
        l.stop += 250;
        if (++slices == 1) {         /* s100 is behind the cursor, sbox's new last child ahead */
            assert_int_equal(put(s, "s100x", "s100", 4, "cse-in/sbox/s100/x"), 0);
            assert_int_equal(put(s, "s600", "sbox", 4, "cse-in/sbox/s600"), 0);
        }
    }
    assert_int_equal(rc, 0);
    assert_int_equal(slices, 2);
    assert_int_equal(l.n, 602);
    for (int i = 0; i < 601; i++) assert_string_equal(l.ri[i], whole.ri[i]);
    assert_string_equal(l.ri[601], "s600");
    /* Depth 1 in slices: the seek past s005's child moves the cursor too. */
    whole.n = l.n = 0;
    assert_int_equal(store_descendants(s, "cse-in/sbox", 1, collect, &whole), 0);
    assert_int_equal(whole.n, 601);
    at.len = 0;
    l.stop = 3;                      /* s000..s002, then s003..s005, then past sdeep */
    for (slices = 0; (rc = store_scan_subtree_from(s, "cse-in/sbox", 1, 0, &at, NULL, collect, &l)) == 1; slices++)
        l.stop += l.n < 9 ? 3 : 300;
    assert_int_equal(rc, 0);
    assert_int_equal(l.n, 601);
    for (int i = 0; i < 601; i++) assert_string_equal(l.ri[i], whole.ri[i]);
    /* A cursor of another subtree starts this one from its beginning. */
    l.n = 0;
    l.stop = 0;
    assert_int_equal(store_scan_subtree_from(s, "cse-in/a-none", 0, 0, &at, NULL, collect, &l), 0);
    assert_int_equal(l.n, 0);

    assert_true(pq_load("test_store_pg"));
    const char *keys[] = { "dbname", NULL }, *values[] = { getenv("IRONBARK_PG_URI"), NULL };
    PGconn *c = pq_PQconnectdbParams(keys, values, 1);
    assert_int_equal(pq_PQstatus(c), CONNECTION_OK);
    PGresult *r = pq_PQexec(c, "ANALYZE resources; SET plan_cache_mode = force_generic_plan");
    pq_PQclear(r);
    const char *bounds = "'\\x0105'::bytea, '\\x01ff'::bytea";
    char args[128];
    snprintf(args, sizeof args, "%s, 1024", bounds);
    plan_is_one_range(generic_plan(c, pg_store_scan_sql(0), args), "resources_subtree");
    snprintf(args, sizeof args, "%s, 4, 1024", bounds);
    plan_is_one_range(generic_plan(c, pg_store_scan_sql(4), args), "resources_subtree");
    snprintf(args, sizeof args, "%s, 3, 1024", bounds);
    plan_is_one_range(generic_plan(c, pg_store_scan_sql(3), args), "resources_subtree_ty");
    pq_PQfinish(c);
}

/* A contentInstance of cse-in/f/box with labels (NULL: none). */
static int put_labelled(struct store *st, int i, json_t *lbl)
{
    char ri[16], path[40];
    snprintf(ri, sizeof ri, "l%03d", i);
    snprintf(path, sizeof path, "cse-in/f/box/%s", ri);
    json_t *a = json_pack("{s:s,s:s,s:i}", "ri", ri, "pi", "fbox", "ty", 4);
    if (lbl) json_object_set_new(a, "lbl", lbl);
    struct resource *r = resource_new(4, a, path);
    int rc = store_insert(st, r);
    resource_free(r);
    return rc;
}

static int scan_need(struct store *st, const char *path, int depth, const struct store_term *terms, int n,
                     struct list *l)
{
    struct store_need need = { .nterms = n };
    memcpy(need.term, terms, (size_t)n * sizeof *terms);
    l->n = 0;
    return store_scan_matching(st, path, depth, 0, &need, NULL, collect, l);
}

/* Label conditions are answered from the labels table: only the matching
 * rows are read (last_scan's rows), in pre-order; the table follows
 * inserts, updates and deletes by either connection; a condition without
 * an index, or none usable, leaves the work to the plain scan. */
static void filtered_scans(void **state)
{
    (void)state;
    assert_int_equal(put(s, "fae", "cb", 2, "cse-in/f"), 0);
    assert_int_equal(put(s, "fbox", "fae", 3, "cse-in/f/box"), 0);
    assert_int_equal(store_begin(s), 0);
    for (int i = 0; i < 150; i++) {
        json_t *lbl = i == 20 || i == 140 ? json_pack("[s,s,i]", "hot", "hot", 7) :
                      i == 60 ? json_pack("[s]", "k:v") : i == 90 ? json_pack("[s]", "k") :
                      i == 100 ? json_pack("[s,s]", "k:a", "k:b") : i % 2 ? json_pack("[s]", "cold") : NULL;
        assert_int_equal(put_labelled(s, i, lbl), 0);
    }
    assert_int_equal(store_commit(s), 0);
    static struct list l;
    const struct store_term hot = { .attr = STORE_ATTR_LABEL, .eq = "hot" };
    assert_int_equal(scan_need(s, "cse-in/f", 0, &hot, 1, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.ri[0], "l020");
    assert_string_equal(l.ri[1], "l140");
    assert_int_equal(store_last_scan(s).rows, 2);              /* not the subtree's 151 */
    /* lbq "k": the label "k" or any "k:..." (l100 has two: once). */
    const struct store_term key[] = { { .attr = STORE_ATTR_LABEL, .eq = "k" },
                                      { .attr = STORE_ATTR_LABEL, .lo = "k:", .hi = "k;" } };
    assert_int_equal(scan_need(s, "cse-in/f", 0, key, 2, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.ri[0], "l060");
    assert_string_equal(l.ri[1], "l090");
    assert_string_equal(l.ri[2], "l100");
    assert_int_equal(store_last_scan(s).rows, 3);
    /* More than a page (75 "cold" rows), in pre-order. */
    const struct store_term cold = { .attr = STORE_ATTR_LABEL, .eq = "cold" };
    assert_int_equal(scan_need(s, "cse-in", 0, &cold, 1, &l), 0);
    assert_int_equal(l.n, 75);
    assert_string_equal(l.ri[0], "l001");
    assert_string_equal(l.ri[74], "l149");
    /* Groups: both must hold, the smaller is read; depth is obeyed. */
    const struct store_term both[] = { { .attr = STORE_ATTR_LABEL, .group = 0, .eq = "cold" },
                                       { .attr = STORE_ATTR_LABEL, .group = 1, .eq = "hot" } };
    assert_int_equal(scan_need(s, "cse-in/f", 0, both, 2, &l), 0);
    assert_int_equal(store_last_scan(s).rows, 2);
    assert_int_equal(scan_need(s, "cse-in/f", 1, &hot, 1, &l), 0);
    assert_int_equal(l.n, 0);                                 /* the instances are two levels down */
    assert_int_equal(scan_need(s, "cse-in/f", 2, &hot, 1, &l), 0);
    assert_int_equal(l.n, 2);
    /* No index for cnf (nor for a group holding it), and no such subtree. */
    const struct store_term cnf = { .attr = STORE_ATTR_CNF, .eq = "text/plain" };
    assert_int_equal(scan_need(s, "cse-in/f", 0, &cnf, 1, &l), RSC_NOT_IMPLEMENTED);
    assert_int_equal(l.n, 0);
    assert_int_equal(scan_need(s, "cse-in/nothing", 0, &hot, 1, &l), RSC_NOT_IMPLEMENTED);
    /* The labels follow an update and a delete, made by the other connection. */
    struct resource *r = NULL;
    assert_int_equal(store_get(other, "l020", &r), 0);
    json_object_del(r->attrs, "lbl");
    assert_int_equal(store_update(other, r), 0);
    resource_free(r);
    assert_int_equal(store_get(other, "l005", &r), 0);
    json_object_set_new(r->attrs, "lbl", json_pack("[s]", "hot"));
    assert_int_equal(store_update(other, r), 0);
    json_object_set_new(r->attrs, "con", json_string("same labels"));
    assert_int_equal(store_update(other, r), 0);
    resource_free(r);
    assert_int_equal(scan_need(s, "cse-in/f", 0, &hot, 1, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.ri[0], "l005");
    assert_string_equal(l.ri[1], "l140");
    assert_int_equal(store_get(other, "fbox", &r), 0);
    assert_int_equal(store_delete_subtree(other, r, NULL, NULL), 0);
    resource_free(r);
    assert_int_equal(scan_need(s, "cse-in", 0, &hot, 1, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(scan_need(s, "cse-in", 0, key, 2, &l), 0);
    assert_int_equal(store_last_scan(s).rows, 0);            /* no label rows left behind */
}

struct seen { int n; char op[64]; char ri[64][16]; };

static void remember(const struct store_change *c, void *data)
{
    struct seen *v = data;
    if (v->n == 64) return;
    v->op[v->n] = (char)c->op;
    snprintf(v->ri[v->n++], sizeof v->ri[0], "%s", c->ri);
}

/* Polls st's feed until it reported at least `want` changes (bounded). */
static void wait_changes(struct store *st, struct seen *v, int want)
{
    for (int i = 0; i < 100 && v->n < want; i++) {
        struct pollfd p = { .fd = store_change_fd(st), .events = POLLIN };
        if (p.fd >= 0) poll(&p, 1, 100);
        else usleep(100000);
        store_poll_changes(st, remember, v);
    }
}

/* Reads notices until none came for 300 ms (bounded). Those libpq took in
 * during the connection's own statements are read first: they leave the
 * socket quiet (store.h). */
static void drain(struct store *st)
{
    for (int i = 0; i < 50; i++) {
        store_poll_changes(st, NULL, NULL);
        struct pollfd p = { .fd = store_change_fd(st), .events = POLLIN };
        if (poll(&p, 1, 300) == 0) return;
        store_poll_changes(st, NULL, NULL);
    }
}

static void change_feed(void **state)
{
    (void)state;
    struct seen mine = { 0 }, theirs = { 0 };
    drain(other);                              /* what earlier tests did */
    drain(s);
    assert_true(store_change_fd(other) >= 0);
    uint64_t g = store_generation(other);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(put(s, "fed", "cb", 2, "cse-in/fed"), 0);
    assert_int_equal(store_poll_changes(other, remember, &theirs), 0);   /* not before COMMIT */
    assert_int_equal(store_commit(s), 0);
    wait_changes(other, &theirs, 1);
    assert_int_equal(theirs.n, 1);
    assert_int_equal(theirs.op[0], STORE_CHANGE_CREATE);
    assert_string_equal(theirs.ri[0], "fed");
    assert_true(store_generation(other) != g);
    struct resource *r = NULL;
    assert_int_equal(store_get(s, "fed", &r), 0);
    assert_int_equal(store_update(s, r), 0);
    assert_int_equal(store_delete_subtree(s, r, NULL, NULL), 0);
    resource_free(r);
    wait_changes(other, &theirs, 3);
    assert_int_equal(theirs.n, 3);
    assert_int_equal(theirs.op[1], STORE_CHANGE_UPDATE);
    assert_int_equal(theirs.op[2], STORE_CHANGE_DELETE);
    assert_int_equal(store_poll_changes(s, remember, &mine), 0);         /* not its own */
    assert_int_equal(mine.n, 0);
}

/* A fiber that holds a store's lock (a primitive): a statement, a wait on
 * a pipe, another statement (which reads what arrived meanwhile), another
 * wait. */
struct holder {
    struct store *st;
    int fd;
    int steps;                 /* statements made */
    bool done;
};

static void wait_pipe(struct holder *h)
{
    char c;
    if (fiber_wait_fd(h->fd, LOOP_READABLE, loop_now_ms() + 20000) == FIBER_READY)
        assert_int_equal(read(h->fd, &c, 1), 1);
}

static void hold(void *arg)
{
    struct holder *h = arg;
    for (int i = 0; i < 2; i++) {
        if (present(h->st, "cb")) h->steps++;
        wait_pipe(h);
    }
    h->done = true;
}

struct until {
    struct loop *loop;
    struct holder *h;
    int steps;
    int64_t deadline;
};

static bool reached(const struct until *u) { return u->h->done || u->h->steps >= u->steps; }

static int64_t check(struct loop *loop, int64_t id, void *data)
{
    (void)id;
    struct until *u = data;
    if (reached(u) || loop_now_ms() > u->deadline) loop_stop(loop);
    return 5;
}

/* Runs the loop until the holder made `steps` statements or ended (10 s at most). */
static bool run_until(struct until *u, int steps)
{
    u->steps = steps;
    u->deadline = loop_now_ms() + 10000;
    int64_t timer = loop_add_timer(u->loop, 0, check, u);
    loop_run(u->loop);
    loop_del_timer(u->loop, timer);
    return reached(u);
}

/* Notices that arrive while a fiber holds the connection are read with its
 * answer; a poll meanwhile reports nothing (the socket is the fiber's), the
 * first poll after the fiber reports them all, in order: none is lost. */
static void changes_behind_a_fiber(void **state)
{
    (void)state;
    struct store *st = NULL;
    assert_int_equal(store_open(&st, getenv("IRONBARK_PG_URI"), STORE_SYNC_NORMAL), 0);
    struct loop *loop = loop_create(1024);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    struct seen v = { 0 };
    struct holder h = { .st = st, .fd = pipefd[0] };
    struct until u = { .loop = loop, .h = &h };
    assert_int_equal(fiber_start(loop, hold, &h), 1);
    assert_true(run_until(&u, 1));
    assert_int_equal(put(other, "behind1", "cb", 2, "cse-in/behind1"), 0);
    assert_int_equal(put(other, "behind2", "cb", 2, "cse-in/behind2"), 0);
    assert_int_equal(write(pipefd[1], "x", 1), 1);
    assert_true(run_until(&u, 2));
    assert_false(h.done);
    assert_int_equal(store_poll_changes(st, remember, &v), 0);
    assert_int_equal(v.n, 0);
    assert_int_equal(write(pipefd[1], "x", 1), 1);
    assert_true(run_until(&u, 3) && h.done);
    assert_int_equal(store_poll_changes(st, remember, &v), 2);
    assert_string_equal(v.ri[0], "behind1");
    assert_string_equal(v.ri[1], "behind2");
    store_close(st);
    loop_destroy(loop);
    close(pipefd[0]);
    close(pipefd[1]);
}

/* The poll at a lock's hand-over reads nothing off the socket (store.h):
 * a notice still there is not reported, one a statement took in with its
 * answer is, and once only. */
static void buffered_changes(void **state)
{
    (void)state;
    struct seen v = { 0 };
    drain(s);
    assert_int_equal(put(other, "buf1", "cb", 2, "cse-in/buf1"), 0);
    struct pollfd p = { .fd = store_change_fd(s), .events = POLLIN };
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_int_equal(store_poll_buffered_changes(s, remember, &v), 0);   /* still on the socket */
    assert_true(present(s, "cb"));                                       /* read with its answer */
    assert_int_equal(store_poll_buffered_changes(s, remember, &v), 1);
    assert_string_equal(v.ri[0], "buf1");
    assert_int_equal(store_poll_changes(s, remember, &v), 0);
    assert_int_equal(v.n, 1);
}

struct texts { int n; char v[8][64]; };

static void keep_text(const char *text, void *data)
{
    struct texts *t = data;
    if (t->n < 8) snprintf(t->v[t->n++], sizeof t->v[0], "%s", text);
}

/* The polling channels' queue (store.h, store_pch_*): a request queued
 * through one connection is announced to the other and taken once; the
 * bound drops the oldest waiting; an answer ends only a request handed out,
 * once, and is announced; store_pch_end() ends one handed out, once. */
static void pch_queue(void **state)
{
    (void)state;
    struct seen theirs = { 0 };
    struct texts dropped = { 0 }, got = { 0 }, none = { 0 };
    drain(other);
    assert_int_equal(store_pch_put(s, "pchQ", "q1", "{\"n\":1}", 10000, 2, keep_text, &dropped), 0);
    assert_int_equal(store_pch_put(s, "pchQ", "q2", "{\"n\":2}", 10000, 2, keep_text, &dropped), 0);
    assert_int_equal(dropped.n, 0);
    assert_int_equal(store_pch_put(s, "pchQ", "q3", "{\"n\":3}", 10000, 2, keep_text, &dropped), 0);
    assert_int_equal(dropped.n, 1);                              /* pch-queue 2: the oldest goes */
    assert_string_equal(dropped.v[0], "{\"n\":1}");
    wait_changes(other, &theirs, 3);
    assert_int_equal(theirs.op[0], STORE_CHANGE_PCH_QUEUED);
    assert_string_equal(theirs.ri[0], "pchQ");
    assert_int_equal(store_pch_answer(other, "pchQ", "q2", "{}"), RSC_NOT_FOUND);   /* not handed out yet */
    assert_int_equal(store_pch_take(other, "pchQ", 1, keep_text, &got), 1);
    assert_string_equal(got.v[0], "{\"n\":2}");                  /* oldest first */
    assert_int_equal(store_pch_take(s, "pchQ", 5, keep_text, &got), 1);
    assert_string_equal(got.v[1], "{\"n\":3}");
    assert_int_equal(store_pch_take(other, "pchQ", 5, keep_text, &none), 0);  /* each taken once */
    assert_int_equal(store_pch_take(s, "other", 5, keep_text, &none), 0);
    struct seen mine = { 0 };
    drain(s);
    assert_int_equal(store_pch_answer(other, "pchQ", "q2", "{\"m2m:rsp\":{}}"), 0);
    assert_int_equal(store_pch_answer(other, "pchQ", "q2", "{}"), RSC_NOT_FOUND);   /* once */
    wait_changes(s, &mine, 1);
    assert_int_equal(mine.op[0], STORE_CHANGE_PCH_ANSWERED);
    assert_string_equal(mine.ri[0], "pchQ");
    /* Answered to the front-end that queued it: ended, once, nothing passed on. */
    assert_int_equal(store_pch_end(s, "pchQ", "q3"), 0);
    assert_int_equal(store_pch_end(s, "pchQ", "q3"), RSC_NOT_FOUND);
    assert_int_equal(store_pch_answer(other, "pchQ", "q3", "{}"), RSC_NOT_FOUND);
    assert_int_equal(store_pch_end(s, "pchQ", "q1"), RSC_NOT_FOUND);     /* dropped, never handed out */
    /* An expired request is not handed out. */
    assert_int_equal(store_pch_put(s, "pchE", "e1", "{}", 1, 8, keep_text, &dropped), 0);
    usleep(20000);
    assert_int_equal(store_pch_take(other, "pchE", 5, keep_text, &none), 0);
    assert_int_equal(none.n, 0);
    drain(other);                              /* for the tests after this one */
}

static void database_restart(void **state)
{
    (void)state;
    const char *restart = getenv("IRONBARK_PG_RESTART");
    assert_non_null(restart);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(put(s, "inflight", "cb", 2, "cse-in/inflight"), 0);
    assert_int_equal(system(restart), 0);
    /* The transaction went with the connection: its commit fails, never
     * acknowledged; later calls fail until the database answers again. */
    assert_int_equal(store_commit(s), RSC_INTERNAL_SERVER_ERROR);
    int rc = -1;
    for (int i = 0; i < 100 && rc; i++) {
        struct resource *r = NULL;
        rc = store_get(s, "cb", &r);
        resource_free(r);
        if (rc) {
            assert_int_equal(rc, RSC_INTERNAL_SERVER_ERROR);
            usleep(100000);
        }
    }
    assert_int_equal(rc, 0);
    assert_false(present(s, "inflight"));
    assert_int_equal(put(s, "after", "cb", 2, "cse-in/after"), 0);
    /* The other connection reconnects too, says it may have missed changes,
     * and hears again (LISTEN renewed). */
    struct seen theirs = { 0 };
    wait_changes(other, &theirs, 1);
    assert_true(theirs.n >= 1);
    assert_int_equal(theirs.op[0], STORE_CHANGE_RESYNC);
    theirs.n = 0;
    assert_int_equal(put(s, "after2", "cb", 2, "cse-in/after2"), 0);
    wait_changes(other, &theirs, 1);
    assert_int_equal(theirs.n, 1);
    assert_string_equal(theirs.ri[0], "after2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(taken_names),
        cmocka_unit_test(savepoints_in_a_batch),
        cmocka_unit_test(failed_batch_commit),
        cmocka_unit_test(paged_scans),
        cmocka_unit_test(sliced_scans),
        cmocka_unit_test(filtered_scans),
        cmocka_unit_test(change_feed),
        cmocka_unit_test(changes_behind_a_fiber),
        cmocka_unit_test(buffered_changes),
        cmocka_unit_test(pch_queue),
        cmocka_unit_test(database_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
