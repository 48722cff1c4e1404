/* A resource as the engine holds it: its attributes as a JSON object (short
 * names, exactly what is serialized) plus where it sits in the tree. */
#ifndef IRONBARK_RESOURCE_H
#define IRONBARK_RESOURCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct resource {
    json_t *attrs;     /* owned; holds ri, rn, pi, ty, ct, lt, et, … */
    char *path;        /* structured CSE-relative address, e.g. "cse-in/ae1/cnt1" */
    int64_t seq;       /* store order = creation order; 0 before insertion */
    int ty;
    int virtual_of;    /* non-zero when reached through `la` (1) or `ol` (2) */
    bool shared;       /* attrs are the store's cached copy: read only until resource_own() */
};

struct resource *resource_new(int ty, json_t *attrs, const char *path);
struct resource *resource_dup(const struct resource *r);
void resource_free(struct resource *r);
/* Gives r attrs of its own when they are shared (copied on the first
 * change, not on every read); false when out of memory. */
bool resource_own(struct resource *r);

/* Attribute accessors; NULL / fallback when absent or of another type. */
const char *res_str(const struct resource *r, const char *sn);
int64_t res_int(const struct resource *r, const char *sn, int64_t fallback);
int res_bool(const struct resource *r, const char *sn, int fallback);
/* Has the resource's et passed at now_ts (a canonical timestamp)? The
 * expiry sweep removes such resources; until it runs they count as gone. */
int res_expired(const struct resource *r, const char *now_ts);
#define res_ri(r) res_str((r), "ri")
#define res_rn(r) res_str((r), "rn")
#define res_pi(r) res_str((r), "pi")

#endif
