#include "cred_follow.h"

#include "credentials.h"
#include "../cse/base/log.h"
#include "../cse/base/loop.h"
#include "../cse/core/cse.h"
#include "../cse/core/metrics.h"

#include <stdio.h>

static struct follow {
    struct cse *cse;
    bool open;
    int64_t check_timer;       /* SQLite: the periodic look at the file; 0 otherwise */
} fol;

static void gone(void *arg, const char *identity)
{
    struct follow *f = arg;
    char cred[CRED_ID_MAX + 4];
    snprintf(cred, sizeof cred, "12-%s", identity);
    log_info("credentials: %s was removed from the credential store: its sessions end", identity);
    cse_credential_withdrawn(f->cse, cred);
}

/* The end of a loop round: notices libpq read with our own statements. */
static void round_over(struct loop *loop, void *data)
{
    (void)loop;
    struct follow *f = data;
    if (f->open && cred_changes_waiting(f->cse->creds)) cred_poll_changes(f->cse->creds);
}

/* SQLite has no notices: one cheap read of the file's change counter per
 * tick (PRAGMA data_version, the WAL index in shared memory), and the
 * tables only once it moved. */
static int64_t check_file(struct loop *loop, int64_t id, void *data)
{
    (void)loop;
    (void)id;
    struct follow *f = data;
    cred_poll_changes(f->cse->creds);
    return CRED_FOLLOW_CHECK_MS;
}

static void waits_metric(void *data, struct metrics_text *out)
{
    struct follow *f = data;
    if (!f->open || !cred_shared(f->cse->creds)) return;   /* SQLite never waits on a socket */
    metrics_head(out, "ironbark_credential_waits_outside_fiber_total", "counter",
                 "Credential database round trips waited for outside a fiber, blocking the loop (start-up not counted).");
    metrics_line(out, "ironbark_credential_waits_outside_fiber_total %llu",
                 (unsigned long long)cred_waits_outside_fiber(f->cse->creds));
}

int cred_follow_open(struct cse *cse)
{
    if (!cse->loop || !cse->creds) return 0;
    fol = (struct follow){ .cse = cse, .open = true };
    metrics_add_source(cse->metrics, waits_metric, &fol);
    if (cred_follow_changes(cse->creds, cse->loop, gone, &fol)) {
        fol = (struct follow){ 0 };
        return -1;
    }
    if (!cred_shared(cse->creds)) {
        fol.check_timer = loop_add_timer(cse->loop, CRED_FOLLOW_CHECK_MS, check_file, &fol);
        if (fol.check_timer < 0) {
            log_error("credentials: cannot add the timer that follows the store's changes");
            cred_follow_close(cse);
            return -1;
        }
    } else if (loop_before_sleep(cse->loop, round_over, &fol)) {
        log_warn("credentials: no before-sleep hook left: changes are read when the socket wakes the loop");
    }
    return 0;
}

void cred_follow_close(struct cse *cse)
{
    (void)cse;
    if (!fol.open) return;
    if (fol.check_timer > 0) loop_del_timer(fol.cse->loop, fol.check_timer);
    cred_unfollow_changes(fol.cse->creds);
    fol = (struct follow){ 0 };
}
