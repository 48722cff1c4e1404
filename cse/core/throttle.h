/* Rate limiting in front of the dispatcher and of (D)TLS handshakes
 * (docs/security.md, "Rate limiting"): token buckets (cse/ratelimit.h) per
 * source address, per originator and per authenticated credential for
 * requests, and per source address for handshakes. Bindings ask before they
 * dispatch; the HTTPS listener asks at accept, the DTLS server at the
 * ClientHello. Every refusal is counted and logged at most once a minute; a
 * key refused again and again within a minute is audited once for it. */
#ifndef IRONBARK_THROTTLE_H
#define IRONBARK_THROTTLE_H

#include "primitive.h"

#include <stdbool.h>
#include <stddef.h>

struct audit;
struct config;
struct throttle;

enum throttle_kind {
    THROTTLE_ADDRESS, THROTTLE_ORIGINATOR, THROTTLE_CREDENTIAL, THROTTLE_HANDSHAKE, THROTTLE_KINDS
};

/* Refusals of one key within THROTTLE_WINDOW_MS beyond which it is audited
 * (once per window), and audit records per window at most (in all keys). */
#define THROTTLE_WINDOW_MS 60000
#define THROTTLE_REPORT_AFTER 20
#define THROTTLE_AUDITS_PER_WINDOW 100

/* The limits of cfg; audit (may be NULL) receives the repeat offenders. */
struct throttle *throttle_new(const struct config *cfg, struct audit *audit);
void throttle_free(struct throttle *t);
/* Empties every bucket (an upper tester Reset) in place: the listeners that
 * hold t for their handshake limits keep a valid one. 0, or -1 (out of
 * memory: t unchanged). */
int throttle_clear(struct throttle *t, const struct config *cfg, struct audit *audit);

/* For a request from a binding, before it is dispatched: req->peer, and
 * req->fr and req->sec as far as the binding mapped them. Returns 0 to go
 * on; else RSC_BAD_REQUEST, with rsp replaced by the refusal (an m2m:dbg
 * naming the key, retry_after_s set: the binding answers 429 / 4.29). */
int throttle_request(struct throttle *t, const struct m2m_request *req, struct m2m_response *rsp);

/* May ip start a TLS or DTLS handshake now? false: refuse it. */
bool throttle_handshake(struct throttle *t, const char *ip);

/* Refusals of this kind since start. */
long long throttle_refused(const struct throttle *t, enum throttle_kind kind);

/* The key of a source address: IPv4 (also IPv4-mapped IPv6) as it is, IPv6
 * by its /64 prefix (one subscriber usually holds a whole /64). */
void throttle_address_key(const char *ip, char *out, size_t cap);

#endif
