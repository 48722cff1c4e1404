#include "coap_dedup.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    char peer[64];
    uint16_t mid;
    int64_t when;
    struct coap_msg_out *reply;  /* NULL = free slot */
    int next;                    /* next entry in the same bucket, -1 = end */
};

struct coap_dedup {
    struct entry *ring;          /* FIFO: oldest at (head - count) */
    int cap, head, count;
    int *bucket;                 /* first entry per hash bucket, -1 = none */
    unsigned nbuckets;           /* power of two */
    size_t bytes, max_bytes;
    int64_t lifetime_ms;
};

static unsigned hash_key(const char *peer, uint16_t mid)
{
    unsigned h = 2166136261u ^ mid;      /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)peer; *p; p++) h = (h ^ *p) * 16777619u;
    return h;
}

static size_t reply_bytes(const struct coap_msg_out *r) { return sizeof *r + r->payload_len; }

struct coap_dedup *coap_dedup_new(int max_entries, size_t max_bytes, int64_t lifetime_ms)
{
    struct coap_dedup *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->cap = max_entries > 0 ? max_entries : 1;
    d->nbuckets = 1;
    while (d->nbuckets < 2u * (unsigned)d->cap) d->nbuckets <<= 1;
    d->ring = calloc((size_t)d->cap, sizeof *d->ring);
    d->bucket = malloc(d->nbuckets * sizeof *d->bucket);
    if (!d->ring || !d->bucket) {
        coap_dedup_free(d);
        return NULL;
    }
    memset(d->bucket, 0xff, d->nbuckets * sizeof *d->bucket);
    d->max_bytes = max_bytes;
    d->lifetime_ms = lifetime_ms;
    return d;
}

static void release(struct coap_dedup *d, int i)
{
    struct entry *e = &d->ring[i];
    int *link = &d->bucket[hash_key(e->peer, e->mid) & (d->nbuckets - 1)];
    while (*link != -1 && *link != i) link = &d->ring[*link].next;
    if (*link == i) *link = e->next;
    d->bytes -= reply_bytes(e->reply);
    coap_msg_out_clear(e->reply);
    free(e->reply);
    e->reply = NULL;
}

static void evict_oldest(struct coap_dedup *d)
{
    release(d, (d->head - d->count + d->cap) % d->cap);
    d->count--;
}

void coap_dedup_free(struct coap_dedup *d)
{
    if (!d) return;
    while (d->ring && d->count) evict_oldest(d);
    free(d->ring);
    free(d->bucket);
    free(d);
}

const struct coap_msg_out *coap_dedup_find(struct coap_dedup *d, const char *peer, uint16_t mid,
                                           int64_t now_ms)
{
    for (int i = d->bucket[hash_key(peer, mid) & (d->nbuckets - 1)]; i != -1; i = d->ring[i].next) {
        const struct entry *e = &d->ring[i];
        if (e->mid == mid && !strcmp(e->peer, peer))
            return now_ms - e->when <= d->lifetime_ms ? e->reply : NULL;
    }
    return NULL;
}

void coap_dedup_put(struct coap_dedup *d, const char *peer, uint16_t mid,
                    struct coap_msg_out *reply, int64_t now_ms)
{
    if (d->count == d->cap) evict_oldest(d);
    while (d->count && d->bytes + reply_bytes(reply) > d->max_bytes) evict_oldest(d);
    int i = d->head;
    struct entry *e = &d->ring[i];
    size_t n = strlen(peer);
    if (n >= sizeof e->peer) n = sizeof e->peer - 1;
    memcpy(e->peer, peer, n);
    e->peer[n] = 0;
    e->mid = mid;
    e->when = now_ms;
    e->reply = reply;
    unsigned b = hash_key(e->peer, mid) & (d->nbuckets - 1);
    e->next = d->bucket[b];
    d->bucket[b] = i;
    d->bytes += reply_bytes(reply);
    d->head = (d->head + 1) % d->cap;
    d->count++;
}

int coap_dedup_count(const struct coap_dedup *d) { return d->count; }
