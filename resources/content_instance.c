/* <contentInstance> (ty 4): immutable data under a container (TS-0004 7.4.7).
 * R4: dataGenerationTime (dgt) and deletionCnt (dcnt: the number of
 * retrievals after which the instance goes, as ACME implements it). */
#include "container.h"

#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/base/loop.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../cse/core/store_job.h"
#include "../security/esdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET_WO, ATTR_ST, ATTR_LBL_WO, ATTR_CR,
    { "at", A_URILIST, O, NP, 0, 0 },
    { "aa", A_STRLIST, O, NP, 0, 0 },
    { "cnf", A_STR, O, NP, 0, 0 },
    { "cs", A_NNINT, NP, NP, 0, 0 },
    { "conr", A_URI, O, NP, 0, 0 },
    { "or", A_URI, O, NP, 0, 0 },
    /* con is mandatory unless conr points at the content elsewhere (checked
     * in cin_create; R4 behaviour, see docs/conformance.md). */
    { "con", A_ANY, O, NP, 0, 0 },
    { "dgt", A_STR, O, NP, 0, 0 },      /* absolute or relative timestamp, stored absolute */
    { "dcnt", A_POSINT, O, NP, 0, 0 },
};

static int cin_create(struct op_ctx *ctx)
{
    struct resource *cin = ctx->res, *cnt = ctx->parent;
    if (!json_object_get(cin->attrs, "con") && !json_object_get(cin->attrs, "conr"))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "mandatory attribute 'con' is missing (and no conr)");
    const char *cnf = res_str(cin, "cnf");
    if (cnf && !instances_valid_cnf(cnf))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST,
                         "cnf must look like 'text/plain:0' (media type:encoding[:security])");
    /* ESData: the CSE has no key; it checks only that protected content is an envelope. */
    char why[200];
    if (esdata_check(cnf, json_object_get(cin->attrs, "con"), why, sizeof why))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "%s", why);
    int64_t cs = instances_content_size(json_object_get(cin->attrs, "con"));
    int64_t mbs = res_int(cnt, "mbs", -1);
    if (mbs >= 0 && cs > mbs)
        return m2m_error(ctx->rsp, RSC_NOT_ACCEPTABLE,
                         "content of %lld bytes exceeds the container's mbs of %lld",
                         (long long)cs, (long long)mbs);
    /* mni = 0: no instance can ever be kept, like content larger than mbs. */
    if (res_int(cnt, "mni", -1) == 0)
        return m2m_error(ctx->rsp, RSC_NOT_ACCEPTABLE, "the container's mni is 0: it keeps no instances");
    json_object_set_new(cin->attrs, "cs", json_integer(cs));
    const char *dgt = res_str(cin, "dgt");
    int64_t dgt_us;
    if (dgt && !ts_parse_absrel(dgt, clock_now_us(), &dgt_us))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "dgt must be a timestamp (absolute or relative)");
    if (dgt) {
        ts_buf canonical;
        ts_format(dgt_us, canonical);
        if (strcmp(canonical, dgt)) json_object_set_new(ctx->modified, "dgt", json_string(canonical));
        json_object_set_new(cin->attrs, "dgt", json_string(canonical));
    }

    int rc = instances_make_room(ctx, cnt, TY_CIN, cs);
    if (rc) return m2m_error(ctx->rsp, rc, "cannot make room in the container");

    int64_t st = res_int(cnt, "st", 0) + 1;
    json_object_set_new(cnt->attrs, "st", json_integer(st));
    instances_count_new(cnt, cin, cs);
    json_object_set_new(cin->attrs, "st", json_integer(st));
    /* maxInstanceAge caps the instance's lifetime. */
    instances_cap_age(ctx, cnt);
    rc = store_update(ctx->cse->store, cnt);
    return rc ? m2m_error(ctx->rsp, rc, "cannot update the container") : 0;
}

/* Requests (not expiry) cannot reach instances of a container with disr. */
static int check_retrieval(struct op_ctx *ctx)
{
    if (ctx->req && ctx->parent && res_bool(ctx->parent, "disr", 0))
        return m2m_error(ctx->rsp, RSC_OPERATION_NOT_ALLOWED,
                         "the container has disableRetrieval set");
    return 0;
}

/* deletionCnt: each RETRIEVE by a request counts one down and the one that
 * uses up the last deletes the instance (with the notifications of a
 * DELETE). The count is taken from the loop right after the answer is made,
 * so that every answer shows the count before its own retrieval (ACME) and
 * no write happens inside a RETRIEVE. */
struct dcnt_due {
    struct dcnt_due *next;
    struct cse *cse;
    int64_t timer;
    char ri[];
};

static struct dcnt_due **dcnt_pending(struct cse *cse)
{
    return (struct dcnt_due **)cse_type_state(cse, TY_CIN);
}

static void count_down_now(struct cse *cse, const char *ri)
{
    struct resource *cur = NULL;
    int rc = store_begin(cse->store);
    if (!rc) rc = store_get(cse->store, ri, &cur);
    int64_t dcnt = rc ? 0 : res_int(cur, "dcnt", 0);
    if (!rc && dcnt > 1) {
        json_object_set_new(cur->attrs, "dcnt", json_integer(dcnt - 1));
        rc = store_update(cse->store, cur);
    }
    if (!rc && dcnt > 1) rc = store_commit(cse->store);
    else store_rollback(cse->store);
    resource_free(cur);
    if (!rc && dcnt == 1) {
        rc = cse_delete_itself(cse, ri, "dcnt");
        if (rc != RSC_DELETED) log_warn("contentInstance %s used up its dcnt but stays: %d", ri, rc);
    } else if (rc && rc != RSC_NOT_FOUND) {
        log_warn("contentInstance %s: dcnt not counted down (%d)", ri, rc);
    }
}

static void dcnt_unlink(struct dcnt_due *d)
{
    struct dcnt_due **p = dcnt_pending(d->cse);
    while (p && *p && *p != d) p = &(*p)->next;
    if (p && *p) *p = d->next;
}

static void dcnt_count(void *data)
{
    struct dcnt_due *d = data;
    count_down_now(d->cse, d->ri);
    free(d);
}

/* Unlinked first: it then belongs to the count, which may wait for the
 * store in a fiber (cse_in_store_fiber; free() when the CSE closes first). */
static int64_t dcnt_fire(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct dcnt_due *d = data;
    dcnt_unlink(d);
    cse_in_store_fiber(d->cse, dcnt_count, free, d);
    return -1;
}

static void count_retrieval(struct op_ctx *ctx)
{
    struct cse *cse = ctx->cse;
    struct dcnt_due **head = dcnt_pending(cse);
    if (res_int(ctx->res, "dcnt", 0) <= 0 || !ctx->req) return;
    if (!cse->loop || !head) {
        count_down_now(cse, res_ri(ctx->res));
        return;
    }
    size_t n = strlen(res_ri(ctx->res)) + 1;
    struct dcnt_due *d = malloc(sizeof *d + n);
    if (!d) return;
    memcpy(d->ri, res_ri(ctx->res), n);
    d->cse = cse;
    d->next = *head;
    *head = d;
    d->timer = loop_add_timer(cse->loop, 0, dcnt_fire, d);
}

static void cin_stop(struct cse *cse)
{
    struct dcnt_due **head = dcnt_pending(cse);
    while (head && *head) {
        struct dcnt_due *d = *head;
        if (cse->loop) loop_del_timer(cse->loop, d->timer);
        dcnt_unlink(d);
        free(d);
    }
}

static int cin_retrieve(struct op_ctx *ctx)
{
    int rc = check_retrieval(ctx);
    if (!rc) count_retrieval(ctx);
    return rc;
}

static int cin_delete(struct op_ctx *ctx)
{
    int rc = check_retrieval(ctx);
    if (rc || !ctx->parent || ctx->parent->ty != TY_CNT) return rc;
    return instances_forget(ctx);
}

const struct resource_type type_content_instance = {
    .ty = TY_CIN, .sn = "cin", .key = "m2m:cin",
    .parents = (const int[]){ TY_CNT, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_NO_UPDATE | RT_STATE_TAG | RT_CREATOR | RT_RETRIEVE_READS_ONLY | RT_INSTANCE |
             RT_ANNOUNCEABLE,
    .on_create = cin_create,
    .on_delete = cin_delete,
    .on_retrieve = cin_retrieve,
    .on_cse_stop = cin_stop,
};
