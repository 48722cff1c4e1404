/* Internals shared by the dispatcher's files (dispatch.c, retrieve.c). */
#ifndef IRONBARK_DISPATCH_H
#define IRONBARK_DISPATCH_H

#include "cse.h"
#include "../../resources/registry.h"

/* RETRIEVE of target (discovery, conditional, partial, rcn 1/4/5/6/8). */
int op_retrieve(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                struct resource *target);

/* Builds the rcn 4/5/6/8 content for target; used by RETRIEVE and DELETE. */
int build_with_children(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                        struct resource *target, int rcn);

/* A RETRIEVE's discovery or child listing reads at most this many rows,
 * and for at most about this long, per loop round when its caller can wait
 * (cse_dispatch_async): then it yields, keeping its state in
 * req->cont->scan, and runs on in the next round, so other requests are
 * answered in between. Rows bound the slice on a fast machine, time on a
 * busy one. */
#define LISTING_ROWS_PER_ROUND 4096
#define LISTING_US_PER_ROUND 10000

/* Frees a listing's state left behind by a request that did not run on. */
void paused_scan_free(struct paused_scan *p);

#endif
