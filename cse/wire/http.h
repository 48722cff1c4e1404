/* HTTP/1.1 server transport on the event loop: llhttp parsing, keep-alive,
 * pipelining, body limits, idle timeouts, request deadlines and connection
 * limits. It knows nothing of oneM2M; a handler turns each parsed request
 * into a response (http_binding.c). */
#ifndef IRONBARK_HTTP_H
#define IRONBARK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct http_server;
struct http_conn;

#define HTTP_MAX_HEADERS 48

struct http_header { const char *name, *value; };

struct http_request {
    const char *method;        /* "GET", "POST", … */
    const char *target;        /* raw request-target: path and query */
    struct http_header headers[HTTP_MAX_HEADERS];
    int nheaders;
    const char *body;
    size_t body_len;
    const char *peer_ip;
    int peer_port;
    bool secure;               /* arrived over a transport such as TLS */
    const char *credential_id; /* authenticated peer credential, or NULL */
    /* Where a deferred answer must go (see http_server_respond). */
    struct http_server *server;
    struct http_conn *conn;
    uint64_t conn_gen;
};

struct http_response {
    int status;
    char headers[4096];        /* extra header lines, each ending in \r\n (X-M2M-ATI may
                                  name TOKENS_MAX_COUNT tokens) */
    size_t headers_len;
    char *body;                /* owned by the transport after the handler returns (free()) */
    size_t body_len;
    const char *content_type;  /* static string or NULL */
    bool deferred;             /* the handler answers later through http_server_respond();
                                * the connection reads nothing more until then, so
                                * pipelined responses keep their order */
    /* Held output (group commit): the response is queued but not sent until
     * http_server_release(); then it goes out as is (ok) or `fallback` goes
     * out in its place (owned by the transport, malloc()ed; NULL = the
     * response itself). Responses after a held one on the same connection
     * wait behind it. */
    bool hold;
    struct http_response *fallback;
};

/* Sends every held response (ok) or its fallback (!ok), see hold above. */
struct http_server;
void http_server_release(struct http_server *srv, bool ok);

typedef void http_handler(void *data, const struct http_request *req, struct http_response *rsp);

/* Pluggable connection I/O (TLS lives behind it, see security/tls.c). The
 * read/write/handshake functions return a byte count (0 = peer closed) or
 * one of these codes; sockets are non-blocking. */
enum { HTTP_IO_ERROR = -1, HTTP_IO_WANT_READ = -2, HTTP_IO_WANT_WRITE = -3 };

struct http_transport {
    /* A new connection on fd; returns its context, or NULL to refuse it. */
    void *(*attach)(void *transport_data, int fd);
    /* 0 once the handshake is complete, else HTTP_IO_WANT_* or HTTP_IO_ERROR. */
    int (*handshake)(void *conn);
    long (*read)(void *conn, void *buf, size_t n);
    long (*write)(void *conn, const void *buf, size_t n);
    /* The Credential-ID the handshake authenticated, or NULL. */
    const char *(*credential)(void *conn);
    /* Whether the transport holds input it already took from the socket
     * (TLS read-ahead): epoll does not signal those bytes, so the server
     * reads on while this is true. NULL: the transport may always hold some,
     * and is read until it wants more input. */
    bool (*pending)(void *conn);
    void (*detach)(void *conn);
};

/* Connection limits shared by the listeners of one loop, so that HTTP and
 * HTTPS connections count together: at most max_total open, at most
 * max_per_client (<= 0: no limit) from one address. At max_total the least
 * recently active idle connection is closed to admit a new one. */
struct http_limits;
struct http_limits *http_limits_create(int max_total, int max_per_client);
/* Only once every server using l has stopped. */
void http_limits_free(struct http_limits *l);
/* Connections open now under these limits (HTTP and HTTPS together). */
int http_limits_open(const struct http_limits *l);

struct http_options {
    const char *host;
    int port;
    bool reuse_port;           /* SO_REUSEPORT: other processes may listen on the same port */
    int max_connections;       /* these two apply when limits is NULL */
    int max_per_client;        /* <= 0: no per-address limit */
    struct http_limits *limits;/* shared limits, or NULL for the server's own */
    int64_t max_body;
    int idle_timeout_ms;
    int request_timeout_ms;    /* a request must be complete this long after its first byte (408) */
    const struct http_transport *transport; /* NULL = plain TCP */
    void *transport_data;
    int handshake_timeout_ms;  /* a handshake unfinished after this is dropped */
    /* Asked at accept with the peer's address (HTTPS: the handshake rate
     * limit); false closes the connection before anything is read. NULL = all. */
    bool (*admit)(void *admit_data, const char *peer_ip);
    void *admit_data;
    /* Told of each handshake that failed or timed out (metrics). NULL = none. */
    void (*handshake_failed)(void *handshake_failed_data);
    void *handshake_failed_data;
};

struct http_server *http_server_start(struct loop *loop, const struct http_options *opt,
                                      http_handler *handler, void *data);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *srv);
void http_server_stop(struct http_server *srv);
/* Closes every connection whose transport authenticated credential_id (a
 * withdrawn key): at once, whatever it was doing. Returns how many. */
int http_server_close_credential(struct http_server *srv, const char *credential_id);

/* Delivers the answer to a request whose handler set `deferred`. conn and
 * gen come from that request; a connection closed meanwhile is skipped.
 * rsp->body is taken over (free()d) in every case. */
void http_server_respond(struct http_server *srv, struct http_conn *conn, uint64_t gen,
                         struct http_response *rsp);

/* The server's request parsing without a socket (unit tests, tests/fuzz/):
 * the same llhttp settings, callbacks and limits as a connection. fn gets
 * each complete request, its fields borrowed for the call (no peer, server
 * or connection); keep_alive is what the connection would do after it.
 * http_parse_feed() takes the next bytes (any split); it returns 0, or the
 * HTTP status a connection answers before closing (400, 413, 431, 503). */
struct http_parse;
typedef void http_parse_fn(void *arg, const struct http_request *req, bool keep_alive);
struct http_parse *http_parse_new(int64_t max_body, http_parse_fn *fn, void *arg);
int http_parse_feed(struct http_parse *ps, const char *data, size_t n);
void http_parse_free(struct http_parse *ps);

/* Case-insensitive header lookup. */
const char *http_header(const struct http_request *req, const char *name);
/* Appends "Name: value\r\n" to the response headers (silently truncated). */
void http_add_header(struct http_response *rsp, const char *name, const char *value);

#endif
