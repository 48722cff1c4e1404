/* <subscription> (ty 23): who is told what about changes of its parent
 * (TS-0001 10.2.10, TS-0004 7.4.8). Delivery lives in cse/notify.c. */
#include "notification_policy.h"

#include "../cse/core/address.h"
#include "../cse/core/cse.h"
#include "../cse/events/notify.h"
#include "../cse/core/rsc.h"
#include "../cse/base/clock.h"
#include "../security/acl.h"
#include "../cse/base/json_text.h"

#include <string.h>

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_DACI, ATTR_CSTN, ATTR_CR,
    { "enc", A_OBJ, O, O, 0, 0 },
    { "exc", A_POSINT, O, O, 0, 0 },
    { "nu", A_URILIST, M, O, 0, 0 },
    { "bn", A_OBJ, O, O, 0, 0 },
    { "ln", A_BOOL, O, O, 0, 0 },
    { "nct", A_ENUM, O, O, 1, 5 },
    { "pn", A_ENUM, O, O, 1, 2 },   /* pendingNotification: 1 sendLatest, 2 sendAllPending */
    { "su", A_URI, O, NP, 0, 0 },
    { "nse", A_BOOL, O, O, 0, 0 },
    { "nsi", A_LIST, NP, NP, 0, 0 },
};

#define DEFAULT_BATCH_DURATION "PT60S"

static bool is_int_list(json_t *v, int lo, int hi)
{
    if (!json_is_array(v)) return false;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
        if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi) return false;
    return true;
}

static bool is_str_list(json_t *v)
{
    if (!json_is_array(v)) return false;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
        if (!json_is_string(x)) return false;
    return true;
}

/* enc.md (missingData): {num, dur}, both needed (TS-0004; ACME alike). */
static int check_md(json_t *md, struct m2m_response *rsp)
{
    json_t *num = json_object_get(md, "num"), *dur = json_object_get(md, "dur");
    int64_t us;
    if (!json_is_object(md) || json_object_size(md) != 2 || !json_is_integer(num) || json_integer_value(num) < 1 ||
        !json_is_string(dur) || !duration_parse(json_string_value(dur), &us) || us <= 0)
        return m2m_error(rsp, RSC_BAD_REQUEST,
                         "enc.md must be {\"num\": a positive integer, \"dur\": a positive ISO 8601 duration}");
    return 0;
}

/* enc.om (operationMonitor): a non-empty list of {ops, org}, each optional:
 * ops an operation, org an originator. Only operations that change something
 * raise events here: monitoring RETRIEVE or NOTIFY is not supported. */
static int check_om(json_t *om, struct m2m_response *rsp)
{
    if (!json_is_array(om) || !json_array_size(om))
        return m2m_error(rsp, RSC_BAD_REQUEST, "enc.om must be a non-empty list of {ops, org}");
    size_t i;
    json_t *x;
    json_array_foreach(om, i, x) {
        json_t *ops = json_object_get(x, "ops"), *org = json_object_get(x, "org");
        size_t known = (ops != NULL) + (org != NULL);
        if (!json_is_object(x) || json_object_size(x) != known || (org && (!json_is_string(org) || !*json_string_value(org))) ||
            (ops && (!json_is_integer(ops) || json_integer_value(ops) < OP_CREATE || json_integer_value(ops) > OP_NOTIFY)))
            return m2m_error(rsp, RSC_BAD_REQUEST,
                             "enc.om entries are {\"ops\": an operation 1..5, \"org\": an originator}, both optional");
        if (ops && (json_integer_value(ops) == OP_RETRIEVE || json_integer_value(ops) == OP_NOTIFY))
            return m2m_error(rsp, RSC_NOT_IMPLEMENTED, "enc.om: monitoring RETRIEVE or NOTIFY is not supported");
    }
    return 0;
}

/* eventNotificationCriteria: the members this CSE evaluates. */
static int check_enc(json_t *enc, struct m2m_response *rsp)
{
    const char *key;
    json_t *v;
    json_object_foreach(enc, key, v) {
        if (!strcmp(key, "net")) {
            if (!is_int_list(v, 1, 8) || json_array_size(v) == 0)
                return m2m_error(rsp, RSC_BAD_REQUEST, "enc.net must be a non-empty list of values 1..8");
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x)
                if (json_integer_value(x) == 6)
                    return m2m_error(rsp, RSC_NOT_IMPLEMENTED, "notificationEventType %lld is not supported",
                                     (long long)json_integer_value(x));
        } else if (!strcmp(key, "atr")) {
            if (!is_str_list(v)) return m2m_error(rsp, RSC_BAD_REQUEST, "enc.atr must be a list of attribute names");
        } else if (!strcmp(key, "chty")) {
            if (!is_int_list(v, 1, 100000))
                return m2m_error(rsp, RSC_BAD_REQUEST, "enc.chty must be a list of resource types");
        } else if (!strcmp(key, "md") || !strcmp(key, "om")) {
            int rc = !strcmp(key, "md") ? check_md(v, rsp) : check_om(v, rsp);
            if (rc) return rc;
        } else {
            return m2m_error(rsp, RSC_NOT_IMPLEMENTED, "enc.%s is not supported (net, atr, chty, md and om are)", key);
        }
    }
    return 0;
}

static bool has_net(const struct resource *sub, int net)
{
    json_t *nets = json_object_get(json_object_get(sub->attrs, "enc"), "net");
    size_t i;
    json_t *x;
    json_array_foreach(nets, i, x)
        if (json_integer_value(x) == net) return true;
    return false;
}

/* TS-0001 Table 9.6.8-4: net 1 allows nct 1, 2, 3; net 2..5 allow 1 and 3;
 * net 7 only 2; net 8 only 5 (4 is net 6's, which is not supported). */
static bool nct_allowed(int64_t net, int64_t nct)
{
    switch (net) {
    case NET_UPDATE: return nct >= 1 && nct <= 3;
    case NET_BLOCKING_UPDATE: return nct == 2;
    case NET_MISSING_DATA: return nct == 5;
    default: return nct == 1 || nct == 3;
    }
}

/* The nct a subscription gets when it names none: net[0]'s default (ACME). */
static int64_t default_nct(const struct resource *sub)
{
    json_t *nets = json_object_get(json_object_get(sub->attrs, "enc"), "net");
    int64_t first = json_array_size(nets) ? json_integer_value(json_array_get(nets, 0)) : NET_UPDATE;
    return first == NET_MISSING_DATA ? 5 : first == NET_BLOCKING_UPDATE ? 2 : 1;
}

static int check_nct(const struct resource *sub, struct m2m_response *rsp)
{
    int64_t nct = res_int(sub, "nct", 1);
    json_t *nets = json_object_get(json_object_get(sub->attrs, "enc"), "net");
    size_t i;
    json_t *x;
    if (!json_array_size(nets) && !nct_allowed(NET_UPDATE, nct))
        return m2m_error(rsp, RSC_BAD_REQUEST, "notificationContentType %lld does not go with net 1",
                         (long long)nct);
    json_array_foreach(nets, i, x)
        if (!nct_allowed(json_integer_value(x), nct))
            return m2m_error(rsp, RSC_BAD_REQUEST, "notificationContentType %lld does not go with net %lld",
                             (long long)nct, (long long)json_integer_value(x));
    return 0;
}

struct blocking_search { const char *self; bool found; };

static int other_blocking(struct resource *sub, void *data)
{
    struct blocking_search *q = data;
    if ((!q->self || strcmp(res_ri(sub), q->self)) && has_net(sub, NET_BLOCKING_UPDATE)) q->found = true;
    return q->found;
}

/* net 7: one target, and one such subscription per resource (ACME: the
 * UPDATE waits for one answer). */
static int check_blocking_update(struct op_ctx *ctx)
{
    struct resource *sub = ctx->res;
    if (!has_net(sub, NET_BLOCKING_UPDATE)) return 0;
    if (json_array_size(json_object_get(sub->attrs, "nu")) != 1)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "net 7 (blocking update) needs exactly one notificationURI");
    struct blocking_search q = { ctx->before ? res_ri(sub) : NULL, false };
    if (ctx->parent) store_children(ctx->cse->store, res_ri(ctx->parent), TY_SUB, other_blocking, &q);
    if (q.found)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "the resource already has a blocking-update subscription");
    return 0;
}

/* net 8 needs a parent that detects missing data and enc.md; md needs net 8. */
static int check_missing_data(struct op_ctx *ctx)
{
    struct resource *sub = ctx->res;
    bool md = json_object_get(json_object_get(sub->attrs, "enc"), "md") != NULL;
    if (!has_net(sub, NET_MISSING_DATA))
        return md ? m2m_error(ctx->rsp, RSC_BAD_REQUEST, "enc.md needs net 8 (missing data points)") : 0;
    if (ctx->parent && !(type_flags(&ctx->cse->types, ctx->parent->ty) & RT_MISSING_DATA))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "net 8 (missing data points) needs a timeSeries as parent");
    if (!md) return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "net 8 (missing data points) needs enc.md");
    return 0;
}

static int check_bn(struct op_ctx *ctx)
{
    json_t *bn = json_object_get(ctx->res->attrs, "bn");
    if (!bn) return 0;
    if (!json_is_object(bn)) return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "bn must be an object {num, dur}");
    json_t *num = json_object_get(bn, "num"), *dur = json_object_get(bn, "dur");
    int64_t us;
    const char *key;
    json_t *v;
    json_object_foreach(bn, key, v)
        if (strcmp(key, "num") && strcmp(key, "dur"))
            return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "bn has no member '%s'", key);
    /* num is optional: bn with dur alone sends whatever was collected when dur
     * elapses (TS-0004 batchNotify; ACME alike). */
    if (num && (!json_is_integer(num) || json_integer_value(num) < 1))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "bn.num must be a positive integer");
    if (dur && (!json_is_string(dur) || !duration_parse(json_string_value(dur), &us) || us <= 0))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "bn.dur must be a positive ISO 8601 duration");
    if (!dur) {
        json_object_set_new(bn, "dur", json_string(DEFAULT_BATCH_DURATION));
        json_object_set(ctx->modified, "bn", bn);
    }
    return 0;
}

static int check_common(struct op_ctx *ctx)
{
    struct resource *sub = ctx->res;
    if (!json_array_size(json_object_get(sub->attrs, "nu")))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "notificationURI must not be empty");
    json_t *enc = json_object_get(sub->attrs, "enc");
    int rc = enc ? check_enc(enc, ctx->rsp) : 0;
    if (!rc) rc = check_nct(sub, ctx->rsp);
    if (!rc) rc = check_missing_data(ctx);
    if (!rc) rc = check_blocking_update(ctx);
    if (!rc) rc = check_bn(ctx);
    return rc;
}

/* A target hosted here (an AE or remoteCSE given by ID) must grant the
 * subscriber NOTIFY rights (TS-0004 7.3.8.2.1: else 4101). */
static int creator_may_notify(struct op_ctx *ctx, const char *target, const char *fr)
{
    struct address a;
    struct resource *entity = NULL;
    if (strstr(target, "://") || address_parse(ctx->cse, target, &a)) return 0;
    if (!a.remote && !a.attr) address_resolve(ctx->cse, a.local, &entity);
    address_clear(&a);
    int rc = 0;
    if (entity && (type_flags(&ctx->cse->types, entity->ty) & RT_HAS_POA) && acl_check_notify(ctx->cse, fr ? fr : "", entity))
        rc = m2m_error(ctx->rsp, RSC_SUBSCRIPTION_CREATOR_HAS_NO_PRIVILEGE,
                       "the subscriber may not send notifications to '%s'", target);
    resource_free(entity);
    return rc;
}

/* Verification request to every new nu entry except the subscriber itself
 * (TS-0004 7.3.8.2.1). Through HTTP the request is deferred until the
 * answers are in; internal callers (fopt fan-out, non-blocking execution)
 * wait for a bounded time instead. */
static int verify_targets(struct op_ctx *ctx, json_t *old_nu)
{
    struct resource *sub = ctx->res;
    const char *fr = ctx->req ? ctx->req->fr : NULL;
    struct ident_home home = cse_home(ctx->cse);
    char sur[256];
    snprintf(sur, sizeof sur, "%s/%s", ctx->cse->csi, res_ri(sub));
    json_t *nu = json_object_get(sub->attrs, "nu");
    size_t i;
    json_t *x;
    bool pending = false;
    json_array_foreach(nu, i, x) {
        const char *target = json_string_value(x);
        /* The subscriber itself, in any form of its ID, needs no verification;
         * a foreign SP's ID of the same name is someone else. */
        if ((fr && ident_same(&home, target, fr)) || (old_nu && json_strlist_has(old_nu, target))) continue;
        int rc = creator_may_notify(ctx, target, fr);
        if (rc) return rc;
        json_t *pc = json_pack("{s:{s:b,s:s,s:s}}", "m2m:sgn", "vrq", 1, "sur", sur, "cr", fr ? fr : "");
        int rsc = notify_verify(ctx->cse, ctx->req, target, pc);
        json_decref(pc);
        if (rsc == DISPATCH_PENDING) { pending = true; continue; }
        if (rsc == RSC_OK) continue;
        if (rsc == RSC_SUBSCRIPTION_CREATOR_HAS_NO_PRIVILEGE || rsc == RSC_SUBSCRIPTION_HOST_HAS_NO_PRIVILEGE)
            return m2m_error(ctx->rsp, rsc, "notification target '%s' refused the verification (%d)", target, rsc);
        return m2m_error(ctx->rsp, RSC_SUBSCRIPTION_VERIFICATION_INITIATION_FAILED,
                         rsc == RSC_TARGET_NOT_REACHABLE
                             ? "notification target '%s' could not be reached for verification"
                             : "notification target '%s' did not accept the verification", target);
    }
    return pending ? DISPATCH_PENDING : 0;
}

static int sub_create(struct op_ctx *ctx)
{
    const struct resource_type *pt = registry_find(&ctx->cse->types, ctx->parent->ty);
    if (!pt || !(pt->flags & RT_SUBSCRIBABLE))
        return m2m_error(ctx->rsp, RSC_TARGET_NOT_SUBSCRIBABLE, "%s cannot be subscribed to",
                         pt ? pt->key : "the target");
    /* The subscriber must be allowed to see what it subscribes to. */
    int ac = acl_check(ctx->cse, ctx->req, ctx->parent, ACOP_RETRIEVE);
    if (ac == DISPATCH_PENDING) return ac;   /* a decider waits for an answer */
    if (ac)
        return m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                         "the originator may not retrieve the subscribed-to resource");
    if (!json_object_get(ctx->res->attrs, "nct")) {
        int64_t nct = default_nct(ctx->res);
        json_object_set_new(ctx->res->attrs, "nct", json_integer(nct));
        json_object_set_new(ctx->modified, "nct", json_integer(nct));
    }
    int rc = check_common(ctx);
    if (rc) return rc;
    /* The creator is always kept: notifications are checked against it. */
    const char *fr = ctx->req && ctx->req->fr ? ctx->req->fr : "";
    json_object_set_new(ctx->res->attrs, "cr", json_string(fr));
    return verify_targets(ctx, NULL);
}

static int sub_update(struct op_ctx *ctx)
{
    int rc = check_common(ctx);
    if (!rc) rc = verify_targets(ctx, json_object_get(ctx->before->attrs, "nu"));
    return rc;
}

/* --- notificationTargetSelfReference (ntsr) ----------------------------------
 * DELETE <subscription>/ntsr: a notification target removes itself from nu,
 * as the notificationTargetPolicy that governs the subscription allows. */

/* acn 3: the subscriber is asked ({"tra": true}); its 2000 allows the removal. */
static int ask_subscriber(struct op_ctx *ctx, const char *sur, const char *fr)
{
    const char *cr = res_str(ctx->res, "cr");
    if (!cr || !*cr) return RSC_TARGET_NOT_REACHABLE;
    json_t *urls = json_pack("[s]", cr);
    json_t *pc = json_pack("{s:{s:s,s:b,s:s}}", "m2m:sgn", "sur", sur, "tra", 1, "ntt", fr);
    json_t *answer = NULL;
    int rsc = notify_ask(ctx->cse, ctx->req, "ntsr", urls, OP_NOTIFY, NULL, pc, 0, &answer);
    json_decref(answer);
    json_decref(pc);
    json_decref(urls);
    return rsc;
}

static int sub_ntsr(struct op_ctx *ctx, const char *name)
{
    (void)name;   /* ntsr is the only one */
    if (ctx->req->op != OP_DELETE)
        return m2m_error(ctx->rsp, RSC_OPERATION_NOT_ALLOWED, "notificationTargetSelfReference accepts DELETE only");
    struct resource *sub = ctx->res;
    const char *fr = ctx->req->fr;
    struct ident_home home = cse_home(ctx->cse);
    json_t *nu = json_object_get(sub->attrs, "nu"), *kept = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(nu, i, x)
        if (!fr || !json_string_value(x) || !ident_same(&home, json_string_value(x), fr))
            json_array_append(kept, x);
    if (!fr || json_array_size(kept) == json_array_size(nu)) {
        json_decref(kept);
        return m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                         "the originator is not a notification target of this subscription");
    }
    char sur[256];
    snprintf(sur, sizeof sur, "%s/%s", ctx->cse->csi, res_ri(sub));
    int64_t acn = ntp_action_for(ctx->cse, res_str(sub, "cr"));
    int rc = 0;
    if (acn == NTP_SEEK_AUTHORIZATION) {
        int rsc = ask_subscriber(ctx, sur, fr);
        if (rsc == DISPATCH_PENDING) rc = rsc;
        else if (rsc != RSC_OK)
            rc = m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "the subscriber did not allow the removal (%d)", rsc);
    } else if (acn == NTP_INFORM) {
        /* ACME: the subscriber is told of the request ({"trr": true}), which is refused. */
        json_t *pc = json_pack("{s:{s:s,s:b,s:s}}", "m2m:sgn", "sur", sur, "trr", 1, "ntt", fr);
        notify_send(ctx->cse, res_str(sub, "cr"), pc, 0, NULL, NULL);
        json_decref(pc);
        rc = m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "the policy informs the subscriber and refuses");
    } else if (acn != NTP_ACCEPT) {
        rc = m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "the notification target policy refuses the removal");
    }
    if (rc) {
        json_decref(kept);
        return rc;
    }
    ts_buf now;
    ts_format(clock_now_us(), now);
    json_object_set_new(sub->attrs, "nu", kept);
    json_object_set_new(sub->attrs, "lt", json_string(now));
    rc = store_update(ctx->cse->store, sub);
    if (rc) return m2m_error(ctx->rsp, rc, "cannot update the subscription");
    ctx->rsp->rsc = RSC_DELETED;
    return 0;
}

/* nsi is counted in memory (cse/notify.c) and shown on retrieval. */
static int sub_retrieve(struct op_ctx *ctx)
{
    notify_fill_stats(ctx->cse, ctx->res);
    return 0;
}

const struct resource_type type_subscription = {
    .ty = TY_SUB, .sn = "sub", .key = "m2m:sub",
    /* Any stored type may be asked; those without RT_SUBSCRIBABLE get 5203. */
    .parents = (const int[]){ TY_ACP, TY_AE, TY_CNT, TY_CIN, TY_CSEBASE, TY_GRP, TY_CSR, TY_REQ, TY_SUB, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_CREATOR | RT_SUBSCRIPTION,
    .on_create = sub_create,
    .on_update = sub_update,
    .on_retrieve = sub_retrieve,
    .on_virtual = sub_ntsr,
    .virtual_children = (const char *const[]){ "ntsr", NULL },
};
