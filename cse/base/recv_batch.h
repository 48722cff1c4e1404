/* Several datagrams per system call for a library that reads one per
 * recvmsg() (libcoap 4.3.1: one recvmsg() and, around it, one epoll_wait()
 * per datagram; its read function is not exported). docs/decisions.md,
 * "CoAP datagrams read in batches".
 *
 * This module defines recvmsg(). m2m-cse links it into the executable,
 * which comes first in the process's symbol lookup, so libcoap's calls
 * (from the dlopened transport module, whose own definitions come after
 * libc's) reach it; every other call goes on to libc's recvmsg() unchanged.
 * While armed, a call that looks exactly like libcoap's endpoint read (flags
 * 0, one buffer of RECV_BATCH_SLOT bytes) is served from a batch that one
 * recvmmsg() took from the same socket: the same bytes, sender address,
 * ancillary data (the IP_PKTINFO libcoap reads) and flags as its own
 * recvmsg() would have returned, in the kernel's order. The batch reads only
 * what is already queued (MSG_DONTWAIT); its caller drains it (while
 * recv_batch_pending()) before it waits for the socket again. */
#ifndef IRONBARK_RECV_BATCH_H
#define IRONBARK_RECV_BATCH_H

#include <stdbool.h>
#include <stddef.h>

/* libcoap's receive buffer (COAP_RXBUFFER_SIZE in 4.3.1): only a call with
 * exactly this room is served from a batch, so a datagram is cut where the
 * caller's own recvmsg() would cut it. */
#define RECV_BATCH_SLOT 1472
/* Datagrams one recvmmsg() takes at most. */
#define RECV_BATCH_MAX 16

/* Arms (true) or disarms batching for the calls that follow; returns the
 * previous state, for a caller that disarms it for a while (a request
 * handler may run libcoap's own loop, whose reads must not start a batch
 * that nobody drains). Datagrams already batched stay pending. */
bool recv_batch_arm(bool on);

/* Datagrams read from the kernel but not yet handed to a recvmsg(). */
size_t recv_batch_pending(void);

/* Datagrams handed out from batches, and recvmmsg() calls, since start. */
void recv_batch_counts(unsigned long long *served, unsigned long long *batches);

/* Whether the last recvmsg(-1, NULL, 0) reached our definition (and
 * clears the answer). Made by the code that wants batching, since the call
 * binds as that code's (and its libraries') calls do: a dlopened module's
 * reach ours only while m2m-cse exports it. Without it nothing is batched. */
bool recv_batch_probe_reached(void);

#endif
