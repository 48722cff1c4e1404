/* <timeSyncBeacon> (ty 60, m2m:tsb, Release 4): where and when the CSE
 * sends its time. Periodic beacons (bcnc 1) go every bcni to the bcnu
 * targets as {"m2m:tsbn": {"tbr": <tsb ri>, "ctm": <CSE time>}} through the
 * notification queue; a loop timer per beacon, in memory, re-reads its
 * resource each time it fires, so an UPDATE, a rolled-back CREATE or a
 * deletion with an ancestor is seen as it is. Loss-of-synchronisation
 * beacons (bcnc 2) watch their requester (bcnr): a request of its whose
 * originating timestamp (ot) is further than bcnt from the CSE's clock
 * sends the same notification to bcnu, at most once a second per beacon
 * (docs/decisions.md). */
#include "registry.h"

#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/core/cse.h"
#include "../cse/core/ident.h"
#include "../cse/core/rsc.h"
#include "../cse/core/store_job.h"
#include "../cse/events/notify.h"
#include "../cse/store/store.h"

#include <stdlib.h>
#include <string.h>

/* beaconCriteria (m2m:beaconCriteria). */
enum { BCNC_PERIODIC = 1, BCNC_LOSS_OF_SYNC = 2 };

/* bcni when a periodic beacon names none (as ACME's default), and the
 * shortest period sent, so that a tiny bcni cannot flood the targets. */
#define DEFAULT_BCNI "PT1H"
#define MIN_PERIOD_MS 1000

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI, ATTR_CSTN,
    { "bcnr", A_URI, O, O, 0, 0 },                 /* beaconRequester */
    { "bcnc", A_ENUM, O, O, BCNC_PERIODIC, BCNC_LOSS_OF_SYNC }, /* beaconCriteria */
    { "bcni", A_STR, O, O, 0, 0 },                 /* beaconInterval: a duration */
    { "bcnt", A_STR, O, O, 0, 0 },                 /* beaconThreshold: a duration */
    { "bcnu", A_URILIST, M, O, 0, 0 },             /* beaconNotificationURI */
};

static int check_duration(struct op_ctx *ctx, const char *sn)
{
    const char *s = res_str(ctx->res, sn);
    int64_t us;
    if (json_object_get(ctx->res->attrs, sn) && (!s || !duration_parse(s, &us) || us <= 0))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "%s must be a positive ISO 8601 duration (\"PT10S\")", sn);
    return 0;
}

/* The attributes that go with each criterion; the merged resource is
 * checked, so CREATE and UPDATE share the rules. */
static int tsb_validate(struct op_ctx *ctx)
{
    json_t *a = ctx->res->attrs;
    if (!json_object_get(a, "bcnc")) json_object_set_new(a, "bcnc", json_integer(BCNC_PERIODIC));
    int64_t bcnc = res_int(ctx->res, "bcnc", BCNC_PERIODIC);
    if (!json_array_size(json_object_get(a, "bcnu")))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "bcnu must name at least one URI");
    int rc = check_duration(ctx, "bcni");
    if (!rc) rc = check_duration(ctx, "bcnt");
    if (rc) return rc;
    if (bcnc == BCNC_PERIODIC && (json_object_get(a, "bcnt") || json_object_get(a, "bcnr")))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "bcnt and bcnr go with bcnc 2 (loss of synchronization) only");
    if (bcnc == BCNC_LOSS_OF_SYNC && json_object_get(a, "bcni"))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "bcni goes with bcnc 1 (periodic) only");
    if (bcnc == BCNC_LOSS_OF_SYNC && !json_object_get(a, "bcnr"))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "bcnc 2 (loss of synchronization) needs bcnr");
    if (bcnc == BCNC_PERIODIC && !json_object_get(a, "bcni")) {
        json_object_set_new(a, "bcni", json_string(DEFAULT_BCNI));
        json_object_set_new(ctx->modified, "bcni", json_string(DEFAULT_BCNI));
    }
    return 0;
}

/* --- beacons in memory ------------------------------------------------------ */

/* One per stored beacon: a periodic one has a loop timer, a loss-of-sync one
 * its requester and threshold, so a request costs no store read. */
struct beacon {
    struct store_timer t;      /* first: its callbacks get the beacon; periodic ones only */
    struct beacon *next;
    struct cse *cse;
    char *ri;
    char *bcnr;                /* loss of sync: the requester watched */
    int64_t threshold_us;      /* loss of sync: bcnt */
    int64_t last_sent_us;      /* loss of sync: the last beacon sent */
};

static struct beacon **beacons(struct cse *cse)
{
    return (struct beacon **)cse_type_state(cse, TY_TSB);
}

/* The period of a periodic beacon in ms, or -1 when res sends none. */
static int64_t period_ms(const struct resource *res)
{
    int64_t us;
    const char *bcni = res_str(res, "bcni");
    if (res_int(res, "bcnc", BCNC_PERIODIC) != BCNC_PERIODIC || !bcni || !duration_parse(bcni, &us)) return -1;
    return us / 1000 < MIN_PERIOD_MS ? MIN_PERIOD_MS : us / 1000;
}

static void beacon_unlink(struct beacon *b)
{
    struct beacon **p = beacons(b->cse);
    while (p && *p && *p != b) p = &(*p)->next;
    if (p && *p) *p = b->next;
}

/* Its timer is over: unlinked (unless beacon_free did that) and freed. */
static void beacon_done(struct store_timer *t)
{
    struct beacon *b = (struct beacon *)t;
    beacon_unlink(b);
    free(b->ri);
    free(b->bcnr);
    free(b);
}

/* A periodic beacon's check waiting for the store meanwhile frees it. */
static void beacon_free(struct beacon *b)
{
    beacon_unlink(b);
    if (store_timer_stop(&b->t)) beacon_done(&b->t);
}

/* Sends tsb's beacon to each of its bcnu, from the CSE. */
static void beacon_send(struct cse *cse, const char *ri, const struct resource *tsb)
{
    ts_buf now;
    ts_format(clock_now_us(), now);
    json_t *pc = json_pack("{s:{s:s,s:s}}", "m2m:tsbn", "tbr", ri, "ctm", now);
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(tsb->attrs, "bcnu"), i, u)
        if (json_string_value(u)) notify_send(cse, json_string_value(u), pc, 0, NULL, NULL);
    json_decref(pc);
}

/* A periodic beacon's timer: it goes out while the resource still asks for it. */
static int64_t beacon_due(struct store_timer *t)
{
    struct beacon *b = (struct beacon *)t;
    struct resource *tsb = NULL;
    int64_t next = store_get(b->cse->store, b->ri, &tsb) || !tsb || t->stopped ? -1 : period_ms(tsb);
    if (next > 0) beacon_send(b->cse, b->ri, tsb);
    resource_free(tsb);
    return next > 0 ? next : -1;
}

static void beacon_disarm(struct cse *cse, const char *ri)
{
    struct beacon **p = beacons(cse);
    while (p && *p && strcmp((*p)->ri, ri)) p = &(*p)->next;
    if (p && *p) beacon_free(*p);
}

/* (Re)starts res's beacon: a periodic one's timer (the first beacon one
 * period from now), or a loss-of-sync one's watch of its requester. */
static void beacon_arm(struct cse *cse, const struct resource *res)
{
    beacon_disarm(cse, res_ri(res));
    int64_t ms = period_ms(res), threshold = 0;
    const char *bcnr = res_str(res, "bcnr"), *bcnt = res_str(res, "bcnt");
    bool watch = res_int(res, "bcnc", BCNC_PERIODIC) == BCNC_LOSS_OF_SYNC && bcnr && bcnt &&
                 duration_parse(bcnt, &threshold) && threshold > 0;
    struct beacon **head = beacons(cse);
    if ((ms < 0 && !watch) || !head || !cse->loop) return;
    struct beacon *b = calloc(1, sizeof *b);
    if (!b || !(b->ri = strdup(res_ri(res))) || (watch && !(b->bcnr = strdup(bcnr)))) {
        if (b) free(b->ri);
        free(b);
        log_warn("timeSyncBeacon %s: out of memory, no beacons", res_ri(res));
        return;
    }
    b->cse = cse;
    b->threshold_us = threshold;
    if (!watch) store_timer_start(&b->t, cse, ms, beacon_due, beacon_done);
    b->next = *head;
    *head = b;
}

/* A request with an originating timestamp: a watched requester whose clock
 * is off by more than the threshold (either way) gets its beacon. */
static void tsb_request_time(struct cse *cse, const struct m2m_request *req)
{
    struct beacon **head = beacons(cse);
    int64_t ot, now = clock_now_us();
    if (!head || !*head || !req->fr || !req->ot || !ts_parse(req->ot, &ot)) return;
    struct ident_home home = cse_home(cse);
    struct ident_forms who;
    if (!ident_forms(&home, req->fr, &who)) return;
    int64_t off = now > ot ? now - ot : ot - now;
    for (struct beacon *b = *head, *next; b; b = next) {
        next = b->next;
        if (!b->bcnr || off <= b->threshold_us || now - b->last_sent_us < MIN_PERIOD_MS * 1000 ||
            !ident_is(&home, b->bcnr, &who))
            continue;
        struct resource *tsb = NULL;
        /* Gone with an ancestor (no per-descendant hook): forget it. */
        int rc = store_get(cse->store, b->ri, &tsb);
        if (rc == RSC_NOT_FOUND) { beacon_free(b); continue; }
        if (rc || !tsb) continue;
        b->last_sent_us = now;
        log_debug("timeSyncBeacon %s: %s is %lld ms off, beacon sent", b->ri, req->fr, (long long)(off / 1000));
        beacon_send(cse, b->ri, tsb);
        resource_free(tsb);
    }
}

/* Loss-of-sync beacons deleted with an ancestor (no per-descendant hook
 * runs) whose requester is gone too would stay in memory; each new beacon
 * first forgets those, so deleted ones cannot pile up. */
static void forget_gone(struct cse *cse)
{
    struct beacon **head = beacons(cse);
    for (struct beacon *b = head ? *head : NULL, *next; b; b = next) {
        next = b->next;
        struct resource *tsb = NULL;
        if (b->bcnr && store_get(cse->store, b->ri, &tsb) == RSC_NOT_FOUND) beacon_free(b);
        resource_free(tsb);
    }
}

static int tsb_created(struct op_ctx *ctx)
{
    forget_gone(ctx->cse);
    beacon_arm(ctx->cse, ctx->res);
    return 0;
}

static int tsb_update(struct op_ctx *ctx)
{
    int rc = tsb_validate(ctx);
    if (!rc) beacon_arm(ctx->cse, ctx->res);
    return rc;
}

static int tsb_delete(struct op_ctx *ctx)
{
    beacon_disarm(ctx->cse, res_ri(ctx->res));
    return 0;
}

static int arm_found(struct resource *res, void *data)
{
    beacon_arm(data, res);
    return 0;
}

static int collect_ri(struct resource *res, void *data)
{
    json_array_append_new(data, json_string(res_ri(res)));
    return 0;
}

/* After a start or a Reset: the stored beacons are armed again. A
 * beacon's parent is the CSEBase, an AE or a remoteCSE, so indexed child
 * lookups find them all without walking the resource tree. */
static int tsb_start(struct cse *cse)
{
    if (!cse->loop) return 0;
    json_t *parents = json_pack("[s]", cse->cfg.cse_id);
    store_children(cse->store, cse->cfg.cse_id, TY_AE, collect_ri, parents);
    store_children(cse->store, cse->cfg.cse_id, TY_CSR, collect_ri, parents);
    size_t i;
    json_t *pi;
    json_array_foreach(parents, i, pi)
        store_children(cse->store, json_string_value(pi), TY_TSB, arm_found, cse);
    json_decref(parents);
    return 0;
}

static void tsb_stop(struct cse *cse)
{
    struct beacon **head = beacons(cse);
    while (head && *head) beacon_free(*head);
}

const struct resource_type type_time_sync_beacon = {
    .ty = TY_TSB, .sn = "tsb", .key = "m2m:tsb",
    .parents = (const int[]){ TY_CSEBASE, TY_CSR, TY_AE, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_SUBSCRIBABLE | RT_ANNOUNCEABLE,
    .on_create = tsb_validate,
    .on_created = tsb_created,
    .on_update = tsb_update,
    .on_delete = tsb_delete,
    .on_cse_start = tsb_start,
    .on_cse_stop = tsb_stop,
    .on_request_time = tsb_request_time,
};
