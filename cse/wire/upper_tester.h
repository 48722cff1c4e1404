/* The conformance upper tester (in the form ACME documents; TS-0019 names
 * the idea): `POST /__ut__` with an `X-M2M-UTCMD: <command> [args]` header
 * drives the CSE between test cases. Commands: Reset, Status,
 * enableShortResourceExpiration <s>, disableShortResourceExpiration;
 * results beyond the RSC go back in X-M2M-UTRSP. Off unless the
 * `upper-tester` setting is on, and then only on a loopback http-host
 * unless `upper-tester-remote` is on too (docs/conformance.md). */
#ifndef IRONBARK_UPPER_TESTER_H
#define IRONBARK_UPPER_TESTER_H

#include "http.h"
#include "../core/cse.h"
#include "../core/primitive.h"

#include <stdbool.h>
#include <stddef.h>

struct cse;

/* Is this request for the upper tester, and is it served here? When it is
 * not, the request goes on as any other (to an unknown path), so a
 * CSE with the upper tester off shows nothing of it. */
bool upper_tester_addressed(const struct cse *cse, const struct http_request *hreq);

/* Runs the command: fills req (rqi, rvi, originator, peer: what the answer
 * echoes) and rsp, and utrsp (capacity cap) with the X-M2M-UTRSP value, ""
 * for none. 0: rsp is final. 1: a Reset waits for a store that waits for a
 * server (cse_reset_async); done(data) follows from the loop with rsp
 * filled (no UTRSP), or abandon(data) when the CSE closes first. done NULL:
 * it never waits. */
int upper_tester_run(struct cse *cse, const struct http_request *hreq, struct m2m_request *req,
                     struct m2m_response *rsp, char *utrsp, size_t cap, cse_done_fn *done, cse_done_fn *abandon,
                     void *data);

#endif
