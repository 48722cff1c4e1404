/* The chain of deciders (security/authz.h): how answers combine, that the
 * ACP decider comes first, that a later decider may grant what the ACPs
 * denied, that PENDING waits only where it can, and that the dispatcher
 * answers a request whose decider waits for nothing with 5000, not silence. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cse/core/rsc.h"
#include "security/acl.h"
#include "security/authz.h"
#include "unit_cse.h"
#include "cse/core/engine.h"

static enum authz_answer scripted[4];
static int asked[4];

#define FAKE(i)                                                                              \
    static enum authz_answer fake##i(struct cse *cse, const struct authz_query *q, const char **why) \
    {                                                                                        \
        (void)cse; (void)q;                                                                  \
        asked[i]++;                                                                          \
        *why = "fake " #i " says no";                                                        \
        return scripted[i];                                                                  \
    }
FAKE(0)
FAKE(1)
FAKE(2)
static const struct authz_decider d0 = { "d0", fake0, NULL }, d1 = { "d1", fake1, NULL }, d2 = { "d2", fake2, NULL };

static void run(struct cse *cse, bool may_wait, struct authz_result *r)
{
    struct resource res = { 0 };
    struct authz_query q = { NULL, "Cx", &res, ACOP_RETRIEVE, may_wait };
    memset(asked, 0, sizeof asked);
    authz_run(cse, &q, r);
}

static void combining(void **state)
{
    (void)state;
    struct cse cse;
    memset(&cse, 0, sizeof cse);
    struct authz_result r;
    run(&cse, true, &r);   /* an empty chain grants nothing */
    assert_int_equal(r.answer, AUTHZ_DENY);
    assert_string_equal(r.decider, "chain");

    assert_int_equal(authz_add(&cse, &d0), 0);
    assert_int_equal(authz_add(&cse, &d1), 0);
    assert_int_equal(authz_add(&cse, &d2), 0);
    /* The first grant grants; later deciders are not asked. */
    scripted[0] = AUTHZ_GRANT;
    run(&cse, false, &r);
    assert_int_equal(r.answer, AUTHZ_GRANT);
    assert_string_equal(r.decider, "d0");
    assert_int_equal(asked[1], 0);
    /* A denial is remembered, a later grant still grants (DAS after ACP). */
    scripted[0] = AUTHZ_DENY;
    scripted[1] = AUTHZ_ABSTAIN;
    scripted[2] = AUTHZ_GRANT;
    run(&cse, false, &r);
    assert_int_equal(r.answer, AUTHZ_GRANT);
    assert_string_equal(r.decider, "d2");
    /* Nobody grants: the first denial stands, with its reason. */
    scripted[2] = AUTHZ_DENY;
    run(&cse, false, &r);
    assert_int_equal(r.answer, AUTHZ_DENY);
    assert_string_equal(r.decider, "d0");
    assert_string_equal(r.why, "fake 0 says no");
    /* All abstain: denied by the chain. */
    scripted[0] = scripted[1] = scripted[2] = AUTHZ_ABSTAIN;
    run(&cse, false, &r);
    assert_int_equal(r.answer, AUTHZ_DENY);
    assert_string_equal(r.decider, "chain");
    /* PENDING waits where it may, and is a denial where it may not. */
    scripted[1] = AUTHZ_PENDING;
    scripted[2] = AUTHZ_GRANT;
    run(&cse, true, &r);
    assert_int_equal(r.answer, AUTHZ_PENDING);
    assert_string_equal(r.decider, "d1");
    assert_int_equal(asked[2], 0);
    run(&cse, false, &r);
    assert_int_equal(r.answer, AUTHZ_GRANT);            /* d1 counted as a denial, d2 granted */
    scripted[2] = AUTHZ_ABSTAIN;
    run(&cse, false, &r);
    assert_int_equal(r.answer, AUTHZ_DENY);
    assert_string_equal(r.decider, "d1");
    assert_non_null(strstr(r.why, "cannot be awaited"));
    /* The chain is bounded. */
    for (int i = 3; i < AUTHZ_MAX_DECIDERS; i++) assert_int_equal(authz_add(&cse, &d0), 0);
    assert_int_equal(authz_add(&cse, &d0), -1);
}

/* Through a whole CSE: the ACP decider is first, a decider after it can
 * grant a request the ACPs deny, and one that waits for nothing it asked
 * for is answered 5000. */
static void in_the_cse(void **state)
{
    (void)state;
    static struct cse cse;
    assert_int_equal(unit_cse_open(&cse), 0);
    assert_true(cse.ndeciders >= 1);
    assert_string_equal(cse.deciders[0]->name, "acp");
    assert_int_equal(unit_run(&cse, OP_CREATE, "cse-in", 3, "{\"m2m:cnt\":{\"rn\":\"box\"}}", NULL, 0, NULL),
                     RSC_CREATED);

    struct m2m_request req;
    struct m2m_response rsp;
    unit_request_init(&req, &rsp, OP_RETRIEVE, "cse-in/box", "Cstranger");
    cse_dispatch(&cse, &req, &rsp);
    assert_int_equal(rsp.rsc, RSC_ORIGINATOR_HAS_NO_PRIVILEGE);   /* the ACPs say no */

    scripted[0] = AUTHZ_GRANT;
    assert_int_equal(authz_add(&cse, &d0), 0);
    m2m_response_clear(&rsp);
    m2m_response_init(&rsp);
    cse_dispatch(&cse, &req, &rsp);
    assert_int_equal(rsp.rsc, RSC_OK);                            /* a later decider grants */

    scripted[0] = AUTHZ_PENDING;
    struct m2m_continuation cont = { .may_defer = true };
    req.cont = &cont;
    m2m_response_clear(&rsp);
    m2m_response_init(&rsp);
    cse_dispatch(&cse, &req, &rsp);
    assert_int_equal(rsp.rsc, RSC_INTERNAL_SERVER_ERROR);         /* waited for nothing asked */
    req.cont = NULL;
    m2m_response_clear(&rsp);
    m2m_request_clear(&req);
    cse_close(&cse);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(combining), cmocka_unit_test(in_the_cse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
