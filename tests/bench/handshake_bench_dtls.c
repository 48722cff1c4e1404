/* DTLS handshakes per second against a running m2m-cse CoAPS port: each
 * round opens a new client session (new socket, full DTLS 1.2 handshake
 * with cookie exchange), sends one oneM2M RETRIEVE and waits for its answer.
 * --clients N such clients run at once (bench_clients.h); bounded by
 * --seconds. Full handshakes go through libcoap (OpenSSL backend), as a
 * device would; --resume yes resumes each client's previous session, which
 * libcoap 4.3.1's client cannot offer, so those rounds use OpenSSL directly
 * (a round that was not resumed counts as failed). */
#include "bench_clients.h"
#include "cse/wire/coap_optfilter.h"

#include <coap3/coap.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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
    bool resume;
};

struct client {
    struct client_cfg cfg;
    coap_context_t *ctx;
    SSL_CTX *ssl_ctx;          /* --resume: OpenSSL's own client */
    SSL_SESSION *session;      /* the session the next round resumes */
};

static const struct client_cfg *psk_cfg;   /* for the PSK callback (one per client process) */

static unsigned int client_psk(SSL *ssl, const char *hint, char *identity, unsigned int id_max,
                               unsigned char *key, unsigned int key_max)
{
    (void)ssl; (void)hint;
    size_t id_len = strlen(psk_cfg->psk_id), key_len = strlen(psk_cfg->psk_key);
    if (id_len >= id_max || key_len > key_max) return 0;
    memcpy(identity, psk_cfg->psk_id, id_len + 1);
    memcpy(key, psk_cfg->psk_key, key_len);
    return (unsigned int)key_len;
}

static SSL_CTX *resume_ctx(const struct client_cfg *g)
{
    SSL_CTX *ctx = SSL_CTX_new(DTLS_client_method());
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    bool ok;
    if (!strcmp(g->mode, "dtls-psk")) {
        psk_cfg = g;
        SSL_CTX_set_psk_client_callback(ctx, client_psk);
        ok = SSL_CTX_set_cipher_list(ctx, "PSK-AES128-CCM8") == 1;
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        ok = SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-CCM8") == 1 &&
             SSL_CTX_load_verify_locations(ctx, g->ca, NULL) == 1 &&
             SSL_CTX_use_certificate_chain_file(ctx, g->cert) == 1 &&
             SSL_CTX_use_PrivateKey_file(ctx, g->key, SSL_FILETYPE_PEM) == 1;
    }
    if (!ok) { SSL_CTX_free(ctx); return NULL; }
    return ctx;
}

/* One CoAP option (RFC 7252 3.1), after the option numbered *last. */
static size_t put_option(uint8_t *p, unsigned *last, unsigned num, const char *v)
{
    size_t len = strlen(v), n = 1;
    unsigned delta = num - *last;
    uint8_t dn = delta < 13 ? (uint8_t)delta : delta < 269 ? 13 : 14;
    uint8_t ln = len < 13 ? (uint8_t)len : 13;
    p[0] = (uint8_t)(dn << 4 | ln);
    if (dn == 13) p[n++] = (uint8_t)(delta - 13);
    if (dn == 14) { p[n++] = (uint8_t)((delta - 269) >> 8); p[n++] = (uint8_t)(delta - 269); }
    if (ln == 13) p[n++] = (uint8_t)(len - 13);
    memcpy(p + n, v, len);
    *last = num;
    return n + len;
}

/* A new UDP socket, a DTLS handshake offering the previous session, one
 * RETRIEVE of the CSEBase. */
static int resume_round(struct client *c)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = { .tv_sec = 2 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, &c->cfg.dst.addr.sa, c->cfg.dst.size)) { close(fd); return -1; }
    SSL *ssl = SSL_new(c->ssl_ctx);
    BIO *bio = BIO_new_dgram(fd, BIO_NOCLOSE);
    int rc = -1;
    if (!ssl || !bio) goto out;
    BIO_ctrl_set_connected(bio, &c->cfg.dst.addr.sa);
    SSL_set_bio(ssl, bio, bio);
    bio = NULL;
    bool offered = c->session != NULL;
    if (offered) SSL_set_session(ssl, c->session);
    if (SSL_connect(ssl) != 1) goto out;
    uint8_t pdu[256] = { 0x44, 0x01, 0x12, 0x34, 'b', 'e', 'n', 'c' }, answer[2048];
    unsigned last = 0;
    size_t n = 8;
    if (strlen(c->cfg.origin) > 200) goto out;
    n += put_option(pdu + n, &last, COAP_OPTION_URI_PATH, "cse-in");
    n += put_option(pdu + n, &last, 271, "3");               /* oneM2M-RVI */
    n += put_option(pdu + n, &last, 279, c->cfg.origin);     /* oneM2M-FR */
    n += put_option(pdu + n, &last, 283, "bench");           /* oneM2M-RQI */
    if (SSL_write(ssl, pdu, (int)n) != (int)n) goto out;
    int got = SSL_read(ssl, answer, sizeof answer);
    /* 2.05 Content, and a resumption whenever a session was offered */
    rc = got > 4 && answer[1] == 0x45 && (!offered || SSL_session_reused(ssl)) ? 0 : -1;
    SSL_SESSION_free(c->session);
    c->session = SSL_get1_session(ssl);
    SSL_shutdown(ssl);
out:
    ERR_clear_error();
    BIO_free(bio);
    SSL_free(ssl);
    close(fd);
    return rc;
}

static void *client_open(void *cfg)
{
    struct client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cfg = *(struct client_cfg *)cfg;
    if (c->cfg.resume) {
        c->ssl_ctx = resume_ctx(&c->cfg);
        if (!c->ssl_ctx) { free(c); return NULL; }
        return c;
    }
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
    if (c->ssl_ctx) return resume_round(c);
    struct client_cfg *g = &c->cfg;
    coap_session_t *s = open_session(c->ctx, &g->dst, g->mode, g->psk_id, g->psk_key, g->ca, g->cert, g->key);
    int rc = s ? one_round(c->ctx, s, g->origin) : -1;
    if (s) coap_session_release(s);
    return rc;
}

static void client_close(void *state)
{
    struct client *c = state;
    if (c->ctx) coap_free_context(c->ctx);
    SSL_SESSION_free(c->session);
    SSL_CTX_free(c->ssl_ctx);
    free(c);
}

int main(int argc, char **argv)
{
    int port = 0, clients = 1;
    double seconds = 2;
    bool resume = false;
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
        else if (!strcmp(argv[i], "--resume")) resume = !strcmp(argv[i + 1], "yes");
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
                        "       [--clients N<=64] [--resume yes|no]\n"
                        "dtls-psk takes the key (hex, no zero bytes) from $M2M_PSK_KEY.\n");
        return 2;
    }
    char psk_id[128] = "";
    if (psk) snprintf(psk_id, sizeof psk_id, "%s", psk);
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    coap_dtls_set_log_level(LOG_EMERG);
    struct client_cfg cfg = { .mode = mode, .psk_id = psk_id, .psk_key = psk_key, .ca = ca, .cert = cert,
                              .key = key, .origin = origin, .resume = resume };
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
