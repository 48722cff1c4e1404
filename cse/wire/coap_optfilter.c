#include "coap_optfilter.h"

#include "coap_map.h"

#include <dlfcn.h>

typedef int filter_get_fn(coap_opt_filter_t *filter, coap_option_num_t number);

static filter_get_fn *real_filter_get;
static int active;

static filter_get_fn *libcoap_filter_get(void)
{
    if (!real_filter_get) {
        /* The next definition after ours in lookup order is libcoap's. */
        void *f = dlvsym(RTLD_NEXT, "coap_option_filter_get", "VER_3");
        if (!f) f = dlsym(RTLD_NEXT, "coap_option_filter_get");
        real_filter_get = (filter_get_fn *)f;
    }
    return real_filter_get;
}

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

/* Is a number above 255 in filter? Read from the struct coap_option.h
 * declares (the first COAP_OPT_FILTER_LONG mask bits mark the used
 * long_opts[]), as libcoap's own lookup reads it: libcoap iterates options
 * through filters several times per request, and two calls into the library
 * per oneM2M option were a tenth of a request's instructions. */
static int has_long_option(const coap_opt_filter_t *filter, uint16_t number)
{
    for (unsigned i = 0; i < COAP_OPT_FILTER_LONG; i++)
        if ((filter->mask & (1u << i)) && filter->long_opts[i] == number) return 1;
    return 0;
}

/* Overrides libcoap's exported function of the same name (see header). */
int coap_option_filter_get(coap_opt_filter_t *filter, coap_option_num_t number)
{
    if (!is_onem2m_number(number)) {
        filter_get_fn *real = libcoap_filter_get();
        return real ? real(filter, number) : 0;
    }
    if (!filter) return 0;
    if (has_long_option(filter, number)) return 1;
    if (has_long_option(filter, COAP_OPTFILTER_SENTINEL)) {
        active = 1;
        return 1;
    }
    return 0;
}

void coap_optfilter_install(coap_context_t *ctx)
{
    libcoap_filter_get();
    coap_register_option(ctx, COAP_OPTFILTER_SENTINEL);
}

int coap_optfilter_active(void) { return active; }
