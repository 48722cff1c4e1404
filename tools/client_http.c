/* Plain HTTP transport (TS-0009 binding) over a blocking socket: one
 * request per connection, "Connection: close". */
#include "client.h"
#include "client_http.h"
#include "cse/core/token_syntax.h"
#include "cse/wire/http_codec.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_RESPONSE (64 << 20)

int client_http_connect(const struct client_url *url, int timeout_ms, char *err, size_t errlen)
{
    char port[16];
    snprintf(port, sizeof port, "%d", url->port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
    int rc = getaddrinfo(url->host, port, &hints, &res);
    if (rc) { snprintf(err, errlen, "%s: %s", url->host, gai_strerror(rc)); return -1; }
    int fd = -1;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (!connect(fd, ai->ai_addr, ai->ai_addrlen)) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) snprintf(err, errlen, "cannot connect to %s:%d: %s", url->host, url->port, strerror(errno));
    return fd;
}

/* The request target: CSE-relative "/x", SP-relative "/~/id/x", absolute "/_/sp/id/x";
 * then the query (the request's own, then the dynamic-authorization items). */
static int target_path(const struct client_url *url, const struct client_request *rq, const char *extra,
                       char *out, size_t cap)
{
    const char *to = rq->to;
    char joined[8192];
    if (snprintf(joined, sizeof joined, "%s%s%s", rq->query ? rq->query : "",
                 rq->query && *rq->query && *extra ? "&" : "", extra) >= (int)sizeof joined)
        return -1;
    const char *q = *joined ? joined : NULL;
    int n;
    if (!strncmp(to, "//", 2)) n = snprintf(out, cap, "%s/_/%s%s%s", url->prefix, to + 2, q ? "?" : "", q ? q : "");
    else if (to[0] == '/') n = snprintf(out, cap, "%s/~%s%s%s", url->prefix, to, q ? "?" : "", q ? q : "");
    else n = snprintf(out, cap, "%s/%s%s%s", url->prefix, to, q ? "?" : "", q ? q : "");
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* A plain POST (EST): the path as given, the body with its own type. */
static char *plain_post(const struct client_url *url, const struct client_request *rq, size_t *len, char *err,
                        size_t errlen)
{
    size_t blen = rq->body ? strlen(rq->body) : 0, cap = strlen(url->prefix) + strlen(rq->to) + strlen(url->host) +
                                                         strlen(rq->content_type) + blen + 200;
    char *buf = malloc(cap);
    int n = buf ? snprintf(buf, cap, "POST %s%s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                                     "Connection: close\r\n\r\n", url->prefix, rq->to, url->host, url->port,
                           rq->content_type, blen) : -1;
    if (n < 0 || (size_t)n + blen >= cap) {
        free(buf);
        snprintf(err, errlen, "request too large");
        return NULL;
    }
    if (blen) memcpy(buf + n, rq->body, blen);
    *len = (size_t)n + blen;
    return buf;
}

char *client_http_build(const struct client_opts *o, const struct client_url *url,
                        const struct client_request *rq, size_t *len, char *err, size_t errlen)
{
    if (rq->op < CLIENT_CREATE || rq->op > CLIENT_NOTIFY) {
        snprintf(err, errlen, "unknown operation");
        return NULL;
    }
    if (rq->content_type) return plain_post(url, rq, len, err, errlen);
    char path[16384], rqi[64], extra[4096];
    static char headers[TOKENS_MAX_BYTES + 4096];
    if (rq->rqi) snprintf(rqi, sizeof rqi, "%s", rq->rqi);
    else snprintf(rqi, sizeof rqi, "m2m-%ld-%d", (long)time(NULL), (int)getpid());
    size_t blen = rq->body ? strlen(rq->body) : 0;
    /* The same codec as the CSE's own requests (cse/wire/http_codec.h). */
    struct m2m_request prim = { .op = (enum m2m_op)rq->op, .rqi = rqi, .ty = rq->ty };
    client_fill_primitive(o, &prim);
    if (http_codec_headers(&prim, rq->body != NULL, headers, sizeof headers) < 0 ||
        http_codec_query(&prim, extra, sizeof extra) < 0) {
        snprintf(err, errlen, "request headers too large");
        return NULL;
    }
    if (target_path(url, rq, extra, path, sizeof path)) {
        snprintf(err, errlen, "request target and query too long");
        return NULL;
    }
    size_t cap = strlen(path) + strlen(url->host) + strlen(headers) + blen + 256;
    char *buf = malloc(cap);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int n = snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     http_codec_method(prim.op), path, url->host, url->port, headers, blen);
    if (n < 0 || (size_t)n + blen >= cap) {
        free(buf);
        snprintf(err, errlen, "request too large");
        return NULL;
    }
    if (blen) memcpy(buf + n, rq->body, blen);
    *len = (size_t)n + blen;
    return buf;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

char *client_http_read_all(client_read_fn *rd, void *ctx, size_t *len)
{
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= MAX_RESPONSE) break;
            cap *= 2;
            buf = realloc(buf, cap);
        }
        long r = rd(ctx, buf + n, cap - n - 1);
        if (r <= 0) break;
        n += (size_t)r;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static long socket_read(void *ctx, char *buf, size_t n)
{
    for (;;) {
        ssize_t r = recv(*(int *)ctx, buf, n, 0);
        if (r >= 0 || errno != EINTR) return r;
    }
}

static const char *header_value(const char *head, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        const char *p = line + 2;
        if (!strncasecmp(p, name, nl) && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ') p++;
            const char *end = strstr(p, "\r\n");
            *vlen = end ? (size_t)(end - p) : strlen(p);
            return p;
        }
    }
    return NULL;
}

int client_http_parse(char *raw, size_t len, struct client_response *rsp, char *err, size_t errlen)
{
    char *sep = strstr(raw, "\r\n\r\n");
    if (!len) {
        snprintf(err, errlen, "the server closed the connection without a response");
        return -1;
    }
    if (strncmp(raw, "HTTP/1.", 7) || !sep) {
        snprintf(err, errlen, "no HTTP response from the server");
        return -1;
    }
    *sep = 0;
    rsp->status = atoi(raw + 9);
    size_t vlen;
    const char *v = header_value(raw, "X-M2M-RSC", &vlen);
    if (v) rsp->rsc = atoi(v);
    if ((v = header_value(raw, "Content-Location", &vlen))) rsp->location = strndup(v, vlen);
    if ((v = header_value(raw, "X-M2M-ATI", &vlen))) rsp->ati = strndup(v, vlen);
    const char *body = sep + 4;
    size_t blen = len - (size_t)(body - raw);
    if ((v = header_value(raw, "Content-Length", &vlen)) && (size_t)atol(v) < blen) blen = (size_t)atol(v);
    rsp->body = strndup(body, blen);
    rsp->body_len = blen;
    return 0;
}

void client_http_show(const char *prefix, const char *text, size_t len)
{
    /* Tokens are credentials: the Authorization line is shown without them. */
    const char *auth = NULL, *end = text + len;
    for (const char *p = text; p < end && !auth;) {
        if (!strncasecmp(p, "Authorization:", 14)) auth = p;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    if (!auth) { fprintf(stderr, "%s %.*s\n", prefix, (int)len, text); return; }
    const char *eol = memchr(auth, '\n', (size_t)(text + len - auth));
    const char *rest = eol ? eol + 1 : text + len;
    fprintf(stderr, "%s %.*sAuthorization: (tokens not shown)\r\n%.*s\n", prefix, (int)(auth - text), text,
            (int)(text + len - rest), rest);
}

int client_http_send(const struct client_opts *o, const struct client_url *url,
                     const struct client_request *rq, struct client_response *rsp,
                     char *err, size_t errlen)
{
    size_t len;
    char *req = client_http_build(o, url, rq, &len, err, errlen);
    if (!req) return -1;
    if (o->verbose) client_http_show(">", req, len);
    int fd = client_http_connect(url, client_request_timeout(o), err, errlen);
    if (fd < 0) { free(req); return -1; }
    int rc = send_all(fd, req, len);
    free(req);
    if (rc) { snprintf(err, errlen, "send failed: %s", strerror(errno)); close(fd); return -1; }
    size_t n;
    char *raw = client_http_read_all(socket_read, &fd, &n);
    close(fd);
    if (o->verbose) client_http_show("<", raw, n);
    rc = client_http_parse(raw, n, rsp, err, errlen);
    free(raw);
    return rc;
}
