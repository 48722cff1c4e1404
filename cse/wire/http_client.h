/* Asynchronous HTTP/1.1 client on the event loop: non-blocking connect,
 * llhttp response parsing, keep-alive reuse per host:port, timeouts through
 * loop timers. Used to deliver notifications; knows nothing of oneM2M
 * except that it reads the X-M2M-RSC header for its callers.
 * Hosts must be numeric IPv4/IPv6 addresses or "localhost": a name lookup
 * would block the loop. */
#ifndef IRONBARK_HTTP_CLIENT_H
#define IRONBARK_HTTP_CLIENT_H

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
};

struct http_client_result {
    int error;           /* enum http_client_error */
    int status;          /* HTTP status when error == HC_OK */
    int rsc;             /* X-M2M-RSC header value, 0 when absent */
    const char *body;    /* borrowed for the callback (sync: owned, see below) */
    size_t body_len;
};

typedef void http_client_done(void *data, const struct http_client_result *res);

struct http_client *http_client_create(struct loop *loop);
/* Closes every connection; requests in flight end with HC_ERR_CONNECT (their
 * callbacks must not send on c again). */
void http_client_destroy(struct http_client *c);

/* Sends `method url` with extra header lines (each ending in \r\n) and a body,
 * the concatenation of nbody pieces. The body is not copied: the iovec
 * array is read during the call, the bytes must stay valid until `done`
 * runs — exactly once, from the loop (never from inside this call).
 * Returns 0, or -1 when the request could not even be queued. */
int http_client_send(struct http_client *c, const char *method, const char *url,
                     const char *headers, const struct iovec *body, int nbody, int timeout_ms,
                     http_client_done *done, void *data);

/* Blocking variant with a hard bound of timeout_ms on the whole exchange,
 * on a private socket. out->body is malloc'd (free it). */
void http_client_send_sync(const char *method, const char *url, const char *headers,
                           const struct iovec *body, int nbody, int timeout_ms,
                           struct http_client_result *out);

/* Connections currently open (idle or busy), for tests and statistics. */
int http_client_connections(const struct http_client *c);

#endif
