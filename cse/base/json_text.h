/* Compact JSON text of a jansson value, byte-identical to
 * json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) but several times cheaper:
 * one growing buffer, no per-fragment callbacks, no printf for integers and
 * no loop-detection table (a depth limit stops cycles instead). The store and
 * the bindings serialize every body through it. */
#ifndef IRONBARK_JSON_TEXT_H
#define IRONBARK_JSON_TEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Returns a malloc'ed NUL-terminated text and its length in *len (may be
 * NULL), or NULL on invalid UTF-8 in a string, too deep nesting, or no memory. */
char *json_text(const json_t *v, size_t *len);

/* A small per-thread free-list allocator for jansson's small blocks. Reading
 * a resource builds and drops about a hundred tiny objects and strings; the
 * free lists make each malloc/free pair a few instructions instead of a trip
 * through glibc's bins (measured: ~15% of a RETRIEVE). At most JSON_POOL_KEEP
 * blocks per size class stay cached, so memory stays flat. Call install at
 * the start of main(), before any JSON value exists; release frees the cached
 * blocks at exit. No-ops under AddressSanitizer, which must see every free. */
void json_pool_install(void);
void json_pool_release(void);

/* The index of the first string equal to s in the array list, or -1 (also
 * when list is not an array); entries that are not strings never match.
 * Lists of IDs (acpi, at, nu, mid, hael, …) are asked this everywhere. */
int json_strlist_index(const json_t *list, const char *s);
static inline int json_strlist_has(const json_t *list, const char *s) { return json_strlist_index(list, s) >= 0; }

/* Where members of a JSON object's text are, without decoding it (a
 * stored body whose few attributes a filter needs): for each of names[0..n),
 * value[i] and value_len[i] span that member's value text (the last one of
 * that name, as jansson keeps), value[i] NULL when absent. False when the
 * text is not an object this reader can follow (a key with an escape, bad
 * nesting): the caller then decodes it. Values are not validated. */
bool json_text_members(const char *text, size_t len, const char *const *names, int n,
                       const char **value, size_t *value_len);

#endif
