/* The oneM2M CoAP binding server (TS-0008) on libcoap, driven by the event
 * loop: libcoap's epoll fd is watched for readability and a loop timer runs
 * libcoap's own timeouts (retransmissions, block transfers). Requests of any
 * path reach cse_dispatch_async(); a deferred answer goes out piggy-backed on
 * the ACK when ready within coap-piggyback-ms, else as a separate response.
 * Block-wise transfer is ours (coap_block.c), and every datagram passes our
 * own check before libcoap parses it (coap_parse_hook.c). coap_map.c does the
 * CoAP <-> primitive rules. */
#ifndef IRONBARK_COAP_H
#define IRONBARK_COAP_H

#include <stdint.h>

struct loop;
struct cse;
struct coap_server;

struct coap_options {
    const char *host;          /* listen address (numeric or resolvable) */
    int port;                  /* UDP port of the plain coap:// endpoint */
    int64_t max_body;          /* largest request payload after block-wise assembly */
    int max_sessions;          /* idle peer sessions kept at most */
    int dedup_entries;         /* replies remembered for duplicate detection */
    int secure_port;           /* UDP port of the coaps:// (DTLS) endpoint; 0 = none */
    int64_t piggyback_ms;      /* a deferred answer ready within this goes on the ACK */
};

struct coap_server *coap_server_start(struct loop *loop, struct cse *cse,
                                      const struct coap_options *opt);
void coap_server_stop(struct coap_server *srv);

#endif
