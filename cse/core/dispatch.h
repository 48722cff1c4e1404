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

#endif
