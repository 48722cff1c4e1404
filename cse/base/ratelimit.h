/* Token buckets by key (a source address, an originator, a credential). The
 * table is bounded: a flood of spoofed or invented keys costs a fixed amount
 * of memory, and the least recently used key is forgotten first (it starts
 * again with a full bucket). Pure: the caller passes the time, so tests run
 * it on a clock of their own. */
#ifndef IRONBARK_RATELIMIT_H
#define IRONBARK_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* Longer keys are kept as a prefix plus a hash of the whole key. */
#define RATELIMIT_KEY_MAX 96

struct ratelimit_params {
    double rate;            /* tokens added per second; <= 0: every take is admitted */
    double burst;           /* bucket capacity (at least 1): the requests one key may
                               make at once after a quiet spell */
    int max_entries;        /* keys remembered at most */
    int report_after;       /* refusals of one key tolerated within a window; the
                               next one makes it a repeat offender, reported once */
    int64_t window_ms;      /* length of that window */
};

/* What ratelimit_take() tells about a refusal. */
struct ratelimit_refusal {
    unsigned refused;       /* refusals of this key in its current window, this one included */
    bool report;            /* this refusal made the key a repeat offender in this window */
};

struct ratelimit;

/* seed keys the hash, so that nobody outside can aim keys at one chain. */
struct ratelimit *ratelimit_new(const struct ratelimit_params *p, uint64_t seed);
void ratelimit_free(struct ratelimit *t);

/* Takes one token from key's bucket at now_ms. Returns 0 when admitted, else
 * the milliseconds until a token will be there (at least 1); why (may be
 * NULL) is filled on a refusal. */
int64_t ratelimit_take(struct ratelimit *t, const char *key, int64_t now_ms,
                       struct ratelimit_refusal *why);

/* Keys remembered now (never more than max_entries). */
int ratelimit_count(const struct ratelimit *t);

#endif
