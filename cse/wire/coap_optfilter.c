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

/* Overrides libcoap's exported function of the same name (see header). */
int coap_option_filter_get(coap_opt_filter_t *filter, coap_option_num_t number)
{
    filter_get_fn *real = libcoap_filter_get();
    if (!real) return 0;
    int known = real(filter, number);
    if (known > 0 || !is_onem2m_number(number)) return known;
    if (real(filter, COAP_OPTFILTER_SENTINEL) > 0) {
        active = 1;
        return 1;
    }
    return known;
}

void coap_optfilter_install(coap_context_t *ctx)
{
    libcoap_filter_get();
    coap_register_option(ctx, COAP_OPTFILTER_SENTINEL);
}

int coap_optfilter_active(void) { return active; }
