/* A cheaper option iterator for libcoap 4.3.1 (docs/decisions.md, "CoAP
 * option iteration").
 *
 * libcoap walks a request's options about ten times before our handler runs
 * (its critical-option check, coap_get_uri_path() twice, coap_get_query()
 * twice and one coap_check_option() per option it looks for: Observe,
 * Block1/2, Proxy-Uri, ...), each step through three out-of-line calls per
 * option. That was a quarter of a CoAP RETRIEVE's instructions. Like
 * coap_pdu_parse() (coap_parse_hook.h) and coap_option_filter_get()
 * (coap_optfilter.h), coap_option_next(), coap_check_option(),
 * coap_get_uri_path() and coap_get_query() are exported and called through libcoap's PLT; we
 * define them with libcoap's semantics (the iterator is the public
 * coap_opt_iterator_t, returning what libcoap's functions return), decoding
 * each option header with coap_wire_option_at(). tests/unit/test_coap_optiter.c
 * and fuzz_coap compare them with libcoap's functions on the same bytes. */
#ifndef IRONBARK_COAP_OPTITER_H
#define IRONBARK_COAP_OPTITER_H

#include "coap_map.h"

#include <coap3/coap.h>
#include <stdbool.h>

/* The value and its length (*len) of opt, the option coap_option_next(oi)
 * just returned: read from its header, without libcoap's coap_opt_value()
 * and coap_opt_length() (each decodes the header again). */
const uint8_t *coap_optiter_value(const coap_opt_t *opt, const coap_opt_iterator_t *oi, size_t *len);

/* Every option of pdu in wire order, as coap_option_next() over an
 * unfiltered iterator yields them (up to a malformed one), into opts: the
 * count, at most max, with *more set when there were more. One walk
 * without a call per option. */
int coap_optiter_read(const coap_pdu_t *pdu, struct coap_option_in *opts, int max, bool *more);

/* Fills an empty filter with number as coap_option_filter_set() would
 * (libcoap takes the highest free slot). */
void coap_optiter_filter_one(coap_opt_filter_t *filter, coap_option_num_t number);

#endif
