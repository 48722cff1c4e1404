/* <contentInstance> (ty 4): immutable data under a container (TS-0004 7.4.7). */
#include "container.h"

#include "../cse/base/clock.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../security/esdata.h"

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
    .on_retrieve = check_retrieval,
};
