#include "outbound.h"

#include "../base/log.h"
#include "../base/loop.h"
#include "../base/resolve.h"
#include "../core/cse.h"
#include "../core/rsc.h"
#include "../wire/http_client.h"
#include "../wire/http_codec.h"
#include "../wire/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { SCHEME_HTTP, SCHEME_HTTPS, SCHEME_COAP, SCHEME_COAPS, NSCHEMES };
static const char *const scheme_names[NSCHEMES] = { "http://", "https://", "coap://", "coaps://" };

struct sender {
    notify_send_fn *send;
    notify_send_blocking_fn *send_blocking;
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

/* --- http:// ---------------------------------------------------------------------- */

/* The NOTIFY's header lines (the HTTP codec); -1 when they do not fit. */
static int headers_for(char *buf, size_t cap, const struct notify_send_args *a)
{
    struct m2m_request req = { .op = OP_NOTIFY, .fr = (char *)a->from, .rqi = (char *)a->rqi, .ec = a->ec };
    return http_codec_headers(&req, true, buf, cap);
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

struct http_attempt { notify_sender_done *done; void *data; };

static void http_done(void *data, const struct http_client_result *r)
{
    struct http_attempt a = *(struct http_attempt *)data;
    free(data);
    a.done(a.data, rsc_of_http(r), http_reason(r));
}

static int http_send(struct cse *cse, const struct notify_send_args *a, notify_sender_done *done, void *data)
{
    struct outbound *ob = ob_of(cse);
    if (!ob->http) return -1;
    char hdr[1024];
    if (headers_for(hdr, sizeof hdr, a) < 0) return -1;
    struct http_attempt *at = malloc(sizeof *at);
    if (!at) return -1;
    *at = (struct http_attempt){ done, data };
    int rc = http_client_send_named(ob->http, "POST", a->url, a->host, hdr, a->body, a->nbody,
                                    a->timeout_ms, http_done, at);
    if (rc) free(at);
    return rc;
}

static int http_send_blocking(struct cse *cse, const struct notify_send_args *a)
{
    (void)cse;
    char hdr[1024];
    if (headers_for(hdr, sizeof hdr, a) < 0) return RSC_TARGET_NOT_REACHABLE;
    struct http_client_result r;
    http_client_send_sync("POST", a->url, hdr, a->body, a->nbody, a->timeout_ms, &r);
    int rsc = rsc_of_http(&r);
    free((char *)r.body);
    return rsc;
}

/* https://: the HTTP client with the module's TLS layer, set up at the
 * first https:// target. */
static int https_send(struct cse *cse, const struct notify_send_args *a, notify_sender_done *done, void *data)
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

static int https_send_blocking(struct cse *cse, const struct notify_send_args *a)
{
    (void)cse;
    log_info("outbound: %s: https:// needs the event loop", a->url);
    return RSC_TARGET_NOT_REACHABLE;
}

/* --- coap:// and coaps://: in the transport module ---------------------------------- */

static int coap_send_lazy(struct cse *cse, const struct notify_send_args *a, notify_sender_done *done, void *data);
static int coap_send_blocking_lazy(struct cse *cse, const struct notify_send_args *a);

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

static int coap_send_lazy(struct cse *cse, const struct notify_send_args *a, notify_sender_done *done, void *data)
{
    const struct sender *s = module_sender(cse, scheme_of(a->url));
    return s ? s->send(cse, a, done, data) : -1;
}

static int coap_send_blocking_lazy(struct cse *cse, const struct notify_send_args *a)
{
    const struct sender *s = module_sender(cse, scheme_of(a->url));
    return s ? s->send_blocking(cse, a) : RSC_TARGET_NOT_REACHABLE;
}

int outbound_set_sender(struct cse *cse, const char *scheme, notify_send_fn *send,
                        notify_send_blocking_fn *send_blocking)
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
    struct notify_send_args a;
    char *url, *from, *rqi;        /* owned copies of a's strings */
    char host[256];                /* the name looked up */
    struct iovec *body;            /* owned copy of the array; the bytes are the caller's */
    size_t host_start, host_end;
    notify_sender_done *done;
    void *data;
};

static void attempt_free(struct attempt *at)
{
    free(at->url);
    free(at->from);
    free(at->rqi);
    free(at->body);
    free(at);
}

static void attempt_done(void *data, int rsc, const char *unreachable)
{
    struct attempt *at = data;
    if (unreachable) log_info("outbound: %s unreachable: %s", at->url, unreachable);
    at->done(at->data, rsc, unreachable);
    attempt_free(at);
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
    if (error) { attempt_done(at, RSC_TARGET_NOT_REACHABLE, error); return; }
    char *url = url_with_address(at->url, at->host_start, at->host_end, addr);
    const struct sender *s = url ? sender_of(at->cse, url) : NULL;
    at->a.url = url;
    at->a.body = at->body;
    at->a.host = at->host;
    if (!s || s->send(at->cse, &at->a, attempt_done, at)) {
        free(url);
        attempt_done(at, RSC_TARGET_NOT_REACHABLE, "cannot start the request");
        return;
    }
    free(url); /* senders copy what they keep */
}

static struct attempt *attempt_new(struct cse *cse, const struct notify_send_args *a,
                                   notify_sender_done *done, void *data)
{
    struct attempt *at = calloc(1, sizeof *at);
    if (!at) return NULL;
    *at = (struct attempt){ .cse = cse, .a = *a, .done = done, .data = data };
    at->url = strdup(a->url);
    at->from = strdup(a->from ? a->from : "");
    at->rqi = strdup(a->rqi ? a->rqi : "");
    at->body = malloc((size_t)(a->nbody > 0 ? a->nbody : 1) * sizeof *at->body);
    if (!at->url || !at->from || !at->rqi || !at->body) { attempt_free(at); return NULL; }
    if (a->nbody > 0) memcpy(at->body, a->body, (size_t)a->nbody * sizeof *at->body);
    at->a.from = at->from;
    at->a.rqi = at->rqi;
    at->a.body = at->body;
    return at;
}

int outbound_send(struct cse *cse, const struct notify_send_args *a, notify_sender_done *done, void *data)
{
    struct outbound *ob = ob_of(cse);
    const struct sender *s = sender_of(cse, a->url);
    char host[256];
    size_t hs, he;
    if (!s || host_of(a->url, host, sizeof host, &hs, &he)) {
        log_info("outbound: cannot send to %s: %s", a->url, s ? "malformed URL" : "unsupported scheme");
        return -1;
    }
    struct attempt *at = attempt_new(cse, a, done, data);
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

int outbound_send_blocking(struct cse *cse, const struct notify_send_args *a)
{
    const struct sender *s = sender_of(cse, a->url);
    char host[256];
    size_t hs, he;
    if (!s || host_of(a->url, host, sizeof host, &hs, &he)) {
        log_info("outbound: cannot send to %s: %s", a->url, s ? "malformed URL" : "unsupported scheme");
        return RSC_TARGET_NOT_REACHABLE;
    }
    if (resolve_is_literal(host)) return s->send_blocking(cse, a);
    struct sockaddr_storage addr;
    socklen_t alen;
    const char *error = NULL;
    if (resolve_blocking(host, 0, &addr, &alen, &error)) {
        log_info("outbound: %s unreachable: %s", a->url, error);
        return RSC_TARGET_NOT_REACHABLE;
    }
    char *url = url_with_address(a->url, hs, he, (struct sockaddr *)&addr);
    if (!url) return RSC_TARGET_NOT_REACHABLE;
    struct notify_send_args b = *a;
    b.url = url;
    b.host = host;
    int rsc = s->send_blocking(cse, &b);
    free(url);
    return rsc;
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
