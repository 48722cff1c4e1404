#include "mm_service.h"

#include "acl.h"
#include "audit.h"
#include "../cse/base/log.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const op_names[] = { "", "create", "retrieve", "update", "delete", "notify" };

const char *mm_op_name(const struct m2m_request *req)
{
    return req->op >= 0 && req->op < (int)(sizeof op_names / sizeof *op_names) ? op_names[req->op] : "";
}

int mm_refuse(struct cse *cse, const char *decider, const struct m2m_request *req, struct m2m_response *rsp, int rsc,
              const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    audit_decision(acl_audit_log(cse), req->fr, req->to, mm_op_name(req), "deny", decider, why);
    log_info("%s: refused %s %s from %s: %s", decider, mm_op_name(req), req->to, req->fr ? req->fr : "-", why);
    return m2m_error(rsp, rsc, "%s", why);
}

void mm_granted(struct cse *cse, const char *decider, const struct m2m_request *req, const char *what)
{
    audit_decision(acl_audit_log(cse), req->fr, req->to, mm_op_name(req), "grant", decider, what);
}

const char *mm_psk_of(const struct m2m_request *req)
{
    return req->sec.authenticated && !strncmp(req->sec.credential_id, "12-", 3) ? req->sec.credential_id + 3 : NULL;
}

bool mm_absolute_id(struct cse *cse, const char *id, char *out, size_t cap)
{
    struct ident_home home = cse_home(cse);
    struct ident_forms f;
    if (!id || !ident_forms(&home, id, &f) || strlen(f.abs) >= cap) return false;
    snprintf(out, cap, "%s", f.abs);
    return true;
}
