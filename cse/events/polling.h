/* Polling channels (TS-0001 9.6.21, TS-0004 7.4.21): requests for an entity
 * the CSE cannot send to (no usable poa, or requestReachability false) wait at
 * its <pollingChannel>; the entity long-polls <pch>/pcu (RETRIEVE) for the
 * oldest, as an m2m:rqp, and answers it with its m2m:rsp in a NOTIFY to pcu.
 * The queue and the parked polls live in memory, bounded (pch-queue,
 * pch-max-polls); with a shared store (PostgreSQL) the queue is in the
 * database, so a long poll on any front-end takes it (docs/scale-out.md); nothing here blocks: a parked poll is a deferred request
 * (cse_dispatch_async), a queued request is answered through the same
 * callback as a sender's (outbound.h), always later from the loop.
 * docs/subscriptions.md, "Polling channels". */
#ifndef IRONBARK_POLLING_H
#define IRONBARK_POLLING_H

#include "outbound.h"

#include "../core/primitive.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct cse;

/* Is target (an entity ID; a URL never is) reached through its
 * <pollingChannel>: it has one, and either has_url is false (no usable poa)
 * or its requestReachability is false? Then *pch (cap bytes) is the
 * channel's ri. */
bool polling_channel_of(struct cse *cse, const char *target, bool has_url, char *pch, size_t cap);

/* Queues r (its primitive and body) at channel pch for the entity target.
 * done learns the entity's answer (rsc and content), or rsc 4008 when it was
 * not polled and answered within pch-request-timeout, or 5103 when it was
 * dropped (queue bound, channel deleted, CSE closing, the shared store
 * refused it); never from inside this call. -1 when it cannot be queued
 * (done then not called). With a shared store it is queued there in a
 * store fiber (cse_in_store_fiber), as is every store use here. */
int polling_send(struct cse *cse, const char *pch, const char *target, const struct outbound_request *r,
                 outbound_done_fn *done, void *data);

/* The long poll of a RETRIEVE to <pch>/pcu: DISPATCH_PENDING (the request
 * waits, parked) or, when it runs again, the RSC: 2000 with *rqp the request
 * handed over ({"m2m:rqp": ...}, a new reference; with aggregate every
 * waiting one, {"m2m:agrp": [...]}), 4008 when nothing came within
 * timeout_ms. */
int polling_wait(struct cse *cse, const struct m2m_request *req, const char *pch, int64_t timeout_ms,
                 bool aggregate, json_t **rqp);

/* The entity's answer (the content of a NOTIFY to pcu, {"m2m:rsp": ...}) to
 * a request handed over by channel pch. 0, or an RSC with *why set: 4000
 * for a malformed answer, 4004 when no request with its rqi waits there.
 * Shared store: one that waits on no front-end is accepted and passed to
 * the others (the one that queued the request takes it); 4004 only when
 * it is too long to pass on. */
int polling_answer(struct cse *cse, const char *pch, json_t *pc, const char **why);

/* Channel pch may have been deleted: once the current transaction is over,
 * if it is gone, its parked polls are answered 4004 and its queued requests
 * end as dropped. */
void polling_channel_removed(struct cse *cse, const char *pch);

/* An exchange (notify.h) that is a parked poll: takes it and returns true. */
bool polling_run_exchange(struct cse *cse, json_t *x, void (*done)(void *data, json_t *result), void *data);

/* Shared store (PostgreSQL): another front-end queued a request at channel
 * pch (NULL: at any channel, as after a gap in the feed): polls parked here
 * on it take what waits. */
void polling_queued_elsewhere(struct cse *cse, const char *pch);
/* Shared store: an answer (JSON text, {"m2m:rsp": ...}) to a request of
 * channel pch reached another front-end: the request waiting here for it,
 * if any, is answered. */
void polling_answered_elsewhere(struct cse *cse, const char *pch, const char *rsp);

/* At close and reset: every poll and queued request ends now. */
void polling_close(struct cse *cse);

#endif
