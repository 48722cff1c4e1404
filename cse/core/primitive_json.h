/* Request and response primitives as JSON objects (TS-0004 8.3, the
 * m2m:requestPrimitive / m2m:responsePrimitive short names): how a primitive
 * travels inside another one, e.g. sealed in an ESPrim object
 * (security/esprim.h). Only the parameters an end-to-end primitive needs:
 * op, to, fr, rqi, rvi, ty, pc, rcn, ot, rqet, rset, drt; rsc, rqi, pc, rvi. */
#ifndef IRONBARK_PRIMITIVE_JSON_H
#define IRONBARK_PRIMITIVE_JSON_H

#include "primitive.h"

/* {"op":..,"to":..,...}: a new object. */
json_t *request_to_json(const struct m2m_request *req);
/* Fills req (m2m_request_init'ed) from j. 0, or RSC_BAD_REQUEST with the
 * reason in err. req owns what it holds either way (m2m_request_clear). */
int request_from_json(const json_t *j, struct m2m_request *req, char *err, size_t cap);

json_t *response_to_json(const struct m2m_response *rsp, const char *rvi);
/* Fills rsp (m2m_response_init'ed; rsp->rqi then points into j, borrowed).
 * 0 or RSC_BAD_REQUEST. */
int response_from_json(const json_t *j, struct m2m_response *rsp, char *err, size_t cap);

#endif
