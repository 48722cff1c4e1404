/* <AEContactList> (ty 43, m2m:alst; TS-0001 9.6.45, TS-0004 7.4.53): on an
 * IN-CSE, the list of the CSEs that told it (NOTIFY with AEReferenceIDChange)
 * they hold references to AE-IDs, one <AEContactListPerCSE> child each, so
 * that an AE's change of registration point reaches only those CSEs. The
 * CSE makes it at start-up (and after a Reset) when it is an IN-CSE; it is
 * never created, updated or deleted through the API (4005). Without an
 * acpi only the admin reads it. The children come from other CSEs, which
 * this CSE cannot register yet (docs/conformance.md). */
#include "registry.h"

#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../cse/store/store.h"

#include <stdio.h>

/* The CSE's own list: a fixed ri and name, like defaultNTP's. */
#define ALST_RI "aeContactList"
#define ALST_RN "aeContactList"
#define CSE_TYPE_IN 1

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_DACI, ATTR_CSTN,
    { "nic", A_NNINT, NP, NP, 0, 0 },              /* numberImpactedCSEs */
};

/* nic is the number of <AEContactListPerCSE> children, counted when read. */
static int alst_retrieve(struct op_ctx *ctx)
{
    int64_t n = 0;
    int rc = store_count_children(ctx->cse->store, res_ri(ctx->res), TY_ALPC, &n);
    if (rc) return m2m_error(ctx->rsp, rc, "cannot count the AEContactListPerCSE resources");
    json_object_set_new(ctx->res->attrs, "nic", json_integer(n));
    return 0;
}

static int alst_ensure(struct cse *cse)
{
    if (cse->cfg.cse_type != CSE_TYPE_IN) return 0;
    struct resource *have = NULL;
    int rc = store_get(cse->store, ALST_RI, &have);
    resource_free(have);
    if (rc != RSC_NOT_FOUND) return rc;
    ts_buf now;
    ts_format(clock_now_us(), now);
    char path[300];
    snprintf(path, sizeof path, "%s/%s", cse->cfg.cse_name, ALST_RN);
    struct resource *alst = resource_new(
        TY_ALST, json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:i}", "ty", TY_ALST, "ri", ALST_RI, "rn", ALST_RN,
                           "pi", cse->cfg.cse_id, "ct", now, "lt", now, "nic", 0),
        path);
    rc = store_begin(cse->store);
    if (!rc) rc = store_insert(cse->store, alst);
    if (!rc) rc = store_commit(cse->store);
    else store_rollback(cse->store);
    resource_free(alst);
    if (rc == RSC_CONFLICT) {
        log_warn("%s/%s is taken: the CSE runs without its AEContactList", cse->cfg.cse_name, ALST_RN);
        return 0;
    }
    if (!rc) log_info("created the AEContactList %s/%s", cse->cfg.cse_name, ALST_RN);
    return rc;
}

const struct resource_type type_ae_contact_list = {
    .ty = TY_ALST, .sn = "alst", .key = "m2m:alst",
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_NO_CREATE | RT_NO_UPDATE | RT_NO_DELETE | RT_SUBSCRIBABLE,
    .on_retrieve = alst_retrieve,
    .on_cse_start = alst_ensure,
};
