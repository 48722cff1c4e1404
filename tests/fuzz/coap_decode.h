/* A CoAP-over-UDP datagram that coap_wire_check() accepted, read into the
 * struct coap_msg_in that cse/coap.c fills from libcoap's option iterator:
 * code, options in wire order with absolute numbers, payload after 0xff. */
#ifndef IRONBARK_FUZZ_COAP_DECODE_H
#define IRONBARK_FUZZ_COAP_DECODE_H

#include <stdint.h>
#include <string.h>

#include "cse/wire/coap_map.h"

static inline int coap_decode_ext(unsigned nibble, const uint8_t **p, const uint8_t *end, size_t *v)
{
    if (nibble < 13) { *v = nibble; return 0; }
    if (nibble == 13 && end - *p >= 1) { *v = 13u + (*p)[0]; *p += 1; return 0; }
    if (nibble == 14 && end - *p >= 2) { *v = 269u + ((size_t)(*p)[0] << 8 | (*p)[1]); *p += 2; return 0; }
    return -1;
}

/* Returns 0, or -1 for a datagram the check should have refused. */
static inline int coap_decode(const uint8_t *msg, size_t len, struct coap_msg_in *in)
{
    memset(in, 0, sizeof *in);
    if (len < 4) return -1;
    size_t tkl = msg[0] & 15;
    if (len < 4 + tkl) return -1;
    in->code = msg[1];
    const uint8_t *p = msg + 4 + tkl, *end = msg + len;
    unsigned number = 0;
    while (p < end && *p != 0xff) {
        unsigned dn = *p >> 4, ln = *p & 15;
        p++;
        size_t delta, olen;
        if (coap_decode_ext(dn, &p, end, &delta) || coap_decode_ext(ln, &p, end, &olen)) return -1;
        number += (unsigned)delta;
        if (number > 0xffff || (size_t)(end - p) < olen) return -1;
        if (in->nopts == COAP_MAP_MAX_OPTS) {
            in->too_many_opts = true;
            break;
        }
        in->opts[in->nopts++] = (struct coap_option_in){ (uint16_t)number, p, olen };
        p += olen;
    }
    if (p < end && *p == 0xff) {
        in->payload = p + 1;
        in->payload_len = (size_t)(end - p - 1);
    }
    return 0;
}

#endif
