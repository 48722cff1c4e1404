/* The loop's own waits (cse/base/loop_waits.c): not counted outside
 * loop_run() (start-up, tools); inside, counted under a site that names the
 * function which asked (a static one with its file), once per site in the
 * log and in the IRONBARK_FIBER_AUDIT file. */
#include "cse/base/loop.h"
#include "cse/base/loop_waits.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static char audit_path[] = "/tmp/ironbark-loop-waits-XXXXXX";

__attribute__((noinline)) static int64_t waiting_timer(struct loop *l, int64_t id, void *data)
{
    (void)id; (void)data;
    assert_true(loop_wait_note(LOOP_WAIT_ROUND_TRIP));
    assert_true(loop_wait_note(LOOP_WAIT_ROUND_TRIP));
    loop_stop(l);
    return -1;
}

__attribute__((noinline)) static int64_t driving_timer(struct loop *l, int64_t id, void *data)
{
    (void)l; (void)id; (void)data;
    assert_true(loop_wait_note(LOOP_WAIT_DRIVEN));
    return -1;
}

static void counted_by_site_inside_the_loop(void **state)
{
    (void)state;
    size_t n;
    assert_false(loop_wait_note(LOOP_WAIT_ROUND_TRIP));   /* no loop runs: start-up */
    loop_wait_sites(&n);
    assert_int_equal(n, 0);

    struct loop *l = loop_create(64);
    assert_non_null(l);
    loop_add_timer(l, 1, driving_timer, NULL);
    loop_add_timer(l, 5, waiting_timer, NULL);
    assert_int_equal(loop_run(l), 0);
    loop_destroy(l);
    assert_false(loop_wait_note(LOOP_WAIT_ROUND_TRIP));   /* after the loop: shutdown */

    const struct loop_wait_site *s = loop_wait_sites(&n);
    assert_int_equal(n, 2);
    const struct loop_wait_site *driven = s[0].kind == LOOP_WAIT_DRIVEN ? &s[0] : &s[1];
    const struct loop_wait_site *waited = driven == s ? &s[1] : &s[0];
    assert_int_equal(driven->kind, LOOP_WAIT_DRIVEN);
    assert_int_equal(driven->count, 1);
    assert_int_equal(waited->kind, LOOP_WAIT_ROUND_TRIP);
    assert_int_equal(waited->count, 2);
    /* The asking function first, the loop itself left out. */
    assert_true(!strncmp(driven->site, "test_loop_waits.c:driving_timer", 31));
    assert_true(!strncmp(waited->site, "test_loop_waits.c:waiting_timer", 31));
    assert_null(strstr(waited->site, "loop_run"));

    /* One audit line per site, with the test's name. */
    FILE *f = fopen(audit_path, "r");
    assert_non_null(f);
    char text[1024] = "";
    size_t got = fread(text, 1, sizeof text - 1, f);
    text[got] = 0;
    assert_non_null(strstr(text, "unit-waits\tdriven\ttest_loop_waits.c:driving_timer"));
    assert_non_null(strstr(text, "unit-waits\tround trip\ttest_loop_waits.c:waiting_timer"));
    int lines = 0;
    for (char *c = text; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 2);
    fclose(f);
}

int main(void)
{
    int fd = mkstemp(audit_path);
    if (fd < 0) return 1;
    close(fd);
    setenv("IRONBARK_FIBER_AUDIT", audit_path, 1);
    setenv("IRONBARK_TEST_NAME", "unit-waits", 1);
    loop_waits_prepare();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counted_by_site_inside_the_loop),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(audit_path);
    return failed;
}
