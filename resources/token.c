/* <token> (ty 32, m2m:tk): a token kept in a token repository (TS-0001
 * 9.6.39, TS-0004 7.4.41), so a CSE given only its ID (tids) can fetch it.
 * The object itself (tkob) is verified where it is used (security/token.h);
 * here only its shape and the claims' types are checked. */
#include "dynauth.h"

#include "../cse/core/rsc.h"
#include "../cse/core/token_syntax.h"
#include "../security/acr.h"

#include <string.h>

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_DACI, ATTR_CSTN,
    { "tkid", A_ID, M, NP, 0, 0 },
    { "tkob", A_ID, M, NP, 0, 0 },
    { "vr", A_STR, O, NP, 0, 0 },
    { "tkis", A_ID, O, NP, 0, 0 },
    { "tkau", A_URILIST, O, NP, 0, 0 },
    { "tkhd", A_ID, O, NP, 0, 0 },
    { "tknb", A_TS, O, NP, 0, 0 },
    { "tkna", A_TS, O, NP, 0, 0 },
    { "tknm", A_STR, O, NP, 0, 0 },
    { "tkps", A_OBJ, O, NP, 0, 0 },
    { "tkex", A_STR, O, NP, 0, 0 },
};

static bool all_role_ids(json_t *list)
{
    size_t i;
    json_t *id;
    if (!json_is_array(list)) return false;
    json_array_foreach(list, i, id)
        if (!json_is_string(id) || !token_id_valid(json_string_value(id))) return false;
    return true;
}

/* m2m:tokenPermissions (TS-0004 6.3.5.41): {"pm": [{ris?, pv?, rids?}]},
 * each entry with pv or rids, and ris wherever pv is. */
static int check_permissions(struct op_ctx *ctx, json_t *tkps)
{
    json_t *pm = json_object_get(tkps, "pm"), *p;
    size_t i;
    if (!json_is_array(pm) || json_object_size(tkps) != 1)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "tkps must be {\"pm\": [permissions]}");
    json_array_foreach(pm, i, p) {
        json_t *ris = json_object_get(p, "ris"), *pv = json_object_get(p, "pv"), *rids = json_object_get(p, "rids");
        if (!json_is_object(p) || (!pv && !rids))
            return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "tkps.pm[%zu] needs pv or rids", i);
        if (pv && !json_is_array(ris))
            return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "tkps.pm[%zu] has pv without ris", i);
        if (rids && !all_role_ids(rids))
            return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "tkps.pm[%zu].rids must be a list of Role-IDs", i);
        if (pv) {
            char err[256];
            struct acr_set *set = acr_parse(pv, NULL, NULL, err, sizeof err);
            if (!set) return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "tkps.pm[%zu].pv: %s", i, err);
            acr_free(set);
        }
    }
    return 0;
}

static int token_create(struct op_ctx *ctx)
{
    int rc = dynauth_check_id(ctx, "tkid", "Token-ID");
    if (rc) return rc;
    if (!compact_jwt_valid(res_str(ctx->res, "tkob")))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST,
                         "tkob must be a compact JWS (3 base64url parts) or JWE (5 parts)");
    json_t *tkps = json_object_get(ctx->res->attrs, "tkps");
    rc = tkps ? check_permissions(ctx, tkps) : 0;
    return rc ? rc : dynauth_check_window(ctx);
}

const struct resource_type type_token = {
    .ty = TY_TK, .sn = "tk", .key = "m2m:tk",
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_SUBSCRIBABLE | RT_RETRIEVE_READS_ONLY,
    .on_create = token_create,
};
