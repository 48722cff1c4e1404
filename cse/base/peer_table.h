/* Open connections per peer address, for the per-client connection limit:
 * an open-addressing hash table that grows and shrinks with the number of
 * distinct peers, so an idle server holds almost nothing. */
#ifndef IRONBARK_PEER_TABLE_H
#define IRONBARK_PEER_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* An IPv6 address, or an IPv4 one in its IPv4-mapped form, so that a client
 * reaching a dual-stack listener both ways counts once. */
struct peer_key { uint8_t addr[16]; };

struct peer_slot { struct peer_key key; int count; }; /* count 0 = empty */

struct peer_table {
    struct peer_slot *slots;
    size_t cap, used;          /* cap is 0 or a power of two */
    uint64_t seed;             /* per table: outsiders cannot aim at one bucket */
};

/* The key of an AF_INET or AF_INET6 address (anything else: all zeros). */
void peer_key_from_sockaddr(struct peer_key *k, const struct sockaddr *sa);

/* Counts one more connection of k; returns the new count, -1 without memory. */
int peer_table_add(struct peer_table *t, const struct peer_key *k);
/* Counts one connection of k less (forgetting k at zero). */
void peer_table_remove(struct peer_table *t, const struct peer_key *k);
int peer_table_count(const struct peer_table *t, const struct peer_key *k);
void peer_table_free(struct peer_table *t);

#endif
