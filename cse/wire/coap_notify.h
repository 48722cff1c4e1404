/* coap:// delivery of notifications (TS-0008): the sender that cse/notify.c
 * uses for coap:// targets. A libcoap client context driven by the event
 * loop sends each NOTIFY as a confirmable POST with the oneM2M options
 * (RVI, FR, RQI, EC) and reads the RSC option of the answer. coaps:// (DTLS)
 * is not provided. */
#ifndef IRONBARK_COAP_NOTIFY_H
#define IRONBARK_COAP_NOTIFY_H

struct cse;

/* Installs the coap:// sender in notify's table (the client context is
 * created on first use). */
void coap_notify_install(void);
/* Frees the client context; requests in flight end as unreachable. */
void coap_notify_shutdown(void);

#endif
