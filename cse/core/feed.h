/* Several front-ends on one database: the changes the others commit,
 * followed (store.h's change feed; docs/architecture.md, *Several
 * front-ends*). The feed's socket wakes the loop and the feed is read at
 * the end of every round and whenever the store's lock passes from one
 * fiber to the next (then only what libpq has read already), so a change committed elsewhere reaches this
 * front-end's caches in the loop round its notice arrives in, or as soon
 * as the fiber that read it with its own answer ends; no timer polls
 * while the database is reachable. With SQLite there is no feed and
 * feed_open() does nothing. */
#ifndef IRONBARK_FEED_H
#define IRONBARK_FEED_H

#include "cse.h"

/* Starts following the store's change feed (nothing for an unshared store). */
int feed_open(struct cse *cse);
void feed_close(struct cse *cse);

/* Applies the pending changes now: each module's memory drops or refreshes
 * what they touch. While the database is away, and when it comes back
 * (notices may have been missed meanwhile), every cache is dropped.
 * Returns the changes applied, or -1 while the database is unreachable. */
int feed_poll(struct cse *cse);
/* Changes of other front-ends applied so far (the metrics). */
uint64_t feed_applied(const struct cse *cse);

#endif
