#include "coap_optfilter.h"

#include "coap_map.h"

static int active;

static int is_onem2m_number(unsigned n)
{
    switch (n) {
#define X(num, name, fmt) case num:
    ONEM2M_OPTIONS(X)
#undef X
        return 1;
    }
    return 0;
}

/* Is number in filter? Read from the struct coap_option.h declares, as
 * libcoap's own lookup reads it (the first COAP_OPT_FILTER_LONG mask bits
 * mark the used long_opts[], for numbers above 255, the next ones the
 * short_opts[]; checked against libcoap's function for every number over
 * random filters). libcoap iterates the options through filters several
 * times per request; going through the library's function for each, twice
 * for a oneM2M option, was a tenth of a CoAP request's instructions. */
static int filter_has(const coap_opt_filter_t *filter, unsigned number)
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

/* Overrides libcoap's exported function of the same name (see header). */
int coap_option_filter_get(coap_opt_filter_t *filter, coap_option_num_t number)
{
    if (!filter) return 0;
    if (filter_has(filter, number)) return 1;
    if (is_onem2m_number(number) && filter_has(filter, COAP_OPTFILTER_SENTINEL)) {
        active = 1;
        return 1;
    }
    return 0;
}

void coap_optfilter_install(coap_context_t *ctx)
{
    coap_register_option(ctx, COAP_OPTFILTER_SENTINEL);
}

int coap_optfilter_active(void) { return active; }
