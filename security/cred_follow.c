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
} fol;

static void gone(void *arg, const char *identity)
{
    struct follow *f = arg;
    char cred[CRED_ID_MAX + 4];
    snprintf(cred, sizeof cred, "12-%s", identity);
    log_info("credentials: %s was removed from the shared store: its sessions end", identity);
    cse_credential_withdrawn(f->cse, cred);
}

/* The end of a loop round: notices libpq read with our own statements. */
static void round_over(struct loop *loop, void *data)
{
    (void)loop;
    struct follow *f = data;
    if (f->open && cred_changes_waiting(f->cse->creds)) cred_poll_changes(f->cse->creds);
}

static void waits_metric(void *data, struct metrics_text *out)
{
    struct follow *f = data;
    if (!f->open) return;
    metrics_head(out, "ironbark_credential_waits_outside_fiber_total", "counter",
                 "Credential database round trips waited for outside a fiber, blocking the loop (start-up included).");
    metrics_line(out, "ironbark_credential_waits_outside_fiber_total %llu",
                 (unsigned long long)cred_waits_outside_fiber(f->cse->creds));
}

int cred_follow_open(struct cse *cse)
{
    if (!cse->loop || !cred_shared(cse->creds)) return 0;
    fol = (struct follow){ .cse = cse, .open = true };
    metrics_add_source(cse->metrics, waits_metric, &fol);
    if (cred_follow_changes(cse->creds, cse->loop, gone, &fol)) return -1;
    if (loop_before_sleep(cse->loop, round_over, &fol))
        log_warn("credentials: no before-sleep hook left: changes are read when the socket wakes the loop");
    return 0;
}

void cred_follow_close(struct cse *cse)
{
    (void)cse;
    if (!fol.open) return;
    cred_unfollow_changes(fol.cse->creds);
    fol = (struct follow){ 0 };
}
