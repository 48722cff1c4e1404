/* What the TLS server (tls.c) and client (tls_client.c) do alike with a
 * wolfSSL session on a non-blocking socket. wolfSSL only. */
#ifndef IRONBARK_TLS_IO_H
#define IRONBARK_TLS_IO_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stddef.h>

/* What wolfSSL's ret means: HTTP_IO_WANT_READ/WRITE, 0 when the peer closed,
 * else HTTP_IO_ERROR with the reason written to why (logged at debug when
 * why is NULL). */
long tls_io_want(WOLFSSL *ssl, int ret, char *why, size_t whylen);
/* Bytes read/written, or tls_io_want()'s answer (a write never returns 0). */
long tls_io_read(WOLFSSL *ssl, void *buf, size_t n, char *why, size_t whylen);
long tls_io_write(WOLFSSL *ssl, const void *buf, size_t n, char *why, size_t whylen);
/* Best effort close_notify, then frees ssl. */
void tls_io_close(WOLFSSL *ssl);
/* cred_each_ca() callback: trusts one PEM CA in the WOLFSSL_CTX arg. */
int tls_io_load_ca(void *ctx, const char *name, const char *pem);

#endif
