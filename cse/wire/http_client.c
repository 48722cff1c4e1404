#include "http_client.h"

#include "../base/log.h"
#include "../base/loop.h"
#include "../base/url.h"
#include "http.h"

#include <llhttp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_RESPONSE_BODY (1 << 20)
/* Kept open per host:port for the next request. Forwarding to another CSE
 * runs as many requests to one host at once as the CSE serves; with only a
 * few kept, bursts closed and reopened TCP connections (forward_bench.py,
 * two hops, on a loaded machine: 8-9% of a local RETRIEVE with 4, 13-17%
 * with 16; noisy, but never worse). */
#define MAX_IDLE_PER_HOST 16

/* --- URLs ------------------------------------------------------------------ */

struct url {
    struct url_endpoint ep;
    bool tls;                      /* https:// */
    char key[96];                  /* the keep-alive pool key: scheme and host:port */
    char host[256];                /* the host as written: the TLS server name */
    char host_header[300];         /* Host: the name (and port) the URL was written with */
    char path[2048];
};

static int url_parse(const char *s, struct url *u)
{
    memset(u, 0, sizeof *u);
    u->tls = !strncasecmp(s, "https://", 8);
    if (!u->tls && strncasecmp(s, "http://", 7)) return -1;
    const char *h = s + (u->tls ? 8 : 7);
    if (url_endpoint_parse(h, u->tls ? 443 : 80, &u->ep)) return -1;
    const char *hs = *h == '[' ? h + 1 : h;
    size_t hn = *h == '[' ? strcspn(hs, "]") : strcspn(hs, ":/?#");
    snprintf(u->host, sizeof u->host, "%.*s", (int)hn, hs);
    snprintf(u->key, sizeof u->key, "%s%s", u->tls ? "https://" : "http://", u->ep.hostport);
    snprintf(u->host_header, sizeof u->host_header, "%s", u->ep.hostport);
    const char *p = u->ep.path;
    snprintf(u->path, sizeof u->path, "%s%s", *p == '/' ? "" : "/", p);
    return 0;
}

/* --- requests: the head built here, the body sent from where it lies ------------ */

struct hc_request {
    char *head;                    /* request line and header lines */
    size_t head_len;
    struct iovec *body;            /* the array is ours, the bytes the caller's */
    int nbody;
    size_t len, sent;              /* head and body, and how much of that went out */
    int timeout_ms;
};

static void request_clear(struct hc_request *rq)
{
    free(rq->head);
    free(rq->body);
    memset(rq, 0, sizeof *rq);
}

static int request_init(struct hc_request *rq, const char *method, const struct url *u,
                        const char *headers, const struct iovec *body, int nbody, int timeout_ms)
{
    memset(rq, 0, sizeof *rq);
    size_t body_len = 0;
    for (int i = 0; i < nbody; i++) body_len += body[i].iov_len;
    size_t cap = strlen(method) + strlen(u->path) + strlen(u->host_header) +
                 (headers ? strlen(headers) : 0) + 128;
    rq->head = malloc(cap);
    rq->body = nbody > 0 ? malloc((size_t)nbody * sizeof *body) : NULL;
    if (!rq->head || (nbody > 0 && !rq->body)) { request_clear(rq); return -1; }
    int n = snprintf(rq->head, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %zu\r\n\r\n",
                     method, u->path, u->host_header, headers ? headers : "", body_len);
    if (n < 0 || (size_t)n >= cap) { request_clear(rq); return -1; }
    if (nbody > 0) memcpy(rq->body, body, (size_t)nbody * sizeof *body);
    rq->nbody = nbody > 0 ? nbody : 0;
    rq->head_len = (size_t)n;
    rq->len = rq->head_len + body_len;
    rq->timeout_ms = timeout_ms;
    return 0;
}

/* The bytes not yet sent, as at most cap iovecs. */
static int request_pending(const struct hc_request *rq, struct iovec *v, int cap)
{
    size_t skip = rq->sent;
    int n = 0;
    for (int i = -1; i < rq->nbody && n < cap; i++) {
        char *p = i < 0 ? rq->head : rq->body[i].iov_base;
        size_t len = i < 0 ? rq->head_len : rq->body[i].iov_len;
        if (skip >= len) { skip -= len; continue; }
        v[n++] = (struct iovec){ p + skip, len - skip };
        skip = 0;
    }
    return n;
}

/* One non-blocking write of what is pending: bytes written, or -1 (errno). */
static ssize_t request_write(int fd, struct hc_request *rq)
{
    struct iovec v[16];
    struct msghdr m = { .msg_iov = v, .msg_iovlen = (size_t)request_pending(rq, v, 16) };
    ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (n > 0) rq->sent += (size_t)n;
    return n;
}

/* The same through a TLS layer: bytes written, or HTTP_IO_* (< 0). */
static long request_write_io(const struct http_client_io *io, void *conn, struct hc_request *rq)
{
    struct iovec v[1];
    if (request_pending(rq, v, 1) < 1) return 0;
    long n = io->write(conn, v[0].iov_base, v[0].iov_len);
    if (n > 0) rq->sent += (size_t)n;
    return n;
}

/* --- response parsing (shared by both variants) ------------------------------ */

struct parse {
    llhttp_t p;
    llhttp_settings_t settings;
    char field[32];
    size_t field_len;
    bool field_is_rsc, field_is_location;
    char rsc[16];
    size_t rsc_len;
    char location[256];
    size_t location_len;           /* > sizeof location: too long, dropped */
    char *body;
    size_t body_len;
    bool complete, too_large;
};

static int on_field(llhttp_t *p, const char *at, size_t n)
{
    struct parse *ps = p->data;
    if (ps->field_len + n < sizeof ps->field) {
        memcpy(ps->field + ps->field_len, at, n);
        ps->field_len += n;
    } else {
        ps->field_len = sizeof ps->field; /* too long to be X-M2M-RSC */
    }
    return 0;
}

static int on_field_done(llhttp_t *p)
{
    struct parse *ps = p->data;
    ps->field_is_rsc = ps->field_len == 9 && !strncasecmp(ps->field, "X-M2M-RSC", 9);
    ps->field_is_location = ps->field_len == 16 && !strncasecmp(ps->field, "Content-Location", 16);
    ps->field_len = 0;
    if (ps->field_is_rsc) ps->rsc_len = 0;
    if (ps->field_is_location) ps->location_len = 0;
    return 0;
}

static int on_value(llhttp_t *p, const char *at, size_t n)
{
    struct parse *ps = p->data;
    if (ps->field_is_rsc && ps->rsc_len + n < sizeof ps->rsc) {
        memcpy(ps->rsc + ps->rsc_len, at, n);
        ps->rsc_len += n;
    }
    if (ps->field_is_location) {
        if (ps->location_len + n < sizeof ps->location) memcpy(ps->location + ps->location_len, at, n);
        ps->location_len += n;
    }
    return 0;
}

static int on_value_done(llhttp_t *p)
{
    struct parse *ps = p->data;
    if (ps->field_is_rsc) ps->rsc[ps->rsc_len] = 0;
    if (ps->field_is_location) ps->location[ps->location_len < sizeof ps->location ? ps->location_len : 0] = 0;
    ps->field_is_rsc = ps->field_is_location = false;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct parse *ps = p->data;
    if (ps->body_len + n > MAX_RESPONSE_BODY) { ps->too_large = true; return -1; }
    char *b = realloc(ps->body, ps->body_len + n + 1);
    if (!b) return -1;
    memcpy(b + ps->body_len, at, n);
    ps->body = b;
    ps->body_len += n;
    b[ps->body_len] = 0;
    return 0;
}

static int on_complete(llhttp_t *p)
{
    ((struct parse *)p->data)->complete = true;
    return HPE_PAUSED; /* one response per request: stop here */
}

static void parse_init(struct parse *ps)
{
    memset(ps, 0, sizeof *ps);
    llhttp_settings_init(&ps->settings);
    ps->settings.on_header_field = on_field;
    ps->settings.on_header_field_complete = on_field_done;
    ps->settings.on_header_value = on_value;
    ps->settings.on_header_value_complete = on_value_done;
    ps->settings.on_body = on_body;
    ps->settings.on_message_complete = on_complete;
    llhttp_init(&ps->p, HTTP_RESPONSE, &ps->settings);
    ps->p.data = ps;
}

static void parse_reset(struct parse *ps)
{
    free(ps->body);
    parse_init(ps);
}

/* Feeds bytes; returns 1 when the response is complete, 0 for more, -1 on error. */
static int parse_feed(struct parse *ps, const char *data, size_t n)
{
    llhttp_errno_t err = llhttp_execute(&ps->p, data, n);
    if (ps->complete) return 1;
    return err == HPE_OK ? 0 : -1;
}

/* The peer closed: a response without Content-Length ends here. */
static int parse_eof(struct parse *ps)
{
    if (ps->complete) return 1;
    llhttp_errno_t err = llhttp_finish(&ps->p);
    return ps->complete || (err == HPE_OK && ps->p.status_code) ? 1 : -1;
}

static void parse_result(struct parse *ps, struct http_client_result *r)
{
    r->error = HC_OK;
    r->status = ps->p.status_code;
    r->rsc = ps->rsc_len ? atoi(ps->rsc) : 0;
    r->body = ps->body;
    r->body_len = ps->body_len;
    snprintf(r->location, sizeof r->location, "%s", ps->location);
}

/* --- the asynchronous client --------------------------------------------- */

struct hc_conn {
    struct http_client *cl;
    int fd;
    struct url url;
    bool connected, reused, got_bytes, idle;
    void *io;                      /* the TLS layer's connection (https://), or NULL */
    bool handshaken;
    struct hc_request rq;          /* the request under way (head NULL when none) */
    struct parse ps;
    int64_t timer;                 /* request timeout, or 0 */
    int64_t deferred;              /* zero-delay timer for errors found before I/O */
    int deferred_error;
    http_client_done *done;
    void *data;
    struct hc_conn *next;
};

struct http_client {
    struct loop *loop;
    struct hc_conn *conns;         /* all connections, idle and busy */
    int nconns;
    const struct http_client_io *io; /* https://, when set up */
    void *io_data;
};

void http_client_set_tls(struct http_client *c, const struct http_client_io *io, void *io_data)
{
    c->io = io;
    c->io_data = io_data;
}

bool http_client_has_tls(const struct http_client *c) { return c->io != NULL; }

struct http_client *http_client_create(struct loop *loop)
{
    struct http_client *c = calloc(1, sizeof *c);
    if (c) c->loop = loop;
    return c;
}

int http_client_connections(const struct http_client *c) { return c->nconns; }

static void conn_forget_request(struct hc_conn *k)
{
    request_clear(&k->rq);
    k->done = NULL;
    if (k->timer) { loop_del_timer(k->cl->loop, k->timer); k->timer = 0; }
    if (k->deferred) { loop_del_timer(k->cl->loop, k->deferred); k->deferred = 0; }
}

static void conn_free(struct hc_conn *k)
{
    struct http_client *cl = k->cl;
    for (struct hc_conn **p = &cl->conns; *p; p = &(*p)->next)
        if (*p == k) { *p = k->next; break; }
    cl->nconns--;
    if (k->io) cl->io->detach(k->io);
    if (k->fd >= 0) {
        /* Only this descriptor refers to the socket (nothing dup()s or forks). */
        loop_forget(cl->loop, k->fd);
        close(k->fd);
    }
    conn_forget_request(k);
    free(k->ps.body);
    free(k);
}

void http_client_destroy(struct http_client *c)
{
    if (!c) return;
    while (c->conns) {
        struct hc_conn *k = c->conns;
        http_client_done *done = k->done;
        void *data = k->data;
        k->done = NULL;
        conn_free(k);
        /* The owner learns its request ended, so it can release what it holds. */
        struct http_client_result r = { .error = HC_ERR_CONNECT };
        if (done) done(data, &r);
    }
    free(c);
}

static void conn_io(struct loop *loop, int fd, void *data, int mask);
static int conn_start(struct http_client *cl, const struct url *u, struct hc_request *rq,
                      http_client_done *done, void *data, bool allow_reuse);

/* Ends the current request with a result; the connection goes idle or away. */
static void conn_finish(struct hc_conn *k, struct http_client_result *r, bool keep)
{
    http_client_done *done = k->done;
    void *data = k->data;
    k->done = NULL;
    if (done) done(data, r);
    if (keep && k->fd >= 0) {
        int idle = 0;
        for (struct hc_conn *o = k->cl->conns; o; o = o->next)
            idle += o->idle && !strcmp(o->url.key, k->url.key);
        if (idle < MAX_IDLE_PER_HOST) {
            conn_forget_request(k);
            parse_reset(&k->ps);
            k->idle = true;
            k->got_bytes = false;
            loop_unwatch(k->cl->loop, k->fd, LOOP_WRITABLE);
            loop_watch(k->cl->loop, k->fd, LOOP_READABLE, conn_io, k); /* notice peer close */
            return;
        }
    }
    conn_free(k);
}

static void conn_fail_tls(struct hc_conn *k)
{
    const char *why = k->io ? k->cl->io->error(k->io) : NULL;
    struct http_client_result r = { .error = HC_ERR_TLS, .reason = why ? why : "TLS handshake failed" };
    conn_finish(k, &r, false);
}

static void conn_fail(struct hc_conn *k, int error)
{
    /* A reused keep-alive connection the peer had closed: try once afresh. */
    if (error == HC_ERR_CONNECT && k->reused && !k->got_bytes && k->done) {
        struct hc_request rq = k->rq;
        memset(&k->rq, 0, sizeof k->rq);
        if (conn_start(k->cl, &k->url, &rq, k->done, k->data, false) == 0) {
            k->done = NULL;
            conn_free(k);
            return;
        }
        k->rq = rq;
    }
    struct http_client_result r = { .error = error };
    conn_finish(k, &r, false);
}

static int64_t conn_timeout(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct hc_conn *k = data;
    k->timer = 0;
    conn_fail(k, HC_ERR_TIMEOUT);
    return -1;
}

static int64_t conn_deferred(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct hc_conn *k = data;
    k->deferred = 0;
    conn_fail(k, k->deferred_error);
    return -1;
}

/* Waits for what the TLS layer wants (HTTP_IO_WANT_*). */
static void conn_want(struct hc_conn *k, long want)
{
    loop_unwatch(k->cl->loop, k->fd, want == HTTP_IO_WANT_READ ? LOOP_WRITABLE : LOOP_READABLE);
    loop_watch(k->cl->loop, k->fd, want == HTTP_IO_WANT_READ ? LOOP_READABLE : LOOP_WRITABLE, conn_io, k);
}

static void conn_write_io(struct hc_conn *k)
{
    while (k->rq.sent < k->rq.len) {
        long n = request_write_io(k->cl->io, k->io, &k->rq);
        if (n == HTTP_IO_WANT_READ || n == HTTP_IO_WANT_WRITE) { conn_want(k, n); return; }
        if (n <= 0) { conn_fail(k, HC_ERR_CONNECT); return; }
    }
    conn_want(k, HTTP_IO_WANT_READ);
}

/* https://: the handshake first, then the request. */
static void conn_handshake(struct hc_conn *k)
{
    if (!k->io && !(k->io = k->cl->io->attach(k->cl->io_data, k->fd, k->url.host, k->url.ep.hostport))) {
        conn_fail_tls(k);
        return;
    }
    int st = k->cl->io->handshake(k->io);
    if (st == HTTP_IO_WANT_READ || st == HTTP_IO_WANT_WRITE) { conn_want(k, st); return; }
    if (st != 0) { conn_fail_tls(k); return; }
    k->handshaken = true;
    conn_write_io(k);
}

static void conn_write(struct hc_conn *k)
{
    if (k->url.tls) {
        if (!k->handshaken) conn_handshake(k);
        else conn_write_io(k);
        return;
    }
    while (k->rq.sent < k->rq.len) {
        ssize_t n = request_write(k->fd, &k->rq);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) { conn_fail(k, HC_ERR_CONNECT); return; }
    }
    loop_unwatch(k->cl->loop, k->fd, LOOP_WRITABLE);
    loop_watch(k->cl->loop, k->fd, LOOP_READABLE, conn_io, k);
}

static void conn_read(struct hc_conn *k)
{
    char chunk[16384];
    for (;;) {
        ssize_t n;
        if (k->io) {
            long r = k->cl->io->read(k->io, chunk, sizeof chunk);
            if (r == HTTP_IO_WANT_READ) return;
            if (r == HTTP_IO_WANT_WRITE) { conn_want(k, r); return; }
            n = r > 0 ? r : 0; /* an error ends the connection like a close */
        } else {
            n = recv(k->fd, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        }
        if (n <= 0) {
            if (k->idle) { conn_free(k); return; }
            if (k->got_bytes && parse_eof(&k->ps) == 1) {
                struct http_client_result r;
                parse_result(&k->ps, &r);
                conn_finish(k, &r, false);
            } else {
                conn_fail(k, k->got_bytes ? HC_ERR_PROTOCOL : HC_ERR_CONNECT);
            }
            return;
        }
        if (k->idle) { conn_free(k); return; } /* unsolicited bytes: drop it */
        k->got_bytes = true;
        int st = parse_feed(&k->ps, chunk, (size_t)n);
        if (st < 0) { conn_fail(k, HC_ERR_PROTOCOL); return; }
        if (st == 1) {
            struct http_client_result r;
            parse_result(&k->ps, &r);
            conn_finish(k, &r, llhttp_should_keep_alive(&k->ps.p));
            return;
        }
    }
}

static void conn_io(struct loop *loop, int fd, void *data, int mask)
{
    (void)loop; (void)fd;
    struct hc_conn *k = data;
    if (!k->connected && (mask & LOOP_WRITABLE)) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) { conn_fail(k, HC_ERR_CONNECT); return; }
        k->connected = true;
    }
    if (k->url.tls && !k->handshaken) { conn_handshake(k); return; }
    if (k->url.tls && k->rq.head && k->rq.sent < k->rq.len) { conn_write_io(k); return; }
    if (mask & LOOP_READABLE) { conn_read(k); return; }
    if (mask & LOOP_WRITABLE) conn_write(k);
}

static struct hc_conn *find_idle(struct http_client *cl, const char *key)
{
    for (struct hc_conn *k = cl->conns; k; k = k->next)
        if (k->idle && !strcmp(k->url.key, key)) return k;
    return NULL;
}

/* Starts rq (taken when 0 is returned) on an idle or a new connection. */
static int conn_start(struct http_client *cl, const struct url *u, struct hc_request *rq,
                      http_client_done *done, void *data, bool allow_reuse)
{
    struct hc_conn *k = allow_reuse ? find_idle(cl, u->key) : NULL;
    if (k) {
        k->idle = false;
        k->reused = true;
    } else {
        k = calloc(1, sizeof *k);
        if (!k) return -1;
        k->cl = cl;
        k->fd = -1;
        parse_init(&k->ps);
        k->next = cl->conns;
        cl->conns = k;
        cl->nconns++;
    }
    if (!k->reused) k->url = *u; /* a reused one keeps the name its handshake proved */
    k->done = done;
    k->data = data;
    k->rq = *rq;
    k->rq.sent = 0;
    memset(rq, 0, sizeof *rq);
    k->timer = loop_add_timer(cl->loop, k->rq.timeout_ms, conn_timeout, k);
    if (k->reused) {
        loop_watch(cl->loop, k->fd, LOOP_WRITABLE, conn_io, k);
        return 0;
    }
    k->fd = socket(u->ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = k->fd < 0 ? -1 : connect(k->fd, (const struct sockaddr *)&u->ep.addr, u->ep.alen);
    if (rc && errno != EINPROGRESS) {
        /* Report from the loop, never from inside the caller. */
        k->deferred_error = HC_ERR_CONNECT;
        k->deferred = loop_add_timer(cl->loop, 0, conn_deferred, k);
        return 0;
    }
    int one = 1;
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    k->connected = rc == 0;
    if (loop_watch(cl->loop, k->fd, LOOP_WRITABLE, conn_io, k)) {
        k->deferred_error = HC_ERR_CONNECT;
        k->deferred = loop_add_timer(cl->loop, 0, conn_deferred, k);
    }
    return 0;
}

int http_client_send(struct http_client *cl, const char *method, const char *url,
                     const char *headers, const struct iovec *body, int nbody, int timeout_ms,
                     http_client_done *done, void *data)
{
    return http_client_send_named(cl, method, url, NULL, headers, body, nbody, timeout_ms, done, data);
}

int http_client_send_named(struct http_client *cl, const char *method, const char *url,
                           const char *server_name, const char *headers, const struct iovec *body,
                           int nbody, int timeout_ms, http_client_done *done, void *data)
{
    struct url u;
    struct hc_request rq;
    if (url_parse(url, &u) || (u.tls && !cl->io)) return -1;
    if (server_name && *server_name) {
        /* The name, not the address it was resolved to, is what the server
         * is asked for (Host), what the certificate proves and what a kept
         * https:// connection is for. */
        const char *port = strrchr(u.ep.hostport, ':');
        snprintf(u.host_header, sizeof u.host_header, "%s%s", server_name, port ? port : "");
        if (u.tls) {
            snprintf(u.host, sizeof u.host, "%s", server_name);
            snprintf(u.key, sizeof u.key, "https://%s|%s", server_name, u.ep.hostport);
        }
    }
    if (request_init(&rq, method, &u, headers, body, nbody, timeout_ms)) return -1;
    int rc = conn_start(cl, &u, &rq, done, data, true);
    request_clear(&rq); /* still ours only when it did not start */
    return rc;
}

/* --- the blocking, bounded variant ------------------------------------------- */

static int64_t ms_left(int64_t deadline)
{
    int64_t d = deadline - loop_now_ms();
    return d < 0 ? 0 : d;
}

static int wait_fd(int fd, short ev, int64_t deadline)
{
    struct pollfd pfd = { .fd = fd, .events = ev };
    for (;;) {
        int n = poll(&pfd, 1, (int)ms_left(deadline));
        if (n < 0 && errno == EINTR) continue;
        return n;
    }
}

static int sync_exchange(int fd, const struct url *u, struct hc_request *rq,
                         int64_t deadline, struct parse *ps)
{
    if (connect(fd, (const struct sockaddr *)&u->ep.addr, u->ep.alen) && errno != EINPROGRESS)
        return HC_ERR_CONNECT;
    if (wait_fd(fd, POLLOUT, deadline) <= 0) return HC_ERR_TIMEOUT;
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) return HC_ERR_CONNECT;
    while (rq->sent < rq->len) {
        ssize_t n = request_write(fd, rq);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) <= 0) return HC_ERR_TIMEOUT;
            continue;
        }
        if (n <= 0) return HC_ERR_CONNECT;
    }
    char chunk[16384];
    bool got = false;
    for (;;) {
        if (wait_fd(fd, POLLIN, deadline) <= 0) return HC_ERR_TIMEOUT;
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) return got && parse_eof(ps) == 1 ? HC_OK : got ? HC_ERR_PROTOCOL : HC_ERR_CONNECT;
        got = true;
        int st = parse_feed(ps, chunk, (size_t)n);
        if (st < 0) return HC_ERR_PROTOCOL;
        if (st == 1) return HC_OK;
    }
}

void http_client_send_sync(const char *method, const char *url, const char *headers,
                           const struct iovec *body, int nbody, int timeout_ms,
                           struct http_client_result *out)
{
    memset(out, 0, sizeof *out);
    struct url u;
    if (url_parse(url, &u) || u.tls) { out->error = HC_ERR_URL; return; } /* https://: on a loop only */
    struct hc_request rq;
    int made = request_init(&rq, method, &u, headers, body, nbody, timeout_ms);
    int fd = socket(u.ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (made || fd < 0) {
        out->error = made ? HC_ERR_MEMORY : HC_ERR_CONNECT;
        if (!made) request_clear(&rq);
        if (fd >= 0) close(fd);
        return;
    }
    struct parse ps;
    parse_init(&ps);
    int rc = sync_exchange(fd, &u, &rq, loop_now_ms() + timeout_ms, &ps);
    close(fd);
    request_clear(&rq);
    if (rc == HC_OK) {
        parse_result(&ps, out);
    } else {
        out->error = rc;
        free(ps.body);
    }
}
