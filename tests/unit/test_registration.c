/* CSE registration (cse/core/registration.c, resources/remote_cse.c): the
 * back-off, when the registrar's copy needs an UPDATE, and who may create a
 * <remoteCSE> (the registree with a credential bound to its CSE-ID, the
 * admin, never an unauthenticated or another CSE's originator). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cse/core/ae_refs.h"
#include "cse/core/ident.h"
#include "cse/core/registration.h"
#include "cse/core/resource.h"
#include "cse/core/rsc.h"
#include "resources/types.h"
#include "unit_cse.h"

static void backoff_doubles_up_to_its_ceiling(void **state)
{
    (void)state;
    assert_int_equal(registration_backoff_ms(1, 60000), 500);
    assert_int_equal(registration_backoff_ms(2, 60000), 1000);
    assert_int_equal(registration_backoff_ms(4, 60000), 4000);
    assert_int_equal(registration_backoff_ms(8, 60000), 60000);
    assert_int_equal(registration_backoff_ms(1000000, 60000), 60000);  /* no overflow */
    assert_int_equal(registration_backoff_ms(1, 200), 200);
}

static void differs_compares_lists_as_sets(void **state)
{
    (void)state;
    json_t *want = json_pack("{s:[s,s],s:[s],s:[s],s:b}", "poa", "http://a:1", "coap://a:2", "dcse", "/id-x",
                             "srv", "3", "rr", 1);
    json_t *same = json_pack("{s:[s,s],s:[s],s:[s],s:b,s:s}", "poa", "coap://a:2", "http://a:1", "dcse", "/id-x",
                             "srv", "3", "rr", 1, "ri", "id-mn");
    assert_false(registration_differs(same, want));
    json_t *moved = json_pack("{s:[s],s:[s],s:[s],s:b}", "poa", "http://a:1", "dcse", "/id-x", "srv", "3", "rr", 1);
    assert_true(registration_differs(moved, want));
    json_t *no_dcse = json_pack("{s:[s,s],s:[s],s:b}", "poa", "http://a:1", "coap://a:2", "srv", "3", "rr", 1);
    assert_true(registration_differs(no_dcse, want));
    json_object_set_new(want, "dcse", json_array());
    assert_false(registration_differs(no_dcse, want));   /* absent = empty */
    json_object_set_new(no_dcse, "rr", json_false());
    assert_true(registration_differs(no_dcse, want));
    json_decref(want);
    json_decref(same);
    json_decref(moved);
    json_decref(no_dcse);
}

/* A <remoteCSE> CREATE at the CSEBase as fr, over credential cred (NULL:
 * unauthenticated). */
static int register_csr(struct cse *cse, const char *fr, const char *cred, const char *csi)
{
    struct m2m_request req;
    struct m2m_response rsp;
    unit_request_init(&req, &rsp, OP_CREATE, "cse-in", fr);
    req.ty = TY_CSR;
    req.pc = json_pack("{s:{s:s,s:s,s:b,s:[s]}}", "m2m:csr", "csi", csi, "cb", csi, "rr", 1, "srv", "3");
    if (cred) {
        req.sec.authenticated = true;
        snprintf(req.sec.credential_id, sizeof req.sec.credential_id, "%s", cred);
    }
    cse_dispatch(cse, &req, &rsp);
    int rsc = rsp.rsc;
    m2m_response_clear(&rsp);
    m2m_request_clear(&req);
    return rsc;
}

static void only_the_bound_cse_registers_itself(void **state)
{
    (void)state;
    struct cse cse;
    assert_int_equal(unit_cse_open(&cse), 0);
    assert_int_equal(register_csr(&cse, "/id-mn", NULL, "/id-mn"), RSC_SECURITY_ASSOCIATION_REQUIRED);
    /* A certificate whose URI SAN is /id-mn. */
    assert_int_equal(register_csr(&cse, "/id-mn", "33-/id-mn", "/id-other"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(register_csr(&cse, "/id-other", "33-/id-mn", "/id-other"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(register_csr(&cse, "/id-mn", "33-/id-mn", "/id-in"), RSC_BAD_REQUEST);  /* our own ID */
    assert_int_equal(register_csr(&cse, "/id-mn", "33-/id-mn", "/id-mn"), RSC_CREATED);
    assert_int_equal(register_csr(&cse, "/id-mn", "33-/id-mn", "/id-mn"), RSC_ORIGINATOR_HAS_ALREADY_REGISTERED);
    /* Static peering by the admin; the registered CSE may read the CSEBase. */
    assert_int_equal(register_csr(&cse, "CAdmin", NULL, "/id-peer"), RSC_CREATED);
    assert_int_equal(unit_run_as(&cse, "/id-mn", OP_RETRIEVE, "cse-in", 0, NULL, NULL, 0, NULL), RSC_OK);
    assert_int_equal(unit_run_as(&cse, "/id-zz", OP_RETRIEVE, "cse-in", 0, NULL, NULL, 0, NULL),
                     RSC_ORIGINATOR_HAS_NO_PRIVILEGE);
    cse_close(&cse);
}

/* The references an MN reports to the IN's AEContactList: ACP originators
 * that are AEs of another CSE of this SP, SP-relative, each once. */
static void foreign_ae_references_of_an_acp(void **state)
{
    (void)state;
    struct ident_home home = { "ironbark.local", "id-mn" };
    json_t *attrs = json_pack(
        "{s:i,s:{s:[{s:[s,s,s,s,s,s,s,s,s],s:i}]},s:{s:[{s:[s,s],s:i}]}}", "ty", TY_ACP, "pv", "acr", "acor",
        "/id-in/Cal", "Clocal", "/id-mn/Cown", "all", "/id-in", "/id-in/C*", "//other.sp/id-in/Cfar",
        "//ironbark.local/id-in/Cal", "/id-in/Sbob", "acop", 2, "pvs", "acr", "acor", "/id-x/Cadm", "CAdmin", "acop", 63);
    struct resource *r = resource_new(TY_ACP, attrs, "cse-mn/acp");
    json_t *got = ae_refs_foreign(&home, r);
    json_t *want = json_pack("[s,s,s]", "/id-in/Cal", "/id-in/Sbob", "/id-x/Cadm");
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    resource_free(r);
    got = ae_refs_foreign(&home, NULL);
    assert_int_equal(json_array_size(got), 0);
    json_decref(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_doubles_up_to_its_ceiling),
        cmocka_unit_test(differs_compares_lists_as_sets),
        cmocka_unit_test(only_the_bound_cse_registers_itself),
        cmocka_unit_test(foreign_ae_references_of_an_acp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
