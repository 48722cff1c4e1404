#include "address.h"

#include "cse.h"
#include "rsc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

bool address_valid_segment(const char *s, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_' && c != '~') return false;
    }
    return true;
}

/* Every '/'-separated segment must be a valid identifier segment. */
/* a followed by b, newly allocated (NULL when out of memory). */
static char *concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (!s) return NULL;
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

static bool valid_segments(const char *p)
{
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!address_valid_segment(p, n)) return false;
        if (!slash) return true;
        p = slash + 1;
    }
}

void address_clear(struct address *a)
{
    free(a->local);
    free(a->attr);
    memset(a, 0, sizeof *a);
}

/* Splits "csi/rest": returns a pointer to rest (NULL when absent). */
static const char *after_cse_id(const char *p, const char *cse_id, bool *same)
{
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    *same = n == strlen(cse_id) && !strncmp(p, cse_id, n);
    return slash ? slash + 1 : NULL;
}

int address_parse(const struct cse *cse, const char *to, struct address *out)
{
    memset(out, 0, sizeof *out);
    if (!to || !*to) return RSC_BAD_REQUEST;
    char *copy = strdup(to);
    char *hash = strchr(copy, '#');
    if (hash) {
        *hash = 0;
        if (!address_valid_segment(hash + 1, strlen(hash + 1))) { free(copy); return RSC_BAD_REQUEST; }
        out->attr = strdup(hash + 1);
    }
    const char *p = copy, *rest = NULL;
    bool same = false;
    size_t len = strlen(copy);
    if (len == 0 || copy[len - 1] == '/') goto bad;
    if (!strncmp(p, "//", 2)) {
        /* Absolute: //<SP FQDN>/<CSE-ID>/<CSE-relative> */
        const char *fqdn = p + 2, *slash = strchr(fqdn, '/');
        if (!slash || slash == fqdn) goto bad;
        struct ident_home home = cse_home(cse);
        bool same_sp = ident_local_sp(&home, fqdn, (size_t)(slash - fqdn));
        rest = after_cse_id(slash + 1, cse->cfg.cse_id, &same);
        if (!same_sp || !same) { out->remote = true; goto done; }
    } else if (p[0] == '/') {
        rest = after_cse_id(p + 1, cse->cfg.cse_id, &same);
        if (!same) { out->remote = true; goto done; }
    } else {
        rest = p;
    }
    /* A CSE-ID alone is not a resource identifier. */
    if (!rest || !*rest || !valid_segments(rest)) goto bad;
    out->local = strdup(rest);
done:
    free(copy);
    return 0;
bad:
    free(copy);
    address_clear(out);
    return RSC_BAD_REQUEST;
}

/* la/ol: the newest/oldest instance (a type with RT_INSTANCE) under a parent
 * type that reserves the name (container, timeSeries, flexContainer), found
 * without loading the parent. */
static int resolve_virtual(struct cse *cse, const char *parent_path, int which,
                           struct resource **out)
{
    const char *name = which == VIRT_LATEST ? "la" : "ol";
    const struct registry *types = &cse->types;
    int rc = RSC_NOT_FOUND;
    for (int i = 0; rc == RSC_NOT_FOUND && i < types->n; i++) {
        const struct resource_type *child = types->types[i];
        if (!(child->flags & RT_INSTANCE)) continue;
        for (const int *p = child->parents; rc == RSC_NOT_FOUND && p && *p; p++)
            if (type_reserves_name(registry_find(types, *p), name))
                rc = store_edge_child_at(cse->store, parent_path, *p, child->ty,
                                         which == VIRT_LATEST, out);
    }
    if (!rc) (*out)->virtual_of = which;
    return rc;
}

/* <path-of-parent>/<name> where the parent's type handles the virtual child
 * `name` (on_virtual): the parent, marked VIRT_CHILD. */
static int resolve_virtual_child(struct cse *cse, char *path, char *last, struct resource **out)
{
    *last = 0;
    struct resource *parent = NULL;
    int rc = store_get_path(cse->store, path, &parent);
    *last = '/';
    const struct resource_type *t = rc ? NULL : registry_find(&cse->types, parent->ty);
    if (!t || !t->on_virtual || !type_reserves_name(t, last + 1)) {
        resource_free(parent);
        return RSC_NOT_FOUND;
    }
    parent->virtual_of = VIRT_CHILD;
    *out = parent;
    return 0;
}

struct resource *address_lookup(struct cse *cse, const char *id)
{
    struct address a;
    struct resource *r = NULL;
    if (address_parse(cse, id, &a)) return NULL;
    if (!a.remote && a.local && !a.attr) address_resolve(cse, a.local, &r);
    address_clear(&a);
    return r;
}

int address_resolve(struct cse *cse, const char *local, struct resource **out)
{
    int rc = address_resolve_shared(cse, local, out);
    if (!rc && !resource_own(*out)) {
        resource_free(*out);
        *out = NULL;
        rc = RSC_INTERNAL_SERVER_ERROR;
    }
    return rc;
}

int address_resolve_shared(struct cse *cse, const char *local, struct resource **out)
{
    *out = NULL;
    const char *slash = strchr(local, '/');
    size_t first_len = slash ? (size_t)(slash - local) : strlen(local);
    const char *name = cse->cfg.cse_name;
    char *path;
    if ((first_len == strlen(name) && !strncmp(local, name, first_len)) ||
        (first_len == 1 && local[0] == '-')) {
        /* Structured: CSEBase name (or '-') then resource names. */
        path = concat(name, slash ? slash : "");
    } else {
        /* Unstructured ri, possibly followed by child names (hybrid). */
        char ri[256];
        if (first_len >= sizeof ri) return RSC_NOT_FOUND;
        memcpy(ri, local, first_len);
        ri[first_len] = 0;
        struct resource *base;
        int rc = store_get(cse->store, ri, &base);
        if (rc) return rc;
        if (!slash) { *out = base; return 0; }
        path = concat(base->path, slash);
        resource_free(base);
    }
    /* la/ol are reserved under instance-holding parents, so try the virtual resource first
     * (the common case: polling the latest instance) and fall back to a real
     * child of that name under other parents. */
    if (!path) return RSC_INTERNAL_SERVER_ERROR;
    int rc = RSC_NOT_FOUND;
    char *last = strrchr(path, '/');
    if (last && (!strcmp(last, "/la") || !strcmp(last, "/ol"))) {
        int which = !strcmp(last, "/la") ? VIRT_LATEST : VIRT_OLDEST;
        *last = 0;
        rc = resolve_virtual(cse, path, which, out);
        *last = '/';
    }
    if (rc == RSC_NOT_FOUND) rc = store_get_path(cse->store, path, out);
    if (rc == RSC_NOT_FOUND && last) rc = resolve_virtual_child(cse, path, last, out);
    free(path);
    return rc;
}

char *address_of(const struct resource *res, int drt)
{
    return strdup(drt == 2 ? res_ri(res) : res->path);
}

bool address_split_virtual(const char *local, const char *name, char **head, char **rest)
{
    *head = *rest = NULL;
    size_t n = strlen(name);
    for (const char *p = strchr(local, '/'); p; p = strchr(p + 1, '/')) {
        if (strncmp(p + 1, name, n) || (p[n + 1] && p[n + 1] != '/')) continue;
        *head = strndup(local, (size_t)(p - local));
        if (p[n + 1] == '/' && p[n + 2]) *rest = strdup(p + n + 2);
        return *head != NULL;
    }
    return false;
}
