/* The list of resource types this CSE serves. */
#include "registry.h"

#include <ctype.h>
#include <string.h>

extern const struct resource_type type_acp;
extern const struct resource_type type_cse_base;
extern const struct resource_type type_ae;
extern const struct resource_type type_container;
extern const struct resource_type type_content_instance;
extern const struct resource_type type_subscription;
extern const struct resource_type type_group;
extern const struct resource_type type_request;
extern const struct resource_type type_flex_container;
extern const struct resource_type type_flex_container_instance;
extern const struct resource_type type_time_series;
extern const struct resource_type type_time_series_instance;
extern const struct resource_type type_schedule;
extern const struct resource_type type_notification_target_policy;
extern const struct resource_type type_policy_deletion_rules;
extern const struct resource_type type_time_sync_beacon;
extern const struct resource_type type_node;
extern const struct resource_type type_mgmt_obj;
extern const struct resource_type type_polling_channel;
extern const struct resource_type type_remote_cse;
/* The announced variants of the announceable ones (announced.c; declared
 * here like the types themselves: announced.c sees the engine, this file does not). */
extern void announced_register(struct registry *r);
extern const struct resource_type type_ae_contact_list;
extern const struct resource_type type_ae_contact_list_per_cse;

static const struct resource_type *const core[] = {
    &type_acp,
    &type_cse_base,
    &type_ae,
    &type_container,
    &type_content_instance,
    &type_subscription,
    &type_group,
    &type_request,
    &type_flex_container,
    &type_flex_container_instance,
    &type_time_series,
    &type_time_series_instance,
    &type_schedule,
    &type_notification_target_policy,
    &type_policy_deletion_rules,
    &type_time_sync_beacon,
    &type_node,
    &type_mgmt_obj,
    &type_polling_channel,
    &type_remote_cse,
    &type_ae_contact_list,
    &type_ae_contact_list_per_cse,
};

void registry_init_core(struct registry *r)
{
    r->n = 0;
    for (size_t i = 0; i < sizeof core / sizeof *core; i++) registry_add(r, core[i]);
    announced_register(r);
}

int registry_add(struct registry *r, const struct resource_type *t)
{
    if (r->n >= REGISTRY_MAX || registry_find(r, t->ty) || registry_find_key(r, t->key)) return -1;
    r->types[r->n++] = t;
    return 0;
}

int registry_replace(struct registry *r, const struct resource_type *t)
{
    for (int i = 0; i < r->n; i++)
        if (r->types[i]->ty == t->ty && !strcmp(r->types[i]->key, t->key)) {
            r->types[i] = t;
            return 0;
        }
    return -1;
}

const struct resource_type *registry_find(const struct registry *r, int ty)
{
    for (int i = 0; i < r->n; i++)
        if (r->types[i]->ty == ty) return r->types[i];
    return NULL;
}

const struct resource_type *registry_find_key(const struct registry *r, const char *key)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->types[i]->key, key)) return r->types[i];
    return NULL;
}

int registry_types(const struct registry *r, int *out, int max)
{
    int n = 0;
    for (int i = 0; i < r->n && n < max; i++) out[n++] = r->types[i]->ty;
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

bool registry_is_attribute_name(const struct registry *r, const char *sn)
{
    for (int i = 0; i < r->n; i++) {
        if (type_attr(r->types[i], sn)) return true;
        for (const struct resource_type *const *s = r->types[i]->specialisations; s && *s; s++)
            if (type_attr(*s, sn)) return true;
    }
    return false;
}

const struct resource_type *type_specialisation(const struct resource_type *t, const char *key)
{
    if (!t->specialisations) return t;
    for (const struct resource_type *const *s = t->specialisations; *s; s++)
        if (!strcmp((*s)->key, key)) return *s;
    return NULL;
}

const struct resource_type *type_of_resource(const struct resource_type *t, const struct resource *res)
{
    const struct resource_type *s = type_specialisation(t, type_key(t, res));
    return s ? s : t;
}

const char *type_key(const struct resource_type *t, const struct resource *res)
{
    if (t->key_of && res) return t->key_of(res);
    const char *own = res && (t->flags & RT_SPECIALIZED) ? res_str(res, ATTR_INSTANCE_KEY) : NULL;
    return own ? own : t->key;
}

json_t *wire_attrs(json_t *attrs)
{
    const char *k;
    json_t *v, *copy = NULL;
    json_object_foreach(attrs, k, v)
        if (k[0] == ATTR_PRIVATE_PREFIX) { copy = json_copy(attrs); break; }
    if (!copy) return json_incref(attrs);
    void *tmp;
    json_object_foreach_safe(copy, tmp, k, v)
        if (k[0] == ATTR_PRIVATE_PREFIX) json_object_del(copy, k);
    return copy;
}

bool is_custom_attr_name(const char *sn)
{
    if (!isalpha((unsigned char)sn[0])) return false;
    for (const char *p = sn + 1; *p; p++)
        if (!isalnum((unsigned char)*p)) return false;
    return strlen(sn) <= 64;
}

bool type_reserves_name(const struct resource_type *t, const char *name)
{
    for (const char *const *v = t ? t->virtual_children : NULL; v && *v; v++)
        if (!strcmp(*v, name)) return true;
    return false;
}

unsigned type_flags(const struct registry *r, int ty)
{
    const struct resource_type *t = registry_find(r, ty);
    return t ? t->flags : 0;
}
