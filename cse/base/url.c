#include "url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int url_endpoint_parse(const char *h, int default_port, struct url_endpoint *u)
{
    memset(u, 0, sizeof *u);
    const char *end = h + strcspn(h, "/?");
    char host[64];
    int port = default_port;
    const char *hs = *h == '[' ? h + 1 : h;
    const char *hend = *h == '[' ? memchr(h, ']', (size_t)(end - h)) : memchr(h, ':', (size_t)(end - h));
    if (!hend) {
        if (*h == '[') return -1;
        hend = end;
    }
    if (hend <= hs || (size_t)(hend - hs) >= sizeof host) return -1;
    memcpy(host, hs, (size_t)(hend - hs));
    host[hend - hs] = 0;
    const char *colon = memchr(hend, ':', (size_t)(end - hend));
    if (colon) {
        char *e;
        long p = strtol(colon + 1, &e, 10);
        if (e != end || p <= 0 || p > 65535) return -1;
        port = (int)p;
    }
    if (!strcasecmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *a4 = (struct sockaddr_in *)&u->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&u->addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        u->alen = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        u->alen = sizeof *a6;
    } else {
        return -1;
    }
    snprintf(u->hostport, sizeof u->hostport, a6->sin6_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
    u->path = end;
    return 0;
}
