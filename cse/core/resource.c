#include "resource.h"

#include <stdlib.h>
#include <string.h>

struct resource *resource_new(int ty, json_t *attrs, const char *path)
{
    struct resource *r = calloc(1, sizeof *r);
    if (!r) { json_decref(attrs); return NULL; }
    r->ty = ty;
    r->attrs = attrs;
    r->path = path ? strdup(path) : NULL;
    return r;
}

struct resource *resource_dup(const struct resource *r)
{
    struct resource *d = resource_new(r->ty, json_deep_copy(r->attrs), r->path);
    if (d) {
        d->seq = r->seq;
        d->virtual_of = r->virtual_of;
    }
    return d;
}

bool resource_own(struct resource *r)
{
    if (!r || !r->shared) return true;
    json_t *copy = json_deep_copy(r->attrs);
    if (!copy) return false;
    json_decref(r->attrs);
    r->attrs = copy;
    r->shared = false;
    return true;
}

void resource_free(struct resource *r)
{
    if (!r) return;
    json_decref(r->attrs);
    free(r->path);
    free(r);
}

const char *res_str(const struct resource *r, const char *sn)
{
    return json_string_value(json_object_get(r->attrs, sn));
}

int64_t res_int(const struct resource *r, const char *sn, int64_t fallback)
{
    json_t *v = json_object_get(r->attrs, sn);
    return json_is_integer(v) ? json_integer_value(v) : fallback;
}

int res_bool(const struct resource *r, const char *sn, int fallback)
{
    json_t *v = json_object_get(r->attrs, sn);
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}

int res_expired(const struct resource *r, const char *now_ts)
{
    const char *et = res_str(r, "et");
    return et && strcmp(et, now_ts) < 0;
}
