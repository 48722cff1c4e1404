/* The m2m-ppm's own resource types under its CSEBase (docs/privacy.md):
 * ppm:prf, a subscriber's privacy preferences; ppm:pol, a provider's
 * privacy policy (both a checked, versioned Annex J document, ppm/privacy.h);
 * ppm:cns, a subscriber's consent to one policy: the customised policy, the
 * differences, the decision with its time and expiry (et), and the das:rule
 * attributes it grants by (orp, trp, acop, ctw, pvl, tkn), so that the shared
 * consultation code (das/consult.h) answers for it while it is accepted;
 * ppm:dlr, a subscriber's request to delete her data at the CSE, carried
 * out as it is created, with the outcome per resource. */
#ifndef IRONBARK_PPM_RECORDS_H
#define IRONBARK_PPM_RECORDS_H

#include "settings.h"
#include "security/authz.h"

#include <stdbool.h>

extern const struct resource_type type_ppm_preferences, type_ppm_policy, type_ppm_consent, type_ppm_deletion;
/* Anyone may register a document or a consent; only its owner (own, the
 * creating originator) reads, changes or removes it; anyone reads policies. */
extern const struct authz_decider ppm_owner_decider;

/* Is the consent (ri) being withdrawn this moment? It grants nothing
 * (das_identity.suspended) while the CSE is told to drop its grants. */
bool ppm_consent_suspended(const char *ri);

#endif
