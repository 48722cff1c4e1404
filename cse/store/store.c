#include "store.h"
#include "wal_gather.h"
#include "store_keys.h"
#include "store_pg.h"

#include "../base/json_text.h"
#include "../base/log.h"
#include "../core/rsc.h"
#include "../../resources/types.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* contentInstances are left out of the (ty, sk) index (too many rows for what
 * a type scan of them gains; they are found by their parent); a partial
 * index's condition is SQL text, so the number is spelled here, tied to the
 * type table by the assertion. */
#define CIN_SQL "4"
_Static_assert(TY_CIN == 4, "CIN_SQL must spell TY_CIN");

/* One row per resource. `path` is the structured address: unique, so sibling
 * names are unique, and a subtree is one index range [path/, path0). `seq`
 * orders by creation, which also puts parents before children.
 *
 * `sk` (scan key) is the parent's sk followed by the row's own seq as one
 * order-preserving component (seqkey()): a subtree is one index range
 * (sk, sk||x'FF') already in pre-order with siblings in creation order, so
 * a discovery with `lim` reads only the rows it returns, and (ty, sk) does
 * the same for one resource type. Ordering by seq instead would need the
 * whole subtree read and sorted first. */

/* What lets a filtered discovery read only rows that can match
 * (store_scan_matching):
 * - labels (lbl, lbq): `lb` is the `lbl` array's text (NULL without
 *   labels, compared on every UPDATE), and each label is a row of
 *   `labels`. Most resources have none, so this costs them nothing.
 * - ct (cra/crb): the CSE stamps ct when it creates a row, and seq grows
 *   with every insert, so from store_meta 'ct_ordered_from' on (the seq
 *   after the last time the clock stepped back, or a row came without ct)
 *   the rows of a ct interval are one seq interval, found by a binary
 *   search over the rowid B-tree: no index, nothing per CREATE but a
 *   comparison. The rows before that seq are read as well (their ct is in
 *   no order); they leave as old rows are deleted.
 * - cnf (cty) and cs (sza/szb): columns of their own (NULL for the rows
 *   without them), both in ONE partial index (cnf, cs, sk) of only the
 *   rows that have one: an index entry per contentInstance CREATE costs
 *   about 4 % of it, so the two share one. A cnf is a range of the index;
 *   a cs interval is one range per distinct cnf (few: media types), read
 *   by skipping from one cnf to the next (content_groups()). */
#define LABELS_TABLE_SQL \
    "CREATE TABLE IF NOT EXISTS labels(lbl TEXT NOT NULL, sk BLOB NOT NULL," \
    " PRIMARY KEY(lbl, sk)) WITHOUT ROWID;"

static const char table_sql[] =
    "CREATE TABLE IF NOT EXISTS resources("
    " seq INTEGER PRIMARY KEY,"
    " ri TEXT NOT NULL UNIQUE,"
    " path TEXT NOT NULL UNIQUE,"
    " pi TEXT NOT NULL,"
    " ty INTEGER NOT NULL,"
    " et TEXT,"
    " body TEXT NOT NULL,"
    " sk BLOB,"
    " lb TEXT,"
    " cs INTEGER,"
    " cnf TEXT);"
    LABELS_TABLE_SQL
    "CREATE TABLE IF NOT EXISTS store_meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;";

/* The rows of resources_content; spelled the same in every query that
 * reads it, so that SQLite knows at prepare time that the index holds them. */
#define CONTENT_SQL "(cs IS NOT NULL OR cnf IS NOT NULL)"
/* Named: without statistics SQLite prefers (sk) for a subtree-bounded
 * range, which reads the whole subtree. */
#define CONTENT_FROM "resources INDEXED BY resources_content"

static const char index_sql[] =
    "CREATE INDEX IF NOT EXISTS resources_children ON resources(pi, ty);"
    "CREATE INDEX IF NOT EXISTS resources_expiry ON resources(et) WHERE et IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS resources_subtree ON resources(sk);"
    /* Not for contentInstances: they are most of the writes (an index entry
     * each would cost every CREATE), and most of any subtree they are in,
     * so a scan for them through (sk) meets few other rows. */
    "CREATE INDEX IF NOT EXISTS resources_subtree_ty ON resources(ty, sk) WHERE ty <> " CIN_SQL ";"
    "CREATE INDEX IF NOT EXISTS resources_content ON resources(cnf, cs, sk) WHERE " CONTENT_SQL ";"
    /* The labels of a deleted subtree are one range of this index. */
    "CREATE INDEX IF NOT EXISTS labels_of_row ON labels(sk);";

/* Databases written before the filter columns existed: add them, fill them
 * from the bodies, and fill `labels`. */
static const char migrate_filters_sql[] =
    "ALTER TABLE resources ADD COLUMN lb TEXT;"
    "UPDATE resources SET"
    " lb = CASE WHEN json_type(body, '$.lbl') = 'array' AND json_array_length(body, '$.lbl') > 0"
    "      THEN json_extract(body, '$.lbl') END;"
    "INSERT OR IGNORE INTO labels(lbl, sk) SELECT j.value, r.sk FROM resources r, json_each(r.lb) j"
    " WHERE r.lb IS NOT NULL AND j.type = 'text';";

/* Databases written before the cnf/cs columns existed (typeof: only an
 * integer cs and a text cnf count, as filter_match() reads them). */
static const char migrate_content_sql[] =
    "ALTER TABLE resources ADD COLUMN cs INTEGER;"
    "ALTER TABLE resources ADD COLUMN cnf TEXT;"
    "UPDATE resources SET"
    " cs = CASE WHEN json_type(body, '$.cs') = 'integer' THEN json_extract(body, '$.cs') END,"
    " cnf = CASE WHEN json_type(body, '$.cnf') = 'text' THEN json_extract(body, '$.cnf') END"
    " WHERE json_type(body, '$.cs') = 'integer' OR json_type(body, '$.cnf') = 'text';";

/* Databases written before `sk` existed: add the column and fill it, parents
 * first (a parent's seq is always smaller than its children's), one tree
 * level per UPDATE until no row is left without a key. */
static const char migrate_add_sql[] = "ALTER TABLE resources ADD COLUMN sk BLOB;";
static const char migrate_roots_sql[] =
    "UPDATE resources SET sk = ironbark_seqkey(NULL, seq)"
    " WHERE NOT EXISTS (SELECT 1 FROM resources p WHERE p.ri = resources.pi)";
static const char migrate_level_sql[] =
    "UPDATE resources SET sk = ironbark_seqkey((SELECT p.sk FROM resources p WHERE p.ri = resources.pi), seq)"
    " WHERE sk IS NULL AND (SELECT p.sk FROM resources p WHERE p.ri = resources.pi) IS NOT NULL";

/* What a scan reads of a row: row_resource()'s four, the scan key, and
 * what a peek (store_row) needs besides. */
#define SCAN_COLUMNS "seq, ty, path, body, sk, pi, et, ri"

enum stmt_id {
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_GET, S_GET_PATH, S_INSERT, S_UPDATE, S_UPDATE_BODY, S_DELETE_ONE,
    S_SUBTREE, S_DELETE_SUBTREE, S_CHILDREN, S_CHILDREN_TY, S_OLDEST, S_NEWEST,
    S_COUNT, S_EXPIRED, S_NEXT_EXPIRY, S_OLDEST_AT, S_NEWEST_AT,
    S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO, S_COUNT_TY, S_SCAN, S_SCAN_TY, S_SCAN_KEY,
    S_KEY_OF_RI, S_SCAN_CIN, S_LABEL_ADD, S_LABELS_DROP_ROW, S_LABELS_DROP_RANGE, S_ROW_BY_KEY,
    S_CT_PROBE, S_CT_DISORDER, S_NEXT_CNF, S_ANY_OF_TY,
    S_COUNT_STMTS
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
    [S_INSERT] = "INSERT INTO resources(ri, path, pi, ty, et, body, seq, sk, lb, cs, cnf)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [S_KEY_OF_RI] = "SELECT sk FROM resources WHERE ri = ?1",
    [S_UPDATE] = "UPDATE resources SET et = ?2, body = ?3, lb = ?4, cs = ?5, cnf = ?6 WHERE ri = ?1",
    /* Naming et in SET rewrites its index entry even when unchanged: one more
     * page in the WAL per commit. Most updates (a container's cni/st on every
     * new instance) leave et as it is. */
    [S_UPDATE_BODY] = "UPDATE resources SET body = ?3"
                      " WHERE ri = ?1 AND et IS ?2 AND lb IS ?4 AND cs IS ?5 AND cnf IS ?6",
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
    /* Through the (ty, sk) index, hence not for contentInstances. */
    [S_ANY_OF_TY] = "SELECT 1 FROM resources WHERE ty = ?1 AND ty <> " CIN_SQL " LIMIT 1",
    [S_EXPIRED] = "SELECT seq, ty, path, body FROM resources WHERE et IS NOT NULL AND et < ?1 ORDER BY et LIMIT 256",
    /* Subtree scans in sk order (store_scan_subtree); ?1 moves forward past
     * subtrees deeper than the scan wants. */
    [S_SCAN] = "SELECT " SCAN_COLUMNS " FROM resources WHERE sk > ?1 AND sk < ?2 ORDER BY sk",
    /* `ty <> 4` lets SQLite use the partial index (the condition must be
     * in the query to be known at prepare time). */
    [S_SCAN_TY] = "SELECT " SCAN_COLUMNS " FROM resources"
                  " WHERE ty = ?3 AND ty <> " CIN_SQL " AND sk > ?1 AND sk < ?2 ORDER BY sk",
    [S_SCAN_CIN] = "SELECT " SCAN_COLUMNS " FROM resources"
                   " WHERE sk > ?1 AND sk < ?2 AND ty = ?3 ORDER BY sk",
    [S_SCAN_KEY] = "SELECT sk FROM resources WHERE path = ?1",
    [S_LABEL_ADD] = "INSERT OR IGNORE INTO labels(lbl, sk) VALUES(?1, ?2)",
    [S_LABELS_DROP_ROW] = "DELETE FROM labels WHERE sk = ?1",
    [S_LABELS_DROP_RANGE] = "DELETE FROM labels WHERE sk >= ?1 AND sk < ?2",
    [S_ROW_BY_KEY] = "SELECT " SCAN_COLUMNS " FROM resources WHERE sk = ?1",
    [S_CT_PROBE] = "SELECT json_extract(body, '$.ct') FROM resources WHERE seq >= ?1 ORDER BY seq LIMIT 1",
    [S_CT_DISORDER] = "INSERT OR REPLACE INTO store_meta(k, v) VALUES('ct_ordered_from', ?1)",
    /* The least cnf above ?1 (bound to a number for the first: numbers sort
     * before text): one seek of resources_content. */
    [S_NEXT_CNF] = "SELECT cnf FROM resources WHERE " CONTENT_SQL " AND cnf > ?1 ORDER BY cnf LIMIT 1",
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
 * callers get a deep copy because they change what they get. A write keeps
 * the writer's own attributes (no copy: the writer is done with them,
 * store.h), which share nothing with a copy handed out. */
#define BODY_CACHE_SLOTS 64
#define BODY_CACHE_MAX_TEXT 4096

struct cached_body {
    int64_t seq;
    size_t len;
    char *text;
    json_t *attrs;
};

/* The last la/ol answer of store_edge_child_at(): while nothing has
 * changed (the generation), the same question gets the same row, served
 * from the body cache without SQLite. Repeated `la` reads are the hot path. */
#define EDGE_MEMO_PATH 256

struct edge_memo {
    uint64_t generation;
    bool valid, newest;
    int parent_ty, child_ty, ty;
    int64_t seq;
    char parent_path[EDGE_MEMO_PATH], path[EDGE_MEMO_PATH];
};

/* The scan key of the last parent inserted under: instances arrive in
 * bursts into one container. A row's key never changes while the row
 * lives, so the memo is dropped only by a delete or a rollback. */
#define PARENT_KEY_MAX 256

struct parent_memo {
    bool valid;
    char ri[128];
    size_t len;
    unsigned char key[PARENT_KEY_MAX];
};

/* Rows recently found by path (the targets of requests: a container that
 * instances go into), so that the next lookup of the same path is served
 * from the body cache without SQLite. A row keeps its path and seq for its
 * life, and the body cache holds the latest text of every row written
 * through this store, so an entry is right until the row is deleted or a
 * rollback returns older text to the table (both clear the memo). */
#define PATH_MEMO_SLOTS 8
#define PATH_MEMO_MAX 192

struct path_memo {
    int64_t seq;               /* 0: unused */
    int ty;
    char path[PATH_MEMO_MAX];
};

/* A cs interval is read as one index range per distinct cnf: with more
 * cnf values than this (or a longer one), the plain scan is used. */
#define CNF_GROUPS_MAX 32
#define CNF_TEXT_MAX 128

struct store {
    struct pg_store *pg;       /* the PostgreSQL backend (store_pg.c) when chosen */
    sqlite3 *db;
    struct edge_memo edge;
    struct parent_memo parent;
    struct path_memo paths[PATH_MEMO_SLOTS];
    unsigned paths_next;       /* the slot a new path takes (round robin) */
    int64_t next_seq;          /* seq of the next insert (its sk needs it first) */
    struct store_scan_stats last_scan;
    sqlite3_stmt *stmt[S_COUNT_STMTS];
    struct cached_body cache[BODY_CACHE_SLOTS];
    uint64_t generation;       /* bumped by every change (store_generation) */
    bool labels_present;       /* `labels` may hold rows: deletes must clear theirs */
    int64_t ct_ordered_from;   /* ct does not decrease with seq from here on (store_meta) */
    char last_ct[32];          /* the greatest ct inserted */
    bool batching;             /* store_batch_enable(): transactions become savepoints */
    bool in_batch;             /* the batch transaction is open */
    bool plain_joined;         /* a store_begin() savepoint is open in the batch */
    bool bare;                 /* the batch's first primitive is open, without a savepoint */
    bool batch_failed;         /* a batch commit failed (store_batch_take_failure) */
    int batch_size;            /* savepoints opened in the open batch */
    const char *fail_flag;     /* test hook, see commit_fault() */
    bool no_peek;              /* test hook: scans ignore their peek (IRONBARK_TEST_NO_PEEK) */
    int ncnf;                  /* distinct cnf values in resources_content (content_groups()) */
    /* Types (bit ty, below TYPE_BITS) known to have no row at all, so that
     * store_count_children() answers 0 without SQLite: every CREATE asks
     * whether its parent has subscriptions, and most CSEs have few or none.
     * `absent` counts only where `known`; an insert of the type clears it,
     * a delete or a rollback makes it unknown again. */
    uint64_t types_known, types_absent;
    char cnf[CNF_GROUPS_MAX][CNF_TEXT_MAX];
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
 * then cached when `remember`: subtree scans do not, so one discovery does
 * not push the hot resources out). NULL when the body is not JSON. */
static json_t *body_attrs(struct store *s, int64_t seq, const char *body, size_t len,
                          json_error_t *jerr, bool remember)
{
    struct cached_body *c = &s->cache[(uint64_t)seq % BODY_CACHE_SLOTS];
    if (c->text && c->seq == seq && c->len == len && !memcmp(c->text, body, len))
        return json_deep_copy(c->attrs);
    json_t *attrs = json_loadb(body, len, 0, jerr);
    /* Not kept, but no older text of the row may stay either (path memo). */
    if (remember && len > BODY_CACHE_MAX_TEXT && c->seq == seq) cache_drop(c);
    if (attrs && remember && len <= BODY_CACHE_MAX_TEXT) {
        char *text = malloc(len + 1);
        if (text) {
            memcpy(text, body, len);
            text[len] = 0;
        }
        cache_put(s, seq, text, len, json_deep_copy(attrs));
    }
    return attrs;
}

static void paths_forget(struct store *s)
{
    for (int i = 0; i < PATH_MEMO_SLOTS; i++) s->paths[i].seq = 0;
}

/* The bit of a type in types_known/types_absent; 0 (never known) for the
 * numbers beyond (announced types). */
#define TYPE_BITS 64
static uint64_t type_bit(int ty) { return ty > 0 && ty < TYPE_BITS ? UINT64_C(1) << ty : 0; }

static int db_error(struct store *s, const char *what)
{
    log_error("store: %s: %s", what, sqlite3_errmsg(s->db));
    return RSC_INTERNAL_SERVER_ERROR;
}

/* ironbark_seqkey(parent_sk, seq): the key of a row under parent_sk (NULL
 * for a root). A function, not ||, because || makes text of blobs. */
static void sql_seqkey(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *parent = sqlite3_value_type(argv[0]) == SQLITE_BLOB ? sqlite3_value_blob(argv[0]) : NULL;
    size_t plen = parent ? (size_t)sqlite3_value_bytes(argv[0]) : 0;
    unsigned char *key = sqlite3_malloc64(plen + SEQKEY_MAX);
    if (!key) { sqlite3_result_error_nomem(ctx); return; }
    if (plen) memcpy(key, parent, plen);
    size_t n = plen + seqkey(sqlite3_value_int64(argv[1]), key + plen);
    sqlite3_result_blob(ctx, key, (int)n, sqlite3_free);
}

/* Does `sql` return a row? */
static bool has_row(struct store *s, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return false;
    bool found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

static bool has_scan_keys(struct store *s)
{
    return has_row(s, "SELECT 1 FROM pragma_table_info('resources') WHERE name = 'sk'");
}

/* Adds and fills sk in a database from before it existed, in one
 * transaction: a crash part-way leaves the old schema, migrated next time. */
static int migrate_scan_keys(struct store *s, char **err)
{
    if (has_scan_keys(s)) return SQLITE_OK;
    log_info("store: adding subtree scan keys to an existing database");
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, err);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, migrate_add_sql, NULL, NULL, err);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, migrate_roots_sql, NULL, NULL, err);
    while (rc == SQLITE_OK) {
        rc = sqlite3_exec(s->db, migrate_level_sql, NULL, NULL, err);
        if (rc == SQLITE_OK && !sqlite3_changes(s->db)) break;
    }
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, err);
    if (rc != SQLITE_OK) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Adds filter columns by `sql` unless `column` exists (after the scan
 * keys, which `labels` refers to), in one transaction. */
static int migrate_filter_columns(struct store *s, const char *column, const char *sql, char **err)
{
    char probe[128];
    snprintf(probe, sizeof probe, "SELECT 1 FROM pragma_table_info('resources') WHERE name = '%s'", column);
    if (has_row(s, probe)) return SQLITE_OK;
    log_info("store: adding the discovery filter column %s to an existing database", column);
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, err);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, sql, NULL, NULL, err);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, err);
    if (rc != SQLITE_OK) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Where ct is in seq order: found once per database (every row read, when
 * an older database is first opened), then kept by note_ct(). */
static const char ct_order_sql[] =
    "INSERT INTO store_meta(k, v) SELECT 'ct_ordered_from', ("
    " SELECT coalesce(max(CASE WHEN ct IS NULL THEN seq + 1 ELSE seq END), 0) FROM"
    " (SELECT seq, json_extract(body, '$.ct') AS ct,"
    "  lag(json_extract(body, '$.ct')) OVER (ORDER BY seq) AS prev FROM resources)"
    " WHERE ct IS NULL OR ct < prev)"
    " WHERE NOT EXISTS (SELECT 1 FROM store_meta WHERE k = 'ct_ordered_from');";

static int init_ct_order(struct store *s, char **err)
{
    int rc = sqlite3_exec(s->db, ct_order_sql, NULL, NULL, err);
    sqlite3_stmt *st;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "SELECT (SELECT v FROM store_meta WHERE k = 'ct_ordered_from'),"
                                " (SELECT json_extract(body, '$.ct') FROM resources ORDER BY seq DESC LIMIT 1)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    if (sqlite3_step(st) == SQLITE_ROW) {
        s->ct_ordered_from = sqlite3_column_int64(st, 0);
        if (sqlite3_column_type(st, 1) == SQLITE_TEXT)
            snprintf(s->last_ct, sizeof s->last_ct, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    return SQLITE_OK;
}

static int64_t first_free_seq(struct store *s)
{
    sqlite3_stmt *st;
    int64_t next = 1;
    if (sqlite3_prepare_v2(s->db, "SELECT max(seq) FROM resources", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) next = sqlite3_column_int64(st, 0) + 1;
        sqlite3_finalize(st);
    }
    return next;
}

int store_open(struct store **out, const char *file, enum store_sync sync)
{
    struct store *s = calloc(1, sizeof *s);
    if (s && pg_store_wanted(file)) {
        if (pg_store_open(&s->pg, file, sync)) { free(s); return RSC_INTERNAL_SERVER_ERROR; }
        *out = s;
        return 0;
    }
    if (s) s->fail_flag = getenv("IRONBARK_TEST_FAIL_COMMIT");
    /* Tests compare listings with and without peeks (test_discovery_peek). */
    if (s) s->no_peek = getenv("IRONBARK_TEST_NO_PEEK") != NULL;
    if (!s) return RSC_INTERNAL_SERVER_ERROR;
    /* No allocation statistics: they cost a global mutex per SQLite malloc.
     * Only possible before SQLite initialises; later calls fail harmlessly. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* A commit's WAL frames in one write instead of two calls a frame (wal_gather.h). */
    if (sqlite3_open_v2(file, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_NOMUTEX, wal_gather_vfs()) != SQLITE_OK) {
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
    if (sqlite3_create_function(s->db, "ironbark_seqkey", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                NULL, sql_seqkey, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, pragmas, NULL, NULL, &err) != SQLITE_OK ||
        sqlite3_exec(s->db, table_sql, NULL, NULL, &err) != SQLITE_OK ||
        migrate_scan_keys(s, &err) != SQLITE_OK ||
        migrate_filter_columns(s, "lb", migrate_filters_sql, &err) != SQLITE_OK ||
        migrate_filter_columns(s, "cs", migrate_content_sql, &err) != SQLITE_OK ||
        sqlite3_exec(s->db, index_sql, NULL, NULL, &err) != SQLITE_OK) {
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
    s->next_seq = first_free_seq(s);
    s->labels_present = has_row(s, "SELECT 1 FROM labels LIMIT 1");
    if (init_ct_order(s, &err) != SQLITE_OK) {
        log_error("store: cannot initialise %s: %s", file, err ? err : "?");
        sqlite3_free(err);
        store_close(s);
        return RSC_INTERNAL_SERVER_ERROR;
    }
    *out = s;
    return 0;
}

void store_close(struct store *s)
{
    if (!s) return;
    pg_store_close(s->pg);
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
 * COMMIT (store_batch_commit) makes them all durable at once. The batch's
 * first primitive needs none: rolling it back is rolling back the batch,
 * which holds nothing else yet (a savepoint costs two statements and a
 * copy of every page the primitive changes, for its undo). */
static int begin_in_batch(struct store *s)
{
    if (!s->in_batch) {
        if (run_simple(s, S_BEGIN)) return RSC_INTERNAL_SERVER_ERROR;
        s->in_batch = true;
        s->bare = true;
        s->batch_size = 1;
        return 0;
    }
    s->batch_size++;
    return run_simple(s, S_SAVEPOINT);
}

/* Is the open primitive the batch's first, without a savepoint? */
static bool bare_open(const struct store *s)
{
    return s->in_batch && s->bare && !s->plain_joined;
}

int store_begin_batched(struct store *s)
{
    if (s->pg) return pg_store_begin_batched(s->pg);
    return s->batching ? begin_in_batch(s) : run_simple(s, S_BEGIN);
}

/* Everyone else expects a commit to be durable when it returns (they act
 * on it: notify, answer later): joining an open batch, their commit
 * commits the whole batch. */
int store_begin(struct store *s)
{
    if (s->pg) return pg_store_begin(s->pg);
    if (!s->in_batch) return run_simple(s, S_BEGIN);
    s->plain_joined = true;
    return run_simple(s, S_SAVEPOINT);
}

int store_begin_snapshot(struct store *s)
{
    return s->pg ? pg_store_begin_snapshot(s->pg) : store_begin(s);
}

int store_commit(struct store *s)
{
    if (s->pg) return pg_store_commit(s->pg);
    if (!s->in_batch) return run_simple(s, S_COMMIT);
    if (bare_open(s)) {
        s->bare = false;   /* done: its changes wait in the batch */
        return 0;
    }
    int rc = run_simple(s, S_RELEASE);
    if (rc || !s->plain_joined) return rc;
    s->plain_joined = false;
    return store_batch_commit(s);
}

void store_batch_enable(struct store *s, bool on)
{
    if (s->pg) pg_store_batch_enable(s->pg, on);
    s->batching = on;
}

bool store_batch_pending(const struct store *s) { return s->pg ? pg_store_batch_pending(s->pg) : s->in_batch; }
int store_batch_size(const struct store *s)
{
    if (s->pg) return pg_store_batch_size(s->pg);
    return s->in_batch ? s->batch_size : 0;
}

bool store_batch_failed(const struct store *s) { return s->pg ? pg_store_batch_failed(s->pg) : s->batch_failed; }

bool store_batch_take_failure(struct store *s)
{
    if (s->pg) return pg_store_batch_take_failure(s->pg);
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
    if (s->pg) return pg_store_batch_commit(s->pg);
    if (!s->in_batch) return 0;
    s->in_batch = false;
    s->bare = false;
    int rc = commit_fault(s) ? RSC_INTERNAL_SERVER_ERROR : run_simple(s, S_COMMIT);
    if (rc) {
        s->generation++;
        s->parent.valid = false;
        s->types_known = 0;
        paths_forget(s);
        s->batch_failed = true;
        if (!sqlite3_get_autocommit(s->db)) run_simple(s, S_ROLLBACK);
    }
    return rc;
}

uint64_t store_generation(const struct store *s) { return s->pg ? pg_store_generation(s->pg) : s->generation; }

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
    if (s->pg) { pg_store_rollback(s->pg); return; }
    s->generation++;
    s->parent.valid = false;
    s->types_known = 0;
    paths_forget(s);
    if (bare_open(s)) {
        /* The batch held only this primitive: nothing is left to commit. */
        s->in_batch = s->bare = false;
        s->batch_size = 0;
        run_simple(s, S_ROLLBACK);
        return;
    }
    if (s->in_batch) {
        s->plain_joined = false;
        run_simple(s, S_ROLLBACK_TO);
        run_simple(s, S_RELEASE);
        return;
    }
    if (!sqlite3_get_autocommit(s->db)) run_simple(s, S_ROLLBACK);
}

/* Builds a resource from the current row (seq, ty, path, body). */
static struct resource *row_resource(struct store *s, sqlite3_stmt *st, bool remember)
{
    const char *body = (const char *)sqlite3_column_text(st, 3);
    int64_t seq = sqlite3_column_int64(st, 0);
    json_error_t jerr = { .text = "out of memory" };
    json_t *attrs = body ? body_attrs(s, seq, body, (size_t)sqlite3_column_bytes(st, 3), &jerr,
                                      remember) : NULL;
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
    *out = row_resource(s, st, true);
    sqlite3_reset(st);
    return *out ? 0 : RSC_INTERNAL_SERVER_ERROR;
}

static int visit_rows(struct store *s, sqlite3_stmt *st, store_visit_fn *visit, void *data)
{
    int rc, result = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct resource *r = row_resource(s, st, true);
        if (!r) { result = RSC_INTERNAL_SERVER_ERROR; break; }
        result = visit(r, data);
        resource_free(r);
        if (result) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) result = db_error(s, "scan");
    sqlite3_reset(st);
    return result;
}

static void path_remember(struct store *s, const struct resource *r)
{
    if (strlen(r->path) >= PATH_MEMO_MAX) return;
    for (int i = 0; i < PATH_MEMO_SLOTS; i++)
        if (s->paths[i].seq == r->seq) return;
    struct path_memo *m = &s->paths[s->paths_next++ % PATH_MEMO_SLOTS];
    m->seq = r->seq;
    m->ty = r->ty;
    strcpy(m->path, r->path);
}

/* The row at path from the memo and the body cache (an own copy), or NULL. */
static struct resource *path_from_memo(struct store *s, const char *path)
{
    for (int i = 0; i < PATH_MEMO_SLOTS; i++) {
        const struct path_memo *m = &s->paths[i];
        if (!m->seq || strcmp(m->path, path)) continue;
        const struct cached_body *c = &s->cache[(uint64_t)m->seq % BODY_CACHE_SLOTS];
        if (!c->text || c->seq != m->seq) return NULL;
        json_t *attrs = json_deep_copy(c->attrs);
        struct resource *r = attrs ? resource_new(m->ty, attrs, m->path) : NULL;
        if (r) r->seq = m->seq;
        return r;
    }
    return NULL;
}

int store_get(struct store *s, const char *ri, struct resource **out)
{
    if (s->pg) return pg_store_get(s->pg, ri, out);
    sqlite3_stmt *st = stmt(s, S_GET);
    sqlite3_bind_text(st, 1, ri, -1, SQLITE_STATIC);
    return fetch_one(s, st, out);
}

int store_get_locked(struct store *s, const char *ri, struct resource **out)
{
    return s->pg ? pg_store_get_locked(s->pg, ri, out) : store_get(s, ri, out);
}

int store_get_path(struct store *s, const char *path, struct resource **out)
{
    if (s->pg) return pg_store_get_path(s->pg, path, out);
    if ((*out = path_from_memo(s, path))) return 0;
    sqlite3_stmt *st = stmt(s, S_GET_PATH);
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    int rc = fetch_one(s, st, out);
    if (!rc) path_remember(s, *out);
    return rc;
}

static void bind_et(sqlite3_stmt *st, int col, const struct resource *res)
{
    const char *et = res_str(res, "et");
    if (et) sqlite3_bind_text(st, col, et, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, col);
}

/* The cs and cnf columns (?at, ?at+1): NULL unless an integer / a string. */
static void bind_content(sqlite3_stmt *st, int at, const struct resource *res)
{
    json_t *cs = json_object_get(res->attrs, "cs"), *cnf = json_object_get(res->attrs, "cnf");
    if (json_is_integer(cs)) sqlite3_bind_int64(st, at, json_integer_value(cs));
    else sqlite3_bind_null(st, at);
    if (json_is_string(cnf))
        sqlite3_bind_text(st, at + 1, json_string_value(cnf), (int)json_string_length(cnf), SQLITE_STATIC);
    else sqlite3_bind_null(st, at + 1);
}

/* The `lbl` array's text for the lb column; NULL when there are no labels. */
static char *labels_text(const struct resource *res, size_t *len)
{
    json_t *lbl = json_object_get(res->attrs, "lbl");
    return json_is_array(lbl) && json_array_size(lbl) ? json_text(lbl, len) : NULL;
}

/* Binds lb (borrowed; NULL without labels). */
static void bind_labels_text(sqlite3_stmt *st, int col, const char *lb, size_t lb_len)
{
    if (lb) sqlite3_bind_text(st, col, lb, (int)lb_len, SQLITE_STATIC);
    else sqlite3_bind_null(st, col);
}

/* One `labels` row per distinct string label of res, under its key. */
static int add_labels(struct store *s, const struct resource *res, const unsigned char *key, size_t key_len)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(res->attrs, "lbl"), i, v) {
        if (!json_is_string(v)) continue;
        sqlite3_stmt *st = stmt(s, S_LABEL_ADD);
        sqlite3_bind_text(st, 1, json_string_value(v), (int)json_string_length(v), SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, key, (int)key_len, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) return db_error(s, "labels");
        s->labels_present = true;
    }
    return 0;
}

/* The scan key of the row that `id` (S_KEY_OF_RI, S_SCAN_KEY) finds by
 * `value`, into a new buffer with room for one more byte (the upper bound
 * of its subtree); NULL when absent. */
static unsigned char *key_lookup(struct store *s, enum stmt_id id, const char *value, size_t *len)
{
    sqlite3_stmt *st = stmt(s, id);
    sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
    unsigned char *key = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB) {
        *len = (size_t)sqlite3_column_bytes(st, 0);
        key = malloc(*len + 1);
        if (key) memcpy(key, sqlite3_column_blob(st, 0), *len);
    }
    sqlite3_reset(st);
    return key;
}

/* After an UPDATE that changed lb (or et): the row's labels anew. */
static int replace_labels(struct store *s, const struct resource *res, bool has_labels)
{
    if (!has_labels && !s->labels_present) return 0;
    size_t len;
    unsigned char *key = key_lookup(s, S_KEY_OF_RI, res_ri(res), &len);
    if (!key) return db_error(s, "key of an updated row");
    sqlite3_stmt *st = stmt(s, S_LABELS_DROP_ROW);
    sqlite3_bind_blob(st, 1, key, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(s, "labels");
    sqlite3_reset(st);
    if (!rc && has_labels) rc = add_labels(s, res, key, len);
    free(key);
    return rc;
}

/* Before a subtree is deleted: its rows' labels. */
static int drop_subtree_labels(struct store *s, const struct resource *res)
{
    if (!s->labels_present) return 0;
    size_t len;
    unsigned char *key = key_lookup(s, S_KEY_OF_RI, res_ri(res), &len);
    if (!key) return 0;   /* no such row: the delete reports it */
    sqlite3_stmt *st = stmt(s, S_LABELS_DROP_RANGE);
    sqlite3_bind_blob(st, 1, key, (int)len, SQLITE_STATIC);
    key[len] = 0xFF;
    sqlite3_bind_blob(st, 2, key, (int)len + 1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(s, "labels");
    sqlite3_reset(st);
    free(key);
    return rc;
}

/* Moves ct_ordered_from past a row whose ct is earlier than the last one's
 * (it starts the ordered run) or that has none (the next one does), in
 * the row's transaction: a rollback takes both. A rolled-back row may have
 * raised last_ct: the next row then only starts a new run too early. */
static int note_ct(struct store *s, int64_t seq, const char *ct)
{
    if (ct && strcmp(ct, s->last_ct) >= 0 && strlen(ct) < sizeof s->last_ct) {
        strcpy(s->last_ct, ct);
        return 0;
    }
    bool usable = ct && strlen(ct) < sizeof s->last_ct;
    snprintf(s->last_ct, sizeof s->last_ct, "%s", usable ? ct : "");
    s->ct_ordered_from = usable ? seq : seq + 1;
    sqlite3_stmt *st = stmt(s, S_CT_DISORDER);
    sqlite3_bind_int64(st, 1, s->ct_ordered_from);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_error(s, "ct order");
}

/* The scan key of the row with ri `pi` into key (at most PARENT_KEY_MAX
 * bytes), length into *len; 0 bytes for a root (no such row). False when
 * the key does not fit or SQLite fails. */
static bool parent_key(struct store *s, const char *pi, unsigned char *key, size_t *len)
{
    struct parent_memo *m = &s->parent;
    if (m->valid && !strcmp(m->ri, pi)) {
        memcpy(key, m->key, m->len);
        *len = m->len;
        return true;
    }
    sqlite3_stmt *st = stmt(s, S_KEY_OF_RI);
    sqlite3_bind_text(st, 1, pi, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *len = rc == SQLITE_ROW ? (size_t)sqlite3_column_bytes(st, 0) : 0;
    bool ok = (rc == SQLITE_ROW || rc == SQLITE_DONE) && *len <= PARENT_KEY_MAX;
    if (ok && *len) memcpy(key, sqlite3_column_blob(st, 0), *len);
    sqlite3_reset(st);
    m->valid = ok && *len && strlen(pi) < sizeof m->ri;
    if (m->valid) {
        strcpy(m->ri, pi);
        memcpy(m->key, key, *len);
        m->len = *len;
    }
    return ok;
}

int store_insert(struct store *s, struct resource *res)
{
    if (s->pg) return pg_store_insert(s->pg, res);
    size_t len;
    char *body = json_text(res->attrs, &len);
    if (!body) return RSC_INTERNAL_SERVER_ERROR;
    s->generation++;
    s->types_absent &= ~type_bit(res->ty);
    sqlite3_stmt *st = stmt(s, S_INSERT);
    sqlite3_bind_text(st, 1, res_ri(res), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, res->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, res_pi(res) ? res_pi(res) : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, res->ty);
    bind_et(st, 5, res);
    sqlite3_bind_text(st, 6, body, (int)len, SQLITE_STATIC);
    /* Never reused, even after a rollback: a gap is harmless. */
    int64_t seq = s->next_seq++;
    sqlite3_bind_int64(st, 7, seq);
    unsigned char key[PARENT_KEY_MAX + SEQKEY_MAX];
    size_t key_len;
    if (!parent_key(s, res_pi(res) ? res_pi(res) : "", key, &key_len)) {
        sqlite3_clear_bindings(st);
        free(body);
        return db_error(s, "scan key of the parent");
    }
    key_len += seqkey(seq, key + key_len);
    sqlite3_bind_blob(st, 8, key, (int)key_len, SQLITE_STATIC);
    size_t lb_len = 0;
    char *lb = labels_text(res, &lb_len);
    bind_labels_text(st, 9, lb, lb_len);
    bind_content(st, 10, res);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE && lb && add_labels(s, res, key, key_len)) rc = SQLITE_ERROR;
    if (rc == SQLITE_DONE && note_ct(s, seq, res_str(res, "ct"))) rc = SQLITE_ERROR;
    free(lb);
    if (rc == SQLITE_DONE) {
        res->seq = seq;
        /* A fresh resource is usually read back soon (la, the next instance).
         * Its attributes themselves, not a copy (store.h). */
        cache_put(s, res->seq, body, len, json_incref(res->attrs));
        return 0;
    }
    free(body);
    if (rc == SQLITE_ERROR) return RSC_INTERNAL_SERVER_ERROR;   /* labels, logged */
    if (rc == SQLITE_CONSTRAINT) {
        const char *msg = sqlite3_errmsg(s->db);
        return strstr(msg, "resources.path") ? RSC_CONFLICT : RSC_ALREADY_EXISTS;
    }
    return db_error(s, "insert");
}

int store_insert_many(struct store *s, struct resource **res, size_t n, size_t *failed)
{
    if (s->pg) return pg_store_insert_many(s->pg, res, n, failed);
    for (*failed = 0; *failed < n; ++*failed) {
        int rc = store_insert(s, res[*failed]);
        if (rc) return rc;
    }
    return 0;
}

int store_update(struct store *s, const struct resource *res)
{
    if (s->pg) return pg_store_update(s->pg, res);
    size_t len;
    char *body = json_text(res->attrs, &len);
    if (!body) return RSC_INTERNAL_SERVER_ERROR;
    s->generation++;
    size_t lb_len = 0;
    char *lb = labels_text(res, &lb_len);
    int rc = SQLITE_DONE, changed = 0, id;
    for (id = S_UPDATE_BODY; rc == SQLITE_DONE && !changed && id >= S_UPDATE; id--) {
        sqlite3_stmt *st = stmt(s, (enum stmt_id)id);
        sqlite3_bind_text(st, 1, res_ri(res), -1, SQLITE_STATIC);
        bind_et(st, 2, res);
        sqlite3_bind_text(st, 3, body, (int)len, SQLITE_STATIC);
        bind_labels_text(st, 4, lb, lb_len);
        bind_content(st, 5, res);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        changed = sqlite3_changes(s->db);
    }
    /* id + 1 is the statement that changed the row: the full one may have
     * changed lb. */
    int labels_rc = changed && rc == SQLITE_DONE && id + 1 == S_UPDATE ? replace_labels(s, res, lb != NULL) : 0;
    free(lb);
    if (rc != SQLITE_DONE) { free(body); return db_error(s, "update"); }
    if (!changed) { free(body); return RSC_NOT_FOUND; }
    if (labels_rc) { free(body); return labels_rc; }
    /* seq is known when res came from the store; the cache is keyed by it. */
    if (res->seq > 0) cache_put(s, res->seq, body, len, json_incref(res->attrs));
    else {
        free(body);
        paths_forget(s);   /* its row's cached body, if any, is now old */
    }
    return 0;
}

int store_delete_subtree(struct store *s, const struct resource *res,
                         store_visit_fn *visit, void *data)
{
    if (s->pg) return pg_store_delete_subtree(s->pg, res, visit, data);
    char *lo, *hi;
    subtree_bounds(res->path, &lo, &hi);
    s->generation++;
    s->parent.valid = false;
    paths_forget(s);
    int result = drop_subtree_labels(s, res);
    if (!result && visit) {
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
        else if (sqlite3_changes(s->db)) s->types_known = 0;   /* rows of any type went */
        sqlite3_reset(st);
    }
    if (!result) {
        sqlite3_stmt *st = stmt(s, S_DELETE_ONE);
        sqlite3_bind_text(st, 1, res_ri(res), -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) result = db_error(s, "delete");
        else if (!sqlite3_changes(s->db)) result = RSC_NOT_FOUND;
        s->types_known &= ~type_bit(res->ty);
        sqlite3_reset(st);
    }
    free(lo);
    free(hi);
    return result;
}

int store_children(struct store *s, const char *pi, int ty, store_visit_fn *visit, void *data)
{
    if (s->pg) return pg_store_children(s->pg, pi, ty, visit, data);
    sqlite3_stmt *st = stmt(s, ty ? S_CHILDREN_TY : S_CHILDREN);
    sqlite3_bind_text(st, 1, pi, -1, SQLITE_STATIC);
    if (ty) sqlite3_bind_int(st, 2, ty);
    return visit_rows(s, st, visit, data);
}

int store_descendants(struct store *s, const char *path, int max_depth,
                      store_visit_fn *visit, void *data)
{
    return store_scan_subtree(s, path, max_depth, 0, visit, data);
}

/* The scan key of the resource at path; NULL when absent. */
static unsigned char *scan_key_of(struct store *s, const char *path, size_t *len)
{
    return key_lookup(s, S_SCAN_KEY, path, len);
}

_Static_assert(STORE_CURSOR_MAX >= SEQKEY_MAX * 64, "a cursor holds a key 64 levels deep");

/* The peek's answer for the current row of a scan (SCAN_COLUMNS); 0
 * without one. */
static int peek_row(sqlite3_stmt *st, store_peek_fn *peek, void *data)
{
    if (!peek) return 0;
    struct store_row row = {
        sqlite3_column_int(st, 1), (const char *)sqlite3_column_text(st, 7),
        (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 5),
        (const char *)sqlite3_column_text(st, 6),
        (const char *)sqlite3_column_text(st, 3), (size_t)sqlite3_column_bytes(st, 3),
    };
    return row.ri && row.path && row.pi && row.body ? peek(&row, data) : 0;
}

/* store_scan_subtree(), starting after `at` when given and moving it along. */
static int scan_subtree(struct store *s, const char *path, int max_depth, int ty, struct store_cursor *at,
                        store_peek_fn *peek, store_visit_fn *visit, void *data)
{
    s->last_scan = (struct store_scan_stats){ 0 };
    if (s->no_peek) peek = NULL;
    size_t root_len = 0;
    unsigned char *root = scan_key_of(s, path, &root_len);
    if (!root) return 0;
    size_t deepest = seqkey_levels(root, root_len) + (size_t)(max_depth > 0 ? max_depth : 0);
    sqlite3_stmt *st = stmt(s, !ty ? S_SCAN : ty == TY_CIN ? S_SCAN_CIN : S_SCAN_TY);
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1);
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_SORT, 1);
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_AUTOINDEX, 1);
    /* A cursor from another subtree would read outside this one. */
    bool resume = at && at->len > root_len && !memcmp(at->key, root, root_len);
    sqlite3_bind_blob(st, 1, resume ? at->key : root, (int)(resume ? at->len : root_len), SQLITE_TRANSIENT);
    root[root_len] = 0xFF;
    sqlite3_bind_blob(st, 2, root, (int)root_len + 1, SQLITE_TRANSIENT);
    if (ty) sqlite3_bind_int(st, 3, ty);
    int rc, result = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        s->last_scan.rows++;
        const unsigned char *key = sqlite3_column_blob(st, 4);
        size_t key_len = (size_t)sqlite3_column_bytes(st, 4);
        if (at && key_len <= sizeof at->key) memcpy(at->key, key, at->len = key_len);
        if (max_depth > 0 && seqkey_levels(key, key_len) > deepest) {
            /* Below the depth wanted: jump past the subtree of its ancestor
             * at the last wanted level instead of reading it. */
            unsigned char next[SEQKEY_MAX * 64 + 1];
            size_t n = seqkey_prefix(key, key_len, deepest);
            if (n >= sizeof next) { result = RSC_INTERNAL_SERVER_ERROR; break; }
            memcpy(next, key, n);
            next[n] = 0xFF;
            sqlite3_reset(st);
            sqlite3_bind_blob(st, 1, next, (int)n + 1, SQLITE_TRANSIENT);
            s->last_scan.seeks++;
            continue;
        }
        int peeked = peek_row(st, peek, data);
        if (peeked == STORE_ROW_PASS) continue;
        if (peeked) { result = peeked; break; }
        struct resource *r = row_resource(s, st, false);
        if (!r) { result = RSC_INTERNAL_SERVER_ERROR; break; }
        result = visit(r, data);
        resource_free(r);
        if (result) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) result = db_error(s, "subtree scan");
    s->last_scan.vm_steps = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
    s->last_scan.sorts = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_SORT, 0);
    s->last_scan.full_scan_steps = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0) +
                                   sqlite3_stmt_status(st, SQLITE_STMTSTATUS_AUTOINDEX, 0);
    sqlite3_reset(st);
    free(root);
    return result;
}

int store_scan_subtree(struct store *s, const char *path, int max_depth, int ty,
                       store_visit_fn *visit, void *data)
{
    if (s->pg) return pg_store_scan_subtree(s->pg, path, max_depth, ty, visit, data);
    return scan_subtree(s, path, max_depth, ty, NULL, NULL, visit, data);
}

int store_scan_subtree_from(struct store *s, const char *path, int max_depth, int ty, struct store_cursor *at,
                            store_peek_fn *peek, store_visit_fn *visit, void *data)
{
    if (s->pg) return pg_store_scan_subtree_from(s->pg, path, max_depth, ty, at, visit, data);
    return scan_subtree(s, path, max_depth, ty, at, peek, visit, data);
}

/* store_scan_matching(): where each indexed attribute's rows are found.
 * Labels: the `labels` table, (lbl, sk), so one label's rows come in
 * pre-order and an equality bounded to a subtree is one index range. ct: a
 * seq interval (ct_seq_bounds()) of the rowid B-tree. cnf: a range of
 * resources_content; cs: a range of it per cnf (content_groups()). */
static bool indexed(const struct store *s, enum store_attr attr)
{
    return attr != STORE_ATTR_CS || s->ncnf >= 0;
}

/* The distinct cnf values of resources_content into s->cnf, each found by
 * one seek past the one before (the skip-scan SQLite would do with
 * statistics); ncnf -1 when there are too many, or one does not fit. */
static void content_groups(struct store *s)
{
    sqlite3_stmt *st = stmt(s, S_NEXT_CNF);
    s->ncnf = 0;
    sqlite3_bind_int(st, 1, 0);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (s->ncnf == CNF_GROUPS_MAX || n >= CNF_TEXT_MAX || strlen(v) != n) { s->ncnf = -1; break; }
        memcpy(s->cnf[s->ncnf], v, n + 1);
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, s->cnf[s->ncnf++], (int)n, SQLITE_STATIC);
    }
    s->last_scan.vm_steps += sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1);
    sqlite3_reset(st);
}

/* The ct of the first row at or after seq; false when there is none. */
static bool ct_probe(struct store *s, int64_t seq, char *ct, size_t cap)
{
    sqlite3_stmt *st = stmt(s, S_CT_PROBE);
    sqlite3_bind_int64(st, 1, seq);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    if (found) snprintf(ct, cap, "%s", sqlite3_column_type(st, 0) == SQLITE_TEXT ?
                                       (const char *)sqlite3_column_text(st, 0) : "");
    s->last_scan.vm_steps += sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1);
    sqlite3_reset(st);
    return found;
}

/* The least seq from which every row has ct >= bound (binary search: ct
 * does not decrease with seq from ct_ordered_from on); rows from
 * ct_ordered_from up to it have less. */
static int64_t first_seq_from(struct store *s, const char *bound)
{
    int64_t lo = s->ct_ordered_from, hi = s->next_seq;
    char ct[32];
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (!ct_probe(s, mid, ct, sizeof ct) || strcmp(ct, bound) >= 0) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* A ct term as the seq interval [ilo, ihi) of its ordered rows (the rows
 * before ct_ordered_from are read besides). */
static void ct_seq_bounds(struct store *s, struct store_term *t)
{
    t->ilo = t->lo ? first_seq_from(s, t->lo) : s->ct_ordered_from;
    t->ihi = t->hi ? first_seq_from(s, t->hi) : s->next_seq;
    if (t->eq) {
        t->ilo = first_seq_from(s, t->eq);
        char after[40];
        snprintf(after, sizeof after, "%s\x01", t->eq);
        t->ihi = first_seq_from(s, after);
    }
}

/* A group whose index entries number at least this many is not worth
 * sorting into pre-order: the plain scan, which stops at `lim`, is used. */
#define NEED_SORT_CAP 4096
#define NEED_SQL_MAX 16384

struct sql_text { char text[NEED_SQL_MAX]; size_t len; bool overflow; };

static void sql_add(struct sql_text *q, const char *part)
{
    size_t n = strlen(part);
    if (q->len + n >= sizeof q->text) { q->overflow = true; return; }
    memcpy(q->text + q->len, part, n + 1);
    q->len += n;
}

/* A label equality is one range of (lbl, sk), in pre-order. */
static bool term_is_eq(const struct store_term *t) { return t->eq && t->attr == STORE_ATTR_LABEL; }

/* "SELECT <what> FROM <source> WHERE <condition>": parameters in the order
 * bind_term() binds them. The subtree bound goes in only for an equality
 * (there it narrows the index range; for a range it would only filter). */
static void term_sql(const struct store *s, struct sql_text *q, const struct store_term *t,
                     const char *what, bool subtree)
{
    char part[300];
    if (t->attr == STORE_ATTR_CS) {
        /* One range per cnf, the rows without one first; the subtree bound
         * only filters (the entries are in cs order). */
        for (int g = -1; g < s->ncnf; g++) {
            snprintf(part, sizeof part, "%sSELECT %s FROM " CONTENT_FROM " WHERE " CONTENT_SQL
                     " AND cnf %s AND cs >= ? AND cs < ?%s", g < 0 ? "" : " UNION ALL ", what,
                     g < 0 ? "IS NULL" : "= ?", subtree ? " AND sk > ? AND sk < ?" : "");
            sql_add(q, part);
        }
        return;
    }
    if (t->attr == STORE_ATTR_CT) {
        /* Two rowid ranges; NOT INDEXED: not the (sk) index, which would
         * read the whole subtree in order instead. */
        const char *in = subtree ? " AND sk > ? AND sk < ?" : "";
        snprintf(part, sizeof part, "SELECT %s FROM resources NOT INDEXED WHERE seq < ?%s UNION ALL"
                 " SELECT %s FROM resources NOT INDEXED WHERE seq >= ? AND seq < ?%s", what, in, what, in);
        sql_add(q, part);
        return;
    }
    /* A label or a cnf: equal to, or in a range of, text. */
    const char *col = t->attr == STORE_ATTR_CNF ? "cnf" : "lbl";
    snprintf(part, sizeof part, "SELECT %s FROM %s WHERE %s%s%s%s%s%s", what,
             t->attr == STORE_ATTR_CNF ? CONTENT_FROM : "labels",
             t->attr == STORE_ATTR_CNF ? CONTENT_SQL " AND " : "",
             col, t->eq ? " = ?" : t->lo ? " >= ?" : t->hi ? " < ?" : " IS NOT NULL",
             !t->eq && t->lo && t->hi ? " AND " : "", !t->eq && t->lo && t->hi ? col : "",
             !t->eq && t->lo && t->hi ? " < ?" : "");
    sql_add(q, part);
    if (subtree || term_is_eq(t)) sql_add(q, " AND sk > ? AND sk < ?");
}

static int bind_subtree(sqlite3_stmt *st, int at, const unsigned char *root, size_t root_len)
{
    sqlite3_bind_blob(st, at++, root, (int)root_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, at++, root, (int)root_len + 1, SQLITE_STATIC);
    return at;
}

static int bind_term(const struct store *s, sqlite3_stmt *st, int at, const struct store_term *t, bool subtree,
                     const unsigned char *root, size_t root_len)
{
    if (t->attr == STORE_ATTR_CS) {
        for (int g = -1; g < s->ncnf; g++) {
            if (g >= 0) sqlite3_bind_text(st, at++, s->cnf[g], -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, at++, t->ilo);
            sqlite3_bind_int64(st, at++, t->ihi);
            if (subtree) at = bind_subtree(st, at, root, root_len);
        }
        return at;
    }
    if (t->attr == STORE_ATTR_CT) {
        sqlite3_bind_int64(st, at++, s->ct_ordered_from);
        if (subtree) at = bind_subtree(st, at, root, root_len);
        sqlite3_bind_int64(st, at++, t->ilo);
        sqlite3_bind_int64(st, at++, t->ihi);
        return subtree ? bind_subtree(st, at, root, root_len) : at;
    }
    if (t->eq) {
        sqlite3_bind_text(st, at++, t->eq, -1, SQLITE_STATIC);
    } else {
        if (t->lo) sqlite3_bind_text(st, at++, t->lo, -1, SQLITE_STATIC);
        if (t->hi) sqlite3_bind_text(st, at++, t->hi, -1, SQLITE_STATIC);
    }
    return subtree || term_is_eq(t) ? bind_subtree(st, at, root, root_len) : at;
}

static void add_stats(struct store *s, sqlite3_stmt *st)
{
    s->last_scan.vm_steps += sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
    s->last_scan.sorts += sqlite3_stmt_status(st, SQLITE_STMTSTATUS_SORT, 0);
    s->last_scan.full_scan_steps += sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0) +
                                    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_AUTOINDEX, 0);
}

/* How many index entries the term reads (up to NEED_SORT_CAP); -1 on error. */
static int64_t term_entries(struct store *s, const struct store_term *t,
                            const unsigned char *root, size_t root_len)
{
    struct sql_text q = { .len = 0 };
    char limit[48];
    sql_add(&q, "SELECT count(*) FROM (");
    term_sql(s, &q, t, "1", false);
    snprintf(limit, sizeof limit, " LIMIT %d)", NEED_SORT_CAP);
    sql_add(&q, limit);
    sqlite3_stmt *st;
    if (q.overflow || sqlite3_prepare_v2(s->db, q.text, -1, &st, NULL) != SQLITE_OK) return -1;
    bind_term(s, st, 1, t, false, root, root_len);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    add_stats(s, st);
    sqlite3_finalize(st);
    return n;
}

/* The group to read rows through: the one with the fewest index entries,
 * when they are few enough to sort; a lone equality needs no sort (its
 * entries are in pre-order), so it serves however many it has. -1: none. */
static int pick_group(struct store *s, const struct store_need *need, const unsigned char *root,
                      size_t root_len)
{
    int64_t entries[STORE_NEED_TERMS] = { 0 };
    int nterms[STORE_NEED_TERMS] = { 0 };
    bool lone_eq[STORE_NEED_TERMS] = { false }, unusable[STORE_NEED_TERMS] = { false };
    for (int i = 0; i < need->nterms; i++) {
        const struct store_term *t = &need->term[i];
        if (t->group < 0 || t->group >= STORE_NEED_TERMS) return -1;
        int g = t->group;
        lone_eq[g] = ++nterms[g] == 1 && term_is_eq(t);
        /* A term without an index makes its group unreadable. */
        unusable[g] = unusable[g] || !indexed(s, t->attr);
        if (unusable[g]) continue;
        int64_t n = term_entries(s, t, root, root_len);
        if (n < 0) return -1;
        entries[g] += n;
    }
    int best = -1;
    for (int g = 0; g < STORE_NEED_TERMS; g++) {
        if (!nterms[g] || unusable[g] || (entries[g] >= NEED_SORT_CAP && !lone_eq[g])) continue;
        if (best < 0 || entries[g] < entries[best]) best = g;
    }
    return best;
}

int store_scan_matching(struct store *s, const char *path, int max_depth, int ty, const struct store_need *asked,
                        store_peek_fn *peek, store_visit_fn *visit, void *data)
{
    if (s->pg) return pg_store_scan_matching(s->pg, path, max_depth, ty, asked, visit, data);
    s->last_scan = (struct store_scan_stats){ 0 };
    if (s->no_peek) peek = NULL;
    size_t root_len = 0;
    unsigned char *root = scan_key_of(s, path, &root_len);
    if (!root) return RSC_NOT_IMPLEMENTED;   /* the plain scan says "nothing" */
    root[root_len] = 0xFF;                     /* bind_term() binds [root, root+FF) */
    struct store_need local = *asked, *need = &local;   /* terms keep pointing at asked's text */
    bool sizes = false;
    for (int i = 0; i < need->nterms; i++) {
        if (need->term[i].attr == STORE_ATTR_CT) ct_seq_bounds(s, &need->term[i]);
        sizes = sizes || need->term[i].attr == STORE_ATTR_CS;
    }
    if (sizes) content_groups(s);
    int group = need->nterms ? pick_group(s, need, root, root_len) : -1;
    struct sql_text q = { .len = 0 };
    for (int i = 0; group >= 0 && i < need->nterms; i++) {
        if (need->term[i].group != group) continue;
        if (q.len) sql_add(&q, " UNION ");
        term_sql(s, &q, &need->term[i], "sk", true);
    }
    sql_add(&q, " ORDER BY 1");
    sqlite3_stmt *st = NULL;
    if (group < 0 || q.overflow || sqlite3_prepare_v2(s->db, q.text, -1, &st, NULL) != SQLITE_OK) {
        free(root);
        return RSC_NOT_IMPLEMENTED;
    }
    for (int i = 0, at = 1; i < need->nterms; i++)
        if (need->term[i].group == group) at = bind_term(s, st, at, &need->term[i], true, root, root_len);
    size_t deepest = seqkey_levels(root, root_len) + (size_t)(max_depth > 0 ? max_depth : 0);
    sqlite3_stmt *row = stmt(s, S_ROW_BY_KEY);
    sqlite3_stmt_status(row, SQLITE_STMTSTATUS_VM_STEP, 1);
    int rc = SQLITE_DONE, result = 0;
    unsigned char last[SEQKEY_MAX * 64];
    size_t last_len = 0;
    while (!result && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *key = sqlite3_column_blob(st, 0);
        size_t key_len = (size_t)sqlite3_column_bytes(st, 0);
        /* UNION ALL parts (ct) may repeat a key; they come sorted. */
        if (key_len == last_len && !memcmp(key, last, key_len)) continue;
        if (key_len <= sizeof last) memcpy(last, key, last_len = key_len);
        if (max_depth > 0 && seqkey_levels(key, key_len) > deepest) continue;
        sqlite3_bind_blob(row, 1, key, (int)key_len, SQLITE_STATIC);
        int found = sqlite3_step(row);
        s->last_scan.rows++;
        int peeked = 0;
        if (found == SQLITE_ROW && (!ty || sqlite3_column_int(row, 1) == ty) &&
            !(peeked = peek_row(row, peek, data))) {
            struct resource *r = row_resource(s, row, false);
            if (!r) result = RSC_INTERNAL_SERVER_ERROR;
            else result = visit(r, data);
            resource_free(r);
        } else if (peeked && peeked != STORE_ROW_PASS) {
            result = peeked;
        } else if (found != SQLITE_ROW && found != SQLITE_DONE) {
            result = db_error(s, "row of a key");
        }
        sqlite3_reset(row);
    }
    if (!result && rc != SQLITE_DONE) result = db_error(s, "filtered scan");
    add_stats(s, st);
    s->last_scan.vm_steps += sqlite3_stmt_status(row, SQLITE_STMTSTATUS_VM_STEP, 0);
    sqlite3_finalize(st);
    free(root);
    return result;
}

struct store_scan_stats store_last_scan(const struct store *s)
{
    struct store_scan_stats stats = s->last_scan;
    if (s->pg) pg_store_last_scan(s->pg, &stats);
    return stats;
}

int store_edge_child(struct store *s, const char *pi, int ty, bool newest, struct resource **out)
{
    if (s->pg) return pg_store_edge_child(s->pg, pi, ty, newest, out);
    sqlite3_stmt *st = stmt(s, newest ? S_NEWEST : S_OLDEST);
    sqlite3_bind_text(st, 1, pi, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, ty);
    return fetch_one(s, st, out);
}

/* The memo's row, when it answers this question and its body is cached. */
static struct resource *edge_from_memo(struct store *s, const char *parent_path, int parent_ty,
                                       int child_ty, bool newest)
{
    const struct edge_memo *m = &s->edge;
    if (!m->valid || m->generation != s->generation || m->newest != newest ||
        m->parent_ty != parent_ty || m->child_ty != child_ty || strcmp(m->parent_path, parent_path))
        return NULL;
    const struct cached_body *c = &s->cache[(uint64_t)m->seq % BODY_CACHE_SLOTS];
    if (!c->text || c->seq != m->seq) return NULL;
    /* Shared, not copied: whoever changes it copies first (resource_own). */
    struct resource *r = resource_new(m->ty, json_incref(c->attrs), m->path);
    if (r) {
        r->seq = m->seq;
        r->shared = true;
    }
    return r;
}

static void edge_remember(struct store *s, const char *parent_path, int parent_ty, int child_ty,
                          bool newest, const struct resource *r)
{
    struct edge_memo *m = &s->edge;
    m->valid = strlen(parent_path) < EDGE_MEMO_PATH && strlen(r->path) < EDGE_MEMO_PATH;
    if (!m->valid) return;
    m->generation = s->generation;
    m->newest = newest;
    m->parent_ty = parent_ty;
    m->child_ty = child_ty;
    m->ty = r->ty;
    m->seq = r->seq;
    strcpy(m->parent_path, parent_path);
    strcpy(m->path, r->path);
}

int store_edge_child_at(struct store *s, const char *parent_path, int parent_ty, int child_ty,
                        bool newest, struct resource **out)
{
    if (s->pg) return pg_store_edge_child_at(s->pg, parent_path, parent_ty, child_ty, newest, out);
    if ((*out = edge_from_memo(s, parent_path, parent_ty, child_ty, newest))) return 0;
    sqlite3_stmt *st = stmt(s, newest ? S_NEWEST_AT : S_OLDEST_AT);
    sqlite3_bind_text(st, 1, parent_path, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, parent_ty);
    sqlite3_bind_int(st, 3, child_ty);
    int rc = fetch_one(s, st, out);
    if (!rc) edge_remember(s, parent_path, parent_ty, child_ty, newest, *out);
    return rc;
}

/* After a count of 0: whether any row of type ty exists anywhere, once
 * until an insert, delete or rollback changes the answer. */
static void learn_absence(struct store *s, int ty)
{
    uint64_t bit = type_bit(ty);
    if (!bit || ty == TY_CIN || (s->types_known & bit)) return;
    sqlite3_stmt *st = stmt(s, S_ANY_OF_TY);
    sqlite3_bind_int(st, 1, ty);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return;
    s->types_known |= bit;
    if (rc == SQLITE_DONE) s->types_absent |= bit;
    else s->types_absent &= ~bit;
}

int store_count_children(struct store *s, const char *pi, int ty, int64_t *count)
{
    if (s->pg) return pg_store_count_children(s->pg, pi, ty, count);
    if (s->types_known & s->types_absent & type_bit(ty)) {
        *count = 0;
        return 0;
    }
    sqlite3_stmt *st = stmt(s, ty ? S_COUNT_TY : S_COUNT);
    sqlite3_bind_text(st, 1, pi, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, ty);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *count = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) return db_error(s, "count");
    if (!*count) learn_absence(s, ty);
    return 0;
}

int store_expired(struct store *s, const char *now_ts, store_visit_fn *visit, void *data)
{
    if (s->pg) return pg_store_expired(s->pg, now_ts, visit, data);
    sqlite3_stmt *st = stmt(s, S_EXPIRED);
    sqlite3_bind_text(st, 1, now_ts, -1, SQLITE_STATIC);
    return visit_rows(s, st, visit, data);
}

int store_next_expiry(struct store *s, char ts[23])
{
    if (s->pg) return pg_store_next_expiry(s->pg, ts);
    sqlite3_stmt *st = stmt(s, S_NEXT_EXPIRY);
    ts[0] = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        snprintf(ts, 23, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_error(s, "next expiry");
}

/* SQLite: this process is the only writer (locking_mode=EXCLUSIVE): no
 * feed. PostgreSQL: store_pg.c. */
bool store_shared(const struct store *s) { return s->pg != NULL; }
struct fiber_lock *store_fiber_lock(struct store *s) { return s->pg ? pg_store_fiber_lock(s->pg) : NULL; }
uint64_t store_waits_outside_fiber(struct store *s) { return s->pg ? pg_store_waits_outside_fiber(s->pg) : 0; }
int store_change_fd(const struct store *s) { return s->pg ? pg_store_change_fd(s->pg) : -1; }
uint64_t store_connections(const struct store *s) { return s->pg ? pg_store_connections(s->pg) : 0; }
int store_poll_changes(struct store *s, store_change_fn *fn, void *data)
{
    return s->pg ? pg_store_poll_changes(s->pg, fn, data) : 0;
}

int store_poll_buffered_changes(struct store *s, store_change_fn *fn, void *data)
{
    return s->pg ? pg_store_poll_buffered_changes(s->pg, fn, data) : 0;
}

/* SQLite: one process, so polling.c keeps its queues in memory. */
int store_pch_put(struct store *s, const char *pch, const char *rqi, const char *rqp, int64_t timeout_ms, int max,
                  store_pch_fn *dropped, void *data)
{
    return s->pg ? pg_store_pch_put(s->pg, pch, rqi, rqp, timeout_ms, max, dropped, data) : RSC_NOT_IMPLEMENTED;
}

int store_pch_take(struct store *s, const char *pch, int max, store_pch_fn *fn, void *data)
{
    return s->pg ? pg_store_pch_take(s->pg, pch, max, fn, data) : -1;
}

int store_pch_answer(struct store *s, const char *pch, const char *rqi, const char *rsp)
{
    return s->pg ? pg_store_pch_answer(s->pg, pch, rqi, rsp) : RSC_NOT_IMPLEMENTED;
}

int store_pch_end(struct store *s, const char *pch, const char *rqi)
{
    return s->pg ? pg_store_pch_end(s->pg, pch, rqi) : RSC_NOT_IMPLEMENTED;
}

int store_pch_answer_take(struct store *s, int64_t id, char **rsp)
{
    *rsp = NULL;
    return s->pg ? pg_store_pch_answer_take(s->pg, id, rsp) : RSC_NOT_IMPLEMENTED;
}

const char *store_printable(const char *db, char *buf, size_t size)
{
    if (pg_store_wanted(db)) return pg_store_printable(db, buf, size);
    snprintf(buf, size, "%s", db);
    return buf;
}
