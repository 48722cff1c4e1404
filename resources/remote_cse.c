/* <remoteCSE> (ty 16): another CSE registered with this one, or this CSE's
 * registrar (TS-0001 10.2.2.4, TS-0004 7.4.4). Its ri is the other CSE's
 * CSE-ID without the leading '/' ("id-mn"), so the route to a CSE-ID is one
 * store_get (cse/core/route.h). The registree's side of registration:
 * cse/core/registration.c (docs/cse-to-cse.md). */
#include "registry.h"

#include "../cse/core/route.h"
#include "../cse/core/cse.h"
#include "../cse/core/ident.h"
#include "../cse/core/registration.h"
#include "../cse/core/rsc.h"

#include <string.h>

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI, ATTR_CSTN,
    { "cst", A_ENUM, O, NP, 1, 3 },
    { "poa", A_URILIST, O, O, 0, 0 },
    { "cb", A_URI, M, NP, 0, 0 },
    { "csi", A_ID, M, NP, 0, 0 },
    { "mei", A_STR, O, O, 0, 0 },
    { "tri", A_STR, O, O, 0, 0 },
    { "rr", A_BOOL, M, O, 0, 0 },
    { "nl", A_URI, O, O, 0, 0 },
    { "csz", A_STRLIST, O, O, 0, 0 },
    { "esi", A_OBJ, O, O, 0, 0 },
    { "srv", A_STRLIST, M, O, 0, 0 },
    { "dcse", A_URILIST, O, O, 0, 0 },
    { "trn", A_NNINT, O, O, 0, 0 },
};

/* Who may create a <remoteCSE> for csi: the admin (static peering), this
 * CSE itself (its registrar's), or the CSE csi registering itself over a
 * credential bound to that CSE-ID. SAEF (saef_check) already tied the
 * originator to the credential; here the originator must be csi, so a
 * gateway's credential registers that gateway and no other. Registration
 * passes no ACP (dispatch.c), so this is the whole gate. */
static int check_registree(struct op_ctx *ctx, const char *csi)
{
    const struct m2m_request *req = ctx->req;
    struct cse *cse = ctx->cse;
    if (req->cse_itself) return 0;
    struct ident_home home = cse_home(cse);
    if (req->fr && cse->cfg.admin[0] && ident_same(&home, req->fr, cse->cfg.admin)) return 0;
    if (!req->sec.authenticated)
        return m2m_error(ctx->rsp, RSC_SECURITY_ASSOCIATION_REQUIRED,
                         "a CSE registers over a secure transport, with a credential bound to its CSE-ID");
    if (!req->fr || !ident_same(&home, req->fr, csi))
        return m2m_error(ctx->rsp, RSC_ORIGINATOR_NOT_AUTHENTICATED,
                         "a CSE registers only itself: csi '%s' is not the originator '%s'", csi,
                         req->fr ? req->fr : "");
    return 0;
}

static int remote_cse_create(struct op_ctx *ctx)
{
    struct resource *res = ctx->res;
    const char *csi = res_str(res, "csi");
    const char *stem = route_csi_stem(csi);
    if (!stem) return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "csi must be a CSE-ID of the form /<id>");
    if (!strcmp(stem, ctx->cse->cfg.cse_id))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "csi '%s' is this CSE's own ID", csi);
    int rc = check_registree(ctx, csi);
    if (rc) return rc;
    struct resource *existing;
    if (!store_get(ctx->cse->store, stem, &existing)) {
        resource_free(existing);
        return m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_ALREADY_REGISTERED, "CSE '%s' is already registered", csi);
    }
    json_object_set_new(res->attrs, "ri", json_string(stem));
    if (!json_object_get(ctx->content, "rn")) {
        json_object_set_new(res->attrs, "rn", json_string(stem));
        json_object_set_new(ctx->modified, "rn", json_string(stem));
    }
    return 0;
}

/* A CSE registered below this one came, changed or went: our registrar
 * hears of it through dcse. Our registrar's own <remoteCSE> is no descendant. */
static int descendants_changed(struct op_ctx *ctx)
{
    const char *csi = res_str(ctx->res, "csi");
    if (!csi || strcmp(csi, ctx->cse->cfg.registrar_csi)) registration_descendants_changed(ctx->cse);
    return 0;
}

/* The registered CSE owns its <remoteCSE>: its ri is the CSE-ID's stem. */
static const char *remote_cse_owner(const struct resource *res) { return res_str(res, "csi"); }

const struct resource_type type_remote_cse = {
    .ty = TY_CSR, .sn = "csr", .key = "m2m:csr",
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_SUBSCRIBABLE | RT_REGISTERS | RT_HAS_POA | RT_ANNOUNCEABLE,
    .on_create = remote_cse_create,
    .on_created = descendants_changed,
    .on_update = descendants_changed,
    .on_delete = descendants_changed,
    .on_notify = poa_forward_notify,
    .owner = remote_cse_owner,
};
