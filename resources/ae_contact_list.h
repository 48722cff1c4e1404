/* The IN-CSE's <AEContactList> kept in step with the other CSEs
 * (TS-0004 7.5.1.2.16/17, docs/conformance.md): reference notifications
 * from registered CSEs in, registration-point changes out. */
#ifndef IRONBARK_AE_CONTACT_LIST_H
#define IRONBARK_AE_CONTACT_LIST_H

#include <jansson.h>

struct op_ctx;
struct cse;

/* A NOTIFY to the CSEBase whose m2m:sgn has aerid: the originator, a CSE
 * registered here over a credential bound to its CSE-ID, gained (tid2) or
 * lost (tid1), or both for a change, a reference to an AE-ID; its
 * <AEContactListPerCSE> follows. Answers 2000, or the RSC of the refusal. */
int alst_reference_notify(struct op_ctx *ctx, const json_t *sgn);

/* The AE aei deregistered from this IN-CSE: the CSEs whose ail lists it
 * are told (aerp, tid1 = aei), asynchronously, best effort. */
void alst_ae_left(struct cse *cse, const char *aei);

#endif
