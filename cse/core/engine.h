/* Opening and closing a CSE with every module of the engine (cse/engine.c).
 * An executable does it through server_main() (cse/server.h); unit tests
 * call it directly. */
#ifndef IRONBARK_ENGINE_H
#define IRONBARK_ENGINE_H

#include "cse.h"

/* Opens the store, creates the CSEBase on first start, starts the expiry timer. */
int cse_open(struct cse *cse, const struct config *cfg, struct loop *loop);
/* The same, serving extra resource types (NULL-terminated) beside the
 * engine's own: how a server profile adds its types (cse/server.h). */
int cse_open_with(struct cse *cse, const struct config *cfg, struct loop *loop,
                  const struct resource_type *const *extra_types);
void cse_close(struct cse *cse);

/* Brings an open CSE back to its start-up state, for a conformance upper
 * tester (cse/wire/upper_tester.h): every resource below the CSEBase
 * removed (no hooks, no notifications: nothing of it survives to hear of
 * it), what start-up creates recreated (the CSEBase and the types'
 * on_cse_start resources such as defaultNTP; cse->on_reset for a server
 * profile's own), the caches (ACPs, parents),
 * notification queues, non-blocking and deferred requests (answered 5000)
 * and rate-limit buckets cleared. Settings are kept. Returns 0 or an RSC. */
int cse_reset(struct cse *cse);
/* cse_reset() without the loop waiting for a store that waits for a server
 * (PostgreSQL): it runs in a fiber holding the store, after the primitives
 * before it; those after it see the reset tree. -1: done(data, rc) follows
 * from the loop (abandon(data) instead when the CSE closes first); else the
 * result, at once (SQLite, or no fiber to be had). One at a time:
 * cse->reset is set while one waits. */
typedef void cse_reset_done_fn(void *data, int rc);
int cse_reset_async(struct cse *cse, cse_reset_done_fn *done, cse_done_fn *abandon, void *data);

/* Runs the expiry sweep every ms milliseconds from now on; 0 = as configured. */
void cse_set_expiry_interval(struct cse *cse, int64_t ms);

#endif
