/* Several front-ends on one database: the changes the others commit,
 * followed (store.h's change feed; docs/architecture.md, *Several
 * front-ends*). The feed's descriptor is watched on the loop, so a change
 * committed elsewhere reaches this front-end's caches in the loop round
 * after PostgreSQL delivers its notice; nothing polls. With SQLite there is
 * no feed and feed_open() does nothing. */
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

#endif
