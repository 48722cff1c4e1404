/* Host names to addresses without blocking the loop: a c-ares channel whose
 * sockets the loop watches and whose timeouts are loop timers. Literals
 * (IPv4, [IPv6]) and "localhost" never reach DNS. */
#ifndef IRONBARK_RESOLVE_H
#define IRONBARK_RESOLVE_H

#include <stdbool.h>
#include <sys/socket.h>

struct loop;
struct resolver;

/* addr/alen: the first address found (port set); error: why there is none
 * (NULL on success). Called exactly once, always later from the loop. */
typedef void resolve_done(void *data, const struct sockaddr *addr, socklen_t alen, const char *error);

/* servers: "host[:port],..." to ask instead of /etc/resolv.conf's, or ""
 * (the dns-servers setting). NULL after writing why into err. */
struct resolver *resolver_create(struct loop *loop, const char *servers, char *err, size_t errlen);
/* Lookups still running end with the error "resolver closed". */
void resolver_destroy(struct resolver *r);
/* Starts looking up host (no brackets) for port (0: the address only).
 * -1 when it cannot start. */
int resolver_lookup(struct resolver *r, const char *host, int port, resolve_done *done, void *data);

/* Is host an address literal or "localhost" (no lookup needed)? */
bool resolve_is_literal(const char *host);
/* The blocking lookup, only for code without a loop (tools, unit tests). */
int resolve_blocking(const char *host, int port, struct sockaddr_storage *out, socklen_t *alen,
                     const char **error);

#endif
