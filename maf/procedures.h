/* The MAF's procedures (TS-0003 8.8) over the Mmaf mapping of maf/mmaf.h:
 * who may run which, what each does to the registrations. Registrations and
 * keys live in memory only (docs/decisions.md): a restart forgets them and
 * clients register again. */
#ifndef IRONBARK_MAF_PROCEDURES_H
#define IRONBARK_MAF_PROCEDURES_H

#include "cse/core/primitive.h"

#include <stdint.h>

struct cse;

void maf_service_set(const char *fqdn, int64_t max_key_us);
/* server_profile.on_request: -1 when the target is not an Mmaf path. */
int maf_request(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp);
/* Forgets every registration and key (shutdown). */
void maf_forget_all(void);

#endif
