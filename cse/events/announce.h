/* Announcement, the announcing side (TS-0001 10.2.18, docs/cse-to-cse.md
 * "Announcement"): a resource whose `at` lists CSE-IDs gets an announced
 * variant (…Annc, resources/announced.h) on each, kept in step with the
 * original's announced attributes and removed when a target leaves `at` or
 * the original goes. Every exchange is asynchronous (outbound_send() to
 * route_next_hop()), retried with back-off within a bound, and never holds
 * the request that caused it. Where each announced resource lives is kept
 * in the original's private attribute "@annc" ({"/id-in": "/id-in/<ri>"}). */
#ifndef IRONBARK_ANNOUNCE_H
#define IRONBARK_ANNOUNCE_H

#include "../core/op.h"
#include "../../resources/registry.h"

#include <jansson.h>

struct cse;
struct m2m_response;
struct resource;

/* The private attribute that records the announced resources. */
#define ATTR_ANNOUNCED "@annc"

/* Checks `at` and `aa` in a CREATE/UPDATE content of type t: CSE-IDs with a
 * route, not this CSE, no repeats; attributes of t that can be announced.
 * Returns 0 or 4000 with a message in rsp. */
int announce_validate(struct cse *cse, const struct resource_type *t, json_t *content,
                      struct m2m_response *rsp);

/* A write to res inside the current primitive (op CREATE, UPDATE with its
 * state before, or DELETE of res and its subtree): noted, and started by
 * announce_commit() once the primitive's transaction committed, or
 * forgotten by announce_abort(). */
void announce_note(struct cse *cse, enum m2m_op op, const struct resource *res,
                   const struct resource *before);
void announce_commit(struct cse *cse);
void announce_abort(struct cse *cse);

/* Our <remoteCSE> at csi was created afresh (a first registration, or the
 * registrar lost it: after our clean stop deregistered, or its data went),
 * and with it went every announced resource below it: each resource whose
 * "@annc" names csi is brought in step again (its UPDATE meets 4004 and it
 * is created anew). Scans the resource tree once, at re-registration. */
void announce_renew(struct cse *cse, const char *csi);

/* Ends every exchange and timer (at close or reset). */
void announce_close(struct cse *cse);

#endif
