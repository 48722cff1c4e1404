/* m2m-das: the Dynamic Authorization System, a server on the engine
 * (cse/core/server.h). Its CSEBase answers consultations (das/consult.h);
 * it holds authorization rules (das/rules.h), role assignments (<role>) and
 * the tokens it issued (<token>). das/README.md. */
#include "consult.h"
#include "keys.h"
#include "rules.h"
#include "cse/core/rsc.h"
#include "cse/core/server.h"
#include "cse/base/log.h"
#include "cse/core/token_syntax.h"
#include "resources/registry.h"
#include "security/acl.h"
#include "security/authz.h"
#include "security/role_name.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct resource_type type_cse_base, type_role, type_token;

static char fqdn[128] = "das.ironbark.local";
static char issuer[256];
static char *signing_key;

static int set_fqdn(void *data, const char *value, char *err, int errlen)
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

static const struct config_extra settings[] = {
    { "das-fqdn", "host part of the token IDs this DAS issues, \"<id>@<das-fqdn>\" (default das.ironbark.local)",
      set_fqdn, NULL },
    { NULL, NULL, NULL, NULL },
};

/* Its own ports, CSE-ID and data, so it runs beside an m2m-cse with no flags. */
static void das_defaults(struct config *cfg)
{
    strcpy(cfg->cse_id, "id-das");
    strcpy(cfg->cse_name, "das-in");
    strcpy(cfg->data_dir, "./var-das");
    cfg->http_port = 8281;
    cfg->https_port = 8282;
    cfg->coap_port = 0;
    cfg->coaps_port = 0;
}

/* The CSEBase, answering consultations (m2m:seci) besides what it accepts anyway. */
static struct resource_type das_base;

/* <role>: issued by this DAS (tkis, any form of its CSE-ID, stored absolute),
 * to an absolute holder, named role_resource_name(tkhd, rlid) so that a CSE
 * finds it with one RETRIEVE (security/role_name.h). */
static struct resource_type das_role;

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

static const struct authz_decider consult_decider = { "das", consultations };

static int das_start(struct cse *cse, void *data)
{
    (void)data;
    snprintf(issuer, sizeof issuer, "//%s%s", cse->cfg.sp_id, cse->csi);
    char err[600];
    if (!(signing_key = das_key_open(cse->cfg.data_dir, issuer, err, sizeof err))) {
        log_error("m2m-das: %s", err);
        return -1;
    }
    das_consult_open(&(struct das_identity){ issuer, fqdn, signing_key });
    log_info("m2m-das: issuer %s, trust file %s/%s, consultations at the CSEBase %s/%s", issuer,
             cse->cfg.data_dir, DAS_ISSUERS_FILE, cse->csi, cse->cfg.cse_name);
    return 0;
}

static void das_stop(struct cse *cse, void *data)
{
    (void)cse; (void)data;
    das_consult_close();
    if (signing_key) explicit_bzero(signing_key, strlen(signing_key));
    free(signing_key);
    signing_key = NULL;
}

/* Rules, roles and tokens live in the store: a Reset removed them, nothing to remake. */
static int das_reset(struct cse *cse, void *data)
{
    (void)cse; (void)data;
    return 0;
}

int main(int argc, char **argv)
{
    das_base = type_cse_base;
    das_base.on_notify = das_consult_notify;
    das_role = type_role;
    das_role.on_create = role_create;
    const struct server_profile profile = {
        .name = "m2m-das",
        .defaults = das_defaults,
        .types = (const struct resource_type *const[]){ &das_base, &das_role, &type_token, &type_das_rule, NULL },
        .deciders = (const struct authz_decider *const[]){ &consult_decider, NULL },
        .settings = settings,
        .on_start = das_start, .on_stop = das_stop, .on_reset = das_reset,
    };
    return server_main(argc, argv, &profile);
}
