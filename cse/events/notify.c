/* Notifications: event matching against <subscription> resources, content
 * building, batching, and the delivery queue. See docs/subscriptions.md. */
#include "notify.h"

#include "../core/address.h"
#include "../base/cbor_json.h"
#include "../base/clock.h"
#include "../core/cse.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "notify_queue.h"
#include "outbound.h"
#include "polling.h"
#include "../core/route.h"
#include "../core/rsc.h"
#include "../core/store_job.h"
#include "../../security/acl.h"
#include "../../security/acr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ATTEMPTS 6             /* delivery attempts per item before it is dropped */
#define BACKOFF_BASE_MS 200        /* 200, 400, 800, 1600, 3200 ms between attempts */
#define SEND_TIMEOUT_MS 5000       /* one asynchronous attempt */
#define VERIFY_TIMEOUT_MS 2000     /* one exchange attempt (verification, forwarding) */
/* ... over CoAP: libcoap retransmits a CON 2-3 s after sending it (RFC 7252
 * ACK_TIMEOUT x ACK_RANDOM_FACTOR), so 2 s would let one lost datagram fail
 * a verification; this bound waits for that first retransmission's answer. */
#define COAP_EXCHANGE_TIMEOUT_MS 5000
#define DEFAULT_BATCH_MS 60000     /* bn.dur when the subscriber gave only num */
#define EC_LATEST 4
#define TARGET_BUCKETS 256
#define BATCH_CAP 1000             /* a batch is sent when it holds this many, whatever bn.num says */
#define BATCH_BYTES_SHARE 4        /* ... or a quarter of notify-target-bytes, so a queue holds several */
#define HOLD_CAP 1000              /* pn 2: notifications held per subscription outside its schedule */
#define HOLD_CHECK_MS 1000         /* schedule entries have a resolution of one second */

/* --- state -------------------------------------------------------------- */

struct item {
    struct nq_entry e;             /* first: the queue links items through it */
    char rqi[32];
    int ec;
    char *sub_ri;                  /* set for ln (latestNotify) items only */
    char *stat_ri;                 /* subscription counting statistics (nse), or NULL */
    int count;                     /* notifications carried (a batch carries several) */
    notify_done_fn *done;
    void *data;
    int attempts;
    uint8_t *cbor;                 /* the body in CBOR, made at the first attempt to a CBOR target */
    size_t cbor_len;
};

struct target {
    struct target *next;           /* in its hash bucket */
    struct notifier *nf;
    char *key;                     /* the notificationURI as given (URL or entity ID) */
    struct nq_fifo q;              /* q.head_busy: the head is in flight or waiting for its retry */
    uint64_t dropped;              /* since this target's backlog began */
    int pins;                      /* pumps waiting for the store (pump()): kept till they ran */
    int64_t retry_timer;
};

/* Shared "nev" texts kept for later, in order; with `latest` only the last. */
struct nev_list {
    struct nq_chunk **v;
    size_t n, cap;
};

struct batch {
    struct batch *next;
    struct notifier *nf;
    char *sub_ri, *target;
    struct nev_list nevs;          /* with ln only the last */
    int count;                     /* notifications collected */
    size_t bytes;                  /* size of the m2m:agn so far */
    int num;
    bool latest;
    int64_t timer;
};

/* Notifications of one subscription held outside its notificationSchedule
 * (pn 1: the latest only; pn 2: all, up to HOLD_CAP). */
struct hold {
    struct store_timer t;          /* first: its callbacks get the hold */
    struct hold *next;
    struct notifier *nf;
    char *sub_ri;
    struct nev_list nevs;
    bool latest;
};

struct notifier {
    struct cse *cse;
    struct target *targets[TARGET_BUCKETS];  /* targets with queued work, by key hash */
    struct batch *batches;
    struct hold *holds;
    struct resource **removing;
    int nremoving, capremoving;
    struct notify_stats st;
    struct nq_budget budget;       /* every byte held: queued items, batches, bodies */
    size_t target_limit, total_limit; /* notify-target-bytes, notify-total-bytes */
    int drop_report_s;             /* notify-drop-report: drops are summed up this often */
    uint64_t period_drops;         /* dropped since the last drop report */
    json_t *period_by_target;      /* {"<target>": dropped since the last report} */
    int64_t drop_timer;            /* the next drop report, 0 when none is due */
    uint64_t next_rqi;
    /* nse: {"<sub ri>": {"noec": n, "tg": {"<target>": {"rqs": n, "rsr": n}}}} */
    json_t *sub_stats;
    struct exchange *exchanges;    /* live exchanges, ended at close */
    bool closing;                  /* notify_close runs: answers end things, start nothing */
};

static struct notifier *nf_of(struct cse *cse) { return cse->notify; }

static bool is_url(const char *s) { return strstr(s, "://") != NULL; }

/* Attribute sn of the entity (AE, remoteCSE) named by id, a new reference or NULL. */
static json_t *entity_attr(struct cse *cse, const char *id, const char *sn)
{
    struct address a;
    if (address_parse(cse, id, &a)) return NULL;
    struct resource *r = NULL;
    if (!a.remote && !a.attr) address_resolve(cse, a.local, &r);
    address_clear(&a);
    json_t *v = NULL;
    if (r && (type_flags(&cse->types, r->ty) & RT_HAS_POA)) v = json_incref(json_object_get(r->attrs, sn));
    resource_free(r);
    return v;
}

json_t *notify_poa_of(struct cse *cse, const char *id)
{
    json_t *poa = entity_attr(cse, id, "poa");
    if (poa && (!json_is_array(poa) || !json_array_size(poa))) { json_decref(poa); poa = NULL; }
    return poa;
}

/* An entity on another CSE ("/id-in/Cae1"): its ID at the next hop's base
 * URL, which delivers it onward (docs/cse-to-cse.md, Forwarding). */
static void remote_url(struct cse *cse, const char *id, char *url, size_t cap)
{
    struct route hop;
    char *path = route_target_path(id);
    if (path && !route_of_target(cse, id, &hop)) {
        size_t n = strlen(hop.url);
        int w = snprintf(url, cap, "%s%s%s", hop.url, n && hop.url[n - 1] == '/' ? "" : "/", path);
        if (w < 0 || (size_t)w >= cap) url[0] = 0;
        route_clear(&hop);
    }
    free(path);
}

/* The URL to deliver to: the target itself, the first poa of the entity
 * it names that has a known scheme, or for an entity of another CSE the
 * next hop towards it. Writes "" when there is none. */
static void resolve_url(struct cse *cse, const char *key, char *url, size_t cap)
{
    url[0] = 0;
    if (is_url(key)) { snprintf(url, cap, "%s", key); return; }
    if (key[0] == '/') {
        struct address a;
        bool remote = !address_parse(cse, key, &a) && a.remote;
        address_clear(&a);
        if (remote) { remote_url(cse, key, url, cap); return; }
    }
    json_t *poa = notify_poa_of(cse, key);
    size_t i;
    json_t *v;
    json_array_foreach(poa, i, v) {
        const char *s = json_string_value(v);
        if (s && outbound_scheme_known(s)) { snprintf(url, cap, "%s", s); break; }
    }
    json_decref(poa);
}

/* Are notifications to this target sent in CBOR? A URL's "ct=cbor" says
 * so; an entity says so with CBOR first in its csz (its preference). */
static bool target_wants_cbor(struct cse *cse, const char *key, const char *url)
{
    const char *ct = strstr(url, "?ct=");
    if (!ct) ct = strstr(url, "&ct=");
    if (ct) return !strncmp(ct + 4, "cbor", 4) && (!ct[8] || ct[8] == '&');
    if (is_url(key)) return false;
    json_t *csz = entity_attr(cse, key, "csz");
    const char *first = json_string_value(json_array_get(csz, 0));
    bool cbor = first && (!strcmp(first, "application/cbor") || !strcmp(first, "cbor"));
    json_decref(csz);
    return cbor;
}

/* The item's body in CBOR (kept for its retries); false when it cannot be
 * converted (then it goes as JSON). */
static bool item_cbor(struct item *it)
{
    if (it->cbor) return true;
    char *text = malloc(it->e.body.len + 1);
    if (!text) return false;
    struct iovec small[8];
    struct iovec *iov = it->e.body.nparts <= 8 ? small : malloc(it->e.body.nparts * sizeof *iov);
    size_t n = 0;
    if (iov) {
        nq_body_iov(&it->e.body, iov);
        for (size_t i = 0; i < it->e.body.nparts; i++) {
            memcpy(text + n, iov[i].iov_base, iov[i].iov_len);
            n += iov[i].iov_len;
        }
        if (iov != small) free(iov);
    }
    json_t *pc = iov ? json_loadb(text, n, 0, NULL) : NULL;
    free(text);
    it->cbor = pc ? json_to_cbor(pc, &it->cbor_len) : NULL;
    json_decref(pc);
    return it->cbor != NULL;
}

/* "?ct=json" / "&ct=json" selects the serialization (target_wants_cbor);
 * the suffix is removed before sending. */
static void strip_ct(char *url)
{
    char *p = strstr(url, "?ct=");
    if (!p) p = strstr(url, "&ct=");
    if (!p) return;
    char *end = strchr(p + 1, '&');
    if (end && *p == '?') memmove(p + 1, end + 1, strlen(end + 1) + 1);
    else if (end) memmove(p, end, strlen(end) + 1);
    else *p = 0;
}

/* --- notification statistics (nse / nsi) ------------------------------------
 * Kept in memory and shown when the subscription is retrieved: counting in
 * the store would cost a write per notification. Lost on restart. */

static void stats_add(struct notifier *nf, const char *sub_ri, const char *target, const char *field,
                      int n)
{
    json_t *s = json_object_get(nf->sub_stats, sub_ri);
    if (!s) return; /* counting is off for this subscription */
    json_t *where = s;
    if (target) {
        json_t *tg = json_object_get(s, "tg");
        where = json_object_get(tg, target);
        if (!where) {
            where = json_pack("{s:i,s:i}", "rqs", 0, "rsr", 0);
            json_object_set_new(tg, target, where);
        }
    }
    json_object_set_new(where, field, json_integer(json_integer_value(json_object_get(where, field)) + n));
}

void notify_reset_stats(struct cse *cse, const struct resource *sub)
{
    struct notifier *nf = nf_of(cse);
    if (!nf) return;
    if (res_bool(sub, "nse", 0))
        json_object_set_new(nf->sub_stats, res_ri(sub), json_pack("{s:i,s:{}}", "noec", 0, "tg"));
    else
        json_object_del(nf->sub_stats, res_ri(sub));
}

void notify_fill_stats(struct cse *cse, struct resource *sub)
{
    struct notifier *nf = nf_of(cse);
    json_t *s = nf ? json_object_get(nf->sub_stats, res_ri(sub)) : NULL;
    if (!s) return;
    json_t *nsi = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(sub->attrs, "nu"), i, v) {
        const char *target = json_string_value(v);
        json_t *c = json_object_get(json_object_get(s, "tg"), target);
        json_array_append_new(nsi, json_pack("{s:s,s:I,s:I,s:O}", "tg", target,
                                             "rqs", json_integer_value(json_object_get(c, "rqs")),
                                             "rsr", json_integer_value(json_object_get(c, "rsr")),
                                             "noec", json_object_get(s, "noec")));
    }
    json_object_set_new(sub->attrs, "nsi", nsi);
}

/* --- the queue ------------------------------------------------------------ */

static struct item *item_of(struct nq_entry *e) { return (struct item *)e; }

static void item_free(struct item *it)
{
    nq_body_clear(&it->e.body);
    free(it->sub_ri);
    free(it->stat_ri);
    free(it->cbor);
    free(it);
}

/* An item that will not be delivered: its owner learns so. */
static void item_discard(struct item *it)
{
    if (it->done) it->done(it->data, RSC_TARGET_NOT_REACHABLE);
    item_free(it);
}

/* What an item holds besides its body, as its queue is charged for it. */
static size_t item_overhead(const struct item *it)
{
    return sizeof *it + (it->sub_ri ? strlen(it->sub_ri) + 1 : 0) +
           (it->stat_ri ? strlen(it->stat_ri) + 1 : 0);
}

static struct target **bucket_of(struct notifier *nf, const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 16777619u;
    return &nf->targets[h % TARGET_BUCKETS];
}

static struct target *target_find(struct notifier *nf, const char *key)
{
    for (struct target *t = *bucket_of(nf, key); t; t = t->next)
        if (!strcmp(t->key, key)) return t;
    return NULL;
}

static struct target *target_get(struct notifier *nf, const char *key)
{
    struct target *t = target_find(nf, key);
    if (t) return t;
    t = calloc(1, sizeof *t);
    if (!t || !(t->key = strdup(key))) { free(t); return NULL; }
    t->nf = nf;
    t->q.budget = &nf->budget;
    struct target **b = bucket_of(nf, key);
    t->next = *b;
    *b = t;
    return t;
}

static void target_free(struct target *t)
{
    if (t->retry_timer) loop_del_timer(t->nf->cse->loop, t->retry_timer);
    for (struct nq_entry *e; (e = nq_pop(&t->q));) item_free(item_of(e));
    free(t->key);
    free(t);
}

/* A target with nothing queued is forgotten: memory follows the backlog,
 * not the number of targets ever used. */
static void target_release(struct target *tg)
{
    if (tg->pins) return;          /* the last pump releases it */
    for (struct target **p = bucket_of(tg->nf, tg->key); *p; p = &(*p)->next)
        if (*p == tg) { *p = tg->next; break; }
    target_free(tg);
}

/* --- drops: counted, and logged at a bounded rate ---------------------------- */

enum drop_reason { DROP_TARGET_BOUND, DROP_TOTAL_BOUND, DROP_NO_MEMORY };

static const char *const drop_reasons[] = {
    [DROP_TARGET_BOUND] = "per-target bound notify-target-bytes: its oldest waiting ones are dropped",
    [DROP_TOTAL_BOUND] = "overall bound notify-total-bytes: new notifications are refused",
    [DROP_NO_MEMORY] = "out of memory",
};

/* One line for the drops since the last: how many, since start, and the
 * targets that lost most. */
static void report_drops(struct notifier *nf)
{
    char most[512] = "";
    size_t used = 0;
    int listed = 0, more = 0;
    json_t *left = json_deep_copy(nf->period_by_target);
    while (json_object_size(left)) {
        const char *top = NULL, *k;
        json_t *v;
        json_object_foreach(left, k, v)
            if (!top || json_integer_value(v) > json_integer_value(json_object_get(left, top))) top = k;
        if (listed == 3) { more = (int)json_object_size(left); break; }
        int n = snprintf(most + used, sizeof most - used, "%s%s: %lld", listed ? ", " : "", top,
                         (long long)json_integer_value(json_object_get(left, top)));
        if (n > 0) used = used + (size_t)n < sizeof most ? used + (size_t)n : sizeof most - 1;
        listed++;
        json_object_del(left, top);
    }
    json_decref(left);
    char others[48] = "";
    if (more) snprintf(others, sizeof others, " and %d more target%s", more, more == 1 ? "" : "s");
    log_warn("notify: dropped %llu notification%s in the last %d s (%llu since start; queues hold %zu bytes)"
             " - %s%s", (unsigned long long)nf->period_drops, nf->period_drops == 1 ? "" : "s",
             nf->drop_report_s, (unsigned long long)nf->st.dropped, nf->budget.bytes, most, others);
    nf->period_drops = 0;
    json_object_clear(nf->period_by_target);
}

static int64_t drops_due(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct notifier *nf = data;
    if (!nf->period_drops) {
        nf->drop_timer = 0;
        return -1;
    }
    report_drops(nf);
    return nf->drop_report_s * 1000LL;
}

/* count notifications to key will not be delivered. The first drop after a
 * quiet period is logged at once, the rest summed up every drop_report_s:
 * an overloaded target must not turn into a log line per notification. */
static void note_drop(struct notifier *nf, struct target *tg, const char *key, int count,
                      enum drop_reason why)
{
    nf->st.dropped += (uint64_t)count;
    nf->period_drops += (uint64_t)count;
    if (tg) tg->dropped += (uint64_t)count;
    json_t *n = json_object_get(nf->period_by_target, key);
    json_object_set_new(nf->period_by_target, key, json_integer(json_integer_value(n) + count));
    if (nf->drop_timer) return;
    log_warn("notify: dropping notifications to %s (%s); its queue holds %zu bytes (bound %zu),"
             " all queues %zu bytes (bound %zu); drops are reported every %d s", key, drop_reasons[why],
             tg ? tg->q.bytes : 0, nf->target_limit, nf->budget.bytes, nf->total_limit,
             nf->drop_report_s);
    nf->drop_timer = loop_add_timer(nf->cse->loop, nf->drop_report_s * 1000LL, drops_due, nf);
}

/* --- delivery ------------------------------------------------------------------ */

static void pump(struct target *tg);

static void finish_head(struct target *tg, int rsc, bool answered)
{
    struct item *it = item_of(nq_pop(&tg->q));
    tg->nf->st.pending--;
    if (answered && it->stat_ri) stats_add(tg->nf, it->stat_ri, tg->key, "rsr", it->count);
    if (rsc == RSC_OK) tg->nf->st.delivered++;
    else tg->nf->st.failed++;
    if (it->done) it->done(it->data, rsc);
    item_free(it);
}

static int64_t retry_due(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct target *tg = data;
    tg->retry_timer = 0;
    tg->q.head_busy = false;
    pump(tg);
    return -1;
}

/* Result of one attempt for the head item of tg. */
static void delivered(void *data, int rsc, const char *unreachable)
{
    struct target *tg = data;
    struct notifier *nf = tg->nf;
    if (nf->closing) return; /* the queue is being freed */
    struct item *it = tg->q.head ? item_of(tg->q.head) : NULL;
    if (unreachable && it && ++it->attempts < MAX_ATTEMPTS) {
        int64_t delay = (int64_t)BACKOFF_BASE_MS << (it->attempts - 1);
        nf->st.retries++;
        log_debug("notify: %s unreachable, retry %d in %lld ms", tg->key, it->attempts,
                  (long long)delay);
        tg->retry_timer = loop_add_timer(nf->cse->loop, delay, retry_due, tg);
        return; /* stays busy: later items wait, so order is kept */
    }
    if (unreachable) log_warn("notify: giving up on %s after %d attempts", tg->key, MAX_ATTEMPTS);
    else if (rsc != RSC_OK) log_debug("notify: %s answered %d", tg->key, rsc);
    tg->q.head_busy = false;
    if (it) finish_head(tg, rsc, !unreachable);
    pump(tg);
}

static void delivered_answer(void *data, const struct outbound_answer *ans)
{
    delivered(data, ans->rsc, ans->unreachable);
}

/* Starts one attempt with the body as it lies in its chunks: the sender
 * reads the iovecs now and the bytes until it calls done, so a body shared
 * by many deliveries is never copied for one of them. */
static int send_body(struct cse *cse, struct outbound_request *a,
                     const struct item *it, outbound_done_fn *done, void *data, const char *pch,
                     const char *target)
{
    const struct nq_body *b = &it->e.body;
    struct iovec small[8];
    struct iovec *iov = b->nparts <= 8 ? small : malloc(b->nparts * sizeof *iov);
    if (!iov) return -1;
    nq_body_iov(b, iov);
    a->body = iov;
    a->nbody = (int)b->nparts;
    a->len = b->len;
    struct iovec cbor;
    if (a->req->cbor_content) {
        /* The target reads CBOR: the item's converted body instead. */
        cbor = (struct iovec){ it->cbor, it->cbor_len };
        a->body = &cbor;
        a->nbody = 1;
        a->len = it->cbor_len;
    }
    /* PCH: through the entity's polling channel instead (polling.h). */
    int rc = pch ? polling_send(cse, pch, target, a, done, data) : outbound_send(cse, a, done, data);
    if (iov != small) free(iov);
    return rc;
}

/* Starts delivering the head item unless one is already under way. */
static void pump_now(struct target *tg)
{
    struct notifier *nf = tg->nf;
    while (!tg->q.head_busy && tg->q.head) {
        char url[2048];
        resolve_url(nf->cse, tg->key, url, sizeof url);
        bool cbor = url[0] && target_wants_cbor(nf->cse, tg->key, url);
        strip_ct(url);
        char pch[256]; /* PCH: an entity reached only by polling (polling.h) */
        bool polled = polling_channel_of(nf->cse, tg->key, url[0] != 0, pch, sizeof pch);
        /* Those read the store: a fiber waiting for them let the loop change the queue. */
        if (tg->q.head_busy || !tg->q.head) break;
        if (!url[0] && !polled) {
            /* An entity without a usable poa now may register one later. */
            tg->q.head_busy = true;
            delivered(tg, RSC_TARGET_NOT_REACHABLE, "no point of access with a known scheme");
            return;
        }
        tg->q.head_busy = true;
        struct item *it = item_of(tg->q.head);
        if (it->stat_ri && it->attempts == 0) stats_add(nf, it->stat_ri, tg->key, "rqs", it->count);
        struct m2m_request req = { .op = OP_NOTIFY, .fr = nf->cse->csi, .rqi = it->rqi, .ec = it->ec,
                                   .cbor_content = cbor && item_cbor(it) };
        struct outbound_request a = { .url = url, .req = &req, .timeout_ms = SEND_TIMEOUT_MS };
        if (send_body(nf->cse, &a, it, delivered_answer, tg, polled ? pch : NULL, tg->key)) {
            tg->q.head_busy = false; /* outbound logged why */
            finish_head(tg, RSC_TARGET_NOT_REACHABLE, false);
        }
    }
    if (!tg->q.head_busy && !tg->q.head) target_release(tg);
}

static void pump_job(void *data)
{
    struct target *tg = data;
    tg->pins--;
    pump_now(tg);
}

static void pump_dropped(void *data)
{
    ((struct target *)data)->pins--;   /* notify_close frees it */
}

/* A target's URL is read from the store (its entity's poa): outside a
 * primitive (an answer, a retry, a batch's timer) that waits in a fiber
 * (cse_in_store_fiber), with the target kept meanwhile. */
static void pump(struct target *tg)
{
    tg->pins++;
    cse_in_store_fiber(tg->nf->cse, pump_job, pump_dropped, tg);
}

/* ln: a newer notification of the same subscription replaces a waiting one
 * (the newer joins the end of the queue, after what was generated before it). */
static void replace_latest(struct target *tg, const char *sub_ri)
{
    for (struct nq_entry *e = tg->q.head; e; e = e->next) {
        struct item *o = item_of(e);
        if (e == tg->q.head && tg->q.head_busy) continue;
        if (o->sub_ri && !strcmp(o->sub_ri, sub_ri)) {
            nq_remove(&tg->q, e);
            tg->nf->st.pending--;
            tg->nf->st.replaced++;
            item_discard(o);
            return;
        }
    }
}

/* An item carrying what bd built (bd is finished, also on failure). */
static struct item *item_new(struct notifier *nf, struct nq_builder *bd, int ec, notify_done_fn *done,
                             void *data)
{
    struct nq_body body;
    if (nq_build_finish(bd, &body)) return NULL;
    struct item *it = calloc(1, sizeof *it);
    if (!it) {
        nq_body_clear(&body);
        return NULL;
    }
    it->e.body = body;
    it->ec = ec;
    it->done = done;
    it->data = data;
    it->count = 1;
    snprintf(it->rqi, sizeof it->rqi, "ntf-%llu", (unsigned long long)++nf->next_rqi);
    return it;
}

static struct item *item_of_json(struct notifier *nf, json_t *pc, int ec, notify_done_fn *done,
                                 void *data)
{
    struct nq_builder bd;
    nq_build_init(&bd, &nf->budget);
    char *text = json_dumps(pc, JSON_COMPACT);
    if (text) nq_build_str(&bd, text);
    else bd.failed = true;
    free(text);
    return item_new(nf, &bd, ec, done, data);
}

/* Would the notifier hold more than the overall bound with extra bytes
 * more? Only while something else is held: a lone notification always goes. */
static bool over_total(const struct notifier *nf, size_t extra)
{
    return (nf->st.pending > 0 || nf->batches || nf->holds) && nf->budget.bytes + extra > nf->total_limit;
}

/* Queues it for key (taking it; -1 when refused, its done not called). The
 * overall bound refuses it; the target's own bound makes room by dropping
 * that target's oldest waiting items. */
static int queue_item(struct notifier *nf, const char *key, struct item *it)
{
    struct target *tg = it ? target_get(nf, key) : NULL;
    if (!tg) {
        note_drop(nf, NULL, key, it ? it->count : 1, DROP_NO_MEMORY);
        if (it) item_free(it);
        return -1;
    }
    it->e.overhead = item_overhead(it);
    if (over_total(nf, it->e.overhead)) {
        note_drop(nf, tg, key, it->count, DROP_TOTAL_BOUND);
        item_free(it);
        if (!tg->q.head) target_release(tg);
        return -1;
    }
    if (it->sub_ri) replace_latest(tg, it->sub_ri);
    nf->st.queued++;
    nf->st.pending++;
    for (struct nq_entry *e = nq_append(&tg->q, &it->e, nf->target_limit), *next; e; e = next) {
        next = e->next;
        nf->st.pending--;
        note_drop(nf, tg, key, item_of(e)->count, DROP_TARGET_BOUND);
        item_discard(item_of(e));
    }
    pump(tg);
    return 0;
}

static int enqueue(struct notifier *nf, const char *key, json_t *pc, int ec, notify_done_fn *done,
                   void *data)
{
    return queue_item(nf, key, item_of_json(nf, pc, ec, done, data));
}

/* --- exchanges: a request whose answer a request waits for ------------------------
 * Verification requests, forwarded notifications, DAS consultations. An
 * exchange is a JSON object {"key", "urls": [...], "from", "rqi", "pc",
 * "op" (default NOTIFY), "to" (appended to each URL), "timeout_ms",
 * "content" (true: the answer's content is kept)}: the URLs (or entity IDs)
 * are tried in order until one is reachable; the answer ({"rsc", "pc"}) is
 * the result, recorded under "key" in the request's continuation. */

int notify_send(struct cse *cse, const char *target, json_t *pc, int ec,
                notify_done_fn *done, void *data)
{
    struct notifier *nf = nf_of(cse);
    if (!nf) return -1;
    return enqueue(nf, target, pc, ec, done, data);
}

/* The URL to send to for target: its own, or its entity's first usable poa. */
static bool usable_url(struct cse *cse, const char *target, char *url, size_t cap)
{
    resolve_url(cse, target, url, cap);
    strip_ct(url);
    return url[0] != 0;
}

/* The URL of attempt i of exchange x (its "to" appended); false when that
 * target has no usable one. */
static bool exchange_url(struct cse *cse, json_t *x, size_t i, char *url, size_t cap)
{
    const char *target = json_string_value(json_array_get(json_object_get(x, "urls"), i));
    const char *to = json_string_value(json_object_get(x, "to"));
    if (!target || !usable_url(cse, target, url, cap)) return false;
    if (!to) return true;
    size_t n = strlen(url);
    int w = snprintf(url + n, cap - n, "%s%s", n && url[n - 1] == '/' ? "" : "/", to[0] == '/' ? to + 1 : to);
    return w > 0 && (size_t)w < cap - n;
}

/* The primitive exchange x sends (borrows x's strings); a relayed request
 * (notify_relay) carries the parameters of its "fwd" object too. */
static struct m2m_request exchange_request(json_t *x)
{
    json_t *op = json_object_get(x, "op"), *fwd = json_object_get(x, "fwd");
#define FWD(k) (char *)json_string_value(json_object_get(fwd, k))
    /* ty: a server's own CREATE names it in x, a relayed one in "fwd". */
    json_t *ty = json_object_get(x, "ty") ? json_object_get(x, "ty") : json_object_get(fwd, "ty");
    return (struct m2m_request){ .op = op ? (enum m2m_op)json_integer_value(op) : OP_NOTIFY,
                                 .ty = (int)json_integer_value(ty),
                                 .fr = (char *)json_string_value(json_object_get(x, "from")),
                                 .rqi = (char *)json_string_value(json_object_get(x, "rqi")),
                                 .rvi = FWD("rvi"),
                                 .ec = (int)json_integer_value(json_object_get(fwd, "ec")),
                                 .tokens = FWD("tkns"), .rqet = FWD("rqet"), .rset = FWD("rset"),
                                 .oet = FWD("oet"), .vsi = FWD("vsi") };
#undef FWD
}

/* The exchange's own bound, else the default for url's binding (NULL: not CoAP). */
static int exchange_timeout(json_t *x, const char *url)
{
    json_int_t ms = json_integer_value(json_object_get(x, "timeout_ms"));
    if (ms > 0) return (int)ms;
    return url && outbound_scheme_is_coap(url) ? COAP_EXCHANGE_TIMEOUT_MS : VERIFY_TIMEOUT_MS;
}

/* The result of x: {"rsc": n} and, when x keeps content, "pc". */
static json_t *exchange_result(json_t *x, const struct outbound_answer *ans)
{
    json_t *r = json_pack("{s:i}", "rsc", ans ? ans->rsc : RSC_TARGET_NOT_REACHABLE);
    if (ans && ans->body && json_is_true(json_object_get(x, "content"))) {
        struct m2m_response rsp;
        outbound_answer_response(ans, &rsp);
        if (rsp.pc) json_object_set(r, "pc", rsp.pc);
        m2m_response_clear(&rsp);
    }
    if (ans && ans->location[0] && json_is_true(json_object_get(x, "content"))) {
        json_object_set_new(r, "loc", json_string(ans->location));
    }
    return r;
}

static void next_rqi(struct cse *cse, const char *prefix, char *out, size_t cap);

static json_t *blocking_exchange(struct cse *cse, json_t *x)
{
    char *body = json_dumps(json_object_get(x, "pc"), JSON_COMPACT | JSON_ENCODE_ANY);
    struct m2m_request req = exchange_request(x);
    json_t *result = NULL;
    for (size_t i = 0; i < json_array_size(json_object_get(x, "urls")) && !result; i++) {
        char url[2048];
        if (!exchange_url(cse, x, i, url, sizeof url)) continue;
        struct iovec iov = { body, body ? strlen(body) : 0 };
        bool has_body = body && json_object_get(x, "pc") && !json_is_null(json_object_get(x, "pc"));
        struct outbound_request a = { .url = url, .req = &req, .body = &iov, .nbody = has_body,
                                      .len = has_body ? iov.iov_len : 0, .timeout_ms = exchange_timeout(x, url) };
        struct outbound_answer ans;
        outbound_send_blocking(cse, &a, &ans);
        if (!ans.unreachable) result = exchange_result(x, &ans);
        free((char *)ans.body);
    }
    free(body);
    return result ? result : exchange_result(x, NULL);
}

struct exchange {
    struct exchange *next;         /* in notifier.exchanges */
    struct cse *cse;
    json_t *x;
    size_t next_url;               /* index of the URL to try next */
    bool answered;                 /* result holds the answer, to be passed on */
    json_t *result;
    char *body;                    /* NULL: the request has no content */
    notify_answer_fn *done;
    void *data;
    int64_t timer;                 /* the zero-delay start, until it ran */
};

static void exchange_try(struct exchange *e);

static void exchange_finish(struct exchange *e, json_t *result)
{
    for (struct exchange **p = &nf_of(e->cse)->exchanges; *p; p = &(*p)->next)
        if (*p == e) { *p = e->next; break; }
    e->done(e->data, result);
    json_decref(result);
    json_decref(e->result);
    json_decref(e->x);
    free(e->body);
    free(e);
}

static void exchange_end(struct exchange *e, const struct outbound_answer *ans)
{
    exchange_finish(e, exchange_result(e->x, ans));
}

/* The next attempt, or the answer passed on: both may use the store (a
 * target's poa, what done() does), so outside a primitive they wait in a
 * fiber (cse_in_store_fiber); the exchange stays listed until it ends, for
 * notify_close. */
static void exchange_go_on(void *data)
{
    struct exchange *e = data;
    if (!e->answered) {
        exchange_try(e);
        return;
    }
    json_t *result = e->result;
    e->result = NULL;
    exchange_finish(e, result);
}

static void exchange_answered(void *data, const struct outbound_answer *ans)
{
    struct exchange *e = data;
    if (nf_of(e->cse)->closing) {
        exchange_end(e, ans->unreachable ? NULL : ans);
        return;
    }
    e->answered = !ans->unreachable;
    if (e->answered) e->result = exchange_result(e->x, ans);
    cse_in_store_fiber(e->cse, exchange_go_on, NULL, e);
}

static int64_t exchange_later(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct exchange *e = data;
    e->timer = 0;
    cse_in_store_fiber(e->cse, exchange_go_on, NULL, e);
    return -1;
}

/* Starts the attempt at the next URL; none left: unreachable. */
static void exchange_try(struct exchange *e)
{
    struct m2m_request req = exchange_request(e->x);
    while (e->next_url < json_array_size(json_object_get(e->x, "urls"))) {
        char url[2048], pch[256];
        const char *target = json_string_value(json_array_get(json_object_get(e->x, "urls"), e->next_url));
        bool usable = exchange_url(e->cse, e->x, e->next_url++, url, sizeof url);
        /* PCH: an entity reached only by polling gets it through its channel (polling.h). */
        bool polled = polling_channel_of(e->cse, target, usable, pch, sizeof pch);
        if (!usable && !polled) continue;
        struct iovec iov = { e->body, e->body ? strlen(e->body) : 0 };
        struct outbound_request a = { .url = url, .req = &req, .body = &iov, .nbody = e->body != NULL,
                                      .len = iov.iov_len, .timeout_ms = exchange_timeout(e->x, polled ? NULL : url) };
        if (!(polled ? polling_send(e->cse, pch, target, &a, exchange_answered, e)
                     : outbound_send(e->cse, &a, exchange_answered, e)))
            return;
    }
    exchange_end(e, NULL);
}

void notify_run_exchange(struct cse *cse, json_t *x, notify_answer_fn *done, void *data)
{
    if (polling_run_exchange(cse, x, done, data)) return; /* PCH: a parked long poll */
    struct notifier *nf = nf_of(cse);
    struct exchange *e = calloc(1, sizeof *e);
    json_t *pc = json_object_get(x, "pc");
    *e = (struct exchange){ nf->exchanges, cse, json_incref(x), 0, false, NULL,
                            pc && !json_is_null(pc) ? json_dumps(pc, JSON_COMPACT | JSON_ENCODE_ANY) : NULL,
                            done, data, 0 };
    nf->exchanges = e;
    /* Answers always come from the loop, never from inside this call. */
    e->timer = loop_add_timer(cse->loop, 0, exchange_later, e);
}

/* The answer to exchange x for this request ({"rsc", "pc"?}, borrowed from
 * the continuation or *owned), known from an earlier run, or NULL when it
 * is deferred (DISPATCH_PENDING) because the request can wait. Only without
 * an event loop is it a bounded blocking exchange. Takes x. */
static json_t *answer_of(struct cse *cse, const struct m2m_request *req, json_t *x, json_t **owned)
{
    struct m2m_continuation *k = req ? req->cont : NULL;
    const char *key = json_string_value(json_object_get(x, "key"));
    json_t *known = k ? json_object_get(k->verified, key) : NULL;
    json_t *result = known;
    *owned = NULL;
    if (known) {
        /* answered in the first run's wait */
    } else if (k && k->may_defer && nf_of(cse)) {
        if (!k->wanted) k->wanted = json_array(); /* created when first needed */
        json_array_append(k->wanted, x);
    } else if (!cse->loop) {
        result = *owned = blocking_exchange(cse, x); /* no loop to wait on: tools and unit tests */
    } else {
        /* Only a request run again can get here, asking what its first run
         * did not (its group's members changed meanwhile): never wait on the loop. */
        log_warn("notify: exchange with %s not prepared by the first run; not waiting for it", key);
        result = *owned = json_pack("{s:i}", "rsc", RSC_TARGET_NOT_REACHABLE);
    }
    json_decref(x);
    return result;
}

/* answer_of() for a caller that only needs the RSC (or DISPATCH_PENDING). */
static int rsc_answer_of(struct cse *cse, const struct m2m_request *req, json_t *x)
{
    json_t *owned;
    json_t *r = answer_of(cse, req, x, &owned);
    int rsc = r ? (int)json_integer_value(json_object_get(r, "rsc")) : DISPATCH_PENDING;
    json_decref(owned);
    return rsc;
}

int notify_ask(struct cse *cse, const struct m2m_request *req, const char *key, json_t *urls,
               int op, const char *to, json_t *pc, int timeout_ms, json_t **answer)
{
    return notify_ask_as(cse, req, key, cse->csi, urls, op, to, pc, timeout_ms, answer);
}

int notify_ask_as(struct cse *cse, const struct m2m_request *req, const char *key, const char *from, json_t *urls,
                  int op, const char *to, json_t *pc, int timeout_ms, json_t **answer)
{
    char rqi[32];
    *answer = NULL;
    next_rqi(cse, "ask", rqi, sizeof rqi);
    json_t *x = json_pack("{s:s,s:O,s:s,s:s,s:O,s:i,s:i,s:b}", "key", key, "urls", urls, "from", from,
                          "rqi", rqi, "pc", pc ? pc : json_null(), "op", op, "timeout_ms", timeout_ms,
                          "content", 1);
    if (!x) return RSC_INTERNAL_SERVER_ERROR;
    if (to) json_object_set_new(x, "to", json_string(to));
    json_t *owned;
    json_t *r = answer_of(cse, req, x, &owned);
    if (!r) return DISPATCH_PENDING;
    int rsc = (int)json_integer_value(json_object_get(r, "rsc"));
    json_t *got = json_object_get(r, "pc");
    if (got) *answer = json_incref(got);
    json_decref(owned);
    return rsc;
}

int notify_relay(struct cse *cse, const struct m2m_request *req, const char *key, json_t *urls,
                 const char *path, const char *fr, int timeout_ms, json_t **answer)
{
    *answer = NULL;
    json_t *fwd = json_object();
#define KEEP(k, v) if (v) json_object_set_new(fwd, k, json_string(v))
    KEEP("rvi", req->rvi); KEEP("tkns", req->tokens); KEEP("rqet", req->rqet); KEEP("rset", req->rset);
    KEEP("oet", req->oet); KEEP("vsi", req->vsi);
#undef KEEP
    if (req->op == OP_CREATE) json_object_set_new(fwd, "ty", json_integer(req->ty));
    if (req->ec) json_object_set_new(fwd, "ec", json_integer(req->ec));
    json_t *x = json_pack("{s:s,s:O,s:s,s:s,s:O,s:i,s:s,s:i,s:b,s:o}", "key", key, "urls", urls, "from", fr,
                          "rqi", req->rqi ? req->rqi : "", "pc", req->pc ? req->pc : json_null(), "op", (int)req->op,
                          "to", path, "timeout_ms", timeout_ms, "content", 1, "fwd", fwd);
    if (!x) return RSC_INTERNAL_SERVER_ERROR;
    json_t *owned;
    json_t *r = answer_of(cse, req, x, &owned);
    if (!r) return DISPATCH_PENDING;
    *answer = owned ? owned : json_incref(r);
    return (int)json_integer_value(json_object_get(r, "rsc"));
}

static void next_rqi(struct cse *cse, const char *prefix, char *out, size_t cap)
{
    struct notifier *nf = nf_of(cse);
    snprintf(out, cap, "%s-%llu", prefix, (unsigned long long)(nf ? ++nf->next_rqi : 0));
}

int notify_verify(struct cse *cse, const struct m2m_request *req, const char *target, json_t *pc)
{
    char rqi[32];
    next_rqi(cse, "vrq", rqi, sizeof rqi);
    return rsc_answer_of(cse, req, json_pack("{s:s,s:[s],s:s,s:s,s:O}", "key", target, "urls", target,
                                             "from", cse->csi, "rqi", rqi, "pc", pc));
}

int notify_forward(struct cse *cse, const struct resource *entity, const struct m2m_request *req)
{
    json_t *poa = json_object_get(entity->attrs, "poa");
    /* PCH: an entity reached only by polling is addressed by its ID (polling.h). */
    char pch[256];
    json_t *urls = polling_channel_of(cse, res_ri(entity), json_array_size(poa) > 0, pch, sizeof pch)
                       ? json_pack("[s]", res_ri(entity)) : json_incref(poa);
    if (!json_array_size(urls)) { json_decref(urls); return RSC_TARGET_NOT_REACHABLE; }
    char key[300];
    snprintf(key, sizeof key, "forward %s", res_ri(entity));
    json_t *x = json_pack("{s:s,s:o,s:s,s:s,s:O}", "key", key, "urls", urls, "from",
                          req->fr ? req->fr : cse->csi, "rqi", req->rqi, "pc",
                          req->pc ? req->pc : json_null());
    return rsc_answer_of(cse, req, x);
}

/* --- notification bodies ------------------------------------------------------
 * An event's "nev" object ({"rep": …, "net": n}) is serialized once per
 * representation (nct) and shared by every delivery of that event; around
 * it each delivery has only its own few bytes ("sur"). */

static void sur_of(struct cse *cse, const char *sub_ri, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", cse->csi, sub_ri);
}

/* The JSON string of a subscription's sur: "/id-in/<ri>" (malloc'd). */
static char *sur_json(struct cse *cse, const char *sub_ri)
{
    char sur[256];
    sur_of(cse, sub_ri, sur, sizeof sur);
    json_t *v = json_string(sur);
    char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(v);
    return s;
}

/* One m2m:sgn object: {"nev": <nev>, "sur": <sur>}. */
static void build_sgn(struct nq_builder *bd, struct nq_chunk *nev, const char *sur, bool shared)
{
    nq_build_str(bd, "{\"nev\":");
    nq_build_chunk(bd, nev, shared);
    nq_build_str(bd, ",\"sur\":");
    nq_build_str(bd, sur);
    nq_build_str(bd, "}");
}

static void nevs_clear(struct nev_list *l)
{
    for (size_t i = 0; i < l->n; i++) nq_chunk_unref(l->v[i]);
    free(l->v);
    *l = (struct nev_list){ 0 };
}

/* Keeps nev: appended, or with latest in place of the one kept. -1 without memory. */
static int nevs_keep(struct nev_list *l, struct nq_chunk *nev, bool latest)
{
    if (latest && l->n) {
        nq_chunk_unref(l->v[0]);
        l->v[0] = nq_chunk_ref(nev);
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        struct nq_chunk **v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = nq_chunk_ref(nev);
    return 0;
}

/* --- batching (bn) ---------------------------------------------------------- */

static void batch_free(struct batch *b)
{
    struct notifier *nf = b->nf;
    for (struct batch **p = &nf->batches; *p; p = &(*p)->next)
        if (*p == b) { *p = b->next; break; }
    if (b->timer) loop_del_timer(nf->cse->loop, b->timer);
    nevs_clear(&b->nevs);
    free(b->sub_ri);
    free(b->target);
    free(b);
}

/* Sends what the batch holds as m2m:agn: all of it, or with ln only the last
 * (the only one it keeps). */
static void batch_flush(struct batch *b)
{
    char *sur = b->nevs.n ? sur_json(b->nf->cse, b->sub_ri) : NULL;
    if (sur) {
        struct nq_builder bd;
        nq_build_init(&bd, &b->nf->budget);
        nq_build_str(&bd, "{\"m2m:agn\":{\"m2m:sgn\":[");
        for (size_t i = 0; i < b->nevs.n; i++) {
            if (i) nq_build_str(&bd, ",");
            build_sgn(&bd, b->nevs.v[i], sur, false);
        }
        nq_build_str(&bd, "]}}");
        struct item *it = item_new(b->nf, &bd, b->latest ? EC_LATEST : 0, NULL, NULL);
        if (it) it->count = b->count;
        if (it && json_object_get(b->nf->sub_stats, b->sub_ri)) it->stat_ri = strdup(b->sub_ri);
        queue_item(b->nf, b->target, it);
    }
    free(sur);
    batch_free(b);
}

static int64_t batch_due(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct batch *b = data;
    b->timer = 0;
    batch_flush(b);
    return -1;
}

static void batch_add(struct notifier *nf, const struct resource *sub, const char *target,
                      json_t *bn, struct nq_chunk *nev, size_t sur_len)
{
    if (over_total(nf, 0)) {
        note_drop(nf, target_find(nf, target), target, 1, DROP_TOTAL_BOUND);
        return;
    }
    struct batch *b = nf->batches;
    while (b && (strcmp(b->sub_ri, res_ri(sub)) || strcmp(b->target, target))) b = b->next;
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) return;
        b->nf = nf;
        b->sub_ri = strdup(res_ri(sub));
        b->target = strdup(target);
        b->num = (int)json_integer_value(json_object_get(bn, "num"));
        b->latest = res_bool(sub, "ln", 0);
        int64_t dur_us = (int64_t)DEFAULT_BATCH_MS * 1000;
        const char *dur = json_string_value(json_object_get(bn, "dur"));
        if (dur) duration_parse(dur, &dur_us);
        b->next = nf->batches;
        nf->batches = b;
        b->timer = loop_add_timer(nf->cse->loop, dur_us / 1000, batch_due, b);
    }
    if (nevs_keep(&b->nevs, nev, b->latest)) {
        note_drop(nf, target_find(nf, target), target, 1, DROP_NO_MEMORY);
        return;
    }
    b->count++;
    b->bytes += nev->len + sur_len + 16;
    int full = b->num > 0 && b->num < BATCH_CAP ? b->num : BATCH_CAP;
    if (b->count >= full || (!b->latest && b->bytes >= nf->target_limit / BATCH_BYTES_SHARE))
        batch_flush(b);
}

static void flush_batches_of(struct notifier *nf, const char *sub_ri)
{
    for (struct batch *b = nf->batches, *next; b; b = next) {
        next = b->next;
        if (!strcmp(b->sub_ri, sub_ri)) batch_flush(b);
    }
}

/* --- events -> notifications ------------------------------------------------ */

static bool int_in(json_t *list, int64_t v)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
        if (json_integer_value(x) == v) return true;
    return false;
}

static bool matches(const struct resource *sub, int net, const struct resource *res, json_t *modified)
{
    json_t *enc = json_object_get(sub->attrs, "enc");
    json_t *nets = json_object_get(enc, "net");
    if (json_array_size(nets) ? !int_in(nets, net) : net != NET_UPDATE) return false;
    json_t *atr = json_object_get(enc, "atr");
    if ((net == NET_UPDATE || net == NET_BLOCKING_UPDATE) && json_array_size(atr)) {
        bool hit = false;
        size_t i;
        json_t *a;
        json_array_foreach(atr, i, a)
            hit |= json_string_value(a) && json_object_get(modified, json_string_value(a));
        if (!hit) return false;
    }
    json_t *chty = json_object_get(enc, "chty");
    if ((net == NET_CREATE_CHILD || net == NET_DELETE_CHILD) && json_array_size(chty) &&
        !int_in(chty, res->ty))
        return false;
    return true;
}

/* The serialized nev objects of one event, by representation: made when a
 * subscription first needs one, shared by all its deliveries. */
enum { NEV_WHOLE, NEV_MODIFIED, NEV_RI, NEV_KINDS };
struct event_nevs { struct nq_chunk *nev[NEV_KINDS]; };

/* nev serialized (and released); NULL without memory. */
static struct nq_chunk *chunk_of(struct notifier *nf, json_t *nev)
{
    char *text = nev ? json_dumps(nev, JSON_COMPACT) : NULL;
    struct nq_chunk *chunk = text ? nq_chunk_new(&nf->budget, text, strlen(text)) : NULL;
    free(text);
    json_decref(nev);
    return chunk;
}

/* {"rep": rep, "net": net} serialized (rep borrowed). */
static struct nq_chunk *nev_chunk(struct notifier *nf, json_t *rep, int net)
{
    return chunk_of(nf, rep ? json_pack("{s:O,s:i}", "rep", rep, "net", net) : NULL);
}

static int nev_kind(const struct resource *sub, int net, json_t *modified)
{
    int nct = (int)res_int(sub, "nct", 1);
    return nct == 3 ? NEV_RI : nct == 2 && net == NET_UPDATE && modified ? NEV_MODIFIED : NEV_WHOLE;
}

/* The representation a subscription asks for (new reference). */
static json_t *nev_rep(struct notifier *nf, int kind, const struct resource *res, json_t *modified)
{
    return kind == NEV_RI ? json_pack("{s:s}", "m2m:uri", res_ri(res))
                          : representation(nf->cse, res, kind == NEV_MODIFIED ? modified : res->attrs);
}

static struct nq_chunk *event_nev(struct notifier *nf, struct event_nevs *ev, const struct resource *sub,
                                  int net, const struct resource *res, json_t *modified)
{
    int kind = nev_kind(sub, net, modified);
    if (ev->nev[kind]) return ev->nev[kind];
    json_t *rep = nev_rep(nf, kind, res, modified);
    ev->nev[kind] = nev_chunk(nf, rep, net);
    json_decref(rep);
    return ev->nev[kind];
}

/* An operation monitor's nev carries om = {ops, org} of the request: its
 * own (not shared) chunk. */
static struct nq_chunk *monitored_nev(struct notifier *nf, const struct resource *sub, int net,
                                      const struct resource *res, json_t *modified, int op, const char *fr)
{
    return chunk_of(nf, json_pack("{s:o,s:i,s:{s:i,s:s}}", "rep", nev_rep(nf, nev_kind(sub, net, modified), res, modified),
                                  "net", net, "om", "ops", op, "org", fr ? fr : ""));
}

/* The subscriber must still be allowed to see the subscribed resource. */
static bool subscriber_may_read(struct cse *cse, const struct resource *sub,
                                const struct resource *subscribed)
{
    struct m2m_request req;
    m2m_request_init(&req);
    req.op = OP_RETRIEVE;
    req.fr = (char *)res_str(sub, "cr");
    req.to = (char *)res_ri(subscribed);
    req.binding = BINDING_HTTP; /* the subscriber, not the CSE itself: never internal */
    return !req.fr || acl_permits(cse, &req, subscribed, ACOP_RETRIEVE);
}

/* Queues {"m2m:sgn": {"nev": <nev>, "sur": …}} to each nu entry of sub (or
 * adds it to their batches); every copy references the same nev. `latest`
 * sends them as a latest notification (ec 4) whatever ln says. */
static void send_sgn(struct notifier *nf, const struct resource *sub, struct nq_chunk *nev, bool latest)
{
    json_t *nu = json_object_get(sub->attrs, "nu");
    json_t *bn = json_object_get(sub->attrs, "bn");
    latest = latest || res_bool(sub, "ln", 0);
    char *sur = sur_json(nf->cse, res_ri(sub));
    size_t i;
    json_t *v;
    json_array_foreach(nu, i, v) {
        const char *target = json_string_value(v);
        if (!target) continue;
        if (!sur) { note_drop(nf, target_find(nf, target), target, 1, DROP_NO_MEMORY); continue; }
        if (bn) batch_add(nf, sub, target, bn, nev, strlen(sur));
        else {
            struct nq_builder bd;
            nq_build_init(&bd, &nf->budget);
            nq_build_str(&bd, "{\"m2m:sgn\":");
            build_sgn(&bd, nev, sur, true);
            nq_build_str(&bd, "}");
            struct item *it = item_new(nf, &bd, latest ? EC_LATEST : 0, NULL, NULL);
            if (it && latest) it->sub_ri = strdup(res_ri(sub));
            if (it && json_object_get(nf->sub_stats, res_ri(sub))) it->stat_ri = strdup(res_ri(sub));
            queue_item(nf, target, it);
        }
    }
    free(sur);
}

/* --- notification schedule (a subscription's notificationSchedule, pn) ----- */

/* The schedule entries (sce) of the subscription's notificationSchedule,
 * a new reference, or NULL when it has none. */
static json_t *schedule_of(struct cse *cse, const char *sub_ri)
{
    struct resource *sch = NULL;
    if (store_edge_child(cse->store, sub_ri, TY_SCH, true, &sch) || !sch) return NULL;
    json_t *sce = json_incref(json_object_get(json_object_get(sch->attrs, "se"), "sce"));
    resource_free(sch);
    return sce;
}

static bool in_schedule(json_t *sce, int64_t now_us)
{
    size_t i;
    json_t *e;
    json_array_foreach(sce, i, e)
        if (acr_schedule_match(json_string_value(e), now_us)) return true;
    return false;
}

static void hold_unlink(struct hold *h)
{
    for (struct hold **p = &h->nf->holds; *p; p = &(*p)->next)
        if (*p == h) { *p = h->next; break; }
}

/* Its timer is over: unlinked (unless hold_free did that) and freed. */
static void hold_done(struct store_timer *t)
{
    struct hold *h = (struct hold *)t;
    hold_unlink(h);
    nevs_clear(&h->nevs);
    free(h->sub_ri);
    free(h);
}

/* A check waiting for the store meanwhile frees it when it is over. */
static void hold_free(struct hold *h)
{
    hold_unlink(h);
    if (store_timer_stop(&h->t)) hold_done(&h->t);
}

/* Checked every second: once the schedule admits sending (or is gone),
 * what was held goes out in order, to the subscription as it is now. */
static int64_t hold_check(struct store_timer *t)
{
    struct hold *h = (struct hold *)t;
    struct notifier *nf = h->nf;
    json_t *sce = schedule_of(nf->cse, h->sub_ri);
    bool closed = sce && !in_schedule(sce, clock_now_us());
    json_decref(sce);
    if (closed) return HOLD_CHECK_MS;
    struct resource *sub = NULL;
    if (!store_get(nf->cse->store, h->sub_ri, &sub) && sub && !t->stopped)
        for (size_t i = 0; i < h->nevs.n; i++) send_sgn(nf, sub, h->nevs.v[i], h->latest);
    resource_free(sub);
    return -1;
}

enum schedule_verdict { SEND_NOW, HELD, NOT_SENT };

/* Outside the subscription's notificationSchedule a notification is not
 * sent now: without pn it is not sent at all, with pn 1 it replaces the one
 * held, with pn 2 it joins them (TS-0001 pendingNotification). */
static enum schedule_verdict hold_outside_schedule(struct notifier *nf, const struct resource *sub,
                                                   struct nq_chunk *nev)
{
    json_t *sce = schedule_of(nf->cse, res_ri(sub));
    bool closed = sce && !in_schedule(sce, clock_now_us());
    json_decref(sce);
    if (!closed) return SEND_NOW;
    int64_t pn = res_int(sub, "pn", 0);
    struct hold *h = nf->holds;
    while (h && strcmp(h->sub_ri, res_ri(sub))) h = h->next;
    if (pn != 1 && pn != 2) return NOT_SENT;
    if (over_total(nf, 0) || (h && pn == 2 && h->nevs.n >= HOLD_CAP)) {
        note_drop(nf, NULL, res_ri(sub), 1, DROP_TOTAL_BOUND);
        return HELD; /* counted as a drop, like a full queue's */
    }
    if (!h) {
        h = calloc(1, sizeof *h);
        if (!h || !(h->sub_ri = strdup(res_ri(sub)))) { free(h); return HELD; }
        h->nf = nf;
        h->next = nf->holds;
        nf->holds = h;
        store_timer_start(&h->t, nf->cse, HOLD_CHECK_MS, hold_check, hold_done);
    }
    h->latest = pn == 1;
    if (nevs_keep(&h->nevs, nev, h->latest)) note_drop(nf, NULL, res_ri(sub), 1, DROP_NO_MEMORY);
    return HELD;
}

static void drop_holds_of(struct notifier *nf, const char *sub_ri)
{
    for (struct hold *h = nf->holds, *next; h; h = next) {
        next = h->next;
        if (!strcmp(h->sub_ri, sub_ri)) hold_free(h);
    }
}

/* Sends (or holds) the notification; false when the schedule said it is
 * not sent at all (then it does not count against exc). */
static bool deliver_sgn(struct notifier *nf, const struct resource *sub, struct nq_chunk *nev)
{
    enum schedule_verdict v = hold_outside_schedule(nf, sub, nev);
    if (v == SEND_NOW) send_sgn(nf, sub, nev, false);
    return v != NOT_SENT;
}

/* exc: one less per notification event; the subscription goes at zero.
 * The count is read locked and the decision taken on it, not on the
 * event's copy: two front-ends counting at once each take one off. */
static void count_down(struct cse *cse, const struct resource *sub)
{
    int64_t exc = res_int(sub, "exc", -1);
    if (exc < 0 || store_begin(cse->store)) return;
    struct resource *cur = NULL;
    int rc = store_get_locked(cse->store, res_ri(sub), &cur);
    if (!rc) exc = res_int(cur, "exc", exc);
    if (!rc && exc <= 1) {
        /* The subscription goes: a DELETE the CSE submits for itself, once
         * this transaction is over. */
        resource_free(cur);
        store_rollback(cse->store);
        int rsc = cse_delete_itself(cse, res_ri(sub), "exc");
        if (rsc != RSC_DELETED) log_info("notify: subscription %s reached exc 0 but stays: %d", res_ri(sub), rsc);
        return;
    } else if (!rc) {
        json_object_set_new(cur->attrs, "exc", json_integer(exc - 1));
        rc = store_update(cse->store, cur);
    }
    resource_free(cur);
    if (rc || store_commit(cse->store)) {
        store_rollback(cse->store);
        notify_removed_abort(cse);
        return;
    }
    notify_removed_commit(cse);
}

struct sub_list { struct resource **v; int n, cap; };

static int collect_sub(struct resource *res, void *data)
{
    struct sub_list *l = data;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n++] = resource_dup(res);
    return 0;
}

bool notify_watched(struct cse *cse, const char *ri)
{
    int64_t n = 0;
    return nf_of(cse) && ri && !store_count_children(cse->store, ri, TY_SUB, &n) && n > 0;
}

/* enc.om with an operation known: the first entry whose ops and org (each
 * when given) are the request's, or NULL. */
static json_t *operation_monitor(const struct resource *sub, int op, const char *fr)
{
    json_t *om = json_object_get(json_object_get(sub->attrs, "enc"), "om");
    size_t i;
    json_t *x;
    json_array_foreach(om, i, x) {
        json_t *ops = json_object_get(x, "ops");
        const char *org = json_string_value(json_object_get(x, "org"));
        if ((!ops || json_integer_value(ops) == op) && (!org || (fr && !strcmp(org, fr)))) return x;
    }
    return NULL;
}

void notify_event(struct cse *cse, int net, const struct resource *res,
                  const struct resource *parent, json_t *modified)
{
    notify_event_op(cse, net, res, parent, modified, 0, NULL);
}

void notify_event_op(struct cse *cse, int net, const struct resource *res,
                     const struct resource *parent, json_t *modified, int op, const char *fr)
{
    struct notifier *nf = nf_of(cse);
    if (!nf || !res) return;
    /* A subscription created, or its nse changed: (re)start or stop counting. */
    if ((type_flags(&cse->types, res->ty) & RT_SUBSCRIPTION) && (net == NET_CREATE_CHILD || (net == NET_UPDATE && json_object_get(modified, "nse"))))
        notify_reset_stats(cse, res);
    const struct resource *subscribed = net == NET_CREATE_CHILD || net == NET_DELETE_CHILD ? parent : res;
    if (!subscribed) return;
    struct sub_list l = { 0 };
    struct event_nevs ev = { 0 };
    if (net == NET_DELETE) {
        /* The subscriptions went with the resource: they were noted on removal. */
        for (int i = 0; i < nf->nremoving; i++)
            if (res_pi(nf->removing[i]) && !strcmp(res_pi(nf->removing[i]), res_ri(res)))
                collect_sub(nf->removing[i], &l);
    } else {
        store_children(cse->store, res_ri(subscribed), TY_SUB, collect_sub, &l);
    }
    for (int i = 0; i < l.n; i++) {
        struct resource *sub = l.v[i];
        /* A new subscription is not told of its own creation. */
        bool self = !strcmp(res_ri(sub), res_ri(res));
        /* With an operation monitor, the operation decides instead of net. */
        bool monitors = op && json_object_get(json_object_get(sub->attrs, "enc"), "om");
        json_t *om = monitors ? operation_monitor(sub, op, fr) : NULL;
        if (!self && (monitors ? om != NULL : matches(sub, net, res, modified)) &&
            subscriber_may_read(cse, sub, subscribed)) {
            struct nq_chunk *nev = om ? monitored_nev(nf, sub, net, res, modified, op, fr)
                                      : event_nev(nf, &ev, sub, net, res, modified);
            stats_add(nf, res_ri(sub), NULL, "noec", 1);
            bool counts = true;
            if (nev) counts = deliver_sgn(nf, sub, nev);
            else log_warn("notify: out of memory serializing a notification of %s", res_ri(sub));
            if (om) nq_chunk_unref(nev);
            if (net != NET_DELETE && counts) count_down(cse, sub);
        }
        resource_free(sub);
    }
    for (int k = 0; k < NEV_KINDS; k++) nq_chunk_unref(ev.nev[k]);
    free(l.v);
}

void notify_deliver(struct cse *cse, const struct resource *sub, const struct resource *subscribed,
                    int net, json_t *rep)
{
    struct notifier *nf = nf_of(cse);
    if (!nf || !subscriber_may_read(cse, sub, subscribed)) return;
    struct nq_chunk *nev = nev_chunk(nf, rep, net);
    stats_add(nf, res_ri(sub), NULL, "noec", 1);
    bool counts = true;
    if (nev) counts = deliver_sgn(nf, sub, nev);
    else log_warn("notify: out of memory serializing a notification of %s", res_ri(sub));
    nq_chunk_unref(nev);
    if (counts) count_down(cse, sub);
}

/* A blocking-update subscription's answer, as the UPDATE's result (ACME's
 * mapping of the two codes TS-0004 7.3.3.x names). */
static int blocking_refusal(struct m2m_response *rsp, const char *target, int rsc)
{
    if (rsc == RSC_TARGET_NOT_REACHABLE)
        return m2m_error(rsp, RSC_REMOTE_ENTITY_NOT_REACHABLE, "the blocking-update subscriber '%s' cannot be reached",
                         target);
    if (rsc == RSC_OPERATION_NOT_ALLOWED)
        return m2m_error(rsp, RSC_OPERATION_DENIED_BY_REMOTE_ENTITY, "the blocking-update subscriber '%s' denied it",
                         target);
    return m2m_error(rsp, rsc, "the blocking-update subscriber '%s' answered %d", target, rsc);
}

int notify_blocking_update(struct cse *cse, const struct m2m_request *req, const struct resource *target,
                           const char *key, json_t *content, struct m2m_response *rsp)
{
    struct sub_list l = { 0 };
    store_children(cse->store, res_ri(target), TY_SUB, collect_sub, &l);
    int rc = 0;
    bool pending = false;
    for (int i = 0; i < l.n; i++) {
        struct resource *sub = l.v[i];
        json_t *modified = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(content, k, v) json_object_set_new(modified, k, json_true());
        const char *nu0 = json_string_value(json_array_get(json_object_get(sub->attrs, "nu"), 0));
        bool asks = !rc && nu0 && matches(sub, NET_BLOCKING_UPDATE, target, modified) &&
                    subscriber_may_read(cse, sub, target);
        json_decref(modified);
        if (asks) {
            char sur[256], qkey[300];
            sur_of(cse, res_ri(sub), sur, sizeof sur);
            snprintf(qkey, sizeof qkey, "blocking-update %s", res_ri(sub));
            json_t *pc = json_pack("{s:{s:{s:{s:O},s:i},s:s}}", "m2m:sgn", "nev", "rep", key, content,
                                   "net", NET_BLOCKING_UPDATE, "sur", sur);
            json_t *urls = json_pack("[s]", nu0), *answer = NULL;
            int rsc = notify_ask(cse, req, qkey, urls, OP_NOTIFY, NULL, pc, 0, &answer);
            json_decref(answer);
            json_decref(urls);
            json_decref(pc);
            if (rsc == DISPATCH_PENDING) pending = true;
            else if (rsc != RSC_OK) rc = blocking_refusal(rsp, nu0, rsc);
        }
        resource_free(sub);
    }
    free(l.v);
    return rc ? rc : pending ? DISPATCH_PENDING : 0;
}

void notify_removing(struct cse *cse, const struct resource *sub)
{
    struct notifier *nf = nf_of(cse);
    if (!nf) return;
    if (nf->nremoving == nf->capremoving) {
        nf->capremoving = nf->capremoving ? nf->capremoving * 2 : 8;
        nf->removing = realloc(nf->removing, (size_t)nf->capremoving * sizeof *nf->removing);
    }
    nf->removing[nf->nremoving++] = resource_dup(sub);
}

void notify_removed_abort(struct cse *cse)
{
    struct notifier *nf = nf_of(cse);
    if (!nf) return;
    for (int i = 0; i < nf->nremoving; i++) resource_free(nf->removing[i]);
    nf->nremoving = 0;
}

int notify_removing_mark(struct cse *cse)
{
    struct notifier *nf = nf_of(cse);
    return nf ? nf->nremoving : 0;
}

void notify_removing_rewind(struct cse *cse, int mark)
{
    struct notifier *nf = nf_of(cse);
    if (!nf) return;
    while (nf->nremoving > mark && mark >= 0) resource_free(nf->removing[--nf->nremoving]);
}

void notify_forget_subscription(struct cse *cse, const char *sub_ri)
{
    struct notifier *nf = nf_of(cse);
    if (!nf || !sub_ri) return;
    flush_batches_of(nf, sub_ri);
    drop_holds_of(nf, sub_ri);
    json_object_del(nf->sub_stats, sub_ri);
}

void notify_removed_commit(struct cse *cse)
{
    struct notifier *nf = nf_of(cse);
    if (!nf) return;
    /* Taken first: a callback below may remove more subscriptions. */
    struct resource **v = nf->removing;
    int n = nf->nremoving;
    nf->removing = NULL;
    nf->nremoving = nf->capremoving = 0;
    for (int i = 0; i < n; i++) {
        struct resource *sub = v[i];
        notify_forget_subscription(cse, res_ri(sub)); /* holds: never due, the subscription went first */
        const char *su = res_str(sub, "su");
        if (su && *su) {
            char sur[256];
            sur_of(cse, res_ri(sub), sur, sizeof sur);
            json_t *pc = json_pack("{s:{s:b,s:s}}", "m2m:sgn", "sud", 1, "sur", sur);
            enqueue(nf, su, pc, 0, NULL, NULL);
            json_decref(pc);
        }
        resource_free(sub);
    }
    free(v);
}

/* --- life cycle --------------------------------------------------------------- */

int notify_open(struct cse *cse)
{
    if (outbound_open(cse)) return -1;
    if (!cse->loop) return 0; /* tools without a loop deliver nothing (exchanges block) */
    struct notifier *nf = calloc(1, sizeof *nf);
    if (!nf) { outbound_close(cse); return -1; }
    nf->cse = cse;
    nf->sub_stats = json_object();
    nf->period_by_target = json_object();
    nf->target_limit = (size_t)cse->cfg.notify_target_bytes;
    nf->total_limit = (size_t)cse->cfg.notify_total_bytes;
    nf->drop_report_s = cse->cfg.notify_drop_report_s;
    cse->notify = nf;
    return 0;
}

void notify_close(struct cse *cse)
{
    struct notifier *nf = nf_of(cse);
    if (!nf) { outbound_close(cse); return; }
    nf->closing = true;
    while (nf->batches) batch_free(nf->batches);
    while (nf->holds) hold_free(nf->holds);
    /* Requests in flight end as unreachable; exchanges waiting to start too. */
    outbound_close(cse);
    while (nf->exchanges) {
        struct exchange *e = nf->exchanges;
        if (e->timer) loop_del_timer(cse->loop, e->timer);
        exchange_end(e, NULL);
    }
    for (int i = 0; i < TARGET_BUCKETS; i++)
        for (struct target *t = nf->targets[i], *next; t; t = next) {
            next = t->next;
            target_free(t);
        }
    notify_removed_abort(cse);
    free(nf->removing);
    if (nf->drop_timer) loop_del_timer(cse->loop, nf->drop_timer);
    if (nf->period_drops) report_drops(nf); /* the last drops are not left unsaid */
    json_decref(nf->period_by_target);
    json_decref(nf->sub_stats);
    free(nf);
    cse->notify = NULL;
}

void notify_get_stats(struct cse *cse, struct notify_stats *out)
{
    struct notifier *nf = nf_of(cse);
    if (nf) {
        *out = nf->st;
        out->bytes = nf->budget.bytes;
    } else {
        memset(out, 0, sizeof *out);
    }
}

int notify_get_target_stats(struct cse *cse, const char *target, struct notify_target_stats *out)
{
    struct notifier *nf = nf_of(cse);
    struct target *tg = nf ? target_find(nf, target) : NULL;
    if (!tg) return -1;
    *out = (struct notify_target_stats){ (int64_t)tg->q.n, tg->q.bytes, tg->dropped };
    return 0;
}
