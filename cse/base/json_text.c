#include "json_text.h"

#include <stdbool.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper than jansson's own parser accepts (2048), so every parsed tree fits. */
#define MAX_DEPTH 4096

struct out { char *p; size_t len, cap; };

static int grow(struct out *o, size_t need)
{
    if (o->len + need < o->cap) return 0;
    size_t cap = o->cap ? o->cap : 256;
    while (cap <= o->len + need) cap *= 2;
    char *p = realloc(o->p, cap);
    if (!p) return -1;
    o->p = p;
    o->cap = cap;
    return 0;
}

static int put(struct out *o, const char *s, size_t n)
{
    if (grow(o, n)) return -1;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    return 0;
}

static int put_int(struct out *o, json_int_t v)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *q = e;
    /* Work on the unsigned magnitude so INT64_MIN needs no special case. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do { *--q = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *--q = '-';
    return put(o, q, (size_t)(e - q));
}

/* The same text jansson gives a real: %.17g, a ".0" when it would read back
 * as an integer, and an exponent without '+' or leading zeros. */
static int put_real(struct out *o, double v)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf - 3, "%.17g", v);
    if (n < 0 || (size_t)n >= sizeof buf - 3) return -1;
    char *comma = strchr(buf, ',');   /* a locale's decimal comma */
    if (comma) *comma = '.';
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        memcpy(buf + n, ".0", 3);
        n += 2;
    }
    char *exp = strchr(buf, 'e');
    if (exp) {
        char *start = exp + 1, *digits = exp + 2;
        if (*start == '-') start++;
        while (*digits == '0') digits++;
        if (digits != start) {
            memmove(start, digits, (size_t)(buf + n + 1 - digits));
            n -= (int)(digits - start);
        }
    }
    return put(o, buf, (size_t)n);
}

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* Overlong forms, surrogates and values beyond U+10FFFF are invalid. */
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static int put_string(struct out *o, const char *str, size_t n)
{
    /* Worst case: every byte becomes \u00XX. */
    if (grow(o, n * 6 + 2)) return -1;
    char *d = o->p + o->len;
    const unsigned char *s = (const unsigned char *)str, *end = s + n;
    static const char hex[] = "0123456789ABCDEF";
    *d++ = '"';
    while (s < end) {
        /* Eight plain bytes at a time (most strings are all plain): no byte
         * below 0x20, none from 0x80, no '"', no '\\' in the word. */
        if (end - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
            /* (x - ones) & ~x & highs: some byte of x is 0 (below 0x20 for
             * w - 0x20s); a false alarm only takes the byte-wise path. */
            uint64_t quote = w ^ (ones * '"'), bslash = w ^ (ones * '\\');
            uint64_t special = ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) |
                               ((bslash - ones) & ~bslash) | w;
            if (!(special & highs)) {
                memcpy(d, s, 8);
                d += 8;
                s += 8;
                continue;
            }
        }
        unsigned c = *s;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') { *d++ = (char)c; s++; continue; }
        if (c >= 0x80) {
            size_t l = utf8_len(s, (size_t)(end - s));
            if (!l) return -1;
            memcpy(d, s, l);
            d += l;
            s += l;
            continue;
        }
        *d++ = '\\';
        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        default:
            memcpy(d, "u00", 3);
            d[3] = hex[c >> 4];
            d[4] = hex[c & 15];
            d += 5;
        }
        s++;
    }
    *d++ = '"';
    o->len = (size_t)(d - o->p);
    return 0;
}

static int put_value(struct out *o, const json_t *v, int depth)
{
    if (!v || depth > MAX_DEPTH) return -1;
    switch (json_typeof(v)) {
    case JSON_NULL: return put(o, "null", 4);
    case JSON_TRUE: return put(o, "true", 4);
    case JSON_FALSE: return put(o, "false", 5);
    case JSON_INTEGER: return put_int(o, json_integer_value(v));
    case JSON_REAL: return put_real(o, json_real_value(v));
    case JSON_STRING: return put_string(o, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        if (put(o, "[", 1)) return -1;
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if ((i && put(o, ",", 1)) || put_value(o, json_array_get(v, i), depth + 1)) return -1;
        }
        return put(o, "]", 1);
    }
    case JSON_OBJECT: {
        if (put(o, "{", 1)) return -1;
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it)) {
            if (!first && put(o, ",", 1)) return -1;
            first = false;
            if (put_string(o, json_object_iter_key(it), json_object_iter_key_len(it)) ||
                put(o, ":", 1) || put_value(o, json_object_iter_value(it), depth + 1))
                return -1;
        }
        return put(o, "}", 1);
    }
    }
    return -1;
}

char *json_text(const json_t *v, size_t *len)
{
    struct out o = { 0 };
    if (put_value(&o, v, 0) || put(&o, "", 1)) {
        free(o.p);
        return NULL;
    }
    if (len) *len = o.len - 1;
    return o.p;
}

/* --- small-block pool for jansson ---------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define POOL_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ENABLED 0
#endif
#endif
#ifndef POOL_ENABLED
#define POOL_ENABLED 1
#endif

#define POOL_CLASSES 8          /* class k holds blocks of 16k+8 usable bytes: 24..136 */
#define POOL_KEEP 128           /* cached blocks per class and thread */

struct pool_block { struct pool_block *next; };
struct pool_class { struct pool_block *head; unsigned count; };
static _Thread_local struct pool_class pool[POOL_CLASSES];

/* Blocks are plain malloc() chunks without a header, so whatever jansson hands
 * out (json_dumps() text, say) may still be released with free(). A chunk's
 * class follows from malloc_usable_size(): glibc rounds a request of 16k+8
 * bytes to exactly that usable size. */
static size_t pool_class_of(size_t usable)
{
    if (usable < 24 || (usable - 8) % 16) return 0;
    size_t k = (usable - 8) / 16;
    return k <= POOL_CLASSES ? k : 0;
}

static void *pool_malloc(size_t n)
{
    size_t k = n <= 24 ? 1 : (n - 8 + 15) / 16;
    if (k > POOL_CLASSES) return malloc(n);
    struct pool_class *pc = &pool[k - 1];
    if (pc->head) {
        struct pool_block *b = pc->head;
        pc->head = b->next;
        pc->count--;
        return b;
    }
    return malloc(16 * k + 8);
}

static void pool_free(void *p)
{
    if (!p) return;
    size_t k = pool_class_of(malloc_usable_size(p));
    if (k && pool[k - 1].count < POOL_KEEP) {
        struct pool_block *b = p;
        b->next = pool[k - 1].head;
        pool[k - 1].head = b;
        pool[k - 1].count++;
        return;
    }
    free(p);
}

void json_pool_install(void)
{
    if (POOL_ENABLED) json_set_alloc_funcs(pool_malloc, pool_free);
}

void json_pool_release(void)
{
    for (int i = 0; i < POOL_CLASSES; i++) {
        while (pool[i].head) {
            struct pool_block *b = pool[i].head;
            pool[i].head = b->next;
            free(b);
        }
        pool[i].count = 0;
    }
}

int json_strlist_index(const json_t *list, const char *s)
{
    if (!s) return -1;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
        if (json_is_string(v) && !strcmp(json_string_value(v), s)) return (int)i;
    return -1;
}

/* ---- reading members of an object's text ---------------------------------- */

static size_t skip_space(const char *t, size_t i, size_t n)
{
    while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) i++;
    return i;
}

/* Just past the string opening at t[i]; 0 when it does not end. By
 * memchr: a quote preceded by an odd run of backslashes is escaped. */
static size_t string_end(const char *t, size_t i, size_t n, bool *escaped)
{
    *escaped = false;
    for (size_t from = i + 1; from < n;) {
        const char *q = memchr(t + from, '"', n - from);
        if (!q) return 0;
        size_t at = (size_t)(q - t), run = 0;
        while (at - run > i + 1 && t[at - run - 1] == '\\') run++;
        if (memchr(t + from, '\\', at - from)) *escaped = true;
        if (!(run & 1)) return at + 1;
        from = at + 1;
    }
    return 0;
}

/* Just past the value starting at t[i]; 0 when it does not end. */
static size_t value_end(const char *t, size_t i, size_t n)
{
    bool escaped;
    if (i >= n) return 0;
    if (t[i] == '"') return string_end(t, i, n, &escaped);
    if (t[i] == '{' || t[i] == '[') {
        char stack[64];   /* deeper than any stored body: the caller decodes */
        int depth = 0;
        for (; i < n; i++) {
            char c = t[i];
            if (c == '"') {
                size_t end = string_end(t, i, n, &escaped);
                if (!end) return 0;
                i = end - 1;
            } else if (c == '{' || c == '[') {
                if (depth == (int)sizeof stack) return 0;
                stack[depth++] = c == '{' ? '}' : ']';
            } else if (c == '}' || c == ']') {
                if (!depth || stack[--depth] != c) return 0;
                if (!depth) return i + 1;
            }
        }
        return 0;
    }
    size_t j = i;
    while (j < n && t[j] != ',' && t[j] != '}' && t[j] != ']' && t[j] != ' ' && t[j] != '\t' &&
           t[j] != '\n' && t[j] != '\r')
        j++;
    return j > i ? j : 0;
}

bool json_text_members(const char *t, size_t n, const char *const *names, int count,
                       const char **value, size_t *value_len)
{
    size_t name_len[64];
    if (count > 64) return false;
    for (int k = 0; k < count; k++) {
        value[k] = NULL;
        name_len[k] = strlen(names[k]);
    }
    size_t i = skip_space(t, 0, n);
    if (i >= n || t[i] != '{') return false;
    i = skip_space(t, i + 1, n);
    if (i < n && t[i] == '}') return true;
    for (;;) {
        bool escaped;
        size_t key_end = i < n && t[i] == '"' ? string_end(t, i, n, &escaped) : 0;
        if (!key_end || escaped) return false;
        const char *key = t + i + 1;
        size_t key_len = key_end - i - 2;
        i = skip_space(t, key_end, n);
        if (i >= n || t[i] != ':') return false;
        i = skip_space(t, i + 1, n);
        size_t end = value_end(t, i, n);
        if (!end) return false;
        for (int k = 0; k < count; k++) {
            if (name_len[k] != key_len || (key_len && names[k][0] != key[0]) || memcmp(names[k], key, key_len)) continue;
            value[k] = t + i;
            value_len[k] = end - i;
        }
        i = skip_space(t, end, n);
        if (i < n && t[i] == ',') { i = skip_space(t, i + 1, n); continue; }
        return i < n && t[i] == '}' && skip_space(t, i + 1, n) == n;
    }
}
