/* The list of resource types this CSE serves. */
#include "registry.h"

#include <string.h>

extern const struct resource_type type_acp;
extern const struct resource_type type_cse_base;
extern const struct resource_type type_ae;
extern const struct resource_type type_container;
extern const struct resource_type type_content_instance;
extern const struct resource_type type_subscription;
extern const struct resource_type type_group;
extern const struct resource_type type_request;

static const struct resource_type *const types[] = {
    &type_acp,
    &type_cse_base,
    &type_ae,
    &type_container,
    &type_content_instance,
    &type_subscription,
    &type_group,
    &type_request,
};

#define NTYPES (sizeof types / sizeof types[0])

const struct resource_type *registry_find(int ty)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (types[i]->ty == ty) return types[i];
    return NULL;
}

const struct resource_type *registry_find_key(const char *key)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (!strcmp(types[i]->key, key)) return types[i];
    return NULL;
}

int registry_types(int *out, int max)
{
    int n = 0;
    for (size_t i = 0; i < NTYPES && n < max; i++) out[n++] = types[i]->ty;
    return n;
}

const struct attr_def *type_attr(const struct resource_type *t, const char *sn)
{
    for (int i = 0; i < t->nattrs; i++)
        if (!strcmp(t->attrs[i].sn, sn)) return &t->attrs[i];
    return NULL;
}

bool type_allows_parent(const struct resource_type *t, int parent_ty)
{
    for (const int *p = t->parents; p && *p; p++)
        if (*p == parent_ty) return true;
    return false;
}

bool registry_is_attribute_name(const char *sn)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (type_attr(types[i], sn)) return true;
    return false;
}

const char *type_key(const struct resource_type *t, const struct resource *res)
{
    return t->key_of && res ? t->key_of(res) : t->key;
}

bool type_reserves_name(const struct resource_type *t, const char *name)
{
    for (const char *const *v = t ? t->virtual_children : NULL; v && *v; v++)
        if (!strcmp(*v, name)) return true;
    return false;
}

unsigned type_flags(int ty)
{
    const struct resource_type *t = registry_find(ty);
    return t ? t->flags : 0;
}
