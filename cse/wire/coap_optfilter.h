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

#include <coap3/coap.h>

/* Elective (even) option number marking a known-options filter. */
#define COAP_OPTFILTER_SENTINEL 65000

/* Registers the sentinel in ctx: from now on ctx knows the oneM2M options. */
void coap_optfilter_install(coap_context_t *ctx);

/* True once libcoap has consulted our coap_option_filter_get() for a oneM2M
 * option, i.e. the interposition is effective in this process. */
int coap_optfilter_active(void);

#endif
