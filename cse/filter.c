#include "filter.h"

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

/* --- labelsQuery ------------------------------------------------------ */

#define LBQ_MAX_TOKENS 20

enum lbq_op { LBQ_PRESENT, LBQ_ABSENT, LBQ_EQ, LBQ_NE, LBQ_IN, LBQ_NI };

struct lbq {
    enum lbq_op op;
    char key[128];
    int nvals;
    char vals[8][128];
};

static bool copy_token(char *dst, size_t cap, const char *s, size_t n)
{
    if (n == 0 || n >= cap) return false;
    memcpy(dst, s, n);
    dst[n] = 0;
    return true;
}

/* Parses "(v1, v2)" into q->vals. */
static bool lbq_list(struct lbq *q, const char *s)
{
    while (*s == ' ' || *s == '+') s++;
    if (*s++ != '(') return false;
    const char *end = strchr(s, ')');
    if (!end || end[1 + strspn(end + 1, " +")]) return false;
    for (;;) {
        while (s < end && (*s == ' ' || *s == '+')) s++;
        if (s >= end) return false;          /* empty entry, "()" or a trailing ',' */
        const char *comma = s;
        while (comma < end && *comma != ',') comma++;
        const char *e = comma;
        while (e > s && (e[-1] == ' ' || e[-1] == '+')) e--;
        if (q->nvals >= 8 || !copy_token(q->vals[q->nvals++], sizeof q->vals[0], s, (size_t)(e - s)))
            return false;
        if (comma == end) return true;
        s = comma + 1;
    }
}

/* Forms: "key", "key:value", "NT key", "key EQ|NE value", "key IN|NI (v1, v2)".
 * '+' counts as a space (a URL-encoded space that was not decoded). */
static bool lbq_parse(const char *expr, struct lbq *q)
{
    memset(q, 0, sizeof *q);
    const char *tok[3];
    size_t len[3];
    int n = 0;
    const char *p = expr;
    while (n < 3) {
        p += strspn(p, " +");
        if (!*p) break;
        tok[n] = p;
        len[n] = strcspn(p, " +");
        p += len[n];
        n++;
    }
    if (n == 0) return false;
    if (n == 1) {
        const char *colon = memchr(tok[0], ':', len[0]);
        if (!colon) { q->op = LBQ_PRESENT; return copy_token(q->key, sizeof q->key, tok[0], len[0]); }
        q->op = LBQ_EQ;
        q->nvals = 1;
        return copy_token(q->key, sizeof q->key, tok[0], (size_t)(colon - tok[0])) &&
               copy_token(q->vals[0], sizeof q->vals[0], colon + 1, len[0] - (size_t)(colon - tok[0]) - 1);
    }
    if (len[0] == 2 && !strncmp(tok[0], "NT", 2)) {
        q->op = LBQ_ABSENT;
        return n == 2 && copy_token(q->key, sizeof q->key, tok[1], len[1]);
    }
    if (!copy_token(q->key, sizeof q->key, tok[0], len[0]) || len[1] < 2) return false;
    if (!strncmp(tok[1], "IN", 2) || !strncmp(tok[1], "NI", 2)) {
        q->op = tok[1][0] == 'I' ? LBQ_IN : LBQ_NI;
        return (len[1] == 2 || tok[1][2] == '(') && lbq_list(q, tok[1] + 2);
    }
    if (len[1] != 2 || (strncmp(tok[1], "EQ", 2) && strncmp(tok[1], "NE", 2))) return false;
    q->op = tok[1][0] == 'E' ? LBQ_EQ : LBQ_NE;
    if (n != 3 || tok[2][len[2] + strspn(tok[2] + len[2], " +")]) return false;
    q->nvals = 1;
    return copy_token(q->vals[0], sizeof q->vals[0], tok[2], len[2]);
}

bool filter_lbq_valid(const char *expr)
{
    struct lbq q;
    return lbq_parse(expr, &q);
}

/* Labels are "key" or "key:value"; the key is what precedes the first ':'. */
static bool lbq_eval(const struct lbq *q, const struct resource *r)
{
    bool key_seen = false, value_hit = false;
    size_t klen = strlen(q->key), i;
    json_t *v;
    json_array_foreach(json_object_get(r->attrs, "lbl"), i, v) {
        const char *l = json_string_value(v);
        if (!l || strncmp(l, q->key, klen) || (l[klen] && l[klen] != ':')) continue;
        key_seen = true;
        for (int k = 0; l[klen] == ':' && k < q->nvals; k++)
            value_hit |= !strcmp(l + klen + 1, q->vals[k]);
    }
    switch (q->op) {
    case LBQ_PRESENT: return key_seen;
    case LBQ_ABSENT: return !key_seen;
    case LBQ_EQ: case LBQ_IN: return value_hit;
    default: return key_seen && !value_hit; /* NE, NI */
    }
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
    ts_cond(&v, fc->crb, res_str(res, "ct"), true);
    ts_cond(&v, fc->cra, res_str(res, "ct"), false);
    ts_cond(&v, fc->us, res_str(res, "lt"), true);
    ts_cond(&v, fc->ms, res_str(res, "lt"), false);
    ts_cond(&v, fc->exb, res_str(res, "et"), true);
    ts_cond(&v, fc->exa, res_str(res, "et"), false);
    int64_t st = res_int(res, "st", -1), cs = res_int(res, "cs", -1);
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
