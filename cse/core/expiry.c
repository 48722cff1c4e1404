/* Expiry: resources whose et has passed are removed like by a DELETE, and
 * their subscribers hear of it (docs/architecture.md, Expiry). */
#include "expiry.h"

#include "../base/clock.h"
#include "../base/log.h"
#include "../events/notify.h"
#include "metrics.h"
#include "removal.h"
#include "../../resources/registry.h"
#include "../../security/acl.h"

#include <stdlib.h>
#include <string.h>

struct expired_list { const struct cse *cse; struct resource **items; int n, cap; };

static int collect_expired(struct resource *res, void *data)
{
    struct expired_list *l = data;
    if (type_flags(&l->cse->types, res->ty) & RT_ROOT) return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = realloc(l->items, (size_t)l->cap * sizeof *l->items);
    }
    l->items[l->n++] = resource_dup(res);
    return 0;
}

/* Expiry is a deletion too: subscribers hear of it like of a DELETE. */
static void announce_expired(struct cse *cse, struct resource **gone, int n)
{
    for (int i = 0; i < n; i++) notify_event(cse, NET_DELETE, gone[i], NULL, NULL);
    notify_removed_commit(cse);
    for (int i = 0; i < n; i++) {
        struct resource *parent = NULL;
        if (res_pi(gone[i]) && !store_get(cse->store, res_pi(gone[i]), &parent))
            notify_event(cse, NET_DELETE_CHILD, gone[i], parent, NULL);
        resource_free(parent);
    }
}

int cse_expire_now(struct cse *cse)
{
    ts_buf now;
    ts_format(clock_now_us(), now);
    struct expired_list l = { .cse = cse };
    if (store_begin(cse->store)) return 0;
    store_expired(cse->store, now, collect_expired, &l);
    int removed = 0;
    struct resource **gone = calloc((size_t)l.n + 1, sizeof *gone);
    for (int i = 0; i < l.n && gone; i++) {
        struct resource *still;
        /* An earlier removal may have taken this one with its subtree. */
        if (!store_get(cse->store, res_ri(l.items[i]), &still)) {
            struct m2m_response rsp;
            m2m_response_init(&rsp);
            int mark = notify_removing_mark(cse);
            if (cse_delete_resource(cse, still, &rsp)) {
                /* Another front-end of a shared store expired it first: its
                 * subscribers heard of it from there, not again from here. */
                notify_removing_rewind(cse, mark);
            } else {
                gone[removed++] = l.items[i];
                l.items[i] = NULL;
                log_debug("expired %s", still->path);
            }
            m2m_response_clear(&rsp);
            resource_free(still);
        }
        resource_free(l.items[i]);
    }
    /* Inside the round's open batch the sweep's commit commits the batch
     * (store.h): its primitives are counted here, as cse_commit() would
     * have, or the round's commit finds nothing left to count. */
    int batched = store_batch_size(cse->store);
    int committed = store_commit(cse->store);
    if (batched && !store_batch_pending(cse->store)) metrics_batch(cse->metrics, batched);
    if (committed) {
        store_rollback(cse->store);
        notify_removed_abort(cse);
    } else {
        announce_expired(cse, gone, removed);
    }
    for (int i = 0; i < removed; i++) resource_free(gone[i]);
    for (int i = 0; !gone && i < l.n; i++) resource_free(l.items[i]);
    free(gone);
    free(l.items);
    /* A backlog (or an undeletable resource) leaves the earliest et in the
     * past: let the timer deal with it instead of every request. */
    if (store_next_expiry(cse->store, cse->next_expiry) || (cse->next_expiry[0] && strcmp(cse->next_expiry, now) < 0))
        ts_format(clock_now_us() + cse->cfg.expiry_interval_ms * 1000, cse->next_expiry);
    if (removed) acl_invalidate(cse);
    return removed;
}

void cse_expire_due(struct cse *cse)
{
    if (!cse->next_expiry[0]) return;
    /* Runs before every primitive: compare microseconds, not formatted
     * timestamps, and parse next_expiry only when it changes. */
    if (strcmp(cse->next_expiry_parsed, cse->next_expiry)) {
        if (!ts_parse(cse->next_expiry, &cse->next_expiry_us)) cse->next_expiry_us = INT64_MIN;
        snprintf(cse->next_expiry_parsed, sizeof cse->next_expiry_parsed, "%s", cse->next_expiry);
    }
    if (clock_now_us() > cse->next_expiry_us) cse_expire_now(cse);
}
