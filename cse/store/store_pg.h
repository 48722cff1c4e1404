/* The PostgreSQL backend of store.h (store_pg.c). Private to cse/store:
 * store.c dispatches each public function here when the `db` setting is a
 * postgresql:// URI. The functions mean what their store_* namesakes in
 * store.h say. */
#ifndef IRONBARK_STORE_PG_H
#define IRONBARK_STORE_PG_H

#include "store_types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pg_store;
struct fiber_lock;

/* True when db names a PostgreSQL database (postgresql:// or postgres://). */
bool pg_store_wanted(const char *db);
/* db with its password (URI user info or ?password=) masked, into buf. */
const char *pg_store_printable(const char *db, char *buf, size_t size);

int pg_store_open(struct pg_store **out, const char *uri, enum store_sync sync);
void pg_store_close(struct pg_store *p);

int pg_store_begin(struct pg_store *p);
int pg_store_begin_snapshot(struct pg_store *p);
int pg_store_commit(struct pg_store *p);
void pg_store_rollback(struct pg_store *p);
void pg_store_batch_enable(struct pg_store *p, bool on);
int pg_store_begin_batched(struct pg_store *p);
bool pg_store_batch_pending(const struct pg_store *p);
/* The lock a fiber holds while the connection carries its statements. */
struct fiber_lock *pg_store_fiber_lock(struct pg_store *p);
uint64_t pg_store_waits_outside_fiber(const struct pg_store *p);
int pg_store_batch_size(const struct pg_store *p);
int pg_store_batch_commit(struct pg_store *p);
bool pg_store_batch_take_failure(struct pg_store *p);
bool pg_store_batch_failed(const struct pg_store *p);

int pg_store_get(struct pg_store *p, const char *ri, struct resource **out);
int pg_store_get_locked(struct pg_store *p, const char *ri, struct resource **out);
int pg_store_get_path(struct pg_store *p, const char *path, struct resource **out);
int pg_store_insert(struct pg_store *p, struct resource *res);
int pg_store_insert_many(struct pg_store *p, struct resource **res, size_t n, size_t *failed);
int pg_store_update(struct pg_store *p, const struct resource *res);
int pg_store_delete_subtree(struct pg_store *p, const struct resource *res,
                            store_visit_fn *visit, void *data);
int pg_store_children(struct pg_store *p, const char *pi, int ty, store_visit_fn *visit, void *data);
int pg_store_scan_subtree(struct pg_store *p, const char *path, int max_depth, int ty,
                          store_visit_fn *visit, void *data);
int pg_store_scan_subtree_from(struct pg_store *p, const char *path, int max_depth, int ty,
                               struct store_cursor *at, store_visit_fn *visit, void *data);
/* The SQL of one page of the subtree scan of type ty (0 = any), also each
 * continuation of a sliced scan: $1 the key after which it goes on, $2
 * the subtree's upper bound, then ty (when not 0) and the page size. For
 * the test that pins its plan (tests/unit/test_store_pg.c). */
const char *pg_store_scan_sql(int ty);
int pg_store_scan_matching(struct pg_store *p, const char *path, int max_depth, int ty,
                           const struct store_need *need, store_visit_fn *visit, void *data);
void pg_store_last_scan(const struct pg_store *p, struct store_scan_stats *out);
int pg_store_edge_child(struct pg_store *p, const char *pi, int ty, bool newest, struct resource **out);
int pg_store_edge_child_at(struct pg_store *p, const char *parent_path, int parent_ty, int child_ty,
                           bool newest, struct resource **out);
int pg_store_count_children(struct pg_store *p, const char *pi, int ty, int64_t *count);
uint64_t pg_store_generation(const struct pg_store *p);
int pg_store_expired(struct pg_store *p, const char *now_ts, store_visit_fn *visit, void *data);
int pg_store_next_expiry(struct pg_store *p, char ts[23]);

int pg_store_pch_put(struct pg_store *p, const char *pch, const char *rqi, const char *rqp, int64_t timeout_ms,
                     int max, store_pch_fn *dropped, void *data);
int pg_store_pch_take(struct pg_store *p, const char *pch, int max, store_pch_fn *fn, void *data);
int pg_store_pch_answer(struct pg_store *p, const char *pch, const char *rqi, const char *rsp);
int pg_store_pch_answer_take(struct pg_store *p, int64_t id, char **rsp);
int pg_store_pch_end(struct pg_store *p, const char *pch, const char *rqi);

int pg_store_change_fd(const struct pg_store *p);
uint64_t pg_store_connections(const struct pg_store *p);
int pg_store_poll_changes(struct pg_store *p, store_change_fn *fn, void *data);
int pg_store_poll_buffered_changes(struct pg_store *p, store_change_fn *fn, void *data);

#endif
