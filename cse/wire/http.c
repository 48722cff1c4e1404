#include "http.h"

#include "../base/log.h"
#include "../base/loop.h"
#include "../base/peer_table.h"

#include <llhttp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 16384
#define MAX_HEADER_BYTES 65536
#define MAX_PENDING_OUTPUT (4 << 20)
#define SHED_SCAN 256              /* least recently active connections looked at for an idle one */
#define SHED_GRACE_MS 200          /* a connection quiet for less is not idle yet: its request may be on the way */
#define ACCEPT_PAUSE_MS 100        /* the listener rests this long when accept() cannot go on */
#define REFUSAL_REPORT_MS 10000    /* refusals of a burst are summed up in one line this often */

/* A growable byte buffer; fields are kept as offsets because it moves. */
struct buf { char *data; size_t len, cap; };

static int buf_append(struct buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

static void buf_free(struct buf *b) { free(b->data); memset(b, 0, sizeof *b); }

enum parse_state { IN_URL, IN_FIELD, IN_VALUE };
enum parse_error { ERR_NONE, ERR_TOO_LARGE, ERR_HEADERS_TOO_LARGE, ERR_NO_MEMORY };

/* What a parse error is answered with (the connection closes after it). */
static const struct { int status; const char *rsc, *msg; } parse_errors[] = {
    [ERR_NONE] = { 400, "4000", "malformed HTTP request" },
    [ERR_TOO_LARGE] = { 413, "4000", "request body exceeds the configured maximum" },
    [ERR_HEADERS_TOO_LARGE] = { 431, "4000", "request headers are too large" },
    [ERR_NO_MEMORY] = { 503, "5000", "out of memory" },
};

/* Bytes -> requests: llhttp and the buffers its callbacks fill. No socket:
 * a connection holds one, and so does http_parse_new() (tests, fuzzing). */
struct http_parse {
    llhttp_t parser;
    struct buf meta;               /* url, header names and values */
    struct buf body;
    size_t url_off;
    size_t name_off[HTTP_MAX_HEADERS], value_off[HTTP_MAX_HEADERS];
    int nheaders;
    enum parse_state state;
    enum parse_error error;
    int64_t max_body;
    /* A complete request (fields borrowed for the call); returns 0 to go on
     * or HPE_PAUSED to stop parsing. */
    int (*complete)(struct http_parse *ps, struct http_request *req);
    /* The first byte of a request arrived (not the CRLFs a client may send
     * between requests); NULL: nothing to do. */
    void (*begin)(struct http_parse *ps);
    http_parse_fn *fn;             /* http_parse_new()'s callback */
    void *fn_arg;
};

static void parse_release(struct http_parse *ps)
{
    buf_free(&ps->meta);
    buf_free(&ps->body);
}

struct http_conn {
    int fd;
    struct http_server *srv;
    struct http_parse in;
    struct buf out;
    size_t out_sent;
    bool closing;                  /* close once the output is flushed */
    bool reading_paused;
    void *tx;                      /* transport context (TLS), NULL for plain TCP */
    bool handshaking;
    bool read_wants_write;         /* the transport needs to write before reading on */
    int64_t accepted_at;
    bool waiting;                  /* a deferred answer is outstanding */
    bool waiting_keep_alive;
    struct buf unparsed;           /* bytes read past the deferred request */
    uint64_t gen;                  /* tells a reused struct from the one a deferral saw */
    int64_t last_active;           /* last byte received or sent */
    int64_t request_started;       /* first byte of the request being read; 0 = none */
    char peer_ip[46];
    int peer_port;
    struct peer_key peer;
    struct http_conn *prev, *next;
    struct http_conn *lru_prev, *lru_next;  /* in the limits' activity order */
    struct buf held_ok, held_fail;  /* held responses, as sent on success / failure */
    struct http_conn *held_prev, *held_next;
    bool held;                      /* on the server's held list */
};

/* Why a connection was refused (the rate-limited log sums them up). */
enum refusal { REFUSED_PER_CLIENT, REFUSED_FULL, REFUSED_RESOURCES, REFUSAL_KINDS };

struct http_limits {
    int max_total, max_per_client;
    int total;
    struct peer_table peers;
    /* Every connection of every server sharing these limits, most recently
     * active first: idle connections are shed from the tail. */
    struct http_conn *lru_head, *lru_tail;
    /* The refusal log: the first refusal of a burst is logged at once, the
     * rest are counted and summed up every REFUSAL_REPORT_MS. */
    int64_t burst_reported_at;     /* 0 = no burst going on */
    unsigned refused[REFUSAL_KINDS];
    unsigned shed;
};

struct http_server {
    struct loop *loop;
    int listen_fd;
    int port;
    struct http_options opt;
    http_handler *handler;
    void *data;
    struct http_conn *conns;
    struct http_limits *limits;
    bool own_limits;
    int spare_fd;                  /* /dev/null, given up to refuse a connection when out of fds */
    int64_t resume_timer;          /* the listener is paused until it fires; 0 = listening */
    struct http_conn *held;        /* connections with held responses */
    int in_handler;                /* a handler is running (release must not flush inline) */
    int64_t sweep_timer;
    uint64_t next_gen;
    /* Linux hands the listener's TCP_NODELAY down to accepted sockets: then
     * no setsockopt per connection. Checked on the first connection. */
    enum { NODELAY_UNCHECKED, NODELAY_INHERITED, NODELAY_PER_CONNECTION } nodelay;
};

const char *http_header(const struct http_request *req, const char *name)
{
    /* A first-letter check before the full comparison: a request's head
     * is searched a few dozen times (bindings, console, upper tester). */
    unsigned char first = (unsigned char)name[0] | 0x20;
    for (int i = 0; i < req->nheaders; i++)
        if (((unsigned char)req->headers[i].name[0] | 0x20) == first && !strcasecmp(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}

void http_add_header(struct http_response *rsp, const char *name, const char *value)
{
    /* Plain copies, not snprintf: several headers go out with every response. */
    size_t nl = strlen(name), vl = strlen(value);
    size_t room = sizeof rsp->headers - rsp->headers_len;
    if (nl + vl + 4 >= room) return;
    char *p = rsp->headers + rsp->headers_len;
    memcpy(p, name, nl);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 3);
    rsp->headers_len += nl + vl + 4;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

static void unlist_held(struct http_conn *c)
{
    if (!c->held) return;
    if (c->held_prev) c->held_prev->held_next = c->held_next; else c->srv->held = c->held_next;
    if (c->held_next) c->held_next->held_prev = c->held_prev;
    c->held_prev = c->held_next = NULL;
    c->held = false;
}

/* --- connection limits ---------------------------------------------------- */

struct http_limits *http_limits_create(int max_total, int max_per_client)
{
    struct http_limits *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->max_total = max_total;
    l->max_per_client = max_per_client > 0 ? max_per_client : INT_MAX;
    return l;
}

void http_limits_free(struct http_limits *l)
{
    if (!l) return;
    peer_table_free(&l->peers);
    free(l);
}

int http_limits_open(const struct http_limits *l) { return l ? l->total : 0; }

static void handshake_failed(struct http_server *srv)
{
    if (srv->opt.handshake_failed) srv->opt.handshake_failed(srv->opt.handshake_failed_data);
}

static void lru_unlink(struct http_limits *l, struct http_conn *c)
{
    if (c->lru_prev) c->lru_prev->lru_next = c->lru_next; else l->lru_head = c->lru_next;
    if (c->lru_next) c->lru_next->lru_prev = c->lru_prev; else l->lru_tail = c->lru_prev;
    c->lru_prev = c->lru_next = NULL;
}

static void lru_push(struct http_limits *l, struct http_conn *c)
{
    c->lru_prev = NULL;
    c->lru_next = l->lru_head;
    if (l->lru_head) l->lru_head->lru_prev = c; else l->lru_tail = c;
    l->lru_head = c;
}

/* Bytes moved: the connection is active now. */
static void conn_touch(struct http_conn *c)
{
    struct http_limits *l = c->srv->limits;
    c->last_active = loop_now_ms();
    if (l->lru_head != c) {
        lru_unlink(l, c);
        lru_push(l, c);
    }
}

static const char *refusal_reason(enum refusal why)
{
    switch (why) {
    case REFUSED_PER_CLIENT: return "over max-connections-per-client";
    case REFUSED_FULL: return "over max-connections with no idle connection to close";
    default: return "out of file descriptors or memory";
    }
}

/* Counts a refusal; only the first of a burst is logged at once. */
static void note_refusal(struct http_limits *l, enum refusal why, const char *detail)
{
    if (l->burst_reported_at) {
        l->refused[why]++;
        return;
    }
    l->burst_reported_at = loop_now_ms();
    memset(l->refused, 0, sizeof l->refused);
    l->shed = 0;
    log_warn("http: refusing connections: %s (%s); further refusals are summed up every %d s",
             refusal_reason(why), detail, REFUSAL_REPORT_MS / 1000);
}

/* One line per REFUSAL_REPORT_MS while a burst lasts; a quiet interval ends it. */
static void report_refusals(struct http_limits *l)
{
    int64_t now = loop_now_ms();
    if (!l->burst_reported_at || now - l->burst_reported_at < REFUSAL_REPORT_MS) return;
    unsigned n = 0;
    for (int i = 0; i < REFUSAL_KINDS; i++) n += l->refused[i];
    if (n)
        log_warn("http: refused %u connections in the last %lld s (%u %s, %u %s, %u %s); "
                 "closed %u idle ones to admit others",
                 n, (long long)(now - l->burst_reported_at) / 1000,
                 l->refused[REFUSED_PER_CLIENT], refusal_reason(REFUSED_PER_CLIENT),
                 l->refused[REFUSED_FULL], refusal_reason(REFUSED_FULL),
                 l->refused[REFUSED_RESOURCES], refusal_reason(REFUSED_RESOURCES), l->shed);
    l->burst_reported_at = n ? now : 0;
    memset(l->refused, 0, sizeof l->refused);
    l->shed = 0;
}

static void conn_close(struct http_conn *c)
{
    struct http_server *srv = c->srv;
    struct http_limits *l = srv->limits;
    /* Only this descriptor refers to the socket (nothing dup()s or forks). */
    loop_forget(srv->loop, c->fd);
    if (c->tx) srv->opt.transport->detach(c->tx);
    close(c->fd);
    if (c->prev) c->prev->next = c->next; else srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    lru_unlink(l, c);
    peer_table_remove(&l->peers, &c->peer);
    l->total--;
    unlist_held(c);
    buf_free(&c->held_ok);
    buf_free(&c->held_fail);
    parse_release(&c->in);
    buf_free(&c->out);
    buf_free(&c->unparsed);
    free(c);
}

static char *put_str(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static char *put_uint(char *p, size_t v)
{
    char tmp[24], *e = tmp + sizeof tmp, *q = e;
    do { *--q = (char)('0' + v % 10); v /= 10; } while (v);
    return put_str(p, q, (size_t)(e - q));
}

/* Status line and headers, assembled without printf (this runs per response). */
static size_t response_head(char *head, const struct http_response *rsp, bool keep_alive)
{
    static const char ct_name[] = "Content-Type: ", cl_name[] = "Content-Length: ",
                      conn_close[] = "Connection: close\r\n";
    int status = rsp->status >= 100 && rsp->status <= 999 ? rsp->status : 500;
    const char *why = reason(status);
    char *p = put_str(head, "HTTP/1.1 ", 9);
    p = put_uint(p, (size_t)status);
    *p++ = ' ';
    p = put_str(p, why, strlen(why));
    p = put_str(p, "\r\n", 2);
    if (rsp->content_type) {
        p = put_str(p, ct_name, sizeof ct_name - 1);
        p = put_str(p, rsp->content_type, strlen(rsp->content_type));
        p = put_str(p, "\r\n", 2);
    }
    p = put_str(p, cl_name, sizeof cl_name - 1);
    p = put_uint(p, rsp->body_len);
    p = put_str(p, "\r\n", 2);
    p = put_str(p, rsp->headers, rsp->headers_len);
    if (!keep_alive) p = put_str(p, conn_close, sizeof conn_close - 1);
    p = put_str(p, "\r\n", 2);
    return (size_t)(p - head);
}

static void conn_flush(struct http_conn *c);
static void conn_io(struct loop *loop, int fd, void *data, int mask);

/* Appends the response's bytes to b; -1 when it cannot. */
static int put_response(struct buf *b, const struct http_response *rsp, bool keep_alive)
{
    /* Fixed parts are short; headers[] is bounded; content_type is a short static. */
    char head[sizeof rsp->headers + 512];
    bool fits = rsp->headers_len <= sizeof rsp->headers &&
                (!rsp->content_type || strlen(rsp->content_type) < 256);
    size_t n = fits ? response_head(head, rsp, keep_alive) : 0;
    if (!fits || buf_append(b, head, n) || (rsp->body_len && buf_append(b, rsp->body, rsp->body_len)))
        return -1;
    return 0;
}

static void free_fallback(struct http_response *rsp)
{
    if (!rsp->fallback) return;
    free(rsp->fallback->body);
    free(rsp->fallback);
    rsp->fallback = NULL;
}

/* Held: kept in both forms until http_server_release() picks one. */
static void hold_response(struct http_conn *c, struct http_response *rsp, bool keep_alive)
{
    const struct http_response *fail = rsp->fallback ? rsp->fallback : rsp;
    if (put_response(&c->held_ok, rsp, keep_alive) || put_response(&c->held_fail, fail, keep_alive))
        c->closing = true;
    if (!c->held) {
        c->held = true;
        c->held_prev = NULL;
        c->held_next = c->srv->held;
        if (c->srv->held) c->srv->held->held_prev = c;
        c->srv->held = c;
    }
}

static void queue_response(struct http_conn *c, struct http_response *rsp, bool keep_alive)
{
    if (rsp->hold || c->held) hold_response(c, rsp, keep_alive);
    else if (put_response(&c->out, rsp, keep_alive)) c->closing = true;
    free(rsp->body);
    free_fallback(rsp);
    if (!keep_alive) c->closing = true;
}

void http_server_release(struct http_server *srv, bool ok)
{
    while (srv->held) {
        struct http_conn *c = srv->held;
        unlist_held(c);
        struct buf *b = ok ? &c->held_ok : &c->held_fail;
        if (b->len && buf_append(&c->out, b->data, b->len)) c->closing = true;
        c->held_ok.len = c->held_fail.len = 0;
        /* Inside a handler (a commit forced by the dispatcher) a flush could
         * close the connection under the parser's feet: the loop sends it. */
        if (srv->in_handler) loop_watch(srv->loop, c->fd, LOOP_WRITABLE, conn_io, c);
        else conn_flush(c);
    }
}

/* A canned response for requests that never reach the handler. */
static void queue_error(struct http_conn *c, int status, const char *rsc, const char *msg)
{
    struct http_response rsp = { .status = status, .content_type = "application/json" };
    http_add_header(&rsp, "X-M2M-RSC", rsc);
    char body[256];
    int n = snprintf(body, sizeof body, "{\"m2m:dbg\":\"%s\"}", msg);
    rsp.body = strdup(body);
    rsp.body_len = (size_t)n;
    queue_response(c, &rsp, false);
}

/* --- llhttp callbacks -------------------------------------------------- */

static struct http_parse *parse_of(llhttp_t *p) { return p->data; }

static int meta_append(struct http_parse *ps, const char *at, size_t len)
{
    if (ps->meta.len + len > MAX_HEADER_BYTES) {
        ps->error = ERR_HEADERS_TOO_LARGE;
        return -1;
    }
    if (buf_append(&ps->meta, at, len)) { ps->error = ERR_NO_MEMORY; return -1; }
    return 0;
}

/* Ends the current url/name/value with a NUL so it reads as a C string. */
static int meta_terminate(struct http_parse *ps)
{
    return meta_append(ps, "", 1);
}

static int on_message_begin(llhttp_t *p)
{
    struct http_parse *ps = parse_of(p);
    if (ps->begin) ps->begin(ps);   /* the request's deadline starts here */
    ps->meta.len = 0;
    ps->body.len = 0;
    ps->nheaders = 0;
    ps->url_off = 0;
    ps->state = IN_URL;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    return meta_append(parse_of(p), at, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct http_parse *ps = parse_of(p);
    if (ps->state != IN_FIELD) {
        if (meta_terminate(ps)) return -1;
        if (ps->nheaders >= HTTP_MAX_HEADERS) { ps->error = ERR_HEADERS_TOO_LARGE; return -1; }
        ps->name_off[ps->nheaders++] = ps->meta.len;
        ps->state = IN_FIELD;
    }
    return meta_append(ps, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct http_parse *ps = parse_of(p);
    if (ps->state != IN_VALUE) {
        if (meta_terminate(ps)) return -1;
        ps->value_off[ps->nheaders - 1] = ps->meta.len;
        ps->state = IN_VALUE;
    }
    return meta_append(ps, at, len);
}

static int on_headers_complete(llhttp_t *p)
{
    struct http_parse *ps = parse_of(p);
    if (ps->state == IN_FIELD) {
        /* A name without a value: give it an empty one. */
        if (meta_terminate(ps)) return -1;
        ps->value_off[ps->nheaders - 1] = ps->meta.len;
    }
    if (meta_terminate(ps)) return -1;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > (uint64_t)ps->max_body) {
        ps->error = ERR_TOO_LARGE;
        return -1;
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct http_parse *ps = parse_of(p);
    if (ps->body.len + len > (size_t)ps->max_body) { ps->error = ERR_TOO_LARGE; return -1; }
    if (buf_append(&ps->body, at, len)) { ps->error = ERR_NO_MEMORY; return -1; }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct http_parse *ps = parse_of(p);
    struct http_request req = {
        .method = llhttp_method_name((llhttp_method_t)p->method),
        .nheaders = ps->nheaders,
        .body = ps->body.data ? ps->body.data : "",
        .body_len = ps->body.len,
    };
    if (ps->state == IN_URL && meta_terminate(ps)) return -1;
    req.target = ps->meta.data + ps->url_off;
    for (int i = 0; i < ps->nheaders; i++) {
        req.headers[i].name = ps->meta.data + ps->name_off[i];
        req.headers[i].value = ps->meta.data + ps->value_off[i];
    }
    return ps->complete(ps, &req);
}

/* Shared by every parser; llhttp_settings_init() would only zero the rest. */
static const llhttp_settings_t parse_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void parse_init(struct http_parse *ps, int64_t max_body,
                       int (*complete)(struct http_parse *, struct http_request *))
{
    llhttp_init(&ps->parser, HTTP_REQUEST, &parse_settings);
    ps->parser.data = ps;
    ps->max_body = max_body;
    ps->complete = complete;
}

/* --- the pure entry point (http_parse_new) ------------------------------ */

static int parse_hand_over(struct http_parse *ps, struct http_request *req)
{
    ps->fn(ps->fn_arg, req, llhttp_should_keep_alive(&ps->parser));
    return 0;
}

struct http_parse *http_parse_new(int64_t max_body, http_parse_fn *fn, void *arg)
{
    struct http_parse *ps = calloc(1, sizeof *ps);
    if (!ps) return NULL;
    parse_init(ps, max_body, parse_hand_over);
    ps->fn = fn;
    ps->fn_arg = arg;
    return ps;
}

int http_parse_feed(struct http_parse *ps, const char *data, size_t n)
{
    return llhttp_execute(&ps->parser, data, n) == HPE_OK ? 0 : parse_errors[ps->error].status;
}

void http_parse_free(struct http_parse *ps)
{
    if (!ps) return;
    parse_release(ps);
    free(ps);
}

/* --- a connection's requests --------------------------------------------- */

static struct http_conn *conn_of(struct http_parse *ps)
{
    return (struct http_conn *)((char *)ps - offsetof(struct http_conn, in));
}

/* A request's deadline (http-request-timeout) runs from its first byte. */
static void conn_begin(struct http_parse *ps)
{
    conn_of(ps)->request_started = loop_now_ms();
}

static int conn_request(struct http_parse *ps, struct http_request *req)
{
    struct http_conn *c = conn_of(ps);
    llhttp_t *p = &ps->parser;
    req->peer_ip = c->peer_ip;
    req->peer_port = c->peer_port;
    req->secure = c->tx != NULL;
    req->credential_id = c->tx ? c->srv->opt.transport->credential(c->tx) : NULL;
    req->server = c->srv;
    req->conn = c;
    req->conn_gen = c->gen;
    struct http_response rsp = { .status = 500 };
    c->request_started = 0;
    c->srv->in_handler++;
    c->srv->handler(c->srv->data, req, &rsp);
    c->srv->in_handler--;
    if (rsp.deferred) {
        c->waiting = true;
        c->waiting_keep_alive = llhttp_should_keep_alive(p);
        free(rsp.body);
        free_fallback(&rsp);
        return HPE_PAUSED;
    }
    queue_response(c, &rsp, llhttp_should_keep_alive(p));
    return c->closing ? HPE_PAUSED : 0;
}

/* --- I/O ----------------------------------------------------------------- */

static void conn_io(struct loop *loop, int fd, void *data, int mask);
static void conn_read(struct http_conn *c);

/* recv/send or the transport's read/write, with one set of return codes. */
static long conn_recv(struct http_conn *c, char *buf, size_t n)
{
    if (c->tx) return c->srv->opt.transport->read(c->tx, buf, n);
    for (;;) {
        ssize_t r = recv(c->fd, buf, n, 0);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? HTTP_IO_WANT_READ : HTTP_IO_ERROR;
    }
}

static long conn_send(struct http_conn *c, const char *buf, size_t n)
{
    if (c->tx) return c->srv->opt.transport->write(c->tx, buf, n);
    for (;;) {
        ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? HTTP_IO_WANT_WRITE : HTTP_IO_ERROR;
    }
}

/* Input the transport already took from the socket (TLS read-ahead) does
 * not wake epoll: while this is true the connection must be read on. */
static bool conn_holds_input(const struct http_conn *c)
{
    const struct http_transport *t = c->srv->opt.transport;
    return c->tx && (!t->pending || t->pending(c->tx));
}

static void conn_flush(struct http_conn *c)
{
    size_t before = c->out_sent;
    long n = 0;
    while (c->out_sent < c->out.len) {
        n = conn_send(c, c->out.data + c->out_sent, c->out.len - c->out_sent);
        if (n == HTTP_IO_WANT_WRITE || n == HTTP_IO_WANT_READ) break;
        if (n <= 0) { conn_close(c); return; }
        c->out_sent += (size_t)n;
    }
    /* A client that takes its responses is active; one that does not goes idle. */
    if (c->out_sent != before) conn_touch(c);
    /* A transport that must read first goes on when the socket is readable. */
    if (n == HTTP_IO_WANT_READ) return;
    if (c->out_sent == c->out.len) {
        c->out.len = c->out_sent = 0;
        loop_unwatch(c->srv->loop, c->fd, LOOP_WRITABLE);
        if (c->held) return;      /* the rest waits for http_server_release() */
        if (c->closing) { conn_close(c); return; }
        if (c->reading_paused && !c->waiting) {
            c->reading_paused = false;
            loop_watch(c->srv->loop, c->fd, LOOP_READABLE, conn_io, c);
            /* What the socket holds wakes epoll; what the transport holds would not. */
            if (conn_holds_input(c)) conn_read(c);
        }
        return;
    }
    loop_watch(c->srv->loop, c->fd, LOOP_WRITABLE, conn_io, c);
    /* Back-pressure: a client that does not read its responses stops being read. */
    if (c->out.len - c->out_sent > MAX_PENDING_OUTPUT && !c->reading_paused) {
        c->reading_paused = true;
        loop_unwatch(c->srv->loop, c->fd, LOOP_READABLE);
    }
}

static void queue_parse_error(struct http_conn *c, llhttp_errno_t err)
{
    queue_error(c, parse_errors[c->in.error].status, parse_errors[c->in.error].rsc,
                parse_errors[c->in.error].msg);
    log_debug("http: %s:%d: %s", c->peer_ip, c->peer_port, llhttp_errno_name(err));
}

/* Parses bytes; a deferred request keeps what follows it for later.
 * Returns false when reading must stop. */
static bool conn_feed(struct http_conn *c, const char *data, size_t n)
{
    llhttp_errno_t err = llhttp_execute(&c->in.parser, data, n);
    if (err == HPE_PAUSED && c->waiting) {
        const char *at = llhttp_get_error_pos(&c->in.parser);
        size_t used = at && at >= data && at <= data + n ? (size_t)(at - data) : n;
        if (used < n && buf_append(&c->unparsed, data + used, n - used)) c->closing = true;
        loop_unwatch(c->srv->loop, c->fd, LOOP_READABLE);
        return false;
    }
    if (err == HPE_PAUSED) return false; /* closing after this response */
    if (err != HPE_OK) {
        queue_parse_error(c, err);
        return false;
    }
    return true;
}

void http_server_respond(struct http_server *srv, struct http_conn *conn, uint64_t gen,
                         struct http_response *rsp)
{
    struct http_conn *c = srv->conns;
    while (c && !(c == conn && c->gen == gen)) c = c->next;
    if (!c || !c->waiting) { free(rsp->body); free_fallback(rsp); return; }
    c->waiting = false;
    queue_response(c, rsp, c->waiting_keep_alive);
    conn_touch(c);
    /* Pipelined requests that arrived meanwhile run now, in order. */
    struct buf rest = c->unparsed;
    memset(&c->unparsed, 0, sizeof c->unparsed);
    bool more = !c->closing;
    if (more) {
        llhttp_resume(&c->in.parser);
        if (rest.len) more = conn_feed(c, rest.data, rest.len);
    }
    buf_free(&rest);
    if (more && !c->waiting && !c->reading_paused) {
        loop_watch(srv->loop, c->fd, LOOP_READABLE, conn_io, c);
        /* What the socket holds wakes epoll; what the transport holds would not. */
        if (conn_holds_input(c)) {
            conn_read(c); /* flushes; may close c */
            return;
        }
    }
    conn_flush(c);
}

static void conn_read(struct http_conn *c)
{
    char chunk[READ_CHUNK];
    /* A transport is read until it holds no more input (conn_holds_input):
     * data it buffered would not wake the loop again. The socket itself is
     * watched level-triggered: what it still holds wakes the loop. */
    int max_rounds = c->tx ? 1 << 20 : 16;
    for (int rounds = 0; rounds < max_rounds && !c->closing && !c->reading_paused && !c->waiting; rounds++) {
        long n = conn_recv(c, chunk, sizeof chunk);
        if (n == HTTP_IO_WANT_READ) break;
        if (n == HTTP_IO_WANT_WRITE) {
            c->read_wants_write = true;
            loop_watch(c->srv->loop, c->fd, LOOP_WRITABLE, conn_io, c);
            break;
        }
        if (n <= 0) {
            /* Peer closed: answer what was complete, then go. */
            c->closing = true;
            break;
        }
        conn_touch(c);
        if (!conn_feed(c, chunk, (size_t)n)) break;
        /* No read(2) that would only say EAGAIN. */
        if (c->tx ? !conn_holds_input(c) : (size_t)n < sizeof chunk) break;
    }
    conn_flush(c);
}

/* Advances the transport handshake; the connection starts reading once done. */
static void conn_handshake(struct http_conn *c)
{
    int rc = c->srv->opt.transport->handshake(c->tx);
    if (rc == 0) {
        c->handshaking = false;
        conn_touch(c);
        loop_unwatch(c->srv->loop, c->fd, LOOP_WRITABLE);
        /* The request may have come with the handshake's last flight. */
        if (conn_holds_input(c)) conn_read(c); /* may close c */
    } else if (rc == HTTP_IO_WANT_READ) {
        loop_unwatch(c->srv->loop, c->fd, LOOP_WRITABLE);
    } else if (rc == HTTP_IO_WANT_WRITE) {
        loop_watch(c->srv->loop, c->fd, LOOP_WRITABLE, conn_io, c);
    } else {
        log_debug("http: handshake with %s:%d failed", c->peer_ip, c->peer_port);
        handshake_failed(c->srv);
        conn_close(c);
    }
}

static void conn_io(struct loop *loop, int fd, void *data, int mask)
{
    (void)loop; (void)fd;
    struct http_conn *c = data;
    if (c->handshaking) {
        conn_handshake(c); /* may close c */
        return;
    }
    if (mask & LOOP_READABLE) {
        conn_read(c); /* may close c */
        return;
    }
    if ((mask & LOOP_WRITABLE) && c->read_wants_write) {
        c->read_wants_write = false;
        if (c->out_sent == c->out.len) loop_unwatch(c->srv->loop, c->fd, LOOP_WRITABLE);
        conn_read(c); /* may close c */
        return;
    }
    if (mask & LOOP_WRITABLE) conn_flush(c);
}

/* No request in progress, nothing owed, and quiet for a moment (a client just
 * connected or just answered may be sending its request): closing it loses nothing. */
static bool conn_idle(const struct http_conn *c, int64_t now)
{
    return !c->request_started && !c->waiting && !c->held && c->out_sent == c->out.len &&
           now - c->last_active >= SHED_GRACE_MS;
}

/* Closes the least recently active idle connection of any server sharing l,
 * to make room for a new one; false when none of the SHED_SCAN least recently
 * active connections is idle (each of them is bounded by a deadline). */
static bool shed_oldest_idle(struct http_limits *l)
{
    int scanned = 0;
    int64_t now = loop_now_ms();
    for (struct http_conn *c = l->lru_tail; c && scanned < SHED_SCAN; c = c->lru_prev, scanned++) {
        /* From the tail on, the rest are even more recently active. */
        if (now - c->last_active < SHED_GRACE_MS) break;
        if (!conn_idle(c, now)) continue;
        log_debug("http: closing idle connection from %s:%d to admit a new one", c->peer_ip, c->peer_port);
        l->shed++;
        conn_close(c);
        return true;
    }
    return false;
}

/* Refuses an accepted connection: plain HTTP clients get a 503 with the
 * reason (if the socket takes it at once), TLS clients just the close. */
static void refuse(struct http_server *srv, int cfd, enum refusal why, const char *detail)
{
    static const char per_client[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nX-M2M-RSC: 5000\r\n"
        "Content-Length: 52\r\nConnection: close\r\n\r\n"
        "{\"m2m:dbg\":\"too many connections from this address\"}";
    static const char full[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nX-M2M-RSC: 5000\r\n"
        "Content-Length: 33\r\nConnection: close\r\n\r\n"
        "{\"m2m:dbg\":\"too many connections\"}";
    if (!srv->opt.transport) {
        const char *msg = why == REFUSED_PER_CLIENT ? per_client : full;
        size_t len = why == REFUSED_PER_CLIENT ? sizeof per_client - 1 : sizeof full - 1;
        if (send(cfd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* the close says it too */ }
    }
    close(cfd);
    note_refusal(srv->limits, why, detail);
}

static void accept_ready(struct loop *loop, int fd, void *data, int mask);

static int64_t resume_accepting(struct loop *loop, int64_t id, void *data)
{
    (void)id;
    struct http_server *srv = data;
    srv->resume_timer = 0;
    loop_watch(loop, srv->listen_fd, LOOP_READABLE, accept_ready, srv);
    return -1;
}

/* The listener stops being watched for a moment: a pending connection that
 * cannot be accepted would otherwise wake the loop again at once (a spin). */
static void pause_accepting(struct http_server *srv)
{
    if (srv->resume_timer) return;
    int64_t id = loop_add_timer(srv->loop, ACCEPT_PAUSE_MS, resume_accepting, srv);
    if (id <= 0) return;
    srv->resume_timer = id;
    loop_unwatch(srv->loop, srv->listen_fd, LOOP_READABLE);
}

/* Out of descriptors: the spare one is given up to accept one pending
 * connection and close it at once, so that the backlog drains instead of
 * waking the loop forever. 1 = one refused, 0 = none was pending, -1 = no luck. */
static int refuse_with_spare(struct http_server *srv)
{
    if (srv->spare_fd < 0) return -1;
    close(srv->spare_fd);
    int cfd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    int err = errno;
    if (cfd >= 0) close(cfd);
    srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (cfd >= 0) return 1;
    return err == EAGAIN || err == EWOULDBLOCK ? 0 : -1;
}

static void peer_name(const struct sockaddr_storage *ss, char *ip, size_t iplen, int *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)iplen);
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)iplen);
        *port = ntohs(a->sin6_port);
    }
}

static void set_nodelay(struct http_server *srv, int cfd)
{
    int one = 1;
    if (srv->nodelay == NODELAY_UNCHECKED) {
        int on = 0;
        socklen_t len = sizeof on;
        bool inherited = !getsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &on, &len) && on;
        srv->nodelay = inherited ? NODELAY_INHERITED : NODELAY_PER_CONNECTION;
    }
    if (srv->nodelay == NODELAY_PER_CONNECTION) setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* A new connection: within the limits it becomes a struct http_conn. */
static void admit(struct http_server *srv, int cfd, const struct sockaddr_storage *ss)
{
    struct http_limits *l = srv->limits;
    struct peer_key key;
    peer_key_from_sockaddr(&key, (const struct sockaddr *)ss);
    char ip[46] = "", detail[96];
    int port = 0;
    peer_name(ss, ip, sizeof ip, &port);
    /* The handshake rate limit (cse/throttle.h): closed before any TLS is read. */
    if (srv->opt.admit && !srv->opt.admit(srv->opt.admit_data, ip)) {
        log_debug("http: %s:%d refused at accept", ip, port);
        close(cfd);
        return;
    }
    if (peer_table_count(&l->peers, &key) >= l->max_per_client) {
        snprintf(detail, sizeof detail, "%s has %d open", ip, l->max_per_client);
        refuse(srv, cfd, REFUSED_PER_CLIENT, detail);
        return;
    }
    if (l->total >= l->max_total && !shed_oldest_idle(l)) {
        snprintf(detail, sizeof detail, "%d open", l->total);
        refuse(srv, cfd, REFUSED_FULL, detail);
        return;
    }
    struct http_conn *c = calloc(1, sizeof *c);
    if (!c || peer_table_add(&l->peers, &key) < 0) {
        free(c);
        refuse(srv, cfd, REFUSED_RESOURCES, "no memory for a connection");
        return;
    }
    c->fd = cfd;
    c->srv = srv;
    c->peer = key;
    c->gen = ++srv->next_gen;
    c->last_active = c->accepted_at = loop_now_ms();
    memcpy(c->peer_ip, ip, sizeof ip);
    c->peer_port = port;
    set_nodelay(srv, cfd);
    parse_init(&c->in, srv->opt.max_body, conn_request);
    c->in.begin = conn_begin;
    if (srv->opt.transport) {
        c->tx = srv->opt.transport->attach(srv->opt.transport_data, cfd);
        c->handshaking = true;
    }
    if ((srv->opt.transport && !c->tx) || loop_watch(srv->loop, cfd, LOOP_READABLE, conn_io, c)) {
        if (c->tx) srv->opt.transport->detach(c->tx);
        peer_table_remove(&l->peers, &key);
        close(cfd);
        free(c);
        return;
    }
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    lru_push(l, c);
    l->total++;
}

static void accept_ready(struct loop *loop, int fd, void *data, int mask)
{
    (void)loop; (void)mask;
    struct http_server *srv = data;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            admit(srv, cfd, &ss);
            continue;
        }
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) return;
        /* The connection went before we took it, or a firewall said no. */
        if (err == EINTR || err == ECONNABORTED || err == EPERM || err == EPROTO) continue;
        if (err == EMFILE || err == ENFILE) {
            /* An idle connection's descriptor serves the new client. */
            if (shed_oldest_idle(srv->limits)) continue;
            note_refusal(srv->limits, REFUSED_RESOURCES, strerror(err));
            int r = refuse_with_spare(srv);
            if (r > 0) continue;
            if (r == 0) return;
        } else {
            note_refusal(srv->limits, REFUSED_RESOURCES, strerror(err));
        }
        pause_accepting(srv);
        return;
    }
}

/* Checked often enough that a short idle timeout or request deadline is kept
 * to within half of it. */
static int64_t sweep_interval(const struct http_server *srv)
{
    int64_t t = srv->opt.idle_timeout_ms < srv->opt.request_timeout_ms ? srv->opt.idle_timeout_ms
                                                                        : srv->opt.request_timeout_ms;
    int64_t half = t / 2;
    return half < 1000 ? (half > 50 ? half : 50) : 1000;
}

/* The request did not arrive in time: 408 if the socket takes it at once,
 * then the close (a client this slow does not keep its slot while we wait). */
static void conn_time_out(struct http_conn *c)
{
    log_debug("http: %s:%d did not send a complete request within %d ms, closing",
              c->peer_ip, c->peer_port, c->srv->opt.request_timeout_ms);
    /* Unread input would turn our close into a reset that discards the 408. */
    char sink[4096];
    for (int i = 0; i < 16 && !c->tx && recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++) {}
    queue_error(c, 408, "4008", "the request did not arrive completely within http-request-timeout");
    while (!c->held && c->out_sent < c->out.len) {
        long n = conn_send(c, c->out.data + c->out_sent, c->out.len - c->out_sent);
        if (n <= 0) break;
        c->out_sent += (size_t)n;
    }
    conn_close(c);
}

/* Closes connections that stalled: handshakes and requests past their
 * deadline, and connections silent for the idle timeout. */
static int64_t sweep_idle(struct loop *loop, int64_t id, void *data)
{
    (void)id; (void)loop;
    struct http_server *srv = data;
    int64_t now = loop_now_ms();
    for (struct http_conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (c->handshaking && now - c->accepted_at > srv->opt.handshake_timeout_ms) {
            log_debug("http: %s:%d did not finish its handshake in time, closing",
                     c->peer_ip, c->peer_port);
            handshake_failed(srv);
            conn_close(c);
            continue;
        }
        /* Time the server itself holds the request (deferred answer, back-pressure)
         * is not the client's; a connection already closing has had its answer. */
        bool owed = c->waiting || c->held;
        if (c->request_started && !owed && !c->reading_paused && !c->closing &&
            now - c->request_started > srv->opt.request_timeout_ms) {
            conn_time_out(c);
            continue;
        }
        if (now - c->last_active > srv->opt.idle_timeout_ms && !owed) {
            log_debug("http: closing idle connection from %s:%d", c->peer_ip, c->peer_port);
            conn_close(c);
        }
    }
    report_refusals(srv->limits);
    return sweep_interval(srv);
}

struct http_server *http_server_start(struct loop *loop, const struct http_options *opt,
                                      http_handler *handler, void *data)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, opt->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)opt->port);
        sl = sizeof *a4;
    } else if (inet_pton(AF_INET6, opt->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)opt->port);
        sl = sizeof *a6;
    } else {
        log_error("http: '%s' is not an IP address", opt->host);
        return NULL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);   /* for the accepted sockets (set_nodelay) */
    /* Front-ends of one database on one machine: the kernel spreads the
     * connections over every process listening on the port. */
    if (fd >= 0 && opt->reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one))
        log_warn("http: SO_REUSEPORT refused on port %d: %s", opt->port, strerror(errno));
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 1024)) {
        log_error("http: cannot listen on %s:%d: %s", opt->host, opt->port, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    struct http_server *srv = calloc(1, sizeof *srv);
    struct http_limits *own = opt->limits ? NULL : http_limits_create(opt->max_connections, opt->max_per_client);
    if (!srv || (!opt->limits && !own)) {
        log_error("http: out of memory");
        free(srv);
        close(fd);
        return NULL;
    }
    srv->loop = loop;
    srv->listen_fd = fd;
    srv->opt = *opt;
    srv->limits = own ? own : opt->limits;
    srv->own_limits = own != NULL;
    /* Given up when accept() runs out of descriptors (refuse_with_spare). */
    srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (srv->opt.idle_timeout_ms <= 0) srv->opt.idle_timeout_ms = 60000;
    if (srv->opt.request_timeout_ms <= 0) srv->opt.request_timeout_ms = 30000;
    if (srv->opt.handshake_timeout_ms <= 0) srv->opt.handshake_timeout_ms = 5000;
    srv->handler = handler;
    srv->data = data;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    srv->port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
    loop_watch(loop, fd, LOOP_READABLE, accept_ready, srv);
    srv->sweep_timer = loop_add_timer(loop, sweep_interval(srv), sweep_idle, srv);
    return srv;
}

int http_server_port(const struct http_server *srv) { return srv->port; }

int http_server_close_credential(struct http_server *srv, const char *credential_id)
{
    int n = 0;
    for (struct http_conn *c = srv ? srv->conns : NULL, *next; c; c = next) {
        next = c->next;
        const char *cred = c->tx && !c->handshaking ? srv->opt.transport->credential(c->tx) : NULL;
        if (!cred || strcmp(cred, credential_id)) continue;
        conn_close(c);
        n++;
    }
    return n;
}

void http_server_stop(struct http_server *srv)
{
    if (!srv) return;
    while (srv->conns) conn_close(srv->conns);
    loop_unwatch(srv->loop, srv->listen_fd, LOOP_READABLE);
    loop_del_timer(srv->loop, srv->sweep_timer);
    if (srv->resume_timer) loop_del_timer(srv->loop, srv->resume_timer);
    close(srv->listen_fd);
    if (srv->spare_fd >= 0) close(srv->spare_fd);
    if (srv->own_limits) http_limits_free(srv->limits);
    free(srv);
}
