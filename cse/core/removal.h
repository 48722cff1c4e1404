/* Removing a resource with its subtree (DELETE and expiry). */
#ifndef IRONBARK_REMOVAL_H
#define IRONBARK_REMOVAL_H

#include "cse.h"

/* Runs the type's delete hook (which sees req and may refuse, e.g. disr),
 * removes the subtree, and notes the subscriptions that leave with it.
 * Must run inside a store transaction. Returns 0 or an RSC set in rsp. */
int removal_delete(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                   struct resource *res);

/* The same without a request: the CSE removes it on its own (expiry). */
int cse_delete_resource(struct cse *cse, struct resource *res, struct m2m_response *rsp);

#endif
