#include "peer_table.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#define MIN_CAP 16

void peer_key_from_sockaddr(struct peer_key *k, const struct sockaddr *sa)
{
    memset(k, 0, sizeof *k);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        k->addr[10] = k->addr[11] = 0xff;
        memcpy(k->addr + 12, &a->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(k->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static size_t home(const struct peer_table *t, const struct peer_key *k)
{
    uint64_t a, b;
    memcpy(&a, k->addr, 8);
    memcpy(&b, k->addr + 8, 8);
    return (size_t)mix(mix(t->seed ^ a) ^ b) & (t->cap - 1);
}

/* The slot holding k, or the empty slot where it would go. */
static size_t probe(const struct peer_table *t, const struct peer_key *k)
{
    size_t i = home(t, k);
    while (t->slots[i].count && memcmp(&t->slots[i].key, k, sizeof *k))
        i = (i + 1) & (t->cap - 1);
    return i;
}

static int resize(struct peer_table *t, size_t cap)
{
    struct peer_slot *old = t->slots;
    size_t old_cap = t->cap;
    struct peer_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    t->slots = slots;
    t->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].count) t->slots[probe(t, &old[i].key)] = old[i];
    free(old);
    return 0;
}

static uint64_t random_seed(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s) return s;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32));
}

int peer_table_add(struct peer_table *t, const struct peer_key *k)
{
    if (!t->seed) t->seed = random_seed() | 1;
    /* At most half full, so that probes stay short. */
    if ((t->used + 1) * 2 > t->cap && resize(t, t->cap ? t->cap * 2 : MIN_CAP)) return -1;
    struct peer_slot *s = &t->slots[probe(t, k)];
    if (!s->count) {
        s->key = *k;
        t->used++;
    }
    return ++s->count;
}

int peer_table_count(const struct peer_table *t, const struct peer_key *k)
{
    return t->cap ? t->slots[probe(t, k)].count : 0;
}

void peer_table_remove(struct peer_table *t, const struct peer_key *k)
{
    if (!t->cap) return;
    size_t mask = t->cap - 1, i = probe(t, k);
    if (!t->slots[i].count || --t->slots[i].count) return;
    /* Backward-shift deletion: entries after the hole that probed past it
     * move into it, so lookups never need tombstones. */
    for (size_t j = (i + 1) & mask; t->slots[j].count; j = (j + 1) & mask) {
        size_t h = home(t, &t->slots[j].key);
        if (((j - h) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].count = 0;
    t->used--;
    /* Shrinks after a burst of peers has gone (a failed shrink is harmless). */
    if (t->cap > MIN_CAP && t->used * 8 < t->cap) resize(t, t->cap / 2);
}

void peer_table_free(struct peer_table *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}
