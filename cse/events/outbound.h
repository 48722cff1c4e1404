/* One way out: every request the CSE sends on its own (notifications,
 * verification requests, NOTIFYs forwarded to an AE's poa, non-blocking
 * results, DAS consultations, requests to remote group members) leaves
 * through outbound_send(), as a request primitive of any operation, and
 * comes back as the whole answer (RSC and content). It picks the sender by the URL's
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

struct config;
struct cred_psk;
struct credentials;
struct cse;
struct m2m_response;
struct m2m_request;

/* One request primitive to send: any operation, to the URL (its path and
 * query address the target). */
struct outbound_request {
    const char *url;           /* scheme included */
    /* op, fr, rqi, rvi, ty (CREATE), ec, ...: the binding's codec writes
     * them (http_codec.h, coap_map.h). Read during the call only. */
    const struct m2m_request *req;
    /* The content (pc) as bytes: the concatenation of nbody pieces (len in
     * all); none when nbody is 0. The iovec array is read during the call
     * only, the bytes stay valid until done runs (they may be shared with
     * other deliveries). */
    const struct iovec *body;
    int nbody;
    size_t len;
    int timeout_ms;
    /* The host name the URL named before outbound put the address found in
     * its place (https:// checks the certificate against it); NULL when
     * the URL still holds what was written. */
    const char *host;
};

/* The answer to one attempt. */
struct outbound_answer {
    int rsc;                   /* the RSC answered; 5103 when unreachable */
    /* Why there was no answer at all (name unknown, refused, reset,
     * handshake failed, timed out); NULL when answered. The notification
     * queue retries unreachable ones. */
    const char *unreachable;
    /* The answer's content as received (JSON text), NULL when it had none:
     * borrowed for the callback (outbound_send_blocking: owned by the
     * caller, free it). */
    const char *body;
    size_t len;
    char location[256];        /* the answer's Content-Location, "" when none */
};

/* The answer as a response primitive: rsc, pc (the content parsed;
 * NULL when there was none or it was not JSON) and location. Clear out after. */
void outbound_answer_response(const struct outbound_answer *ans, struct m2m_response *out);

typedef void outbound_done_fn(void *data, const struct outbound_answer *ans);
/* A scheme's sender: starts one asynchronous attempt and calls done exactly
 * once, later from the loop (never from inside send). The URL's host is an
 * address literal or "localhost" (outbound resolved it). Returns -1 when it
 * cannot even start. */
typedef int outbound_send_fn(struct cse *cse, const struct outbound_request *r,
                             outbound_done_fn *done, void *data);
/* One exchange bounded by r->timeout_ms, answered into *out (rsc 5103
 * when unreachable; out->body malloc'd or NULL). */
typedef void outbound_send_blocking_fn(struct cse *cse, const struct outbound_request *r,
                                       struct outbound_answer *out);

int outbound_open(struct cse *cse);
/* Requests in flight end as unreachable. */
void outbound_close(struct cse *cse);

/* Installs the sender of a scheme ("coap://"); -1 for a scheme not in the table. */
int outbound_set_sender(struct cse *cse, const char *scheme, outbound_send_fn *send,
                        outbound_send_blocking_fn *send_blocking);
/* Is the URL's scheme one the CSE can send to? */
bool outbound_scheme_known(const char *url);
/* Is it coap:// or coaps:// (datagrams, resent by libcoap from 2-3 s on)? */
bool outbound_scheme_is_coap(const char *url);

/* Sends r; done as for outbound_send_fn, with unreachable targets logged at
 * info. Returns -1 when it cannot start (malformed URL, unknown scheme,
 * module missing), logged with the reason; done is then not called. */
int outbound_send(struct cse *cse, const struct outbound_request *r, outbound_done_fn *done, void *data);
/* The bounded blocking variant, for a CSE without loop (tools, unit tests):
 * returns the RSC (5103 when unreachable); with out non-NULL, the whole
 * answer (free out->body). */
int outbound_send_blocking(struct cse *cse, const struct outbound_request *r, struct outbound_answer *out);

/* The PSK the outbound-psk setting names for host:port (as written in the
 * target's URL, after a name lookup the address found), copied from the
 * credential store into out (wipe it after use). 0; 1 when no setting names
 * the target (a client without a PSK: not logged); -1 when the store lacks
 * the identity (logged at info, scheme for the log). Shared by coaps:// and
 * https:// (the transport module's clients). */
int outbound_psk(const struct config *cfg, struct credentials *creds, const char *scheme, const char *hostport,
                 struct cred_psk *out);

#endif
