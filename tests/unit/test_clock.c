/* oneM2M timestamps, relative times and durations. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cse/base/clock.h"

static void format_and_parse(void **state)
{
    (void)state;
    int64_t us;
    assert_true(ts_parse("20240316T101500", &us));
    ts_buf b;
    ts_format(us, b);
    assert_string_equal(b, "20240316T101500,000000");
    assert_true(ts_parse("20240316T101500,5", &us));
    ts_format(us, b);
    assert_string_equal(b, "20240316T101500,500000");
    assert_true(ts_parse("19700101T000000", &us));
    assert_int_equal(us, 0);
    assert_true(ts_parse("20000229T235959,999999", &us)); /* leap day */
}

static void rejects_malformed(void **state)
{
    (void)state;
    int64_t us;
    assert_false(ts_parse("", &us));
    assert_false(ts_parse("2024-03-16T10:15:00", &us));
    assert_false(ts_parse("20240230T101500", &us));  /* no 30 February */
    assert_false(ts_parse("20230229T101500", &us));  /* not a leap year */
    assert_false(ts_parse("20240316T251500", &us));
    assert_false(ts_parse("20240316T101500,", &us));
    assert_false(ts_parse("20240316T101500,1234567", &us));
    assert_false(ts_parse("20240316T101500x", &us));
}

static void canonical_order(void **state)
{
    (void)state;
    ts_buf a, b;
    assert_true(ts_canonical("20240316T101500", a));
    assert_true(ts_canonical("20240316T101500,1", b));
    assert_true(strcmp(a, b) < 0);
}

static void relative_and_durations(void **state)
{
    (void)state;
    int64_t us;
    assert_true(ts_parse_absrel("5000", 1000000, &us));
    assert_int_equal(us, 6000000);
    assert_true(duration_parse("PT10S", &us));
    assert_int_equal(us, 10000000);
    assert_true(duration_parse("P1DT1H", &us));
    assert_int_equal(us, (86400LL + 3600) * 1000000);
    assert_false(duration_parse("10S", &us));
    assert_false(duration_parse("P", &us));
    assert_false(duration_parse("PT5D", &us));
}

static void fixed_clock(void **state)
{
    (void)state;
    clock_set_fixed(1234567);
    assert_int_equal(clock_now_us(), 1234567);
    clock_set_fixed(0);
    assert_true(clock_now_us() > 1234567);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_and_parse),
        cmocka_unit_test(rejects_malformed),
        cmocka_unit_test(canonical_order),
        cmocka_unit_test(relative_and_durations),
        cmocka_unit_test(fixed_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
