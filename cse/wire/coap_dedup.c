#include "coap_dedup.h"

#include <stdlib.h>
#include <string.h>

/* A reply as remembered: only the options and bytes it uses. A struct
 * coap_msg_out is over 2 KiB whatever it holds (room for 40 options), so
 * 4096 replies kept whole were 10 MB of heap; packed, a typical reply is a
 * few hundred bytes. */
struct packed_reply {
    int code, content_format;
    uint32_t max_age;
    int nopts;
    size_t optbuf_used, payload_len;
    char *payload;               /* owned */
    unsigned char data[];        /* nopts option records, then optbuf_used bytes */
};

struct entry {
    char peer[64];
    uint16_t mid;
    int64_t when;
    struct packed_reply *reply;  /* NULL = free slot */
    int next;                    /* next entry in the same bucket, -1 = end */
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

static size_t packed_size(const struct coap_msg_out *r)
{
    return sizeof(struct packed_reply) + (size_t)r->nopts * OPT_RECORD + r->optbuf_used;
}

size_t coap_dedup_entry_bytes(const struct coap_msg_out *r) { return packed_size(r) + r->payload_len; }

/* Packs r, taking its payload; r is freed. NULL (and r freed) without memory. */
static struct packed_reply *pack(struct coap_msg_out *r)
{
    struct packed_reply *p = malloc(packed_size(r));
    if (p) {
        *p = (struct packed_reply){ r->code, r->content_format, r->max_age, r->nopts, r->optbuf_used,
                                    r->payload_len, r->payload };
        memcpy(p->data, r->opts, (size_t)r->nopts * OPT_RECORD);
        memcpy(p->data + (size_t)r->nopts * OPT_RECORD, r->optbuf, r->optbuf_used);
        r->payload = NULL;
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
    memcpy(out->opts, p->data, (size_t)p->nopts * OPT_RECORD);
    memcpy(out->optbuf, p->data + (size_t)p->nopts * OPT_RECORD, p->optbuf_used);
    return out;
}

static unsigned hash_key(const char *peer, uint16_t mid)
{
    unsigned h = 2166136261u ^ mid;      /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)peer; *p; p++) h = (h ^ *p) * 16777619u;
    return h;
}

static size_t reply_bytes(const struct packed_reply *p)
{
    return sizeof *p + (size_t)p->nopts * OPT_RECORD + p->optbuf_used + p->payload_len;
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
    int *link = &d->bucket[hash_key(e->peer, e->mid) & (d->nbuckets - 1)];
    while (*link != -1 && *link != i) link = &d->ring[*link].next;
    if (*link == i) *link = e->next;
    d->bytes -= reply_bytes(e->reply);
    free(e->reply->payload);
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
            return now_ms - e->when <= d->lifetime_ms ? unpack(e->reply, &d->found) : NULL;
    }
    return NULL;
}

void coap_dedup_put(struct coap_dedup *d, const char *peer, uint16_t mid,
                    struct coap_msg_out *reply, int64_t now_ms)
{
    struct packed_reply *packed = pack(reply);
    if (!packed) return;
    if (d->count == d->cap) evict_oldest(d);
    while (d->count && d->bytes + reply_bytes(packed) > d->max_bytes) evict_oldest(d);
    int i = d->head;
    struct entry *e = &d->ring[i];
    size_t n = strlen(peer);
    if (n >= sizeof e->peer) n = sizeof e->peer - 1;
    memcpy(e->peer, peer, n);
    e->peer[n] = 0;
    e->mid = mid;
    e->when = now_ms;
    e->reply = packed;
    unsigned b = hash_key(e->peer, mid) & (d->nbuckets - 1);
    e->next = d->bucket[b];
    d->bucket[b] = i;
    d->bytes += reply_bytes(packed);
    d->head = (d->head + 1) % d->cap;
    d->count++;
}

int coap_dedup_count(const struct coap_dedup *d) { return d->count; }
