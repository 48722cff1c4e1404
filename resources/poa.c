/* A NOTIFY addressed to a resource with a pointOfAccess (an AE, later a
 * remoteCSE) is forwarded to it (TS-0004 7.4.1.2.2): the hook shared by the
 * types with RT_HAS_POA. */
#include "registry.h"

#include "../cse/core/cse.h"
#include "../cse/events/notify.h"
#include "../cse/core/rsc.h"

int poa_forward_notify(struct op_ctx *ctx)
{
    int rsc = notify_forward(ctx->cse, ctx->res, ctx->req);
    if (rsc == DISPATCH_PENDING) return rsc;
    if (rsc == RSC_TARGET_NOT_REACHABLE)
        return m2m_error(ctx->rsp, rsc, "no point of access of '%s' answered", res_ri(ctx->res));
    if (!rsc_is_success(rsc)) return m2m_error(ctx->rsp, rsc, "the notification target answered %d", rsc);
    ctx->rsp->rsc = rsc;
    return 0;
}
