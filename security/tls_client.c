/* libssl only: this file must never include wolfSSL headers (design.md). */
#include "tls_client.h"

#include "credentials.h"
#include "tls_io.h"
#include "../cse/base/log.h"
#include "../cse/core/config.h"
#include "../cse/events/outbound.h"
#include "../cse/wire/http.h"
#include "../cse/wire/http_client.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tls_client {
    SSL_CTX *ctx;
    const struct config *cfg;      /* outbound-psk, looked up per connection */
    struct credentials *creds;
};

struct tls_client_conn {
    SSL *ssl;
    struct cred_psk psk;           /* outbound-psk for this target; key_len 0: none */
    char error[128];               /* why the handshake failed */
};

/* The PSK of the connection (app data), given to OpenSSL during the
 * handshake: TLS 1.2 PSK suites, and TLS 1.3 (OpenSSL then takes the key
 * for TLS_AES_128_GCM_SHA256, i.e. SHA-256, as RFC 8446 expects of an
 * external PSK without a named hash). */
static unsigned int give_psk(SSL *ssl, const char *hint, char *identity, unsigned int id_max,
                             unsigned char *key, unsigned int key_max)
{
    (void)hint;
    const struct tls_client_conn *c = SSL_get_app_data(ssl);
    if (!c || !c->psk.key_len || strlen(c->psk.identity) >= id_max || c->psk.key_len > key_max) return 0;
    memcpy(identity, c->psk.identity, strlen(c->psk.identity) + 1);
    memcpy(key, c->psk.key, c->psk.key_len);
    return (unsigned int)c->psk.key_len;
}

static void load_file(SSL_CTX *ctx, const char *file)
{
    if (SSL_CTX_load_verify_locations(ctx, file, NULL) != 1)
        log_warn("tls client: cannot load %s as a trusted CA", file);
    ERR_clear_error();
}

struct tls_client *tls_client_create(const struct config *cfg, struct credentials *creds)
{
    struct tls_client *tc = calloc(1, sizeof *tc);
    if (!tc) return NULL;
    tc->cfg = cfg;
    tc->creds = creds;
    tc->ctx = SSL_CTX_new(TLS_client_method());
    if (!tc->ctx || tls_io_setup(tc->ctx)) {
        log_error("tls client: cannot set up the TLS context");
        tls_client_free(tc);
        return NULL;
    }
    char own[600];
    snprintf(own, sizeof own, "%s/tls/ca.pem", cfg->data_dir);
    if (!cfg->tls_cert[0] && access(own, R_OK) == 0) load_file(tc->ctx, own);
    for (int i = 0; i < cfg->ntrusted_ca; i++) load_file(tc->ctx, cfg->trusted_ca[i]);
    if (creds) cred_each_ca(creds, tls_io_load_ca, tc->ctx);
    /* Our own certificate for servers that ask for one (a registrar binds
     * its URI subjectAltName to this CSE's ID, SAEF). */
    if (cfg->outbound_cert[0] &&
        (SSL_CTX_use_certificate_chain_file(tc->ctx, cfg->outbound_cert) != 1 ||
         SSL_CTX_use_PrivateKey_file(tc->ctx, cfg->outbound_key[0] ? cfg->outbound_key : cfg->outbound_cert,
                                     SSL_FILETYPE_PEM) != 1)) {
        log_error("tls client: cannot load outbound-cert %s with its key (outbound-key)", cfg->outbound_cert);
        tls_client_free(tc);
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX_set_verify(tc->ctx, SSL_VERIFY_PEER, NULL);
    return tc;
}

void tls_client_free(struct tls_client *tc)
{
    if (!tc) return;
    SSL_CTX_free(tc->ctx);
    free(tc);
}

static bool is_address(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void conn_free(struct tls_client_conn *c)
{
    explicit_bzero(&c->psk, sizeof c->psk);
    free(c);
}

/* A target outbound-psk names is reached with that PSK (TLS 1.3 PSK or
 * ECDHE-PSK), the server proving itself by knowing the key; any other
 * target by its certificate. A store without the named key refuses. */
static void *client_attach(void *data, int fd, const char *server_name, const char *hostport)
{
    struct tls_client *tc = data;
    struct tls_client_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    int psk = outbound_psk(tc->cfg, tc->creds, "https://", hostport, &c->psk);
    c->ssl = psk < 0 ? NULL : SSL_new(tc->ctx);
    bool ok = c->ssl && SSL_set_fd(c->ssl, fd) == 1;
    bool address = is_address(server_name);
    if (ok && psk == 0) {
        ok = SSL_set_app_data(c->ssl, c) == 1;
        /* No certificate is part of a PSK session: one that comes is refused
         * in client_handshake, with that reason. */
        SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
        SSL_set_psk_client_callback(c->ssl, give_psk);
    } else if (ok) {
        ok = address ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), server_name) == 1
                     : SSL_set1_host(c->ssl, server_name) == 1;
    }
    /* SNI carries names only (RFC 6066). */
    if (ok && !address) ok = SSL_set_tlsext_host_name(c->ssl, server_name) == 1;
    if (!ok) {
        SSL_free(c->ssl);
        conn_free(c);
        ERR_clear_error();
        return NULL;
    }
    return c;
}

static void client_detach(void *conn)
{
    struct tls_client_conn *c = conn;
    tls_io_close(c->ssl);
    conn_free(c);
}

static int client_handshake(void *conn)
{
    struct tls_client_conn *c = conn;
    ERR_clear_error();
    int ret = SSL_connect(c->ssl);
    if (ret == 1 && c->psk.key_len) {
        /* A server that did not take our identity falls back to its
         * certificate, unverified here: the connection would be
         * unauthenticated (4107 at a registrar) and kept alive. */
        if (!SSL_get0_peer_certificate(c->ssl)) return 0;
        snprintf(c->error, sizeof c->error, "the server did not accept the PSK identity %.80s", c->psk.identity);
        return HTTP_IO_ERROR;
    }
    if (ret == 1) return 0;
    long w = tls_io_want(c->ssl, ret, c->error, sizeof c->error);
    return w == 0 ? HTTP_IO_ERROR : (int)w;
}

static long client_read(void *conn, void *buf, size_t n)
{
    struct tls_client_conn *c = conn;
    return tls_io_read(c->ssl, buf, n, c->error, sizeof c->error);
}

static long client_write(void *conn, const void *buf, size_t n)
{
    struct tls_client_conn *c = conn;
    return tls_io_write(c->ssl, buf, n, c->error, sizeof c->error);
}

static const char *client_error(void *conn)
{
    struct tls_client_conn *c = conn;
    return c->error[0] ? c->error : NULL;
}

static const struct http_client_io io = {
    .attach = client_attach,
    .handshake = client_handshake,
    .read = client_read,
    .write = client_write,
    .error = client_error,
    .detach = client_detach,
};

const struct http_client_io *tls_client_io(void) { return &io; }
