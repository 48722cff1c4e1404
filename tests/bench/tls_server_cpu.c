/* CPU time of the server side of a TLS 1.3 handshake (P-256 ECDHE; an
 * ECDSA certificate, or an external PSK with psk_dhe_ke), OpenSSL's libssl:
 * client and server in one thread over a BIO pair, each side's calls timed
 * by the thread's CPU clock, so neither the network nor the scheduler adds
 * to the figure (the CSE's per-connection CPU time on a loaded machine is
 * mostly those). tls_server_cpu_wolfssl.c is the same with wolfSSL: run the
 * two alternately (performance.md, "HTTPS on OpenSSL").
 * Usage: tls_server_cpu CERT.pem KEY.pem cert|psk [seconds] */
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const unsigned char key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static unsigned int server_psk(SSL *ssl, const char *id, unsigned char *out, unsigned int max)
{
    (void)ssl; (void)id; (void)max;
    memcpy(out, key, sizeof key);
    return sizeof key;
}

static unsigned int client_psk(SSL *ssl, const char *hint, char *id, unsigned int id_max, unsigned char *out,
                               unsigned int max)
{
    (void)ssl; (void)hint; (void)id_max; (void)max;
    strcpy(id, "device");
    memcpy(out, key, sizeof key);
    return sizeof key;
}

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: tls_server_cpu CERT.pem KEY.pem cert|psk [seconds]\n"); return 2; }
    bool psk = !strcmp(argv[3], "psk");
    double seconds = argc > 4 ? atof(argv[4]) : 3;
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_use_certificate_chain_file(sctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, argv[2], SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "cannot load %s / %s\n", argv[1], argv[2]);
        return 2;
    }
    SSL_CTX_set_psk_server_callback(sctx, server_psk);
    SSL_CTX_set_num_tickets(sctx, 1);   /* as security/tls.c */
    SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
    SSL_CTX_set1_groups_list(cctx, "P-256");
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);
    if (psk) SSL_CTX_set_psk_client_callback(cctx, client_psk);
    double server = 0, start = thread_cpu();
    long n = 0;
    while (thread_cpu() - start < seconds) {
        SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
        BIO *cb, *sb;
        BIO_new_bio_pair(&cb, 0, &sb, 0);
        SSL_set_bio(c, cb, cb);
        SSL_set_bio(s, sb, sb);
        SSL_set_connect_state(c);
        SSL_set_accept_state(s);
        bool cdone = false, sdone = false;
        for (int i = 0; i < 20 && !(cdone && sdone); i++) {
            if (!cdone) cdone = SSL_do_handshake(c) == 1;
            double t = thread_cpu();
            if (!sdone) sdone = SSL_do_handshake(s) == 1;
            server += thread_cpu() - t;
        }
        if (!cdone || !sdone) { ERR_print_errors_fp(stderr); return 1; }
        double t = thread_cpu();
        SSL_free(s);
        server += thread_cpu() - t;
        SSL_free(c);
        n++;
    }
    printf("OpenSSL server, TLS 1.3 %s, P-256: %ld handshakes, server CPU %.0f us each\n",
           psk ? "PSK (psk_dhe_ke)" : "ECDSA certificate", n, 1e6 * server / (double)n);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    return 0;
}
