/* Announcement, the announcing side (announce.h). One `link` per (original,
 * target CSE) that is out of step; at most one exchange per link is in
 * flight, so the target sees CREATE, UPDATEs and DELETE in order. What
 * the link does next is decided from the original as stored when it runs
 * (so changes made meanwhile are folded into one exchange), and from the
 * announced address it knows (kept for a DELETE after the original went). */
#include "announce.h"

#include "outbound.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../core/address.h"
#include "../core/cse.h"
#include "../core/route.h"
#include "../core/rsc.h"
#include "../core/store_job.h"
#include "../../resources/announced.h"
#include "../base/json_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Retries: 0.5 s doubling to 8 s, at most ATTEMPTS_MAX tries (about a
 * minute), then the target is given up (logged, and it leaves `at`). */
#define RETRY_FIRST_MS 500
#define RETRY_MAX_MS 8000
#define ATTEMPTS_MAX 12
#define EXCHANGE_TIMEOUT_MS 5000
/* More links than this out of step at once: the newest are refused (logged). */
#define LINKS_MAX 4096

struct link {
    struct link *next;
    struct cse *cse;
    char *ri;                  /* the original's ri */
    char *csi;                 /* the target CSE: "/id-in" */
    char *annc;                /* the announced resource's address ("/id-in/<ri>"), NULL: none known */
    json_t *gone_attrs;        /* announced attributes to remove at the next UPDATE */
    bool dirty;                /* the original changed since the last exchange */
    bool in_flight;
    enum m2m_op sent;          /* the operation in flight */
    bool closing;
    int attempts;
    int64_t timer;
    char *body;                /* the content in flight */
    bool queued;               /* its next step waits for the store (cse_in_store_fiber) */
    int rsc;                   /* the answer that step handles (answered()) */
    char *created;             /* ... the ri a CREATE's answer gave, or NULL */
    char why[160];
};

struct noted {
    struct noted *next;
    enum m2m_op op;
    struct resource *res, *before;
};

struct announcer {
    struct link *links;
    int nlinks;
    struct noted *noted;       /* of the primitive now running */
    unsigned long seq;
};

static struct announcer *state(struct cse *cse, bool make)
{
    if (!cse->announce && make) cse->announce = calloc(1, sizeof *cse->announce);
    return cse->announce;
}

/* ---- checks ------------------------------------------------------------------------ */

static bool attr_of(const struct resource_type *t, const char *sn)
{
    if (type_attr(t, sn)) return true;
    if ((t->flags & RT_CUSTOM_ATTRS) && is_custom_attr_name(sn)) return true;
    for (const struct resource_type *const *s = t->specialisations; s && *s; s++)
        if (type_attr(*s, sn)) return true;
    return false;
}

int announce_validate(struct cse *cse, const struct resource_type *t, json_t *content,
                      struct m2m_response *rsp)
{
    json_t *at = json_object_get(content, "at"), *aa = json_object_get(content, "aa");
    size_t i, j;
    json_t *v;
    json_array_foreach(at, i, v) {
        const char *csi = json_string_value(v);
        if (!route_csi_stem(csi))
            return m2m_error(rsp, RSC_BAD_REQUEST, "announceTo (at): '%s' is not a CSE-ID of the form /<cse-id>", csi);
        if (!strcmp(csi, cse->csi))
            return m2m_error(rsp, RSC_BAD_REQUEST, "announceTo (at): '%s' is this CSE itself", csi);
        for (j = 0; j < i; j++)
            if (!strcmp(csi, json_string_value(json_array_get(at, j))))
                return m2m_error(rsp, RSC_BAD_REQUEST, "announceTo (at): '%s' is listed twice", csi);
        struct route route;
        if (route_next_hop(cse, csi, &route))
            return m2m_error(rsp, RSC_BAD_REQUEST, "announceTo (at): no route to the CSE '%s'", csi);
        route_clear(&route);
    }
    json_array_foreach(aa, i, v) {
        const char *sn = json_string_value(v);
        if (!sn || !annc_attr_announceable(sn) || !attr_of(t, sn))
            return m2m_error(rsp, RSC_BAD_REQUEST,
                             "announcedAttribute (aa): '%s' is not an attribute of %s that can be announced",
                             sn ? sn : "", t->key);
        for (j = 0; j < i; j++)
            if (!strcmp(sn, json_string_value(json_array_get(aa, j))))
                return m2m_error(rsp, RSC_BAD_REQUEST, "announcedAttribute (aa): '%s' is listed twice", sn);
    }
    return 0;
}

/* ---- what is announced --------------------------------------------------------------- */

/* The announced address of res at csi, or NULL. */
static const char *announced_at(const struct resource *res, const char *csi)
{
    return json_string_value(json_object_get(json_object_get(res->attrs, ATTR_ANNOUNCED), csi));
}

/* The original's acpi, as the ACPs announced to the same target: an ACP of
 * this CSE means nothing there (TS-0001 9.6.26.3); one not announced there
 * is left out. */
static json_t *announced_acpi(struct cse *cse, const struct resource *res, const char *csi)
{
    json_t *acpi = json_object_get(res->attrs, "acpi"), *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(acpi, i, v) {
        struct resource *acp = address_lookup(cse, json_string_value(v));
        const char *where = acp ? announced_at(acp, csi) : NULL;
        if (where) json_array_append_new(out, json_string(where));
        resource_free(acp);
    }
    return out;
}

/* True while an ACP named in res's acpi is to be announced at csi but is
 * not there yet: res's copy waits for it, or its acpi would leave it out. */
static bool acpi_pending(struct cse *cse, const struct resource *res, const char *csi)
{
    json_t *acpi = json_object_get(res->attrs, "acpi");
    bool pending = false;
    size_t i;
    json_t *v;
    json_array_foreach(acpi, i, v) {
        struct resource *acp = address_lookup(cse, json_string_value(v));
        if (acp && !announced_at(acp, csi) && json_strlist_has(json_object_get(acp->attrs, "at"), csi)) pending = true;
        resource_free(acp);
        if (pending) break;
    }
    return pending;
}

/* The attributes that go: the mandatory announced ones (labels, et, acpi,
 * …) always, the ones aa lists when the original has them. */
static json_t *announced_attributes(struct cse *cse, const struct resource *res, const char *csi)
{
    json_t *o = json_object();
    for (const char *const *m = annc_mandatory(res->ty); *m; m++) {
        json_t *v = json_object_get(res->attrs, *m);
        if (v) json_object_set(o, *m, v);
    }
    json_t *acpi = announced_acpi(cse, res, csi);
    if (json_array_size(acpi)) json_object_set(o, "acpi", acpi);
    json_decref(acpi);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(res->attrs, "aa"), i, v) {
        const char *sn = json_string_value(v);
        json_t *val = sn ? json_object_get(res->attrs, sn) : NULL;
        if (val && annc_attr_announceable(sn)) json_object_set(o, sn, val);
    }
    return o;
}

static char *annc_key(struct cse *cse, const struct resource *res)
{
    const struct resource_type *t = registry_find(&cse->types, res->ty);
    char *key = malloc(strlen(type_key(t, res)) + 2);
    sprintf(key, "%sA", type_key(t, res));
    return key;
}

/* ---- links ------------------------------------------------------------------------- */

static struct link *find_link(struct announcer *an, const char *ri, const char *csi)
{
    for (struct link *l = an->links; l; l = l->next)
        if (!strcmp(l->ri, ri) && !strcmp(l->csi, csi)) return l;
    return NULL;
}

static void link_free(struct link *l)
{
    if (l->timer && l->cse->loop) loop_del_timer(l->cse->loop, l->timer);
    free(l->created);
    free(l->ri);
    free(l->csi);
    free(l->annc);
    free(l->body);
    json_decref(l->gone_attrs);
    free(l);
}

static void link_drop(struct link *l)
{
    struct announcer *an = l->cse->announce;
    for (struct link **p = &an->links; *p; p = &(*p)->next)
        if (*p == l) { *p = l->next; an->nlinks--; break; }
    link_free(l);
}

static void link_run(struct link *l);

/* The CSE closes before the step got the store: announce_close frees it. */
static void link_unqueued(void *data)
{
    ((struct link *)data)->queued = false;
}

static void link_step(void *data)
{
    struct link *l = data;
    l->queued = false;
    link_run(l);
}

/* A step reads the original and writes where it is announced: outside a
 * primitive it waits for the store in a fiber, the link kept meanwhile
 * (nothing else runs it or drops it while it is queued). */
static void link_queue(struct link *l, cse_job_fn *step)
{
    l->queued = true;
    cse_in_store_fiber(l->cse, step, link_unqueued, l);
}

static int64_t link_due(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct link *l = data;
    l->timer = 0;
    link_queue(l, link_step);
    return -1;
}

static void link_schedule(struct link *l, int64_t ms)
{
    if (l->timer || l->in_flight || l->queued || !l->cse->loop) return;
    l->timer = loop_add_timer(l->cse->loop, ms, link_due, l);
}

/* Records the announced address (NULL: none) in the original, if it is
 * still there; leave_at: the target also leaves its `at`. */
static void record_at(struct link *l, const char *addr, bool leave_at)
{
    struct store *st = l->cse->store;
    struct resource *res = NULL;
    if (store_begin(st)) return;
    if (store_get(st, l->ri, &res)) { store_rollback(st); return; }
    json_t *annc = json_object_get(res->attrs, ATTR_ANNOUNCED);
    if (!annc) json_object_set_new(res->attrs, ATTR_ANNOUNCED, annc = json_object());
    if (addr) json_object_set_new(annc, l->csi, json_string(addr));
    else json_object_del(annc, l->csi);
    if (!json_object_size(annc)) json_object_del(res->attrs, ATTR_ANNOUNCED);
    json_t *at = json_object_get(res->attrs, "at");
    size_t i;
    json_t *v;
    if (leave_at) {
        json_array_foreach(at, i, v)
            if (!strcmp(json_string_value(v), l->csi)) { json_array_remove(at, i); break; }
        if (at && !json_array_size(at)) json_object_del(res->attrs, "at");
    }
    if (store_update(st, res) || store_commit(st)) store_rollback(st);
    resource_free(res);
}

static void record(struct link *l, const char *addr)
{
    record_at(l, addr, false);
}

static void link_retry(struct link *l, const char *why)
{
    if (++l->attempts >= ATTEMPTS_MAX) {
        log_warn("announce: %s at %s given up after %d attempts: %s", l->ri, l->csi, l->attempts, why);
        /* The target leaves `at`, which lists where the original is
         * announced; what may be left there goes at its et. */
        record_at(l, NULL, true);
        link_drop(l);
        return;
    }
    int64_t ms = RETRY_FIRST_MS << (l->attempts - 1 < 5 ? l->attempts - 1 : 5);
    log_info("announce: %s at %s: %s; again in %lld ms", l->ri, l->csi, why, (long long)(ms > RETRY_MAX_MS ? RETRY_MAX_MS : ms));
    link_schedule(l, ms > RETRY_MAX_MS ? RETRY_MAX_MS : ms);
}

/* The ri in a CREATE answer's content {"<key>": {"ri": ...}}. */
static const char *created_ri(json_t *pc)
{
    void *it = json_is_object(pc) ? json_object_iter(pc) : NULL;
    const char *ri = it ? json_string_value(json_object_get(json_object_iter_value(it), "ri")) : NULL;
    /* It goes into later requests' addresses: one plain segment only. */
    return ri && strlen(ri) < 200 && address_valid_segment(ri, strlen(ri)) ? ri : NULL;
}

static bool retryable(int rsc)
{
    /* Unreachable, the target's trouble, or our <remoteCSE> not there yet
     * (registration still under way). */
    return rsc == RSC_NOT_FOUND || rsc >= 5000;
}

/* The answer (l->rsc, l->created, l->why): recorded in the original, then
 * the next step. */
static void link_answered(void *data)
{
    struct link *l = data;
    l->queued = false;
    int rsc = l->rsc;
    bool done = false;
    switch (l->sent) {
    case OP_CREATE:
        if (rsc == RSC_CREATED && l->created) {
            char addr[300];
            snprintf(addr, sizeof addr, "%s/%s", l->csi, l->created);
            l->annc = strdup(addr);
            record(l, addr);
            log_info("announce: %s announced at %s as %s", l->ri, l->csi, addr);
            done = true;
        }
        break;
    case OP_UPDATE:
        done = rsc == RSC_UPDATED;
        if (rsc == RSC_NOT_FOUND) {
            /* The announced resource went (expired, removed there): make it again. */
            free(l->annc);
            l->annc = NULL;
            record(l, NULL);
            done = true;
        }
        break;
    default: /* DELETE */
        if (rsc == RSC_DELETED || rsc == RSC_NOT_FOUND) {
            free(l->annc);
            l->annc = NULL;
            record(l, NULL);
            done = true;
        }
        break;
    }
    free(l->created);
    l->created = NULL;
    if (done) {
        l->attempts = 0;
        link_run(l);
    } else {
        l->dirty = true;
        if (!retryable(rsc)) l->attempts = ATTEMPTS_MAX; /* refused: trying again changes nothing */
        link_retry(l, l->why);
    }
}

static void answered(void *data, const struct outbound_answer *ans)
{
    struct link *l = data;
    l->in_flight = false;
    free(l->body);
    l->body = NULL;
    if (l->closing) { link_free(l); return; }
    struct m2m_response rsp;
    outbound_answer_response(ans, &rsp);
    l->rsc = ans->unreachable ? RSC_TARGET_NOT_REACHABLE : rsp.rsc;
    if (ans->unreachable) snprintf(l->why, sizeof l->why, "%s", ans->unreachable);
    else snprintf(l->why, sizeof l->why, "answered %d", l->rsc);
    const char *ri = l->rsc == RSC_CREATED ? created_ri(rsp.pc) : NULL;
    l->created = ri ? strdup(ri) : NULL;
    m2m_response_clear(&rsp);
    link_queue(l, link_answered);
}

static void link_send(struct link *l, enum m2m_op op, const char *to, int ty, json_t *pc)
{
    struct cse *cse = l->cse;
    struct route route;
    if (route_next_hop(cse, l->csi, &route)) {
        json_decref(pc);
        link_retry(l, "no route");
        return;
    }
    char *url = malloc(strlen(route.url) + strlen(to) + 4);
    /* SP-relative on the wire ("/~/id-in/..."): any hop can forward it. */
    sprintf(url, "%s/~%s", route.url, to);
    char rqi[48];
    snprintf(rqi, sizeof rqi, "annc-%lu", ++cse->announce->seq);
    struct m2m_request req = { .op = op, .fr = cse->csi, .rqi = rqi, .rvi = "3", .ty = ty, .rcn = -1 };
    l->body = pc ? json_dumps(pc, JSON_COMPACT) : NULL;
    json_decref(pc);
    struct iovec iov = { l->body, l->body ? strlen(l->body) : 0 };
    struct outbound_request r = { .url = url, .req = &req, .body = &iov, .nbody = l->body != NULL,
                                  .len = iov.iov_len, .timeout_ms = EXCHANGE_TIMEOUT_MS };
    l->in_flight = true;
    l->sent = op;
    l->dirty = false;
    if (outbound_send(cse, &r, answered, l)) {
        l->in_flight = false;
        free(l->body);
        l->body = NULL;
        l->attempts = ATTEMPTS_MAX;
        link_retry(l, "the request could not be sent");
    }
    free(url);
    route_clear(&route);
}

/* Where the announced resource goes: under the parent's announced
 * resource at the same target, else under our <remoteCSE> there (its ri is
 * our CSE-ID's stem). NULL with *wait: the parent's is still coming. */
static char *annc_parent(struct cse *cse, const struct resource *res, const char *csi, bool *wait)
{
    *wait = false;
    struct resource *parent = NULL;
    char *out = NULL;
    if (res_pi(res) && !store_get(cse->store, res_pi(res), &parent)) {
        const char *where = announced_at(parent, csi);
        if (where) out = strdup(where);
        else if (json_strlist_has(json_object_get(parent->attrs, "at"), csi)) *wait = true;
    }
    resource_free(parent);
    if (!out && !*wait) {
        out = malloc(strlen(csi) + strlen(cse->csi) + 2);
        sprintf(out, "%s/%s", csi, cse->csi + 1);
    }
    return out;
}

/* The next step of a link, from the original as it is now. */
static void link_run(struct link *l)
{
    struct cse *cse = l->cse;
    if (l->in_flight || l->timer || l->queued) return;
    /* Nothing leaves before the write that caused it is durable. */
    if (cse_batch_pending(cse) && cse_commit(cse)) { link_retry(l, "the store did not commit"); return; }
    struct resource *res = NULL;
    store_get(cse->store, l->ri, &res);
    bool wanted = res && json_strlist_has(json_object_get(res->attrs, "at"), l->csi);
    if (!l->annc && res) {
        const char *known = announced_at(res, l->csi);
        if (known) l->annc = strdup(known);
    }
    if (!wanted) {
        /* Not (or no longer) to be announced there: remove what is. */
        json_decref(l->gone_attrs);
        l->gone_attrs = NULL;
        if (l->annc) link_send(l, OP_DELETE, l->annc, 0, NULL);
        else link_drop(l);
        resource_free(res);
        return;
    }
    if (!l->annc) {
        bool wait;
        char *parent = annc_parent(cse, res, l->csi, &wait);
        if (wait || acpi_pending(cse, res, l->csi)) {
            free(parent);
            resource_free(res);
            link_retry(l, wait ? "its parent is not announced there yet" : "its ACP is not announced there yet");
            return;
        }
        json_t *attrs = announced_attributes(cse, res, l->csi);
        char lnk[400];
        snprintf(lnk, sizeof lnk, "%s/%s", cse->csi, l->ri);
        json_object_set_new(attrs, "lnk", json_string(lnk));
        json_object_set_new(attrs, "rn", json_string(l->ri));
        char *key = annc_key(cse, res);
        json_t *pc = json_object();
        json_object_set_new(pc, key, attrs);
        json_decref(l->gone_attrs);
        l->gone_attrs = NULL;
        link_send(l, OP_CREATE, parent, res->ty + TY_ANNC_OFFSET, pc);
        free(key);
        free(parent);
    } else if (l->dirty || l->gone_attrs) {
        json_t *attrs = announced_attributes(cse, res, l->csi);
        const char *k;
        json_t *v;
        json_object_foreach(l->gone_attrs, k, v)
            if (!json_object_get(attrs, k)) json_object_set_new(attrs, k, json_null());
        json_decref(l->gone_attrs);
        l->gone_attrs = NULL;
        char *key = annc_key(cse, res);
        json_t *pc = json_object();
        json_object_set_new(pc, key, attrs);
        link_send(l, OP_UPDATE, l->annc, 0, pc);
        free(key);
    } else {
        link_drop(l);
    }
    resource_free(res);
}

/* ---- from the dispatcher -------------------------------------------------------------- */

static struct link *link_for(struct cse *cse, const char *ri, const char *csi, const char *annc)
{
    struct announcer *an = state(cse, true);
    struct link *l = find_link(an, ri, csi);
    if (l) return l;
    if (an->nlinks >= LINKS_MAX) {
        log_warn("announce: %d announcements under way already; %s at %s is not kept in step", an->nlinks, ri, csi);
        return NULL;
    }
    l = calloc(1, sizeof *l);
    *l = (struct link){ .next = an->links, .cse = cse, .ri = strdup(ri), .csi = strdup(csi),
                        .annc = annc ? strdup(annc) : NULL };
    an->links = l;
    an->nlinks++;
    return l;
}

/* What an UPDATE changed of what is announced at csi: false when nothing;
 * *gone gets the attributes no longer announced (as null), or NULL. */
static bool announced_change(struct cse *cse, const struct resource *before, const struct resource *after,
                             const char *csi, json_t **gone)
{
    json_t *was = announced_attributes(cse, before, csi), *now = announced_attributes(cse, after, csi);
    bool changed = !json_equal(was, now);
    *gone = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(was, k, v)
        if (!json_object_get(now, k)) {
            if (!*gone) *gone = json_object();
            json_object_set_new(*gone, k, json_null());
        }
    json_decref(was);
    json_decref(now);
    return changed;
}

static void note_write(struct cse *cse, enum m2m_op op, const struct resource *res, const struct resource *before)
{
    json_t *at = json_object_get(res->attrs, "at");
    json_t *annc = json_object_get(res->attrs, ATTR_ANNOUNCED);
    size_t i;
    json_t *v;
    /* Targets wanted now: create or bring in step. */
    json_array_foreach(at, i, v) {
        const char *csi = json_string_value(v);
        if (op == OP_DELETE) break;
        json_t *gone = NULL;
        /* An UPDATE that changed nothing announced there sends nothing. */
        if (before && announced_at(res, csi) && !announced_change(cse, before, res, csi, &gone)) continue;
        struct link *l = link_for(cse, res_ri(res), csi, announced_at(res, csi));
        if (l) {
            l->dirty = true;
            if (gone && !l->gone_attrs) l->gone_attrs = json_incref(gone);
            else if (gone) json_object_update(l->gone_attrs, gone);
            link_schedule(l, 0);
        }
        json_decref(gone);
    }
    /* Announced where it is no longer wanted (or the original went): remove. */
    const char *csi;
    json_object_foreach(annc, csi, v) {
        if (op != OP_DELETE && json_strlist_has(at, csi)) continue;
        struct link *l = link_for(cse, res_ri(res), csi, json_string_value(v));
        if (!l) continue;
        if (!l->annc && json_is_string(v)) l->annc = strdup(json_string_value(v));
        link_schedule(l, 0);
    }
}

static void remember(struct cse *cse, enum m2m_op op, const struct resource *res, const struct resource *before)
{
    struct announcer *an = state(cse, true);
    struct noted *n = calloc(1, sizeof *n);
    *n = (struct noted){ an->noted, op, resource_dup(res), before ? resource_dup(before) : NULL };
    an->noted = n;
}

void announce_note(struct cse *cse, enum m2m_op op, const struct resource *res, const struct resource *before)
{
    if (!cse->loop) return;
    bool involved = json_object_get(res->attrs, "at") || json_object_get(res->attrs, ATTR_ANNOUNCED) ||
                    (before && json_object_get(before->attrs, "at"));
    if (involved) remember(cse, op, res, before);
}

void announce_commit(struct cse *cse)
{
    struct announcer *an = state(cse, false);
    if (!an) return;
    struct noted *n = an->noted;
    an->noted = NULL;
    while (n) {
        struct noted *next = n->next;
        note_write(cse, n->op, n->res, n->before);
        resource_free(n->res);
        resource_free(n->before);
        free(n);
        n = next;
    }
}

void announce_abort(struct cse *cse)
{
    struct announcer *an = state(cse, false);
    if (!an) return;
    while (an->noted) {
        struct noted *n = an->noted;
        an->noted = n->next;
        resource_free(n->res);
        resource_free(n->before);
        free(n);
    }
}

struct renewal {
    const char *csi;
    json_t *ris;       /* the originals announced there */
};

static int renew_collect(struct resource *res, void *data)
{
    struct renewal *r = data;
    if (announced_at(res, r->csi) && json_strlist_has(json_object_get(res->attrs, "at"), r->csi))
        json_array_append_new(r->ris, json_string(res_ri(res)));
    return json_array_size(r->ris) >= LINKS_MAX;   /* more could not be kept in step at once */
}

void announce_renew(struct cse *cse, const char *csi)
{
    if (!cse->loop) return;
    struct renewal r = { csi, json_array() };
    /* Pre-order: parents before children, so links start in that order. */
    store_descendants(cse->store, cse->cfg.cse_name, 0, renew_collect, &r);
    if (!json_array_size(r.ris) || (cse_batch_pending(cse) && cse_commit(cse)) || store_begin(cse->store)) {
        json_decref(r.ris);
        return;
    }
    /* The recorded addresses name copies that are gone: forgotten first, in
     * one transaction, so that a child waits for its parent's new copy and
     * an acpi for its ACP's (link_run) rather than naming the old ones. */
    size_t i;
    json_t *v;
    json_array_foreach(r.ris, i, v) {
        struct resource *res = NULL;
        if (store_get(cse->store, json_string_value(v), &res)) continue;
        json_t *annc = json_object_get(res->attrs, ATTR_ANNOUNCED);
        json_object_del(annc, csi);
        if (!json_object_size(annc)) json_object_del(res->attrs, ATTR_ANNOUNCED);
        store_update(cse->store, res);
        resource_free(res);
    }
    if (store_commit(cse->store)) {
        store_rollback(cse->store);
        json_decref(r.ris);
        return;
    }
    json_array_foreach(r.ris, i, v) {
        struct link *l = link_for(cse, json_string_value(v), csi, NULL);
        if (!l) break;
        free(l->annc);
        l->annc = NULL;
        l->dirty = true;
        link_schedule(l, 0);
    }
    log_info("announce: registered afresh at %s: announcing %zu resources there again", csi, json_array_size(r.ris));
    json_decref(r.ris);
}

void announce_close(struct cse *cse)
{
    struct announcer *an = state(cse, false);
    if (!an) return;
    announce_abort(cse);
    while (an->links) {
        struct link *l = an->links;
        an->links = l->next;
        if (l->timer && cse->loop) loop_del_timer(cse->loop, l->timer);
        l->timer = 0;
        /* One in flight is freed by its answer (outbound ends them all at close). */
        if (l->in_flight) l->closing = true;
        else link_free(l);
    }
    free(an);
    cse->announce = NULL;
}
