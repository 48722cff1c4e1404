/* SAEF identity binding (TS-0003 8.2, TS-0004 7.3.2.1): a secured connection
 * yields a Credential-ID; every request over it, AE registration included,
 * must come from an originator that credential may speak for. */
#ifndef IRONBARK_SAEF_H
#define IRONBARK_SAEF_H

#include "../cse/core/primitive.h"

struct cse;

/* Records the binding's authenticated Credential-ID (NULL = none) in req->sec. */
void saef_bind(struct m2m_request *req, const char *credential_id);

/* The identity gate, run before addressing and ACPs. Returns 0, or an RSC
 * (4106 ORIGINATOR_NOT_AUTHENTICATED, 4107 SECURITY_ASSOCIATION_REQUIRED)
 * already set in rsp. */
int saef_check(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp);

/* The Credential-ID of a request that arrived sealed in an ESPrim object
 * (security/esprim.h): this prefix and the pairwise key's ID. Internal to
 * this CSE: TS-0003 numbers no credential type for it. */
#define SAEF_ESPRIM_PREFIX "esprim-"

/* Does a comma-separated originator pattern list (as a credential holds)
 * allow this originator, comparing absolute forms (cse/ident.h)? */
bool saef_patterns_allow(struct cse *cse, const char *patterns, const char *originator);

#endif
