/* tls_server_cpu.c with wolfSSL on both sides: the server side of a TLS 1.3
 * handshake (P-256 ECDHE; an ECDSA certificate, or an external PSK with
 * psk_dhe_ke) timed by the thread's CPU clock, client and server in one
 * thread over in-memory pipes. wolfSSL only (no OpenSSL here).
 * Usage: tls_server_cpu_wolfssl CERT.pem KEY.pem cert|psk [seconds] */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const unsigned char key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

struct pipe_buf {
    unsigned char data[65536];
    int len;
};

static struct pipe_buf to_server, to_client;

static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int pipe_read(WOLFSSL *ssl, char *buf, int size, void *ctx)
{
    (void)ssl;
    struct pipe_buf *p = ctx;
    if (!p->len) return WOLFSSL_CBIO_ERR_WANT_READ;
    int n = size < p->len ? size : p->len;
    memcpy(buf, p->data, (size_t)n);
    memmove(p->data, p->data + n, (size_t)(p->len - n));
    p->len -= n;
    return n;
}

static int pipe_write(WOLFSSL *ssl, char *buf, int size, void *ctx)
{
    (void)ssl;
    struct pipe_buf *p = ctx;
    if (size > (int)sizeof p->data - p->len) return WOLFSSL_CBIO_ERR_WANT_WRITE;
    memcpy(p->data + p->len, buf, (size_t)size);
    p->len += size;
    return size;
}

static unsigned int server_psk(WOLFSSL *ssl, const char *id, unsigned char *out, unsigned int max)
{
    (void)ssl; (void)id; (void)max;
    memcpy(out, key, sizeof key);
    return sizeof key;
}

static unsigned int client_psk(WOLFSSL *ssl, const char *hint, char *id, unsigned int id_max, unsigned char *out,
                               unsigned int max)
{
    (void)ssl; (void)hint; (void)id_max; (void)max;
    strcpy(id, "device");
    memcpy(out, key, sizeof key);
    return sizeof key;
}

static unsigned int client_psk13(WOLFSSL *ssl, const char *hint, char *id, unsigned int id_max, unsigned char *out,
                                 unsigned int max, const char **suite)
{
    *suite = "TLS13-AES128-GCM-SHA256";
    return client_psk(ssl, hint, id, id_max, out, max);
}

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: tls_server_cpu_wolfssl CERT.pem KEY.pem cert|psk [seconds]\n"); return 2; }
    bool psk = !strcmp(argv[3], "psk");
    double seconds = argc > 4 ? atof(argv[4]) : 3;
    wolfSSL_Init();
    WOLFSSL_CTX *sctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
    WOLFSSL_CTX *cctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
    if (wolfSSL_CTX_use_certificate_chain_file(sctx, argv[1]) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_use_PrivateKey_file(sctx, argv[2], WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
        fprintf(stderr, "cannot load %s / %s\n", argv[1], argv[2]);
        return 2;
    }
    wolfSSL_CTX_set_psk_server_callback(sctx, server_psk);
    wolfSSL_CTX_set_verify(cctx, WOLFSSL_VERIFY_NONE, NULL);
    wolfSSL_CTX_UseSupportedCurve(cctx, WOLFSSL_ECC_SECP256R1);
    wolfSSL_CTX_set_session_cache_mode(cctx, WOLFSSL_SESS_CACHE_OFF);
    if (psk) {
        wolfSSL_CTX_set_psk_client_callback(cctx, client_psk);
        wolfSSL_CTX_set_psk_client_tls13_callback(cctx, client_psk13);
    }
    wolfSSL_CTX_SetIORecv(sctx, pipe_read);
    wolfSSL_CTX_SetIOSend(sctx, pipe_write);
    wolfSSL_CTX_SetIORecv(cctx, pipe_read);
    wolfSSL_CTX_SetIOSend(cctx, pipe_write);
    double server = 0, start = thread_cpu();
    long n = 0;
    while (thread_cpu() - start < seconds) {
        to_server.len = to_client.len = 0;
        WOLFSSL *s = wolfSSL_new(sctx), *c = wolfSSL_new(cctx);
        wolfSSL_SetIOReadCtx(s, &to_server);
        wolfSSL_SetIOWriteCtx(s, &to_client);
        wolfSSL_SetIOReadCtx(c, &to_client);
        wolfSSL_SetIOWriteCtx(c, &to_server);
        bool cdone = false, sdone = false;
        for (int i = 0; i < 20 && !(cdone && sdone); i++) {
            if (!cdone) cdone = wolfSSL_connect(c) == WOLFSSL_SUCCESS;
            double t = thread_cpu();
            if (!sdone) sdone = wolfSSL_accept(s) == WOLFSSL_SUCCESS;
            server += thread_cpu() - t;
        }
        if (!cdone || !sdone) { fprintf(stderr, "the handshake failed\n"); return 1; }
        double t = thread_cpu();
        wolfSSL_free(s);
        server += thread_cpu() - t;
        wolfSSL_free(c);
        n++;
    }
    printf("wolfSSL server, TLS 1.3 %s, P-256: %ld handshakes, server CPU %.0f us each\n",
           psk ? "PSK (psk_dhe_ke)" : "ECDSA certificate", n, 1e6 * server / (double)n);
    wolfSSL_CTX_free(sctx);
    wolfSSL_CTX_free(cctx);
    wolfSSL_Cleanup();
    return 0;
}
