#include "cred_follow.h"

#include "credentials.h"
#include "../cse/base/log.h"
#include "../cse/base/loop.h"
#include "../cse/core/cse.h"

#include <stdio.h>

/* While the database is away, reconnection is tried this often (the
 * credential store's own back-off bounds the attempts). */
#define RETRY_MS 1000

static struct follow {
    struct cse *cse;
    int fd;                    /* watched; -1 when none */
    unsigned generation;       /* of the connection behind fd */
    int64_t retry;             /* timer while the database is away */
    bool open;
} fol = { .fd = -1 };

static void gone(void *arg, const char *identity)
{
    struct follow *f = arg;
    char cred[CRED_ID_MAX + 4];
    snprintf(cred, sizeof cred, "12-%s", identity);
    log_info("credentials: %s was removed from the shared store: its sessions end", identity);
    cse_credential_withdrawn(f->cse, cred);
}

static void on_readable(struct loop *loop, int fd, void *data, int mask);
static int64_t retry_due(struct loop *loop, int64_t id, void *data);

/* Watches the current connection's socket; the timer while there is none. */
static void rewatch(struct follow *f)
{
    unsigned generation;
    int fd = cred_change_fd(f->cse->creds, &generation);
    if (fd != f->fd || generation != f->generation) {
        /* A closed socket left epoll by itself; the same number may be the new one. */
        if (f->fd >= 0) loop_unwatch(f->cse->loop, f->fd, LOOP_READABLE);
        f->fd = fd >= 0 && !loop_watch(f->cse->loop, fd, LOOP_READABLE, on_readable, f) ? fd : -1;
        f->generation = generation;
    }
    if (f->fd < 0 && !f->retry) f->retry = loop_add_timer(f->cse->loop, RETRY_MS, retry_due, f);
}

static void poll_changes(struct follow *f)
{
    cred_poll_changes(f->cse->creds, gone, f);
    rewatch(f);
}

static void on_readable(struct loop *loop, int fd, void *data, int mask)
{
    (void)loop; (void)fd; (void)mask;
    poll_changes(data);
}

static int64_t retry_due(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct follow *f = data;
    f->retry = 0;
    poll_changes(f);
    return -1;
}

/* The end of a loop round: notices libpq read with our own statements. */
static void round_over(struct loop *loop, void *data)
{
    (void)loop;
    struct follow *f = data;
    if (f->open && cred_changes_waiting(f->cse->creds)) poll_changes(f);
}

int cred_follow_open(struct cse *cse)
{
    if (!cse->loop || !cred_shared(cse->creds)) return 0;
    fol = (struct follow){ .cse = cse, .fd = -1, .open = true };
    rewatch(&fol);
    if (loop_before_sleep(cse->loop, round_over, &fol))
        log_warn("credentials: no before-sleep hook left: changes are read when the socket wakes the loop");
    return 0;
}

void cred_follow_close(struct cse *cse)
{
    (void)cse;
    if (!fol.open) return;
    if (fol.fd >= 0) loop_unwatch(fol.cse->loop, fol.fd, LOOP_READABLE);
    if (fol.retry) loop_del_timer(fol.cse->loop, fol.retry);
    fol = (struct follow){ .fd = -1 };
}
