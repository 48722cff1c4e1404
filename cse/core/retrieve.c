/* RETRIEVE: plain, partial (atrl / #attr), conditional, with children
 * (rcn 4/5/6/8) and discovery (fu=1). */
#include "dispatch.h"

#include "../events/announce.h"

#include "address.h"
#include "../base/clock.h"
#include "../base/json_text.h"
#include "filter.h"
#include "metrics.h"
#include "rsc.h"
#include "../../security/acl.h"

#include <stdlib.h>
#include <string.h>

/* Discovery and child listings stop here even without `lim`, so one request
 * cannot build an unbounded reply; cnst/cnot tell the client to page on. */
#define MAX_RESULTS 10000

struct collect {
    struct cse *cse;
    const struct m2m_request *req;
    const struct m2m_filter *fc;
    bool apply_filter;
    int64_t skip;              /* ofst - 1 matches still to skip */
    int64_t limit;
    int64_t taken;
    bool truncated;
    int64_t seen;              /* matches counted so far (for cnot) */
    int drt;
    /* outputs, by mode */
    json_t *uris;              /* m2m:uril entries */
    json_t *refs;              /* rrf / ch entries */
    json_t *objects;           /* ri -> representation object (rcn 4/8) */
    json_t *root_attrs;        /* where direct children attach (rcn 4/8) */
    const char *root_ri;
    json_t *hidden;            /* ri set: resources whose subtree is skipped */
    json_t *no_instances;      /* ri set: containers with disableRetrieval */
    const char *target_ri;
    int scan_ty;               /* the store scans this type only (0: every row) */
    bool sparse;               /* the scan skips rows, ancestors among them */
    json_t *passed;            /* ri set: ancestors read and found visible (sparse) */
    ts_buf now;                /* expired resources not yet swept are skipped */
    /* Slices (LISTING_ROWS_PER_ROUND): a plain scan that may yield stops
     * after rows_left rows with `paused` set; `at` is where it goes on. */
    bool may_pause, paused;
    int64_t rows_left, slice_end_us;
    struct store_cursor at;
    /* children_permitted()'s last answer; forgotten between slices (the
     * policies may change between them). */
    struct { bool valid, permitted; int ty; char pi[128]; } grant;
};

/* A listing between two loop rounds, and what it builds. */
struct paused_scan {
    struct collect c;
    json_t *attrs;             /* rcn 4/8: the target's representation so far */
    int rcn;
};

static json_t *child_ref(const struct resource *r, int drt)
{
    char *addr = address_of(r, drt);
    json_t *ref = json_pack("{s:s,s:i,s:s}", "nm", res_rn(r), "typ", r->ty, "val", addr);
    free(addr);
    return ref;
}

/* Accepts a match into the page window; false when it falls outside. */
static bool take(struct collect *c)
{
    c->seen++;
    if (c->skip > 0) { c->skip--; return false; }
    if (c->taken >= c->limit) { c->truncated = true; return false; }
    c->taken++;
    return true;
}

static bool visible(struct collect *c, const struct resource *r, int acop)
{
    return acl_permits(c->cse, c->req, r, acop);
}

/* Parents come before children in a scan, so a resource is hidden when its
 * parent was: an AE with regs=INACTIVE drops out of discovery with its
 * subtree (TS-0001 10.2.2.2), and instances of a container with disr=true
 * are never listed (they cannot be retrieved either). */
static bool hidden(struct collect *c, const struct resource *r);

/* Is the subtree of pi (an ancestor of a scanned row) hidden? A full scan
 * has judged it already; a scan of one type skips ancestors, so each is
 * read and judged once, then remembered. */
static bool ancestor_hidden(struct collect *c, const char *pi)
{
    if (json_object_get(c->hidden, pi)) return true;
    if (!c->sparse || !strcmp(pi, c->target_ri) || json_object_get(c->passed, pi)) return false;
    struct resource *parent = NULL;
    if (store_get(c->cse->store, pi, &parent)) return false;
    bool hide = hidden(c, parent);
    resource_free(parent);
    return hide;
}

static bool hidden(struct collect *c, const struct resource *r)
{
    const char *pi = res_pi(r), *ri = res_ri(r);
    const struct resource_type *t = registry_find(&c->cse->types, r->ty);
    bool hide = ancestor_hidden(c, pi) || res_expired(r, c->now) ||
                (t && (t->flags & RT_INSTANCE) && json_object_get(c->no_instances, pi)) ||
                (t && t->hidden && t->hidden(r, c->req));
    if (hide) json_object_set_new(c->hidden, ri, json_true());
    else if (res_bool(r, "disr", 0)) json_object_set_new(c->no_instances, ri, json_true());
    if (!hide && c->sparse) json_object_set_new(c->passed, ri, json_true());
    return hide;
}

/* The type the store can scan by index: the filter's only ty value, when
 * every match must have it (fo=AND, or ty is the only condition). */
static int indexed_type(const struct m2m_filter *fc)
{
    if (fc->nty != 1) return 0;
    if (fc->fo != 2) return fc->ty[0];
    struct m2m_filter rest = *fc;
    rest.nty = 0;
    return filter_has_conditions(&rest) ? 0 : fc->ty[0];
}

/* Joins a structured path and a relative one, folding "." and "..";
 * NULL when ".." climbs above the CSEBase. */
static char *join_relative(const char *base, const char *rel)
{
    size_t cap = strlen(base) + strlen(rel) + 2;
    char *out = malloc(cap), *work = malloc(cap);
    snprintf(work, cap, "%s/%s", base, rel);
    size_t n = 0;
    char *save = NULL;
    for (char *seg = strtok_r(work, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        if (!strcmp(seg, ".")) continue;
        if (!strcmp(seg, "..")) {
            char *slash = n ? memrchr(out, '/', n) : NULL;
            if (!slash) { free(out); free(work); return NULL; }
            n = (size_t)(slash - out);
            continue;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "/" : "", seg);
    }
    out[n] = 0;
    free(work);
    return out;
}

/* applyRelativePath: the match is replaced by the resource at its path plus
 * arp; matches whose relative resource does not exist, or cannot be
 * retrieved (its type's retrieve hook refuses, e.g. disr), drop out. */
static struct resource *apply_relative_path(struct collect *c, const struct resource *r)
{
    char *path = join_relative(r->path, c->fc->arp);
    struct resource *out = NULL;
    if (path && !address_resolve(c->cse, path, &out)) {
        const struct resource_type *t = registry_find(&c->cse->types, out->ty);
        struct m2m_response scratch;
        m2m_response_init(&scratch);
        struct resource *parent = t && t->on_retrieve ? cse_parent(c->cse, out) : NULL;
        struct op_ctx ctx = { c->cse, c->req, &scratch, parent, out, NULL, NULL, NULL };
        if ((t && t->on_retrieve && t->on_retrieve(&ctx)) || !visible(c, out, ACOP_DISCOVERY)) {
            resource_free(out);
            out = NULL;
        }
        m2m_response_clear(&scratch);
    }
    free(path);
    return out;
}

static void append_reference(struct collect *c, const struct resource *r)
{
    if (c->uris) {
        char *addr = address_of(r, c->drt);
        json_array_append_new(c->uris, json_string(addr));
        free(addr);
    }
    if (c->refs) json_array_append_new(c->refs, child_ref(r, c->drt));
}

static int collect_match(struct resource *r, void *data)
{
    struct collect *c = data;
    if (hidden(c, r)) return 0;
    if (c->apply_filter && !filter_match(c->fc, c->cse->store, r)) return 0;
    if (!visible(c, r, c->req->fc.fu == 1 ? ACOP_DISCOVERY : ACOP_RETRIEVE)) return 0;
    struct resource *relative = NULL;
    if (c->fc->arp && !(relative = apply_relative_path(c, r))) return 0;
    if (!take(c)) { resource_free(relative); return c->truncated ? 1 : 0; }
    append_reference(c, relative ? relative : r);
    resource_free(relative);
    if (c->objects) {
        /* Nest under the parent's object; children of skipped nodes drop out. */
        const char *pi = res_pi(r);
        json_t *parent = !strcmp(pi, c->root_ri) ? c->root_attrs : json_object_get(c->objects, pi);
        if (parent) {
            const struct resource_type *t = registry_find(&c->cse->types, r->ty);
            const char *key = t ? type_key(t, r) : "m2m:unknown";
            json_t *list = json_object_get(parent, key);
            if (!list) { list = json_array(); json_object_set_new(parent, key, list); }
            json_t *wire = wire_attrs(r->attrs), *copy = json_copy(wire);
            json_decref(wire);
            json_array_append(list, copy);
            json_object_set_new(c->objects, res_ri(r), copy);
        }
    }
    return 0;
}

/* May every child of type ty under pi be counted unread
 * (acl_permits_children)? Asked once per parent and type in a slice:
 * instances of one container come one after the other. */
static bool children_permitted(struct collect *c, const char *pi, int ty)
{
    if (c->grant.valid && c->grant.ty == ty && !strcmp(c->grant.pi, pi)) return c->grant.permitted;
    c->grant.valid = strlen(pi) < sizeof c->grant.pi;
    c->grant.permitted = false;
    if (!c->grant.valid) return false;
    strcpy(c->grant.pi, pi);
    c->grant.ty = ty;
    struct resource *parent = NULL;
    if (!store_get(c->cse->store, pi, &parent))
        c->grant.permitted = acl_permits_children(c->cse, c->req, parent, ty,
                                                  c->req->fc.fu == 1 ? ACOP_DISCOVERY : ACOP_RETRIEVE);
    resource_free(parent);
    return c->grant.permitted;
}

/* collect_match() on a row before it is decoded, wherever its outcome is
 * known without decoding: hidden (hidden()'s verdict recorded as there),
 * failing the filter (filter_match_stored()), or a match that ofst skips
 * while its parent's policies grant every such child. The row is then
 * passed over, the collection left as collect_match() would leave it
 * (except the `passed` memo, which only saves reads). Rows whose
 * hidden() would record more (disr, a type's hidden hook) are decoded. */
static int peek_row(struct collect *c, const struct store_row *row)
{
    if (!c->apply_filter && c->skip <= 0) return 0;   /* it is taken: decode it */
    const struct resource_type *t = registry_find(&c->cse->types, row->ty);
    if (!t || t->hidden || c->fc->arp) return 0;
    if (ancestor_hidden(c, row->pi) || (row->et && strcmp(row->et, c->now) < 0) ||
        ((t->flags & RT_INSTANCE) && json_object_get(c->no_instances, row->pi))) {
        json_object_set_new(c->hidden, row->ri, json_true());
        return STORE_ROW_PASS;
    }
    /* One pass over the body for disr (hidden() reads it, any value) and
     * what the filter reads. */
    const char *names[1 + FILTER_MEMBERS_MAX], *value[1 + FILTER_MEMBERS_MAX];
    size_t value_len[1 + FILTER_MEMBERS_MAX];
    names[0] = "disr";
    int n = c->apply_filter ? filter_members(c->fc, names + 1) : 0;
    if (n < 0) return 0;
    /* Only disr wanted: a body that holds no "disr" at all and no escape
     * (which could spell the name otherwise) cannot have it; two vector
     * searches instead of following the text. */
    bool no_disr = !n && !memchr(row->body, '\\', row->body_len) &&
                   !memmem(row->body, row->body_len, "\"disr\"", 6);
    if (!no_disr && (!json_text_members(row->body, row->body_len, names, 1 + n, value, value_len) || value[0]))
        return 0;
    if (c->apply_filter) {
        int hit = filter_match_members(c->fc, row->ty, names + 1, n, value + 1, value_len + 1);
        if (hit < 0) return 0;
        if (!hit) return STORE_ROW_PASS;
    }
    if (c->skip <= 0 || !children_permitted(c, row->pi, row->ty)) return 0;
    c->seen++;   /* take() of a match before the window */
    c->skip--;
    return STORE_ROW_PASS;
}

static int collect_peek(const struct store_row *row, void *data)
{
    return peek_row(data, row);
}

/* Counts a row of a slice; true when the slice is over. The clock every
 * 64 rows: a row costs microseconds, the clock some 20 ns. */
static bool slice_over(struct collect *c)
{
    return --c->rows_left <= 0 || (!(c->rows_left & 63) && clock_now_us() >= c->slice_end_us);
}

/* collect_match for a plain scan in slices: it yields after rows_left rows. */
static int collect_slice(struct resource *r, void *data)
{
    struct collect *c = data;
    int rc = collect_match(r, data);
    if (!rc && slice_over(c)) {
        c->paused = true;
        return 1;
    }
    return rc;
}

/* collect_peek for a plain scan in slices: rows passed over count too. */
static int collect_peek_slice(const struct store_row *row, void *data)
{
    struct collect *c = data;
    int rc = peek_row(c, row);
    if (rc == STORE_ROW_PASS && slice_over(c)) {
        c->paused = true;
        return 1;
    }
    return rc;
}

/* The subtree's rows for collect_match, through a filter index when the
 * store has one that fits (it reads only the rows that can match), else
 * all of them (of type scan_ty); the same matches either way. Only the
 * plain scan may yield (c->paused): it reads up to the whole subtree,
 * while an index reads the matches and few more; it goes on from c->at. */
static int scan(struct collect *c, const char *path, int depth)
{
    struct store_need need;
    if (!c->at.len && c->apply_filter && filter_index_need(c->fc, &need)) {
        c->sparse = true;
        int rc = store_scan_matching(c->cse->store, path, depth, c->scan_ty, &need, collect_peek, collect_match, c);
        if (rc != RSC_NOT_IMPLEMENTED) return rc;
    }
    c->sparse = c->scan_ty != 0;
    c->rows_left = LISTING_ROWS_PER_ROUND;
    c->slice_end_us = clock_now_us() + LISTING_US_PER_ROUND;
    return c->may_pause ? store_scan_subtree_from(c->cse->store, path, depth, c->scan_ty, &c->at,
                                                  collect_peek_slice, collect_slice, c)
                        : store_scan_subtree_from(c->cse->store, path, depth, c->scan_ty, NULL,
                                                  collect_peek, collect_match, c);
}

static void init_collect(struct collect *c, struct cse *cse, const struct m2m_request *req,
                         const struct resource *target)
{
    memset(c, 0, sizeof *c);
    /* Only a RETRIEVE yields: a DELETE's listing must be whole before the
     * subtree goes. */
    c->may_pause = req->op == OP_RETRIEVE && req->cont && req->cont->may_defer;
    c->hidden = json_object();
    c->passed = json_object();
    c->target_ri = res_ri(target);
    c->scan_ty = indexed_type(&req->fc);
    ts_format(clock_now_us(), c->now);
    c->no_instances = json_object();
    if (res_bool(target, "disr", 0)) json_object_set_new(c->no_instances, res_ri(target), json_true());
    c->cse = cse;
    c->req = req;
    c->fc = &req->fc;
    c->apply_filter = filter_has_conditions(&req->fc);
    c->skip = req->fc.ofst > 0 ? req->fc.ofst - 1 : 0;
    c->limit = req->fc.lim >= 0 && req->fc.lim < MAX_RESULTS ? req->fc.lim : MAX_RESULTS;
    c->drt = req->drt;
}

/* Releases the scan state; reports truncation when a response is given. */
static void finish_paging(struct collect *c, struct m2m_response *rsp)
{
    json_decref(c->hidden);
    json_decref(c->passed);
    json_decref(c->no_instances);
    if (!rsp) return;
    if (c->truncated) {
        rsp->cnst = 1;
        rsp->cnot = (int)(c->seen);
    }
}

void paused_scan_free(struct paused_scan *p)
{
    if (!p) return;
    json_decref(p->c.uris);
    json_decref(p->c.refs);
    json_decref(p->c.objects);
    json_decref(p->attrs);
    finish_paging(&p->c, NULL);
    free(p);
}

/* The listing a previous round of this request left (its pointers into
 * the request and target renewed: both were read again), or NULL. */
static struct paused_scan *resumed(struct cse *cse, const struct m2m_request *req, struct resource *target)
{
    struct paused_scan *p = req->cont ? req->cont->scan : NULL;
    if (!p) return NULL;
    req->cont->scan = NULL;
    p->c.cse = cse;
    p->c.req = req;
    p->c.fc = &req->fc;
    p->c.target_ri = res_ri(target);
    if (p->c.root_ri) p->c.root_ri = res_ri(target);
    p->c.paused = false;
    p->c.grant.valid = false;
    return p;
}

/* Runs p's scan for this round; DISPATCH_PENDING when it yielded (p then
 * waits in req->cont for the next round), else its result (p stays the
 * caller's). */
static int run_listing(const struct m2m_request *req, struct paused_scan *p, const char *path, int depth)
{
    int rc = scan(&p->c, path, depth);
    if (!p->c.paused) return rc > 1 ? rc : 0;   /* 1: the visitor stopped it (lim) */
    req->cont->scan = p;
    metrics_listing_yield(p->c.cse->metrics);
    /* Due at once: the loop polls its sockets without sleeping (a sleep
     * gives the CPU away, and on a busy machine getting it back took tens
     * of ms per slice), then runs it on. A slice takes at least the
     * millisecond that makes it due only after this round's timers. */
    req->cont->not_before_us = clock_now_us();
    return DISPATCH_PENDING;
}

static int discovery(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                     struct resource *target)
{
    struct paused_scan *p = resumed(cse, req, target);
    if (!p) {
        if (!(p = calloc(1, sizeof *p))) return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory");
        init_collect(&p->c, cse, req, target);
        int rcn = req->rcn < 0 ? RCN_DISCOVERY_REFS : req->rcn;
        if (rcn == RCN_CHILD_REFS) p->c.refs = json_array();
        else p->c.uris = json_array();
    }
    struct collect *c = &p->c;
    int lvl = req->fc.lvl > 0 ? (int)req->fc.lvl : 0;
    int rc = run_listing(req, p, target->path, lvl);
    if (rc == DISPATCH_PENDING) return rc;
    if (rc > 1) {
        paused_scan_free(p);
        return m2m_error(rsp, rc, "discovery failed");
    }
    rsp->rsc = RSC_OK;
    rsp->pc = c->refs ? json_pack("{s:{s:O}}", "m2m:rrl", "rrf", c->refs)
                      : json_pack("{s:O}", "m2m:uril", c->uris);
    finish_paging(c, rsp);
    c->hidden = c->passed = c->no_instances = NULL;   /* released by finish_paging */
    paused_scan_free(p);
    return 0;
}

int build_with_children(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                        struct resource *target, int rcn)
{
    struct paused_scan *p = resumed(cse, req, target);
    if (!p) {
        if (!(p = calloc(1, sizeof *p))) return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory");
        init_collect(&p->c, cse, req, target);
        p->rcn = rcn;
        if (rcn == RCN_ATTRIBUTES_CHILD_REFS || rcn == RCN_CHILD_REFS) {
            p->c.refs = json_array();
        } else { /* 4 and 8: nested representations */
            p->c.objects = json_object();
            p->c.root_ri = res_ri(target);
            p->attrs = rcn == RCN_ATTRIBUTES_CHILDREN ? json_copy(target->attrs) : json_object();
            p->c.root_attrs = p->attrs;
        }
    }
    struct collect *c = &p->c;
    int depth = req->fc.lvl > 0 ? (int)req->fc.lvl : c->refs ? 1 : 0;
    int rc = run_listing(req, p, target->path, depth);
    if (rc == DISPATCH_PENDING) return rc;
    if (rc > 1) {
        paused_scan_free(p);
        return m2m_error(rsp, rc, "cannot list the children");
    }
    json_t *attrs = json_incref(p->attrs), *refs = json_incref(c->refs);
    switch (rcn) {
    case RCN_ATTRIBUTES_CHILD_REFS:
        json_decref(attrs);
        attrs = json_copy(target->attrs);
        json_object_set(attrs, "ch", refs);
        rsp->pc = representation(cse, target, attrs);
        break;
    case RCN_CHILD_REFS:
        rsp->pc = json_pack("{s:{s:O}}", "m2m:rrl", "rrf", refs);
        break;
    default:
        rsp->pc = representation(cse, target, attrs);
        break;
    }
    json_decref(attrs);
    json_decref(refs);
    finish_paging(c, rsp);
    c->hidden = c->passed = c->no_instances = NULL;   /* released by finish_paging */
    paused_scan_free(p);
    return 0;
}

/* Partial retrieve: only the named attributes. */
static int partial(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                   struct resource *target)
{
    const struct resource_type *t = type_of_resource(registry_find(&cse->types, target->ty), target);
    json_t *attrs = json_object();
    for (int i = 0; i < req->natrl; i++) {
        if (!type_attr(t, req->atrl[i]) &&
            !((t->flags & RT_CUSTOM_ATTRS) && is_custom_attr_name(req->atrl[i]))) {
            json_decref(attrs);
            return m2m_error(rsp, RSC_BAD_REQUEST, "attribute '%s' is not defined for %s",
                             req->atrl[i], t->key);
        }
        json_t *v = json_object_get(target->attrs, req->atrl[i]);
        if (v) json_object_set(attrs, req->atrl[i], v);
    }
    rsp->pc = representation(cse, target, attrs);
    json_decref(attrs);
    return 0;
}

/* rcn=1 of an unmodified resource: its stored text, spliced into
 * {"<key>":...}, is byte for byte what serialising pc would give, and saves
 * the bindings that work. pc is still set for anyone reading it. */
static void attach_stored_text(struct cse *cse, const struct resource_type *t,
                               const struct resource *target, struct m2m_response *rsp)
{
    if (t->on_retrieve && !(t->flags & RT_RETRIEVE_READS_ONLY)) return;
    if (t->flags & RT_SPECIALIZED) return;   /* its key and private attributes differ per instance */
    if (json_object_get(target->attrs, ATTR_ANNOUNCED)) return; /* a private attribute (announce.h) */
    size_t len, keylen = strlen(t->key);
    const char *body = store_cached_body(cse->store, target, &len);
    if (!body) return;
    size_t total = keylen + len + 5;   /* {"key":body} */
    char *text = malloc(total + 1);
    if (!text) return;
    char *p = text;
    *p++ = '{'; *p++ = '"';
    memcpy(p, t->key, keylen); p += keylen;
    *p++ = '"'; *p++ = ':';
    memcpy(p, body, len); p += len;
    *p++ = '}';
    *p = 0;
    rsp->pc_text = text;
    rsp->pc_text_len = total;
    rsp->pc_text_of = rsp->pc;
}

int op_retrieve(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                struct resource *target)
{
    const struct resource_type *t = registry_find(&cse->types, target->ty);
    if (t->on_retrieve) {
        /* Usually already read for the access decision. */
        struct op_ctx ctx = { cse, req, rsp, cse_parent(cse, target), target, NULL, NULL, NULL };
        int rc = t->on_retrieve(&ctx);
        if (rc) return rc;
    }
    if (req->fc.fu == 1) return discovery(cse, req, rsp, target);
    int rcn = req->rcn < 0 ? RCN_ATTRIBUTES : req->rcn;
    /* Conditional retrieval: the target itself must satisfy the conditions. */
    if (rcn == RCN_ATTRIBUTES && filter_has_conditions(&req->fc) &&
        !filter_match(&req->fc, cse->store, target))
        return m2m_error(rsp, RSC_NOT_FOUND, "the resource does not match the filter criteria");
    rsp->rsc = RSC_OK;
    if (req->natrl) {
        if (rcn != RCN_ATTRIBUTES) return m2m_error(rsp, RSC_BAD_REQUEST, "partial retrieve needs rcn=1");
        return partial(cse, req, rsp, target);
    }
    if (rcn == RCN_ATTRIBUTES) {
        rsp->pc = representation(cse, target, target->attrs);
        /* Nothing has written to the store or the target since it was read:
         * a RETRIEVE only reads, and the hook (if any) only reads. */
        attach_stored_text(cse, t, target, rsp);
        return 0;
    }
    return build_with_children(cse, req, rsp, target, rcn);
}
