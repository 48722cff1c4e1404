#include "loop.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define LOOP_INITIAL_FDS 64

struct file_event {
    int mask;
    loop_file_fn *fn;
    void *data;
};

struct timer {
    int64_t id;
    int64_t when;              /* loop_now_ms() deadline */
    loop_timer_fn *fn;
    void *data;
    struct timer *next;
};

struct loop {
    int epfd;
    int max_fds;
    int nevents;               /* entries of events: grown on demand up to max_fds */
    struct file_event *events;
    struct epoll_event *fired;
    struct timer *timers;      /* unsorted: few timers live at once */
    int64_t next_timer_id;
    int stop;
    struct { loop_hook_fn *fn; void *data; } before_sleep[LOOP_MAX_HOOKS];
    int nbefore_sleep;
};

int64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct loop *loop_create(int max_fds)
{
    struct loop *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->max_fds = max_fds;
    /* The fd table starts small and grows with the highest fd watched, so an
     * idle server does not pay for max-connections up front. */
    l->nevents = max_fds < LOOP_INITIAL_FDS ? max_fds : LOOP_INITIAL_FDS;
    l->events = calloc((size_t)l->nevents, sizeof *l->events);
    l->fired = calloc(256, sizeof *l->fired);
    if (l->epfd < 0 || !l->events || !l->fired) {
        loop_destroy(l);
        return NULL;
    }
    return l;
}

void loop_destroy(struct loop *l)
{
    if (!l) return;
    if (l->epfd >= 0) close(l->epfd);
    while (l->timers) {
        struct timer *t = l->timers;
        l->timers = t->next;
        free(t);
    }
    free(l->events);
    free(l->fired);
    free(l);
}

static uint32_t epoll_mask(int mask)
{
    return (mask & LOOP_READABLE ? EPOLLIN : 0) | (mask & LOOP_WRITABLE ? EPOLLOUT : 0);
}

/* Makes events[fd] exist (zeroed when new); -1 when fd is beyond max_fds. */
static int ensure_fd(struct loop *l, int fd)
{
    if (fd < 0 || fd >= l->max_fds) {
        errno = ERANGE;
        return -1;
    }
    if (fd < l->nevents) return 0;
    int n = l->nevents;
    while (n <= fd) n = n ? n * 2 : LOOP_INITIAL_FDS;
    if (n > l->max_fds) n = l->max_fds;
    struct file_event *e = realloc(l->events, (size_t)n * sizeof *e);
    if (!e) return -1;
    memset(e + l->nevents, 0, (size_t)(n - l->nevents) * sizeof *e);
    l->events = e;
    l->nevents = n;
    return 0;
}

int loop_watch(struct loop *l, int fd, int mask, loop_file_fn *fn, void *data)
{
    if (ensure_fd(l, fd)) return -1;
    struct file_event *fe = &l->events[fd];
    if ((fe->mask & mask) == mask) {
        /* Already watched: no system call, just the new callback. */
        fe->fn = fn;
        fe->data = data;
        return 0;
    }
    struct epoll_event ee = { .events = epoll_mask(fe->mask | mask), .data.fd = fd };
    int op = fe->mask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, fd, &ee) < 0) return -1;
    fe->mask |= mask;
    fe->fn = fn;
    fe->data = data;
    return 0;
}

void loop_unwatch(struct loop *l, int fd, int mask)
{
    if (fd < 0 || fd >= l->nevents) return;
    struct file_event *fe = &l->events[fd];
    if (!(fe->mask & mask)) return;   /* nothing to change: no system call */
    fe->mask &= ~mask;
    struct epoll_event ee = { .events = epoll_mask(fe->mask), .data.fd = fd };
    epoll_ctl(l->epfd, fe->mask ? EPOLL_CTL_MOD : EPOLL_CTL_DEL, fd, &ee);
}

void loop_forget(struct loop *l, int fd)
{
    if (fd >= 0 && fd < l->nevents) memset(&l->events[fd], 0, sizeof l->events[fd]);
}

int64_t loop_add_timer(struct loop *l, int64_t ms, loop_timer_fn *fn, void *data)
{
    struct timer *t = malloc(sizeof *t);
    if (!t) return -1;
    t->id = ++l->next_timer_id;
    t->when = loop_now_ms() + ms;
    t->fn = fn;
    t->data = data;
    t->next = l->timers;
    l->timers = t;
    return t->id;
}

void loop_del_timer(struct loop *l, int64_t id)
{
    for (struct timer **p = &l->timers; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            struct timer *t = *p;
            *p = t->next;
            free(t);
            return;
        }
    }
}

static int next_timeout(struct loop *l)
{
    if (!l->timers) return 1000;
    int64_t now = loop_now_ms(), soonest = INT64_MAX;
    for (struct timer *t = l->timers; t; t = t->next)
        if (t->when < soonest) soonest = t->when;
    int64_t d = soonest - now;
    return d < 0 ? 0 : d > 1000 ? 1000 : (int)d;
}

static void run_timers(struct loop *l)
{
    int64_t now = loop_now_ms();
    /* Callbacks may add or delete timers: restart the scan after each one. */
    for (;;) {
        struct timer *due = NULL;
        for (struct timer *t = l->timers; t; t = t->next)
            if (t->when <= now) { due = t; break; }
        if (!due) return;
        int64_t id = due->id;
        int64_t again = due->fn(l, id, due->data);
        /* The callback may have deleted its own timer. */
        struct timer *t = l->timers;
        while (t && t->id != id) t = t->next;
        if (!t) continue;
        if (again < 0) loop_del_timer(l, id);
        else t->when = loop_now_ms() + again;
    }
}

int loop_before_sleep(struct loop *l, loop_hook_fn *fn, void *data)
{
    if (l->nbefore_sleep == LOOP_MAX_HOOKS) return -1;
    l->before_sleep[l->nbefore_sleep].fn = fn;
    l->before_sleep[l->nbefore_sleep++].data = data;
    return 0;
}

void loop_run_before_sleep(struct loop *l)
{
    for (int i = 0; i < l->nbefore_sleep; i++) l->before_sleep[i].fn(l, l->before_sleep[i].data);
}

/* Loops this thread is running (loop_run() may nest: deregistration). */
static _Thread_local int running;

bool loop_running(void) { return running > 0; }

int loop_run(struct loop *l)
{
    running++;
    log_hold(true);
    l->stop = 0;
    while (!l->stop) {
        loop_run_before_sleep(l);
        log_flush();           /* the round's lines, before waiting */
        int n = epoll_wait(l->epfd, l->fired, 256, next_timeout(l));
        if (n < 0 && errno != EINTR) {
            log_hold(false);
            running--;
            return -1;
        }
        for (int i = 0; i < n; i++) {
            int fd = l->fired[i].data.fd;
            struct file_event *fe = &l->events[fd];
            int mask = 0;
            uint32_t ev = l->fired[i].events;
            if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) mask |= LOOP_READABLE;
            if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) mask |= LOOP_WRITABLE;
            mask &= fe->mask;
            if (mask && fe->fn) fe->fn(l, fd, fe->data, mask);
        }
        run_timers(l);
    }
    loop_run_before_sleep(l);   /* finish the last round's work */
    log_hold(false);
    running--;
    return 0;
}

void loop_stop(struct loop *l) { l->stop = 1; }
