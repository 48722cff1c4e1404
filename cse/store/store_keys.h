/* The keys both store backends (store.c, store_pg.c) order rows by: scan
 * keys (sk) and the path bounds of a subtree. Pure, private to cse/store. */
#ifndef IRONBARK_STORE_KEYS_H
#define IRONBARK_STORE_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One sk component: a length byte (1..8, so never 0xFF, which bounds a
 * subtree) and seq in that many big-endian bytes. Byte order is numeric
 * order, and a parent's key is a prefix of its descendants' keys. */
#define SEQKEY_MAX 9

static inline size_t seqkey(int64_t seq, unsigned char out[SEQKEY_MAX])
{
    uint64_t v = (uint64_t)seq;
    unsigned n = 1;
    while (n < 8 && (v >> (8 * n))) n++;
    out[0] = (unsigned char)n;
    for (unsigned i = 0; i < n; i++) out[1 + i] = (unsigned char)(v >> (8 * (n - 1 - i)));
    return n + 1;
}

/* Length of the first `levels` components of key (all of it when shorter). */
static inline size_t seqkey_prefix(const unsigned char *key, size_t len, size_t levels)
{
    size_t at = 0;
    for (size_t i = 0; i < levels && at < len; i++) at += 1u + key[at];
    return at < len ? at : len;
}

/* How many components key has. */
static inline size_t seqkey_levels(const unsigned char *key, size_t len)
{
    size_t n = 0;
    for (size_t at = 0; at < len; at += 1u + key[at]) n++;
    return n;
}

/* Subtree bounds of path: every descendant lies strictly between "p/" and
 * "p0" ('0' follows '/'). Both malloc()ed; either NULL without memory. */
static inline void subtree_bounds(const char *path, char **lo, char **hi)
{
    size_t n = strlen(path);
    *lo = malloc(n + 2);
    *hi = malloc(n + 2);
    if (!*lo || !*hi) return;
    memcpy(*lo, path, n); (*lo)[n] = '/'; (*lo)[n + 1] = 0;
    memcpy(*hi, path, n); (*hi)[n] = '0'; (*hi)[n + 1] = 0;
}

#endif
