/* <CSEBase> (ty 5): the root, created by the CSE itself at start-up. */
#include "registry.h"

#include "../cse/core/rsc.h"

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL,
    { "lbl", A_STRLIST, NP, NP, 0, 0 },
    { "acpi", A_URILIST, NP, NP, 0, 0 },
    { "cst", A_ENUM, NP, NP, 1, 3 },
    { "csi", A_ID, NP, NP, 0, 0 },
    { "srt", A_INTLIST, NP, NP, 0, 0 },
    { "poa", A_URILIST, NP, NP, 0, 0 },
    { "nl", A_URI, NP, NP, 0, 0 },
    { "daci", A_URILIST, NP, NP, 0, 0 },
    { "csz", A_STRLIST, NP, NP, 0, 0 },
    { "esi", A_OBJ, NP, NP, 0, 0 },
    { "srv", A_STRLIST, NP, NP, 0, 0 },
};

/* A NOTIFY addressed to the CSE itself: verification requests and results
 * of non-blocking requests this CSE sent; nothing to do but accept. */
static int cb_notify(struct op_ctx *ctx)
{
    ctx->rsp->rsc = RSC_OK;
    return 0;
}

const struct resource_type type_cse_base = {
    .ty = TY_CSEBASE, .sn = "cb", .key = "m2m:cb",
    .parents = (const int[]){ 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_NO_CREATE | RT_NO_UPDATE | RT_NO_DELETE | RT_NO_EXPIRY | RT_SUBSCRIBABLE | RT_ROOT,
    .on_notify = cb_notify,
};
