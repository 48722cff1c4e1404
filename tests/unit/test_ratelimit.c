/* Token buckets (cse/ratelimit.c) on a clock of the test's own: bursts,
 * refill and its cap, the wait announced, independent keys, the bound on
 * remembered keys with least-recently-used eviction, repeat offenders
 * reported once per window, long keys, and a random run checked against a
 * naive model of the same rules. Then the engine's use of them
 * (cse/throttle.c): keys, the order of the checks, the refusal primitive,
 * the loopback exemption, handshakes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cse/core/config.h"
#include "cse/base/ratelimit.h"
#include "cse/core/rsc.h"
#include "cse/core/throttle.h"

static struct ratelimit *table(double rate, double burst, int max, int report_after, int64_t window)
{
    struct ratelimit_params p = { rate, burst, max, report_after, window };
    struct ratelimit *t = ratelimit_new(&p, 42);
    assert_non_null(t);
    return t;
}

static int64_t take(struct ratelimit *t, const char *key, int64_t now)
{
    return ratelimit_take(t, key, now, NULL);
}

static void burst_then_wait(void **state)
{
    (void)state;
    struct ratelimit *t = table(2, 3, 16, 100, 60000);
    int64_t now = 1000;
    for (int i = 0; i < 3; i++) assert_int_equal(take(t, "10.0.0.1", now), 0);
    /* Empty: at 2 tokens/s the next one is 500 ms away. */
    assert_int_equal(take(t, "10.0.0.1", now), 500);
    assert_int_equal(take(t, "10.0.0.1", now + 499), 1);
    assert_int_equal(take(t, "10.0.0.1", now + 500), 0);
    assert_int_equal(take(t, "10.0.0.1", now + 500), 500);
    /* Refusals take nothing: waiting the announced time is enough. */
    for (int i = 0; i < 20; i++) assert_true(take(t, "10.0.0.1", now + 600) > 0);
    assert_int_equal(take(t, "10.0.0.1", now + 1000), 0);
    ratelimit_free(t);
}

static void refill_is_capped(void **state)
{
    (void)state;
    struct ratelimit *t = table(10, 4, 16, 100, 60000);
    assert_int_equal(take(t, "k", 0), 0);
    /* An hour of silence still gives only a burst. */
    int64_t later = 3600 * 1000;
    for (int i = 0; i < 4; i++) assert_int_equal(take(t, "k", later), 0);
    assert_int_equal(take(t, "k", later), 100);
    ratelimit_free(t);
}

static void slow_rates_and_clock_steps_back(void **state)
{
    (void)state;
    struct ratelimit *t = table(0.5, 1, 16, 100, 60000);
    assert_int_equal(take(t, "k", 10000), 0);
    assert_int_equal(take(t, "k", 10000), 2000);
    /* A clock that steps back adds nothing. */
    assert_int_equal(take(t, "k", 5000), 2000);
    assert_int_equal(take(t, "k", 11000), 1000);
    assert_int_equal(take(t, "k", 12000), 0);
    ratelimit_free(t);
}

static void keys_are_independent(void **state)
{
    (void)state;
    struct ratelimit *t = table(1, 2, 16, 100, 60000);
    assert_int_equal(take(t, "a", 0), 0);
    assert_int_equal(take(t, "a", 0), 0);
    assert_true(take(t, "a", 0) > 0);
    assert_int_equal(take(t, "b", 0), 0);
    assert_int_equal(take(t, "b", 0), 0);
    assert_true(take(t, "b", 0) > 0);
    assert_int_equal(ratelimit_count(t), 2);
    ratelimit_free(t);
}

static void zero_rate_admits_everything(void **state)
{
    (void)state;
    struct ratelimit *t = table(0, 1, 16, 0, 60000);
    for (int i = 0; i < 1000; i++) assert_int_equal(take(t, "k", 0), 0);
    assert_int_equal(ratelimit_count(t), 0);
    ratelimit_free(t);
}

static void bounded_with_lru_eviction(void **state)
{
    (void)state;
    struct ratelimit *t = table(1, 1, 8, 100, 60000);
    /* The offender uses its token, then stays busy among a flood of new keys. */
    assert_int_equal(take(t, "offender", 0), 0);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "spoofed-%d", i);
        assert_int_equal(take(t, key, 0), 0);
        assert_true(ratelimit_count(t) <= 8);
        if (i % 4 == 0) assert_true(take(t, "offender", 0) > 0);
    }
    assert_int_equal(ratelimit_count(t), 8);
    /* Recently used, so still remembered: still empty. */
    assert_true(take(t, "offender", 0) > 0);
    /* An old key was forgotten and starts again with a full bucket. */
    assert_int_equal(take(t, "spoofed-0", 0), 0);
    /* The seven most recent keys besides it are still remembered (empty). */
    assert_true(take(t, "spoofed-999", 0) > 0);
    ratelimit_free(t);
}

static void repeat_offender_reported_once_per_window(void **state)
{
    (void)state;
    struct ratelimit *t = table(1, 1, 16, 3, 10000);
    struct ratelimit_refusal why;
    assert_int_equal(ratelimit_take(t, "k", 0, &why), 0);
    for (unsigned i = 1; i <= 3; i++) {
        assert_true(ratelimit_take(t, "k", 0, &why) > 0);
        assert_int_equal(why.refused, i);
        assert_false(why.report);
    }
    assert_true(ratelimit_take(t, "k", 1, &why) > 0);
    assert_int_equal(why.refused, 4);
    assert_true(why.report);
    for (int i = 0; i < 50; i++) {
        assert_true(ratelimit_take(t, "k", 2 + i, &why) > 0);
        assert_false(why.report);
    }
    /* Ten seconds on, a new window: a full bucket, then the count starts over. */
    int64_t later = 10001;
    assert_int_equal(ratelimit_take(t, "k", later, &why), 0);
    for (unsigned i = 1; i <= 3; i++) {
        assert_true(ratelimit_take(t, "k", later, &why) > 0);
        assert_int_equal(why.refused, i);
        assert_false(why.report);
    }
    assert_true(ratelimit_take(t, "k", later, &why) > 0);
    assert_true(why.report);
    /* Another key's refusals are its own. */
    assert_int_equal(ratelimit_take(t, "other", later, &why), 0);
    assert_true(ratelimit_take(t, "other", later, &why) > 0);
    assert_int_equal(why.refused, 1);
    ratelimit_free(t);
}

static void long_keys(void **state)
{
    (void)state;
    struct ratelimit *t = table(1, 1, 16, 100, 60000);
    char a[300], b[300];
    memset(a, 'x', sizeof a - 1);
    a[sizeof a - 1] = 0;
    memcpy(b, a, sizeof b);
    b[sizeof b - 2] = 'y';      /* same first 298 bytes, another key */
    assert_int_equal(take(t, a, 0), 0);
    assert_true(take(t, a, 0) > 0);
    assert_int_equal(take(t, b, 0), 0);
    assert_true(take(t, b, 0) > 0);
    assert_int_equal(ratelimit_count(t), 2);
    ratelimit_free(t);
}

/* The same rules, written the obvious way: a list of keys with their last
 * use, tokens in millionths (rate 7/s = 7000 millionths per ms). */
struct model_entry { char key[16]; int64_t tokens; int64_t last; int64_t used; };

static int64_t model_take(struct model_entry *m, int *n, int max, int64_t per_ms, int64_t burst,
                          const char *key, int64_t now, int64_t tick)
{
    int i = 0;
    while (i < *n && strcmp(m[i].key, key)) i++;
    if (i == *n) {
        if (*n == max) {
            int lru = 0;
            for (int j = 1; j < *n; j++) if (m[j].used < m[lru].used) lru = j;
            i = lru;
        } else {
            (*n)++;
        }
        snprintf(m[i].key, sizeof m[i].key, "%s", key);
        m[i].tokens = burst;
        m[i].last = now;
    }
    m[i].used = tick;
    if (now > m[i].last) {
        m[i].tokens += (now - m[i].last) * per_ms;
        if (m[i].tokens > burst) m[i].tokens = burst;
        m[i].last = now;
    }
    if (m[i].tokens >= 1000000) { m[i].tokens -= 1000000; return 0; }
    int64_t w = 0;
    while (m[i].tokens + w * per_ms < 1000000) w++;
    return w;
}

static void random_run_matches_model(void **state)
{
    (void)state;
    enum { MAX = 12, KEYS = 40, STEPS = 20000 };
    struct ratelimit *t = table(7, 3, MAX, 5, 1000);
    struct model_entry m[MAX];
    int n = 0;
    srand(7);
    int64_t now = 0;
    for (int64_t step = 1; step <= STEPS; step++) {
        now += rand() % 40;
        char key[16];
        /* A few hot keys and a long tail, so that both hits and evictions happen. */
        int k = rand() % 4 ? rand() % 5 : rand() % KEYS;
        snprintf(key, sizeof key, "key-%d", k);
        int64_t got = take(t, key, now);
        int64_t want = model_take(m, &n, MAX, 7000, 3000000, key, now, step);
        if (got != want) fail_msg("step %lld key %s: got %lld, want %lld", (long long)step, key,
                                  (long long)got, (long long)want);
        assert_int_equal(ratelimit_count(t), n);
    }
    ratelimit_free(t);
}

static void address_keys(void **state)
{
    (void)state;
    char k[64];
    throttle_address_key("192.0.2.7", k, sizeof k);
    assert_string_equal(k, "192.0.2.7");
    throttle_address_key("::ffff:192.0.2.7", k, sizeof k);
    assert_string_equal(k, "192.0.2.7");
    /* A whole /64 is one subscriber: one bucket. */
    throttle_address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k, sizeof k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    throttle_address_key("2001:db8:1:2::1", k, sizeof k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    throttle_address_key("2001:db8:1:3::1", k, sizeof k);
    assert_string_equal(k, "2001:db8:1:3::/64");
}

static struct throttle *engine_throttle(struct config_rate addr, struct config_rate orig,
                                        struct config_rate cred, struct config_rate hs, bool loopback)
{
    struct config c;
    config_defaults(&c);
    c.rate_address = addr;
    c.rate_originator = orig;
    c.rate_credential = cred;
    c.rate_handshake = hs;
    c.rate_limit_loopback = loopback;
    struct throttle *t = throttle_new(&c, NULL);
    assert_non_null(t);
    return t;
}

static int ask(struct throttle *t, const char *ip, const char *fr, const char *cred,
               struct m2m_response *rsp)
{
    struct m2m_request req;
    m2m_request_init(&req);
    snprintf(req.peer.ip, sizeof req.peer.ip, "%s", ip);
    req.fr = fr ? strdup(fr) : NULL;
    if (cred) {
        req.sec.authenticated = true;
        snprintf(req.sec.credential_id, sizeof req.sec.credential_id, "%s", cred);
    }
    m2m_response_clear(rsp);
    int rc = throttle_request(t, &req, rsp);
    m2m_request_clear(&req);
    return rc;
}

static const char *dbg(const struct m2m_response *rsp)
{
    return json_string_value(json_object_get(rsp->pc, "m2m:dbg"));
}

/* Rates of 1/s: nothing refills noticeably while the test runs. */
static void refusals_name_their_key(void **state)
{
    (void)state;
    struct config_rate off = { 0, 1 }, two = { 1, 2 }, three = { 1, 3 }, four = { 1, 4 };
    struct m2m_response rsp;
    m2m_response_init(&rsp);

    /* By address: a second address is not affected. */
    struct throttle *t = engine_throttle(two, off, off, off, false);
    assert_int_equal(ask(t, "192.0.2.1", "Ca", NULL, &rsp), 0);
    assert_int_equal(ask(t, "192.0.2.1", "Cb", NULL, &rsp), 0);
    assert_int_equal(ask(t, "192.0.2.1", "Cc", NULL, &rsp), RSC_BAD_REQUEST);
    assert_int_equal(rsp.rsc, RSC_BAD_REQUEST);
    assert_int_equal(rsp.retry_after_s, 1);
    assert_string_equal(dbg(&rsp), "too many requests from source address 192.0.2.1; retry after 1 s");
    assert_int_equal(ask(t, "192.0.2.2", "Cc", NULL, &rsp), 0);
    assert_int_equal(rsp.retry_after_s, 0);
    /* Loopback is exempt unless rate-limit-loopback says otherwise. */
    for (int i = 0; i < 10; i++) assert_int_equal(ask(t, "127.0.0.1", "Ca", NULL, &rsp), 0);
    for (int i = 0; i < 10; i++) assert_int_equal(ask(t, "::1", "Ca", NULL, &rsp), 0);
    assert_int_equal(throttle_refused(t, THROTTLE_ADDRESS), 1);
    throttle_free(t);

    /* By originator: its spellings share one bucket, other originators have their own. */
    t = engine_throttle(off, three, off, off, true);
    assert_int_equal(ask(t, "127.0.0.1", "Cmeter", NULL, &rsp), 0);
    assert_int_equal(ask(t, "127.0.0.2", "/id-in/Cmeter", NULL, &rsp), 0);
    assert_int_equal(ask(t, "127.0.0.3", "//ironbark.local/id-in/Cmeter", NULL, &rsp), 0);
    assert_int_equal(ask(t, "127.0.0.4", "Cmeter", NULL, &rsp), RSC_BAD_REQUEST);
    assert_string_equal(dbg(&rsp), "too many requests from originator Cmeter; retry after 1 s");
    assert_int_equal(ask(t, "127.0.0.4", "Cother", NULL, &rsp), 0);
    /* A request without an originator is counted by the other keys only. */
    assert_int_equal(ask(t, "127.0.0.4", NULL, NULL, &rsp), 0);
    assert_int_equal(throttle_refused(t, THROTTLE_ORIGINATOR), 1);
    throttle_free(t);

    /* By credential, only when one is authenticated; the address comes first. */
    t = engine_throttle(four, off, two, off, false);
    assert_int_equal(ask(t, "198.51.100.1", "Cx", "12-key@sp", &rsp), 0);
    assert_int_equal(ask(t, "198.51.100.1", "Cy", "12-key@sp", &rsp), 0);
    assert_int_equal(ask(t, "198.51.100.1", "Cz", "12-key@sp", &rsp), RSC_BAD_REQUEST);
    assert_string_equal(dbg(&rsp), "too many requests from credential 12-key@sp; retry after 1 s");
    assert_int_equal(ask(t, "198.51.100.1", "Cz", NULL, &rsp), 0);
    assert_int_equal(ask(t, "198.51.100.1", "Cz", "12-other@sp", &rsp), RSC_BAD_REQUEST);
    assert_non_null(strstr(dbg(&rsp), "source address 198.51.100.1"));
    assert_int_equal(throttle_refused(t, THROTTLE_CREDENTIAL), 1);
    assert_int_equal(throttle_refused(t, THROTTLE_ADDRESS), 1);
    throttle_free(t);

    /* A refusal replaces whatever the binding had put in the response. */
    t = engine_throttle(off, (struct config_rate){ 1, 1 }, off, off, false);
    assert_int_equal(ask(t, "192.0.2.1", "Ca", NULL, &rsp), 0);
    m2m_error(&rsp, RSC_NOT_FOUND, "something else");
    struct m2m_request req;
    m2m_request_init(&req);
    snprintf(req.peer.ip, sizeof req.peer.ip, "192.0.2.1");
    req.fr = strdup("Ca");
    assert_int_equal(throttle_request(t, &req, &rsp), RSC_BAD_REQUEST);
    assert_int_equal(rsp.rsc, RSC_BAD_REQUEST);
    assert_non_null(strstr(dbg(&rsp), "originator Ca"));
    m2m_request_clear(&req);
    throttle_free(t);
    m2m_response_clear(&rsp);
}

static void handshakes(void **state)
{
    (void)state;
    struct config_rate off = { 0, 1 };
    struct throttle *t = engine_throttle(off, off, off, (struct config_rate){ 1, 3 }, false);
    for (int i = 0; i < 3; i++) assert_true(throttle_handshake(t, "203.0.113.5"));
    assert_false(throttle_handshake(t, "203.0.113.5"));
    assert_true(throttle_handshake(t, "203.0.113.6"));
    assert_true(throttle_handshake(t, "127.0.0.1"));
    assert_int_equal(throttle_refused(t, THROTTLE_HANDSHAKE), 1);
    /* Handshakes and requests are counted apart. */
    struct m2m_response rsp;
    m2m_response_init(&rsp);
    assert_int_equal(ask(t, "203.0.113.5", "Ca", NULL, &rsp), 0);
    throttle_free(t);
    /* No throttle at all: everything passes. */
    assert_true(throttle_handshake(NULL, "203.0.113.5"));
    assert_int_equal(ask(NULL, "203.0.113.5", "Ca", NULL, &rsp), 0);
    m2m_response_clear(&rsp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_wait),
        cmocka_unit_test(refill_is_capped),
        cmocka_unit_test(slow_rates_and_clock_steps_back),
        cmocka_unit_test(keys_are_independent),
        cmocka_unit_test(zero_rate_admits_everything),
        cmocka_unit_test(bounded_with_lru_eviction),
        cmocka_unit_test(repeat_offender_reported_once_per_window),
        cmocka_unit_test(long_keys),
        cmocka_unit_test(random_run_matches_model),
        cmocka_unit_test(address_keys),
        cmocka_unit_test(refusals_name_their_key),
        cmocka_unit_test(handshakes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
