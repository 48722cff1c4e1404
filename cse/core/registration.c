/* The registree's side of CSE registration: one small state machine on the
 * loop, one exchange with the registrar at a time. What reads or writes the
 * store (a CREATE's or UPDATE's content, handling an answer) runs as a store
 * job (cse_in_store_fiber): with PostgreSQL in a fiber, so that the loop never
 * waits on the database; at most one job or one exchange at a time. */
#include "registration.h"

#include "cse.h"
#include "route.h"
#include "rsc.h"
#include "store_job.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../events/announce.h"
#include "../events/outbound.h"
#include "../store/store.h"
#include "../../resources/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXCHANGE_TIMEOUT_MS 5000
#define BACKOFF_FIRST_MS 500

enum step {
    STEP_CREATE,     /* CREATE our <remoteCSE> at the registrar's CSEBase */
    STEP_UPDATE,     /* UPDATE it (already registered, or poa/dcse changed) */
    STEP_CHECK,      /* RETRIEVE it: still there, still right? */
    STEP_BASE,       /* RETRIEVE the registrar's CSEBase: our <remoteCSE> for it */
    STEP_DELETE,     /* deregistration at a clean stop */
};

struct registration {
    struct cse *cse;
    enum step step;
    int64_t timer;
    bool in_flight, stopping, registered, dirty;
    bool known;                 /* the registrar holds our <remoteCSE>, as far as we know */
    int stop_wait_ms;
    bool released;              /* stopped while busy: the answer or the job's end frees this */
    bool queued;                /* a store job is queued or running (cse_in_store_fiber) */
    struct m2m_response answer; /* what the queued answer job handles */
    char why[300];              /* ... and how a failure is told */
    int failures;
    bool reregistering;         /* the registrar lost us: told once until registered again */
    /* What was last logged, so that a registrar down for an hour is one line. */
    int logged_rsc;
    const char *logged_step;
    char *body;                 /* the request's content, alive until answered */
    unsigned long seq;
};

static const char *step_name(enum step s)
{
    static const char *const names[] = { "create", "update", "check", "retrieve the CSEBase", "delete" };
    return names[s];
}

/* --- pure parts ------------------------------------------------------------- */

int64_t registration_backoff_ms(int failures, int64_t ceiling_ms)
{
    int64_t ms = BACKOFF_FIRST_MS;
    for (int i = 1; i < failures && ms < ceiling_ms; i++) ms *= 2;
    return ms < ceiling_ms ? ms : ceiling_ms;
}

static bool list_contains(const json_t *list, const json_t *v)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) if (json_equal(x, v)) return true;
    return false;
}

/* Equal as sets; an absent list is an empty one. */
static bool same_set(const json_t *a, const json_t *b)
{
    size_t na = json_is_array(a) ? json_array_size(a) : 0, nb = json_is_array(b) ? json_array_size(b) : 0;
    size_t i;
    json_t *x;
    if (na != nb) return false;
    if (na) json_array_foreach(a, i, x) if (!list_contains(b, x)) return false;
    if (nb) json_array_foreach(b, i, x) if (!list_contains(a, x)) return false;
    return true;
}

bool registration_differs(const json_t *have, const json_t *want)
{
    static const char *const lists[] = { "poa", "dcse", "srv" };
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
        if (!same_set(json_object_get(have, lists[i]), json_object_get(want, lists[i]))) return true;
    return !json_equal(json_object_get(have, "rr"), json_object_get(want, "rr"));
}

/* --- what we tell the registrar -------------------------------------------- */

static struct registration *state(struct cse *cse) { return cse->registration; }

struct descendants { struct cse *cse; json_t *list; };

/* dcse: every CSE registered below this one and their descendants, never
 * the registrar (whose <remoteCSE> is here too). */
static int add_descendant(struct resource *r, void *data)
{
    struct descendants *d = data;
    const char *csi = res_str(r, "csi");
    if (!csi || !strcmp(csi, d->cse->cfg.registrar_csi)) return 0;
    json_t *c = json_string(csi);
    if (!list_contains(d->list, c)) json_array_append(d->list, c);
    json_decref(c);
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r->attrs, "dcse"), i, x)
        if (json_is_string(x) && !list_contains(d->list, x)) json_array_append(d->list, x);
    return 0;
}

/* poa, srv, rr and dcse as the registrar should hold them; with all, the
 * attributes only a CREATE sets too. */
static json_t *wanted(struct cse *cse, bool all)
{
    json_t *a = json_object();
    struct resource *base = NULL;
    if (!store_get(cse->store, cse->cfg.cse_id, &base)) {
        json_t *poa = json_object_get(base->attrs, "poa"), *srv = json_object_get(base->attrs, "srv");
        json_object_set_new(a, "poa", poa ? json_deep_copy(poa) : json_array());
        json_object_set_new(a, "srv", srv ? json_deep_copy(srv) : json_pack("[s]", "3"));
        resource_free(base);
    }
    json_object_set_new(a, "rr", json_true());
    struct descendants d = { cse, json_array() };
    store_children(cse->store, cse->cfg.cse_id, TY_CSR, add_descendant, &d);
    json_object_set_new(a, "dcse", d.list);
    if (all) {
        char cb[200];
        snprintf(cb, sizeof cb, "%s/%s", cse->csi, cse->cfg.cse_name);
        json_object_set_new(a, "csi", json_string(cse->csi));
        json_object_set_new(a, "cb", json_string(cb));
        json_object_set_new(a, "cst", json_integer(cse->cfg.cse_type));
    }
    return a;
}

/* --- exchanges ------------------------------------------------------------ */

static void schedule(struct registration *reg, enum step step, int64_t ms);
static void send_step(struct registration *reg, int timeout_ms);
static void stopped_idle(struct registration *reg);

/* Logs a failure once per change of what failed, then backs off. */
static void failed(struct registration *reg, int rsc, const char *why)
{
    reg->failures++;
    int64_t ms = registration_backoff_ms(reg->failures, reg->cse->cfg.registration_retry_max_ms);
    if (reg->logged_rsc != rsc || reg->logged_step != step_name(reg->step)) {
        log_warn("registration at %s (%s): %s failed: %s; retrying with back-off (at most every %lld ms)",
                 reg->cse->cfg.registrar_csi, reg->cse->cfg.registrar_url, step_name(reg->step), why,
                 (long long)reg->cse->cfg.registration_retry_max_ms);
        reg->logged_rsc = rsc;
        reg->logged_step = step_name(reg->step);
    }
    /* From scratch: a CREATE answers 4117 when we are still known there. */
    schedule(reg, STEP_CREATE, ms);
}

static void became_registered(struct registration *reg)
{
    if (!reg->registered || reg->logged_rsc)
        log_info("registered at %s (%s) as %s", reg->cse->cfg.registrar_csi, reg->cse->cfg.registrar_url,
                 reg->cse->csi);
    reg->registered = true;
    reg->reregistering = false;
    reg->failures = 0;
    reg->logged_rsc = 0;
    reg->logged_step = NULL;
    if (reg->dirty) {
        reg->dirty = false;
        schedule(reg, STEP_UPDATE, 0);
    } else {
        schedule(reg, STEP_CHECK, reg->cse->cfg.registration_check_ms);
    }
}

/* The registrar answered 4004 for our <remoteCSE> (why: to which step):
 * registering again from scratch at once, logged once until registered again.
 * 4004 again before registered is a registrar that contradicts itself (our
 * CREATE answered 4117, its UPDATE 4004): a failure, with back-off, or the
 * two would go round as fast as the network allows. */
static void register_again(struct registration *reg, const char *why)
{
    if (reg->reregistering) {
        char told[sizeof reg->why + 100];
        snprintf(told, sizeof told, "%s, though the CREATE before it answered %d", reg->why,
                 RSC_ORIGINATOR_HAS_ALREADY_REGISTERED);
        failed(reg, RSC_NOT_FOUND, told);
        return;
    }
    log_info("registration: %s no longer knows %s (%s); registering again", reg->cse->cfg.registrar_csi,
             reg->cse->csi, why);
    reg->reregistering = true;
    schedule(reg, STEP_CREATE, 0);
}

/* Runs req inside this CSE as the CSE itself; returns the RSC. */
static int submit_local(struct cse *cse, int op, const char *to, json_t *content)
{
    struct m2m_response rsp;
    int rsc = cse_run_itself(cse, op, op == OP_CREATE ? TY_CSR : 0, to, "registration",
                             content ? json_pack("{s:o}", "m2m:csr", content) : NULL, &rsp);
    if (rsc >= 4000) {
        const char *dbg = json_string_value(json_object_get(rsp.pc, "m2m:dbg"));
        log_warn("registration: the local <remoteCSE> for %s: %d %s", cse->cfg.registrar_csi, rsc, dbg ? dbg : "");
    }
    m2m_response_clear(&rsp);
    return rsc;
}

/* The local <remoteCSE> of the registrar, created or refreshed from its
 * CSEBase. The URL we reach it by comes first in its poa: that is the
 * binding our credentials are for (route.h takes the first). */
static void keep_registrar(struct cse *cse, const json_t *cb)
{
    json_t *poa = json_pack("[s]", cse->cfg.registrar_url);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(cb, "poa"), i, p)
        if (json_is_string(p) && !list_contains(poa, p)) json_array_append(poa, p);
    json_t *srv = json_object_get(cb, "srv");
    json_t *a = json_pack("{s:o,s:b,s:o}", "poa", poa, "rr", 1, "srv",
                          json_is_array(srv) ? json_deep_copy(srv) : json_pack("[s]", "3"));
    const char *stem = route_csi_stem(cse->cfg.registrar_csi);
    struct resource *have = NULL;
    if (!store_get(cse->store, stem, &have)) {
        bool same = !registration_differs(have->attrs, a);
        resource_free(have);
        if (!same) submit_local(cse, OP_UPDATE, stem, a);
        else json_decref(a);
        return;
    }
    const char *rn = json_string_value(json_object_get(cb, "rn"));
    char cbpath[200];
    snprintf(cbpath, sizeof cbpath, "%s/%s", cse->cfg.registrar_csi, rn ? rn : "");
    json_object_set_new(a, "csi", json_string(cse->cfg.registrar_csi));
    json_object_set_new(a, "cb", json_string(cbpath));
    json_t *cst = json_object_get(cb, "cst");
    if (json_is_integer(cst)) json_object_set(a, "cst", cst);
    submit_local(cse, OP_CREATE, cse->cfg.cse_name, a);
}

/* What an answer tells about the registrar holding our <remoteCSE>. */
static void note_known(struct registration *reg, const struct outbound_answer *ans)
{
    if (ans->unreachable) return;
    int rsc = ans->rsc;
    if ((reg->step == STEP_CREATE && (rsc == RSC_CREATED || rsc == RSC_ORIGINATOR_HAS_ALREADY_REGISTERED)) ||
        (reg->step == STEP_UPDATE && rsc == RSC_UPDATED) || (reg->step == STEP_CHECK && rsc == RSC_OK))
        reg->known = true;
    else if (rsc == RSC_NOT_FOUND && reg->step != STEP_BASE)
        reg->known = false;
}

/* Stopping, nothing in flight or queued any more: freed when the stop gave
 * up waiting, else the DELETE goes when the registrar knows us, else the
 * stop's wait ends. */
static void stopped_idle(struct registration *reg)
{
    if (reg->timer) loop_del_timer(reg->cse->loop, reg->timer);
    reg->timer = 0;
    if (reg->released) {
        free(reg);
        return;
    }
    if (reg->step != STEP_DELETE && reg->known) {
        reg->step = STEP_DELETE;
        send_step(reg, reg->stop_wait_ms);
        if (reg->in_flight) return;
    }
    loop_stop(reg->cse->loop);
}

/* Stopping: the answer to the DELETE, or to an exchange that was in flight
 * when the stop came (then the DELETE follows, if the registrar knows us). */
static void answered_while_stopping(struct registration *reg, const struct outbound_answer *ans)
{
    const char *csi = reg->cse->cfg.registrar_csi;
    if (reg->step == STEP_DELETE && !reg->released) {
        if (ans->unreachable) log_info("deregistration at %s: unreachable: %s", csi, ans->unreachable);
        else log_info("deregistered from %s (%d)", csi, ans->rsc);
    }
    stopped_idle(reg);
}

/* --- store jobs ------------------------------------------------------------ */

/* The registration is kept while a job waits (reg->queued): a stop meanwhile
 * lets the job's end (or its drop) go on with the stop, or free it. */
static void job_over(struct registration *reg)
{
    reg->queued = false;
    if (reg->stopping) stopped_idle(reg);
}

/* The CSE closes before the job got the store. */
static void job_dropped(void *data)
{
    struct registration *reg = data;
    free(reg->body);
    reg->body = NULL;
    m2m_response_clear(&reg->answer);
    job_over(reg);
}

static void queue_job(struct registration *reg, cse_job_fn *job)
{
    reg->queued = true;
    cse_in_store_fiber(reg->cse, job, job_dropped, reg);
}

/* What an answer means for the next step; reads the store (dcse) and writes
 * it (the registrar's local <remoteCSE>, announcements to renew). */
static void handle_answer(struct registration *reg)
{
    const struct m2m_response *rsp = &reg->answer;
    json_t *got = json_object_get(rsp->pc, reg->step == STEP_BASE ? "m2m:cb" : "m2m:csr");
    switch (reg->step) {
    case STEP_CREATE:
        if (rsp->rsc == RSC_CREATED) {
            /* A new <remoteCSE>: what we had announced there went with the old one. */
            announce_renew(reg->cse, reg->cse->cfg.registrar_csi);
            schedule(reg, STEP_BASE, 0);
        } else if (rsp->rsc == RSC_ORIGINATOR_HAS_ALREADY_REGISTERED) schedule(reg, STEP_UPDATE, 0);
        else failed(reg, rsp->rsc, reg->why);
        break;
    case STEP_UPDATE:
        if (rsp->rsc == RSC_UPDATED) schedule(reg, STEP_BASE, 0);
        else if (rsp->rsc == RSC_NOT_FOUND) register_again(reg, "its UPDATE answered 4004");
        else failed(reg, rsp->rsc, reg->why);
        break;
    case STEP_CHECK:
        if (rsp->rsc == RSC_OK && got) {
            json_t *want = wanted(reg->cse, false);
            schedule(reg, registration_differs(got, want) ? STEP_UPDATE : STEP_BASE, 0);
            json_decref(want);
        } else if (rsp->rsc == RSC_NOT_FOUND) {
            register_again(reg, "the check's RETRIEVE answered 4004");
        } else {
            failed(reg, rsp->rsc, reg->why);
        }
        break;
    case STEP_BASE:
        if (rsp->rsc == RSC_OK && got) {
            keep_registrar(reg->cse, got);
            became_registered(reg);
        } else {
            failed(reg, rsp->rsc, reg->why);
        }
        break;
    case STEP_DELETE:
        break;
    }
}

static void answer_job(void *data)
{
    struct registration *reg = data;
    if (!reg->stopping) handle_answer(reg);
    m2m_response_clear(&reg->answer);
    job_over(reg);
}

/* A CREATE's or UPDATE's content: read from the store, then sent. */
static void send_job(void *data)
{
    struct registration *reg = data;
    if (!reg->stopping) {
        json_t *pc = json_pack("{s:o}", "m2m:csr", wanted(reg->cse, reg->step == STEP_CREATE));
        reg->body = json_dumps(pc, JSON_COMPACT);
        json_decref(pc);
    }
    if (reg->stopping) {       /* perhaps since wanted() waited */
        free(reg->body);
        reg->body = NULL;
        job_over(reg);
        return;
    }
    reg->queued = false;
    send_step(reg, EXCHANGE_TIMEOUT_MS);
}

static void answered(void *data, const struct outbound_answer *ans)
{
    struct registration *reg = data;
    reg->in_flight = false;
    free(reg->body);
    reg->body = NULL;
    note_known(reg, ans);
    if (reg->stopping) {
        answered_while_stopping(reg, ans);
        return;
    }
    outbound_answer_response(ans, &reg->answer);
    const char *dbg = json_string_value(json_object_get(reg->answer.pc, "m2m:dbg"));
    if (ans->unreachable) snprintf(reg->why, sizeof reg->why, "unreachable: %s", ans->unreachable);
    else snprintf(reg->why, sizeof reg->why, "%d%s%s", reg->answer.rsc, dbg ? " " : "", dbg ? dbg : "");
    queue_job(reg, answer_job);
}

/* Our <remoteCSE> at the registrar by its ri ("/~/id-in/id-mn"), or the
 * registrar's CSEBase by its ri, which is the CSE-ID's stem ("/~/id-in/id-in",
 * as at Ironbark and ACME by default): a bare CSE-ID ("/~/id-in") is no
 * resource address (docs/decisions.md). */
static void target_url(const struct cse *cse, bool ours, char *out, size_t cap)
{
    const char *u = cse->cfg.registrar_url;
    size_t n = strlen(u);
    while (n && u[n - 1] == '/') n--;
    snprintf(out, cap, "%.*s/~%s/%s", (int)n, u, cse->cfg.registrar_csi,
             ours ? cse->cfg.cse_id : route_csi_stem(cse->cfg.registrar_csi));
}

void registration_registrar_url(const struct cse *cse, char *out, size_t cap) { target_url(cse, false, out, cap); }

static void send_step(struct registration *reg, int timeout_ms)
{
    struct cse *cse = reg->cse;
    static const int ops[] = { OP_CREATE, OP_UPDATE, OP_RETRIEVE, OP_RETRIEVE, OP_DELETE };
    char url[sizeof cse->cfg.registrar_url + 200], rqi[100];
    target_url(cse, reg->step != STEP_CREATE && reg->step != STEP_BASE, url, sizeof url);
    snprintf(rqi, sizeof rqi, "reg-%s-%lu", cse->cfg.cse_id, ++reg->seq);
    struct m2m_request req = { .op = ops[reg->step], .fr = cse->csi, .rqi = rqi, .rvi = "3", .rcn = -1 };
    if (reg->step == STEP_CREATE) req.ty = TY_CSR;
    /* A CREATE's or UPDATE's content: send_job put it in reg->body. */
    struct iovec body = { reg->body, reg->body ? strlen(reg->body) : 0 };
    struct outbound_request r = { .url = url, .req = &req, .body = &body, .nbody = body.iov_len ? 1 : 0,
                                  .len = body.iov_len, .timeout_ms = timeout_ms };
    reg->in_flight = true;
    if (outbound_send(cse, &r, answered, reg)) {
        reg->in_flight = false;
        free(reg->body);
        reg->body = NULL;
        if (reg->step != STEP_DELETE) failed(reg, RSC_TARGET_NOT_REACHABLE, "the request could not be sent");
    }
}

static int64_t on_timer(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct registration *reg = data;
    reg->timer = 0;
    if (reg->step == STEP_CREATE || reg->step == STEP_UPDATE) queue_job(reg, send_job);
    else send_step(reg, EXCHANGE_TIMEOUT_MS);
    return -1;
}

static void schedule(struct registration *reg, enum step step, int64_t ms)
{
    if (reg->timer) loop_del_timer(reg->cse->loop, reg->timer);
    reg->step = step;
    reg->timer = loop_add_timer(reg->cse->loop, ms, on_timer, reg);
}

/* --- life cycle ----------------------------------------------------------- */

/* A public-poa must be a URL others can send to: a known scheme and a host. */
static bool poa_usable(const char *url)
{
    const char *host = strstr(url, "://");
    return outbound_scheme_known(url) && host && host[3] && host[3] != '/' && host[3] != ':';
}

int registration_check_settings(const struct cse *cse)
{
    const struct config *c = &cse->cfg;
    for (int i = 0; i < c->npublic_poa; i++)
        if (!poa_usable(c->public_poa[i])) {
            log_error("public-poa '%s': not an http, https, coap or coaps URL with a host", c->public_poa[i]);
            return -1;
        }
    if (!c->registrar_url[0]) return 0;
    if (!route_csi_stem(c->registrar_csi)) {
        log_error("registrar %s needs registrar-csi, the registrar's CSE-ID as /<id> (got '%s')",
                  c->registrar_url, c->registrar_csi);
        return -1;
    }
    if (c->cse_type == CSE_TYPE_IN) {
        log_error("registrar %s: an IN-CSE (cse-type 1) registers nowhere; drop registrar, or set cse-type 2 "
                  "(MN) or 3 (ASN)", c->registrar_url);
        return -1;
    }
    if (!strcmp(c->registrar_csi, cse->csi)) {
        log_error("registrar-csi %s is this CSE's own ID", c->registrar_csi);
        return -1;
    }
    if (!outbound_scheme_known(c->registrar_url)) {
        log_error("registrar %s: not an http, https, coap or coaps URL", c->registrar_url);
        return -1;
    }
    return 0;
}

int registration_start(struct cse *cse)
{
    const struct config *c = &cse->cfg;
    if (!c->registrar_url[0]) return 0;
    if (registration_check_settings(cse)) return -1;
    struct registration *reg = calloc(1, sizeof *reg);
    if (!reg) return -1;
    reg->cse = cse;
    cse->registration = reg;
    log_info("registering at %s (%s) as %s", c->registrar_csi, c->registrar_url, cse->csi);
    schedule(reg, STEP_CREATE, 0);
    return 0;
}

static int64_t give_up(struct loop *loop, int64_t id, void *data)
{
    (void)id; (void)data;
    loop_stop(loop);
    return -1;
}

void registration_stop(struct cse *cse, int wait_ms)
{
    struct registration *reg = state(cse);
    if (!reg) return;
    cse->registration = NULL;
    if (reg->timer) loop_del_timer(cse->loop, reg->timer);
    reg->timer = 0;
    reg->stopping = true;
    reg->stop_wait_ms = wait_ms;
    if (!reg->in_flight && !reg->queued && reg->known) {
        reg->step = STEP_DELETE;
        send_step(reg, wait_ms);   /* the exchange's own timeout bounds the wait */
    }
    /* The DELETE, or the exchange in flight or the store job queued and then
     * the DELETE, within one bound. */
    if (reg->in_flight || reg->queued) {
        int64_t t = loop_add_timer(cse->loop, wait_ms + 500, give_up, NULL);
        loop_run(cse->loop);
        loop_del_timer(cse->loop, t);
    }
    /* Still busy: outbound_close() ends the exchange, whose answer frees
     * the state; the job's end, or its drop by cse_settle_fibers(), does. */
    if (reg->in_flight || reg->queued) {
        log_info("deregistration at %s unanswered after %d ms", cse->cfg.registrar_csi, wait_ms);
        reg->released = true;
        return;
    }
    free(reg->body);
    free(reg);
}

void registration_descendants_changed(struct cse *cse)
{
    struct registration *reg = state(cse);
    if (!reg || reg->stopping) return;
    if (!reg->registered || reg->in_flight || reg->queued || reg->step != STEP_CHECK) reg->dirty = true;
    else schedule(reg, STEP_UPDATE, 0);
}
