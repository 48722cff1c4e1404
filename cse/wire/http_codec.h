/* The oneM2M HTTP binding (TS-0009) in the other direction, for requests
 * the CSE (and the m2m client) send: request primitive -> HTTP method and
 * header lines, HTTP answer -> RSC. Pure functions, no sockets; the
 * senders (cse/events/outbound.c, tools/client_http.c) add the request
 * line, Host and Content-Length and carry the bytes. */
#ifndef IRONBARK_HTTP_CODEC_H
#define IRONBARK_HTTP_CODEC_H

#include "../core/primitive.h"

#include <stdbool.h>
#include <stddef.h>

/* The method of an operation ("POST" for CREATE and NOTIFY), NULL when
 * there is none. */
const char *http_codec_method(enum m2m_op op);

/* The header lines (each ending in \r\n) that carry req: X-M2M-Origin
 * (when fr is set), X-M2M-RI, X-M2M-RVI (rvi, else "3"), X-M2M-EC (when
 * set), Content-Type (application/json, with ;ty= on CREATE) when has_body
 * or the operation needs one, Accept. Returns the length written, or -1
 * when it does not fit (or the operation is unknown). */
int http_codec_headers(const struct m2m_request *req, bool has_body, char *out, size_t cap);

/* The RSC of an HTTP answer: the X-M2M-RSC header (its value, NULL when
 * absent) when it holds a number, else derived from the status. */
int http_codec_rsc(int status, const char *rsc_header);

#endif
