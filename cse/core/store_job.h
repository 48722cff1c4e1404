/* Work outside a primitive that uses the store (a timer, an answer from
 * outside): with a store that waits for a server (PostgreSQL) it runs in a
 * fiber holding store_fiber_lock(), as a primitive does, so that the loop
 * serves on while it waits (docs/decisions.md, *The PostgreSQL store*).
 * With SQLite everything runs at once, as a plain call. */
#ifndef IRONBARK_STORE_JOB_H
#define IRONBARK_STORE_JOB_H

#include <stdbool.h>
#include <stdint.h>

struct cse;

/* fn(arg) holding the store. It may finish after this returns (false);
 * what arg points to must then live until fn (or drop) ran. With SQLite,
 * in a fiber already, or when no fiber can be had, fn runs here (true).
 * When the CSE closes before the fiber got the store (cse_settle_fibers),
 * drop(arg) runs instead (NULL: nothing to do). */
typedef void cse_job_fn(void *arg);
bool cse_in_store_fiber(struct cse *cse, cse_job_fn *fn, cse_job_fn *drop, void *arg);

/* An upper tester Reset waiting in a fiber for the store (engine.c): jobs
 * the main context starts meanwhile are held rather than queued behind it,
 * since what they point to (a notification target, an announcement link)
 * may be freed by the reset. cse_release_store_jobs, from the fiber that
 * holds the store, runs them there (the state is still whole), or drops
 * them (the reset is abandoned), until none is left; then jobs start as
 * usual again. */
void cse_hold_store_jobs(struct cse *cse);
void cse_release_store_jobs(struct cse *cse, bool run);

/* A loop timer whose check uses the store, run by cse_in_store_fiber():
 * check returns the ms to the next run, or -1, and then done(t) runs (the
 * owner unlinks and frees what embeds t; it may be unlinked already). A
 * check that waited sets the next timer itself. Zero-initialised = off. */
struct store_timer;
typedef int64_t store_timer_check_fn(struct store_timer *t);
typedef void store_timer_done_fn(struct store_timer *t);
struct store_timer {
    struct cse *cse;
    store_timer_check_fn *check;
    store_timer_done_fn *done;
    int64_t timer;             /* 0 while the check waits in a fiber */
    int64_t next_ms;           /* what a check that did not wait said */
    bool waiting;              /* the check waits in a fiber */
    bool stopped;              /* stopped meanwhile: the check's end runs done */
};
void store_timer_start(struct store_timer *t, struct cse *cse, int64_t ms, store_timer_check_fn *check,
                       store_timer_done_fn *done);
/* Ends t. true: over now, the owner frees it; false: its check waits, and
 * done(t) follows when it is over (the check sees t->stopped). */
bool store_timer_stop(struct store_timer *t);

#endif
