/* MAF-distributed keys the CSE looks up by Key Identifier outside (D)TLS:
 * an ESPrim object whose kid is <RelativeKeyID>@<maf-fqdn> (TS-0003
 * 8.4.2, key from the MAF, SUID 33). The key is asked for with MAF Key
 * Retrieval (RETRIEVE <maf-url>/mafKeyReg/<RelativeKeyID>) through
 * notify_ask(), so the request waits on the loop (DISPATCH_PENDING) and runs
 * again with the answer; it is accepted only when it is for the asked usage
 * and lists this CSE among its targets, bound to its Source MAF Client ID,
 * and kept until its expirationTime. The (D)TLS identities of the MAF are
 * security/enrol_target.h's. */
#ifndef IRONBARK_MAF_KEYS_H
#define IRONBARK_MAF_KEYS_H

#include "credentials.h"

#include "../cse/core/primitive.h"

#define MAF_SUID_ESPRIM 33   /* m2m:suid: a MAF-distributed key for ESPrim */

struct cse;

/* -1: kid is no Key Identifier of the configured MAF (look elsewhere);
 * 0: out holds the key (identity kid, originators the source's ID);
 * DISPATCH_PENDING: asked, the request runs again; otherwise an RSC in rsp
 * (unknown_rsc when the MAF gives no usable key, audited). */
int maf_key_lookup(struct cse *cse, const struct m2m_request *req, const char *kid, int suid, int unknown_rsc,
                   struct cred_psk *out, struct m2m_response *rsp);
/* A key maf_key_lookup got and still holds (the SAEF gate's check of the
 * inner originator): 0, or -1. */
int maf_key_cached(struct cse *cse, const char *kid, int suid, struct cred_psk *out);
/* Forgets the CSE's cached keys, wiping them (shutdown). */
void maf_keys_clear(struct cse *cse);

#endif
