/* One way out: every request the CSE sends on its own (notifications,
 * verification requests, NOTIFYs forwarded to an AE's poa, non-blocking
 * results) leaves through outbound_send(). It picks the sender by the URL's
 * scheme (http:// built in; https://, coap:// and coaps:// from the
 * transport module, loaded on first use), resolves host names on the loop (c-ares,
 * cse/base/resolve.h) and logs an unreachable target at info with the
 * reason. Its state (sender table, HTTP client, resolver) lives in
 * struct cse. docs/architecture.md, "The outbound path". */
#ifndef IRONBARK_OUTBOUND_H
#define IRONBARK_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

struct cse;

/* One NOTIFY request to send. */
struct notify_send_args {
    const char *url;           /* target URL, scheme included */
    const char *from, *rqi;    /* X-M2M-Origin / X-M2M-RI of the NOTIFY */
    /* JSON content (pc), the concatenation of nbody pieces (len bytes in
     * all): the iovec array is read during the call only, the bytes stay
     * valid until done runs (they may be shared with other deliveries). */
    const struct iovec *body;
    int nbody;
    size_t len;
    int ec;                    /* event category, 0 = none */
    int timeout_ms;
    /* The host name the URL named before outbound put the address found in
     * its place (https:// checks the certificate against it); NULL when
     * the URL still holds what was written. */
    const char *host;
};

/* Result of one attempt: the RSC answered, or unreachable = why there was
 * no answer at all (name unknown, refused, reset, handshake failed, timed
 * out), NULL when answered. The notification queue retries unreachable ones. */
typedef void notify_sender_done(void *data, int rsc, const char *unreachable);
/* A scheme's sender: starts one asynchronous attempt and calls done exactly
 * once, later from the loop (never from inside send). The URL's host is an
 * address literal or "localhost" (outbound resolved it). Returns -1 when it
 * cannot even start. */
typedef int notify_send_fn(struct cse *cse, const struct notify_send_args *a,
                           notify_sender_done *done, void *data);
/* One exchange bounded by a->timeout_ms; returns the RSC, 5103 when unreachable. */
typedef int notify_send_blocking_fn(struct cse *cse, const struct notify_send_args *a);

int outbound_open(struct cse *cse);
/* Requests in flight end as unreachable. */
void outbound_close(struct cse *cse);

/* Installs the sender of a scheme ("coap://"); -1 for a scheme not in the table. */
int outbound_set_sender(struct cse *cse, const char *scheme, notify_send_fn *send,
                        notify_send_blocking_fn *send_blocking);
/* Is the URL's scheme one the CSE can send to? */
bool outbound_scheme_known(const char *url);

/* Sends a; done as for notify_send_fn, with unreachable targets logged at
 * info. Returns -1 when it cannot start (malformed URL, unknown scheme,
 * module missing), logged with the reason; done is then not called. */
int outbound_send(struct cse *cse, const struct notify_send_args *a, notify_sender_done *done, void *data);
/* The bounded blocking variant, for a CSE without loop (tools, unit tests). */
int outbound_send_blocking(struct cse *cse, const struct notify_send_args *a);

#endif
