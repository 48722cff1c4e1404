/* handshake_bench (its OpenSSL twin) with a wolfSSL client, for what
 * OpenSSL 3.0's client cannot ask: TLS 1.3 psk_ke alone (tls13-psk-ke, also
 * with --resume: a psk_ke resumption), and to measure a server with the
 * client library of the m2m tool. Each round is connect, full TLS handshake
 * (or, with --resume, a resumption of the client's previous session), one
 * oneM2M RETRIEVE, close. --clients N such clients run at once
 * (bench_clients.h); bounded by --seconds. wolfSSL only (no OpenSSL here). */
#include "bench_clients.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct bench_tls_opts *opts;

static unsigned int client_psk(WOLFSSL *ssl, const char *hint, char *identity, unsigned int id_max,
                               unsigned char *key, unsigned int key_max)
{
    (void)ssl; (void)hint;
    if (strlen(opts->psk_id) >= id_max || opts->psk_len > key_max) return 0;
    strcpy(identity, opts->psk_id);
    memcpy(key, opts->psk, opts->psk_len);
    return opts->psk_len;
}

struct client {
    WOLFSSL_CTX *ctx;
    WOLFSSL_SESSION *last;     /* the session to resume (--resume) */
};

/* One connection: handshake, one request, check for a 200. */
static int one_round(void *state)
{
    struct client *c = state;
    int fd = bench_connect_tcp(opts->port);
    if (fd < 0) return -1;
    WOLFSSL *ssl = wolfSSL_new(c->ctx);
    wolfSSL_set_fd(ssl, fd);
    if (c->last) wolfSSL_set_session(ssl, c->last);
    wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, "localhost", 9);
    int ok = -1;
    char req[256], rsp[2048];
    int n = bench_retrieve(req, sizeof req, opts->origin);
    if (wolfSSL_connect(ssl) == WOLFSSL_SUCCESS && wolfSSL_write(ssl, req, n) == n) {
        int got = wolfSSL_read(ssl, rsp, sizeof rsp - 1);
        if (got > 12) { rsp[got] = 0; ok = strncmp(rsp, "HTTP/1.1 200", 12) ? -1 : 0; }
    }
    /* TLS 1.3 tickets arrive after the handshake: take the session last. */
    if (opts->resume && !ok) {
        wolfSSL_SESSION_free(c->last);
        c->last = wolfSSL_get1_session(ssl);
    }
    wolfSSL_shutdown(ssl);
    wolfSSL_free(ssl);
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
    wolfSSL_SESSION_free(c->last);
    free(c);
}

int main(int argc, char **argv)
{
    static struct bench_tls_opts o;
    if (bench_tls_opts(argc, argv, "handshake_bench_wolfssl", "tls13-cert|tls12-cert|tls13-psk|tls13-psk-ke|tls12-psk", &o))
        return 2;
    opts = &o;
    wolfSSL_Init();
    bool tls12 = !strncmp(o.mode, "tls12", 5);
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(tls12 ? wolfTLSv1_2_client_method() : wolfTLSv1_3_client_method());
    if (strstr(o.mode, "psk")) {
        wolfSSL_CTX_set_psk_client_callback(ctx, client_psk);
        if (tls12) wolfSSL_CTX_set_cipher_list(ctx, "ECDHE-PSK-AES128-CBC-SHA256");
        if (strstr(o.mode, "psk-ke")) wolfSSL_CTX_no_dhe_psk(ctx);   /* TLS 1.3 psk_ke: no ECDHE */
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
    } else if (!o.ca || wolfSSL_CTX_load_verify_locations(ctx, o.ca, NULL) != WOLFSSL_SUCCESS) {
        fprintf(stderr, "cannot load --ca\n");
        return 2;
    }
    /* Offer P-256 like common clients do (wolfSSL's own default list starts
     * with P-521, which a TLS 1.2 server then follows), or only X25519. */
    wolfSSL_CTX_UseSupportedCurve(ctx, o.x25519 ? WOLFSSL_ECC_X25519 : WOLFSSL_ECC_SECP256R1);
    /* Without --resume every round is a full handshake: no session cache,
     * no tickets. With it, each client resumes its own previous session. */
    if (!o.resume) wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    struct bench_client bc = { client_open, one_round, client_close, ctx };
    struct bench_result r = bench_run(&bc, o.clients, o.seconds, 100);
    char label[64];
    snprintf(label, sizeof label, "%s%s%s", o.mode, o.x25519 ? "-x25519" : "", o.resume ? "-resumed" : "");
    bench_report(label, &r, o.clients);
    wolfSSL_CTX_free(ctx);
    wolfSSL_Cleanup();
    return r.failures && !r.rounds ? 1 : 0;
}
