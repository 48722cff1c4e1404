#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Links are index + 1, so that 0 means "none" and calloc()ed memory is an
 * empty table. The bucket heads are allocated with the first key: a table
 * nobody is limited by (loopback, the default exemption) costs no memory. */
struct entry {
    char key[RATELIMIT_KEY_MAX];
    uint64_t hash;
    int64_t tokens;             /* in TOKEN units */
    int64_t last_ms;            /* when tokens was brought up to date */
    int64_t window_start_ms;
    unsigned refused;           /* in the window that began at window_start_ms */
    bool reported;
    uint32_t chain;             /* next entry in the same hash bucket */
    uint32_t newer, older;      /* recency list */
};

/* Tokens are counted in millionths, so that refill and waits are exact
 * integer arithmetic (rates down to 0.001/s). */
#define TOKEN 1000000

struct ratelimit {
    struct ratelimit_params p;
    int64_t per_ms;             /* TOKEN units added per millisecond */
    int64_t full;               /* burst, in TOKEN units */
    uint64_t seed;
    struct entry *e;
    uint32_t count, cap;        /* entries in use, allocated (grows up to max_entries) */
    uint32_t *heads;
    uint32_t mask;              /* bucket count - 1 (a power of two) */
    uint32_t newest, oldest;
};

/* FNV-1a over the key, started from the seed, then a 64-bit finaliser
 * (splitmix64) so that the low bits used for the bucket depend on every byte. */
static uint64_t key_hash(uint64_t seed, const char *key)
{
    uint64_t h = 14695981039346656037ull ^ seed;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 1099511628211ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

/* The form a key is stored in: itself, or when too long a prefix and the
 * hash of the whole (two long keys share a bucket only if they collide). */
static void stored_key(const struct ratelimit *t, const char *key, char out[RATELIMIT_KEY_MAX])
{
    size_t n = strlen(key);
    if (n < RATELIMIT_KEY_MAX) {
        memcpy(out, key, n + 1);
        return;
    }
    int prefix = RATELIMIT_KEY_MAX - 18;
    snprintf(out, RATELIMIT_KEY_MAX, "%.*s#%016llx", prefix, key,
             (unsigned long long)key_hash(t->seed, key));
}

struct ratelimit *ratelimit_new(const struct ratelimit_params *p, uint64_t seed)
{
    struct ratelimit *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->p = *p;
    if (t->p.burst < 1) t->p.burst = 1;
    if (t->p.max_entries < 1) t->p.max_entries = 1;
    if (t->p.report_after < 0) t->p.report_after = 0;
    t->per_ms = (int64_t)(t->p.rate * 1000 + 0.5);
    if (t->per_ms < 1) t->per_ms = 1;
    t->full = (int64_t)(t->p.burst * TOKEN);
    t->seed = seed;
    uint32_t nb = 1;
    while (nb < 2u * (uint32_t)t->p.max_entries) nb <<= 1;
    t->mask = nb - 1;
    return t;
}

void ratelimit_free(struct ratelimit *t)
{
    if (!t) return;
    free(t->e);
    free(t->heads);
    free(t);
}

int ratelimit_count(const struct ratelimit *t) { return (int)t->count; }

static struct entry *at(struct ratelimit *t, uint32_t link) { return &t->e[link - 1]; }

static void unlink_recency(struct ratelimit *t, uint32_t i)
{
    struct entry *e = at(t, i);
    if (e->newer) at(t, e->newer)->older = e->older; else t->newest = e->older;
    if (e->older) at(t, e->older)->newer = e->newer; else t->oldest = e->newer;
    e->newer = e->older = 0;
}

static void make_newest(struct ratelimit *t, uint32_t i)
{
    struct entry *e = at(t, i);
    e->older = t->newest;
    e->newer = 0;
    if (t->newest) at(t, t->newest)->newer = i;
    t->newest = i;
    if (!t->oldest) t->oldest = i;
}

static void unlink_chain(struct ratelimit *t, uint32_t i)
{
    uint32_t *link = &t->heads[at(t, i)->hash & t->mask];
    while (*link && *link != i) link = &at(t, *link)->chain;
    if (*link) *link = at(t, i)->chain;
}

/* A slot for a new key: a fresh one while the table may grow, else the
 * least recently used key's. 0 when memory runs out. */
static uint32_t free_slot(struct ratelimit *t)
{
    if (t->count < (uint32_t)t->p.max_entries) {
        if (t->count == t->cap) {
            uint32_t cap = t->cap ? t->cap * 2 : 16;
            if (cap > (uint32_t)t->p.max_entries) cap = (uint32_t)t->p.max_entries;
            struct entry *e = realloc(t->e, cap * sizeof *e);
            if (!e) return 0;
            t->e = e;
            t->cap = cap;
        }
        return ++t->count;
    }
    uint32_t i = t->oldest;
    unlink_recency(t, i);
    unlink_chain(t, i);
    return i;
}

static struct entry *find_or_add(struct ratelimit *t, const char *key, int64_t now_ms)
{
    char k[RATELIMIT_KEY_MAX];
    stored_key(t, key, k);
    uint64_t h = key_hash(t->seed, k);
    if (!t->heads && !(t->heads = calloc((size_t)t->mask + 1, sizeof *t->heads))) return NULL;
    uint32_t *head = &t->heads[h & t->mask];
    for (uint32_t i = *head; i; i = at(t, i)->chain) {
        if (at(t, i)->hash == h && !strcmp(at(t, i)->key, k)) {
            unlink_recency(t, i);
            make_newest(t, i);
            return at(t, i);
        }
    }
    uint32_t i = free_slot(t);
    if (!i) return NULL;
    struct entry *e = at(t, i);
    memset(e, 0, sizeof *e);
    memcpy(e->key, k, strlen(k) + 1);
    e->hash = h;
    e->tokens = t->full;
    e->last_ms = now_ms;
    head = &t->heads[h & t->mask];    /* free_slot may have shortened this chain */
    e->chain = *head;
    *head = i;
    make_newest(t, i);
    return e;
}

int64_t ratelimit_take(struct ratelimit *t, const char *key, int64_t now_ms,
                       struct ratelimit_refusal *why)
{
    if (t->p.rate <= 0) return 0;
    struct entry *e = find_or_add(t, key, now_ms);
    if (!e) return 0;       /* out of memory: admit rather than refuse everyone */
    if (now_ms > e->last_ms) {
        int64_t elapsed = now_ms - e->last_ms;
        /* Compared before multiplying: a long silence must not overflow. */
        if (elapsed >= (t->full - e->tokens) / t->per_ms + 1) e->tokens = t->full;
        else e->tokens += elapsed * t->per_ms;
        if (e->tokens > t->full) e->tokens = t->full;
        e->last_ms = now_ms;
    }
    if (e->tokens >= TOKEN) {
        e->tokens -= TOKEN;
        return 0;
    }
    int64_t wait = (TOKEN - e->tokens + t->per_ms - 1) / t->per_ms;   /* rounded up, never 0 */
    if (!e->refused || now_ms - e->window_start_ms >= t->p.window_ms) {
        e->window_start_ms = now_ms;
        e->refused = 0;
        e->reported = false;
    }
    e->refused++;
    bool report = !e->reported && e->refused > (unsigned)t->p.report_after;
    if (report) e->reported = true;
    if (why) *why = (struct ratelimit_refusal){ e->refused, report };
    return wait;
}
