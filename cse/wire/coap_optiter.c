#include "coap_optiter.h"

#include "coap_optfilter.h"
#include "coap_wire.h"

#include <dlfcn.h>
#include <string.h>

void coap_optiter_filter_one(coap_opt_filter_t *filter, coap_option_num_t number)
{
    memset(filter, 0, sizeof *filter);
    if (number > 255) {
        filter->long_opts[COAP_OPT_FILTER_LONG - 1] = number;
        filter->mask = (uint16_t)(1u << (COAP_OPT_FILTER_LONG - 1));
    } else {
        filter->short_opts[COAP_OPT_FILTER_SHORT - 1] = (uint8_t)number;
        filter->mask = (uint16_t)(1u << (COAP_OPT_FILTER_LONG + COAP_OPT_FILTER_SHORT - 1));
    }
}

/* An iterator's position during one call, in locals rather than through
 * the iterator's pointer (the compiler keeps them in registers): where the
 * next option starts, the bytes left, the current number and the value
 * length of the option last stepped over. */
struct walk {
    const uint8_t *p;
    size_t len;
    unsigned number;
    size_t vlen;
};

static inline struct walk walk_of(const coap_opt_iterator_t *oi)
{
    return (struct walk){ oi->next_option, oi->length, oi->number, 0 };
}

/* Steps w over its next option: that option, or NULL when the iterator is
 * finished (no bytes, the payload marker 0xff) or the option malformed,
 * which libcoap marks bad (the position is then left as it was). */
static inline coap_opt_t *walk_next(struct walk *w)
{
    if (!w->len || !w->p || *w->p == 0xff) return NULL;
    const uint8_t *current = w->p;
    size_t delta, n;
    unsigned dn = *current >> 4, ln = *current & 15;
    if (dn < 13 && ln < 13) {   /* the common one-byte header */
        delta = dn;
        w->vlen = ln;
        n = 1u + ln;
        if (n > w->len) return NULL;
    } else {
        size_t d, v;   /* locals: their addresses taken, w stays in registers */
        n = coap_wire_option_at(current, w->len, &d, &v);
        /* libcoap refuses a two-byte delta whose first byte is 0xff (it
         * would overflow its 16-bit delta); the same option is malformed here. */
        if (!n || d >= 269 + 0xff00) return NULL;
        delta = d;
        w->vlen = v;
    }
    w->p += n;
    w->len -= n;
    w->number = (coap_option_num_t)(w->number + delta);
    return (coap_opt_t *)current;
}

/* Writes w back into oi; bad when the last step found nothing. */
static inline coap_opt_t *walk_done(coap_opt_iterator_t *oi, const struct walk *w, coap_opt_t *found)
{
    oi->next_option = (coap_opt_t *)w->p;
    oi->length = w->len;
    oi->number = (coap_option_num_t)w->number;
    if (!found) oi->bad = 1;
    return found;
}

/* Overrides libcoap's exported function of the same name (see header). As
 * libcoap's: a finished, bad or payload-reaching iterator is marked bad; a
 * malformed option marks it bad; options the filter leaves out are skipped
 * (what our coap_option_filter_get() answers, as it does for libcoap's).
 * A filter of numbers below 256 alone (no long slot, hence no sentinel
 * either) cannot match a number above 255: no filter test for those. The
 * walk still goes on to the end, as libcoap's does: option numbers grow,
 * except that a malformed datagram can wrap the 16-bit number around. */
coap_opt_t *coap_option_next(coap_opt_iterator_t *oi)
{
    if (oi->bad) return NULL;
    struct walk w = walk_of(oi);
    coap_opt_t *current;
    if (!oi->filtered) return walk_done(oi, &w, walk_next(&w));
    int short_only = !(oi->filter.mask & ((1u << COAP_OPT_FILTER_LONG) - 1));
    while ((current = walk_next(&w))) {
        if (short_only ? w.number <= 255 && coap_optfilter_has(&oi->filter, w.number)
                       : coap_optfilter_knows(&oi->filter, w.number))
            break;
    }
    return walk_done(oi, &w, current);
}

/* Overrides libcoap's exported function of the same name (see header): the
 * iterator is left filtered on number as libcoap leaves it; each option is
 * compared with number, without a filter lookup. */
coap_opt_t *coap_check_option(const coap_pdu_t *pdu, coap_option_num_t number, coap_opt_iterator_t *oi)
{
    coap_opt_filter_t f;
    coap_optiter_filter_one(&f, number);
    if (!coap_option_iterator_init(pdu, oi, &f) || oi->bad) return NULL;
    struct walk w = walk_of(oi);
    coap_opt_t *current;
    while ((current = walk_next(&w)) && w.number != number) continue;
    return walk_done(oi, &w, current);
}

int coap_optiter_read(const coap_pdu_t *pdu, struct coap_option_in *opts, int max, bool *more)
{
    coap_opt_iterator_t oi;
    int n = 0;
    *more = false;
    if (!coap_option_iterator_init(pdu, &oi, COAP_OPT_ALL) || oi.bad) return 0;
    struct walk w = walk_of(&oi);
    while (walk_next(&w)) {
        if (n == max) {
            *more = true;
            break;
        }
        opts[n].number = (uint16_t)w.number;
        opts[n].len = w.vlen;
        opts[n].value = w.p - w.vlen;
        n++;
    }
    return n;
}

const uint8_t *coap_optiter_value(const coap_opt_t *opt, const coap_opt_iterator_t *oi, size_t *len)
{
    size_t delta;
    if (!coap_wire_option_at(opt, (size_t)(oi->next_option - opt), &delta, len)) *len = 0;
    return oi->next_option - *len;
}

/* RFC 3986's unreserved and sub-delims, ':' and '@' (pchar), as libcoap
 * leaves them unescaped in a path; a query also keeps '/' and '?'. Bit c of
 * the pair is set for a plain byte c below 128 (every byte of every path
 * is tested: a bit test rather than libcoap's chain of comparisons). */
static const uint64_t PATH_PLAIN[2] = { 0x2fff7fd200000000ull, 0x47fffffe87ffffffull };
static const uint64_t QUERY_PLAIN[2] = { 0xafffffd200000000ull, 0x47fffffe87ffffffull };

static inline int plain_in(const uint64_t set[2], uint8_t c)
{
    return c < 128 && (set[c >> 6] >> (c & 63) & 1);
}

/* The values of one option number in a request, found in one walk. */
#define SEGS_MAX 32
struct segs {
    int n;
    int overflow;       /* more than SEGS_MAX of them */
    int empty;          /* one of them is empty */
    int proxy_uri;      /* the request has a Proxy-Uri */
    const uint8_t *v[SEGS_MAX];
    size_t len[SEGS_MAX];
};

/* Walks every option of request once, as libcoap's filtered walks for
 * number would (stopping where the iterator turns bad), noting Proxy-Uri. */
static void find_segs(const coap_pdu_t *request, coap_option_num_t number, struct segs *s)
{
    coap_opt_iterator_t oi;
    s->n = s->overflow = s->empty = s->proxy_uri = 0;
    if (!coap_option_iterator_init(request, &oi, COAP_OPT_ALL) || oi.bad) return;
    struct walk w = walk_of(&oi);
    while (walk_next(&w)) {
        if (w.number == COAP_OPTION_PROXY_URI) s->proxy_uri = 1;
        if (w.number != number) continue;
        if (s->n == SEGS_MAX) {
            s->overflow = 1;
            continue;
        }
        s->v[s->n] = w.p - w.vlen;
        s->len[s->n] = w.vlen;
        if (!w.vlen) s->empty = 1;
        s->n++;
    }
}

/* The segments joined by sep, bytes outside the set plain as %XX, as libcoap
 * builds a path or a query; a string the caller frees with
 * coap_delete_string(), NULL when out of memory. */
static coap_string_t *join_escaped(const struct segs *s, uint8_t sep, const uint64_t plain[2])
{
    static const char hex[] = "0123456789ABCDEF";
    size_t length = 0;
    for (int k = 0; k < s->n; k++) {
        for (size_t i = 0; i < s->len[k]; i++) length += plain_in(plain, s->v[k][i]) ? 1 : 3;
        length += 1;
    }
    if (length) length--;   /* no separator before the first segment */
    coap_string_t *out = coap_new_string(length);
    if (!out) return NULL;
    out->length = length;
    uint8_t *w = out->s;
    for (int k = 0; k < s->n; k++) {
        if (k) *w++ = sep;
        for (size_t i = 0; i < s->len[k]; i++) {
            uint8_t c = s->v[k][i];
            if (plain_in(plain, c)) {
                *w++ = c;
            } else {
                *w++ = '%';
                *w++ = (uint8_t)hex[c >> 4];
                *w++ = (uint8_t)hex[c & 15];
            }
        }
    }
    return out;
}

typedef coap_string_t *string_fn(const coap_pdu_t *request);

/* libcoap's own definition of name (coap_get_uri_path, coap_get_query),
 * looked up once into *real, called on request. */
static coap_string_t *libcoap_string(const coap_pdu_t *request, const char *name, string_fn **real)
{
    if (!*real) {
        void *f = dlvsym(RTLD_NEXT, name, "VER_3");
        *real = (string_fn *)(f ? f : dlsym(RTLD_NEXT, name));
    }
    return *real ? (*real)(request) : NULL;
}

/* Overrides libcoap's exported function of the same name (see header): the
 * Uri-Path options joined by '/', bytes outside PATH_PLAIN as %XX, in
 * a string the caller frees with coap_delete_string(); one walk over the
 * options where libcoap takes three. A request with a Proxy-Uri, or with
 * more segments than SEGS_MAX, goes to libcoap's own function. */
coap_string_t *coap_get_uri_path(const coap_pdu_t *request)
{
    struct segs s;
    find_segs(request, COAP_OPTION_URI_PATH, &s);
    static string_fn *real;
    if (s.proxy_uri || s.overflow) return libcoap_string(request, "coap_get_uri_path", &real);
    return join_escaped(&s, '/', PATH_PLAIN);
}

/* Overrides libcoap's exported function of the same name (see header): the
 * Uri-Query options joined by '&', bytes outside QUERY_PLAIN as %XX;
 * NULL without a query (nothing to escape and no separator). libcoap skips
 * the separator after an empty first segment although it counted it (a
 * string longer than what it wrote); such a request (which our parse hook
 * never lets through, coap_wire.h) and one with more than SEGS_MAX
 * segments go to libcoap's own function. */
coap_string_t *coap_get_query(const coap_pdu_t *request)
{
    struct segs s;
    find_segs(request, COAP_OPTION_URI_QUERY, &s);
    static string_fn *real;
    if (s.empty || s.overflow) return libcoap_string(request, "coap_get_query", &real);
    if (!s.n) return NULL;
    return join_escaped(&s, '&', QUERY_PLAIN);
}
