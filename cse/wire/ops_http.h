/* The operator's plain-HTTP endpoints beside the resource tree:
 * GET /__health__ (anyone: {"status":"ok",…}, for load balancers and
 * systemd-style probes) and GET /__metrics__ (the admin originator only,
 * through the SAEF gate like any request of the admin: unauthenticated
 * from loopback, authenticated from elsewhere; Prometheus text). Neither
 * is a oneM2M request: they are not counted or logged as requests. */
#ifndef IRONBARK_OPS_HTTP_H
#define IRONBARK_OPS_HTTP_H

#include "http.h"
#include "../core/primitive.h"

#include <stdbool.h>

struct cse;

/* Answers hrsp and returns true when hreq is for one of them. */
bool ops_http_handle(struct cse *cse, const struct http_request *hreq, struct http_response *hrsp);

/* What a plain-HTTP endpoint of the CSE's own reads of a request to judge
 * and answer it: RI, RVI, originator, peer and the SAEF credential. */
void ops_http_request_fields(const struct http_request *hreq, struct m2m_request *req);

#endif
