/* libcoap glue of the CoAP binding: context and endpoints, event-loop
 * integration, request handler, duplicate detection. The CoAP <-> primitive
 * rules are in coap_map.c; the oneM2M option acceptance in coap_optfilter.c. */
#include "coap.h"

#include "coap_dedup.h"
#include "coap_map.h"
#include "coap_optfilter.h"
#include "cse.h"
#include "log.h"
#include "loop.h"
#include "rsc.h"
#include "../security/dtls.h"
#include "../security/saef.h"

#include <coap3/coap.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COAP_TIMER_MS 100          /* libcoap timeouts are checked this often */
#define DEDUP_MAX_BYTES (16u << 20)

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
};

/* ---- libcoap logging into ours ------------------------------------------ */

/* libcoap warns once per malformed datagram: a remote peer could flood our
 * log, so its warnings are debug output and only its errors are shown. */
static void libcoap_log(coap_log_t level, const char *message)
{
    size_t n = strlen(message);
    while (n && message[n - 1] == '\n') n--;
    if (level <= LOG_CRIT) log_error("libcoap: %.*s", (int)n, message);
    else if (level <= LOG_ERR) log_warn("libcoap: %.*s", (int)n, message);
    else log_debug("libcoap: %.*s", (int)n, message);
}

/* ---- request handling --------------------------------------------------- */

/* "ip:port" of the remote end, the duplicate-detection key with the MID. */
static void peer_name(coap_session_t *session, struct m2m_peer *peer, char *key, size_t keylen)
{
    const coap_address_t *a = coap_session_get_addr_remote(session);
    peer->ip[0] = 0;
    peer->port = 0;
    if (a && a->addr.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &a->addr.sin.sin_addr, peer->ip, sizeof peer->ip);
        peer->port = ntohs(a->addr.sin.sin_port);
    } else if (a && a->addr.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &a->addr.sin6.sin6_addr, peer->ip, sizeof peer->ip);
        peer->port = ntohs(a->addr.sin6.sin6_port);
    }
    snprintf(key, keylen, "%d|%s|%d", (int)coap_session_get_proto(session), peer->ip, peer->port);
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
    coap_opt_iterator_t it;
    coap_opt_t *opt;
    in->code = coap_pdu_get_code(pdu);
    coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
    while ((opt = coap_option_next(&it))) {
        if (in->nopts == COAP_MAP_MAX_OPTS) {
            in->too_many_opts = true;
            break;
        }
        struct coap_option_in *o = &in->opts[in->nopts++];
        o->number = (uint16_t)it.number;
        o->value = coap_opt_value(opt);
        o->len = coap_opt_length(opt);
    }
    size_t len = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    if (coap_get_data_large(pdu, &len, &data, &offset, &total) && data) {
        in->payload = data;
        in->payload_len = len;
    }
}

/* Requests refused at the CoAP level still get a mapped reply (RQI, RSC
 * 4000) with a CoAP code of their own. Returns that code or 0. */
static int transport_refusal(const struct coap_server *srv, const coap_pdu_t *pdu,
                             const struct coap_msg_in *in, char *why, size_t whylen)
{
    /* Like HTTP's 413; libcoap has assembled the Block1 body by now. */
    if ((int64_t)in->payload_len > srv->max_body) {
        snprintf(why, whylen, "payload of %zu bytes exceeds max-body %lld", in->payload_len,
                 (long long)srv->max_body);
        return COAP_RESPONSE_CODE(413);
    }
    /* A Block2 continuation reaches us only when libcoap no longer holds the
     * response; running a non-GET primitive again would repeat its effect. */
    coap_block_t b;
    if (in->code != COAP_M_GET && coap_get_block(pdu, COAP_OPTION_BLOCK2, &b) && b.num > 0) {
        snprintf(why, whylen, "Block2 continuation of a response no longer held; repeat the "
                 "request without Block2");
        return COAP_RESPONSE_CODE(408);
    }
    return 0;
}

/* A request being served. When the dispatcher defers it (a subscription's
 * verification, a NOTIFY forwarded to an AE), libcoap answers CON with an
 * empty ACK and this job waits, registered as libcoap "async" state under the
 * request's token; the answer goes out as a separate response. */
struct coap_job {
    struct coap_job *next;         /* in srv->jobs while deferred */
    struct coap_server *srv;       /* NULL once the server stopped */
    struct m2m_request req;
    struct m2m_response rsp;
    coap_async_t *async;           /* NULL: no async state could be kept */
    char key[80];                  /* duplicate-detection key and MID of the request */
    uint16_t mid;
    struct coap_msg_out *out;      /* the answer, once known */
};

static void job_free(struct coap_job *j)
{
    if (!j) return;
    if (j->srv)
        for (struct coap_job **p = &j->srv->jobs; *p; p = &(*p)->next)
            if (*p == j) { *p = j->next; break; }
    m2m_response_clear(&j->rsp);
    m2m_request_clear(&j->req);
    if (j->out) {
        coap_msg_out_clear(j->out);
        free(j->out);
    }
    free(j);
}

static int64_t kick(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct coap_server *srv = data;
    coap_io_process(srv->ctx, COAP_IO_NO_WAIT);
    return -1;
}

/* libcoap sends a reply when the handler returns: the round's writes must
 * be durable first (group commit, cse.h); a failed commit turns success into 5000. */
static void commit_before_reply(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp)
{
    if (cse_commit(cse) && rsc_is_success(rsp->rsc)) {
        m2m_response_clear(rsp);
        rsp->rqi = req->rqi;
        m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the change could not be stored");
    }
}

/* The deferred answer is ready: libcoap calls on_request again with the
 * request, which then sends it (see on_request). Like any answer it waits
 * for the commit of what it wrote. */
static void answer_later(void *data)
{
    struct coap_job *j = data;
    if (!j->srv || !j->async) { job_free(j); return; }
    commit_before_reply(j->srv->cse, &j->req, &j->rsp);
    j->out = malloc(sizeof *j->out);
    if (j->out) {
        coap_msg_out_init(j->out);
        coap_from_primitive(&j->req, &j->rsp, j->out);
    }
    coap_async_trigger(j->async);
    loop_add_timer(j->srv->loop, 0, kick, j->srv); /* send now, not at the next tick */
}

static void abandon(void *data)
{
    job_free(data);
}

/* Returns 1 when the answer comes later (the job then lives on), else 0
 * with out filled. */
static int serve(struct coap_server *srv, coap_session_t *session, const coap_pdu_t *pdu,
                 struct coap_msg_in *in, struct coap_job *j, struct coap_msg_out *out)
{
    struct m2m_request *req = &j->req;
    struct m2m_response *rsp = &j->rsp;
    session_security(session, req);
    char why[160];
    int refused = transport_refusal(srv, pdu, in, why, sizeof why);
    if (refused) in->payload_len = 0;   /* still map the options, for the RQI */
    if (!coap_to_primitive(in, req, rsp)) {
        if (refused) m2m_error(rsp, RSC_BAD_REQUEST, "%s", why);
        else if (cse_dispatch_async(srv->cse, req, rsp, answer_later, abandon, j)) return 1;
    }
    commit_before_reply(srv->cse, req, rsp);
    coap_from_primitive(req, rsp, out);
    if (refused) out->code = refused;
    if (refused == COAP_RESPONSE_CODE(408)) {
        /* libcoap would cut a payload to the Block2 piece asked for, which
         * does not exist: the explanation goes to the log instead. */
        log_debug("coap: %s", why);
        free(out->payload);
        out->payload = NULL;
        out->payload_len = 0;
        out->content_format = -1;
    }
    return 0;
}

static void release_payload(coap_session_t *session, void *data)
{
    (void)session;
    free(data);
}

static void write_response(coap_resource_t *resource, coap_session_t *session,
                           const coap_pdu_t *request, const coap_string_t *query,
                           coap_pdu_t *response, const struct coap_msg_out *out)
{
    coap_pdu_set_code(response, (coap_pdu_code_t)out->code);
    for (int i = 0; i < out->nopts; i++)
        coap_add_option(response, out->opts[i].number, out->opts[i].len,
                        out->optbuf + out->opts[i].off);
    if (!out->payload_len) return;
    /* libcoap keeps the body until a Block2 transfer ends: give it its own copy. */
    uint8_t *body = malloc(out->payload_len);
    if (!body) {
        coap_pdu_set_code(response, COAP_RESPONSE_CODE(500));
        return;
    }
    memcpy(body, out->payload, out->payload_len);
    /* Max-Age 0: a oneM2M resource must not be served from a CoAP cache. */
    if (!coap_add_data_large_response(resource, session, request, response, query,
                                      (uint16_t)out->content_format, 0, 0, out->payload_len,
                                      body, release_payload, body))
        log_warn("coap: cannot attach a %zu byte response body", out->payload_len);
}

/* The second call for a deferred request (its async state triggered):
 * sends the answer, which the duplicate cache keeps from now on. */
static void send_deferred(struct coap_server *srv, coap_async_t *async, coap_resource_t *resource,
                          coap_session_t *session, const coap_pdu_t *request,
                          const coap_string_t *query, coap_pdu_t *response)
{
    struct coap_job *j = coap_async_get_app_data(async);
    coap_async_set_app_data(async, NULL);
    if (!j || !j->out) {
        coap_pdu_set_code(response, COAP_RESPONSE_CODE(500));
        job_free(j);
        return;
    }
    write_response(resource, session, request, query, response, j->out);
    coap_dedup_put(srv->dedup, j->key, j->mid, j->out, loop_now_ms());
    j->out = NULL;
    job_free(j);
    /* libcoap drops the async state when this handler returns. */
}

/* A deferred request: CON gets an empty ACK now (libcoap sends it when no
 * code is set) and retransmissions of it are ACKed by libcoap without
 * reaching us, so the primitive runs once. */
static void defer(struct coap_server *srv, struct coap_job *j, coap_session_t *session,
                  const coap_pdu_t *request, coap_pdu_t *response)
{
    j->srv = srv;
    j->next = srv->jobs;
    srv->jobs = j;
    j->async = coap_register_async(session, request, 0);
    if (!j->async) {
        /* Cannot wait for it: the request still completes, unanswered here. */
        log_warn("coap: cannot keep async state for mid 0x%04x", j->mid);
        coap_pdu_set_code(response, COAP_RESPONSE_CODE(503));
        return;
    }
    coap_async_set_app_data(j->async, j);
}

static void on_request(coap_resource_t *resource, coap_session_t *session,
                       const coap_pdu_t *request, const coap_string_t *query,
                       coap_pdu_t *response)
{
    struct coap_server *srv = coap_get_app_data(coap_session_get_context(session));
    coap_async_t *async = coap_find_async(session, coap_pdu_get_token(request));
    if (async) {
        send_deferred(srv, async, resource, session, request, query, response);
        return;
    }
    struct coap_job *j = calloc(1, sizeof *j);
    if (!j) {
        coap_pdu_set_code(response, COAP_RESPONSE_CODE(500));
        return;
    }
    m2m_request_init(&j->req);
    m2m_response_init(&j->rsp);
    peer_name(session, &j->req.peer, j->key, sizeof j->key);
    j->mid = (uint16_t)coap_pdu_get_mid(request);
    int64_t now = loop_now_ms();

    const struct coap_msg_out *seen = coap_dedup_find(srv->dedup, j->key, j->mid, now);
    if (seen) {
        log_debug("coap: duplicate mid 0x%04x from %s:%d answered from cache", j->mid,
                  j->req.peer.ip, j->req.peer.port);
        write_response(resource, session, request, query, response, seen);
        job_free(j);
        return;
    }
    struct coap_msg_out *out = malloc(sizeof *out);
    struct coap_msg_in *in = out ? calloc(1, sizeof *in) : NULL;
    if (!in) {
        free(out);
        job_free(j);
        coap_pdu_set_code(response, COAP_RESPONSE_CODE(500));
        return;
    }
    coap_msg_out_init(out);
    read_request(request, in);
    int later = serve(srv, session, request, in, j, out);
    free(in);
    if (later) {
        free(out);
        defer(srv, j, session, request, response);
        return;
    }
    write_response(resource, session, request, query, response, out);
    coap_dedup_put(srv->dedup, j->key, j->mid, out, now);
    job_free(j);
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

static int configure_context(struct coap_server *srv, const struct coap_options *opt)
{
    srv->ctx = coap_new_context(NULL);
    if (!srv->ctx) return -1;
    coap_set_app_data(srv->ctx, srv);
    coap_optfilter_install(srv->ctx);
    coap_context_set_block_mode(srv->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
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
    srv->dtls = dtls_setup(srv->ctx, &srv->cse->cfg, srv->cse->creds);
    if (!srv->dtls || add_endpoint(srv, opt->host, opt->secure_port, COAP_PROTO_DTLS)) return -1;
    log_info("CoAPS (DTLS 1.2) on %s:%d", opt->host, opt->secure_port);
    return 0;
}

/* Proves at start that libcoap accepts oneM2M options in this process, i.e.
 * that the interposition of coap_optfilter.c is effective: one NON request
 * carrying three oneM2M options (RVI, FR, RQI) is sent to our own endpoint.
 * It has no target, so the dispatcher answers it 4000 and nothing changes. */
static int self_test(struct coap_server *srv)
{
    static const uint8_t probe[] = {
        0x50, 0x01, 0x00, 0x01,             /* v1 NON GET, MID 1, no token */
        0xe1, 0x00, 0x02, '3',              /* 271 oneM2M-RVI "3" */
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
    for (int i = 0; i < 100 && !coap_optfilter_active(); i++) coap_io_process(srv->ctx, 10);
    close(fd);
    if (coap_optfilter_active()) return 0;
    log_error("coap: libcoap rejects oneM2M options in this process (the coap_option_filter_get "
              "interposition is not effective, see docs/coap.md); refusing to serve CoAP");
    return -1;
}

static void on_readable(struct loop *loop, int fd, void *data, int mask)
{
    (void)loop; (void)fd; (void)mask;
    struct coap_server *srv = data;
    coap_io_process(srv->ctx, COAP_IO_NO_WAIT);
}

static int64_t on_timer(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct coap_server *srv = data;
    coap_io_process(srv->ctx, COAP_IO_NO_WAIT);
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
    srv->dedup = coap_dedup_new(opt->dedup_entries, DEDUP_MAX_BYTES, COAP_EXCHANGE_LIFETIME_MS);
    if (!srv->dedup || configure_context(srv, opt) || open_endpoints(srv, opt) ||
        self_test(srv) || watch_loop(srv)) {
        coap_server_stop(srv);
        return NULL;
    }
    return srv;
}

void coap_server_stop(struct coap_server *srv)
{
    if (!srv) return;
    if (srv->fd >= 0) loop_unwatch(srv->loop, srv->fd, LOOP_READABLE);
    if (srv->timer >= 0) loop_del_timer(srv->loop, srv->timer);
    /* Deferred requests are abandoned later by the CSE: they forget us. */
    for (struct coap_job *j = srv->jobs; j; j = j->next) j->srv = NULL;
    srv->jobs = NULL;
    if (srv->ctx) coap_free_context(srv->ctx);
    dtls_free(srv->dtls);
    coap_dedup_free(srv->dedup);
    free(srv);
    coap_cleanup();
}
