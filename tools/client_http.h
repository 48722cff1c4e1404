/* The HTTP/1.1 pieces of the plain transport that HTTPS (client_tls.c)
 * reuses over its TLS session. */
#ifndef IRONBARK_CLIENT_HTTP_H
#define IRONBARK_CLIENT_HTTP_H

#include "client.h"

/* A connected blocking TCP socket with send/receive timeouts, or -1 with err. */
int client_http_connect(const struct client_url *url, int timeout_ms, char *err, size_t errlen);
/* The request bytes (malloc()ed, length in *len), or NULL with err. */
char *client_http_build(const struct client_opts *o, const struct client_url *url,
                        const struct client_request *rq, size_t *len, char *err, size_t errlen);
/* Reads until the peer closes (or MAX_RESPONSE); rd returns bytes, 0 at the
 * end, <0 on error. The result is NUL-terminated and malloc()ed. */
typedef long client_read_fn(void *ctx, char *buf, size_t n);
char *client_http_read_all(client_read_fn *rd, void *ctx, size_t *len);
/* Parses a whole response (raw is modified). Returns 0 or -1 with err. */
int client_http_parse(char *raw, size_t len, struct client_response *rsp, char *err, size_t errlen);

/* Prints a request or response on stderr (verbose), tokens left out. */
void client_http_show(const char *prefix, const char *text, size_t len);

#endif
