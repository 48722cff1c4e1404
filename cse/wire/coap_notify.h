/* coap:// and coaps:// delivery of notifications (TS-0008): the senders
 * that cse/events/outbound.c uses for those schemes. A libcoap client
 * context of the CSE (cse->coap_client), driven by the event loop, sends
 * each NOTIFY as a confirmable POST with the oneM2M options (RVI, FR, RQI,
 * EC) and reads the RSC option of the answer; coaps:// sessions use DTLS
 * with the PSK that outbound-psk names (docs/security.md). A request
 * reported failed is never sent later (its session is retired;
 * docs/decisions.md). */
#ifndef IRONBARK_COAP_NOTIFY_H
#define IRONBARK_COAP_NOTIFY_H

struct cse;

/* Installs the coap:// and coaps:// senders in cse's outbound table (the
 * client context is created on first use). */
void coap_notify_install(struct cse *cse);
/* Frees cse's client context; requests in flight end as unreachable. */
void coap_notify_shutdown(struct cse *cse);

#endif
