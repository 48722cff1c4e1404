/* Asynchronous HTTP/1.1 client on the event loop: non-blocking connect,
 * llhttp response parsing, keep-alive reuse per scheme and host:port,
 * timeouts through loop timers; https:// through a TLS layer the owner
 * installs (http_client_set_tls: wolfSSL, in the transport module). Used to
 * deliver notifications; knows nothing of oneM2M except that it reads the
 * X-M2M-RSC header for its callers.
 * Hosts must be numeric IPv4/IPv6 addresses or "localhost": names are
 * resolved before (cse/events/outbound.c), a lookup here would block. */
#ifndef IRONBARK_HTTP_CLIENT_H
#define IRONBARK_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

struct loop;
struct http_client;

enum http_client_error {
    HC_OK = 0,
    HC_ERR_URL,          /* malformed URL or unsupported host */
    HC_ERR_CONNECT,      /* connection refused / reset before an answer */
    HC_ERR_TIMEOUT,      /* no complete answer within the timeout */
    HC_ERR_PROTOCOL,     /* the answer was not HTTP */
    HC_ERR_MEMORY,
    HC_ERR_TLS,          /* TLS handshake failed (certificate, protocol) */
};

/* A TLS layer for https:// connections (the shape of struct http_transport,
 * seen from the client side). attach: a new connection on fd to a server
 * that must prove it is server_name, at hostport (the address and port
 * connected to: what outbound-psk names); NULL to refuse. handshake: 0 when
 * done, else HTTP_IO_WANT_READ/WRITE or HTTP_IO_ERROR (cse/wire/http.h);
 * error: why the last handshake failed, for the log. */
struct http_client_io {
    void *(*attach)(void *io_data, int fd, const char *server_name, const char *hostport);
    int (*handshake)(void *conn);
    long (*read)(void *conn, void *buf, size_t n);
    long (*write)(void *conn, const void *buf, size_t n);
    const char *(*error)(void *conn);
    void (*detach)(void *conn);
};

struct http_client_result {
    int error;           /* enum http_client_error */
    int status;          /* HTTP status when error == HC_OK */
    int rsc;             /* X-M2M-RSC header value, 0 when absent */
    const char *body;    /* borrowed for the callback (sync: owned, see below) */
    size_t body_len;
    const char *reason;  /* HC_ERR_TLS: why, borrowed for the callback */
    char location[256];  /* Content-Location ("" when absent or too long) */
};

typedef void http_client_done(void *data, const struct http_client_result *res);

struct http_client *http_client_create(struct loop *loop);
/* Closes every connection; requests in flight end with HC_ERR_CONNECT (their
 * callbacks must not send on c again). */
void http_client_destroy(struct http_client *c);

/* https:// URLs go through io from now on (before: HC_ERR_URL). */
void http_client_set_tls(struct http_client *c, const struct http_client_io *io, void *io_data);
/* Whether https:// is set up. */
bool http_client_has_tls(const struct http_client *c);

/* Sends `method url` with extra header lines (each ending in \r\n) and a body,
 * the concatenation of nbody pieces. The body is not copied: the iovec
 * array is read during the call, the bytes must stay valid until `done`
 * runs — exactly once, from the loop (never from inside this call).
 * Returns 0, or -1 when the request could not even be queued. */
int http_client_send(struct http_client *c, const char *method, const char *url,
                     const char *headers, const struct iovec *body, int nbody, int timeout_ms,
                     http_client_done *done, void *data);
/* The same with the name the URL's host was resolved from (NULL = the
 * URL's host): it goes in the Host header and, for https://, is what the
 * server's certificate must carry. */
int http_client_send_named(struct http_client *c, const char *method, const char *url,
                           const char *server_name, const char *headers, const struct iovec *body,
                           int nbody, int timeout_ms, http_client_done *done, void *data);

/* Blocking variant with a hard bound of timeout_ms on the whole exchange,
 * on a private socket. out->body is malloc'd (free it). */
void http_client_send_sync(const char *method, const char *url, const char *headers,
                           const struct iovec *body, int nbody, int timeout_ms,
                           struct http_client_result *out);

/* Connections currently open (idle or busy), for tests and statistics. */
int http_client_connections(const struct http_client *c);

#endif
