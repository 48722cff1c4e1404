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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(watch_high_fd),
        cmocka_unit_test(beyond_max_fds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
