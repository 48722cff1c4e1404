#include "saef.h"

#include "credentials.h"
#include "../cse/cse.h"
#include "../cse/log.h"
#include "../cse/rsc.h"

#include <stdio.h>
#include <string.h>

void saef_bind(struct m2m_request *req, const char *credential_id)
{
    /* A Credential-ID that does not fit is not bound: a truncated one could
     * name another credential. */
    req->sec.authenticated = credential_id && *credential_id &&
                             strlen(credential_id) < sizeof req->sec.credential_id;
    snprintf(req->sec.credential_id, sizeof req->sec.credential_id, "%s",
             req->sec.authenticated ? credential_id : "");
}

void saef_normalize_id(const char *sp_id, const char *cse_id, const char *id, char *out, size_t cap)
{
    const char *s = id;
    size_t spl = strlen(sp_id), csl = strlen(cse_id);
    if (!strncmp(s, "//", 2) && !strncmp(s + 2, sp_id, spl) && s[2 + spl] == '/') s += 2 + spl;
    if (s[0] == '/' && !strncmp(s + 1, cse_id, csl) && s[1 + csl] == '/') s += 2 + csl;
    snprintf(out, cap, "%s", s);
}

static int policy_of(const struct config *cfg, enum m2m_binding b)
{
    switch (b) {
    case BINDING_HTTP: return cfg->security_http;
    case BINDING_COAP: return cfg->security_coap;
    default: return SECURITY_OFF; /* internal requests carry no transport */
    }
}

/* The originator patterns a Credential-ID is bound to; false if none. */
static bool bound_patterns(struct cse *cse, const char *cred, char *out, size_t cap)
{
    if (!strncmp(cred, "12-", 3)) {
        struct cred_psk psk;
        if (!cse->creds || cred_get_psk(cse->creds, cred + 3, &psk) != 0) return false;
        snprintf(out, cap, "%s", psk.originators);
        memset(&psk, 0, sizeof psk);
        return true;
    }
    if (!strncmp(cred, "33-", 3)) {
        /* AE-ID certificate: exactly the ID in its SAN, no patterns. */
        if (strchr(cred + 3, '*') || strchr(cred + 3, ',')) return false;
        saef_normalize_id(cse->cfg.sp_id, cse->cfg.cse_id, cred + 3, out, cap);
        return true;
    }
    return false;
}

int saef_check(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    int policy = policy_of(&cse->cfg, req->binding);
    if (!req->sec.authenticated) {
        if (policy == SECURITY_REQUIRED)
            return m2m_error(rsp, RSC_SECURITY_ASSOCIATION_REQUIRED,
                             "this CSE serves only requests over an authenticated secure transport");
        return 0;
    }
    char patterns[CRED_ORIG_MAX], from[256];
    if (!bound_patterns(cse, req->sec.credential_id, patterns, sizeof patterns))
        return m2m_error(rsp, RSC_ORIGINATOR_NOT_AUTHENTICATED,
                         "credential %s is not bound to any originator", req->sec.credential_id);
    saef_normalize_id(cse->cfg.sp_id, cse->cfg.cse_id, req->fr ? req->fr : "", from, sizeof from);
    if (!from[0] || !cred_pattern_allows(patterns, from)) {
        log_debug("saef: %s may not speak as '%s' (bound to %s)", req->sec.credential_id,
                 req->fr ? req->fr : "", patterns);
        return m2m_error(rsp, RSC_ORIGINATOR_NOT_AUTHENTICATED,
                         "originator '%s' is not bound to the credential of this connection",
                         req->fr ? req->fr : "");
    }
    return 0;
}
