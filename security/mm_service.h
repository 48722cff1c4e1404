/* What the MEF's and the MAF's procedures share (mef/procedures.c,
 * maf/procedures.c): refusals audited and answered with the reason, grants
 * audited, the PSK credential of the handshake, absolute target IDs. */
#ifndef IRONBARK_MM_SERVICE_H
#define IRONBARK_MM_SERVICE_H

#include "../cse/core/primitive.h"

#include <stdbool.h>
#include <stddef.h>

struct cse;

/* Audits the refusal (decider "mef"/"maf"), logs it and answers rsc with the reason. */
int mm_refuse(struct cse *cse, const char *decider, const struct m2m_request *req, struct m2m_response *rsp, int rsc,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* "create", "retrieve", ... for the audit and the messages. */
const char *mm_op_name(const struct m2m_request *req);
void mm_granted(struct cse *cse, const char *decider, const struct m2m_request *req, const char *what);
/* The PSK identity of the request's authenticated (D)TLS session, or NULL. */
const char *mm_psk_of(const struct m2m_request *req);
/* id (a CSE-ID or AE-ID in any form) in its absolute form; false if it is not one. */
bool mm_absolute_id(struct cse *cse, const char *id, char *out, size_t cap);

#endif
