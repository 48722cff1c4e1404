/* <container> (ty 3): holds contentInstances within mni/mbs/mia quotas. */
#include "container.h"

#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_ST, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI, ATTR_CR,
    { "mni", A_NNINT, O, O, 0, 0 },
    { "mbs", A_NNINT, O, O, 0, 0 },
    { "mia", A_NNINT, O, O, 0, 0 },
    { "cni", A_NNINT, NP, NP, 0, 0 },
    { "cbs", A_NNINT, NP, NP, 0, 0 },
    { "li", A_URI, NP, NP, 0, 0 },
    { "or", A_URI, O, O, 0, 0 },
    { "disr", A_BOOL, O, O, 0, 0 },
};

static void set_int(json_t *obj, const char *sn, int64_t v)
{
    json_object_set_new(obj, sn, json_integer(v));
}

int container_make_room(struct op_ctx *ctx, struct resource *cnt, int64_t incoming)
{
    int64_t mni = res_int(cnt, "mni", -1), mbs = res_int(cnt, "mbs", -1);
    int64_t cni = res_int(cnt, "cni", 0), cbs = res_int(cnt, "cbs", 0);
    int64_t extra_n = incoming >= 0 ? 1 : 0, extra_b = incoming >= 0 ? incoming : 0;
    while (cni > 0 && ((mni >= 0 && cni + extra_n > mni) || (mbs >= 0 && cbs + extra_b > mbs))) {
        struct resource *oldest;
        int rc = store_edge_child(ctx->cse->store, res_ri(cnt), 4, false, &oldest);
        if (rc == RSC_NOT_FOUND) break;
        if (rc) return rc;
        cni--;
        cbs -= res_int(oldest, "cs", 0);
        rc = store_delete_subtree(ctx->cse->store, oldest, NULL, NULL);
        resource_free(oldest);
        if (rc) return rc;
    }
    set_int(cnt->attrs, "cni", cni);
    set_int(cnt->attrs, "cbs", cbs < 0 ? 0 : cbs);
    return 0;
}

static int cnt_create(struct op_ctx *ctx)
{
    set_int(ctx->res->attrs, "cni", 0);
    set_int(ctx->res->attrs, "cbs", 0);
    return 0;
}

static int delete_all_instances(struct op_ctx *ctx, struct resource *cnt)
{
    struct resource *cin;
    int rc;
    while (!(rc = store_edge_child(ctx->cse->store, res_ri(cnt), 4, false, &cin))) {
        rc = store_delete_subtree(ctx->cse->store, cin, NULL, NULL);
        resource_free(cin);
        if (rc) return rc;
    }
    if (rc != RSC_NOT_FOUND) return rc;
    set_int(cnt->attrs, "cni", 0);
    set_int(cnt->attrs, "cbs", 0);
    return 0;
}

static int cnt_update(struct op_ctx *ctx)
{
    /* Turning disableRetrieval off discards every instance (TS-0001 9.6.6). */
    if (res_bool(ctx->before, "disr", 0) && !res_bool(ctx->res, "disr", 0))
        return delete_all_instances(ctx, ctx->res);
    /* Lowered quotas apply at once. */
    return container_make_room(ctx, ctx->res, -1);
}

const struct resource_type type_container = {
    .ty = TY_CNT, .sn = "cnt", .key = "m2m:cnt",
    .parents = (const int[]){ TY_CSEBASE, TY_AE, TY_CNT, TY_CSR, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_STATE_TAG | RT_CREATOR | RT_SUBSCRIBABLE | RT_ANNOUNCEABLE,
    .on_create = cnt_create,
    .on_update = cnt_update,
    /* latest and oldest (cse/address.c resolves them). */
    .virtual_children = (const char *const[]){ "la", "ol", NULL },
};
