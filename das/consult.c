/* das/consult.h: parsing a dreq, deciding it by the rules, answering dres. */
#include "consult.h"

#include "rules.h"
#include "cse/base/clock.h"
#include "cse/base/log.h"
#include "cse/base/ratelimit.h"
#include "cse/core/cse.h"
#include "cse/core/ident.h"
#include "cse/core/rsc.h"
#include "resources/registry.h"
#include "security/acl.h"
#include "security/audit.h"
#include "security/role_name.h"
#include "security/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

extern const struct resource_type type_cse_base;

/* --- parsing ---------------------------------------------------------------- */

/* The first of the spellings present. */
static json_t *either(json_t *obj, const char *a, const char *b)
{
    json_t *v = json_object_get(obj, a);
    return v ? v : json_object_get(obj, b);
}

static int bad(char *err, size_t cap, const char *msg, const char *name)
{
    snprintf(err, cap, msg, name);
    return RSC_BAD_REQUEST;
}

/* A string parameter: absent is NULL, anything else must be a sane string. */
static int string_param(json_t *dreq, const char *a, const char *b, const char **out, char *err, size_t cap)
{
    json_t *v = either(dreq, a, b);
    *out = NULL;
    if (!v) return 0;
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > DAS_MAX_ID) return bad(err, cap, "dreq.%s must be a non-empty string of at most 512 characters", a);
    *out = s;
    return 0;
}

/* oip: {"ip4": "..."} or {"ip6": "..."} (also ipv4/ipv6), or a bare address. */
static int parse_address(json_t *dreq, struct das_dreq *out, char *err, size_t cap)
{
    json_t *oip = either(dreq, "oip", "oid");
    if (!oip) return 0;
    if (json_is_string(oip)) {
        const char *s = json_string_value(oip);
        if (strchr(s, ':')) out->ip6 = s;
        else out->ip4 = s;
        return 0;
    }
    if (!json_is_object(oip)) return bad(err, cap, "dreq.%s must be an object {\"ip4\"|\"ip6\": address}", "oip");
    json_t *v4 = either(oip, "ip4", "ipv4"), *v6 = either(oip, "ip6", "ipv6");
    if ((v4 && !json_is_string(v4)) || (v6 && !json_is_string(v6)))
        return bad(err, cap, "dreq.%s addresses must be strings", "oip");
    out->ip4 = json_string_value(v4);
    out->ip6 = json_string_value(v6);
    return 0;
}

/* tids, rids: arrays of IDs (the CSE splits a '+'-joined list before). */
static int parse_ids(json_t *dreq, const char *name, const char **ids, int *n, char *err, size_t cap)
{
    json_t *list = json_object_get(dreq, name), *v;
    size_t i;
    if (!list) return 0;
    if (!json_is_array(list) || json_array_size(list) > DAS_MAX_TIDS)
        return bad(err, cap, "dreq.%s must be an array of at most 16 IDs", name);
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        if (!s || !*s || strlen(s) > DAS_MAX_ID) return bad(err, cap, "dreq.%s holds an ID that is no string", name);
        ids[(*n)++] = s;
    }
    return 0;
}

int das_parse_seci(json_t *pc, struct das_dreq *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    json_t *seci = json_object_get(pc, "m2m:seci");
    if (!json_is_object(seci)) return bad(err, cap, "the content is no %s object", "m2m:seci");
    json_t *sit = json_object_get(seci, "sit");
    if (!json_is_integer(sit)) return bad(err, cap, "m2m:seci needs %s (1: a dynamic authorization request)", "sit");
    if (json_integer_value(sit) != 1)
        return bad(err, cap, "m2m:seci %s is not 1: this DAS answers dynamic authorization requests only", "sit");
    json_t *dreq = either(seci, "dreq", "daq");
    if (!json_is_object(dreq)) return bad(err, cap, "m2m:seci sit 1 needs a %s object", "dreq");
    int rc = string_param(dreq, "or", "org", &out->originator, err, cap);
    if (!rc) rc = string_param(dreq, "trid", "trid", &out->target, err, cap);
    if (!rc) rc = parse_address(dreq, out, err, cap);
    if (!rc) rc = parse_ids(dreq, "tids", out->tids, &out->ntids, err, cap);
    if (!rc) rc = parse_ids(dreq, "rids", out->rids, &out->nrids, err, cap);
    if (rc) return rc;
    if (!out->originator) return bad(err, cap, "dreq needs the originator (%s)", "or");
    json_t *op = json_object_get(dreq, "op");
    if (op && (!json_is_integer(op) || json_integer_value(op) < 1 || json_integer_value(op) > 5))
        return bad(err, cap, "dreq.%s must be an operation 1..5", "op");
    out->op = (int)json_integer_value(op);
    if (!out->ntids && (!out->op || !out->target))
        return bad(err, cap, "dreq needs op and trid (or tids to fetch tokens by %s)", "ID");
    return 0;
}

/* --- state ------------------------------------------------------------------ */

/* One token bucket table per rule with a rate: the rule's ri, its rate. */
struct rate_table {
    struct rate_table *next;
    char ri[64];
    int64_t per_minute;
    struct ratelimit *buckets;
};

static struct {
    struct das_identity id;
    struct rate_table *rates;
} das;

void das_consult_open(const struct das_identity *id)
{
    das.id = *id;
}

void das_consult_close(void)
{
    while (das.rates) {
        struct rate_table *t = das.rates;
        das.rates = t->next;
        ratelimit_free(t->buckets);
        free(t);
    }
}

/* Takes one grant from the rule's budget for originator: false when spent. */
static bool rate_admits(const char *ri, int64_t per_minute, const char *originator, int64_t now_us)
{
    struct rate_table *t = das.rates;
    while (t && strcmp(t->ri, ri)) t = t->next;
    if (t && t->per_minute != per_minute) {   /* the rule changed: a fresh budget */
        ratelimit_free(t->buckets);
        t->buckets = NULL;
    }
    if (!t) {
        if (!(t = calloc(1, sizeof *t))) return false;
        snprintf(t->ri, sizeof t->ri, "%s", ri);
        t->next = das.rates;
        das.rates = t;
    }
    if (!t->buckets) {
        struct ratelimit_params p = { per_minute / 60.0, (double)per_minute, 4096, 1 << 30, 60000 };
        uint64_t seed;
        if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = (uint64_t)now_us;
        t->per_minute = per_minute;
        if (!(t->buckets = ratelimit_new(&p, seed))) return false;
    }
    return ratelimit_take(t->buckets, originator, now_us / 1000, NULL) == 0;
}

/* --- identities -------------------------------------------------------------- */

void das_absolute_id(struct cse *cse, const char *id, char *out, size_t cap)
{
    struct ident_home home = cse_home(cse);
    struct ident_forms f;
    snprintf(out, cap, "%s", ident_forms(&home, id, &f) ? f.abs : "");
}

/* A CSE-ID ("/id-in", "//sp/id-in"): consultations come from CSEs. */
static bool is_cse_id(const char *id)
{
    if (!id || id[0] != '/') return false;
    const char *p = id[1] == '/' ? strchr(id + 2, '/') : id;
    return p && p[1] && !strchr(p + 1, '/');
}

/* --- roles ------------------------------------------------------------------- */

struct role_question {
    struct cse *cse;
    const char *originator;
    int64_t now_us;
    const struct das_dreq *dreq;
};

/* Did the request name role in rids (when it names any)? */
static bool role_asked(const struct das_dreq *q, const char *role)
{
    for (int i = 0; i < q->nrids; i++)
        if (!strcmp(q->rids[i], role)) return true;
    return !q->nrids;
}

/* Is there a valid <role> assigning role to the originator, issued by us? */
static bool holds_role(void *data, const char *role)
{
    struct role_question *q = data;
    if (!role || !role_asked(q->dreq, role)) return false;
    char name[ROLE_NAME_LEN], path[400];
    role_resource_name(q->originator, role, name);
    snprintf(path, sizeof path, "%s/%s", q->cse->cfg.cse_name, name);
    struct resource *r = NULL;
    if (store_get_path(q->cse->store, path, &r)) return false;
    int64_t nb, na;
    bool held = r->ty == TY_ROL && res_str(r, "tkhd") && !strcmp(res_str(r, "tkhd"), q->originator) &&
                res_str(r, "rlid") && !strcmp(res_str(r, "rlid"), role) && res_str(r, "tkis") &&
                !strcmp(res_str(r, "tkis"), das.id.issuer) && ts_parse(res_str(r, "tknb"), &nb) &&
                ts_parse(res_str(r, "tkna"), &na) && nb <= q->now_us && q->now_us <= na;
    resource_free(r);
    return held;
}

/* --- deciding ----------------------------------------------------------------- */

struct decision {
    int acop;                  /* granted bits */
    int64_t lifetime_s;        /* shortest pvl of the granting rules */
    bool tokens;               /* a granting rule asks for tokens */
    char rules[256];           /* names of the granting rules, for the audit */
    const char *why;           /* the denial's reason */
    char why_rule[320];        /* a context denial: "<rule>: <reason>" */
};

struct evaluation {
    const struct das_subject *s;
    struct decision *d;
};

static int evaluate_rule(struct resource *rule, void *data)
{
    struct evaluation *e = data;
    const char *why = NULL;
    if (das.id.suspended && das.id.suspended(res_ri(rule))) return 0;
    enum das_match m = das_rule_match(rule->attrs, e->s, &why);
    int64_t rate = res_int(rule, "rate", 0);
    if (m == DAS_MATCH && rate > 0 && !rate_admits(res_ri(rule), rate, e->s->originator, e->s->now_us)) {
        m = DAS_CONTEXT_DENIED;
        why = "the rule's rate for this originator is spent";
    }
    if (m == DAS_CONTEXT_DENIED && !e->d->why_rule[0]) {
        snprintf(e->d->why_rule, sizeof e->d->why_rule, "rule %s: %s", res_rn(rule), why);
        e->d->why = e->d->why_rule;
    }
    if (m != DAS_MATCH) return 0;
    e->d->acop |= (int)res_int(rule, "acop", 0);
    int64_t pvl = res_int(rule, "pvl", DAS_DEFAULT_LIFETIME_S);
    int64_t et_us;
    /* A grant never outlives the rule (a consent ends at its expiry, cet). */
    const char *end = res_str(rule, "cet") ? res_str(rule, "cet") : res_str(rule, "et");
    if (end && ts_parse(end, &et_us) && (et_us - e->s->now_us) / 1000000 < pvl)
        pvl = (et_us - e->s->now_us) / 1000000 > 1 ? (et_us - e->s->now_us) / 1000000 : 1;
    if (!e->d->lifetime_s || pvl < e->d->lifetime_s) e->d->lifetime_s = pvl;
    e->d->tokens |= res_bool(rule, "tkn", 0) == 1;
    size_t n = strlen(e->d->rules);
    snprintf(e->d->rules + n, sizeof e->d->rules - n, "%s%s", n ? "," : "", res_rn(rule));
    return 0;
}

static void decide(struct cse *cse, const struct das_subject *s, struct decision *d)
{
    memset(d, 0, sizeof *d);
    d->why = "no rule grants it";
    struct resource *base = NULL;
    if (store_get_path(cse->store, cse->cfg.cse_name, &base)) {
        d->why = "the rules cannot be read";
        return;
    }
    struct evaluation e = { s, d };
    static const int das_rules_only[] = { TY_DAS_RULE, 0 };
    for (const int *ty = das.id.rule_types ? das.id.rule_types : das_rules_only; *ty; ty++)
        store_children(cse->store, res_ri(base), *ty, evaluate_rule, &e);
    resource_free(base);
}

/* --- tokens -------------------------------------------------------------------- */

static const char *op_name(int op)
{
    static const char *const names[] = { "?", "create", "retrieve", "update", "delete", "notify" };
    return op >= 1 && op <= 5 ? names[op] : names[0];
}

/* "//sp/csi" of an absolute target "//sp/csi/...": the audience of a token for it. */
static void audience_of(const char *trid, char *out, size_t cap)
{
    out[0] = 0;
    if (strncmp(trid, "//", 2)) return;
    const char *csi = strchr(trid + 2, '/');
    if (!csi) return;
    const char *end = strchr(csi + 1, '/');
    size_t n = end ? (size_t)(end - trid) : strlen(trid);
    if (n < cap) snprintf(out, cap, "%.*s", (int)n, trid);
}

static void random_id(char *out, size_t cap)
{
    unsigned char raw[12];
    if (getrandom(raw, sizeof raw, 0) != sizeof raw) {
        cse_new_id("", out, cap);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < sizeof raw && n + 3 <= cap; i++) n += (size_t)snprintf(out + n, cap - n, "%02x", raw[i]);
}

/* Stores the issued token as a <token> (so that tids finds it), as the DAS itself. */
static int store_token(struct cse *cse, const char *rn, const struct token_claims *c, const char *jwt)
{
    ts_buf nb, na;
    ts_format(c->not_before * 1000000, nb);
    ts_format(c->not_after * 1000000, na);
    struct m2m_response rsp;
    cse_run_itself(cse, OP_CREATE, TY_TK, cse->cfg.cse_name, "das-token",
                   json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:O}}", "m2m:tk", "rn", rn, "tkid", c->id,
                             "tkob", jwt, "tkis", c->issuer, "tkhd", c->holder, "tknb", nb, "tkna", na, "et", na,
                             "tkau", c->audience, "tkps", c->permissions),
                   &rsp);
    int rc = rsp.rsc == RSC_CREATED ? 0 : -1;
    if (rc) log_warn("das: token %s could not be stored (%d)", c->id, rsp.rsc);
    m2m_response_clear(&rsp);
    return rc;
}

/* Signs a token granting acop on target to originator; NULL when it cannot. */
static char *issue_token(struct cse *cse, const char *originator, const char *target, const char *audience,
                         int acop, int64_t lifetime_s)
{
    char rnd[32], tkid[200], rn[40];
    random_id(rnd, sizeof rnd);
    snprintf(tkid, sizeof tkid, "%s@%s", rnd, das.id.fqdn);
    snprintf(rn, sizeof rn, "tk-%s", rnd);
    int64_t now_s = clock_now_us() / 1000000;
    struct token_claims c = {
        .version = "1", .id = tkid, .holder = (char *)originator, .issuer = (char *)das.id.issuer,
        .not_before = now_s, .not_after = now_s + lifetime_s,
        .audience = json_pack("[s]", audience),
        .permissions = json_pack("{s:[{s:[s],s:{s:[{s:[s],s:i}]}}]}", "pm", "ris", target, "pv", "acr",
                                 "acor", originator, "acop", acop),
    };
    char err[256];
    char *jwt = token_sign(&c, das.id.private_jwk, err, sizeof err);
    if (!jwt) log_error("das: cannot sign a token: %s", err);
    if (jwt && store_token(cse, rn, &c, jwt)) {
        free(jwt);
        jwt = NULL;
    }
    json_decref(c.audience);
    json_decref(c.permissions);
    return jwt;
}

/* --- answering ----------------------------------------------------------------- */

static void answer(struct op_ctx *ctx, json_t *dres)
{
    ctx->rsp->rsc = RSC_OK;
    ctx->rsp->pc = json_pack("{s:{s:i,s:o}}", "m2m:seci", "sit", 2, "dres", dres);
}

/* dreq.tids: the tokens of ours that were issued to the originator and still hold. */
static int tokens_by_id(struct op_ctx *ctx, const struct das_dreq *q, const char *originator)
{
    static const char alnum[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    json_t *tkns = json_array();
    ts_buf now;
    ts_format(clock_now_us(), now);
    for (int i = 0; i < q->ntids; i++) {
        const char *at = strrchr(q->tids[i], '@');
        size_t n = at ? (size_t)(at - q->tids[i]) : 0;
        if (!at || strcmp(at + 1, das.id.fqdn) || !n || strspn(q->tids[i], alnum) != n) continue;
        char path[300];
        snprintf(path, sizeof path, "%s/tk-%.*s", ctx->cse->cfg.cse_name, (int)n, q->tids[i]);
        struct resource *r = NULL;
        if (store_get_path(ctx->cse->store, path, &r)) continue;
        if (r->ty == TY_TK && !res_expired(r, now) && res_str(r, "tkhd") && !strcmp(res_str(r, "tkhd"), originator) &&
            res_str(r, "tkob"))
            json_array_append_new(tkns, json_string(res_str(r, "tkob")));
        resource_free(r);
    }
    char reason[80];
    snprintf(reason, sizeof reason, "tokens by ID: %zu of %d", json_array_size(tkns), q->ntids);
    audit_decision(acl_audit_log(ctx->cse), originator, NULL, "tids", json_array_size(tkns) ? "grant" : "deny",
                   "das", reason);
    answer(ctx, json_pack("{s:o}", "tkns", tkns));
    return 0;
}

int das_consult_notify(struct op_ctx *ctx)
{
    json_t *pc = ctx->req->pc;
    if (!json_object_get(pc, "m2m:seci")) return type_cse_base.on_notify(ctx);
    struct das_dreq q;
    char err[200], originator[DAS_MAX_ID + 64], sender[DAS_MAX_ID + 64];
    int rc = das_parse_seci(pc, &q, err, sizeof err);
    if (rc) return m2m_error(ctx->rsp, rc, "%s", err);
    das_absolute_id(ctx->cse, q.originator, originator, sizeof originator);
    das_absolute_id(ctx->cse, ctx->req->fr ? ctx->req->fr : "", sender, sizeof sender);
    if (!originator[0]) return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "dreq.or is not an originator ID");
    /* A CSE speaks for its originators; anyone else only for itself. */
    bool from_cse = is_cse_id(ctx->req->fr);
    if (!from_cse && strcmp(sender, originator)) {
        audit_decision(acl_audit_log(ctx->cse), sender, q.target, op_name(q.op), "deny", "das",
                       "a device asked for another originator");
        return m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "an originator may ask for itself only");
    }
    if (q.ntids) return tokens_by_id(ctx, &q, originator);
    char target[DAS_MAX_ID + 64];
    das_absolute_id(ctx->cse, q.target, target, sizeof target);
    if (!target[0]) snprintf(target, sizeof target, "%s", q.target);
    int64_t now_us = clock_now_us();
    struct role_question rq = { ctx->cse, originator, now_us, &q };
    struct das_subject s = {
        .originator = originator, .authenticated = ctx->req->sec.authenticated,
        .ip4 = q.ip4, .ip6 = q.ip6, .op_bit = 1 << (q.op - 1), .target = target, .now_us = now_us,
        .holds_role = holds_role, .role_data = &rq,
    };
    struct decision d;
    decide(ctx->cse, &s, &d);
    struct audit *audit = acl_audit_log(ctx->cse);
    if (!d.acop) {
        audit_decision(audit, originator, target, op_name(q.op), "deny", "das", d.why);
        answer(ctx, json_object());
        return 0;
    }
    char reason[300];
    snprintf(reason, sizeof reason, "rules %s", d.rules);
    audit_decision(audit, originator, target, op_name(q.op), "grant", "das", reason);
    ts_buf pl;
    ts_format(now_us + d.lifetime_s * 1000000, pl);
    json_t *dres = json_pack("{s:{s:{s:[{s:[s],s:i}]},s:s}}", "dai", "gp", "acr", "acor", originator, "acop",
                             d.acop, "pl", pl);
    if (!from_cse || d.tokens) {
        char audience[DAS_MAX_ID + 64];
        audience_of(target, audience, sizeof audience);
        if (from_cse) das_absolute_id(ctx->cse, ctx->req->fr, audience, sizeof audience);
        char *jwt = audience[0] ? issue_token(ctx->cse, originator, target, audience, d.acop, d.lifetime_s) : NULL;
        if (jwt) json_object_set_new(dres, "tkns", json_pack("[s]", jwt));
        free(jwt);
    }
    answer(ctx, dres);
    return 0;
}
