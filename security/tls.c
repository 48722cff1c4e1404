/* wolfSSL only: this file must never include OpenSSL headers (design.md). */
#include "tls.h"

#include "bootstrap.h"
#include "enrol_keys.h"
#include "cert_san.h"
#include "certgen.h"
#include "credentials.h"
#include "tls_io.h"
#include "../cse/base/log.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

/* TLS 1.3 suites, then the TLS 1.2 ECDHE-ECDSA and ECDHE-PSK ones. Debian's
 * wolfSSL has no plain-PSK TLS 1.2 suites (no WOLFSSL_STATIC_PSK). */
static const char cipher_list[] =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "TLS13-AES128-CCM-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA256:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-CCM-8:"
    "ECDHE-PSK-AES128-CBC-SHA256:ECDHE-PSK-AES128-GCM-SHA256";

struct tls_server {
    WOLFSSL_CTX *ctx;
    struct credentials *creds;
    char crl_file[256];        /* "" = no revocation checks */
    struct timespec crl_mtime; /* of the CRL file as last loaded */
    char own_ca[512];          /* our CA's certificate file, trusted too; "" = none */
    unsigned ca_generation;    /* cred_ca_generation() when the CAs were loaded */
};

struct tls_conn {
    WOLFSSL *ssl;
    struct tls_server *ts;
    bool psk_found;            /* the PSK callback knew the offered identity */
    bool psk_unknown;          /* the client offered an identity we do not know */
    char psk_identity[CRED_ID_MAX];
    bool bound;
    char credential_id[SAN_URI_MAX + 4];   /* "33-" + URI, or "12-" + KpsaID */
};

/* PSK server callback: the identity is a KpsaID in the credential store.
 * wolfSSL reports the offered identity even when it fell back to a
 * certificate handshake, so the outcome is recorded on the connection. */
static unsigned int psk_lookup(WOLFSSL *ssl, const char *identity, unsigned char *key,
                               unsigned int key_max)
{
    struct tls_conn *c = wolfSSL_get_ex_data(ssl, 0);
    struct cred_psk psk;
    if (!c || !identity || cred_get_psk(c->ts->creds, identity, &psk) != 0 || psk.key_len > key_max) {
        log_debug("tls: unknown PSK identity '%s'", identity ? identity : "");
        if (c) c->psk_unknown = true;
        return 0;
    }
    unsigned int n = (unsigned int)psk.key_len;
    memcpy(key, psk.key, n);
    memset(&psk, 0, sizeof psk);
    c->psk_found = true;
    snprintf(c->psk_identity, sizeof c->psk_identity, "%s", identity);
    return n;
}

/* The certificate and key: configured ones, or generated under data-dir. */
static int load_identity(WOLFSSL_CTX *ctx, const struct config *cfg, char *own_ca, size_t cap)
{
    struct certgen_paths id;
    if (certgen_server_identity(cfg, &id)) return -1;
    snprintf(own_ca, cap, "%s", id.ca_cert);
    /* Our own CA may sign client certificates too. */
    if (id.ca_cert[0] && wolfSSL_CTX_load_verify_locations(ctx, id.ca_cert, NULL) != WOLFSSL_SUCCESS)
        log_warn("tls: cannot load %s as a trusted CA", id.ca_cert);
    if (wolfSSL_CTX_use_certificate_chain_file(ctx, id.server_cert) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_use_PrivateKey_file(ctx, id.server_key, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
        log_error("tls: cannot load certificate %s with key %s", id.server_cert, id.server_key);
        return -1;
    }
    return 0;
}

/* (Re)loads the CRL file when it changed since the last load: a CRL an
 * m2m-mef rewrote on a revocation takes effect at the next handshake. */
static void refresh_crl(struct tls_server *ts)
{
    struct stat st;
    if (!ts->crl_file[0] || stat(ts->crl_file, &st)) return;
    if (st.st_mtim.tv_sec == ts->crl_mtime.tv_sec && st.st_mtim.tv_nsec == ts->crl_mtime.tv_nsec) return;
    if (wolfSSL_CTX_LoadCRLFile(ts->ctx, ts->crl_file, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
        log_warn("tls: cannot load the CRL file %s", ts->crl_file);
        return;
    }
    ts->crl_mtime = st.st_mtim;
    log_info("tls: CRL %s loaded", ts->crl_file);
}

struct tls_server *tls_server_create(const struct config *cfg, struct credentials *creds)
{
    static bool initialised;
    if (!initialised) { wolfSSL_Init(); initialised = true; }
    struct tls_server *ts = calloc(1, sizeof *ts);
    if (!ts) return NULL;
    ts->creds = creds;
    ts->ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
    if (!ts->ctx || wolfSSL_CTX_SetMinVersion(ts->ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_set_cipher_list(ts->ctx, cipher_list) != WOLFSSL_SUCCESS ||
        load_identity(ts->ctx, cfg, ts->own_ca, sizeof ts->own_ca)) {
        log_error("tls: cannot set up the TLS context");
        tls_server_free(ts);
        return NULL;
    }
    wolfSSL_CTX_set_psk_server_callback(ts->ctx, psk_lookup);
    ts->ca_generation = cred_ca_generation(creds);
    cred_each_ca(creds, tls_io_load_ca, ts->ctx);
    /* After the CAs: a CRL loads only when its issuer is trusted. */
    if (cfg->crl_file[0]) {
        snprintf(ts->crl_file, sizeof ts->crl_file, "%s", cfg->crl_file);
        if (wolfSSL_CTX_EnableCRL(ts->ctx, WOLFSSL_CRL_CHECK) != WOLFSSL_SUCCESS) {
            log_error("tls: cannot turn on CRL checks");
            tls_server_free(ts);
            return NULL;
        }
        refresh_crl(ts);
    }
    /* Ask for a client certificate; whether one is needed is the SAEF policy's call. */
    wolfSSL_CTX_set_verify(ts->ctx, WOLFSSL_VERIFY_PEER, NULL);
    const char *sni = cfg->tls_server_name;
    if (sni[0] && wolfSSL_CTX_UseSNI(ts->ctx, WOLFSSL_SNI_HOST_NAME, sni, (unsigned short)strlen(sni))
                      == WOLFSSL_SUCCESS)
        wolfSSL_CTX_SNI_SetOptions(ts->ctx, WOLFSSL_SNI_HOST_NAME,
                                   WOLFSSL_SNI_CONTINUE_ON_MISMATCH | WOLFSSL_SNI_ANSWER_ON_MISMATCH);
    return ts;
}

void tls_server_free(struct tls_server *ts)
{
    if (!ts) return;
    if (ts->ctx) wolfSSL_CTX_free(ts->ctx);
    free(ts);
}

/* --- per connection ------------------------------------------------------ */

/* Reloads the trusted CAs when the credential store's changed (another
 * front-end on a shared store added or removed one): the next handshake
 * verifies against them. The CRL is loaded again after them (its issuer
 * must be trusted). */
static void refresh_cas(struct tls_server *ts)
{
    unsigned generation = cred_ca_generation(ts->creds);
    if (generation == ts->ca_generation) return;
    ts->ca_generation = generation;
    wolfSSL_CTX_UnloadCAs(ts->ctx);
    if (ts->own_ca[0] && wolfSSL_CTX_load_verify_locations(ts->ctx, ts->own_ca, NULL) != WOLFSSL_SUCCESS)
        log_warn("tls: cannot load %s as a trusted CA", ts->own_ca);
    cred_each_ca(ts->creds, tls_io_load_ca, ts->ctx);
    ts->crl_mtime = (struct timespec){ 0 };
    log_info("tls: trusted CAs reloaded (changed in the credential store)");
}

static void *tls_attach(void *data, int fd)
{
    struct tls_server *ts = data;
    refresh_cas(ts);
    refresh_crl(ts);
    struct tls_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ts = ts;
    c->ssl = wolfSSL_new(ts->ctx);
    if (!c->ssl || wolfSSL_set_fd(c->ssl, fd) != WOLFSSL_SUCCESS ||
        wolfSSL_set_ex_data(c->ssl, 0, c) != WOLFSSL_SUCCESS) {
        if (c->ssl) wolfSSL_free(c->ssl);
        free(c);
        return NULL;
    }
    return c;
}

static void tls_detach(void *conn)
{
    struct tls_conn *c = conn;
    tls_io_close(c->ssl);
    free(c);
}

static void export_bootstrap(struct tls_conn *c);

/* Binds the finished handshake to a Credential-ID: "12-<KpsaID>" for a PSK,
 * "33-<AE-ID>" for a certificate naming an AE-ID (or CSE-ID) in its URI
 * subjectAltName (cert_san.h, shared with CoAPS). False when the certificate's
 * URI is malformed: such a handshake is refused, not bound to a guess. */
static bool bind_credential(struct tls_conn *c)
{
    bool ok = true;
    if (c->psk_found) {
        snprintf(c->credential_id, sizeof c->credential_id, "12-%s", c->psk_identity);
        c->bound = true;
        export_bootstrap(c);
    } else {
        WOLFSSL_X509 *peer = wolfSSL_get_peer_certificate(c->ssl);
        int der_len = 0;
        const unsigned char *der = peer ? wolfSSL_X509_get_der(peer, &der_len) : NULL;
        char uri[SAN_URI_MAX + 1];
        enum san_uri san = der && der_len > 0 ? cert_san_uri(der, (size_t)der_len, uri, sizeof uri)
                                              : SAN_URI_NONE;
        if (san == SAN_URI_OK) {
            snprintf(c->credential_id, sizeof c->credential_id, "33-%s", uri);
            c->bound = true;
            if (bootstrap_for_certificates()) export_bootstrap(c);   /* a MAF client's certificate */
        } else if (san == SAN_URI_BAD) {
            log_warn("tls: client certificate with a malformed URI subjectAltName refused");
            ok = false;
        } else if (peer) {
            log_debug("tls: client certificate without a URI subjectAltName: not bound");
        }
        if (peer) wolfSSL_X509_free(peer);
    }
    if (ok)
        log_debug("tls: %s handshake done, %s, credential %s", wolfSSL_get_version(c->ssl),
                  wolfSSL_get_cipher(c->ssl), c->bound ? c->credential_id : "none");
    return ok;
}

/* In a MEF (bootstrap_enabled), a PSK handshake is the MEF handshake: its
 * RFC 5705 material is what Client Registration turns into Ke (bootstrap.h).
 * In a MAF a certificate handshake is one too (bootstrap_for_certificates). */
static void export_bootstrap(struct tls_conn *c)
{
    if (!bootstrap_enabled()) return;
    unsigned char km[BOOTSTRAP_LEN];
    if (wolfSSL_export_keying_material(c->ssl, km, sizeof km, bootstrap_label(), strlen(bootstrap_label()),
                                       NULL, 0, 0)
            == WOLFSSL_SUCCESS)
        bootstrap_record(c->credential_id, km);
    else
        log_warn("tls: cannot export the bootstrap keying material of %s", c->credential_id);
    explicit_bzero(km, sizeof km);
}

static int tls_handshake(void *conn)
{
    struct tls_conn *c = conn;
    int ret = wolfSSL_accept(c->ssl);
    if (ret != WOLFSSL_SUCCESS) {
        int w = (int)tls_io_want(c->ssl, ret, NULL, 0);
        return w == 0 ? HTTP_IO_ERROR : w;
    }
    /* A client that offered a PSK we do not know gets no fallback to an
     * anonymous session: it asked to be someone we cannot vouch for. */
    if (c->psk_unknown && !c->psk_found) return HTTP_IO_ERROR;
    return bind_credential(c) ? 0 : HTTP_IO_ERROR;
}

static long tls_read(void *conn, void *buf, size_t n)
{
    return tls_io_read(((struct tls_conn *)conn)->ssl, buf, n, NULL, 0);
}

static long tls_write(void *conn, const void *buf, size_t n)
{
    return tls_io_write(((struct tls_conn *)conn)->ssl, buf, n, NULL, 0);
}

static const char *tls_credential(void *conn)
{
    struct tls_conn *c = conn;
    return c->bound ? c->credential_id : NULL;
}

static const struct http_transport transport = {
    .attach = tls_attach,
    .handshake = tls_handshake,
    .read = tls_read,
    .write = tls_write,
    .credential = tls_credential,
    .detach = tls_detach,
};

const struct http_transport *tls_http_transport(void) { return &transport; }
