/* Handshakes per second against a running m2m-cse HTTPS port: each round is
 * connect, full TLS handshake (or, with --resume, a resumption of the
 * client's previous session), one oneM2M RETRIEVE, close. --clients N such
 * clients run at once (bench_clients.h); bounded by --seconds. wolfSSL only
 * (no OpenSSL here). */
#include "bench_clients.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *psk_identity;
static unsigned char psk_key[64];
static unsigned int psk_len;

static unsigned int client_psk(WOLFSSL *ssl, const char *hint, char *identity, unsigned int id_max,
                               unsigned char *key, unsigned int key_max)
{
    (void)ssl; (void)hint;
    if (strlen(psk_identity) >= id_max || psk_len > key_max) return 0;
    strcpy(identity, psk_identity);
    memcpy(key, psk_key, psk_len);
    return psk_len;
}

static int connect_tcp(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) { close(fd); return -1; }
    return fd;
}

struct client {
    WOLFSSL_CTX *ctx;
    int port;
    const char *origin;
    bool resume;
    WOLFSSL_SESSION *last;     /* the session to resume (--resume) */
};

/* One connection: handshake, one request, check for a 200. */
static int one_round(void *state)
{
    struct client *c = state;
    int fd = connect_tcp(c->port);
    if (fd < 0) return -1;
    WOLFSSL *ssl = wolfSSL_new(c->ctx);
    wolfSSL_set_fd(ssl, fd);
    if (c->last) wolfSSL_set_session(ssl, c->last);
    wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, "localhost", 9);
    int ok = -1;
    char req[256], rsp[2048];
    int n = snprintf(req, sizeof req, "GET /cse-in HTTP/1.1\r\nHost: localhost\r\nX-M2M-Origin: %s\r\n"
                     "X-M2M-RI: b\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n", c->origin);
    if (wolfSSL_connect(ssl) == WOLFSSL_SUCCESS && wolfSSL_write(ssl, req, n) == n) {
        int got = wolfSSL_read(ssl, rsp, sizeof rsp - 1);
        if (got > 12) { rsp[got] = 0; ok = strncmp(rsp, "HTTP/1.1 200", 12) ? -1 : 0; }
    }
    /* TLS 1.3 tickets arrive after the handshake: take the session last. */
    if (c->resume && !ok) {
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
    struct client *c = malloc(sizeof *c);
    if (c) *c = *(struct client *)cfg;
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
    int port = 0, clients = 1;
    bool resume = false, x25519 = false;
    double seconds = 2;
    const char *mode = "tls13-cert", *ca = NULL, *psk = NULL, *origin = "CAdmin";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
        else if (!strcmp(argv[i], "--ca")) ca = argv[i + 1];
        else if (!strcmp(argv[i], "--psk-id")) psk = argv[i + 1];
        else if (!strcmp(argv[i], "--origin")) origin = argv[i + 1];
        else if (!strcmp(argv[i], "--clients")) clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--resume")) resume = !strcmp(argv[i + 1], "yes");
        else if (!strcmp(argv[i], "--group")) x25519 = !strcmp(argv[i + 1], "x25519");
    }
    if (!port || seconds <= 0 || seconds > 60 || clients < 1 || clients > 64) {
        fprintf(stderr, "usage: handshake_bench --port P [--mode tls13-cert|tls12-cert|tls13-psk|tls13-psk-ke|tls12-psk]\n"
                        "       [--ca FILE] [--psk-id IDENTITY] [--origin O] [--seconds S<=60]\n"
                        "       [--clients N<=64] [--resume yes|no] [--group p256|x25519]\n"
                        "The PSK (hex) comes from $M2M_PSK_KEY, never from the command line.\n");
        return 2;
    }
    wolfSSL_Init();
    bool tls12 = !strncmp(mode, "tls12", 5), use_psk = strstr(mode, "psk") != NULL;
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(tls12 ? wolfTLSv1_2_client_method() : wolfTLSv1_3_client_method());
    if (use_psk) {
        const char *hex = getenv("M2M_PSK_KEY");
        if (!psk || !hex || strlen(psk) >= 128) { fprintf(stderr, "--psk-id IDENTITY and M2M_PSK_KEY=HEX\n"); return 2; }
        psk_identity = psk;
        for (const char *h = hex; h[0] && h[1] && psk_len < sizeof psk_key; h += 2) {
            unsigned int b;
            sscanf(h, "%2x", &b);
            psk_key[psk_len++] = (unsigned char)b;
        }
        wolfSSL_CTX_set_psk_client_callback(ctx, client_psk);
        if (tls12) wolfSSL_CTX_set_cipher_list(ctx, "ECDHE-PSK-AES128-CBC-SHA256");
        if (strstr(mode, "psk-ke")) wolfSSL_CTX_no_dhe_psk(ctx);   /* TLS 1.3 psk_ke: no ECDHE */
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
    } else {
        if (!ca || wolfSSL_CTX_load_verify_locations(ctx, ca, NULL) != WOLFSSL_SUCCESS) {
            fprintf(stderr, "cannot load --ca\n");
            return 2;
        }
    }
    /* Offer P-256 like common clients do (wolfSSL's own default list starts
     * with P-521, which a TLS 1.2 server then follows), or only X25519. */
    wolfSSL_CTX_UseSupportedCurve(ctx, x25519 ? WOLFSSL_ECC_X25519 : WOLFSSL_ECC_SECP256R1);
    /* Without --resume every round is a full handshake: no session cache,
     * no tickets. With it, each client resumes its own previous session. */
    if (!resume) wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    struct client cfg = { .ctx = ctx, .port = port, .origin = origin, .resume = resume };
    struct bench_client bc = { client_open, one_round, client_close, &cfg };
    struct bench_result r = bench_run(&bc, clients, seconds, 100);
    char label[64];
    snprintf(label, sizeof label, "%s%s%s", mode, x25519 ? "-x25519" : "", resume ? "-resumed" : "");
    bench_report(label, &r, clients);
    wolfSSL_CTX_free(ctx);
    wolfSSL_Cleanup();
    return r.failures && !r.rounds ? 1 : 0;
}
