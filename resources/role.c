/* <role> (ty 31, m2m:rol): a role assigned to a holder by an issuer for a
 * time window (TS-0001 9.6.38, TS-0004 7.4.40), kept in a role repository
 * (the DAS; security/role_name.h says under which name). A CSE believes a
 * role in rids only when such a resource vouches for it. */
#include "dynauth.h"

#include "../cse/base/clock.h"
#include "../cse/core/rsc.h"
#include "../cse/core/token_syntax.h"

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_DACI, ATTR_CSTN,
    { "rlid", A_ID, M, NP, 0, 0 },
    { "tkis", A_ID, M, NP, 0, 0 },
    { "tkhd", A_ID, M, NP, 0, 0 },
    { "tknb", A_TS, M, NP, 0, 0 },
    { "tkna", A_TS, M, NP, 0, 0 },
    { "rlnm", A_STR, O, NP, 0, 0 },
    { "rltl", A_URI, O, O, 0, 0 },
};

int dynauth_check_window(struct op_ctx *ctx)
{
    int64_t nb, na;
    const char *tknb = res_str(ctx->res, "tknb"), *tkna = res_str(ctx->res, "tkna");
    if (tknb && tkna && ts_parse(tknb, &nb) && ts_parse(tkna, &na) && na < nb)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "tkna (notAfter) is before tknb (notBefore)");
    return 0;
}

int dynauth_check_id(struct op_ctx *ctx, const char *sn, const char *what)
{
    if (token_id_valid(res_str(ctx->res, sn))) return 0;
    return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "%s must be a %s 'relativeID@issuer.fqdn' (letters, digits, "
                     "'.', '_', '-'; a lowercase FQDN)", sn, what);
}

static int role_create(struct op_ctx *ctx)
{
    int rc = dynauth_check_id(ctx, "rlid", "Role-ID");
    return rc ? rc : dynauth_check_window(ctx);
}

const struct resource_type type_role = {
    .ty = TY_ROL, .sn = "rol", .key = "m2m:rol",
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_SUBSCRIBABLE | RT_RETRIEVE_READS_ONLY,
    .on_create = role_create,
};
