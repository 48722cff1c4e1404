/* Polling channels: the queue of requests per <pollingChannel>, the parked
 * long polls, and the matching of answers by rqi. See polling.h and
 * docs/subscriptions.md, "Polling channels". */
#include "polling.h"

#include "../core/address.h"
#include "../base/clock.h"
#include "../core/cse.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../core/rsc.h"
#include "../core/store_job.h"
#include "../store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void answer_fn(void *data, json_t *result);

#define LOG_BURST_MS 10000         /* drops and expiries are logged at most this often (log_burst_write) */

/* A request waiting at a channel: to be polled, then (handed) to be answered. */
struct entry {
    struct entry *next;            /* in its channel, then in the answers due */
    struct polling *pl;
    struct channel *ch;            /* NULL once it left its channel */
    uint64_t id;                   /* how a store job finds it again (pch_job) */
    json_t *rqp;                   /* {"m2m:rqp": {...}} */
    char *rqi;
    bool handed;                   /* polled: waits for the entity's m2m:rsp */
    outbound_done_fn *done;
    void *data;
    int64_t timer;                 /* its deadline, then the zero-delay answer */
    int rsc;                       /* the answer, once known */
    char *body;                    /* the answer's content (JSON text) or NULL */
};

/* A parked long poll: a deferred RETRIEVE to pcu. */
struct poll {
    struct poll *next;             /* in its channel, then in the answers due */
    struct polling *pl;
    struct channel *ch;            /* NULL once it left its channel */
    answer_fn *done;
    void *data;
    int64_t timer;                 /* its deadline, then the zero-delay answer */
    json_t *result;                /* {"rsc": n, "pc"?}, once known */
    bool aggregate;                /* the channel's rqag: takes every waiting request */
};

struct channel {
    struct channel *next;
    struct polling *pl;
    char *ri;
    struct entry *entries;         /* oldest first: waiting and handed ones */
    int waiting;                   /* entries not yet handed (what pch-queue bounds) */
    struct poll *polls;            /* oldest first */
    int64_t gone_check;            /* the timer of polling_channel_removed */
    bool pump_queued;              /* shared store: a take for it waits to start (pump_job) */
};

struct polling {
    struct cse *cse;
    struct channel *channels;
    int parked;                    /* polls parked on every channel */
    uint64_t dropped;
    bool closing;                  /* polling_close runs: answers go out at once */
    uint64_t entry_ids;            /* the last entry's id */
    struct log_burst drop_log, expiry_log; /* lines others can provoke: rate-limited */
    /* Answered, their answer waiting for its zero-delay timer: given at
     * once by polling_close, so none outlives the queues it answers into. */
    struct entry *due_entries;
    struct poll *due_polls;
};

static struct polling *pl_of(struct cse *cse)
{
    if (!cse->polling && cse->loop) {
        cse->polling = calloc(1, sizeof *cse->polling);
        if (cse->polling) cse->polling->cse = cse;
    }
    return cse->polling;
}

static struct channel *channel_find(struct polling *pl, const char *ri)
{
    for (struct channel *c = pl->channels; c; c = c->next)
        if (!strcmp(c->ri, ri)) return c;
    return NULL;
}

static struct channel *channel_get(struct polling *pl, const char *ri)
{
    struct channel *c = channel_find(pl, ri);
    if (c) return c;
    c = calloc(1, sizeof *c);
    if (!c || !(c->ri = strdup(ri))) { free(c); return NULL; }
    c->pl = pl;
    c->next = pl->channels;
    pl->channels = c;
    return c;
}

/* A channel with nothing queued and nobody polling is forgotten. */
static void channel_release(struct channel *c)
{
    if (c->entries || c->polls || c->gone_check) return;
    for (struct channel **p = &c->pl->channels; *p; p = &(*p)->next)
        if (*p == c) { *p = c->next; break; }
    free(c->ri);
    free(c);
}

static struct loop *loop_of(const struct channel *c) { return c->pl->cse->loop; }

/* --- queued requests ------------------------------------------------------------ */

static void entry_unlink(struct entry *e)
{
    for (struct entry **p = &e->ch->entries; *p; p = &(*p)->next)
        if (*p == e) { *p = e->next; break; }
    if (!e->handed) e->ch->waiting--;
}

static int64_t entry_answer_due(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct entry *e = data;
    for (struct entry **p = &e->pl->due_entries; *p; p = &(*p)->next)
        if (*p == e) { *p = e->next; break; }
    struct outbound_answer ans = { .rsc = e->rsc, .body = e->body, .len = e->body ? strlen(e->body) : 0 };
    e->done(e->data, &ans);
    free(e->body);
    free(e->rqi);
    json_decref(e->rqp);
    free(e);
    return -1;
}

/* e leaves its channel with this answer, given to its sender from the loop. */
static void entry_finish(struct entry *e, int rsc, char *body)
{
    struct channel *c = e->ch;
    entry_unlink(e);
    if (e->timer) loop_del_timer(loop_of(c), e->timer);
    e->rsc = rsc;
    e->body = body;
    e->timer = 0;
    struct loop *loop = loop_of(c);
    e->ch = NULL;
    channel_release(c);
    /* Later from the loop: the sender may be inside the request that answered. */
    e->next = e->pl->due_entries;
    e->pl->due_entries = e;
    if (e->pl->closing) entry_answer_due(NULL, 0, e);
    else e->timer = loop_add_timer(loop, 0, entry_answer_due, e);
}

static int64_t entry_expired(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct entry *e = data;
    e->timer = 0;
    log_burst_write(&e->pl->expiry_log, LOG_LVL_INFO, loop_now_ms(), LOG_BURST_MS,
                    "pch %s: request %s was not %s in time", e->ch->ri, e->rqi, e->handed ? "answered" : "polled");
    entry_finish(e, RSC_REQUEST_TIMEOUT, NULL);
    return -1;
}

/* --- parked polls --------------------------------------------------------------- */

static int64_t poll_answer_due(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct poll *p = data;
    for (struct poll **q = &p->pl->due_polls; *q; q = &(*q)->next)
        if (*q == p) { *q = p->next; break; }
    p->done(p->data, p->result);
    json_decref(p->result);
    free(p);
    return -1;
}

/* p is answered result (taken), from the loop. */
static void poll_finish(struct poll *p, json_t *result)
{
    struct channel *c = p->ch;
    for (struct poll **q = &c->polls; *q; q = &(*q)->next)
        if (*q == p) { *q = p->next; break; }
    c->pl->parked--;
    if (p->timer) loop_del_timer(loop_of(c), p->timer);
    p->result = result ? result : json_pack("{s:i}", "rsc", RSC_INTERNAL_SERVER_ERROR);
    p->timer = 0;
    struct loop *loop = loop_of(c);
    p->ch = NULL;
    channel_release(c);
    p->next = p->pl->due_polls;
    p->pl->due_polls = p;
    if (p->pl->closing) poll_answer_due(NULL, 0, p);
    else p->timer = loop_add_timer(loop, 0, poll_answer_due, p);
}

static int64_t poll_expired(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct poll *p = data;
    p->timer = 0;
    poll_finish(p, json_pack("{s:i}", "rsc", RSC_REQUEST_TIMEOUT));
    return -1;
}

static const char *rqi_of(json_t *rqp)
{
    const char *rqi = json_string_value(json_object_get(json_object_get(rqp, "m2m:rqp"), "rqi"));
    return rqi ? rqi : "";
}

static void take_one(const char *rqp, void *data)
{
    json_t *v = json_loads(rqp, 0, NULL);
    if (v) json_array_append_new(data, v);
    else log_warn("pch: a queued request in the database is not JSON: dropped");
}

/* --- shared store: its work in fibers ------------------------------------------ */

/* With a shared store every use of it here runs in a store fiber
 * (cse_in_store_fiber), which may wait its turn and for the database while
 * the loop ends polls and requests, frees channels, or closes. So a job
 * keeps no pointer into the queues, only the CSE and names (a channel's ri,
 * an entry's id), and looks up what it works on again after each wait:
 * what ended meanwhile is simply not found. A job the CSE's close drops
 * before it ran is only freed (job_free). */
struct pch_job {
    struct cse *cse;
    int64_t id;                    /* the entry queued (put), the answer kept (kept answer) */
    char *rqi, *rqp;
    char pch[];
};

static struct pch_job *job_new(struct cse *cse, const char *pch, int64_t id, const char *rqi)
{
    size_t n = strlen(pch) + 1;
    struct pch_job *j = malloc(sizeof *j + n);
    if (!j) return NULL;
    *j = (struct pch_job){ cse, id, rqi ? strdup(rqi) : NULL, NULL };
    memcpy(j->pch, pch, n);
    if (rqi && !j->rqi) { free(j); return NULL; }
    return j;
}

static void job_free(void *arg)
{
    struct pch_job *j = arg;
    free(j->rqi);
    free(j->rqp);
    free(j);
}

/* Channel pch as it is now: NULL when gone or closing. */
static struct channel *channel_now(struct cse *cse, const char *pch)
{
    struct polling *pl = cse->polling;
    return pl && !pl->closing ? channel_find(pl, pch) : NULL;
}

static struct entry *entry_now(struct cse *cse, const char *pch, int64_t id)
{
    struct channel *c = channel_now(cse, pch);
    struct entry *e = c ? c->entries : NULL;
    while (e && e->id != (uint64_t)id) e = e->next;
    return e;
}

/* Requests taken for a poll that ended meanwhile go back into the queue (at
 * its end, with a fresh deadline) for the next poll. */
static void take_back(struct cse *cse, const char *pch, json_t *taken)
{
    size_t i;
    json_t *v;
    json_array_foreach(taken, i, v) {
        char *text = json_dumps(v, JSON_COMPACT);
        if (!text || store_pch_put(cse->store, pch, rqi_of(v), text, cse->cfg.pch_request_timeout_ms,
                                   (int)cse->cfg.pch_queue, take_one, NULL))
            log_warn("pch %s: a request taken for a poll that ended could not be queued again", pch);
        free(text);
    }
}

/* Shared store: the requests wait in the database, and the oldest parked
 * polls here take them there (docs/scale-out.md). */
static void pump_job(void *arg)
{
    struct pch_job *j = arg;
    struct cse *cse = j->cse;
    for (;;) {
        struct channel *c = channel_now(cse, j->pch);
        /* From here on a wake queues another take: none is lost while this one waits. */
        if (c) c->pump_queued = false;
        if (!c || !c->polls) break;
        bool aggregate = c->polls->aggregate;
        json_t *taken = json_array();
        int n = taken ? store_pch_take(cse->store, j->pch, aggregate ? (int)cse->cfg.pch_queue : 1, take_one, taken)
                      : -1;
        c = channel_now(cse, j->pch);
        if (!c || !c->polls || !json_array_size(taken)) {
            take_back(cse, j->pch, taken);
            json_decref(taken);
            if (n > 0 && c && c->polls) continue;   /* rows that were not JSON: the next ones */
            break;
        }
        json_t *pc;
        if (aggregate) {
            json_t *all = json_array();
            size_t i;
            json_t *v;
            json_array_foreach(taken, i, v) json_array_append(all, json_object_get(v, "m2m:rqp"));
            pc = json_pack("{s:o}", "m2m:agrp", all);
        } else {
            pc = json_incref(json_array_get(taken, 0));
        }
        json_decref(taken);
        poll_finish(c->polls, json_pack("{s:i,s:o}", "rsc", RSC_OK, "pc", pc));
    }
    job_free(j);
}

static void channel_pump_shared(struct channel *c)
{
    if (c->pump_queued) return;
    struct cse *cse = c->pl->cse;
    struct pch_job *j = job_new(cse, c->ri, 0, NULL);
    if (!j) {
        log_warn("pch %s: no memory to take the waiting requests (its polls time out)", c->ri);
        return;
    }
    c->pump_queued = true;
    cse_in_store_fiber(cse, pump_job, job_free, j);
}

/* Hands the oldest waiting requests to the oldest parked polls. */
static void channel_pump(struct channel *c)
{
    if (store_shared(c->pl->cse->store)) {
        channel_pump_shared(c);
        return;
    }
    while (c->polls && c->waiting) {
        /* One m2m:rqp, or with rqag all waiting ones as m2m:agrp (their
         * primitives without the m2m:rqp key, as ACME sends them). */
        json_t *all = c->polls->aggregate ? json_array() : NULL;
        json_t *pc = NULL;
        for (struct entry *e = c->entries; e && c->waiting && (all || !pc); e = e->next) {
            if (e->handed) continue;
            e->handed = true;
            c->waiting--;
            if (all) json_array_append(all, json_object_get(e->rqp, "m2m:rqp"));
            else pc = json_incref(e->rqp);
        }
        if (all) pc = json_pack("{s:o}", "m2m:agrp", all);
        poll_finish(c->polls, json_pack("{s:i,s:o}", "rsc", RSC_OK, "pc", pc));
    }
}

/* --- the interface -------------------------------------------------------------- */

static bool is_url(const char *s) { return strstr(s, "://") != NULL; }

struct first_child { char ri[256]; };

static int take_first(struct resource *res, void *data)
{
    struct first_child *f = data;
    if (!f->ri[0]) snprintf(f->ri, sizeof f->ri, "%s", res_ri(res) ? res_ri(res) : "");
    return 0;
}

bool polling_channel_of(struct cse *cse, const char *target, bool has_url, char *pch, size_t cap)
{
    pch[0] = 0;
    if (!target || is_url(target) || !cse->loop) return false;
    struct address a;
    if (address_parse(cse, target, &a)) return false;
    struct resource *r = NULL;
    if (!a.remote && !a.attr) address_resolve(cse, a.local, &r);
    address_clear(&a);
    struct first_child f = { "" };
    /* TS-0001 9.6.5: an entity with requestReachability false cannot receive
     * requests; without a usable poa it cannot either. */
    if (r && !r->virtual_of && (type_flags(&cse->types, r->ty) & RT_HAS_POA) &&
        (!has_url || !res_bool(r, "rr", 1)))
        store_children(cse->store, res_ri(r), TY_PCH, take_first, &f);
    resource_free(r);
    if (!f.ri[0]) return false;
    snprintf(pch, cap, "%s", f.ri);
    return true;
}

/* The request primitive as the entity polls it. */
static json_t *rqp_of(const char *target, const struct outbound_request *r)
{
    const struct m2m_request *q = r->req;
    json_t *rqp = json_pack("{s:i,s:s,s:s,s:s}", "op", (int)q->op, "to", target,
                            "fr", q->fr ? q->fr : "", "rqi", q->rqi ? q->rqi : "");
    if (!rqp) return NULL;
    /* The CSE speaks Release 3 primitives when the request names none. */
    json_object_set_new(rqp, "rvi", json_string(q->rvi ? q->rvi : "3"));
    ts_buf now;
    ts_format(clock_now_us(), now);
    json_object_set_new(rqp, "ot", json_string(now));
    if (q->ec > 0) json_object_set_new(rqp, "ec", json_integer(q->ec));
    if (q->op == OP_CREATE && q->ty > 0) json_object_set_new(rqp, "ty", json_integer(q->ty));
    if (r->nbody > 0) {
        char *text = malloc(r->len + 1);
        size_t n = 0;
        for (int i = 0; text && i < r->nbody; i++) {
            memcpy(text + n, r->body[i].iov_base, r->body[i].iov_len);
            n += r->body[i].iov_len;
        }
        json_t *pc = text ? json_loadb(text, n, JSON_DECODE_ANY, NULL) : NULL;
        free(text);
        if (!pc) { json_decref(rqp); return NULL; }
        json_object_set_new(rqp, "pc", pc);
    }
    return json_pack("{s:o}", "m2m:rqp", rqp);
}

/* The queue bound made room at channel pch by dropping request rqi. */
static void note_drop(struct polling *pl, const char *pch, const char *rqi)
{
    pl->dropped++;
    log_burst_write(&pl->drop_log, LOG_LVL_WARN, loop_now_ms(), LOG_BURST_MS,
                    "pch %s: queue full (pch-queue %lld): dropping its oldest request %s (%llu dropped since start)",
                    pch, (long long)pl->cse->cfg.pch_queue, rqi, (unsigned long long)pl->dropped);
}

/* Shared store: the request of entry id queued in the database, where a
 * poll on any front-end takes it. Beyond pch-queue the oldest waiting
 * there are dropped: those queued by this front-end are answered 5103
 * here, those of another one expire there (4008). */
static void put_job(void *arg)
{
    struct pch_job *j = arg;
    struct cse *cse = j->cse;
    /* One that ended before its turn (its deadline, its channel's end) is not queued. */
    if (entry_now(cse, j->pch, j->id)) {
        json_t *dropped = json_array();
        int rc = dropped ? store_pch_put(cse->store, j->pch, j->rqi, j->rqp, cse->cfg.pch_request_timeout_ms,
                                         (int)cse->cfg.pch_queue, take_one, dropped)
                         : RSC_INTERNAL_SERVER_ERROR;
        size_t i;
        json_t *v;
        json_array_foreach(dropped, i, v) {
            const char *rqi = rqi_of(v);
            struct channel *c = channel_now(cse, j->pch);
            struct entry *e = c ? c->entries : NULL;
            while (e && strcmp(e->rqi, rqi)) e = e->next;
            if (cse->polling) note_drop(cse->polling, j->pch, rqi);
            if (e) entry_finish(e, RSC_TARGET_NOT_REACHABLE, NULL);
        }
        json_decref(dropped);
        struct entry *e = rc ? entry_now(cse, j->pch, j->id) : NULL;
        if (e) {
            log_warn("pch %s: cannot queue a request for %s in the database (%d)", j->pch, j->rqi, rc);
            entry_finish(e, RSC_TARGET_NOT_REACHABLE, NULL);
        }
        struct channel *c = rc ? NULL : channel_now(cse, j->pch);
        if (c && c->polls) channel_pump_shared(c);
    }
    job_free(j);
}

int polling_send(struct cse *cse, const char *pch, const char *target, const struct outbound_request *r,
                 outbound_done_fn *done, void *data)
{
    struct polling *pl = pl_of(cse);
    json_t *rqp = pl && !pl->closing ? rqp_of(target, r) : NULL;
    bool shared = store_shared(cse->store);
    struct channel *c = rqp && !pl->closing ? channel_get(pl, pch) : NULL;
    struct entry *e = c ? calloc(1, sizeof *e) : NULL;
    if (e) e->rqp = json_incref(rqp);
    json_decref(rqp);
    if (!e || !e->rqp || !(e->rqi = strdup(r->req->rqi ? r->req->rqi : ""))) {
        if (e) json_decref(e->rqp);
        free(e);
        if (c) channel_release(c);
        log_warn("pch %s: cannot queue a request for %s", pch, target);
        return -1;
    }
    e->pl = pl;
    e->ch = c;
    e->id = ++pl->entry_ids;
    e->done = done;
    e->data = data;
    struct entry **tail = &c->entries;
    while (*tail) tail = &(*tail)->next;
    *tail = e;
    e->timer = loop_add_timer(cse->loop, cse->cfg.pch_request_timeout_ms, entry_expired, e);
    if (shared) {
        /* It waits in the database; this entry only waits for its answer,
         * should the entity send it to this front-end. */
        e->handed = true;
        struct pch_job *j = job_new(cse, pch, (int64_t)e->id, e->rqi);
        if (j) j->rqp = json_dumps(e->rqp, JSON_COMPACT);
        if (!j || !j->rqp) {
            if (j) job_free(j);
            log_warn("pch %s: cannot queue a request for %s", pch, target);
            entry_finish(e, RSC_TARGET_NOT_REACHABLE, NULL);
        } else {
            cse_in_store_fiber(cse, put_job, job_free, j);
        }
        return 0;
    }
    c->waiting++;
    /* The bound: the oldest waiting request makes room. */
    if (c->waiting > cse->cfg.pch_queue) {
        struct entry *old = c->entries;
        while (old->handed) old = old->next;
        note_drop(pl, c->ri, old->rqi);
        entry_finish(old, RSC_TARGET_NOT_REACHABLE, NULL);
    }
    channel_pump(c);
    return 0;
}

bool polling_run_exchange(struct cse *cse, json_t *x, answer_fn *done, void *data)
{
    const char *pch = json_string_value(json_object_get(x, "poll"));
    if (!pch) return false;
    struct polling *pl = pl_of(cse);
    struct channel *c = pl && !pl->closing ? channel_get(pl, pch) : NULL;
    struct poll *p = c ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        /* Out of memory: left to notify's generic exchange, which answers
         * it (no URL: 5103) from the loop, as every exchange is answered. */
        if (c) channel_release(c);
        return false;
    }
    *p = (struct poll){ NULL, pl, c, done, data, 0, NULL, json_is_true(json_object_get(x, "aggregate")) };
    struct poll **tail = &c->polls;
    while (*tail) tail = &(*tail)->next;
    *tail = p;
    pl->parked++;
    int64_t ms = json_integer_value(json_object_get(x, "timeout_ms"));
    p->timer = loop_add_timer(cse->loop, ms > 0 ? ms : 0, poll_expired, p);
    /* Bounded: beyond pch-max-polls the oldest parked poll anywhere gives way
     * (its entity polls again), so a newer poll is never refused. */
    if (pl->parked > cse->cfg.pch_max_polls) {
        struct poll *oldest = NULL;
        for (struct channel *k = pl->channels; k && !oldest; k = k->next)
            if (k->polls && k->polls != p) oldest = k->polls;
        if (oldest) {
            log_info("pch: pch-max-polls (%lld) reached: a parked poll of %s is answered now",
                     (long long)cse->cfg.pch_max_polls, oldest->ch->ri);
            poll_finish(oldest, json_pack("{s:i}", "rsc", RSC_REQUEST_TIMEOUT));
        }
    }
    channel_pump(c);
    return true;
}

int polling_wait(struct cse *cse, const struct m2m_request *req, const char *pch, int64_t timeout_ms,
                 bool aggregate, json_t **rqp)
{
    *rqp = NULL;
    char key[300];
    snprintf(key, sizeof key, "poll %s", pch);
    struct m2m_continuation *k = req->cont;
    json_t *known = k ? json_object_get(k->verified, key) : NULL;
    if (!known && k && k->may_defer && pl_of(cse)) {
        if (!k->wanted) k->wanted = json_array();
        json_array_append_new(k->wanted, json_pack("{s:s,s:s,s:I,s:b}", "key", key, "poll", pch,
                                                   "timeout_ms", (json_int_t)timeout_ms,
                                                   "aggregate", aggregate));
        return DISPATCH_PENDING;
    }
    /* Without a loop (tools), or run again without the first run's wait: nothing came. */
    if (!known) return RSC_REQUEST_TIMEOUT;
    json_t *pc = json_object_get(known, "pc");
    if (pc) *rqp = json_incref(pc);
    return (int)json_integer_value(json_object_get(known, "rsc"));
}

/* The request of channel pch handed out as rqi, waiting for its answer here. */
static struct entry *handed_entry(struct cse *cse, const char *pch, const char *rqi)
{
    struct polling *pl = cse->polling;
    struct channel *c = pl ? channel_find(pl, pch) : NULL;
    struct entry *e = c ? c->entries : NULL;
    while (e && (!e->handed || strcmp(e->rqi, rqi))) e = e->next;
    return e;
}

/* e answered by rsp (an m2m:rsp, checked). */
static void answer_entry(struct entry *e, json_t *rsp)
{
    json_t *content = json_object_get(rsp, "pc");
    entry_finish(e, (int)json_integer_value(json_object_get(rsp, "rsc")),
                 content ? json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY) : NULL);
}

int polling_answer(struct cse *cse, const char *pch, json_t *pc, const char **why)
{
    json_t *rsp = json_object_get(pc, "m2m:rsp");
    const char *rqi = json_string_value(json_object_get(rsp, "rqi"));
    json_t *rsc = json_object_get(rsp, "rsc");
    if (!json_is_object(rsp)) { *why = "a NOTIFY to pcu carries a response primitive: {\"m2m:rsp\": {...}}"; return RSC_BAD_REQUEST; }
    if (!rqi || !*rqi) { *why = "the response primitive has no rqi"; return RSC_BAD_REQUEST; }
    if (!json_is_integer(rsc) || json_integer_value(rsc) < 1000 || json_integer_value(rsc) > 6999) {
        *why = "the response primitive has no valid rsc";
        return RSC_BAD_REQUEST;
    }
    /* Shared store: the request ends in the database, and the answer goes
     * to the front-end that queued it, whichever that is; when that is this
     * one, nothing is passed on (nor kept as a row nobody else takes). */
    bool passed = false;
    if (store_shared(cse->store) && handed_entry(cse, pch, rqi)) {
        passed = !store_pch_end(cse->store, pch, rqi);
    } else if (store_shared(cse->store)) {
        char *text = json_dumps(pc, JSON_COMPACT);
        passed = text && !store_pch_answer(cse->store, pch, rqi, text);
        free(text);
    }
    /* Looked up again: the store call may have waited, and the request ended meanwhile. */
    struct entry *e = handed_entry(cse, pch, rqi);
    if (e) answer_entry(e, rsp);
    if (e || passed) return 0;
    *why = "no request handed out by this polling channel waits for that rqi";
    return RSC_NOT_FOUND;
}

/* An answer too long for a notice, kept in the database (store.h): taken
 * by the front-end whose request it ends (job id: the row, rqi). */
static void take_kept_answer(void *arg)
{
    struct pch_job *k = arg;
    char *text = NULL;
    int rc = store_pch_answer_take(k->cse->store, k->id, &text);
    json_t *pc = text ? json_loads(text, 0, NULL) : NULL;
    json_t *rsp = json_object_get(pc, "m2m:rsp");
    /* Looked up again: the request may have ended meanwhile (its deadline). */
    struct entry *e = handed_entry(k->cse, k->pch, k->rqi);
    if (e && json_is_object(rsp)) answer_entry(e, rsp);
    else if (rc && rc != RSC_NOT_FOUND) log_warn("pch %s: the answer to %s could not be read (%d)", k->pch, k->rqi, rc);
    json_decref(pc);
    free(text);
    job_free(k);
}

static void kept_answer(struct cse *cse, const char *pch, const char *ref)
{
    char *end;
    long long id = strtoll(ref + 1, &end, 10);
    if (*end != '\n' || id <= 0 || !handed_entry(cse, pch, end + 1)) return;   /* not ours to take */
    struct pch_job *k = job_new(cse, pch, id, end + 1);
    if (!k) {
        log_warn("pch %s: no memory to take the answer to %s", pch, end + 1);
        return;
    }
    cse_in_store_fiber(cse, take_kept_answer, job_free, k);
}

void polling_answered_elsewhere(struct cse *cse, const char *pch, const char *text)
{
    if (text[0] == '@') {
        kept_answer(cse, pch, text);
        return;
    }
    json_t *pc = json_loads(text, 0, NULL);
    json_t *rsp = json_object_get(pc, "m2m:rsp");
    const char *rqi = json_string_value(json_object_get(rsp, "rqi"));
    struct entry *e = rqi ? handed_entry(cse, pch, rqi) : NULL;
    if (e) answer_entry(e, rsp);
    json_decref(pc);
}

/* Everything at c ends: polls answered rsc, requests dropped. */
static void channel_end(struct channel *c, int rsc)
{
    /* A check pending keeps channel_release from freeing c meanwhile. */
    c->gone_check = -1;
    while (c->polls) poll_finish(c->polls, json_pack("{s:i}", "rsc", rsc));
    while (c->entries) entry_finish(c->entries, RSC_TARGET_NOT_REACHABLE, NULL);
    c->gone_check = 0;
    channel_release(c);
}

/* Whether the channel was deleted is read from the store, in a fiber. */
static void gone_job(void *arg)
{
    struct pch_job *j = arg;
    struct resource *r = NULL;
    int rc = store_get(j->cse->store, j->pch, &r);
    resource_free(r);
    struct channel *c = channel_now(j->cse, j->pch);
    if (c && rc == RSC_NOT_FOUND) {
        log_info("pch %s: deleted; its polls and queued requests end", c->ri);
        channel_end(c, RSC_NOT_FOUND);
    }
    job_free(j);
}

static int64_t gone_due(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct channel *c = data;
    struct cse *cse = c->pl->cse;
    c->gone_check = 0;
    struct pch_job *j = job_new(cse, c->ri, 0, NULL);
    /* One with nothing waiting goes now: there is nothing to end. */
    channel_release(c);
    if (j && channel_now(cse, j->pch)) cse_in_store_fiber(cse, gone_job, job_free, j);
    else if (j) job_free(j);
    else log_warn("pch: no memory to check a channel's deletion (its polls and requests time out)");
    return -1;
}

void polling_queued_elsewhere(struct cse *cse, const char *pch)
{
    struct polling *pl = cse->polling;
    if (!pl || pl->closing) return;
    if (pch) {
        struct channel *c = channel_find(pl, pch);
        if (c && c->polls) channel_pump(c);
        return;
    }
    /* Every channel with polls: marked first, since a take started from a
     * fiber runs at once and may let the loop free channels. */
    json_t *names = json_array();
    for (struct channel *c = pl->channels; c && names; c = c->next)
        if (c->polls && !c->pump_queued) json_array_append_new(names, json_string(c->ri));
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) {
        struct channel *c = channel_now(cse, json_string_value(v));
        if (c && c->polls) channel_pump(c);
    }
    json_decref(names);
}

void polling_channel_removed(struct cse *cse, const char *pch)
{
    struct polling *pl = cse->polling;
    struct channel *c = pl ? channel_find(pl, pch) : NULL;
    if (c && !c->gone_check) c->gone_check = loop_add_timer(cse->loop, 0, gone_due, c);
}

void polling_close(struct cse *cse)
{
    struct polling *pl = cse->polling;
    if (!pl) return;
    pl->closing = true;
    while (pl->due_entries) {
        loop_del_timer(cse->loop, pl->due_entries->timer);
        entry_answer_due(NULL, 0, pl->due_entries);
    }
    while (pl->due_polls) {
        loop_del_timer(cse->loop, pl->due_polls->timer);
        poll_answer_due(NULL, 0, pl->due_polls);
    }
    while (pl->channels) {
        struct channel *c = pl->channels;
        if (c->gone_check > 0) loop_del_timer(cse->loop, c->gone_check);
        channel_end(c, RSC_INTERNAL_SERVER_ERROR);
    }
    free(pl);
    cse->polling = NULL;
}
