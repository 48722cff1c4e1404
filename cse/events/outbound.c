#include "outbound.h"

#include "../base/log.h"
#include "../base/loop.h"
#include "../base/resolve.h"
#include "../core/cse.h"
#include "../core/primitive.h"
#include "../core/rsc.h"
#include "../wire/http_client.h"
#include "../wire/http_codec.h"
#include "../wire/transport.h"
#include "../../security/credentials.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { SCHEME_HTTP, SCHEME_HTTPS, SCHEME_COAP, SCHEME_COAPS, NSCHEMES };
static const char *const scheme_names[NSCHEMES] = { "http://", "https://", "coap://", "coaps://" };

struct sender {
    outbound_send_fn *send;
    outbound_send_blocking_fn *send_blocking;
};

struct outbound {
    struct sender senders[NSCHEMES];
    struct http_client *http;      /* NULL without a loop */
    struct resolver *resolver;     /* created at the first host name */
    struct tls_client *tls;        /* https://, created at the first such target */
};

static struct outbound *ob_of(struct cse *cse) { return cse->outbound; }

static int scheme_of(const char *url)
{
    for (int i = 0; i < NSCHEMES; i++)
        if (!strncasecmp(url, scheme_names[i], strlen(scheme_names[i]))) return i;
    return -1;
}

bool outbound_scheme_known(const char *url) { return scheme_of(url) >= 0; }

bool outbound_scheme_is_coap(const char *url)
{
    int s = scheme_of(url);
    return s == SCHEME_COAP || s == SCHEME_COAPS;
}

/* --- http:// ---------------------------------------------------------------------- */

/* The request's header lines (the HTTP codec); -1 when they do not fit. */
static int headers_for(char *buf, size_t cap, const struct outbound_request *r)
{
    return http_codec_headers(r->req, r->nbody > 0, buf, cap);
}

static int rsc_of_http(const struct http_client_result *r)
{
    if (r->error) return RSC_TARGET_NOT_REACHABLE;
    return r->rsc ? r->rsc : http_codec_rsc(r->status, NULL);
}

static const char *http_unreachable(int error)
{
    return error == HC_ERR_CONNECT ? "connection refused or closed"
           : error == HC_ERR_TIMEOUT ? "timeout" : NULL;
}

static const char *http_reason(const struct http_client_result *r)
{
    return r->error == HC_ERR_TLS ? (r->reason ? r->reason : "TLS handshake failed") : http_unreachable(r->error);
}

static struct outbound_answer answer_of_http(const struct http_client_result *r)
{
    /* An answer that was not HTTP counts as answered (5103), not unreachable:
     * retrying would only get the same again. */
    bool answered = r->error == HC_OK;
    struct outbound_answer a = { rsc_of_http(r), answered ? NULL : http_reason(r),
                                 answered && r->body_len ? r->body : NULL, answered ? r->body_len : 0, "" };
    if (answered) memcpy(a.location, r->location, sizeof a.location);
    return a;
}

struct http_attempt { outbound_done_fn *done; void *data; };

static void http_done(void *data, const struct http_client_result *r)
{
    struct http_attempt a = *(struct http_attempt *)data;
    free(data);
    struct outbound_answer ans = answer_of_http(r);
    a.done(a.data, &ans);
}

static int http_send(struct cse *cse, const struct outbound_request *r, outbound_done_fn *done, void *data)
{
    struct outbound *ob = ob_of(cse);
    const char *method = http_codec_method(r->req->op);
    if (!ob->http || !method) return -1;
    char hdr[2048];
    if (headers_for(hdr, sizeof hdr, r) < 0) return -1;
    struct http_attempt *at = malloc(sizeof *at);
    if (!at) return -1;
    *at = (struct http_attempt){ done, data };
    int rc = http_client_send_named(ob->http, method, r->url, r->host, hdr, r->body, r->nbody,
                                    r->timeout_ms, http_done, at);
    if (rc) free(at);
    return rc;
}

static void http_send_blocking(struct cse *cse, const struct outbound_request *r, struct outbound_answer *out)
{
    (void)cse;
    char hdr[2048];
    const char *method = http_codec_method(r->req->op);
    *out = (struct outbound_answer){ RSC_TARGET_NOT_REACHABLE, "cannot write the request", NULL, 0, "" };
    if (!method || headers_for(hdr, sizeof hdr, r) < 0) return;
    struct http_client_result res;
    http_client_send_sync(method, r->url, hdr, r->body, r->nbody, r->timeout_ms, &res);
    *out = answer_of_http(&res);
    if (!out->body) free((char *)res.body); /* else the caller's */
}

/* https://: the HTTP client with the module's TLS layer, set up at the
 * first https:// target. */
static int https_send(struct cse *cse, const struct outbound_request *a, outbound_done_fn *done, void *data)
{
    struct outbound *ob = ob_of(cse);
    if (!ob->http) return -1;
    if (!http_client_has_tls(ob->http)) {
        const struct transport_module *m = transport_load(&cse->cfg);
        if (!m || !(ob->tls = m->tls_client_create(&cse->cfg, cse->creds))) return -1;
        http_client_set_tls(ob->http, m->tls_client_io(), ob->tls);
    }
    return http_send(cse, a, done, data);
}

static void https_send_blocking(struct cse *cse, const struct outbound_request *a, struct outbound_answer *out)
{
    (void)cse;
    log_info("outbound: %s: https:// needs the event loop", a->url);
    *out = (struct outbound_answer){ RSC_TARGET_NOT_REACHABLE, "https:// needs the event loop", NULL, 0, "" };
}

/* --- coap:// and coaps://: in the transport module ---------------------------------- */

static int coap_send_lazy(struct cse *cse, const struct outbound_request *a, outbound_done_fn *done, void *data);
static void coap_send_blocking_lazy(struct cse *cse, const struct outbound_request *a, struct outbound_answer *out);

/* The module's sender for the scheme, loading the module first if need be
 * (its install replaces the lazy entries); NULL when it cannot be loaded. */
static const struct sender *module_sender(struct cse *cse, int scheme)
{
    struct sender *s = &ob_of(cse)->senders[scheme];
    if (s->send == coap_send_lazy) {
        const struct transport_module *m = transport_load(&cse->cfg);
        if (!m) return NULL;
        m->coap_notify_install(cse);
    }
    return s->send && s->send != coap_send_lazy ? s : NULL;
}

static int coap_send_lazy(struct cse *cse, const struct outbound_request *a, outbound_done_fn *done, void *data)
{
    const struct sender *s = module_sender(cse, scheme_of(a->url));
    return s ? s->send(cse, a, done, data) : -1;
}

static void coap_send_blocking_lazy(struct cse *cse, const struct outbound_request *a, struct outbound_answer *out)
{
    const struct sender *s = module_sender(cse, scheme_of(a->url));
    if (s) s->send_blocking(cse, a, out);
    else *out = (struct outbound_answer){ RSC_TARGET_NOT_REACHABLE, "the transport module is missing", NULL, 0, "" };
}

int outbound_set_sender(struct cse *cse, const char *scheme, outbound_send_fn *send,
                        outbound_send_blocking_fn *send_blocking)
{
    int i = scheme_of(scheme);
    if (i < 0 || !ob_of(cse)) return -1;
    ob_of(cse)->senders[i] = (struct sender){ send, send_blocking };
    return 0;
}

/* --- host names ---------------------------------------------------------------------- */

/* The host of url (without brackets) and where it starts and ends in it.
 * -1 when there is none. */
static int host_of(const char *url, char *host, size_t cap, size_t *start, size_t *end)
{
    const char *h = strstr(url, "://");
    if (!h) return -1;
    h += 3;
    const char *e = *h == '[' ? strchr(h, ']') : h + strcspn(h, ":/?#");
    if (!e) return -1;
    const char *hs = *h == '[' ? h + 1 : h;
    if (e <= hs || (size_t)(e - hs) >= cap) return -1;
    memcpy(host, hs, (size_t)(e - hs));
    host[e - hs] = 0;
    *start = (size_t)(h - url);
    *end = (size_t)(e - url) + (*h == '[');
    return 0;
}

/* url with its host replaced by the address found (malloc'd). */
static char *url_with_address(const char *url, size_t start, size_t end, const struct sockaddr *addr)
{
    char lit[INET6_ADDRSTRLEN + 2] = "";
    if (addr->sa_family == AF_INET6) {
        lit[0] = '[';
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, lit + 1, INET6_ADDRSTRLEN);
        strcat(lit, "]");
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, lit, sizeof lit);
    }
    size_t n = start + strlen(lit) + strlen(url + end) + 1;
    char *out = malloc(n);
    if (out) snprintf(out, n, "%.*s%s%s", (int)start, url, lit, url + end);
    return out;
}

/* --- sending ------------------------------------------------------------------------- */

/* One send under way: a copy of the request while a name is looked up,
 * and the caller's callback, told through ours so reasons are logged. */
struct attempt {
    struct cse *cse;
    struct outbound_request a;
    char *url;                     /* owned copy of a's */
    struct m2m_request *req;       /* owned copy, while a name is looked up; else a's */
    char host[256];                /* the name looked up */
    struct iovec *body;            /* owned copy of the array; the bytes are the caller's */
    size_t host_start, host_end;
    outbound_done_fn *done;
    void *data;
};

static void attempt_free(struct attempt *at)
{
    free(at->url);
    if (at->req) { m2m_request_clear(at->req); free(at->req); }
    free(at->body);
    free(at);
}

static void attempt_done(void *data, const struct outbound_answer *ans)
{
    struct attempt *at = data;
    if (ans->unreachable) log_info("outbound: %s unreachable: %s", at->url, ans->unreachable);
    at->done(at->data, ans);
    attempt_free(at);
}

static void attempt_unreachable(struct attempt *at, const char *why)
{
    attempt_done(at, &(struct outbound_answer){ RSC_TARGET_NOT_REACHABLE, why, NULL, 0, "" });
}

static const struct sender *sender_of(struct cse *cse, const char *url)
{
    int i = scheme_of(url);
    struct outbound *ob = ob_of(cse);
    return i >= 0 && ob && ob->senders[i].send ? &ob->senders[i] : NULL;
}

static void resolved(void *data, const struct sockaddr *addr, socklen_t alen, const char *error)
{
    (void)alen;
    struct attempt *at = data;
    if (error) { attempt_unreachable(at, error); return; }
    char *url = url_with_address(at->url, at->host_start, at->host_end, addr);
    const struct sender *s = url ? sender_of(at->cse, url) : NULL;
    at->a.url = url;
    at->a.body = at->body;
    at->a.host = at->host;
    if (!s || s->send(at->cse, &at->a, attempt_done, at)) {
        free(url);
        attempt_unreachable(at, "cannot start the request");
        return;
    }
    free(url); /* senders copy what they keep */
}

/* keep_request: the request outlives this call (a name is looked up first). */
static struct attempt *attempt_new(struct cse *cse, const struct outbound_request *a, bool keep_request,
                                   outbound_done_fn *done, void *data)
{
    struct attempt *at = calloc(1, sizeof *at);
    if (!at) return NULL;
    *at = (struct attempt){ .cse = cse, .a = *a, .done = done, .data = data };
    at->url = strdup(a->url);
    at->body = malloc((size_t)(a->nbody > 0 ? a->nbody : 1) * sizeof *at->body);
    if (keep_request && !(at->req = m2m_request_dup(a->req))) { attempt_free(at); return NULL; }
    if (!at->url || !at->body) { attempt_free(at); return NULL; }
    if (a->nbody > 0) memcpy(at->body, a->body, (size_t)a->nbody * sizeof *at->body);
    if (at->req) at->a.req = at->req;
    at->a.body = at->body;
    return at;
}

int outbound_send(struct cse *cse, const struct outbound_request *a, outbound_done_fn *done, void *data)
{
    struct outbound *ob = ob_of(cse);
    const struct sender *s = sender_of(cse, a->url);
    char host[256];
    size_t hs, he;
    if (!s || host_of(a->url, host, sizeof host, &hs, &he)) {
        log_info("outbound: cannot send to %s: %s", a->url, s ? "malformed URL" : "unsupported scheme");
        return -1;
    }
    struct attempt *at = attempt_new(cse, a, !resolve_is_literal(host), done, data);
    if (!at) return -1;
    at->host_start = hs;
    at->host_end = he;
    if (!resolve_is_literal(host)) {
        snprintf(at->host, sizeof at->host, "%s", host);
        char err[160] = "";
        if (!ob->resolver && cse->loop)
            ob->resolver = resolver_create(cse->loop, cse->cfg.dns_servers, err, sizeof err);
        if (!ob->resolver || resolver_lookup(ob->resolver, host, 0, resolved, at)) {
            log_info("outbound: cannot look up %s: %s", host, err[0] ? err : "no resolver");
            attempt_free(at);
            return -1;
        }
        return 0;
    }
    if (s->send(cse, &at->a, attempt_done, at)) {
        log_info("outbound: cannot send to %s: malformed URL or host", a->url);
        attempt_free(at);
        return -1;
    }
    return 0;
}

int outbound_send_blocking(struct cse *cse, const struct outbound_request *a, struct outbound_answer *out)
{
    struct outbound_answer ans = { RSC_TARGET_NOT_REACHABLE, "cannot send", NULL, 0, "" };
    const struct sender *s = sender_of(cse, a->url);
    char host[256];
    size_t hs, he;
    if (!s || host_of(a->url, host, sizeof host, &hs, &he)) {
        log_info("outbound: cannot send to %s: %s", a->url, s ? "malformed URL" : "unsupported scheme");
    } else if (resolve_is_literal(host)) {
        s->send_blocking(cse, a, &ans);
    } else {
        struct sockaddr_storage addr;
        socklen_t alen;
        const char *error = NULL;
        char *url = NULL;
        if (resolve_blocking(host, 0, &addr, &alen, &error)) {
            log_info("outbound: %s unreachable: %s", a->url, error);
        } else if ((url = url_with_address(a->url, hs, he, (struct sockaddr *)&addr))) {
            struct outbound_request b = *a;
            b.url = url;
            b.host = host;
            s->send_blocking(cse, &b, &ans);
        }
        free(url);
    }
    if (out) *out = ans;
    else free((char *)ans.body);
    return ans.rsc;
}

void outbound_answer_response(const struct outbound_answer *ans, struct m2m_response *out)
{
    m2m_response_init(out);
    out->rsc = ans->rsc;
    if (ans->body && ans->len) out->pc = json_loadb(ans->body, ans->len, JSON_DECODE_ANY, NULL);
    if (out->pc && json_is_null(out->pc)) { json_decref(out->pc); out->pc = NULL; }
    if (ans->location[0]) out->location = strdup(ans->location);
}

/* --- life cycle ---------------------------------------------------------------------- */

int outbound_open(struct cse *cse)
{
    struct outbound *ob = calloc(1, sizeof *ob);
    if (!ob) return -1;
    ob->senders[SCHEME_HTTP] = (struct sender){ http_send, http_send_blocking };
    ob->senders[SCHEME_HTTPS] = (struct sender){ https_send, https_send_blocking };
    ob->senders[SCHEME_COAP] = (struct sender){ coap_send_lazy, coap_send_blocking_lazy };
    ob->senders[SCHEME_COAPS] = (struct sender){ coap_send_lazy, coap_send_blocking_lazy };
    if (cse->loop && !(ob->http = http_client_create(cse->loop))) { free(ob); return -1; }
    cse->outbound = ob;
    return 0;
}

void outbound_close(struct cse *cse)
{
    struct outbound *ob = ob_of(cse);
    if (!ob) return;
    /* Requests in flight end as unreachable: lookups, then each transport. */
    resolver_destroy(ob->resolver);
    ob->resolver = NULL;
    http_client_destroy(ob->http);
    ob->http = NULL;
    if (ob->tls) transport_loaded()->tls_client_free(ob->tls);
    if (transport_loaded()) transport_loaded()->coap_notify_shutdown(cse);
    free(ob);
    cse->outbound = NULL;
}

int outbound_psk(const struct config *cfg, struct credentials *creds, const char *scheme, const char *hostport,
                 struct cred_psk *out)
{
    size_t n = strlen(hostport);
    for (int i = 0; i < cfg->noutbound_psk; i++) {
        const char *e = cfg->outbound_psk[i];
        if (strncmp(e, hostport, n) || e[n] != '=') continue;
        if (creds && !cred_get_psk(creds, e + n + 1, out)) return 0;
        memset(out, 0, sizeof *out);
        log_info("%s%s: the credential store has no key %s (setting outbound-psk)", scheme, hostport, e + n + 1);
        return -1;
    }
    return 1;
}
