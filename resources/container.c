/* <container> (ty 3): holds contentInstances within mni/mbs/mia quotas. */
#include "container.h"

#include "../cse/base/clock.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"

#include <stdlib.h>
#include <string.h>

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_ST, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI, ATTR_CSTN, ATTR_CR,
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

int instances_make_room(struct op_ctx *ctx, struct resource *cnt, int inst_ty, int64_t incoming)
{
    int64_t mni = res_int(cnt, "mni", -1), mbs = res_int(cnt, "mbs", -1);
    int64_t cni = res_int(cnt, "cni", 0), cbs = res_int(cnt, "cbs", 0);
    int64_t extra_n = incoming >= 0 ? 1 : 0, extra_b = incoming >= 0 ? incoming : 0;
    while (cni > 0 && ((mni >= 0 && cni + extra_n > mni) || (mbs >= 0 && cbs + extra_b > mbs))) {
        struct resource *oldest;
        int rc = store_edge_child(ctx->cse->store, res_ri(cnt), inst_ty, false, &oldest);
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

void instances_count_new(struct resource *parent, const struct resource *inst, int64_t cs)
{
    set_int(parent->attrs, "cni", res_int(parent, "cni", 0) + 1);
    set_int(parent->attrs, "cbs", res_int(parent, "cbs", 0) + cs);
    json_object_set(parent->attrs, "lt", json_object_get(inst->attrs, "ct"));
}

int instances_forget(struct op_ctx *ctx)
{
    struct resource *parent = ctx->parent;
    if (!parent) return 0;
    int64_t cni = res_int(parent, "cni", 1) - 1, cbs = res_int(parent, "cbs", 0) - res_int(ctx->res, "cs", 0);
    set_int(parent->attrs, "cni", cni < 0 ? 0 : cni);
    set_int(parent->attrs, "cbs", cbs < 0 ? 0 : cbs);
    int rc = store_update(ctx->cse->store, parent);
    return rc ? m2m_error(ctx->rsp, rc, "cannot update the parent's instance counts") : 0;
}

void instances_cap_age(struct op_ctx *ctx, const struct resource *parent)
{
    struct resource *inst = ctx->res;
    int64_t mia = res_int(parent, "mia", -1), ct_us, et_us;
    if (mia >= 0 && ts_parse(res_str(inst, "ct"), &ct_us) && ts_parse(res_str(inst, "et"), &et_us) &&
        et_us > ct_us + mia * 1000000) {
        ts_buf et;
        ts_format(ct_us + mia * 1000000, et);
        json_object_set_new(inst->attrs, "et", json_string(et));
        if (ctx->modified) json_object_set_new(ctx->modified, "et", json_string(et));
    }
}

bool instances_valid_cnf(const char *s)
{
    /* "<type>/<subtype>:<encoding 0-2>[:<security 0-5>]" */
    const char *colon = strchr(s, ':');
    const char *slash = strchr(s, '/');
    if (!colon || !slash || slash > colon || slash == s || slash + 1 == colon) return false;
    const char *enc = colon + 1;
    if (enc[0] < '0' || enc[0] > '2') return false;
    if (enc[1] == 0) return true;
    return enc[1] == ':' && enc[2] >= '0' && enc[2] <= '5' && enc[3] == 0;
}

int64_t instances_content_size(json_t *con)
{
    if (!con) return 0;
    if (json_is_string(con)) return (int64_t)json_string_length(con);
    char *dump = json_dumps(con, JSON_COMPACT | JSON_ENCODE_ANY);
    int64_t n = dump ? (int64_t)strlen(dump) : 0;
    free(dump);
    return n;
}

static int cnt_create(struct op_ctx *ctx)
{
    set_int(ctx->res->attrs, "cni", 0);
    set_int(ctx->res->attrs, "cbs", 0);
    return 0;
}

int instances_delete_all(struct op_ctx *ctx, struct resource *cnt, int inst_ty)
{
    struct resource *cin;
    int rc;
    while (!(rc = store_edge_child(ctx->cse->store, res_ri(cnt), inst_ty, false, &cin))) {
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
        return instances_delete_all(ctx, ctx->res, TY_CIN);
    /* Lowered quotas apply at once. */
    return instances_make_room(ctx, ctx->res, TY_CIN, -1);
}

const struct resource_type type_container = {
    .ty = TY_CNT, .sn = "cnt", .key = "m2m:cnt",
    .parents = (const int[]){ TY_CSEBASE, TY_AE, TY_CNT, TY_CSR, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_STATE_TAG | RT_CREATOR | RT_SUBSCRIBABLE | RT_ANNOUNCEABLE,
    .on_create = cnt_create,
    .on_update = cnt_update,
    /* latest and oldest instance (cse/core/address.c resolves them). */
    .virtual_children = (const char *const[]){ "la", "ol", NULL },
};
