/* <AE> (ty 2): application registration (TS-0001 10.2.2.2, TS-0004 7.4.5). */
#include "ae_contact_list.h"
#include "node.h"

#include "../cse/core/address.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../security/esprim.h"

#include <string.h>

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI, ATTR_CSTN,
    { "apn", A_STR, O, O, 0, 0 },
    { "api", A_ID, M, NP, 0, 0 },
    { "aei", A_ID, NP, NP, 0, 0 },
    { "poa", A_URILIST, O, O, 0, 0 },
    { "or", A_URI, O, O, 0, 0 },
    { "nl", A_URI, O, O, 0, 0 },
    { "rr", A_BOOL, M, O, 0, 0 },
    { "csz", A_STRLIST, O, O, 0, 0 },
    { "esi", A_OBJ, O, O, 0, 0 },
    { "mei", A_STR, O, O, 0, 0 },
    { "srv", A_STRLIST, M, O, 0, 0 },
    { "regs", A_ENUM, O, O, 1, 2 },
    { "trps", A_BOOL, O, O, 0, 0 },
    { "scp", A_LIST, O, O, 0, 0 },
    { "tren", A_BOOL, O, O, 0, 0 },
    { "ape", A_LIST, O, O, 0, 0 },
    { "tri", A_STR, O, O, 0, 0 },
    { "trn", A_NNINT, O, O, 0, 0 },
};

/* App-ID: 'R' (registered) or 'N' (non-registered); lower-case 'r' was
 * tolerated up to Release 3. */
static bool valid_app_id(const char *api, const char *rvi)
{
    if (api[0] == 'R' || api[0] == 'N') return true;
    return api[0] == 'r' && rvi && (!strcmp(rvi, "2a") || !strcmp(rvi, "3"));
}

/* csz holds media types (TS-0004 m2m:serializations); the short names
 * earlier versions of this CSE took are still read. */
static const char *const serializations[] = {
    "application/json", "application/xml", "application/cbor", "json", "xml", "cbor",
};

static bool valid_csz(json_t *csz)
{
    size_t i;
    json_t *v;
    json_array_foreach(csz, i, v) {
        bool ok = false;
        for (size_t k = 0; k < sizeof serializations / sizeof *serializations; k++)
            ok |= json_is_string(v) && !strcmp(json_string_value(v), serializations[k]);
        if (!ok) return false;
    }
    return true;
}

/* csz and esi (m2m:e2eSecInfo), as created or updated. */
static int check_serialization_and_security(struct op_ctx *ctx)
{
    json_t *csz = json_object_get(ctx->res->attrs, "csz");
    if (csz && !valid_csz(csz))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "csz entries must be application/json, application/xml or application/cbor");
    json_t *esi = json_object_get(ctx->res->attrs, "esi");
    char err[200];
    if (esi && !json_is_null(esi) && esprim_esi_check(esi, err, sizeof err))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "%s", err);
    return 0;
}

/* "/<cse-id>" or "//<sp-id>/<cse-id>": a CSE speaking, not an AE. */
static bool is_cse_id(const char *fr)
{
    if (fr[0] != '/') return false;
    const char *p = fr[1] == '/' ? strchr(fr + 2, '/') : fr;
    return p && p[1] && !strchr(p + 1, '/');
}

static int ae_create(struct op_ctx *ctx)
{
    const struct m2m_request *req = ctx->req;
    struct resource *res = ctx->res;
    const char *api = res_str(res, "api");
    if (!valid_app_id(api, req->rvi))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "api must start with 'R' or 'N'");
    int rc = check_serialization_and_security(ctx);
    if (rc) return rc;

    /* The AE-ID stem: chosen by the CSE for an empty, "C" or "S" originator,
     * taken as is for a pre-provisioned or re-registering C.../S... stem. */
    const char *fr = req->fr ? req->fr : "";
    char stem[128];
    if (!*fr || !strcmp(fr, "C") || !strcmp(fr, "S")) {
        cse_new_id(fr[0] == 'S' ? "S" : "C", stem, sizeof stem);
    } else if ((fr[0] == 'C' || fr[0] == 'S') && strlen(fr) < sizeof stem &&
               address_valid_segment(fr, strlen(fr))) {
        strcpy(stem, fr);
    } else if (is_cse_id(fr) && !req->sec.authenticated) {
        /* TS-0004 7.3.2.1: a CSE-ID without a security association. */
        return m2m_error(ctx->rsp, RSC_SECURITY_ASSOCIATION_REQUIRED,
                         "originator '%s' is a CSE-ID: it needs a security association", fr);
    } else {
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST,
                         "originator '%s' is not an AE-ID stem (C... or S...) for registration", fr);
    }
    struct resource *existing;
    if (!store_get(ctx->cse->store, stem, &existing)) {
        resource_free(existing);
        return m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_ALREADY_REGISTERED,
                         "originator '%s' is already registered", stem);
    }
    json_object_set_new(res->attrs, "ri", json_string(stem));
    json_object_set_new(res->attrs, "aei", json_string(stem));
    json_object_set_new(ctx->modified, "aei", json_string(stem));
    if (!json_object_get(ctx->content, "rn")) {
        json_object_set_new(res->attrs, "rn", json_string(stem));
        json_object_set_new(ctx->modified, "rn", json_string(stem));
    }
    const char *nl = res_str(res, "nl");
    return nl ? node_link_ae(ctx, nl, stem, true) : 0;
}

/* A changed nl moves the AE from the old node's hael to the new one's. */
static int relink_node(struct op_ctx *ctx)
{
    const char *was = res_str(ctx->before, "nl"), *now = res_str(ctx->res, "nl");
    if ((!was && !now) || (was && now && !strcmp(was, now))) return 0;
    const char *aei = res_ri(ctx->res);
    int rc = was ? node_link_ae(ctx, was, aei, false) : 0;
    return !rc && now ? node_link_ae(ctx, now, aei, true) : rc;
}

static int ae_update(struct op_ctx *ctx)
{
    int rc = check_serialization_and_security(ctx);
    return rc ? rc : relink_node(ctx);
}

/* A deregistered AE leaves its node's hael. */
static int ae_delete(struct op_ctx *ctx)
{
    const char *nl = res_str(ctx->res, "nl");
    /* Deregistered: the CSEs referencing it hear so from the IN-CSE. */
    alst_ae_left(ctx->cse, res_str(ctx->res, "aei") ? res_str(ctx->res, "aei") : res_ri(ctx->res));
    return nl ? node_link_ae(ctx, nl, res_ri(ctx->res), false) : 0;
}

/* An AE's ri is its AE-ID: it owns itself. */
static const char *ae_owner(const struct resource *res) { return res_ri(res); }

/* An inactive AE (regs=INACTIVE) drops out of discovery with its subtree
 * (TS-0001 10.2.2.2). */
static bool ae_hidden(const struct resource *res, const struct m2m_request *req)
{
    return req->fc.fu == 1 && res_int(res, "regs", 1) == 2;
}

const struct resource_type type_ae = {
    .ty = TY_AE, .sn = "ae", .key = "m2m:ae",
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_SUBSCRIBABLE | RT_REGISTERS | RT_HAS_POA | RT_ANNOUNCEABLE,
    .on_create = ae_create,
    .on_update = ae_update,
    .on_delete = ae_delete,
    .on_notify = poa_forward_notify,
    .owner = ae_owner,
    .hidden = ae_hidden,
};
