/* <timeSeries> (ty 29) and <timeSeriesInstance> (ty 30): data points stamped
 * with their dataGenerationTime (dgt), unique per timeSeries, kept within
 * mni/mbs/mia like a container's, reachable through la/ol. With missing data
 * detection (mdd) and a periodicInterval (pei, ms), a data point arriving
 * later than pei + peid after the previous one records the periods in between
 * in missingDataList (mdlt, at most mdn entries, mdc of them); detection
 * happens when the next point arrives (docs/decisions.md). */
#include "container.h"

#include "../cse/base/clock.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../security/esdata.h"

#include <string.h>

static const struct attr_def ts_attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI, ATTR_CR,
    { "mni", A_NNINT, O, O, 0, 0 },
    { "mbs", A_NNINT, O, O, 0, 0 },
    { "mia", A_NNINT, O, O, 0, 0 },
    { "cni", A_NNINT, NP, NP, 0, 0 },
    { "cbs", A_NNINT, NP, NP, 0, 0 },
    { "pei", A_POSINT, O, O, 0, 0 },
    { "peid", A_NNINT, O, O, 0, 0 },
    { "mdd", A_BOOL, O, O, 0, 0 },
    { "mdn", A_POSINT, O, O, 0, 0 },
    { "mdlt", A_LIST, NP, NP, 0, 0 },
    { "mdc", A_NNINT, NP, NP, 0, 0 },
    { "mdt", A_POSINT, O, O, 0, 0 },
    { "or", A_URI, O, O, 0, 0 },
    { "cnf", A_STR, O, NP, 0, 0 },
};

static const struct attr_def tsi_attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET_WO, ATTR_LBL_WO,
    { "at", A_URILIST, O, NP, 0, 0 },
    { "aa", A_STRLIST, O, NP, 0, 0 },
    { "dgt", A_STR, M, NP, 0, 0 },      /* absolute or relative timestamp */
    { "con", A_ANY, M, NP, 0, 0 },
    { "snr", A_NNINT, O, NP, 0, 0 },
    { "cs", A_NNINT, NP, NP, 0, 0 },
};

/* mdlt's bound when mdn is absent. */
#define MISSING_DATA_DEFAULT_MAX 100

static int check_settings(struct op_ctx *ctx)
{
    struct resource *ts = ctx->res;
    const char *cnf = res_str(ts, "cnf");
    if (cnf && !instances_valid_cnf(cnf))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST,
                         "cnf must look like 'text/plain:0' (media type:encoding[:security])");
    if (res_bool(ts, "mdd", 0) && res_int(ts, "pei", 0) <= 0)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "missing data detection (mdd) needs a periodicInterval (pei)");
    return 0;
}

static void start_detection(struct resource *ts)
{
    json_object_set_new(ts->attrs, "mdc", json_integer(0));
    json_object_del(ts->attrs, "mdlt");
}

static int ts_create(struct op_ctx *ctx)
{
    int rc = check_settings(ctx);
    if (rc) return rc;
    json_object_set_new(ctx->res->attrs, "cni", json_integer(0));
    json_object_set_new(ctx->res->attrs, "cbs", json_integer(0));
    start_detection(ctx->res);
    return 0;
}

static int ts_update(struct op_ctx *ctx)
{
    int rc = check_settings(ctx);
    if (rc) return rc;
    /* Detection starting afresh forgets what an earlier run found. */
    if (res_bool(ctx->res, "mdd", 0) && !res_bool(ctx->before, "mdd", 0)) start_detection(ctx->res);
    /* Lowered quotas apply at once. */
    rc = instances_make_room(ctx, ctx->res, TY_TSI, -1);
    return rc ? m2m_error(ctx->rsp, rc, "cannot apply the quotas") : 0;
}

struct same_dgt { const char *dgt; bool found; };

static int has_dgt(struct resource *tsi, void *data)
{
    struct same_dgt *q = data;
    const char *dgt = res_str(tsi, "dgt");
    if (dgt && !strcmp(dgt, q->dgt)) { q->found = true; return 1; }
    return 0;
}

/* Appends the expected, missed data points between the previous instance's
 * dgt and this one's to mdlt (the newest mdn of them). */
static int record_missing(struct op_ctx *ctx, struct resource *ts, int64_t dgt_us)
{
    int64_t pei_us = res_int(ts, "pei", 0) * 1000, peid_us = res_int(ts, "peid", 0) * 1000;
    if (!res_bool(ts, "mdd", 0) || pei_us <= 0) return 0;
    struct resource *prev;
    int rc = store_edge_child(ctx->cse->store, res_ri(ts), TY_TSI, true, &prev);
    if (rc == RSC_NOT_FOUND) return 0;
    if (rc) return m2m_error(ctx->rsp, rc, "cannot read the latest instance");
    int64_t prev_us;
    bool ok = ts_parse(res_str(prev, "dgt"), &prev_us);
    resource_free(prev);
    if (!ok || dgt_us - peid_us <= prev_us) return 0;
    /* Points prev + k*pei (k >= 1) that lie before dgt - peid were missed. */
    int64_t missed = (dgt_us - peid_us - prev_us - 1) / pei_us;
    if (missed <= 0) return 0;
    int64_t max = res_int(ts, "mdn", MISSING_DATA_DEFAULT_MAX);
    json_t *list = json_object_get(ts->attrs, "mdlt");
    list = json_is_array(list) ? json_copy(list) : json_array();
    for (int64_t k = missed > max ? missed - max + 1 : 1; k <= missed; k++) {
        ts_buf when;
        ts_format(prev_us + k * pei_us, when);
        json_array_append_new(list, json_string(when));
    }
    while ((int64_t)json_array_size(list) > max) json_array_remove(list, 0);
    json_object_set_new(ts->attrs, "mdc", json_integer((json_int_t)json_array_size(list)));
    json_object_set_new(ts->attrs, "mdlt", list);
    return 0;
}

static int tsi_create(struct op_ctx *ctx)
{
    struct resource *tsi = ctx->res, *ts = ctx->parent;
    int64_t dgt_us;
    if (!ts_parse_absrel(res_str(tsi, "dgt"), clock_now_us(), &dgt_us))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "dgt must be a timestamp (absolute or relative)");
    ts_buf dgt;
    ts_format(dgt_us, dgt);
    if (strcmp(dgt, res_str(tsi, "dgt"))) {
        json_object_set_new(tsi->attrs, "dgt", json_string(dgt));
        json_object_set_new(ctx->modified, "dgt", json_string(dgt));
    }
    /* ESData: the timeSeries' cnf covers its instances' con (form only, no key). */
    char why[200];
    if (esdata_check(res_str(ts, "cnf"), json_object_get(tsi->attrs, "con"), why, sizeof why))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "%s", why);
    struct same_dgt q = { dgt, false };
    int rc = store_children(ctx->cse->store, res_ri(ts), TY_TSI, has_dgt, &q);
    if (rc > 1) return m2m_error(ctx->rsp, rc, "cannot read the instances");
    if (q.found)
        return m2m_error(ctx->rsp, RSC_CONFLICT, "an instance with dgt %s exists in this timeSeries", dgt);

    int64_t cs = instances_content_size(json_object_get(tsi->attrs, "con"));
    int64_t mbs = res_int(ts, "mbs", -1);
    if (mbs >= 0 && cs > mbs)
        return m2m_error(ctx->rsp, RSC_NOT_ACCEPTABLE, "content of %lld bytes exceeds the timeSeries' mbs of %lld",
                         (long long)cs, (long long)mbs);
    if (res_int(ts, "mni", -1) == 0)
        return m2m_error(ctx->rsp, RSC_NOT_ACCEPTABLE, "the timeSeries' mni is 0: it keeps no instances");
    json_object_set_new(tsi->attrs, "cs", json_integer(cs));
    if ((rc = record_missing(ctx, ts, dgt_us))) return rc;
    if ((rc = instances_make_room(ctx, ts, TY_TSI, cs)))
        return m2m_error(ctx->rsp, rc, "cannot make room in the timeSeries");
    instances_count_new(ts, tsi, cs);
    instances_cap_age(ctx, ts);
    rc = store_update(ctx->cse->store, ts);
    return rc ? m2m_error(ctx->rsp, rc, "cannot update the timeSeries") : 0;
}

static int tsi_delete(struct op_ctx *ctx)
{
    return ctx->parent && ctx->parent->ty == TY_TS ? instances_forget(ctx) : 0;
}

const struct resource_type type_time_series = {
    .ty = TY_TS, .sn = "ts", .key = "m2m:ts",
    .parents = (const int[]){ TY_CSEBASE, TY_AE, TY_CSR, TY_FCNT, 0 },
    .attrs = ATTRS(ts_attrs),
    .flags = RT_CREATOR | RT_SUBSCRIBABLE | RT_ANNOUNCEABLE,
    .on_create = ts_create,
    .on_update = ts_update,
    .virtual_children = (const char *const[]){ "la", "ol", NULL },
};

const struct resource_type type_time_series_instance = {
    .ty = TY_TSI, .sn = "tsi", .key = "m2m:tsi",
    .parents = (const int[]){ TY_TS, 0 },
    .attrs = ATTRS(tsi_attrs),
    .flags = RT_NO_UPDATE | RT_RETRIEVE_READS_ONLY | RT_INSTANCE | RT_ANNOUNCEABLE,
    .on_create = tsi_create,
    .on_delete = tsi_delete,
};
