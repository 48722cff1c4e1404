/* A small epoll event loop in the spirit of Redis' ae.c: file events keyed
 * by fd and one-shot timers. One loop per worker thread; nothing blocks on it. */
#ifndef IRONBARK_LOOP_H
#define IRONBARK_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#define LOOP_READABLE 1
#define LOOP_WRITABLE 2

struct loop;
typedef void loop_file_fn(struct loop *loop, int fd, void *data, int mask);
/* Returns the delay in ms until it should run again, or -1 to end the timer. */
typedef int64_t loop_timer_fn(struct loop *loop, int64_t id, void *data);
typedef void loop_hook_fn(struct loop *loop, void *data);

#define LOOP_MAX_HOOKS 8

struct loop *loop_create(int max_fds);
void loop_destroy(struct loop *loop);

/* Adds mask to the events watched on fd (one callback per fd). */
int loop_watch(struct loop *loop, int fd, int mask, loop_file_fn *fn, void *data);
/* Removes mask from the events watched on fd; fd is forgotten when none remain. */
void loop_unwatch(struct loop *loop, int fd, int mask);
/* For fd about to be closed when no other descriptor refers to its file (no
 * dup(), no fork()): the close takes it out of epoll, so the loop only
 * forgets it, without a system call. */
void loop_forget(struct loop *loop, int fd);

int64_t loop_add_timer(struct loop *loop, int64_t ms, loop_timer_fn *fn, void *data);
void loop_del_timer(struct loop *loop, int64_t id);

/* Registers fn to run at the end of every loop round, before the loop waits
 * for events again (like Redis' beforeSleep): work gathered during the round
 * (a group commit) is finished there. Hooks run in registration order.
 * Returns -1 when LOOP_MAX_HOOKS are taken. */
int loop_before_sleep(struct loop *loop, loop_hook_fn *fn, void *data);
/* Runs the before-sleep hooks now (also done on the way out of loop_run). */
void loop_run_before_sleep(struct loop *loop);

/* Runs until loop_stop(); returns 0. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);
/* Whether this thread is inside loop_run(): serving, past start-up. */
bool loop_running(void);
/* Monotonic milliseconds, as the loop sees them. */
int64_t loop_now_ms(void);

#endif
