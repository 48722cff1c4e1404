/* Fibers on the loop (cse/base/fiber.h): start, yield on a descriptor
 * (pipes, no sockets), resume from the loop, deadlines, cancellation,
 * stack reuse, a descriptor kept registered, and the lock that queues
 * fibers in order (with its hook between two owners). */
#include "cse/base/fiber.h"
#include "cse/base/loop.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

struct job {
    struct loop *loop;
    int fd;                    /* read end waited on */
    int64_t deadline_ms;
    int waits;                 /* how many waits in a row */
    enum fiber_wake got[4];
    bool done;
    bool stop_loop;            /* loop_stop() when done */
    uintptr_t stack_at;        /* an address on the fiber's stack */
    bool yielded;
    struct fiber_lock *lock;
    int *order, *norder, id;   /* who took the lock, in which order */
    bool acquired;
    struct fiber *self;        /* the fiber running it */
};

static void finish(struct job *j)
{
    j->yielded = fiber_has_yielded();
    j->done = true;
    if (j->stop_loop) loop_stop(j->loop);
}

static void quick(void *arg)
{
    struct job *j = arg;
    char here;
    j->stack_at = (uintptr_t)&here;
    finish(j);
}

/* Waits one level down, so the waits resume inside nested frames. */
static enum fiber_wake nested_wait(struct job *j, int depth)
{
    if (depth) return nested_wait(j, depth - 1);
    enum fiber_wake w = fiber_wait_fd(j->fd, LOOP_READABLE, j->deadline_ms);
    char c;
    if (w == FIBER_READY) assert_int_equal(read(j->fd, &c, 1), 1);
    return w;
}

static void waiter(void *arg)
{
    struct job *j = arg;
    j->self = fiber_current();
    for (int i = 0; i < j->waits; i++) j->got[i] = nested_wait(j, 3);
    finish(j);
}

static struct job job_on(struct loop *l, int fd, int waits, int64_t in_ms)
{
    return (struct job){ .loop = l, .fd = fd, .waits = waits, .deadline_ms = loop_now_ms() + in_ms };
}

static void runs_to_end_without_yielding(void **state)
{
    (void)state;
    struct loop *l = loop_create(64);
    struct job j = { .loop = l };
    assert_int_equal(fiber_start(l, quick, &j), 0);
    assert_true(j.done);
    assert_false(j.yielded);
    assert_null(fiber_current());
    assert_int_equal(fiber_alive(), 0);
    assert_true(fiber_pooled() >= 1);
    /* Outside a fiber a wait is refused, not blocking. */
    assert_int_equal(fiber_wait_fd(0, LOOP_READABLE, loop_now_ms() + 1000), FIBER_NOT_IN_FIBER);
    loop_destroy(l);
}

static void stacks_are_reused(void **state)
{
    (void)state;
    struct loop *l = loop_create(64);
    struct job a = { .loop = l }, b = { .loop = l };
    assert_int_equal(fiber_start(l, quick, &a), 0);
    int pooled = fiber_pooled();
    assert_int_equal(fiber_start(l, quick, &b), 0);
    assert_int_equal(fiber_pooled(), pooled);   /* taken from the pool and given back */
    assert_int_equal(a.stack_at, b.stack_at);   /* the same stack, the same frame */
    /* Not on the main stack. */
    char here;
    uintptr_t main_at = (uintptr_t)&here;
    assert_true(a.stack_at > main_at + (64 << 10) || a.stack_at + (64 << 10) < main_at);
    loop_destroy(l);
}

static void waits_yield_and_resume_from_the_loop(void **state)
{
    (void)state;
    struct loop *l = loop_create(64);
    int p[2], q[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pipe(q), 0);
    /* Two fibers, each waiting twice in nested frames, interleaved. */
    struct job a = job_on(l, p[0], 2, 5000), b = job_on(l, q[0], 2, 5000);
    assert_int_equal(fiber_start(l, waiter, &a), 1);
    assert_int_equal(fiber_start(l, waiter, &b), 1);
    assert_int_equal(fiber_alive(), 2);
    assert_false(a.done);
    assert_int_equal(write(q[1], "yy", 2), 2);
    assert_int_equal(write(p[1], "xx", 2), 2);
    b.stop_loop = true;
    assert_int_equal(loop_run(l), 0);
    assert_true(a.done && b.done);
    assert_true(a.yielded);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(a.got[i], FIBER_READY);
        assert_int_equal(b.got[i], FIBER_READY);
    }
    assert_int_equal(fiber_alive(), 0);
    close(p[0]); close(p[1]); close(q[0]); close(q[1]);
    loop_destroy(l);
}

static void a_deadline_wakes_it(void **state)
{
    (void)state;
    struct loop *l = loop_create(64);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct job j = job_on(l, p[0], 1, 30);
    j.stop_loop = true;
    assert_int_equal(fiber_start(l, waiter, &j), 1);
    int64_t t0 = loop_now_ms();
    assert_int_equal(loop_run(l), 0);
    assert_true(j.done);
    assert_int_equal(j.got[0], FIBER_TIMEOUT);
    assert_true(loop_now_ms() - t0 >= 25);
    close(p[0]); close(p[1]);
    loop_destroy(l);
}

/* A descriptor kept registered (struct fiber_fd): one fiber waits on it
 * three times (ready, ready, deadline); input with nobody waiting goes to
 * idle; once forgotten, the loop no longer reports it. */
struct watched_job {
    struct loop *loop;
    struct fiber_fd *w;
    int fd;
    enum fiber_wake got[3];
    bool done;
};

static void watched_waiter(void *arg)
{
    struct watched_job *j = arg;
    for (int i = 0; i < 3; i++) {
        j->got[i] = fiber_fd_wait(j->w, j->fd, LOOP_READABLE, loop_now_ms() + (i < 2 ? 5000 : 30));
        char c;
        if (j->got[i] == FIBER_READY) assert_int_equal(read(j->fd, &c, 1), 1);
    }
    j->done = true;
    loop_stop(j->loop);
}

static int idle_reads;

static void idle_read(void *data)
{
    char c;
    if (read(*(int *)data, &c, 1) == 1) idle_reads++;
}

static int64_t stop_now(struct loop *loop, int64_t id, void *data)
{
    (void)id; (void)data;
    loop_stop(loop);
    return -1;
}

static void a_registered_descriptor_stays_registered(void **state)
{
    (void)state;
    struct loop *l = loop_create(64);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct fiber_fd w = { .idle = idle_read, .idle_data = &p[0] };
    struct watched_job j = { .loop = l, .w = &w, .fd = p[0] };
    assert_int_equal(fiber_start(l, watched_waiter, &j), 1);
    assert_true(w.loop == l && w.fd == p[0]);   /* registered at the first wait */
    assert_int_equal(write(p[1], "ab", 2), 2);
    assert_int_equal(loop_run(l), 0);
    assert_true(j.done);
    assert_int_equal(j.got[0], FIBER_READY);
    assert_int_equal(j.got[1], FIBER_READY);
    assert_int_equal(j.got[2], FIBER_TIMEOUT);
    assert_true(w.loop == l && !w.waiter && !w.timer);   /* still registered, no timer left */
    idle_reads = 0;
    assert_int_equal(write(p[1], "c", 1), 1);
    loop_add_timer(l, 50, stop_now, NULL);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(idle_reads, 1);
    fiber_fd_forget(&w);
    assert_null(w.loop);
    assert_int_equal(write(p[1], "d", 1), 1);
    loop_add_timer(l, 30, stop_now, NULL);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(idle_reads, 1);
    close(p[0]); close(p[1]);
    loop_destroy(l);
}

/* Abandoned: cancelled while it waits, and every later wait too. */
static void cancel_wakes_it_for_good(void **state)
{
    (void)state;
    struct loop *l = loop_create(64);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct job j = job_on(l, p[0], 3, 60000);
    assert_int_equal(fiber_start(l, waiter, &j), 1);
    assert_int_equal(fiber_alive(), 1);
    assert_non_null(j.self);
    assert_false(j.done);
    fiber_cancel(j.self);
    assert_true(j.done);
    for (int i = 0; i < 3; i++) assert_int_equal(j.got[i], FIBER_CANCELLED);
    assert_int_equal(fiber_alive(), 0);
    close(p[0]); close(p[1]);
    loop_destroy(l);
}

/* --- the lock -------------------------------------------------------------- */

static void locker(void *arg)
{
    struct job *j = arg;
    j->acquired = fiber_lock_acquire(j->lock);
    if (j->acquired) {
        j->order[(*j->norder)++] = j->id;
        assert_false(fiber_lock_busy(j->lock));
        for (int i = 0; i < j->waits; i++) j->got[i] = nested_wait(j, 1);
    }
    finish(j);
}

/* A job that takes lock and writes its id into order when it has it. */
static void on_lock(struct job *j, struct fiber_lock *lock, int *order, int *norder, int id)
{
    j->lock = lock;
    j->order = order;
    j->norder = norder;
    j->id = id;
}

/* What on_handover saw each time: how many had had the lock, and whether
 * it was free. */
struct handovers {
    struct fiber_lock *lock;
    int *norder;
    int n, had[4];
    bool free[4];
};

static void handed_over(void *data)
{
    struct handovers *h = data;
    if (h->n == 4) return;
    h->had[h->n] = *h->norder;
    h->free[h->n++] = h->lock->owner == NULL && !fiber_current();
}

static void the_lock_queues_in_order(void **state)
{
    (void)state;
    struct loop *l = loop_create(64);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct fiber_lock lock = { 0 };
    int order[3], norder = 0;
    struct handovers seen = { .lock = &lock, .norder = &norder };
    lock.on_handover = handed_over;
    lock.handover_data = &seen;
    struct job j[3];
    for (int i = 0; i < 3; i++) {
        j[i] = job_on(l, p[0], i == 0 ? 1 : 0, 5000);
        on_lock(&j[i], &lock, order, &norder, i);
    }
    j[2].stop_loop = true;
    for (int i = 0; i < 3; i++) assert_int_equal(fiber_start(l, locker, &j[i]), 1);
    assert_true(fiber_lock_busy(&lock));   /* the main context sees the owner */
    assert_int_equal(seen.n, 0);           /* the first took it at once */
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(loop_run(l), 0);
    for (int i = 0; i < 3; i++) {
        assert_true(j[i].done && j[i].acquired);
        assert_int_equal(order[i], i);
    }
    /* Between one's end and the next one's start, from the loop, the lock free. */
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.had[0], 1);
    assert_int_equal(seen.had[1], 2);
    assert_true(seen.free[0] && seen.free[1]);
    assert_int_equal(j[0].got[0], FIBER_READY);
    assert_null(lock.owner);
    assert_null(lock.head);
    assert_int_equal(lock.driven, 0);
    close(p[0]); close(p[1]);
    loop_destroy(l);
}

static void the_main_context_drives_the_owner(void **state)
{
    (void)state;
    struct loop *l = loop_create(64);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct fiber_lock lock = { 0 };
    int order[2], norder = 0;
    struct job a = job_on(l, p[0], 2, 5000), b = job_on(l, p[0], 0, 5000);
    on_lock(&a, &lock, order, &norder, 0);
    on_lock(&b, &lock, order, &norder, 1);
    assert_int_equal(fiber_start(l, locker, &a), 1);
    assert_int_equal(fiber_start(l, locker, &b), 1);
    assert_int_equal(write(p[1], "xx", 2), 2);
    /* Without running the loop: the owner is run to its end, blocking. */
    assert_true(fiber_lock_acquire(&lock));
    assert_true(a.done);
    assert_false(b.done);
    assert_int_equal(lock.driven, 1);
    assert_null(lock.owner);
    /* The waiter is cancelled, not run. */
    fiber_lock_cancel_waiters(&lock);
    assert_true(b.done);
    assert_false(b.acquired);
    assert_int_equal(norder, 1);
    assert_null(lock.head);
    assert_int_equal(fiber_alive(), 0);
    close(p[0]); close(p[1]);
    loop_destroy(l);
}

static void drain_runs_everyone(void **state)
{
    (void)state;
    struct loop *l = loop_create(64);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct fiber_lock lock = { 0 };
    int order[3], norder = 0;
    struct job j[3];
    for (int i = 0; i < 3; i++) {
        j[i] = job_on(l, p[0], 1, 5000);
        on_lock(&j[i], &lock, order, &norder, i);
        assert_int_equal(fiber_start(l, locker, &j[i]), 1);
    }
    assert_int_equal(write(p[1], "xyz", 3), 3);
    fiber_lock_drain(&lock);
    for (int i = 0; i < 3; i++) {
        assert_true(j[i].done);
        assert_int_equal(order[i], i);
        assert_int_equal(j[i].got[0], FIBER_READY);
    }
    assert_int_equal(fiber_alive(), 0);
    close(p[0]); close(p[1]);
    loop_destroy(l);
}

static void inner_start(void *arg)
{
    int *rc = arg;
    *rc = fiber_start(NULL, inner_start, NULL);
}

static void no_fiber_inside_a_fiber(void **state)
{
    (void)state;
    int rc = 99;
    assert_int_equal(fiber_start(NULL, inner_start, &rc), 0);
    assert_int_equal(rc, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runs_to_end_without_yielding),
        cmocka_unit_test(stacks_are_reused),
        cmocka_unit_test(waits_yield_and_resume_from_the_loop),
        cmocka_unit_test(a_deadline_wakes_it),
        cmocka_unit_test(a_registered_descriptor_stays_registered),
        cmocka_unit_test(cancel_wakes_it_for_good),
        cmocka_unit_test(the_lock_queues_in_order),
        cmocka_unit_test(the_main_context_drives_the_owner),
        cmocka_unit_test(drain_runs_everyone),
        cmocka_unit_test(no_fiber_inside_a_fiber),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
