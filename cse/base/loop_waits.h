/* Where the event loop waited itself: a database round trip outside a
 * fiber (pq_wait()) or a fiber holding a lock driven to its end from the
 * main context (fiber_lock_acquire()). Each such wait while loop_run()
 * runs is counted under its site, the chain of functions that asked for it
 * (the store call, then its callers up to the loop, names from the binary's
 * own symbol table), so what still blocks the loop can be found and moved
 * (docs/decisions.md, *What still waits in the main context*). Start-up,
 * shutdown and the command-line tools run no loop and are not counted.
 * For the loop's thread only. */
#ifndef IRONBARK_LOOP_WAITS_H
#define IRONBARK_LOOP_WAITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum loop_wait_kind { LOOP_WAIT_ROUND_TRIP, LOOP_WAIT_DRIVEN };

#define LOOP_WAIT_SITE_MAX 320     /* a site's text, NUL included */
#define LOOP_WAIT_SITES 32         /* more distinct sites count under "other" */

struct loop_wait_site {
    enum loop_wait_kind kind;
    char site[LOOP_WAIT_SITE_MAX];
    uint64_t count;
};

/* Reads the symbol table once (start-up: no disk read in the loop later). */
void loop_waits_prepare(void);
/* The loop is about to wait itself: counted under its site, the first time
 * logged at warn level ("store wait outside a fiber: <site>") and, when the
 * test setting IRONBARK_FIBER_AUDIT names a file, appended to it. false
 * (nothing counted) outside loop_run(). */
bool loop_wait_note(enum loop_wait_kind kind);
/* The sites counted so far, in the order first seen. */
const struct loop_wait_site *loop_wait_sites(size_t *n);
/* "round trip" or "driven". */
const char *loop_wait_kind_name(enum loop_wait_kind kind);
/* One info line per site with its count (at close). */
void loop_waits_log(void);

#endif
