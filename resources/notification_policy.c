/* <notificationTargetPolicy> (ty 26, m2m:ntp) and its <policyDeletionRules>
 * (ty 27, m2m:pdr), Release 4: the rules under which a
 * notification target may remove itself from a subscription (ntsr): its
 * acn decides (ntp_action_for); the policyDeletionRules are stored and
 * validated only. The CSE holds one
 * system default policy, defaultNTP under the CSEBase, made at start-up and
 * after a Reset, which cannot be deleted. */
#include "notification_policy.h"

#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"

#include <stdio.h>
#include <string.h>

/* The system default policy: a fixed ri so that it is known wherever it is
 * looked at, and a fixed name under the CSEBase. */
#define DEFAULT_NTP_RI "ntpDefault"
#define DEFAULT_NTP_RN "defaultNTP"
#define DEFAULT_NTP_LABEL "Default"

/* rulesRelationship / deletionRulesRelation: m2m:logicalOperator. */
enum { LOGIC_AND = 1, LOGIC_OR = 2 };

/* TS-0001 allows at most this many rule sets under one policy. */
#define PDR_MAX 2

static const struct attr_def ntp_attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_CR,
    { "plbl", A_STR, M, O, 0, 0 },                        /* policyLabel */
    { "acn", A_ENUM, O, O, 1, 4 },                        /* action: enum ntp_action */
    { "rrs", A_ENUM, O, O, LOGIC_AND, LOGIC_OR },         /* rulesRelationship */
};

static const struct attr_def pdr_attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL,
    { "dr", A_LIST, O, O, 0, 0 },                         /* deletionRules */
    { "drr", A_ENUM, O, O, LOGIC_AND, LOGIC_OR },         /* deletionRulesRelation */
};

static bool is_default(const struct resource *res)
{
    const char *ri = res_ri(res);
    return ri && !strcmp(ri, DEFAULT_NTP_RI);
}

static int ntp_validate(struct op_ctx *ctx)
{
    const char *plbl = res_str(ctx->res, "plbl");
    if (!plbl || !*plbl)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "plbl must not be empty");
    if (!json_object_get(ctx->res->attrs, "rrs"))
        json_object_set_new(ctx->res->attrs, "rrs", json_integer(LOGIC_AND));
    return 0;
}

static int ntp_update(struct op_ctx *ctx)
{
    /* An expiring default would go where DELETE may not take it. */
    if (is_default(ctx->res) && json_object_get(ctx->content, "et"))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "the system default notificationTargetPolicy does not expire");
    return ntp_validate(ctx);
}

static int ntp_delete(struct op_ctx *ctx)
{
    if (is_default(ctx->res))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "the system default notificationTargetPolicy cannot be deleted");
    return 0;
}

/* defaultNTP under the CSEBase, unless the store already holds it. */
static int ntp_ensure_default(struct cse *cse)
{
    struct resource *have = NULL;
    int rc = store_get(cse->store, DEFAULT_NTP_RI, &have);
    resource_free(have);
    if (rc != RSC_NOT_FOUND) return rc;
    ts_buf now;
    ts_format(clock_now_us(), now);
    char path[300];
    snprintf(path, sizeof path, "%s/%s", cse->cfg.cse_name, DEFAULT_NTP_RN);
    struct resource *ntp = resource_new(
        TY_NTP, json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "ty", TY_NTP, "ri", DEFAULT_NTP_RI,
                          "rn", DEFAULT_NTP_RN, "pi", cse->cfg.cse_id, "ct", now, "lt", now,
                          "plbl", DEFAULT_NTP_LABEL, "rrs", LOGIC_AND),
        path);
    rc = store_begin(cse->store);
    if (!rc) rc = store_insert(cse->store, ntp);
    if (!rc) rc = store_commit(cse->store);
    else store_rollback(cse->store);
    resource_free(ntp);
    if (rc == RSC_CONFLICT) {
        /* Someone named a resource so before this CSE made its own: keep theirs. */
        log_warn("%s/%s is taken: the CSE runs without its default notificationTargetPolicy",
                 cse->cfg.cse_name, DEFAULT_NTP_RN);
        return 0;
    }
    if (!rc) log_info("created the default notificationTargetPolicy %s/%s", cse->cfg.cse_name, DEFAULT_NTP_RN);
    return rc;
}

static int pdr_create(struct op_ctx *ctx)
{
    int64_t n = 0;
    int rc = store_count_children(ctx->cse->store, res_ri(ctx->parent), TY_PDR, &n);
    if (rc) return m2m_error(ctx->rsp, rc, "cannot count the policy's deletion rules");
    if (n >= PDR_MAX)
        return m2m_error(ctx->rsp, RSC_CONFLICT, "a notificationTargetPolicy holds at most %d policyDeletionRules",
                         PDR_MAX);
    return 0;
}

const struct resource_type type_notification_target_policy = {
    .ty = TY_NTP, .sn = "ntp", .key = "m2m:ntp",
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(ntp_attrs),
    .flags = RT_CREATOR | RT_SUBSCRIBABLE,
    .on_create = ntp_validate,
    .on_update = ntp_update,
    .on_delete = ntp_delete,
    .on_cse_start = ntp_ensure_default,
};

const struct resource_type type_policy_deletion_rules = {
    .ty = TY_PDR, .sn = "pdr", .key = "m2m:pdr",
    .parents = (const int[]){ TY_NTP, 0 },
    .attrs = ATTRS(pdr_attrs),
    .flags = RT_SUBSCRIBABLE,
    .on_create = pdr_create,
};

struct policy_search { struct ident_home home; const char *owner; int64_t own, system; };

static int find_policy(struct resource *ntp, void *data)
{
    struct policy_search *q = data;
    const char *plbl = res_str(ntp, "plbl"), *cr = res_str(ntp, "cr");
    if (!strcmp(res_ri(ntp), DEFAULT_NTP_RI)) q->system = res_int(ntp, "acn", NTP_REJECT);
    else if (plbl && !strcmp(plbl, DEFAULT_NTP_LABEL) && cr && q->owner && ident_same(&q->home, cr, q->owner))
        q->own = res_int(ntp, "acn", NTP_REJECT);
    return 0;
}

int64_t ntp_action_for(struct cse *cse, const char *subscriber)
{
    struct policy_search q = { cse_home(cse), subscriber, 0, NTP_REJECT };
    store_children(cse->store, cse->cfg.cse_id, TY_NTP, find_policy, &q);
    return q.own ? q.own : q.system;
}
