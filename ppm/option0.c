/* ppm/option0.h: consents as ACPs at the CSE, linked by the PPM's AE. */
#include "option0.h"
#include "settings.h"
#include "cse/base/clock.h"
#include "cse/base/log.h"
#include "cse/base/loop.h"
#include "cse/core/cse.h"
#include "cse/core/rsc.h"
#include "cse/core/store_job.h"
#include "cse/events/notify.h"
#include "cse/store/store.h"
#include "resources/registry.h"
#include "../cse/base/json_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum stage { REGISTER, ACP_UPDATE, ACP_CREATE, LINK_READ, LINK_WRITE, UNLINK_READ, UNLINK_WRITE, ACP_DELETE, DONE };

struct option0;

struct job {
    struct job *next;
    struct option0 *o;         /* its CSE's option 0 */
    char ri[64];
    json_t *was_data;          /* the consent's resources before the change, or NULL */
    json_t *acp;               /* {"pv", "et"} while the consent grants; NULL: remove */
    json_t *link, *unlink;     /* absolute IDs of resources */
    enum stage stage;
    size_t i;
    int tries;                 /* requests retried after no answer (retry_unanswered) */
    json_t *linked, *failed;   /* the outcome: resources linked; {"ri", "what", "rsc"} per failure */
};

/* Option 0's state in a CSE, in the consent type's slot (cse_type_state()):
 * made by ppm_option0_start(), freed by ppm_option0_stop() or, when a
 * request was in flight then, once it has ended. */
struct option0 {
    struct cse *cse;
    struct job *queue;         /* one request to the CSE at a time, oldest job first */
    bool registered, stopping, in_flight;
    int64_t start_timer, expiry_timer, retry_timer; /* timers: 0 none */
    int64_t expiry_at;         /* the expiry timer's cet */
    int64_t expiry_seen;       /* consents ending up to here were unlinked (or ended while the PPM was down) */
    unsigned long sent;        /* requests sent: their rqi */
};

static struct option0 *option0_of(struct cse *cse)
{
    void **slot = cse_type_state(cse, TY_PPM_CONSENT);
    return slot ? *slot : NULL;
}

static void option0_free(struct option0 *o)
{
    void **slot = cse_type_state(o->cse, TY_PPM_CONSENT);
    if (slot && *slot == o) *slot = NULL;
    free(o);
}

/* "<cse-name>/<ae>/ppm-<ri>": the ACP's ID as the resources' acpi name it. */
static void acp_id(const struct job *j, char *out, size_t cap)
{
    const char *name = strrchr(ppm_settings.cse_url, '/');
    snprintf(out, cap, "%s/%s/ppm-%s", name ? name + 1 : "", ppm_settings.ae_id, j->ri);
}

void ppm_option0_acp_url(const char *ri, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s/ppm-%s", ppm_settings.cse_url, ppm_settings.ae_id, ri);
}

static void job_free(struct job *j)
{
    json_decref(j->linked);
    json_decref(j->failed);
    json_decref(j->was_data);
    json_decref(j->acp);
    json_decref(j->link);
    json_decref(j->unlink);
    free(j);
}

static void advance(struct job *j, json_t *result);
static void start_next(struct option0 *o);
static void watch_expiry(struct option0 *o, int64_t cet);

static void answered(void *data, json_t *result)
{
    struct job *j = data;
    j->o->in_flight = false;
    advance(j, result);
}

/* Sends one request of the job as the PPM's AE; the answer comes back to advance(). */
static void send(struct job *j, int op, const char *url, int ty, json_t *pc)
{
    char rqi[32];
    snprintf(rqi, sizeof rqi, "ppm-opt0-%lu", ++j->o->sent);
    json_t *x = json_pack("{s:s,s:[s],s:s,s:s,s:O,s:i,s:i,s:b}", "key", rqi, "urls", url, "from",
                          ppm_settings.ae_id, "rqi", rqi, "pc", pc ? pc : json_null(), "op", op, "timeout_ms", 0,
                          "content", 1);
    if (ty) json_object_set_new(x, "ty", json_integer(ty));
    json_decref(pc);
    j->o->in_flight = true;
    notify_run_exchange(j->o->cse, x, answered, j);
    json_decref(x);
}

/* The ACP a granting consent stands for: its rule as acr, its cet as et. */
static json_t *acp_of(const struct resource *c, int64_t *cet)
{
    const char *end = res_str(c, "cet");
    if (res_int(c, "acop", 0) <= 0 || !end || !ts_parse(end, cet) || *cet <= clock_now_us()) return NULL;
    json_t *rule = json_pack("{s:O,s:I}", "acor", json_object_get(c->attrs, "orp"), "acop", res_int(c, "acop", 0));
    json_t *ctw = json_object_get(c->attrs, "ctw");
    if (json_array_size(ctw)) json_object_set_new(rule, "acco", json_pack("[{s:O}]", "actw", ctw));
    return json_pack("{s:{s:[o]},s:s}", "pv", "acr", rule, "et", end);
}

/* Reads the consent as stored now: what to link, unlink and hold. */
static void plan(struct job *j)
{
    struct resource *c = NULL;
    int64_t cet;
    store_get(j->o->cse->store, j->ri, &c);
    j->acp = c ? acp_of(c, &cet) : NULL;
    if (j->acp) watch_expiry(j->o, cet);
    json_t *now = j->acp ? json_object_get(json_object_get(c->attrs, "cpol"), "data") : NULL;
    j->link = now ? json_incref(now) : json_array();
    j->unlink = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(j->was_data, i, v)
        if (!json_strlist_has(j->link, json_string_value(v))) json_array_append(j->unlink, v);
    resource_free(c);
}

static void fail(struct job *j, const char *what, json_t *result)
{
    json_t *list = j->stage == LINK_READ || j->stage == LINK_WRITE ? j->link : j->stage == UNLINK_READ ||
                   j->stage == UNLINK_WRITE ? j->unlink : NULL;
    json_t *ri = json_array_get(list, j->i);
    json_array_append_new(j->failed, json_pack("{s:s,s:I,s:O}", "what", what, "rsc",
                                               json_integer_value(json_object_get(result, "rsc")),
                                               "ri", ri ? ri : json_null()));
    log_warn("ppm: option 0 for consent %s: %s (the CSE answered %lld)", j->ri, what,
             json_integer_value(json_object_get(result, "rsc")));
}

/* The resource's acpi with id added (add) or taken out; NULL when nothing changes. */
static json_t *changed_acpi(json_t *current, const char *id, bool add, const char **key)
{
    void *it = json_object_iter(current);
    *key = it ? json_object_iter_key(it) : NULL;
    json_t *acpi = json_object_get(it ? json_object_iter_value(it) : NULL, "acpi");
    if (add == json_strlist_has(acpi, id)) return NULL;
    json_t *out = json_array(), *v;
    size_t i;
    json_array_foreach(acpi, i, v)
        if (strcmp(json_string_value(v), id)) json_array_append(out, v);
    if (add) json_array_append_new(out, json_string(id));
    return out;
}

/* The consent records the outcome (enf): an UPDATE of it by the PPM itself
 * (only it may set enf). */
static void record(struct job *j, const char *id)
{
    if (j->o->stopping) return;
    ts_buf now;
    ts_format(clock_now_us(), now);
    json_t *enf = json_pack("{s:s?,s:O,s:O,s:s}", "acp", j->acp ? id : NULL, "linked", j->linked, "failed", j->failed,
                            "at", now);
    struct m2m_request req;
    struct m2m_response rsp;
    m2m_request_init(&req);
    m2m_response_init(&rsp);
    req.op = OP_UPDATE;
    req.to = strdup(j->ri);
    req.rqi = strdup("ppm-option0");
    req.rcn = RCN_NOTHING;
    req.pc = json_pack("{s:{s:o}}", "ppm:cns", "enf", enf);
    struct cse_principal me = { .kind = PRINCIPAL_CSE };
    cse_submit(j->o->cse, &me, &req, &rsp, NULL, NULL, NULL);
    if (rsp.rsc != RSC_UPDATED && rsp.rsc != RSC_NOT_FOUND)
        log_warn("ppm: option 0's outcome for consent %s could not be recorded (%d)", j->ri, rsp.rsc);
    m2m_response_clear(&rsp);
    m2m_request_clear(&req);
}

static void retry_job(void *data)
{
    advance(data, NULL);
}

/* The timers' work reads and writes the store: outside a primitive it waits
 * in a fiber (cse_in_store_fiber). The job and the state stay until
 * ppm_option0_stop(), which comes after every such fiber ended. */
static int64_t retry_now(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct job *j = data;
    j->o->retry_timer = 0;
    cse_in_store_fiber(j->o->cse, retry_job, NULL, j);
    return -1;
}

/* A CSE that answers late (loaded) is not one that refused: nothing else would
 * redo the job (an expiry's unlink is scanned once), so the request is sent
 * again, a few times, later. A write restarts from its read (the acpi may have
 * changed), a create from the update (it may have been made). */
enum { RETRIES = 4, RETRY_FIRST_MS = 500 };
static bool retry_unanswered(struct job *j, int rsc)
{
    if (!(rsc == RSC_TARGET_NOT_REACHABLE || rsc == RSC_REQUEST_TIMEOUT) || j->tries >= RETRIES || j->o->stopping)
        return false;
    log_info("ppm: option 0 for consent %s: no answer from the CSE (%d), retrying", j->ri, rsc);
    j->stage = j->stage == LINK_WRITE ? LINK_READ : j->stage == UNLINK_WRITE ? UNLINK_READ :
               j->stage == ACP_CREATE ? ACP_UPDATE : j->stage;
    j->o->retry_timer = loop_add_timer(j->o->cse->loop, (int64_t)RETRY_FIRST_MS << j->tries++, retry_now, j);
    return true;
}

/* One step: the answer to the last request (NULL at the start), the next request. */
static void advance(struct job *j, json_t *result)
{
    int rsc = (int)json_integer_value(json_object_get(result, "rsc"));
    if (result && retry_unanswered(j, rsc)) return;
    char id[600], url[1200];
    acp_id(j, id, sizeof id);
    struct option0 *o = j->o;
    if (o->stopping) j->stage = DONE;
    for (;;) {
        switch (j->stage) {
        case REGISTER:
            /* Registered before (a PPM restarted): 4117, or 4105 for the name. */
            if (result && rsc != RSC_CREATED && rsc != RSC_ORIGINATOR_HAS_ALREADY_REGISTERED && rsc != RSC_CONFLICT) {
                fail(j, "the PPM's AE could not register", result);
                j->stage = DONE;
                break;
            }
            if (!result && !o->registered) {
                send(j, OP_CREATE, ppm_settings.cse_url, TY_AE, json_pack("{s:{s:s,s:s,s:b,s:[s]}}", "m2m:ae", "rn", ppm_settings.ae_id,
                                                         "api", "Nppm", "rr", 0, "srv", "3"));
                return;
            }
            o->registered = true;
            j->stage = j->acp ? ACP_UPDATE : UNLINK_READ;
            result = NULL;
            continue;
        case ACP_UPDATE:
            if (!result) {
                ppm_option0_acp_url(j->ri, url, sizeof url);
                send(j, OP_UPDATE, url, 0, json_pack("{s:O}", "m2m:acp", j->acp));
                return;
            }
            j->stage = rsc == RSC_UPDATED ? LINK_READ : ACP_CREATE;
            if (rsc != RSC_UPDATED && rsc != RSC_NOT_FOUND) {
                fail(j, "its ACP could not be updated", result);
                j->stage = DONE;
            }
            result = NULL;
            continue;
        case ACP_CREATE:
            if (!result) {
                json_t *acp = json_deep_copy(j->acp);
                char rn[80];
                snprintf(rn, sizeof rn, "ppm-%s", j->ri);
                json_object_set_new(acp, "rn", json_string(rn));
                json_object_set_new(acp, "pvs", json_pack("{s:[{s:[s],s:i}]}", "acr", "acor", ppm_settings.ae_id, "acop", 63));
                snprintf(url, sizeof url, "%s/%s", ppm_settings.cse_url, ppm_settings.ae_id);
                send(j, OP_CREATE, url, TY_ACP, json_pack("{s:o}", "m2m:acp", acp));
                return;
            }
            if (rsc != RSC_CREATED) {
                fail(j, "its ACP could not be created", result);
                j->stage = DONE;
            } else {
                j->stage = LINK_READ;
            }
            result = NULL;
            continue;
        case LINK_READ: case UNLINK_READ: {
            json_t *list = j->stage == LINK_READ ? j->link : j->unlink;
            if (!result && j->i < json_array_size(list)) {
                ppm_data_url(json_string_value(json_array_get(list, j->i)), url, sizeof url);
                send(j, OP_RETRIEVE, url, 0, NULL);
                return;
            }
            if (!result) {   /* this list is done */
                j->i = 0;
                j->stage = j->stage == LINK_READ ? UNLINK_READ : j->acp ? DONE : ACP_DELETE;
                continue;
            }
            bool add = j->stage == LINK_READ;
            const char *key = NULL;
            json_t *acpi = rsc == RSC_OK ? changed_acpi(json_object_get(result, "pc"), id, add, &key) : NULL;
            json_t *was = rsc == RSC_OK ? json_object_get(json_object_get(json_object_get(result, "pc"), key ? key : ""), "acpi") : NULL;
            if (rsc != RSC_OK && !(rsc == RSC_NOT_FOUND && !add)) fail(j, "a resource could not be read", result);
            /* An empty acpi stands for the default privileges: ours alone would replace them. */
            if (acpi && add && !json_array_size(was)) {
                fail(j, "a resource without an acpi of its own is not linked", result);
                json_decref(acpi);
                acpi = NULL;
            }
            if (!acpi && add && rsc == RSC_OK && json_strlist_has(was, id)) json_array_append(j->linked, json_array_get(list, j->i));
            if (!acpi) {
                j->i++;
                result = NULL;
                continue;
            }
            ppm_data_url(json_string_value(json_array_get(list, j->i)), url, sizeof url);
            j->stage = add ? LINK_WRITE : UNLINK_WRITE;
            send(j, OP_UPDATE, url, 0, json_pack("{s:{s:o}}", key, "acpi", acpi));
            return;
        }
        case LINK_WRITE: case UNLINK_WRITE:
            if (rsc == RSC_UPDATED && j->stage == LINK_WRITE) json_array_append(j->linked, json_array_get(j->link, j->i));
            if (rsc != RSC_UPDATED) fail(j, j->stage == LINK_WRITE ? "its ACP could not be linked" : "its ACP could not be unlinked", result);
            j->stage = j->stage == LINK_WRITE ? LINK_READ : UNLINK_READ;
            j->i++;
            result = NULL;
            continue;
        case ACP_DELETE:
            if (!result) {
                ppm_option0_acp_url(j->ri, url, sizeof url);
                send(j, OP_DELETE, url, 0, NULL);
                return;
            }
            if (rsc != RSC_DELETED && rsc != RSC_NOT_FOUND) fail(j, "its ACP could not be removed", result);
            j->stage = DONE;
            continue;
        case DONE:
            if (!o->stopping)
                log_info("ppm: option 0 for consent %s: %s at %s%s", j->ri, j->acp ? "ACP linked" : "ACP removed",
                         ppm_settings.cse_url, json_array_size(j->failed) ? " with failures (above)" : "");
            record(j, id);
            o->queue = j->next;
            job_free(j);
            if (o->stopping && !o->queue) option0_free(o); /* the job in flight at the stop */
            else start_next(o);
            return;
        }
    }
}

static void start_next(struct option0 *o)
{
    if (!o->queue || o->stopping) return;
    plan(o->queue);
    advance(o->queue, NULL);
}

static void start_job(void *data)
{
    start_next(data);
}

static int64_t start_later(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct option0 *o = data;
    o->start_timer = 0;
    cse_in_store_fiber(o->cse, start_job, NULL, o);
    return -1;
}

enum ppm_consent_end ppm_option0_end_of(int64_t cet, int64_t seen, int64_t now)
{
    return cet <= seen ? PPM_END_HANDLED : cet <= now ? PPM_END_DUE : PPM_END_AHEAD;
}

/* The loop counts whole milliseconds, truncated (loop_now_ms()): a timer of
 * d ms may run up to 1 ms before d have passed, hence the one more. */
int64_t ppm_option0_timer_ms(int64_t at, int64_t now)
{
    return at <= now ? 0 : (at - now + 999) / 1000 + 1;
}

static int64_t at_expiry(struct loop *loop, int64_t id, void *data);

/* A consent's end needs its ACP unlinked (the CSE removes the ACP at its et;
 * the acpi entries naming it would stay): one timer, at the soonest cet not
 * yet scanned. A cet already past is scanned at once: a scan alone marks
 * ends as handled (expiry_seen), so none is skipped whatever the timer's
 * jitter or the time a scan takes. */
static void watch_expiry(struct option0 *o, int64_t cet)
{
    if (cet <= o->expiry_seen || (o->expiry_timer && cet >= o->expiry_at)) return;
    if (o->expiry_timer) loop_del_timer(o->cse->loop, o->expiry_timer);
    o->expiry_at = cet;
    o->expiry_timer = loop_add_timer(o->cse->loop, ppm_option0_timer_ms(cet, clock_now_us()), at_expiry, o);
}

struct expiry_scan { struct option0 *o; int64_t now; json_t *due; };

/* Granting consents whose cet passed since the last scan are due; those ahead are watched. */
static int expiry_visit(struct resource *c, void *data)
{
    struct expiry_scan *s = data;
    int64_t cet;
    if (res_int(c, "acop", 0) <= 0 || !ts_parse(res_str(c, "cet"), &cet)) return 0;
    switch (ppm_option0_end_of(cet, s->o->expiry_seen, s->now)) {
    case PPM_END_HANDLED:
        break;
    case PPM_END_DUE:
        json_array_append_new(s->due, json_pack("{s:s,s:O}", "ri", res_ri(c), "data",
                                                json_object_get(json_object_get(c->attrs, "cpol"), "data")));
        break;
    case PPM_END_AHEAD:
        watch_expiry(s->o, cet);
        break;
    }
    return 0;
}

/* One clock reading decides for the whole scan: what it did not find due
 * (cet after it) stays ahead of expiry_seen, so it is watched. */
static void expiry_scan(void *data)
{
    struct option0 *o = data;
    struct cse *cse = o->cse;
    struct resource *base = NULL;
    struct expiry_scan s = { o, clock_now_us(), json_array() };
    if (!store_get_path(cse->store, cse->cfg.cse_name, &base) && base)
        store_children(cse->store, res_ri(base), TY_PPM_CONSENT, expiry_visit, &s);
    resource_free(base);
    o->expiry_seen = s.now;
    size_t i;
    json_t *e;
    json_array_foreach(s.due, i, e)
        ppm_option0_sync(cse, json_string_value(json_object_get(e, "ri")), json_object_get(e, "data"));
    json_decref(s.due);
}

static int64_t at_expiry(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct option0 *o = data;
    o->expiry_timer = 0;
    cse_in_store_fiber(o->cse, expiry_scan, NULL, o);
    return -1;
}

void ppm_option0_sync(struct cse *cse, const char *ri, json_t *was_data)
{
    struct option0 *o = option0_of(cse);
    if (!o || o->stopping) return;
    struct job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->o = o;
    snprintf(j->ri, sizeof j->ri, "%s", ri);
    j->was_data = was_data ? json_incref(was_data) : json_array();
    j->linked = json_array();
    j->failed = json_array();
    struct job **tail = &o->queue;
    while (*tail) tail = &(*tail)->next;
    *tail = j;
    /* From the loop: the consent's request has committed by then, and the
     * job reads the consent as stored. */
    if (o->queue == j && !o->start_timer) o->start_timer = loop_add_timer(cse->loop, 0, start_later, o);
}

void ppm_option0_start(struct cse *cse)
{
    void **slot = cse_type_state(cse, TY_PPM_CONSENT);
    if (!*ppm_settings.ae_id || !*ppm_settings.cse_url || !cse->loop || !slot || *slot) return;
    struct option0 *o = calloc(1, sizeof *o);
    if (!o) return;
    o->cse = cse;
    *slot = o;
    /* What ended while the PPM was down is not caught up (docs/privacy.md); the rest is watched. */
    o->expiry_seen = clock_now_us();
    at_expiry(cse->loop, 0, o);
}

void ppm_option0_stop(struct cse *cse)
{
    struct option0 *o = option0_of(cse);
    if (!o) return;
    o->stopping = true;
    if (o->expiry_timer) loop_del_timer(cse->loop, o->expiry_timer);
    if (o->start_timer) loop_del_timer(cse->loop, o->start_timer);
    if (o->retry_timer) loop_del_timer(cse->loop, o->retry_timer);
    o->expiry_timer = o->start_timer = o->retry_timer = 0;
    /* Jobs not started are dropped; the one in flight ends when its exchange
     * answers (unreachable at close), and frees the state then. */
    struct job *first = o->in_flight ? o->queue : NULL, *j = first ? first->next : o->queue;
    while (j) {
        struct job *next = j->next;
        job_free(j);
        j = next;
    }
    if (first) first->next = NULL;
    o->queue = first;
    if (!first) option0_free(o);
}
