/* Request and response primitives (TS-0004 6.4, 7.2.1): what every binding
 * produces and consumes. Bindings fill a struct m2m_request from their wire
 * format; the dispatcher answers with a struct m2m_response. Nothing here
 * knows HTTP or CoAP. */
#ifndef IRONBARK_PRIMITIVE_H
#define IRONBARK_PRIMITIVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "op.h"

enum m2m_rcn {
    RCN_NOTHING = 0, RCN_ATTRIBUTES = 1, RCN_HIER_ADDRESS = 2, RCN_HIER_ADDRESS_ATTRIBUTES = 3,
    RCN_ATTRIBUTES_CHILDREN = 4, RCN_ATTRIBUTES_CHILD_REFS = 5, RCN_CHILD_REFS = 6,
    RCN_ORIGINAL = 7, RCN_CHILDREN = 8, RCN_MODIFIED = 9, RCN_SEMANTIC = 10,
    RCN_DISCOVERY_REFS = 11, RCN_PERMISSIONS = 12,
};

enum m2m_binding { BINDING_INTERNAL = 0, BINDING_HTTP, BINDING_COAP };

#define FC_MAX_LIST 16
#define M2M_VIA_MAX 8          /* CSEs a forwarded request may pass (via) */

/* Filter criteria (TS-0004 7.3.3.17). Timestamps are kept canonical so they
 * compare with strcmp; absent scalars are -1 / empty strings. */
struct m2m_filter {
    bool present;              /* any condition or fu/lim/lvl/ofst given */
    int fu;                    /* 1 discovery, 2 conditional retrieval */
    int fo;                    /* 1 AND, 2 OR */
    int64_t lim, lvl, ofst;    /* -1 = unset */
    char crb[23], cra[23], ms[23], us[23], exb[23], exa[23];
    int64_t sts, stb, sza, szb;
    int nty; int ty[FC_MAX_LIST];
    int nchty; int chty[FC_MAX_LIST];
    int npty; int pty[FC_MAX_LIST];
    int nlbl; char *lbl[FC_MAX_LIST];
    int nclbl; char *clbl[FC_MAX_LIST];
    int npalb; char *palb[FC_MAX_LIST];
    int ncty; char *cty[FC_MAX_LIST];
    int natr; char *atr_nm[FC_MAX_LIST]; char *atr_val[FC_MAX_LIST];
    char *arp;
    int nlbq; char *lbq[FC_MAX_LIST];        /* labelsQuery expressions, ORed */
    int ncatr; char *catr_nm[FC_MAX_LIST]; char *catr_val[FC_MAX_LIST]; /* c.<attr>= */
    int npatr; char *patr_nm[FC_MAX_LIST]; char *patr_val[FC_MAX_LIST]; /* p.<attr>= */
};

/* Who is speaking, as established by the security gate before dispatch. */
struct m2m_security {
    bool authenticated;        /* a SAEF credential vouches for the originator */
    char credential_id[136];   /* Credential-ID of the security association: "12-" or
                                * "33-" + a KpsaID or URI of up to 127 characters */
};

struct m2m_peer {
    char ip[46];               /* textual address of the remote end */
    int port;
};

/* State the dispatcher keeps across a deferred request (cse_dispatch_async):
 * work started on the first run (subscription verification) and its results
 * for the run that completes the request. */
struct m2m_continuation {
    bool may_defer;            /* the caller accepts a later answer */
    json_t *wanted;            /* [{"target": s, "pc": {...}}] asked for by the first run */
    json_t *verified;          /* {"<target>": rsc} gathered meanwhile */
    char ri[64];               /* the resource ID the first run assigned */
    int64_t not_before_us;     /* the first run found oet ahead: run again at this instant */
    struct paused_scan *scan;  /* a listing that yielded the loop part-way (retrieve.c): the
                                  run at not_before_us goes on with it */
    json_t *members;           /* fopt fan-out: {"<member>": its response, or the
                                  continuation of a member still waiting} */
};

struct m2m_request {
    enum m2m_op op;
    char *to;                  /* target, as addressed (without binding prefix) */
    char *fr;                  /* originator; NULL when absent */
    char *rqi;
    char *rvi;                 /* NULL when absent (treated as "1") */
    int ty;                    /* CREATE: type to create; 0 = absent */
    json_t *pc;                /* parsed content or NULL */
    int rcn;                   /* -1 = absent */
    int rt;                    /* response type rtv; 0 = absent (blocking) */
    char *rtu;                 /* X-M2M-RTU / rt.nu, raw */
    int drt;                   /* 1 structured (default), 2 unstructured */
    char *atrl[32]; int natrl; /* partial retrieve attribute list */
    char *ot, *rqet, *rset, *oet, *rp;
    int ec;                    /* 0 = absent */
    char *vsi, *gid;
    char *tokens;              /* raw tkns: JWTs joined by '+' (HTTP Authorization header,
                                  or the tkns query/option); NULL when absent */
    char *rids;                /* raw role IDs */
    char *tids;                /* raw token IDs (tids), joined by '+'; NULL when absent */
    char *ltids;               /* raw local token IDs (ltids), joined by '+'; NULL when absent */
    bool tqi;                  /* token request indicator: the originator can fetch tokens */
    char *grtm;                /* group request target members, raw (CoAP GTM) */
    char *aus;                 /* authorization signatures, raw (CoAP AUS) */
    char *query;               /* the query parameters as received, re-encoded "k=v&k=v"
                                  (tkns and via left out): what a forwarded request
                                  carries on (cse/core/forward.h); NULL when none */
    char *via;                 /* the CSEs a forwarded request passed, '+'-joined SP-relative
                                  CSE-IDs, the last one the sender (query "via"; NULL when none) */
    bool unknown_query;        /* binding met a query key it cannot map */
    char unknown_key[64];
    struct m2m_filter fc;
    struct m2m_security sec;
    struct m2m_peer peer;
    enum m2m_binding binding;
    bool cse_itself;           /* submitted by the CSE on its own behalf (cse_submit) */
    bool oet_reached;          /* waited for its operation execution time (oet) already */
    bool cbor_response;        /* the binding answers in CBOR (the originator's Accept) */
    bool cbor_content;         /* outgoing: pc is sent as CBOR (the target's csz, ?ct=cbor) */
    struct m2m_continuation *cont; /* NULL unless dispatched with cse_dispatch_async() */
};

struct m2m_response {
    int rsc;
    char *rqi;                 /* borrowed from the request */
    json_t *pc;                /* owned; NULL for no content */
    char *location;            /* owned; Content-Location for CREATE */
    int cnst, cnot;            /* content status / offset when truncated; 0 = unset */
    /* > 0: refused by a rate limit (cse/throttle.h); the binding answers
     * HTTP 429 with Retry-After, CoAP 4.29 with Max-Age, of this many seconds. */
    int retry_after_s;
    /* Dynamic authorization (TS-0004 6.4.2): the token request information
     * of a 4103 (owned; HTTP and CoAP send it as the body, in place of pc),
     * and the local token IDs assigned to the request's tokens (owned,
     * "lti:tkid+lti:tkid": HTTP X-M2M-ATI, CoAP option 327). NULL = absent. */
    json_t *tqf;
    char *ati;
    /* Optional: pc already written as compact JSON (owned), e.g. a stored
     * body spliced into its wrapper. Valid only while pc == pc_text_of;
     * bindings send it instead of serialising pc. */
    char *pc_text;
    size_t pc_text_len;
    const json_t *pc_text_of;
};

/* What a response carries back of its request besides rqi and rvi
 * (TS-0004 7.2.1.2), the same for every binding: vsi echoed, rset echoed
 * (absolute once the dispatcher settled it), and ot, the response's own
 * originating time, when the request carried one. NULL / "" = absent. */
#define M2M_ECHO_MAX 256       /* longer vsi values are not echoed */
struct m2m_echo {
    const char *vsi, *rset;
    char ot[16];               /* YYYYMMDDThhmmss: fits CoAP's 15-byte option */
};
void m2m_response_echo(const struct m2m_request *req, struct m2m_echo *out);

void m2m_request_init(struct m2m_request *req);
void m2m_request_clear(struct m2m_request *req);
/* A deep copy that outlives the original (for work done after the reply). */
struct m2m_request *m2m_request_dup(const struct m2m_request *req);
void m2m_response_init(struct m2m_response *rsp);
void m2m_response_clear(struct m2m_response *rsp);

/* Sets an error response: rsc plus {"m2m:dbg": message}. Returns rsc so that
 * handlers can write `return m2m_error(rsp, RSC_X, "...")`. */
/* Is s well-formed UTF-8 without control characters? What an identifier
 * (an originator) must be: it is written into resources (cr), audit lines
 * and the JSON of notifications. */
bool m2m_text_valid(const char *s);

int m2m_error(struct m2m_response *rsp, int rsc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Applies one URL query parameter (shared by the HTTP and CoAP bindings:
 * both carry the same names). `value` is already percent-decoded. Returns 0
 * or an RSC for a malformed value. Unknown keys that name an attribute become
 * `atr` conditions; other unknown keys set req->unknown_query. */
int m2m_apply_query(struct m2m_request *req, const char *key, const char *value);
/* Adds tokens (tkns: '+'- or space-joined, from the HTTP Authorization
 * header or the CoAP tkns query) to req->tokens, kept '+'-joined. 0, or
 * 4000 when an item is no token text or the bounds of token_syntax.h are
 * exceeded. */
int m2m_add_tokens(struct m2m_request *req, const char *value);
/* The dynamic-authorization parameters of a request going out, as query
 * items for a binding to write: fn(key, value) for tids, ltids, rids
 * ('+'-joined as held) and tqi ("true"), in that order; tkns too when
 * with_tokens (CoAP; HTTP sends them in the Authorization header). */
void m2m_token_params(const struct m2m_request *req, bool with_tokens,
                      void (*fn)(void *data, const char *key, const char *value), void *data);

/* Percent-encodes value for a query item into dst (capacity cap): what is
 * not unreserved (RFC 3986), '@' or '+' (kept: the list separator) is
 * escaped. Returns the length written, or -1 when it does not fit. */
int m2m_percent_encode(const char *value, char *dst, size_t cap);

/* Percent-decodes src into dst (capacity dstlen); '+' stays '+'. Returns the
 * decoded length or -1 on a malformed escape or overflow. */
int m2m_percent_decode(const char *src, size_t len, char *dst, size_t dstlen);

/* Which query keys name attributes depends on the types a CSE serves, so
 * the dispatcher settles it with its registry: bare keys that name no
 * attribute become unknown keys (req->unknown_query); a c./p. condition on
 * no attribute is RSC_BAD_REQUEST with the key in req->unknown_key. */
int m2m_query_attributes_known(struct m2m_request *req, bool (*known)(const void *ctx, const char *sn),
                               const void *ctx);

#endif
