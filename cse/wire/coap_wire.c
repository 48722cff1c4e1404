#include "coap_wire.h"

#include <string.h>

#define URI_QUERY 15

int coap_wire_option_limits(unsigned number, size_t *min, size_t *max)
{
    switch (number) {
#define X(num, name, lo, hi) case num: *min = lo; *max = hi; return 1;
    COAP_WIRE_OPTION_LENGTHS(X)
#undef X
    }
    return 0;
}

/* Writes an option header for (delta, length) followed by the value; the
 * room needed is never more than the original encoding took. */
static uint8_t *write_option(uint8_t *w, size_t delta, const uint8_t *value, size_t len)
{
    uint8_t *head = w++;
    unsigned nib[2];
    size_t v[2] = { delta, len };
    for (int i = 0; i < 2; i++) {
        if (v[i] < 13) {
            nib[i] = (unsigned)v[i];
        } else if (v[i] < 269) {
            nib[i] = 13;
            *w++ = (uint8_t)(v[i] - 13);
        } else {
            nib[i] = 14;
            *w++ = (uint8_t)((v[i] - 269) >> 8);
            *w++ = (uint8_t)(v[i] - 269);
        }
    }
    *head = (uint8_t)(nib[0] << 4 | nib[1]);
    memcpy(w, value, len);
    return w + len;
}

struct option {
    unsigned number;
    const uint8_t *value;
    size_t len;
};

/* Walks the options of msg from p; calls fn for each (stops early when fn
 * returns non-zero). Returns the position after the options (the payload
 * marker or the end), or NULL on a format error with *why set. */
static inline const uint8_t *walk(const uint8_t *p, const uint8_t *end,
                           int (*fn)(void *ctx, const struct option *o), void *ctx,
                           const char **why)
{
    unsigned number = 0;
    while (p < end && *p != 0xff) {
        size_t delta, len;
        size_t n = coap_wire_option_at(p, (size_t)(end - p), &delta, &len);
        if (!n) {
            *why = (*p >> 4) == 15 || (*p & 15) == 15 ? "reserved option nibble 15"
                   : "option header or value runs past the end";
            return NULL;
        }
        if (number + delta > 0xffff) {
            *why = "option number above 65535";
            return NULL;
        }
        number += (unsigned)delta;
        struct option o = { number, p + n - len, len };
        p += n;
        if (fn && fn(ctx, &o)) break;
    }
    return p;
}

/* What libcoap would refuse although the RFCs allow it; and our own
 * marker, which only coap_wire_strip_payload() may set (an elective option
 * from a peer is ignorable, so dropping it changes nothing). */
static int libcoap_rejects(const struct option *o)
{
    return (o->number == URI_QUERY && o->len == 0) || o->number == COAP_WIRE_OPT_TOO_LARGE;
}

/* Per option: is the message still one to hand over as it is? */
struct scan {
    int rewrite;
    const char *bad;
};

static inline int scan_option(void *ctx, const struct option *o)
{
    struct scan *s = ctx;
    size_t min, max;
    if (coap_wire_option_limits(o->number, &min, &max) && (o->len < min || o->len > max)) {
        /* RFC 7252 5.4.3: such an option is an unrecognised one. An elective
         * one is then ignored (dropped here); a critical one makes the
         * request unserviceable, and libcoap answers it with a Reset. */
        if (o->number & 1) {
            s->bad = "critical option with a length outside its range";
            return 1;
        }
        s->rewrite = 1;
    }
    if (libcoap_rejects(o)) s->rewrite = 1;
    return 0;
}

struct copy {
    uint8_t *w;
    unsigned last;
};

static int copy_option(void *ctx, const struct option *o)
{
    struct copy *c = ctx;
    size_t min, max;
    if (libcoap_rejects(o)) return 0;
    if (coap_wire_option_limits(o->number, &min, &max) && (o->len < min || o->len > max))
        return 0;   /* an elective option of bad length: ignored (see scan_option) */
    c->w = write_option(c->w, o->number - c->last, o->value, o->len);
    c->last = o->number;
    return 0;
}

enum coap_wire_verdict coap_wire_check(const uint8_t *msg, size_t len, uint8_t *out,
                                       size_t outcap, size_t *outlen, const char **why)
{
    const char *dummy;
    if (!why) why = &dummy;
    *why = NULL;
    if (outlen) *outlen = 0;
    if (len < 4) {
        *why = "shorter than the 4-byte header";
        return COAP_WIRE_MALFORMED;
    }
    if (msg[0] >> 6 != 1) {
        *why = "not CoAP version 1";
        return COAP_WIRE_MALFORMED;
    }
    size_t tkl = msg[0] & 15;
    if (tkl > 8) {
        *why = "token length above 8";
        return COAP_WIRE_MALFORMED;
    }
    if (msg[1] == 0 && len > 4) {
        *why = "an Empty message with bytes after the Message ID";
        return COAP_WIRE_MALFORMED;
    }
    if (len < 4 + tkl) {
        *why = "token runs past the end";
        return COAP_WIRE_MALFORMED;
    }
    const uint8_t *end = msg + len, *opts = msg + 4 + tkl;
    struct scan s = { 0, NULL };
    const uint8_t *after = walk(opts, end, scan_option, &s, why);
    if (!after) return COAP_WIRE_MALFORMED;
    if (s.bad) {
        *why = s.bad;
        return COAP_WIRE_MALFORMED;
    }
    if (after < end && after + 1 == end) {
        *why = "payload marker without a payload";
        return COAP_WIRE_MALFORMED;
    }
    if (!s.rewrite) return COAP_WIRE_OK;
    if (!out) return COAP_WIRE_REWRITTEN;   /* asked only whether */
    if (outcap < len) {
        *why = "no room to rewrite";
        return COAP_WIRE_MALFORMED;
    }
    /* Dropping options and re-encoding the deltas never needs more room:
     * a delta across a dropped option is at most the sum of the two. A
     * delta's extended form is at most as long as the ones it replaces. */
    memcpy(out, msg, 4 + tkl);
    struct copy c = { out + 4 + tkl, 0 };
    walk(opts, end, copy_option, &c, why);
    size_t rest = (size_t)(end - after);
    memcpy(c.w, after, rest);
    *outlen = (size_t)(c.w - out) + rest;
    return COAP_WIRE_REWRITTEN;
}

static int last_number(void *ctx, const struct option *o)
{
    *(unsigned *)ctx = o->number;
    return 0;
}

size_t coap_wire_strip_payload(const uint8_t *msg, size_t len, uint8_t *out, size_t outcap)
{
    const char *why;
    if (len < 4 || (msg[0] & 15) > 8 || len < 4u + (msg[0] & 15)) return 0;
    const uint8_t *end = msg + len, *opts = msg + 4 + (msg[0] & 15);
    unsigned last = 0;
    const uint8_t *after = walk(opts, end, last_number, &last, &why);
    if (!after || after >= end || last >= COAP_WIRE_OPT_TOO_LARGE) return 0;
    size_t head = (size_t)(after - msg), payload = (size_t)(end - after - 1);
    if (outcap < head + 8) return 0;
    memcpy(out, msg, head);
    uint8_t value[4] = { (uint8_t)(payload >> 24), (uint8_t)(payload >> 16), (uint8_t)(payload >> 8),
                         (uint8_t)payload };
    uint8_t *w = write_option(out + head, COAP_WIRE_OPT_TOO_LARGE - last, value, sizeof value);
    return (size_t)(w - out);
}
