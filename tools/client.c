/* Transport selection by URL scheme. */
#include "client.h"

#include "../cse/core/primitive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct transport { const char *scheme; int default_port; client_send_fn *send; };

/* https, coap and coaps register here when their files land. */
static const struct transport transports[] = {
    { "http", 80, client_http_send },
    { "https", 443, client_https_send },
    { "coap", 5683, client_coap_send },
    { "coaps", 5684, client_coap_send },
};

static const struct transport *transport_for(const char *scheme)
{
    for (size_t i = 0; i < sizeof transports / sizeof *transports; i++)
        if (!strcasecmp(transports[i].scheme, scheme)) return &transports[i];
    return NULL;
}

int client_parse_url(const char *url, struct client_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *sep = strstr(url, "://");
    if (!sep || (size_t)(sep - url) >= sizeof out->scheme) {
        snprintf(err, errlen, "'%s' is not a URL (scheme://host[:port])", url);
        return -1;
    }
    memcpy(out->scheme, url, (size_t)(sep - url));
    const char *host = sep + 3, *path = strchr(host, '/');
    size_t hostlen = path ? (size_t)(path - host) : strlen(host);
    const char *colon = NULL;
    if (host[0] == '[') {                       /* [v6]:port */
        const char *close = memchr(host, ']', hostlen);
        if (!close) { snprintf(err, errlen, "malformed IPv6 host in '%s'", url); return -1; }
        snprintf(out->host, sizeof out->host, "%.*s", (int)(close - host - 1), host + 1);
        if (close + 1 < host + hostlen && close[1] == ':') colon = close + 1;
    } else {
        colon = memchr(host, ':', hostlen);
        size_t n = colon ? (size_t)(colon - host) : hostlen;
        snprintf(out->host, sizeof out->host, "%.*s", (int)n, host);
    }
    const struct transport *t = transport_for(out->scheme);
    out->port = t ? t->default_port : 0;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end != host + hostlen || p <= 0 || p > 65535) {
            snprintf(err, errlen, "malformed port in '%s'", url);
            return -1;
        }
        out->port = (int)p;
    }
    if (!out->host[0]) { snprintf(err, errlen, "no host in '%s'", url); return -1; }
    if (path) {
        size_t n = strlen(path);
        while (n && path[n - 1] == '/') n--;
        snprintf(out->prefix, sizeof out->prefix, "%.*s", (int)n, path);
    }
    return 0;
}

int client_request(const struct client_opts *o, const struct client_request *rq,
                   struct client_response *rsp, char *err, size_t errlen)
{
    memset(rsp, 0, sizeof *rsp);
    struct client_url url;
    if (client_parse_url(o->url, &url, err, errlen)) return -1;
    const struct transport *t = transport_for(url.scheme);
    if (!t) {
        snprintf(err, errlen, "no transport for '%s' URLs in this build", url.scheme);
        return -1;
    }
    return t->send(o, &url, rq, rsp, err, errlen);
}

void client_response_clear(struct client_response *rsp)
{
    free(rsp->body);
    free(rsp->location);
    free(rsp->ati);
    memset(rsp, 0, sizeof *rsp);
}

int client_request_timeout(const struct client_opts *o)
{
    return o->timeout_ms > 0 ? o->timeout_ms : 10000;
}

int client_handshake_timeout(const struct client_opts *o)
{
    int hs = o->handshake_timeout_ms > 0 ? o->handshake_timeout_ms : CLIENT_HANDSHAKE_MS;
    int total = client_request_timeout(o);
    return hs < total ? hs : total;
}

void client_fill_primitive(const struct client_opts *o, struct m2m_request *prim)
{
    prim->fr = (char *)o->from;
    prim->rvi = (char *)o->rvi;
    prim->tokens = (char *)o->tokens;
    prim->tids = (char *)o->tids;
    prim->ltids = (char *)o->ltids;
    prim->rids = (char *)o->rids;
    prim->tqi = o->tqi;
}
