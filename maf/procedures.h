/* The MAF's procedures (TS-0003 8.8) over the Mmaf mapping of maf/mmaf.h:
 * who may run which, what each does to the registrations. They work from
 * memory; every change is written through to maf/store.h (Kc sealed), which
 * gives them back after a restart. */
#ifndef IRONBARK_MAF_PROCEDURES_H
#define IRONBARK_MAF_PROCEDURES_H

#include "cse/core/primitive.h"

#include <stdint.h>

struct cse;

struct maf_store;

/* Reads the registrations the store kept: 0, or -1 (logged). */
int maf_service_set(const char *fqdn, int64_t max_key_us, struct maf_store *store);
/* server_profile.on_request: -1 when the target is not an Mmaf path. */
int maf_request(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp);
/* Forgets every registration and key in memory (shutdown; the store keeps them). */
void maf_forget_all(void);

#endif
