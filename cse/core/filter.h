/* Filter criteria evaluation (TS-0004 7.3.3.17): does a resource match? */
#ifndef IRONBARK_FILTER_H
#define IRONBARK_FILTER_H

#include "primitive.h"
#include "resource.h"
#include "../store/store.h"

#include <stdbool.h>

/* True when the filter has at least one matching condition (not only
 * fu/lim/lvl/ofst/fo). */
bool filter_has_conditions(const struct m2m_filter *fc);

/* Evaluates every condition of fc on res. The store is consulted only for
 * parent and child conditions (pty, palb, p.<attr>, chty, clbl, c.<attr>); it may be NULL when
 * there are none. Same-tag values are ORed, different tags combine by fo. */
bool filter_match(const struct m2m_filter *fc, struct store *store, const struct resource *res);

/* filter_match() on a row as stored, decoding only what the conditions
 * read: filter_members() names the resource's own attributes that fc
 * reads (besides its type) into names (room for FILTER_MEMBERS_MAX), or
 * returns -1 when fc has conditions on the parent or children, which no
 * body answers. filter_match_members() then evaluates fc on a resource of
 * type ty of which only those members are known, as JSON value texts
 * (json_text_members(); NULL: absent): 1 or 0, or -1 when a value does not
 * decode (decode the row and ask filter_match()). */
#define FILTER_MEMBERS_MAX (FC_MAX_LIST + 8)
int filter_members(const struct m2m_filter *fc, const char **names);
int filter_match_members(const struct m2m_filter *fc, int ty, const char *const *names, int n,
                         const char *const *value, const size_t *value_len);

/* What a store index can narrow a scan to for fc (store_scan_matching):
 * false when no condition of fc can be answered from an index. Every
 * resource that matches fc meets the need; the conditions stay to be
 * checked by filter_match(). Strings are borrowed from fc or kept in need. */
bool filter_index_need(const struct m2m_filter *fc, struct store_need *need);

/* Is this a well-formed labelsQuery expression ("key", "key:value",
 * "NT key", "key EQ v", "key NE v", "key IN (v1, v2)", "key NI (v1, v2)")? */

/* Glob match with '*' (any run) and '?' (one character). */
bool filter_glob(const char *pattern, const char *text);

#endif
