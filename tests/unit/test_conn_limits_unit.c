/* The pieces behind the connection limits: the per-address count table
 * (cse/peer_table.c) and the file-descriptor budget (cse/fd_limit.c). */
#include "cse/base/fd_limit.h"
#include "cse/base/peer_table.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

static struct peer_key v4(uint32_t host_order)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(host_order) };
    struct peer_key k;
    peer_key_from_sockaddr(&k, (struct sockaddr *)&a);
    return k;
}

static void counts_per_address(void **state)
{
    (void)state;
    struct peer_table t = { 0 };
    struct peer_key a = v4(0x7f000001), b = v4(0x7f000002);
    assert_int_equal(peer_table_count(&t, &a), 0);
    assert_int_equal(peer_table_add(&t, &a), 1);
    assert_int_equal(peer_table_add(&t, &a), 2);
    assert_int_equal(peer_table_add(&t, &b), 1);
    assert_int_equal(peer_table_count(&t, &a), 2);
    peer_table_remove(&t, &a);
    assert_int_equal(peer_table_count(&t, &a), 1);
    peer_table_remove(&t, &a);
    assert_int_equal(peer_table_count(&t, &a), 0);
    peer_table_remove(&t, &a);                 /* not there: a no-op */
    assert_int_equal(peer_table_count(&t, &b), 1);
    assert_int_equal((int)t.used, 1);
    peer_table_free(&t);
}

/* An IPv4 client counts once whether it reaches a v4 or a dual-stack (v6) listener. */
static void v4_mapped_is_v4(void **state)
{
    (void)state;
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
    assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.2", &a6.sin6_addr), 1);
    struct peer_key k6, k4 = v4(0x7f000002);
    peer_key_from_sockaddr(&k6, (struct sockaddr *)&a6);
    assert_memory_equal(&k6, &k4, sizeof k4);
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &a6.sin6_addr), 1);
    peer_key_from_sockaddr(&k6, (struct sockaddr *)&a6);
    assert_memory_not_equal(&k6, &k4, sizeof k4);
}

/* Many peers come and go (growth, collisions, backward-shift deletion and
 * shrinking): every count stays exact throughout. */
static void grows_and_shrinks(void **state)
{
    (void)state;
    enum { N = 5000 };
    static int expect[N];
    memset(expect, 0, sizeof expect);
    struct peer_table t = { 0 };
    for (int i = 0; i < N; i++) {
        struct peer_key k = v4(0x0a000000u + (uint32_t)i);
        for (int j = 0; j <= i % 3; j++) assert_int_equal(peer_table_add(&t, &k), ++expect[i]);
    }
    assert_int_equal((int)t.used, N);
    size_t grown = t.cap;
    assert_true(grown >= 2 * N);
    /* Remove every other peer completely, and one connection of the rest. */
    for (int i = 0; i < N; i++) {
        struct peer_key k = v4(0x0a000000u + (uint32_t)i);
        int n = i % 2 ? expect[i] : 1;
        for (int j = 0; j < n; j++) peer_table_remove(&t, &k);
        expect[i] -= n;
    }
    for (int i = 0; i < N; i++) {
        struct peer_key k = v4(0x0a000000u + (uint32_t)i);
        assert_int_equal(peer_table_count(&t, &k), expect[i]);
    }
    for (int i = 0; i < N; i++) {
        struct peer_key k = v4(0x0a000000u + (uint32_t)i);
        while (expect[i]--) peer_table_remove(&t, &k);
    }
    assert_int_equal((int)t.used, 0);
    assert_true(t.cap < grown);
    assert_true(t.cap <= 16);
    peer_table_free(&t);
}

static void fd_budget(void **state)
{
    (void)state;
    /* The reserve: a quarter of the limit, between 64 and 512. */
    assert_int_equal(fd_reserve(256), 64);
    assert_int_equal(fd_reserve(1024), 256);
    assert_int_equal(fd_reserve(1 << 20), FD_RESERVE_MAX);
    assert_int_equal(fd_reserve(40), 20);          /* a tiny limit keeps half */
    assert_int_equal(fd_connections_fitting(256, 4096), 192);
    assert_int_equal(fd_connections_fitting(1024, 4096), 768);
    assert_int_equal(fd_connections_fitting(1 << 20, 4096), 4096);
    assert_int_equal(fd_connections_fitting(2, 4096), 1);
    /* What fd_limit_prepare asks for is enough for the connections wanted. */
    for (int want = 16; want <= 1000000; want *= 3)
        assert_int_equal(fd_connections_fitting(fd_limit_wanted(want), want), want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_per_address),
        cmocka_unit_test(v4_mapped_is_v4),
        cmocka_unit_test(grows_and_shrinks),
        cmocka_unit_test(fd_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
