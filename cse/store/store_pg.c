/* The resource store on PostgreSQL (libpq): the schema semantics of the
 * SQLite store (store.c), so several front-ends can share one database.
 *
 * Waiting: the engine calls the store synchronously, so each call waits for
 * its round trip. All of that waiting happens in pq_wait() (pq_lib.c):
 * inside a fiber (cse/base/fiber.h; the engine runs every primitive in one) it yields to
 * the event loop until the socket is ready, elsewhere (start-up, tools) it
 * polls, bounded. One connection carries one transaction, so a fiber holds
 * the store's lock from its first statement to its end, and a main-context
 * call meanwhile first drives that fiber to its end (docs/decisions.md).
 * The connection itself is non-blocking. libpq is dlopened on first use
 * (pq_load()).
 *
 * While the database is away every call fails at once with
 * RSC_INTERNAL_SERVER_ERROR (after the first failure, reconnection is tried
 * with a growing back-off, so an outage costs no request more than one
 * bounded connection attempt); a transaction the connection took with it is
 * reported failed when it ends, never acknowledged. */
#include "store_pg.h"
#include "pq_lib.h"
#include "store_keys.h"

#include "../base/fiber.h"
#include "../base/json_text.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../core/rsc.h"
#include "../../resources/types.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Bounds (milliseconds) of a connection attempt, a statement on the server,
 * and a round trip seen from here (the statement's bound plus slack: past
 * it the connection is given up as dead), and of the reconnection back-off. */
#define PG_CONNECT_MS 3000
#define PG_STATEMENT_MS 10000
#define PG_ROUND_TRIP_MS (PG_STATEMENT_MS + 2000)
#define PG_OPEN_MS 10000
#define PG_BACKOFF_FIRST_MS 100
#define PG_BACKOFF_MAX_MS 5000
/* Scans read pages of rows, the first small (a discovery with lim stops
 * early), growing up to the largest. */
#define PG_PAGE_FIRST 32
#define PG_PAGE_MAX 1024

#define PG_CHANNEL "ironbark_changes"
/* A request queued at a polling channel: the notice carries the channel's
 * ri. An answer to one: "ri\nanswer". */
#define PG_PCH_CHANNEL "ironbark_pch"
#define PG_PCH_ANSWER_CHANNEL "ironbark_pch_answer"
#define PG_NOTICE_MAX 7900         /* a notice's payload is below 8000 bytes */
#define PG_PCH_ANSWER_KEEP_MS 60000   /* a long answer's row waits this long for its taker */

/* contentInstances stay out of the (ty, sk) index, as in store.c. */
#define CIN_SQL "4"
_Static_assert(TY_CIN == 4, "CIN_SQL must spell TY_CIN");

/* The schema of store.c in PostgreSQL terms: text in the "C" collation so
 * that the subtree range ("p/", "p0") and et compare bytewise; sk as bytea
 * (bytewise order = pre-order); seq from a SEQUENCE, unique across
 * front-ends. ironbark_seqkey() is store.c's seqkey() in SQL. The trigger
 * reports every committed row change on PG_CHANNEL as
 * [op, ty, ri, pi, path, et]. The advisory lock keeps two front-ends
 * starting together from racing on CREATE. */
/* What lets a filtered discovery read only rows that can match
 * (pg_store_scan_matching), as `labels` in store.c: one row (lbl, sk) per
 * distinct string label of a resource, so one label's rows are one index
 * range in pre-order. A trigger keeps it in step with `resources` in the
 * writer's own statement (whichever front-end or import writes); its WHEN
 * clause, a substring test, spares the rows without labels (most) the JSON
 * parse. A database made before the table existed gets it filled once. */
#define LABELS_OF(row) \
    "SELECT DISTINCT e #>> '{}', " row ".sk FROM jsonb_array_elements(CASE WHEN" \
    " jsonb_typeof(" row ".body::jsonb -> 'lbl') = 'array' THEN " row ".body::jsonb -> 'lbl'" \
    " ELSE '[]'::jsonb END) e WHERE jsonb_typeof(e) = 'string'"
#define HAS_LABELS(row) row ".body LIKE '%\"lbl\"%'"
#define LABELS_SQL \
    "DO $$ BEGIN IF to_regclass('labels') IS NULL THEN" \
    " CREATE TABLE labels(lbl text COLLATE \"C\" NOT NULL, sk bytea NOT NULL, PRIMARY KEY(lbl, sk));" \
    " CREATE INDEX labels_of_row ON labels(sk);" \
    " INSERT INTO labels(lbl, sk) SELECT l.* FROM resources r, LATERAL (" LABELS_OF("r") ") l" \
    " WHERE " HAS_LABELS("r") ";" \
    " END IF; END $$;" \
    "CREATE OR REPLACE FUNCTION ironbark_labels() RETURNS trigger LANGUAGE plpgsql AS $$" \
    " BEGIN" \
    "  IF TG_OP = 'UPDATE' AND (OLD.body::jsonb -> 'lbl') IS NOT DISTINCT FROM (NEW.body::jsonb -> 'lbl')" \
    "  THEN RETURN NULL; END IF;" \
    "  IF TG_OP <> 'INSERT' THEN DELETE FROM labels WHERE sk = OLD.sk; END IF;" \
    "  IF TG_OP <> 'DELETE' THEN INSERT INTO labels(lbl, sk) " LABELS_OF("NEW") "; END IF;" \
    "  RETURN NULL;" \
    " END $$;" \
    "CREATE OR REPLACE TRIGGER resources_labels_insert AFTER INSERT ON resources FOR EACH ROW" \
    " WHEN (" HAS_LABELS("NEW") ") EXECUTE FUNCTION ironbark_labels();" \
    "CREATE OR REPLACE TRIGGER resources_labels_update AFTER UPDATE OF body ON resources FOR EACH ROW" \
    " WHEN (" HAS_LABELS("OLD") " OR " HAS_LABELS("NEW") ") EXECUTE FUNCTION ironbark_labels();" \
    "CREATE OR REPLACE TRIGGER resources_labels_delete AFTER DELETE ON resources FOR EACH ROW" \
    " WHEN (" HAS_LABELS("OLD") ") EXECUTE FUNCTION ironbark_labels();"

static const char schema_sql[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(1919191919);"
    "CREATE SEQUENCE IF NOT EXISTS resources_seq;"
    "CREATE TABLE IF NOT EXISTS resources("
    " seq bigint PRIMARY KEY,"
    " ri text COLLATE \"C\" NOT NULL UNIQUE,"
    " path text COLLATE \"C\" NOT NULL UNIQUE,"
    " pi text COLLATE \"C\" NOT NULL,"
    " ty integer NOT NULL,"
    " et text COLLATE \"C\","
    " body text NOT NULL,"
    " sk bytea NOT NULL);"
    /* seq spelled out: SQLite's indexes end in the rowid implicitly, which
     * keeps children of one type in creation order (la/ol, pages). */
    "CREATE INDEX IF NOT EXISTS resources_children ON resources(pi, ty, seq);"
    "CREATE INDEX IF NOT EXISTS resources_expiry ON resources(et) WHERE et IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS resources_subtree ON resources(sk);"
    "CREATE INDEX IF NOT EXISTS resources_subtree_ty ON resources(ty, sk) WHERE ty <> " CIN_SQL ";"
    "CREATE OR REPLACE FUNCTION ironbark_seqkey(s bigint) RETURNS bytea"
    " LANGUAGE sql IMMUTABLE STRICT AS $$"
    " SELECT decode(lpad(to_hex(n), 2, '0') || lpad(to_hex(s), 2 * n, '0'), 'hex')"
    " FROM (SELECT greatest(1, (length(to_hex(s)) + 1) / 2) AS n) k $$;"
    "CREATE OR REPLACE FUNCTION ironbark_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE r resources;"
    " BEGIN"
    "  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;"
    "  PERFORM pg_notify('" PG_CHANNEL "', json_build_array("
    "   CASE TG_OP WHEN 'INSERT' THEN 'c' WHEN 'UPDATE' THEN 'u' ELSE 'd' END,"
    "   r.ty, r.ri, r.pi, r.path, CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE r.et END)::text);"
    "  RETURN NULL;"
    " END $$;"
    "CREATE OR REPLACE TRIGGER resources_changes AFTER INSERT OR UPDATE OR DELETE ON resources"
    " FOR EACH ROW EXECUTE FUNCTION ironbark_notify();"
    LABELS_SQL
    /* Requests at polling channels (polling.c), so that a long poll on any
     * front-end takes them, and an answer on any front-end finds them
     * (taken: handed to a poll, waiting for the answer): deadline by the
     * database's clock, one clock for every front-end. */
    "CREATE TABLE IF NOT EXISTS pch_requests(seq bigserial PRIMARY KEY,"
    " pch text COLLATE \"C\" NOT NULL, rqi text COLLATE \"C\" NOT NULL, rqp text NOT NULL,"
    " taken boolean NOT NULL DEFAULT false, deadline timestamptz NOT NULL);"
    "CREATE INDEX IF NOT EXISTS pch_requests_channel ON pch_requests(pch, seq);"
    "CREATE INDEX IF NOT EXISTS pch_requests_deadline ON pch_requests(deadline);"
    /* Answers too long for a notice wait here for the front-end that
     * queued their request; the notice names the row. */
    "CREATE TABLE IF NOT EXISTS pch_answers(id bigserial PRIMARY KEY, rsp text NOT NULL,"
    " deadline timestamptz NOT NULL);"
    "COMMIT;"
    "LISTEN " PG_CHANNEL ";"
    "LISTEN " PG_PCH_CHANNEL ";"
    "LISTEN " PG_PCH_ANSWER_CHANNEL ";";

enum pg_stmt {
    P_BEGIN, P_COMMIT, P_ROLLBACK, P_SAVEPOINT, P_RELEASE, P_ROLLBACK_TO,
    P_GET, P_GET_PATH, P_INSERT, P_TAKEN_PATH, P_UPDATE, P_DELETE_ONE, P_SUBTREE, P_DELETE_SUBTREE,
    P_CHILDREN, P_CHILDREN_TY, P_OLDEST, P_NEWEST, P_COUNT, P_COUNT_TY, P_EXPIRED,
    P_SCAN, P_SCAN_TY, P_SCAN_CIN, P_SCAN_KEY, P_NEXT_EXPIRY, P_OLDEST_AT, P_NEWEST_AT,
    P_BEGIN_SNAPSHOT, P_NEXT_SEQS, P_KEY_OF_RI, P_GET_LOCKED, P_PCH_PUT, P_PCH_TRIM, P_PCH_TAKE, P_PCH_ANSWER,
    P_PCH_ANSWER_ROW, P_PCH_ANSWER_TAKE, P_PCH_END, P_COUNT_STMTS
};

/* Row statements select (seq, ty, path, body[, sk]); the paged ones take
 * the position after which to continue and the page size as their last two
 * parameters. */
static const char *const stmt_sql[P_COUNT_STMTS] = {
    [P_BEGIN] = "BEGIN",
    [P_COMMIT] = "COMMIT",
    [P_ROLLBACK] = "ROLLBACK",
    [P_SAVEPOINT] = "SAVEPOINT primitive",
    [P_RELEASE] = "RELEASE primitive",
    [P_ROLLBACK_TO] = "ROLLBACK TO primitive",
    [P_GET] = "SELECT seq, ty, path, body FROM resources WHERE ri = $1",
    [P_GET_PATH] = "SELECT seq, ty, path, body FROM resources WHERE path = $1",
    /* ON CONFLICT keeps the transaction usable after a taken name (a
     * failed statement would abort it); P_TAKEN_PATH then tells which. */
    [P_INSERT] = "INSERT INTO resources(seq, ri, path, pi, ty, et, body, sk)"
                 " SELECT n.seq, $1::text, $2::text, $3::text, $4::int, $5::text, $6::text,"
                 " coalesce((SELECT p.sk FROM resources p WHERE p.ri = $3), ''::bytea) || ironbark_seqkey(n.seq)"
                 " FROM (SELECT nextval('resources_seq') AS seq) n ON CONFLICT DO NOTHING RETURNING seq",
    [P_TAKEN_PATH] = "SELECT 1 FROM resources WHERE path = $1",
    [P_UPDATE] = "UPDATE resources SET et = $2, body = $3 WHERE ri = $1",
    [P_DELETE_ONE] = "DELETE FROM resources WHERE ri = $1",
    [P_SUBTREE] = "SELECT seq, ty, path, body FROM resources WHERE path > $1 AND path < $2"
                  " AND seq > $3 ORDER BY seq LIMIT $4",
    [P_DELETE_SUBTREE] = "DELETE FROM resources WHERE path > $1 AND path < $2",
    [P_CHILDREN] = "SELECT seq, ty, path, body FROM resources WHERE pi = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    [P_CHILDREN_TY] = "SELECT seq, ty, path, body FROM resources WHERE pi = $1 AND ty = $2"
                      " AND seq > $3 ORDER BY seq LIMIT $4",
    [P_OLDEST] = "SELECT seq, ty, path, body FROM resources WHERE pi = $1 AND ty = $2 ORDER BY seq ASC LIMIT 1",
    [P_NEWEST] = "SELECT seq, ty, path, body FROM resources WHERE pi = $1 AND ty = $2 ORDER BY seq DESC LIMIT 1",
    [P_COUNT] = "SELECT count(*) FROM resources WHERE pi = $1",
    [P_COUNT_TY] = "SELECT count(*) FROM resources WHERE pi = $1 AND ty = $2",
    [P_EXPIRED] = "SELECT seq, ty, path, body FROM resources WHERE et IS NOT NULL AND et < $1 ORDER BY et LIMIT 256",
    [P_SCAN] = "SELECT seq, ty, path, body, sk FROM resources WHERE sk < $2 AND sk > $1 ORDER BY sk LIMIT $3",
    /* `ty <> 4` in the text lets the planner use the partial index. */
    [P_SCAN_TY] = "SELECT seq, ty, path, body, sk FROM resources WHERE ty = $3 AND ty <> " CIN_SQL
                  " AND sk < $2 AND sk > $1 ORDER BY sk LIMIT $4",
    [P_SCAN_CIN] = "SELECT seq, ty, path, body, sk FROM resources WHERE ty = $3"
                   " AND sk < $2 AND sk > $1 ORDER BY sk LIMIT $4",
    [P_SCAN_KEY] = "SELECT sk FROM resources WHERE path = $1",
    [P_NEXT_EXPIRY] = "SELECT min(et) FROM resources WHERE et IS NOT NULL",
    [P_OLDEST_AT] = "SELECT c.seq, c.ty, c.path, c.body FROM resources p JOIN resources c ON c.pi = p.ri"
                    " WHERE p.path = $1 AND p.ty = $2 AND c.ty = $3 ORDER BY c.seq ASC LIMIT 1",
    [P_NEWEST_AT] = "SELECT c.seq, c.ty, c.path, c.body FROM resources p JOIN resources c ON c.pi = p.ri"
                    " WHERE p.path = $1 AND p.ty = $2 AND c.ty = $3 ORDER BY c.seq DESC LIMIT 1",
    /* Every statement of the transaction reads the snapshot its first one
     * took: a paged walk of the tree sees one state of it. */
    [P_BEGIN_SNAPSHOT] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    /* Bulk insertion takes its rows' seqs in one round trip, in order. */
    [P_NEXT_SEQS] = "SELECT nextval('resources_seq') FROM generate_series(1, $1::int) ORDER BY 1",
    [P_KEY_OF_RI] = "SELECT sk FROM resources WHERE ri = $1",
    /* A read-modify-write (exc) that another front-end may run at once:
     * the second waits for the first's commit and reads its result. */
    [P_GET_LOCKED] = "SELECT seq, ty, path, body FROM resources WHERE ri = $1 FOR UPDATE",
    /* Queuing drops the expired requests of every channel (one nobody polls
     * any more included) and wakes the long polls of every front-end. */
    [P_PCH_PUT] = "WITH gone AS (DELETE FROM pch_requests WHERE deadline <= clock_timestamp()),"
                  " woken AS (SELECT pg_notify('" PG_PCH_CHANNEL "', $1::text))"
                  " INSERT INTO pch_requests(pch, rqi, rqp, deadline) SELECT $1::text, $4::text, $2::text,"
                  " clock_timestamp() + $3::bigint * interval '1 millisecond' FROM woken",
    /* The channel's bound: all but its newest $2 waiting go. */
    [P_PCH_TRIM] = "DELETE FROM pch_requests WHERE seq IN (SELECT seq FROM pch_requests WHERE pch = $1::text"
                   " AND NOT taken ORDER BY seq DESC OFFSET $2::int FOR UPDATE SKIP LOCKED) RETURNING rqp",
    /* SKIP LOCKED: two front-ends polling one channel at once take
     * different requests, each request is taken once. */
    /* An answer ends its request, and is passed to every front-end. */
    [P_PCH_ANSWER] = "WITH done AS (DELETE FROM pch_requests WHERE pch = $1::text AND rqi = $2::text AND taken"
                     " AND deadline > clock_timestamp() RETURNING 1)"
                     " SELECT pg_notify('" PG_PCH_ANSWER_CHANNEL "', $1::text || chr(10) || $3::text) FROM done",
    /* One too long for a notice: kept as a row (those nobody took go with
     * the next one kept), the notice carries "@id" and the rqi. */
    [P_PCH_ANSWER_ROW] = "WITH done AS (DELETE FROM pch_requests WHERE pch = $1::text AND rqi = $2::text AND taken"
                         " AND deadline > clock_timestamp() RETURNING 1),"
                         " gone AS (DELETE FROM pch_answers WHERE deadline <= clock_timestamp()),"
                         " kept AS (INSERT INTO pch_answers(rsp, deadline) SELECT $3::text, clock_timestamp() +"
                         " $4::bigint * interval '1 millisecond' FROM done RETURNING id)"
                         " SELECT pg_notify('" PG_PCH_ANSWER_CHANNEL "', $1::text || chr(10) || '@' || id || chr(10)"
                         " || $2::text) FROM kept",
    [P_PCH_ANSWER_TAKE] = "DELETE FROM pch_answers WHERE id = $1::bigint RETURNING rsp",
    /* Answered to the front-end that queued it: nothing to pass on, no row. */
    [P_PCH_END] = "DELETE FROM pch_requests WHERE pch = $1::text AND rqi = $2::text AND taken"
                  " AND deadline > clock_timestamp() RETURNING 1",
    [P_PCH_TAKE] = "WITH handed AS (UPDATE pch_requests SET taken = true WHERE seq IN (SELECT seq FROM pch_requests"
                   " WHERE pch = $1::text AND NOT taken AND deadline > clock_timestamp() ORDER BY seq LIMIT $2::int"
                   " FOR UPDATE SKIP LOCKED) RETURNING seq, rqp) SELECT rqp FROM handed ORDER BY seq",
};

struct pg_store {
    PGconn *conn;              /* NULL while the database is away */
    char *uri;
    char *password;            /* masked in every logged message */
    enum store_sync sync;
    int64_t retry_at_ms;       /* next reconnection attempt */
    int backoff_ms;
    bool ever_connected;
    uint64_t connections;      /* made so far: the socket changes with each */
    bool resync_pending;       /* reconnected: notices may have been missed */
    bool away_logged;
    bool tx_open;              /* BEGIN sent on this connection, not ended */
    bool tx_lost;              /* the connection died with tx_open */
    bool batching, in_batch, plain_joined, batch_failed;
    bool committing;           /* the batch's COMMIT is on its way (a fiber waits for it) */
    int batch_size;
    struct fiber_lock lock;    /* the fiber whose statements the connection carries */
    struct fiber_fd watch;     /* the connection's socket, registered while it is up */
    uint64_t blocking_waits;   /* round trips waited for outside a fiber */
    uint64_t generation;
    struct store_scan_stats last_scan;
    const char *fail_flag;     /* IRONBARK_TEST_FAIL_COMMIT, as in store.c */
};

/* Parameters of one statement: text, except scan keys (binary bytea). */
#define PG_MAX_PARAMS 6

struct pg_params {
    int n;
    const char *value[PG_MAX_PARAMS];
    int len[PG_MAX_PARAMS];
    int format[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][24];
};

static void param_text(struct pg_params *q, const char *v)
{
    q->value[q->n] = v;
    q->len[q->n] = 0;
    q->format[q->n++] = 0;
}

static void param_int(struct pg_params *q, int64_t v)
{
    snprintf(q->num[q->n], sizeof q->num[q->n], "%lld", (long long)v);
    param_text(q, q->num[q->n]);
}

static void param_bytes(struct pg_params *q, const unsigned char *v, size_t len)
{
    q->value[q->n] = (const char *)v;
    q->len[q->n] = (int)len;
    q->format[q->n++] = 1;
}

/* --- connection ----------------------------------------------------------- */

/* Logs a libpq message with the password (if libpq echoed any part of the
 * URI) masked. */
static void log_pg(int level, const char *what, const char *msg, const struct pg_store *p)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", msg ? msg : "");
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    for (char *at; p->password && *p->password && (at = strstr(buf, p->password));)
        memset(at, '*', strlen(p->password));
    if (level == LOG_LVL_ERROR) log_error("store: %s: %s", what, buf);
    else log_warn("store: %s: %s", what, buf);
}

static void pg_drop_connection(struct pg_store *p)
{
    if (!p->conn) return;
    fiber_fd_forget(&p->watch);
    pq_PQfinish(p->conn);
    p->conn = NULL;
    if (p->tx_open) p->tx_lost = true;
    p->tx_open = false;
    p->generation++;
}

/* The connection failed under a statement: drop it, and reconnect at the
 * next call (then with back-off). */
static void pg_lost(struct pg_store *p)
{
    if (!p->away_logged) log_pg(LOG_LVL_ERROR, "the database is unreachable", pq_PQerrorMessage(p->conn), p);
    p->away_logged = true;
    pg_drop_connection(p);
    p->retry_at_ms = loop_now_ms();
}

static PGresult *pg_collect(struct pg_store *p, int64_t deadline_ms);

/* Input while no fiber waits (another front-end's notice, the server
 * closing): read now, or the loop would wake for it round after round. The
 * feed takes the notices at the end of the round; a connection found closed
 * is unregistered here and dropped by its next statement. */
static void pg_idle_input(void *data)
{
    struct pg_store *p = data;
    if (!p->conn || !pq_PQconsumeInput(p->conn)) fiber_fd_forget(&p->watch);
}

/* The result of what was just sent: false (logged) unless it succeeded. */
static bool pg_succeeded(struct pg_store *p, const char *what)
{
    PGresult *r = pg_collect(p, loop_now_ms() + PG_ROUND_TRIP_MS);
    ExecStatusType st = r ? pq_PQresultStatus(r) : PGRES_FATAL_ERROR;
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (r && !ok) log_pg(LOG_LVL_ERROR, what, pq_PQresultErrorMessage(r), p);
    pq_PQclear(r);
    return ok;
}

/* Sends the schema (idempotent), LISTEN, and prepares every statement. */
static bool pg_setup(struct pg_store *p)
{
    if (!pq_PQsendQuery(p->conn, schema_sql) || !pg_succeeded(p, "creating the schema")) return false;
    for (int i = 0; i < P_COUNT_STMTS; i++) {
        char name[8];
        snprintf(name, sizeof name, "s%d", i);
        if (!pq_PQsendPrepare(p->conn, name, stmt_sql[i], 0, NULL) || !pg_succeeded(p, stmt_sql[i])) return false;
    }
    return true;
}

/* The schema's CREATE ... IF NOT EXISTS say "already exists" each time. */
static void ignore_notice(void *data, const char *message)
{
    (void)data;
    (void)message;
}

/* One bounded connection attempt, when the back-off allows one. */
static bool pg_connect(struct pg_store *p)
{
    int64_t now = loop_now_ms();
    if (now < p->retry_at_ms) return false;
    char timeout[16], options[96];
    snprintf(timeout, sizeof timeout, "%d", PG_CONNECT_MS / 1000);
    snprintf(options, sizeof options, "-c statement_timeout=%d -c synchronous_commit=%s",
             PG_STATEMENT_MS, p->sync == STORE_SYNC_OFF ? "off" : "on");
    const char *keys[PQ_PARAMS], *values[PQ_PARAMS];
    pq_connect_params(keys, values, timeout, options, "ironbark", p->uri);
    p->conn = pq_PQconnectStartParams(keys, values, 1);
    bool ok = pq_connect_wait(&p->watch, p->conn, now + PG_CONNECT_MS, &p->blocking_waits);
    if (ok) pq_PQsetNoticeProcessor(p->conn, ignore_notice, NULL);
    if (ok) ok = pq_PQsetnonblocking(p->conn, 1) == 0 && pg_setup(p);
    if (!ok) {
        if (!p->away_logged)
            log_pg(LOG_LVL_ERROR, "cannot connect to the database", p->conn ? pq_PQerrorMessage(p->conn) : "no memory", p);
        p->away_logged = true;
        fiber_fd_forget(&p->watch);
        pq_PQfinish(p->conn);
        p->conn = NULL;
        p->retry_at_ms = loop_now_ms() + p->backoff_ms;
        p->backoff_ms = p->backoff_ms * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : p->backoff_ms * 2;
        return false;
    }
    if (p->ever_connected) {
        log_info("store: reconnected to the database");
        p->resync_pending = true;
    }
    p->ever_connected = true;
    p->connections++;
    p->away_logged = false;
    p->backoff_ms = PG_BACKOFF_FIRST_MS;
    p->generation++;
    return true;
}

/* A connection to run a statement on: false while the database is away, or
 * while a transaction the connection took with it has not been ended. */
static bool pg_ready(struct pg_store *p)
{
    if (p->tx_lost) return false;
    if (p->conn && pq_PQstatus(p->conn) == CONNECTION_OK) return true;
    if (p->conn) pg_lost(p);
    if (p->tx_lost) return false;
    return pg_connect(p);
}

/* --- statements ----------------------------------------------------------- */

/* Flushes what was sent and reads the results of one query: the first
 * result (an error one if any), or NULL when the connection failed (it is
 * then dropped). */
static PGresult *pg_collect(struct pg_store *p, int64_t deadline_ms)
{
    PGresult *r = pq_collect(&p->watch, p->conn, deadline_ms, &p->blocking_waits);
    if (!r) pg_lost(p);
    return r;
}

/* Runs prepared statement id: its result, or NULL on failure (logged; the
 * connection is dropped when it was the cause). A fiber takes the lock for
 * the rest of its life (it may wait its turn); the main context lets a
 * fiber that holds it finish first. */
static PGresult *pg_run(struct pg_store *p, enum pg_stmt id, const struct pg_params *q)
{
    if (!fiber_lock_acquire(&p->lock) || !pg_ready(p)) return NULL;
    char name[8];
    snprintf(name, sizeof name, "s%d", (int)id);
    if (!pq_PQsendQueryPrepared(p->conn, name, q ? q->n : 0, q ? q->value : NULL, q ? q->len : NULL,
                             q ? q->format : NULL, 1)) {
        pg_lost(p);
        return NULL;
    }
    PGresult *r = pg_collect(p, loop_now_ms() + PG_ROUND_TRIP_MS);
    if (!r) return NULL;
    ExecStatusType st = pq_PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        log_pg(LOG_LVL_ERROR, stmt_sql[id], pq_PQresultErrorMessage(r), p);
        pq_PQclear(r);
        return NULL;
    }
    return r;
}

/* Transaction control. COMMIT of an aborted transaction answers ROLLBACK
 * without an error: that is a failure too. */
static int run_simple(struct pg_store *p, enum pg_stmt id)
{
    PGresult *r = pg_run(p, id, NULL);
    bool ok = r && !(id == P_COMMIT && !strcmp(pq_PQcmdStatus(r), "ROLLBACK"));
    pq_PQclear(r);
    if (id == P_BEGIN && ok) p->tx_open = true;
    if (id == P_COMMIT || id == P_ROLLBACK) p->tx_open = p->tx_lost = false;
    return ok ? 0 : RSC_INTERNAL_SERVER_ERROR;
}

static int64_t value_i64(const PGresult *r, int row, int col)
{
    const unsigned char *v = (const unsigned char *)pq_PQgetvalue(r, row, col);
    int len = pq_PQgetlength(r, row, col);
    uint64_t x = 0;
    for (int i = 0; i < len; i++) x = x << 8 | v[i];
    if (len == 4) return (int32_t)(uint32_t)x;
    return (int64_t)x;
}

/* Builds a resource from row `row` (seq, ty, path, body). */
static struct resource *row_resource(const PGresult *r, int row)
{
    json_error_t jerr = { .text = "out of memory" };
    json_t *attrs = json_loadb(pq_PQgetvalue(r, row, 3), (size_t)pq_PQgetlength(r, row, 3), 0, &jerr);
    if (!attrs) {
        log_error("store: corrupt body of %s: %s", pq_PQgetvalue(r, row, 2), jerr.text);
        return NULL;
    }
    struct resource *res = resource_new((int)value_i64(r, row, 1), attrs, pq_PQgetvalue(r, row, 2));
    if (res) res->seq = value_i64(r, row, 0);
    return res;
}

static int fetch_one(struct pg_store *p, enum pg_stmt id, const struct pg_params *q, struct resource **out)
{
    PGresult *r = pg_run(p, id, q);
    if (!r) return RSC_INTERNAL_SERVER_ERROR;
    int rc = RSC_NOT_FOUND;
    if (pq_PQntuples(r) > 0) rc = (*out = row_resource(r, 0)) ? 0 : RSC_INTERNAL_SERVER_ERROR;
    pq_PQclear(r);
    return rc;
}

/* Visits the rows of a statement paged by seq: q holds its fixed
 * parameters; the position and page size are added here. The visitor runs
 * between pages, so it may call the store itself. */
static int visit_by_seq(struct pg_store *p, enum pg_stmt id, struct pg_params q,
                        store_visit_fn *visit, void *data)
{
    int64_t after = 0;
    int fixed = q.n, limit = PG_PAGE_FIRST, result = 0;
    for (;;) {
        q.n = fixed;
        param_int(&q, after);
        param_int(&q, limit);
        PGresult *r = pg_run(p, id, &q);
        if (!r) return RSC_INTERNAL_SERVER_ERROR;
        int n = pq_PQntuples(r);
        for (int i = 0; i < n && !result; i++) {
            struct resource *res = row_resource(r, i);
            if (!res) { result = RSC_INTERNAL_SERVER_ERROR; break; }
            after = res->seq;
            result = visit(res, data);
            resource_free(res);
        }
        pq_PQclear(r);
        if (result || n < limit) return result;
        if (limit < PG_PAGE_MAX) limit *= 4;
    }
}

/* --- the public functions ------------------------------------------------- */

bool pg_store_wanted(const char *db)
{
    return !strncmp(db, "postgresql://", 13) || !strncmp(db, "postgres://", 11);
}

const char *pg_store_printable(const char *db, char *buf, size_t size)
{
    snprintf(buf, size, "%s", db);
    /* user:password@ in the authority */
    char *scheme_end = strstr(buf, "://");
    if (scheme_end) {
        char *auth = scheme_end + 3;
        char *end = auth + strcspn(auth, "/?");
        char *at = memchr(auth, '@', (size_t)(end - auth));
        char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon && at - colon > 1) {
            memmove(colon + 4, at, strlen(at) + 1);
            memcpy(colon + 1, "***", 3);
        }
    }
    /* password=... in the query */
    for (char *q = strstr(buf, "password="); q; q = strstr(q + 1, "password=")) {
        if (q != buf && q[-1] != '?' && q[-1] != '&') continue;
        char *v = q + 9, *end = v + strcspn(v, "&");
        memmove(v + 3, end, strlen(end) + 1);
        memcpy(v, "***", 3);
    }
    return buf;
}

int pg_store_open(struct pg_store **out, const char *uri, enum store_sync sync)
{
    if (!pq_load("store")) return RSC_INTERNAL_SERVER_ERROR;
    struct pg_store *p = calloc(1, sizeof *p);
    if (!p || !(p->uri = strdup(uri))) { free(p); return RSC_INTERNAL_SERVER_ERROR; }
    p->sync = sync;
    p->backoff_ms = PG_BACKOFF_FIRST_MS;
    p->fail_flag = getenv("IRONBARK_TEST_FAIL_COMMIT");
    p->watch.idle = pg_idle_input;
    p->watch.idle_data = p;
    char *err = NULL;
    PQconninfoOption *opts = pq_PQconninfoParse(uri, &err);
    if (!opts) {
        log_pg(LOG_LVL_ERROR, "the db setting is not a valid PostgreSQL URI", "", p);
        pq_PQfreemem(err);
        pg_store_close(p);
        return RSC_INTERNAL_SERVER_ERROR;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (!strcmp(o->keyword, "password") && o->val && *o->val) p->password = strdup(o->val);
    pq_PQconninfoFree(opts);
    /* A database starting together with the CSE gets a bounded while. */
    int64_t deadline = loop_now_ms() + PG_OPEN_MS;
    while (!pg_connect(p) && loop_now_ms() < deadline) {
        int64_t wait = p->retry_at_ms - loop_now_ms();
        if (wait > 0) usleep((useconds_t)(wait * 1000));
    }
    if (!p->conn) {
        pg_store_close(p);
        return RSC_INTERNAL_SERVER_ERROR;
    }
    *out = p;
    return 0;
}

struct fiber_lock *pg_store_fiber_lock(struct pg_store *p) { return &p->lock; }
uint64_t pg_store_waits_outside_fiber(const struct pg_store *p) { return p->blocking_waits; }

void pg_store_close(struct pg_store *p)
{
    if (!p) return;
    fiber_lock_drain(&p->lock);
    if (p->lock.driven || p->blocking_waits)
        log_info("store: %llu round trips waited outside a fiber, %llu times a fiber was finished from outside",
                 (unsigned long long)p->blocking_waits, (unsigned long long)p->lock.driven);
    fiber_fd_forget(&p->watch);
    if (p->conn) pq_PQfinish(p->conn);
    free(p->uri);
    free(p->password);
    free(p);
}

/* Transaction control changes state before its statement runs: it takes
 * the lock first, so that a main-context caller lets a fiber in the middle
 * of a primitive finish before the batch changes under it. */
static bool pg_take(struct pg_store *p)
{
    return fiber_lock_acquire(&p->lock);
}

/* A batch is one transaction, each primitive a savepoint in it (store.h). */
static int begin_in_batch(struct pg_store *p)
{
    if (!p->in_batch) {
        if (run_simple(p, P_BEGIN)) return RSC_INTERNAL_SERVER_ERROR;
        p->in_batch = true;
        p->batch_size = 0;
    }
    p->batch_size++;
    return run_simple(p, P_SAVEPOINT);
}

int pg_store_begin_batched(struct pg_store *p)
{
    if (!pg_take(p)) return RSC_INTERNAL_SERVER_ERROR;
    return p->batching ? begin_in_batch(p) : run_simple(p, P_BEGIN);
}

int pg_store_begin(struct pg_store *p)
{
    if (!pg_take(p)) return RSC_INTERNAL_SERVER_ERROR;
    if (!p->in_batch) return run_simple(p, P_BEGIN);
    p->plain_joined = true;
    return run_simple(p, P_SAVEPOINT);
}

int pg_store_begin_snapshot(struct pg_store *p)
{
    if (p->in_batch) return RSC_INTERNAL_SERVER_ERROR;   /* a batch's writes are no snapshot */
    int rc = run_simple(p, P_BEGIN_SNAPSHOT);
    if (!rc) p->tx_open = true;
    return rc;
}

int pg_store_commit(struct pg_store *p)
{
    if (!pg_take(p)) return RSC_INTERNAL_SERVER_ERROR;
    if (!p->in_batch) {
        if (p->tx_lost) { p->tx_lost = false; return RSC_INTERNAL_SERVER_ERROR; }
        return run_simple(p, P_COMMIT);
    }
    int rc = run_simple(p, P_RELEASE);
    if (rc || !p->plain_joined) return rc;
    p->plain_joined = false;
    return pg_store_batch_commit(p);
}

void pg_store_rollback(struct pg_store *p)
{
    if (!pg_take(p)) return;
    p->generation++;
    if (p->in_batch) {
        p->plain_joined = false;
        if (!run_simple(p, P_ROLLBACK_TO)) run_simple(p, P_RELEASE);
        return;
    }
    p->tx_lost = false;
    if (p->tx_open) run_simple(p, P_ROLLBACK);
}

void pg_store_batch_enable(struct pg_store *p, bool on) { p->batching = on; }
/* Until its COMMIT has answered, the batch is still pending for whoever
 * holds a response meanwhile. */
bool pg_store_batch_pending(const struct pg_store *p) { return p->in_batch || p->committing; }
int pg_store_batch_size(const struct pg_store *p) { return p->in_batch ? p->batch_size : 0; }

bool pg_store_batch_failed(const struct pg_store *p) { return p->batch_failed; }

bool pg_store_batch_take_failure(struct pg_store *p)
{
    bool failed = p->batch_failed;
    p->batch_failed = false;
    return failed;
}

int pg_store_batch_commit(struct pg_store *p)
{
    if (!p->in_batch) return 0;
    if (!pg_take(p)) return RSC_INTERNAL_SERVER_ERROR;
    if (!p->in_batch) return 0;    /* the fiber it waited for committed it */
    p->in_batch = false;
    bool fault = p->fail_flag && !unlink(p->fail_flag);
    p->committing = true;
    int rc = fault || p->tx_lost ? RSC_INTERNAL_SERVER_ERROR : run_simple(p, P_COMMIT);
    p->committing = false;
    p->tx_lost = false;
    if (rc) {
        p->generation++;
        p->batch_failed = true;
        if (p->tx_open) run_simple(p, P_ROLLBACK);
    }
    return rc;
}

uint64_t pg_store_generation(const struct pg_store *p) { return p->generation; }

int pg_store_get(struct pg_store *p, const char *ri, struct resource **out)
{
    struct pg_params q = { 0 };
    param_text(&q, ri);
    return fetch_one(p, P_GET, &q, out);
}

int pg_store_get_locked(struct pg_store *p, const char *ri, struct resource **out)
{
    struct pg_params q = { 0 };
    param_text(&q, ri);
    return fetch_one(p, P_GET_LOCKED, &q, out);
}

int pg_store_get_path(struct pg_store *p, const char *path, struct resource **out)
{
    struct pg_params q = { 0 };
    param_text(&q, path);
    return fetch_one(p, P_GET_PATH, &q, out);
}

int pg_store_insert(struct pg_store *p, struct resource *res)
{
    size_t len;
    char *body = json_text(res->attrs, &len);
    if (!body) return RSC_INTERNAL_SERVER_ERROR;
    p->generation++;
    struct pg_params q = { 0 };
    param_text(&q, res_ri(res));
    param_text(&q, res->path);
    param_text(&q, res_pi(res) ? res_pi(res) : "");
    param_int(&q, res->ty);
    param_text(&q, res_str(res, "et"));
    param_text(&q, body);
    PGresult *r = pg_run(p, P_INSERT, &q);
    free(body);
    if (!r) return RSC_INTERNAL_SERVER_ERROR;
    int rc = 0;
    if (pq_PQntuples(r) == 1) {
        res->seq = value_i64(r, 0, 0);
    } else {
        /* Nothing inserted: the path or the ri is taken. */
        struct pg_params t = { 0 };
        param_text(&t, res->path);
        PGresult *taken = pg_run(p, P_TAKEN_PATH, &t);
        rc = !taken ? RSC_INTERNAL_SERVER_ERROR : pq_PQntuples(taken) ? RSC_CONFLICT : RSC_ALREADY_EXISTS;
        pq_PQclear(taken);
    }
    pq_PQclear(r);
    return rc;
}

int pg_store_update(struct pg_store *p, const struct resource *res)
{
    size_t len;
    char *body = json_text(res->attrs, &len);
    if (!body) return RSC_INTERNAL_SERVER_ERROR;
    p->generation++;
    struct pg_params q = { 0 };
    param_text(&q, res_ri(res));
    param_text(&q, res_str(res, "et"));
    param_text(&q, body);
    PGresult *r = pg_run(p, P_UPDATE, &q);
    free(body);
    if (!r) return RSC_INTERNAL_SERVER_ERROR;
    int rc = strcmp(pq_PQcmdTuples(r), "0") ? 0 : RSC_NOT_FOUND;
    pq_PQclear(r);
    return rc;
}

int pg_store_delete_subtree(struct pg_store *p, const struct resource *res,
                            store_visit_fn *visit, void *data)
{
    char *lo, *hi;
    subtree_bounds(res->path, &lo, &hi);
    p->generation++;
    int result = lo && hi ? 0 : RSC_INTERNAL_SERVER_ERROR;
    struct pg_params q = { 0 };
    param_text(&q, lo);
    param_text(&q, hi);
    if (!result && visit) result = visit_by_seq(p, P_SUBTREE, q, visit, data);
    PGresult *r = NULL;
    if (!result) result = (r = pg_run(p, P_DELETE_SUBTREE, &q)) ? 0 : RSC_INTERNAL_SERVER_ERROR;
    pq_PQclear(r);
    r = NULL;
    if (!result) {
        struct pg_params one = { 0 };
        param_text(&one, res_ri(res));
        r = pg_run(p, P_DELETE_ONE, &one);
        result = !r ? RSC_INTERNAL_SERVER_ERROR : strcmp(pq_PQcmdTuples(r), "0") ? 0 : RSC_NOT_FOUND;
        pq_PQclear(r);
    }
    free(lo);
    free(hi);
    return result;
}

int pg_store_children(struct pg_store *p, const char *pi, int ty, store_visit_fn *visit, void *data)
{
    struct pg_params q = { 0 };
    param_text(&q, pi);
    if (ty) param_int(&q, ty);
    return visit_by_seq(p, ty ? P_CHILDREN_TY : P_CHILDREN, q, visit, data);
}

#define SCAN_KEY_MAX (9 * 64 + 1)

/* The scan key of the resource at path into key (SCAN_KEY_MAX bytes, one
 * left for the subtree's upper bound): 1, 0 when there is none, -1 when
 * the database failed. */
static int scan_key_of(struct pg_store *p, const char *path, unsigned char *key, size_t *len)
{
    struct pg_params kq = { 0 };
    param_text(&kq, path);
    PGresult *kr = pg_run(p, P_SCAN_KEY, &kq);
    if (!kr) return -1;
    *len = pq_PQntuples(kr) ? (size_t)pq_PQgetlength(kr, 0, 0) : 0;
    int found = pq_PQntuples(kr) && *len < SCAN_KEY_MAX;
    if (found) memcpy(key, pq_PQgetvalue(kr, 0, 0), *len);
    pq_PQclear(kr);
    return found;
}

_Static_assert(STORE_CURSOR_MAX >= SCAN_KEY_MAX - 1, "a cursor holds any key a scan moves to");

/* Pages of rows in sk order from after `lo` to below `hi` (keyset: each
 * page is one indexed range read, and the next starts after the last row
 * read); a row deeper than wanted moves lo past its ancestor's subtree (a
 * seek), as in store.c. With `at`, lo starts there (when it lies in this
 * subtree) and *at follows lo, before the visitor sees a row. */
static int scan_pages(struct pg_store *p, const char *path, int max_depth, int ty,
                      struct store_cursor *at, store_visit_fn *visit, void *data)
{
    p->last_scan = (struct store_scan_stats){ 0 };
    unsigned char lo[SCAN_KEY_MAX], hi[SCAN_KEY_MAX];
    size_t root_len = 0;
    int found = scan_key_of(p, path, lo, &root_len);
    if (found <= 0) return found < 0 ? RSC_INTERNAL_SERVER_ERROR : 0;
    memcpy(hi, lo, root_len);
    hi[root_len] = 0xFF;
    size_t lo_len = root_len;
    size_t deepest = seqkey_levels(lo, root_len) + (size_t)(max_depth > 0 ? max_depth : 0);
    /* A cursor from another subtree would read outside this one. */
    bool resume = at && at->len > root_len && at->len < SCAN_KEY_MAX && !memcmp(at->key, lo, root_len);
    if (resume) memcpy(lo, at->key, lo_len = at->len);
    enum pg_stmt id = !ty ? P_SCAN : ty == TY_CIN ? P_SCAN_CIN : P_SCAN_TY;
    /* Small first pages for a visitor that stops early (lim); a resumed
     * scan is a long one: full pages at once. */
    int limit = resume ? PG_PAGE_MAX : PG_PAGE_FIRST, result = 0;
    for (;;) {
        struct pg_params q = { 0 };
        param_bytes(&q, lo, lo_len);
        param_bytes(&q, hi, root_len + 1);
        if (ty) param_int(&q, ty);
        param_int(&q, limit);
        PGresult *r = pg_run(p, id, &q);
        if (!r) return RSC_INTERNAL_SERVER_ERROR;
        int n = pq_PQntuples(r), i;
        bool seek = false;
        for (i = 0; i < n && !result && !seek; i++) {
            p->last_scan.rows++;
            const unsigned char *key = (const unsigned char *)pq_PQgetvalue(r, i, 4);
            size_t key_len = (size_t)pq_PQgetlength(r, i, 4);
            if (key_len >= SCAN_KEY_MAX) { result = RSC_INTERNAL_SERVER_ERROR; break; }
            if (max_depth > 0 && seqkey_levels(key, key_len) > deepest) {
                lo_len = seqkey_prefix(key, key_len, deepest);
                memcpy(lo, key, lo_len);
                lo[lo_len++] = 0xFF;
                p->last_scan.seeks++;
                seek = true;
            } else {
                memcpy(lo, key, key_len);
                lo_len = key_len;
            }
            if (at) memcpy(at->key, lo, at->len = lo_len);
            if (seek) break;
            struct resource *res = row_resource(r, i);
            if (!res) { result = RSC_INTERNAL_SERVER_ERROR; break; }
            result = visit(res, data);
            resource_free(res);
        }
        pq_PQclear(r);
        if (result) return result;
        if (!seek && n < limit) return 0;
        if (!seek && limit < PG_PAGE_MAX) limit *= 4;
    }
}

int pg_store_scan_subtree(struct pg_store *p, const char *path, int max_depth, int ty,
                          store_visit_fn *visit, void *data)
{
    return scan_pages(p, path, max_depth, ty, NULL, visit, data);
}

const char *pg_store_scan_sql(int ty)
{
    return stmt_sql[!ty ? P_SCAN : ty == TY_CIN ? P_SCAN_CIN : P_SCAN_TY];
}

int pg_store_scan_subtree_from(struct pg_store *p, const char *path, int max_depth, int ty,
                               struct store_cursor *at, store_visit_fn *visit, void *data)
{
    return scan_pages(p, path, max_depth, ty, at, visit, data);
}

/* --- filtered discovery (store_scan_matching) ------------------------------ */

/* Where each indexed attribute's rows are found: a table of (value, sk)
 * that a trigger keeps in step with `resources` (schema_sql). Another
 * condition is answered the same way: a table and a trigger there, an entry
 * here. An attribute without one (cnf, cs, ct: their rows are read by the
 * plain scan) makes its group unusable. */
static const struct { const char *table, *column; } index_of[] = {
    [STORE_ATTR_LABEL] = { "labels", "lbl" },
};

static bool pg_indexed(enum store_attr attr)
{
    return (size_t)attr < sizeof index_of / sizeof *index_of && index_of[attr].table;
}

/* A group whose index entries number at least this many is not worth
 * sorting into pre-order: the plain scan, which stops at `lim`, is used
 * (as in store.c), unless it is one equality, whose entries come in order. */
#define PG_NEED_SORT_CAP 4096
#define PG_NEED_PARAMS (2 * STORE_NEED_TERMS + 3)

/* One filtered query: SQL text and its parameters, $1 and $2 the sk range,
 * the terms' values after them, the page size last. */
struct need_query {
    char sql[8192];
    size_t len;
    bool overflow;
    int n;
    const char *value[PG_NEED_PARAMS];
    int len_of[PG_NEED_PARAMS], format[PG_NEED_PARAMS];
    char limit[24];
};

__attribute__((format(printf, 2, 3)))
static void need_sql(struct need_query *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(q->sql + q->len, sizeof q->sql - q->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof q->sql - q->len) q->overflow = true;
    else q->len += (size_t)n;
}

static int need_param(struct need_query *q, const char *v)
{
    if (q->n == PG_NEED_PARAMS) { q->overflow = true; return q->n; }
    q->value[q->n] = v;
    q->len_of[q->n] = 0;
    q->format[q->n] = 0;
    return ++q->n;
}

/* The keys of the rows in (lo, hi) meeting some term of `group`, as one
 * SELECT of sk (the union of one per term: a key once, however many terms
 * it meets). */
static void group_keys_sql(struct need_query *q, const struct store_need *need, int group)
{
    bool first = true;
    for (int i = 0; i < need->nterms; i++) {
        const struct store_term *t = &need->term[i];
        if (t->group != group) continue;
        const char *table = index_of[t->attr].table, *col = index_of[t->attr].column;
        need_sql(q, "%sSELECT DISTINCT sk FROM %s WHERE sk > $1 AND sk < $2", first ? "" : " UNION ", table);
        first = false;
        if (t->eq) need_sql(q, " AND %s = $%d", col, need_param(q, t->eq));
        if (!t->eq && t->lo) need_sql(q, " AND %s >= $%d", col, need_param(q, t->lo));
        if (!t->eq && t->hi) need_sql(q, " AND %s < $%d", col, need_param(q, t->hi));
    }
}

static void need_query_start(struct need_query *q, const unsigned char *lo, size_t lo_len,
                             const unsigned char *hi, size_t hi_len)
{
    q->len = 0;
    q->overflow = false;
    q->n = 2;
    q->value[0] = (const char *)lo;
    q->len_of[0] = (int)lo_len;
    q->value[1] = (const char *)hi;
    q->len_of[1] = (int)hi_len;
    q->format[0] = q->format[1] = 1;
}

/* Runs a query that is not one of the prepared statements (its shape
 * depends on its input) and returns rows: the result, or NULL (logged) on
 * failure. */
static PGresult *pg_run_params(struct pg_store *p, const char *what, const char *sql, int n,
                               const char *const *values, const int *lens, const int *formats)
{
    if (!pg_ready(p)) return NULL;
    if (!pq_PQsendQueryParams(p->conn, sql, n, NULL, values, lens, formats, 1)) {
        pg_lost(p);
        return NULL;
    }
    PGresult *r = pg_collect(p, loop_now_ms() + PG_ROUND_TRIP_MS);
    if (r && pq_PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_pg(LOG_LVL_ERROR, what, pq_PQresultErrorMessage(r), p);
        pq_PQclear(r);
        r = NULL;
    }
    return r;
}

static PGresult *pg_run_text(struct pg_store *p, struct need_query *q)
{
    return q->overflow ? NULL : pg_run_params(p, "filtered scan", q->sql, q->n, q->value, q->len_of, q->format);
}

/* The usable group with the fewest index entries in the subtree, when few
 * enough to sort (a lone equality serves however many); -1 when none, -2
 * when the database failed. */
static int pick_group_pg(struct pg_store *p, const struct store_need *need, const unsigned char *root,
                         size_t root_len, const unsigned char *hi)
{
    int best = -1;
    int64_t best_entries = 0;
    for (int g = 0; g < STORE_NEED_TERMS; g++) {
        int nterms = 0;
        bool usable = true, lone_eq = false;
        for (int i = 0; i < need->nterms; i++) {
            if (need->term[i].group != g) continue;
            usable = usable && pg_indexed(need->term[i].attr);
            lone_eq = ++nterms == 1 && need->term[i].eq;
        }
        if (!nterms || !usable) continue;
        struct need_query q;
        need_query_start(&q, root, root_len, hi, root_len + 1);
        need_sql(&q, "SELECT count(*) FROM (");
        group_keys_sql(&q, need, g);
        need_sql(&q, " LIMIT %d) k", PG_NEED_SORT_CAP);
        PGresult *r = pg_run_text(p, &q);
        if (!r) return -2;
        int64_t entries = pq_PQntuples(r) ? value_i64(r, 0, 0) : 0;
        pq_PQclear(r);
        if (entries >= PG_NEED_SORT_CAP && !lone_eq) continue;
        if (best < 0 || entries < best_entries) {
            best = g;
            best_entries = entries;
        }
    }
    return best;
}

int pg_store_scan_matching(struct pg_store *p, const char *path, int max_depth, int ty,
                           const struct store_need *need, store_visit_fn *visit, void *data)
{
    p->last_scan = (struct store_scan_stats){ 0 };
    for (int i = 0; i < need->nterms; i++)
        if (need->term[i].group < 0 || need->term[i].group >= STORE_NEED_TERMS) return RSC_NOT_IMPLEMENTED;
    unsigned char lo[SCAN_KEY_MAX], hi[SCAN_KEY_MAX];
    size_t root_len = 0;
    int found = scan_key_of(p, path, hi, &root_len);
    if (found < 0) return RSC_INTERNAL_SERVER_ERROR;
    if (!found) return RSC_NOT_IMPLEMENTED;   /* the plain scan says "nothing" */
    hi[root_len] = 0xFF;
    int group = need->nterms ? pick_group_pg(p, need, hi, root_len, hi) : -1;
    if (group == -2) return RSC_INTERNAL_SERVER_ERROR;
    if (group < 0) return RSC_NOT_IMPLEMENTED;
    memcpy(lo, hi, root_len);
    size_t lo_len = root_len;
    size_t deepest = seqkey_levels(hi, root_len) + (size_t)(max_depth > 0 ? max_depth : 0);
    int limit = PG_PAGE_FIRST, result = 0;
    for (;;) {
        /* A page of keys in pre-order, each with its row (the join keeps
         * the page's length: a key is never lost to the type test). */
        struct need_query q;
        need_query_start(&q, lo, lo_len, hi, root_len + 1);
        need_sql(&q, "SELECT r.seq, r.ty, r.path, r.body, m.sk FROM (");
        group_keys_sql(&q, need, group);
        snprintf(q.limit, sizeof q.limit, "%d", limit);
        need_sql(&q, " ORDER BY 1 LIMIT $%d) m LEFT JOIN resources r ON r.sk = m.sk ORDER BY m.sk",
                 need_param(&q, q.limit));
        PGresult *r = pg_run_text(p, &q);
        if (!r) return RSC_INTERNAL_SERVER_ERROR;
        int n = pq_PQntuples(r);
        for (int i = 0; i < n && !result; i++) {
            const unsigned char *key = (const unsigned char *)pq_PQgetvalue(r, i, 4);
            size_t key_len = (size_t)pq_PQgetlength(r, i, 4);
            if (key_len >= SCAN_KEY_MAX) { result = RSC_INTERNAL_SERVER_ERROR; break; }
            memcpy(lo, key, key_len);
            lo_len = key_len;
            if (pq_PQgetisnull(r, i, 0) || (max_depth > 0 && seqkey_levels(key, key_len) > deepest)) continue;
            p->last_scan.rows++;
            if (ty && value_i64(r, i, 1) != ty) continue;
            struct resource *res = row_resource(r, i);
            if (!res) { result = RSC_INTERNAL_SERVER_ERROR; break; }
            result = visit(res, data);
            resource_free(res);
        }
        pq_PQclear(r);
        if (result || n < limit) return result;
        if (limit < PG_PAGE_MAX) limit *= 4;
    }
}

/* --- bulk insertion (store import) ----------------------------------------- */

/* One row's parameters of the multi-row INSERT, in its column order. */
#define BULK_COLUMNS 8

struct bulk {
    size_t n;
    int64_t *seq;
    unsigned char (*key)[SCAN_KEY_MAX];
    size_t *key_len;
    char **body;
    char (*num)[2][24];
    const char **value;
    int *len, *format;
    char *sql;
};

static void bulk_free(struct bulk *b)
{
    for (size_t i = 0; b->body && i < b->n; i++) free(b->body[i]);
    free(b->seq); free(b->key); free(b->key_len); free(b->body); free(b->num);
    free(b->value); free(b->len); free(b->format); free(b->sql);
}

static bool bulk_alloc(struct bulk *b, size_t n)
{
    *b = (struct bulk){ .n = n };
    b->seq = calloc(n, sizeof *b->seq);
    b->key = calloc(n, sizeof *b->key);
    b->key_len = calloc(n, sizeof *b->key_len);
    b->body = calloc(n, sizeof *b->body);
    b->num = calloc(n, sizeof *b->num);
    b->value = calloc(n * BULK_COLUMNS, sizeof *b->value);
    b->len = calloc(n * BULK_COLUMNS, sizeof *b->len);
    b->format = calloc(n * BULK_COLUMNS, sizeof *b->format);
    b->sql = malloc(n * 64 + 128);
    return b->seq && b->key && b->key_len && b->body && b->num && b->value && b->len && b->format && b->sql;
}

/* Row i's scan key: its parent's and its seq. The parent's key is found
 * at the nearest earlier row of the batch that is the parent or a sibling
 * (in pre-order usually the row just before: a sibling's key less its own
 * last component), else read from the store (once a batch, for rows whose
 * parent came in an earlier one). */
static int bulk_key(struct pg_store *p, struct bulk *b, struct resource **res, size_t i)
{
    const char *pi = res_pi(res[i]) ? res_pi(res[i]) : "";
    size_t len = 0;
    bool found = !*pi;
    for (size_t j = i; !found && j-- > 0;) {
        const char *ri = res_ri(res[j]), *their_pi = res_pi(res[j]);
        if (ri && !strcmp(ri, pi)) len = b->key_len[j];
        else if (their_pi && !strcmp(their_pi, pi))
            len = seqkey_prefix(b->key[j], b->key_len[j], seqkey_levels(b->key[j], b->key_len[j]) - 1);
        else continue;
        memcpy(b->key[i], b->key[j], len);
        found = true;
    }
    if (!found) {
        struct pg_params q = { 0 };
        param_text(&q, pi);
        PGresult *r = pg_run(p, P_KEY_OF_RI, &q);
        if (!r) return RSC_INTERNAL_SERVER_ERROR;
        len = pq_PQntuples(r) ? (size_t)pq_PQgetlength(r, 0, 0) : 0;
        if (len < SCAN_KEY_MAX) memcpy(b->key[i], pq_PQgetvalue(r, 0, 0), len);
        pq_PQclear(r);
    }
    if (len + SEQKEY_MAX >= SCAN_KEY_MAX) return RSC_INTERNAL_SERVER_ERROR;
    b->key_len[i] = len + seqkey(b->seq[i], b->key[i] + len);
    return 0;
}

/* The multi-row INSERT's text and parameters. */
static int bulk_statement(struct bulk *b, struct resource **res)
{
    size_t at = (size_t)sprintf(b->sql, "INSERT INTO resources(seq, ri, path, pi, ty, et, body, sk) VALUES");
    for (size_t i = 0; i < b->n; i++) {
        size_t len;
        if (!(b->body[i] = json_text(res[i]->attrs, &len))) return RSC_INTERNAL_SERVER_ERROR;
        snprintf(b->num[i][0], sizeof b->num[i][0], "%lld", (long long)b->seq[i]);
        snprintf(b->num[i][1], sizeof b->num[i][1], "%d", res[i]->ty);
        const char *pi = res_pi(res[i]);
        const char *col[BULK_COLUMNS] = { b->num[i][0], res_ri(res[i]), res[i]->path, pi ? pi : "",
                                          b->num[i][1], res_str(res[i], "et"), b->body[i],
                                          (const char *)b->key[i] };
        size_t base = i * BULK_COLUMNS;
        for (int c = 0; c < BULK_COLUMNS; c++) {
            b->value[base + c] = col[c];
            b->len[base + c] = c == BULK_COLUMNS - 1 ? (int)b->key_len[i] : 0;
            b->format[base + c] = c == BULK_COLUMNS - 1;
        }
        at += (size_t)sprintf(b->sql + at, "%s($%zu,$%zu,$%zu,$%zu,$%zu,$%zu,$%zu,$%zu)", i ? "," : "",
                              base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7, base + 8);
    }
    strcpy(b->sql + at, " ON CONFLICT DO NOTHING RETURNING seq");
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Which row the INSERT skipped first (a taken path or ri), and why. */
static int bulk_refusal(struct pg_store *p, struct bulk *b, struct resource **res, PGresult *r, size_t *failed)
{
    int n = pq_PQntuples(r);
    int64_t *done = calloc((size_t)n + 1, sizeof *done);
    if (!done) return RSC_INTERNAL_SERVER_ERROR;
    for (int i = 0; i < n; i++) done[i] = value_i64(r, i, 0);
    qsort(done, (size_t)n, sizeof *done, cmp_i64);
    size_t i = 0;
    while (i < b->n && bsearch(&b->seq[i], done, (size_t)n, sizeof *done, cmp_i64)) i++;
    free(done);
    *failed = i;
    struct pg_params t = { 0 };
    param_text(&t, res[i]->path);
    PGresult *taken = pg_run(p, P_TAKEN_PATH, &t);
    int rc = !taken ? RSC_INTERNAL_SERVER_ERROR : pq_PQntuples(taken) ? RSC_CONFLICT : RSC_ALREADY_EXISTS;
    pq_PQclear(taken);
    return rc;
}

int pg_store_insert_many(struct pg_store *p, struct resource **res, size_t n, size_t *failed)
{
    *failed = 0;
    if (!n) return 0;
    if (n > STORE_INSERT_MANY_MAX) return RSC_INTERNAL_SERVER_ERROR;
    p->generation++;
    struct bulk b;
    int rc = bulk_alloc(&b, n) ? 0 : RSC_INTERNAL_SERVER_ERROR;
    struct pg_params q = { 0 };
    param_int(&q, (int64_t)n);
    PGresult *r = rc ? NULL : pg_run(p, P_NEXT_SEQS, &q);
    if (!rc && (!r || pq_PQntuples(r) != (int)n)) rc = RSC_INTERNAL_SERVER_ERROR;
    for (size_t i = 0; !rc && i < n; i++) b.seq[i] = value_i64(r, (int)i, 0);
    pq_PQclear(r);
    for (size_t i = 0; !rc && i < n; i++)
        if ((rc = bulk_key(p, &b, res, i))) *failed = i;
    if (!rc) rc = bulk_statement(&b, res);
    r = rc ? NULL : pg_run_params(p, "bulk insert", b.sql, (int)(n * BULK_COLUMNS), b.value, b.len, b.format);
    if (!rc && !r) rc = RSC_INTERNAL_SERVER_ERROR;
    if (!rc && pq_PQntuples(r) != (int)n) rc = bulk_refusal(p, &b, res, r, failed);
    for (size_t i = 0; !rc && i < n; i++) res[i]->seq = b.seq[i];
    pq_PQclear(r);
    bulk_free(&b);
    return rc;
}

/* No statement counters on this side of the wire: rows and seeks only. */
void pg_store_last_scan(const struct pg_store *p, struct store_scan_stats *out) { *out = p->last_scan; }

int pg_store_edge_child(struct pg_store *p, const char *pi, int ty, bool newest, struct resource **out)
{
    struct pg_params q = { 0 };
    param_text(&q, pi);
    param_int(&q, ty);
    return fetch_one(p, newest ? P_NEWEST : P_OLDEST, &q, out);
}

int pg_store_edge_child_at(struct pg_store *p, const char *parent_path, int parent_ty, int child_ty,
                           bool newest, struct resource **out)
{
    struct pg_params q = { 0 };
    param_text(&q, parent_path);
    param_int(&q, parent_ty);
    param_int(&q, child_ty);
    return fetch_one(p, newest ? P_NEWEST_AT : P_OLDEST_AT, &q, out);
}

int pg_store_count_children(struct pg_store *p, const char *pi, int ty, int64_t *count)
{
    struct pg_params q = { 0 };
    param_text(&q, pi);
    if (ty) param_int(&q, ty);
    PGresult *r = pg_run(p, ty ? P_COUNT_TY : P_COUNT, &q);
    if (!r) return RSC_INTERNAL_SERVER_ERROR;
    *count = pq_PQntuples(r) ? value_i64(r, 0, 0) : 0;
    pq_PQclear(r);
    return 0;
}

int pg_store_expired(struct pg_store *p, const char *now_ts, store_visit_fn *visit, void *data)
{
    struct pg_params q = { 0 };
    param_text(&q, now_ts);
    PGresult *r = pg_run(p, P_EXPIRED, &q);
    if (!r) return RSC_INTERNAL_SERVER_ERROR;
    int result = 0, n = pq_PQntuples(r);
    for (int i = 0; i < n && !result; i++) {
        struct resource *res = row_resource(r, i);
        if (!res) { result = RSC_INTERNAL_SERVER_ERROR; break; }
        result = visit(res, data);
        resource_free(res);
    }
    pq_PQclear(r);
    return result;
}

int pg_store_next_expiry(struct pg_store *p, char ts[23])
{
    ts[0] = 0;
    PGresult *r = pg_run(p, P_NEXT_EXPIRY, NULL);
    if (!r) return RSC_INTERNAL_SERVER_ERROR;
    if (pq_PQntuples(r) && !pq_PQgetisnull(r, 0, 0)) snprintf(ts, 23, "%s", pq_PQgetvalue(r, 0, 0));
    pq_PQclear(r);
    return 0;
}

/* --- requests queued at polling channels ----------------------------------- */

/* The rows of a pch statement (rqp only) to fn: how many, -1 on failure. */
static int pch_rows(struct pg_store *p, enum pg_stmt id, const char *pch, int64_t n, store_pch_fn *fn, void *data)
{
    struct pg_params q = { 0 };
    param_text(&q, pch);
    param_int(&q, n);
    PGresult *r = pg_run(p, id, &q);
    if (!r) return -1;
    int rows = pq_PQntuples(r);
    for (int i = 0; i < rows; i++) fn(pq_PQgetvalue(r, i, 0), data);
    pq_PQclear(r);
    return rows;
}

int pg_store_pch_put(struct pg_store *p, const char *pch, const char *rqi, const char *rqp, int64_t timeout_ms,
                     int max, store_pch_fn *dropped, void *data)
{
    struct pg_params q = { 0 };
    param_text(&q, pch);
    param_text(&q, rqp);
    param_int(&q, timeout_ms);
    param_text(&q, rqi);
    PGresult *r = pg_run(p, P_PCH_PUT, &q);
    bool put = r != NULL;
    pq_PQclear(r);
    if (!put || pch_rows(p, P_PCH_TRIM, pch, max, dropped, data) < 0) return RSC_INTERNAL_SERVER_ERROR;
    return 0;
}

int pg_store_pch_take(struct pg_store *p, const char *pch, int max, store_pch_fn *fn, void *data)
{
    return pch_rows(p, P_PCH_TAKE, pch, max, fn, data);
}

int pg_store_pch_answer(struct pg_store *p, const char *pch, const char *rqi, const char *rsp)
{
    bool row = strlen(pch) + strlen(rsp) + 1 > PG_NOTICE_MAX;
    if (row && strlen(pch) + strlen(rqi) + 24 > PG_NOTICE_MAX) return RSC_BAD_REQUEST;
    struct pg_params q = { 0 };
    param_text(&q, pch);
    param_text(&q, rqi);
    param_text(&q, rsp);
    if (row) param_int(&q, PG_PCH_ANSWER_KEEP_MS);
    PGresult *r = pg_run(p, row ? P_PCH_ANSWER_ROW : P_PCH_ANSWER, &q);
    if (!r) return RSC_INTERNAL_SERVER_ERROR;
    int rc = pq_PQntuples(r) ? 0 : RSC_NOT_FOUND;
    pq_PQclear(r);
    return rc;
}

int pg_store_pch_end(struct pg_store *p, const char *pch, const char *rqi)
{
    struct pg_params q = { 0 };
    param_text(&q, pch);
    param_text(&q, rqi);
    PGresult *r = pg_run(p, P_PCH_END, &q);
    if (!r) return RSC_INTERNAL_SERVER_ERROR;
    int rc = pq_PQntuples(r) ? 0 : RSC_NOT_FOUND;
    pq_PQclear(r);
    return rc;
}

int pg_store_pch_answer_take(struct pg_store *p, int64_t id, char **rsp)
{
    *rsp = NULL;
    struct pg_params q = { 0 };
    param_int(&q, id);
    PGresult *r = pg_run(p, P_PCH_ANSWER_TAKE, &q);
    if (!r) return RSC_INTERNAL_SERVER_ERROR;
    int rc = pq_PQntuples(r) ? 0 : RSC_NOT_FOUND;
    if (!rc && !(*rsp = strdup(pq_PQgetvalue(r, 0, 0)))) rc = RSC_INTERNAL_SERVER_ERROR;
    pq_PQclear(r);
    return rc;
}

/* --- the change feed ------------------------------------------------------- */

int pg_store_change_fd(const struct pg_store *p)
{
    return p->conn && pq_PQstatus(p->conn) == CONNECTION_OK ? pq_PQsocket(p->conn) : -1;
}

uint64_t pg_store_connections(const struct pg_store *p) { return p->connections; }

/* One notice's payload [op, ty, ri, pi, path, et] to fn; false when it is
 * not one (then skipped). */
static bool report_notice(const char *payload, store_change_fn *fn, void *data)
{
    json_t *v = json_loads(payload, 0, NULL);
    const char *op = json_string_value(json_array_get(v, 0));
    bool ok = op && strchr("cud", *op) && *op && json_array_size(v) == 6;
    if (ok) {
        struct store_change c = {
            .op = (enum store_change_op)*op,
            .ty = (int)json_integer_value(json_array_get(v, 1)),
            .ri = json_string_value(json_array_get(v, 2)),
            .pi = json_string_value(json_array_get(v, 3)),
            .path = json_string_value(json_array_get(v, 4)),
            .et = json_string_value(json_array_get(v, 5)),
        };
        ok = c.ri && c.pi && c.path;
        if (ok && fn) fn(&c, data);
    }
    json_decref(v);
    return ok;
}

/* The notices libpq has already read off the socket, reported without a
 * system call (PQnotifies only parses its input buffer). */
static int report_buffered(struct pg_store *p, store_change_fn *fn, void *data)
{
    int count = 0;
    if (p->resync_pending) {
        /* Notices sent while this front-end was away are gone: everything
         * may have changed. */
        p->resync_pending = false;
        struct store_change c = { .op = STORE_CHANGE_RESYNC, .ri = "", .pi = "", .path = "" };
        if (fn) fn(&c, data);
        count++;
    }
    int own = pq_PQbackendPID(p->conn);
    for (PGnotify *n; (n = pq_PQnotifies(p->conn)); pq_PQfreemem(n)) {
        if (n->be_pid == own) continue;
        if (!strcmp(n->relname, PG_PCH_CHANNEL)) {
            struct store_change c = { .op = STORE_CHANGE_PCH_QUEUED, .ri = n->extra, .pi = "", .path = "" };
            if (fn) fn(&c, data);
            count++;
        } else if (!strcmp(n->relname, PG_PCH_ANSWER_CHANNEL)) {
            char *nl = strchr(n->extra, '\n');
            if (!nl) continue;
            *nl = 0;
            struct store_change c = { .op = STORE_CHANGE_PCH_ANSWERED, .ri = n->extra, .pi = "", .path = "",
                                      .body = nl + 1 };
            if (fn) fn(&c, data);
            count++;
        } else if (report_notice(n->extra, fn, data)) {
            count++;
        }
    }
    if (count) p->generation++;
    return count;
}

int pg_store_poll_changes(struct pg_store *p, store_change_fn *fn, void *data)
{
    /* A fiber's answer is on its way over the same socket: it reads that
     * (and any notices with it); the next round polls again. */
    if (fiber_lock_busy(&p->lock)) return 0;
    if (!p->in_batch && !p->tx_open && !pg_ready(p)) return -1;
    if (!p->conn) return -1;
    if (!pq_PQconsumeInput(p->conn)) {
        pg_lost(p);
        return -1;
    }
    return report_buffered(p, fn, data);
}

/* Whatever is still on the socket is read by the fiber that waits on it or
 * by pg_idle_input, and reported at the next poll. */
int pg_store_poll_buffered_changes(struct pg_store *p, store_change_fn *fn, void *data)
{
    if (fiber_lock_busy(&p->lock) || !p->conn || pq_PQstatus(p->conn) != CONNECTION_OK) return 0;
    return report_buffered(p, fn, data);
}
