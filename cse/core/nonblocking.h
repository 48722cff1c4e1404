/* Non-blocking requests (rt 1 synch, rt 2 asynch; TS-0001 8.2.2): the CSE
 * records a <request>, acknowledges at once, executes the operation from
 * the loop, stores the result in the record and, for rt 2, notifies it. */
#ifndef IRONBARK_NONBLOCKING_H
#define IRONBARK_NONBLOCKING_H

#include "primitive.h"

struct cse;

/* Accepts req for later execution: answers 1001/1002 with the <request>'s
 * ID, or an error. */
int nonblocking_accept(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp);

/* At shutdown: frees the accepted requests whose execution has not started. */
void nonblocking_close(struct cse *cse);

#endif
