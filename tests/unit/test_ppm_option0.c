/* PPM option 0's expiry watch (ppm/option0.h): which consent ends a scan
 * acts on, and a loop timer that never runs before the end it waits for.
 * A consent whose cet fell between a scan's clock reading and the re-arming
 * of the timer used to be dropped, its ACP's name left in the acpi. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cse/base/clock.h"
#include "cse/base/loop.h"
#include "ppm/option0.h"

static void scan_decides_by_one_reading(void **state)
{
    (void)state;
    int64_t seen, cet;
    assert_true(ts_parse("20261207T021630,000000", &seen));
    assert_true(ts_parse("20261207T021638", &cet)); /* a cet of whole seconds, as given */
    int64_t scan = cet - 1;                          /* the timer ran 1 µs early */
    assert_int_equal(ppm_option0_end_of(cet, seen, scan), PPM_END_AHEAD);
    /* By the time it is watched again the cet has passed: a timer at once,
     * so the next scan finds it due, never no timer at all. */
    assert_int_equal(ppm_option0_timer_ms(cet, cet + 300), 0);
    assert_int_equal(ppm_option0_end_of(cet, scan, cet + 300), PPM_END_DUE);
    /* Exactly at the scan, or any time between the scans: due once. */
    assert_int_equal(ppm_option0_end_of(cet, seen, cet), PPM_END_DUE);
    assert_int_equal(ppm_option0_end_of(seen + 1, seen, cet), PPM_END_DUE);
    /* What an earlier scan saw (or what ended before the start) is not acted on again. */
    assert_int_equal(ppm_option0_end_of(seen, seen, cet), PPM_END_HANDLED);
    assert_int_equal(ppm_option0_end_of(cet, cet, cet + 5000000), PPM_END_HANDLED);
}

static void timer_rounds_up(void **state)
{
    (void)state;
    assert_int_equal(ppm_option0_timer_ms(1000, 1000), 0);
    assert_int_equal(ppm_option0_timer_ms(1000, 2000), 0);
    /* 2503.6 ms ahead: 2504 ms would be early when armed late in a loop millisecond. */
    assert_int_equal(ppm_option0_timer_ms(2503600, 0), 2505);
    assert_int_equal(ppm_option0_timer_ms(1, 0), 2);
    assert_int_equal(ppm_option0_timer_ms(3000000, 0), 3001);
}

struct shot { int64_t at, ran; struct loop *loop; };

static int64_t fired(struct loop *loop, int64_t id, void *data)
{
    (void)id;
    struct shot *s = data;
    s->ran = clock_now_us();
    loop_stop(loop);
    return -1;
}

static int64_t give_up(struct loop *loop, int64_t id, void *data)
{
    (void)id; (void)data;
    loop_stop(loop);
    return -1;
}

/* The real loop, armed at every offset within its millisecond: the timer
 * runs at or after the instant, never before (the old delay, floor + 1 ms,
 * ran up to 1 ms early about half the time). */
static void timer_never_runs_early(void **state)
{
    (void)state;
    struct loop *loop = loop_create(16);
    assert_non_null(loop);
    for (int i = 0; i < 40; i++) {
        int64_t now = clock_now_us();
        struct shot s = { now + 1000 + (i * 97) % 1000, 0, loop };
        loop_add_timer(loop, ppm_option0_timer_ms(s.at, clock_now_us()), fired, &s);
        int64_t guard = loop_add_timer(loop, 5000, give_up, NULL);
        loop_run(loop);
        loop_del_timer(loop, guard);
        assert_true(s.ran > 0);
        assert_true(s.ran >= s.at);
    }
    loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scan_decides_by_one_reading),
        cmocka_unit_test(timer_rounds_up),
        cmocka_unit_test(timer_never_runs_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
