/* <dynamicAuthorizationConsultation> (ty 34, m2m:dac): where a Hosting CSE
 * sends a consultation when its ACPs deny (TS-0001 9.6.40, TS-0004 7.4.36).
 * Resources link to it through daci; security/das.c does the consulting,
 * this file keeps a stored <dac> usable: dap is never absent or empty. */
#include "dynauth.h"

#include "../cse/core/rsc.h"

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_DACI, ATTR_CSTN,
    { "dae", A_BOOL, M, O, 0, 0 },
    { "dap", A_URILIST, M, O, 0, 0 },
    { "dal", A_TS, O, O, 0, 0 },
};

/* On the merged resource, so CREATE and UPDATE share the rule: a <dac> with
 * no point of access would be consulted and could never answer. */
static int dac_validate(struct op_ctx *ctx)
{
    if (!json_array_size(json_object_get(ctx->res->attrs, "dap")))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST,
                         "dap (dynamicAuthorizationPoA) must be a non-empty list of URIs");
    return 0;
}

const struct resource_type type_dynamic_authorization_consultation = {
    .ty = TY_DAC, .sn = "dac", .key = "m2m:dac",
    .parents = (const int[]){ TY_CSEBASE, TY_AE, TY_CSR, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_SUBSCRIBABLE | RT_RETRIEVE_READS_ONLY,
    .on_create = dac_validate,
    .on_update = dac_validate,
};
