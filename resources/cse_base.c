/* <CSEBase> (ty 5): the root, created by the CSE itself at start-up. */
#include "ae_contact_list.h"
#include "registry.h"

#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/core/rsc.h"

#include <string.h>

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
    { "ctm", A_TS, NP, NP, 0, 0 },
};

/* A NOTIFY addressed to the CSE itself: verification requests, notifications
 * and results of non-blocking requests this CSE sent; nothing to do but
 * accept. Other content is no notification: over HTTP a CREATE without ty
 * arrives like this. */
static int cb_notify(struct op_ctx *ctx)
{
    static const char *const kinds[] = { "m2m:sgn", "m2m:agn", "m2m:rsp" };
    json_t *pc = ctx->req->pc;
    bool known = false;
    for (size_t i = 0; pc && i < sizeof kinds / sizeof *kinds; i++)
        known |= json_object_get(pc, kinds[i]) != NULL;
    if (!known)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "the content is no notification (m2m:sgn, m2m:agn, "
                         "m2m:rsp); a CREATE needs ty in its Content-Type");
    const json_t *sgn = json_object_get(pc, "m2m:sgn");
    if (json_object_get(sgn, "aerid")) return alst_reference_notify(ctx, sgn);
    /* Our references follow by hand for now (docs/conformance.md): logged. */
    if (json_is_true(json_object_get(sgn, "aerp")))
        log_info("%s says AE %s changed its registration point (new: %s)", ctx->req->fr ? ctx->req->fr : "?",
                 json_string_value(json_object_get(sgn, "tid1")) ? json_string_value(json_object_get(sgn, "tid1")) : "-",
                 json_string_value(json_object_get(sgn, "tid2")) ? json_string_value(json_object_get(sgn, "tid2")) : "-");
    ctx->rsp->rsc = RSC_OK;
    return 0;
}

/* currentTime (ctm): the CSE's clock, at every retrieval. */
static int cb_retrieve(struct op_ctx *ctx)
{
    ts_buf now;
    ts_format(clock_now_us(), now);
    json_object_set_new(ctx->res->attrs, "ctm", json_string(now));
    return 0;
}

const struct resource_type type_cse_base = {
    .ty = TY_CSEBASE, .sn = "cb", .key = "m2m:cb",
    .parents = (const int[]){ 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_NO_CREATE | RT_NO_UPDATE | RT_NO_DELETE | RT_NO_EXPIRY | RT_SUBSCRIBABLE | RT_ROOT,
    .on_notify = cb_notify,
    .on_retrieve = cb_retrieve,
};
