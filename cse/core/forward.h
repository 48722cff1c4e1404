/* Forwarding (TS-0004 7.3.2.6, docs/cse-to-cse.md "Forwarding"): a request
 * whose target is on another CSE leaves through the next hop (route.h) over
 * the binding its poa names, asynchronously, and the answer (RSC, content,
 * Content-Location) is the originator's answer. The originator travels in
 * SP-relative form; the CSEs passed travel in the query parameter "via"
 * (loop detection, and the SAEF check of a forwarded originator). */
#ifndef IRONBARK_FORWARD_H
#define IRONBARK_FORWARD_H

#include "primitive.h"

struct cse;

/* Answers req, addressed to another CSE: 0 (rsp holds a successful remote
 * answer), DISPATCH_PENDING (the request runs again when the answer is in),
 * or an RSC set in rsp: the remote failure as answered, 4004 when there is
 * no route (another SP, unknown CSE, a loop, or back to where it came
 * from), 4000 for a registration, 5103 when the next hop is unreachable. */
int forward_request(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp);

/* Is csi one of the CSEs in a '+'-joined via list? */
bool forward_via_has(const char *via, const char *csi);

/* The last CSE of a via list (the one that sent the request here), copied
 * into out; false when via is NULL or it does not fit. */
bool forward_via_last(const char *via, char *out, size_t cap);

#endif
