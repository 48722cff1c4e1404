#include "authz.h"

#include "../cse/core/cse.h"

_Static_assert(sizeof ((struct cse *)0)->deciders / sizeof (void *) == AUTHZ_MAX_DECIDERS,
               "struct cse holds the chain");

int authz_add(struct cse *cse, const struct authz_decider *d)
{
    if (cse->ndeciders >= AUTHZ_MAX_DECIDERS) return -1;
    cse->deciders[cse->ndeciders++] = d;
    return 0;
}

void authz_run(struct cse *cse, const struct authz_query *q, struct authz_result *out)
{
    *out = (struct authz_result){ AUTHZ_DENY, "chain", "no decider granted" };
    bool denied = false;
    for (int i = 0; i < cse->ndeciders; i++) {
        const char *why = NULL;
        enum authz_answer a = cse->deciders[i]->decide(cse, q, &why);
        if (a == AUTHZ_PENDING && !q->may_wait) {
            a = AUTHZ_DENY;
            why = "the decision needs an outside answer, which cannot be awaited here";
        }
        if (a == AUTHZ_GRANT || a == AUTHZ_PENDING) {
            *out = (struct authz_result){ a, cse->deciders[i]->name, NULL };
            return;
        }
        if (a == AUTHZ_DENY && !denied) {
            denied = true;
            *out = (struct authz_result){ AUTHZ_DENY, cse->deciders[i]->name, why ? why : "denied" };
        }
    }
}

void authz_respond(struct cse *cse, const struct m2m_request *req, const struct resource *target,
                   int acop, int rsc, struct m2m_response *rsp)
{
    for (int i = 0; i < cse->ndeciders; i++)
        if (cse->deciders[i]->respond) cse->deciders[i]->respond(cse, req, target, acop, rsc, rsp);
}
