/* The announced variants (…Annc, ty = original + 10000; TS-0001 9.6.26,
 * TS-0004 7.4.x "Annc"): one descriptor per announceable type, derived from
 * the original's, not written out type by type. An announced resource is a
 * copy of some of the original's attributes plus lnk (the original's
 * address), kept by the announcing CSE; this CSE only stores and serves it.
 * Why derived: the announced attributes are the original's optional ones,
 * so a hand-written table per type would repeat every type file
 * (docs/decisions.md, "Announced types"). The announcing side: cse/events/announce.h. */
#include "announced.h"

#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"

#include <stdio.h>
#include <string.h>

#define ANNC_MAX 24
#define ANNC_ATTRS_MAX 64
#define ANNC_PARENTS_MAX 12

struct annc_slot {
    const struct resource_type *orig;
    struct resource_type type;
    struct attr_def attrs[ANNC_ATTRS_MAX];
    int parents[ANNC_PARENTS_MAX];
    char sn[16], key[80];
};

/* Built once: the core descriptors they derive from never change. */
static struct annc_slot slots[ANNC_MAX];
static int nslots;

static bool universal(const char *sn)
{
    static const char *const u[] = { "rn", "ty", "ri", "pi", "ct", "lt" };
    for (size_t i = 0; i < sizeof u / sizeof *u; i++)
        if (!strcmp(u[i], sn)) return true;
    return false;
}

bool annc_attr_announceable(const char *sn)
{
    /* at/aa steer the announcement, cr and st are the original's own. */
    return !universal(sn) && strcmp(sn, "at") && strcmp(sn, "aa") && strcmp(sn, "cr") && strcmp(sn, "st");
}

/* The CSE-ID an SP-relative or absolute address starts with ("/id-mn/x" ->
 * "/id-mn", "//sp/id-mn/x" -> "//sp/id-mn"), into out; false when it has none. */
static bool cse_of_address(const char *lnk, char *out, size_t cap)
{
    if (!lnk || lnk[0] != '/') return false;
    const char *p = lnk + 1;
    if (*p == '/') {                       /* absolute: //sp/cse/... */
        p = strchr(p + 1, '/');
        if (!p) return false;
        p++;
    }
    const char *end = strchr(p, '/');
    if (!end || end == p || !end[1] || (size_t)(end - lnk) >= cap) return false;
    memcpy(out, lnk, (size_t)(end - lnk));
    out[end - lnk] = 0;
    return true;
}

/* The announcing CSE owns what it announced: lnk names it. The buffer
 * lives until the next call (the access decision reads it at once). */
static const char *annc_owner(const struct resource *res)
{
    static char csi[80];
    return cse_of_address(res_str(res, "lnk"), csi, sizeof csi) ? csi : NULL;
}

/* lnk must address a resource on another CSE, and a CSE may only announce
 * its own resources (the admin may place any). */
static int annc_create(struct op_ctx *ctx)
{
    const char *lnk = res_str(ctx->res, "lnk");
    char csi[80];
    if (!cse_of_address(lnk, csi, sizeof csi))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST,
                         "lnk must be the original's SP-relative or absolute address (/<cse-id>/<ri>)");
    struct ident_home home = cse_home(ctx->cse);
    if (ident_same(&home, csi, ctx->cse->csi))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "lnk must address a resource on another CSE");
    const char *fr = ctx->req ? ctx->req->fr : NULL;
    bool admin = fr && ctx->cse->cfg.admin[0] && !strcmp(fr, ctx->cse->cfg.admin);
    if (fr && fr[0] == '/' && !admin && !ident_same(&home, csi, fr))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "lnk names %s, but only that CSE may announce its resources", csi);
    return 0;
}

static int derive_attrs(const struct resource_type *t, struct attr_def *out)
{
    int n = 0;
    for (int i = 0; i < t->nattrs && n < ANNC_ATTRS_MAX - 1; i++) {
        struct attr_def a = t->attrs[i];
        if (!universal(a.sn)) {
            if (!annc_attr_announceable(a.sn)) continue;
            /* Every announced attribute is optional and may change (or go). */
            a.create = O;
            a.update = O;
        }
        out[n++] = a;
    }
    out[n++] = (struct attr_def){ "lnk", A_URI, M, NP, 0, 0 };
    return n;
}

static const struct resource_type *derive(const struct registry *r, const struct resource_type *t)
{
    for (int i = 0; i < nslots; i++)
        if (slots[i].orig == t) return &slots[i].type;
    if (nslots == ANNC_MAX) return NULL;
    struct annc_slot *s = &slots[nslots];
    s->orig = t;
    snprintf(s->sn, sizeof s->sn, "%sA", t->sn);
    snprintf(s->key, sizeof s->key, "%sA", t->key);
    /* Under the announcing CSE's <remoteCSE>, or under the announced
     * variant of any parent the original may have. */
    int np = 0;
    s->parents[np++] = TY_CSR;
    for (const int *p = t->parents; p && *p && np < ANNC_PARENTS_MAX - 1; p++)
        if (type_flags(r, *p) & RT_ANNOUNCEABLE) s->parents[np++] = *p + TY_ANNC_OFFSET;
    s->parents[np] = 0;
    unsigned flags = RT_SUBSCRIBABLE | (t->flags & (RT_SPECIALIZED | RT_CUSTOM_ATTRS));
    /* A closed set of specialisations (mgmtObj): their attributes are not
     * the base table's, so any announced one is taken as it comes. */
    if (t->specialisations) flags |= RT_CUSTOM_ATTRS;
    s->type = (struct resource_type){
        .ty = t->ty + TY_ANNC_OFFSET, .sn = s->sn, .key = s->key,
        .parents = s->parents, .attrs = s->attrs, .nattrs = derive_attrs(t, s->attrs),
        .flags = flags, .on_create = annc_create, .owner = annc_owner,
    };
    nslots++;
    return &s->type;
}

void announced_register(struct registry *r)
{
    int n = r->n;
    for (int i = 0; i < n; i++) {
        const struct resource_type *t = r->types[i];
        if (!(t->flags & RT_ANNOUNCEABLE) || t->ty >= TY_ANNC_OFFSET) continue;
        const struct resource_type *a = derive(r, t);
        if (a) registry_add(r, a);
    }
}

const char *const *annc_mandatory(int ty)
{
    static const char *const common[] = { "lbl", "et", NULL };
    /* An announced ACP is what decides at the target: its privileges go. */
    static const char *const acp[] = { "lbl", "et", "pv", "pvs", NULL };
    return ty == TY_ACP ? acp : common;
}
