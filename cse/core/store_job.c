/* Store work outside primitives: fibers for a store that waits for a
 * server, plain calls for one that does not. */
#include "store_job.h"

#include "cse.h"
#include "../base/fiber.h"
#include "../base/log.h"
#include "../base/loop.h"

#include <stdlib.h>

struct store_job {
    struct cse *cse;
    cse_job_fn *fn, *drop;
    void *arg;
    struct store_job *next;    /* held (cse_hold_store_jobs) */
};

static void store_job_run(void *data)
{
    struct store_job j = *(struct store_job *)data;
    free(data);
    if (fiber_lock_acquire(store_fiber_lock(j.cse->store))) j.fn(j.arg);
    else if (j.drop) j.drop(j.arg);    /* the CSE closes (cse_settle_fibers) */
}

bool cse_in_store_fiber(struct cse *cse, cse_job_fn *fn, cse_job_fn *drop, void *arg)
{
    bool fibers = cse->loop && cse->store && !cse->store_fibers_off && store_fiber_lock(cse->store) &&
                  !fiber_current();
    struct store_job *j = fibers ? malloc(sizeof *j) : NULL;
    if (j && cse->held_jobs.on) {
        *j = (struct store_job){ cse, fn, drop, arg, NULL };
        *cse->held_jobs.tail = j;
        cse->held_jobs.tail = &j->next;
        return false;
    }
    if (j) {
        *j = (struct store_job){ cse, fn, drop, arg, NULL };
        int started = fiber_start(cse->loop, store_job_run, j);
        if (started >= 0) return started == 0;
        free(j);
    }
    fn(arg);
    return true;
}

void cse_hold_store_jobs(struct cse *cse)
{
    cse->held_jobs.on = true;
    if (!cse->held_jobs.head) cse->held_jobs.tail = &cse->held_jobs.head;
}

static struct store_job *next_held(struct cse *cse)
{
    struct store_job *j = cse->held_jobs.head;
    if (!j) {
        cse->held_jobs.on = false;     /* no yield between the check and this */
        return NULL;
    }
    cse->held_jobs.head = j->next;
    if (!j->next) cse->held_jobs.tail = &cse->held_jobs.head;
    return j;
}

void cse_release_store_jobs(struct cse *cse, bool run)
{
    int n = 0;
    for (struct store_job *j; (j = next_held(cse)); n++) {
        struct store_job copy = *j;
        free(j);
        if (run) copy.fn(copy.arg);
        else if (copy.drop) copy.drop(copy.arg);
    }
    if (n) log_info("store: %d job(s) the loop started while a reset waited %s", n, run ? "ran first" : "dropped");
}

/* --- timers ---------------------------------------------------------------- */

static int64_t timer_due(struct loop *loop, int64_t id, void *data);

static void timer_run(void *data)
{
    struct store_timer *t = data;
    int64_t next = t->stopped ? -1 : t->check(t);
    if (!t->waiting) {         /* timer_due goes on */
        t->next_ms = next;
        return;
    }
    t->waiting = false;
    if (next < 0 || t->stopped) t->done(t);
    else t->timer = loop_add_timer(t->cse->loop, next, timer_due, t);
}

/* The CSE closes before the check got the store. */
static void timer_dropped(void *data)
{
    struct store_timer *t = data;
    t->waiting = false;
    if (t->stopped) t->done(t);
}

static int64_t timer_due(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct store_timer *t = data;
    if (!cse_in_store_fiber(t->cse, timer_run, timer_dropped, t)) {
        t->waiting = true;
        t->timer = 0;
        return -1;
    }
    if (t->next_ms >= 0) return t->next_ms;
    t->timer = 0;
    t->done(t);
    return -1;
}

void store_timer_start(struct store_timer *t, struct cse *cse, int64_t ms, store_timer_check_fn *check,
                       store_timer_done_fn *done)
{
    *t = (struct store_timer){ .cse = cse, .check = check, .done = done };
    t->timer = loop_add_timer(cse->loop, ms, timer_due, t);
}

bool store_timer_stop(struct store_timer *t)
{
    if (t->timer && t->cse) loop_del_timer(t->cse->loop, t->timer);
    t->timer = 0;
    if (!t->waiting) return true;
    t->stopped = true;
    return false;
}
