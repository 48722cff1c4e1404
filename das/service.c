/* das/service.h: the consultation service m2m-das and m2m-ppm share. */
#include "service.h"
#include "consult.h"
#include "keys.h"
#include "cse/base/log.h"
#include "cse/core/config.h"
#include "cse/core/rsc.h"
#include "cse/core/cse.h"
#include "cse/core/token_syntax.h"
#include "resources/registry.h"
#include "security/acl.h"
#include "security/authz.h"
#include "security/role_name.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct resource_type type_cse_base, type_role;

static char fqdn[128];
static char issuer[256];
static char *signing_key;

struct resource_type das_service_base, das_service_role;

int das_service_set_fqdn(void *data, const char *value, char *err, int errlen)
{
    (void)data;
    char probe[sizeof fqdn + 2];
    snprintf(probe, sizeof probe, "x@%s", value);
    /* Token-IDs end in it, and <token> takes only well-formed ones. */
    if (strlen(value) >= sizeof fqdn || !token_id_valid(probe)) {
        snprintf(err, errlen, "das-fqdn: a lowercase host name (letters, digits, '-', dots) of at most %zu characters",
                 sizeof fqdn - 1);
        return -1;
    }
    snprintf(fqdn, sizeof fqdn, "%s", value);
    return 0;
}

/* <role>: issued by this server (tkis, any form of its CSE-ID, stored absolute),
 * to an absolute holder, named role_resource_name(tkhd, rlid) so that a CSE
 * finds it with one RETRIEVE (security/role_name.h). */
static int role_create(struct op_ctx *ctx)
{
    json_t *a = ctx->res->attrs;
    const char *tkis = json_string_value(json_object_get(a, "tkis"));
    const char *tkhd = json_string_value(json_object_get(a, "tkhd"));
    const char *rlid = json_string_value(json_object_get(a, "rlid"));
    char abs[DAS_MAX_ID + 64];
    das_absolute_id(ctx->cse, tkis ? tkis : "", abs, sizeof abs);
    if (strcmp(abs, issuer))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "tkis must name this DAS (%s)", issuer);
    json_object_set_new(a, "tkis", json_string(issuer));
    if (!tkhd || strncmp(tkhd, "//", 2))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "tkhd must be an absolute originator ID (//sp-id/cse-id/ae-id)");
    char name[ROLE_NAME_LEN];
    role_resource_name(tkhd, rlid ? rlid : "", name);
    const char *given = json_string_value(json_object_get(ctx->content, "rn"));
    if (given && strcmp(given, name))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "a role assignment is named %s (role_resource_name)", name);
    json_object_set_new(a, "rn", json_string(name));
    return type_role.on_create ? type_role.on_create(ctx) : 0;
}

/* Anyone may consult (NOTIFY the CSEBase: the hook decides by the rules);
 * a CSE may read role assignments to check a request's rids. The rest is
 * the ACPs' (admin only by default). */
static enum authz_answer consultations(struct cse *cse, const struct authz_query *q, const char **why)
{
    (void)cse;
    if (q->acop == ACOP_NOTIFY && q->target->ty == TY_CSEBASE) return AUTHZ_GRANT;
    if (q->acop == ACOP_RETRIEVE && q->target->ty == TY_ROL && q->originator && q->originator[0] == '/')
        return AUTHZ_GRANT;
    *why = "not a consultation or a CSE reading a role";
    return AUTHZ_ABSTAIN;
}

const struct authz_decider das_service_decider = { "das", consultations, NULL };

void das_service_init(const char *default_fqdn)
{
    snprintf(fqdn, sizeof fqdn, "%s", default_fqdn);
    das_service_base = type_cse_base;
    das_service_base.on_notify = das_consult_notify;
    das_service_role = type_role;
    das_service_role.on_create = role_create;
}

int das_service_start(struct cse *cse, const int *rule_types, bool (*suspended)(const char *rule_ri), const char *who)
{
    snprintf(issuer, sizeof issuer, "//%s%s", cse->cfg.sp_id, cse->csi);
    char err[600];
    if (!(signing_key = das_key_open(cse->cfg.data_dir, issuer, err, sizeof err))) {
        log_error("%s: %s", who, err);
        return -1;
    }
    das_consult_open(&(struct das_identity){ issuer, fqdn, signing_key, rule_types, suspended });
    log_info("%s: issuer %s, trust file %s/%s, consultations at the CSEBase %s/%s", who, issuer,
             cse->cfg.data_dir, DAS_ISSUERS_FILE, cse->csi, cse->cfg.cse_name);
    return 0;
}

void das_service_stop(void)
{
    das_consult_close();
    if (signing_key) explicit_bzero(signing_key, strlen(signing_key));
    free(signing_key);
    signing_key = NULL;
}
