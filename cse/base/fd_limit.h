/* The file-descriptor budget: at start RLIMIT_NOFILE is raised as far as the
 * configured connections need (never past the hard limit), and
 * max-connections is lowered to what the limit leaves after a reserve for
 * everything else, so that accept() is what runs out first, not the store. */
#ifndef IRONBARK_FD_LIMIT_H
#define IRONBARK_FD_LIMIT_H

#define FD_RESERVE_MAX 512

/* Descriptors kept back from client connections under a limit of `limit`:
 * the databases, listeners, outbound notification connections, TLS and
 * CoAP sockets, the loop's own. A quarter of the limit, at least 64 (half
 * of a tiny limit), at most FD_RESERVE_MAX. */
long fd_reserve(long limit);
/* How many of `wanted` connections fit under `limit` (at least 1). */
int fd_connections_fitting(long limit, int wanted);
/* The limit under which `wanted` connections fit. */
long fd_limit_wanted(int wanted);

/* Raises the soft limit towards fd_limit_wanted(*max_connections) within the
 * hard limit, lowers *max_connections to what fits (with a warning), and
 * returns the soft limit in force. */
long fd_limit_prepare(int *max_connections);

#endif
