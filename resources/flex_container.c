/* <flexContainer> (ty 28) and <flexContainerInstance> (ty 58, R4).
 *
 * A flexContainer's specialisation is data: the wire key it was created with
 * ({"cod:tempSensor": {...}}, or the generic "m2m:fcnt") is kept as its own
 * (RT_SPECIALIZED), `cnd` names the definition, and every attribute outside
 * the table is a custom attribute of the specialisation (RT_CUSTOM_ATTRS).
 * With any of mni/mbs/mia set it keeps versions: each CREATE and UPDATE adds a
 * flexContainerInstance holding the custom attributes of that moment, within
 * the quotas, reachable through la/ol (docs/decisions.md). */
#include "container.h"

#include "../cse/base/clock.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct attr_def fcnt_attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_ST, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI, ATTR_CSTN, ATTR_CR,
    { "cnd", A_URI, M, NP, 0, 0 },
    { "or", A_URI, O, O, 0, 0 },
    { "cs", A_NNINT, NP, NP, 0, 0 },
    { "nl", A_URI, O, O, 0, 0 },
    { "mni", A_NNINT, O, O, 0, 0 },
    { "mbs", A_NNINT, O, O, 0, 0 },
    { "mia", A_NNINT, O, O, 0, 0 },
    { "cni", A_NNINT, NP, NP, 0, 0 },
    { "cbs", A_NNINT, NP, NP, 0, 0 },
};

/* Never created or updated through the API: every presence is NP. */
static const struct attr_def fci_attrs[] = {
    ATTR_UNIVERSAL,
    { "et", A_TS, NP, NP, 0, 0 },
    { "lbl", A_STRLIST, NP, NP, 0, 0 },
    { "st", A_NNINT, NP, NP, 0, 0 },
    { "cs", A_NNINT, NP, NP, 0, 0 },
    { "org", A_ID, NP, NP, 0, 0 },
};

extern const struct resource_type type_flex_container;

/* The custom attributes of a flexContainer: what its table does not define. */
static json_t *custom_attrs(const struct resource *fcnt)
{
    json_t *out = json_object(), *v;
    const char *k;
    json_object_foreach(fcnt->attrs, k, v)
        if (k[0] != ATTR_PRIVATE_PREFIX && !type_attr(&type_flex_container, k))
            json_object_set(out, k, v);
    return out;
}

static bool keeps_versions(const struct resource *fcnt)
{
    return json_object_get(fcnt->attrs, "mni") || json_object_get(fcnt->attrs, "mbs") ||
           json_object_get(fcnt->attrs, "mia");
}

/* contentSize: the custom attributes' compact JSON (docs/decisions.md). */
static int64_t custom_size(const json_t *custom)
{
    return json_object_size(custom) ? instances_content_size((json_t *)custom) : 0;
}

/* "cod:tempSensor" keeps "cod:tempSensorInstance"; the generic one "m2m:fci". */
static void instance_key(const char *fcnt_key, char *out, size_t cap)
{
    if (!strcmp(fcnt_key, type_flex_container.key)) snprintf(out, cap, "m2m:fci");
    else snprintf(out, cap, "%sInstance", fcnt_key);
}

/* Adds a flexContainerInstance of the flexContainer's current custom
 * attributes, evicting the oldest to fit; updates fcnt's cni/cbs (the caller
 * stores fcnt). Content that no quota admits (mni 0, larger than mbs) keeps none. */
static int add_instance(struct op_ctx *ctx, struct resource *fcnt)
{
    json_t *attrs = custom_attrs(fcnt);
    int64_t cs = custom_size(attrs), mbs = res_int(fcnt, "mbs", -1);
    bool fits = res_int(fcnt, "mni", -1) != 0 && (mbs < 0 || cs <= mbs);
    int rc = instances_make_room(ctx, fcnt, TY_FCI, fits ? cs : -1);
    if (rc || !fits) {
        json_decref(attrs);
        return rc ? m2m_error(ctx->rsp, rc, "cannot make room in the flexContainer") : 0;
    }
    char ri[64], rn[80], key[160];
    cse_new_id("fci", ri, sizeof ri);
    snprintf(rn, sizeof rn, "fci_%s", ri + 3);
    instance_key(type_key(&type_flex_container, fcnt), key, sizeof key);
    ts_buf now;
    ts_format(clock_now_us(), now);
    json_object_set_new(attrs, ATTR_INSTANCE_KEY, json_string(key));
    json_object_set_new(attrs, "ty", json_integer(TY_FCI));
    json_object_set_new(attrs, "ri", json_string(ri));
    json_object_set_new(attrs, "rn", json_string(rn));
    json_object_set_new(attrs, "pi", json_string(res_ri(fcnt)));
    json_object_set_new(attrs, "ct", json_string(now));
    json_object_set_new(attrs, "lt", json_string(now));
    json_object_set(attrs, "et", json_object_get(fcnt->attrs, "et"));
    json_object_set_new(attrs, "st", json_integer(res_int(fcnt, "st", 0)));
    json_object_set_new(attrs, "cs", json_integer(cs));
    if (json_object_get(fcnt->attrs, "lbl")) json_object_set(attrs, "lbl", json_object_get(fcnt->attrs, "lbl"));
    if (ctx->req && ctx->req->fr) json_object_set_new(attrs, "org", json_string(ctx->req->fr));
    size_t n = strlen(fcnt->path) + strlen(rn) + 2;
    char *path = malloc(n);
    if (!path) { json_decref(attrs); return m2m_error(ctx->rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory"); }
    snprintf(path, n, "%s/%s", fcnt->path, rn);
    struct resource *fci = resource_new(TY_FCI, attrs, path);
    free(path);
    struct op_ctx inst = { .cse = ctx->cse, .req = ctx->req, .rsp = ctx->rsp, .parent = fcnt, .res = fci };
    instances_cap_age(&inst, fcnt);
    rc = store_insert(ctx->cse->store, fci);
    if (!rc) {
        instances_count_new(fcnt, fci, cs);
        cse_note_expiry(ctx->cse, res_str(fci, "et"));
    }
    resource_free(fci);
    return rc ? m2m_error(ctx->rsp, rc, "cannot store the flexContainerInstance") : 0;
}

static void set_content_size(struct resource *fcnt)
{
    json_t *custom = custom_attrs(fcnt);
    json_object_set_new(fcnt->attrs, "cs", json_integer(custom_size(custom)));
    json_decref(custom);
}

static int fcnt_create(struct op_ctx *ctx)
{
    set_content_size(ctx->res);
    if (keeps_versions(ctx->res)) {
        json_object_set_new(ctx->res->attrs, "cni", json_integer(0));
        json_object_set_new(ctx->res->attrs, "cbs", json_integer(0));
    }
    return 0;
}

/* After the flexContainer is stored: its first version. */
static int fcnt_created(struct op_ctx *ctx)
{
    if (!keeps_versions(ctx->res)) return 0;
    int rc = add_instance(ctx, ctx->res);
    if (rc) return rc;
    rc = store_update(ctx->cse->store, ctx->res);
    return rc ? m2m_error(ctx->rsp, rc, "cannot update the flexContainer") : 0;
}

static int fcnt_update(struct op_ctx *ctx)
{
    struct resource *fcnt = ctx->res;
    set_content_size(fcnt);
    if (keeps_versions(fcnt)) return add_instance(ctx, fcnt);
    if (!json_object_get(ctx->before->attrs, "cni")) return 0;
    /* mni, mbs and mia all removed: no versions any more. */
    int rc = instances_delete_all(ctx, fcnt, TY_FCI);
    if (rc) return m2m_error(ctx->rsp, rc, "cannot remove the flexContainerInstances");
    json_object_del(fcnt->attrs, "cni");
    json_object_del(fcnt->attrs, "cbs");
    return 0;
}

static int fci_delete(struct op_ctx *ctx)
{
    return ctx->parent && ctx->parent->ty == TY_FCNT ? instances_forget(ctx) : 0;
}

const struct resource_type type_flex_container = {
    .ty = TY_FCNT, .sn = "fcnt", .key = "m2m:fcnt",
    .parents = (const int[]){ TY_CSEBASE, TY_AE, TY_CNT, TY_CSR, TY_FCNT, 0 },
    .attrs = ATTRS(fcnt_attrs),
    .flags = RT_STATE_TAG | RT_CREATOR | RT_SUBSCRIBABLE | RT_ANNOUNCEABLE | RT_SPECIALIZED |
             RT_CUSTOM_ATTRS,
    .on_create = fcnt_create,
    .on_created = fcnt_created,
    .on_update = fcnt_update,
    .virtual_children = (const char *const[]){ "la", "ol", NULL },
};

const struct resource_type type_flex_container_instance = {
    .ty = TY_FCI, .sn = "fci", .key = "m2m:fci",
    .parents = (const int[]){ TY_FCNT, 0 },
    .attrs = ATTRS(fci_attrs),
    .flags = RT_NO_CREATE | RT_NO_UPDATE | RT_STATE_TAG | RT_INSTANCE | RT_SPECIALIZED |
             RT_CUSTOM_ATTRS | RT_ANNOUNCEABLE,
    .on_delete = fci_delete,
};
