/* HTTPS transport for the m2m client: the HTTP/1.1 exchange of
 * client_http.c over wolfSSL (TLS 1.3 or 1.2). The server is verified
 * against --ca; --cert/--key present a client certificate; --psk-id and its
 * key (hex, from a file or the environment: m2m.c) authenticate with a
 * pre-shared key instead (TLS 1.3 PSK, or ECDHE-PSK on TLS 1.2). wolfSSL
 * only: no OpenSSL headers here. */
#include "client.h"
#include "client_http.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char psk_identity[128];
static unsigned char psk_key[64];
static unsigned int psk_len;

static unsigned int give_psk(WOLFSSL *ssl, const char *hint, char *identity, unsigned int id_max,
                             unsigned char *key, unsigned int key_max)
{
    (void)ssl; (void)hint;
    if (strlen(psk_identity) >= id_max || psk_len > key_max) return 0;
    memcpy(identity, psk_identity, strlen(psk_identity) + 1);
    memcpy(key, psk_key, psk_len);
    return psk_len;
}

static unsigned int give_psk_tls13(WOLFSSL *ssl, const char *hint, char *identity, unsigned int id_max,
                                   unsigned char *key, unsigned int key_max, const char **suite)
{
    *suite = "TLS13-AES128-GCM-SHA256";
    return give_psk(ssl, hint, identity, id_max, key, key_max);
}

static int parse_hex_key(const char *hex, char *err, size_t errlen)
{
    size_t n = strlen(hex);
    psk_len = 0;
    if (!n || n % 2 || n / 2 > sizeof psk_key) {
        snprintf(err, errlen, "the PSK must be 1 to %zu bytes in hex", sizeof psk_key);
        return -1;
    }
    for (size_t i = 0; i < n; i += 2) {
        unsigned int b;
        if (sscanf(hex + i, "%2x", &b) != 1) { snprintf(err, errlen, "the PSK is not hex"); return -1; }
        psk_key[psk_len++] = (unsigned char)b;
    }
    return 0;
}

static bool is_ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static WOLFSSL_CTX *make_ctx(const struct client_opts *o, char *err, size_t errlen)
{
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
    if (!ctx || wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "cannot create a TLS context");
        if (ctx) wolfSSL_CTX_free(ctx);
        return NULL;
    }
    /* P-256 first, as TS-0003 profiles it (wolfSSL would offer P-521 first). */
    wolfSSL_CTX_UseSupportedCurve(ctx, WOLFSSL_ECC_SECP256R1);
    int rc = 0;
    if (o->psk_identity) {
        snprintf(psk_identity, sizeof psk_identity, "%s", o->psk_identity);
        rc = o->psk_key ? parse_hex_key(o->psk_key, err, errlen) : -1;
        if (!o->psk_key) snprintf(err, errlen, "--psk-id needs its key: --psk-key-file FILE or M2M_PSK_KEY");
        wolfSSL_CTX_set_psk_client_callback(ctx, give_psk);
        wolfSSL_CTX_set_psk_client_tls13_callback(ctx, give_psk_tls13);
    }
    if (!rc && o->ca_file && wolfSSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "cannot load the CA file %s", o->ca_file);
        rc = -1;
    }
    if (!rc && o->cert_file &&
        (wolfSSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != WOLFSSL_SUCCESS ||
         wolfSSL_CTX_use_PrivateKey_file(ctx, o->key_file ? o->key_file : o->cert_file,
                                         WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)) {
        snprintf(err, errlen, "cannot load the client certificate %s / key", o->cert_file);
        rc = -1;
    }
    if (!rc && !o->ca_file && !o->psk_identity) {
        snprintf(err, errlen, "https needs --ca FILE to verify the server (or a PSK: --psk-id with its key)");
        rc = -1;
    }
    /* With a PSK the server proves itself by knowing the key. */
    wolfSSL_CTX_set_verify(ctx, o->ca_file ? WOLFSSL_VERIFY_PEER : WOLFSSL_VERIFY_NONE, NULL);
    if (rc) { wolfSSL_CTX_free(ctx); return NULL; }
    return ctx;
}

static long tls_read(void *ssl, char *buf, size_t n)
{
    return wolfSSL_read(ssl, buf, n > 1 << 30 ? 1 << 30 : (int)n);
}

static void set_recv_timeout(int fd, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* Runs the handshake within the handshake bound. Returns 0, or -1 with err. */
static int handshake(const struct client_opts *o, const struct client_url *url, WOLFSSL *ssl, int fd,
                     char *err, size_t errlen)
{
    int bound = client_handshake_timeout(o);
    set_recv_timeout(fd, bound);
    int ret = wolfSSL_connect(ssl);
    set_recv_timeout(fd, client_request_timeout(o));
    if (ret != WOLFSSL_SUCCESS) {
        char msg[WOLFSSL_MAX_ERROR_SZ];
        int code = wolfSSL_get_error(ssl, ret);
        const char *why = code == WOLFSSL_ERROR_ZERO_RETURN || code == WOLFSSL_ERROR_SYSCALL
            ? "the server ended it (credentials refused?)"
            : code == WOLFSSL_ERROR_WANT_READ ? "no answer from the server"
            : wolfSSL_ERR_error_string((unsigned long)code, msg);
        snprintf(err, errlen, "TLS handshake with %s:%d failed%s: %s", url->host, url->port,
                 code == WOLFSSL_ERROR_WANT_READ ? " within the handshake timeout" : "", why);
        return -1;
    }
    /* A server that does not know our identity falls back to a certificate
     * handshake; we asked to be that identity, so the session is of no use
     * (and without --ca the certificate was not even verified). */
    WOLFSSL_X509 *cert = o->psk_identity ? wolfSSL_get_peer_certificate(ssl) : NULL;
    if (cert) {
        wolfSSL_X509_free(cert);
        snprintf(err, errlen, "the server at %s:%d did not accept the PSK identity '%s' (unknown there?)",
                 url->host, url->port, o->psk_identity);
        return -1;
    }
    return 0;
}

/* The request out, the response in, over the finished handshake. */
static int exchange(const struct client_opts *o, const struct client_url *url, WOLFSSL *ssl, const char *req,
                    size_t len, struct client_response *rsp, char *err, size_t errlen)
{
    if (o->verbose) client_http_show(">", req, len);
    if (wolfSSL_write(ssl, req, (int)len) != (int)len) {
        snprintf(err, errlen, "the server at %s:%d closed the TLS connection before the request "
                 "was sent (credentials refused?)", url->host, url->port);
        return -1;
    }
    size_t n;
    char *raw = client_http_read_all(tls_read, ssl, &n);
    if (o->verbose) client_http_show("<", raw, n);
    int rc = client_http_parse(raw, n, rsp, err, errlen);
    free(raw);
    return rc;
}

/* The MEF handshake's keying material (client.h export_label). */
static int export_material(const struct client_opts *o, WOLFSSL *ssl, char *err, size_t errlen)
{
    if (!o->export_label || !o->on_export) return 0;
    unsigned char km[48];
    if (wolfSSL_export_keying_material(ssl, km, sizeof km, o->export_label, strlen(o->export_label), NULL, 0, 0)
            != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "cannot export the TLS keying material (%s)", o->export_label);
        return -1;
    }
    o->on_export(o->export_data, km, sizeof km);
    explicit_bzero(km, sizeof km);
    return 0;
}

int client_https_send(const struct client_opts *o, const struct client_url *url,
                      const struct client_request *rq, struct client_response *rsp,
                      char *err, size_t errlen)
{
    size_t len = 0;
    char *req = NULL;
    wolfSSL_Init();
    WOLFSSL_CTX *ctx = make_ctx(o, err, errlen);
    int fd = ctx ? client_http_connect(url, client_request_timeout(o), err, errlen) : -1;
    WOLFSSL *ssl = fd >= 0 ? wolfSSL_new(ctx) : NULL;
    int rc = -1;
    if (ssl) {
        wolfSSL_set_fd(ssl, fd);
        if (!is_ip_literal(url->host)) {
            wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, url->host, (unsigned short)strlen(url->host));
            if (o->ca_file) wolfSSL_check_domain_name(ssl, url->host);
        }
        if (!handshake(o, url, ssl, fd, err, errlen) && !export_material(o, ssl, err, errlen) &&
            (req = client_http_build(o, url, rq, &len, err, errlen)))
            rc = exchange(o, url, ssl, req, len, rsp, err, errlen);
        wolfSSL_shutdown(ssl);
        wolfSSL_free(ssl);
    }
    if (fd >= 0) close(fd);
    if (ctx) wolfSSL_CTX_free(ctx);
    free(req);
    wolfSSL_Cleanup();
    return rc;
}
