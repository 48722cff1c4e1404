/* libssl only: this file must never include wolfSSL headers (design.md). */
#include "tls.h"

#include "bootstrap.h"
#include "cert_san.h"
#include "certgen.h"
#include "credentials.h"
#include "ossl_names.h"
#include "tls_io.h"
#include "../cse/base/log.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

/* TLS 1.3 suites (TLS_AES_128_CCM_SHA256 is off in OpenSSL by default), then
 * TLS 1.2: ECDHE-ECDSA (0xC023 is TS-0003's certificate suite), ECDHE-PSK
 * (RFC 5489) and the plain-PSK suites, 0x00AE being TS-0003's mandatory one. */
static const char tls13_suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256";
static const char tls12_suites[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA256:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-CCM8:"
    "ECDHE-PSK-AES128-CBC-SHA256:ECDHE-PSK-CHACHA20-POLY1305:PSK-AES128-CBC-SHA256:PSK-AES128-GCM-SHA256";

/* Sessions the server remembers for TLS 1.2 session-ID resumption (OpenSSL's
 * default, 20 480, would let idle entries grow the CSE by megabytes). TLS 1.3
 * tickets and TLS 1.2 tickets keep nothing here. */
#define SESSION_CACHE 1024

struct tls_server {
    SSL_CTX *ctx;
    struct credentials *creds;
    char crl_file[256];        /* "" = no revocation checks */
    struct timespec crl_mtime; /* of the CRL file as last loaded */
    unsigned generation;       /* of the session context: a new CRL ends resumption */
    char server_name[256];     /* tls-server-name, acknowledged in SNI */
    char own_ca[512];          /* our CA's certificate file, trusted too; "" = none */
    unsigned ca_generation;    /* cred_ca_generation() when the CAs were loaded */
};

/* What a session remembers of the handshake that made it (its ticket
 * appdata, sealed in the ticket with the session): the Credential-ID, and
 * for a PSK a digest of the key, so that a resumption after the key was
 * withdrawn or replaced is refused. */
struct session_binding {
    char credential_id[SAN_URI_MAX + 4];   /* "33-" + URI, or "12-" + KpsaID */
    unsigned char key_digest[32];          /* SHA-256 of the PSK; zero for a certificate */
};

struct tls_conn {
    SSL *ssl;
    struct tls_server *ts;
    bool psk_found;            /* the PSK callback knew the offered identity */
    bool psk_unknown;          /* the client offered an identity we do not know */
    bool bound;
    struct session_binding binding;
};

static void key_digest(const struct cred_psk *psk, unsigned char out[32])
{
    unsigned int n = 32;
    if (EVP_Digest(psk->key, psk->key_len, out, &n, EVP_sha256(), NULL) != 1) memset(out, 0, 32);
}

/* PSK server callback (TLS 1.2 PSK suites and TLS 1.3 external PSKs): the
 * identity is a KpsaID in the credential store. OpenSSL goes on with a
 * certificate handshake after an unknown TLS 1.3 identity, so the outcome is
 * recorded on the connection. OpenSSL also asks with the identity of a TLS
 * 1.3 resumption, its own ticket: no KpsaID can look like that, so the store
 * (a read transaction, two fcntl locks on SQLite) is not asked. */
static unsigned int psk_lookup(SSL *ssl, const char *identity, unsigned char *key, unsigned int key_max)
{
    struct tls_conn *c = SSL_get_app_data(ssl);
    struct cred_psk psk;
    if (!c || !identity || !cred_valid_identity(identity) || cred_get_psk(c->ts->creds, identity, &psk) != 0 ||
        psk.key_len > key_max) {
        log_debug("tls: unknown PSK identity '%s'", identity ? identity : "");
        if (c) c->psk_unknown = true;
        return 0;
    }
    unsigned int n = (unsigned int)psk.key_len;
    memcpy(key, psk.key, n);
    c->psk_found = true;
    snprintf(c->binding.credential_id, sizeof c->binding.credential_id, "12-%s", identity);
    key_digest(&psk, c->binding.key_digest);
    OPENSSL_cleanse(&psk, sizeof psk);
    return n;
}

/* The client certificate, once its chain verified: a URI subjectAltName
 * names the AE-ID (or CSE-ID) it binds to (cert_san.h, shared with CoAPS).
 * A malformed URI fails the handshake here, before any ticket is issued:
 * such a certificate is refused, not bound to a guess. */
static int verify_peer(int ok, X509_STORE_CTX *x)
{
    if (!ok || X509_STORE_CTX_get_error_depth(x) != 0) return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!c) return 0;
    unsigned char *der = NULL;
    int der_len = i2d_X509(X509_STORE_CTX_get_current_cert(x), &der);
    char uri[SAN_URI_MAX + 1];
    enum san_uri san = der_len > 0 ? cert_san_uri(der, (size_t)der_len, uri, sizeof uri) : SAN_URI_BAD;
    OPENSSL_free(der);
    if (san == SAN_URI_BAD) {
        log_warn("tls: client certificate with a malformed URI subjectAltName refused");
        X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    if (san == SAN_URI_OK) {
        snprintf(c->binding.credential_id, sizeof c->binding.credential_id, "33-%s", uri);
        memset(c->binding.key_digest, 0, sizeof c->binding.key_digest);
    } else {
        log_debug("tls: client certificate without a URI subjectAltName: not bound");
    }
    return 1;
}

/* A TLS 1.3 external PSK handshake counts as a resumption for OpenSSL
 * (SSL_session_reused): only a session this handshake did not authenticate
 * itself is one. */
static bool resumed(const struct tls_conn *c)
{
    return SSL_session_reused(c->ssl) && !c->psk_found;
}

/* A ticket is about to be sealed (TLS 1.2 at the end of the handshake,
 * TLS 1.3 just after it): it carries the binding of the handshake that made
 * it. A resumed session's new tickets keep the binding they inherited. */
static int seal_binding(SSL *ssl, void *arg)
{
    (void)arg;
    struct tls_conn *c = SSL_get_app_data(ssl);
    if (!c || !c->binding.credential_id[0] || resumed(c)) return 1;
    return SSL_SESSION_set1_ticket_appdata(SSL_get0_session(ssl), &c->binding, sizeof c->binding);
}

/* SNI: the name the server serves is acknowledged in the ServerHello; a
 * client that sends another name (or none) gets the same certificate. */
static int server_name(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    const struct tls_server *ts = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    return name && ts->server_name[0] && !strcasecmp(name, ts->server_name) ? SSL_TLSEXT_ERR_OK
                                                                            : SSL_TLSEXT_ERR_NOACK;
}

/* Our own CA may sign client certificates too: trusted, and named in the
 * CertificateRequest (it starts the client-CA list). "" = none. */
static void trust_own_ca(SSL_CTX *ctx, const char *ca_file)
{
    if (!ca_file[0]) return;
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1 || !names)
        log_warn("tls: cannot load %s as a trusted CA", ca_file);
    if (names) SSL_CTX_set_client_CA_list(ctx, names);
}

/* The certificate and key: configured ones, or generated under data-dir. */
static int load_identity(SSL_CTX *ctx, const struct config *cfg, char *own_ca, size_t cap)
{
    struct certgen_paths id;
    if (certgen_server_identity(cfg, &id)) return -1;
    snprintf(own_ca, cap, "%s", id.ca_cert);
    trust_own_ca(ctx, id.ca_cert);
    if (SSL_CTX_use_certificate_chain_file(ctx, id.server_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, id.server_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        log_error("tls: cannot load certificate %s with key %s", id.server_cert, id.server_key);
        return -1;
    }
    ERR_clear_error();
    return 0;
}

/* The session context names the CRL generation: sessions and tickets made
 * before a revocation no longer resume (OpenSSL checks it on every resumption),
 * so a revoked certificate cannot come back through an old ticket. */
static void set_session_context(struct tls_server *ts)
{
    char sid[32];
    int n = snprintf(sid, sizeof sid, "ironbark-https-%u", ts->generation);
    SSL_CTX_set_session_id_context(ts->ctx, (const unsigned char *)sid, (unsigned)n);
}

/* A verification store of the trusted CAs and the CRLs of file, or NULL. */
static X509_STORE *store_with_crls(X509_STORE *trusted, const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) return NULL;
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *cas = X509_STORE_get1_all_certs(trusted);
    for (int i = 0; store && cas && i < sk_X509_num(cas); i++) X509_STORE_add_cert(store, sk_X509_value(cas, i));
    sk_X509_pop_free(cas, X509_free);
    int crls = 0;
    X509_CRL *crl;
    while (store && (crl = PEM_read_X509_CRL(f, NULL, NULL, NULL))) {
        if (X509_STORE_add_crl(store, crl) == 1) crls++;
        X509_CRL_free(crl);
    }
    fclose(f);
    ERR_clear_error();
    if (!crls) { X509_STORE_free(store); return NULL; }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    return store;
}

/* (Re)loads the CRL file when it changed since the last load: a CRL an
 * m2m-mef rewrote on a revocation takes effect at the next handshake. The
 * store is rebuilt rather than added to, so a CRL that replaces another for
 * the same CA is the one consulted. */
static void refresh_crl(struct tls_server *ts)
{
    struct stat st;
    if (!ts->crl_file[0] || stat(ts->crl_file, &st)) return;
    if (st.st_mtim.tv_sec == ts->crl_mtime.tv_sec && st.st_mtim.tv_nsec == ts->crl_mtime.tv_nsec) return;
    X509_STORE *store = store_with_crls(SSL_CTX_get_cert_store(ts->ctx), ts->crl_file);
    if (!store) {
        log_warn("tls: cannot load the CRL file %s", ts->crl_file);
        return;
    }
    SSL_CTX_set_cert_store(ts->ctx, store);
    ts->crl_mtime = st.st_mtim;
    ts->generation++;
    set_session_context(ts);
    log_info("tls: CRL %s loaded", ts->crl_file);
}

struct tls_server *tls_server_create(const struct config *cfg, struct credentials *creds)
{
    struct tls_server *ts = calloc(1, sizeof *ts);
    if (!ts) return NULL;
    ts->creds = creds;
    ts->ctx = SSL_CTX_new(TLS_server_method());
    if (!ts->ctx || tls_io_setup(ts->ctx) || SSL_CTX_set_ciphersuites(ts->ctx, tls13_suites) != 1 ||
        SSL_CTX_set_cipher_list(ts->ctx, tls12_suites) != 1 || load_identity(ts->ctx, cfg, ts->own_ca, sizeof ts->own_ca)) {
        log_error("tls: cannot set up the TLS context");
        tls_server_free(ts);
        return NULL;
    }
    /* The configuration's providers are loaded (SSL_CTX_new): key-type
     * names can be answered from a cache from now on (ossl_names.h). */
    ossl_names_freeze();
    /* Our suite order; no client-initiated renegotiation; TLS 1.3 PSK
     * handshakes without (EC)DHE (psk_ke) when that is all the client asks. */
    SSL_CTX_set_options(ts->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_ALLOW_NO_DHE_KEX);
    SSL_CTX_set_psk_server_callback(ts->ctx, psk_lookup);
    snprintf(ts->server_name, sizeof ts->server_name, "%s", cfg->tls_server_name);
    SSL_CTX_set_tlsext_servername_callback(ts->ctx, server_name);
    SSL_CTX_set_tlsext_servername_arg(ts->ctx, ts);
    SSL_CTX_set_session_ticket_cb(ts->ctx, seal_binding, NULL, NULL);
    SSL_CTX_set_num_tickets(ts->ctx, 1);
    /* One read(2) takes whatever the socket holds (a client's Finished and
     * its request, pipelined records), not a header and then a body per
     * record. OpenSSL may then hold input the socket no longer signals: the
     * HTTP server asks tls_pending() before it waits for epoll again. */
    SSL_CTX_set_read_ahead(ts->ctx, 1);
    SSL_CTX_sess_set_cache_size(ts->ctx, SESSION_CACHE);
    set_session_context(ts);
    ts->ca_generation = cred_ca_generation(creds);
    cred_each_ca(creds, tls_io_load_client_ca, ts->ctx);
    /* After the CAs: the CRL store is built from them. Until a CRL loads,
     * every client certificate is refused (its CA has no CRL). */
    if (cfg->crl_file[0]) {
        snprintf(ts->crl_file, sizeof ts->crl_file, "%s", cfg->crl_file);
        X509_STORE_set_flags(SSL_CTX_get_cert_store(ts->ctx), X509_V_FLAG_CRL_CHECK);
        refresh_crl(ts);
    }
    /* Ask for a client certificate; whether one is needed is the SAEF policy's call. */
    SSL_CTX_set_verify(ts->ctx, SSL_VERIFY_PEER, verify_peer);
    return ts;
}

void tls_server_free(struct tls_server *ts)
{
    if (!ts) return;
    SSL_CTX_free(ts->ctx);
    free(ts);
}

/* --- per connection ------------------------------------------------------ */

/* Reloads the trusted CAs when the credential store's changed (the admin
 * command, or another front-end on a shared store, added or removed one:
 * cred_follow.h): the next handshake
 * verifies against them. The CRL is loaded again after them (its issuer
 * must be trusted). */
static void refresh_cas(struct tls_server *ts)
{
    unsigned generation = cred_ca_generation(ts->creds);
    if (generation == ts->ca_generation) return;
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    if (!store || !names) {
        X509_STORE_free(store);
        sk_X509_NAME_free(names);
        return;                /* out of memory: the old CAs stay, retried next time */
    }
    ts->ca_generation = generation;
    SSL_CTX_set_cert_store(ts->ctx, store);        /* frees the old store */
    SSL_CTX_set_client_CA_list(ts->ctx, names);
    trust_own_ca(ts->ctx, ts->own_ca);
    cred_each_ca(ts->creds, tls_io_load_client_ca, ts->ctx);
    ERR_clear_error();
    if (ts->crl_file[0]) {
        /* As at start: until the CRL loads again onto the new CAs, client
         * certificates are refused. */
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
        ts->crl_mtime = (struct timespec){ 0 };
    }
    /* A removed CA must not come back through a resumed session. */
    ts->generation++;
    set_session_context(ts);
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
    c->ssl = SSL_new(ts->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1 || SSL_set_app_data(c->ssl, c) != 1) {
        SSL_free(c->ssl);
        free(c);
        ERR_clear_error();
        return NULL;
    }
    return c;
}

static void tls_detach(void *conn)
{
    struct tls_conn *c = conn;
    tls_io_close(c->ssl);
    OPENSSL_cleanse(&c->binding, sizeof c->binding);
    free(c);
}

/* In a MEF (bootstrap_enabled), a PSK handshake is the MEF handshake: its
 * RFC 5705 material is what Client Registration turns into Ke (bootstrap.h).
 * In a MAF a certificate handshake is one too (bootstrap_for_certificates). */
static void export_bootstrap(struct tls_conn *c)
{
    if (!bootstrap_enabled()) return;
    if (!strncmp(c->binding.credential_id, "33-", 3) && !bootstrap_for_certificates()) return;
    unsigned char km[BOOTSTRAP_LEN];
    if (SSL_export_keying_material(c->ssl, km, sizeof km, bootstrap_label(), strlen(bootstrap_label()),
                                   NULL, 0, 0) == 1)
        bootstrap_record(c->binding.credential_id, km);
    else
        log_warn("tls: cannot export the bootstrap keying material of %s", c->binding.credential_id);
    OPENSSL_cleanse(km, sizeof km);
}

/* A resumed session is who its first handshake authenticated (the binding
 * sealed in its ticket or cached with it), as long as that still holds: a
 * PSK must still be in the store with the same key. False refuses it. */
static bool resumed_binding(struct tls_conn *c)
{
    const void *data = NULL;
    size_t len = 0;
    SSL_SESSION_get0_ticket_appdata(SSL_get0_session(c->ssl), (void **)&data, &len);
    if (len != sizeof c->binding) return true;   /* an unauthenticated session stays one */
    memcpy(&c->binding, data, sizeof c->binding);
    c->binding.credential_id[sizeof c->binding.credential_id - 1] = 0;
    if (!strncmp(c->binding.credential_id, "12-", 3)) {
        struct cred_psk psk;
        unsigned char now[32];
        bool same = cred_get_psk(c->ts->creds, c->binding.credential_id + 3, &psk) == 0;
        if (same) key_digest(&psk, now);
        OPENSSL_cleanse(&psk, sizeof psk);
        if (!same || CRYPTO_memcmp(now, c->binding.key_digest, sizeof now)) {
            log_info("tls: resumption of %s refused: the key was withdrawn or replaced", c->binding.credential_id);
            return false;
        }
    }
    c->bound = true;
    return true;
}

/* Binds the finished handshake to its Credential-ID: "12-<KpsaID>" for a
 * PSK, "33-<AE-ID>" for a certificate naming one (verify_peer). The session
 * keeps it for resumption: TLS 1.3 and 1.2 tickets got it when sealed, a
 * TLS 1.2 session-ID cache entry is this very session. */
static bool bind_credential(struct tls_conn *c)
{
    if (resumed(c)) {
        if (!resumed_binding(c)) return false;
    } else if (c->binding.credential_id[0]) {
        c->bound = true;
        SSL_SESSION_set1_ticket_appdata(SSL_get0_session(c->ssl), &c->binding, sizeof c->binding);
    }
    if (c->bound) export_bootstrap(c);
    log_debug("tls: %s handshake done%s, %s, credential %s", SSL_get_version(c->ssl),
              resumed(c) ? " (resumed)" : "", SSL_get_cipher_name(c->ssl),
              c->bound ? c->binding.credential_id : "none");
    return true;
}

static int tls_handshake(void *conn)
{
    struct tls_conn *c = conn;
    ERR_clear_error();
    int ret = SSL_accept(c->ssl);
    if (ret != 1) {
        int w = (int)tls_io_want(c->ssl, ret, NULL, 0);
        return w == 0 ? HTTP_IO_ERROR : w;
    }
    /* A client that offered a PSK we do not know gets no fallback to an
     * anonymous session: it asked to be someone we cannot vouch for. */
    if (c->psk_unknown && !c->psk_found && !resumed(c)) return HTTP_IO_ERROR;
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
    return c->bound ? c->binding.credential_id : NULL;
}

static bool tls_pending(void *conn)
{
    return SSL_has_pending(((struct tls_conn *)conn)->ssl) == 1;
}

static const struct http_transport transport = {
    .attach = tls_attach,
    .handshake = tls_handshake,
    .read = tls_read,
    .write = tls_write,
    .credential = tls_credential,
    .pending = tls_pending,
    .detach = tls_detach,
};

const struct http_transport *tls_http_transport(void) { return &transport; }
