/* Access control: one decision function for every operation. */
#ifndef IRONBARK_ACL_H
#define IRONBARK_ACL_H

#include "../cse/primitive.h"
#include "../cse/resource.h"

struct cse;

/* accessControlOperations bits (TS-0004 6.3.4.2.x). */
enum acop {
    ACOP_CREATE = 1, ACOP_RETRIEVE = 2, ACOP_UPDATE = 4, ACOP_DELETE = 8,
    ACOP_NOTIFY = 16, ACOP_DISCOVERY = 32,
};

/* May the request's originator perform `acop` on `target`? Returns 0 when
 * granted, RSC_ORIGINATOR_HAS_NO_PRIVILEGE when denied. */
int acl_check(struct cse *cse, const struct m2m_request *req, const struct resource *target, int acop);

#endif
