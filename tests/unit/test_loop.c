/* The event loop's fd table: it starts small and grows to the highest fd
 * watched, never beyond max_fds. */
#include "cse/base/loop.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

static int fired_fd = -1;

static void on_readable(struct loop *l, int fd, void *data, int mask)
{
    fired_fd = fd;
    *(int *)data += 1;
    loop_stop(l);
}

static int64_t stop_loop(struct loop *l, int64_t id, void *data)
{
    (void)id; (void)data;
    loop_stop(l);
    return -1;
}

static void watch_high_fd(void **state)
{
    (void)state;
    struct loop *l = loop_create(1024);
    assert_non_null(l);
    int p[2];
    assert_int_equal(pipe(p), 0);
    int high = dup2(p[0], 900);          /* far beyond the initial table */
    assert_int_equal(high, 900);
    int calls = 0;
    assert_int_equal(loop_watch(l, high, LOOP_READABLE, on_readable, &calls), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(calls, 1);
    assert_int_equal(fired_fd, 900);
    loop_unwatch(l, high, LOOP_READABLE);
    loop_unwatch(l, 1000, LOOP_READABLE);  /* never watched: a no-op */
    close(high); close(p[0]); close(p[1]);
    loop_destroy(l);
}

static void beyond_max_fds(void **state)
{
    (void)state;
    struct loop *l = loop_create(100);
    int p[2];
    assert_int_equal(pipe(p), 0);
    int high = dup2(p[0], 150);
    int calls = 0;
    errno = 0;
    assert_int_equal(loop_watch(l, high, LOOP_READABLE, on_readable, &calls), -1);
    assert_int_equal(errno, ERANGE);
    assert_int_equal(loop_watch(l, p[0], LOOP_READABLE, on_readable, &calls), 0);
    close(high); close(p[0]); close(p[1]);
    loop_destroy(l);
}

/* A forgotten fd, closed at once, leaves epoll with its file: the number,
 * reused by a new file, is watched afresh and only the new callback runs. */
static void forget_then_close(void **state)
{
    (void)state;
    struct loop *l = loop_create(1024);
    int p[2], q[2];
    assert_int_equal(pipe(p), 0);
    int old_calls = 0, new_calls = 0;
    assert_int_equal(loop_watch(l, p[0], LOOP_READABLE, on_readable, &old_calls), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    int reused = p[0];
    loop_forget(l, p[0]);
    close(p[0]);
    close(p[1]);
    assert_int_equal(pipe(q), 0);
    assert_int_equal(q[0], reused);       /* the lowest free number comes back */
    /* Had the loop kept the old record, this would change no registration
     * and the new file would never be reported (the timer ends the wait). */
    assert_int_equal(loop_watch(l, q[0], LOOP_READABLE, on_readable, &new_calls), 0);
    assert_int_equal(write(q[1], "y", 1), 1);
    int64_t bound = loop_add_timer(l, 2000, stop_loop, NULL);
    assert_int_equal(loop_run(l), 0);
    loop_del_timer(l, bound);
    assert_int_equal(new_calls, 1);
    assert_int_equal(old_calls, 0);
    loop_forget(l, 5000);                 /* beyond the table: a no-op */
    loop_unwatch(l, q[0], LOOP_READABLE);
    close(q[0]); close(q[1]);
    loop_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(watch_high_fd),
        cmocka_unit_test(beyond_max_fds),
        cmocka_unit_test(forget_then_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
