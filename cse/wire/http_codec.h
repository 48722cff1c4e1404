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
 * (when fr is set), X-M2M-RI, X-M2M-RVI (rvi, else "3"), X-M2M-EC, X-M2M-RQET,
 * -RSET, -OET, -VSI (each when set), Authorization (tokens, when set), Content-Type (application/json, with ;ty= on CREATE) when has_body
 * or the operation needs one, Accept. Returns the length written, or -1
 * when it does not fit (or the operation is unknown). */
int http_codec_headers(const struct m2m_request *req, bool has_body, char *out, size_t cap);

/* The query items of the dynamic-authorization parameters (tids, ltids,
 * rids, tqi; TS-0009 6.2.2.2) as "k=v&k=v" without a leading '?' or '&',
 * percent-encoded; "" when there are none. Returns the length, or -1 when
 * it does not fit. (tkns goes in the Authorization header, see above.) */
int http_codec_query(const struct m2m_request *req, char *out, size_t cap);

/* The X-M2M-ATI header of an answer (NULL when absent) checked and written
 * back as canonical "lti:tkid+lti:tkid" into out. Returns its length, 0
 * when absent, -1 when malformed or too long. */
int http_codec_ati(const char *header, char *out, size_t cap);

/* The RSC of an HTTP answer: the X-M2M-RSC header (its value, NULL when
 * absent) when it holds a number, else derived from the status. */
int http_codec_rsc(int status, const char *rsc_header);

#endif
