/* CSE registration, the registree's side (TS-0001 10.2.2.4, TS-0004 7.4.4;
 * docs/cse-to-cse.md): an MN/ASN-CSE with a `registrar` creates its
 * <remoteCSE> there, reads the registrar's CSEBase and keeps a local
 * <remoteCSE> for it; checks the registration every registration-check
 * (re-registering when the registrar lost it, updating poa/dcse when they
 * changed), backs off while the registrar does not answer and deregisters at
 * a clean stop. Exchanges go through outbound_send(), store work through
 * cse_in_store_fiber() (store_job.h): the loop never waits. */
#ifndef IRONBARK_REGISTRATION_H
#define IRONBARK_REGISTRATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cse;

/* The registration settings and public-poa: -1 (logged) for settings that
 * cannot work, checked before the listeners open. */
int registration_check_settings(const struct cse *cse);
/* Starts registering when cse->cfg names a registrar (no-op otherwise).
 * Returns -1 (logged) for settings that cannot work. */
int registration_start(struct cse *cse);
/* At a clean stop, with the loop still usable: DELETEs this CSE's
 * <remoteCSE> at the registrar, running the loop until it is answered or
 * wait_ms passed, then frees the state. Safe without registration_start. */
void registration_stop(struct cse *cse, int wait_ms);
/* A <remoteCSE> below this CSE came, changed or went: dcse is sent again. */
void registration_descendants_changed(struct cse *cse);

/* The registrar's CSEBase as a URL to send to ("<registrar>/~/id-in/id-in"). */
void registration_registrar_url(const struct cse *cse, char *out, size_t cap);

/* --- pure parts (unit-tested) --------------------------------------------- */

/* The delay before attempt n+1 after n failures in a row (n >= 1): 500 ms
 * doubling up to ceiling_ms. */
int64_t registration_backoff_ms(int failures, int64_t ceiling_ms);
/* Does the registrar's copy of our <remoteCSE> (have: its attributes) lack
 * what we want it to hold (want: poa, dcse, srv, rr)? Lists compare as sets. */
bool registration_differs(const json_t *have, const json_t *want);

#endif
