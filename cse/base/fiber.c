/* Fibers: glibc's makecontext() makes each one and setcontext() enters it
 * the first time; every later switch is _setjmp()/_longjmp(), which save
 * and restore registers only. (swapcontext() also saves and restores the
 * signal mask: two rt_sigprocmask system calls per switch, four per
 * yield-and-resume; the mask of this thread never differs between its
 * fibers, so there is nothing to restore.) Stacks are mmap'd with a guard
 * page below them and kept in a small pool for reuse: a fiber's context
 * loops, running one function after another, so a reused stack costs no
 * makecontext(). Under AddressSanitizer every switch is announced to it,
 * so it knows which stack is live. */

/* Fortified _longjmp() (__longjmp_chk) makes a sigaltstack system call on
 * every jump to a lower stack address, which a jump into a fiber's stack
 * often is: it checks nothing that applies here. */
#undef _FORTIFY_SOURCE
#include "fiber.h"

#include "loop.h"
#include "loop_waits.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif

#ifdef FIBER_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
/* Instrumented frames are several times larger. */
#define FIBER_STACK (4u << 20)
#else
/* The engine's deepest paths (nested group fan-outs, discovery with
 * filters) stay well inside; pages never touched cost nothing. */
#define FIBER_STACK (1u << 20)
#endif
#define FIBER_POOL_MAX 16
#define FIBER_ALIVE_MAX 1024

struct fiber {
    ucontext_t ctx;            /* its first entry only */
    jmp_buf jmp;               /* where it yielded, once entered */
    bool entered;
    char *map;                 /* guard page + stack */
    size_t map_size;
    fiber_fn *fn;
    void *arg;
    struct loop *loop;
    bool finished, yielded, cancelled;
    enum fiber_wake wake;      /* why it was resumed */
    /* a wait for a descriptor */
    bool waiting_fd;
    int wait_fd, wait_mask;
    int64_t wait_deadline, timer;
    /* a wait for a lock, and the lock held */
    struct fiber_lock *waiting_lock, *held;
    struct fiber *next;        /* in a lock's queue, or in the pool */
#ifdef FIBER_ASAN
    void *fake_stack;
#endif
};

static _Thread_local struct fiber *current;
static _Thread_local jmp_buf main_jmp;
static _Thread_local struct fiber *pool;
static _Thread_local int npooled, nalive;
#ifdef FIBER_ASAN
static _Thread_local const void *main_bottom;
static _Thread_local size_t main_size;
#endif

struct fiber *fiber_current(void) { return current; }
bool fiber_has_yielded(void) { return current && current->yielded; }
int fiber_alive(void) { return nalive; }
int fiber_pooled(void) { return npooled; }

static size_t page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

/* --- switching ------------------------------------------------------------ */

/* The main context's half of a switch: saves where it is and jumps into f
 * (at its start the first time, else where it last switched out). */
static void enter(struct fiber *f)
{
    if (_setjmp(main_jmp)) return;     /* f switched out */
    if (f->entered) _longjmp(f->jmp, 1);
    f->entered = true;
    setcontext(&f->ctx);               /* into fiber_main; never returns */
}

/* Main context into f, back when f yields or finishes. */
static void switch_in(struct fiber *f)
{
    current = f;
#ifdef FIBER_ASAN
    void *fake = NULL;
    size_t guard = page_size();
    __sanitizer_start_switch_fiber(&fake, f->map + guard, f->map_size - guard);
    enter(f);
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
    enter(f);
#endif
    current = NULL;
}

/* The fiber's half: saves where f is and jumps back to the main context. */
static void leave(struct fiber *f)
{
    if (!_setjmp(f->jmp)) _longjmp(main_jmp, 1);
}

/* f back to the main context; returns when f is resumed. */
static void switch_out(struct fiber *f)
{
#ifdef FIBER_ASAN
    __sanitizer_start_switch_fiber(&f->fake_stack, main_bottom, main_size);
    leave(f);
    __sanitizer_finish_switch_fiber(f->fake_stack, &main_bottom, &main_size);
#else
    leave(f);
#endif
}

static void lock_release(struct fiber_lock *l);

/* Every fiber's context: one function after another, for as long as the
 * fiber is reused. */
static void fiber_main(void)
{
    struct fiber *f = current;
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(NULL, &main_bottom, &main_size);
#endif
    for (;;) {
        f->fn(f->arg);
        if (f->held) lock_release(f->held);
        f->finished = true;
        switch_out(f);
    }
}

static void recycle(struct fiber *f)
{
    nalive--;
    if (npooled < FIBER_POOL_MAX) {
        f->next = pool;
        pool = f;
        npooled++;
        return;
    }
    munmap(f->map, f->map_size);
    free(f);
}

/* Resumes f (yielded, or new) with why; true when it has finished (it is
 * then recycled and must not be touched). */
static bool resume(struct fiber *f, enum fiber_wake why)
{
    f->wake = why;
    switch_in(f);
    if (!f->finished) return false;
    recycle(f);
    return true;
}

static struct fiber *fiber_make(void)
{
    if (pool) {
        struct fiber *f = pool;
        pool = f->next;
        npooled--;
        return f;
    }
    struct fiber *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    size_t guard = page_size();
    f->map_size = FIBER_STACK + guard;
    f->map = mmap(NULL, f->map_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (f->map == MAP_FAILED) { free(f); return NULL; }
    /* Stacks grow down: an overflow hits the guard page and faults. */
    if (mprotect(f->map, guard, PROT_NONE) || getcontext(&f->ctx)) {
        munmap(f->map, f->map_size);
        free(f);
        return NULL;
    }
#ifdef FIBER_ASAN
    /* A stack unmapped earlier at this address may have left its frames'
     * red zones in the shadow; swapcontext()'s interceptor used to clear
     * them at each switch, setcontext() does not. */
    __asan_unpoison_memory_region(f->map, f->map_size);
#endif
    /* Not `guard`: getcontext() returns twice, so locals are not used after it. */
    f->ctx.uc_stack.ss_sp = f->map + (f->map_size - FIBER_STACK);
    f->ctx.uc_stack.ss_size = FIBER_STACK;
    f->ctx.uc_link = NULL;     /* fiber_main never returns */
    makecontext(&f->ctx, fiber_main, 0);
    return f;
}

int fiber_start(struct loop *loop, fiber_fn *fn, void *arg)
{
    if (current || nalive >= FIBER_ALIVE_MAX) return -1;
    struct fiber *f = fiber_make();
    if (!f) return -1;
    nalive++;
    f->fn = fn;
    f->arg = arg;
    f->loop = loop;
    f->finished = f->yielded = f->cancelled = f->waiting_fd = false;
    f->waiting_lock = f->held = NULL;
    f->timer = 0;
    f->next = NULL;
    return resume(f, FIBER_READY) ? 0 : 1;
}

/* The current fiber gives the thread back to the main context. */
static void yield(struct fiber *f)
{
    f->yielded = true;
    switch_out(f);
}

/* --- waiting for a descriptor --------------------------------------------- */

/* Blocking, for the main context driving a fiber. */
static enum fiber_wake poll_fd(int fd, int mask, int64_t deadline_ms)
{
    struct pollfd p = { .fd = fd, .events = (short)((mask & LOOP_READABLE ? POLLIN : 0) |
                                                    (mask & LOOP_WRITABLE ? POLLOUT : 0)) };
    for (;;) {
        int64_t left = deadline_ms - loop_now_ms();
        if (left <= 0) return FIBER_TIMEOUT;
        int n = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
        if (n > 0) return FIBER_READY;
        if (n < 0 && errno != EINTR) return FIBER_READY;  /* the caller's I/O reports it */
    }
}

static void fd_ready(struct loop *loop, int fd, void *data, int mask)
{
    (void)loop; (void)fd; (void)mask;
    resume(data, FIBER_READY);
}

static int64_t deadline_passed(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct fiber *f = data;
    f->timer = 0;              /* the loop removes it when this returns */
    resume(f, FIBER_TIMEOUT);
    return -1;
}

/* Yields until the loop (or the main context driving f) resumes it; what
 * it waits for is recorded for drive_step(). */
static void park_on_fd(struct fiber *f, int fd, int mask, int64_t deadline_ms)
{
    f->wait_fd = fd;
    f->wait_mask = mask;
    f->wait_deadline = deadline_ms;
    f->waiting_fd = true;
    yield(f);
    f->waiting_fd = false;
}

enum fiber_wake fiber_wait_fd(int fd, int mask, int64_t deadline_ms)
{
    struct fiber *f = current;
    if (!f) return FIBER_NOT_IN_FIBER;
    if (f->cancelled) return FIBER_CANCELLED;
    int64_t left = deadline_ms - loop_now_ms();
    if (left <= 0) return FIBER_TIMEOUT;
    /* Without a watch (fd beyond the loop's table) it blocks like the main context. */
    if (loop_watch(f->loop, fd, mask, fd_ready, f)) return poll_fd(fd, mask, deadline_ms);
    f->timer = loop_add_timer(f->loop, left, deadline_passed, f);
    park_on_fd(f, fd, mask, deadline_ms);
    loop_unwatch(f->loop, fd, mask);
    if (f->timer > 0) loop_del_timer(f->loop, f->timer);
    f->timer = 0;
    return f->wake;
}

/* --- a descriptor kept registered ---------------------------------------- */

static void watched_event(struct loop *loop, int fd, void *data, int mask)
{
    (void)loop; (void)fd; (void)mask;
    struct fiber_fd *w = data;
    /* Any event wakes the waiter (a writer may be woken by input: it tries
     * again); with nobody waiting, input goes to idle. */
    if (w->waiter) resume(w->waiter, FIBER_READY);
    else if (w->idle) w->idle(w->idle_data);
}

/* Fires at the earliest deadline it was set for: a waiter whose deadline
 * is later keeps it running until then; with none it ends. */
static int64_t watched_deadline(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct fiber_fd *w = data;
    int64_t now = loop_now_ms();
    if (w->waiter && w->deadline > now) {
        w->timer_at = w->deadline;
        return w->deadline - now;
    }
    w->timer = 0;              /* the loop removes this one */
    if (w->waiter) resume(w->waiter, FIBER_TIMEOUT);
    return -1;
}

void fiber_fd_forget(struct fiber_fd *w)
{
    if (!w->loop) return;
    loop_unwatch(w->loop, w->fd, LOOP_READABLE | LOOP_WRITABLE);
    if (w->timer) loop_del_timer(w->loop, w->timer);
    w->timer = 0;
    w->loop = NULL;
}

int fiber_fd_watch(struct fiber_fd *w, struct loop *loop, int fd)
{
    if (w->loop && (w->loop != loop || w->fd != fd)) fiber_fd_forget(w);
    if (w->loop) return 0;
    if (loop_watch(loop, fd, LOOP_READABLE, watched_event, w)) return -1;
    w->loop = loop;
    w->fd = fd;
    return 0;
}

enum fiber_wake fiber_fd_wait(struct fiber_fd *w, int fd, int mask, int64_t deadline_ms)
{
    struct fiber *f = current;
    if (!f) return FIBER_NOT_IN_FIBER;
    if (f->cancelled) return FIBER_CANCELLED;
    int64_t left = deadline_ms - loop_now_ms();
    if (left <= 0) return FIBER_TIMEOUT;
    if (fiber_fd_watch(w, f->loop, fd)) return poll_fd(fd, mask, deadline_ms);
    /* One waiter at a time (the store's lock sees to it); another, or a
     * descriptor the loop cannot watch, blocks like the main context. */
    if (w->waiter) return poll_fd(fd, mask, deadline_ms);
    if ((mask & LOOP_WRITABLE) && loop_watch(w->loop, fd, LOOP_WRITABLE, watched_event, w))
        return poll_fd(fd, mask, deadline_ms);
    if (!w->timer || deadline_ms < w->timer_at) {
        if (w->timer) loop_del_timer(w->loop, w->timer);
        w->timer = loop_add_timer(w->loop, left, watched_deadline, w);
        w->timer_at = deadline_ms;
    }
    w->waiter = f;
    w->deadline = deadline_ms;
    park_on_fd(f, fd, mask, deadline_ms);
    w->waiter = NULL;
    if ((mask & LOOP_WRITABLE) && w->loop) loop_unwatch(w->loop, fd, LOOP_WRITABLE);
    return f->wake;
}

/* The main context runs f until it waits no more for a descriptor: one
 * blocking step. */
static void drive_step(struct fiber *f)
{
    if (f->waiting_fd) resume(f, poll_fd(f->wait_fd, f->wait_mask, f->wait_deadline));
}

/* --- the lock ------------------------------------------------------------- */

static void lock_take(struct fiber_lock *l, struct fiber *f)
{
    l->owner = f;
    f->held = l;
}

static int64_t wake_head(struct loop *loop, int64_t id, void *data);

static void schedule_wake(struct fiber_lock *l)
{
    if (!l->wake_timer && l->loop) l->wake_timer = loop_add_timer(l->loop, 0, wake_head, l);
}

static void lock_release(struct fiber_lock *l)
{
    l->owner->held = NULL;
    l->owner = NULL;
    if (l->head) schedule_wake(l);
}

static struct fiber *dequeue(struct fiber_lock *l)
{
    struct fiber *f = l->head;
    if (!f) return NULL;
    l->head = f->next;
    if (!l->head) l->tail = NULL;
    f->next = NULL;
    f->waiting_lock = NULL;
    return f;
}

static int64_t wake_head(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct fiber_lock *l = data;
    l->wake_timer = 0;         /* the loop removes this one */
    if (!l->owner && l->head && l->on_handover) l->on_handover(l->handover_data);
    if (!l->owner && l->head) {
        struct fiber *f = dequeue(l);
        lock_take(l, f);
        resume(f, FIBER_READY);
    }
    return -1;
}

bool fiber_lock_busy(const struct fiber_lock *l) { return l->owner && l->owner != current; }

/* Main context: the owner to its end. */
static void drive_owner(struct fiber_lock *l)
{
    while (l->owner && l->owner->waiting_fd) {
        l->driven++;
        loop_wait_note(LOOP_WAIT_DRIVEN);
        struct fiber *owner = l->owner;
        while (l->owner == owner && owner->waiting_fd) drive_step(owner);
    }
}

bool fiber_lock_acquire(struct fiber_lock *l)
{
    struct fiber *f = current;
    if (!f) {
        drive_owner(l);
        return true;
    }
    if (l->owner == f) return true;
    if (f->cancelled) return false;
    if (!l->owner && !l->head) {
        lock_take(l, f);
        return true;
    }
    l->loop = f->loop;
    f->next = NULL;
    if (l->tail) l->tail->next = f;
    else l->head = f;
    l->tail = f;
    f->waiting_lock = l;
    if (!l->owner) schedule_wake(l);
    yield(f);
    return f->wake != FIBER_CANCELLED;
}

void fiber_cancel(struct fiber *f)
{
    f->cancelled = true;
    if (f->waiting_fd) {
        resume(f, FIBER_CANCELLED);
        return;
    }
    struct fiber_lock *l = f->waiting_lock;
    if (!l) return;
    struct fiber **p = &l->head, *prev = NULL;
    while (*p && *p != f) { prev = *p; p = &(*p)->next; }
    if (!*p) return;
    *p = f->next;
    if (l->tail == f) l->tail = prev;
    f->next = NULL;
    f->waiting_lock = NULL;
    resume(f, FIBER_CANCELLED);
}

static void forget_wake(struct fiber_lock *l)
{
    if (l->wake_timer && l->loop) loop_del_timer(l->loop, l->wake_timer);
    l->wake_timer = 0;
}

void fiber_lock_cancel_waiters(struct fiber_lock *l)
{
    drive_owner(l);
    while (l->head) {
        struct fiber *f = dequeue(l);
        f->cancelled = true;
        resume(f, FIBER_CANCELLED);
        drive_owner(l);        /* should a cancelled one have taken it */
    }
    forget_wake(l);
}

void fiber_lock_drain(struct fiber_lock *l)
{
    for (;;) {
        drive_owner(l);
        if (l->owner || !l->head) break;
        struct fiber *f = dequeue(l);
        lock_take(l, f);
        resume(f, FIBER_READY);
    }
    if (!l->head) forget_wake(l);
}
