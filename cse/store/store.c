#include "store.h"

#include "../base/json_text.h"
#include "../base/log.h"
#include "../core/rsc.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One row per resource. `path` is the structured address: unique, so sibling
 * names are unique, and a subtree is one index range [path/, path0). `seq`
 * orders by creation, which also puts parents before children. */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS resources("
    " seq INTEGER PRIMARY KEY,"
    " ri TEXT NOT NULL UNIQUE,"
    " path TEXT NOT NULL UNIQUE,"
    " pi TEXT NOT NULL,"
    " ty INTEGER NOT NULL,"
    " et TEXT,"
    " body TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS resources_children ON resources(pi, ty);"
    "CREATE INDEX IF NOT EXISTS resources_expiry ON resources(et) WHERE et IS NOT NULL;";

enum stmt_id {
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_GET, S_GET_PATH, S_INSERT, S_UPDATE, S_UPDATE_BODY, S_DELETE_ONE,
    S_SUBTREE, S_DELETE_SUBTREE, S_CHILDREN, S_CHILDREN_TY, S_OLDEST, S_NEWEST,
    S_COUNT, S_EXPIRED, S_NEXT_EXPIRY, S_OLDEST_AT, S_NEWEST_AT,
    S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO, S_COUNT_TY, S_COUNT_STMTS
};

static const char *const stmt_sql[S_COUNT_STMTS] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT primitive",
    [S_RELEASE] = "RELEASE primitive",
    [S_ROLLBACK_TO] = "ROLLBACK TO primitive",
    [S_GET] = "SELECT seq, ty, path, body FROM resources WHERE ri = ?1",
    [S_GET_PATH] = "SELECT seq, ty, path, body FROM resources WHERE path = ?1",
    [S_INSERT] = "INSERT INTO resources(ri, path, pi, ty, et, body) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_UPDATE] = "UPDATE resources SET et = ?2, body = ?3 WHERE ri = ?1",
    /* Naming et in SET rewrites its index entry even when unchanged: one more
     * page in the WAL per commit. Most updates (a container's cni/st on every
     * new instance) leave et as it is. */
    [S_UPDATE_BODY] = "UPDATE resources SET body = ?3 WHERE ri = ?1 AND et IS ?2",
    [S_DELETE_ONE] = "DELETE FROM resources WHERE ri = ?1",
    [S_SUBTREE] = "SELECT seq, ty, path, body FROM resources WHERE path > ?1 AND path < ?2 ORDER BY seq",
    [S_DELETE_SUBTREE] = "DELETE FROM resources WHERE path > ?1 AND path < ?2",
    [S_CHILDREN] = "SELECT seq, ty, path, body FROM resources WHERE pi = ?1 ORDER BY seq",
    [S_CHILDREN_TY] = "SELECT seq, ty, path, body FROM resources WHERE pi = ?1 AND ty = ?2 ORDER BY seq",
    [S_OLDEST] = "SELECT seq, ty, path, body FROM resources WHERE pi = ?1 AND ty = ?2 ORDER BY seq ASC LIMIT 1",
    [S_NEWEST] = "SELECT seq, ty, path, body FROM resources WHERE pi = ?1 AND ty = ?2 ORDER BY seq DESC LIMIT 1",
    [S_COUNT] = "SELECT count(*) FROM resources WHERE pi = ?1 AND (?2 = 0 OR ty = ?2)",
    /* With a type, the (pi, ty) index narrows the count to that type: the
     * form above reads every child (a container's instances, on each
     * CREATE that asks whether it has subscriptions). */
    [S_COUNT_TY] = "SELECT count(*) FROM resources WHERE pi = ?1 AND ty = ?2",
    [S_EXPIRED] = "SELECT seq, ty, path, body FROM resources WHERE et IS NOT NULL AND et < ?1 ORDER BY et LIMIT 256",
    [S_NEXT_EXPIRY] = "SELECT min(et) FROM resources WHERE et IS NOT NULL",
    [S_OLDEST_AT] = "SELECT c.seq, c.ty, c.path, c.body FROM resources p JOIN resources c ON c.pi = p.ri"
                    " WHERE p.path = ?1 AND p.ty = ?2 AND c.ty = ?3 ORDER BY c.seq ASC LIMIT 1",
    [S_NEWEST_AT] = "SELECT c.seq, c.ty, c.path, c.body FROM resources p JOIN resources c ON c.pi = p.ri"
                    " WHERE p.path = ?1 AND p.ty = ?2 AND c.ty = ?3 ORDER BY c.seq DESC LIMIT 1",
};

/* Recently read or written bodies with their parsed form. Parsing is the
 * dearest step of a read (jansson's lexer), and the same few resources (a
 * container, its latest instance) are read over and over. An entry serves a
 * row only when the stored text is byte-identical, so it cannot go stale;
 * callers get a deep copy because they change what they get. */
#define BODY_CACHE_SLOTS 64
#define BODY_CACHE_MAX_TEXT 4096

struct cached_body {
    int64_t seq;
    size_t len;
    char *text;
    json_t *attrs;
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT_STMTS];
    struct cached_body cache[BODY_CACHE_SLOTS];
    uint64_t generation;       /* bumped by every change (store_generation) */
    bool batching;             /* store_batch_enable(): transactions become savepoints */
    bool in_batch;             /* the batch transaction is open */
    bool plain_joined;         /* a store_begin() savepoint is open in the batch */
    bool batch_failed;         /* a batch commit failed (store_batch_take_failure) */
    int batch_size;            /* savepoints opened in the open batch */
    const char *fail_flag;     /* test hook, see commit_fault() */
};

static void cache_drop(struct cached_body *c)
{
    free(c->text);
    json_decref(c->attrs);
    memset(c, 0, sizeof *c);
}

/* Remembers text as the body of row seq; takes ownership of text and attrs. */
static void cache_put(struct store *s, int64_t seq, char *text, size_t len, json_t *attrs)
{
    struct cached_body *c = &s->cache[(uint64_t)seq % BODY_CACHE_SLOTS];
    cache_drop(c);
    if (!text || !attrs || len > BODY_CACHE_MAX_TEXT) {
        free(text);
        json_decref(attrs);
        return;
    }
    *c = (struct cached_body){ seq, len, text, attrs };
}

/* Parsed attributes of row seq with this body, from the cache or parsed (and
 * then cached). NULL when the body is not JSON. */
static json_t *body_attrs(struct store *s, int64_t seq, const char *body, size_t len,
                          json_error_t *jerr)
{
    struct cached_body *c = &s->cache[(uint64_t)seq % BODY_CACHE_SLOTS];
    if (c->text && c->seq == seq && c->len == len && !memcmp(c->text, body, len))
        return json_deep_copy(c->attrs);
    json_t *attrs = json_loadb(body, len, 0, jerr);
    if (attrs && len <= BODY_CACHE_MAX_TEXT) {
        char *text = malloc(len + 1);
        if (text) {
            memcpy(text, body, len);
            text[len] = 0;
        }
        cache_put(s, seq, text, len, json_deep_copy(attrs));
    }
    return attrs;
}

static int db_error(struct store *s, const char *what)
{
    log_error("store: %s: %s", what, sqlite3_errmsg(s->db));
    return RSC_INTERNAL_SERVER_ERROR;
}

int store_open(struct store **out, const char *file, enum store_sync sync)
{
    struct store *s = calloc(1, sizeof *s);
    if (s) s->fail_flag = getenv("IRONBARK_TEST_FAIL_COMMIT");
    if (!s) return RSC_INTERNAL_SERVER_ERROR;
    /* No allocation statistics: they cost a global mutex per SQLite malloc.
     * Only possible before SQLite initialises; later calls fail harmlessly. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (sqlite3_open_v2(file, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        log_error("store: cannot open %s: %s", file, s->db ? sqlite3_errmsg(s->db) : "no memory");
        store_close(s);
        return RSC_INTERNAL_SERVER_ERROR;
    }
    static const char *const sync_names[] = { "OFF", "NORMAL", "FULL" };
    char pragmas[512];
    /* Exclusive locking: this process is the only user of the file (a second
     * CSE on it gets SQLITE_BUSY), so SQLite needs no fcntl() lock pair per
     * statement and keeps the WAL index in memory instead of a -shm mapping;
     * the WAL on disk, and so recovery after kill -9, is unchanged. Workers
     * sharing one file would need NORMAL locking back (2 fcntl per read).
     * 1 KiB pages: a commit writes every page it touched (about seven: row,
     * container, four indexes) to the WAL, so smaller pages mean fewer bytes
     * and checksums per commit (new databases only; existing ones keep theirs).
     * A small page cache keeps the footprint low; the OS caches the file. */
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA locking_mode=EXCLUSIVE; PRAGMA page_size=1024; PRAGMA journal_mode=WAL;"
             "PRAGMA synchronous=%s; PRAGMA cache_size=-512; PRAGMA wal_autocheckpoint=4096;"
             "PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;", sync_names[sync]);
    sqlite3_busy_timeout(s->db, 5000);
    char *err = NULL;
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, &err) != SQLITE_OK ||
        sqlite3_exec(s->db, schema_sql, NULL, NULL, &err) != SQLITE_OK) {
        log_error("store: cannot initialise %s: %s", file, err ? err : "?");
        sqlite3_free(err);
        store_close(s);
        return RSC_INTERNAL_SERVER_ERROR;
    }
    for (int i = 0; i < S_COUNT_STMTS; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &s->stmt[i], NULL) != SQLITE_OK) {
            db_error(s, stmt_sql[i]);
            store_close(s);
            return RSC_INTERNAL_SERVER_ERROR;
        }
    }
    *out = s;
    return 0;
}

void store_close(struct store *s)
{
    if (!s) return;
    for (int i = 0; i < BODY_CACHE_SLOTS; i++) cache_drop(&s->cache[i]);
    for (int i = 0; i < S_COUNT_STMTS; i++) sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    free(s);
}

static sqlite3_stmt *stmt(struct store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->stmt[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static int run_simple(struct store *s, enum stmt_id id)
{
    sqlite3_stmt *st = stmt(s, id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_error(s, stmt_sql[id]);
}

/* In a batch, a transaction is a savepoint in the batch's transaction: a
 * failing primitive rolls back its own changes only, and the batch's one
 * COMMIT (store_batch_commit) makes them all durable at once. */
static int begin_in_batch(struct store *s)
{
    if (!s->in_batch) {
        if (run_simple(s, S_BEGIN)) return RSC_INTERNAL_SERVER_ERROR;
        s->in_batch = true;
        s->batch_size = 0;
    }
    s->batch_size++;
    return run_simple(s, S_SAVEPOINT);
}

int store_begin_batched(struct store *s)
{
    return s->batching ? begin_in_batch(s) : run_simple(s, S_BEGIN);
}

/* Everyone else expects a commit to be durable when it returns (they act
 * on it: notify, answer later): joining an open batch, their commit
 * commits the whole batch. */
int store_begin(struct store *s)
{
    if (!s->in_batch) return run_simple(s, S_BEGIN);
    s->plain_joined = true;
    return run_simple(s, S_SAVEPOINT);
}

int store_commit(struct store *s)
{
    if (!s->in_batch) return run_simple(s, S_COMMIT);
    int rc = run_simple(s, S_RELEASE);
    if (rc || !s->plain_joined) return rc;
    s->plain_joined = false;
    return store_batch_commit(s);
}

void store_batch_enable(struct store *s, bool on)
{
    s->batching = on;
}

bool store_batch_pending(const struct store *s) { return s->in_batch; }
int store_batch_size(const struct store *s) { return s->in_batch ? s->batch_size : 0; }

bool store_batch_take_failure(struct store *s)
{
    bool failed = s->batch_failed;
    s->batch_failed = false;
    return failed;
}

/* Fault injection for the tests of a failed group commit: with
 * IRONBARK_TEST_FAIL_COMMIT=<file> in the environment, a batch commit fails
 * (as a full disk would) once for each time that file is created. */
static bool commit_fault(struct store *s)
{
    return s->fail_flag && !unlink(s->fail_flag);
}

int store_batch_commit(struct store *s)
{
    if (!s->in_batch) return 0;
    s->in_batch = false;
    int rc = commit_fault(s) ? RSC_INTERNAL_SERVER_ERROR : run_simple(s, S_COMMIT);
    if (rc) {
        s->generation++;
        s->batch_failed = true;
        if (!sqlite3_get_autocommit(s->db)) run_simple(s, S_ROLLBACK);
    }
    return rc;
}

uint64_t store_generation(const struct store *s) { return s->generation; }

const char *store_cached_body(struct store *s, const struct resource *res, size_t *len)
{
    if (res->seq <= 0) return NULL;
    struct cached_body *c = &s->cache[(uint64_t)res->seq % BODY_CACHE_SLOTS];
    if (!c->text || c->seq != res->seq) return NULL;
    *len = c->len;
    return c->text;
}

void store_rollback(struct store *s)
{
    s->generation++;
    if (s->in_batch) {
        s->plain_joined = false;
        run_simple(s, S_ROLLBACK_TO);
        run_simple(s, S_RELEASE);
        return;
    }
    if (!sqlite3_get_autocommit(s->db)) run_simple(s, S_ROLLBACK);
}

/* Builds a resource from the current row (seq, ty, path, body). */
static struct resource *row_resource(struct store *s, sqlite3_stmt *st)
{
    const char *body = (const char *)sqlite3_column_text(st, 3);
    int64_t seq = sqlite3_column_int64(st, 0);
    json_error_t jerr = { .text = "out of memory" };
    json_t *attrs = body ? body_attrs(s, seq, body, (size_t)sqlite3_column_bytes(st, 3), &jerr) : NULL;
    if (!attrs) {
        log_error("store: corrupt body of %s: %s", sqlite3_column_text(st, 2), jerr.text);
        return NULL;
    }
    struct resource *r = resource_new(sqlite3_column_int(st, 1), attrs,
                                      (const char *)sqlite3_column_text(st, 2));
    if (r) r->seq = seq;
    return r;
}

static int fetch_one(struct store *s, sqlite3_stmt *st, struct resource **out)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) { sqlite3_reset(st); return RSC_NOT_FOUND; }
    if (rc != SQLITE_ROW) { sqlite3_reset(st); return db_error(s, "fetch"); }
    *out = row_resource(s, st);
    sqlite3_reset(st);
    return *out ? 0 : RSC_INTERNAL_SERVER_ERROR;
}

static int visit_rows(struct store *s, sqlite3_stmt *st, store_visit_fn *visit, void *data)
{
    int rc, result = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct resource *r = row_resource(s, st);
        if (!r) { result = RSC_INTERNAL_SERVER_ERROR; break; }
        result = visit(r, data);
        resource_free(r);
        if (result) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) result = db_error(s, "scan");
    sqlite3_reset(st);
    return result;
}

int store_get(struct store *s, const char *ri, struct resource **out)
{
    sqlite3_stmt *st = stmt(s, S_GET);
    sqlite3_bind_text(st, 1, ri, -1, SQLITE_STATIC);
    return fetch_one(s, st, out);
}

int store_get_path(struct store *s, const char *path, struct resource **out)
{
    sqlite3_stmt *st = stmt(s, S_GET_PATH);
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    return fetch_one(s, st, out);
}

static void bind_et(sqlite3_stmt *st, int col, const struct resource *res)
{
    const char *et = res_str(res, "et");
    if (et) sqlite3_bind_text(st, col, et, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, col);
}

int store_insert(struct store *s, struct resource *res)
{
    size_t len;
    char *body = json_text(res->attrs, &len);
    if (!body) return RSC_INTERNAL_SERVER_ERROR;
    s->generation++;
    sqlite3_stmt *st = stmt(s, S_INSERT);
    sqlite3_bind_text(st, 1, res_ri(res), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, res->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, res_pi(res) ? res_pi(res) : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, res->ty);
    bind_et(st, 5, res);
    sqlite3_bind_text(st, 6, body, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE) {
        res->seq = sqlite3_last_insert_rowid(s->db);
        /* A fresh resource is usually read back soon (la, the next instance). */
        cache_put(s, res->seq, body, len, json_deep_copy(res->attrs));
        return 0;
    }
    free(body);
    if (rc == SQLITE_CONSTRAINT) {
        const char *msg = sqlite3_errmsg(s->db);
        return strstr(msg, "resources.path") ? RSC_CONFLICT : RSC_ALREADY_EXISTS;
    }
    return db_error(s, "insert");
}

int store_update(struct store *s, const struct resource *res)
{
    size_t len;
    char *body = json_text(res->attrs, &len);
    if (!body) return RSC_INTERNAL_SERVER_ERROR;
    s->generation++;
    int rc = SQLITE_DONE, changed = 0;
    for (int id = S_UPDATE_BODY; rc == SQLITE_DONE && !changed && id >= S_UPDATE; id--) {
        sqlite3_stmt *st = stmt(s, (enum stmt_id)id);
        sqlite3_bind_text(st, 1, res_ri(res), -1, SQLITE_STATIC);
        bind_et(st, 2, res);
        sqlite3_bind_text(st, 3, body, (int)len, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        changed = sqlite3_changes(s->db);
    }
    if (rc != SQLITE_DONE) { free(body); return db_error(s, "update"); }
    if (!changed) { free(body); return RSC_NOT_FOUND; }
    /* seq is known when res came from the store; the cache is keyed by it. */
    if (res->seq > 0) cache_put(s, res->seq, body, len, json_deep_copy(res->attrs));
    else free(body);
    return 0;
}

/* Subtree bounds: every descendant path lies strictly between "p/" and "p0"
 * ('0' is the character after '/'). */
static void subtree_bounds(const char *path, char **lo, char **hi)
{
    size_t n = strlen(path);
    *lo = malloc(n + 2);
    *hi = malloc(n + 2);
    memcpy(*lo, path, n); (*lo)[n] = '/'; (*lo)[n + 1] = 0;
    memcpy(*hi, path, n); (*hi)[n] = '0'; (*hi)[n + 1] = 0;
}

int store_delete_subtree(struct store *s, const struct resource *res,
                         store_visit_fn *visit, void *data)
{
    char *lo, *hi;
    subtree_bounds(res->path, &lo, &hi);
    s->generation++;
    int result = 0;
    if (visit) {
        sqlite3_stmt *st = stmt(s, S_SUBTREE);
        sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
        result = visit_rows(s, st, visit, data);
    }
    if (!result) {
        sqlite3_stmt *st = stmt(s, S_DELETE_SUBTREE);
        sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) result = db_error(s, "delete subtree");
        sqlite3_reset(st);
    }
    if (!result) {
        sqlite3_stmt *st = stmt(s, S_DELETE_ONE);
        sqlite3_bind_text(st, 1, res_ri(res), -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) result = db_error(s, "delete");
        else if (!sqlite3_changes(s->db)) result = RSC_NOT_FOUND;
        sqlite3_reset(st);
    }
    free(lo);
    free(hi);
    return result;
}

int store_children(struct store *s, const char *pi, int ty, store_visit_fn *visit, void *data)
{
    sqlite3_stmt *st = stmt(s, ty ? S_CHILDREN_TY : S_CHILDREN);
    sqlite3_bind_text(st, 1, pi, -1, SQLITE_STATIC);
    if (ty) sqlite3_bind_int(st, 2, ty);
    return visit_rows(s, st, visit, data);
}

struct depth_filter {
    size_t base_slashes;
    int max_depth;
    store_visit_fn *visit;
    void *data;
};

static size_t count_slashes(const char *p)
{
    size_t n = 0;
    for (; *p; p++) n += *p == '/';
    return n;
}

static int visit_within_depth(struct resource *res, void *data)
{
    struct depth_filter *df = data;
    if ((int)(count_slashes(res->path) - df->base_slashes) > df->max_depth) return 0;
    return df->visit(res, df->data);
}

int store_descendants(struct store *s, const char *path, int max_depth,
                      store_visit_fn *visit, void *data)
{
    char *lo, *hi;
    subtree_bounds(path, &lo, &hi);
    sqlite3_stmt *st = stmt(s, S_SUBTREE);
    sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
    int result;
    if (max_depth > 0) {
        struct depth_filter df = { count_slashes(path), max_depth, visit, data };
        result = visit_rows(s, st, visit_within_depth, &df);
    } else {
        result = visit_rows(s, st, visit, data);
    }
    free(lo);
    free(hi);
    return result;
}

int store_edge_child(struct store *s, const char *pi, int ty, bool newest, struct resource **out)
{
    sqlite3_stmt *st = stmt(s, newest ? S_NEWEST : S_OLDEST);
    sqlite3_bind_text(st, 1, pi, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, ty);
    return fetch_one(s, st, out);
}

int store_edge_child_at(struct store *s, const char *parent_path, int parent_ty, int child_ty,
                        bool newest, struct resource **out)
{
    sqlite3_stmt *st = stmt(s, newest ? S_NEWEST_AT : S_OLDEST_AT);
    sqlite3_bind_text(st, 1, parent_path, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, parent_ty);
    sqlite3_bind_int(st, 3, child_ty);
    return fetch_one(s, st, out);
}

int store_count_children(struct store *s, const char *pi, int ty, int64_t *count)
{
    sqlite3_stmt *st = stmt(s, ty ? S_COUNT_TY : S_COUNT);
    sqlite3_bind_text(st, 1, pi, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, ty);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *count = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_error(s, "count");
}

int store_expired(struct store *s, const char *now_ts, store_visit_fn *visit, void *data)
{
    sqlite3_stmt *st = stmt(s, S_EXPIRED);
    sqlite3_bind_text(st, 1, now_ts, -1, SQLITE_STATIC);
    return visit_rows(s, st, visit, data);
}

int store_next_expiry(struct store *s, char ts[23])
{
    sqlite3_stmt *st = stmt(s, S_NEXT_EXPIRY);
    ts[0] = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        snprintf(ts, 23, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_error(s, "next expiry");
}
