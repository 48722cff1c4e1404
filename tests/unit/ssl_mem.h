/* Two libssl endpoints in one process, joined by memory BIOs: a handshake
 * without sockets. Shared by the unit tests of our definitions of libcrypto
 * functions (test_ossl_interpose, test_x509_cache). */
#ifndef IRONBARK_TEST_SSL_MEM_H
#define IRONBARK_TEST_SSL_MEM_H

#include <openssl/err.h>
#include <openssl/ssl.h>

/* A client of cctx and a server of sctx, each reading what the other writes. */
static inline void ssl_mem_pair(SSL_CTX *cctx, SSL_CTX *sctx, SSL **c, SSL **s)
{
    *c = SSL_new(cctx);
    *s = SSL_new(sctx);
    SSL_set_bio(*c, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_bio(*s, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_connect_state(*c);
    SSL_set_accept_state(*s);
}

/* Moves what from has written to to's input; 0 if a write fell short. */
static inline int ssl_mem_pump(SSL *from, SSL *to)
{
    char buf[16384];
    int n;
    while ((n = BIO_read(SSL_get_wbio(from), buf, sizeof buf)) > 0)
        if (BIO_write(SSL_get_rbio(to), buf, n) != n) return 0;
    return 1;
}

/* One side's next step: 1 finished, 0 waiting for the peer, -1 failed. */
static inline int ssl_mem_step(SSL *ssl)
{
    int r = SSL_do_handshake(ssl);
    return r == 1 ? 1 : SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ ? 0 : -1;
}

/* The handshake of a pair, a bounded number of flights: 1 when both ends
 * finished, 0 when either failed or it did not end. The error queue is
 * left empty. */
static inline int ssl_mem_handshake(SSL *c, SSL *s)
{
    int cdone = 0, sdone = 0;
    for (int round = 0; round < 10 && !(cdone && sdone); round++) {
        if (!cdone && (cdone = ssl_mem_step(c)) < 0) break;
        if (!ssl_mem_pump(c, s)) break;
        if (!sdone && (sdone = ssl_mem_step(s)) < 0) break;
        if (!ssl_mem_pump(s, c)) break;
    }
    ERR_clear_error();
    return cdone == 1 && sdone == 1;
}

#endif
