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

/* Steps oi over its next option: that option, or NULL with oi bad when it
 * is malformed, the payload marker or the end. */
static coap_opt_t *step(coap_opt_iterator_t *oi)
{
    coap_opt_t *current = oi->next_option;
    size_t delta, vlen;
    size_t n = coap_wire_option_at(current, oi->length, &delta, &vlen);
    /* libcoap refuses a two-byte delta whose first byte is 0xff (it would
     * overflow its 16-bit delta); the same option is malformed here. */
    if (!n || delta >= 269 + 0xff00) {
        oi->bad = 1;
        return NULL;
    }
    oi->next_option += n;
    oi->length -= n;
    oi->number = (coap_option_num_t)(oi->number + delta);
    return current;
}

static int finished(coap_opt_iterator_t *oi)
{
    /* 0xff: the payload marker */
    if (oi->bad || !oi->length || !oi->next_option || *oi->next_option == 0xff) oi->bad = 1;
    return oi->bad;
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
    if (finished(oi)) return NULL;
    int short_only = oi->filtered && !(oi->filter.mask & ((1u << COAP_OPT_FILTER_LONG) - 1));
    for (;;) {
        coap_opt_t *current = step(oi);
        if (!current || !oi->filtered) return current;
        if (short_only ? oi->number <= 255 && coap_optfilter_has(&oi->filter, oi->number)
                       : coap_optfilter_knows(&oi->filter, oi->number))
            return current;
    }
}

/* Overrides libcoap's exported function of the same name (see header): the
 * iterator is left filtered on number as libcoap leaves it; each option is
 * compared with number, without a filter lookup. */
coap_opt_t *coap_check_option(const coap_pdu_t *pdu, coap_option_num_t number, coap_opt_iterator_t *oi)
{
    coap_opt_filter_t f;
    coap_optiter_filter_one(&f, number);
    if (!coap_option_iterator_init(pdu, oi, &f) || finished(oi)) return NULL;
    for (;;) {
        coap_opt_t *current = step(oi);
        if (!current || oi->number == number) return current;
    }
}

const uint8_t *coap_optiter_value(const coap_opt_t *opt, const coap_opt_iterator_t *oi, size_t *len)
{
    size_t delta;
    if (!coap_wire_option_at(opt, (size_t)(oi->next_option - opt), &delta, len)) *len = 0;
    return oi->next_option - *len;
}

/* RFC 3986's unreserved and sub-delims, ':' and '@' (pchar), as libcoap
 * leaves them unescaped in a path. */
static int plain_in_path(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$'()*+,;=:@&", c));
}

typedef coap_string_t *uri_path_fn(const coap_pdu_t *request);

/* Overrides libcoap's exported function of the same name (see header): the
 * Uri-Path options joined by '/', bytes outside plain_in_path() as %XX, in
 * a string the caller frees with coap_delete_string(). A request with a
 * Proxy-Uri goes to libcoap's own function. */
coap_string_t *coap_get_uri_path(const coap_pdu_t *request)
{
    static const char hex[] = "0123456789ABCDEF";
    coap_opt_iterator_t oi;
    if (coap_check_option(request, COAP_OPTION_PROXY_URI, &oi)) {
        static uri_path_fn *real;
        if (!real) {
            void *f = dlvsym(RTLD_NEXT, "coap_get_uri_path", "VER_3");
            real = (uri_path_fn *)(f ? f : dlsym(RTLD_NEXT, "coap_get_uri_path"));
        }
        return real ? real(request) : NULL;
    }
    coap_opt_filter_t f;
    coap_optiter_filter_one(&f, COAP_OPTION_URI_PATH);
    size_t length = 0, seglen;
    coap_opt_t *q;
    coap_option_iterator_init(request, &oi, &f);
    while ((q = coap_option_next(&oi))) {
        const uint8_t *seg = coap_optiter_value(q, &oi, &seglen);
        for (size_t i = 0; i < seglen; i++) length += plain_in_path(seg[i]) ? 1 : 3;
        length += 1;
    }
    if (length) length--;   /* no '/' before the first segment */
    coap_string_t *path = coap_new_string(length);
    if (!path) return NULL;
    path->length = length;
    uint8_t *w = path->s;
    coap_option_iterator_init(request, &oi, &f);
    for (int n = 0; (q = coap_option_next(&oi)); n++) {
        if (n) *w++ = '/';
        const uint8_t *seg = coap_optiter_value(q, &oi, &seglen);
        for (size_t i = 0; i < seglen; i++) {
            if (plain_in_path(seg[i])) {
                *w++ = seg[i];
            } else {
                *w++ = '%';
                *w++ = (uint8_t)hex[seg[i] >> 4];
                *w++ = (uint8_t)hex[seg[i] & 15];
            }
        }
    }
    return path;
}
