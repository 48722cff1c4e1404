/* Addressing (TS-0004 6.2, 7.3.2.8): turns a `to` into a resource of this CSE. */
#ifndef IRONBARK_ADDRESS_H
#define IRONBARK_ADDRESS_H

#include "resource.h"

#include <stdbool.h>

struct cse;

/* VIRT_CHILD: the resource itself, addressed through a virtual child its
 * type handles (on_virtual, registry.h); the child's name is the address's
 * last segment. */
enum addr_virtual { VIRT_NONE = 0, VIRT_LATEST = 1, VIRT_OLDEST = 2, VIRT_CHILD = 3 };

struct address {
    char *local;               /* CSE-relative identifier, without "#attr" */
    char *attr;                /* the "#attr" suffix, or NULL */
    bool remote;               /* names another CSE (transit) */
};

/* Splits `to` into its CSE-relative part. Returns 0 or an RSC (4000 for a
 * malformed identifier). */
int address_parse(const struct cse *cse, const char *to, struct address *out);
void address_clear(struct address *a);

/* Resolves a CSE-relative identifier (structured, unstructured or hybrid)
 * into a stored resource; virtual `la`/`ol` resolve to the newest/oldest
 * instance with res->virtual_of set. virt_parent receives the container
 * addressed through `la`/`ol` when it has no instance (for 4004 vs 4005).
 * Returns 0, RSC_NOT_FOUND or RSC_BAD_REQUEST. */
int address_resolve(struct cse *cse, const char *local, struct resource **out);
/* The same, but the resource may share its attrs with the store's cache
 * (res->shared, the hot `la` path): read only, resource_own() before any
 * change. */
int address_resolve_shared(struct cse *cse, const char *local, struct resource **out);

/* A stored resource of this CSE by any local identifier (ri, structured,
 * SP-relative), or NULL: another CSE's address, an attribute address,
 * malformed or not found. */
struct resource *address_lookup(struct cse *cse, const char *id);

/* Splits "<head>/<name>[/<rest>]" at the first segment equal to `name`
 * (a virtual child such as fopt). head and rest (NULL when empty) are
 * malloc'd. Returns false when no such segment follows a head. */
bool address_split_virtual(const char *local, const char *name, char **head, char **rest);

/* The address of a resource as a reply shows it: structured (drt 1) or
 * unstructured (drt 2), CSE-relative. Returns a malloc'd string. */
char *address_of(const struct resource *res, int drt);

/* Is `s` a well-formed identifier segment (letters, digits, - . _ ~)? */
bool address_valid_segment(const char *s, size_t n);

#endif
