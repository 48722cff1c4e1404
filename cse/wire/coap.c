/* libcoap glue of the CoAP binding: context and endpoints, event-loop
 * integration, request handler, duplicate detection. The CoAP <-> primitive
 * rules are in coap_map.c; the oneM2M option acceptance in coap_optfilter.c. */
#include "coap.h"

#include "coap_block.h"
#include "coap_dedup.h"
#include "coap_map.h"
#include "coap_optfilter.h"
#include "coap_optiter.h"
#include "coap_parse_hook.h"
#include "coap_wire.h"
#include "../core/cse.h"
#include "../core/metrics.h"
#include "../base/clock.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../base/recv_batch.h"
#include "../core/rsc.h"
#include "../core/throttle.h"
#include "../../security/dtls.h"
#include "../../security/saef.h"

#include <coap3/coap.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <stddef.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COAP_TIMER_MS 100          /* libcoap timeouts are checked this often */
#define DEDUP_MAX_BYTES (4u << 20)   /* packed replies: 4096 typical ones need about 2 MiB */
/* Block-wise transfers in progress (docs/coap.md): a peer can hold a few,
 * all peers together a bounded number and bytes; an idle one is forgotten
 * after a minute (RFC 7959 leaves the time to the server). */
#define COAP_BLOCK_TRANSFERS 256
#define COAP_BLOCK_TRANSFERS_PER_PEER 4
#define COAP_BLOCK_BYTES ((size_t)16 << 20)
#define COAP_BLOCK_IDLE_MS 60000

struct coap_server {
    struct sockaddr_storage udp_addr;   /* the plain endpoint, for the self-test */
    socklen_t udp_addr_len;
    struct cse *cse;
    struct loop *loop;
    coap_context_t *ctx;
    int fd;                        /* libcoap's epoll fd, watched by our loop */
    int64_t timer;
    int64_t max_body;
    struct coap_dedup *dedup;
    struct dtls *dtls;             /* CoAPS setup, NULL without a DTLS endpoint */
    struct coap_job *jobs;         /* deferred requests waiting for their answer */
    struct coap_job *held;         /* answered, waiting for the round's group commit */
    struct coap_job **held_tail;   /* where the next held job goes (answers keep their order) */
    bool holds;                    /* release_held is registered with the CSE */
    struct coap_blocks *blocks;    /* block-wise transfers in progress (coap_block.h) */
    int64_t piggyback_ms;          /* how long a deferred answer may still go on the ACK */
    long long refused;             /* requests refused for peer misbehaviour */
    bool self_testing;             /* our own probe at start: not a request to count or log */
    bool batch_reads;              /* libcoap's reads can be batched (recv_batch.h) */
    struct log_burst refused_log;
};

/* Remote misbehaviour: counted, and logged at most once a minute. */
static void counter_bump(struct coap_server *srv, const char *what)
{
    srv->refused++;
    log_burst_write(&srv->refused_log, LOG_LVL_INFO, loop_now_ms(), 60000, "coap: %s", what);
}

/* ---- libcoap logging into ours ------------------------------------------ */

/* While the server starts, libcoap's errors are ours (a port in use). Once
 * it serves, what libcoap complains about is mostly what remote peers sent
 * (malformed datagrams, failed handshakes): a peer could flood the log, so
 * those lines are debug output, counted, with a summary at most once a
 * minute. Process-wide, because libcoap's log handler is. */
static int libcoap_serving;
static struct log_burst libcoap_log_burst;

static void libcoap_log(coap_log_t level, const char *message)
{
    size_t n = strlen(message);
    while (n && message[n - 1] == '\n') n--;
    if (level > LOG_ERR) {
        log_debug("libcoap: %.*s", (int)n, message);
    } else if (!libcoap_serving) {
        if (level <= LOG_CRIT) log_error("libcoap: %.*s", (int)n, message);
        else log_warn("libcoap: %.*s", (int)n, message);
    } else {
        log_debug("libcoap: %.*s", (int)n, message);
        log_burst_write(&libcoap_log_burst, LOG_LVL_INFO, loop_now_ms(), 60000,
                        "coap: libcoap reports errors (last: %.*s; --log-level debug shows each)",
                        (int)(n > 200 ? 200 : n), message);
    }
}

/* ---- request handling --------------------------------------------------- */

/* Appends the decimal digits of v at w; the end. */
static char *put_decimal(char *w, unsigned v)
{
    char digits[10];
    int n = 0;
    do digits[n++] = (char)('0' + v % 10); while ((v /= 10));
    while (n) *w++ = digits[--n];
    return w;
}

/* Dotted quad of an IPv4 address (network order) into buf (16 bytes). */
static void ipv4_text(const struct in_addr *a, char *buf)
{
    const uint8_t *b = (const uint8_t *)&a->s_addr;
    char *w = buf;
    for (int i = 0; i < 4; i++) {
        if (i) *w++ = '.';
        w = put_decimal(w, b[i]);
    }
    *w = 0;
}

/* "proto|ip|port" of the remote end, the duplicate-detection key with the
 * MID. Written by hand: inet_ntop and snprintf were a tenth of a CoAP
 * request's instructions outside the dispatcher. */
static void peer_name(coap_session_t *session, struct m2m_peer *peer, char *key, size_t keylen)
{
    const coap_address_t *a = coap_session_get_addr_remote(session);
    peer->ip[0] = 0;
    peer->port = 0;
    if (a && a->addr.sa.sa_family == AF_INET) {
        ipv4_text(&a->addr.sin.sin_addr, peer->ip);
        peer->port = ntohs(a->addr.sin.sin_port);
    } else if (a && a->addr.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &a->addr.sin6.sin6_addr, peer->ip, sizeof peer->ip);
        peer->port = ntohs(a->addr.sin6.sin6_port);
    }
    /* proto (one digit) + '|' + address + '|' + port (5 digits) + NUL */
    if (keylen < sizeof peer->ip + 10) {
        key[0] = 0;
        return;
    }
    char *w = put_decimal(key, (unsigned)coap_session_get_proto(session));
    *w++ = '|';
    size_t n = strlen(peer->ip);
    memcpy(w, peer->ip, n);
    w += n;
    *w++ = '|';
    *put_decimal(w, (unsigned)peer->port) = 0;
}

/* A DTLS session yields the Credential-ID its handshake authenticated (PSK
 * identity or certificate AE-ID); the security gate binds it to originators.
 * Plain CoAP carries none. */
static void session_security(coap_session_t *session, struct m2m_request *req)
{
    char cred[sizeof req->sec.credential_id];
    saef_bind(req, dtls_session_credential(session, cred, sizeof cred) ? cred : NULL);
}

static void read_request(const coap_pdu_t *pdu, struct coap_msg_in *in)
{
    in->code = coap_pdu_get_code(pdu);
    in->nopts = coap_optiter_read(pdu, in->opts, COAP_MAP_MAX_OPTS, &in->too_many_opts);
    size_t len = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    if (coap_get_data_large(pdu, &len, &data, &offset, &total) && data) {
        in->payload = data;
        in->payload_len = len;
    }
}

/* ---- writing replies ---------------------------------------------------- */

/* Room for payload in a datagram of this session after the header, token
 * and options (each option counted with its largest header). */
static size_t payload_room(coap_session_t *session, size_t toklen, const struct coap_msg_out *out)
{
    size_t used = 4 + toklen + 1 /* payload marker */ + 3 * 5 /* CF, Max-Age, Block1 */
                  + 4 + 5 /* Block2, Size2 */;
    for (int i = 0; i < out->nopts; i++) used += 5 + out->opts[i].len;
    size_t max = coap_session_max_pdu_size(session);
    return max > used ? max - used : 0;
}

/* The binding's own options of a reply (Content-Format, Max-Age, Block2,
 * Block1, Size2), in ascending order. */
struct own_opts {
    int n;
    struct { uint16_t number; uint8_t len; uint8_t value[4]; } o[5];
};

static void own_add(struct own_opts *x, uint16_t number, const uint8_t *value, size_t len)
{
    x->o[x->n].number = number;
    x->o[x->n].len = (uint8_t)len;
    memcpy(x->o[x->n].value, value, len);
    x->n++;
}

static void own_uint(struct own_opts *x, uint16_t number, uint32_t v)
{
    uint8_t buf[4];
    own_add(x, number, buf, coap_encode_var_safe(buf, sizeof buf, v));
}

/* Adds out's options and ours merged in ascending order: libcoap appends an
 * option in order cheaply but re-encodes the PDU to insert one out of order
 * (as Content-Format after the oneM2M options was). */
static void add_options_merged(coap_pdu_t *pdu, const struct coap_msg_out *out, const struct own_opts *x)
{
    int i = 0, k = 0;
    while (i < out->nopts || k < x->n) {
        if (k < x->n && (i == out->nopts || x->o[k].number < out->opts[i].number)) {
            coap_add_option(pdu, x->o[k].number, x->o[k].len, x->o[k].value);
            k++;
        } else {
            coap_add_option(pdu, out->opts[i].number, out->opts[i].len, out->optbuf + out->opts[i].off);
            i++;
        }
    }
}

/* Fills pdu (header and token set by the caller) with out: code, options,
 * the Block1 echo of a block-wise request, and the payload or the Block2
 * piece of it the request asked for. A payload too large for one datagram
 * is kept (keep != 0) so that its later pieces can be fetched. */
static void fill_pdu(struct coap_server *srv, coap_session_t *session, const char *peer,
                     const struct coap_msg_in *in, const struct coap_block *b1echo,
                     coap_pdu_t *pdu, const struct coap_msg_out *out, int keep)
{
    coap_pdu_set_code(pdu, (coap_pdu_code_t)out->code);
    struct coap_block piece;
    size_t off = 0, len = out->payload_len;
    int cut = 0;
    if (out->payload_len) {
        struct coap_block asked;
        int has_asked = in && coap_block_find(in, COAPOPT_BLOCK2, &asked) == 1;
        coap_bin_const_t token = coap_pdu_get_token(pdu);
        cut = coap_block2_piece(out->payload_len, has_asked ? &asked : NULL,
                                payload_room(session, token.length, out), &piece, &off, &len);
        /* A piece past the end (4.00, as RFC 7959 2.2 leaves it open), or
         * options that leave no room for the smallest block: no body. */
        if (cut < 0) coap_pdu_set_code(pdu, cut == -1 ? COAP_RESPONSE_CODE(400) : COAP_RESPONSE_CODE(500));
    }
    bool body = out->payload_len && cut >= 0;
    struct own_opts x = { 0 };
    uint8_t b[3];
    if (body && out->content_format >= 0) own_uint(&x, COAP_OPTION_CONTENT_FORMAT, (uint32_t)out->content_format);
    /* Max-Age 0: a oneM2M resource must not be served from a CoAP cache
     * (a 4.29 carries its wait instead). */
    if (body) own_uint(&x, COAP_OPTION_MAXAGE, out->max_age);
    if (body && cut == 1) own_add(&x, COAPOPT_BLOCK2, b, coap_block_encode(&piece, b));
    if (b1echo) own_add(&x, COAPOPT_BLOCK1, b, coap_block_encode(b1echo, b));
    if (body && cut == 1) own_uint(&x, COAPOPT_SIZE2, (uint32_t)out->payload_len);
    add_options_merged(pdu, out, &x);
    if (!body) return;
    if (cut == 1 && keep && in && piece.more) coap_blocks_keep(srv->blocks, peer, in, out, loop_now_ms());
    if (!coap_add_data(pdu, len, (const uint8_t *)out->payload + off)) {
        counter_bump(srv, "cannot attach a response body");
        coap_pdu_set_code(pdu, COAP_RESPONSE_CODE(500));
    }
}

/* ---- request handling --------------------------------------------------- */

/* A request being served. When the dispatcher defers it (a subscription's
 * verification, a NOTIFY forwarded to an AE), the job waits with a reference
 * to the session. Within coap-piggyback-ms the answer goes out on the ACK
 * (piggy-backed); after that a CON gets an empty ACK and the answer follows
 * as a separate CON response (RFC 7252 5.2.2). Retransmissions meanwhile are
 * recognised by (peer, MID) and never reach the dispatcher. */
struct coap_job {
    struct coap_job *next;         /* in srv->jobs while deferred, srv->held while held */
    struct coap_server *srv;       /* NULL once the server stopped */
    struct m2m_response rsp;
    coap_session_t *session;       /* referenced while deferred */
    char key[80];                  /* duplicate-detection key and MID of the request */
    uint16_t mid;
    int64_t started_us;            /* when it was read (metrics, request log) */
    bool con, acked;               /* a CON request; its empty ACK went out */
    uint8_t token[8];
    size_t toklen;
    int64_t timer;                 /* the piggy-back bound, -1 when not running */
    struct coap_msg_in *in;        /* the request's options, kept for Block2 */
    uint8_t *optcopy;              /* the bytes in->opts point into */
    uint8_t *body;                 /* an assembled Block1 body */
    bool has_b1;
    struct coap_block b1echo;
    struct m2m_request req;        /* last: job_new() zeroes only what is before it */
};

/* A job for one request. Not calloc(): the request primitive is 2.6 KiB
 * that m2m_request_init() zeroes anyway. */
static struct coap_job *job_new(void)
{
    struct coap_job *j = malloc(sizeof *j);
    if (!j) return NULL;
    memset(j, 0, offsetof(struct coap_job, req));
    m2m_request_init(&j->req);
    m2m_response_init(&j->rsp);
    j->timer = -1;
    return j;
}

static void job_free(struct coap_job *j)
{
    if (!j) return;
    if (j->srv) {
        for (struct coap_job **p = &j->srv->jobs; *p; p = &(*p)->next)
            if (*p == j) { *p = j->next; break; }
        if (j->timer >= 0) loop_del_timer(j->srv->loop, j->timer);
    }
    if (j->session) coap_session_release(j->session);
    m2m_response_clear(&j->rsp);
    m2m_request_clear(&j->req);
    free(j->in);
    free(j->optcopy);
    free(j->body);
    free(j);
}

static struct coap_job *pending_find(struct coap_server *srv, const char *key, uint16_t mid)
{
    for (struct coap_job *j = srv->jobs; j; j = j->next)
        if (j->mid == mid && !strcmp(j->key, key)) return j;
    for (struct coap_job *j = srv->held; j; j = j->next)
        if (j->mid == mid && !strcmp(j->key, key)) return j;
    return NULL;
}

/* A success whose writes were rolled back with their batch becomes 5000. */
static void commit_failed(struct m2m_request *req, struct m2m_response *rsp)
{
    if (!rsc_is_success(rsp->rsc)) return;
    m2m_response_clear(rsp);
    rsp->rqi = req->rqi;
    m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the change could not be stored");
}

/* The round's writes must be durable before their answer goes (group
 * commit, cse.h); for an answer sent at once, that means committing now. */
static void commit_before_reply(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp)
{
    if (cse_commit(cse)) commit_failed(req, rsp);
}

/* The request's options outlive the libcoap PDU they point into. */
static int keep_options(struct coap_job *j, const struct coap_msg_in *in)
{
    size_t bytes = 0;
    for (int i = 0; i < in->nopts; i++) bytes += in->opts[i].len;
    j->in = calloc(1, sizeof *j->in);
    j->optcopy = malloc(bytes ? bytes : 1);
    if (!j->in || !j->optcopy) {
        free(j->in);
        free(j->optcopy);
        j->in = NULL;
        j->optcopy = NULL;
        return -1;
    }
    *j->in = *in;
    uint8_t *w = j->optcopy;
    for (int i = 0; i < in->nopts; i++) {
        memcpy(w, in->opts[i].value, in->opts[i].len);
        j->in->opts[i].value = w;
        w += in->opts[i].len;
    }
    j->in->payload = NULL;
    j->in->payload_len = 0;
    return 0;
}

/* Sends the answer of a deferred request on its own: piggy-backed on the
 * ACK while none was sent, else as a separate CON (libcoap retransmits it
 * until ACKed), or NON for a NON request. */
static void send_answer(struct coap_job *j, const struct coap_msg_out *out)
{
    coap_pdu_type_t type = !j->con ? COAP_MESSAGE_NON : j->acked ? COAP_MESSAGE_CON : COAP_MESSAGE_ACK;
    coap_mid_t mid = type == COAP_MESSAGE_ACK ? j->mid : coap_new_message_id(j->session);
    coap_pdu_t *pdu = coap_pdu_init(type, COAP_EMPTY_CODE, mid, coap_session_max_pdu_size(j->session));
    if (!pdu || !coap_add_token(pdu, j->toklen, j->token)) {
        if (pdu) coap_delete_pdu(pdu);
        log_warn("coap: cannot build the answer to mid 0x%04x", j->mid);
        return;
    }
    fill_pdu(j->srv, j->session, j->key, j->in, j->has_b1 ? &j->b1echo : NULL, pdu, out, 1);
    if (coap_send(j->session, pdu) == COAP_INVALID_MID)
        log_info("coap: the answer to mid 0x%04x from %s:%d could not be sent", j->mid,
                 j->req.peer.ip, j->req.peer.port);
}

/* An empty ACK for a CON whose answer is not ready within the bound. */
static int64_t piggyback_expired(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct coap_job *j = data;
    j->timer = -1;
    coap_pdu_t *ack = coap_pdu_init(COAP_MESSAGE_ACK, COAP_EMPTY_CODE, j->mid, 4);
    if (ack && coap_send(j->session, ack) != COAP_INVALID_MID) j->acked = true;
    return -1;
}

static void enqueue_held(struct coap_server *srv, struct coap_job *j);

/* The deferred answer is ready. Like any answer it waits for the commit of
 * what it wrote: with the round's group commit when there is one to join
 * (a primitive that waited for PostgreSQL ends inside the round), else at
 * once. The duplicate cache keeps it from now on. */
static void answer_later(void *data)
{
    struct coap_job *j = data;
    struct coap_server *srv = j->srv;
    if (!srv) { job_free(j); return; }
    if (srv->holds && cse_batch_pending(srv->cse) && !srv->self_testing) {
        /* From srv->jobs to srv->held; the piggy-back bound keeps running
         * (release_held stops it), and retransmissions are still found. */
        for (struct coap_job **p = &srv->jobs; *p; p = &(*p)->next)
            if (*p == j) { *p = j->next; break; }
        enqueue_held(srv, j);
        return;
    }
    commit_before_reply(srv->cse, &j->req, &j->rsp);
    metrics_request(j->srv->cse->metrics, &j->req, &j->rsp, j->started_us);
    struct coap_msg_out *out = malloc(sizeof *out);
    if (out) {
        coap_msg_out_init(out);
        coap_from_primitive(&j->req, &j->rsp, out);
        send_answer(j, out);
        coap_dedup_put(j->srv->dedup, j->key, j->mid, out, loop_now_ms());
    }
    coap_io_process(j->srv->ctx, COAP_IO_NO_WAIT);   /* send now, not at the next tick */
    job_free(j);
}

static void abandon(void *data)
{
    job_free(data);
}

/* A refusal at the CoAP level (block-wise errors) still gets a mapped reply
 * (RQI, RSC, m2m:dbg) with a CoAP code of its own. */
static void refuse(const struct coap_msg_in *in, int coap_code, int rsc, const char *why,
                   struct m2m_request *req, struct m2m_response *rsp, struct coap_msg_out *out)
{
    struct coap_msg_in opts_only = *in;
    opts_only.payload_len = 0;
    m2m_response_clear(rsp);
    if (!coap_to_primitive(&opts_only, req, rsp)) m2m_error(rsp, rsc, "%s", why);
    coap_from_primitive(req, rsp, out);
    out->code = coap_code;
}

static void reply_now(struct coap_server *srv, coap_session_t *session, const char *peer,
                      const struct coap_msg_in *in, const struct coap_block *b1echo,
                      coap_pdu_t *response, struct coap_msg_out *out, uint16_t mid, int64_t now)
{
    fill_pdu(srv, session, peer, in, b1echo, response, out, 1);
    coap_dedup_put(srv->dedup, peer, mid, out, now);
}

/* Keeps a deferred request waiting (see struct coap_job). */
static void defer(struct coap_server *srv, struct coap_job *j, coap_session_t *session,
                  const coap_pdu_t *request, coap_pdu_t *response)
{
    j->srv = srv;
    j->next = srv->jobs;
    srv->jobs = j;
    j->session = coap_session_reference(session);
    j->con = coap_pdu_get_type(request) == COAP_MESSAGE_CON;
    coap_bin_const_t tok = coap_pdu_get_token(request);
    j->toklen = tok.length <= sizeof j->token ? tok.length : 0;
    memcpy(j->token, tok.s, j->toklen);
    /* Nothing goes out now: the answer may still be piggy-backed. */
    coap_pdu_set_type(response, COAP_MESSAGE_NON);
    coap_pdu_set_code(response, COAP_EMPTY_CODE);
    if (j->con) j->timer = loop_add_timer(srv->loop, srv->piggyback_ms, piggyback_expired, j);
}

/* An answer that may show this round's uncommitted writes waits for the
 * group commit (release_held), like HTTP's: one commit for all the writes
 * of a round instead of one per CoAP request. The commit comes before the
 * loop sleeps, so the answer still goes piggy-backed on the ACK. */
static void hold(struct coap_server *srv, struct coap_job *j, coap_session_t *session,
                 const coap_pdu_t *request, coap_pdu_t *response, const struct coap_msg_in *in)
{
    if (keep_options(j, in)) log_warn("coap: out of memory keeping a held request");
    j->session = coap_session_reference(session);
    j->con = coap_pdu_get_type(request) == COAP_MESSAGE_CON;
    coap_bin_const_t tok = coap_pdu_get_token(request);
    j->toklen = tok.length <= sizeof j->token ? tok.length : 0;
    memcpy(j->token, tok.s, j->toklen);
    enqueue_held(srv, j);
    coap_pdu_set_type(response, COAP_MESSAGE_NON);
    coap_pdu_set_code(response, COAP_EMPTY_CODE);
}

static void enqueue_held(struct coap_server *srv, struct coap_job *j)
{
    j->next = NULL;
    *srv->held_tail = j;
    srv->held_tail = &j->next;
}

/* cse_on_commit callback: the round's batch is durable (ok) or rolled back. */
static void release_held(void *data, bool ok)
{
    struct coap_server *srv = data;
    struct coap_job *j = srv->held;
    srv->held = NULL;
    srv->held_tail = &srv->held;
    int64_t now = loop_now_ms();
    while (j) {
        struct coap_job *next = j->next;
        j->srv = srv;
        if (!ok) commit_failed(&j->req, &j->rsp);
        metrics_request(srv->cse->metrics, &j->req, &j->rsp, j->started_us);
        struct coap_msg_out *out = malloc(sizeof *out);
        if (out) {
            coap_msg_out_init(out);
            coap_from_primitive(&j->req, &j->rsp, out);
            send_answer(j, out);
            coap_dedup_put(srv->dedup, j->key, j->mid, out, now);
        }
        if (j->timer >= 0) loop_del_timer(srv->loop, j->timer);   /* a deferred one's bound */
        j->timer = -1;
        j->srv = NULL;   /* not in srv->jobs: nothing to unlink */
        job_free(j);
        j = next;
    }
}

static void serve(coap_session_t *session, const coap_pdu_t *request, coap_pdu_t *response)
{
    struct coap_server *srv = coap_get_app_data(coap_session_get_context(session));
    struct coap_job *j = job_new();
    struct coap_msg_out *out = malloc(sizeof *out);
    /* On the stack, and only its header initialised: read_request() fills
     * the options it counts (3 KiB of room for 128). */
    struct coap_msg_in in_buf, *in = &in_buf;
    in->nopts = 0;
    in->too_many_opts = false;
    in->payload = NULL;
    in->payload_len = 0;
    if (!j || !out) {
        job_free(j);
        free(out);
        coap_pdu_set_code(response, COAP_RESPONSE_CODE(500));
        return;
    }
    j->started_us = clock_now_us();
    coap_msg_out_init(out);
    peer_name(session, &j->req.peer, j->key, sizeof j->key);
    j->mid = (uint16_t)coap_pdu_get_mid(request);
    int64_t now = loop_now_ms();
    read_request(request, in);

    struct coap_job *waiting = pending_find(srv, j->key, j->mid);
    const struct coap_msg_out *seen = waiting ? NULL : coap_dedup_find(srv->dedup, j->key, j->mid, now);
    struct coap_block b2;
    int b2state = coap_block_find(in, COAPOPT_BLOCK2, &b2);
    const struct coap_msg_out *held = NULL;
    if (waiting) {
        /* A retransmission of a request still being served: ignored until
         * its empty ACK went out, then ACKed empty again. */
        if (!waiting->acked) coap_pdu_set_type(response, COAP_MESSAGE_NON);
        coap_pdu_set_code(response, COAP_EMPTY_CODE);
    } else if (seen) {
        log_debug("coap: duplicate mid 0x%04x from %s:%d answered from cache", j->mid,
                  j->req.peer.ip, j->req.peer.port);
        fill_pdu(srv, session, j->key, in, NULL, response, seen, 0);
    } else if (b2state < 0) {
        refuse(in, COAP_RESPONSE_CODE(400), RSC_BAD_REQUEST, "invalid Block2 option", &j->req, &j->rsp, out);
        reply_now(srv, session, j->key, in, NULL, response, out, j->mid, now);
        out = NULL;
    } else if (b2state && b2.num > 0 && (held = coap_blocks_held(srv->blocks, j->key, in, now))) {
        /* A later piece of a response kept for this peer and request. */
        fill_pdu(srv, session, j->key, in, NULL, response, held, 0);
        struct coap_msg_out *copy = coap_msg_out_dup(held);
        if (copy) coap_dedup_put(srv->dedup, j->key, j->mid, copy, now);
    } else if (b2state && b2.num > 0 && in->code != COAP_M_GET) {
        /* Running a non-GET primitive again would repeat its effect. */
        refuse(in, COAP_RESPONSE_CODE(408), RSC_BAD_REQUEST, "Block2 continuation of a response no "
               "longer held; repeat the request without Block2", &j->req, &j->rsp, out);
        free(out->payload);
        out->payload = NULL;
        out->payload_len = 0;
        reply_now(srv, session, j->key, in, NULL, response, out, j->mid, now);
        out = NULL;
    } else if (coap_msg_in_option(in, COAP_WIRE_OPT_TOO_LARGE)) {
        /* Larger than a datagram libcoap takes (coap_parse_hook.c): RFC
         * 7959 2.9.3, 4.13 with the block size we take, so that a client
         * able to go block-wise starts again in pieces. */
        refuse(in, COAP_RESPONSE_CODE(413), RSC_BAD_REQUEST, "request too large for one datagram; "
               "send it block-wise (Block1)", &j->req, &j->rsp, out);
        coap_msg_out_add_uint(out, COAPOPT_SIZE1, (uint32_t)srv->max_body);
        struct coap_block one = { 0, false, 6 };
        reply_now(srv, session, j->key, in, &one, response, out, j->mid, now);
        out = NULL;
    } else {
        struct coap_block1_result r;
        coap_blocks_put(srv->blocks, j->key, in, now, &r);
        if (r.status == COAP_B1_ERROR) {
            counter_bump(srv, "block-wise request refused");
            log_debug("coap: %s:%d: %s", j->req.peer.ip, j->req.peer.port, r.why);
            refuse(in, r.code, r.code >> 5 == 5 ? RSC_INTERNAL_SERVER_ERROR : RSC_BAD_REQUEST, r.why,
                   &j->req, &j->rsp, out);
            if (r.code == COAP_RESPONSE_CODE(413))   /* RFC 7959 2.9.3: the largest we take */
                coap_msg_out_add_uint(out, COAPOPT_SIZE1, (uint32_t)srv->max_body);
            reply_now(srv, session, j->key, in, NULL, response, out, j->mid, now);
            out = NULL;
        } else if (r.status == COAP_B1_CONTINUE) {
            out->code = COAP_RESPONSE_CODE(231);
            reply_now(srv, session, j->key, in, &r.echo, response, out, j->mid, now);
            out = NULL;
        } else if (r.status == COAP_B1_NONE && (int64_t)in->payload_len > srv->max_body) {
            refuse(in, COAP_RESPONSE_CODE(413), RSC_BAD_REQUEST, "request body exceeds max-body",
                   &j->req, &j->rsp, out);
            coap_msg_out_add_uint(out, COAPOPT_SIZE1, (uint32_t)srv->max_body);
            reply_now(srv, session, j->key, in, NULL, response, out, j->mid, now);
            out = NULL;
        } else {
            if (r.status == COAP_B1_DONE) {
                j->body = r.body;
                in->payload = r.body;
                in->payload_len = r.body_len;
                j->has_b1 = true;
                j->b1echo = r.echo;
            }
            session_security(session, &j->req);
            int rc = coap_to_primitive(in, &j->req, &j->rsp);
            if (throttle_request(srv->cse->throttle, &j->req, &j->rsp)) rc = RSC_BAD_REQUEST;
            if (!rc && cse_dispatch_async(srv->cse, &j->req, &j->rsp, answer_later, abandon, j)) {
                /* Without its options the answer can still go, unsliced. */
                if (keep_options(j, in)) log_warn("coap: out of memory keeping a deferred request");
                defer(srv, j, session, request, response);
                j = NULL;   /* answer_later or abandon frees it */
            } else if (srv->holds && cse_batch_pending(srv->cse) && !srv->self_testing) {
                hold(srv, j, session, request, response, in);
                j = NULL;   /* release_held answers and frees it */
            } else {
                commit_before_reply(srv->cse, &j->req, &j->rsp);
                if (!srv->self_testing) metrics_request(srv->cse->metrics, &j->req, &j->rsp, j->started_us);
                coap_from_primitive(&j->req, &j->rsp, out);
                reply_now(srv, session, j->key, in, j->has_b1 ? &j->b1echo : NULL, response, out,
                          j->mid, now);
                out = NULL;
            }
        }
    }
    if (out) {
        coap_msg_out_clear(out);
        free(out);
    }
    job_free(j);
}

/* libcoap's request handler. What it runs may turn libcoap's own loop
 * (coap_io_process() to send a deferred answer now): reads made there must
 * not start a batch (recv_batch.h) that only on_readable() drains. */
static void on_request(coap_resource_t *resource, coap_session_t *session,
                       const coap_pdu_t *request, const coap_string_t *query,
                       coap_pdu_t *response)
{
    (void)resource; (void)query;
    bool armed = recv_batch_arm(false);
    serve(session, request, response);
    recv_batch_arm(armed);
}

/* ---- context, endpoints, loop ------------------------------------------- */

/* One unknown-resource handler for every method, so that any path reaches
 * the mapping; methods outside the binding (FETCH, PATCH, iPATCH) are
 * answered there with 4.05 / RSC 4005 rather than libcoap's bare 4.04. */
static int add_handlers(struct coap_server *srv)
{
    coap_resource_t *r = coap_resource_unknown_init2(on_request, 0);
    if (!r) return -1;
    coap_register_request_handler(r, COAP_REQUEST_GET, on_request);
    coap_register_request_handler(r, COAP_REQUEST_POST, on_request);
    coap_register_request_handler(r, COAP_REQUEST_DELETE, on_request);
    coap_register_request_handler(r, COAP_REQUEST_FETCH, on_request);
    coap_register_request_handler(r, COAP_REQUEST_PATCH, on_request);
    coap_register_request_handler(r, COAP_REQUEST_IPATCH, on_request);
    coap_add_resource(srv->ctx, r);
    return 0;
}

static int on_event(coap_session_t *session, const coap_event_t event)
{
    struct coap_server *srv = coap_get_app_data(coap_session_get_context(session));
    if (srv) dtls_session_event(srv->dtls, session, (int)event);
    return 0;
}

static int configure_context(struct coap_server *srv, const struct coap_options *opt)
{
    srv->ctx = coap_new_context(NULL);
    if (!srv->ctx) return -1;
    coap_set_app_data(srv->ctx, srv);
    coap_register_event_handler(srv->ctx, on_event);
    coap_optfilter_install(srv->ctx);
    /* Block-wise transfer is ours (coap_block.h), not libcoap's: block mode 0. */
    coap_context_set_block_mode(srv->ctx, 0);
    coap_context_set_max_idle_sessions(srv->ctx, (unsigned)opt->max_sessions);
    return add_handlers(srv);
}

static int add_endpoint(struct coap_server *srv, const char *host, int port, coap_proto_t proto)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &ai) || !ai) {
        log_error("coap: cannot resolve %s", host);
        return -1;
    }
    coap_address_t addr;
    coap_address_init(&addr);
    memcpy(&addr.addr, ai->ai_addr, ai->ai_addrlen);
    addr.size = ai->ai_addrlen;
    if (proto == COAP_PROTO_UDP) {
        memcpy(&srv->udp_addr, ai->ai_addr, ai->ai_addrlen);
        srv->udp_addr_len = ai->ai_addrlen;
    }
    freeaddrinfo(ai);
    if (!coap_new_endpoint(srv->ctx, &addr, proto)) {
        log_error("coap: cannot listen on %s:%d", host, port);
        return -1;
    }
    return 0;
}

/* Endpoints of the one libcoap context: plain UDP, and DTLS once PSK and
 * PKI are set up on the context (security/dtls.c). */
static int open_endpoints(struct coap_server *srv, const struct coap_options *opt)
{
    if (opt->port && add_endpoint(srv, opt->host, opt->port, COAP_PROTO_UDP)) return -1;
    if (!opt->secure_port) return 0;
    srv->dtls = dtls_setup(srv->ctx, &srv->cse->cfg, srv->cse->creds, srv->cse->throttle,
                           srv->cse->metrics);
    if (!srv->dtls || add_endpoint(srv, opt->host, opt->secure_port, COAP_PROTO_DTLS)) return -1;
    log_info("CoAPS (DTLS 1.2) on %s:%d", opt->host, opt->secure_port);
    return 0;
}

/* Proves at start that both interpositions are effective in this process:
 * libcoap accepts oneM2M options (coap_optfilter.c) and a zero-length
 * Uri-Query, which only our parse hook lets through (coap_parse_hook.c). One
 * NON request carrying both is sent to our own endpoint. It has no target,
 * so the dispatcher answers it 4000 and nothing changes. */
static int self_test(struct coap_server *srv)
{
    static const uint8_t probe[] = {
        0x50, 0x01, 0x00, 0x01,             /* v1 NON GET, MID 1, no token */
        0xd0, 0x02,                         /* 15 Uri-Query, empty */
        0xd1, 0xf3, '3',                    /* 271 oneM2M-RVI "3" */
        0x81, 'C',                          /* 279 oneM2M-FR "C" */
        0x41, 's',                          /* 283 oneM2M-RQI "s" */
    };
    if (!srv->udp_addr_len) return 0;   /* no plain endpoint to probe */
    struct sockaddr_storage to = srv->udp_addr;
    if (to.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&to;
        if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (to.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&to;
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) in6->sin6_addr = in6addr_loopback;
    }
    int fd = socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, probe, sizeof probe, 0, (struct sockaddr *)&to, srv->udp_addr_len) < 0) {
        if (fd >= 0) close(fd);
        log_warn("coap: cannot send the option self-test datagram");
        return 0;   /* nothing learnt either way: do not block the start */
    }
    srv->self_testing = true;
    for (int i = 0; i < 100 && !coap_optfilter_active(); i++) coap_io_process(srv->ctx, 10);
    srv->self_testing = false;
    close(fd);
    struct coap_parse_stats ps;
    coap_parse_hook_stats(&ps);
    if (!ps.rewritten) {
        log_error("coap: our datagram check does not run in front of libcoap's parser (the "
                  "coap_pdu_parse interposition is not effective, see docs/coap.md); refusing to "
                  "serve CoAP");
        return -1;
    }
    if (coap_optfilter_active()) return 0;
    log_error("coap: libcoap rejects oneM2M options in this process (the coap_option_filter_get "
              "interposition is not effective, see docs/coap.md); refusing to serve CoAP");
    return -1;
}

/* Datagrams handled per wake-up (at least; a batch read is finished), so
 * that HTTP work is not starved. */
#define COAP_READ_BATCH 32

typedef unsigned int prepare_epoll_fn(coap_context_t *ctx, coap_tick_t now);

/* The context reading a batch in on_readable(); NULL outside one. */
static coap_context_t *batching;

/* Overrides libcoap's exported function of the same name, which
 * coap_io_do_epoll() calls through libcoap's PLT at the end of every call
 * (like coap_pdu_parse(), coap_parse_hook.h): it scans every session's
 * timeouts and re-arms libcoap's timerfd, a timerfd_settime() per datagram.
 * Within a batch it is put off; on_readable() runs it once at the end. */
unsigned int coap_io_prepare_epoll(coap_context_t *ctx, coap_tick_t now)
{
    static prepare_epoll_fn *real;
    if (ctx == batching) return 0;   /* coap_io_do_epoll() ignores the value */
    if (!real) {
        void *f = dlvsym(RTLD_NEXT, "coap_io_prepare_epoll", "VER_3");
        real = (prepare_epoll_fn *)(f ? f : dlsym(RTLD_NEXT, "coap_io_prepare_epoll"));
    }
    return real ? real(ctx, now) : 0;
}

/* One event to libcoap, then again while the read it made left datagrams
 * batched (recv_batch.h): they are this event's socket's, and handled
 * before the socket is waited for again. Each round must take one, or the
 * event was not the batch's socket (no read of libcoap's then starts one).
 * The number of datagrams handled. */
static int handle_event(struct coap_server *srv, struct epoll_event *ev)
{
    int handled = 1;
    coap_io_do_epoll(srv->ctx, ev, 1);
    unsigned long long served, batches, before;
    recv_batch_counts(&served, &batches);
    while (recv_batch_pending()) {
        before = served;
        coap_io_do_epoll(srv->ctx, ev, 1);
        handled++;
        recv_batch_counts(&served, &batches);
        if (served == before) {
            log_warn("coap: %zu batched datagrams left unread", recv_batch_pending());
            break;
        }
    }
    return handled;
}

/* libcoap's epoll fd is readable: its events go to coap_io_do_epoll()
 * directly, one by one while more are waiting, their sockets read in
 * batches (handle_event()); libcoap's timeouts are looked at once after the
 * wake-up (coap_io_prepare_epoll() above), or by coap_io_process() when
 * libcoap's timer fired. */
static void on_readable(struct loop *loop, int fd, void *data, int mask)
{
    (void)loop; (void)mask;
    struct coap_server *srv = data;
    struct epoll_event ev[COAP_MAX_EPOLL_EVENTS];
    bool timer = false;
    int handled = 0;
    batching = srv->ctx;
    bool armed = recv_batch_arm(srv->batch_reads);
    while (handled < COAP_READ_BATCH) {
        int n = epoll_wait(fd, ev, COAP_MAX_EPOLL_EVENTS, 0);
        if (n <= 0) break;
        for (int i = 0; i < n; i++) {
            if (!ev[i].data.ptr) timer = true;   /* libcoap's timerfd */
            handled += handle_event(srv, &ev[i]);
        }
    }
    recv_batch_arm(armed);
    batching = NULL;
    if (timer) {
        coap_io_process(srv->ctx, COAP_IO_NO_WAIT);
    } else if (handled) {
        coap_tick_t now;
        coap_ticks(&now);
        coap_io_prepare_epoll(srv->ctx, now);
    }
}

static int64_t on_timer(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct coap_server *srv = data;
    coap_io_process(srv->ctx, COAP_IO_NO_WAIT);
    dtls_end_slow_handshakes(srv->dtls);
    return COAP_TIMER_MS;
}

static int watch_loop(struct coap_server *srv)
{
    srv->fd = coap_context_get_coap_fd(srv->ctx);
    if (srv->fd < 0) {
        log_error("coap: libcoap was built without epoll support");
        return -1;
    }
    if (loop_watch(srv->loop, srv->fd, LOOP_READABLE, on_readable, srv)) return -1;
    srv->timer = loop_add_timer(srv->loop, COAP_TIMER_MS, on_timer, srv);
    return srv->timer < 0 ? -1 : 0;
}

struct coap_server *coap_server_start(struct loop *loop, struct cse *cse,
                                      const struct coap_options *opt)
{
    coap_startup();
    coap_set_log_handler(libcoap_log);
    coap_set_log_level(log_level >= LOG_LVL_DEBUG ? LOG_INFO : LOG_ERR);
    struct coap_server *srv = calloc(1, sizeof *srv);
    if (!srv) return NULL;
    srv->cse = cse;
    srv->loop = loop;
    srv->fd = -1;
    srv->timer = -1;
    srv->max_body = opt->max_body;
    srv->piggyback_ms = opt->piggyback_ms;
    srv->held_tail = &srv->held;
    /* Without a free slot answers commit one by one, as they always could. */
    srv->holds = cse_on_commit(cse, release_held, srv) == 0;
    struct coap_blocks_limits lim = {
        .max_body = (size_t)opt->max_body, .max_entries = COAP_BLOCK_TRANSFERS,
        .per_peer = COAP_BLOCK_TRANSFERS_PER_PEER, .max_bytes = COAP_BLOCK_BYTES,
        .idle_ms = COAP_BLOCK_IDLE_MS,
    };
    if (lim.max_bytes < 2 * lim.max_body) lim.max_bytes = 2 * lim.max_body;
    srv->blocks = coap_blocks_new(&lim);
    srv->dedup = coap_dedup_new(opt->dedup_entries, DEDUP_MAX_BYTES, COAP_EXCHANGE_LIFETIME_MS);
    if (!srv->dedup || !srv->blocks || configure_context(srv, opt) || open_endpoints(srv, opt) ||
        self_test(srv) || watch_loop(srv)) {
        coap_server_stop(srv);
        return NULL;
    }
    /* Our recvmsg() (recv_batch.h) sees libcoap's calls only when it sees
     * this module's: asked with the probe call. */
    (void)recvmsg(-1, NULL, 0);
    srv->batch_reads = recv_batch_probe_reached();
    if (!srv->batch_reads) log_info("coap: datagrams are read one by one (recv_batch.h is not in front of libc)");
    libcoap_serving = 1;
    return srv;
}

void coap_server_stop(struct coap_server *srv)
{
    if (!srv) return;
    /* Held answers go now, after the commit they wait for. */
    if (srv->held) cse_commit(srv->cse);
    if (srv->held) release_held(srv, false);
    if (srv->holds) cse_off_commit(srv->cse, release_held, srv);
    if (srv->fd >= 0) loop_unwatch(srv->loop, srv->fd, LOOP_READABLE);
    if (srv->timer >= 0) loop_del_timer(srv->loop, srv->timer);
    /* Deferred requests are abandoned later by the CSE: they forget us and
     * their session, which goes with the context. */
    for (struct coap_job *j = srv->jobs; j; j = j->next) {
        if (j->timer >= 0) loop_del_timer(srv->loop, j->timer);
        j->timer = -1;
        if (j->session) coap_session_release(j->session);
        j->session = NULL;
        j->srv = NULL;
    }
    srv->jobs = NULL;
    libcoap_serving = 0;
    struct coap_parse_stats ps;
    coap_parse_hook_stats(&ps);
    if (srv->refused || ps.malformed)
        log_info("coap: %lld malformed datagrams and %lld requests refused for misbehaviour since "
                 "start", ps.malformed, srv->refused);
    dtls_forget_handshakes(srv->dtls);   /* libcoap frees only unreferenced sessions */
    if (srv->ctx) coap_free_context(srv->ctx);
    coap_blocks_free(srv->blocks);
    dtls_free(srv->dtls);
    coap_dedup_free(srv->dedup);
    free(srv);
    coap_cleanup();
}
