#include "saef.h"

#include "console_session.h"
#include "credentials.h"
#include "maf_keys.h"
#include "../cse/base/clock.h"
#include "../cse/core/cse.h"
#include "../cse/core/forward.h"
#include "../cse/core/route.h"
#include "../cse/base/log.h"
#include "../cse/core/rsc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void saef_bind(struct m2m_request *req, const char *credential_id)
{
    /* A Credential-ID that does not fit is not bound: a truncated one could
     * name another credential. */
    req->sec.authenticated = credential_id && *credential_id &&
                             strlen(credential_id) < sizeof req->sec.credential_id;
    if (req->sec.authenticated) strcpy(req->sec.credential_id, credential_id);   /* fits: checked above */
    else req->sec.credential_id[0] = 0;
}

static int policy_of(const struct config *cfg, enum m2m_binding b)
{
    switch (b) {
    case BINDING_HTTP: return cfg->security_http;
    case BINDING_COAP: return cfg->security_coap;
    default: return SECURITY_OFF; /* internal requests carry no transport */
    }
}

/* One credential pattern against the originator. Both are compared in
 * their absolute form (cse/ident.h), so "Cmeter*", "/id-in/Cmeter*" and
 * "//ironbark.local/id-in/Cmeter*" bind the same local AEs, and a pattern
 * naming a foreign SP ("//evil.example/...") matches only that SP's IDs, never
 * the local ones of the same name. "*" alone stays "anyone". */
static bool pattern_allows(const struct ident_home *home, const char *pat, size_t n,
                           const struct ident_forms *from)
{
    char one[CRED_ORIG_MAX];
    struct ident_forms f;
    if (n >= sizeof one) return false;
    memcpy(one, pat, n);
    one[n] = 0;
    if (strcmp(one, "*") && ident_forms(home, one, &f)) snprintf(one, sizeof one, "%s", f.abs);
    return cred_pattern_allows(one, from->abs);
}

/* Does a comma-separated pattern list allow the originator with forms `from`? */
static bool patterns_allow(const struct ident_home *home, const char *patterns, const struct ident_forms *from)
{
    bool ok = false;
    for (const char *p = patterns; *p && !ok;) {
        p += strspn(p, ", ");
        size_t n = strcspn(p, ", ");
        ok = n && pattern_allows(home, p, n, from);
        p += n;
    }
    return ok;
}

bool saef_patterns_allow(struct cse *cse, const char *patterns, const char *originator)
{
    struct ident_home home = cse_home(cse);
    struct ident_forms from;
    return originator && ident_forms(&home, originator, &from) && patterns_allow(&home, patterns, &from);
}

/* May this Credential-ID speak as the originator with forms `from`? */
static bool credential_allows(struct cse *cse, const char *cred, const struct ident_forms *from)
{
    struct ident_home home = cse_home(cse);
    bool esprim = !strncmp(cred, SAEF_ESPRIM_PREFIX, strlen(SAEF_ESPRIM_PREFIX));
    if (!strncmp(cred, "12-", 3) || esprim) {
        /* A PSK, or the pairwise key an ESPrim object opened under. */
        const char *id = esprim ? cred + strlen(SAEF_ESPRIM_PREFIX) : cred + 3;
        struct cred_psk psk;
        bool known = esprim ? (cse->creds && !cred_get_esprim_key(cse->creds, id, &psk)) ||
                                  !maf_key_cached(cse, id, MAF_SUID_ESPRIM, &psk)
                            : cse->creds && !cred_get_psk(cse->creds, id, &psk);
        if (!known) return false;
        bool ok = patterns_allow(&home, psk.originators, from);
        memset(&psk, 0, sizeof psk);
        return ok;
    }
    /* A web console session: exactly the originator it logged in as. */
    if (!strncmp(cred, CONSOLE_CRED_PREFIX, strlen(CONSOLE_CRED_PREFIX))) {
        const char *who = console_session_originator(cse->console,
                                                     (unsigned)strtoul(cred + strlen(CONSOLE_CRED_PREFIX), NULL, 10),
                                                     clock_now_us());
        return who && ident_is(&home, who, from);
    }
    /* AE-ID certificate: exactly the ID in its SAN, in any of its forms. */
    if (!strncmp(cred, "33-", 3)) return ident_is(&home, cred + 3, from);
    return false;
}

/* The admin may speak unauthenticated only from this machine: a peer
 * elsewhere claiming it must prove it over HTTPS/CoAPS, whatever the policy. */
static bool admin_from_afar(struct cse *cse, const struct m2m_request *req)
{
    if (req->binding != BINDING_HTTP && req->binding != BINDING_COAP) return false;
    /* No peer address: a request made in this process. */
    if (!req->peer.ip[0] || config_is_loopback(req->peer.ip)) return false;
    struct ident_home home = cse_home(cse);
    struct ident_forms from;
    return req->fr && ident_forms(&home, req->fr, &from) && ident_is(&home, cse->cfg.admin, &from);
}

/* A request forwarded by a peer CSE (docs/cse-to-cse.md, Forwarding): its
 * originator is an entity elsewhere, and the connection's credential is the
 * forwarding CSE's. Allowed when the last CSE in via is one this CSE peers
 * with, the credential speaks for that CSE-ID, and the originator is no
 * entity of this CSE (a peer vouches for its side, never for ours). An AE's
 * credential is bound to its AE-ID, not to a peer's CSE-ID: it cannot
 * pass as a forwarded request. */
static bool forwarded_by_peer(struct cse *cse, const struct m2m_request *req, const struct ident_forms *from)
{
    char sender[80];
    struct ident_home home = cse_home(cse);
    struct ident_forms peer;
    if (!forward_via_last(req->via, sender, sizeof sender) || !ident_forms(&home, sender, &peer)) return false;
    if (from->rel[0] || ident_is(&home, cse->csi, from)) return false;
    return route_is_peer(cse, sender) && credential_allows(cse, req->sec.credential_id, &peer);
}

int saef_check(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    int policy = policy_of(&cse->cfg, req->binding);
    if (!req->sec.authenticated) {
        if (policy == SECURITY_REQUIRED)
            return m2m_error(rsp, RSC_SECURITY_ASSOCIATION_REQUIRED,
                             "this CSE serves only requests over an authenticated secure transport");
        if (admin_from_afar(cse, req))
            return m2m_error(rsp, RSC_SECURITY_ASSOCIATION_REQUIRED,
                             "the admin originator is served unauthenticated only from loopback");
        return 0;
    }
    struct ident_home home = cse_home(cse);
    struct ident_forms from;
    if (!ident_forms(&home, req->fr ? req->fr : "", &from) ||
        !(credential_allows(cse, req->sec.credential_id, &from) || forwarded_by_peer(cse, req, &from))) {
        log_debug("saef: %s may not speak as '%s'", req->sec.credential_id, req->fr ? req->fr : "");
        return m2m_error(rsp, RSC_ORIGINATOR_NOT_AUTHENTICATED,
                         "originator '%s' is not bound to the credential of this connection",
                         req->fr ? req->fr : "");
    }
    return 0;
}
