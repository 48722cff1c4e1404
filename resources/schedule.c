/* <schedule> (ty 18, m2m:sch): time windows as m2m:scheduleEntry strings
 * ("sec min hour day month weekday year", UTC), TS-0001 9.6.9. Stored and
 * validated here; a subscription's notificationSchedule restricts when its
 * notifications are sent (cse/events/notify.c, with the subscription's pn).
 * The syntax is the one of an ACP's actw, so security/acr.c parses both. */
#include "registry.h"

#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../security/acr.h"

#include <string.h>

/* The one name a subscription's schedule may have (TS-0004 7.4.9). */
#define NOTIFICATION_SCHEDULE "notificationSchedule"

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI, ATTR_CSTN,
    { "se", A_OBJ, M, O, 0, 0 },      /* scheduleElement: { "sce": [entries] } */
    { "nco", A_BOOL, O, O, 0, 0 },    /* networkCoordinated: only under a <node> */
};

static int check_entries(struct op_ctx *ctx)
{
    json_t *sce = json_object_get(json_object_get(ctx->res->attrs, "se"), "sce");
    if (!json_is_array(sce) || !json_array_size(sce))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "se must hold sce, a non-empty list of schedule entries");
    size_t i;
    json_t *e;
    json_array_foreach(sce, i, e)
        if (!json_is_string(e) || !acr_schedule_valid(json_string_value(e)))
            return m2m_error(ctx->rsp, RSC_BAD_REQUEST,
                             "se/sce[%zu] is not a schedule 'sec min hour day month weekday year'", i);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(ctx->res->attrs, "se"), k, v)
        if (strcmp(k, "sce")) return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "se has no member '%s'", k);
    return 0;
}

/* CREATE and UPDATE check the merged resource alike. */
static int check(struct op_ctx *ctx)
{
    int rc = check_entries(ctx);
    if (rc) return rc;
    if (json_object_get(ctx->res->attrs, "nco") && (!ctx->parent || ctx->parent->ty != TY_NOD))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "nco is only for the schedule of a <node>");
    return 0;
}

static int sch_create(struct op_ctx *ctx)
{
    int rc = check(ctx);
    if (rc) return rc;
    int pty = ctx->parent->ty;
    if (pty == TY_SUB) {
        /* A subscription's schedule is its notificationSchedule, 0..1 by its name. */
        if (json_object_get(ctx->content, "rn") && strcmp(res_rn(ctx->res), NOTIFICATION_SCHEDULE))
            return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "the schedule of a subscription is named "
                             NOTIFICATION_SCHEDULE);
        json_object_set_new(ctx->res->attrs, "rn", json_string(NOTIFICATION_SCHEDULE));
    } else if (pty == TY_CSEBASE) {
        int64_t n = 0;
        rc = store_count_children(ctx->cse->store, res_ri(ctx->parent), TY_SCH, &n);
        if (rc) return m2m_error(ctx->rsp, rc, "cannot count the CSEBase's schedules");
        if (n > 0) return m2m_error(ctx->rsp, RSC_CONFLICT, "the CSEBase already has a schedule");
    }
    return 0;
}

const struct resource_type type_schedule = {
    .ty = TY_SCH, .sn = "sch", .key = "m2m:sch",
    /* TS-0001 9.6.9; a <node> is not served yet, listed for when it is. */
    .parents = (const int[]){ TY_CSEBASE, TY_CSR, TY_SUB, TY_NOD, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_SUBSCRIBABLE | RT_ANNOUNCEABLE,
    .on_create = sch_create,
    .on_update = check,
};
