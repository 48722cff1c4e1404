/* The notification queue's memory (docs/subscriptions.md, "Delivery queue"):
 * bodies made of reference-counted chunks, so that the deliveries of one
 * event share its serialized content instead of a copy each; per-target
 * FIFOs bounded in bytes, dropping their oldest waiting entries; a budget
 * of every byte the notifier holds. Plain data structures, no I/O and no
 * timers: cse/notify.c drives them. */
#ifndef IRONBARK_NOTIFY_QUEUE_H
#define IRONBARK_NOTIFY_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

/* Bytes held: every live chunk, plus the overhead of every queued entry. */
struct nq_budget {
    size_t bytes;
};

/* An immutable piece of a body, freed with its last reference. */
struct nq_chunk {
    struct nq_budget *budget;
    size_t refs, len;
    char data[];
};

struct nq_chunk *nq_chunk_new(struct nq_budget *b, const char *data, size_t len);
struct nq_chunk *nq_chunk_ref(struct nq_chunk *c);
void nq_chunk_unref(struct nq_chunk *c);
/* What a chunk costs its budget. */
size_t nq_chunk_cost(const struct nq_chunk *c);

/* A body: the concatenation of its parts (one reference each). `shared`,
 * when set, is the part other deliveries of the same event carry too. */
struct nq_body {
    struct nq_chunk **parts;
    size_t nparts, len;
    struct nq_chunk *shared;
};

void nq_body_clear(struct nq_body *b);
/* The parts as nparts iovecs, for a sender that writes them in place. */
void nq_body_iov(const struct nq_body *b, struct iovec *iov);

/* Builds a body from text (copied into chunks of its own) and chunks
 * (referenced). Allocation failures are remembered and reported by finish. */
struct nq_builder {
    struct nq_budget *budget;
    struct nq_body body;
    size_t cap;                    /* of body.parts */
    char *text;                    /* text not yet made into a chunk */
    size_t tlen, tcap;
    bool failed;
};

void nq_build_init(struct nq_builder *bd, struct nq_budget *b);
void nq_build_text(struct nq_builder *bd, const char *s, size_t n);
void nq_build_str(struct nq_builder *bd, const char *s);
/* Appends a reference to c; `shared` marks it as the body's shared part. */
void nq_build_chunk(struct nq_builder *bd, struct nq_chunk *c, bool shared);
/* 0 with the body in *out, or -1 (nothing held) after a failure. */
int nq_build_finish(struct nq_builder *bd, struct nq_body *out);

/* A queued delivery, embedded in the caller's item. */
struct nq_entry {
    struct nq_entry *next;
    struct nq_body body;
    size_t overhead;               /* the caller's bytes besides the body; set before queueing */
    size_t charge;                 /* what it costs its FIFO now */
    bool pays_shared;              /* first of a run of entries carrying the same shared part */
};

/* One target's FIFO. Its bytes count each entry's overhead and own chunks,
 * and a shared part once per run of consecutive entries carrying it (the
 * deliveries of one event to one target are queued together), so what a
 * FIFO is charged is never less than the memory its entries alone hold.
 * The head, when busy (in flight), is never dropped. */
struct nq_fifo {
    struct nq_budget *budget;
    struct nq_entry *head, *tail;
    size_t n, bytes;
    bool head_busy;
};

/* Appends e. First, while the FIFO with e would hold more than limit bytes,
 * its oldest waiting entry is taken out; those are returned (linked by next)
 * for the caller to dispose of. With none left to take, e is appended all
 * the same: a single delivery larger than the bound still goes out. */
struct nq_entry *nq_append(struct nq_fifo *q, struct nq_entry *e, size_t limit);
/* Takes the head out (it is no longer busy). */
struct nq_entry *nq_pop(struct nq_fifo *q);
/* Takes e, which is in q, out. */
void nq_remove(struct nq_fifo *q, struct nq_entry *e);

#endif
