/* <accessControlPolicy> (ty 1, m2m:acp): privilege sets that other resources
 * link through acpi (TS-0001 9.6.2, TS-0004 7.4.2). The rules are evaluated
 * by security/acl.c; this file only keeps stored ACPs well-formed. */
#include "registry.h"

#include "../cse/core/ae_refs.h"
#include "../cse/core/rsc.h"
#include "../security/acr.h"

#include <string.h>

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_AT, ATTR_AA,
    { "pv", A_OBJ, M, O, 0, 0 },
    { "pvs", A_OBJ, M, O, 0, 0 },
    { "adri", A_URILIST, O, O, 0, 0 },
    { "apri", A_URILIST, O, O, 0, 0 },
    { "airi", A_URILIST, O, O, 0, 0 },
};

static int check_set(struct op_ctx *ctx, const char *sn, bool need_rule)
{
    char err[256];
    struct acr_set *set = acr_parse(json_object_get(ctx->res->attrs, sn), NULL, NULL, err, sizeof err);
    if (!set) return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "%s: %s", sn, err);
    int n = acr_count(set);
    acr_free(set);
    if (need_rule && n == 0)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "%s must contain at least one rule", sn);
    return 0;
}

/* Validates the merged resource, so CREATE and UPDATE share the rules. */
static int acp_validate(struct op_ctx *ctx)
{
    int rc = check_set(ctx, "pv", false);
    if (!rc) rc = check_set(ctx, "pvs", true);
    if (!rc && json_object_get(ctx->res->attrs, "adri") && json_object_get(ctx->res->attrs, "apri"))
        rc = m2m_error(ctx->rsp, RSC_BAD_REQUEST, "adri and apri must not be present together");
    return rc;
}

/* "dacp-" names the dynamic ACPs of direct dynamic authorization, which
 * the DAS decider honours under the resource they are children of
 * (security/das.h): only the CSE itself may make one. */
static int acp_create(struct op_ctx *ctx)
{
    const char *rn = json_string_value(json_object_get(ctx->content, "rn"));
    if (rn && !strncmp(rn, "dacp-", 5) && !ctx->req->cse_itself)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "resourceName prefix 'dacp-' is reserved for dynamic ACPs");
    return acp_validate(ctx);
}

/* Originators that are AEs of other CSEs: the IN-CSE keeps count (ae_refs.h). */
static int acp_created(struct op_ctx *ctx)
{
    ae_refs_changed(ctx->cse, NULL, ctx->res);
    return 0;
}

static int acp_update(struct op_ctx *ctx)
{
    int rc = acp_validate(ctx);
    if (!rc) ae_refs_changed(ctx->cse, ctx->before, ctx->res);
    return rc;
}

static int acp_delete(struct op_ctx *ctx)
{
    ae_refs_changed(ctx->cse, ctx->res, NULL);
    return 0;
}

const struct resource_type type_acp = {
    .ty = TY_ACP, .sn = "acp", .key = "m2m:acp",
    .parents = (const int[]){ TY_CSEBASE, TY_AE, TY_CSR, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_SUBSCRIBABLE | RT_ANNOUNCEABLE,
    .on_create = acp_create,
    .on_created = acp_created,
    .on_update = acp_update,
    .on_delete = acp_delete,
};
