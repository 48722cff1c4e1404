#include "coap_notify.h"

#include "coap_map.h"
#include "coap_optfilter.h"
#include "../core/cse.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../events/outbound.h"
#include "../../security/credentials.h"
#include "../core/rsc.h"
#include "../base/url.h"

#include <coap3/coap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TICK_MS 50                 /* libcoap's own timers (retransmission) */
#define MAX_SESSIONS 64

struct coap_client;

struct pending {
    struct pending *next;
    struct coap_client *cl;
    coap_session_t *s;
    uint8_t token[8];
    size_t toklen;
    outbound_done_fn *done;
    void *data;
    int64_t timer;
};

/* A session per scheme and host:port; a coaps:// one keeps the PSK
 * libcoap was given (it points into it) until the session goes. A slot
 * whose s is NULL is free. A retired session takes no new requests and is
 * released after libcoap's call in progress (drop_retired). */
struct session {
    char key[88];                  /* "coaps://host:port" */
    coap_session_t *s;
    bool retired;
    char identity[CRED_ID_MAX];
    uint8_t psk[CRED_KEY_MAX];
};

/* One per CSE (cse->coap_client), created on first use. */
struct coap_client {
    struct loop *loop;
    struct cse *cse;
    coap_context_t *ctx;
    int fd;
    int64_t tick;
    struct pending *pending;
    struct session sessions[MAX_SESSIONS];
    int nsessions;                 /* slots in use or freed, the rest never used */
};

/* --- URL and PDU --------------------------------------------------------------- */

struct coap_url {
    struct url_endpoint ep;        /* ep.hostport keys the session */
    coap_address_t addr;
    bool secure;                   /* coaps:// */
};

static int url_parse(const char *url, struct coap_url *u)
{
    memset(u, 0, sizeof *u);
    u->secure = !strncasecmp(url, "coaps://", 8);
    if (!u->secure && strncasecmp(url, "coap://", 7)) return -1;
    if (url_endpoint_parse(url + (u->secure ? 8 : 7), u->secure ? 5684 : 5683, &u->ep)) return -1;
    coap_address_init(&u->addr);
    memcpy(&u->addr.addr, &u->ep.addr, u->ep.alen);
    u->addr.size = u->ep.alen;
    return 0;
}

static void release_body(coap_session_t *session, void *data)
{
    (void)session;
    free(data);
}

/* A confirmable request carrying the primitive: method and options from
 * the CoAP codec (coap_map.h), in its order. */
static coap_pdu_t *request_pdu(coap_session_t *s, const struct coap_url *u,
                               const struct outbound_request *a, uint8_t *token, size_t *toklen)
{
    char path[2048];
    const char *q = strchr(u->ep.path, '?');
    snprintf(path, sizeof path, "%.*s", (int)(q ? (size_t)(q - u->ep.path) : strlen(u->ep.path)), u->ep.path);
    struct coap_msg_out *m = malloc(sizeof *m);
    if (m) coap_msg_out_init(m);
    bool ok = m && !coap_request_from_primitive(a->req, path, q ? q + 1 : NULL, a->nbody > 0, m);
    coap_pdu_t *pdu = ok ? coap_new_pdu(COAP_MESSAGE_CON, (coap_pdu_code_t)m->code, s) : NULL;
    if (pdu) {
        coap_session_new_token(s, toklen, token);
        coap_add_token(pdu, *toklen, token);
    }
    ok = pdu != NULL;
    for (int i = 0; ok && i < m->nopts; i++)
        ok = coap_add_option(pdu, m->opts[i].number, m->opts[i].len, m->optbuf + m->opts[i].off) > 0;
    if (m) coap_msg_out_clear(m);
    free(m);
    if (!ok) { if (pdu) coap_delete_pdu(pdu); return NULL; }
    if (!a->nbody) return pdu;
    /* libcoap keeps the body until the (block-wise) transfer ends, possibly
     * after the queue let go of it: it gets a copy of its own. */
    uint8_t *body = malloc(a->len ? a->len : 1);
    if (!body) { coap_delete_pdu(pdu); return NULL; }
    size_t off = 0;
    for (int i = 0; i < a->nbody; i++) {
        memcpy(body + off, a->body[i].iov_base, a->body[i].iov_len);
        off += a->body[i].iov_len;
    }
    coap_add_data_large_request(s, pdu, a->len, body, release_body, body);
    return pdu;
}

/* The RSC of an answer: its oneM2M-RSC option, else from the CoAP code. */
static int rsc_of(const coap_pdu_t *rcv)
{
    coap_opt_iterator_t it;
    coap_opt_t *o = coap_check_option(rcv, M2MOPT_RSC, &it);
    long rsc = o ? (long)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : -1;
    return coap_response_rsc(coap_pdu_get_code(rcv), rsc);
}

/* --- the asynchronous client on the loop ------------------------------------------ */

static struct pending *take(struct coap_client *cl, const uint8_t *token, size_t len)
{
    for (struct pending **p = &cl->pending; *p; p = &(*p)->next) {
        struct pending *x = *p;
        if (x->toklen == len && !memcmp(x->token, token, len)) {
            *p = x->next;
            if (x->timer) loop_del_timer(cl->loop, x->timer);
            return x;
        }
    }
    return NULL;
}

static void finish(struct pending *x, int rsc, const char *unreachable, const uint8_t *body, size_t len,
                   const char *location)
{
    struct outbound_answer a = { rsc, unreachable, len ? (const char *)body : NULL, len, "" };
    if (location) snprintf(a.location, sizeof a.location, "%s", location);
    x->done(x->data, &a);
    free(x);
}

/* A failed exchange whose PDU libcoap still holds (after an ICMP error it
 * keeps a CON for retransmission; after our own timeout it retransmits on)
 * must never reach the peer later: its owner moved on, and a stale CREATE
 * or UPDATE arriving once the peer is up would undo that. libcoap 3 lets go
 * of a queued PDU only with its whole session, so the session is retired:
 * no new requests go to it, and drop_retired() ends it. */
static void retire(struct coap_client *cl, const coap_session_t *s)
{
    for (int i = 0; i < cl->nsessions; i++)
        if (cl->sessions[i].s == s) cl->sessions[i].retired = true;
}

/* Ends the retired sessions: outside libcoap's own calls (it may be
 * walking their queues). Exchanges still waiting on one (queued behind the
 * failed one) are told it is gone; they are answered after libcoap dropped
 * their PDUs, so their owners' retries go to a fresh session. */
static void drop_retired(struct coap_client *cl)
{
    for (int i = 0; i < cl->nsessions; i++) {
        struct session *slot = &cl->sessions[i];
        if (!slot->s || !slot->retired) continue;
        coap_session_t *s = slot->s;
        struct pending *orphans = NULL;
        for (struct pending **p = &cl->pending; *p;) {
            struct pending *x = *p;
            if (x->s != s) { p = &x->next; continue; }
            *p = x->next;
            if (x->timer) loop_del_timer(cl->loop, x->timer);
            x->next = orphans;
            orphans = x;
        }
        /* Not an ICMP reason: that one would keep CONs queued again. */
        coap_session_disconnected(s, COAP_NACK_NOT_DELIVERABLE);
        coap_session_release(s);
        memset(slot, 0, sizeof *slot); /* the PSK too */
        while (orphans) {
            struct pending *x = orphans;
            orphans = x->next;
            finish(x, RSC_TARGET_NOT_REACHABLE, "an earlier request to this peer failed", NULL, 0, NULL);
        }
    }
}

/* The answer's Location-Path options as a oneM2M ID (Content-Location):
 * a first "~" segment starts an SP-relative ID, "_" an absolute one. ""
 * when there are none or they do not fit. */
static void location_of(const coap_pdu_t *rcv, char *out, size_t cap)
{
    coap_opt_iterator_t it;
    coap_opt_filter_t f;
    coap_option_filter_clear(&f);
    coap_option_filter_set(&f, COAP_OPTION_LOCATION_PATH);
    coap_option_iterator_init(rcv, &it, &f);
    size_t n = 0;
    int seg = 0;
    out[0] = 0;
    for (coap_opt_t *o; (o = coap_option_next(&it)); seg++) {
        const char *v = (const char *)coap_opt_value(o);
        size_t len = coap_opt_length(o);
        bool prefix = seg == 0 && len == 1 && (v[0] == '~' || v[0] == '_');
        const char *sep = !n || out[n - 1] == '/' ? "" : "/";
        int w = prefix ? snprintf(out + n, cap - n, "%s", v[0] == '~' ? "/" : "//")
                       : snprintf(out + n, cap - n, "%s%.*s", sep, (int)len, v);
        if (w < 0 || (size_t)w >= cap - n) { out[0] = 0; return; }
        n += (size_t)w;
    }
}

/* The answer's payload (the whole body: libcoap reassembles Block2). */
static const uint8_t *payload_of(const coap_pdu_t *rcv, size_t *len)
{
    const uint8_t *data = NULL;
    size_t offset, total;
    if (!coap_get_data_large(rcv, len, &data, &offset, &total) || offset) { *len = 0; return NULL; }
    return data;
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcv,
                                   const coap_mid_t mid)
{
    (void)s; (void)sent; (void)mid;
    struct coap_client *cl = coap_session_get_app_data(s);
    coap_bin_const_t tok = coap_pdu_get_token(rcv);
    struct pending *x = cl ? take(cl, tok.s, tok.length) : NULL;
    size_t len = 0;
    const uint8_t *body = x ? payload_of(rcv, &len) : NULL;
    char location[256];
    if (x) location_of(rcv, location, sizeof location);
    if (x) finish(x, rsc_of(rcv), NULL, body, len, location);
    return COAP_RESPONSE_OK;
}

static const char *nack_reason(coap_nack_reason_t r)
{
    switch (r) {
    case COAP_NACK_TLS_FAILED: return "DTLS handshake failed";
    case COAP_NACK_RST: return "reset by the peer";
    case COAP_NACK_ICMP_ISSUE: return "port unreachable";
    case COAP_NACK_TOO_MANY_RETRIES: return "no answer (retransmissions exhausted)";
    default: return "not deliverable";
    }
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
    (void)mid;
    struct coap_client *cl = coap_session_get_app_data(s);
    if (!cl || !sent) return;
    coap_bin_const_t tok = coap_pdu_get_token(sent);
    struct pending *x = take(cl, tok.s, tok.length);
    /* The other reasons came with libcoap dropping the PDU itself. */
    if (reason == COAP_NACK_ICMP_ISSUE) retire(cl, s);
    if (x) finish(x, RSC_TARGET_NOT_REACHABLE, nack_reason(reason), NULL, 0, NULL);
}

static int64_t on_timeout(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct pending *x = data;
    struct coap_client *cl = x->cl;
    x->timer = 0;
    take(cl, x->token, x->toklen);
    retire(cl, x->s);
    finish(x, RSC_TARGET_NOT_REACHABLE, "timeout", NULL, 0, NULL);
    drop_retired(cl);
    return -1;
}

static void on_readable(struct loop *loop, int fd, void *data, int mask)
{
    (void)loop; (void)fd; (void)mask;
    struct coap_client *cl = data;
    coap_io_process(cl->ctx, COAP_IO_NO_WAIT);
    drop_retired(cl);
}

static int64_t on_tick(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct coap_client *cl = data;
    coap_io_process(cl->ctx, COAP_IO_NO_WAIT);
    drop_retired(cl);
    return TICK_MS;
}

static coap_context_t *new_context(void)
{
    coap_startup();
    coap_context_t *ctx = coap_new_context(NULL);
    if (!ctx) return NULL;
    coap_optfilter_install(ctx); /* answers carry oneM2M options */
    coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(ctx, on_response);
    coap_register_nack_handler(ctx, on_nack);
    return ctx;
}

static struct coap_client *client_of(struct cse *cse)
{
    if (cse->coap_client) return cse->coap_client;
    struct coap_client *cl = calloc(1, sizeof *cl);
    if (!cl) return NULL;
    cse->coap_client = cl;
    cl->loop = cse->loop;
    cl->cse = cse;
    cl->ctx = new_context();
    cl->fd = cl->ctx ? coap_context_get_coap_fd(cl->ctx) : -1;
    if (cl->fd < 0 || loop_watch(cl->loop, cl->fd, LOOP_READABLE, on_readable, cl)) {
        coap_notify_shutdown(cse);
        return NULL;
    }
    cl->tick = loop_add_timer(cl->loop, TICK_MS, on_tick, cl);
    return cl;
}

/* The identity outbound-psk names for host:port and its key, into out;
 * -1 (logged) when there is none. */
static int session_psk(struct cse *cse, const char *hostport, struct session *out)
{
    struct cred_psk psk;
    int rc = outbound_psk(&cse->cfg, cse->creds, "coaps://", hostport, &psk);
    if (rc) {
        if (rc > 0) log_info("coaps://%s: no outbound-psk setting names this target", hostport);
        return -1;
    }
    snprintf(out->identity, sizeof out->identity, "%s", psk.identity);
    memcpy(out->psk, psk.key, psk.key_len);
    int len = (int)psk.key_len;
    memset(&psk, 0, sizeof psk);
    return len;
}

/* A session to u: DTLS with the configured PSK for coaps://. */
static coap_session_t *new_session(struct cse *cse, coap_context_t *ctx, const struct coap_url *u,
                                   struct session *keep)
{
    if (!u->secure) return coap_new_client_session(ctx, NULL, &u->addr, COAP_PROTO_UDP);
    int keylen = session_psk(cse, u->ep.hostport, keep);
    if (keylen < 0) return NULL;
    coap_dtls_cpsk_t setup = { .version = COAP_DTLS_CPSK_SETUP_VERSION };
    setup.psk_info.identity = (coap_bin_const_t){ strlen(keep->identity), (const uint8_t *)keep->identity };
    setup.psk_info.key = (coap_bin_const_t){ (size_t)keylen, keep->psk };
    return coap_new_client_session_psk2(ctx, NULL, &u->addr, COAP_PROTO_DTLS, &setup);
}

static coap_session_t *session_for(struct coap_client *cl, const struct coap_url *u)
{
    char key[sizeof cl->sessions[0].key];
    snprintf(key, sizeof key, "%s://%s", u->secure ? "coaps" : "coap", u->ep.hostport);
    struct session *slot = NULL;
    for (int i = 0; i < cl->nsessions; i++) {
        struct session *x = &cl->sessions[i];
        if (x->s && !x->retired && !strcmp(x->key, key)) return x->s;
        if (!x->s && !slot) slot = x;
    }
    if (!slot && cl->nsessions == MAX_SESSIONS) return NULL;
    if (!slot) slot = &cl->sessions[cl->nsessions++];
    coap_session_t *s = new_session(cl->cse, cl->ctx, u, slot);
    if (!s) { memset(slot, 0, sizeof *slot); return NULL; }
    coap_session_set_app_data(s, cl);
    snprintf(slot->key, sizeof slot->key, "%s", key);
    slot->s = s;
    return s;
}

static int coap_send_async(struct cse *cse, const struct outbound_request *a, outbound_done_fn *done,
                           void *data)
{
    struct coap_url u;
    struct coap_client *cl;
    if (url_parse(a->url, &u) || !(cl = client_of(cse))) return -1;
    coap_session_t *s = session_for(cl, &u);
    struct pending *x = s ? calloc(1, sizeof *x) : NULL;
    coap_pdu_t *pdu = x ? request_pdu(s, &u, a, x->token, &x->toklen) : NULL;
    if (!pdu || coap_send(s, pdu) == COAP_INVALID_MID) {
        free(x);
        return -1;
    }
    x->cl = cl;
    x->s = s;
    x->done = done;
    x->data = data;
    x->timer = loop_add_timer(cl->loop, a->timeout_ms, on_timeout, x);
    x->next = cl->pending;
    cl->pending = x;
    return 0;
}

/* --- the bounded blocking variant (only for a CSE without event loop) ---------- */

struct sync_result { bool answered; int rsc; char *body; size_t len; };

static coap_response_t on_sync_response(coap_session_t *s, const coap_pdu_t *sent,
                                        const coap_pdu_t *rcv, const coap_mid_t mid)
{
    (void)sent; (void)mid;
    struct sync_result *r = coap_session_get_app_data(s);
    if (!r || r->answered) return COAP_RESPONSE_OK;
    size_t len = 0;
    const uint8_t *body = payload_of(rcv, &len);
    *r = (struct sync_result){ true, rsc_of(rcv), NULL, 0 };
    if (len && (r->body = malloc(len))) {
        memcpy(r->body, body, len);
        r->len = len;
    }
    return COAP_RESPONSE_OK;
}

static void coap_send_blocking(struct cse *cse, const struct outbound_request *a, struct outbound_answer *out)
{
    struct coap_url u;
    *out = (struct outbound_answer){ RSC_TARGET_NOT_REACHABLE, "no answer", NULL, 0, "" };
    if (url_parse(a->url, &u)) return;
    coap_context_t *ctx = new_context();
    struct session keep = { .key = "" };
    coap_session_t *s = ctx ? new_session(cse, ctx, &u, &keep) : NULL;
    struct sync_result r = { false, RSC_TARGET_NOT_REACHABLE, NULL, 0 };
    if (s) {
        coap_register_response_handler(ctx, on_sync_response);
        coap_register_nack_handler(ctx, NULL);
        coap_session_set_app_data(s, &r);
        uint8_t token[8];
        size_t toklen;
        coap_pdu_t *pdu = request_pdu(s, &u, a, token, &toklen);
        if (pdu && coap_send(s, pdu) != COAP_INVALID_MID) {
            int64_t deadline = loop_now_ms() + a->timeout_ms;
            while (!r.answered && loop_now_ms() < deadline)
                coap_io_process(ctx, (unsigned)(deadline - loop_now_ms()));
        }
    }
    if (ctx) coap_free_context(ctx);
    memset(&keep, 0, sizeof keep);
    if (r.answered) *out = (struct outbound_answer){ r.rsc, NULL, r.body, r.len, "" };
}

/* --- installation ------------------------------------------------------------------ */

void coap_notify_install(struct cse *cse)
{
    outbound_set_sender(cse, "coap://", coap_send_async, coap_send_blocking);
    outbound_set_sender(cse, "coaps://", coap_send_async, coap_send_blocking);
}

void coap_notify_shutdown(struct cse *cse)
{
    struct coap_client *cl = cse->coap_client;
    if (!cl) return;
    while (cl->pending) {
        struct pending *x = cl->pending;
        cl->pending = x->next;
        if (x->timer) loop_del_timer(cl->loop, x->timer);
        finish(x, RSC_TARGET_NOT_REACHABLE, "shutting down", NULL, 0, NULL); /* the owner releases what it holds */
    }
    if (cl->fd >= 0) loop_unwatch(cl->loop, cl->fd, LOOP_READABLE);
    if (cl->tick > 0) loop_del_timer(cl->loop, cl->tick);
    if (cl->ctx) coap_free_context(cl->ctx);
    memset(cl->sessions, 0, sizeof cl->sessions); /* the PSKs */
    free(cl);
    cse->coap_client = NULL;
}
