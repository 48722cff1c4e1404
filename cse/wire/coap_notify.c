#include "coap_notify.h"

#include "coap_map.h"
#include "coap_optfilter.h"
#include "../core/cse.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../events/notify.h"
#include "../core/rsc.h"
#include "../base/url.h"

#include <coap3/coap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TICK_MS 50                 /* libcoap's own timers (retransmission) */
#define MAX_SESSIONS 64

struct pending {
    struct pending *next;
    uint8_t token[8];
    size_t toklen;
    notify_sender_done *done;
    void *data;
    int64_t timer;
};

struct client {
    struct loop *loop;
    coap_context_t *ctx;
    int fd;
    int64_t tick;
    struct pending *pending;
    struct { char key[80]; coap_session_t *s; } sessions[MAX_SESSIONS];
    int nsessions;
};

static struct client *cl;          /* one loop, one client */

/* --- URL and PDU --------------------------------------------------------------- */

struct coap_url {
    struct url_endpoint ep;        /* ep.hostport keys the session */
    coap_address_t addr;
};

static int url_parse(const char *url, struct coap_url *u)
{
    memset(u, 0, sizeof *u);
    if (strncasecmp(url, "coap://", 7) || url_endpoint_parse(url + 7, 5683, &u->ep)) return -1;
    coap_address_init(&u->addr);
    memcpy(&u->addr.addr, &u->ep.addr, u->ep.alen);
    u->addr.size = u->ep.alen;
    return 0;
}

static void add_str_option(coap_pdu_t *pdu, uint16_t num, const char *s)
{
    if (s && *s) coap_add_option(pdu, num, strlen(s), (const uint8_t *)s);
}

static void add_uint_option(coap_pdu_t *pdu, uint16_t num, unsigned v)
{
    uint8_t buf[4];
    coap_add_option(pdu, num, coap_encode_var_safe(buf, sizeof buf, v), buf);
}

static void release_body(coap_session_t *session, void *data)
{
    (void)session;
    free(data);
}

/* A confirmable POST carrying the NOTIFY; options in ascending order. */
static coap_pdu_t *notify_pdu(coap_session_t *s, const struct coap_url *u,
                              const struct notify_send_args *a, uint8_t *token, size_t *toklen)
{
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST, s);
    if (!pdu) return NULL;
    coap_session_new_token(s, toklen, token);
    coap_add_token(pdu, *toklen, token);
    const char *p = u->ep.path;
    while (*p == '/') p++;
    while (*p && *p != '?') {
        size_t n = strcspn(p, "/?");
        if (n) coap_add_option(pdu, COAP_OPTION_URI_PATH, n, (const uint8_t *)p);
        p += n;
        while (*p == '/') p++;
    }
    add_uint_option(pdu, COAP_OPTION_CONTENT_FORMAT, COAP_CF_JSON);
    if (*p == '?') add_str_option(pdu, COAP_OPTION_URI_QUERY, p + 1);
    add_str_option(pdu, M2MOPT_RVI, "3");
    add_str_option(pdu, M2MOPT_FR, a->from);
    add_str_option(pdu, M2MOPT_RQI, a->rqi);
    if (a->ec) add_uint_option(pdu, M2MOPT_EC, (unsigned)a->ec);
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
    if (o) return (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
    int code = coap_pdu_get_code(rcv);
    if (code >> 5 == 2) return RSC_OK;
    if (code == COAP_RESPONSE_CODE(404)) return RSC_NOT_FOUND;
    if (code == COAP_RESPONSE_CODE(403)) return RSC_ORIGINATOR_HAS_NO_PRIVILEGE;
    return code >> 5 == 5 ? RSC_INTERNAL_SERVER_ERROR : RSC_BAD_REQUEST;
}

/* --- the asynchronous client on the loop ------------------------------------------ */

static struct pending *take(const uint8_t *token, size_t len)
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

static void finish(struct pending *x, int rsc, bool unreachable)
{
    x->done(x->data, rsc, unreachable);
    free(x);
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcv,
                                   const coap_mid_t mid)
{
    (void)s; (void)sent; (void)mid;
    coap_bin_const_t tok = coap_pdu_get_token(rcv);
    struct pending *x = cl ? take(tok.s, tok.length) : NULL;
    if (x) finish(x, rsc_of(rcv), false);
    return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
    (void)s; (void)reason; (void)mid;
    if (!cl || !sent) return;
    coap_bin_const_t tok = coap_pdu_get_token(sent);
    struct pending *x = take(tok.s, tok.length);
    if (x) finish(x, RSC_TARGET_NOT_REACHABLE, true);
}

static int64_t on_timeout(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct pending *x = data;
    x->timer = 0;
    take(x->token, x->toklen);
    finish(x, RSC_TARGET_NOT_REACHABLE, true);
    return -1;
}

static void on_readable(struct loop *loop, int fd, void *data, int mask)
{
    (void)loop; (void)fd; (void)data; (void)mask;
    coap_io_process(cl->ctx, COAP_IO_NO_WAIT);
}

static int64_t on_tick(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id; (void)data;
    coap_io_process(cl->ctx, COAP_IO_NO_WAIT);
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

static int client_open(struct loop *loop)
{
    if (cl) return 0;
    cl = calloc(1, sizeof *cl);
    if (!cl) return -1;
    cl->loop = loop;
    cl->ctx = new_context();
    cl->fd = cl->ctx ? coap_context_get_coap_fd(cl->ctx) : -1;
    if (cl->fd < 0 || loop_watch(loop, cl->fd, LOOP_READABLE, on_readable, NULL)) {
        coap_notify_shutdown();
        return -1;
    }
    cl->tick = loop_add_timer(loop, TICK_MS, on_tick, NULL);
    return 0;
}

static coap_session_t *session_for(const struct coap_url *u)
{
    for (int i = 0; i < cl->nsessions; i++)
        if (!strcmp(cl->sessions[i].key, u->ep.hostport)) return cl->sessions[i].s;
    if (cl->nsessions == MAX_SESSIONS) return NULL;
    coap_session_t *s = coap_new_client_session(cl->ctx, NULL, &u->addr, COAP_PROTO_UDP);
    if (!s) return NULL;
    snprintf(cl->sessions[cl->nsessions].key, sizeof cl->sessions[0].key, "%s", u->ep.hostport);
    cl->sessions[cl->nsessions++].s = s;
    return s;
}

static int coap_send_async(struct cse *cse, const struct notify_send_args *a, notify_sender_done *done,
                           void *data)
{
    struct coap_url u;
    if (url_parse(a->url, &u) || client_open(cse->loop)) return -1;
    coap_session_t *s = session_for(&u);
    struct pending *x = s ? calloc(1, sizeof *x) : NULL;
    coap_pdu_t *pdu = x ? notify_pdu(s, &u, a, x->token, &x->toklen) : NULL;
    if (!pdu || coap_send(s, pdu) == COAP_INVALID_MID) {
        free(x);
        return -1;
    }
    x->done = done;
    x->data = data;
    x->timer = loop_add_timer(cl->loop, a->timeout_ms, on_timeout, x);
    x->next = cl->pending;
    cl->pending = x;
    return 0;
}

/* --- the bounded blocking variant (only for a CSE without event loop) ---------- */

struct sync_result { bool answered; int rsc; };
static struct sync_result *sync_slot;

static coap_response_t on_sync_response(coap_session_t *s, const coap_pdu_t *sent,
                                        const coap_pdu_t *rcv, const coap_mid_t mid)
{
    (void)s; (void)sent; (void)mid;
    if (sync_slot) *sync_slot = (struct sync_result){ true, rsc_of(rcv) };
    return COAP_RESPONSE_OK;
}

static int coap_send_blocking(struct cse *cse, const struct notify_send_args *a)
{
    (void)cse;
    struct coap_url u;
    if (url_parse(a->url, &u)) return RSC_TARGET_NOT_REACHABLE;
    coap_context_t *ctx = new_context();
    coap_session_t *s = ctx ? coap_new_client_session(ctx, NULL, &u.addr, COAP_PROTO_UDP) : NULL;
    struct sync_result r = { false, RSC_TARGET_NOT_REACHABLE };
    if (s) {
        coap_register_response_handler(ctx, on_sync_response);
        coap_register_nack_handler(ctx, NULL);
        uint8_t token[8];
        size_t toklen;
        coap_pdu_t *pdu = notify_pdu(s, &u, a, token, &toklen);
        sync_slot = &r;
        if (pdu && coap_send(s, pdu) != COAP_INVALID_MID) {
            int64_t deadline = loop_now_ms() + a->timeout_ms;
            while (!r.answered && loop_now_ms() < deadline)
                coap_io_process(ctx, (unsigned)(deadline - loop_now_ms()));
        }
        sync_slot = NULL;
    }
    if (ctx) coap_free_context(ctx);
    return r.answered ? r.rsc : RSC_TARGET_NOT_REACHABLE;
}

/* --- installation ------------------------------------------------------------------ */

void coap_notify_install(void)
{
    notify_set_sender("coap://", coap_send_async, coap_send_blocking);
}

void coap_notify_shutdown(void)
{
    if (!cl) return;
    while (cl->pending) {
        struct pending *x = cl->pending;
        cl->pending = x->next;
        if (x->timer) loop_del_timer(cl->loop, x->timer);
        finish(x, RSC_TARGET_NOT_REACHABLE, true); /* the owner releases what it holds */
    }
    if (cl->fd >= 0) loop_unwatch(cl->loop, cl->fd, LOOP_READABLE);
    if (cl->tick > 0) loop_del_timer(cl->loop, cl->tick);
    if (cl->ctx) coap_free_context(cl->ctx);
    free(cl);
    cl = NULL;
}
