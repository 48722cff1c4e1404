/* wolfSSL only: this file must never include OpenSSL headers (design.md). */
#include "tls_client.h"

#include "credentials.h"
#include "tls_io.h"
#include "../cse/base/log.h"
#include "../cse/core/config.h"
#include "../cse/events/outbound.h"
#include "../cse/wire/http.h"
#include "../cse/wire/http_client.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tls_client {
    WOLFSSL_CTX *ctx;
    const struct config *cfg;      /* outbound-psk, looked up per connection */
    struct credentials *creds;
};

struct tls_client_conn {
    WOLFSSL *ssl;
    struct cred_psk psk;           /* outbound-psk for this target; key_len 0: none */
    char error[128];               /* why the handshake failed */
};

/* The PSK of the connection (ex_data 0), given to wolfSSL during the handshake. */
static unsigned int give_psk(WOLFSSL *ssl, const char *hint, char *identity, unsigned int id_max,
                             unsigned char *key, unsigned int key_max)
{
    (void)hint;
    const struct tls_client_conn *c = wolfSSL_get_ex_data(ssl, 0);
    if (!c || !c->psk.key_len || strlen(c->psk.identity) >= id_max || c->psk.key_len > key_max) return 0;
    memcpy(identity, c->psk.identity, strlen(c->psk.identity) + 1);
    memcpy(key, c->psk.key, c->psk.key_len);
    return (unsigned int)c->psk.key_len;
}

static unsigned int give_psk_tls13(WOLFSSL *ssl, const char *hint, char *identity, unsigned int id_max,
                                   unsigned char *key, unsigned int key_max, const char **suite)
{
    *suite = "TLS13-AES128-GCM-SHA256";
    return give_psk(ssl, hint, identity, id_max, key, key_max);
}

static void load_file(WOLFSSL_CTX *ctx, const char *file)
{
    if (wolfSSL_CTX_load_verify_locations(ctx, file, NULL) != WOLFSSL_SUCCESS)
        log_warn("tls client: cannot load %s as a trusted CA", file);
}

struct tls_client *tls_client_create(const struct config *cfg, struct credentials *creds)
{
    static bool initialised;
    if (!initialised) { wolfSSL_Init(); initialised = true; }
    struct tls_client *tc = calloc(1, sizeof *tc);
    if (!tc) return NULL;
    tc->cfg = cfg;
    tc->creds = creds;
    tc->ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
    if (!tc->ctx || wolfSSL_CTX_SetMinVersion(tc->ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
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
        (wolfSSL_CTX_use_certificate_chain_file(tc->ctx, cfg->outbound_cert) != WOLFSSL_SUCCESS ||
         wolfSSL_CTX_use_PrivateKey_file(tc->ctx, cfg->outbound_key[0] ? cfg->outbound_key : cfg->outbound_cert,
                                         WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)) {
        log_error("tls client: cannot load outbound-cert %s with its key (outbound-key)", cfg->outbound_cert);
        tls_client_free(tc);
        return NULL;
    }
    wolfSSL_CTX_set_verify(tc->ctx, WOLFSSL_VERIFY_PEER, NULL);
    return tc;
}

void tls_client_free(struct tls_client *tc)
{
    if (!tc) return;
    if (tc->ctx) wolfSSL_CTX_free(tc->ctx);
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
    c->ssl = psk < 0 ? NULL : wolfSSL_new(tc->ctx);
    bool ok = c->ssl && wolfSSL_set_fd(c->ssl, fd) == WOLFSSL_SUCCESS;
    if (ok && psk == 0) {
        ok = wolfSSL_set_ex_data(c->ssl, 0, c) == WOLFSSL_SUCCESS;
        /* No certificate is part of a PSK session: one that comes is refused
         * in client_handshake, with that reason. */
        wolfSSL_set_verify(c->ssl, WOLFSSL_VERIFY_NONE, NULL);
        wolfSSL_set_psk_client_callback(c->ssl, give_psk);
        wolfSSL_set_psk_client_tls13_callback(c->ssl, give_psk_tls13);
    } else if (ok) {
        ok = wolfSSL_check_domain_name(c->ssl, server_name) == WOLFSSL_SUCCESS;
    }
    /* SNI carries names only (RFC 6066). */
    if (ok && !is_address(server_name))
        ok = wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, server_name,
                            (unsigned short)strlen(server_name)) == WOLFSSL_SUCCESS;
    if (!ok) {
        if (c->ssl) wolfSSL_free(c->ssl);
        conn_free(c);
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
    int ret = wolfSSL_connect(c->ssl);
    if (ret == WOLFSSL_SUCCESS && c->psk.key_len) {
        /* A server that did not take our identity falls back to its
         * certificate, unverified here: the connection would be
         * unauthenticated (4107 at a registrar) and kept alive. */
        WOLFSSL_X509 *cert = wolfSSL_get_peer_certificate(c->ssl);
        if (!cert) return 0;
        wolfSSL_X509_free(cert);
        snprintf(c->error, sizeof c->error, "the server did not accept the PSK identity %.80s", c->psk.identity);
        return HTTP_IO_ERROR;
    }
    if (ret == WOLFSSL_SUCCESS) return 0;
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
