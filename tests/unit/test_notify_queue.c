/* The notification queue's byte accounting (cse/notify_queue.c): shared
 * bodies are counted once per run of deliveries, the per-target bound drops
 * the oldest waiting entries and never the one in flight, and everything
 * returns to zero when the entries go. Then the same through a whole CSE
 * (cse/notify.c): events, shared bodies, bounds and the drop counters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cse/base/loop.h"
#include "cse/events/notify.h"
#include "cse/events/notify_queue.h"
#include "unit_cse.h"
#include "cse/core/engine.h"

#define OVERHEAD 100

/* An entry with body "<head>" + shared + "<tail>", like one event delivery. */
static struct nq_entry *delivery(struct nq_budget *b, struct nq_chunk *shared, const char *tail)
{
    struct nq_builder bd;
    nq_build_init(&bd, b);
    nq_build_str(&bd, "{\"m2m:sgn\":{\"nev\":");
    if (shared) nq_build_chunk(&bd, shared, true);
    nq_build_str(&bd, tail);
    struct nq_entry *e = calloc(1, sizeof *e);
    assert_non_null(e);
    assert_int_equal(nq_build_finish(&bd, &e->body), 0);
    e->overhead = OVERHEAD;
    return e;
}

static void entry_free(struct nq_entry *e)
{
    nq_body_clear(&e->body);
    free(e);
}

static size_t free_list(struct nq_entry *e)
{
    size_t n = 0;
    for (struct nq_entry *next; e; e = next, n++) {
        next = e->next;
        entry_free(e);
    }
    return n;
}

/* An event's nev of n bytes. */
static struct nq_chunk *big_nev(struct nq_budget *b, size_t n)
{
    char *text = malloc(n);
    memset(text, 'x', n);
    struct nq_chunk *c = nq_chunk_new(b, text, n);
    free(text);
    return c;
}

/* Takes every entry out: nothing may stay charged. */
static void drain(struct nq_fifo *q)
{
    while (q->head) entry_free(nq_pop(q));
    assert_int_equal(q->n, 0);
    assert_int_equal(q->bytes, 0);
}

static size_t own_cost(const struct nq_entry *e)
{
    size_t n = OVERHEAD + e->body.nparts * sizeof *e->body.parts;
    for (size_t i = 0; i < e->body.nparts; i++)
        if (e->body.parts[i] != e->body.shared) n += nq_chunk_cost(e->body.parts[i]);
    return n;
}

/* The FIFO's bytes recomputed from scratch: a shared part counted at the
 * start of each run of entries carrying it. */
static size_t expected_bytes(const struct nq_fifo *q)
{
    size_t n = 0;
    const struct nq_entry *prev = NULL;
    for (const struct nq_entry *e = q->head; e; prev = e, e = e->next) {
        n += own_cost(e);
        if (e->body.shared && !(prev && prev->body.shared == e->body.shared))
            n += nq_chunk_cost(e->body.shared);
    }
    return n;
}

static char *text_of(const struct nq_body *b)
{
    struct iovec iov[8];
    assert_true(b->nparts <= 8);
    nq_body_iov(b, iov);
    char *s = malloc(b->len + 1), *p = s;
    for (size_t i = 0; i < b->nparts; i++) {
        memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
    }
    *p = 0;
    return s;
}

static void body_is_its_parts_in_order(void **state)
{
    (void)state;
    struct nq_budget b = { 0 };
    struct nq_chunk *nev = nq_chunk_new(&b, "{\"rep\":1,\"net\":3}", 17);
    struct nq_entry *e = delivery(&b, nev, ",\"sur\":\"/id-in/s1\"}}");
    char *s = text_of(&e->body);
    assert_string_equal(s, "{\"m2m:sgn\":{\"nev\":{\"rep\":1,\"net\":3},\"sur\":\"/id-in/s1\"}}");
    assert_int_equal(e->body.len, strlen(s));
    assert_int_equal(e->body.nparts, 3);
    assert_ptr_equal(e->body.shared, nev);
    assert_int_equal(nev->refs, 2);
    free(s);
    entry_free(e);
    assert_int_equal(nev->refs, 1);
    nq_chunk_unref(nev);
    assert_int_equal(b.bytes, 0);
}

/* The report, scaled down: many deliveries of the same large event to one
 * target cost the event's body once, not once per delivery. */
static void one_event_many_deliveries_costs_one_body(void **state)
{
    (void)state;
    struct nq_budget b = { 0 };
    struct nq_fifo q = { .budget = &b };
    struct nq_chunk *nev = big_nev(&b, 100000);
    for (int i = 0; i < 200; i++) {
        struct nq_entry *e = delivery(&b, nev, ",\"sur\":\"/id-in/sub\"}}");
        assert_null(nq_append(&q, e, 1 << 20));
        q.head_busy = true;
    }
    nq_chunk_unref(nev); /* the event is done; the deliveries keep it */
    assert_int_equal(q.n, 200);
    assert_int_equal(q.bytes, expected_bytes(&q));
    assert_true(q.bytes < 100000 + 200 * 400);
    assert_true(b.bytes <= q.bytes); /* nothing else holds memory */
    drain(&q);
    assert_int_equal(b.bytes, 0);
}

/* Ten such events against a 1 MiB bound: the oldest waiting entries go,
 * the one in flight stays, each entry is either kept or dropped once, and
 * the bound holds after every append. */
static void bound_drops_oldest_waiting(void **state)
{
    (void)state;
    struct nq_budget b = { 0 };
    struct nq_fifo q = { .budget = &b };
    const size_t limit = 1 << 20;
    struct nq_entry *first = NULL;
    size_t dropped = 0;
    for (int ev = 0; ev < 10; ev++) {
        struct nq_chunk *nev = big_nev(&b, 100000);
        for (int i = 0; i < 200; i++) {
            struct nq_entry *e = delivery(&b, nev, ",\"sur\":\"/id-in/sub\"}}");
            dropped += free_list(nq_append(&q, e, limit));
            if (!first) { first = e; q.head_busy = true; }
            assert_ptr_equal(q.head, first);
            assert_int_equal(q.bytes, expected_bytes(&q));
            assert_true(q.bytes <= limit);
        }
        nq_chunk_unref(nev);
    }
    assert_true(dropped > 0);
    assert_int_equal(dropped + q.n, 2000);
    /* Whatever is left is the newest: the last event's deliveries are all there. */
    size_t last = 0;
    for (struct nq_entry *e = q.head; e; e = e->next) last += e->body.shared == q.tail->body.shared;
    assert_int_equal(last, 200);
    assert_true(b.bytes <= limit);
    drain(&q);
    assert_int_equal(b.bytes, 0);
}

/* Removing from the middle (ln replacement) keeps the per-run charge exact:
 * a run's first entry pays, whoever that becomes. */
static void runs_stay_exact_on_removal(void **state)
{
    (void)state;
    struct nq_budget b = { 0 };
    struct nq_fifo q = { .budget = &b };
    struct nq_chunk *x = nq_chunk_new(&b, "XXXXXXXXXXXXXXXX", 16);
    struct nq_chunk *y = nq_chunk_new(&b, "YYYYYYYYYYYYYYYY", 16);
    struct nq_entry *v[6];
    struct nq_chunk *order[6] = { x, x, y, x, x, NULL };
    for (int i = 0; i < 6; i++) {
        v[i] = delivery(&b, order[i], "}}");
        assert_null(nq_append(&q, v[i], SIZE_MAX));
        assert_int_equal(q.bytes, expected_bytes(&q));
    }
    assert_true(v[0]->pays_shared && !v[1]->pays_shared && v[2]->pays_shared && v[3]->pays_shared);
    nq_remove(&q, v[0]);                /* the run's first: the next one pays */
    assert_true(v[1]->pays_shared);
    assert_int_equal(q.bytes, expected_bytes(&q));
    nq_remove(&q, v[2]);                /* x x | x x merge into one run */
    assert_false(v[3]->pays_shared);
    assert_int_equal(q.bytes, expected_bytes(&q));
    nq_remove(&q, v[5]);                /* the tail, without a shared part */
    assert_ptr_equal(q.tail, v[4]);
    assert_int_equal(q.bytes, expected_bytes(&q));
    entry_free(v[0]);
    entry_free(v[2]);
    entry_free(v[5]);
    drain(&q);
    nq_chunk_unref(x);
    nq_chunk_unref(y);
    assert_int_equal(b.bytes, 0);
}

/* A single delivery larger than the bound still goes: everything waiting
 * before it is dropped, the one in flight is kept. */
static void oversized_delivery_is_kept_alone(void **state)
{
    (void)state;
    struct nq_budget b = { 0 };
    struct nq_fifo q = { .budget = &b };
    struct nq_entry *busy = delivery(&b, NULL, "small}}");
    assert_null(nq_append(&q, busy, 4096));
    q.head_busy = true;
    for (int i = 0; i < 3; i++) assert_null(nq_append(&q, delivery(&b, NULL, "small}}"), 4096));
    char *big = malloc(10000);
    memset(big, 'z', 9999);
    big[9999] = 0;
    struct nq_entry *huge = delivery(&b, NULL, big);
    assert_int_equal(free_list(nq_append(&q, huge, 4096)), 3);
    assert_int_equal(q.n, 2);
    assert_ptr_equal(q.head, busy);
    assert_ptr_equal(q.tail, huge);
    /* The next one drops the huge waiting one and fits. */
    assert_int_equal(free_list(nq_append(&q, delivery(&b, NULL, "small}}"), 4096)), 1);
    assert_int_equal(q.n, 2);
    assert_true(q.bytes <= 4096);
    drain(&q);
    assert_int_equal(b.bytes, 0);
    free(big);
}

/* --- through a CSE ------------------------------------------------------------ */

/* One primitive as fr, then the group commit, after which events fire. */
static int run_as(struct cse *cse, const char *fr, enum m2m_op op, const char *to, int ty,
                  const char *body)
{
    int rsc = unit_run_as(cse, fr, op, to, ty, body, NULL, 0, NULL);
    assert_int_equal(cse_commit(cse), 0);
    return rsc;
}

/* A loopback port that accepts connections (into its backlog) and never
 * answers: the first notification stays in flight, the rest wait. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* The report scaled down: 200 subscriptions naming one silent target (an
 * AE, through its poa), ten 100 KB contentInstances. The target's queue
 * stays within its bound, every notification is either queued or counted
 * as dropped, and the memory held is a few shared bodies, not 2 000. */
static void cse_flood_is_bounded(void **state)
{
    (void)state;
    int port;
    int lfd = silent_listener(&port);
    struct loop *loop = loop_create(1024);
    struct config cfg;
    config_defaults(&cfg);
    strcpy(cfg.db_file, ":memory:");
    cfg.notify_target_bytes = 1 << 20;
    cfg.notify_total_bytes = 4 << 20;
    log_set_level(LOG_LVL_ERROR);
    struct cse cse;
    assert_int_equal(cse_open(&cse, &cfg, loop), 0);

    char body[300];
    snprintf(body, sizeof body, "{\"m2m:ae\":{\"rn\":\"mon\",\"api\":\"Nmon\",\"rr\":true,"
             "\"srv\":[\"3\"],\"poa\":[\"http://127.0.0.1:%d/t\"]}}", port);
    assert_int_equal(run_as(&cse, "Cmon", OP_CREATE, "cse-in", 2, body), 2001);
    assert_int_equal(run_as(&cse, "Cmon", OP_CREATE, "cse-in/mon", 3, "{\"m2m:cnt\":{\"rn\":\"box\"}}"),
                     2001);
    for (int i = 0; i < 200; i++) {
        /* nu is the subscriber itself: no verification to wait for. */
        snprintf(body, sizeof body, "{\"m2m:sub\":{\"rn\":\"s%d\",\"nu\":[\"Cmon\"],"
                 "\"enc\":{\"net\":[3],\"chty\":[4]}}}", i);
        assert_int_equal(run_as(&cse, "Cmon", OP_CREATE, "cse-in/mon/box", 23, body), 2001);
    }
    size_t con = 100000;
    char *cin = malloc(con + 64);
    struct notify_stats st;
    struct notify_target_stats ts;
    for (int i = 0; i < 10; i++) {
        int n = snprintf(cin, con + 64, "{\"m2m:cin\":{\"con\":\"%d:", i);
        memset(cin + n, 'x', con);
        strcpy(cin + n + con, "\"}}");
        assert_int_equal(run_as(&cse, "Cmon", OP_CREATE, "cse-in/mon/box", 4, cin), 2001);
        assert_int_equal(notify_get_target_stats(&cse, "Cmon", &ts), 0);
        notify_get_stats(&cse, &st);
        assert_true(ts.bytes <= (size_t)cfg.notify_target_bytes);
        assert_true(st.bytes <= ts.bytes);   /* what is held is never more than what is charged */
        assert_int_equal(ts.pending, st.pending);
        assert_int_equal(ts.pending + (int64_t)st.dropped, 200 * (i + 1));
    }
    assert_true(st.dropped > 0);
    assert_int_equal(ts.dropped, st.dropped);
    assert_true(ts.pending > 200);              /* several events kept, each body once */
    assert_int_equal(st.delivered + st.failed, 0);
    assert_int_equal(notify_get_target_stats(&cse, "Cnobody", &ts), -1);
    free(cin);
    cse_close(&cse);
    loop_destroy(loop);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(body_is_its_parts_in_order),
        cmocka_unit_test(one_event_many_deliveries_costs_one_body),
        cmocka_unit_test(bound_drops_oldest_waiting),
        cmocka_unit_test(runs_stay_exact_on_removal),
        cmocka_unit_test(oversized_delivery_is_kept_alone),
        cmocka_unit_test(cse_flood_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
