/* Fibers on the event loop (glibc makecontext, then _setjmp/_longjmp): code written as straight-line
 * calls (the engine calling the store) waits for a socket by yielding to
 * the loop, which resumes it when the socket is ready or a deadline passes.
 * Only the PostgreSQL store uses them; everything else never enters one.
 * Fibers belong to the thread that started them; only that thread's main
 * context (loop callbacks, not another fiber) resumes them. */
#ifndef IRONBARK_FIBER_H
#define IRONBARK_FIBER_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct fiber;
typedef void fiber_fn(void *arg);

/* Runs fn(arg) in a fiber now, until it finishes (0) or first yields (1:
 * the loop resumes it, and it finishes later on its own). -1 when no fiber
 * could be had (out of memory, too many alive): the caller runs fn itself.
 * Inside a fiber nothing new is started: -1 as well. */
int fiber_start(struct loop *loop, fiber_fn *fn, void *arg);
/* The fiber running now; NULL in the main context. */
struct fiber *fiber_current(void);
/* Whether the current fiber has yielded since it started (false outside). */
bool fiber_has_yielded(void);

enum fiber_wake { FIBER_READY, FIBER_TIMEOUT, FIBER_CANCELLED, FIBER_NOT_IN_FIBER };
/* Yields until fd is ready for mask (LOOP_READABLE/LOOP_WRITABLE), the
 * monotonic deadline (loop_now_ms) passes, or the fiber is cancelled.
 * Outside a fiber it returns FIBER_NOT_IN_FIBER at once: callers block
 * their own way then. */
enum fiber_wake fiber_wait_fd(int fd, int mask, int64_t deadline_ms);
/* A descriptor fibers wait on again and again (a database connection):
 * registered with the loop for reading once, while it lives, so that a
 * wait costs no epoll_ctl; one deadline timer is kept and moved on. Its
 * readability with no fiber waiting goes to idle (which must read, or the
 * loop wakes for it again). Zero-initialised = not registered. */
typedef void fiber_fd_idle_fn(void *data);
struct fiber_fd {
    struct loop *loop;         /* NULL while not registered */
    int fd;
    struct fiber *waiter;      /* the one fiber waiting on it */
    int64_t timer, timer_at;   /* the deadline timer and when it fires */
    int64_t deadline;          /* the waiter's */
    fiber_fd_idle_fn *idle;
    void *idle_data;
};
/* fiber_wait_fd() on w's descriptor fd, registering it at the first wait.
 * A wait for writing adds and removes that interest (rare: a full send
 * buffer). */
enum fiber_wake fiber_fd_wait(struct fiber_fd *w, int fd, int mask, int64_t deadline_ms);
/* Registers w's descriptor fd for reading from the main context, so that
 * input with no fiber waiting reaches idle before any fiber waited on it
 * (a connection made before the loop ran). 0, or -1 when the loop cannot
 * watch it. */
int fiber_fd_watch(struct fiber_fd *w, struct loop *loop, int fd);
/* Unregisters w; before its descriptor is closed (epoll would otherwise
 * keep reporting a closed descriptor that another still duplicates). */
void fiber_fd_forget(struct fiber_fd *w);

/* Wakes a yielded fiber with FIBER_CANCELLED; its later waits return it at
 * once. From the main context only. */
void fiber_cancel(struct fiber *f);

/* Fibers alive (running or yielded) and stacks kept for reuse. */
int fiber_alive(void);
int fiber_pooled(void);

/* A lock one fiber holds from its first acquire until it finishes; others
 * queue in arrival order and are resumed from the loop. The main context
 * never holds it: when it needs what the lock guards while a yielded fiber
 * holds it, fiber_lock_acquire() drives that fiber to its end first,
 * blocking (counted in `driven`). Zero-initialised = free. */
struct fiber_lock {
    struct fiber *owner;
    struct fiber *head, *tail;  /* waiting, in arrival order */
    int64_t wake_timer;         /* resumes head once the lock is free */
    struct loop *loop;          /* of the waiters */
    uint64_t driven;            /* times the main context drove the owner */
    /* Called from the loop each time the lock passes from a fiber that
     * ended to the next one queued, in between, while it is free (NULL:
     * nothing). A busy lock passes on within a loop round, so work that
     * waits for it to be free at a round's end (the store's change feed)
     * may otherwise wait for as long as fibers keep queueing. */
    void (*on_handover)(void *data);
    void *handover_data;
};
/* In a fiber: true once it holds l (at once when it already does), false
 * when cancelled while queued. In the main context: true after any yielded
 * owner has finished. */
bool fiber_lock_acquire(struct fiber_lock *l);
/* Whether a fiber other than the current one holds l. */
bool fiber_lock_busy(const struct fiber_lock *l);
/* From the main context: every fiber queued on l gets FIBER_CANCELLED
 * (its acquire returns false), after the owner, if any, was driven to its
 * end. Then l is free and nobody waits. */
void fiber_lock_cancel_waiters(struct fiber_lock *l);
/* From the main context: the owner and then every waiter run to their end,
 * in order, blocking. */
void fiber_lock_drain(struct fiber_lock *l);

#endif
