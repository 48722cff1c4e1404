/* What the TLS server (tls.c) and client (tls_client.c) do alike with an
 * OpenSSL session on a non-blocking socket. libssl only: never include
 * wolfSSL headers with this one. */
#ifndef IRONBARK_TLS_IO_H
#define IRONBARK_TLS_IO_H

#include <openssl/ssl.h>

#include <stddef.h>

/* What OpenSSL's ret means: HTTP_IO_WANT_READ/WRITE, 0 when the peer closed,
 * else HTTP_IO_ERROR with the reason written to why (logged at debug when
 * why is NULL). */
long tls_io_want(SSL *ssl, int ret, char *why, size_t whylen);
/* Bytes read/written, or tls_io_want()'s answer (a write never returns 0). */
long tls_io_read(SSL *ssl, void *buf, size_t n, char *why, size_t whylen);
long tls_io_write(SSL *ssl, const void *buf, size_t n, char *why, size_t whylen);
/* Best effort close_notify, then frees ssl. */
void tls_io_close(SSL *ssl);
/* The options both sides share: TLS 1.2 at least, partial writes from a
 * buffer that may move between retries (the HTTP layers' output queues),
 * buffers released while a connection idles. 0, or -1. */
int tls_io_setup(SSL_CTX *ctx);
/* cred_each_ca() callbacks: trust every certificate of one PEM text in the
 * SSL_CTX arg; the server's also names them in its CertificateRequest. */
int tls_io_load_ca(void *ctx, const char *name, const char *pem);
int tls_io_load_client_ca(void *ctx, const char *name, const char *pem);

#endif
