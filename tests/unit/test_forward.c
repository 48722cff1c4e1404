/* The pure parts of forwarding: via lists (cse/core/forward.h) and the path
 * that addresses a target at another CSE (cse/core/route.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cse/core/forward.h"
#include "cse/core/route.h"

static void via_lists(void **state)
{
    (void)state;
    assert_true(forward_via_has("/id-in+/id-mn", "/id-in"));
    assert_true(forward_via_has("/id-in+/id-mn", "/id-mn"));
    assert_false(forward_via_has("/id-in+/id-mn", "/id-m"));    /* whole items only */
    assert_false(forward_via_has("/id-inx", "/id-in"));
    assert_false(forward_via_has(NULL, "/id-in"));
    char last[16];
    assert_true(forward_via_last("/id-in+/id-mn", last, sizeof last));
    assert_string_equal(last, "/id-mn");
    assert_true(forward_via_last("/id-in", last, sizeof last));
    assert_string_equal(last, "/id-in");
    assert_false(forward_via_last(NULL, last, sizeof last));
    assert_false(forward_via_last("/id-a-very-long-cse-id", last, sizeof last)); /* cut: refused */
}

static void target_paths(void **state)
{
    (void)state;
    struct { const char *to, *path; } cases[] = {
        { "/id-mn/cse-mn/ae/cnt", "~/id-mn/cse-mn/ae/cnt" },
        { "/id-mn/cnt123", "~/id-mn/cnt123" },
        { "//ironbark.local/id-mn/cse-mn", "_/ironbark.local/id-mn/cse-mn" },
        { "/id-mn/cse-mn/cnt#lbl", "~/id-mn/cse-mn/cnt%23lbl" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *p = route_target_path(cases[i].to);
        assert_non_null(p);
        assert_string_equal(p, cases[i].path);
        free(p);
    }
    assert_null(route_target_path("cse-in/ae"));
    assert_null(route_target_path(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(via_lists),
        cmocka_unit_test(target_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
