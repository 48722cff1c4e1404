#include "nonblocking.h"

#include "../../resources/types.h"

#include "address.h"
#include "../base/clock.h"
#include "cse.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../events/notify.h"
#include "rsc.h"
#include "store_job.h"

#include <stdlib.h>
#include <string.h>

#define REQUEST_LIFETIME_S 3600    /* how long a <request> record is kept */

enum request_status { RS_COMPLETED = 1, RS_FAILED = 2, RS_PENDING = 3 };

struct nb_pending {
    struct cse *cse;
    struct m2m_request *req;
    struct m2m_response rsp;
    int rt;                        /* the response type asked for */
    char ri[64];
    struct nb_pending *next;       /* in cse->nb_unstarted until its timer fires */
    int64_t timer;
};

static bool targets_request_record(struct cse *cse, const char *to)
{
    struct address a;
    struct resource *r = NULL;
    if (address_parse(cse, to, &a)) return false;
    if (!a.remote) address_resolve(cse, a.local, &r);
    address_clear(&a);
    bool yes = r && r->ty == TY_REQ;   /* this module implements <request> */
    resource_free(r);
    return yes;
}

/* metaInformation: the optional parameters worth keeping. */
static json_t *meta_information(const struct m2m_request *req)
{
    json_t *mi = json_pack("{s:{s:i}}", "rt", "rtv", req->rt);
    if (req->rtu) json_object_set_new(json_object_get(mi, "rt"), "nu", json_string(req->rtu));
    if (req->ty > 0) json_object_set_new(mi, "ty", json_integer(req->ty));
    if (req->rcn >= 0) json_object_set_new(mi, "rcn", json_integer(req->rcn));
    if (req->rqet) json_object_set_new(mi, "rqet", json_string(req->rqet));
    return mi;
}

static struct resource *new_record(struct cse *cse, const struct m2m_request *req)
{
    char ri[64];
    cse_new_id("req", ri, sizeof ri);
    int64_t now = clock_now_us();
    ts_buf ct, et;
    ts_format(now, ct);
    ts_format(now + (int64_t)REQUEST_LIFETIME_S * 1000000, et);
    json_t *a = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:o,s:i,s:{s:i}}",
                          "ty", TY_REQ, "ri", ri, "rn", ri, "pi", cse->cfg.cse_id, "ct", ct, "lt", ct,
                          "et", et, "op", req->op, "tg", req->to, "org", req->fr ? req->fr : "",
                          "rid", req->rqi, "mi", meta_information(req), "rs", RS_PENDING,
                          "ors", "rsc", RSC_ACCEPTED);
    if (req->pc) json_object_set(a, "pc", req->pc);
    size_t n = strlen(cse->cfg.cse_name) + strlen(ri) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", cse->cfg.cse_name, ri);
    struct resource *r = resource_new(TY_REQ, a, path);
    free(path);
    return r;
}

/* rt 2: the result goes to each X-M2M-RTU entry ('&'-separated), to the
 * originator when the header is absent, to nobody when it is empty. */
static void send_result(struct cse *cse, const struct m2m_request *req, json_t *ors)
{
    json_t *pc = json_pack("{s:O}", "m2m:rsp", ors);
    if (!req->rtu) {
        if (req->fr) notify_send(cse, req->fr, pc, 0, NULL, NULL);
    } else {
        char *list = strdup(req->rtu), *save = NULL;
        for (char *t = strtok_r(list, "& ", &save); t; t = strtok_r(NULL, "& ", &save))
            notify_send(cse, t, pc, 0, NULL, NULL);
        free(list);
    }
    json_decref(pc);
}

static void record_result(struct cse *cse, const char *ri, json_t *ors, bool ok)
{
    struct resource *rec = NULL;
    if (store_begin(cse->store)) return;
    int rc = store_get(cse->store, ri, &rec);
    if (!rc) {
        ts_buf lt;
        ts_format(clock_now_us(), lt);
        json_object_set(rec->attrs, "ors", ors);
        json_object_set_new(rec->attrs, "rs", json_integer(ok ? RS_COMPLETED : RS_FAILED));
        json_object_set_new(rec->attrs, "lt", json_string(lt));
        rc = store_update(cse->store, rec);
    }
    if (rc || store_commit(cse->store)) {
        store_rollback(cse->store); /* deleted meanwhile: the result only goes out by rt 2 */
    } else {
        json_t *modified = json_pack("{s:O,s:O,s:O}", "ors", ors, "rs", json_object_get(rec->attrs, "rs"),
                                     "lt", json_object_get(rec->attrs, "lt"));
        notify_event(cse, NET_UPDATE, rec, NULL, modified);
        json_decref(modified);
    }
    resource_free(rec);
}

static void pending_free(struct nb_pending *p)
{
    m2m_response_clear(&p->rsp);
    m2m_request_clear(p->req);
    free(p->req);
    free(p);
}

/* The operation has its response: record it, and with rt 2 send it. */
static void executed(void *data)
{
    struct nb_pending *p = data;
    struct m2m_request *req = p->req;
    json_t *ors = json_pack("{s:i,s:s,s:s,s:s}", "rsc", p->rsp.rsc, "rqi", req->rqi,
                            "to", req->fr ? req->fr : "", "fr", p->cse->csi);
    if (p->rsp.pc) json_object_set(ors, "pc", p->rsp.pc);
    record_result(p->cse, p->ri, ors, rsc_is_success(p->rsp.rsc));
    if (p->rt == 2) send_result(p->cse, req, ors);
    json_decref(ors);
    pending_free(p);
}

/* The CSE closed before the operation completed: the record stays pending. */
static void abandoned(void *data)
{
    pending_free(data);
}

static void unlist(struct nb_pending *p)
{
    for (struct nb_pending **q = &p->cse->nb_unstarted; *q; q = &(*q)->next)
        if (*q == p) { *q = p->next; break; }
}

/* The loop may stop before a zero-delay timer fires (a request dispatched
 * by a before-sleep hook of the last round): the record stays pending. */
void nonblocking_close(struct cse *cse)
{
    while (cse->nb_unstarted) {
        struct nb_pending *p = cse->nb_unstarted;
        cse->nb_unstarted = p->next;
        loop_del_timer(cse->loop, p->timer);
        pending_free(p);
    }
}

/* Runs the operation as a blocking request, which may itself wait for
 * outside answers (a verification) without holding up the loop. */
static int64_t run_pending(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct nb_pending *p = data;
    unlist(p);
    p->rt = p->req->rt;
    p->req->rt = 0;
    m2m_response_init(&p->rsp);
    /* It runs for its originator, with its security association. */
    struct cse_principal who = { PRINCIPAL_ORIGINATOR, p->req->fr, &p->req->sec };
    /* Answered at once: recording the result still waits for the store. */
    if (!cse_submit(p->cse, &who, p->req, &p->rsp, executed, abandoned, p))
        cse_in_store_fiber(p->cse, executed, abandoned, p);
    return -1;
}

int nonblocking_accept(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    if (targets_request_record(cse, req->to))
        return m2m_error(rsp, RSC_BAD_REQUEST, "a <request> is accessed with blocking requests only");
    if (!cse->loop)
        return m2m_error(rsp, RSC_NON_BLOCKING_SYNCH_REQUEST_NOT_SUPPORTED, "no event loop to run it on");
    struct resource *rec = new_record(cse, req);
    int rc = store_begin(cse->store);
    if (!rc) rc = store_insert(cse->store, rec);
    if (!rc) rc = store_commit(cse->store);
    else store_rollback(cse->store);
    if (rc) {
        resource_free(rec);
        return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the request could not be recorded");
    }
    struct nb_pending *p = calloc(1, sizeof *p);
    if (!p) {
        resource_free(rec);
        return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory");
    }
    p->cse = cse;
    p->req = m2m_request_dup(req);
    snprintf(p->ri, sizeof p->ri, "%s", res_ri(rec));
    /* Execution starts at the operation execution time (oet), if any. */
    int64_t oet, delay_ms = 0;
    if (req->oet && ts_parse(req->oet, &oet)) delay_ms = (oet - clock_now_us() + 999) / 1000;
    if (p->req) p->req->oet_reached = true;
    p->timer = loop_add_timer(cse->loop, delay_ms > 0 ? delay_ms : 0, run_pending, p);
    p->next = cse->nb_unstarted;
    cse->nb_unstarted = p;
    rsp->rsc = req->rt == 1 ? RSC_ACCEPTED_NONBLOCKING_SYNCH : RSC_ACCEPTED_NONBLOCKING_ASYNCH;
    rsp->pc = json_pack("{s:s}", "m2m:uri", res_ri(rec));
    struct resource *base = NULL;
    if (!store_get(cse->store, cse->cfg.cse_id, &base))
        notify_event(cse, NET_CREATE_CHILD, rec, base, NULL);
    resource_free(base);
    resource_free(rec);
    return 0;
}
