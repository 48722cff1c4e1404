#include "coap_parse_hook.h"

#include "coap_wire.h"
#include "../base/log.h"
#include "../base/loop.h"

#include <coap3/coap.h>

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef int parse_fn(coap_proto_t proto, const uint8_t *data, size_t length, coap_pdu_t *pdu);

static parse_fn *real_parse;
static struct coap_parse_stats stats;
static struct log_burst malformed_log;

static parse_fn *libcoap_parse(void)
{
    if (!real_parse) {
        /* The next definition after ours in lookup order is libcoap's. */
        void *f = dlvsym(RTLD_NEXT, "coap_pdu_parse", "VER_3");
        if (!f) f = dlsym(RTLD_NEXT, "coap_pdu_parse");
        real_parse = (parse_fn *)f;
    }
    return real_parse;
}

/* libcoap answers a datagram it cannot parse with a Reset carrying the
 * Message ID it read: it must read the header before it fails. So it gets
 * the header and token followed by a reserved option byte (a format error
 * to any parser); a header it cannot read it gets as it came. */
static int refuse(parse_fn *real, coap_proto_t proto, const uint8_t *data, size_t length,
                  coap_pdu_t *pdu)
{
    size_t head = length >= 4 ? 4u + (data[0] & 15) : 0;
    if (length < 4 || (data[0] & 15) > 8 || head > length) return real(proto, data, length, pdu);
    uint8_t bad[4 + 8 + 1];
    memcpy(bad, data, head);
    bad[head] = 0xf1;
    if (real(proto, bad, head + 1, pdu)) return 0;   /* never: 0xf1 is reserved */
    return 0;
}

/* Well formed yet refused: libcoap's PDU for the session is smaller than
 * the datagram (1152 bytes by default). Handed over without its payload and
 * marked, the request reaches the server, which answers 4.13 (coap.c)
 * instead of leaving the client to retransmit into silence. */
static int too_large(parse_fn *real, coap_proto_t proto, const uint8_t *data, size_t length,
                     coap_pdu_t *pdu)
{
    uint8_t *head = malloc(length + 8);
    size_t n = head ? coap_wire_strip_payload(data, length, head, length + 8) : 0;
    int ok = n && real(proto, head, n, pdu);
    free(head);
    return ok;
}

void coap_parse_hook_stats(struct coap_parse_stats *out) { *out = stats; }

/* Overrides libcoap's exported function of the same name (see header). */
int coap_pdu_parse(coap_proto_t proto, const uint8_t *data, size_t length, coap_pdu_t *pdu)
{
    parse_fn *real = libcoap_parse();
    if (!real) return 0;
    if (proto != COAP_PROTO_UDP && proto != COAP_PROTO_DTLS) return real(proto, data, length, pdu);
    stats.checked++;
    const char *why = NULL;
    uint8_t *copy = NULL;
    size_t copylen = 0;
    enum coap_wire_verdict v = coap_wire_check(data, length, NULL, 0, &copylen, &why);
    if (v == COAP_WIRE_REWRITTEN) {   /* rare: only then a copy */
        copy = malloc(length);
        v = copy ? coap_wire_check(data, length, copy, length, &copylen, &why) : COAP_WIRE_MALFORMED;
        if (!copy) why = "out of memory";
    }
    int ok;
    if (v == COAP_WIRE_MALFORMED) {
        stats.malformed++;
        /* Outsiders choose what they send: debug detail, a rate-limited summary. */
        log_debug("coap: malformed datagram of %zu bytes: %s", length, why);
        log_burst_write(&malformed_log, LOG_LVL_INFO, loop_now_ms(), 60000,
                        "coap: refusing malformed datagrams (%s)", why);
        ok = refuse(real, proto, data, length, pdu);
    } else if (v == COAP_WIRE_REWRITTEN) {
        stats.rewritten++;
        ok = real(proto, copy, copylen, pdu);
    } else {
        ok = real(proto, data, length, pdu);
    }
    if (!ok && v != COAP_WIRE_MALFORMED) ok = too_large(real, proto, copy ? copy : data,
                                                        copy ? copylen : length, pdu);
    free(copy);
    return ok;
}
