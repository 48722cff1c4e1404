/* Makes libcoap 4.3.1 accept the oneM2M CoAP options (docs/coap.md).
 *
 * libcoap refuses a message with a critical option its context does not
 * "know" (4.02 for a CON request, silent drop for NON requests and for
 * responses). Known options live in a coap_opt_filter_t with only two slots
 * for numbers above 255, and every oneM2M option is critical and above 255,
 * so registering them with coap_register_option() cannot work.
 *
 * libcoap asks coap_option_filter_get() whether an option is known, through
 * its PLT. We define that symbol: it answers as the real function does
 * (reading the filter struct coap_option.h declares, which is cheaper than
 * calling into the library for every option of every iteration; pinned by
 * tests/unit/test_coap_optfilter.c), and
 * additionally says "known" for a oneM2M option number when the filter being
 * asked is a context's known-options filter. That filter is recognised by a
 * sentinel option registered in it (an elective number, so "knowing" it
 * changes nothing). Every other filter (iterators, coap_check_option())
 * gets exactly libcoap's answer, and unknown critical options still get 4.02. */
#ifndef IRONBARK_COAP_OPTFILTER_H
#define IRONBARK_COAP_OPTFILTER_H

#include "coap_map.h"

#include <coap3/coap.h>

/* Elective (even) option number marking a known-options filter. */
#define COAP_OPTFILTER_SENTINEL 65000

/* Is number in filter? Read from the struct coap_option.h declares, as
 * libcoap's own lookup reads it (the first COAP_OPT_FILTER_LONG mask bits
 * mark the used long_opts[], for numbers above 255, the next ones the
 * short_opts[]; checked against libcoap's function for every number over
 * random filters). libcoap iterates the options through filters several
 * times per request; going through the library's function for each, twice
 * for a oneM2M option, was a tenth of a CoAP request's instructions. */
static inline int coap_optfilter_has(const coap_opt_filter_t *filter, unsigned number)
{
    if (number > 255) {
        for (unsigned i = 0; i < COAP_OPT_FILTER_LONG; i++)
            if ((filter->mask & (1u << i)) && filter->long_opts[i] == number) return 1;
        return 0;
    }
    for (unsigned i = 0; i < COAP_OPT_FILTER_SHORT; i++)
        if ((filter->mask & (1u << (COAP_OPT_FILTER_LONG + i))) && filter->short_opts[i] == number) return 1;
    return 0;
}

static inline int coap_optfilter_onem2m(unsigned n)
{
    switch (n) {
#define X(num, name, fmt) case num:
    ONEM2M_OPTIONS(X)
#undef X
        return 1;
    }
    return 0;
}

/* What our coap_option_filter_get() answers, without the call: in filter,
 * or a oneM2M option asked of a filter holding the sentinel (the known
 * options: there coap_option_filter_get() itself is asked, which also
 * records that the interposition works). */
static inline int coap_optfilter_knows(const coap_opt_filter_t *filter, unsigned number)
{
    return coap_optfilter_has(filter, number) ||
           (coap_optfilter_onem2m(number) && coap_optfilter_has(filter, COAP_OPTFILTER_SENTINEL));
}

/* Registers the sentinel in ctx: from now on ctx knows the oneM2M options. */
void coap_optfilter_install(coap_context_t *ctx);

/* True once libcoap has consulted our coap_option_filter_get() for a oneM2M
 * option, i.e. the interposition is effective in this process. */
int coap_optfilter_active(void);

#endif
