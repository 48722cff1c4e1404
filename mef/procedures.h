/* The MEF's procedures (TS-0003 8.3.2.1, 8.3.5) over the Mmef mapping of
 * mmef.h: who may run which, what each does to the records. */
#ifndef IRONBARK_MEF_PROCEDURES_H
#define IRONBARK_MEF_PROCEDURES_H

#include "cse/core/primitive.h"

#include <stdbool.h>
#include <stdint.h>

struct cse;
struct mef_records;

struct mef_service {
    struct mef_records *records;
    const char *fqdn;            /* MEF-FQDN: the host part of every KeID */
    int64_t max_enrolment_us;    /* longest Enrolment Expiry granted */
};

void mef_service_set(const struct mef_service *s);
const struct mef_service *mef_service(void);

/* server_profile.on_request: -1 when the target is not an Mmef path. */
int mef_request(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp);

/* server_profile.on_http: EST under /.well-known/est/ (mef/est_service.c). */
struct http_request;
struct http_response;
bool mef_http(struct cse *cse, const struct http_request *h, struct http_response *out);
/* Rewrites <data-dir>/tls/crl.pem from the revoked certificates: 0 or -1 (logged). */
int mef_publish_crl(struct cse *cse);

#endif
