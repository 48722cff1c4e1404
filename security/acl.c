/* Access control decision: finds the rules that govern a target (store
 * lookups, cached) and hands them to the pure evaluator in acr.c. */
#include "acl.h"

#include "acr.h"
#include "audit.h"
#include "authz.h"
#include "../cse/core/route.h"
#include "../cse/core/address.h"
#include "../cse/base/clock.h"
#include "../cse/core/cse.h"
#include "../cse/core/metrics.h"
#include "../cse/base/log.h"
#include "../cse/core/rsc.h"
#include "../resources/registry.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_BUCKETS 256
#define CACHE_MAX 4096
#define MAX_ROLES 16
#define MAX_ID 200                 /* longest originator ID considered */

/* One acpi entry as last seen in the store; `found` false = no such ACP. */
struct acp_entry {
    char *key;
    bool found;
    struct acr_set *pv, *pvs;
    char *owner;               /* AE entries ("\1" + path): the AE's ri */
    struct acp_entry *next;
};

struct acl_state {
    struct acp_entry *bucket[CACHE_BUCKETS];
    int count;
    struct audit *audit;
};

/* ---- identifiers ----------------------------------------------------------- */

/* Does `id` (a cr, ri, mid entry, the admin setting) name the originator
 * whose forms are `who`? cse/ident.c decides, for every comparison here. */
static bool same_id(const struct cse *cse, const char *id, const struct ident_forms *who)
{
    struct ident_home home = cse_home(cse);
    return ident_is(&home, id, who);
}

/* ---- groups ---------------------------------------------------------------- */

static bool is_group_entry(void *data, const char *entry)
{
    struct resource *r = address_lookup(data, entry);
    bool group = r && r->ty == TY_GRP;
    resource_free(r);
    return group;
}

struct group_probe { struct cse *cse; const struct ident_forms *who; };

/* Members are listed by AE/CSE ID or by the resource's address. */
static bool member_is(struct cse *cse, const char *mid, const struct ident_forms *who)
{
    if (same_id(cse, mid, who)) return true;
    /* An AE's ri is its AE-ID, so only structured addresses need a lookup. */
    if (!strchr(mid, '/')) return false;
    struct resource *r = address_lookup(cse, mid);
    /* A registrant's ri is its ID. */
    bool hit = r && (type_flags(&cse->types, r->ty) & RT_REGISTERS) && same_id(cse, res_ri(r), who);
    resource_free(r);
    return hit;
}

static bool in_group(void *data, const char *group)
{
    struct group_probe *p = data;
    struct resource *g = address_lookup(p->cse, group);
    bool hit = false;
    if (g && g->ty == TY_GRP) {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(g->attrs, "mid"), i, m)
            if (json_is_string(m) && (hit = member_is(p->cse, json_string_value(m), p->who))) break;
    }
    resource_free(g);
    return hit;
}

/* ---- the ACP cache ------------------------------------------------------------ */

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h % CACHE_BUCKETS;
}

/* Bumped whenever cached ACL state is dropped (acl_parse_privileges). */
static uint64_t epoch;

uint64_t acl_epoch(void) { return epoch; }

void acl_invalidate(struct cse *cse)
{
    epoch++;
    struct acl_state *st = cse->acl;
    if (!st) return;
    for (int b = 0; b < CACHE_BUCKETS; b++) {
        for (struct acp_entry *e = st->bucket[b], *next; e; e = next) {
            next = e->next;
            acr_free(e->pv);
            acr_free(e->pvs);
            free(e->owner);
            free(e->key);
            free(e);
        }
        st->bucket[b] = NULL;
    }
    st->count = 0;
}

static struct acr_set *parse_privileges(struct cse *cse, const struct resource *acp, const char *sn)
{
    char err[256];
    struct acr_set *set = acr_parse(json_object_get(acp->attrs, sn), is_group_entry, cse, err, sizeof err);
    if (!set) log_warn("acl: stored %s of %s is unusable: %s", sn, res_ri(acp), err);
    return set;
}

/* The cached entry for key; *fresh tells the caller to fill it. */
static struct acp_entry *cache_slot(struct cse *cse, const char *key, bool *fresh)
{
    struct acl_state *st = cse->acl;
    unsigned b = hash(key);
    *fresh = false;
    for (struct acp_entry *e = st->bucket[b]; e; e = e->next)
        if (!strcmp(e->key, key)) return e;
    if (st->count >= CACHE_MAX) acl_invalidate(cse);
    struct acp_entry *e = calloc(1, sizeof *e);
    e->key = strdup(key);
    e->next = st->bucket[b];
    st->bucket[b] = e;
    st->count++;
    *fresh = true;
    return e;
}

/* Policies acpi may name: an ACP of this CSE, or one announced to it (an
 * announced resource's acpi names those, TS-0001 9.6.26.3). */
static bool is_policy(int ty)
{
    return ty == TY_ACP || ty == TY_ACP + TY_ANNC_OFFSET;
}

bool acl_reads_type(const struct cse *cse, int ty)
{
    return is_policy(ty) || ty == TY_GRP || (type_flags(&cse->types, ty) & RT_REGISTERS);
}

static struct acp_entry *acp_get(struct cse *cse, const char *key)
{
    bool fresh;
    struct acp_entry *e = cache_slot(cse, key, &fresh);
    if (!fresh) return e;
    struct resource *acp = address_lookup(cse, key);
    if (acp && is_policy(acp->ty)) {
        e->found = true;
        e->pv = parse_privileges(cse, acp, "pv");
        e->pvs = parse_privileges(cse, acp, "pvs");
    }
    resource_free(acp);
    return e;
}

/* The ri of the AE at `top` ("cse-in/<rn>"), or NULL. AEs change only by
 * CREATE (a new name) or DELETE (which empties the cache). */
static const char *ae_at(struct cse *cse, const char *top)
{
    char key[300];
    size_t n = strlen(top);   /* < 256: is_owner's bound */
    if (n >= sizeof key - 1) return NULL;
    key[0] = '\1';
    memcpy(key + 1, top, n + 1);
    bool fresh;
    struct acp_entry *e = cache_slot(cse, key, &fresh);
    if (fresh) {
        struct resource *ae = NULL;
        if (!store_get_path(cse->store, top, &ae) && (type_flags(&cse->types, ae->ty) & RT_REGISTERS))
            e->owner = strdup(res_ri(ae));
        resource_free(ae);
    }
    return e->owner;
}

/* ---- the decision ------------------------------------------------------------- */

#define MAX_SUBJECT_ATTRS 128

struct subject {
    struct acr_subject s;
    struct ident_forms who;
    struct group_probe probe;
    char spty[64];
    const char *attrs[MAX_SUBJECT_ATTRS]; /* borrowed from the request or the target */
};

/* The attributes the request touches, for rules with aca: a CREATE's or
 * UPDATE's content, a partial RETRIEVE's list, else all of the target's.
 * More than the subject holds: unknown, so an aca rule grants nothing. */
static void touched_attributes(const struct m2m_request *req, const struct resource *target, int acop,
                               struct subject *sub)
{
    struct acr_subject *s = &sub->s;
    int n = 0;
    bool fits = true;
    const char *key;
    json_t *v;
    if ((acop == ACOP_CREATE || acop == ACOP_UPDATE) && json_is_object(req->pc)) {
        json_t *inner = NULL;
        json_object_foreach(req->pc, key, v) { inner = v; break; }
        json_object_foreach(inner, key, v) {
            if (n == MAX_SUBJECT_ATTRS) { fits = false; break; }
            sub->attrs[n++] = key;
        }
    } else if (acop == ACOP_RETRIEVE && req->natrl) {
        for (int i = 0; i < req->natrl && fits; i++) {
            if (n == MAX_SUBJECT_ATTRS) fits = false;
            else sub->attrs[n++] = req->atrl[i];
        }
    } else if (target && target->attrs) {
        json_object_foreach(target->attrs, key, v) {
            if (key[0] == '@') continue;           /* the engine's private attributes */
            if (n == MAX_SUBJECT_ATTRS) { fits = false; break; }
            sub->attrs[n++] = key;
        }
    }
    s->attrs = sub->attrs;
    s->nattrs = n;
    s->attrs_known = fits;
}

/* CREATE: the specialization of the new resource (containerDefinition of a
 * flexContainer, mgmtDefinition of a mgmtObj), for acod spty. */
static void child_specialization(const struct m2m_request *req, struct subject *sub)
{
    const char *key;
    json_t *inner;
    json_object_foreach(req->pc, key, inner) {
        json_t *cnd = json_object_get(inner, "cnd"), *mgd = json_object_get(inner, "mgd");
        if (json_is_string(cnd)) snprintf(sub->spty, sizeof sub->spty, "%s", json_string_value(cnd));
        else if (json_is_integer(mgd)) snprintf(sub->spty, sizeof sub->spty, "%lld", (long long)json_integer_value(mgd));
        if (sub->spty[0]) sub->s.child_spty = sub->spty;
    }
}

/* False when fr is not a well-formed ID: it then names no one, and "all"
 * must not cover what cannot be compared. The touched attributes (for aca
 * rules) only when with_attrs: the default policy needs none. */
static bool make_subject(struct cse *cse, const struct m2m_request *req, const char *fr,
                         const struct resource *target, int acop, const struct acl_extra *x,
                         bool with_attrs, struct subject *sub)
{
    memset(sub, 0, offsetof(struct subject, attrs));   /* attrs[] is filled up to its count */
    struct ident_home home = cse_home(cse);
    if (!ident_forms(&home, fr, &sub->who)) return false;
    sub->probe = (struct group_probe){ cse, &sub->who };
    struct acr_subject *s = &sub->s;
    /* A foreign SP's originator has neither a CSE-relative nor an
     * SP-relative form here: "Cae1" and "/id-in/..." entries never match it. */
    s->rel = sub->who.rel[0] ? sub->who.rel : NULL;
    s->sprel = sub->who.sprel[0] ? sub->who.sprel : NULL;
    s->abs = sub->who.abs;
    s->now_us = clock_now_us();
    s->op_bit = acop;
    s->target_ty = target->ty;
    s->in_group = in_group;
    s->group_data = &sub->probe;
    /* Roles count only when verified (the DAS decider, security/das.h):
     * the request's rids alone are a claim anyone can make. */
    if (x) {
        s->roles = x->roles;
        s->nroles = x->nroles < MAX_ROLES ? x->nroles : MAX_ROLES;
    }
    if (req) {
        s->ip = req->peer.ip;
        s->authenticated = req->sec.authenticated;
        if (acop == ACOP_CREATE) {
            s->child_ty = req->ty;
            if (json_is_object(req->pc)) child_specialization(req, sub);
        }
        if (with_attrs) touched_attributes(req, target, acop, sub);
    }
    return true;
}

static bool is_admin(const struct cse *cse, const struct ident_forms *who)
{
    return cse->cfg.admin[0] && same_id(cse, cse->cfg.admin, who);
}

/* Does the UPDATE content touch acpi? Then the pvs rules decide. */
static bool updates_acpi(const struct m2m_request *req)
{
    if (!req || req->op != OP_UPDATE || !json_is_object(req->pc)) return false;
    const char *key;
    json_t *inner;
    json_object_foreach(req->pc, key, inner)
        if (json_is_object(inner) && json_object_get(inner, "acpi")) return true;
    return false;
}

/* The AE that owns a resource: its `cr` if recorded, else the AE at the
 * top of its subtree (AEs live directly under the CSEBase); a <request>'s
 * originator owns it. */
static bool is_owner(struct cse *cse, const struct resource *r, const struct ident_forms *who)
{
    /* Types that name their owner (an AE itself, a <request>'s originator). */
    const struct resource_type *t = registry_find(&cse->types, r->ty);
    if (t && t->owner) {
        const char *owner = t->owner(r);
        return owner && same_id(cse, owner, who);
    }
    const char *cr = res_str(r, "cr");
    if (cr && *cr) return same_id(cse, cr, who);
    const char *first = r->path ? strchr(r->path, '/') : NULL;
    if (!first) return false;
    const char *second = strchr(first + 1, '/');
    size_t n = second ? (size_t)(second - r->path) : strlen(r->path);
    char top[256];
    if (n >= sizeof top) return false;
    memcpy(top, r->path, n);
    top[n] = 0;
    const char *ae = ae_at(cse, top);
    return ae && same_id(cse, ae, who);
}

/* An AE registered here (its ri is its AE-ID), or another CSE of this SP
 * registered here (its <remoteCSE>'s ri is its CSE-ID's stem, route.h). */
static bool registered_ae(struct cse *cse, const struct ident_forms *who)
{
    const char *key = who->rel[0] ? who->rel : route_csi_stem(who->sprel);
    struct resource *ae = NULL;
    bool yes = key && !store_get(cse->store, key, &ae) && (type_flags(&cse->types, ae->ty) & RT_REGISTERS);
    resource_free(ae);
    return yes;
}

/* Does type t have acpi? Remembered for the last few types asked (the
 * definitions are static: a pointer names one for the process's life). */
static bool has_acpi(const struct resource_type *t)
{
    static const struct resource_type *seen[8];
    static bool answer[8];
    static unsigned next;
    for (unsigned i = 0; i < 8; i++)
        if (seen[i] == t) return answer[i];
    bool yes = type_attr(t, "acpi") != NULL;
    seen[next % 8] = t;
    answer[next % 8] = yes;
    next++;
    return yes;
}

/* Types without acpi take their parent's (TS-0001 9.6.7 and alike). The
 * result is target itself or an ancestor read from the store (*owned, for
 * the caller to free); NULL when an ancestor is missing. */
const struct resource *acl_acpi_holder(struct cse *cse, const struct resource *target,
                                          struct resource **owned)
{
    const struct resource *r = target;
    *owned = NULL;
    for (int depth = 0; r && depth < 64; depth++) {
        const struct resource_type *t = registry_find(&cse->types, r->ty);
        if (!t || has_acpi(t) || (t->flags & RT_ROOT) || !res_pi(r) || !*res_pi(r)) return r;
        if (depth == 0) {
            /* The usual case (an instance under its container): the parent
             * the retrieve hook will want too, read once. */
            r = cse_parent(cse, r);
            continue;
        }
        struct resource *parent = NULL;
        store_get(cse->store, res_pi(r), &parent);
        resource_free(*owned);
        r = *owned = parent;
    }
    return r;
}

static bool default_policy(struct cse *cse, const struct resource *holder, struct subject *sub,
                           const char **why)
{
    int op = sub->s.op_bit;
    if (type_flags(&cse->types, holder->ty) & RT_ROOT) {
        *why = "the CSEBase grants only RETRIEVE and DISCOVERY to registered AEs";
        return (op == ACOP_RETRIEVE || op == ACOP_DISCOVERY) && registered_ae(cse, &sub->who);
    }
    /* A custodian (R4) takes the creator's place: it alone has access. */
    const char *cstn = res_str(holder, "cstn");
    if (cstn && *cstn) {
        *why = "no acpi: only the custodian has access";
        return same_id(cse, cstn, &sub->who);
    }
    *why = "no acpi: only the owner has access";
    return is_owner(cse, holder, &sub->who);
}

static bool decide(struct cse *cse, const struct m2m_request *req, const char *fr,
                   const struct resource *target, int acop, const struct acl_extra *x, const char **why)
{
    *why = "no originator";
    if (!req && !fr) return true;          /* the CSE itself (expiry, hooks) */
    if (req && req->cse_itself) return true; /* work submitted for the CSE (cse_submit) */
    if (!fr || !*fr) return false;
    if (strlen(fr) >= MAX_ID) { *why = "originator ID too long"; return false; }
    if (cse->cfg.admin[0] && !strcmp(fr, cse->cfg.admin)) return true;
    struct subject sub;
    if (!make_subject(cse, req, fr, target, acop, x, false, &sub)) { *why = "originator is not a well-formed ID"; return false; }
    /* The admin in another form of the same local ID; never a foreign SP's
     * or another CSE's originator of the same name. */
    if (is_admin(cse, &sub.who)) return true;
    /* Notifications to the CSE answer its own subscriptions; the
     * notification module judges them, not ACPs. */
    if ((type_flags(&cse->types, target->ty) & RT_ROOT) && acop == ACOP_NOTIFY) return true;
    if (target->ty == TY_ACP) {
        /* An ACP answers to its own selfPrivileges. */
        if (req) touched_attributes(req, target, acop, &sub);
        struct acp_entry *e = acp_get(cse, res_ri(target));
        return e->found && acr_permits(e->pvs, &sub.s, why);
    }
    struct resource *owned;
    const struct resource *holder = acl_acpi_holder(cse, target, &owned);
    if (!holder) { *why = "the parent is gone"; return false; }
    json_t *acpi = json_object_get(holder->attrs, "acpi");
    bool permit = false;
    if (json_array_size(acpi)) {
        bool self = acop == ACOP_UPDATE && updates_acpi(req) && holder == target;
        if (req) touched_attributes(req, target, acop, &sub);
        size_t i;
        json_t *id;
        *why = "no referenced ACP exists";
        json_array_foreach(acpi, i, id) {
            if (!json_is_string(id)) continue;
            struct acp_entry *e = acp_get(cse, json_string_value(id));
            if (e->found && (permit = acr_permits(self ? e->pvs : e->pv, &sub.s, why))) break;
        }
        if (!permit && self) *why = "changing acpi needs UPDATE in the pvs of a referenced ACP";
    } else {
        permit = default_policy(cse, holder, &sub, why);
    }
    resource_free(owned);
    return permit;
}

bool acl_permits_children(struct cse *cse, const struct m2m_request *req, const struct resource *parent,
                          int child_ty, int acop)
{
    const struct resource_type *t = registry_find(&cse->types, child_ty);
    if (!t || has_acpi(t) || child_ty == TY_ACP || (t->flags & RT_ROOT)) return false;
    /* decide()'s grants that precede any look at the target. */
    const char *fr = req ? req->fr : NULL;
    if (!req || req->cse_itself) return true;
    if (!fr || !*fr || strlen(fr) >= MAX_ID) return false;
    if (cse->cfg.admin[0] && !strcmp(fr, cse->cfg.admin)) return true;
    /* A child stands in with its type only: make_subject() reads no more of
     * it without attributes, and attrs_known stays false. */
    struct resource child = { .ty = child_ty };
    struct subject sub;
    if (!make_subject(cse, req, fr, &child, acop, NULL, false, &sub)) return false;
    if (is_admin(cse, &sub.who)) return true;
    struct resource *owned;
    const struct resource *holder = acl_acpi_holder(cse, parent, &owned);
    if (!holder) return false;
    json_t *acpi = json_object_get(holder->attrs, "acpi");
    const char *why;
    bool permit = false;
    if (json_array_size(acpi)) {
        size_t i;
        json_t *id;
        json_array_foreach(acpi, i, id) {
            if (!json_is_string(id)) continue;
            struct acp_entry *e = acp_get(cse, json_string_value(id));
            if (e->found && (permit = acr_permits(e->pv, &sub.s, &why))) break;
        }
    } else {
        permit = default_policy(cse, holder, &sub, &why);
    }
    resource_free(owned);
    return permit;
}

const char *acl_acop_name(int acop)
{
    switch (acop) {
    case ACOP_CREATE: return "CREATE";
    case ACOP_RETRIEVE: return "RETRIEVE";
    case ACOP_UPDATE: return "UPDATE";
    case ACOP_DELETE: return "DELETE";
    case ACOP_NOTIFY: return "NOTIFY";
    case ACOP_DISCOVERY: return "DISCOVERY";
    default: return "?";
    }
}

bool acl_permits_with(struct cse *cse, const struct m2m_request *req, const char *fr,
                      const struct resource *target, int acop, const struct acl_extra *x)
{
    const char *why;
    if (!x->pv && !x->parsed) return decide(cse, req, fr, target, acop, x, &why);
    struct subject sub;
    if (!fr || strlen(fr) >= MAX_ID || !make_subject(cse, req, fr, target, acop, x, true, &sub)) return false;
    if (x->parsed) return acr_permits(x->parsed, &sub.s, &why);
    struct acr_set *set = acl_parse_privileges(cse, x->pv);
    bool permit = set && acr_permits(set, &sub.s, &why);
    acr_free(set);
    return permit;
}

struct acr_set *acl_parse_privileges(struct cse *cse, json_t *pv)
{
    char err[256];
    return acr_parse(pv, is_group_entry, cse, err, sizeof err);
}

struct role_list { json_t *out; };

static void add_role(void *data, const char *role)
{
    struct role_list *l = data;
    size_t i;
    json_t *v;
    json_array_foreach(l->out, i, v)
        if (!strcmp(json_string_value(v), role)) return;
    json_array_append_new(l->out, json_string(role));
}

json_t *acl_role_candidates(struct cse *cse, const struct m2m_request *req, const char *fr,
                            const struct resource *target, int acop)
{
    struct role_list l = { json_array() };
    struct subject sub;
    if (!fr || strlen(fr) >= MAX_ID || !make_subject(cse, req, fr, target, acop, NULL, true, &sub)) return l.out;
    struct resource *owned;
    const struct resource *holder = target->ty == TY_ACP ? target : acl_acpi_holder(cse, target, &owned);
    if (target->ty == TY_ACP) owned = NULL;
    size_t i;
    json_t *id;
    json_array_foreach(holder ? json_object_get(holder->attrs, "acpi") : NULL, i, id) {
        if (!json_is_string(id)) continue;
        struct acp_entry *e = acp_get(cse, json_string_value(id));
        if (e->found) acr_roles(e->pv, &sub.s, add_role, &l);
    }
    if (target->ty == TY_ACP) {
        struct acp_entry *e = acp_get(cse, res_ri(target));
        if (e->found) acr_roles(e->pvs, &sub.s, add_role, &l);
    }
    resource_free(owned);
    return l.out;
}

/* ---- the ACP decider and the chain ------------------------------------------- */

static enum authz_answer acp_decide(struct cse *cse, const struct authz_query *q, const char **why)
{
    return decide(cse, q->req, q->originator, q->target, q->acop, NULL, why) ? AUTHZ_GRANT : AUTHZ_DENY;
}

static const struct authz_decider acp_decider = { "acp", acp_decide, NULL };

/* The chain's answer as an RSC: 0, DISPATCH_PENDING, or 4103 (audited). */
static int chain_check(struct cse *cse, const struct authz_query *q)
{
    struct authz_result r;
    authz_run(cse, q, &r);
    if (r.answer == AUTHZ_GRANT) return 0;
    if (r.answer == AUTHZ_PENDING) return DISPATCH_PENDING;
    const char *fr = q->originator ? q->originator : "";
    audit_decision(cse->acl ? cse->acl->audit : NULL, fr, q->target->path, acl_acop_name(q->acop), "deny",
                   r.decider, r.why);
    metrics_denial(cse->metrics, r.decider);
    log_debug("authz: %s may not %s %s: %s (%s)", *fr ? fr : "-", acl_acop_name(q->acop), q->target->path,
              r.why, r.decider);
    return RSC_ORIGINATOR_HAS_NO_PRIVILEGE;
}

bool acl_permits(struct cse *cse, const struct m2m_request *req, const struct resource *target, int acop)
{
    struct authz_query q = { req, req ? req->fr : NULL, target, acop, false };
    struct authz_result r;
    authz_run(cse, &q, &r);
    return r.answer == AUTHZ_GRANT;
}

int acl_check(struct cse *cse, const struct m2m_request *req, const struct resource *target, int acop)
{
    bool may_wait = req && req->cont && req->cont->may_defer;
    struct authz_query q = { req, req ? req->fr : NULL, target, acop, may_wait };
    return chain_check(cse, &q);
}

int acl_check_notify(struct cse *cse, const char *originator, const struct resource *target)
{
    struct authz_query q = { NULL, originator ? originator : "", target, ACOP_NOTIFY, false };
    return chain_check(cse, &q);
}

bool acl_conceals_missing(struct cse *cse, const struct m2m_request *req, const char *local)
{
    if (!req || !local || !strchr(local, '/')) return false;
    char *prefix = strdup(local);
    bool conceal = false;
    for (char *slash; (slash = strrchr(prefix, '/'));) {
        *slash = 0;
        struct resource *r = NULL;
        if (address_resolve(cse, prefix, &r)) continue;
        conceal = !acl_permits(cse, req, r, ACOP_RETRIEVE) && !acl_permits(cse, req, r, ACOP_DISCOVERY);
        resource_free(r);
        break;
    }
    free(prefix);
    return conceal;
}

int acl_validate_acpi(struct cse *cse, json_t *acpi, struct m2m_response *rsp)
{
    size_t i;
    json_t *id;
    json_array_foreach(acpi, i, id) {
        struct resource *r = address_lookup(cse, json_string_value(id));
        int ty = r ? r->ty : 0;
        resource_free(r);
        if (!is_policy(ty))
            return m2m_error(rsp, RSC_BAD_REQUEST, "acpi entry '%s' is not an accessControlPolicy of this CSE",
                             json_string_value(id));
    }
    return 0;
}

int acl_validate_custodian(struct cse *cse, json_t *content, struct m2m_response *rsp)
{
    const char *cstn = json_string_value(json_object_get(content, "cstn"));
    struct ident_home home = cse_home(cse);
    struct ident_forms f;
    if (!cstn) return 0;
    bool plain = strlen(cstn) < MAX_ID;
    for (const char *c = cstn; plain && *c; c++) plain = *c > ' ' && *c < 127 && *c != '*';
    if (!plain || !ident_forms(&home, cstn, &f))
        return m2m_error(rsp, RSC_BAD_REQUEST, "cstn must be an AE-ID or CSE-ID (no wildcards or white space)");
    return 0;
}

/* ---- after a write -------------------------------------------------------------- */

static bool acpi_in_request(const struct m2m_request *req)
{
    const char *key;
    json_t *inner;
    json_object_foreach(req->pc, key, inner)
        if (json_is_object(inner) && json_object_get(inner, "acpi")) return true;
    return false;
}

static char *acpi_text(const struct m2m_request *req)
{
    const char *key;
    json_t *inner;
    json_object_foreach(req->pc, key, inner) {
        json_t *acpi = json_is_object(inner) ? json_object_get(inner, "acpi") : NULL;
        if (acpi) return json_dumps(acpi, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    return NULL;
}

void acl_after_write(struct cse *cse, const struct m2m_request *req, const struct resource *target,
                     const struct m2m_response *rsp)
{
    if (!req || !target) return;
    int ty = req->op == OP_CREATE ? req->ty : target->ty;
    /* Any delete may take ACPs or groups with a subtree; cheap to refill. */
    if (req->op == OP_DELETE || is_policy(ty) || ty == TY_GRP) acl_invalidate(cse);
    /* Only ACP writes and acpi changes are audited; skip the formatting
     * below for everything else (every contentInstance CREATE gets here). */
    bool acpi_change = (req->op == OP_CREATE || req->op == OP_UPDATE) && acpi_in_request(req);
    if (ty != TY_ACP && !acpi_change) return;
    struct audit *log = cse->acl ? cse->acl->audit : NULL;
    const char *fr = req->fr ? req->fr : "";
    char what[600];
    char where[600];
    snprintf(where, sizeof where, "%s", target->path);
    if (req->op == OP_CREATE) {
        const char *rn = json_string_value(json_object_get(json_object_get(req->pc, registry_find(&cse->types, ty) ?
                                           registry_find(&cse->types, ty)->key : ""), "rn"));
        snprintf(where, sizeof where, "%s/%s", target->path, rn ? rn : rsp->location ? rsp->location : "?");
    }
    if (ty == TY_ACP) {
        static const char *const verbs[] = { "", "created", "", "updated", "deleted" };
        snprintf(what, sizeof what, "accessControlPolicy %s", verbs[req->op <= OP_DELETE ? req->op : 0]);
        audit_record(log, fr, where, req->op == OP_CREATE ? "CREATE" : req->op == OP_UPDATE ? "UPDATE" : "DELETE",
                     "permit", what);
        return;
    }
    if (req->op == OP_CREATE || req->op == OP_UPDATE) {
        char *acpi = acpi_text(req);
        if (!acpi) return;
        snprintf(what, sizeof what, "acpi set to %s", acpi);
        audit_record(log, fr, where, req->op == OP_CREATE ? "CREATE" : "UPDATE", "permit", what);
        free(acpi);
    }
}

/* ---- life cycle ------------------------------------------------------------------ */

/* A failed group commit rolled back what the cache may have read. */
static void after_commit(void *data, bool ok)
{
    if (!ok) acl_invalidate(data);
}

int acl_open(struct cse *cse)
{
    cse->acl = calloc(1, sizeof *cse->acl);
    if (!cse->acl) return -1;
    if (cse_on_commit(cse, after_commit, cse)) return -1;
    /* The ACP decider comes first in the chain; others (the DAS) follow. */
    bool present = false;
    for (int i = 0; i < cse->ndeciders; i++) present |= cse->deciders[i] == &acp_decider;
    if (!present) {
        memmove(cse->deciders + 1, cse->deciders, (size_t)cse->ndeciders * sizeof *cse->deciders);
        cse->deciders[0] = &acp_decider;
        cse->ndeciders++;
    }
    if (strcmp(cse->cfg.db_file, ":memory:")) {
        char path[320];
        snprintf(path, sizeof path, "%s/audit.log", cse->cfg.data_dir);
        cse->acl->audit = audit_open(path, cse->cfg.audit_max_bytes, cse->cfg.audit_keep);
    }
    return 0;
}

struct audit *acl_audit_log(struct cse *cse)
{
    return cse->acl ? cse->acl->audit : NULL;
}

void acl_close(struct cse *cse)
{
    if (!cse->acl) return;
    acl_invalidate(cse);
    audit_close(cse->acl->audit);
    free(cse->acl);
    cse->acl = NULL;
}
