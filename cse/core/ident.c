#include "ident.h"

#include <string.h>
#include <strings.h>

/* An ID split into its parts; sp/cse NULL when the spelling leaves them out. */
struct parts {
    const char *sp, *cse, *rest;
    size_t spn, csen, restn;
};

static bool split(const char *id, struct parts *p)
{
    memset(p, 0, sizeof *p);
    const char *s = id;
    if (s[0] == '/' && s[1] == '/') {
        p->sp = s + 2;
        const char *slash = strchr(p->sp, '/');
        if (!slash || slash == p->sp) return false;
        p->spn = (size_t)(slash - p->sp);
        s = slash;
    }
    if (s[0] == '/') {
        p->cse = s + 1;
        const char *slash = strchr(p->cse, '/');
        p->csen = slash ? (size_t)(slash - p->cse) : strlen(p->cse);
        if (!p->csen || (slash && !slash[1])) return false;
        s = slash ? slash + 1 : "";
    }
    p->rest = s;
    p->restn = strlen(s);
    if (!p->cse && !p->restn) return false;
    return !p->restn || (s[0] != '/' && s[p->restn - 1] != '/' && !strstr(s, "//"));
}

/* Appends to a fixed buffer; `over` records that something did not fit. */
struct out { char *p; size_t cap, n; bool over; };

static void put(struct out *o, const char *s, size_t n, bool lower)
{
    if (o->n + n >= o->cap) { o->over = true; return; }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        o->p[o->n++] = lower && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    o->p[o->n] = 0;
}

static bool build(char *dst, size_t cap, const char *sp, size_t spn, const char *cse, size_t csen,
                  const char *rest, size_t restn)
{
    struct out o = { dst, cap, 0, false };
    dst[0] = 0;
    if (sp) { put(&o, "//", 2, false); put(&o, sp, spn, true); }
    if (cse) { put(&o, "/", 1, false); put(&o, cse, csen, false); }
    if (restn) {
        if (cse) put(&o, "/", 1, false);
        put(&o, rest, restn, false);
    }
    return !o.over;
}

bool ident_local_sp(const struct ident_home *home, const char *sp, size_t n)
{
    return n == strlen(home->sp_id) && !strncasecmp(sp, home->sp_id, n);
}

bool ident_forms(const struct ident_home *home, const char *id, struct ident_forms *f)
{
    f->rel[0] = f->sprel[0] = f->abs[0] = 0;
    struct parts p;
    if (!id || !split(id, &p)) return false;
    bool local_sp = !p.sp || ident_local_sp(home, p.sp, p.spn);
    if (!p.cse) { p.cse = home->cse_id; p.csen = strlen(home->cse_id); }
    bool local_cse = local_sp && p.csen == strlen(home->cse_id) && !memcmp(p.cse, home->cse_id, p.csen);
    if (local_sp) { p.sp = home->sp_id; p.spn = strlen(home->sp_id); }
    bool ok = build(f->abs, sizeof f->abs, p.sp, p.spn, p.cse, p.csen, p.rest, p.restn);
    if (ok && local_sp) ok = build(f->sprel, sizeof f->sprel, NULL, 0, p.cse, p.csen, p.rest, p.restn);
    if (ok && local_cse) ok = build(f->rel, sizeof f->rel, NULL, 0, NULL, 0, p.rest, p.restn);
    if (!ok) f->rel[0] = f->sprel[0] = f->abs[0] = 0;
    return ok;
}

bool ident_is(const struct ident_home *home, const char *id, const struct ident_forms *who)
{
    if (!id || !who->abs[0]) return false;
    /* The common case: a CSE-relative ID names an entity of this CSE. */
    if (id[0] != '/') return who->rel[0] && !strcmp(id, who->rel);
    struct ident_forms f;
    return ident_forms(home, id, &f) && !strcmp(f.abs, who->abs);
}

bool ident_same(const struct ident_home *home, const char *a, const char *b)
{
    struct ident_forms fb;
    return ident_forms(home, b, &fb) && ident_is(home, a, &fb);
}

const char *ident_shortest(const struct ident_forms *f)
{
    return f->rel[0] ? f->rel : f->sprel[0] ? f->sprel : f->abs;
}
