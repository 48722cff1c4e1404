/* libm2m-coapopts.so: LD_PRELOAD this into any libcoap 4.3.1 program (e.g.
 * coap-client-openssl) so that it accepts responses carrying the oneM2M CoAP
 * options, which stock libcoap 4.3.1 drops as "unknown critical option"
 * (docs/coap.md). Every context the program creates learns the oneM2M
 * options through the same mechanism the CSE uses (cse/coap_optfilter.c). */
#include "cse/wire/coap_optfilter.h"

#include <dlfcn.h>

typedef coap_context_t *new_context_fn(const coap_address_t *listen_addr);

coap_context_t *coap_new_context(const coap_address_t *listen_addr)
{
    static new_context_fn *real;
    if (!real) real = (new_context_fn *)dlsym(RTLD_NEXT, "coap_new_context");
    if (!real) return NULL;
    coap_context_t *ctx = real(listen_addr);
    if (ctx) coap_optfilter_install(ctx);
    return ctx;
}
