#include "filter.h"

#include "lbq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool filter_has_conditions(const struct m2m_filter *fc)
{
    return fc->crb[0] || fc->cra[0] || fc->ms[0] || fc->us[0] || fc->exb[0] || fc->exa[0] ||
           fc->sts >= 0 || fc->stb >= 0 || fc->sza >= 0 || fc->szb >= 0 || fc->nty ||
           fc->nchty || fc->npty || fc->nlbl || fc->nclbl || fc->npalb || fc->ncty || fc->natr ||
           fc->nlbq || fc->ncatr || fc->npatr;
}

bool filter_glob(const char *p, const char *t)
{
    const char *star = NULL, *resume = NULL;
    while (*t) {
        if (*p == '*') { star = p++; resume = t; }
        else if (*p == '?' || *p == *t) { p++; t++; }
        else if (star) { p = star + 1; t = ++resume; }
        else return false;
    }
    while (*p == '*') p++;
    return !*p;
}

static bool has_label(const struct resource *r, char *const *labels, int n)
{
    json_t *lbl = json_object_get(r->attrs, "lbl");
    size_t i;
    json_t *v;
    json_array_foreach(lbl, i, v) {
        for (int k = 0; k < n; k++)
            if (json_is_string(v) && !strcmp(json_string_value(v), labels[k])) return true;
    }
    return false;
}

static bool int_in(int v, const int *list, int n)
{
    for (int i = 0; i < n; i++)
        if (list[i] == v) return true;
    return false;
}

/* Compares a JSON attribute value with a query string (glob allowed). */
static bool value_matches(json_t *v, const char *want)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_STRING: return filter_glob(want, json_string_value(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return filter_glob(want, buf);
    case JSON_REAL:
        return strtod(want, NULL) == json_real_value(v);
    case JSON_TRUE: return !strcmp(want, "true");
    case JSON_FALSE: return !strcmp(want, "false");
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
            if (value_matches(item, want)) return true;
        return false;
    }
    default: return false;
    }
}

/* Attribute conditions (atr, c.<attr>, p.<attr>): entries with the same
 * name form one condition whose values are ORed; group i is the first
 * entry of its name. */
static bool first_of_name(char *const *names, int i)
{
    for (int k = 0; k < i; k++)
        if (!strcmp(names[k], names[i])) return false;
    return true;
}

static bool attr_group_hit(char *const *names, char *const *values, int n, int i,
                           const struct resource *r)
{
    json_t *val = json_object_get(r->attrs, names[i]);
    if (!val) return false;
    for (int k = i; k < n; k++)
        if (!strcmp(names[k], names[i]) && value_matches(val, values[k])) return true;
    return false;
}

static bool lbq_match(const struct m2m_filter *fc, const struct resource *r)
{
    struct lbq q;
    for (int i = 0; i < fc->nlbq; i++)
        if (lbq_parse(fc->lbq[i], &q) && lbq_eval(&q, r)) return true;
    return false;
}

struct child_probe {
    const struct m2m_filter *fc;
    bool want_ty, want_lbl;
    bool ty_hit, lbl_hit;
    bool atr_hit[FC_MAX_LIST];   /* per c.<attr> group */
};

static bool probe_done(const struct child_probe *p)
{
    for (int i = 0; i < p->fc->ncatr; i++)
        if (first_of_name(p->fc->catr_nm, i) && !p->atr_hit[i]) return false;
    return (!p->want_ty || p->ty_hit) && (!p->want_lbl || p->lbl_hit);
}

static int probe_child(struct resource *child, void *data)
{
    struct child_probe *p = data;
    const struct m2m_filter *fc = p->fc;
    if (p->want_ty && int_in(child->ty, fc->chty, fc->nchty)) p->ty_hit = true;
    if (p->want_lbl && has_label(child, fc->clbl, fc->nclbl)) p->lbl_hit = true;
    for (int i = 0; i < fc->ncatr; i++)
        if (!p->atr_hit[i] && first_of_name(fc->catr_nm, i))
            p->atr_hit[i] = attr_group_hit(fc->catr_nm, fc->catr_val, fc->ncatr, i, child);
    return probe_done(p);
}

/* Accumulates condition results by fo: AND needs all, OR needs one. */
struct verdict { int fo; bool any_cond; bool all; bool some; };

static void add(struct verdict *v, bool ok)
{
    v->any_cond = true;
    v->all = v->all && ok;
    v->some = v->some || ok;
}

static void ts_cond(struct verdict *v, const char *bound, const char *value, bool before)
{
    if (!bound[0]) return;
    if (!value) { add(v, false); return; }
    int c = strcmp(value, bound);
    add(v, before ? c < 0 : c >= 0);
}

bool filter_match(const struct m2m_filter *fc, struct store *store, const struct resource *res)
{
    struct verdict v = { fc->fo, false, true, false };
    /* Attributes looked up only for the conditions given: a scan asks this
     * of every row. */
    const char *ct = fc->crb[0] || fc->cra[0] ? res_str(res, "ct") : NULL;
    const char *lt = fc->us[0] || fc->ms[0] ? res_str(res, "lt") : NULL;
    const char *et = fc->exb[0] || fc->exa[0] ? res_str(res, "et") : NULL;
    ts_cond(&v, fc->crb, ct, true);
    ts_cond(&v, fc->cra, ct, false);
    ts_cond(&v, fc->us, lt, true);
    ts_cond(&v, fc->ms, lt, false);
    ts_cond(&v, fc->exb, et, true);
    ts_cond(&v, fc->exa, et, false);
    int64_t st = fc->sts >= 0 || fc->stb >= 0 ? res_int(res, "st", -1) : -1;
    int64_t cs = fc->sza >= 0 || fc->szb >= 0 ? res_int(res, "cs", -1) : -1;
    if (fc->sts >= 0) add(&v, st >= 0 && st < fc->sts);
    if (fc->stb >= 0) add(&v, st >= 0 && st >= fc->stb);
    if (fc->sza >= 0) add(&v, cs >= 0 && cs >= fc->sza);
    if (fc->szb >= 0) add(&v, cs >= 0 && cs < fc->szb);
    if (fc->nty) add(&v, int_in(res->ty, fc->ty, fc->nty));
    if (fc->nlbl) add(&v, has_label(res, fc->lbl, fc->nlbl));
    if (fc->ncty) {
        const char *cnf = res_str(res, "cnf");
        bool hit = false;
        for (int i = 0; cnf && i < fc->ncty; i++) {
            size_t n = strlen(fc->cty[i]);
            hit |= !strncmp(cnf, fc->cty[i], n) && (cnf[n] == ':' || cnf[n] == 0);
        }
        add(&v, hit);
    }
    if (fc->nlbq) add(&v, lbq_match(fc, res));
    for (int i = 0; i < fc->natr; i++)
        if (first_of_name(fc->atr_nm, i))
            add(&v, attr_group_hit(fc->atr_nm, fc->atr_val, fc->natr, i, res));
    if ((fc->npty || fc->npalb || fc->npatr) && store) {
        struct resource *parent = NULL;
        const char *pi = res_pi(res);
        if (pi && *pi) store_get(store, pi, &parent);
        if (fc->npty) add(&v, parent && int_in(parent->ty, fc->pty, fc->npty));
        if (fc->npalb) add(&v, parent && has_label(parent, fc->palb, fc->npalb));
        for (int i = 0; i < fc->npatr; i++)
            if (first_of_name(fc->patr_nm, i))
                add(&v, parent && attr_group_hit(fc->patr_nm, fc->patr_val, fc->npatr, i, parent));
        resource_free(parent);
    }
    if ((fc->nchty || fc->nclbl || fc->ncatr) && store) {
        struct child_probe p = { .fc = fc, .want_ty = fc->nchty > 0, .want_lbl = fc->nclbl > 0 };
        store_children(store, res_ri(res), 0, probe_child, &p);
        if (fc->nchty) add(&v, p.ty_hit);
        if (fc->nclbl) add(&v, p.lbl_hit);
        for (int i = 0; i < fc->ncatr; i++)
            if (first_of_name(fc->catr_nm, i)) add(&v, p.atr_hit[i]);
    }
    if (!v.any_cond) return true;
    return v.fo == 2 ? v.some : v.all;
}

/* Keep in step with filter_match(): what it reads of the resource itself. */
int filter_members(const struct m2m_filter *fc, const char **names)
{
    if (fc->npty || fc->npalb || fc->npatr || fc->nchty || fc->nclbl || fc->ncatr) return -1;
    int n = 0;
    if (fc->crb[0] || fc->cra[0]) names[n++] = "ct";
    if (fc->us[0] || fc->ms[0]) names[n++] = "lt";
    if (fc->exb[0] || fc->exa[0]) names[n++] = "et";
    if (fc->sts >= 0 || fc->stb >= 0) names[n++] = "st";
    if (fc->sza >= 0 || fc->szb >= 0) names[n++] = "cs";
    if (fc->ncty) names[n++] = "cnf";
    if (fc->nlbl || fc->nlbq) names[n++] = "lbl";
    for (int i = 0; i < fc->natr; i++)
        if (first_of_name(fc->atr_nm, i)) names[n++] = fc->atr_nm[i];
    return n;
}

/* A member's value text as jansson would decode it; a string without
 * escapes (most) directly, which spares the decoder's set-up. */
static json_t *member_value(const char *text, size_t len)
{
    if (len >= 2 && text[0] == '"' && !memchr(text, '\\', len))
        return json_stringn(text + 1, len - 2);   /* NULL on bad UTF-8, as the decoder */
    return json_loadb(text, len, JSON_DECODE_ANY, NULL);
}

int filter_match_members(const struct m2m_filter *fc, int ty, const char *const *names, int n,
                         const char *const *value, const size_t *value_len)
{
    /* A resource of only those members: filter_match() sees what it would
     * see of the whole one. */
    struct resource partial = { .ty = ty, .attrs = json_object() };
    for (int i = 0; i < n && partial.attrs; i++) {
        if (!value[i]) continue;
        json_t *v = member_value(value[i], value_len[i]);
        if (!v) {
            json_decref(partial.attrs);
            return -1;
        }
        json_object_set_new(partial.attrs, names[i], v);
    }
    if (!partial.attrs) return -1;
    bool hit = filter_match(fc, NULL, &partial);
    json_decref(partial.attrs);
    return hit;
}

/* A copy of a then b in need's text; NULL when it is full. */
static const char *need_text(struct store_need *need, const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    if (need->used + n > sizeof need->text) return NULL;
    char *p = need->text + need->used;
    snprintf(p, n, "%s%s", a, b);
    need->used += n;
    return p;
}

static bool need_add(struct store_need *need, struct store_term t)
{
    if (need->nterms >= STORE_NEED_TERMS) return false;
    need->term[need->nterms++] = t;
    return true;
}

static bool need_eq(struct store_need *need, enum store_attr attr, int group, const char *a, const char *b)
{
    const char *eq = need_text(need, a, b);
    return eq && need_add(need, (struct store_term){ .attr = attr, .group = group, .eq = eq });
}

/* `key` itself or anything that begins "key:" (';' follows ':'): a label
 * key (lbq) or a media type with or without its encoding (cty). */
static bool need_key(struct store_need *need, enum store_attr attr, int group, const char *key)
{
    const char *lo = need_text(need, key, ":"), *hi = need_text(need, key, ";");
    return lo && hi && need_eq(need, attr, group, key, "") &&
           need_add(need, (struct store_term){ .attr = attr, .group = group, .lo = lo, .hi = hi });
}

/* lbq's forms that need a label (PRESENT, EQ, IN) as terms of one group;
 * false when one of them is negative (NT, NE, NI: met without labels). */
static bool need_lbq(struct store_need *need, const struct m2m_filter *fc, int group, bool *ok)
{
    struct lbq q;
    for (int i = 0; i < fc->nlbq; i++)
        if (lbq_parse(fc->lbq[i], &q) && q.op != LBQ_PRESENT && q.op != LBQ_EQ && q.op != LBQ_IN)
            return false;
    for (int i = 0; i < fc->nlbq; i++) {
        if (!lbq_parse(fc->lbq[i], &q)) continue;
        if (q.op == LBQ_PRESENT) *ok = *ok && need_key(need, STORE_ATTR_LABEL, group, q.key);
        for (int k = 0; q.op != LBQ_PRESENT && k < q.nvals; k++) {
            const char *label = need_text(need, q.key, ":");
            *ok = *ok && label && need_eq(need, STORE_ATTR_LABEL, group, label, q.vals[k]);
        }
    }
    return true;
}

bool filter_index_need(const struct m2m_filter *fc, struct store_need *need)
{
    need->nterms = 0;
    need->used = 0;
    /* With fo=OR every condition must be indexed (one group of all their
     * terms); with AND each indexed condition is a group of its own. */
    bool any = fc->fo == 2;
    bool unindexed = fc->ms[0] || fc->us[0] || fc->exb[0] || fc->exa[0] || fc->sts >= 0 ||
                     fc->stb >= 0 || fc->nty || fc->nchty || fc->npty || fc->nclbl || fc->npalb ||
                     fc->natr || fc->ncatr || fc->npatr;
    if (any && unindexed) return false;
    int group = 0;
    bool ok = true;
    if (fc->nlbl) {
        for (int i = 0; i < fc->nlbl; i++) ok = ok && need_eq(need, STORE_ATTR_LABEL, group, fc->lbl[i], "");
        group += !any;
    }
    if (fc->ncty) {
        for (int i = 0; i < fc->ncty; i++) ok = ok && need_key(need, STORE_ATTR_CNF, group, fc->cty[i]);
        group += !any;
    }
    if (fc->nlbq) {
        if (need_lbq(need, fc, group, &ok)) group += !any;
        else if (any) return false;
    }
    const char *cra = fc->cra[0] ? fc->cra : NULL, *crb = fc->crb[0] ? fc->crb : NULL;
    if (cra || crb) {
        if (any && cra && crb)
            ok = ok && need_add(need, (struct store_term){ .attr = STORE_ATTR_CT, .group = group, .lo = cra }) &&
                 need_add(need, (struct store_term){ .attr = STORE_ATTR_CT, .group = group, .hi = crb });
        else
            ok = ok && need_add(need, (struct store_term){ .attr = STORE_ATTR_CT, .group = group, .lo = cra, .hi = crb });
        group += !any;
    }
    /* A size condition holds only for cs >= 0 (filter_match). */
    if (fc->sza >= 0 || fc->szb >= 0) {
        int64_t lo = fc->sza > 0 ? fc->sza : 0, hi = fc->szb >= 0 ? fc->szb : INT64_MAX;
        if (any && fc->sza >= 0 && fc->szb >= 0)
            ok = ok && need_add(need, (struct store_term){ .attr = STORE_ATTR_CS, .group = group, .ilo = lo, .ihi = INT64_MAX }) &&
                 need_add(need, (struct store_term){ .attr = STORE_ATTR_CS, .group = group, .ilo = 0, .ihi = hi });
        else
            ok = ok && need_add(need, (struct store_term){ .attr = STORE_ATTR_CS, .group = group, .ilo = lo, .ihi = hi });
    }
    return ok && need->nterms > 0;
}
