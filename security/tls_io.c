/* wolfSSL only: this file must never include OpenSSL headers (design.md). */
#include "tls_io.h"

#include "../cse/base/log.h"
#include "../cse/wire/http.h"

#include <stdio.h>
#include <string.h>

long tls_io_want(WOLFSSL *ssl, int ret, char *why, size_t whylen)
{
    int err = wolfSSL_get_error(ssl, ret);
    if (err == WOLFSSL_ERROR_WANT_READ) return HTTP_IO_WANT_READ;
    if (err == WOLFSSL_ERROR_WANT_WRITE) return HTTP_IO_WANT_WRITE;
    if (err == WOLFSSL_ERROR_ZERO_RETURN) return 0;
    char msg[WOLFSSL_MAX_ERROR_SZ];
    wolfSSL_ERR_error_string((unsigned long)err, msg);
    if (why) snprintf(why, whylen, "TLS: %s", msg);
    else log_debug("tls: %s", msg);
    return HTTP_IO_ERROR;
}

long tls_io_read(WOLFSSL *ssl, void *buf, size_t n, char *why, size_t whylen)
{
    int ret = wolfSSL_read(ssl, buf, n > 1 << 30 ? 1 << 30 : (int)n);
    return ret > 0 ? ret : tls_io_want(ssl, ret, why, whylen);
}

long tls_io_write(WOLFSSL *ssl, const void *buf, size_t n, char *why, size_t whylen)
{
    int ret = wolfSSL_write(ssl, buf, n > 1 << 30 ? 1 << 30 : (int)n);
    if (ret > 0) return ret;
    long w = tls_io_want(ssl, ret, why, whylen);
    return w == 0 ? HTTP_IO_ERROR : w;
}

void tls_io_close(WOLFSSL *ssl)
{
    wolfSSL_shutdown(ssl); /* the socket is non-blocking: best effort */
    wolfSSL_free(ssl);
}

int tls_io_load_ca(void *ctx, const char *name, const char *pem)
{
    if (wolfSSL_CTX_load_verify_buffer(ctx, (const unsigned char *)pem, (long)strlen(pem),
                                       WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)
        log_warn("tls: trusted CA '%s' could not be loaded, skipped", name);
    return 0;
}
