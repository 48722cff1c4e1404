/* Shared notification bodies and byte-bounded per-target FIFOs.
 * See notify_queue.h and docs/subscriptions.md. */
#include "notify_queue.h"

#include <stdlib.h>
#include <string.h>

/* --- chunks ------------------------------------------------------------------ */

size_t nq_chunk_cost(const struct nq_chunk *c) { return sizeof *c + c->len; }

struct nq_chunk *nq_chunk_new(struct nq_budget *b, const char *data, size_t len)
{
    struct nq_chunk *c = malloc(sizeof *c + len);
    if (!c) return NULL;
    c->budget = b;
    c->refs = 1;
    c->len = len;
    if (len) memcpy(c->data, data, len);
    b->bytes += nq_chunk_cost(c);
    return c;
}

struct nq_chunk *nq_chunk_ref(struct nq_chunk *c)
{
    c->refs++;
    return c;
}

void nq_chunk_unref(struct nq_chunk *c)
{
    if (!c || --c->refs) return;
    c->budget->bytes -= nq_chunk_cost(c);
    free(c);
}

/* --- bodies ------------------------------------------------------------------ */

void nq_body_clear(struct nq_body *b)
{
    for (size_t i = 0; i < b->nparts; i++) nq_chunk_unref(b->parts[i]);
    free(b->parts);
    memset(b, 0, sizeof *b);
}

void nq_body_iov(const struct nq_body *b, struct iovec *iov)
{
    for (size_t i = 0; i < b->nparts; i++)
        iov[i] = (struct iovec){ b->parts[i]->data, b->parts[i]->len };
}

void nq_build_init(struct nq_builder *bd, struct nq_budget *b)
{
    memset(bd, 0, sizeof *bd);
    bd->budget = b;
}

static void add_part(struct nq_builder *bd, struct nq_chunk *c)
{
    if (bd->body.nparts == bd->cap) {
        size_t cap = bd->cap ? bd->cap * 2 : 4;
        struct nq_chunk **p = realloc(bd->body.parts, cap * sizeof *p);
        if (!p) { bd->failed = true; nq_chunk_unref(c); return; }
        bd->body.parts = p;
        bd->cap = cap;
    }
    bd->body.parts[bd->body.nparts++] = c;
    bd->body.len += c->len;
}

/* Pending text becomes a chunk of this body's own. */
static void flush_text(struct nq_builder *bd)
{
    if (!bd->tlen || bd->failed) return;
    struct nq_chunk *c = nq_chunk_new(bd->budget, bd->text, bd->tlen);
    bd->tlen = 0;
    if (c) add_part(bd, c);
    else bd->failed = true;
}

void nq_build_text(struct nq_builder *bd, const char *s, size_t n)
{
    if (bd->failed) return;
    if (bd->tlen + n > bd->tcap) {
        size_t cap = bd->tcap ? bd->tcap : 64;
        while (cap < bd->tlen + n) cap *= 2;
        char *t = realloc(bd->text, cap);
        if (!t) { bd->failed = true; return; }
        bd->text = t;
        bd->tcap = cap;
    }
    memcpy(bd->text + bd->tlen, s, n);
    bd->tlen += n;
}

void nq_build_str(struct nq_builder *bd, const char *s) { nq_build_text(bd, s, strlen(s)); }

void nq_build_chunk(struct nq_builder *bd, struct nq_chunk *c, bool shared)
{
    flush_text(bd);
    if (bd->failed) return;
    add_part(bd, nq_chunk_ref(c));
    if (shared && !bd->failed) bd->body.shared = c;
}

int nq_build_finish(struct nq_builder *bd, struct nq_body *out)
{
    flush_text(bd);
    free(bd->text);
    bd->text = NULL;
    if (bd->failed) {
        nq_body_clear(&bd->body);
        return -1;
    }
    *out = bd->body;
    return 0;
}

/* --- FIFOs ------------------------------------------------------------------- */

/* What the entry holds besides chunks: counted by the budget while queued. */
static size_t entry_own(const struct nq_entry *e)
{
    return e->overhead + e->body.nparts * sizeof *e->body.parts;
}

/* The entry's cost without its shared part. */
static size_t entry_base(const struct nq_entry *e)
{
    size_t n = entry_own(e);
    for (size_t i = 0; i < e->body.nparts; i++)
        if (e->body.parts[i] != e->body.shared) n += nq_chunk_cost(e->body.parts[i]);
    return n;
}

static bool same_run(const struct nq_entry *prev, const struct nq_entry *e)
{
    return prev && e->body.shared && prev->body.shared == e->body.shared;
}

/* e (in q, after prev) pays for its shared part iff it starts a run. */
static void settle(struct nq_fifo *q, const struct nq_entry *prev, struct nq_entry *e)
{
    if (!e) return;
    e->pays_shared = e->body.shared && !same_run(prev, e);
    size_t charge = entry_base(e) + (e->pays_shared ? nq_chunk_cost(e->body.shared) : 0);
    q->bytes = q->bytes - e->charge + charge;
    e->charge = charge;
}

static void insert_after(struct nq_fifo *q, struct nq_entry *prev, struct nq_entry *e)
{
    e->charge = 0;
    e->next = prev ? prev->next : q->head;
    if (prev) prev->next = e;
    else q->head = e;
    if (!e->next) q->tail = e;
    q->n++;
    q->budget->bytes += entry_own(e);
    settle(q, prev, e);
    settle(q, e, e->next);
}

static void remove_after(struct nq_fifo *q, struct nq_entry *prev, struct nq_entry *e)
{
    struct nq_entry *next = e->next;
    if (prev) prev->next = next;
    else q->head = next;
    if (q->tail == e) q->tail = prev;
    q->n--;
    q->bytes -= e->charge;
    q->budget->bytes -= entry_own(e);
    e->charge = 0;
    e->pays_shared = false;
    e->next = NULL;
    settle(q, prev, next);
}

struct nq_entry *nq_append(struct nq_fifo *q, struct nq_entry *e, size_t limit)
{
    struct nq_entry *dropped = NULL, **end = &dropped;
    for (;;) {
        size_t cost = entry_base(e);
        if (e->body.shared && !same_run(q->tail, e)) cost += nq_chunk_cost(e->body.shared);
        if (q->bytes + cost <= limit) break;
        struct nq_entry *prev = q->head_busy ? q->head : NULL;
        struct nq_entry *oldest = prev ? prev->next : q->head;
        if (!oldest) break;
        remove_after(q, prev, oldest);
        *end = oldest;
        end = &oldest->next;
    }
    insert_after(q, q->tail, e);
    return dropped;
}

struct nq_entry *nq_pop(struct nq_fifo *q)
{
    struct nq_entry *e = q->head;
    if (e) remove_after(q, NULL, e);
    q->head_busy = false;
    return e;
}

void nq_remove(struct nq_fifo *q, struct nq_entry *e)
{
    struct nq_entry *prev = NULL;
    for (struct nq_entry *o = q->head; o && o != e; o = o->next) prev = o;
    if (prev ? prev->next == e : q->head == e) {
        if (e == q->head) q->head_busy = false;
        remove_after(q, prev, e);
    }
}
