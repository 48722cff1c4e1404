/* ppm/records.h: the PPM's documents and consents, checked and versioned. */
#include "records.h"
#include "option0.h"
#include "privacy.h"
#include "cse/base/clock.h"
#include "cse/core/cse.h"
#include "cse/core/rsc.h"
#include "cse/base/log.h"
#include "cse/events/notify.h"
#include "cse/store/store.h"
#include "resources/registry.h"
#include "security/acl.h"

#include <stdio.h>
#include <string.h>


static const struct attr_def doc_attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL,
    { "doc", A_OBJ, M, O, 0, 0 },      /* the Annex J document */
    { "own", A_STR, NP, NP, 0, 0 },    /* the originator that registered it */
    { "ver", A_POSINT, NP, NP, 0, 0 }, /* 1, +1 per update */
};

static int doc_write(struct op_ctx *ctx, enum ppm_doc_kind kind)
{
    json_t *a = ctx->res->attrs;
    const char *own = ctx->before ? json_string_value(json_object_get(ctx->before->attrs, "own")) : ctx->req->fr;
    if (!own || !*own) return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "an originator (X-M2M-Origin) is needed");
    char root[sizeof ppm_settings.data_root + 256], err[400];
    snprintf(root, sizeof root, "%s/%s", ppm_settings.data_root, own);
    if (ppm_doc_check(json_object_get(a, "doc"), kind, root, err, sizeof err))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "%s: %s", kind == PPM_POLICY ? "policy" : "preferences", err);
    json_object_set_new(a, "own", json_string(own));
    json_int_t ver = ctx->before ? json_integer_value(json_object_get(ctx->before->attrs, "ver")) + 1 : 1;
    json_object_set_new(a, "ver", json_integer(ver));
    return 0;
}

static int prefs_write(struct op_ctx *ctx) { return doc_write(ctx, PPM_PREFERENCES); }
static int policy_write(struct op_ctx *ctx) { return doc_write(ctx, PPM_POLICY); }

const struct resource_type type_ppm_preferences = {
    .ty = TY_PPM_PREFERENCES, .sn = "ppmprf", .key = "ppm:prf",
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(doc_attrs),
    .on_create = prefs_write, .on_update = prefs_write,
};

const struct resource_type type_ppm_policy = {
    .ty = TY_PPM_POLICY, .sn = "ppmpol", .key = "ppm:pol",
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(doc_attrs),
    .on_create = policy_write, .on_update = policy_write,
};

static const struct attr_def consent_attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL,
    { "prf", A_NAME, M, NP, 0, 0 },     /* the subscriber's ppm:prf */
    { "pol", A_NAME, M, NP, 0, 0 },     /* the provider's ppm:pol */
    { "data", A_STRLIST, O, NP, 0, 64 },/* the resources consented; absent = all of prf's */
    { "acc", A_BOOL, O, O, 0, 0 },      /* true accepted, false refused/withdrawn, absent pending */
    { "own", A_STR, NP, NP, 0, 0 },
    { "prfv", A_POSINT, NP, NP, 0, 0 }, /* versions decided on */
    { "polv", A_POSINT, NP, NP, 0, 0 },
    { "cpol", A_OBJ, NP, NP, 0, 0 },    /* the customised policy */
    { "diff", A_LIST, NP, NP, 0, 0 },   /* what the provider asks beyond the preferences */
    { "dect", A_TS, NP, NP, 0, 0 },     /* when acc was last set */
    { "cet", A_TS, NP, NP, 0, 0 },      /* the consent's expiry (et as given); et keeps the record longer */
    { "psh", A_OBJ, NP, NP, 0, 0 },     /* the last withdrawal pushed to the CSE: to, rsc, at */
    { "enf", A_OBJ, NP, O, 0, 0 },      /* option 0: its ACP at the CSE, where linked, what failed (the PPM's alone) */
    /* das:rule attributes (das/rules.h), the PPM's alone to set */
    { "orp", A_STRLIST, NP, NP, 0, 0 },
    { "trp", A_STRLIST, NP, NP, 0, 0 },
    { "acop", A_NNINT, NP, NP, 0, 0 },
    { "ctw", A_STRLIST, NP, NP, 0, 0 },
    { "pvl", A_POSINT, NP, NP, 0, 0 },
    { "tkn", A_BOOL, NP, NP, 0, 0 },
};

/* The named record under the CSEBase, of type ty, owned by own; NULL with an error in rsp. */
static struct resource *owned_doc(struct op_ctx *ctx, const char *rn, int ty, const char *own, int *rc)
{
    const char *attr = ty == TY_PPM_POLICY ? "pol" : ty == TY_PPM_CONSENT ? "cns" : "prf";
    char path[600];
    snprintf(path, sizeof path, "%s/%s", ctx->cse->cfg.cse_name, rn);
    struct resource *r = NULL;
    if (store_get_path(ctx->cse->store, path, &r) || !r || r->ty != ty) {
        resource_free(r);
        *rc = m2m_error(ctx->rsp, RSC_BAD_REQUEST, "%s '%s' is not a registered %s", attr, rn,
                        ty == TY_PPM_POLICY ? "privacy policy (ppm:pol)" : ty == TY_PPM_CONSENT ? "consent (ppm:cns)"
                                                                         : "privacy preference (ppm:prf)");
        return NULL;
    }
    if (own && strcmp(own, res_str(r, "own") ? res_str(r, "own") : "")) {
        resource_free(r);
        *rc = m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                        "%s '%s' belongs to another subscriber: only she can %s with it", attr, rn,
                        ty == TY_PPM_CONSENT ? "ask for deletions" : "consent");
        return NULL;
    }
    return r;
}

/* Consents whose withdrawal is being pushed (ppm_consent_suspended). */
#define MAX_SUSPENDED 64
static char suspended[MAX_SUSPENDED][64];

static void suspend(const char *ri, bool on)
{
    for (int i = 0; i < MAX_SUSPENDED; i++)
        if (on ? !suspended[i][0] : !strcmp(suspended[i], ri)) {
            snprintf(suspended[i], sizeof suspended[i], "%s", on ? ri : "");
            return;
        }
}

bool ppm_consent_suspended(const char *ri)
{
    for (int i = 0; ri && i < MAX_SUSPENDED; i++)
        if (!strcmp(suspended[i], ri)) return true;
    return false;
}

static bool consent_live(const struct resource *r)
{
    int64_t cet;
    const char *s = res_str(r, "cet");
    return res_int(r, "acop", 0) > 0 && (!s || !ts_parse(s, &cet) || cet > clock_now_us());
}

/* A consent that granted is withdrawn, changed or removed: the CSE (ppm-cse)
 * is told to drop what it holds for the consent's originators (das:rvk,
 * security/das.h) before the change is answered. The first run asks
 * (DISPATCH_PENDING; the consent grants nothing meanwhile, so no
 * consultation answered in between re-grants); the run after records the
 * outcome in psh. Unreachable: the change stands, the CSE's grants end
 * within ppm-grant-lifetime. */
static int push_withdrawal(struct op_ctx *ctx, const struct resource *was, json_t *record)
{
    if (!*ppm_settings.cse_url || !consent_live(was)) return 0;
    json_t *pc = json_pack("{s:{s:O}}", "das:rvk", "orp", json_object_get(was->attrs, "orp"));
    json_t *urls = json_pack("[s]", ppm_settings.cse_url), *answer = NULL;
    int rc = notify_ask(ctx->cse, ctx->req, "ppm-withdrawal", urls, OP_NOTIFY, NULL, pc, 0, &answer);
    json_decref(pc);
    json_decref(urls);
    json_decref(answer);
    /* Option 0: its ACP goes in the same round, so no resource grants by it once this is answered
     * (the acpi entries naming it are cleaned up after, ppm/option0.h). */
    int acp = 0;
    if (*ppm_settings.ae_id) {
        char url[1200];
        ppm_option0_acp_url(res_ri(was), url, sizeof url);
        urls = json_pack("[s]", url);
        acp = notify_ask_as(ctx->cse, ctx->req, "ppm-acp-removal", ppm_settings.ae_id, urls, OP_DELETE, NULL, NULL, 0,
                            &answer);
        json_decref(urls);
        json_decref(answer);
    }
    bool pending = rc == DISPATCH_PENDING || acp == DISPATCH_PENDING;
    suspend(res_ri(was), pending);
    if (pending) return DISPATCH_PENDING;
    if (rc != RSC_OK)
        log_warn("ppm: the CSE at %s did not take the withdrawal of %s (%d): its grants end within ppm-grant-lifetime",
                 ppm_settings.cse_url, res_rn(was), rc);
    ts_buf now;
    ts_format(clock_now_us(), now);
    if (record) {
        json_t *psh = json_pack("{s:s,s:i,s:s}", "to", ppm_settings.cse_url, "rsc", rc, "at", now);
        if (*ppm_settings.ae_id) json_object_set_new(psh, "acp", json_integer(acp));
        json_object_set_new(record, "psh", psh);
    }
    return 0;
}

/* et as given is the consent's expiry (cet); the record stays ppm-history-days
 * longer, so the access log can name a consent that expired. */
static void keep_history(struct op_ctx *ctx)
{
    json_t *a = ctx->res->attrs;
    int64_t cet;
    if (!json_object_get(ctx->content, "et") || !ts_parse(res_str(ctx->res, "et"), &cet)) return;
    ts_buf kept;
    ts_format(cet + (int64_t)ppm_settings.history_days * 86400 * 1000000, kept);
    json_object_set(a, "cet", json_object_get(a, "et"));
    json_object_set_new(a, "et", json_string(kept));
}

/* (Re)computes the customised policy and, when accepted, the rule it grants by. */
static int consent_write(struct op_ctx *ctx)
{
    json_t *a = ctx->res->attrs;
    /* Option 0's outcome, recorded by the PPM itself (ppm/option0.h): nothing else changes. */
    if (json_object_get(ctx->content, "enf")) {
        if (!ctx->req->cse_itself) return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "enf is set by the PPM alone");
        return 0;
    }
    const char *own = ctx->before ? json_string_value(json_object_get(ctx->before->attrs, "own")) : ctx->req->fr;
    if (!own || !*own) return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "an originator (X-M2M-Origin) is needed");
    if (!ctx->before && !json_object_get(ctx->content, "et"))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "a consent needs its expiry (et)");
    int rc = 0;
    struct resource *prf = owned_doc(ctx, json_string_value(json_object_get(a, "prf")), TY_PPM_PREFERENCES, own, &rc);
    if (!prf) return rc;
    struct resource *pol = owned_doc(ctx, json_string_value(json_object_get(a, "pol")), TY_PPM_POLICY, NULL, &rc);
    if (!pol) {
        resource_free(prf);
        return rc;
    }
    json_t *diff = NULL;
    char err[400];
    json_t *custom = ppm_customise(json_object_get(prf->attrs, "doc"), json_object_get(pol->attrs, "doc"),
                                   json_object_get(a, "data"), &diff, err, sizeof err);
    json_object_set_new(a, "prfv", json_integer(res_int(prf, "ver", 1)));
    json_object_set_new(a, "polv", json_integer(res_int(pol, "ver", 1)));
    resource_free(prf);
    resource_free(pol);
    if (!custom) return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "consent: %s", err);
    bool accepted = json_is_true(json_object_get(a, "acc"));
    json_t *trp = json_array(), *v;
    size_t i;
    json_array_foreach(json_object_get(custom, "data"), i, v) {
        json_array_append(trp, v);
        json_array_append_new(trp, json_sprintf("%s/*", json_string_value(v)));
    }
    json_object_set_new(a, "own", json_string(own));
    json_object_set(a, "orp", json_object_get(custom, "originators"));
    json_object_set_new(a, "trp", trp);
    json_object_set(a, "ctw", json_object_get(custom, "windows"));
    /* Refused, withdrawn or pending: the rule grants nothing. */
    json_object_set_new(a, "acop", json_integer(accepted ? json_integer_value(json_object_get(custom, "acop")) : 0));
    json_object_set_new(a, "pvl", json_integer(ppm_settings.grant_lifetime_s));
    json_object_set_new(a, "tkn", json_true());
    json_object_set_new(a, "cpol", custom);
    json_object_set_new(a, "diff", diff);
    if (!ctx->before || json_object_get(ctx->content, "acc")) {
        ts_buf now;
        ts_format(clock_now_us(), now);
        json_object_set_new(a, "dect", json_string(now));
    }
    keep_history(ctx);
    if (ctx->before && (rc = push_withdrawal(ctx, ctx->before, a))) return rc;
    json_t *was = ctx->before ? json_object_get(json_object_get(ctx->before->attrs, "cpol"), "data") : NULL;
    ppm_option0_sync(ctx->cse, res_ri(ctx->res), was);
    return 0;
}

/* A removed consent that granted: pushed like a withdrawal. Not when the
 * engine removes it at its et (its cet passed long before). */
static int consent_delete(struct op_ctx *ctx)
{
    if (!ctx->req || ctx->req->op != OP_DELETE) return 0;
    int rc = push_withdrawal(ctx, ctx->res, NULL);
    if (!rc) ppm_option0_sync(ctx->cse, res_ri(ctx->res), json_object_get(json_object_get(ctx->res->attrs, "cpol"), "data"));
    return rc;
}

const struct resource_type type_ppm_consent = {
    .ty = TY_PPM_CONSENT, .sn = "ppmcns", .key = "ppm:cns",
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(consent_attrs),
    .on_create = consent_write, .on_update = consent_write, .on_delete = consent_delete,
};

/* --- deletion requests --------------------------------------------------------- */

static const struct attr_def deletion_attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL,
    { "cns", A_NAME, O, NP, 0, 0 },      /* delete what this consent of hers covers */
    { "data", A_STRLIST, O, NP, 0, 64 }, /* or these resources of hers */
    { "own", A_STR, NP, NP, 0, 0 },
    { "res", A_LIST, NP, NP, 0, 0 },     /* per resource: {"ri": absolute ID, "rsc": the CSE's answer} */
    { "st", A_STR, NP, NP, 0, 0 },       /* done, partial or failed */
};


/* The resources to delete: the consent's data (checked as hers), or data,
 * each at or below <ppm-data-root>/<own>. NULL with an error in rsp. */
static json_t *deletion_targets(struct op_ctx *ctx, const char *own, int *rc)
{
    json_t *a = ctx->res->attrs, *data = json_object_get(a, "data");
    const char *cns = json_string_value(json_object_get(a, "cns"));
    if (!cns == !data) {
        *rc = m2m_error(ctx->rsp, RSC_BAD_REQUEST, "a deletion request names either cns (a consent of yours) or data");
        return NULL;
    }
    if (cns) {
        struct resource *c = owned_doc(ctx, cns, TY_PPM_CONSENT, own, rc);
        if (!c) return NULL;
        json_t *covered = json_incref(json_object_get(json_object_get(c->attrs, "cpol"), "data"));
        resource_free(c);
        return covered;
    }
    char root[sizeof ppm_settings.data_root + 256];
    snprintf(root, sizeof root, "%s/%s", ppm_settings.data_root, own);
    size_t i, n = strlen(root);
    json_t *v;
    json_array_foreach(data, i, v) {
        const char *id = json_string_value(v);
        if (strncmp(id, root, n) || id[n] != '/' || strpbrk(id, "*?[]")) {
            *rc = m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                            "data: '%s' is not yours to delete: your resources are below %s, no patterns", id, root);
            return NULL;
        }
    }
    return json_incref(data);
}

/* Carried out as it is created: one DELETE per resource at the CSE, as the
 * PPM (its AE, ppm-ae, else its CSE-ID: her ACPs must grant it DELETE), all asked in the first
 * run; the run after records each answer. The record is created whatever
 * the CSE answered: it is the account of what was done. */
static int deletion_create(struct op_ctx *ctx)
{
    const char *own = ctx->req->fr;
    if (!own || !*own) return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "an originator (X-M2M-Origin) is needed");
    if (!*ppm_settings.cse_url)
        return m2m_error(ctx->rsp, RSC_OPERATION_NOT_ALLOWED, "this PPM has no CSE to delete at (ppm-cse is not set)");
    int rc = 0;
    json_t *targets = deletion_targets(ctx, own, &rc);
    if (!targets) return rc;
    json_t *res = json_array(), *v;
    size_t i;
    int pending = 0, deleted = 0;
    json_array_foreach(targets, i, v) {
        char url[1200], key[700];
        ppm_data_url(json_string_value(v), url, sizeof url);
        snprintf(key, sizeof key, "ppm-delete %s", json_string_value(v));
        json_t *urls = json_pack("[s]", url), *answer = NULL;
        int got = *url ? notify_ask_as(ctx->cse, ctx->req, key, *ppm_settings.ae_id ? ppm_settings.ae_id : ctx->cse->csi,
                                       urls, OP_DELETE, NULL, NULL, 0, &answer)
                       : RSC_BAD_REQUEST;
        json_decref(urls);
        json_decref(answer);
        if (got == DISPATCH_PENDING) pending++;
        /* Gone already is what was asked for. */
        deleted += got == RSC_DELETED || got == RSC_NOT_FOUND;
        json_array_append_new(res, json_pack("{s:O,s:i}", "ri", v, "rsc", got));
    }
    size_t n = json_array_size(targets);
    json_decref(targets);
    if (pending) {
        json_decref(res);
        return DISPATCH_PENDING;
    }
    json_object_set_new(ctx->res->attrs, "own", json_string(own));
    json_object_set_new(ctx->res->attrs, "res", res);
    json_object_set_new(ctx->res->attrs, "st", json_string(deleted == (int)n ? "done" : deleted ? "partial" : "failed"));
    if (deleted != (int)n) log_info("ppm: deletion request of %s: %d of %zu resources deleted", own, deleted, n);
    return 0;
}

const struct resource_type type_ppm_deletion = {
    .ty = TY_PPM_DELETION, .sn = "ppmdlr", .key = "ppm:dlr",
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(deletion_attrs),
    .flags = RT_NO_UPDATE,
    .on_create = deletion_create,
};

static bool ppm_type(int ty)
{
    return ty == TY_PPM_PREFERENCES || ty == TY_PPM_POLICY || ty == TY_PPM_CONSENT || ty == TY_PPM_DELETION;
}

static enum authz_answer owners(struct cse *cse, const struct authz_query *q, const char **why)
{
    (void)cse;
    const char *who = q->originator;
    if (!who || !*who || !q->req) return AUTHZ_ABSTAIN;
    if (q->acop == ACOP_CREATE && q->target->ty == TY_CSEBASE && ppm_type(q->req->ty)) return AUTHZ_GRANT;
    /* Finding one's own records (m2m ppm log): each found one is checked below. */
    if (q->acop == ACOP_DISCOVERY && q->target->ty == TY_CSEBASE) return AUTHZ_GRANT;
    if (!ppm_type(q->target->ty)) return AUTHZ_ABSTAIN;
    const char *own = res_str(q->target, "own");
    if (own && !strcmp(own, who) && (q->acop & (ACOP_RETRIEVE | ACOP_UPDATE | ACOP_DELETE | ACOP_DISCOVERY))) return AUTHZ_GRANT;
    if (q->target->ty == TY_PPM_POLICY && q->acop == ACOP_RETRIEVE) return AUTHZ_GRANT;
    *why = "a privacy record is its owner's";
    return AUTHZ_ABSTAIN;
}

const struct authz_decider ppm_owner_decider = { "ppm", owners, NULL };
