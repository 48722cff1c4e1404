/* Puts our own datagram check (coap_wire.c) in front of libcoap 4.3.1's
 * parser. libcoap parses every received datagram, plain or decrypted from
 * DTLS, with its exported coap_pdu_parse(), called through its PLT like
 * coap_option_filter_get() (coap_optfilter.h). We define that symbol: a
 * datagram our check finds malformed is refused (libcoap then answers with
 * a Reset, RFC 7252 4.2), one it rewrote is parsed in its rewritten form,
 * and everything else reaches libcoap's parser untouched. */
#ifndef IRONBARK_COAP_PARSE_HOOK_H
#define IRONBARK_COAP_PARSE_HOOK_H

struct coap_parse_stats {
    long long checked;         /* datagrams seen */
    long long rewritten;       /* handed to libcoap rewritten */
    long long malformed;       /* refused */
};

/* Counts since the process started: the hook is process-wide because
 * libcoap's parser is. checked > 0 proves the interposition effective. */
void coap_parse_hook_stats(struct coap_parse_stats *out);

#endif
