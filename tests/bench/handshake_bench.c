/* Handshakes per second against a running m2m-cse HTTPS port: each round is
 * connect, full (D)TLS handshake (no session resumption), one oneM2M
 * RETRIEVE, close. Bounded by --seconds. wolfSSL only (no OpenSSL here). */
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
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

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

/* One connection: handshake, one request, check for a 200. */
static int one_round(WOLFSSL_CTX *ctx, int port, const char *origin)
{
    int fd = connect_tcp(port);
    if (fd < 0) return -1;
    WOLFSSL *ssl = wolfSSL_new(ctx);
    wolfSSL_set_fd(ssl, fd);
    wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, "localhost", 9);
    int ok = -1;
    char req[256], rsp[2048];
    int n = snprintf(req, sizeof req, "GET /cse-in HTTP/1.1\r\nHost: localhost\r\nX-M2M-Origin: %s\r\n"
                     "X-M2M-RI: b\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n", origin);
    if (wolfSSL_connect(ssl) == WOLFSSL_SUCCESS && wolfSSL_write(ssl, req, n) == n) {
        int got = wolfSSL_read(ssl, rsp, sizeof rsp - 1);
        if (got > 12) { rsp[got] = 0; ok = strncmp(rsp, "HTTP/1.1 200", 12) ? -1 : 0; }
    }
    wolfSSL_shutdown(ssl);
    wolfSSL_free(ssl);
    close(fd);
    return ok;
}

int main(int argc, char **argv)
{
    int port = 0;
    double seconds = 2;
    const char *mode = "tls13-cert", *ca = NULL, *psk = NULL, *origin = "CAdmin";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
        else if (!strcmp(argv[i], "--ca")) ca = argv[i + 1];
        else if (!strcmp(argv[i], "--psk-id")) psk = argv[i + 1];
        else if (!strcmp(argv[i], "--origin")) origin = argv[i + 1];
    }
    if (!port || seconds <= 0 || seconds > 60) {
        fprintf(stderr, "usage: handshake_bench --port P [--mode tls13-cert|tls12-cert|tls13-psk|tls12-psk]\n"
                        "       [--ca FILE] [--psk-id IDENTITY] [--origin O] [--seconds S<=60]\n"
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
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
    } else {
        if (!ca || wolfSSL_CTX_load_verify_locations(ctx, ca, NULL) != WOLFSSL_SUCCESS) {
            fprintf(stderr, "cannot load --ca\n");
            return 2;
        }
    }
    /* Offer P-256 like common clients do (wolfSSL's own default list starts
     * with P-521, which a TLS 1.2 server then follows). */
    wolfSSL_CTX_UseSupportedCurve(ctx, WOLFSSL_ECC_SECP256R1);
    /* Every round is a full handshake: no session cache, no tickets. */
    wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    double start = now_s(), end = start + seconds;
    long rounds = 0, failures = 0;
    while (now_s() < end && failures < 100) {
        if (one_round(ctx, port, origin)) failures++;
        else rounds++;
    }
    double took = now_s() - start;
    printf("%s: %ld handshakes+requests in %.2f s = %.0f/s (%ld failed)\n", mode, rounds, took,
           rounds / took, failures);
    wolfSSL_CTX_free(ctx);
    wolfSSL_Cleanup();
    return failures && !rounds ? 1 : 0;
}
