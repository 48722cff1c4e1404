#include "coap_block.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODE(c, d) ((c) << 5 | (d))

int coap_block_decode(const uint8_t *value, size_t len, struct coap_block *b)
{
    if (len > 3) return -1;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) v = v << 8 | value[i];
    b->num = v >> 4;
    b->more = (v >> 3) & 1;
    b->szx = v & 7;
    return b->szx == 7 ? -1 : 0;
}

size_t coap_block_encode(const struct coap_block *b, uint8_t out[3])
{
    uint32_t v = b->num << 4 | (uint32_t)b->more << 3 | (b->szx & 7);
    size_t n = v > 0xffff ? 3 : v > 0xff ? 2 : v ? 1 : 0;
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return n;
}

int coap_block_find(const struct coap_msg_in *in, uint16_t number, struct coap_block *b)
{
    const struct coap_option_in *o = coap_msg_in_option(in, number);
    if (!o) return 0;
    return coap_block_decode(o->value, o->len, b) ? -1 : 1;
}

int coap_block2_piece(size_t total, const struct coap_block *asked, size_t room,
                      struct coap_block *piece, size_t *off, size_t *len)
{
    unsigned szx = 6;                               /* 1024, the largest on UDP */
    if (asked && asked->szx < szx) szx = asked->szx;
    while (szx > 0 && coap_block_size(szx) > room) szx--;
    if (coap_block_size(szx) > room) return -2;
    uint64_t start = asked ? (uint64_t)asked->num << (asked->szx + 4) : 0;
    if (!asked && total <= room) return 0;
    if (start && start >= total) return -1;
    /* Smaller pieces than asked keep the offset (RFC 7959 2.4). */
    piece->num = (uint32_t)(start >> (szx + 4));
    start = (uint64_t)piece->num << (szx + 4);
    size_t size = coap_block_size(szx);
    *off = (size_t)start;
    *len = total - *off < size ? total - *off : size;
    piece->more = *off + *len < total;
    piece->szx = szx;
    return 1;
}

/* ---- the tables --------------------------------------------------------- */

enum kind { UPLOAD, HELD };

struct transfer {
    struct transfer *next;
    enum kind kind;
    char *key;                 /* peer NUL request (see request_key) */
    size_t peer_len, key_len;
    int64_t touched;
    /* UPLOAD */
    uint8_t *buf;
    size_t len, cap;
    struct coap_block last;    /* the last piece taken, to recognise a repeat */
    /* HELD */
    struct coap_msg_out *held;
};

struct coap_blocks {
    struct coap_blocks_limits lim;
    struct transfer *list;     /* most recently touched first */
    int count;
    size_t bytes;
};

struct coap_blocks *coap_blocks_new(const struct coap_blocks_limits *lim)
{
    struct coap_blocks *bs = calloc(1, sizeof *bs);
    if (bs) bs->lim = *lim;
    return bs;
}

static size_t transfer_bytes(const struct transfer *t)
{
    return t->kind == UPLOAD ? t->cap : t->held->payload_len + sizeof *t->held;
}

static void transfer_drop(struct coap_blocks *bs, struct transfer *t)
{
    for (struct transfer **p = &bs->list; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    bs->count--;
    bs->bytes -= transfer_bytes(t);
    free(t->buf);
    if (t->held) {
        coap_msg_out_clear(t->held);
        free(t->held);
    }
    free(t->key);
    free(t);
}

void coap_blocks_free(struct coap_blocks *bs)
{
    if (!bs) return;
    while (bs->list) transfer_drop(bs, bs->list);
    free(bs);
}

int coap_blocks_count(const struct coap_blocks *bs) { return bs->count; }
size_t coap_blocks_bytes(const struct coap_blocks *bs) { return bs->bytes; }

static void expire(struct coap_blocks *bs, int64_t now)
{
    struct transfer *t = bs->list, *next;
    for (; t; t = next) {
        next = t->next;
        if (now - t->touched > bs->lim.idle_ms) transfer_drop(bs, t);
    }
}

/* peer NUL kind code Uri-Path... Uri-Query... [Request-Tag]: what RFC 7959
 * 2.5 / RFC 9175 3 match the pieces of one transfer by. Other options may
 * differ between pieces; the last piece's are the request's. */
static char *request_key(const char *peer, enum kind kind, const struct coap_msg_in *in,
                         size_t *peer_len, size_t *key_len)
{
    size_t plen = strlen(peer), n = plen + 1 + 32;
    for (int i = 0; i < in->nopts; i++) n += in->opts[i].len + 32;
    char *k = malloc(n), *w = k;
    if (!k) return NULL;
    memcpy(w, peer, plen + 1);
    w += plen + 1;
    w += sprintf(w, "%d %d", (int)kind, in->code);
    for (int i = 0; i < in->nopts; i++) {
        const struct coap_option_in *o = &in->opts[i];
        bool tag = kind == UPLOAD && o->number == COAPOPT_REQUEST_TAG;
        if (o->number != COAPOPT_URI_PATH && o->number != COAPOPT_URI_QUERY && !tag) continue;
        /* Lengths keep "a" "b/c" apart from "a/b" "c". */
        w += sprintf(w, "|%u:%zu:", o->number, o->len);
        memcpy(w, o->value, o->len);
        w += o->len;
    }
    *peer_len = plen;
    /* The length, not a NUL, ends it: values may hold NULs. */
    *key_len = (size_t)(w - k);
    return k;
}

static struct transfer *find(struct coap_blocks *bs, const char *key, size_t peer_len, size_t klen)
{
    for (struct transfer *t = bs->list; t; t = t->next)
        if (t->peer_len == peer_len && t->key_len == klen && !memcmp(t->key, key, klen)) return t;
    return NULL;
}

static void touch(struct coap_blocks *bs, struct transfer *t, int64_t now)
{
    t->touched = now;
    for (struct transfer **p = &bs->list; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    t->next = bs->list;
    bs->list = t;
}

/* Makes room for one more entry of `bytes` from peer: the oldest of the
 * peer's own beyond per_peer, then the oldest of all beyond max_entries or
 * max_bytes. Returns -1 when the bytes cannot fit even with the table empty
 * of others. `keep` is never evicted. */
static int make_room(struct coap_blocks *bs, const char *key, size_t peer_len, size_t bytes,
                     const struct transfer *keep, int adding)
{
    for (;;) {
        int mine = 0;
        struct transfer *oldest_mine = NULL, *oldest = NULL;
        for (struct transfer *t = bs->list; t; t = t->next) {
            if (t == keep) continue;
            oldest = t;
            if (t->peer_len == peer_len && !memcmp(t->key, key, peer_len)) {
                mine++;
                oldest_mine = t;
            }
        }
        if (adding && oldest_mine && mine + 1 > bs->lim.per_peer) {
            transfer_drop(bs, oldest_mine);
            continue;
        }
        if (adding && oldest && bs->count + 1 > bs->lim.max_entries) {
            transfer_drop(bs, oldest);
            continue;
        }
        if (bs->bytes + bytes > bs->lim.max_bytes) {
            if (!oldest) return -1;
            transfer_drop(bs, oldest);
            continue;
        }
        return 0;
    }
}

/* Puts a new entry (owning key) first in the table. */
static void link_new(struct coap_blocks *bs, struct transfer *t, enum kind kind, char *key,
                     size_t peer_len, size_t key_len, int64_t now)
{
    t->kind = kind;
    t->key = key;
    t->peer_len = peer_len;
    t->key_len = key_len;
    t->touched = now;
    t->next = bs->list;
    bs->list = t;
    bs->count++;
}

static void fail(struct coap_block1_result *r, int code, const char *why)
{
    r->status = COAP_B1_ERROR;
    r->code = code;
    r->why = why;
}

/* Appends a piece at the end of t's body, growing it within the limits. */
static int append(struct coap_blocks *bs, struct transfer *t, const uint8_t *data, size_t len)
{
    if (t->len + len > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->len + len) cap *= 2;
        if (cap > bs->lim.max_body) cap = bs->lim.max_body;
        if (make_room(bs, t->key, t->peer_len, cap - t->cap, t, 0)) return -1;
        uint8_t *buf = realloc(t->buf, cap);
        if (!buf) return -1;
        bs->bytes += cap - t->cap;
        t->buf = buf;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, data, len);
    t->len += len;
    return 0;
}

static uint32_t size1_of(const struct coap_msg_in *in, int *present)
{
    const struct coap_option_in *o = coap_msg_in_option(in, COAPOPT_SIZE1);
    *present = o && o->len <= 4;
    uint32_t v = 0;
    for (size_t k = 0; *present && k < o->len; k++) v = v << 8 | o->value[k];
    return v;
}

void coap_blocks_put(struct coap_blocks *bs, const char *peer, const struct coap_msg_in *in,
                     int64_t now, struct coap_block1_result *r)
{
    memset(r, 0, sizeof *r);
    struct coap_block b;
    int found = coap_block_find(in, COAPOPT_BLOCK1, &b);
    if (found == 0) {
        r->status = COAP_B1_NONE;
        return;
    }
    if (found < 0) return fail(r, CODE(4, 0), "invalid Block1 option (BERT is not for CoAP over UDP)");
    expire(bs, now);
    size_t plen, klen;
    char *key = request_key(peer, UPLOAD, in, &plen, &klen);
    if (!key) return fail(r, CODE(5, 0), "out of memory");
    struct transfer *t = find(bs, key, plen, klen);
    /* A refused piece ends its transfer: the client starts again or gives up. */
    int code = 0;
    const char *why = NULL;
    size_t size = coap_block_size(b.szx);
    uint64_t off = (uint64_t)b.num << (b.szx + 4);
    int has_size1;
    uint32_t size1 = size1_of(in, &has_size1);
    if (b.more && in->payload_len != size) {
        code = CODE(4, 0);
        why = "a Block1 piece with more to follow must fill its block size";
    } else if (in->payload_len > size) {
        code = CODE(4, 0);
        why = "a Block1 piece is larger than its block size";
    } else if (off + in->payload_len > bs->lim.max_body) {
        code = CODE(4, 13);
        why = "request body exceeds max-body";
    } else if (has_size1 && size1 > bs->lim.max_body) {
        code = CODE(4, 13);
        why = "Size1 exceeds max-body";
    }
    if (code) {
        if (t) transfer_drop(bs, t);
        free(key);
        return fail(r, code, why);
    }
    r->echo = b;
    if (b.num == 0) {
        if (t) transfer_drop(bs, t);   /* a fresh start replaces the old one */
        t = NULL;
        if (!b.more) {
            /* One piece is the whole body: nothing to keep. */
            free(key);
            r->status = COAP_B1_DONE;
            r->body = malloc(in->payload_len ? in->payload_len : 1);
            if (!r->body) return fail(r, CODE(5, 0), "out of memory");
            memcpy(r->body, in->payload, in->payload_len);
            r->body_len = in->payload_len;
            return;
        }
        if (make_room(bs, key, plen, 0, NULL, 1)) {
            free(key);
            return fail(r, CODE(5, 3), "too many block-wise transfers in progress");
        }
        t = calloc(1, sizeof *t);
        if (!t) {
            free(key);
            return fail(r, CODE(5, 0), "out of memory");
        }
        link_new(bs, t, UPLOAD, key, plen, klen, now);
    } else {
        free(key);
        if (!t) return fail(r, CODE(4, 8), "a Block1 piece of no transfer in progress; start again at NUM 0");
        /* A repeat has the same Block1 option: the same piece sent as the
         * last one (more = 0) is not a repeat but a gap or an overlap. */
        if (b.num == t->last.num && b.szx == t->last.szx && b.more == t->last.more &&
            off + in->payload_len == t->len && !memcmp(t->buf + off, in->payload, in->payload_len)) {
            /* The piece taken last, sent again (a new Message ID): same answer. */
            touch(bs, t, now);
            r->status = COAP_B1_CONTINUE;
            return;
        }
        if (off != t->len) {
            transfer_drop(bs, t);
            return fail(r, CODE(4, 8), "a Block1 piece out of order (a gap or an overlap)");
        }
    }
    touch(bs, t, now);
    if (append(bs, t, in->payload, in->payload_len)) {
        transfer_drop(bs, t);
        return fail(r, CODE(5, 3), "no room for more block-wise transfer data");
    }
    t->last = b;
    if (b.more) {
        r->status = COAP_B1_CONTINUE;
        return;
    }
    r->status = COAP_B1_DONE;
    r->body = t->buf;
    r->body_len = t->len;
    bs->bytes -= t->cap;
    t->buf = NULL;
    t->cap = t->len = 0;
    transfer_drop(bs, t);
}

void coap_blocks_keep(struct coap_blocks *bs, const char *peer, const struct coap_msg_in *in,
                      const struct coap_msg_out *out, int64_t now)
{
    expire(bs, now);
    size_t plen, klen;
    char *key = request_key(peer, HELD, in, &plen, &klen);
    if (!key) return;
    struct transfer *old = find(bs, key, plen, klen);
    if (old) transfer_drop(bs, old);
    struct coap_msg_out *copy = NULL;
    struct transfer *t = NULL;
    if (make_room(bs, key, plen, out->payload_len + sizeof *out, NULL, 1) ||
        !(copy = coap_msg_out_dup(out)) || !(t = calloc(1, sizeof *t))) {
        /* Not kept: later pieces of a GET run it again, others get 4.08. */
        free(key);
        if (copy) {
            coap_msg_out_clear(copy);
            free(copy);
        }
        return;
    }
    t->held = copy;
    link_new(bs, t, HELD, key, plen, klen, now);
    bs->bytes += transfer_bytes(t);
}

const struct coap_msg_out *coap_blocks_held(struct coap_blocks *bs, const char *peer,
                                            const struct coap_msg_in *in, int64_t now)
{
    expire(bs, now);
    size_t plen, klen;
    char *key = request_key(peer, HELD, in, &plen, &klen);
    if (!key) return NULL;
    struct transfer *t = find(bs, key, plen, klen);
    free(key);
    if (!t) return NULL;
    touch(bs, t, now);
    return t->held;
}
