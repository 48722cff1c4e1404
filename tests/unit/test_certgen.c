/* First-start certificates (security/certgen.c): made once, reused after, and
 * making them leaves no lasting heap behind (wolfSSL's table of precomputed
 * points, about 800 KiB, was kept for the life of the process). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "security/certgen.h"

static void made_once_and_heap_returned(void **state)
{
    (void)state;
    char dir[] = "/tmp/ironbark-certgen-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct certgen_paths p;
    bool created = false;
    size_t before = mallinfo2().uordblks;
    assert_int_equal(certgen_ensure(dir, "cse.example", NULL, &p, &created), 0);
    size_t after = mallinfo2().uordblks;
    assert_true(created);
    assert_int_equal(access(p.ca_cert, R_OK), 0);
    assert_int_equal(access(p.server_key, R_OK), 0);
    /* Under ASan mallinfo2() does not see its allocator: both are 0 there. */
    assert_true(after < before + 64 * 1024);

    assert_int_equal(certgen_ensure(dir, "cse.example", NULL, &p, &created), 0);
    assert_false(created);

    const char *files[] = { p.ca_cert, p.ca_key, p.server_cert, p.server_key };
    for (size_t i = 0; i < 4; i++) unlink(files[i]);
    char names[600];
    snprintf(names, sizeof names, "%s/server.names", dir);
    unlink(names);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(made_once_and_heap_returned) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
