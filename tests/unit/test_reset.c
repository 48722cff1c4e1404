/* cse_reset() on an in-memory CSE (no loop): everything below the CSEBase
 * goes, the CSEBase stays as it was, the CSE serves on; and the request
 * parameters whose answer needs no loop (rqet/rset/oet order, rset echo). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_cse.h"
#include "cse/base/clock.h"
#include "cse/core/rsc.h"

static int count_children(struct resource *res, void *data)
{
    (void)res;
    (*(int *)data)++;
    return 0;
}

static int children_of_base(struct cse *cse)
{
    int n = 0;
    assert_int_equal(store_children(cse->store, cse->cfg.cse_id, 0, count_children, &n), 0);
    return n;
}

static void reset_empties_below_the_base(void **state)
{
    (void)state;
    struct cse cse;
    assert_int_equal(unit_cse_open(&cse), 0);
    json_t *before = NULL;
    assert_int_equal(unit_run(&cse, OP_RETRIEVE, "cse-in", 0, NULL, NULL, 0, &before), RSC_OK);
    assert_int_equal(unit_run_as(&cse, "Cr1", OP_CREATE, "cse-in", 2,
                                 "{\"m2m:ae\":{\"rn\":\"r1\",\"api\":\"Nr\",\"rr\":true,\"srv\":[\"3\"]}}",
                                 NULL, 0, NULL), RSC_CREATED);
    assert_int_equal(unit_run_as(&cse, "Cr1", OP_CREATE, "cse-in/r1", 3, "{\"m2m:cnt\":{\"rn\":\"c\"}}",
                                 NULL, 0, NULL), RSC_CREATED);
    assert_int_equal(unit_run(&cse, OP_CREATE, "cse-in", 3, "{\"m2m:cnt\":{\"rn\":\"top\"}}", NULL, 0, NULL),
                     RSC_CREATED);
    /* r1, top, and what an IN-CSE makes at start-up: the system default
     * notificationTargetPolicy and the AEContactList. */
    assert_int_equal(children_of_base(&cse), 4);

    assert_int_equal(cse_reset(&cse), 0);
    /* What start-up makes is there again: defaultNTP and the AEContactList alone. */
    assert_int_equal(children_of_base(&cse), 2);
    int64_t ntps = 0, alsts = 0;
    assert_int_equal(store_count_children(cse.store, cse.cfg.cse_id, TY_NTP, &ntps), 0);
    assert_int_equal(ntps, 1);
    assert_int_equal(store_count_children(cse.store, cse.cfg.cse_id, TY_ALST, &alsts), 0);
    assert_int_equal(alsts, 1);
    assert_int_equal(unit_run(&cse, OP_RETRIEVE, "cse-in/r1/c", 0, NULL, NULL, 0, NULL), RSC_NOT_FOUND);
    json_t *after = NULL;
    assert_int_equal(unit_run(&cse, OP_RETRIEVE, "cse-in", 0, NULL, NULL, 0, &after), RSC_OK);
    json_t *b = json_object_get(before, "m2m:cb"), *a = json_object_get(after, "m2m:cb");
    assert_string_equal(json_string_value(json_object_get(a, "ri")), json_string_value(json_object_get(b, "ri")));
    assert_string_equal(json_string_value(json_object_get(a, "ct")), json_string_value(json_object_get(b, "ct")));
    json_decref(before);
    json_decref(after);
    /* The same AE-ID registers again: nothing of the first is left. */
    assert_int_equal(unit_run_as(&cse, "Cr1", OP_CREATE, "cse-in", 2,
                                 "{\"m2m:ae\":{\"rn\":\"r1\",\"api\":\"Nr\",\"rr\":true,\"srv\":[\"3\"]}}",
                                 NULL, 0, NULL), RSC_CREATED);
    assert_int_equal(cse_reset(&cse), 0);
    assert_int_equal(cse_reset(&cse), 0);   /* an empty CSE resets too */
    assert_int_equal(children_of_base(&cse), 2);   /* defaultNTP and the AEContactList, made once */
    cse_close(&cse);
}

/* Runs a RETRIEVE of the CSEBase with the three timing parameters. */
static int timed(struct cse *cse, const char *rqet, const char *rset, const char *oet, char *rset_out)
{
    struct m2m_request req;
    struct m2m_response rsp;
    unit_request_init(&req, &rsp, OP_RETRIEVE, "cse-in", "CAdmin");
    if (rqet) req.rqet = strdup(rqet);
    if (rset) req.rset = strdup(rset);
    if (oet) req.oet = strdup(oet);
    cse_dispatch(cse, &req, &rsp);
    int rsc = rsp.rsc;
    struct m2m_echo echo;
    m2m_response_echo(&req, &echo);
    if (rset_out) snprintf(rset_out, TS_LEN, "%s", echo.rset ? echo.rset : "");
    m2m_response_clear(&rsp);
    m2m_request_clear(&req);
    return rsc;
}

static void timing_parameters(void **state)
{
    (void)state;
    struct cse cse;
    assert_int_equal(unit_cse_open(&cse), 0);
    char rset[TS_LEN];
    assert_int_equal(timed(&cse, "5000", "10000", "10", rset), RSC_OK);
    int64_t at;
    assert_true(ts_parse(rset, &at));          /* made absolute */
    assert_true(at > clock_now_us() + 5000000 && at <= clock_now_us() + 10000000);
    assert_int_equal(timed(&cse, "10000", "5000", NULL, NULL), RSC_BAD_REQUEST);   /* rset < rqet */
    assert_int_equal(timed(&cse, "5000", NULL, "6000", NULL), RSC_BAD_REQUEST);    /* oet > rqet */
    assert_int_equal(timed(&cse, NULL, "5000", "6000", NULL), RSC_BAD_REQUEST);    /* oet > rset */
    assert_int_equal(timed(&cse, "20000101T000000", NULL, NULL, NULL), RSC_REQUEST_TIMEOUT);
    assert_int_equal(timed(&cse, NULL, "20000101T000000", NULL, NULL), RSC_REQUEST_TIMEOUT);
    assert_int_equal(timed(&cse, NULL, NULL, "soon", NULL), RSC_BAD_REQUEST);
    assert_int_equal(timed(&cse, NULL, NULL, "400000", NULL), RSC_BAD_REQUEST);   /* > 300 s, blocking */
    /* Without a loop nothing can wait: an oet ahead runs at once. */
    assert_int_equal(timed(&cse, NULL, NULL, "2000", NULL), RSC_OK);
    cse_close(&cse);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reset_empties_below_the_base),
        cmocka_unit_test(timing_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
