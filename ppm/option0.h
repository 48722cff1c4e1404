/* Option 0 of TS-0003 11.3.3 (docs/privacy.md, "Option 0"): the PPM, as an
 * AE of the CSE (ppm-ae), turns an accepted consent into an
 * <accessControlPolicy> under its own AE — the consented operations for the
 * provider's originators, within the consented windows (actw), expiring
 * with the consent — and links it into the acpi of each resource the
 * consent covers; a withdrawal, change, removal or expiry unlinks and
 * removes it. The work runs after the consent's request, one request to
 * the CSE at a time, from the stored consent: what is stored is what is
 * enforced. The outcome is recorded in the consent's enf: {"acp": its ID at
 * the CSE, absent once removed, "linked": [resources], "failed": [{"ri",
 * "what", "rsc"}], "at"}, by an UPDATE of the PPM's own. */
#ifndef IRONBARK_PPM_OPTION0_H
#define IRONBARK_PPM_OPTION0_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cse;

/* Brings the CSE in line with consent ri after a change. was_data: the
 * resources it covered before (cpol.data; NULL for a new consent), so
 * those it no longer covers are unlinked. Nothing when ppm-ae is empty. */
void ppm_option0_sync(struct cse *cse, const char *ri, json_t *was_data);

/* on_start: watches the expiry of the consents granting now. */
void ppm_option0_start(struct cse *cse);

/* The URL of consent ri's ACP at the CSE (under the PPM's AE). */
void ppm_option0_acp_url(const char *ri, char *out, size_t cap);

/* Drops the queued work (on_stop). */
void ppm_option0_stop(struct cse *cse);

/* A consent's end (cet, µs) as an expiry scan at now sees it, consents
 * ending up to seen having been handled by the scans before: handled,
 * due now (its ACP is unlinked), or ahead (watched). */
enum ppm_consent_end { PPM_END_HANDLED, PPM_END_DUE, PPM_END_AHEAD };
enum ppm_consent_end ppm_option0_end_of(int64_t cet, int64_t seen, int64_t now);

/* The delay (ms) of a loop timer that must not run before `at` (µs); 0 when past. */
int64_t ppm_option0_timer_ms(int64_t at, int64_t now);

#endif
