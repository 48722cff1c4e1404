#include "lbq.h"

#include <string.h>

#define LBQ_MAX_TOKENS 20

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
bool lbq_parse(const char *expr, struct lbq *q)
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

bool lbq_valid(const char *expr)
{
    struct lbq q;
    return lbq_parse(expr, &q);
}

/* Labels are "key" or "key:value"; the key is what precedes the first ':'. */
bool lbq_eval(const struct lbq *q, const struct resource *r)
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

