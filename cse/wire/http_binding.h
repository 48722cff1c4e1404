/* The oneM2M HTTP binding (TS-0009): HTTP request -> request primitive ->
 * dispatcher -> response primitive -> HTTP response. */
#ifndef IRONBARK_HTTP_BINDING_H
#define IRONBARK_HTTP_BINDING_H

#include "http.h"
#include "../core/primitive.h"

struct cse;

/* The http_handler for a CSE (data = struct cse *). */
void http_binding_handle(void *cse, const struct http_request *hreq, struct http_response *hrsp);

/* Maps an HTTP request onto a request primitive in two steps: everything
 * but the body (so that rate limits can refuse before any JSON is parsed),
 * then the body. Each returns 0, or an RSC with an explanation in rsp when
 * the request cannot become a primitive. */
int http_head_to_primitive(const struct http_request *hreq, struct m2m_request *req,
                           struct m2m_response *rsp);
int http_body_to_primitive(const struct http_request *hreq, struct m2m_request *req,
                           struct m2m_response *rsp);

/* Writes a response primitive as an HTTP response; a rate-limit refusal
 * (rsp->retry_after_s) becomes 429 Too Many Requests with Retry-After. */
void http_from_primitive(const struct m2m_request *req, const struct m2m_response *rsp,
                         struct http_response *hrsp);

#endif
