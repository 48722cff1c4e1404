/* Authorization as a chain of deciders, in the manner of nginx's phase
 * handlers: each decider (the ACP decider of acl.c now, the Dynamic
 * Authorization System next) answers a question — may this originator do
 * this operation on this resource? — with grant, deny, abstain, or pending
 * (it needs an outside answer first, e.g. a DAS consultation, and asks for it
 * through the request's continuation, the way subscription verification
 * does; the dispatcher then runs the request again when the answer is in).
 *
 * The chain runs the deciders in the order they were added:
 *   - the first GRANT grants;
 *   - the first PENDING waits, when the question may wait (a request's own
 *     decision, dispatched with cse_dispatch_async()); where it cannot (a
 *     listing filter, an internal question) it counts as a denial;
 *   - a DENY is remembered and the next decider is asked (the DAS may grant
 *     what the ACPs did not, TS-0003 7.3);
 *   - when none granted, the first DENY stands, else "no decider granted".
 * The result names the decider, for the audit log. */
#ifndef IRONBARK_AUTHZ_H
#define IRONBARK_AUTHZ_H

#include "../cse/core/primitive.h"
#include "../cse/core/resource.h"

#include <stdbool.h>

struct cse;

enum authz_answer { AUTHZ_ABSTAIN, AUTHZ_GRANT, AUTHZ_DENY, AUTHZ_PENDING };

struct authz_query {
    const struct m2m_request *req; /* NULL: a question about an originator alone */
    const char *originator;        /* req->fr, or the originator asked about; NULL
                                      with req NULL: the CSE itself */
    const struct resource *target;
    int acop;                      /* enum acop (acl.h) */
    bool may_wait;                 /* PENDING can be honoured */
};

struct authz_decider {
    const char *name;              /* "acp", "das": in the audit log */
    enum authz_answer (*decide)(struct cse *cse, const struct authz_query *q, const char **why);
    /* Optional. Once per request, after the chain decided on the request's
     * own operation (rsc 0: granted, else the refusal's RSC, already in
     * rsp): adds what the decider owes the originator to the response (the
     * DAS: tqf on a 4103, ati on a grant) and audits what it alone knows. */
    void (*respond)(struct cse *cse, const struct m2m_request *req, const struct resource *target,
                    int acop, int rsc, struct m2m_response *rsp);
};

#define AUTHZ_MAX_DECIDERS 8

struct authz_result {
    enum authz_answer answer;      /* GRANT, DENY or PENDING: never ABSTAIN */
    const char *decider;           /* who decided; "chain" when nobody did */
    const char *why;               /* for a DENY: the reason */
};

/* Appends a decider to the CSE's chain; -1 when the chain is full. */
int authz_add(struct cse *cse, const struct authz_decider *d);

/* Runs the chain for q. */
void authz_run(struct cse *cse, const struct authz_query *q, struct authz_result *out);

/* Runs every decider's respond hook (see above). */
void authz_respond(struct cse *cse, const struct m2m_request *req, const struct resource *target,
                   int acop, int rsc, struct m2m_response *rsp);

#endif
