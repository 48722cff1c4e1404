#include "coap_dedup.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A reply as remembered, in one allocation of the bytes it uses: the peer's
 * name, the option records and the option bytes, and the payload too when
 * its own buffer is much larger than it (json_text() doubles its buffer, so
 * a 300-byte reply sat in 512 bytes); a payload already allocated to size is
 * kept as it came, which costs no copy. A struct coap_msg_out is over 2 KiB
 * whatever it holds (room for 40 options). */
struct packed_reply {
    int code, content_format;
    uint32_t max_age;
    uint16_t nopts, optbuf_used;
    char *payload;               /* NULL = none; owned unless inside data */
    size_t payload_len;
    uint8_t peer_len;
    bool payload_inside;         /* payload points into data */
    unsigned char data[];        /* peer, option records, option bytes[, payload, NUL] */
};

/* One slot of the FIFO, small because all of them are allocated up front. */
struct entry {
    struct packed_reply *reply;  /* NULL = free slot */
    int64_t when;
    int next;                    /* next entry in the same bucket, -1 = end */
    uint16_t mid;
};

struct coap_dedup {
    struct entry *ring;          /* FIFO: oldest at (head - count) */
    int cap, head, count;
    int *bucket;                 /* first entry per hash bucket, -1 = none */
    unsigned nbuckets;           /* power of two */
    size_t bytes, max_bytes;
    int64_t lifetime_ms;
    struct coap_msg_out found;   /* what coap_dedup_find() returns, unpacked */
};

#define OPT_RECORD sizeof(((struct coap_msg_out *)0)->opts[0])
#define PEER_MAX 63              /* longer names are cut (an IPv6 peer with port needs 47) */
#define PAYLOAD_SLACK_MAX 64     /* unused bytes of a payload's buffer worth a copy to drop */

static size_t peer_len(const char *peer)
{
    size_t n = strlen(peer);
    return n > PEER_MAX ? PEER_MAX : n;
}

static size_t head_size(const struct coap_msg_out *r, size_t peer_n)
{
    return sizeof(struct packed_reply) + peer_n + (size_t)r->nopts * OPT_RECORD + r->optbuf_used;
}

/* The byte budget counts the payload's length, wherever it is kept. */
size_t coap_dedup_entry_bytes(const struct coap_msg_out *r) { return head_size(r, 0) + r->payload_len + 1; }

static const unsigned char *opts_of(const struct packed_reply *p) { return p->data + p->peer_len; }
static const unsigned char *optbuf_of(const struct packed_reply *p)
{
    return opts_of(p) + (size_t)p->nopts * OPT_RECORD;
}
static size_t reply_bytes(const struct packed_reply *p)
{
    return (size_t)(optbuf_of(p) + p->optbuf_used - (const unsigned char *)p) + p->payload_len + 1;
}

static void packed_free(struct packed_reply *p)
{
    if (!p->payload_inside) free(p->payload);
    free(p);
}

/* Packs r for peer; r is freed either way. NULL without memory. */
static struct packed_reply *pack(struct coap_msg_out *r, const char *peer)
{
    size_t peer_n = peer_len(peer), head = head_size(r, peer_n);
    bool copy = r->payload && malloc_usable_size(r->payload) > r->payload_len + 1 + PAYLOAD_SLACK_MAX;
    struct packed_reply *p = malloc(head + (copy ? r->payload_len + 1 : 0));
    if (p) {
        *p = (struct packed_reply){ r->code, r->content_format, r->max_age, (uint16_t)r->nopts,
                                    (uint16_t)r->optbuf_used, r->payload, r->payload_len, (uint8_t)peer_n,
                                    copy };
        memcpy(p->data, peer, peer_n);
        memcpy((unsigned char *)opts_of(p), r->opts, (size_t)r->nopts * OPT_RECORD);
        memcpy((unsigned char *)optbuf_of(p), r->optbuf, r->optbuf_used);
        if (copy) {
            p->payload = (char *)p + head;
            memcpy(p->payload, r->payload, r->payload_len);
            p->payload[r->payload_len] = 0;
        } else {
            r->payload = NULL;   /* p owns it now */
        }
    }
    coap_msg_out_clear(r);
    free(r);
    return p;
}

/* Unpacks p into out, lending it p's payload (out must not be cleared). */
static const struct coap_msg_out *unpack(const struct packed_reply *p, struct coap_msg_out *out)
{
    out->code = p->code;
    out->content_format = p->content_format;
    out->max_age = p->max_age;
    out->nopts = p->nopts;
    out->optbuf_used = p->optbuf_used;
    out->payload = p->payload;
    out->payload_len = p->payload_len;
    memcpy(out->opts, opts_of(p), (size_t)p->nopts * OPT_RECORD);
    memcpy(out->optbuf, optbuf_of(p), p->optbuf_used);
    return out;
}

static unsigned hash_key(const char *peer, size_t n, uint16_t mid)
{
    unsigned h = 2166136261u ^ mid;      /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)peer[i]) * 16777619u;
    return h;
}

static bool same_peer(const struct packed_reply *p, const char *peer, size_t n)
{
    return p->peer_len == n && !memcmp(p->data, peer, n);
}

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
    const struct packed_reply *p = e->reply;
    int *link = &d->bucket[hash_key((const char *)p->data, p->peer_len, e->mid) & (d->nbuckets - 1)];
    while (*link != -1 && *link != i) link = &d->ring[*link].next;
    if (*link == i) *link = e->next;
    d->bytes -= reply_bytes(e->reply);
    packed_free(e->reply);
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
    size_t n = peer_len(peer);
    for (int i = d->bucket[hash_key(peer, n, mid) & (d->nbuckets - 1)]; i != -1; i = d->ring[i].next) {
        const struct entry *e = &d->ring[i];
        if (e->mid == mid && same_peer(e->reply, peer, n))
            return now_ms - e->when <= d->lifetime_ms ? unpack(e->reply, &d->found) : NULL;
    }
    return NULL;
}

void coap_dedup_put(struct coap_dedup *d, const char *peer, uint16_t mid,
                    struct coap_msg_out *reply, int64_t now_ms)
{
    struct packed_reply *packed = pack(reply, peer);
    if (!packed) return;
    if (d->count == d->cap) evict_oldest(d);
    while (d->count && d->bytes + reply_bytes(packed) > d->max_bytes) evict_oldest(d);
    int i = d->head;
    struct entry *e = &d->ring[i];
    e->mid = mid;
    e->when = now_ms;
    e->reply = packed;
    unsigned b = hash_key(peer, packed->peer_len, mid) & (d->nbuckets - 1);
    e->next = d->bucket[b];
    d->bucket[b] = i;
    d->bytes += reply_bytes(packed);
    d->head = (d->head + 1) % d->cap;
    d->count++;
}

int coap_dedup_count(const struct coap_dedup *d) { return d->count; }
size_t coap_dedup_bytes(const struct coap_dedup *d) { return d->bytes; }
