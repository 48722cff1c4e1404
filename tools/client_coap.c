/* CoAP and CoAPS transports for the m2m client (TS-0008 binding) on libcoap
 * with its OpenSSL DTLS backend: coaps:// takes --psk-id with its key (hex,
 * from a file or the environment: m2m.c) or --cert/--key, and verifies the
 * server against --ca. The oneM2M
 * options are sent and read here; coap_optfilter lets libcoap accept the
 * responses that carry them. No wolfSSL headers here. */
#include "client.h"

#include "../cse/wire/coap_map.h"
#include "../cse/wire/coap_optfilter.h"

#include <coap3/coap.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct exchange {
    struct client_response *rsp;
    bool done;
    bool failed;               /* the DTLS session broke down */
    bool connected;            /* the DTLS handshake completed */
    char location[1024];
};

static const int op_code[] = { 0, COAP_REQUEST_CODE_POST, COAP_REQUEST_CODE_GET, COAP_REQUEST_CODE_PUT,
                               COAP_REQUEST_CODE_DELETE, COAP_REQUEST_CODE_POST };

void client_coap_option(struct client_response *rsp, char *location, size_t cap, unsigned number,
                        const uint8_t *v, size_t len)
{
    if (number == M2MOPT_RSC) {
        uint32_t rsc = 0;
        for (size_t i = 0; i < len && i < 4; i++) rsc = rsc << 8 | v[i];
        rsp->rsc = (int)rsc;
    } else if (number == M2MOPT_ATI && !rsp->ati) {
        rsp->ati = strndup((const char *)v, len);
    } else if (number == COAPOPT_LOCATION_PATH) {
        size_t used = strlen(location);
        snprintf(location + used, cap - used, "%s%.*s", used ? "/" : "", (int)len, (const char *)v);
    }
}

static void read_options(const coap_pdu_t *pdu, struct exchange *x)
{
    coap_opt_iterator_t it;
    coap_opt_t *opt;
    coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
    while ((opt = coap_option_next(&it)))
        client_coap_option(x->rsp, x->location, sizeof x->location, it.number, coap_opt_value(opt),
                           coap_opt_length(opt));
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent,
                                   const coap_pdu_t *received, const coap_mid_t mid)
{
    (void)sent; (void)mid;
    struct exchange *x = coap_session_get_app_data(session);
    if (!x || x->done) return COAP_RESPONSE_OK;
    coap_pdu_code_t code = coap_pdu_get_code(received);
    x->rsp->status = (int)code;
    read_options(received, x);
    size_t len = 0, offset, total;
    const uint8_t *data = NULL;
    coap_get_data_large(received, &len, &data, &offset, &total);
    x->rsp->body = strndup(data ? (const char *)data : "", len);
    x->rsp->body_len = len;
    /* Location-Path segments back into an address: "~"/"_" mark SP-relative/absolute. */
    if (x->location[0]) {
        const char *l = x->location;
        if (!strncmp(l, "~/", 2)) x->rsp->location = strdup(l + 1);
        else if (!strncmp(l, "_/", 2)) {
            size_t n = strlen(l) + 1;
            if ((x->rsp->location = malloc(n))) snprintf(x->rsp->location, n, "/%s", l + 1);
        } else {
            x->rsp->location = strdup(l);
        }
    }
    x->done = true;
    return COAP_RESPONSE_OK;
}

/* A refused or broken DTLS handshake ends the wait at once. */
static int on_event(coap_session_t *session, const coap_event_t event)
{
    struct exchange *x = coap_session_get_app_data(session);
    if (x && (event == COAP_EVENT_DTLS_ERROR || event == COAP_EVENT_DTLS_CLOSED)) x->failed = true;
    if (x && event == COAP_EVENT_DTLS_CONNECTED) x->connected = true;
    return 0;
}

/* The oneM2M request as the CoAP codec writes it (coap_map.h), the same
 * as the CSE's own requests. NULL when it does not fit. */
static coap_optlist_t *request_options(const struct client_opts *o, const struct client_request *rq)
{
    char rqi[64];
    if (rq->rqi) snprintf(rqi, sizeof rqi, "%s", rq->rqi);
    else snprintf(rqi, sizeof rqi, "m2m-%ld-%d", (long)time(NULL), (int)getpid());
    struct m2m_request req = { .op = (enum m2m_op)rq->op, .to = (char *)rq->to, .rqi = rqi, .ty = rq->ty };
    client_fill_primitive(o, &req);
    struct coap_msg_out *m = malloc(sizeof *m);
    if (!m) return NULL;
    coap_msg_out_init(m);
    coap_optlist_t *list = NULL;
    if (!coap_request_from_primitive(&req, NULL, rq->query, rq->body != NULL, m))
        for (int i = 0; i < m->nopts; i++)
            coap_insert_optlist(&list, coap_new_optlist(m->opts[i].number, m->opts[i].len,
                                                        m->optbuf + m->opts[i].off));
    coap_msg_out_clear(m);
    free(m);
    return list;
}

static int hex_to_bytes(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(hex);
    if (!n || n % 2 || n / 2 > cap) return -1;
    for (size_t i = 0; i < n; i += 2) {
        unsigned b;
        if (sscanf(hex + i, "%2x", &b) != 1) return -1;
        out[i / 2] = (uint8_t)b;
    }
    *len = n / 2;
    return 0;
}

static coap_session_t *open_session(coap_context_t *ctx, const struct client_opts *o,
                                    const struct client_url *url, coap_address_t *dst,
                                    char *err, size_t errlen)
{
    if (!strcasecmp(url->scheme, "coap")) return coap_new_client_session(ctx, NULL, dst, COAP_PROTO_UDP);
    static uint8_t key[64];
    size_t key_len = 0;
    if (o->psk_identity) {
        if (!o->psk_key || hex_to_bytes(o->psk_key, key, sizeof key, &key_len)) {
            snprintf(err, errlen, "--psk-id needs its key (1 to 64 bytes in hex): --psk-key-file FILE or M2M_PSK_KEY");
            return NULL;
        }
        coap_dtls_cpsk_t psk = { .version = COAP_DTLS_CPSK_SETUP_VERSION, .client_sni = (char *)url->host };
        psk.psk_info.identity.s = (const uint8_t *)o->psk_identity;
        psk.psk_info.identity.length = strlen(o->psk_identity);
        psk.psk_info.key.s = key;
        psk.psk_info.key.length = key_len;
        return coap_new_client_session_psk2(ctx, NULL, dst, COAP_PROTO_DTLS, &psk);
    }
    if (!o->ca_file) {
        snprintf(err, errlen, "coaps needs --ca FILE (with --cert/--key) or a PSK (--psk-id with its key)");
        return NULL;
    }
    coap_dtls_pki_t pki = {
        .version = COAP_DTLS_PKI_SETUP_VERSION, .verify_peer_cert = 1, .check_common_ca = 1,
        .cert_chain_validation = 1, .cert_chain_verify_depth = 3, .client_sni = (char *)url->host,
    };
    pki.pki_key.key_type = COAP_PKI_KEY_PEM;
    pki.pki_key.key.pem.ca_file = o->ca_file;
    pki.pki_key.key.pem.public_cert = o->cert_file;
    pki.pki_key.key.pem.private_key = o->key_file ? o->key_file : o->cert_file;
    return coap_new_client_session_pki(ctx, NULL, dst, COAP_PROTO_DTLS, &pki);
}

static int resolve(const struct client_url *url, coap_address_t *dst, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM }, *ai = NULL;
    char port[8];
    snprintf(port, sizeof port, "%d", url->port);
    if (getaddrinfo(url->host, port, &hints, &ai) || !ai || ai->ai_addrlen > sizeof dst->addr) {
        if (ai) freeaddrinfo(ai);
        snprintf(err, errlen, "cannot resolve %s", url->host);
        return -1;
    }
    coap_address_init(dst);
    memcpy(&dst->addr, ai->ai_addr, ai->ai_addrlen);
    dst->size = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* The MEF handshake over CoAPS (client.h export_label): the DTLS handshake
 * first, then its keying material, before the request is built. */
static int export_material(coap_context_t *ctx, coap_session_t *session, const struct client_opts *o,
                           const struct client_url *url, struct exchange *x, char *err, size_t errlen)
{
    if (!o->export_label || !o->on_export || !strcasecmp(url->scheme, "coap")) return 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!x->connected && !x->failed && elapsed_ms(&t0) < client_handshake_timeout(o)) coap_io_process(ctx, 100);
    coap_tls_library_t lib;
    SSL *ssl = x->connected ? coap_session_get_tls(session, &lib) : NULL;
    unsigned char km[48];
    if (!ssl || lib != COAP_TLS_LIBRARY_OPENSSL ||
        SSL_export_keying_material(ssl, km, sizeof km, o->export_label, strlen(o->export_label), NULL, 0, 0) != 1) {
        snprintf(err, errlen, "DTLS handshake with %s:%d %s", url->host, url->port,
                 x->connected ? "gave no keying material to export" : "failed (credentials refused?)");
        return -1;
    }
    o->on_export(o->export_data, km, sizeof km);
    OPENSSL_cleanse(km, sizeof km);
    return 0;
}

int client_coap_send(const struct client_opts *o, const struct client_url *url,
                     const struct client_request *rq, struct client_response *rsp,
                     char *err, size_t errlen)
{
    if (rq->op < CLIENT_CREATE || rq->op > CLIENT_NOTIFY) { snprintf(err, errlen, "unknown operation"); return -1; }
    coap_startup();
    coap_set_log_level(o->verbose ? LOG_INFO : LOG_EMERG);
    coap_dtls_set_log_level(o->verbose ? LOG_INFO : LOG_EMERG);
    coap_address_t dst;
    coap_context_t *ctx = NULL;
    coap_session_t *session = NULL;
    struct exchange x = { .rsp = rsp };
    int rc = -1;
    if (resolve(url, &dst, err, errlen) || !(ctx = coap_new_context(NULL))) goto out;
    coap_optfilter_install(ctx);
    coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(ctx, on_response);
    coap_register_event_handler(ctx, on_event);
    if (!(session = open_session(ctx, o, url, &dst, err, errlen))) {
        if (!*err) snprintf(err, errlen, "cannot open a %s session to %s:%d", url->scheme, url->host, url->port);
        goto out;
    }
    coap_session_set_app_data(session, &x);
    if (export_material(ctx, session, o, url, &x, err, errlen)) goto out;
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, (coap_pdu_code_t)op_code[rq->op], session);
    uint8_t token[8];
    size_t tlen;
    coap_session_new_token(session, &tlen, token);
    coap_optlist_t *opts = request_options(o, rq);
    if (!pdu || !coap_add_token(pdu, tlen, token) || !coap_add_optlist_pdu(pdu, &opts)) {
        coap_delete_optlist(opts);
        snprintf(err, errlen, "cannot build the CoAP request");
        goto out;
    }
    coap_delete_optlist(opts);
    if (rq->body) coap_add_data_large_request(session, pdu, strlen(rq->body), (const uint8_t *)rq->body, NULL, NULL);
    if (coap_send(session, pdu) == COAP_INVALID_MID) {
        snprintf(err, errlen, "cannot send to %s:%d", url->host, url->port);
        goto out;
    }
    /* The handshake has its own, shorter bound (client.h: a wrong key is
     * dropped silently); then the request gets the rest of the timeout. */
    bool dtls = strcasecmp(url->scheme, "coap") != 0;
    int timeout = client_request_timeout(o), bound = dtls ? client_handshake_timeout(o) : timeout;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!x.done && !x.failed && elapsed_ms(&t0) < (dtls && !x.connected ? bound : timeout))
        coap_io_process(ctx, 100);
    if (x.done) rc = 0;
    else if (x.failed) snprintf(err, errlen, "DTLS handshake with %s:%d failed (credentials refused?)",
                                url->host, url->port);
    else if (dtls && !x.connected)
        snprintf(err, errlen, "DTLS handshake with %s:%d not completed within %d ms: the server did "
                 "not accept the credentials (a wrong PSK gets no answer in DTLS) or does not answer",
                 url->host, url->port, bound);
    else snprintf(err, errlen, "no %s response from %s:%d within %d ms", url->scheme, url->host, url->port, timeout);
out:
    if (session) coap_session_release(session);
    if (ctx) coap_free_context(ctx);
    coap_cleanup();
    return rc;
}
