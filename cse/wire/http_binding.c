#include "http_binding.h"

#include "../core/cse.h"
#include "../core/metrics.h"
#include "../base/clock.h"
#include "../base/cbor_json.h"
#include "../base/json_text.h"
#include "../core/rsc.h"
#include "../../resources/types.h"
#include "../core/throttle.h"
#include "../core/token_syntax.h"
#include "../../security/saef.h"
#include "ops_http.h"
#include "console.h"
#include "upper_tester.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest X-M2M-RI echoed (http_response.headers holds 1024 bytes). */
#define MAX_RQI_LEN 256

/* The oneM2M request headers (X-M2M-<suffix>) that are copied as text into
 * the primitive; the first occurrence of each counts. */
static const struct { const char *suffix; size_t field; } m2m_text_headers[] = {
    { "Origin", offsetof(struct m2m_request, fr) }, { "RI", offsetof(struct m2m_request, rqi) },
    { "RVI", offsetof(struct m2m_request, rvi) }, { "RTU", offsetof(struct m2m_request, rtu) },
    { "OT", offsetof(struct m2m_request, ot) }, { "RST", offsetof(struct m2m_request, rset) },
    { "RET", offsetof(struct m2m_request, rqet) }, { "OET", offsetof(struct m2m_request, oet) },
    { "VSI", offsetof(struct m2m_request, vsi) }, { "GID", offsetof(struct m2m_request, gid) },
};

static void keep_first(char **field, const char *value)
{
    if (!*field) *field = strdup(value);
}

/* One pass over the request headers (not one scan per header name). */
static void copy_headers(const struct http_request *h, struct m2m_request *req)
{
    bool ec_seen = false;
    for (int i = 0; i < h->nheaders; i++) {
        const char *name = h->headers[i].name, *value = h->headers[i].value;
        if (strncasecmp(name, "X-M2M-", 6)) continue;
        name += 6;
        if (!strcasecmp(name, "EC")) {
            if (!ec_seen) req->ec = atoi(value);
            ec_seen = true;
            continue;
        }
        for (size_t k = 0; k < sizeof m2m_text_headers / sizeof *m2m_text_headers; k++) {
            if (!strcasecmp(name, m2m_text_headers[k].suffix)) {
                keep_first((char **)((char *)req + m2m_text_headers[k].field), value);
                break;
            }
        }
    }
}

/* Media types this CSE reads and writes: JSON and CBOR (TS-0004 6.7). */
enum media { MEDIA_OTHER, MEDIA_JSON, MEDIA_CBOR };

static enum media media_type(const char *mt, size_t n)
{
    static const char *const ok[] = {
        "application/json", "application/vnd.onem2m-res+json",
        "application/vnd.onem2m-ntfy+json", "application/vnd.onem2m-preq+json",
        "application/cbor", "application/vnd.onem2m-res+cbor",
        "application/vnd.onem2m-ntfy+cbor", "application/vnd.onem2m-preq+cbor",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (strlen(ok[i]) == n && !strncasecmp(mt, ok[i], n)) return i < 4 ? MEDIA_JSON : MEDIA_CBOR;
    return MEDIA_OTHER;
}

static enum media content_type_media(const char *ct)
{
    const char *semi = strchr(ct, ';');
    size_t n = semi ? (size_t)(semi - ct) : strlen(ct);
    while (n && isspace((unsigned char)ct[n - 1])) n--;
    return media_type(ct, n);
}

/* The answer's format from Accept: CBOR when a CBOR type comes before any
 * JSON one or the any-type wildcard, JSON when one of those is named, else none. */
static enum media accepted_media(const char *accept)
{
    if (!strcasecmp(accept, "application/json")) return MEDIA_JSON;   /* the usual one, without three scans */
    const char *c = strcasestr(accept, "cbor"), *j = strcasestr(accept, "json"), *any = strstr(accept, "*/*");
    if (any && (!j || any < j)) j = any;
    if (c && (!j || c < j)) return MEDIA_CBOR;
    return j ? MEDIA_JSON : MEDIA_OTHER;
}

/* Content-Type: "<media type>[; ty=<n>][; other params]". */
static int parse_content_type(const char *ct, struct m2m_request *req, struct m2m_response *rsp)
{
    for (const char *p = strchr(ct, ';'); p; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (isspace((unsigned char)*q)) q++;
        if (strncasecmp(q, "ty", 2)) continue;
        q += 2;
        while (isspace((unsigned char)*q)) q++;
        if (*q != '=') continue;
        q++;
        while (isspace((unsigned char)*q)) q++;
        char *end;
        long ty = strtol(q, &end, 10);
        while (isspace((unsigned char)*end)) end++;
        if (end == q || (*end && *end != ';') || ty <= 0 || ty > TY_NUMBER_MAX)
            return m2m_error(rsp, RSC_BAD_REQUEST, "invalid ty in Content-Type");
        req->ty = (int)ty;
    }
    return 0;
}

static int parse_query(const char *q, struct m2m_request *req, struct m2m_response *rsp)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n) {
            const char *eq = memchr(q, '=', n);
            size_t kn = eq ? (size_t)(eq - q) : n;
            char key[64], value[2048];
            if (m2m_percent_decode(q, kn, key, sizeof key) < 0 ||
                m2m_percent_decode(eq ? eq + 1 : q + n, eq ? n - kn - 1 : 0, value, sizeof value) < 0)
                return m2m_error(rsp, RSC_BAD_REQUEST, "malformed query string");
            /* TS-0009 carries tokens in the Authorization header only; a URL
             * ends up in logs and proxies' histories (docs/decisions.md). */
            if (!strcmp(key, "tkns"))
                return m2m_error(rsp, RSC_BAD_REQUEST, "tokens go in the Authorization header, not the query");
            int rc = m2m_apply_query(req, key, value);
            if (rc) return m2m_error(rsp, rc, "invalid value for query parameter '%s'", key);
        }
        if (!amp) break;
        q = amp + 1;
    }
    return 0;
}

/* Authorization: tkns joined by '+' (TS-0009 6.4.19), optionally after the
 * Bearer scheme of RFC 6750 (TS-0009 7.1); the first such header counts. */
static int parse_authorization(const struct http_request *h, struct m2m_request *req,
                               struct m2m_response *rsp)
{
    const char *v = http_header(h, "Authorization");
    if (!v) return 0;
    if (!strncasecmp(v, "Bearer ", 7)) v += 7;
    while (*v == ' ') v++;
    /* White space may only surround a '+': "Basic x" is another scheme. */
    for (const char *sp = strchr(v, ' '); sp; sp = strchr(sp + 1, ' ')) {
        const char *a = sp, *b = sp;
        while (a > v && a[-1] == ' ') a--;
        while (*b == ' ') b++;
        if (*b && (a == v || a[-1] != '+') && *b != '+')
            return m2m_error(rsp, RSC_BAD_REQUEST, "Authorization must hold tokens joined by '+' "
                             "(optionally after 'Bearer'); no other scheme is supported");
    }
    if (m2m_add_tokens(req, v))
        return m2m_error(rsp, RSC_BAD_REQUEST, "Authorization must hold at most %d tokens (compact JWS/JWE, "
                         "base64url and '.'), joined by '+', %d bytes in all", TOKENS_MAX_COUNT, TOKENS_MAX_BYTES);
    return 0;
}

int http_head_to_primitive(const struct http_request *h, struct m2m_request *req,
                           struct m2m_response *rsp)
{
    req->binding = BINDING_HTTP;
    const char *ip = h->peer_ip ? h->peer_ip : "";
    size_t iplen = strnlen(ip, sizeof req->peer.ip - 1);
    memcpy(req->peer.ip, ip, iplen);
    req->peer.ip[iplen] = 0;
    req->peer.port = h->peer_port;
    saef_bind(req, h->credential_id);
    copy_headers(h, req);
    int arc = parse_authorization(h, req, rsp);
    if (arc) return arc;

    /* The response echoes X-M2M-RI; one that cannot be echoed whole is refused
     * rather than answered without correlation. */
    if (req->rqi && strlen(req->rqi) > MAX_RQI_LEN)
        return m2m_error(rsp, RSC_BAD_REQUEST, "X-M2M-RI is longer than %d characters", MAX_RQI_LEN);
    const char *m = h->method;
    const char *ct = http_header(h, "Content-Type");
    if (ct) {
        int rc = parse_content_type(ct, req, rsp);
        if (rc) return rc;
    }
    if (!strcmp(m, "GET")) req->op = OP_RETRIEVE;
    else if (!strcmp(m, "PUT")) req->op = OP_UPDATE;
    else if (!strcmp(m, "DELETE")) req->op = OP_DELETE;
    else if (!strcmp(m, "POST")) {
        if (!ct) return m2m_error(rsp, RSC_BAD_REQUEST, "POST needs a Content-Type");
        req->op = req->ty ? OP_CREATE : OP_NOTIFY;
    } else {
        return m2m_error(rsp, RSC_OPERATION_NOT_ALLOWED, "method %s is not part of the oneM2M HTTP binding", m);
    }
    /* ty is not permitted in a RETRIEVE (TS-0004 Table 7.2.1.1-1); in an
     * UPDATE or DELETE it has long been ignored, and still is. */
    if (req->op == OP_RETRIEVE && req->ty)
        return m2m_error(rsp, RSC_BAD_REQUEST, "ty (the resource type) is not permitted in a RETRIEVE");
    if (req->op != OP_CREATE) req->ty = 0;

    /* Target: "/~/x" is SP-relative "/x", "/_/x" absolute "//x". */
    const char *target = h->target;
    const char *qmark = strchr(target, '?');
    size_t plen = qmark ? (size_t)(qmark - target) : strlen(target);
    char path[2048];
    if (plen == 0 || target[0] != '/' || m2m_percent_decode(target, plen, path, sizeof path) < 0)
        return m2m_error(rsp, RSC_BAD_REQUEST, "malformed request target");
    const char *p = path + 1;
    if (!strncmp(p, "~/", 2)) req->to = strdup(p + 1);
    else if (!strncmp(p, "_/", 2)) {
        size_t n = strlen(p + 1) + 2;
        req->to = malloc(n);
        snprintf(req->to, n, "/%s", p + 1);
    } else req->to = strdup(p);
    if (qmark) {
        int rc = parse_query(qmark + 1, req, rsp);
        if (rc) return rc;
    }
    const char *accept = http_header(h, "Accept");
    enum media answer = accept ? accepted_media(accept) : MEDIA_JSON;
    if (answer == MEDIA_OTHER)
        return m2m_error(rsp, RSC_NOT_ACCEPTABLE, "only JSON and CBOR responses can be produced");
    req->cbor_response = answer == MEDIA_CBOR;
    return 0;
}

int http_body_to_primitive(const struct http_request *h, struct m2m_request *req,
                           struct m2m_response *rsp)
{
    if (h->body_len) {
        const char *ct = http_header(h, "Content-Type");
        if (!ct) return m2m_error(rsp, RSC_UNSUPPORTED_MEDIA_TYPE, "a body needs a Content-Type");
        enum media media = content_type_media(ct);
        if (media == MEDIA_OTHER)
            return m2m_error(rsp, RSC_UNSUPPORTED_MEDIA_TYPE, "unsupported Content-Type '%s' (JSON or CBOR)", ct);
        if (media == MEDIA_CBOR) {
            const char *why = NULL;
            req->pc = cbor_to_json((const uint8_t *)h->body, h->body_len, &why);
            return req->pc ? 0 : m2m_error(rsp, RSC_BAD_REQUEST, "malformed CBOR: %s", why);
        }
        json_error_t err;
        req->pc = json_loadb(h->body, h->body_len, JSON_REJECT_DUPLICATES, &err);
        if (!req->pc)
            return m2m_error(rsp, RSC_BAD_REQUEST, "malformed JSON at line %d column %d: %s",
                             err.line, err.column, err.text);
    }
    return 0;
}

/* Decimal text of a non-negative v (snprintf costs more than the rest of
 * the headers together). */
static const char *decimal(int v, char buf[16])
{
    char *p = buf + 15;
    *p = 0;
    unsigned u = v < 0 ? 0 : (unsigned)v;
    do *--p = (char)('0' + u % 10); while ((u /= 10));
    return p;
}

/* Status line and the headers every response carries. */
static void put_status(const struct m2m_request *req, int rsc, struct http_response *h)
{
    char num[16];
    h->status = rsc_http_status(rsc);
    http_add_header(h, "X-M2M-RSC", decimal(rsc, num));
    if (req->rqi && strlen(req->rqi) <= MAX_RQI_LEN) http_add_header(h, "X-M2M-RI", req->rqi);
    /* No rvi in the request means a Release-1 originator: answer without one. */
    if (req->rvi) http_add_header(h, "X-M2M-RVI", req->rvi);
    struct m2m_echo echo;
    m2m_response_echo(req, &echo);
    if (echo.vsi) http_add_header(h, "X-M2M-VSI", echo.vsi);
    if (echo.rset) http_add_header(h, "X-M2M-RST", echo.rset);
    if (echo.ot[0]) http_add_header(h, "X-M2M-OT", echo.ot);
}

void http_from_primitive(const struct m2m_request *req, const struct m2m_response *rsp,
                         struct http_response *h)
{
    char num[32];
    put_status(req, rsp->rsc, h);
    if (rsp->retry_after_s > 0) {
        /* A rate limit: the transport's own code says so (decisions.md). */
        h->status = 429;
        snprintf(num, sizeof num, "%d", rsp->retry_after_s);
        http_add_header(h, "Retry-After", num);
    }
    if (rsp->location) http_add_header(h, "Content-Location", rsp->location);
    if (rsp->cnst) {
        snprintf(num, sizeof num, "%d", rsp->cnst);
        http_add_header(h, "X-M2M-CTS", num);
        snprintf(num, sizeof num, "%d", rsp->cnot);
        http_add_header(h, "X-M2M-CTO", num);
    }
    if (rsp->ati) http_add_header(h, "X-M2M-ATI", rsp->ati);
    if (req->cbor_response && (rsp->tqf || rsp->pc)) {
        h->body = (char *)json_to_cbor(rsp->tqf ? rsp->tqf : rsp->pc, &h->body_len);
        if (!h->body) h->body_len = 0;
        h->content_type = "application/cbor";
    } else if (rsp->tqf) {
        /* The token request information is the whole body of its 4103, with
         * no debugging text beside it (TS-0009 6.5). */
        h->body = json_text(rsp->tqf, &h->body_len);
        if (!h->body) h->body_len = 0;
        h->content_type = "application/json";
    } else if (rsp->pc && rsp->pc_text && rsp->pc_text_of == rsp->pc &&
        (h->body = malloc(rsp->pc_text_len + 1))) {
        memcpy(h->body, rsp->pc_text, rsp->pc_text_len + 1);
        h->body_len = rsp->pc_text_len;
        h->content_type = "application/json";
    } else if (rsp->pc) {
        h->body = json_text(rsp->pc, &h->body_len);
        if (!h->body) h->body_len = 0;
        h->content_type = "application/json";
    }
}

/* A write of this round (this one's or another's) is not durable yet: the
 * response waits for the group commit, and turns into 5000 if it fails. */
static void hold_until_commit(const struct m2m_request *req, struct http_response *hrsp)
{
    /* What http_from_primitive() makes of m2m_error(5000, this text),
     * without building and serialising it for every held response. */
    static const char failed[] = "{\"m2m:dbg\":\"the change could not be stored\"}";
    hrsp->hold = true;
    /* Not calloc: zeroing the 4 KiB header buffer showed in every held CREATE. */
    struct http_response *f = hrsp->fallback = malloc(sizeof *f);
    if (!f) return;
    f->headers[0] = 0;
    f->headers_len = 0;
    f->body = NULL;
    f->body_len = 0;
    f->content_type = NULL;
    f->deferred = f->hold = false;
    f->fallback = NULL;
    put_status(req, RSC_INTERNAL_SERVER_ERROR, f);
    if (req->cbor_response) {
        json_t *pc = json_loads(failed, 0, NULL);
        f->body = (char *)json_to_cbor(pc, &f->body_len);
        json_decref(pc);
        if (f->body) f->content_type = "application/cbor";
    } else if ((f->body = strdup(failed))) {
        f->body_len = sizeof failed - 1;
        f->content_type = "application/json";
    }
}

/* A request whose answer may come later (see cse_dispatch_async). */
struct exchange {
    struct cse *cse;
    struct m2m_request req;
    struct m2m_response rsp;
    struct http_server *srv;
    struct http_conn *conn;
    uint64_t gen;
    int64_t started_us;        /* when the request was read (metrics, request log) */
    bool uncounted;            /* an upper tester command: not a primitive of the metrics */
    char cors_origin[256];     /* an allowed origin of another page: named in the answer */
};

static void exchange_free(struct exchange *x)
{
    m2m_response_clear(&x->rsp);
    m2m_request_clear(&x->req);
    free(x);
}

/* An allowed page of another origin may read the answer, or its fallback. */
static void cors_headers(const struct exchange *x, struct http_response *h)
{
    if (!x->cors_origin[0]) return;
    console_cors_headers(x->cors_origin, h);
    if (h->fallback) console_cors_headers(x->cors_origin, h->fallback);
}

static void answer_later(void *data)
{
    struct exchange *x = data;
    struct http_response h = { .status = 500 };
    http_from_primitive(&x->req, &x->rsp, &h);
    if (cse_batch_pending(x->cse)) hold_until_commit(&x->req, &h);
    if (!x->uncounted) metrics_request(x->cse->metrics, &x->req, &x->rsp, x->started_us);
    cors_headers(x, &h);
    http_server_respond(x->srv, x->conn, x->gen, &h);
    exchange_free(x);
}

/* The CSE closed before the answer: the connection is gone with its server. */
static void abandon(void *data)
{
    exchange_free(data);
}

void http_binding_handle(void *data, const struct http_request *hreq, struct http_response *hrsp)
{
    struct cse *cse = data;
    /* Browsers first: CORS, foreign pages refused, the web console. */
    if (console_http(cse, hreq, hrsp)) return;
    /* A server's own plain-HTTP endpoints (the MEF's EST) carry no primitive. */
    if (cse->on_http && cse->on_http(cse, hreq, hrsp)) return;
    if (ops_http_handle(cse, hreq, hrsp)) return;
    /* Not calloc: the request and response are initialised below, and
     * zeroing the whole exchange twice shows in a RETRIEVE's cost. */
    struct exchange *x = malloc(sizeof *x);
    if (!x) {
        hrsp->status = 503;
        return;
    }
    x->cse = data;
    x->srv = NULL;
    x->conn = NULL;
    x->gen = 0;
    x->cors_origin[0] = 0;
    x->started_us = clock_now_us();
    x->uncounted = false;
    m2m_request_init(&x->req);
    m2m_response_init(&x->rsp);
    if (upper_tester_addressed(x->cse, hreq)) {
        char utrsp[128];
        x->srv = hreq->server;
        x->conn = hreq->conn;
        x->gen = hreq->conn_gen;
        x->uncounted = true;
        if (upper_tester_run(x->cse, hreq, &x->req, &x->rsp, utrsp, sizeof utrsp, x->srv ? answer_later : NULL,
                             abandon, x)) {
            hrsp->deferred = true;
            return;
        }
        http_from_primitive(&x->req, &x->rsp, hrsp);
        if (utrsp[0]) http_add_header(hrsp, "X-M2M-UTRSP", utrsp);
        if (cse_batch_pending(x->cse)) hold_until_commit(&x->req, hrsp);
        exchange_free(x);
        return;
    }
    int rc = http_head_to_primitive(hreq, &x->req, &x->rsp);
    if (!rc) rc = console_bind(x->cse, hreq, &x->req, &x->rsp);
    const char *origin = console_cors_origin(x->cse, hreq);
    if (origin && strlen(origin) < sizeof x->cors_origin) strcpy(x->cors_origin, origin);
    /* Rate limits before the body is parsed, whatever the head's outcome:
     * a refused flood costs no JSON parsing. */
    if (throttle_request(x->cse->throttle, &x->req, &x->rsp)) rc = RSC_BAD_REQUEST;
    else if (!rc) rc = http_body_to_primitive(hreq, &x->req, &x->rsp);
    if (!rc) {
        x->srv = hreq->server;
        x->conn = hreq->conn;
        x->gen = hreq->conn_gen;
        if (x->srv && cse_dispatch_async(x->cse, &x->req, &x->rsp, answer_later, abandon, x)) {
            hrsp->deferred = true;
            return;
        }
        if (!x->srv) cse_dispatch(x->cse, &x->req, &x->rsp);
    }
    http_from_primitive(&x->req, &x->rsp, hrsp);
    if (cse_batch_pending(x->cse)) hold_until_commit(&x->req, hrsp);
    metrics_request(x->cse->metrics, &x->req, &x->rsp, x->started_us);
    cors_headers(x, hrsp);
    exchange_free(x);
}
