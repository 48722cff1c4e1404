/* DTLS handshakes per second against a running m2m-cse CoAPS port: each
 * round opens a new client session (new socket, full DTLS 1.2 handshake
 * with cookie exchange), sends one oneM2M RETRIEVE and waits for its answer.
 * --clients N such clients run at once (bench_clients.h); bounded by
 * --seconds. libcoap (OpenSSL backend) only. */
#include "bench_clients.h"
#include "cse/wire/coap_optfilter.h"

#include <coap3/coap.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int answered;

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcvd,
                                   const coap_mid_t mid)
{
    (void)s; (void)sent; (void)mid;
    answered = coap_pdu_get_code(rcvd) == COAP_RESPONSE_CODE_CONTENT ? 1 : -1;
    return COAP_RESPONSE_OK;
}

static coap_session_t *open_session(coap_context_t *ctx, coap_address_t *dst, const char *mode,
                                    const char *psk_id, const char *psk_key, const char *ca,
                                    const char *cert, const char *key)
{
    if (!strcmp(mode, "dtls-psk")) {
        coap_dtls_cpsk_t psk = { .version = COAP_DTLS_CPSK_SETUP_VERSION };
        psk.psk_info.identity.s = (const uint8_t *)psk_id;
        psk.psk_info.identity.length = strlen(psk_id);
        psk.psk_info.key.s = (const uint8_t *)psk_key;
        psk.psk_info.key.length = strlen(psk_key);
        return coap_new_client_session_psk2(ctx, NULL, dst, COAP_PROTO_DTLS, &psk);
    }
    coap_dtls_pki_t pki = {
        .version = COAP_DTLS_PKI_SETUP_VERSION, .verify_peer_cert = 1, .check_common_ca = 1,
        .cert_chain_validation = 1, .cert_chain_verify_depth = 3,
    };
    pki.pki_key.key_type = COAP_PKI_KEY_PEM;
    pki.pki_key.key.pem.ca_file = ca;
    pki.pki_key.key.pem.public_cert = cert;
    pki.pki_key.key.pem.private_key = key;
    return coap_new_client_session_pki(ctx, NULL, dst, COAP_PROTO_DTLS, &pki);
}

static void add_str(coap_optlist_t **l, uint16_t num, const char *s)
{
    coap_insert_optlist(l, coap_new_optlist(num, strlen(s), (const uint8_t *)s));
}

static int one_round(coap_context_t *ctx, coap_session_t *session, const char *origin)
{
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, session);
    uint8_t token[8];
    size_t tlen;
    coap_session_new_token(session, &tlen, token);
    coap_optlist_t *opts = NULL;
    add_str(&opts, COAP_OPTION_URI_PATH, "cse-in");
    add_str(&opts, 271, "3");                 /* oneM2M-RVI */
    add_str(&opts, 279, origin);              /* oneM2M-FR */
    add_str(&opts, 283, "bench");             /* oneM2M-RQI */
    int ok = pdu && coap_add_token(pdu, tlen, token) && coap_add_optlist_pdu(pdu, &opts);
    coap_delete_optlist(opts);
    if (!ok || coap_send(session, pdu) == COAP_INVALID_MID) return -1;
    answered = 0;
    double end = bench_now() + 5;
    while (!answered && bench_now() < end) coap_io_process(ctx, 50);
    return answered == 1 ? 0 : -1;
}

struct client_cfg {
    coap_address_t dst;
    const char *mode, *psk_id, *psk_key, *ca, *cert, *key, *origin;
};

struct client {
    struct client_cfg cfg;
    coap_context_t *ctx;
};

static void *client_open(void *cfg)
{
    struct client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cfg = *(struct client_cfg *)cfg;
    c->ctx = coap_new_context(NULL);
    if (!c->ctx) { free(c); return NULL; }
    coap_optfilter_install(c->ctx);
    coap_register_response_handler(c->ctx, on_response);
    return c;
}

/* A new client session (new socket, full handshake), one request, released. */
static int client_round(void *state)
{
    struct client *c = state;
    struct client_cfg *g = &c->cfg;
    coap_session_t *s = open_session(c->ctx, &g->dst, g->mode, g->psk_id, g->psk_key, g->ca, g->cert, g->key);
    int rc = s ? one_round(c->ctx, s, g->origin) : -1;
    if (s) coap_session_release(s);
    return rc;
}

static void client_close(void *state)
{
    struct client *c = state;
    coap_free_context(c->ctx);
    free(c);
}

int main(int argc, char **argv)
{
    int port = 0, clients = 1;
    double seconds = 2;
    const char *mode = "dtls-psk", *psk = NULL, *ca = NULL, *cert = NULL, *key = NULL, *origin = "CAdmin";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
        else if (!strcmp(argv[i], "--psk-id")) psk = argv[i + 1];
        else if (!strcmp(argv[i], "--ca")) ca = argv[i + 1];
        else if (!strcmp(argv[i], "--cert")) cert = argv[i + 1];
        else if (!strcmp(argv[i], "--key")) key = argv[i + 1];
        else if (!strcmp(argv[i], "--origin")) origin = argv[i + 1];
        else if (!strcmp(argv[i], "--clients")) clients = atoi(argv[i + 1]);
    }
    /* The key, in hex, from the environment: never on the command line. */
    const char *hex = getenv("M2M_PSK_KEY");
    static char psk_key[65];
    for (size_t i = 0; hex && hex[i] && hex[i + 1] && i / 2 < sizeof psk_key - 1; i += 2) {
        unsigned int b;
        if (sscanf(hex + i, "%2x", &b) != 1 || !b) break;
        psk_key[i / 2] = (char)b;
    }
    bool pki = !strcmp(mode, "dtls-cert");
    if (!port || seconds <= 0 || seconds > 60 || clients < 1 || clients > 64 || (!pki && (!psk || !psk_key[0])) ||
        (pki && (!ca || !cert || !key))) {
        fprintf(stderr, "usage: handshake_bench_dtls --port P [--mode dtls-psk --psk-id ID |\n"
                        "       --mode dtls-cert --ca F --cert F --key F] [--origin O] [--seconds S<=60]\n"
                        "       [--clients N<=64]\n"
                        "dtls-psk takes the key (hex, no zero bytes) from $M2M_PSK_KEY.\n");
        return 2;
    }
    char psk_id[128] = "";
    if (psk) snprintf(psk_id, sizeof psk_id, "%s", psk);
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    coap_dtls_set_log_level(LOG_EMERG);
    struct client_cfg cfg = { .mode = mode, .psk_id = psk_id, .psk_key = psk_key, .ca = ca, .cert = cert,
                              .key = key, .origin = origin };
    coap_address_init(&cfg.dst);
    cfg.dst.addr.sin.sin_family = AF_INET;
    cfg.dst.addr.sin.sin_port = htons((uint16_t)port);
    cfg.dst.addr.sin.sin_addr.s_addr = htonl(0x7f000001);
    cfg.dst.size = sizeof cfg.dst.addr.sin;
    struct bench_client bc = { client_open, client_round, client_close, &cfg };
    struct bench_result r = bench_run(&bc, clients, seconds, 20);
    bench_report(mode, &r, clients);
    coap_cleanup();
    return r.failures && !r.rounds ? 1 : 0;
}
