/* <pollingChannel> (ty 15, m2m:pch, TS-0001 9.6.21, TS-0004 7.4.21) and its
 * virtual child <pollingChannelURI> (pcu): the mailbox of an entity the CSE
 * cannot send requests to. The queue and the long polls are
 * cse/events/polling.c's; this file holds the rules. */
#include "registry.h"

#include "../cse/base/clock.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../cse/events/polling.h"

#include <string.h>

static const struct attr_def attrs[] = {
    /* No acpi: access is the parent's owner's (TS-0001 9.6.21). */
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL,
    { "rqag", A_BOOL, O, O, 0, 0 },   /* requestAggregation (Release 4) */
};

/* Is the request's originator the entity the channel belongs to? (An AE's
 * ri is its AE-ID.) */
static bool from_owner(struct op_ctx *ctx, const char *owner_id)
{
    struct ident_home home = cse_home(ctx->cse);
    return ctx->req && ctx->req->fr && owner_id && ident_same(&home, ctx->req->fr, owner_id);
}

static int pch_create(struct op_ctx *ctx)
{
    /* The channel is the entity's own: nobody else, not even the admin,
     * makes one for it (which would divert its requests). */
    if (ctx->req && !from_owner(ctx, res_ri(ctx->parent)))
        return m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                         "only '%s' itself may create its pollingChannel", res_ri(ctx->parent));
    int64_t n = 0;
    if (store_count_children(ctx->cse->store, res_ri(ctx->parent), TY_PCH, &n) || n > 0)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "'%s' already has a pollingChannel (at most one)",
                         res_ri(ctx->parent));
    if (!json_object_get(ctx->res->attrs, "rqag")) json_object_set_new(ctx->res->attrs, "rqag", json_false());
    return 0;
}

static int pch_delete(struct op_ctx *ctx)
{
    polling_channel_removed(ctx->cse, res_ri(ctx->res));
    return 0;
}

/* Deleted by another front-end: polls parked here end as if deleted here
 * (polling_channel_removed checks the store first). */
static void pch_changed_elsewhere(struct cse *cse, const struct store_change *change)
{
    if (change->op == STORE_CHANGE_DELETE) polling_channel_removed(cse, change->ri);
}

/* A poll ends this much before its rqet: a request handed to it just
 * before would otherwise meet an expired request when the RETRIEVE runs
 * again, and be lost to a 4008. */
#define RQET_MARGIN_MS 100

/* The long poll lasts until the request expiration time, else pch-poll-timeout. */
static int64_t poll_timeout_ms(struct op_ctx *ctx)
{
    int64_t rqet;
    if (ctx->req->rqet && ts_parse(ctx->req->rqet, &rqet)) {
        int64_t ms = (rqet - clock_now_us()) / 1000 - RQET_MARGIN_MS;
        return ms > 0 ? ms : 0;
    }
    return ctx->cse->cfg.pch_poll_timeout_ms;
}

/* pcu: RETRIEVE is the long poll, NOTIFY carries the answer to a polled request. */
static int pch_virtual(struct op_ctx *ctx, const char *name)
{
    if (strcmp(name, "pcu")) return m2m_error(ctx->rsp, RSC_NOT_FOUND, "no such virtual resource");
    const struct m2m_request *req = ctx->req;
    if (req->op != OP_RETRIEVE && req->op != OP_NOTIFY)
        return m2m_error(ctx->rsp, RSC_OPERATION_NOT_ALLOWED,
                         "pollingChannelURI answers RETRIEVE (a long poll) and NOTIFY (a response) only");
    if (!from_owner(ctx, res_pi(ctx->res)))
        return m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                         "only '%s' may use its pollingChannelURI", res_pi(ctx->res));
    if (req->op == OP_NOTIFY) {
        const char *why = NULL;
        int rc = polling_answer(ctx->cse, res_ri(ctx->res), req->pc, &why);
        if (rc) return m2m_error(ctx->rsp, rc, "%s", why);
        ctx->rsp->rsc = RSC_OK;
        return 0;
    }
    if (req->fc.fu == 1 || req->natrl)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "pollingChannelURI is polled as a whole");
    json_t *rqp = NULL;
    int rsc = polling_wait(ctx->cse, req, res_ri(ctx->res), poll_timeout_ms(ctx),
                           res_bool(ctx->res, "rqag", 0), &rqp);
    if (rsc == DISPATCH_PENDING) return rsc;
    if (rsc == RSC_OK && rqp) {
        ctx->rsp->rsc = RSC_OK;
        ctx->rsp->pc = rqp;
        return 0;
    }
    json_decref(rqp);
    if (rsc == RSC_REQUEST_TIMEOUT)
        return m2m_error(ctx->rsp, rsc, "no request for '%s' arrived before the long poll ended", res_pi(ctx->res));
    return m2m_error(ctx->rsp, rsc == RSC_OK ? RSC_INTERNAL_SERVER_ERROR : rsc, "the long poll ended without a request");
}

const struct resource_type type_polling_channel = {
    .ty = TY_PCH, .sn = "pch", .key = "m2m:pch",
    /* TS-0001: under an AE or a registered CSE's <remoteCSE>. */
    .parents = (const int[]){ TY_AE, TY_CSR, 0 },
    .attrs = ATTRS(attrs),
    .on_create = pch_create,
    .on_delete = pch_delete,
    .on_changed_elsewhere = pch_changed_elsewhere,
    .on_virtual = pch_virtual,
    .virtual_children = (const char *const[]){ "pcu", NULL },
};
