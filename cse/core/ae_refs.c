/* Reports this CSE's references to foreign AEs to the IN-CSE (ae_refs.h). */
#include "ae_refs.h"

#include "cse.h"
#include "ident.h"
#include "registration.h"
#include "rsc.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../events/outbound.h"
#include "../store/store.h"
#include "../../resources/types.h"
#include "../base/json_text.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ATTEMPTS 12
#define RETRY_CEILING_MS 8000
#define EXCHANGE_TIMEOUT_MS 5000

struct ref_note { char *body; struct ref_note *next; };

struct ae_refs {
    struct cse *cse;
    struct ref_note *head, *tail;
    bool in_flight, closing;
    int64_t timer;
    int attempts;
    unsigned long seq;
};

/* --- pure part --------------------------------------------------------------- */

/* An AE of another CSE of this SP: "/<csi>/<C|S…>", no wildcard. */
static bool foreign_ae(const struct ident_home *home, const char *id, struct ident_forms *f)
{
    if (!id || strchr(id, '*') || !ident_forms(home, id, f) || f->rel[0] || !f->sprel[0]) return false;
    const char *ae = strchr(f->sprel + 1, '/');
    return ae && !strchr(ae + 1, '/') && (ae[1] == 'C' || ae[1] == 'S');
}

static void add_acors(const struct ident_home *home, const json_t *set, json_t *out)
{
    size_t i, j;
    json_t *rule, *id;
    json_array_foreach(json_object_get(set, "acr"), i, rule) {
        json_array_foreach(json_object_get(rule, "acor"), j, id) {
            struct ident_forms f;
            if (!foreign_ae(home, json_string_value(id), &f)) continue;
            bool have = false;
            size_t k;
            json_t *x;
            json_array_foreach(out, k, x) have |= !strcmp(json_string_value(x), f.sprel);
            if (!have) json_array_append_new(out, json_string(f.sprel));
        }
    }
}

json_t *ae_refs_foreign(const struct ident_home *home, const struct resource *r)
{
    json_t *out = json_array();
    if (r && r->ty == TY_ACP) {
        add_acors(home, json_object_get(r->attrs, "pv"), out);
        add_acors(home, json_object_get(r->attrs, "pvs"), out);
    }
    return out;
}

/* --- the queue to the registrar --------------------------------------------- */

static void send_next(struct ae_refs *st);

static int64_t retry_now(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct ae_refs *st = data;
    st->timer = 0;
    send_next(st);
    return -1;
}

static void pop(struct ae_refs *st)
{
    struct ref_note *n = st->head;
    st->head = n->next;
    if (!st->head) st->tail = NULL;
    free(n->body);
    free(n);
    st->attempts = 0;
}

static void free_all(struct ae_refs *st)
{
    while (st->head) pop(st);
    free(st);
}

static void answered(void *data, const struct outbound_answer *ans)
{
    struct ae_refs *st = data;
    st->in_flight = false;
    if (st->closing) {
        free_all(st);
        return;
    }
    /* Unreachable, overloaded, or not registered there yet: later again. */
    bool again = ans->unreachable || ans->rsc >= 5000 || ans->rsc == RSC_ORIGINATOR_HAS_NO_PRIVILEGE ||
                 ans->rsc == RSC_NOT_FOUND;
    if (again && st->attempts < MAX_ATTEMPTS) {
        st->timer = loop_add_timer(st->cse->loop, registration_backoff_ms(st->attempts, RETRY_CEILING_MS),
                                   retry_now, st);
        return;
    }
    if (ans->rsc != RSC_OK)
        log_warn("AE reference notification to %s not accepted (%d%s%s): %s", st->cse->cfg.registrar_csi,
                 ans->rsc, ans->unreachable ? ", " : "", ans->unreachable ? ans->unreachable : "", st->head->body);
    pop(st);
    send_next(st);
}

static void send_next(struct ae_refs *st)
{
    if (st->in_flight || st->timer || !st->head) return;
    struct cse *cse = st->cse;
    char url[sizeof cse->cfg.registrar_url + 200], rqi[100];
    registration_registrar_url(cse, url, sizeof url);
    snprintf(rqi, sizeof rqi, "aerid-%s-%lu", cse->cfg.cse_id, ++st->seq);
    struct m2m_request req = { .op = OP_NOTIFY, .fr = cse->csi, .rqi = rqi, .rvi = "3", .rcn = -1 };
    struct iovec body = { st->head->body, strlen(st->head->body) };
    struct outbound_request r = { .url = url, .req = &req, .body = &body, .nbody = 1, .len = body.iov_len,
                                  .timeout_ms = EXCHANGE_TIMEOUT_MS };
    st->attempts++;
    st->in_flight = true;
    if (outbound_send(cse, &r, answered, st)) {
        st->in_flight = false;
        log_warn("AE reference notification to %s could not be sent: dropped", cse->cfg.registrar_csi);
        pop(st);
        send_next(st);
    }
}

static void enqueue(struct cse *cse, const char *old_id, const char *new_id)
{
    if (!cse->ae_refs) {
        cse->ae_refs = calloc(1, sizeof *cse->ae_refs);
        if (!cse->ae_refs) return;
        cse->ae_refs->cse = cse;
    }
    struct ae_refs *st = cse->ae_refs;
    json_t *pc = json_pack("{s:{s:b,s:s?,s:s?}}", "m2m:sgn", "aerid", 1, "tid1", old_id, "tid2", new_id);
    struct ref_note *n = calloc(1, sizeof *n);
    if (n) n->body = json_dumps(pc, JSON_COMPACT);
    json_decref(pc);
    if (!n || !n->body) {
        free(n);
        return;
    }
    if (st->tail) st->tail->next = n;
    else st->head = n;
    st->tail = n;
    log_debug("AE reference for %s: %s", cse->cfg.registrar_csi, n->body);
    send_next(st);
}

/* --- what changed -------------------------------------------------------------- */

struct still { const struct ident_home *home; const char *except_ri; json_t *refs; };

static int collect(struct resource *r, void *data)
{
    struct still *s = data;
    if (r->ty != TY_ACP || !strcmp(res_ri(r), s->except_ri)) return 0;
    json_t *refs = ae_refs_foreign(s->home, r);
    json_array_extend(s->refs, refs);
    json_decref(refs);
    return 0;
}

void ae_refs_changed(struct cse *cse, const struct resource *before, const struct resource *after)
{
    if (!cse->cfg.registrar_url[0] || !cse->loop) return;
    struct ident_home home = cse_home(cse);
    json_t *was = ae_refs_foreign(&home, before), *is = ae_refs_foreign(&home, after);
    json_t *gone = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(was, i, x) if (!json_strlist_has(is, json_string_value(x))) json_array_append(gone, x);
    if (json_array_size(gone)) {
        /* Lost here, perhaps still held elsewhere on this CSE. */
        struct still s = { &home, res_ri(before ? before : after), json_array() };
        store_descendants(cse->store, cse->cfg.cse_name, 0, collect, &s);
        json_array_foreach(gone, i, x)
            if (!json_strlist_has(s.refs, json_string_value(x))) enqueue(cse, json_string_value(x), NULL);
        json_decref(s.refs);
    }
    json_array_foreach(is, i, x) if (!json_strlist_has(was, json_string_value(x))) enqueue(cse, NULL, json_string_value(x));
    json_decref(gone);
    json_decref(was);
    json_decref(is);
}

void ae_refs_close(struct cse *cse)
{
    struct ae_refs *st = cse->ae_refs;
    if (!st) return;
    cse->ae_refs = NULL;
    if (st->timer) loop_del_timer(cse->loop, st->timer);
    st->timer = 0;
    if (st->head) log_info("AE reference notifications to %s left unsent at close", cse->cfg.registrar_csi);
    /* The one in flight: its answer (outbound_close ends it) frees the rest. */
    if (st->in_flight) st->closing = true;
    else free_all(st);
}
