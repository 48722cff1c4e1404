/* Duplicate detection for the CoAP binding (RFC 7252 4.5). libcoap 4.3.1
 * does not remember answered requests, so a retransmitted CON request (same
 * peer, same Message ID) would run the primitive again, e.g. create a second
 * contentInstance. This cache keeps the reply of recent requests, bounded in
 * count, bytes and age (EXCHANGE_LIFETIME), and oldest-first evicted.
 * Replies are kept packed: one allocation of the bytes they use. */
#ifndef IRONBARK_COAP_DEDUP_H
#define IRONBARK_COAP_DEDUP_H

#include "coap_map.h"

#include <stddef.h>
#include <stdint.h>

#define COAP_EXCHANGE_LIFETIME_MS 247000

struct coap_dedup;

struct coap_dedup *coap_dedup_new(int max_entries, size_t max_bytes, int64_t lifetime_ms);
void coap_dedup_free(struct coap_dedup *d);

/* The reply cached for (peer, mid), or NULL when none is younger than the
 * lifetime. peer names the remote end, e.g. "127.0.0.1:5683". The reply is
 * borrowed until the next call on d. */
const struct coap_msg_out *coap_dedup_find(struct coap_dedup *d, const char *peer, uint16_t mid,
                                           int64_t now_ms);

/* Remembers reply (ownership passes to the cache) for (peer, mid). */
void coap_dedup_put(struct coap_dedup *d, const char *peer, uint16_t mid,
                    struct coap_msg_out *reply, int64_t now_ms);

int coap_dedup_count(const struct coap_dedup *d);
/* The bytes of the replies held, counted against max_bytes. */
size_t coap_dedup_bytes(const struct coap_dedup *d);
/* What remembering reply costs of the byte budget (it is kept packed in one
 * allocation), besides the peer's name (one byte a character). */
size_t coap_dedup_entry_bytes(const struct coap_msg_out *reply);

#endif
