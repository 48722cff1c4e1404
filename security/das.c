/* The "das" decider: dynamic authorization at the hosting CSE (das.h).
 * Everything it learns from outside (consultations, role assignments,
 * tokens fetched by ID) arrives through notify_ask(): the first run of a
 * request asks for all of it at once and answers AUTHZ_PENDING, the run
 * after the answers decides. What it learns is kept in bounded caches so
 * the next request of the same originator costs no round trip. */
#include "das.h"

#include "acl.h"
#include "acr.h"
#include "audit.h"
#include "das_msg.h"
#include "jose_module.h"
#include "role_name.h"
#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/base/loop.h"
#include "../cse/core/address.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../cse/core/store_job.h"
#include "../cse/events/notify.h"
#include "../resources/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern const struct resource_type type_cse_base;

#define BUCKETS 256
#define MAX_TOKENS 8               /* presented in one request */
#define MAX_HELD_ROLES 16
#define ROLE_NOT_HELD_S 30         /* a refused role is asked again after this */
#define GRANT_WITHOUT_LIFETIME_S 3600 /* a grant with neither pl nor dal */
#define TRUST_RECHECK_US 1000000   /* token-trust-file's mtime, at most once a second */
#define DYNAMIC_ACP_PREFIX "dacp-"
/* A revocation outlives every grant and token a DAS issued before it that
 * the CSE may still see (ppm-grant-lifetime is at most a day). */
#define REVOCATION_KEPT_S 86400

/* ---- a bounded map of yes/no answers with a lifetime -------------------- */

struct memo_entry {
    char *key;
    bool yes;
    int64_t until_us;
    int64_t since_us;          /* revocations: when it was revoked */
    struct memo_entry *next;
};

/* Oldest first out: `order` is a ring of the entries in insertion order. */
struct memo {
    struct memo_entry *bucket[BUCKETS];
    struct memo_entry **order;
    int cap, head, n;
};

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h % BUCKETS;
}

static struct memo_entry *memo_find(struct memo *m, const char *key)
{
    for (struct memo_entry *e = m->bucket[hash(key)]; e; e = e->next)
        if (!strcmp(e->key, key)) return e;
    return NULL;
}

static void memo_unlink(struct memo *m, struct memo_entry *victim)
{
    for (struct memo_entry **p = &m->bucket[hash(victim->key)]; *p; p = &(*p)->next)
        if (*p == victim) { *p = victim->next; break; }
    free(victim->key);
    free(victim);
}

static void memo_put(struct memo *m, const char *key, bool yes, int64_t until_us)
{
    struct memo_entry *e = memo_find(m, key);
    if (e) { e->yes = yes; e->until_us = until_us; return; }
    if (!m->cap || !(e = calloc(1, sizeof *e)) || !(e->key = strdup(key))) { free(e); return; }
    e->yes = yes;
    e->until_us = until_us;
    unsigned b = hash(key);
    e->next = m->bucket[b];
    m->bucket[b] = e;
    if (m->n == m->cap) {
        memo_unlink(m, m->order[m->head]);
        m->order[m->head] = e;
        m->head = (m->head + 1) % m->cap;
    } else {
        m->order[(m->head + m->n++) % m->cap] = e;
    }
}

/* The live answer for key: 1 yes, 0 no, -1 unknown or expired. */
static int memo_get(struct memo *m, const char *key, int64_t now_us)
{
    struct memo_entry *e = memo_find(m, key);
    return e && e->until_us > now_us ? e->yes : -1;
}

static void memo_clear(struct memo *m)
{
    for (int i = 0; i < m->n; i++) {
        struct memo_entry *e = m->order[(m->head + i) % m->cap];
        free(e->key);
        free(e);
    }
    memset(m->bucket, 0, sizeof m->bucket);
    m->head = m->n = 0;
}

/* When a DAS revoked what it granted to holder (absolute ID); 0: never. */
static int64_t revoked_at(struct memo *revoked, const char *holder, int64_t now_us)
{
    struct memo_entry *e = memo_find(revoked, holder);
    return e && e->until_us > now_us ? e->since_us : 0;
}

/* ---- state -------------------------------------------------------------- */

/* A verified token, kept until it expires or is pushed out. */
struct token_entry {
    bool used;
    bool direct;               /* from a consultation: applies to its holder's later requests */
    char *jti, *holder, *jwt;
    int64_t nbf_s, exp_s;
    json_t *tkps;
    char lti[24];              /* local token ID (NCName) */
    /* tkps's pm[i].pv parsed (NULL: none or malformed), kept with the
     * verified token so that a request does not parse it again. */
    struct acr_set **pm_sets;
    size_t npm;
    uint64_t pm_epoch;         /* acl_epoch() when parsed */
};

/* A dynamic ACP to be made once the request that earned it is answered. */
struct acp_job {
    struct acp_job *next;
    struct cse *cse;
    int64_t timer;
    char *parent;              /* ri */
    json_t *pv;
    ts_buf et;
};

struct das_state {
    struct memo decisions;     /* "<abs originator>\n<target ri>\n<acop>" */
    struct memo roles;         /* "<abs originator>\n<role ID>" */
    struct memo revoked;       /* "<abs originator>": its grants revoked at since_us */
    struct token_entry *tokens;
    int ntokens, next_slot;
    struct token_trust *trust; /* from token-trust-file */
    json_t *issuers;           /* the iss of every trusted issuer (role checks) */
    time_t trust_mtime;
    int64_t trust_checked_us;
    struct acp_job *jobs;
    json_t *dacp_parents;      /* {"<ri>": true}: where dynamic ACPs were made (revocations) */
    json_t *doomed;            /* [ri]: dynamic ACPs a revocation removes, after its request */
    int64_t doom_timer;
};

static int memo_init(struct memo *m, int cap)
{
    m->cap = cap;
    m->order = calloc((size_t)cap, sizeof *m->order);
    return m->order ? 0 : -1;
}

/* Made on first use: a CSE whose ACPs decide everything pays nothing
 * (idle RSS is a tracked benchmark). NULL when out of memory. */
static struct das_state *state_of(struct cse *cse)
{
    if (cse->das) return cse->das;
    struct das_state *st = calloc(1, sizeof *st);
    int cap = cse->cfg.das_cache_size > 0 ? cse->cfg.das_cache_size : 1024;
    if (!st) return NULL;
    st->ntokens = cap;
    st->tokens = calloc((size_t)cap, sizeof *st->tokens);
    if (!st->tokens || memo_init(&st->decisions, cap) || memo_init(&st->roles, cap) ||
        memo_init(&st->revoked, cap)) {
        free(st->tokens);
        free(st->decisions.order);
        free(st->roles.order);
        free(st->revoked.order);
        free(st);
        return NULL;
    }
    return cse->das = st;
}

/* ---- the trust list ------------------------------------------------------- */

static const struct jose_module *jose(struct cse *cse)
{
    return jose_load(&cse->cfg);
}

/* The trusted issuers, reloaded when token-trust-file changes. NULL: none. */
static struct token_trust *trust_of(struct cse *cse)
{
    struct das_state *st = cse->das;
    const char *file = cse->cfg.token_trust_file;
    int64_t now = clock_now_us();
    if (!*file || now - st->trust_checked_us < TRUST_RECHECK_US) return st->trust;
    st->trust_checked_us = now;
    struct stat sb;
    if (stat(file, &sb)) {
        if (st->trust || !st->trust_mtime) log_warn("das: token-trust-file %s cannot be read; tokens are refused", file);
        st->trust_mtime = 1;
        goto none;
    }
    /* Unchanged: what it gave last time (a bad file is not re-read and re-logged). */
    if (sb.st_mtime == st->trust_mtime) return st->trust;
    st->trust_mtime = sb.st_mtime;
    const struct jose_module *jm = jose(cse);
    json_t *doc = json_load_file(file, 0, NULL);
    struct token_trust *t = jm ? jm->trust_new() : NULL;
    char err[256] = "the JOSE module (ironbark-jose.so) is not available";
    if (!t || jm->trust_load(t, file, err, sizeof err)) {
        log_warn("das: token-trust-file %s: %s; tokens are refused", file, err);
        if (t) jm->trust_free(t);
        json_decref(doc);
        goto none;
    }
    if (st->trust) jm->trust_free(st->trust);
    st->trust = t;
    json_decref(st->issuers);
    st->issuers = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "issuers"), i, e)
        if (json_is_string(json_object_get(e, "iss"))) json_array_append(st->issuers, json_object_get(e, "iss"));
    json_decref(doc);
    log_info("das: %zu trusted token issuer(s) from %s", json_array_size(st->issuers), file);
    return st->trust;
none:
    if (st->trust && jose(cse)) jose(cse)->trust_free(st->trust);
    st->trust = NULL;
    json_decref(st->issuers);
    st->issuers = NULL;
    return NULL;
}

static bool trusted_issuer(struct cse *cse, const char *iss)
{
    trust_of(cse);
    size_t i;
    json_t *e;
    json_array_foreach(cse->das->issuers, i, e)
        if (iss && !strcmp(json_string_value(e), iss)) return true;
    return false;
}

/* ---- the token cache --------------------------------------------------------- */

static void drop_pm_sets(struct token_entry *e)
{
    for (size_t i = 0; i < e->npm; i++) acr_free(e->pm_sets[i]);
    free(e->pm_sets);
    e->pm_sets = NULL;
    e->npm = 0;
}

static void token_drop(struct token_entry *e)
{
    drop_pm_sets(e);
    free(e->jti);
    free(e->holder);
    free(e->jwt);
    json_decref(e->tkps);
    memset(e, 0, sizeof *e);
}

static bool token_live(const struct token_entry *e, int64_t now_s)
{
    return e->used && now_s >= e->nbf_s && now_s <= e->exp_s; /* both inclusive, as token_verify() */
}

static struct token_entry *token_by(struct das_state *st, const char *jwt, const char *jti, const char *lti)
{
    for (int i = 0; i < st->ntokens; i++) {
        struct token_entry *e = &st->tokens[i];
        if (!e->used) continue;
        if ((jwt && e->jwt && !strcmp(e->jwt, jwt)) || (jti && !strcmp(e->jti, jti)) ||
            (lti && !strcmp(e->lti, lti)))
            return e;
    }
    return NULL;
}

/* Keeps a verified token; a token ID seen before keeps its local ID. */
static struct token_entry *token_keep(struct das_state *st, const char *jwt, struct token_claims *c, bool direct)
{
    struct token_entry *e = token_by(st, NULL, c->id, NULL);
    char lti[24] = "";
    if (e) {
        snprintf(lti, sizeof lti, "%s", e->lti);
        direct |= e->direct;
        token_drop(e);
    } else {
        /* A free slot, else the oldest written one. */
        for (int i = 0; i < st->ntokens && !e; i++)
            if (!st->tokens[i].used) e = &st->tokens[i];
        if (!e) {
            e = &st->tokens[st->next_slot];
            st->next_slot = (st->next_slot + 1) % st->ntokens;
            token_drop(e);
        }
    }
    /* NCName: a letter first; random, so IDs from before a restart name nothing. */
    if (!*lti) cse_new_id("l", lti, 14);
    *e = (struct token_entry){ true, direct, strdup(c->id), strdup(c->holder), strdup(jwt), c->not_before,
                               c->not_after, json_incref(c->permissions), "", NULL, 0, 0 };
    snprintf(e->lti, sizeof e->lti, "%s", lti);
    return e;
}

/* ---- one decision's context ---------------------------------------------------- */

struct das_ctx {
    struct cse *cse;
    const struct authz_query *q;
    const struct m2m_request *req;
    struct ident_forms who;    /* who.abs: the originator as the DAS knows it */
    int64_t now_us;
    const struct resource *holder; /* whose acpi governs the target */
    struct resource *owned;
    json_t *dap;               /* the DAS: its points of access (NULL: none) */
    char dal[64];
    int pending;               /* exchanges asked for in this run */
};

/* The nearest daci up the tree naming an enabled <dac> with points of
 * access, else the das-default setting. */
static void find_das(struct das_ctx *c)
{
    struct cse *cse = c->cse;
    const struct resource *r = c->q->target;
    struct resource *cur = NULL;
    for (int depth = 0; r && depth < 64 && !c->dap; depth++) {
        size_t i;
        json_t *id;
        json_array_foreach(json_object_get(r->attrs, "daci"), i, id) {
            struct resource *dac = json_is_string(id) ? address_lookup(cse, json_string_value(id)) : NULL;
            json_t *dap = dac ? json_object_get(dac->attrs, "dap") : NULL;
            if (dac && dac->ty == TY_DAC && res_bool(dac, "dae", 0) == 1 && json_array_size(dap)) {
                c->dap = json_incref(dap);
                snprintf(c->dal, sizeof c->dal, "%s", res_str(dac, "dal") ? res_str(dac, "dal") : "");
            }
            resource_free(dac);
            if (c->dap) break;
        }
        const char *pi = res_pi(r);
        struct resource *parent = NULL;
        if (!c->dap && pi && *pi) store_get(cse->store, pi, &parent);
        resource_free(cur);
        r = cur = parent;
    }
    resource_free(cur);
    if (!c->dap && *cse->cfg.das_default) c->dap = json_pack("[s]", cse->cfg.das_default);
}

static const char *das_url(const struct das_ctx *c)
{
    return json_string_value(json_array_get(c->dap, 0));
}

/* notify_ask() where this run may ask, or where an earlier run asked:
 * DISPATCH_PENDING (counted), an RSC, or -1 when it cannot ask here. */
static int ask(struct das_ctx *c, const char *key, json_t *urls, int op, json_t *pc, json_t **answer)
{
    *answer = NULL;
    const struct m2m_continuation *k = c->req->cont;
    bool known = k && json_object_get(k->verified, key);
    if (!c->q->may_wait && !known) return -1;
    int rc = notify_ask(c->cse, c->req, key, urls, op, NULL, pc, c->cse->cfg.das_timeout_ms, answer);
    if (rc == DISPATCH_PENDING) c->pending++;
    return rc;
}

static void decision_key(const struct das_ctx *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s\n%s\n%d", c->who.abs, res_ri(c->q->target), c->q->acop);
}

/* ---- evaluating privileges -------------------------------------------------------- */

static bool permits(struct das_ctx *c, json_t *pv, const char *const *roles, int nroles)
{
    struct acl_extra x = { roles, nroles, pv, NULL };
    return acl_permits_with(c->cse, c->req, c->q->originator, c->q->target, c->q->acop, &x);
}

/* Does ris name the target (or the resource whose acpi governs it)? */
static bool ris_covers(struct das_ctx *c, json_t *ris)
{
    size_t i;
    json_t *id;
    json_array_foreach(ris, i, id) {
        struct resource *r = json_is_string(id) ? address_lookup(c->cse, json_string_value(id)) : NULL;
        bool hit = r && (!strcmp(res_ri(r), res_ri(c->q->target)) ||
                         (c->holder && !strcmp(res_ri(r), res_ri(c->holder))));
        resource_free(r);
        if (hit) return true;
    }
    return false;
}

/* The parsed pv of each of the token's permissions, parsed on first use
 * and again only when group resources may have changed (acl_epoch). */
static struct acr_set *const *token_pm_sets(struct das_ctx *c, struct token_entry *e)
{
    json_t *pms = json_object_get(e->tkps, "pm");
    if (e->pm_sets && e->pm_epoch == acl_epoch()) return e->pm_sets;
    drop_pm_sets(e);
    size_t n = json_array_size(pms);
    e->pm_sets = calloc(n ? n : 1, sizeof *e->pm_sets);
    if (!e->pm_sets) return NULL;
    e->npm = n;
    e->pm_epoch = acl_epoch();
    for (size_t i = 0; i < n; i++) {
        json_t *pv = json_object_get(json_array_get(pms, i), "pv");
        json_t *set = pv ? das_normalise_privileges(pv) : NULL;
        e->pm_sets[i] = set ? acl_parse_privileges(c->cse, set) : NULL;
        json_decref(set);
    }
    return e->pm_sets;
}

/* A token's tkps: permission by permission until one permits. */
static bool token_permits(struct das_ctx *c, struct token_entry *e, const char *const *held, int nheld)
{
    struct acr_set *const *sets = token_pm_sets(c, e);
    if (!sets) return false;
    size_t i;
    json_t *pm;
    json_array_foreach(json_object_get(e->tkps, "pm"), i, pm) {
        json_t *ris = json_object_get(pm, "ris");
        if (ris && !ris_covers(c, ris)) continue;
        const char *roles[MAX_HELD_ROLES + 16];
        int n = 0;
        for (int k = 0; k < nheld && n < MAX_HELD_ROLES; k++) roles[n++] = held[k];
        size_t j;
        json_t *r;
        json_array_foreach(json_object_get(pm, "rids"), j, r)
            if (json_is_string(r) && n < (int)(sizeof roles / sizeof roles[0])) roles[n++] = json_string_value(r);
        json_t *pv = json_object_get(pm, "pv");
        /* pv needs ris (TS-0004 6.3.5.53): a pv for everything is not a permission. */
        if (pv && ris) {
            struct acl_extra x = { roles, n, NULL, sets[i] };
            if (sets[i] && acl_permits_with(c->cse, c->req, c->q->originator, c->q->target, c->q->acop, &x))
                return true;
        } else if (!pv && n > nheld && permits(c, NULL, roles, n)) {
            return true;
        }
    }
    return false;
}

/* ---- tokens the request carries ------------------------------------------------------ */

enum { TK_OK, TK_BAD, TK_PENDING };

/* Verifies one JWT for this originator (cached when it verified before). */
static struct token_entry *verify(struct das_ctx *c, const char *jwt, bool direct, const char **why)
{
    struct das_state *st = c->cse->das;
    int64_t now_s = c->now_us / 1000000;
    int64_t revoked = revoked_at(&st->revoked, c->who.abs, c->now_us);
    struct token_entry *e = token_by(st, jwt, NULL, NULL);
    if (e && !strcmp(e->holder, c->who.abs) && token_live(e, now_s) && e->nbf_s * 1000000LL > revoked) {
        e->direct |= direct;
        return e;
    }
    const struct jose_module *jm = jose(c->cse);
    struct token_trust *t = trust_of(c->cse);
    if (!jm) { *why = "tokens cannot be verified: the JOSE module (ironbark-jose.so) is not available"; return NULL; }
    if (!t) { *why = "no token issuer is trusted (token-trust-file)"; return NULL; }
    char aud[600];
    if (!das_absolute(c->cse->cfg.sp_id, c->cse->csi, c->cse->csi, aud, sizeof aud)) {
        *why = "this CSE's absolute CSE-ID does not fit";
        return NULL;
    }
    struct token_claims claims = { 0 };
    enum token_verdict v = jm->verify(t, jwt, c->who.abs, aud, now_s, &claims);
    if (v != TOKEN_OK) { *why = jm->verdict_text(v); return NULL; }
    if (!claims.id || !claims.holder) {
        jm->claims_free(&claims);
        *why = jm->verdict_text(TOKEN_MALFORMED);
        return NULL;
    }
    /* Seconds: a token of the revocation's own second counts as before it. */
    if (revoked && claims.not_before * 1000000LL <= revoked) {
        jm->claims_free(&claims);
        *why = "the token was issued before its holder's grants were revoked";
        return NULL;
    }
    e = token_keep(st, jwt, &claims, direct);
    jm->claims_free(&claims);
    return e;
}

/* Fetches the tokens of tids the cache does not hold from the DAS (dreq.tids). */
static int fetch_tids(struct das_ctx *c, json_t *tids, const char **why)
{
    struct das_state *st = c->cse->das;
    json_t *missing = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(tids, i, id) {
        struct token_entry *e = token_by(st, NULL, json_string_value(id), NULL);
        if (!e || strcmp(e->holder, c->who.abs) || !token_live(e, c->now_us / 1000000))
            json_array_append(missing, id);
    }
    int rc = TK_OK;
    if (!json_array_size(missing)) goto out;
    *why = "token IDs need a DAS to fetch them from, and none applies";
    rc = TK_BAD;
    if (!c->dap) goto out;
    json_t *pc = json_pack("{s:{s:i,s:{s:s,s:O}}}", "m2m:seci", "sit", 1, "dreq", "or", c->who.abs, "tids", missing);
    json_t *answer;
    int arc = ask(c, "das-tids", c->dap, OP_NOTIFY, pc, &answer);
    json_decref(pc);
    if (arc == DISPATCH_PENDING) { rc = TK_PENDING; goto out; }
    struct das_answer a;
    char err[200];
    *why = "the DAS did not return the tokens of these token IDs";
    if (arc == RSC_OK && !das_answer_parse(answer, &a, err, sizeof err)) {
        json_t *jwt;
        json_array_foreach(a.tkns, i, jwt) {
            const char *bad = NULL;
            if (!verify(c, json_string_value(jwt), false, &bad)) {
                *why = bad;
                json_decref(answer);
                das_answer_clear(&a);
                goto out;
            }
        }
        das_answer_clear(&a);
        rc = TK_OK;
    }
    json_decref(answer);
out:
    json_decref(missing);
    return rc;
}

/* Resolves every token the request presents (tkns, ltids, tids) into
 * cache entries (out: up to MAX_TOKENS); TK_BAD with why at the first
 * that is not good. `fetch` false: tids only from the cache. */
static int presented(struct das_ctx *c, bool fetch, struct token_entry **out, int *n, const char **why)
{
    struct das_state *st = c->cse->das;
    json_t *lists[3] = { das_split_list(c->req->tokens), das_split_list(c->req->ltids), das_split_list(c->req->tids) };
    int rc = TK_OK;
    *n = 0;
    if (json_array_size(lists[0]) + json_array_size(lists[1]) + json_array_size(lists[2]) > MAX_TOKENS) {
        *why = "too many tokens in one request";
        rc = TK_BAD;
        goto out;
    }
    if (json_array_size(lists[2]) && fetch) rc = fetch_tids(c, lists[2], why);
    if (rc != TK_OK) goto out;
    int64_t now_s = c->now_us / 1000000;
    for (int l = 0; l < 3 && rc == TK_OK; l++) {
        size_t i;
        json_t *v;
        json_array_foreach(lists[l], i, v) {
            const char *s = json_string_value(v);
            struct token_entry *e = NULL;
            if (l == 0) e = verify(c, s, false, why);
            else {
                e = token_by(st, NULL, l == 2 ? s : NULL, l == 1 ? s : NULL);
                if (e && (strcmp(e->holder, c->who.abs) || !token_live(e, now_s))) e = NULL;
                if (!e) *why = l == 1 ? "unknown or expired local token ID" : "token ID not obtained";
            }
            if (!e) { rc = TK_BAD; break; }
            out[(*n)++] = e;
        }
    }
out:
    for (int l = 0; l < 3; l++) json_decref(lists[l]);
    return rc;
}

/* ---- roles ----------------------------------------------------------------------------- */

/* Is the <role> the DAS answered an assignment of role to this originator? */
static bool role_valid(struct das_ctx *c, json_t *answer, const char *role, int64_t *until_us)
{
    json_t *rol = json_object_get(answer, "m2m:rol");
    const char *tkhd = json_string_value(json_object_get(rol, "tkhd"));
    const char *rlid = json_string_value(json_object_get(rol, "rlid"));
    const char *tkis = json_string_value(json_object_get(rol, "tkis"));
    const char *tknb = json_string_value(json_object_get(rol, "tknb"));
    const char *tkna = json_string_value(json_object_get(rol, "tkna"));
    int64_t nb, na;
    struct ident_home home = cse_home(c->cse);
    if (!tkhd || !rlid || !tknb || !tkna || !ts_parse(tknb, &nb) || !ts_parse(tkna, &na)) return false;
    *until_us = na;
    return ident_is(&home, tkhd, &c->who) && !strcmp(rlid, role) && trusted_issuer(c->cse, tkis) &&
           nb <= c->now_us && c->now_us <= na;
}

#define ROLE_ASKED 2

/* 1 held, 0 not, ROLE_ASKED while the DAS is asked. */
static int role_held(struct das_ctx *c, const char *role)
{
    struct das_state *st = c->cse->das;
    char key[800];
    snprintf(key, sizeof key, "%s\n%s", c->who.abs, role);
    int known = memo_get(&st->roles, key, c->now_us);
    if (known >= 0) return known;
    if (!c->dap) return 0;
    char name[ROLE_NAME_LEN], url[2300], askkey[64];
    role_resource_name(c->who.abs, role, name);
    snprintf(url, sizeof url, "%s/%s", das_url(c), name);
    snprintf(askkey, sizeof askkey, "das-role %s", name);
    json_t *urls = json_pack("[s]", url), *answer;
    int rc = ask(c, askkey, urls, OP_RETRIEVE, NULL, &answer);
    json_decref(urls);
    if (rc == DISPATCH_PENDING) return ROLE_ASKED;
    if (rc < 0) return 0;
    int64_t until = 0;
    bool held = rc == RSC_OK && role_valid(c, answer, role, &until);
    json_decref(answer);
    memo_put(&st->roles, key, held, held ? until : c->now_us + ROLE_NOT_HELD_S * 1000000LL);
    if (!held) log_info("das: %s does not hold role %s (the DAS answered %d)", c->who.abs, role, rc);
    return held;
}

/* The roles of rids the DAS assigns to the originator, into held. */
static void held_roles(struct das_ctx *c, json_t *rids, const char **held, int *n)
{
    size_t i;
    json_t *r;
    *n = 0;
    json_array_foreach(rids, i, r)
        if (*n < MAX_HELD_ROLES && role_held(c, json_string_value(r)) == 1) held[(*n)++] = json_string_value(r);
}

/* ---- dynamic ACPs ------------------------------------------------------------------------ */

struct dyn_scan { json_t *pvs; ts_buf now; int64_t revoked_us; };

static int dyn_visit(struct resource *res, void *data)
{
    struct dyn_scan *s = data;
    const char *rn = res_str(res, "rn");
    if (!rn || strncmp(rn, DYNAMIC_ACP_PREFIX, strlen(DYNAMIC_ACP_PREFIX)) || res_expired(res, s->now)) return 0;
    int64_t ct = 0;
    /* One made before a revocation of the originator's grants counts no more. */
    if (s->revoked_us && (!res_str(res, "ct") || !ts_parse(res_str(res, "ct"), &ct) || ct <= s->revoked_us))
        return 0;
    json_array_append(s->pvs, json_object_get(res->attrs, "pv"));
    return 0;
}

/* Do the dynamic ACPs under the target's acpi holder grant the request? */
static bool dynamic_acps_permit(struct das_ctx *c)
{
    if (!c->holder) return false;
    struct dyn_scan s = { json_array(), "", revoked_at(&c->cse->das->revoked, c->who.abs, c->now_us) };
    ts_format(c->now_us, s.now);
    store_children(c->cse->store, res_ri(c->holder), TY_ACP, dyn_visit, &s);
    bool ok = false;
    size_t i;
    json_t *pv;
    json_array_foreach(s.pvs, i, pv)
        if ((ok = permits(c, pv, NULL, 0))) break;
    json_decref(s.pvs);
    return ok;
}

static void job_free(struct acp_job *j)
{
    free(j->parent);
    json_decref(j->pv);
    free(j);
}

static void job_unlink(struct das_state *st, struct acp_job *j)
{
    for (struct acp_job **p = &st->jobs; *p; p = &(*p)->next)
        if (*p == j) { *p = j->next; break; }
}

static void job_dropped(void *data)
{
    job_free(data);
}

static void create_dynamic_acp(void *data)
{
    struct acp_job *j = data;
    struct cse *cse = j->cse;
    char rn[40];
    cse_new_id(DYNAMIC_ACP_PREFIX, rn, 21);
    struct m2m_response rsp;
    cse_run_itself(cse, OP_CREATE, TY_ACP, j->parent, "das-dynamic-acp",
                   json_pack("{s:{s:s,s:O,s:{s:[{s:[s],s:i}]},s:s}}", "m2m:acp", "rn", rn, "pv", j->pv, "pvs",
                             "acr", "acor", cse->csi, "acop", 2 | 4 | 8, "et", j->et),
                   &rsp);
    if (rsp.rsc != RSC_CREATED) {
        log_info("das: the dynamic ACP under %s could not be made (%d)", j->parent, rsp.rsc);
    } else {
        log_debug("das: dynamic ACP %s under %s until %s", rn, j->parent, j->et);
        struct das_state *st = cse->das;
        if (!st->dacp_parents) st->dacp_parents = json_object();
        /* Bounded: one past the bound is still refused after a revocation (dyn_visit), only not removed. */
        if (json_object_size(st->dacp_parents) < (size_t)st->ntokens)
            json_object_set_new(st->dacp_parents, j->parent, json_true());
    }
    m2m_response_clear(&rsp);
    job_free(j);
}

/* The CSE creates the dynamic ACP for itself, after the request that
 * earned it: that request's own transaction is never mixed with it. The
 * job, unlinked, is the CREATE's, which may wait for the store in a fiber
 * (cse_in_store_fiber). */
static int64_t make_dynamic_acp(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct acp_job *j = data;
    job_unlink(j->cse->das, j);
    cse_in_store_fiber(j->cse, create_dynamic_acp, job_dropped, j);
    return -1;
}

static void schedule_dynamic_acp(struct das_ctx *c, json_t *gp, int64_t until_us)
{
    struct cse *cse = c->cse;
    if (!cse->loop || !c->holder) return;
    struct acp_job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->cse = cse;
    j->parent = strdup(res_ri(c->holder));
    j->pv = json_incref(gp);
    ts_format(until_us, j->et);
    j->next = cse->das->jobs;
    cse->das->jobs = j;
    j->timer = loop_add_timer(cse->loop, 0, make_dynamic_acp, j);
}

/* ---- the consultation -------------------------------------------------------------------- */

static json_t *dreq_of(struct das_ctx *c)
{
    char trid[600];
    ts_buf rts;
    ts_format(c->now_us, rts);
    if (!das_absolute(c->cse->cfg.sp_id, c->cse->csi, c->q->target->path, trid, sizeof trid)) trid[0] = 0;
    json_t *rfa = acl_role_candidates(c->cse, c->req, c->q->originator, c->q->target, c->q->acop);
    struct das_facts f = { c->who.abs, c->q->target->ty, c->req->op, c->req->peer.ip, rts, trid,
                           c->dal, rfa, c->req->rids, c->req->tids };
    json_t *d = das_dreq(&f);
    json_decref(rfa);
    return d;
}

/* How long a grant lasts: min(pl, dal); neither: an hour. */
static int64_t grant_until(struct das_ctx *c, const char *pl)
{
    int64_t until = c->now_us + GRANT_WITHOUT_LIFETIME_S * 1000000LL, t;
    bool any = false;
    if (*pl && ts_parse_absrel(pl, c->now_us, &t)) { until = t; any = true; }
    if (*c->dal && ts_parse_absrel(c->dal, c->now_us, &t) && (!any || t < until)) until = t;
    return until;
}

static enum authz_answer consult(struct das_ctx *c, const char **why)
{
    struct das_state *st = c->cse->das;
    char key[200];
    snprintf(key, sizeof key, "das-consult %s %d", res_ri(c->q->target), c->q->acop);
    json_t *pc = json_pack("{s:{s:i,s:o}}", "m2m:seci", "sit", 1, "dreq", dreq_of(c)), *answer;
    int rc = ask(c, key, c->dap, OP_NOTIFY, pc, &answer);
    json_decref(pc);
    if (rc == DISPATCH_PENDING) return AUTHZ_PENDING;
    if (rc < 0) return AUTHZ_ABSTAIN;  /* not asked in this request's first run */
    if (rc != RSC_OK) {
        *why = rc == RSC_TARGET_NOT_REACHABLE || rc == RSC_REQUEST_TIMEOUT ? "the DAS did not answer"
                                                                            : "the DAS refused the consultation";
        log_info("das: consultation of %s for %s: %d", das_url(c), c->who.abs, rc);
        json_decref(answer);
        return AUTHZ_DENY;
    }
    struct das_answer a;
    char err[200];
    if (das_answer_parse(answer, &a, err, sizeof err)) {
        log_info("das: unusable answer from %s: %s", das_url(c), err);
        json_decref(answer);
        *why = "the DAS's answer is unusable";
        return AUTHZ_DENY;
    }
    json_decref(answer);
    char dkey[800];
    decision_key(c, dkey, sizeof dkey);
    int64_t until = grant_until(c, a.pl);
    /* A lifetime already over grants nothing. */
    bool granted = a.gp && until > c->now_us && permits(c, a.gp, NULL, 0);
    /* Only grants are remembered: a refusal is asked again, so what the DAS
     * grants later takes effect at once. */
    if (granted) {
        memo_put(&st->decisions, dkey, true, until);
        schedule_dynamic_acp(c, a.gp, until);
    }
    /* Tokens for the originator, kept for its later requests. */
    size_t i;
    json_t *jwt;
    json_array_foreach(a.tkns, i, jwt) {
        const char *bad = NULL;
        struct token_entry *e = verify(c, json_string_value(jwt), true, &bad);
        if (!e) log_info("das: a token from %s for %s is refused: %s", das_url(c), c->who.abs, bad);
        else if (!granted) granted = token_permits(c, e, NULL, 0);
    }
    das_answer_clear(&a);
    *why = "the DAS granted nothing for this operation";
    return granted ? AUTHZ_GRANT : AUTHZ_DENY;
}

/* ---- the decider -------------------------------------------------------------------------- */

static bool ctx_open(struct cse *cse, const struct authz_query *q, struct das_ctx *c)
{
    const struct m2m_request *req = q->req;
    if (!req || req->cse_itself || !q->originator || !*q->originator || !state_of(cse)) return false;
    memset(c, 0, sizeof *c);
    struct ident_home home = cse_home(cse);
    if (!ident_forms(&home, q->originator, &c->who)) return false;
    c->cse = cse;
    c->q = q;
    c->req = req;
    c->now_us = clock_now_us();
    c->holder = acl_acpi_holder(cse, q->target, &c->owned);
    return true;
}

static void ctx_close(struct das_ctx *c)
{
    resource_free(c->owned);
    json_decref(c->dap);
}

/* Tokens of this originator the CSE obtained by consultation. */
static bool direct_tokens_permit(struct das_ctx *c)
{
    struct das_state *st = c->cse->das;
    int64_t now_s = c->now_us / 1000000;
    for (int i = 0; i < st->ntokens; i++) {
        struct token_entry *e = &st->tokens[i];
        if (e->direct && token_live(e, now_s) && !strcmp(e->holder, c->who.abs) && token_permits(c, e, NULL, 0))
            return true;
    }
    return false;
}

/* The tokens a request presents, as presented() found them. */
struct presented_tokens {
    int rc;                    /* TK_OK, TK_BAD or TK_PENDING */
    int n;
    struct token_entry *toks[MAX_TOKENS];
};

static enum authz_answer judge(struct das_ctx *c, struct presented_tokens *pt,
                               const char *const *held, int nheld, const char **why);
static enum authz_answer run(struct das_ctx *c, const char **why)
{
    struct das_state *st = c->cse->das;
    char dkey[800];
    decision_key(c, dkey, sizeof dkey);
    int cached = memo_get(&st->decisions, dkey, c->now_us);
    if (cached == 1 || direct_tokens_permit(c)) return AUTHZ_GRANT;
    /* A listing filter asks nothing and reads no more than the caches:
     * the store scans and the DAS are for a request's own decision (its
     * first run may wait; its second finds the answers it asked for). */
    const struct m2m_continuation *k = c->req->cont;
    bool full = c->q->may_wait || (k && json_object_size(k->verified));
    /* Tokens already verified (or verifiable here) that permit by
     * themselves decide at once: no store scan, no walk for a <dac>. A
     * refusal is not final here: the full judgement below gives the reason. */
    struct presented_tokens pt = { .rc = TK_BAD };
    if (c->req->tokens || c->req->tids || c->req->ltids) {
        const char *unused;
        pt.rc = presented(c, false, pt.toks, &pt.n, &unused);
        if (pt.rc == TK_OK)
            for (int i = 0; i < pt.n; i++)
                if (token_permits(c, pt.toks[i], NULL, 0)) return AUTHZ_GRANT;
    }
    if (!full) return AUTHZ_ABSTAIN;
    if (dynamic_acps_permit(c)) return AUTHZ_GRANT;
    find_das(c);

    /* Everything outside is asked for in one run: a request runs again once. */
    const char *held[MAX_HELD_ROLES];
    int nheld = 0;
    /* held points into rids: it lives as long as this run. */
    json_t *rids = das_split_list(c->req->rids);
    held_roles(c, rids, held, &nheld);
    enum authz_answer a = judge(c, &pt, held, nheld, why);
    json_decref(rids);
    return a;
}

/* The rest of run(), with the roles the DAS assigns to the originator and
 * the tokens run() found. Only when that found none usable are they looked
 * for again, this time fetching token IDs the CSE does not hold yet. */
static enum authz_answer judge(struct das_ctx *c, struct presented_tokens *pt,
                               const char *const *held, int nheld, const char **why)
{
    bool carries = c->req->tokens || c->req->tids || c->req->ltids;
    if (carries && pt->rc != TK_OK) pt->rc = presented(c, true, pt->toks, &pt->n, why);
    int tk = carries ? pt->rc : TK_OK;
    struct token_entry *const *toks = pt->toks;
    int ntoks = carries ? pt->n : 0;
    if (tk == TK_BAD) return AUTHZ_DENY;
    /* Indirect first: a request that brings tokens is judged by them, and
     * the DAS is consulted only for one that brings none. The consultation
     * is asked in the same run as the rest. */
    bool direct = !carries && c->dap;
    if (c->pending || tk == TK_PENDING) {
        if (direct) consult(c, why);
        return AUTHZ_PENDING;
    }
    for (int i = 0; i < ntoks; i++)
        if (token_permits(c, toks[i], held, nheld)) return AUTHZ_GRANT;
    if (nheld && permits(c, NULL, held, nheld)) return AUTHZ_GRANT;
    if (carries) { *why = "the presented tokens do not permit this operation"; return AUTHZ_DENY; }
    return direct ? consult(c, why) : AUTHZ_ABSTAIN;
}

/* ---- revocations ------------------------------------------------------------------------- */

/* Is the originator a DAS whose tokens this CSE trusts? Only those may drop what the CSE holds. */
static bool trusted_das(struct cse *cse, const char *originator)
{
    struct ident_forms from;
    struct ident_home home = cse_home(cse);
    return originator && state_of(cse) && ident_forms(&home, originator, &from) && trusted_issuer(cse, from.abs);
}

struct doom_scan { struct cse *cse; const char *holder; ts_buf now; };

/* A dynamic ACP made before now whose privileges name the holder: to remove. */
static int doom_visit(struct resource *res, void *data)
{
    struct doom_scan *d = data;
    const char *rn = res_str(res, "rn"), *ct = res_str(res, "ct");
    if (!rn || strncmp(rn, DYNAMIC_ACP_PREFIX, strlen(DYNAMIC_ACP_PREFIX)) || !ct || strcmp(ct, d->now) > 0) return 0;
    struct ident_home home = cse_home(d->cse);
    size_t i, k;
    json_t *acr, *who;
    json_array_foreach(json_object_get(json_object_get(res->attrs, "pv"), "acr"), i, acr)
        json_array_foreach(json_object_get(acr, "acor"), k, who)
            if (json_is_string(who) && ident_same(&home, json_string_value(who), d->holder)) {
                json_array_append_new(d->cse->das->doomed, json_string(res_ri(res)));
                return 0;
            }
    return 0;
}

/* Removes the doomed dynamic ACPs, as the CSE, after the revocation's request. */
struct doomed_acps {
    struct cse *cse;
    json_t *ri;
};

static void doomed_free(void *data)
{
    struct doomed_acps *d = data;
    json_decref(d->ri);
    free(d);
}

static void delete_doomed(void *data)
{
    struct doomed_acps *d = data;
    size_t i;
    json_t *ri;
    json_array_foreach(d->ri, i, ri) {
        int rsc = cse_delete_itself(d->cse, json_string_value(ri), "das-revocation");
        if (rsc != RSC_DELETED && rsc != RSC_NOT_FOUND)
            log_info("das: the revoked dynamic ACP %s could not be removed (%d)", json_string_value(ri), rsc);
    }
    doomed_free(d);
}

/* The list is taken over by the DELETEs, which may wait for the store in
 * a fiber (cse_in_store_fiber); later revocations start a new one. */
static int64_t remove_doomed(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct cse *cse = data;
    struct das_state *st = cse->das;
    struct doomed_acps *d = malloc(sizeof *d);
    json_t *fresh = d ? json_array() : NULL;
    st->doom_timer = 0;
    if (!fresh) {
        free(d);
        json_array_clear(st->doomed);
        log_warn("das: out of memory: revoked dynamic ACPs stay until they expire");
        return -1;
    }
    *d = (struct doomed_acps){ cse, st->doomed };
    st->doomed = fresh;
    cse_in_store_fiber(cse, delete_doomed, doomed_free, d);
    return -1;
}

/* Forgets what was granted to holder (absolute) before now: cached
 * decisions and tokens; dynamic ACPs and tokens issued before now count no
 * more (dyn_visit, verify). Pending dynamic ACPs are dropped: what they
 * held is asked again. */
static void revoke(struct cse *cse, const char *holder, int64_t now_us)
{
    struct das_state *st = cse->das;
    size_t n = strlen(holder);
    for (int i = 0; i < st->decisions.n; i++) {
        struct memo_entry *e = st->decisions.order[(st->decisions.head + i) % st->decisions.cap];
        if (!strncmp(e->key, holder, n) && e->key[n] == '\n') e->until_us = 0;
    }
    for (int i = 0; i < st->ntokens; i++)
        if (st->tokens[i].used && !strcmp(st->tokens[i].holder, holder)) token_drop(&st->tokens[i]);
    while (st->jobs) {
        struct acp_job *j = st->jobs;
        st->jobs = j->next;
        if (cse->loop) loop_del_timer(cse->loop, j->timer);
        job_free(j);
    }
    memo_put(&st->revoked, holder, true, now_us + REVOCATION_KEPT_S * 1000000LL);
    struct memo_entry *e = memo_find(&st->revoked, holder);
    if (e) e->since_us = now_us;
    if (!cse->loop || !json_object_size(st->dacp_parents)) return;
    struct doom_scan d = { cse, holder, "" };
    ts_format(now_us, d.now);
    if (!st->doomed) st->doomed = json_array();
    const char *parent;
    json_t *unused;
    json_object_foreach(st->dacp_parents, parent, unused) store_children(cse->store, parent, TY_ACP, doom_visit, &d);
    if (json_array_size(st->doomed) && !st->doom_timer) st->doom_timer = loop_add_timer(cse->loop, 0, remove_doomed, cse);
}

int das_revocation_notify(struct op_ctx *ctx)
{
    json_t *rvk = json_object_get(ctx->req->pc, DAS_REVOCATION_KEY);
    if (!rvk) return type_cse_base.on_notify(ctx);
    if (!trusted_das(ctx->cse, ctx->req->fr))
        return m2m_error(ctx->rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                         DAS_REVOCATION_KEY ": only a DAS whose tokens this CSE trusts (token-trust-file) may revoke");
    json_t *orp = json_object_get(rvk, "orp");
    if (!json_is_array(orp) || !json_array_size(orp) || json_array_size(orp) > 64)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, DAS_REVOCATION_KEY ": orp, a list of 1 to 64 originator IDs");
    struct ident_home home = cse_home(ctx->cse);
    struct ident_forms who;
    size_t i;
    json_t *v;
    json_array_foreach(orp, i, v)
        if (!json_is_string(v) || !ident_forms(&home, json_string_value(v), &who))
            return m2m_error(ctx->rsp, RSC_BAD_REQUEST, DAS_REVOCATION_KEY ": orp entry %zu is not an originator ID", i);
    int64_t now = clock_now_us();
    json_array_foreach(orp, i, v) {
        ident_forms(&home, json_string_value(v), &who);
        revoke(ctx->cse, who.abs, now);
    }
    log_info("das: %s revoked the grants of %zu originator(s)", ctx->req->fr, json_array_size(orp));
    ctx->rsp->rsc = RSC_OK;
    return 0;
}

static enum authz_answer das_decide(struct cse *cse, const struct authz_query *q, const char **why)
{
    struct das_ctx c;
    if (!ctx_open(cse, q, &c)) return AUTHZ_ABSTAIN;
    enum authz_answer a = run(&c, why);
    ctx_close(&c);
    return a;
}

/* After the decision: audit a refused token, tqf on a 4103 with tqi, ati
 * when tokens granted. */
static void das_respond(struct cse *cse, const struct m2m_request *req, const struct resource *target,
                        int acop, int rsc, struct m2m_response *rsp)
{
    if (!req) return;
    bool carries = req->tokens || req->tids || req->ltids;
    bool refused = rsc == RSC_ORIGINATOR_HAS_NO_PRIVILEGE;
    /* The hot path (granted, no tokens) costs nothing here. */
    if (!(refused && (carries || req->tqi)) && !(!rsc && (req->tokens || req->tids))) return;
    struct authz_query q = { req, req->fr, target, acop, false };
    struct das_ctx c;
    if (!ctx_open(cse, &q, &c)) return;
    find_das(&c);
    struct token_entry *toks[MAX_TOKENS];
    int n = 0;
    const char *why = NULL;
    if (refused) {
        if (carries) {
            if (presented(&c, false, toks, &n, &why) == TK_OK) why = "the presented tokens do not permit this operation";
            audit_decision(acl_audit_log(cse), req->fr, target->path, acl_acop_name(acop), "deny", "das", why);
        }
        if (req->tqi && c.dap && !rsp->tqf) {
            json_t *d = dreq_of(&c);
            rsp->tqf = das_token_request_info(das_url(&c), d);
            json_decref(d);
        }
    } else if (!rsc && (req->tokens || req->tids) && presented(&c, false, toks, &n, &why) == TK_OK && n) {
        char ati[MAX_TOKENS * 300] = "";
        size_t len = 0;
        for (int i = 0; i < n; i++) {
            if (!*toks[i]->lti) continue;
            int w = snprintf(ati + len, sizeof ati - len, "%s%s:%s", len ? "+" : "", toks[i]->lti, toks[i]->jti);
            if (w < 0 || (size_t)w >= sizeof ati - len) break;
            len += (size_t)w;
        }
        free(rsp->ati);
        rsp->ati = len ? strdup(ati) : NULL;
    }
    ctx_close(&c);
}

const struct authz_decider das_decider = { "das", das_decide, das_respond };

/* ---- life cycle ------------------------------------------------------------------------------ */

void das_forget(struct cse *cse)
{
    struct das_state *st = cse->das;
    if (!st) return;
    memo_clear(&st->decisions);
    memo_clear(&st->roles);
    memo_clear(&st->revoked);
    json_decref(st->dacp_parents);
    st->dacp_parents = NULL;
    json_decref(st->doomed);
    st->doomed = NULL;
    if (st->doom_timer && cse->loop) loop_del_timer(cse->loop, st->doom_timer);
    st->doom_timer = 0;
    for (int i = 0; i < st->ntokens; i++) token_drop(&st->tokens[i]);
    while (st->jobs) {
        struct acp_job *j = st->jobs;
        st->jobs = j->next;
        if (cse->loop) loop_del_timer(cse->loop, j->timer);
        job_free(j);
    }
}

void das_close(struct cse *cse)
{
    struct das_state *st = cse->das;
    if (!st) return;
    das_forget(cse);
    free(st->tokens);
    free(st->decisions.order);
    free(st->roles.order);
    free(st->revoked.order);
    if (st->trust && jose(cse)) jose(cse)->trust_free(st->trust);
    json_decref(st->issuers);
    free(st);
    cse->das = NULL;
}
