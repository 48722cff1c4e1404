/* Expiry of resources (et): a sweep run by a loop timer and, when some et
 * has passed, before the next primitive (docs/architecture.md). */
#ifndef IRONBARK_EXPIRY_H
#define IRONBARK_EXPIRY_H

#include "cse.h"

/* Removes every expired resource now; returns how many were removed. */
int cse_expire_now(struct cse *cse);

/* Runs the sweep first when some et has passed, so that a request never
 * sees an expired resource (nor counters that still include one). */
void cse_expire_due(struct cse *cse);

#endif
