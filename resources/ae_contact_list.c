/* <AEContactList> (ty 43, m2m:alst; TS-0001 9.6.45, TS-0004 7.4.53): on an
 * IN-CSE, the list of the CSEs that told it (NOTIFY with AEReferenceIDChange)
 * they hold references to AE-IDs, one <AEContactListPerCSE> child each, so
 * that an AE's change of registration point reaches only those CSEs. The
 * CSE makes it at start-up (and after a Reset) when it is an IN-CSE; it is
 * never created, updated or deleted through the API (4005). Without an
 * acpi only the admin reads it. The children come from the NOTIFYs of
 * the CSEs registered here (docs/conformance.md). */
#include "ae_contact_list.h"
#include "registry.h"

#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/core/cse.h"
#include "../cse/core/ident.h"
#include "../cse/core/route.h"
#include "../cse/core/rsc.h"
#include "../cse/events/outbound.h"
#include "../cse/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The CSE's own list: a fixed ri and name, like defaultNTP's. */
#define ALST_RI "aeContactList"
#define ALST_RN "aeContactList"

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

/* --- reference notifications in (TS-0004 7.5.1.2.17) ------------------------ */

/* Is fr a CSE registered here (its own <remoteCSE>), speaking over a
 * credential bound to that CSE-ID? SAEF already tied fr to the credential. */
static int check_notifier(struct op_ctx *ctx, const char *fr)
{
    if (!ctx->req->sec.authenticated)
        return m2m_error(ctx->rsp, RSC_SECURITY_ASSOCIATION_REQUIRED,
                         "reference notifications come from a registered CSE over a secure transport");
    const char *stem = fr ? route_csi_stem(fr) : NULL;
    struct resource *csr = NULL;
    bool registered = stem && !store_get(ctx->cse->store, stem, &csr) && csr->ty == TY_CSR &&
                      res_str(csr, "csi") && !strcmp(res_str(csr, "csi"), fr);
    resource_free(csr);
    if (!registered)
        return m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                         "'%s' is no CSE registered here: only those send reference notifications", fr ? fr : "");
    return 0;
}

/* tid1/tid2: absent, null or an ID; the string, or NULL. */
static bool tracking_id(const json_t *sgn, const char *sn, const struct ident_home *home, const char **out)
{
    const json_t *v = json_object_get(sgn, sn);
    struct ident_forms f;
    *out = json_string_value(v);
    if (!v || json_is_null(v)) return true;
    return *out && ident_forms(home, *out, &f);
}

static void ail_remove(json_t *ail, const struct ident_home *home, const char *id)
{
    for (size_t i = json_array_size(ail); i-- > 0;)
        if (ident_same(home, json_string_value(json_array_get(ail, i)), id)) json_array_remove(ail, i);
}

static bool ail_has(const json_t *ail, const struct ident_home *home, const char *id)
{
    size_t i;
    json_t *x;
    json_array_foreach(ail, i, x) if (ident_same(home, json_string_value(x), id)) return true;
    return false;
}

/* The per-CSE child: ri "alpc-<stem>", rn the stem; made on first need. */
static struct resource *per_cse(struct cse *cse, const char *csi, const char *stem, int *rc, bool *fresh)
{
    char ri[100];
    snprintf(ri, sizeof ri, "alpc-%s", stem);
    struct resource *r = NULL;
    *rc = store_get(cse->store, ri, &r);
    *fresh = *rc == RSC_NOT_FOUND;
    if (!*fresh) return r;
    ts_buf now;
    ts_format(clock_now_us(), now);
    char path[400];
    snprintf(path, sizeof path, "%s/%s/%s", cse->cfg.cse_name, ALST_RN, stem);
    *rc = 0;
    return resource_new(TY_ALPC, json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:[]}", "ty", TY_ALPC, "ri", ri, "rn", stem,
                                           "pi", ALST_RI, "ct", now, "lt", now, "csi", csi, "ail"),
                        path);
}

int alst_reference_notify(struct op_ctx *ctx, const json_t *sgn)
{
    struct cse *cse = ctx->cse;
    const char *fr = ctx->req->fr;
    struct resource *alst = NULL;
    bool have_list = !store_get(cse->store, ALST_RI, &alst);
    resource_free(alst);
    if (!have_list)
        return m2m_error(ctx->rsp, RSC_OPERATION_NOT_ALLOWED,
                         "reference notifications (aerid) go to the IN-CSE: this CSE keeps no AEContactList");
    int rc = check_notifier(ctx, fr);
    if (rc) return rc;
    struct ident_home home = cse_home(cse);
    const char *old_id, *new_id;
    if (!json_is_true(json_object_get(sgn, "aerid")) || !tracking_id(sgn, "tid1", &home, &old_id) ||
        !tracking_id(sgn, "tid2", &home, &new_id) || (!old_id && !new_id))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "a reference notification has aerid true and tid1 (the "
                         "AE-ID no longer referenced) and/or tid2 (the AE-ID now referenced), each an ID or null");
    bool fresh;
    struct resource *pc = per_cse(cse, fr, route_csi_stem(fr), &rc, &fresh);
    if (rc) return m2m_error(ctx->rsp, rc, "cannot read the AEContactListPerCSE of %s", fr);
    json_t *ail = json_object_get(pc->attrs, "ail");
    if (old_id) ail_remove(ail, &home, old_id);
    if (new_id && !ail_has(ail, &home, new_id)) json_array_append_new(ail, json_string(new_id));
    ts_buf now;
    ts_format(clock_now_us(), now);
    json_object_set_new(pc->attrs, "lt", json_string(now));
    /* The list is about CSEs holding references: one holding none leaves it. */
    if (!json_array_size(ail)) rc = fresh ? 0 : store_delete_subtree(cse->store, pc, NULL, NULL);
    else rc = fresh ? store_insert(cse->store, pc) : store_update(cse->store, pc);
    resource_free(pc);
    if (rc) return m2m_error(ctx->rsp, rc, "cannot store the AEContactListPerCSE of %s", fr);
    ctx->rsp->rsc = RSC_OK;
    return 0;
}

/* --- registration-point changes out (TS-0004 7.5.1.2.16) --------------------- */

static void aerp_answered(void *data, const struct outbound_answer *ans)
{
    char *body = data;
    if (ans->unreachable || ans->rsc != RSC_OK)
        log_info("AEContactList: a registration-point change notification was not accepted (%d%s%s)", ans->rsc,
                 ans->unreachable ? ": " : "", ans->unreachable ? ans->unreachable : "");
    free(body);
}

/* NOTIFY to the CSEBase of csi (addressed by its ri, the CSE-ID's stem, as
 * registration does), through the route to it. */
static void send_aerp(struct cse *cse, const char *csi, const char *aei)
{
    struct route route;
    if (route_next_hop(cse, csi, &route)) {
        log_info("AEContactList: no route to %s to tell of %s", csi, aei);
        return;
    }
    char url[600], rqi[120];
    size_t n = strlen(route.url);
    while (n && route.url[n - 1] == '/') n--;
    snprintf(url, sizeof url, "%.*s/~%s/%s", (int)n, route.url, csi, route_csi_stem(csi));
    snprintf(rqi, sizeof rqi, "aerp-%s-%s", cse->cfg.cse_id, route_csi_stem(csi));
    json_t *pc = json_pack("{s:{s:b,s:s,s:n}}", "m2m:sgn", "aerp", 1, "tid1", aei, "tid2");
    char *body = json_dumps(pc, JSON_COMPACT);
    json_decref(pc);
    struct m2m_request req = { .op = OP_NOTIFY, .fr = cse->csi, .rqi = rqi, .rvi = "3", .rcn = -1 };
    struct iovec iov = { body, body ? strlen(body) : 0 };
    struct outbound_request r = { .url = url, .req = &req, .body = &iov, .nbody = 1, .len = iov.iov_len,
                                  .timeout_ms = 5000 };
    if (!body || outbound_send(cse, &r, aerp_answered, body)) free(body);
    else log_info("AEContactList: telling %s that %s left its registration point", csi, aei);
    route_clear(&route);
}

struct aerp_walk { struct cse *cse; struct ident_home home; char aei[320]; };

static int tell_if_listed(struct resource *pc, void *data)
{
    struct aerp_walk *w = data;
    const char *csi = res_str(pc, "csi");
    if (csi && ail_has(json_object_get(pc->attrs, "ail"), &w->home, w->aei)) send_aerp(w->cse, csi, w->aei);
    return 0;
}

void alst_ae_left(struct cse *cse, const char *aei)
{
    if (cse->cfg.cse_type != CSE_TYPE_IN || !aei) return;
    struct aerp_walk w = { .cse = cse, .home = cse_home(cse) };
    /* The SP-relative form: what another CSE names the AE by. */
    snprintf(w.aei, sizeof w.aei, "%s%s%s", aei[0] == '/' ? "" : cse->csi, aei[0] == '/' ? "" : "/", aei);
    store_children(cse->store, ALST_RI, TY_ALPC, tell_if_listed, &w);
}

const struct resource_type type_ae_contact_list = {
    .ty = TY_ALST, .sn = "alst", .key = "m2m:alst",
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_NO_CREATE | RT_NO_UPDATE | RT_NO_DELETE | RT_SUBSCRIBABLE,
    .on_retrieve = alst_retrieve,
    .on_cse_start = alst_ensure,
};
