/* The resource store: a narrow interface over SQLite (WAL, store.c, the
 * embedded default) or PostgreSQL (store_pg.c, chosen by a postgresql://
 * URI as the `db` setting), prepared statements only, one transaction per
 * primitive. Nothing above this header knows SQL. */
#ifndef IRONBARK_STORE_H
#define IRONBARK_STORE_H

#include "store_types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct fiber_lock;
/* enum store_sync, store_visit_fn, struct store_scan_stats and the change
 * feed's types: store_types.h. */

/* Results are 0, RSC_NOT_FOUND, RSC_CONFLICT (path taken), RSC_ALREADY_EXISTS
 * (ri taken) or RSC_INTERNAL_SERVER_ERROR (also every call while a
 * PostgreSQL database is unreachable; the store reconnects by itself).
 * `file` is a SQLite file (or ":memory:") or a postgresql:// URI. */
int store_open(struct store **out, const char *file, enum store_sync sync);
/* The `db` setting as it may be logged: a URI's password masked. */
const char *store_printable(const char *db, char *buf, size_t size);
void store_close(struct store *s);

int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);
/* A read-only transaction in which every read, until store_rollback(), sees
 * the store as it was at one moment, whatever other front-ends commit
 * meanwhile (an export or checksum of a live PostgreSQL database). SQLite:
 * store_begin() (this process is the file's only writer). Not inside a batch. */
int store_begin_snapshot(struct store *s);

/* Group commit. With batching on, store_begin_batched() opens (or joins)
 * one batch transaction and a savepoint in it; store_commit() releases the
 * savepoint and store_rollback() undoes that savepoint only (SQLite opens
 * none for the batch's first primitive: undoing it is undoing the batch,
 * which then holds nothing else, and the next primitive opens a new one). Nothing is
 * durable until store_batch_commit() commits the batch (on failure the whole
 * batch is rolled back, an RSC returned, and store_batch_take_failure()
 * reports it once). Callers must not acknowledge a write before the batch
 * that holds it has committed. store_begin() inside an open batch joins it
 * with a savepoint, and its store_commit() commits the whole batch: plain
 * transactions stay durable when their commit returns. */
void store_batch_enable(struct store *s, bool on);
int store_begin_batched(struct store *s);
bool store_batch_pending(const struct store *s);
/* Primitives (savepoints) in the open batch; 0 when none is open. */
int store_batch_size(const struct store *s);
int store_batch_commit(struct store *s);
bool store_batch_take_failure(struct store *s);
/* Whether store_batch_take_failure() has a failure to report (it stays). */
bool store_batch_failed(const struct store *s);

int store_get(struct store *s, const char *ri, struct resource **out);
int store_get_path(struct store *s, const char *path, struct resource **out);
/* store_get() for a read-modify-write inside a transaction: no other
 * front-end changes the row until this transaction ends, and one that
 * locked it first is waited for (PostgreSQL: FOR UPDATE). SQLite:
 * store_get() (its write transaction already excludes every other). */
int store_get_locked(struct store *s, const char *ri, struct resource **out);
/* store_insert() and store_update() keep res->attrs themselves (not a copy)
 * as the row's parsed body for later reads: after one returns 0, change
 * res->attrs only to write them again, or take a copy first
 * (resource_dup(), resource_own() after setting res->shared). */
int store_insert(struct store *s, struct resource *res);  /* sets res->seq */
/* Many rows at once (store import): res[0..n) in pre-order, each one's
 * parent stored already or earlier in res; n at most STORE_INSERT_MANY_MAX.
 * Sets each res->seq. PostgreSQL: two round trips for all (their seqs, one
 * multi-row INSERT); SQLite: store_insert() each. On a refusal (an RSC as
 * store_insert's), *failed is the first row refused and the transaction
 * may hold some of the others: roll it back. STORE_INSERT_MANY_MAX:
 * store_types.h. */
int store_insert_many(struct store *s, struct resource **res, size_t n, size_t *failed);
int store_update(struct store *s, const struct resource *res);
/* Removes res and its whole subtree; visit (may be NULL) sees each removed
 * descendant (not res itself), deepest-last in creation order. */
int store_delete_subtree(struct store *s, const struct resource *res,
                         store_visit_fn *visit, void *data);

/* Direct children of the resource with ri `pi` (ty 0 = any), in creation order. */
int store_children(struct store *s, const char *pi, int ty, store_visit_fn *visit, void *data);
/* Descendants of the resource at `path` down to max_depth levels (<= 0 = all),
 * in pre-order: parents before their children, siblings in creation order.
 * The scan reads rows as the visitor takes them (stop early for a limit):
 * its cost follows the rows visited, not the subtree's size. */
int store_descendants(struct store *s, const char *path, int max_depth,
                      store_visit_fn *visit, void *data);
/* The same, only descendants of type ty (0 = any), found by index (for
 * contentInstances, the subtree's rows are read in order and others
 * skipped, without their bodies): the visitor does not see their ancestors. */
int store_scan_subtree(struct store *s, const char *path, int max_depth, int ty,
                       store_visit_fn *visit, void *data);

/* store_scan_subtree() in slices: only rows after *at (struct
 * store_cursor: store_types.h), and *at moves to each row before peek or
 * the visitor sees it, so a scan they stopped goes on with the next call
 * from where it stopped (rows inserted meanwhile behind the cursor are not
 * seen; a deleted one is not visited). at may be NULL (one go). Each call is
 * a statement of its own (PostgreSQL: keyset pages, sk > the cursor):
 * nothing stays open between calls, so other primitives and commits run in
 * between. peek (may be NULL) sees each row first and may pass it over
 * undecoded (store_types.h); PostgreSQL ignores it and decodes every row,
 * which gives the same answers. */
int store_scan_subtree_from(struct store *s, const char *path, int max_depth, int ty, struct store_cursor *at,
                            store_peek_fn *peek, store_visit_fn *visit, void *data);

/* The conditions (enum store_attr, struct store_term, struct store_need):
 * store_types.h. */

/* An optional accelerator of store_scan_subtree() for a filtered discovery:
 * the same rows in the same order, except that rows which do not meet
 * `need` may be left out (a visited row may still fail it: the caller
 * checks its filter on every row, as after a plain scan). Ancestors are
 * not visited. Returns RSC_NOT_IMPLEMENTED, before visiting anything, when
 * the backend has no index that makes it cheaper (no such index, or the
 * need matches too many rows to sort): the caller then uses
 * store_scan_subtree() and gets identical results. */
/* peek (may be NULL): as for store_scan_subtree_from(); PostgreSQL visits
 * every row instead. */
int store_scan_matching(struct store *s, const char *path, int max_depth, int ty, const struct store_need *need,
                        store_peek_fn *peek, store_visit_fn *visit, void *data);

struct store_scan_stats store_last_scan(const struct store *s);
/* Oldest (newest=false) or newest direct child of type ty. */
int store_edge_child(struct store *s, const char *pi, int ty, bool newest, struct resource **out);
/* The same, for the resource at parent_path when it has type parent_ty: one
 * lookup for la/ol, without loading the parent. */
int store_edge_child_at(struct store *s, const char *parent_path, int parent_ty, int child_ty,
                        bool newest, struct resource **out);
int store_count_children(struct store *s, const char *pi, int ty, int64_t *count);

/* The stored JSON text of res when the store still holds it in memory
 * (recently read or written), NULL otherwise. Borrowed until the next store
 * call; it is the text of res->attrs as they were read, so callers use it
 * only while nothing has modified them. Always NULL with PostgreSQL. */
const char *store_cached_body(struct store *s, const struct resource *res, size_t *len);

/* A number that changes whenever the store's content may have changed
 * (insert, update, delete, rollback): a copy read at generation g is still
 * current while store_generation() returns g. */
uint64_t store_generation(const struct store *s);

/* Resources whose et is earlier than `now_ts` (canonical timestamp). */
int store_expired(struct store *s, const char *now_ts, store_visit_fn *visit, void *data);
/* Earliest et in the store into ts (empty when none). */
int store_next_expiry(struct store *s, char ts[23]);

/* Several front-ends on one database (the PostgreSQL store, docs/scale-out.md).
 * Other processes may then change the tree: every in-memory index or cache
 * of the engine (subscriptions, ACP decisions, expiry timer, memos) must
 * follow the changes they commit, which this feed reports. For SQLite (one
 * process owns the file) there is no feed: fd -1, nothing to poll. */
bool store_shared(const struct store *s);

/* Readable when other front-ends have committed changes; -1 when no one
 * else writes this store. The descriptor may change after a reconnection:
 * fetch it again after each store_poll_changes(). Notices that arrived
 * during another store call were already read off the socket (PostgreSQL
 * sends them on the same connection), so poll once per loop round too,
 * not only when the descriptor is readable. */
int store_change_fd(const struct store *s);
/* How many connections the store has made so far (0 for SQLite): while it
 * stays the same, a descriptor store_change_fd() returned is still the
 * same socket, even if that number was closed and reused meanwhile. */
uint64_t store_connections(const struct store *s);
/* Reads the pending change notices without waiting and calls fn for each
 * (this front-end's own changes are not reported). store_generation()
 * moves when any arrived, so memos keyed on it drop themselves. Returns how
 * many were reported, or -1 while the database is unreachable. */
int store_poll_changes(struct store *s, store_change_fn *fn, void *data);
/* The same for the notices already read off the socket with the answers of
 * earlier store calls, without a system call: for when the store's lock
 * passes from one fiber to the next (fiber_lock's on_handover), where the
 * fiber that ended took in the notices sent with its answers. What is still
 * on the socket is read by the next store call or the store's own watch of
 * the socket, and reported by a later poll. Never -1: 0 while the database
 * is away (store_poll_changes() reports that). */
int store_poll_buffered_changes(struct store *s, store_change_fn *fn, void *data);

/* Requests waiting at polling channels, shared by the front-ends of one
 * database (polling.c; SQLite: RSC_NOT_IMPLEMENTED, its queues stay in
 * memory). store_pch_put() queues rqp (an m2m:rqp as JSON text, its rqi)
 * at channel pch for timeout_ms, drops every expired one, and reports a
 * change of op STORE_CHANGE_PCH_QUEUED (ri: pch) to the other front-ends'
 * feeds; beyond max waiting at pch, the oldest are removed and given to
 * dropped. store_pch_take() hands out up to max unexpired waiting requests
 * of pch, oldest first, to fn (borrowed text): one taker only, whichever
 * front-ends take at once. Returns how many, -1 on failure. */
int store_pch_put(struct store *s, const char *pch, const char *rqi, const char *rqp, int64_t timeout_ms, int max,
                  store_pch_fn *dropped, void *data);
int store_pch_take(struct store *s, const char *pch, int max, store_pch_fn *fn, void *data);
/* An entity's answer (rsp, JSON text) to request rqi handed out by channel
 * pch: ends the request and passes rsp to the other front-ends
 * (STORE_CHANGE_PCH_ANSWERED) when the transaction commits. An rsp too long
 * for a notice (about 7.9 kB) is kept in the database for a minute and the
 * change's body is "@<id>\n<rqi>" instead: the front-end that waits for
 * the answer takes it with store_pch_answer_take(). RSC_NOT_FOUND when no
 * such request was handed out (or it expired, or was answered). */
int store_pch_answer(struct store *s, const char *pch, const char *rqi, const char *rsp);
/* The kept answer id, removed as it is read (*rsp: malloc'd JSON text):
 * 0, RSC_NOT_FOUND (taken, or older than a minute), or another error. */
int store_pch_answer_take(struct store *s, int64_t id, char **rsp);
/* The answer to request rqi of channel pch reached the front-end that
 * queued it, which answers it itself: the request ends, nothing is passed
 * on and nothing kept. 0, RSC_NOT_FOUND as store_pch_answer(), or another
 * error. */
int store_pch_end(struct store *s, const char *pch, const char *rqi);

/* A store that waits for a server (PostgreSQL) is waited for in fibers
 * (cse/base/fiber.h): the lock a fiber holds from its first store call to
 * its end, which the engine takes for a whole primitive. NULL for SQLite,
 * which never waits on a socket and runs without fibers. */
struct fiber_lock *store_fiber_lock(struct store *s);
/* Round trips such a store waited for outside a fiber, blocking the loop
 * (start-up and the tools not counted); 0 for SQLite. */
uint64_t store_waits_outside_fiber(struct store *s);

#endif
