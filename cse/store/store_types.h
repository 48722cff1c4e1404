/* The types of store.h, apart so that the store's backends (store_pg.h)
 * use them without including store.h. */
#ifndef IRONBARK_STORE_TYPES_H
#define IRONBARK_STORE_TYPES_H

#include "../core/resource.h"

#include <stddef.h>
#include <stdint.h>

/* A position in a subtree scan (store_scan_subtree_from): the scan key of
 * a row (len 0: before the first). Opaque to callers; it stays valid while
 * rows come and go. */
#define STORE_CURSOR_MAX 576
struct store_cursor {
    size_t len;
    unsigned char key[STORE_CURSOR_MAX];
};

/* Durability of a commit: NORMAL survives a process crash (kill -9), FULL
 * also survives power loss (fsync per commit). */
enum store_sync { STORE_SYNC_OFF = 0, STORE_SYNC_NORMAL = 1, STORE_SYNC_FULL = 2 };

/* Visitor for scans: the resource is borrowed for the call (resource_dup()
 * to keep it). Return non-zero to stop the scan; that value is returned. */
typedef int store_visit_fn(struct resource *res, void *data);

/* A row of a scan as stored, before its body is decoded (store_peek_fn):
 * strings borrowed for the call; et NULL when the row has none. */
struct store_row {
    int ty;
    const char *ri, *path, *pi, *et;
    const char *body;          /* its attributes' JSON text, body_len bytes */
    size_t body_len;
};

/* What a scan's peek answers to go on without decoding the row or
 * visiting it (the row counts as read: a cursor moves past it). */
#define STORE_ROW_PASS (-1)
/* Looks at a row before the scan decodes it (decoding is most of a row's
 * cost): 0 to have it decoded and visited, STORE_ROW_PASS, or any other
 * value to stop the scan (returned). */
typedef int store_peek_fn(const struct store_row *row, void *data);

/* What the last subtree scan cost SQLite, for tests that pin the plan:
 * rows returned, seeks past too-deep subtrees, virtual machine steps
 * (grow with every row looked at, returned or not), sorts (a temporary
 * B-tree for ORDER BY) and full-scan or automatic-index steps. PostgreSQL
 * reports rows and seeks only (the others stay 0). */
struct store_scan_stats {
    int64_t rows;
    int64_t vm_steps;
    int64_t seeks;
    int64_t sorts;
    int64_t full_scan_steps;
};

/* RESYNC: this front-end lost its connection and reconnected, so notices
 * of the time between are lost: anything may have changed (its ty is 0 and
 * its strings empty); in-memory state is rebuilt from the store. */
/* PCH_QUEUED: a request was queued at polling channel ri (store_pch_put();
 * ty 0, other strings empty). PCH_ANSWERED: an entity's answer to a request
 * of channel ri reached another front-end (store_pch_answer(); body). */
enum store_change_op { STORE_CHANGE_CREATE = 'c', STORE_CHANGE_UPDATE = 'u', STORE_CHANGE_DELETE = 'd',
                       STORE_CHANGE_RESYNC = 'r', STORE_CHANGE_PCH_QUEUED = 'q', STORE_CHANGE_PCH_ANSWERED = 'a' };

/* One row changed by a transaction another front-end committed. The strings
 * are borrowed for the callback. Deleting a subtree reports every row. */
struct store_change {
    enum store_change_op op;
    int ty;
    const char *ri;
    const char *pi;
    const char *path;
    const char *et;            /* NULL when the row has none (or was deleted) */
    const char *body;          /* PCH_ANSWERED: the answer ({"m2m:rsp": ...}); else NULL */
};
typedef void store_change_fn(const struct store_change *change, void *data);
/* One request taken from a polling channel (store_pch_take()). */
typedef void store_pch_fn(const char *rqp, void *data);

/* The most rows one store_insert_many() takes (a PostgreSQL statement's
 * parameters are bounded: 8 a row). */
#define STORE_INSERT_MANY_MAX 500

/* Conditions a store may answer from an index (store_scan_matching):
 * the row's labels (any one of them), cnf, ct (text) or cs (integer). */
enum store_attr { STORE_ATTR_LABEL, STORE_ATTR_CNF, STORE_ATTR_CT, STORE_ATTR_CS };

/* One indexed condition: the attribute equals `eq` (text), or lies in
 * [lo, hi) (text; NULL = unbounded), or for CS in [ilo, ihi). A row meets
 * a need when, for every group, it meets at least one term of that group. */
struct store_term {
    enum store_attr attr;
    int group;
    const char *eq, *lo, *hi;
    int64_t ilo, ihi;
};

#define STORE_NEED_TERMS 64

struct store_need {
    int nterms;
    struct store_term term[STORE_NEED_TERMS];
    size_t used;               /* of text: storage for terms built from queries */
    char text[4096];
};

#endif
