/* <timeSyncBeacon> (ty 60, m2m:tsb, Release 4): where and when the CSE should
 * send its time to. Stored and validated only: this CSE
 * sends no beacons yet. */
#include "registry.h"

#include "../cse/base/clock.h"
#include "../cse/core/rsc.h"

/* beaconCriteria (m2m:beaconCriteria). */
enum { BCNC_PERIODIC = 1, BCNC_LOSS_OF_SYNC = 2 };

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI,
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
    return 0;
}

const struct resource_type type_time_sync_beacon = {
    .ty = TY_TSB, .sn = "tsb", .key = "m2m:tsb",
    .parents = (const int[]){ TY_CSEBASE, TY_CSR, TY_AE, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_SUBSCRIBABLE | RT_ANNOUNCEABLE,
    .on_create = tsb_validate,
    .on_update = tsb_validate,
};
