#include "primitive.h"

#include "../base/clock.h"
#include "lbq.h"
#include "rsc.h"
#include "token_syntax.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void m2m_request_init(struct m2m_request *req)
{
    memset(req, 0, sizeof *req);
    req->rcn = -1;
    req->drt = 1;
    req->fc.fu = 2;
    req->fc.fo = 1;
    req->fc.lim = req->fc.lvl = req->fc.ofst = -1;
    req->fc.sts = req->fc.stb = req->fc.sza = req->fc.szb = -1;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
}

/* Keep in step with m2m_request_dup(): each owned pointer freed here is
 * copied there. */
void m2m_request_clear(struct m2m_request *req)
{
    free(req->to); free(req->fr); free(req->rqi); free(req->rvi); free(req->rtu);
    free(req->ot); free(req->rqet); free(req->rset); free(req->oet); free(req->rp);
    free(req->vsi); free(req->gid); free(req->tokens); free(req->rids);
    free(req->tids); free(req->ltids);
    free(req->grtm); free(req->aus); free(req->query); free(req->via);
    free_list(req->atrl, req->natrl);
    struct m2m_filter *f = &req->fc;
    free_list(f->lbl, f->nlbl); free_list(f->clbl, f->nclbl); free_list(f->palb, f->npalb);
    free_list(f->cty, f->ncty); free_list(f->atr_nm, f->natr); free_list(f->atr_val, f->natr);
    free(f->arp);
    free_list(f->lbq, f->nlbq);
    free_list(f->catr_nm, f->ncatr); free_list(f->catr_val, f->ncatr);
    free_list(f->patr_nm, f->npatr); free_list(f->patr_val, f->npatr);
    if (req->pc) json_decref(req->pc);
    m2m_request_init(req);
}

static char *dup_str(const char *s) { return s ? strdup(s) : NULL; }

static void dup_list(char **v, int n)
{
    for (int i = 0; i < n; i++) v[i] = dup_str(v[i]);
}

struct m2m_request *m2m_request_dup(const struct m2m_request *req)
{
    struct m2m_request *d = malloc(sizeof *d);
    if (!d) return NULL;
    *d = *req;
    /* Every owned pointer that m2m_request_clear() frees is copied here. */
    char **strs[] = { &d->to, &d->fr, &d->rqi, &d->rvi, &d->rtu, &d->ot, &d->rqet, &d->rset,
                      &d->oet, &d->rp, &d->vsi, &d->gid, &d->tokens, &d->rids, &d->tids, &d->ltids, &d->grtm, &d->aus,
                      &d->query, &d->via, &d->fc.arp };
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) *strs[i] = dup_str(*strs[i]);
    dup_list(d->atrl, d->natrl);
    struct m2m_filter *f = &d->fc;
    dup_list(f->lbl, f->nlbl); dup_list(f->clbl, f->nclbl); dup_list(f->palb, f->npalb);
    dup_list(f->cty, f->ncty); dup_list(f->atr_nm, f->natr); dup_list(f->atr_val, f->natr);
    dup_list(f->lbq, f->nlbq);
    dup_list(f->catr_nm, f->ncatr); dup_list(f->catr_val, f->ncatr);
    dup_list(f->patr_nm, f->npatr); dup_list(f->patr_val, f->npatr);
    d->pc = req->pc ? json_deep_copy(req->pc) : NULL;
    d->cont = NULL;
    return d;
}

void m2m_response_echo(const struct m2m_request *req, struct m2m_echo *out)
{
    out->vsi = req->vsi && strlen(req->vsi) <= M2M_ECHO_MAX ? req->vsi : NULL;
    out->rset = req->rset && strlen(req->rset) <= M2M_ECHO_MAX ? req->rset : NULL;
    out->ot[0] = 0;
    if (req->ot) {
        ts_buf now;
        ts_format(clock_now_us(), now);
        snprintf(out->ot, sizeof out->ot, "%.15s", now);
    }
}

void m2m_response_init(struct m2m_response *rsp)
{
    memset(rsp, 0, sizeof *rsp);
}

void m2m_response_clear(struct m2m_response *rsp)
{
    if (rsp->pc) json_decref(rsp->pc);
    free(rsp->location);
    free(rsp->pc_text);
    if (rsp->tqf) json_decref(rsp->tqf);
    free(rsp->ati);
    m2m_response_init(rsp);
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 when there is none. */
static size_t utf8_sequence(const unsigned char *p)
{
    if (p[0] < 0x80) return 1;
    size_t n = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
             : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
    uint32_t cp = p[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;   /* also stops at the NUL */
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

bool m2m_text_valid(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_sequence(p);
        if (!n || *p < 0x20 || *p == 0x7f) return false;
        p += n;
    }
    return true;
}

int m2m_error(struct m2m_response *rsp, int rsc, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Messages quote what the client sent (a header, a query key) and may be
     * cut mid-character; jansson takes UTF-8 only and would leave the
     * answer without its m2m:dbg. Bytes of a malformed sequence become '?'. */
    for (unsigned char *p = (unsigned char *)msg; *p;) {
        size_t n = utf8_sequence(p);
        if (n) p += n;
        else *p++ = '?';
    }
    if (rsp->pc) json_decref(rsp->pc);
    free(rsp->pc_text);   /* the new pc may land at the old one's address */
    rsp->pc_text = NULL;
    rsp->rsc = rsc;
    rsp->pc = json_pack("{s:s}", "m2m:dbg", msg);
    return rsc;
}

int m2m_percent_decode(const char *src, size_t len, char *dst, size_t dstlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (o + 1 >= dstlen) return -1;
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len || !isxdigit((unsigned char)src[i + 1]) ||
                !isxdigit((unsigned char)src[i + 2]))
                return -1;
            char hex[3] = { src[i + 1], src[i + 2], 0 };
            c = (char)strtol(hex, NULL, 16);
            if (c == 0) return -1;
            i += 2;
        }
        dst[o++] = c;
    }
    dst[o] = 0;
    return (int)o;
}

int m2m_percent_encode(const char *value, char *dst, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        bool plain = isalnum(*p) || strchr("-._~@+", *p);
        if (n + (plain ? 1 : 3) >= cap) return -1;
        if (plain) {
            dst[n++] = (char)*p;
        } else {
            dst[n++] = '%';
            dst[n++] = hex[*p >> 4];
            dst[n++] = hex[*p & 15];
        }
    }
    if (n >= cap) return -1;
    dst[n] = 0;
    return (int)n;
}

/* --- query parameter mapping ------------------------------------------ */

static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < min || v > max) return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1")) { *out = true; return true; }
    if (!strcmp(s, "false") || !strcmp(s, "0")) { *out = false; return true; }
    return false;
}

/* Splits a '+'- or space-joined list and hands each item to add(). */
typedef int (*item_fn)(struct m2m_request *req, void *slot, const char *item);

static int each_item(struct m2m_request *req, const char *value, void *slot, item_fn add)
{
    char buf[1024];
    if (strlen(value) >= sizeof buf) return RSC_BAD_REQUEST;
    strcpy(buf, value);
    char *save = NULL;
    int n = 0;
    for (char *tok = strtok_r(buf, "+ ", &save); tok; tok = strtok_r(NULL, "+ ", &save)) {
        int rc = add(req, slot, tok);
        if (rc) return rc;
        n++;
    }
    return n ? 0 : RSC_BAD_REQUEST;
}

struct int_list { int *n; int *v; };
struct str_list { int *n; char **v; };

static int add_int(struct m2m_request *req, void *slot, const char *item)
{
    (void)req;
    struct int_list *l = slot;
    int64_t v;
    if (*l->n >= FC_MAX_LIST || !parse_int(item, 0, 1000000, &v)) return RSC_BAD_REQUEST;
    l->v[(*l->n)++] = (int)v;
    return 0;
}

static int add_str(struct m2m_request *req, void *slot, const char *item)
{
    (void)req;
    struct str_list *l = slot;
    if (*l->n >= FC_MAX_LIST) return RSC_BAD_REQUEST;
    l->v[(*l->n)++] = strdup(item);
    return 0;
}

static int add_atrl(struct m2m_request *req, void *slot, const char *item)
{
    (void)slot;
    if (req->natrl >= 32) return RSC_BAD_REQUEST;
    req->atrl[req->natrl++] = strdup(item);
    return 0;
}

static int set_ts(char *dst, const char *value)
{
    ts_buf t;
    if (!ts_canonical(value, t)) return RSC_BAD_REQUEST;
    memcpy(dst, t, TS_LEN);
    return 0;
}

static void set_str(char **dst, const char *value)
{
    free(*dst);
    *dst = strdup(value);
}

/* A '+'-joined list parameter (tkns, tids, ltids) that may come more than
 * once (tids=a&tids=b): each value is checked and added; the whole stays
 * within TOKENS_MAX_COUNT items and TOKENS_MAX_BYTES. */
static int add_list_param(char **dst, const char *value, bool (*ok)(const char *))
{
    size_t have = *dst ? strlen(*dst) : 0, n = have + strlen(value) + 2;
    if (n > TOKENS_MAX_BYTES + 2) return RSC_BAD_REQUEST;
    char joined[TOKENS_MAX_BYTES + 2], *out = malloc(n);
    if (!out) return RSC_INTERNAL_SERVER_ERROR;
    snprintf(joined, sizeof joined, "%s%s%s", have ? *dst : "", have ? "+" : "", value);
    if (!token_list_valid(joined, ok, out, n)) {
        free(out);
        return RSC_BAD_REQUEST;
    }
    free(*dst);
    *dst = out;
    return 0;
}

void m2m_token_params(const struct m2m_request *req, bool with_tokens,
                      void (*fn)(void *data, const char *key, const char *value), void *data)
{
    if (with_tokens && req->tokens) fn(data, "tkns", req->tokens);
    if (req->tids) fn(data, "tids", req->tids);
    if (req->ltids) fn(data, "ltids", req->ltids);
    if (req->rids) fn(data, "rids", req->rids);
    if (req->tqi) fn(data, "tqi", "true");
}

int m2m_add_tokens(struct m2m_request *req, const char *value)
{
    return add_list_param(&req->tokens, value, token_text_valid);
}

/* Attributes that have their own condition or are not filterable by value
 * (TS-0004 7.3.3.17: atr is not allowed for ct, lt, st, et, lbl, ty, cs, cnf). */
static bool attr_filterable(const char *sn)
{
    if (!*sn) return false;
    static const char *const excluded[] = { "ct", "lt", "st", "et", "lbl", "ty", "cs", "cnf" };
    for (size_t i = 0; i < sizeof excluded / sizeof *excluded; i++)
        if (!strcmp(sn, excluded[i])) return false;
    return true;   /* whether some type has it, the dispatcher asks its registry */
}

/* Adds one name=value attribute condition to a list (atr, c.<attr>, p.<attr>). */
static int add_attr_cond(struct m2m_filter *f, int *n, char **names, char **values,
                         const char *sn, const char *value)
{
    if (!attr_filterable(sn)) return RSC_BAD_REQUEST;
    if (*n >= FC_MAX_LIST) return RSC_BAD_REQUEST;
    names[*n] = strdup(sn);
    values[*n] = strdup(value);
    (*n)++;
    f->present = true;
    return 0;
}

static int apply_query_param(struct m2m_request *req, const char *key, const char *value)
{
    struct m2m_filter *f = &req->fc;
    int64_t v;
    bool b;

#define INT_PARAM(name, lo, hi, target) \
    if (!strcmp(key, name)) { \
        if (!parse_int(value, lo, hi, &v)) return RSC_BAD_REQUEST; \
        target = v; return 0; }
#define FC_INT(name, lo, hi, target) \
    if (!strcmp(key, name)) { \
        if (!parse_int(value, lo, hi, &v)) return RSC_BAD_REQUEST; \
        target = v; f->present = true; return 0; }
#define FC_TS(name) \
    if (!strcmp(key, #name)) { f->present = true; return set_ts(f->name, value); }
#define FC_INTS(name) \
    if (!strcmp(key, #name)) { struct int_list l = { &f->n##name, f->name }; \
        f->present = true; return each_item(req, value, &l, add_int); }
#define FC_STRS(name) \
    if (!strcmp(key, #name)) { struct str_list l = { &f->n##name, f->name }; \
        f->present = true; return each_item(req, value, &l, add_str); }
#define STR_PARAM(name, target) \
    if (!strcmp(key, name)) { set_str(&target, value); return 0; }

    INT_PARAM("rcn", 0, 12, req->rcn)
    INT_PARAM("rt", 1, 5, req->rt)
    INT_PARAM("drt", 1, 2, req->drt)
    FC_INT("fu", 1, 4, f->fu)
    FC_INT("fo", 1, 2, f->fo)  /* 3 (XOR) is Release 4 */
    FC_INT("lim", 0, INT64_MAX, f->lim)
    FC_INT("lvl", 1, INT64_MAX, f->lvl)
    FC_INT("ofst", 1, INT64_MAX, f->ofst)
    FC_INT("sts", 1, INT64_MAX, f->sts)
    FC_INT("stb", 0, INT64_MAX, f->stb)
    FC_INT("sza", 0, INT64_MAX, f->sza)
    FC_INT("szb", 1, INT64_MAX, f->szb)
    FC_TS(crb) FC_TS(cra) FC_TS(ms) FC_TS(us) FC_TS(exb) FC_TS(exa)
    FC_INTS(ty) FC_INTS(chty) FC_INTS(pty)
    FC_STRS(lbl) FC_STRS(clbl) FC_STRS(palb) FC_STRS(cty)
    STR_PARAM("rp", req->rp)
    STR_PARAM("rids", req->rids)
    if (!strcmp(key, "arp")) { f->present = true; set_str(&f->arp, value); return 0; }
    if (!strcmp(key, "atrl")) return each_item(req, value, NULL, add_atrl);
    if (!strcmp(key, "tqi")) return parse_bool(value, &req->tqi) ? 0 : RSC_BAD_REQUEST;
    if (!strcmp(key, "da") || !strcmp(key, "asi") || !strcmp(key, "auri") || !strcmp(key, "sqi"))
        return parse_bool(value, &b) ? 0 : RSC_BAD_REQUEST;
    if (!strcmp(key, "tids")) return add_list_param(&req->tids, value, token_id_valid);
    if (!strcmp(key, "ltids")) return add_list_param(&req->ltids, value, local_token_id_valid);
    if (!strcmp(key, "tkns")) return m2m_add_tokens(req, value);
    if (!strcmp(key, "lbq")) {
        if (f->nlbq >= FC_MAX_LIST || !lbq_valid(value)) return RSC_BAD_REQUEST;
        f->lbq[f->nlbq++] = strdup(value);
        f->present = true;
        return 0;
    }
    if (!strncmp(key, "c.", 2))
        return add_attr_cond(f, &f->ncatr, f->catr_nm, f->catr_val, key + 2, value);
    if (!strncmp(key, "p.", 2))
        return add_attr_cond(f, &f->npatr, f->patr_nm, f->patr_val, key + 2, value);
    if (!strcmp(key, "cfs") || !strcmp(key, "cfq") || !strcmp(key, "smf")) {
        /* Recognised but not implemented: refuse rather than silently ignore. */
        snprintf(req->unknown_key, sizeof req->unknown_key, "%s", key);
        return RSC_NOT_IMPLEMENTED;
    }
    /* Any other key may name an attribute; m2m_query_attributes_known()
     * later keeps those that do and treats the rest as unknown keys. */
    return add_attr_cond(f, &f->natr, f->atr_nm, f->atr_val, key, value);
#undef INT_PARAM
#undef FC_INT
#undef FC_TS
#undef FC_INTS
#undef FC_STRS
#undef STR_PARAM
}

/* via: '+'-joined SP-relative CSE-IDs ("/id-in+/id-mn"), at most
 * M2M_VIA_MAX of them; given once. */
static int set_via(struct m2m_request *req, const char *value)
{
    int items = 0;
    for (const char *p = value; *p; items++) {
        size_t n = strcspn(p, "+");
        if (n < 2 || p[0] != '/') return RSC_BAD_REQUEST;
        for (size_t i = 1; i < n; i++)
            if (!isalnum((unsigned char)p[i]) && !strchr("-._~", p[i])) return RSC_BAD_REQUEST;
        p += n + (p[n] == '+');
    }
    if (req->via || !items || items > M2M_VIA_MAX || value[strlen(value) - 1] == '+') return RSC_BAD_REQUEST;
    req->via = strdup(value);
    return 0;
}

/* Adds "key=value" to req->query, the parameters a forwarded request carries on. */
static int keep_query_item(struct m2m_request *req, const char *key, const char *value)
{
    size_t cap = strlen(value) * 3 + 1;     /* every byte escaped at most */
    char *enc = malloc(cap);
    size_t have = req->query ? strlen(req->query) : 0, n = have + strlen(key) + cap + 2;
    char *q = enc && m2m_percent_encode(value, enc, cap) >= 0 ? realloc(req->query, n) : NULL;
    if (q) {
        snprintf(q + have, n - have, "%s%s=%s", have ? "&" : "", key, enc);
        req->query = q;
    }
    free(enc);
    return q ? 0 : RSC_INTERNAL_SERVER_ERROR;
}

int m2m_apply_query(struct m2m_request *req, const char *key, const char *value)
{
    if (!strcmp(key, "via")) return set_via(req, value);
    int rc = apply_query_param(req, key, value);
    /* Tokens travel in their own header or option (req->tokens). */
    if (!rc && strcmp(key, "tkns")) rc = keep_query_item(req, key, value);
    return rc;
}

/* Drops entry i of a name/value list. */
static void drop_cond(char **names, char **values, int *n, int i)
{
    free(names[i]);
    free(values[i]);
    memmove(names + i, names + i + 1, (size_t)(*n - i - 1) * sizeof *names);
    memmove(values + i, values + i + 1, (size_t)(*n - i - 1) * sizeof *values);
    (*n)--;
}

int m2m_query_attributes_known(struct m2m_request *req, bool (*known)(const void *ctx, const char *sn),
                               const void *ctx)
{
    struct m2m_filter *f = &req->fc;
    for (int i = 0; i < f->ncatr; i++)
        if (!known(ctx, f->catr_nm[i])) {
            snprintf(req->unknown_key, sizeof req->unknown_key, "c.%s", f->catr_nm[i]);
            return RSC_BAD_REQUEST;
        }
    for (int i = 0; i < f->npatr; i++)
        if (!known(ctx, f->patr_nm[i])) {
            snprintf(req->unknown_key, sizeof req->unknown_key, "p.%s", f->patr_nm[i]);
            return RSC_BAD_REQUEST;
        }
    for (int i = 0; i < f->natr;)
        if (known(ctx, f->atr_nm[i])) {
            i++;
        } else {
            if (!req->unknown_query) snprintf(req->unknown_key, sizeof req->unknown_key, "%s", f->atr_nm[i]);
            req->unknown_query = true;
            drop_cond(f->atr_nm, f->atr_val, &f->natr, i);
        }
    return 0;
}
