#include "coap_optiter.h"

#include "coap_optfilter.h"
#include "coap_wire.h"

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
 * Option numbers only grow, so a filter of numbers below 256 alone (no
 * long slot, hence no sentinel either) matches nothing after a number above
 * 255: the walk stops there with the answer the rest of it would give. */
coap_opt_t *coap_option_next(coap_opt_iterator_t *oi)
{
    if (finished(oi)) return NULL;
    int short_only = oi->filtered && !(oi->filter.mask & ((1u << COAP_OPT_FILTER_LONG) - 1));
    for (;;) {
        coap_opt_t *current = step(oi);
        if (!current || !oi->filtered) return current;
        if (short_only && oi->number > 255) {
            oi->bad = 1;
            return NULL;
        }
        if (coap_optfilter_knows(&oi->filter, oi->number)) return current;
    }
}

/* Overrides libcoap's exported function of the same name (see header): the
 * iterator is left filtered on number as libcoap leaves it; the walk stops
 * at the first option numbered above it. */
coap_opt_t *coap_check_option(const coap_pdu_t *pdu, coap_option_num_t number, coap_opt_iterator_t *oi)
{
    coap_opt_filter_t f;
    coap_optiter_filter_one(&f, number);
    if (!coap_option_iterator_init(pdu, oi, &f) || finished(oi)) return NULL;
    for (;;) {
        coap_opt_t *current = step(oi);
        if (!current || oi->number == number) return current;
        if (oi->number > number) {
            oi->bad = 1;
            return NULL;
        }
    }
}
