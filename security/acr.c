/* Access control rules: parse once, evaluate cheaply. A parsed set keeps
 * schedules and address ranges in binary form so that a decision does no
 * string parsing at all. */
#include "acr.h"

#include "../resources/types.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SCHED_FIELDS 7
#define SCHED_ITEMS 16

struct sched_item { int lo, hi, step; };
struct sched_field { struct sched_item item[SCHED_ITEMS]; int n; };
struct schedule { struct sched_field f[SCHED_FIELDS]; };

struct cidr { int family; unsigned char addr[16]; int prefix; };

enum orig_kind { O_ALL, O_DOMAIN, O_ABS, O_SPREL, O_REL, O_GROUP };
struct orig { char *s; int kind; };

struct context {
    struct schedule *win; int nwin; bool has_win;
    struct cidr *ips; int nips; bool has_ip;
    bool has_region;           /* no trustworthy originator location: never holds */
};

struct objd { int ty; char *spty; int *chty; int nchty; };

struct rule {
    struct orig *orig; int norig;
    int acop;
    struct context *ctx; int nctx;
    bool acaf;
    struct objd *objd; int nobjd;
    char **aca; int naca;      /* accessControlAttributes: the rule covers these only */
};

struct acr_set { struct rule *rules; int n; };

/* ---- schedules ------------------------------------------------------- */

static const int sched_lo[SCHED_FIELDS] = { 0, 0, 0, 1, 1, 0, 2000 };
static const int sched_hi[SCHED_FIELDS] = { 59, 59, 23, 31, 12, 6, 9999 };

static bool parse_int(const char **p, int *out)
{
    if (!isdigit((unsigned char)**p)) return false;
    long v = 0;
    while (isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        if (v > 100000) return false;
        (*p)++;
    }
    *out = (int)v;
    return true;
}

/* One field: "*", "n", "a-b", lists of those, each optionally "/step". */
static bool parse_field(const char *s, size_t len, int k, struct sched_field *f)
{
    char buf[128];
    if (len == 0 || len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = 0;
    f->n = 0;
    /* Split by hand: an empty list item ("1,,2", "1,") is an error. */
    for (char *tok = buf, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = 0;
        if (f->n == SCHED_ITEMS || !*tok) return false;
        struct sched_item it = { sched_lo[k], sched_hi[k], 1 };
        const char *p = tok;
        bool single = false;
        if (*p == '*') {
            p++;
        } else {
            if (!parse_int(&p, &it.lo)) return false;
            it.hi = it.lo;
            single = *p != '-';
            if (*p == '-') { p++; if (!parse_int(&p, &it.hi)) return false; }
        }
        if (*p == '/') {
            p++;
            if (!parse_int(&p, &it.step) || it.step < 1) return false;
            if (single) it.hi = sched_hi[k];   /* "n/s": from n to the maximum (crontab's reading) */
        }
        if (*p) return false;
        if (it.lo < sched_lo[k] || it.hi > sched_hi[k] || it.lo > it.hi) return false;
        f->item[f->n++] = it;
    }
    return f->n > 0;
}

static bool parse_schedule(const char *entry, struct schedule *out)
{
    const char *p = entry;
    for (int k = 0; k < SCHED_FIELDS; k++) {
        while (isspace((unsigned char)*p)) p++;
        const char *end = p;
        while (*end && !isspace((unsigned char)*end)) end++;
        if (!parse_field(p, (size_t)(end - p), k, &out->f[k])) return false;
        p = end;
    }
    while (isspace((unsigned char)*p)) p++;
    return *p == 0;
}

static bool field_match(const struct sched_field *f, int v)
{
    for (int i = 0; i < f->n; i++) {
        const struct sched_item *it = &f->item[i];
        if (v >= it->lo && v <= it->hi && (v - it->lo) % it->step == 0) return true;
    }
    return false;
}

static bool schedule_match(const struct schedule *s, int64_t us)
{
    time_t sec = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    int v[SCHED_FIELDS] = { tm.tm_sec > 59 ? 59 : tm.tm_sec, tm.tm_min, tm.tm_hour, tm.tm_mday,
                            tm.tm_mon + 1, tm.tm_wday, tm.tm_year + 1900 };
    for (int k = 0; k < SCHED_FIELDS; k++)
        if (!field_match(&s->f[k], v[k])) return false;
    return true;
}

bool acr_schedule_valid(const char *entry)
{
    struct schedule s;
    return entry && parse_schedule(entry, &s);
}

bool acr_schedule_match(const char *entry, int64_t us)
{
    struct schedule s;
    return entry && parse_schedule(entry, &s) && schedule_match(&s, us);
}

/* ---- address ranges ---------------------------------------------------- */

static bool parse_cidr(const char *text, int family, struct cidr *out)
{
    char buf[64];
    if (!text || strlen(text) >= sizeof buf) return false;
    snprintf(buf, sizeof buf, "%s", text);
    int max = family == AF_INET ? 32 : 128;
    out->family = family;
    out->prefix = max;
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = 0;
        const char *p = slash + 1;
        if (!parse_int(&p, &out->prefix) || *p || out->prefix > max) return false;
    }
    memset(out->addr, 0, sizeof out->addr);
    return inet_pton(family, buf, out->addr) == 1;
}

/* The peer as an address; IPv4-mapped IPv6 peers count as IPv4. */
static bool parse_peer(const char *ip, struct cidr *out)
{
    if (!ip || !*ip) return false;
    if (parse_cidr(ip, AF_INET, out)) return true;
    if (!parse_cidr(ip, AF_INET6, out)) return false;
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (!memcmp(out->addr, mapped, 12)) {
        out->family = AF_INET;
        memmove(out->addr, out->addr + 12, 4);
        memset(out->addr + 4, 0, 12);
        out->prefix = 32;
    }
    return true;
}

static bool cidr_contains(const struct cidr *net, const struct cidr *ip)
{
    if (net->family != ip->family) return false;
    int full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp(net->addr, ip->addr, (size_t)full)) return false;
    if (!rest) return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (net->addr[full] & mask) == (ip->addr[full] & mask);
}

bool acr_cidr_valid(const char *cidr, bool v6)
{
    struct cidr c;
    return parse_cidr(cidr, v6 ? AF_INET6 : AF_INET, &c);
}

bool acr_ip_in(const char *cidr, const char *ip)
{
    struct cidr net, peer;
    if (!parse_peer(ip, &peer)) return false;
    return (parse_cidr(cidr, AF_INET, &net) || parse_cidr(cidr, AF_INET6, &net)) &&
           cidr_contains(&net, &peer);
}

/* ---- originators -------------------------------------------------------- */

/* One '/'-free segment against one pattern segment: the classic greedy
 * match with a single backtrack point, O(len(pat) * len(text)) at worst, so
 * a pattern full of stars cannot make evaluation explode. */
static bool segment_match(const char *p, size_t pn, const char *t, size_t tn)
{
    size_t pi = 0, ti = 0, star = (size_t)-1, mark = 0;
    while (ti < tn) {
        if (pi < pn && p[pi] == '*') { star = pi++; mark = ti; }
        else if (pi < pn && p[pi] == t[ti]) { pi++; ti++; }
        else if (star != (size_t)-1) { pi = star + 1; ti = ++mark; }
        else return false;
    }
    while (pi < pn && p[pi] == '*') pi++;
    return pi == pn;
}

bool acr_wildcard_match(const char *pat, const char *text)
{
    if (!text) return false;
    /* '*' never crosses '/': match segment by segment. */
    for (;;) {
        const char *ps = strchr(pat, '/'), *ts = strchr(text, '/');
        size_t pn = ps ? (size_t)(ps - pat) : strlen(pat), tn = ts ? (size_t)(ts - text) : strlen(text);
        if (!segment_match(pat, pn, text, tn)) return false;
        if (!ps || !ts) return !ps && !ts;
        pat = ps + 1;
        text = ts + 1;
    }
}

static int classify(const char *e, acr_group_classifier *is_group, void *data)
{
    if (!strcmp(e, "all")) return O_ALL;
    if (!strncmp(e, "//", 2)) return strchr(e + 2, '/') ? O_ABS : O_DOMAIN;
    if (!strchr(e, '*') && is_group && is_group(data, e)) return O_GROUP;
    return e[0] == '/' ? O_SPREL : O_REL;
}

static bool has_role(const struct acr_subject *s, const char *e)
{
    for (int i = 0; i < s->nroles; i++)
        if (!strcmp(s->roles[i], e)) return true;
    return false;
}

static bool orig_match(const struct orig *o, const struct acr_subject *s)
{
    switch (o->kind) {
    case O_ALL: return true;
    case O_DOMAIN: {
        /* A literal SP domain covers every ID under it (TS-0003 7.1.3). */
        size_t n = strlen(o->s);
        return s->abs && !strncasecmp(s->abs, o->s, n) && s->abs[n] == '/';
    }
    case O_ABS: return acr_wildcard_match(o->s, s->abs);
    case O_SPREL: return acr_wildcard_match(o->s, s->sprel) || has_role(s, o->s);
    case O_REL: return acr_wildcard_match(o->s, s->rel) || has_role(s, o->s);
    case O_GROUP: return s->in_group && s->in_group(s->group_data, o->s);
    }
    return false;
}

/* ---- parsing ------------------------------------------------------------ */

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return false; } while (0)

static bool parse_acor(json_t *v, struct rule *r, acr_group_classifier *is_group, void *data,
                       char *err, size_t errlen)
{
    if (!json_is_array(v) || !json_array_size(v)) FAIL("acor must be a non-empty list of originators");
    r->orig = calloc(json_array_size(v), sizeof *r->orig);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e) || !json_string_length(e)) FAIL("acor entries must be non-empty strings");
        const char *s = json_string_value(e);
        struct orig *o = &r->orig[r->norig++];
        o->s = strdup(s);
        o->kind = classify(s, is_group, data);
        /* SP-IDs are domain names: the subject's absolute form has its
         * SP-ID in lower case (cse/ident.h), so has the entry. */
        if (o->kind == O_ABS)
            for (char *c = o->s + 2; *c != '/'; c++) *c = (char)tolower((unsigned char)*c);
    }
    return true;
}

static bool parse_ips(json_t *acip, struct context *c, char *err, size_t errlen)
{
    if (!json_is_object(acip)) FAIL("acip must be an object {\"ipv4\": [...], \"ipv6\": [...]}");
    json_t *v4 = json_object_get(acip, "ipv4"), *v6 = json_object_get(acip, "ipv6");
    const char *key;
    json_t *v;
    json_object_foreach(acip, key, v)
        if (strcmp(key, "ipv4") && strcmp(key, "ipv6")) FAIL("acip has an unknown member '%s'", key);
    if ((v4 && !json_is_array(v4)) || (v6 && !json_is_array(v6))) FAIL("acip ipv4/ipv6 must be lists");
    size_t n = (v4 ? json_array_size(v4) : 0) + (v6 ? json_array_size(v6) : 0);
    c->has_ip = true;
    c->ips = calloc(n ? n : 1, sizeof *c->ips);
    json_t *lists[2] = { v4, v6 };
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *e;
        json_array_foreach(lists[l], i, e) {
            if (!parse_cidr(json_string_value(e), l ? AF_INET6 : AF_INET, &c->ips[c->nips]))
                FAIL("acip %s entry is not an address or CIDR range", l ? "ipv6" : "ipv4");
            c->nips++;
        }
    }
    return true;
}

static bool parse_region(json_t *lr, char *err, size_t errlen)
{
    if (!json_is_object(lr)) FAIL("aclr must be an object");
    json_t *cc = json_object_get(lr, "accc"), *cr = json_object_get(lr, "accr");
    if (json_object_size(lr) != 1 || (!cc && !cr)) FAIL("aclr must hold exactly one of accc or accr");
    size_t i;
    json_t *e;
    if (cc) {
        if (!json_is_array(cc) || !json_array_size(cc)) FAIL("aclr accc must be a list of country codes");
        json_array_foreach(cc, i, e)
            if (!json_is_string(e) || json_string_length(e) != 2) FAIL("aclr accc entries must be ISO 3166-1 alpha-2 codes");
        return true;
    }
    if (!json_is_array(cr) || json_array_size(cr) != 3) FAIL("aclr accr must be [latitude, longitude, radius]");
    double lim[3] = { 90, 180, 1e12 };
    json_array_foreach(cr, i, e) {
        if (!json_is_number(e)) FAIL("aclr accr entries must be numbers");
        double d = json_number_value(e);
        if ((i < 2 && (d < -lim[i] || d > lim[i])) || (i == 2 && d < 0)) FAIL("aclr accr value out of range");
    }
    return true;
}

static bool parse_context(json_t *v, struct context *c, char *err, size_t errlen)
{
    if (!json_is_object(v)) FAIL("acco entries must be objects");
    const char *key;
    json_t *m;
    json_object_foreach(v, key, m) {
        if (!strcmp(key, "actw")) {
            if (!json_is_array(m)) FAIL("actw must be a list of schedule entries");
            c->has_win = true;
            c->win = calloc(json_array_size(m) ? json_array_size(m) : 1, sizeof *c->win);
            size_t i;
            json_t *e;
            json_array_foreach(m, i, e) {
                if (!json_is_string(e) || !parse_schedule(json_string_value(e), &c->win[c->nwin]))
                    FAIL("actw entry is not a schedule 'sec min hour day month weekday year'");
                c->nwin++;
            }
        } else if (!strcmp(key, "acip")) {
            if (!parse_ips(m, c, err, errlen)) return false;
        } else if (!strcmp(key, "aclr")) {
            if (!parse_region(m, err, errlen)) return false;
            c->has_region = true;
        } else {
            FAIL("acco has an unknown member '%s'", key);
        }
    }
    return true;
}

static bool parse_objd(json_t *v, struct objd *o, char *err, size_t errlen)
{
    if (!json_is_object(v)) FAIL("acod entries must be objects");
    json_t *ty = json_object_get(v, "ty"), *spty = json_object_get(v, "spty");
    json_t *chty = json_object_get(v, "chty");
    const char *key;
    json_t *m;
    json_object_foreach(v, key, m)
        if (strcmp(key, "ty") && strcmp(key, "spty") && strcmp(key, "chty")) FAIL("acod has an unknown member '%s'", key);
    if (ty && (!json_is_integer(ty) || json_integer_value(ty) < 1)) FAIL("acod ty must be one resource type number");
    if (spty && !json_is_string(spty) && !json_is_integer(spty)) FAIL("acod spty must be a string (or a mgmtDefinition number)");
    if (!json_is_array(chty) || !json_array_size(chty)) FAIL("acod chty is mandatory: a list of resource types");
    o->ty = ty ? (int)json_integer_value(ty) : 0;
    if ((o->ty == TY_MGMTOBJ || o->ty == TY_FCNT) && !spty) FAIL("acod with ty %d needs spty", o->ty);
    char num[32];
    if (json_is_integer(spty)) snprintf(num, sizeof num, "%lld", (long long)json_integer_value(spty));
    o->spty = !spty ? NULL : strdup(json_is_string(spty) ? json_string_value(spty) : num);
    o->chty = calloc(json_array_size(chty), sizeof *o->chty);
    size_t i;
    json_t *e;
    json_array_foreach(chty, i, e) {
        if (!json_is_integer(e) || json_integer_value(e) < 1) FAIL("acod chty entries must be resource types");
        o->chty[o->nchty++] = (int)json_integer_value(e);
    }
    return true;
}

static bool parse_list(json_t *v, const char *name, size_t *n, char *err, size_t errlen)
{
    if (!json_is_array(v)) FAIL("%s must be a list", name);
    *n = json_array_size(v);
    return true;
}

/* aca: a non-empty list of attribute short names. */
static bool parse_aca(json_t *v, struct rule *r, char *err, size_t errlen)
{
    if (!json_is_array(v) || !json_array_size(v)) FAIL("aca must be a non-empty list of attribute names");
    r->aca = calloc(json_array_size(v), sizeof *r->aca);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        const char *name = json_string_value(e);
        bool ok = name && *name;
        for (const char *c = name; ok && *c; c++) ok = isalnum((unsigned char)*c);
        if (!ok) FAIL("aca entries must be attribute names (letters and digits)");
        r->aca[r->naca++] = strdup(name);
    }
    return true;
}

static bool parse_rule(json_t *v, struct rule *r, acr_group_classifier *is_group, void *data,
                       char *err, size_t errlen)
{
    if (!json_is_object(v)) FAIL("acr entries must be objects");
    const char *key;
    json_t *m;
    json_object_foreach(v, key, m)
        if (strcmp(key, "acor") && strcmp(key, "acop") && strcmp(key, "acco") && strcmp(key, "acaf") &&
            strcmp(key, "acod") && strcmp(key, "aca"))
            FAIL("access control rule has an unknown member '%s'", key);
    if (!parse_acor(json_object_get(v, "acor"), r, is_group, data, err, errlen)) return false;
    json_t *acop = json_object_get(v, "acop");
    if (!json_is_integer(acop) || json_integer_value(acop) < 1 || json_integer_value(acop) > 63)
        FAIL("acop must be a number from 1 to 63 (1 C, 2 R, 4 U, 8 D, 16 N, 32 Disc)");
    r->acop = (int)json_integer_value(acop);
    json_t *acaf = json_object_get(v, "acaf");
    if (acaf && !json_is_boolean(acaf)) FAIL("acaf must be a boolean");
    r->acaf = json_is_true(acaf);
    size_t n, i;
    json_t *e;
    if ((m = json_object_get(v, "acco"))) {
        if (!parse_list(m, "acco", &n, err, errlen)) return false;
        r->ctx = calloc(n ? n : 1, sizeof *r->ctx);
        json_array_foreach(m, i, e) {
            if (!parse_context(e, &r->ctx[r->nctx++], err, errlen)) return false;
        }
    }
    if ((m = json_object_get(v, "aca")) && !parse_aca(m, r, err, errlen)) return false;
    if ((m = json_object_get(v, "acod"))) {
        if (!parse_list(m, "acod", &n, err, errlen)) return false;
        r->objd = calloc(n ? n : 1, sizeof *r->objd);
        json_array_foreach(m, i, e) {
            if (!parse_objd(e, &r->objd[r->nobjd++], err, errlen)) return false;
        }
    }
    return true;
}

struct acr_set *acr_parse(json_t *set, acr_group_classifier *is_group, void *data,
                          char *err, size_t errlen)
{
    struct acr_set *s = calloc(1, sizeof *s);
    json_t *acr = json_object_get(set, "acr");
    const char *key;
    json_t *m;
    if (!json_is_object(set)) { snprintf(err, errlen, "a privilege set must be an object {\"acr\": [...]}"); goto bad; }
    json_object_foreach(set, key, m)
        if (strcmp(key, "acr")) { snprintf(err, errlen, "privilege set has an unknown member '%s'", key); goto bad; }
    if (acr && !json_is_array(acr)) { snprintf(err, errlen, "acr must be a list of rules"); goto bad; }
    s->rules = calloc(acr && json_array_size(acr) ? json_array_size(acr) : 1, sizeof *s->rules);
    size_t i;
    json_t *e;
    json_array_foreach(acr, i, e) {
        if (!parse_rule(e, &s->rules[s->n++], is_group, data, err, errlen)) goto bad;
    }
    return s;
bad:
    acr_free(s);
    return NULL;
}

void acr_free(struct acr_set *set)
{
    if (!set) return;
    for (int i = 0; i < set->n; i++) {
        struct rule *r = &set->rules[i];
        for (int k = 0; k < r->norig; k++) free(r->orig[k].s);
        free(r->orig);
        for (int k = 0; k < r->nctx; k++) { free(r->ctx[k].win); free(r->ctx[k].ips); }
        free(r->ctx);
        for (int k = 0; k < r->nobjd; k++) { free(r->objd[k].spty); free(r->objd[k].chty); }
        free(r->objd);
        for (int k = 0; k < r->naca; k++) free(r->aca[k]);
        free(r->aca);
    }
    free(set->rules);
    free(set);
}

int acr_count(const struct acr_set *set) { return set ? set->n : 0; }

/* ---- evaluation ---------------------------------------------------------- */

static bool context_holds(const struct context *c, const struct acr_subject *s)
{
    if (c->has_region) return false; /* no trustworthy location: indeterminate = deny */
    if (c->has_win) {
        bool ok = false;
        for (int i = 0; i < c->nwin && !ok; i++) ok = schedule_match(&c->win[i], s->now_us);
        if (!ok) return false;
    }
    if (c->has_ip) {
        struct cidr peer;
        if (!parse_peer(s->ip, &peer)) return false;
        bool ok = false;
        for (int i = 0; i < c->nips && !ok; i++) ok = cidr_contains(&c->ips[i], &peer);
        if (!ok) return false;
    }
    return true;
}

static bool objd_holds(const struct objd *o, const struct acr_subject *s)
{
    if (o->ty && o->ty != s->target_ty) return false;
    if (o->spty && (!s->child_spty || strcmp(o->spty, s->child_spty))) return false;
    for (int i = 0; i < o->nchty; i++)
        if (o->chty[i] == s->child_ty) return true;
    return false;
}

/* aca: every attribute the request touches must be one the rule lists. */
static bool attributes_covered(const struct rule *r, const struct acr_subject *s)
{
    if (!r->naca) return true;
    if (!s->attrs_known) return false;
    for (int i = 0; i < s->nattrs; i++) {
        bool listed = false;
        for (int k = 0; k < r->naca && !listed; k++) listed = !strcmp(r->aca[k], s->attrs[i]);
        if (!listed) return false;
    }
    return true;
}

/* Cheap conditions first; group membership (a store lookup) last. */
static bool rule_permits(const struct rule *r, const struct acr_subject *s, int *stage)
{
    *stage = 0;
    if (!(r->acop & s->op_bit)) return false;
    *stage = 1;
    if (r->acaf && !s->authenticated) return false;
    *stage = 2;
    if (r->nctx) {
        bool ok = false;
        for (int i = 0; i < r->nctx && !ok; i++) ok = context_holds(&r->ctx[i], s);
        if (!ok) return false;
    }
    *stage = 3;
    if (r->nobjd && s->child_ty) {
        bool ok = false;
        for (int i = 0; i < r->nobjd && !ok; i++) ok = objd_holds(&r->objd[i], s);
        if (!ok) return false;
    }
    *stage = 4;
    if (!attributes_covered(r, s)) return false;
    *stage = 5;
    for (int i = 0; i < r->norig; i++)
        if (orig_match(&r->orig[i], s)) return true;
    return false;
}

bool acr_permits(const struct acr_set *set, const struct acr_subject *s, const char **why)
{
    static const char *const reasons[] = {
        "no rule grants this operation", "rule requires an authenticated originator",
        "outside the rule's time, address or location context", "child resource type not allowed by acod",
        "attributes outside the rule's aca", "originator not listed in acor",
    };
    int best = -1;
    for (int i = 0; set && i < set->n; i++) {
        int stage;
        if (rule_permits(&set->rules[i], s, &stage)) return true;
        if (stage > best) best = stage;
    }
    if (why) *why = best < 0 ? "no access control rules" : reasons[best];
    return false;
}
