/* <timeSeries> (ty 29) and <timeSeriesInstance> (ty 30): data points stamped
 * with their dataGenerationTime (dgt), unique per timeSeries, kept within
 * mni/mbs/mia like a container's, reachable through la/ol. With missing data
 * detection (mdd) and a periodicInterval (pei, ms), missed periods are listed
 * in missingDataList (mdlt, at most mdn entries, mdc of them). With a
 * missingDataDetectTimer (mdt, ms) a loop timer checks each expected point
 * mdt after its expected dgt and reports a missing one at once, also to the
 * net 8 subscriptions (m2m:tsn); without mdt detection happens when the next
 * point arrives (docs/decisions.md). */
#include "container.h"

#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../cse/core/store_job.h"
#include "../cse/events/notify.h"
#include "../security/esdata.h"

#include <stdlib.h>
#include <string.h>

static const struct attr_def ts_attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI, ATTR_CSTN, ATTR_CR,
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

/* Appends the timestamps in `missed` to mdlt, keeping the newest mdn. */
static void append_missing(struct resource *ts, json_t *missed)
{
    int64_t max = res_int(ts, "mdn", MISSING_DATA_DEFAULT_MAX);
    json_t *list = json_object_get(ts->attrs, "mdlt");
    list = json_is_array(list) ? json_copy(list) : json_array();
    json_array_extend(list, missed);
    while ((int64_t)json_array_size(list) > max) json_array_remove(list, 0);
    json_object_set_new(ts->attrs, "mdc", json_integer((json_int_t)json_array_size(list)));
    json_object_set_new(ts->attrs, "mdlt", list);
}

static bool timer_detects(const struct resource *ts)
{
    return res_bool(ts, "mdd", 0) && res_int(ts, "pei", 0) > 0 && res_int(ts, "mdt", 0) > 0;
}

/* Without mdt: the expected, missed data points between the previous
 * instance's dgt and this one's go to mdlt when this one arrives. */
static int record_missing(struct op_ctx *ctx, struct resource *ts, int64_t dgt_us)
{
    int64_t pei_us = res_int(ts, "pei", 0) * 1000, peid_us = res_int(ts, "peid", 0) * 1000;
    if (!res_bool(ts, "mdd", 0) || pei_us <= 0 || timer_detects(ts)) return 0;
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
    json_t *list = json_array();
    for (int64_t k = missed > max ? missed - max + 1 : 1; k <= missed; k++) {
        ts_buf when;
        ts_format(prev_us + k * pei_us, when);
        json_array_append_new(list, json_string(when));
    }
    append_missing(ts, list);
    json_decref(list);
    return 0;
}

/* --- the missing data detect timer (mdt) -------------------------------------
 * One watch per timeSeries that detects with a timer, in memory: it starts
 * with the first instance after start-up (or after mdd was turned on) and
 * ends when the timeSeries goes or stops detecting. Everything is read again
 * from the store when the timer fires, so a rolled-back CREATE or an UPDATE
 * in between is simply seen as it is. */
struct ts_watch {
    struct store_timer t;  /* first: the timer's callbacks get the watch */
    struct ts_watch *next;
    struct cse *cse;
    char *ri;
    int64_t expected_us;   /* the dgt the next point should have */
    json_t *subs;          /* net 8 subscription ri -> {"mdlt": [...], "end": us}: its window */
};

static struct ts_watch **watches(struct cse *cse)
{
    void **slot = cse_type_state(cse, TY_TS);
    return (struct ts_watch **)slot;
}

/* Its timer is over: unlinked (unless ts_stop did that) and freed. */
static void watch_unlink(struct store_timer *t)
{
    struct ts_watch *w = (struct ts_watch *)t;
    struct ts_watch **p = watches(w->cse);
    while (p && *p && *p != w) p = &(*p)->next;
    if (p && *p) *p = w->next;
    json_decref(w->subs);
    free(w->ri);
    free(w);
}

struct sub_set { struct resource **v; int n; };

static int collect_missing_data_sub(struct resource *sub, void *data)
{
    struct sub_set *l = data;
    json_t *nets = json_object_get(json_object_get(sub->attrs, "enc"), "net");
    size_t i;
    json_t *x;
    json_array_foreach(nets, i, x)
        if (json_integer_value(x) == NET_MISSING_DATA) {
            struct resource **v = realloc(l->v, (size_t)(l->n + 1) * sizeof *v);
            if (!v) return RSC_INTERNAL_SERVER_ERROR;
            l->v = v;
            l->v[l->n++] = resource_dup(sub);
            return 0;
        }
    return 0;
}

/* enc.md of each net 8 subscription: `num` missing points within `dur` of
 * the first one make a notification of them (ACME's reading of TS-0001
 * 10.2.39); a window that ends short of `num` is forgotten. */
static void tell_subscribers(struct ts_watch *w, const struct resource *ts, const char *when, int64_t now_us)
{
    struct sub_set l = { 0 };
    store_children(w->cse->store, w->ri, TY_SUB, collect_missing_data_sub, &l);
    json_t *kept = json_object();
    for (int i = 0; i < l.n; i++) {
        struct resource *sub = l.v[i];
        json_t *md = json_object_get(json_object_get(sub->attrs, "enc"), "md");
        json_t *st = json_object_get(w->subs, res_ri(sub));
        int64_t dur_us = 0;
        duration_parse(json_string_value(json_object_get(md, "dur")), &dur_us);
        if (!st || json_integer_value(json_object_get(st, "end")) <= now_us)
            st = json_pack("{s:[],s:I}", "mdlt", "end", (json_int_t)(now_us + dur_us));
        else json_incref(st);
        json_t *list = json_object_get(st, "mdlt");
        json_array_append_new(list, json_string(when));
        if ((int64_t)json_array_size(list) >= json_integer_value(json_object_get(md, "num"))) {
            json_t *rep = json_pack("{s:{s:O,s:I}}", "m2m:tsn", "mdlt", list, "mdc", (json_int_t)json_array_size(list));
            notify_deliver(w->cse, sub, ts, NET_MISSING_DATA, rep);
            json_decref(rep);
            json_decref(st);
        } else {
            json_object_set_new(kept, res_ri(sub), st);
        }
        resource_free(sub);
    }
    free(l.v);
    json_decref(w->subs);
    w->subs = kept;
}

/* The expected point at `when` is missing: into mdlt, and to the subscribers. */
static void report_missing(struct ts_watch *w, int64_t expected_us, int64_t now_us)
{
    ts_buf when;
    ts_format(expected_us, when);
    struct store *st = w->cse->store;
    struct resource *ts = NULL;
    int rc = store_begin(st);
    if (!rc) rc = store_get(st, w->ri, &ts);
    if (!rc) {
        json_t *one = json_pack("[s]", when);
        append_missing(ts, one);
        json_decref(one);
        rc = store_update(st, ts);
    }
    if (!rc) rc = store_commit(st);
    else store_rollback(st);
    if (rc) log_warn("timeSeries %s: missing data point %s not recorded (%d)", w->ri, when, rc);
    else tell_subscribers(w, ts, when, now_us);
    resource_free(ts);
}

/* Checks the expected point; returns the ms until the next check, or -1
 * when the timeSeries no longer detects with a timer. */
static int64_t watch_check(struct store_timer *t)
{
    struct ts_watch *w = (struct ts_watch *)t;
    struct resource *ts = NULL, *latest = NULL;
    int64_t dgt_us = 0;
    bool detects = !store_get(w->cse->store, w->ri, &ts) && timer_detects(ts) &&
                   !store_edge_child(w->cse->store, w->ri, TY_TSI, true, &latest) &&
                   ts_parse(res_str(latest, "dgt"), &dgt_us);
    resource_free(latest);
    if (!detects) {
        resource_free(ts);
        return -1;
    }
    int64_t pei_us = res_int(ts, "pei", 0) * 1000, peid_us = res_int(ts, "peid", 0) * 1000;
    int64_t mdt_us = res_int(ts, "mdt", 0) * 1000, now_us = clock_now_us();
    resource_free(ts);
    /* On time: within expected +- peid (both ends, so that peid 0 allows the
     * exact dgt; ACME leaves the lower end open). */
    if (dgt_us >= w->expected_us - peid_us && dgt_us <= w->expected_us + peid_us) {
        w->expected_us = dgt_us + pei_us;
    } else {
        report_missing(w, w->expected_us, now_us);
        w->expected_us += pei_us;
    }
    int64_t wait_us = w->expected_us + mdt_us - now_us;
    return wait_us > 0 ? (wait_us + 999) / 1000 : 0;
}

/* A point arrived: the first one starts the watch (unless its period's
 * detection time is already past, as ACME does). */
static void watch_arrival(struct cse *cse, const struct resource *ts, int64_t dgt_us)
{
    struct ts_watch **head = watches(cse);
    if (!cse->loop || !head || !timer_detects(ts)) return;
    for (struct ts_watch *w = *head; w; w = w->next)
        if (!strcmp(w->ri, res_ri(ts))) return;
    int64_t expected_us = dgt_us + res_int(ts, "pei", 0) * 1000;
    int64_t wait_us = expected_us + res_int(ts, "mdt", 0) * 1000 - clock_now_us();
    if (wait_us < 0) return;
    struct ts_watch *w = calloc(1, sizeof *w);
    if (!w || !(w->ri = strdup(res_ri(ts))) || !(w->subs = json_object())) {
        if (w) free(w->ri);
        free(w);
        log_warn("timeSeries %s: out of memory, no missing data detection", res_ri(ts));
        return;
    }
    w->cse = cse;
    w->expected_us = expected_us;
    store_timer_start(&w->t, cse, (wait_us + 999) / 1000, watch_check, watch_unlink);
    w->next = *head;
    *head = w;
}

static void ts_stop(struct cse *cse)
{
    struct ts_watch **head = watches(cse);
    while (head && *head) {
        struct ts_watch *w = *head;
        *head = w->next;
        if (store_timer_stop(&w->t)) watch_unlink(&w->t);
    }
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
    watch_arrival(ctx->cse, ts, dgt_us);
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
    .flags = RT_CREATOR | RT_SUBSCRIBABLE | RT_ANNOUNCEABLE | RT_MISSING_DATA,
    .on_create = ts_create,
    .on_update = ts_update,
    .on_cse_stop = ts_stop,
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
