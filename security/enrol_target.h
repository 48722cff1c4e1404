/* The CSE as an enrolment target (TS-0003 8.3.2.1): a device presents a
 * PSK identity <KeID>@<mef-fqdn> the CSE does not hold. The (D)TLS PSK
 * callback cannot wait, so that first handshake fails; meanwhile the CSE
 * fetches the key from the MEF (RETRIEVE <mef-url>/fetchCredentials/<KeID>/22,
 * or /21 in m2m-maf, whose clients' Km the MEF provisions: cfg.mef_fetch_suid;
 * through the asynchronous outbound path, authenticated by outbound-psk)
 * and lends it to the credential store (cred_lease_psk) bound to the
 * Enrolee-ID the MEF vouches for, until its Lifetime. The device's retry
 * succeeds. docs/decisions.md, "Enrolment target".
 * A MAF is a second source, the same way (MAF-based SAEF, TS-0003 8.2.2.3):
 * an identity <RelativeKeyID>@<maf-fqdn> is looked up with MAF Key Retrieval
 * (RETRIEVE <maf-url>/mafKeyReg/<RelativeKeyID>), accepted only when the key
 * is for an SAEF (SUID 32) and lists this CSE among its targetIDs, and bound
 * to the Source MAF Client ID. */
#ifndef IRONBARK_ENROL_TARGET_H
#define IRONBARK_ENROL_TARGET_H

struct cse;

/* With mef-fqdn and mef-url (or maf-fqdn and maf-url) set and a credential store: starts watching
 * unknown identities. 0, or -1 (logged) on a bad setting. */
int enrol_target_open(struct cse *cse);
/* Fetches still under way are forgotten (their answers only free memory). */
void enrol_target_close(struct cse *cse);

/* Is identity a KeID of this MEF, or a Key Identifier of this MAF ("<32 hex>@<fqdn>", hex any case)? */
#include <stdbool.h>
bool enrol_target_is_keid(const char *identity, const char *mef_fqdn);

#endif
