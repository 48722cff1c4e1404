/* Expiry with a pinned clock: et defaults and clamping, the sweep, a
 * request that arrives after an et but before the timer, and the sweep
 * committing the round's open batch (counted). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cse/base/clock.h"
#include "cse/core/rsc.h"
#include "unit_cse.h"
#include "cse/core/engine.h"
#include "cse/core/expiry.h"
#include "cse/core/metrics.h"
#include "cse/store/store.h"

static struct cse cse;
static int64_t t0;

static int setup(void **state)
{
    (void)state;
    assert_true(ts_parse("20300101T000000", &t0));
    clock_set_fixed(t0);
    return unit_cse_open(&cse);
}

static int teardown(void **state)
{
    (void)state;
    cse_close(&cse);
    clock_set_fixed(0);
    return 0;
}

static const char *attr(json_t *pc, const char *key, const char *sn)
{
    return json_string_value(json_object_get(json_object_get(pc, key), sn));
}

static int64_t num(json_t *pc, const char *key, const char *sn)
{
    return json_integer_value(json_object_get(json_object_get(pc, key), sn));
}

static void defaults_and_clamping(void **state)
{
    (void)state;
    json_t *pc;
    assert_int_equal(unit_run(&cse, OP_CREATE, "cse-in", 2,
                              "{\"m2m:ae\":{\"rn\":\"app\",\"api\":\"Nx\",\"rr\":false,\"srv\":[\"3\"]}}",
                              NULL, 0, &pc), RSC_CREATED);
    assert_string_equal(attr(pc, "m2m:ae", "et"), "20391230T000000,000000"); /* 10 years of 365 days */
    json_decref(pc);
    assert_int_equal(unit_run(&cse, OP_CREATE, "cse-in/app", 3,
                              "{\"m2m:cnt\":{\"rn\":\"c\",\"et\":\"20300101T000010\"}}", NULL, 0, &pc), RSC_CREATED);
    assert_string_equal(attr(pc, "m2m:cnt", "et"), "20300101T000010,000000");
    json_decref(pc);
    /* A child may not outlive its parent: clamped, and reported by rcn=9. */
    assert_int_equal(unit_run(&cse, OP_CREATE, "cse-in/app/c", 3,
                              "{\"m2m:cnt\":{\"rn\":\"kid\",\"et\":\"20310101T000000\"}}", NULL, 0, &pc), RSC_CREATED);
    assert_string_equal(attr(pc, "m2m:cnt", "et"), "20300101T000010,000000");
    json_decref(pc);
    assert_int_equal(unit_run(&cse, OP_CREATE, "cse-in/app/c", 3,
                              "{\"m2m:cnt\":{\"rn\":\"old\",\"et\":\"20300101T000000\"}}", NULL, 0, NULL),
                     RSC_BAD_REQUEST);  /* et == now is not in the future */
}

static void expiry_between_sweeps(void **state)
{
    (void)state;
    char cin[64];
    json_t *pc;
    assert_int_equal(unit_run(&cse, OP_CREATE, "cse-in/app", 3, "{\"m2m:cnt\":{\"rn\":\"q\",\"mia\":5}}",
                              NULL, 0, NULL), RSC_CREATED);
    assert_int_equal(unit_run(&cse, OP_CREATE, "cse-in/app/q", 4, "{\"m2m:cin\":{\"con\":\"abc\"}}",
                              cin, sizeof cin, &pc), RSC_CREATED);
    assert_string_equal(attr(pc, "m2m:cin", "et"), "20300101T000005,000000"); /* ct + mia */
    json_decref(pc);
    clock_set_fixed(t0 + 4 * 1000000);
    assert_int_equal(unit_run(&cse, OP_RETRIEVE, cin, 0, NULL, NULL, 0, NULL), RSC_OK);
    clock_set_fixed(t0 + 6 * 1000000);
    /* No timer runs here (no loop): the request itself sweeps first. */
    assert_int_equal(unit_run(&cse, OP_RETRIEVE, cin, 0, NULL, NULL, 0, NULL), RSC_NOT_FOUND);
    assert_int_equal(unit_run(&cse, OP_RETRIEVE, "cse-in/app/q", 0, NULL, NULL, 0, &pc), RSC_OK);
    assert_int_equal(num(pc, "m2m:cnt", "cni"), 0);
    assert_int_equal(num(pc, "m2m:cnt", "cbs"), 0);
    json_decref(pc);
    /* c expired at +10 s, and its child with it. */
    clock_set_fixed(t0 + 11 * 1000000);
    assert_int_equal(unit_run(&cse, OP_RETRIEVE, "cse-in/app/c/kid", 0, NULL, NULL, 0, NULL), RSC_NOT_FOUND);
    assert_int_equal(unit_run(&cse, OP_RETRIEVE, "cse-in/app/c", 0, NULL, NULL, 0, NULL), RSC_NOT_FOUND);
    assert_int_equal(unit_run(&cse, OP_RETRIEVE, "cse-in/app", 0, NULL, NULL, 0, NULL), RSC_OK);
    assert_int_equal(cse_expire_now(&cse), 0);   /* nothing left to sweep */
}

static void update_moves_expiry(void **state)
{
    (void)state;
    clock_set_fixed(t0 + 20 * 1000000);
    assert_int_equal(unit_run(&cse, OP_CREATE, "cse-in/app", 3, "{\"m2m:cnt\":{\"rn\":\"u\"}}", NULL, 0, NULL),
                     RSC_CREATED);
    assert_int_equal(unit_run(&cse, OP_UPDATE, "cse-in/app/u", 0, "{\"m2m:cnt\":{\"et\":\"20300101T000030\"}}",
                              NULL, 0, NULL), RSC_UPDATED);
    clock_set_fixed(t0 + 31 * 1000000);
    assert_int_equal(unit_run(&cse, OP_RETRIEVE, "cse-in/app/u", 0, NULL, NULL, 0, NULL), RSC_NOT_FOUND);
}

/* The sweep's commit commits the round's open batch (store.h): that batch
 * is counted once in the group-commit histogram, there, and the round's
 * commit after it adds nothing. */
static bool metric_is(const char *line)
{
    size_t len = 0;
    char *text = metrics_render(cse.metrics, &len);
    bool found = text && strstr(text, line);
    free(text);
    return found;
}

static void sweep_counts_the_batch_it_commits(void **state)
{
    (void)state;
    clock_set_fixed(t0 + 40 * 1000000);
    store_batch_enable(cse.store, true);
    assert_int_equal(unit_run(&cse, OP_CREATE, "cse-in/app", 3,
                              "{\"m2m:cnt\":{\"rn\":\"b\",\"et\":\"20300101T000045\"}}", NULL, 0, NULL), RSC_CREATED);
    assert_int_equal(unit_run(&cse, OP_CREATE, "cse-in/app", 3, "{\"m2m:cnt\":{\"rn\":\"b1\"}}", NULL, 0, NULL),
                     RSC_CREATED);
    assert_int_equal(store_batch_size(cse.store), 2);
    assert_true(metric_is("ironbark_group_commit_batch_size_count 0\n"));
    clock_set_fixed(t0 + 46 * 1000000);
    assert_int_equal(cse_expire_now(&cse), 1);
    assert_false(store_batch_pending(cse.store));
    assert_true(metric_is("ironbark_group_commit_batch_size_count 1\n"));
    assert_true(metric_is("ironbark_group_commit_batch_size_sum 2.000000\n"));
    assert_int_equal(cse_commit(&cse), 0);
    assert_true(metric_is("ironbark_group_commit_batch_size_count 1\n"));
    store_batch_enable(cse.store, false);
    assert_int_equal(unit_run(&cse, OP_RETRIEVE, "cse-in/app/b1", 0, NULL, NULL, 0, NULL), RSC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_and_clamping),
        cmocka_unit_test(expiry_between_sweeps),
        cmocka_unit_test(update_moves_expiry),
        cmocka_unit_test(sweep_counts_the_batch_it_commits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
