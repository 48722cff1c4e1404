/* libssl only: this file must never include wolfSSL headers (design.md). */
#include "tls_io.h"

#include "../cse/base/log.h"
#include "../cse/wire/http.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

long tls_io_want(SSL *ssl, int ret, char *why, size_t whylen)
{
    int err = SSL_get_error(ssl, ret);
    if (err == SSL_ERROR_WANT_READ) return HTTP_IO_WANT_READ;
    if (err == SSL_ERROR_WANT_WRITE) return HTTP_IO_WANT_WRITE;
    if (err == SSL_ERROR_ZERO_RETURN) return 0;
    unsigned long code = ERR_get_error();
    char msg[256];
    if (code) ERR_error_string_n(code, msg, sizeof msg);
    else snprintf(msg, sizeof msg, err == SSL_ERROR_SYSCALL ? "the connection ended" : "error %d", err);
    /* The queue is per thread and shared with libcoap's DTLS: leave it empty. */
    ERR_clear_error();
    if (why) snprintf(why, whylen, "TLS: %s", msg);
    else log_debug("tls: %s", msg);
    return HTTP_IO_ERROR;
}

/* OpenSSL's SSL_get_error() reads the thread's error queue: anything left
 * there by another library call would be taken for this call's failure. */
long tls_io_read(SSL *ssl, void *buf, size_t n, char *why, size_t whylen)
{
    ERR_clear_error();
    int ret = SSL_read(ssl, buf, n > 1 << 30 ? 1 << 30 : (int)n);
    return ret > 0 ? ret : tls_io_want(ssl, ret, why, whylen);
}

long tls_io_write(SSL *ssl, const void *buf, size_t n, char *why, size_t whylen)
{
    ERR_clear_error();
    int ret = SSL_write(ssl, buf, n > 1 << 30 ? 1 << 30 : (int)n);
    if (ret > 0) return ret;
    long w = tls_io_want(ssl, ret, why, whylen);
    return w == 0 ? HTTP_IO_ERROR : w;
}

void tls_io_close(SSL *ssl)
{
    /* The socket is non-blocking: best effort, and no alert after an error
     * (SSL_shutdown refuses then anyway). */
    ERR_clear_error();
    if (SSL_is_init_finished(ssl)) SSL_shutdown(ssl);
    ERR_clear_error();
    SSL_free(ssl);
}

int tls_io_setup(SSL_CTX *ctx)
{
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS);
    return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 ? 0 : -1;
}

/* Trusts every certificate of one PEM text; a server also names them in
 * its CertificateRequest, so that clients pick the certificate to send. */
static int load_cas(SSL_CTX *ctx, const char *name, const char *pem, bool server)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int loaded = 0;
    X509 *cert;
    while (bio && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (X509_STORE_add_cert(store, cert) == 1) loaded++;
        if (server) SSL_CTX_add_client_CA(ctx, cert);
        X509_free(cert);
    }
    BIO_free(bio);
    ERR_clear_error();   /* the end of the PEM text, or a duplicate in the store */
    if (!loaded) log_warn("tls: trusted CA '%s' could not be loaded, skipped", name);
    return 0;
}

int tls_io_load_ca(void *ctx, const char *name, const char *pem) { return load_cas(ctx, name, pem, false); }

int tls_io_load_client_ca(void *ctx, const char *name, const char *pem) { return load_cas(ctx, name, pem, true); }
