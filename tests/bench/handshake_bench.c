/* Handshakes per second against a running m2m-cse HTTPS port, with an
 * OpenSSL client (the library most clients use): each round is connect,
 * full TLS handshake (or, with --resume, a resumption of the client's
 * previous session), one oneM2M RETRIEVE, close. --clients N such clients
 * run at once (bench_clients.h); bounded by --seconds. OpenSSL 3.0's client
 * always offers psk_dhe_ke: TLS 1.3 psk_ke is handshake_bench_wolfssl's. */
#include "bench_clients.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct bench_tls_opts *opts;

static unsigned int client_psk(SSL *ssl, const char *hint, char *identity, unsigned int id_max,
                               unsigned char *key, unsigned int key_max)
{
    (void)ssl; (void)hint;
    if (strlen(opts->psk_id) >= id_max || opts->psk_len > key_max) return 0;
    strcpy(identity, opts->psk_id);
    memcpy(key, opts->psk, opts->psk_len);
    return opts->psk_len;
}

struct client {
    SSL_CTX *ctx;
    SSL_SESSION *last;     /* the session to resume (--resume) */
};

/* One connection: handshake, one request, check for a 200. */
static int one_round(void *state)
{
    struct client *c = state;
    int fd = bench_connect_tcp(opts->port);
    if (fd < 0) return -1;
    SSL *ssl = SSL_new(c->ctx);
    SSL_set_fd(ssl, fd);
    if (c->last) SSL_set_session(ssl, c->last);
    SSL_set_tlsext_host_name(ssl, "localhost");
    int ok = -1;
    char req[256], rsp[2048];
    int n = bench_retrieve(req, sizeof req, opts->origin);
    if (SSL_connect(ssl) == 1 && SSL_write(ssl, req, n) == n) {
        /* TLS 1.3 tickets come after the handshake: the read takes them. */
        int got = SSL_read(ssl, rsp, sizeof rsp - 1);
        if (got > 12) { rsp[got] = 0; ok = strncmp(rsp, "HTTP/1.1 200", 12) ? -1 : 0; }
    }
    if (opts->resume && !ok) {
        SSL_SESSION_free(c->last);
        c->last = SSL_get1_session(ssl);
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ERR_clear_error();
    close(fd);
    return ok;
}

static void *client_open(void *cfg)
{
    struct client *c = calloc(1, sizeof *c);
    if (c) c->ctx = cfg;
    return c;
}

static void client_close(void *state)
{
    struct client *c = state;
    SSL_SESSION_free(c->last);
    free(c);
}

int main(int argc, char **argv)
{
    static struct bench_tls_opts o;
    if (bench_tls_opts(argc, argv, "handshake_bench", "tls13-cert|tls12-cert|tls13-psk|tls12-psk|tls12-psk-plain", &o))
        return 2;
    opts = &o;
    bool tls12 = !strncmp(o.mode, "tls12", 5);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    if (strstr(o.mode, "psk")) {
        SSL_CTX_set_psk_client_callback(ctx, client_psk);
        if (tls12) SSL_CTX_set_cipher_list(ctx, strstr(o.mode, "plain") ? "PSK-AES128-CBC-SHA256" : "ECDHE-PSK-AES128-CBC-SHA256");
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else if (!o.ca || SSL_CTX_load_verify_locations(ctx, o.ca, NULL) != 1) {
        fprintf(stderr, "cannot load --ca\n");
        return 2;
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    SSL_CTX_set1_groups_list(ctx, o.x25519 ? "X25519" : "P-256");
    /* Without --resume every round is a full handshake: no session cache,
     * no tickets. With it, each client resumes its own previous session. */
    if (!o.resume) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    struct bench_client bc = { client_open, one_round, client_close, ctx };
    struct bench_result r = bench_run(&bc, o.clients, o.seconds, 100);
    char label[64];
    snprintf(label, sizeof label, "%s%s%s", o.mode, o.x25519 ? "-x25519" : "", o.resume ? "-resumed" : "");
    bench_report(label, &r, o.clients);
    SSL_CTX_free(ctx);
    return r.failures && !r.rounds ? 1 : 0;
}
