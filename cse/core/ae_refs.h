/* References this CSE holds to AEs registered at other CSEs, reported to the
 * IN-CSE's <AEContactList> (TS-0004 7.5.1.2.17, docs/cse-to-cse.md): a
 * registered MN/ASN-CSE NOTIFYs its registrar with {"m2m:sgn": {"aerid":
 * true, "tid1": <no longer referenced>, "tid2": <now referenced>}}, one
 * notification at a time, in order, retried with back-off while the
 * registrar does not answer or does not know us yet. The references are
 * the originators (acor) of this CSE's ACPs that are AE-IDs of another CSE. */
#ifndef IRONBARK_AE_REFS_H
#define IRONBARK_AE_REFS_H

#include <jansson.h>

struct cse;
struct ident_home;
struct resource;

/* A resource that may hold AE references came (before NULL), changed or
 * went (after NULL): the registrar hears of the references gained and of
 * those lost that no other resource here still holds. No-op on a CSE
 * without a registrar. */
void ae_refs_changed(struct cse *cse, const struct resource *before, const struct resource *after);
/* Notifications not yet answered are dropped (logged at info). */
void ae_refs_close(struct cse *cse);

/* --- pure (unit-tested) ---------------------------------------------------- */

/* The AE-IDs of other CSEs of this SP that r references, SP-relative
 * ("/id-in/Cae"), each once; an empty array when none. */
json_t *ae_refs_foreign(const struct ident_home *home, const struct resource *r);

#endif
