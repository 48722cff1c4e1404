/* Subscriptions -> notifications. The dispatcher reports what happened
 * (after its transaction committed); this module finds the subscriptions
 * concerned, builds m2m:sgn / m2m:agn content, and delivers it through an
 * asynchronous queue: a FIFO per target (ordering), retries with exponential
 * back-off, memory bounded in bytes (per target and overall, one body
 * shared by the deliveries of an event) with a drop policy, statistics. Every
 * request leaves through outbound_send() (outbound.h). */
#ifndef IRONBARK_NOTIFY_H
#define IRONBARK_NOTIFY_H

#include "../core/primitive.h"
#include "../core/resource.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct cse;

/* notificationEventType values (TS-0004 6.3.4.2.x). */
enum net {
    NET_UPDATE = 1, NET_DELETE = 2, NET_CREATE_CHILD = 3, NET_DELETE_CHILD = 4,
    NET_RETRIEVE_CNT_NO_CHILD = 5, NET_BLOCKING_UPDATE = 7, NET_MISSING_DATA = 8,
};

struct notify_stats {
    uint64_t queued, delivered, failed, retries;
    uint64_t dropped;              /* notifications lost to a byte bound (a batch counts its members) */
    uint64_t replaced;             /* waiting ln notifications replaced by a newer one */
    int64_t pending;               /* items waiting or in flight */
    size_t bytes;                  /* held now: queued items, batches being collected, bodies */
};

/* One target's queue, while it has one (its state goes with its backlog). */
struct notify_target_stats {
    int64_t pending;               /* items waiting or in flight */
    size_t bytes;                  /* what its byte bound (notify-target-bytes) counts */
    uint64_t dropped;              /* dropped since its backlog began */
};

int notify_open(struct cse *cse);
void notify_close(struct cse *cse);

/* Has the resource with this ri any <subscription> child? Lets the
 * dispatcher skip preparing events nobody listens to (the hot path). */
bool notify_watched(struct cse *cse, const char *ri);

/* After a successful commit: `res` changed (net 1, `modified` = the changed
 * attributes), was deleted (net 2), or `res` is a child of `parent` that was
 * created (net 3) or deleted (net 4). */
void notify_event(struct cse *cse, int net, const struct resource *res,
                  const struct resource *parent, json_t *modified);
/* The same for an event a request caused: op (enum m2m_op) and its
 * originator fr are matched against the subscriptions' enc.om (operation
 * monitor), whose match notifies whatever the net, with nev.om = {ops, org}. */
void notify_event_op(struct cse *cse, int net, const struct resource *res,
                     const struct resource *parent, json_t *modified, int op, const char *fr);

/* A notification no resource event describes (a timeSeries' missing data
 * points, net 8): {"nev": {"rep": rep, "net": net}} to sub's targets, with
 * its batching, ln, statistics and exc like an event's, if the subscriber
 * may still retrieve `subscribed` (rep borrowed). */
void notify_deliver(struct cse *cse, const struct resource *sub, const struct resource *subscribed,
                    int net, json_t *rep);

/* Before an UPDATE of target with content (the request's attributes, its
 * wire key `key`) is applied: each net 7 (blocking update) subscription whose
 * atr matches is sent {"nev": {"rep": {key: content}, "net": 7}} and must
 * answer 2000 (an exchange: DISPATCH_PENDING until the answer is in). Returns
 * 0, DISPATCH_PENDING, or the refusal's RSC (unreachable 5107, 4005 from the
 * subscriber 4127, any other answer as it is), set in rsp. */
int notify_blocking_update(struct cse *cse, const struct m2m_request *req, const struct resource *target,
                           const char *key, json_t *content, struct m2m_response *rsp);

/* Inside a transaction: a subscription is about to be removed (directly,
 * with an ancestor, by expiry or by its expiration counter). The deletion
 * notifications go out at notify_removed_commit(); notify_removed_abort()
 * forgets them when the transaction rolls back. */
void notify_removing(struct cse *cse, const struct resource *sub);
void notify_removed_commit(struct cse *cse);
void notify_removed_abort(struct cse *cse);
/* How many removals are noted so far, and forgetting those noted after
 * `mark`: a removal that failed (another front-end removed the resource
 * first) owes no deletion notification. */
int notify_removing_mark(struct cse *cse);
void notify_removing_rewind(struct cse *cse, int mark);
/* A subscription another front-end deleted (cse/core/feed.h): its batch
 * collected here goes out, its held notifications and statistics go; the
 * front-end that deleted it sent the deletion notification. */
void notify_forget_subscription(struct cse *cse, const char *sub_ri);

/* Queues one NOTIFY with content pc (borrowed) to a target: a URL or the ID
 * of an entity with a poa. `done` (may be NULL) learns the final RSC; -1
 * when it was not queued (overall bound, memory), done then not called. */
typedef void notify_done_fn(void *data, int rsc);
int notify_send(struct cse *cse, const char *target, json_t *pc, int ec,
                notify_done_fn *done, void *data);

/* Exchanges: a NOTIFY whose answer a request needs (verification of a
 * subscription target, a notification forwarded to an AE's poa). Within a
 * request dispatched by cse_dispatch_async they are deferred: the call
 * records the exchange in req->cont->wanted and returns DISPATCH_PENDING;
 * the dispatcher runs them with notify_run_exchange() and runs the request
 * again, when the call returns the answer's RSC. Every request entering
 * through a binding, a fopt member or a non-blocking execution can wait;
 * only without an event loop do they block (bounded). An unreachable target
 * gives 5103. */
int notify_verify(struct cse *cse, const struct m2m_request *req, const char *target, json_t *pc);
int notify_forward(struct cse *cse, const struct resource *entity, const struct m2m_request *req);
/* An exchange whose answer's content matters (a DAS consultation, a token
 * fetched by ID): the request primitive op (to = the To parameter, NULL for
 * the URL itself) with content pc (borrowed) is sent from this CSE to urls
 * (a JSON array, tried in order: URLs, or IDs of entities with a poa),
 * bounded by timeout_ms (0: the verification default). to, when set, is
 * appended to each URL as path segments (the role "rol-..." under a DAS's
 * base URL). key names the question: within one request, the
 * same key gets the same answer. Returns, as notify_verify does, the RSC
 * answered (5103 when no URL answered) or DISPATCH_PENDING; with an RSC,
 * *answer is the answer's content (a new reference; NULL when it had none
 * or was not JSON). */
int notify_ask(struct cse *cse, const struct m2m_request *req, const char *key, json_t *urls,
               int op, const char *to, json_t *pc, int timeout_ms, json_t **answer);
/* notify_ask() sent as originator from (a server acting as an AE elsewhere: the m2m-ppm's ppm-ae). */
int notify_ask_as(struct cse *cse, const struct m2m_request *req, const char *key, const char *from, json_t *urls,
                  int op, const char *to, json_t *pc, int timeout_ms, json_t **answer);
/* Forwarding (cse/core/forward.h): req relayed as it is (op, rqi, rvi,
 * ty, pc, ec, tokens, rqet, rset, oet, vsi) from originator fr to
 * <url> + "/" + path (the target and query at the next hop), the URLs of
 * urls (a JSON array, borrowed) tried in order, each bounded by timeout_ms.
 * Returns DISPATCH_PENDING or the RSC answered (5103 when none was
 * reachable) with *answer = {"rsc", "pc"?, "loc"?} (a new reference). */
int notify_relay(struct cse *cse, const struct m2m_request *req, const char *key, json_t *urls,
                 const char *path, const char *fr, int timeout_ms, json_t **answer);
/* Sends exchange x (from req->cont->wanted, or made by a server's own work:
 * {"key", "urls", "from", "rqi", "pc", "op", "ty" for a CREATE, "timeout_ms",
 * "content"}); done learns the result
 * ({"rsc": n} and, for notify_ask, "pc": the answer's content; borrowed),
 * always later from the loop. */
typedef void notify_answer_fn(void *data, json_t *result);
void notify_run_exchange(struct cse *cse, json_t *x, notify_answer_fn *done, void *data);

/* Notification statistics (nse/nsi), kept in memory: reset_stats starts
 * (nse true) or stops (false) counting for a subscription; fill_stats sets
 * its nsi from the counters, for a RETRIEVE. */
void notify_reset_stats(struct cse *cse, const struct resource *sub);
void notify_fill_stats(struct cse *cse, struct resource *sub);

/* Points of access of an AE/CSE given by ID (NULL when it has none):
 * a JSON array, new reference. */
json_t *notify_poa_of(struct cse *cse, const char *id);

/* Counters since start (and the bytes held now); drops are also logged
 * (rate-limited). The target's: -1 when it has nothing queued. */
void notify_get_stats(struct cse *cse, struct notify_stats *out);
int notify_get_target_stats(struct cse *cse, const char *target, struct notify_target_stats *out);

#endif
