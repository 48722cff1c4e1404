/* The host part of notification URLs ("scheme://host[:port][/path]"),
 * shared by the HTTP and CoAP senders. Hosts must be numeric IPv4/IPv6
 * ([...] for IPv6) or "localhost": names were looked up before, on the
 * loop (cse/events/outbound.c); a lookup here would block it. */
#ifndef IRONBARK_URL_H
#define IRONBARK_URL_H

#include <sys/socket.h>

struct url_endpoint {
    char hostport[80];             /* "host:port", canonical */
    struct sockaddr_storage addr;
    socklen_t alen;
    const char *path;              /* points into the URL: "/..." , "?..." or "" */
};

/* Parses the URL after its "scheme://"; default_port when none is given.
 * Returns 0 or -1 for a malformed URL or a host that is not numeric. */
int url_endpoint_parse(const char *after_scheme, int default_port, struct url_endpoint *out);

#endif
