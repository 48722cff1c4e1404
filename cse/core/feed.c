/* The change feed of a shared store, applied to what the engine keeps in
 * memory (feed.h). What is not here reads through the store on every use
 * and needs nothing: the subscriptions of a resource (notify.c asks the
 * store for them per event), <request> records, AE-IDs and names (the
 * store's unique constraints decide), la/ol. Requests queued at polling
 * channels are in the store; a notice wakes the long polls parked here.
 * Credentials follow their own
 * channel (security/cred_follow.c).
 * The parent cache and every memo keyed on store_generation() drop
 * themselves: the generation moves with each change reported. */
#include "feed.h"

#include "store_job.h"
#include "../base/fiber.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../events/notify.h"
#include "../events/polling.h"
#include "../../security/acl.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* A notice wakes the loop through the feed's socket; the changes are read
 * at the end of every loop round (before-sleep), because libpq may have
 * taken notices in while it read a query's answer, leaving the socket
 * quiet. The socket is watched through a dup() of its own, so a
 * reconnection inside some store call, which closes the old socket and
 * may reuse its number, never leaves epoll watching the wrong one: the
 * store's count of connections tells when it changed (no fstat() per
 * round). While the database is away the
 * feed is tried again this often (reconnecting happens inside the store,
 * in a fiber: reconnect_job).
 *
 * While a fiber holds the store's lock a poll reads nothing (the socket
 * carries that fiber's answer, and the notices PostgreSQL sends just
 * before a statement's end arrive with it). The socket's readiness brings
 * the feed back in time only when epoll reports our descriptor after the
 * store's own (the fiber has ended by then), which depends on which was
 * registered last; and the end of a round may never find the lock free: a
 * busy front-end hands it from fiber to fiber within the round. So the
 * feed is also read at each such hand-over, in between (fiber_lock's
 * on_handover): a notice waits for the fiber that read it, never for the
 * queue behind. A hand-over reads only what libpq holds already (no recv(),
 * which would mostly find nothing: one system call per hand-over under
 * contention); input that arrives later is taken in by whichever reads the
 * socket next, the next fiber or the store's idle watch. */
#define RETRY_MS 1000

struct feed {
    struct cse *cse;
    int fd;                    /* our dup() of the store's socket, watched; -1 when none */
    uint64_t connection;       /* store_connections() when fd was dup()ed */
    int64_t retry;             /* the retry timer while the database is away */
    bool reconnecting;         /* reconnect_job waits in a fiber */
    bool rereading;            /* drop_all's read of the next expiry waits in a fiber */
    bool lost;                 /* notices may have been missed: drop everything when back */
    bool acl_stale;            /* this poll's changes touched what the ACP cache read */
    bool resync;               /* this poll reported a gap: anything may have changed */
    uint64_t applied;          /* changes of other front-ends applied so far */
};

/* The next expiry read again: a round trip, to a database that may just
 * have been away, so in a fiber. An expiry noted meanwhile is kept when
 * earlier (a sweep too early finds nothing and reads it again). */
static void reread_expiry(void *data)
{
    struct feed *f = data;
    f->rereading = false;
    char next[sizeof f->cse->next_expiry];
    if (!store_next_expiry(f->cse->store, next) && next[0]) cse_note_expiry(f->cse, next);
}

/* Everything cached from the store goes: after a gap in the feed nobody
 * knows what changed. */
static void drop_all(struct feed *f)
{
    acl_invalidate(f->cse);
    if (f->rereading) return;
    f->rereading = true;
    cse_in_store_fiber(f->cse, reread_expiry, NULL, f);
}

static void follow(const struct store_change *c, void *data)
{
    struct feed *f = data;
    struct cse *cse = f->cse;
    if (c->op == STORE_CHANGE_RESYNC) {
        f->resync = true;      /* the store reconnected: notices between were lost */
        polling_queued_elsewhere(cse, NULL);
        return;
    }
    if (c->op == STORE_CHANGE_PCH_QUEUED) {
        polling_queued_elsewhere(cse, c->ri);
        return;
    }
    if (c->op == STORE_CHANGE_PCH_ANSWERED) {
        polling_answered_elsewhere(cse, c->ri, c->body);
        return;
    }
    const struct resource_type *t = registry_find(&cse->types, c->ty);
    unsigned flags = t ? t->flags : 0;
    /* The sweep that comes due removes it here or finds it gone (whoever
     * deletes it first sends its deletion notifications, once). */
    if (c->op != STORE_CHANGE_DELETE && c->et) cse_note_expiry(cse, c->et);
    if (acl_reads_type(cse, c->ty)) f->acl_stale = true;
    if (c->op == STORE_CHANGE_DELETE && (flags & RT_SUBSCRIPTION)) notify_forget_subscription(cse, c->ri);
    if (t && t->on_changed_elsewhere) t->on_changed_elsewhere(cse, c);
}

static void on_readable(struct loop *loop, int fd, void *data, int mask);
static int64_t retry_due(struct loop *loop, int64_t id, void *data);
static void rewatch(struct feed *f);

/* Reconnecting waits for the database, so in a fiber, through the round
 * trip a gap calls for anyway (the next expiry); the loop's next poll
 * follows the new connection (and reports the gap). */
static void reconnect_job(void *data)
{
    struct feed *f = data;
    f->reconnecting = false;
    reread_expiry(f);
    rewatch(f);
}

/* From the loop: without a working connection the poll would reconnect
 * there (pg_ready), so that happens in a fiber first. */
static void poll_from_loop(struct feed *f)
{
    if (store_change_fd(f->cse->store) >= 0) {
        feed_poll(f->cse);
        return;
    }
    if (f->reconnecting) return;
    if (f->retry) loop_del_timer(f->cse->loop, f->retry);
    f->retry = 0;
    f->reconnecting = true;
    cse_in_store_fiber(f->cse, reconnect_job, NULL, f);
}

/* Watches the store's current socket (through our own descriptor), or arms
 * the retry timer when there is none or the database is away. */
static void rewatch(struct feed *f)
{
    struct cse *cse = f->cse;
    int fd = store_change_fd(cse->store);
    uint64_t connection = store_connections(cse->store);
    if (connection != f->connection || (f->fd < 0) != (fd < 0)) {
        if (f->fd >= 0) {
            loop_unwatch(cse->loop, f->fd, LOOP_READABLE);
            close(f->fd);
        }
        /* One that fails stays -1 against a store's descriptor: tried again next time. */
        f->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
        f->connection = connection;
        if (f->fd >= 0 && loop_watch(cse->loop, f->fd, LOOP_READABLE, on_readable, f)) {
            close(f->fd);
            f->fd = -1;
        }
    }
    if ((f->fd < 0 || f->lost) && !f->retry && !f->reconnecting) f->retry = loop_add_timer(cse->loop, RETRY_MS, retry_due, f);
}

static int64_t retry_due(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct feed *f = data;
    f->retry = 0;
    poll_from_loop(f);
    return -1;
}

typedef int poll_fn(struct store *s, store_change_fn *fn, void *data);

/* The changes poll reports, applied. */
static int apply(struct cse *cse, poll_fn *poll)
{
    struct feed *f = cse->feed;
    if (!f) return 0;
    f->acl_stale = f->resync = false;
    int n = poll(cse->store, follow, f);
    if (n > 0) f->applied += (uint64_t)n;
    if (n < 0) {
        if (!f->lost) log_warn("feed: the database is unreachable: changes of other front-ends are not seen until it is back");
        f->lost = true;
        drop_all(f);
    } else if (f->lost || f->resync) {
        f->lost = false;
        log_info("feed: the database is back: caches dropped, changes of other front-ends followed again");
        drop_all(f);
    } else if (f->acl_stale) {
        acl_invalidate(cse);
    }
    rewatch(f);
    return n;
}

int feed_poll(struct cse *cse) { return apply(cse, store_poll_changes); }

static void on_readable(struct loop *loop, int fd, void *data, int mask)
{
    (void)loop; (void)fd; (void)mask;
    struct feed *f = data;
    poll_from_loop(f);
}

/* The end of each loop round: notices libpq took in meanwhile, and what
 * waits on the socket, with the store's lock free. */
static void round_over(struct loop *loop, void *data)
{
    (void)loop;
    struct cse *cse = data;
    if (cse->feed && cse->feed->fd >= 0) poll_from_loop(cse->feed);
}

/* The lock passes on: the notices the fiber that ended took in with its
 * answers, without reading the socket (a busy front-end hands over many
 * times a round; what is on the socket is taken in by the next fiber's
 * reads or the store's idle watch, and applied at the next hand-over or
 * the round's end). */
static void handed_over(void *data)
{
    struct cse *cse = data;
    /* After a gap the full poll, at the round's end, tells that it is over. */
    if (cse->feed && cse->feed->fd >= 0 && !cse->feed->lost) apply(cse, store_poll_buffered_changes);
}

uint64_t feed_applied(const struct cse *cse) { return cse->feed ? cse->feed->applied : 0; }

int feed_open(struct cse *cse)
{
    if (!cse->loop || !cse->store || !store_shared(cse->store)) return 0;
    struct feed *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->cse = cse;
    f->fd = -1;
    cse->feed = f;
    rewatch(f);
    /* After the group commit's hook: the round's own writes are settled. */
    if (loop_before_sleep(cse->loop, round_over, cse)) log_warn("feed: no before-sleep hook left: changes are read when the socket wakes the loop");
    struct fiber_lock *lock = store_fiber_lock(cse->store);
    if (lock) {
        lock->on_handover = handed_over;
        lock->handover_data = cse;
    }
    return 0;
}

void feed_close(struct cse *cse)
{
    struct feed *f = cse->feed;
    if (!f) return;
    if (f->fd >= 0) {
        loop_unwatch(cse->loop, f->fd, LOOP_READABLE);
        close(f->fd);
    }
    if (f->retry) loop_del_timer(cse->loop, f->retry);
    struct fiber_lock *lock = store_fiber_lock(cse->store);
    if (lock) lock->on_handover = NULL;
    free(f);
    cse->feed = NULL;
}
