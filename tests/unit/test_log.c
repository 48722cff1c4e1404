/* Log lines held while a loop runs (cse/base/log.c): info lines wait for
 * the loop's sleep, warnings go out at once after them, nothing is lost or
 * reordered, and a loop writes its round's lines before it sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "cse/base/log.h"
#include "cse/base/loop.h"

static int pipe_fds[2], saved_stderr;

static int setup(void **state)
{
    (void)state;
    if (pipe(pipe_fds)) return -1;
    fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    fcntl(pipe_fds[1], F_SETPIPE_SZ, 1 << 20);   /* the whole test's output fits */
    saved_stderr = dup(2);
    dup2(pipe_fds[1], 2);
    log_set_level(LOG_LVL_INFO);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dup2(saved_stderr, 2);
    close(saved_stderr);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return 0;
}

/* What reached stderr since the last call. */
static const char *written(void)
{
    static char text[1 << 20];
    ssize_t n = read(pipe_fds[0], text, sizeof text - 1);
    text[n > 0 ? n : 0] = 0;
    return text;
}

static void test_unheld_lines_go_at_once(void **state)
{
    (void)state;
    log_info("plain %d", 1);
    assert_non_null(strstr(written(), "info  plain 1\n"));
}

static void test_held_info_waits_for_flush(void **state)
{
    (void)state;
    log_hold(true);
    log_info("first");
    log_debug("not at this level");
    assert_string_equal(written(), "");
    log_flush();
    const char *out = written();
    assert_non_null(strstr(out, "info  first\n"));
    assert_null(strstr(out, "not at this level"));
    log_hold(false);
}

static void test_warning_goes_out_after_what_waits(void **state)
{
    (void)state;
    log_hold(true);
    log_info("before");
    log_warn("the warning");
    const char *out = written();
    const char *a = strstr(out, "before"), *b = strstr(out, "the warning");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    log_info("after");
    assert_string_equal(written(), "");
    log_hold(false);                         /* the last release flushes */
    assert_non_null(strstr(written(), "info  after\n"));
}

/* More than the buffer holds: every line once, in order. */
static void test_full_buffer_keeps_every_line(void **state)
{
    (void)state;
    log_hold(true);
    for (int i = 0; i < 2000; i++) log_info("line %04d of a long burst", i);
    log_hold(false);
    const char *out = written(), *at = out;
    for (int i = 0; i < 2000; i++) {
        char want[64];
        snprintf(want, sizeof want, "line %04d of a long burst\n", i);
        const char *hit = strstr(at, want);
        assert_non_null(hit);
        at = hit + strlen(want);
    }
}

/* JSON lines held the same way, whole objects. */
static void test_json_lines(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_JSON);
    log_hold(true);
    struct log_field f[] = { { "rqi", "a\"b", 0 }, { "rsc", NULL, 2000 } };
    log_fields(LOG_LVL_INFO, "request", f, 2);
    assert_string_equal(written(), "");
    log_hold(false);
    const char *out = written();
    assert_non_null(strstr(out, "\"msg\":\"request\",\"rqi\":\"a\\\"b\",\"rsc\":2000}\n"));
    log_set_format(LOG_FORMAT_TEXT);
}

static int ticks;
static const char *seen_at_second_tick;

static int64_t tick(struct loop *l, int64_t id, void *data)
{
    (void)id;
    (void)data;
    if (++ticks == 1) {
        log_info("from the first round");
        return 20;                          /* the loop sleeps before the next tick */
    }
    seen_at_second_tick = strstr(written(), "from the first round") ? "yes" : "no";
    loop_stop(l);
    return -1;
}

/* A loop holds its lines and writes them before it sleeps. */
static void test_loop_writes_before_sleeping(void **state)
{
    (void)state;
    struct loop *l = loop_create(64);
    assert_non_null(l);
    loop_add_timer(l, 1, tick, NULL);
    assert_int_equal(loop_run(l), 0);
    assert_string_equal(seen_at_second_tick, "yes");
    log_info("after the loop");
    assert_non_null(strstr(written(), "after the loop"));   /* no longer held */
    loop_destroy(l);
}

/* A process that exits inside a loop callback still writes the round's lines. */
static int64_t exit_now(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id; (void)data;
    log_info("said before exit");
    exit(0);
}

static void test_exit_inside_a_loop_writes_held_lines(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct loop *l = loop_create(64);
        if (l) loop_add_timer(l, 1, exit_now, NULL);
        if (l) loop_run(l);
        _exit(3);                /* not reached: the timer exits */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_non_null(strstr(written(), "info  said before exit\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unheld_lines_go_at_once),
        cmocka_unit_test(test_held_info_waits_for_flush),
        cmocka_unit_test(test_warning_goes_out_after_what_waits),
        cmocka_unit_test(test_full_buffer_keeps_every_line),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_loop_writes_before_sleeping),
        cmocka_unit_test(test_exit_inside_a_loop_writes_held_lines),
    };
    /* cmocka's own TAP output goes to stdout, not the pipe. */
    return cmocka_run_group_tests(tests, setup, teardown);
}
