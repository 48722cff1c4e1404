/* libcoap and OpenSSL only: this file must never include wolfssl/ssl.h. */
#include "dtls.h"

#include "../cse/core/metrics.h"

#include "bootstrap.h"
#include "enrol_keys.h"
#include "cert_san.h"
#include "certgen.h"
#include "credentials.h"
#include "ossl_names.h"
#include "../cse/core/config.h"
#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/core/throttle.h"

#include <coap3/coap.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <sys/stat.h>

#include <arpa/inet.h>

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The TS-0003 10.2 DTLS suites first, then stronger AEAD ones. */
static const char dtls_ciphers[] =
    "PSK-AES128-CCM8:ECDHE-ECDSA-AES128-CCM8:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-PSK-AES128-CBC-SHA256:PSK-AES128-GCM-SHA256";

/* Handshakes bounded by coaps-handshake-timeout at once; one beyond keeps
 * only libcoap's own bound (five retransmissions, about 31 s). */
#define DTLS_UNFINISHED_MAX 64

struct dtls {
    struct credentials *creds;
    struct throttle *throttle;
    struct metrics *metrics;
    uint8_t key[CRED_KEY_MAX];     /* the key handed to libcoap, which copies it */
    coap_bin_const_t key_bin;
    uint8_t psk_marker[16];        /* see dtls_setup(): random, never used to authenticate */
    struct certgen_paths id;
    X509 *cert;                    /* the server certificate and key, parsed once (load_identity()) */
    EVP_PKEY *pkey;
    char ca_bundle[512];
    unsigned ca_generation;        /* cred_ca_generation() when the bundle was built */
    char crl_file[256];            /* "" = no revocation checks */
    struct timespec crl_mtime;
    X509_STORE *crl_store;         /* the trusted CAs and the CRLs, checked per session */
    X509_STORE *ca_store;          /* the trusted CAs, parsed once (no CRL file) */
    STACK_OF(X509_NAME) *ca_names; /* their names, for the CertificateRequest; the SSL_CTX's once set */
    const SSL_CTX *suites_ctx;     /* libcoap's SSL_CTX once it has our suites */
    int session_cache;             /* sessions kept for resumption, 0 = none */
    int64_t handshake_limit_us;    /* coaps-handshake-timeout */
    struct unfinished {            /* server handshakes under way, each session referenced */
        coap_session_t *session;
        int64_t deadline_us;
    } unfinished[DTLS_UNFINISHED_MAX];
    int nunfinished;
};

/* Server-side DTLS session cache (RFC 5246 7.3 session-ID resumption): a
 * device that sleeps and reconnects within the lifetime skips the
 * certificate exchange, its signatures and the ECDHE. Bounded in entries
 * (coaps-session-cache; each holds the client's certificate chain, ~13 kB)
 * and in time (a resumed session is not checked against the certificate's
 * validity again). */
enum { DTLS_SESSION_LIFETIME_S = 3600 };
static const unsigned char dtls_sid_ctx[] = "ironbark-coaps";

/* The verification store with the CRLs, rebuilt when the CRL file changed
 * (an m2m-mef rewrote it on a revocation); NULL when there is none. The
 * session cache is emptied then, so no session of a revoked certificate is
 * resumed. */
static X509_STORE *crl_store(struct dtls *d, SSL_CTX *ctx)
{
    struct stat st;
    if (!d->crl_file[0] || stat(d->crl_file, &st)) return d->crl_store;
    if (d->crl_store && st.st_mtim.tv_sec == d->crl_mtime.tv_sec && st.st_mtim.tv_nsec == d->crl_mtime.tv_nsec)
        return d->crl_store;
    X509_STORE *store = X509_STORE_new();
    FILE *f = fopen(d->crl_file, "r");
    X509_CRL *crl;
    int n = 0;
    bool ok = store && f && X509_STORE_load_file(store, d->ca_bundle) == 1;
    while (ok && (crl = PEM_read_X509_CRL(f, NULL, NULL, NULL))) {
        ok = X509_STORE_add_crl(store, crl) == 1;
        X509_CRL_free(crl);
        n++;
    }
    if (f) fclose(f);
    ERR_clear_error();   /* the end of the PEM file */
    if (!ok || !n) {
        log_warn("dtls: cannot load the CRL file %s", d->crl_file);
        X509_STORE_free(store);
        return d->crl_store;
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    X509_STORE_free(d->crl_store);
    d->crl_store = store;
    d->crl_mtime = st.st_mtim;
    SSL_CTX_flush_sessions(ctx, 0);   /* 0: every session, not only expired ones */
    log_info("dtls: CRL %s loaded", d->crl_file);
    return store;
}

static const coap_bin_const_t *psk_for_identity(coap_bin_const_t *identity, coap_session_t *session,
                                                void *arg)
{
    (void)session;
    struct dtls *d = arg;
    char id[CRED_ID_MAX];
    if (!identity || !identity->length || identity->length >= sizeof id) return NULL;
    memcpy(id, identity->s, identity->length);
    id[identity->length] = 0;
    struct cred_psk psk;
    if (strlen(id) != identity->length || cred_get_psk(d->creds, id, &psk) != 0) {
        log_debug("dtls: unknown PSK identity '%.*s'", (int)identity->length, (const char *)identity->s);
        return NULL;   /* counted by dtls_session_event() */
    }
    memcpy(d->key, psk.key, psk.key_len);
    d->key_bin.s = d->key;
    d->key_bin.length = psk.key_len;
    memset(&psk, 0, sizeof psk);
    return &d->key_bin;
}

/* libcoap has verified the chain; only a verified certificate is accepted,
 * and a client certificate (depth 0) only when its URI subjectAltName is
 * absent or well-formed (cert_san.h, the same rule as HTTPS). */
static int accept_verified(const char *cn, const uint8_t *der, size_t der_len, coap_session_t *session,
                           unsigned depth, int validated, void *arg)
{
    (void)session;
    (void)arg;
    if (!validated) {
        log_debug("dtls: certificate '%s' (depth %u) refused", cn ? cn : "", depth);
        return 0;   /* counted by dtls_session_event() */
    }
    char uri[SAN_URI_MAX + 1];
    if (depth == 0 && cert_san_uri(der, der_len, uri, sizeof uri) == SAN_URI_BAD) {
        log_warn("dtls: client certificate with a malformed URI subjectAltName refused");
        return 0;
    }
    return 1;
}

/* The remote address of a libcoap session ("" when unknown). */
static void session_address(const coap_session_t *session, char *ip, size_t cap)
{
    const coap_address_t *a = session ? coap_session_get_addr_remote(session) : NULL;
    ip[0] = 0;
    if (a && a->addr.sa.sa_family == AF_INET)
        inet_ntop(AF_INET, &a->addr.sin.sin_addr, ip, (socklen_t)cap);
    else if (a && a->addr.sa.sa_family == AF_INET6)
        inet_ntop(AF_INET6, &a->addr.sin6.sin6_addr, ip, (socklen_t)cap);
}

static void refresh_cas(struct dtls *d, SSL_CTX *ctx);

/* A server handshake gets coaps-handshake-timeout to finish. The session is
 * referenced while it is watched: libcoap frees a server session it no
 * longer needs at any time, and a referenced one never (coap_session_free()
 * skips it), so the pointer stays ours to look at until released. */
static void watch_handshake(struct dtls *d, coap_session_t *session)
{
    if (!session || !d->handshake_limit_us || d->nunfinished == DTLS_UNFINISHED_MAX) return;
    for (int i = 0; i < d->nunfinished; i++)
        if (d->unfinished[i].session == session) return;
    d->unfinished[d->nunfinished++] = (struct unfinished){
        coap_session_reference(session), clock_now_us() + d->handshake_limit_us,
    };
}

/* Stops watching slot i (the last takes its place); the session is released. */
static coap_session_t *unwatch_slot(struct dtls *d, int i)
{
    coap_session_t *s = d->unfinished[i].session;
    d->unfinished[i] = d->unfinished[--d->nunfinished];
    return s;
}

static void unwatch(struct dtls *d, coap_session_t *session)
{
    for (int i = 0; i < d->nunfinished; i++)
        if (d->unfinished[i].session == session) {
            coap_session_release(unwatch_slot(d, i));
            return;
        }
}

void dtls_end_slow_handshakes(struct dtls *d)
{
    if (!d) return;
    int64_t now = clock_now_us();
    for (int i = 0; i < d->nunfinished;) {
        struct unfinished u = d->unfinished[i];
        bool open = coap_session_get_state(u.session) == COAP_SESSION_STATE_HANDSHAKE;
        if (open && now < u.deadline_us) {
            i++;
            continue;
        }
        unwatch_slot(d, i);
        if (open) {
            char ip[INET6_ADDRSTRLEN];
            session_address(u.session, ip, sizeof ip);
            log_info("dtls: handshake with %s unfinished after %lld ms: ended", ip,
                     (long long)(d->handshake_limit_us / 1000));
            /* Frees the SSL (libcoap's DTLS_CLOSED event counts the failure,
             * dtls_session_event()); the session, released below, goes at
             * libcoap's next sweep. */
            coap_session_disconnected(u.session, COAP_NACK_TLS_FAILED);
        }
        coap_session_release(u.session);
    }
}

void dtls_forget_handshakes(struct dtls *d)
{
    while (d && d->nunfinished) coap_session_release(unwatch_slot(d, 0));
}

/* Called with the OpenSSL session during the ClientHello, once the cookie
 * exchange proved the address (so a spoofed one cannot spend another's
 * handshakes), PSK and certificate handshakes alike: the handshake rate
 * limit, then our suites. Returning 0 fails the handshake before the
 * server signs or derives anything. */
static int prefer_suites(void *tls_session, coap_dtls_pki_t *setup)
{
    SSL *ssl = tls_session;
    struct dtls *d = setup->cn_call_back_arg;
    char ip[INET6_ADDRSTRLEN];
    session_address(SSL_get_app_data(ssl), ip, sizeof ip);
    if (!throttle_handshake(d->throttle, ip)) {
        log_debug("dtls: handshake from %s refused by the rate limit", ip);
        return 0;
    }
    SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
    refresh_cas(d, ctx);
    X509_STORE *store = crl_store(d, ctx);
    if (!store) store = d->ca_store;
    if (SSL_set1_verify_cert_store(ssl, store) != 1) return 0;
    ERR_clear_error();   /* see dtls_setup(): stale PEM errors confuse SSL_get_error() */
    /* Our suites go on libcoap's server SSL_CTX once: parsing the list costs
     * more than the rest of a PSK session's set-up. The session at hand was
     * made from the CTX before, so the first one gets them itself. */
    if (ctx != d->suites_ctx) {
        if (SSL_CTX_set_cipher_list(ctx, dtls_ciphers) != 1 || SSL_set_cipher_list(ssl, dtls_ciphers) != 1)
            return 0;
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
        /* Sessions without their own list (all of ours) send the CTX's. */
        SSL_CTX_set_client_CA_list(ctx, d->ca_names);
        d->ca_names = NULL;
        /* A MEF/MAF derives keys from its handshakes (bootstrap.h): full ones only. */
        bool resumable = d->session_cache > 0 && !bootstrap_enabled();
        SSL_CTX_set_session_cache_mode(ctx, resumable ? SSL_SESS_CACHE_SERVER : SSL_SESS_CACHE_OFF);
        SSL_CTX_sess_set_cache_size(ctx, resumable ? d->session_cache : 1);
        SSL_CTX_set_timeout(ctx, DTLS_SESSION_LIFETIME_S);
        if (SSL_CTX_use_certificate(ctx, d->cert) != 1 || SSL_CTX_use_PrivateKey(ctx, d->pkey) != 1) return 0;
        d->suites_ctx = ctx;
    }
    /* Sessions libcoap made before the CTX had them (its next listener too). */
    if (!SSL_get_certificate(ssl) &&
        (SSL_use_certificate(ssl, d->cert) != 1 || SSL_use_PrivateKey(ssl, d->pkey) != 1))
        return 0;
    /* No tickets: a ticket cannot be taken back when the CRL changes, and
     * issuing one re-decodes the client's certificate (OpenSSL 3.0 copies
     * the session through DER), ~1.5 M instructions per handshake. The
     * session ID context makes cached sessions resumable at all once a
     * client certificate is asked for (OpenSSL refuses the handshake
     * otherwise); it is set here, before OpenSSL looks the session up. */
    SSL_set_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    if (SSL_set_session_id_context(ssl, dtls_sid_ctx, sizeof dtls_sid_ctx - 1) != 1) return 0;
    watch_handshake(d, SSL_get_app_data(ssl));
    return 1;
}

static int append_ca(void *arg, const char *name, const char *pem)
{
    (void)name;
    return fputs(pem, arg) < 0 ? -1 : 0;
}

/* Appends the file at path to out. */
static int copy_file(FILE *out, const char *path)
{
    FILE *in = fopen(path, "rb");
    if (!in) return -1;
    char buf[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) if (fwrite(buf, 1, n, out) != n) rc = -1;
    fclose(in);
    return rc;
}

/* The server certificate and key, parsed once; prefer_suites() sets them
 * on libcoap's SSL_CTX (see dtls_setup() for why not libcoap). EC and RSA
 * keys (a configured tls-key may be RSA). */
static int load_identity(struct dtls *d)
{
    FILE *f = fopen(d->id.server_cert, "r");
    d->cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    f = fopen(d->id.server_key, "r");
    d->pkey = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    int type = d->pkey ? EVP_PKEY_get_base_id(d->pkey) : 0;
    bool usable = type == EVP_PKEY_EC || type == EVP_PKEY_RSA;
    if (d->pkey && !usable) log_error("dtls: the server key %s is neither EC nor RSA", d->id.server_key);
    ERR_clear_error();
    return d->cert && usable && X509_check_private_key(d->cert, d->pkey) == 1 ? 0 : -1;
}

/* <data-dir>/tls/trusted-cas.pem; with a configured tls-cert nothing was
 * generated there yet. */
static int ca_bundle_path(struct dtls *d, const struct config *cfg)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/tls", cfg->data_dir);
    if (mkdir(dir, 0700) && errno != EEXIST) return -1;
    snprintf(d->ca_bundle, sizeof d->ca_bundle, "%s/trusted-cas.pem", dir);
    return 0;
}

/* One CA bundle, <data-dir>/tls/trusted-cas.pem: our CA plus every trusted
 * CA of the store. libcoap would parse it again for every certificate
 * session, so the verification store and the CA names are made here once
 * (and again when the store's CAs change) and set by prefer_suites(). */
static int build_ca_bundle(struct dtls *d)
{
    d->ca_generation = cred_ca_generation(d->creds);
    FILE *f = fopen(d->ca_bundle, "w");
    if (!f) return -1;
    int rc = d->id.ca_cert[0] ? copy_file(f, d->id.ca_cert) : 0;
    if (cred_each_ca(d->creds, append_ca, f)) rc = -1;
    if (fclose(f) || rc) return -1;
    /* No CA at all (a configured tls-cert, no trusted CAs) is allowed: then
     * no client certificate verifies. */
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(d->ca_bundle);
    if (!names) names = sk_X509_NAME_new_null();
    if (store) X509_STORE_load_file(store, d->ca_bundle);
    ERR_clear_error();   /* the end of the PEM file, or an empty one */
    if (!store || !names) {
        X509_STORE_free(store);
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return -1;
    }
    X509_STORE_free(d->ca_store);
    d->ca_store = store;
    sk_X509_NAME_pop_free(d->ca_names, X509_NAME_free);
    d->ca_names = names;
    return 0;
}

/* The trusted CAs changed in the credential store (the admin command, or
 * another front-end on a shared store): the bundle is built again, so the
 * handshake at hand and every later one verify against the new CAs, as
 * HTTPS does (tls.c, refresh_cas()). The CRL store is rebuilt onto them,
 * and no cached session made under the old CAs resumes. */
static void refresh_cas(struct dtls *d, SSL_CTX *ctx)
{
    if (cred_ca_generation(d->creds) == d->ca_generation) return;
    if (build_ca_bundle(d)) {
        log_warn("dtls: cannot rebuild %s: the trusted CAs stay as they were", d->ca_bundle);
        return;                /* retried at the next handshake */
    }
    if (ctx == d->suites_ctx) {
        SSL_CTX_set_client_CA_list(ctx, d->ca_names);   /* takes them */
        d->ca_names = NULL;
    }
    X509_STORE_free(d->crl_store);
    d->crl_store = NULL;
    d->crl_mtime = (struct timespec){ 0 };
    SSL_CTX_flush_sessions(ctx, 0);
    log_info("dtls: trusted CAs reloaded");
}

struct dtls *dtls_setup(struct coap_context_t *ctx, const struct config *cfg, struct credentials *creds,
                        struct throttle *throttle, struct metrics *metrics)
{
    if (!coap_dtls_is_supported()) {
        log_error("dtls: libcoap was built without DTLS");
        return NULL;
    }
    /* libcoap 4.3.1 can leave errors on OpenSSL's queue (given PEM files,
     * it read the CA file of every session until PEM "no start line"); only
     * its info callback, at DTLS log level WARNING or above, drains the
     * queue. Below that, SSL_get_error() later reads a plain WANT_READ as a
     * failure and the server never answers the client's Finished
     * (measured). libcoap's own level still filters what is printed. */
    int level = coap_get_log_level();
    coap_dtls_set_log_level(level > LOG_WARNING ? level : LOG_WARNING);
    struct dtls *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->creds = creds;
    d->throttle = throttle;
    d->metrics = metrics;
    snprintf(d->crl_file, sizeof d->crl_file, "%s", cfg->crl_file);
    d->session_cache = cfg->coaps_session_cache;
    d->handshake_limit_us = (int64_t)cfg->coaps_handshake_timeout_ms * 1000;
    if (certgen_server_identity(cfg, &d->id) || ca_bundle_path(d, cfg) || build_ca_bundle(d) ||
        load_identity(d) || RAND_bytes(d->psk_marker, sizeof d->psk_marker) != 1) {
        log_error("dtls: cannot prepare the server certificate and trusted CAs");
        dtls_free(d);
        return NULL;
    }
    /* libcoap 4.3.1 (OpenSSL) treats a ClientHello as a PSK one only when
     * the context has a default key; without one it sets up the server
     * certificate, key and CAs for every new session, PSK ones too, parsing
     * them again each time. So the context gets a random key nobody knows:
     * psk_for_identity() still decides every PSK handshake (libcoap uses
     * the default key only when there is no identity callback). */
    coap_dtls_spsk_t psk = {
        .version = COAP_DTLS_SPSK_SETUP_VERSION,
        .validate_id_call_back = psk_for_identity,
        .id_call_back_arg = d,
        .psk_info.key = { .s = d->psk_marker, .length = sizeof d->psk_marker },
    };
    coap_dtls_pki_t pki = {
        .version = COAP_DTLS_PKI_SETUP_VERSION,
        .verify_peer_cert = 1,
        .check_common_ca = 1,
        .cert_chain_validation = 1,
        .cert_chain_verify_depth = 3,
        .validate_cn_call_back = accept_verified,
        .cn_call_back_arg = d,      /* prefer_suites finds the throttle through it */
        .additional_tls_setup_call_back = prefer_suites,
    };
    /* libcoap 4.3.1 parses the key it is given for every certificate
     * session (d2i of the certificate and the key: 3.0 M instructions of
     * OpenSSL 3.0's decoders, 84 % of a resumed certificate handshake),
     * ignoring whether that worked. It gets one byte that is no DER at
     * all, which fails at once (libcoap logs it at warning, below our
     * libcoap level except at debug); prefer_suites() then sets the
     * certificate and key parsed at start (load_identity()) on its SSL_CTX,
     * where every later session inherits them by reference. No CAs either:
     * prefer_suites() sets those parsed once (build_ca_bundle()). A libcoap
     * that checked the result would fail every certificate handshake
     * (test_coaps), never serve a wrong certificate. docs/decisions.md. */
    static const uint8_t not_der[1] = { 0 };
    pki.pki_key.key_type = COAP_PKI_KEY_ASN1;
    pki.pki_key.key.asn1 = (coap_pki_key_asn1_t){
        .public_cert = not_der, .public_cert_len = sizeof not_der, .private_key_type = COAP_ASN1_PKEY_EC,
    };
    if (!coap_context_set_psk2(ctx, &psk) || !coap_context_set_pki(ctx, &pki)) {
        log_error("dtls: libcoap refused the PSK/PKI setup");
        dtls_free(d);
        return NULL;
    }
    /* libcoap has made its SSL_CTX: OpenSSL's configuration is loaded, so a
     * CoAPS-only CSE gets the key-type names cache too (ossl_names.h). */
    ossl_names_freeze();
    return d;
}

/* One place counts failed handshakes, whatever failed them: our refusals
 * end the session with an alert at once, but a wrong PSK does not show
 * (DTLS silently drops the client's Finished it cannot decrypt), so that
 * session ends only when the server's retransmissions run out. */
void dtls_session_event(struct dtls *d, struct coap_session_t *session, int event)
{
    if (!d) return;
    if (event == COAP_EVENT_DTLS_CLOSED && coap_session_get_type(session) == COAP_SESSION_TYPE_SERVER &&
        coap_session_get_state(session) == COAP_SESSION_STATE_HANDSHAKE)
        metrics_handshake_failed(d->metrics, "coaps");
    if (event == COAP_EVENT_DTLS_CLOSED || event == COAP_EVENT_DTLS_CONNECTED) unwatch(d, session);
}

void dtls_free(struct dtls *d)
{
    if (!d) return;
    explicit_bzero(d->key, sizeof d->key);
    explicit_bzero(d->psk_marker, sizeof d->psk_marker);
    X509_free(d->cert);
    EVP_PKEY_free(d->pkey);
    X509_STORE_free(d->crl_store);
    X509_STORE_free(d->ca_store);
    sk_X509_NAME_pop_free(d->ca_names, X509_NAME_free);
    free(d);
}

/* The client certificate's URI subjectAltName, read from its DER. */
static bool cert_uri(X509 *cert, char *out, size_t cap)
{
    unsigned char *der = NULL;
    int n = cert ? i2d_X509(cert, &der) : -1;
    bool ok = n > 0 && cert_san_uri(der, (size_t)n, out, cap) == SAN_URI_OK;
    OPENSSL_free(der);
    return ok;
}

/* In a MEF the PSK session is the MEF handshake (bootstrap.h); the same
 * session exports the same bytes, so a record per request stays one record. */
static void export_bootstrap(SSL *ssl, const char *credential_id)
{
    if (!bootstrap_enabled()) return;
    unsigned char km[BOOTSTRAP_LEN];
    if (SSL_export_keying_material(ssl, km, sizeof km, bootstrap_label(), strlen(bootstrap_label()),
                                   NULL, 0, 0) == 1)
        bootstrap_record(credential_id, km);
    else
        log_warn("dtls: cannot export the bootstrap keying material of %s", credential_id);
    OPENSSL_cleanse(km, sizeof km);
}

bool dtls_session_credential(struct coap_session_t *session, char *out, size_t cap)
{
    if (coap_session_get_proto(session) != COAP_PROTO_DTLS) return false;
    coap_tls_library_t lib;
    SSL *ssl = coap_session_get_tls(session, &lib);
    if (!ssl || lib != COAP_TLS_LIBRARY_OPENSSL) return false;
    log_debug("dtls: request over %s", SSL_get_cipher_name(ssl));
    const coap_bin_const_t *id = coap_session_get_psk_identity(session);
    /* A resumed session never ran libcoap's PSK callback: its identity is
     * the one stored with the session at its full handshake. */
    const char *resumed_id = id && id->length ? NULL : SSL_get_psk_identity(ssl);
    coap_bin_const_t stored = { resumed_id ? strlen(resumed_id) : 0, (const uint8_t *)resumed_id };
    if (resumed_id) id = &stored;
    if (id && id->length) {
        if (id->length >= CRED_ID_MAX || memchr(id->s, 0, id->length)) return false;
        snprintf(out, cap, "12-%.*s", (int)id->length, (const char *)id->s);
        export_bootstrap(ssl, out);
        return true;
    }
    if (SSL_get_verify_result(ssl) != X509_V_OK) return false;
    X509 *peer = SSL_get1_peer_certificate(ssl);
    char uri[SAN_URI_MAX + 1];
    bool ok = cert_uri(peer, uri, sizeof uri);
    X509_free(peer);
    if (ok) {
        snprintf(out, cap, "33-%s", uri);
        if (bootstrap_for_certificates()) export_bootstrap(ssl, out);
    }
    return ok;
}
