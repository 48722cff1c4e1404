/* Resource types: one descriptor per type, each in its own file, driven by an
 * attribute table that generic code (schema.c) walks. A type file holds only
 * what is special to it, as hooks. Adding a type = one file + one registry line. */
#ifndef IRONBARK_REGISTRY_H
#define IRONBARK_REGISTRY_H

#include "../cse/core/primitive.h"
#include "../cse/core/resource.h"
#include "types.h"

#include <stdbool.h>
#include <stdint.h>

/* Wire types of attribute values. */
enum attr_kind {
    A_STR,        /* any string */
    A_ID,         /* non-empty string */
    A_NAME,       /* resourceName: [A-Za-z0-9][A-Za-z0-9._-]* */
    A_URI,        /* non-empty string */
    A_NNINT,      /* integer >= 0 */
    A_POSINT,     /* integer >= 1 */
    A_ENUM,       /* integer within [min, max] */
    A_BOOL,
    A_TS,         /* m2m:timestamp */
    A_STRLIST,    /* array of strings */
    A_URILIST,    /* array of non-empty strings */
    A_INTLIST,    /* array of integers */
    A_OBJ,        /* JSON object */
    A_LIST,       /* any JSON array */
    A_ANY,        /* any JSON value */
    A_LABELS,     /* m2m:labels: array of tokens (non-empty, no white space or controls) */
};

/* Presence of an attribute in the content of a CREATE / UPDATE request
 * (TS-0004 Annex K): mandatory, optional, or not permitted. */
enum presence { NP = 0, O = 1, M = 2 };

struct attr_def {
    const char *sn;           /* short name on the wire */
    uint8_t kind;             /* enum attr_kind */
    uint8_t create;           /* enum presence */
    uint8_t update;           /* enum presence (M is not used) */
    int64_t min, max;         /* A_ENUM bounds; list length bound for lists when max > 0 */
};

/* Universal and common attribute rows shared by the type tables. */
#define ATTR_RN      { "rn",  A_NAME, O,  NP, 0, 0 }
#define ATTR_TY      { "ty",  A_NNINT, NP, NP, 0, 0 }
#define ATTR_RI      { "ri",  A_ID,   NP, NP, 0, 0 }
#define ATTR_PI      { "pi",  A_ID,   NP, NP, 0, 0 }
#define ATTR_CT      { "ct",  A_TS,   NP, NP, 0, 0 }
#define ATTR_LT      { "lt",  A_TS,   NP, NP, 0, 0 }
#define ATTR_ET      { "et",  A_TS,   O,  O,  0, 0 }
#define ATTR_ET_WO   { "et",  A_TS,   O,  NP, 0, 0 }
#define ATTR_LBL     { "lbl", A_LABELS, O, O, 0, 0 }
#define ATTR_LBL_WO  { "lbl", A_LABELS, O, NP, 0, 0 }
#define ATTR_ACPI    { "acpi", A_URILIST, O, O, 0, 0 }
#define ATTR_AT      { "at",  A_URILIST, O, O, 0, 0 }
#define ATTR_AA      { "aa",  A_STRLIST, O, O, 0, 0 }
#define ATTR_DACI    { "daci", A_URILIST, O, O, 0, 0 }
/* custodian (R4): with no acpi, it alone gets the default policy's full
 * access instead of the creator (security/acl.c); a well-formed ID */
#define ATTR_CSTN    { "cstn", A_ID, O, O, 0, 0 }
#define ATTR_ST      { "st",  A_NNINT, NP, NP, 0, 0 }
#define ATTR_CR      { "cr",  A_ANY,  O,  NP, 0, 0 } /* only null is accepted */
#define ATTR_UNIVERSAL ATTR_RN, ATTR_TY, ATTR_RI, ATTR_PI, ATTR_CT, ATTR_LT

/* Type flags. */
#define RT_NO_CREATE     0x01  /* never created through the API */
#define RT_NO_UPDATE     0x02
#define RT_NO_DELETE     0x04
#define RT_STATE_TAG     0x08  /* keeps `st` */
#define RT_CREATOR       0x10  /* supports `cr` */
#define RT_NO_EXPIRY     0x20  /* has no `et` */
#define RT_SUBSCRIBABLE  0x40  /* a <subscription> (RT_SUBSCRIPTION) may be created under it */
#define RT_RETRIEVE_READS_ONLY 0x80  /* on_retrieve never modifies ctx->res (rcn=1 may
                                        then be answered from the stored text) */
#define RT_ROOT          0x100 /* the CSEBase: the tree's root, never expires or goes */
#define RT_REGISTERS     0x200 /* creating one registers its originator (AE; later remoteCSE):
                                  no originator needed, its ri is the registrant's ID */
#define RT_HAS_POA       0x400 /* has pointOfAccess: NOTIFYs to it are forwarded there */
#define RT_INSTANCE      0x800 /* an instance of its parent (cin): counts toward the parent's
                                  quotas, hidden with it when the parent has disr=true */
#define RT_SUBSCRIPTION  0x1000 /* is a subscription: its own life is an event for the notifier */
#define RT_ANNOUNCEABLE  0x2000 /* may be announced (ty + TY_ANNC_OFFSET) */
#define RT_SPECIALIZED   0x4000 /* one type, many wire keys (mgmtObj, flexContainer): an acod
                                   naming it needs spty; CREATE accepts any single namespaced
                                   key that is no other type's, kept as the instance's key */
#define RT_MISSING_DATA  0x10000 /* detects missing data points: net 8 subscriptions may go
                                   under it (timeSeries) */
#define RT_CUSTOM_ATTRS  0x8000 /* attributes outside the table are the specialisation's custom
                                   attributes (flexContainer): any value, optional, removable */

/* Attributes whose name starts with this are the CSE's own (a specialisation's
 * wire key, "@key"): stored with the resource, never on the wire. Only
 * RT_SPECIALIZED types may hold them (the others may be answered from their
 * stored text, which would carry them). */
#define ATTR_PRIVATE_PREFIX '@'
#define ATTR_INSTANCE_KEY "@key"

struct cse;
struct registry;
struct store_change;

/* What a hook sees of the operation in progress. */
struct op_ctx {
    struct cse *cse;
    const struct m2m_request *req;
    struct m2m_response *rsp;
    struct resource *parent;   /* CREATE: the target; else the resource's parent (may be NULL) */
    struct resource *res;      /* the resource being created, updated, retrieved or deleted */
    const struct resource *before; /* UPDATE: the resource as it was */
    json_t *content;           /* CREATE/UPDATE: the attributes from the request */
    json_t *modified;          /* attributes the CSE set differently (rcn=9), owned */
};

/* Hooks return 0 or an RSC (after m2m_error() for a useful message). */
typedef int op_hook(struct op_ctx *ctx);

struct resource_type {
    int ty;
    const char *sn;            /* short name, e.g. "cnt" */
    const char *key;           /* wire key, e.g. "m2m:cnt" */
    const int *parents;        /* allowed parent types, 0-terminated */
    const struct attr_def *attrs;
    int nattrs;
    unsigned flags;
    op_hook *on_create;        /* after generic validation, before insert */
    op_hook *on_created;       /* after insert, same transaction (children it brings along) */
    op_hook *on_update;        /* after attributes are merged, before store */
    op_hook *on_delete;        /* before the subtree is removed */
    op_hook *on_retrieve;      /* before the representation is built */
    /* A NOTIFY addressed to a resource of this type; NULL: 4005. */
    op_hook *on_notify;
    /* Any request addressed to `<resource>/<name>`, name one of its
     * virtual_children that is nothing stored (pcu of a pollingChannel, ntsr
     * of a subscription): ctx->res is the resource (address.c marks it
     * VIRT_CHILD), the hook answers (rsp->rsc) or returns an RSC, and makes
     * its own access decision: no ACP is consulted. NULL: such names are not
     * addressable (4004). */
    int (*on_virtual)(struct op_ctx *ctx, const char *name);
    /* Names reserved for virtual children (la, ol, fopt, …), NULL-terminated;
     * NULL: none. A child may not be created under such a name. */
    const char *const *virtual_children;
    /* The ID of the originator owning a resource of this type regardless of
     * `cr` (an AE owns itself, a <request> its originator), or NULL. */
    const char *(*owner)(const struct resource *res);
    /* Kept out of discovery results (and so of what lies below it) for this
     * request, e.g. an inactive AE; NULL: never. */
    bool (*hidden)(const struct resource *res, const struct m2m_request *req);
    /* Resources of this type the CSE itself holds (a system default), made
     * after the CSEBase at start-up and again after an upper tester Reset;
     * NULL: none. Returns 0 or an RSC; the start fails on an RSC. */
    int (*on_cse_start)(struct cse *cse);
    /* Frees what the type keeps in memory (cse_type_state(): loop timers and
     * their data), at close and before an upper tester Reset; NULL: nothing. */
    void (*on_cse_stop)(struct cse *cse);
    /* Another front-end of a shared store committed a change to a resource
     * of this type (cse/core/feed.h): what the type keeps in memory about
     * it follows (a pollingChannel another one deleted ends its polls
     * here); NULL: it keeps nothing that could go stale. */
    void (*on_changed_elsewhere)(struct cse *cse, const struct store_change *change);
    /* A request carrying an originating timestamp (ot) arrived, whatever
     * its target: types that watch originators' clocks look at it
     * (loss-of-synchronisation timeSyncBeacons); NULL: nothing. */
    void (*on_request_time)(struct cse *cse, const struct m2m_request *req);
    /* The wire key of one resource when it differs per instance; NULL: `key`,
     * or for RT_SPECIALIZED the key it was created with (ATTR_INSTANCE_KEY). */
    const char *(*key_of)(const struct resource *res);
    /* RT_SPECIALIZED with a closed set of specialisations (mgmtObj): one
     * descriptor per wire key (same ty, own attrs and hooks), NULL-terminated.
     * A CREATE must name one of them; NULL: any key, all sharing this one. */
    const struct resource_type *const *specialisations;
};

/* The on_notify hook of the types with RT_HAS_POA: forwards to the poa. */
int poa_forward_notify(struct op_ctx *ctx);

/* The descriptor of t's specialisation named key: t itself when t has no
 * closed set, NULL when key is none of them. */
const struct resource_type *type_specialisation(const struct resource_type *t, const char *key);
/* The descriptor that governs res (its specialisation's, else t). */
const struct resource_type *type_of_resource(const struct resource_type *t, const struct resource *res);
/* The wire key of a resource, "m2m:cnt" (its type's, or its own specialisation's). */
const char *type_key(const struct resource_type *t, const struct resource *res);
/* The attributes as they go on the wire: attrs itself (a new reference) or,
 * when it holds private ones, a copy without them. */
json_t *wire_attrs(json_t *attrs);
/* A custom attribute's name (RT_CUSTOM_ATTRS): a letter, then letters and digits. */
bool is_custom_attr_name(const char *sn);
/* Is name reserved for a virtual child of a resource of type t? */
bool type_reserves_name(const struct resource_type *t, const char *name);
/* The type's flags, 0 for an unknown type: a short way to ask a type a question. */
unsigned type_flags(const struct registry *r, int ty);

#define ATTRS(table) table, (int)(sizeof table / sizeof table[0])

/* The resource types one CSE serves (struct cse holds it): the core types
 * of this engine, then whatever a server profile adds (cse/server.h). */
#define REGISTRY_MAX 96   /* the core types, their announced variants, a profile's */
struct registry {
    const struct resource_type *types[REGISTRY_MAX];
    int n;
};

/* Puts the engine's own types (CSEBase, AE, container, …) in r. */
void registry_init_core(struct registry *r);
/* Adds a type; -1 when r is full or the ty or wire key is taken. */
int registry_add(struct registry *r, const struct resource_type *t);
/* Replaces the type with t's number and key (a server profile's own variant
 * of an engine type); -1 when there is none. */
int registry_replace(struct registry *r, const struct resource_type *t);
const struct resource_type *registry_find(const struct registry *r, int ty);
const struct resource_type *registry_find_key(const struct registry *r, const char *key);
/* Fills out[] with the ty of every registered type; returns the count. */
int registry_types(const struct registry *r, int *out, int max);
/* Is sn an attribute of any registered type (for attribute filters)? */
bool registry_is_attribute_name(const struct registry *r, const char *sn);
const struct attr_def *type_attr(const struct resource_type *t, const char *sn);
bool type_allows_parent(const struct resource_type *t, int parent_ty);

/* Generic validation of a CREATE/UPDATE content object against the table.
 * Returns 0 or an RSC with a message set in rsp. */
int schema_validate(const struct resource_type *t, enum m2m_op op, json_t *content,
                    struct m2m_response *rsp);
bool schema_valid_name(const char *s);

#endif
