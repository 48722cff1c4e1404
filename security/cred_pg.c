#include "cred_pg.h"

#include "hex.h"
#include "../cse/base/clock.h"
#include "../cse/base/fiber.h"
#include "../cse/base/loop.h"
#include "../cse/base/log.h"
#include "../cse/store/pq_lib.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bounds: a connection attempt, a statement on the server, a round trip
 * with no answer at all (the statement's bound and some); reconnection
 * back-off while the database is away (as the resource store's), and how
 * often a front-end that follows the changes tries again. */
#define CONNECT_S "3"
#define CONNECT_MS 3000
#define STATEMENT_MS "10000"
#define ROUND_TRIP_MS 12000
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define RETRY_MS 1000

const char *const cred_table_name[CRED_T_COUNT] = { "psk", "esprim_key", "lease" };

/* Tables beside the resource store's, prefixed cred_. The trigger sends
 * each committed key row whole ([table, op, row], the key sealed, as bytea
 * hex), so a front-end follows it without a query; a CA's PEM may pass the
 * 8000-byte limit of a notice, so a CA change sends its name and the CAs
 * are read again when next wanted. The advisory lock keeps front-ends that
 * start together from racing on CREATE. */
static const char schema_sql[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(1919191920);"
    "CREATE TABLE IF NOT EXISTS cred_psk(identity text COLLATE \"C\" PRIMARY KEY, key bytea NOT NULL,"
    " originators text NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cred_esprim_key(identity text COLLATE \"C\" PRIMARY KEY, key bytea NOT NULL,"
    " originators text NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cred_lease(identity text COLLATE \"C\" PRIMARY KEY, key bytea NOT NULL,"
    " originators text NOT NULL, until_us bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cred_trusted_ca(name text PRIMARY KEY, pem text NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cred_console_code(code text PRIMARY KEY, originator text NOT NULL,"
    " until_us bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cred_meta(name text PRIMARY KEY, value text NOT NULL);"
    "CREATE OR REPLACE FUNCTION ironbark_cred_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE r json;"
    " BEGIN"
    "  IF TG_OP = 'DELETE' THEN r := to_json(OLD); ELSE r := to_json(NEW); END IF;"
    "  IF TG_TABLE_NAME = 'cred_trusted_ca' THEN r := json_build_object('name', r->'name'); END IF;"
    "  PERFORM pg_notify('" CRED_PG_CHANNEL "', json_build_array(TG_TABLE_NAME, TG_OP, r)::text);"
    "  RETURN NULL;"
    " END $$;"
    "CREATE OR REPLACE TRIGGER cred_psk_changes AFTER INSERT OR UPDATE OR DELETE ON cred_psk"
    " FOR EACH ROW EXECUTE FUNCTION ironbark_cred_notify();"
    "CREATE OR REPLACE TRIGGER cred_esprim_key_changes AFTER INSERT OR UPDATE OR DELETE ON cred_esprim_key"
    " FOR EACH ROW EXECUTE FUNCTION ironbark_cred_notify();"
    "CREATE OR REPLACE TRIGGER cred_lease_changes AFTER INSERT OR UPDATE OR DELETE ON cred_lease"
    " FOR EACH ROW EXECUTE FUNCTION ironbark_cred_notify();"
    "CREATE OR REPLACE TRIGGER cred_trusted_ca_changes AFTER INSERT OR UPDATE OR DELETE ON cred_trusted_ca"
    " FOR EACH ROW EXECUTE FUNCTION ironbark_cred_notify();"
    "COMMIT;"
    "LISTEN " CRED_PG_CHANNEL ";";

/* A table's rows, sorted by identity (handshakes bsearch them). */
struct mirror {
    struct cred_row *rows;
    size_t n, cap;
};

struct ca {
    char *name, *pem;
};

/* Waiting: every statement goes through run() on a non-blocking connection
 * and waits in pq_wait(): inside a fiber it yields to the event loop, so a
 * front-end that follows the changes (cred_pg_follow) does its writes, its
 * reconnection and its CA reads in fibers and the loop never waits on this
 * socket; elsewhere (start-up, `m2m-cse credentials`) it polls, bounded.
 * One fiber at a time owns the connection (lock). */
struct cred_pg {
    PGconn *conn;              /* NULL while the database is away */
    struct fiber_lock lock;    /* the fiber whose statements the connection carries */
    struct fiber_fd watch;     /* the socket, registered with the loop while following */
    struct loop *loop;         /* while following (cred_pg_follow) */
    cred_pg_gone_fn *gone;
    void *gone_arg;
    int64_t retry_timer;
    bool connecting;           /* a fiber is making the connection */
    bool loading_cas;          /* a fiber is reading the CAs */
    char *uri;
    struct mirror table[CRED_T_COUNT];
    struct ca *cas;
    size_t ncas;
    bool cas_stale;            /* a CA changed elsewhere: read them again */
    unsigned ca_generation;    /* moves with every CA change seen */
    int64_t retry_at_ms;
    uint64_t blocking_waits;   /* round trips waited for outside a fiber */
    int backoff_ms;
    bool away_logged;
    bool ran;                  /* a statement ran: libpq may hold notices it read meanwhile */
};

/* --- the mirror --------------------------------------------------------- */

static int by_identity(const void *key, const void *row)
{
    return strcmp(key, ((const struct cred_row *)row)->identity);
}

/* Where identity is, or would be inserted; *found tells which. */
static size_t mirror_slot(const struct mirror *m, const char *identity, bool *found)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = by_identity(identity, &m->rows[mid]);
        if (!c) { *found = true; return mid; }
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    *found = false;
    return lo;
}

static int mirror_put(struct mirror *m, const struct cred_row *row)
{
    bool found;
    size_t i = mirror_slot(m, row->identity, &found);
    if (!found) {
        if (m->n == m->cap) {
            size_t cap = m->cap ? 2 * m->cap : 16;
            struct cred_row *more = realloc(m->rows, cap * sizeof *more);
            if (!more) return -1;
            m->rows = more;
            m->cap = cap;
        }
        memmove(&m->rows[i + 1], &m->rows[i], (m->n - i) * sizeof *m->rows);
        m->n++;
    }
    m->rows[i] = *row;
    return 0;
}

/* True when identity was there. */
static bool mirror_remove(struct mirror *m, const char *identity)
{
    bool found;
    size_t i = mirror_slot(m, identity, &found);
    if (!found) return false;
    memmove(&m->rows[i], &m->rows[i + 1], (m->n - i - 1) * sizeof *m->rows);
    m->n--;
    explicit_bzero(&m->rows[m->n], sizeof *m->rows);
    return true;
}

static void mirror_free(struct mirror *m)
{
    if (m->rows) explicit_bzero(m->rows, m->cap * sizeof *m->rows);
    free(m->rows);
    memset(m, 0, sizeof *m);
}

static void cas_free(struct cred_pg *pg)
{
    for (size_t i = 0; i < pg->ncas; i++) {
        free(pg->cas[i].name);
        free(pg->cas[i].pem);
    }
    free(pg->cas);
    pg->cas = NULL;
    pg->ncas = 0;
}

/* The CA list as this front-end changed it: no round trip to read it back. */
static int cas_put(struct cred_pg *pg, const char *name, const char *pem)
{
    size_t i = 0;
    while (i < pg->ncas && strcmp(pg->cas[i].name, name)) i++;
    char *copy = strdup(pem);
    if (!copy) return -1;
    if (i < pg->ncas) {
        free(pg->cas[i].pem);
        pg->cas[i].pem = copy;
        return 0;
    }
    struct ca *more = realloc(pg->cas, (pg->ncas + 1) * sizeof *more);
    char *n = more ? strdup(name) : NULL;
    if (more) pg->cas = more;
    if (!n) {
        free(copy);
        return -1;
    }
    pg->cas[pg->ncas++] = (struct ca){ n, copy };
    return 0;
}

static void cas_remove(struct cred_pg *pg, const char *name)
{
    for (size_t i = 0; i < pg->ncas; i++) {
        if (strcmp(pg->cas[i].name, name)) continue;
        free(pg->cas[i].name);
        free(pg->cas[i].pem);
        pg->cas[i] = pg->cas[--pg->ncas];
        return;
    }
}

/* A lease counts until its end; an ended one is as good as gone. */
static bool row_live(enum cred_table t, const struct cred_row *r)
{
    return t != CRED_T_LEASE || r->until_us > clock_now_us();
}

/* --- statements ------------------------------------------------------------ */

static void log_pg(const char *what, const char *msg)
{
    char buf[400];
    snprintf(buf, sizeof buf, "%s", msg ? msg : "");
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    log_error("credentials: %s: %s", what, buf);
}

static void arm_retry(struct cred_pg *pg);

static void drop_connection(struct cred_pg *pg)
{
    if (!pg->conn) return;
    fiber_fd_forget(&pg->watch);
    pq_PQfinish(pg->conn);
    pg->conn = NULL;
    pg->retry_at_ms = loop_now_ms();
    arm_retry(pg);
}

/* Runs one statement with text parameters: its result, or NULL (logged;
 * a broken connection is dropped, to be made again by cred_pg_poll). A
 * fiber holds the connection until it ends; the main context lets a fiber
 * that holds it finish first (blocking: start-up and the admin command,
 * where no fiber runs; counted in blocking_waits, docs/scale-out.md). */
static PGresult *run(struct cred_pg *pg, const char *sql, int n, const char *const *params)
{
    if (!fiber_lock_acquire(&pg->lock)) return NULL;   /* cancelled while it queued */
    if (!pg->conn) {
        log_error("credentials: the database is unreachable");
        return NULL;
    }
    PGresult *r = pq_PQsendQueryParams(pg->conn, sql, n, NULL, params, NULL, NULL, 0)
                      ? pq_collect(&pg->watch, pg->conn, loop_now_ms() + ROUND_TRIP_MS, &pg->blocking_waits) : NULL;
    pg->ran = true;
    if (!r) {
        log_pg("the database connection failed under a statement", pq_PQerrorMessage(pg->conn));
        drop_connection(pg);
        return NULL;
    }
    ExecStatusType st = pq_PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    log_pg("the database refused a statement", pq_PQresultErrorMessage(r));
    pq_PQclear(r);
    return NULL;
}

static int run_command(struct cred_pg *pg, const char *sql, int n, const char *const *params)
{
    PGresult *r = run(pg, sql, n, params);
    pq_PQclear(r);
    return r ? 0 : -1;
}

/* A row from (identity, key as bytea hex "\x…", originators[, until_us]). */
static int row_from_text(const char *identity, const char *key_hex, const char *originators, const char *until,
                         struct cred_row *out)
{
    memset(out, 0, sizeof *out);
    if (!identity || !key_hex || !originators || strncmp(key_hex, "\\x", 2) ||
        strlen(identity) >= sizeof out->identity || strlen(originators) >= sizeof out->originators)
        return -1;
    int n = hex_decode(key_hex + 2, out->sealed, sizeof out->sealed);
    if (n <= 0) return -1;
    out->sealed_len = (size_t)n;
    snprintf(out->identity, sizeof out->identity, "%s", identity);
    snprintf(out->originators, sizeof out->originators, "%s", originators);
    out->until_us = until ? strtoll(until, NULL, 10) : 0;
    return 0;
}

/* Reads table t whole into m. */
static int load_table(struct cred_pg *pg, enum cred_table t, struct mirror *m)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT identity, key, originators%s FROM cred_%s ORDER BY identity",
             t == CRED_T_LEASE ? ", until_us" : "", cred_table_name[t]);
    PGresult *r = run(pg, sql, 0, NULL);
    if (!r) return -1;
    int rc = 0;
    for (int i = 0; !rc && i < pq_PQntuples(r); i++) {
        struct cred_row row;
        rc = row_from_text(pq_PQgetvalue(r, i, 0), pq_PQgetvalue(r, i, 1), pq_PQgetvalue(r, i, 2),
                           t == CRED_T_LEASE ? pq_PQgetvalue(r, i, 3) : NULL, &row);
        if (rc) log_error("credentials: a malformed %s row in the database", cred_table_name[t]);
        else if (row_live(t, &row)) rc = mirror_put(m, &row);
        explicit_bzero(&row, sizeof row);
    }
    pq_PQclear(r);
    return rc;
}

/* Reads the CAs whole. A CA change noticed while the answer is on its way
 * marks them stale again: read once more after this. */
static int load_cas(struct cred_pg *pg)
{
    pg->cas_stale = false;
    PGresult *r = run(pg, "SELECT name, pem FROM cred_trusted_ca ORDER BY name", 0, NULL);
    if (!r) {
        pg->cas_stale = true;
        return -1;
    }
    cas_free(pg);
    int n = pq_PQntuples(r);
    pg->cas = calloc((size_t)n + 1, sizeof *pg->cas);
    for (int i = 0; pg->cas && i < n; i++) {
        pg->cas[i].name = strdup(pq_PQgetvalue(r, i, 0));
        pg->cas[i].pem = strdup(pq_PQgetvalue(r, i, 1));
        pg->ncas++;
    }
    pq_PQclear(r);
    pg->cas_stale |= !pg->cas;
    return pg->cas ? 0 : -1;
}

/* Replaces the mirror with the database's rows; gone is told of the key
 * rows that were here and are not any more (removed while the notices
 * could not reach us). */
static int reload(struct cred_pg *pg, cred_pg_gone_fn *gone, void *arg)
{
    struct mirror fresh[CRED_T_COUNT] = { 0 };
    int rc = 0;
    for (int t = 0; !rc && t < CRED_T_COUNT; t++) rc = load_table(pg, (enum cred_table)t, &fresh[t]);
    if (!rc) rc = load_cas(pg);
    pg->ca_generation++;       /* the CAs may have changed meanwhile */
    if (rc) {
        for (int t = 0; t < CRED_T_COUNT; t++) mirror_free(&fresh[t]);
        return -1;
    }
    for (int t = 0; t < CRED_T_COUNT; t++) {
        struct mirror *old = &pg->table[t];
        for (size_t i = 0; gone && i < old->n; i++) {
            bool found;
            mirror_slot(&fresh[t], old->rows[i].identity, &found);
            if (!found && row_live((enum cred_table)t, &old->rows[i])) gone(arg, (enum cred_table)t, old->rows[i].identity);
        }
        mirror_free(old);
        *old = fresh[t];
    }
    return 0;
}

/* One bounded connection attempt (when the back-off allows): schema,
 * LISTEN. Non-blocking libpq: in a fiber every wait yields. */
static bool connect_db(struct cred_pg *pg, char *err, size_t errlen)
{
    if (loop_now_ms() < pg->retry_at_ms) {
        snprintf(err, errlen, "the database is unreachable");
        return false;
    }
    const char *keys[PQ_PARAMS], *values[PQ_PARAMS];
    pq_connect_params(keys, values, CONNECT_S, "-c statement_timeout=" STATEMENT_MS " -c client_min_messages=warning",
                      "ironbark-credentials", pg->uri);
    pg->conn = pq_PQconnectStartParams(keys, values, 1);
    bool ok = pq_connect_wait(&pg->watch, pg->conn, loop_now_ms() + CONNECT_MS, &pg->blocking_waits) &&
              pq_PQsetnonblocking(pg->conn, 1) == 0 && pq_PQsendQuery(pg->conn, schema_sql);
    PGresult *r = ok ? pq_collect(&pg->watch, pg->conn, loop_now_ms() + ROUND_TRIP_MS, &pg->blocking_waits) : NULL;
    ok = r && pq_PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", r ? pq_PQresultErrorMessage(r) : pg->conn ? pq_PQerrorMessage(pg->conn) : "no memory");
        msg[strcspn(msg, "\n")] = 0;
        snprintf(err, errlen, "cannot use the database: %s", msg);
        pq_PQclear(r);
        fiber_fd_forget(&pg->watch);
        pq_PQfinish(pg->conn);
        pg->conn = NULL;
        pg->retry_at_ms = loop_now_ms() + pg->backoff_ms;
        pg->backoff_ms = pg->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : pg->backoff_ms * 2;
        return false;
    }
    pq_PQclear(r);
    pg->backoff_ms = BACKOFF_FIRST_MS;
    return true;
}

struct cred_pg *cred_pg_open(const char *uri, char *err, size_t errlen)
{
    if (!pq_load("credentials")) {
        snprintf(err, errlen, "libpq is not installed");
        return NULL;
    }
    struct cred_pg *pg = calloc(1, sizeof *pg);
    if (!pg || !(pg->uri = strdup(uri))) {
        free(pg);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pg->backoff_ms = BACKOFF_FIRST_MS;
    if (!connect_db(pg, err, errlen)) {
        cred_pg_close(pg);
        return NULL;
    }
    if (reload(pg, NULL, NULL)) {
        snprintf(err, errlen, "cannot read the credentials from the database");
        cred_pg_close(pg);
        return NULL;
    }
    return pg;
}

void cred_pg_close(struct cred_pg *pg)
{
    if (!pg) return;
    cred_pg_unfollow(pg);
    fiber_lock_drain(&pg->lock);
    fiber_fd_forget(&pg->watch);
    if (pg->conn) pq_PQfinish(pg->conn);
    for (int t = 0; t < CRED_T_COUNT; t++) mirror_free(&pg->table[t]);
    cas_free(pg);
    free(pg->uri);
    free(pg);
}

/* --- keys --------------------------------------------------------------------- */

const struct cred_row *cred_pg_find(struct cred_pg *pg, enum cred_table t, const char *identity)
{
    bool found;
    size_t i = mirror_slot(&pg->table[t], identity, &found);
    return found && row_live(t, &pg->table[t].rows[i]) ? &pg->table[t].rows[i] : NULL;
}

int cred_pg_each(struct cred_pg *pg, enum cred_table t, int (*fn)(void *arg, const struct cred_row *row), void *arg)
{
    int rc = 0;
    struct cred_row row;
    /* A copy each: fn may change the table (a withdrawn lease). */
    for (size_t i = 0; !rc && i < pg->table[t].n; i++) {
        row = pg->table[t].rows[i];
        if (row_live(t, &row)) rc = fn(arg, &row);
    }
    explicit_bzero(&row, sizeof row);
    return rc;
}

int cred_pg_put(struct cred_pg *pg, enum cred_table t, const struct cred_row *row)
{
    char hex[2 + 2 * CRED_SEALED_MAX + 1] = "\\x", until[24];
    hex_encode(row->sealed, row->sealed_len, hex + 2);
    snprintf(until, sizeof until, "%lld", (long long)row->until_us);
    char sql[256];
    if (t == CRED_T_LEASE) {
        /* Ended leases go with the next one lent. */
        char now_us[24];
        snprintf(now_us, sizeof now_us, "%lld", (long long)clock_now_us());
        const char *now[] = { now_us };
        run_command(pg, "DELETE FROM cred_lease WHERE until_us <= $1::bigint", 1, now);
        snprintf(sql, sizeof sql, "INSERT INTO cred_lease(identity, key, originators, until_us)"
                 " VALUES ($1, $2::bytea, $3, $4::bigint) ON CONFLICT (identity) DO UPDATE"
                 " SET key = EXCLUDED.key, originators = EXCLUDED.originators, until_us = EXCLUDED.until_us");
    } else {
        snprintf(sql, sizeof sql, "INSERT INTO cred_%s(identity, key, originators) VALUES ($1, $2::bytea, $3)"
                 " ON CONFLICT (identity) DO UPDATE SET key = EXCLUDED.key, originators = EXCLUDED.originators",
                 cred_table_name[t]);
    }
    const char *params[] = { row->identity, hex, row->originators, until };
    int rc = run_command(pg, sql, t == CRED_T_LEASE ? 4 : 3, params);
    explicit_bzero(hex, sizeof hex);
    return rc ? -1 : mirror_put(&pg->table[t], row);
}

int cred_pg_remove(struct cred_pg *pg, enum cred_table t, const char *identity)
{
    char sql[96];
    snprintf(sql, sizeof sql, "DELETE FROM cred_%s WHERE identity = $1", cred_table_name[t]);
    const char *params[] = { identity };
    PGresult *r = run(pg, sql, 1, params);
    if (!r) return -1;
    bool removed = strcmp(pq_PQcmdTuples(r), "0") != 0;
    pq_PQclear(r);
    removed |= mirror_remove(&pg->table[t], identity);
    return removed ? 0 : 1;
}

/* --- CAs, console codes, meta ------------------------------------------------- */

int cred_pg_put_ca(struct cred_pg *pg, const char *name, const char *pem)
{
    const char *params[] = { name, pem };
    if (run_command(pg, "INSERT INTO cred_trusted_ca(name, pem) VALUES ($1, $2)"
                        " ON CONFLICT (name) DO UPDATE SET pem = EXCLUDED.pem", 2, params))
        return -1;
    if (cas_put(pg, name, pem)) pg->cas_stale = true;
    pg->ca_generation++;
    return 0;
}

int cred_pg_remove_ca(struct cred_pg *pg, const char *name)
{
    const char *params[] = { name };
    PGresult *r = run(pg, "DELETE FROM cred_trusted_ca WHERE name = $1", 1, params);
    if (!r) return -1;
    bool removed = strcmp(pq_PQcmdTuples(r), "0") != 0;
    pq_PQclear(r);
    cas_remove(pg, name);
    pg->ca_generation++;
    return removed ? 0 : 1;
}

unsigned cred_pg_ca_generation(const struct cred_pg *pg)
{
    return pg->ca_generation;
}

int cred_pg_each_ca(struct cred_pg *pg, int (*fn)(void *arg, const char *name, const char *pem), void *arg)
{
    /* Following: a fiber reads them (cred_pg_poll); the loop never waits. */
    if (pg->cas_stale && !pg->loop && load_cas(pg)) return -1;
    int rc = 0;
    for (size_t i = 0; !rc && i < pg->ncas; i++) rc = fn(arg, pg->cas[i].name, pg->cas[i].pem);
    return rc;
}

int cred_pg_put_login_code(struct cred_pg *pg, const char *code, const char *originator, int64_t now_us,
                           int64_t until_us)
{
    char until[24], now[24];
    snprintf(until, sizeof until, "%lld", (long long)until_us);
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    const char *old[] = { now };
    run_command(pg, "DELETE FROM cred_console_code WHERE until_us <= $1::bigint", 1, old);
    const char *params[] = { code, originator, until };
    return run_command(pg, "INSERT INTO cred_console_code(code, originator, until_us) VALUES ($1, $2, $3::bigint)",
                       3, params);
}

int cred_pg_take_login_code(struct cred_pg *pg, const char *code, int64_t now_us, char *originator, size_t cap)
{
    const char *params[] = { code };
    PGresult *r = run(pg, "DELETE FROM cred_console_code WHERE code = $1 RETURNING originator, until_us", 1, params);
    if (!r) return -1;
    int found = 1;
    if (pq_PQntuples(r) > 0 && strtoll(pq_PQgetvalue(r, 0, 1), NULL, 10) > now_us) {
        snprintf(originator, cap, "%s", pq_PQgetvalue(r, 0, 0));
        found = 0;
    }
    pq_PQclear(r);
    return found;
}

int cred_pg_meta_claim(struct cred_pg *pg, const char *name, const char *value, char *out, size_t cap)
{
    const char *params[] = { name, value };
    int rc = -1;
    /* A second try: a row another front-end committed while our insert
     * waited for it is not in that statement's snapshot. */
    for (int attempt = 0; rc && attempt < 2; attempt++) {
        PGresult *r = run(pg, "WITH ins AS (INSERT INTO cred_meta(name, value) VALUES ($1, $2)"
                              " ON CONFLICT (name) DO NOTHING RETURNING value)"
                              " SELECT value FROM ins UNION ALL SELECT value FROM cred_meta WHERE name = $1",
                          2, params);
        if (!r) return -1;
        rc = pq_PQntuples(r) > 0 ? 0 : -1;
        if (!rc) snprintf(out, cap, "%s", pq_PQgetvalue(r, 0, 0));
        pq_PQclear(r);
    }
    if (rc) log_error("credentials: the database keeps no '%s' row", name);
    return rc;
}

/* --- following the others ------------------------------------------------------ */

uint64_t cred_pg_waits_outside_fiber(const struct cred_pg *pg) { return pg->blocking_waits; }

bool cred_pg_waiting(const struct cred_pg *pg)
{
    return pg->ran && pg->conn;
}

static const char *json_text(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

/* One notice: [table, op, row]. */
static int apply(struct cred_pg *pg, const char *payload)
{
    json_t *n = json_loads(payload, 0, NULL);
    const char *table = json_string_value(json_array_get(n, 0)), *op = json_string_value(json_array_get(n, 1));
    const json_t *obj = json_array_get(n, 2);
    int rc = -1;
    if (table && op && json_is_object(obj) && !strncmp(table, "cred_", 5)) {
        if (!strcmp(table, "cred_trusted_ca")) {
            pg->cas_stale = true;  /* the generation moves once they are read */
            rc = 0;
        }
        for (int t = 0; rc && t < CRED_T_COUNT; t++) {
            if (strcmp(table + 5, cred_table_name[t])) continue;
            const char *identity = json_text(obj, "identity");
            if (!identity) break;
            if (!strcmp(op, "DELETE")) {
                const struct cred_row *was = cred_pg_find(pg, (enum cred_table)t, identity);
                char id[CRED_ID_MAX];
                snprintf(id, sizeof id, "%s", identity);
                bool live = was != NULL;
                mirror_remove(&pg->table[t], id);
                if (live && pg->gone) pg->gone(pg->gone_arg, (enum cred_table)t, id);
                rc = 0;
                break;
            }
            char until[24];
            json_t *u = json_object_get(obj, "until_us");
            snprintf(until, sizeof until, "%lld", json_is_integer(u) ? (long long)json_integer_value(u) : 0LL);
            struct cred_row row;
            rc = row_from_text(identity, json_text(obj, "key"), json_text(obj, "originators"), until, &row);
            if (!rc) rc = mirror_put(&pg->table[t], &row);
            explicit_bzero(&row, sizeof row);
        }
    }
    if (rc) log_warn("credentials: a malformed notice from the database was ignored");
    json_decref(n);
    return rc;
}

/* --- the fibers of a front-end that follows ------------------------------------ */

static int64_t retry_due(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct cred_pg *pg = data;
    pg->retry_timer = 0;
    cred_pg_poll(pg);
    return -1;
}

/* While the database is away (or a fiber could not be had) cred_pg_poll
 * runs again in a while. */
static void arm_retry(struct cred_pg *pg)
{
    if (pg->loop && !pg->retry_timer) pg->retry_timer = loop_add_timer(pg->loop, RETRY_MS, retry_due, pg);
}

/* Connects, reads everything again (notices sent meanwhile are lost) and
 * tells gone of the rows removed meanwhile. */
static void reconnect_in_fiber(void *arg)
{
    struct cred_pg *pg = arg;
    char err[400];
    if (fiber_lock_acquire(&pg->lock) && !pg->conn) {
        if (!connect_db(pg, err, sizeof err)) {
            if (!pg->away_logged) log_error("credentials: %s", err);
            pg->away_logged = true;
        } else if (reload(pg, pg->gone, pg->gone_arg)) {
            drop_connection(pg);
        } else {
            log_info("credentials: the database is back: credentials read again");
            pg->away_logged = false;
            if (pg->loop && fiber_fd_watch(&pg->watch, pg->loop, pq_PQsocket(pg->conn)))
                log_warn("credentials: the database socket cannot be watched: changes are read when other work wakes the loop");
        }
    }
    pg->connecting = false;
    if (!pg->conn) arm_retry(pg);
}

static void load_cas_in_fiber(void *arg)
{
    struct cred_pg *pg = arg;
    if (!load_cas(pg)) pg->ca_generation++;
    pg->loading_cas = false;
    if (pg->cas_stale) arm_retry(pg);
}

/* fn in a fiber (which sets *busy false at its end); without one, later. */
static void start_fiber(struct cred_pg *pg, bool *busy, fiber_fn *fn)
{
    if (*busy) return;
    *busy = true;
    if (fiber_start(pg->loop, fn, pg) < 0) {
        *busy = false;
        arm_retry(pg);
    }
}

/* Input while no fiber waits on the socket (a notice, the server closing):
 * read now, or the level-triggered loop wakes for it again. While a fiber
 * owns the connection its notices are applied after it: when the lock
 * passes on (handed_over) or at the round's end (cred_pg_waiting). */
static void idle_input(void *data)
{
    struct cred_pg *pg = data;
    if (!fiber_lock_busy(&pg->lock)) {
        cred_pg_poll(pg);
        return;
    }
    if (!pq_PQconsumeInput(pg->conn)) fiber_fd_forget(&pg->watch);   /* its statement finds out */
    pg->ran = true;
}

static int apply_buffered(struct cred_pg *pg);

/* The lock passes from a fiber that ended to the next one queued: the
 * notices it took in with its answers are applied now, not after the
 * queue behind it (a busy credential store hands the lock on within the
 * loop round, so the round's end may not find it free). Only what libpq
 * holds already: what is still on the socket is read by the next fiber or
 * idle_input. */
static void handed_over(void *data)
{
    struct cred_pg *pg = data;
    if (pg->loop && pg->conn) apply_buffered(pg);
}

int cred_pg_follow(struct cred_pg *pg, struct loop *loop, cred_pg_gone_fn *gone, void *arg)
{
    pg->loop = loop;
    pg->gone = gone;
    pg->gone_arg = arg;
    pg->watch.idle = idle_input;
    pg->watch.idle_data = pg;
    pg->lock.on_handover = handed_over;
    pg->lock.handover_data = pg;
    if (!pg->conn) {
        arm_retry(pg);
        return 0;
    }
    if (fiber_fd_watch(&pg->watch, loop, pq_PQsocket(pg->conn))) {
        log_error("credentials: the database socket cannot be watched");
        return -1;
    }
    return 0;
}

void cred_pg_unfollow(struct cred_pg *pg)
{
    if (!pg->loop) return;
    /* Fibers still at work end now, while what they use is there. */
    fiber_lock_drain(&pg->lock);
    if (pg->retry_timer) loop_del_timer(pg->loop, pg->retry_timer);
    pg->retry_timer = 0;
    fiber_fd_forget(&pg->watch);
    pg->lock.on_handover = NULL;
    pg->loop = NULL;
    pg->gone = NULL;
}

int cred_pg_poll(struct cred_pg *pg)
{
    if (!pg->loop) return -1;
    if (!pg->conn) {
        if (loop_now_ms() < pg->retry_at_ms) arm_retry(pg);
        else start_fiber(pg, &pg->connecting, reconnect_in_fiber);
        return -1;
    }
    /* A fiber's answer is on its way over the socket: it reads that first. */
    if (fiber_lock_busy(&pg->lock)) return 0;
    if (!pq_PQconsumeInput(pg->conn) || pq_PQstatus(pg->conn) != CONNECTION_OK) {
        if (!pg->away_logged) log_pg("the database is unreachable: credential changes are not followed",
                                     pq_PQerrorMessage(pg->conn));
        pg->away_logged = true;
        drop_connection(pg);
        return -1;
    }
    return apply_buffered(pg);
}

/* The notices libpq has read off the socket already (no system call). */
static int apply_buffered(struct cred_pg *pg)
{
    pg->ran = false;
    int count = 0;
    for (PGnotify *n; (n = pq_PQnotifies(pg->conn)); pq_PQfreemem(n))
        if (!apply(pg, n->extra)) count++;
    if (pg->cas_stale) start_fiber(pg, &pg->loading_cas, load_cas_in_fiber);
    return count;
}
