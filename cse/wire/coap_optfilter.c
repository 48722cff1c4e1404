#include "coap_optfilter.h"

#include "coap_map.h"

static int active;

/* Overrides libcoap's exported function of the same name (see header). */
int coap_option_filter_get(coap_opt_filter_t *filter, coap_option_num_t number)
{
    if (!filter) return 0;
    if (coap_optfilter_has(filter, number)) return 1;
    if (coap_optfilter_onem2m(number) && coap_optfilter_has(filter, COAP_OPTFILTER_SENTINEL)) {
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
