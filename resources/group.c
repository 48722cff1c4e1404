/* <group> (ty 9): a set of member resources and the `fopt` virtual child
 * that fans any operation out to them (TS-0001 10.2.7, TS-0004 7.4.13). */
#include "registry.h"

#include "group.h"

#include "../cse/core/address.h"
#include "../cse/core/cse.h"
#include "../cse/base/log.h"
#include "../cse/core/rsc.h"
#include "../security/acl.h"
#include "../cse/base/json_text.h"

#include <stdlib.h>
#include <string.h>

enum csy { CSY_ABANDON_MEMBER = 1, CSY_ABANDON_GROUP = 2, CSY_SET_MIXED = 3 };

#define MAX_FANOUT_DEPTH 4

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI, ATTR_CSTN, ATTR_CR,
    { "mt", A_NNINT, O, NP, 0, 0 },
    { "cnm", A_NNINT, NP, NP, 0, 0 },
    { "mnm", A_POSINT, M, O, 0, 0 },
    { "mid", A_URILIST, M, O, 0, 0 },
    { "macp", A_URILIST, O, O, 0, 0 },
    { "mtv", A_BOOL, NP, NP, 0, 0 },
    { "csy", A_ENUM, O, NP, 1, 3 },
    { "gn", A_STR, O, O, 0, 0 },
};

/* A member ID as stored, split into the resource it names and whether it
 * addresses that group's fopt (only such group members are fanned out). */
static int member_resource(struct cse *cse, const char *id, struct resource **out, bool *remote)
{
    struct address a;
    *out = NULL;
    *remote = false;
    int rc = address_parse(cse, id, &a);
    if (rc) return rc;
    if (a.remote || a.attr) {
        *remote = a.remote;
        address_clear(&a);
        return *remote ? 0 : RSC_BAD_REQUEST;
    }
    size_t n = strlen(a.local);
    if (n > 5 && !strcmp(a.local + n - 5, "/fopt")) a.local[n - 5] = 0;
    rc = address_resolve(cse, a.local, out);
    address_clear(&a);
    return rc;
}

/* Removes duplicates, checks existence and type consistency per csy. */
static int validate_members(struct op_ctx *ctx)
{
    struct resource *grp = ctx->res;
    json_t *mid = json_object_get(grp->attrs, "mid");
    int64_t mt = res_int(grp, "mt", 0), csy = res_int(grp, "csy", CSY_ABANDON_MEMBER);
    json_t *kept = json_array();
    bool validated = true;
    size_t i;
    json_t *v;
    json_array_foreach(mid, i, v) {
        const char *id = json_string_value(v);
        bool dup = false;
        size_t k;
        json_t *w;
        json_array_foreach(kept, k, w) dup |= !strcmp(json_string_value(w), id);
        if (dup) continue;
        struct resource *m;
        bool remote;
        int rc = member_resource(ctx->cse, id, &m, &remote);
        if (rc) {
            json_decref(kept);
            return m2m_error(ctx->rsp, rc == RSC_NOT_FOUND ? RSC_NOT_FOUND : RSC_BAD_REQUEST,
                             "member '%s' %s", id, rc == RSC_NOT_FOUND ? "does not exist" : "is not a valid ID");
        }
        if (remote) validated = false; /* other CSEs' members are not checked here */
        if (m && mt != 0 && m->ty != mt) {
            if (csy == CSY_ABANDON_GROUP) {
                int ty = m->ty;
                resource_free(m);
                json_decref(kept);
                return m2m_error(ctx->rsp, RSC_GROUP_MEMBER_TYPE_INCONSISTENT,
                                 "member '%s' is of type %d, the group's memberType is %lld", id, ty,
                                 (long long)mt);
            }
            if (csy == CSY_ABANDON_MEMBER) { resource_free(m); continue; }
            mt = 0; /* SET_MIXED */
        }
        resource_free(m);
        json_array_append(kept, v);
    }
    int64_t mnm = res_int(grp, "mnm", 0);
    if ((int64_t)json_array_size(kept) > mnm) {
        json_decref(kept);
        return m2m_error(ctx->rsp, RSC_MAX_NUMBER_OF_MEMBER_EXCEEDED,
                         "%zu members exceed maxNrOfMembers %lld", json_array_size(mid), (long long)mnm);
    }
    if (!json_equal(kept, mid)) json_object_set(ctx->modified, "mid", kept);
    if (mt != res_int(grp, "mt", 0)) json_object_set_new(ctx->modified, "mt", json_integer(mt));
    json_object_set_new(grp->attrs, "mid", kept);
    json_object_set_new(grp->attrs, "mt", json_integer(mt));
    json_object_set_new(grp->attrs, "cnm", json_integer((json_int_t)json_array_size(kept)));
    json_object_set_new(grp->attrs, "mtv", json_boolean(validated));
    json_object_set(ctx->modified, "cnm", json_object_get(grp->attrs, "cnm"));
    json_object_set(ctx->modified, "mtv", json_object_get(grp->attrs, "mtv"));
    return 0;
}

/* mid and cnm follow member deletion: a local member that no longer
 * exists is dropped (members on other CSEs and malformed entries stay).
 * Done where the group is read, written or fanned out, not when the member
 * goes: a DELETE would otherwise have to search every group. */
static json_t *live_members(struct cse *cse, json_t *mid)
{
    json_t *kept = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(mid, i, v) {
        struct resource *m = NULL;
        bool remote = false;
        if (member_resource(cse, json_string_value(v), &m, &remote) != RSC_NOT_FOUND)
            json_array_append(kept, v);
        resource_free(m);
    }
    return kept;
}

static void drop_deleted_members(struct op_ctx *ctx)
{
    struct resource *grp = ctx->res;
    json_t *mid = json_object_get(grp->attrs, "mid"), *kept = live_members(ctx->cse, mid);
    if (json_array_size(kept) != json_array_size(mid)) {
        json_object_set_new(grp->attrs, "cnm", json_integer((json_int_t)json_array_size(kept)));
        json_object_set(grp->attrs, "mid", kept);
        json_object_set(ctx->modified, "mid", kept);
        json_object_set(ctx->modified, "cnm", json_object_get(grp->attrs, "cnm"));
    }
    json_decref(kept);
}

static int grp_retrieve(struct op_ctx *ctx)
{
    drop_deleted_members(ctx);
    return 0;
}

/* macp entries, like acpi ones, must name existing local ACPs. */
static int check_macp(struct op_ctx *ctx)
{
    json_t *macp = json_object_get(ctx->content, "macp");
    return macp && !json_is_null(macp) ? acl_validate_acpi(ctx->cse, macp, ctx->rsp) : 0;
}

static int grp_create(struct op_ctx *ctx)
{
    int rc = check_macp(ctx);
    if (rc) return rc;
    if (!json_object_get(ctx->res->attrs, "csy"))
        json_object_set_new(ctx->res->attrs, "csy", json_integer(CSY_ABANDON_MEMBER));
    return validate_members(ctx);
}

static int grp_update(struct op_ctx *ctx)
{
    int rc = check_macp(ctx);
    if (rc) return rc;
    /* Members are checked when they change; members deleted since are
     * dropped (and the store follows with this write). */
    if (json_object_get(ctx->content, "mid")) return validate_members(ctx);
    drop_deleted_members(ctx);
    if (res_int(ctx->res, "mnm", 0) < res_int(ctx->res, "cnm", 0))
        return m2m_error(ctx->rsp, RSC_MAX_NUMBER_OF_MEMBER_EXCEEDED, "maxNrOfMembers %lld is below the %lld members",
                         (long long)res_int(ctx->res, "mnm", 0), (long long)res_int(ctx->res, "cnm", 0));
    return 0;
}

const struct resource_type type_group = {
    .ty = TY_GRP, .sn = "grp", .key = "m2m:grp",
    .parents = (const int[]){ TY_CSEBASE, TY_AE, TY_CSR, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_CREATOR | RT_SUBSCRIBABLE | RT_ANNOUNCEABLE,
    .on_create = grp_create,
    .on_update = grp_update,
    .on_retrieve = grp_retrieve,
    .virtual_children = (const char *const[]){ "fopt", "sfop", NULL },
};

/* --- fopt fan-out ------------------------------------------------------------ */

/* The member's target: its ID with the rest of the fopt path appended. */
static char *member_target(const char *id, const char *rest)
{
    size_t n = strlen(id) + (rest ? strlen(rest) + 1 : 0) + 1;
    char *to = malloc(n);
    if (to) snprintf(to, n, "%s%s%s", id, rest ? "/" : "", rest ? rest : "");
    return to;
}

static json_t *member_response(struct cse *cse, const char *to, const struct m2m_response *r)
{
    json_t *o = json_pack("{s:i,s:s,s:s,s:s}", "rsc", r->rsc, "rqi", r->rqi ? r->rqi : "",
                          "to", to, "fr", cse->csi);
    if (r->pc) json_object_set(o, "pc", r->pc);
    return o;
}

/* grtm (groupRequestTargetMembers, '&'- or space-separated): the members
 * to address, each of which must be one (else 4000). NULL = all. */
static int target_members(json_t *mid, const char *grtm, struct m2m_response *rsp, json_t **out)
{
    *out = NULL;
    if (!grtm) return 0;
    json_t *list = json_array();
    char *copy = strdup(grtm), *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(copy, "& ", &save); t && !rc; t = strtok_r(NULL, "& ", &save)) {
        if (!json_strlist_has(mid, t)) rc = m2m_error(rsp, RSC_BAD_REQUEST, "'%s' in grtm is not a member", t);
        else json_array_append_new(list, json_string(t));
    }
    free(copy);
    if (rc) json_decref(list);
    else *out = list;
    return rc;
}

/* Runs one member and returns its m2m:rsp entry, or NULL when it waits
 * for outside answers (a subscription's verification, a forwarded NOTIFY).
 * Then the whole fan-out waits and runs again once they are in (see
 * cse_dispatch_async); what each member did or waits with is kept in
 * req->cont->members under its target, so that a member that completed (and
 * committed) is not run twice, and one that waited keeps its ri. */
static json_t *run_member(struct cse *cse, const struct m2m_request *req, struct m2m_request *sub)
{
    struct m2m_continuation *k = req->cont;
    json_t *saved = k ? json_object_get(k->members, sub->to) : NULL;
    json_t *wait = json_object_get(saved, "wait");
    if (saved && !wait) return json_incref(saved); /* answered in an earlier run */
    struct m2m_continuation mk = { .may_defer = k && k->may_defer, .verified = k ? k->verified : NULL };
    if (wait) {
        snprintf(mk.ri, sizeof mk.ri, "%s", json_string_value(json_object_get(wait, "ri")));
        mk.members = json_incref(json_object_get(wait, "members"));
    }
    sub->cont = k ? &mk : NULL;
    struct m2m_response r;
    m2m_response_init(&r);
    /* Each member runs for the originator, with its security association. */
    struct cse_principal who = { PRINCIPAL_ORIGINATOR, req->fr, &req->sec };
    cse_submit(cse, &who, sub, &r, NULL, NULL, NULL);
    json_t *entry = NULL;
    if (k && !k->members) k->members = json_object();
    if (json_array_size(mk.wanted)) {
        if (!k->wanted) k->wanted = json_array();
        json_array_extend(k->wanted, mk.wanted);
        json_object_set_new(k->members, sub->to, json_pack("{s:{s:s,s:O*}}", "wait", "ri", mk.ri,
                                                           "members", mk.members));
    } else {
        entry = member_response(cse, sub->to, &r);
        if (k) json_object_set(k->members, sub->to, entry);
    }
    json_decref(mk.wanted);
    json_decref(mk.members);
    m2m_response_clear(&r);
    sub->cont = NULL;
    return entry;
}

int group_fanout(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp,
                 const struct resource *grp, const char *rest)
{
    if (cse->fanout_depth >= MAX_FANOUT_DEPTH)
        return m2m_error(rsp, RSC_BAD_REQUEST, "groups nest too deep through fopt");
    json_t *live = live_members(cse, json_object_get(grp->attrs, "mid")), *mid = live, *chosen;
    if (!json_array_size(mid)) {
        json_decref(live);
        return m2m_error(rsp, RSC_NO_MEMBERS, "the group has no members");
    }
    int rc = target_members(mid, req->grtm, rsp, &chosen);
    if (rc) {
        json_decref(live);
        return rc;
    }
    if (chosen) mid = chosen;
    json_t *list = json_array();
    bool waiting = false;
    size_t i;
    json_t *v;
    cse->fanout_depth++;
    json_array_foreach(mid, i, v) {
        /* Each member gets the same primitive with its own target. */
        struct m2m_request sub = *req;
        sub.grtm = NULL; /* it chose among this group's members only */
        sub.to = member_target(json_string_value(v), rest);
        if (!sub.to) continue;
        json_t *entry = run_member(cse, req, &sub);
        for (int k = req->natrl; k < sub.natrl; k++) free(sub.atrl[k]);
        if (entry) json_array_append_new(list, entry);
        else waiting = true;
        free(sub.to);
    }
    cse->fanout_depth--;
    json_decref(chosen);
    json_decref(live);
    if (waiting) {
        json_decref(list);
        return DISPATCH_PENDING;
    }
    rsp->rsc = RSC_OK;
    rsp->pc = json_pack("{s:{s:o}}", "m2m:agr", "m2m:rsp", list);
    return 0;
}
bool group_fopt_target(struct cse *cse, const char *local, struct resource **grp, char **rest)
{
    char *head;
    *grp = NULL;
    if (!address_split_virtual(local, "fopt", &head, rest)) return false;
    struct resource *r = NULL;
    int rc = address_resolve(cse, head, &r);
    free(head);
    if (rc || r->ty != TY_GRP) {
        resource_free(r);
        free(*rest);
        *rest = NULL;
        return false;
    }
    *grp = r;
    return true;
}

int group_fopt_access(struct cse *cse, const struct m2m_request *req, const struct resource *grp, int acop)
{
    json_t *macp = json_object_get(grp->attrs, "macp");
    if (!json_array_size(macp)) return acl_check(cse, req, grp, acop);
    /* The same decision, with the group's policies swapped for macp. */
    struct resource *as_members = resource_dup(grp);
    if (!as_members) return RSC_ORIGINATOR_HAS_NO_PRIVILEGE;
    json_object_set(as_members->attrs, "acpi", macp);
    int rc = acl_check(cse, req, as_members, acop);
    resource_free(as_members);
    return rc;
}
