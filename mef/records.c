#include "records.h"

#include "vault.h"
#include "cse/base/log.h"

#include <openssl/crypto.h>
#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct mef_records {
    sqlite3 *db;
    struct vault *vault;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS enrolment (keid TEXT PRIMARY KEY, reg_id TEXT UNIQUE NOT NULL,"
    " kpm_id TEXT NOT NULL, enrolee_id TEXT NOT NULL, admin_fqdn TEXT NOT NULL, labels TEXT NOT NULL,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,"
    " sealed_ke BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS enrolment_kpm ON enrolment(kpm_id);"
    "CREATE TABLE IF NOT EXISTS keyreg (keid TEXT NOT NULL, suid INTEGER NOT NULL, target TEXT NOT NULL,"
    " expires INTEGER NOT NULL, PRIMARY KEY (keid, suid, target));"
    "CREATE TABLE IF NOT EXISTS cert (serial TEXT PRIMARY KEY, keid TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);";

struct mef_records *mef_records_open(const char *file, struct vault *v)
{
    struct mef_records *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->vault = v;
    mode_t old = umask(077);
    int rc = sqlite3_open(file, &r->db);
    umask(old);
    if (rc != SQLITE_OK ||
        sqlite3_exec(r->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=2000;",
                     NULL, NULL, NULL) ||
        sqlite3_exec(r->db, schema, NULL, NULL, NULL)) {
        log_error("mef: cannot open %s: %s", file, sqlite3_errmsg(r->db));
        mef_records_close(r);
        return NULL;
    }
    return r;
}

void mef_records_close(struct mef_records *r)
{
    if (!r) return;
    sqlite3_close(r->db);
    free(r);
}

/* Prepares sql and binds the text arguments (NULL ends them). */
static sqlite3_stmt *prepare(struct mef_records *r, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("mef: %s", sqlite3_errmsg(r->db));
        return NULL;
    }
    return st;
}

static int exec_done(struct mef_records *r, sqlite3_stmt *st)
{
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (rc != SQLITE_DONE && st) log_error("mef: %s", sqlite3_errmsg(r->db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void text(sqlite3_stmt *st, int i, const char *s) { sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT); }

static void copy_col(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", s ? s : "");
}

int mef_put_enrolment(struct mef_records *r, const struct mef_enrolment *e)
{
    uint8_t sealed[ENROL_KEY_LEN + VAULT_OVERHEAD];
    if (vault_seal(r->vault, e->keid, e->ke, ENROL_KEY_LEN, sealed)) return -1;
    sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *st = prepare(r, "DELETE FROM keyreg WHERE keid IN (SELECT keid FROM enrolment WHERE kpm_id=?1)");
    if (st) text(st, 1, e->kpm_id);
    int rc = exec_done(r, st);
    if (!rc && (st = prepare(r, "DELETE FROM enrolment WHERE kpm_id=?1"))) text(st, 1, e->kpm_id);
    if (!rc) rc = exec_done(r, st);
    if (!rc && (st = prepare(r, "INSERT INTO enrolment (keid, reg_id, kpm_id, enrolee_id, admin_fqdn, labels,"
                               " created, expires, revoked, sealed_ke) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,0,?9)"))) {
        text(st, 1, e->keid); text(st, 2, e->reg_id); text(st, 3, e->kpm_id); text(st, 4, e->enrolee_id);
        text(st, 5, e->admin_fqdn); text(st, 6, e->labels);
        sqlite3_bind_int64(st, 7, e->created_us);
        sqlite3_bind_int64(st, 8, e->expires_us);
        sqlite3_bind_blob(st, 9, sealed, sizeof sealed, SQLITE_TRANSIENT);
    }
    if (!rc) rc = exec_done(r, st);
    sqlite3_exec(r->db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
    return rc;
}

static const char enrolment_cols[] =
    "SELECT keid, reg_id, kpm_id, enrolee_id, admin_fqdn, labels, created, expires, revoked, sealed_ke FROM enrolment";

static int row_enrolment(struct mef_records *r, sqlite3_stmt *st, bool with_key, struct mef_enrolment *e)
{
    memset(e, 0, sizeof *e);
    copy_col(st, 0, e->keid, sizeof e->keid);
    copy_col(st, 1, e->reg_id, sizeof e->reg_id);
    copy_col(st, 2, e->kpm_id, sizeof e->kpm_id);
    copy_col(st, 3, e->enrolee_id, sizeof e->enrolee_id);
    copy_col(st, 4, e->admin_fqdn, sizeof e->admin_fqdn);
    copy_col(st, 5, e->labels, sizeof e->labels);
    e->created_us = sqlite3_column_int64(st, 6);
    e->expires_us = sqlite3_column_int64(st, 7);
    e->revoked = sqlite3_column_int(st, 8) != 0;
    if (!with_key) return 0;
    const uint8_t *sealed = sqlite3_column_blob(st, 9);
    int n = sqlite3_column_bytes(st, 9);
    if (n != ENROL_KEY_LEN + VAULT_OVERHEAD || vault_open_sealed(r->vault, e->keid, sealed, (size_t)n, e->ke)) {
        log_error("mef: the sealed key of %s does not open (another root secret? tampered?)", e->keid);
        return -1;
    }
    return 0;
}

int mef_get_enrolment(struct mef_records *r, const char *key, bool with_key, struct mef_enrolment *out)
{
    char sql[sizeof enrolment_cols + 96];
    snprintf(sql, sizeof sql, "%s WHERE keid=?1 COLLATE NOCASE OR reg_id=?1 OR kpm_id=?1 OR enrolee_id=?1 LIMIT 1", enrolment_cols);
    sqlite3_stmt *st = prepare(r, sql);
    if (!st) return -1;
    text(st, 1, key);
    int rc = sqlite3_step(st);
    int out_rc = rc == SQLITE_ROW ? row_enrolment(r, st, with_key, out) : rc == SQLITE_DONE ? 1 : -1;
    sqlite3_finalize(st);
    return out_rc;
}

int mef_update_enrolment(struct mef_records *r, const struct mef_enrolment *e)
{
    sqlite3_stmt *st = prepare(r, "UPDATE enrolment SET labels=?2, expires=?3, revoked=?4 WHERE keid=?1");
    if (!st) return -1;
    text(st, 1, e->keid); text(st, 2, e->labels);
    sqlite3_bind_int64(st, 3, e->expires_us);
    sqlite3_bind_int(st, 4, e->revoked);
    return exec_done(r, st);
}

int mef_delete_enrolment(struct mef_records *r, const char *keid)
{
    sqlite3_stmt *st = prepare(r, "DELETE FROM keyreg WHERE keid=?1");
    if (st) text(st, 1, keid);
    if (exec_done(r, st) || !(st = prepare(r, "DELETE FROM enrolment WHERE keid=?1"))) return -1;
    text(st, 1, keid);
    if (exec_done(r, st)) return -1;
    return sqlite3_changes(r->db) ? 0 : 1;
}

int mef_each_enrolment(struct mef_records *r, int (*fn)(void *arg, const struct mef_enrolment *e), void *arg)
{
    char sql[sizeof enrolment_cols + 32];
    snprintf(sql, sizeof sql, "%s ORDER BY created", enrolment_cols);
    sqlite3_stmt *st = prepare(r, sql);
    int rc = st ? 0 : -1;
    struct mef_enrolment e;
    while (!rc && st && sqlite3_step(st) == SQLITE_ROW) {
        row_enrolment(r, st, false, &e);
        rc = fn(arg, &e);
    }
    sqlite3_finalize(st);
    return rc;
}

int mef_put_keyreg(struct mef_records *r, const struct mef_keyreg *k)
{
    sqlite3_stmt *st = prepare(r, "INSERT OR REPLACE INTO keyreg (keid, suid, target, expires) VALUES (?1,?2,?3,?4)");
    if (!st) return -1;
    text(st, 1, k->keid);
    sqlite3_bind_int(st, 2, k->suid);
    text(st, 3, k->target);
    sqlite3_bind_int64(st, 4, k->expires_us);
    return exec_done(r, st);
}

static void row_keyreg(sqlite3_stmt *st, struct mef_keyreg *k)
{
    memset(k, 0, sizeof *k);
    copy_col(st, 0, k->keid, sizeof k->keid);
    k->suid = sqlite3_column_int(st, 1);
    copy_col(st, 2, k->target, sizeof k->target);
    k->expires_us = sqlite3_column_int64(st, 3);
}

int mef_get_keyreg(struct mef_records *r, const char *keid, int suid, const char *target, struct mef_keyreg *out)
{
    sqlite3_stmt *st = prepare(r, "SELECT keid, suid, target, expires FROM keyreg"
                                  " WHERE keid=?1 COLLATE NOCASE AND suid=?2 AND target=?3");
    if (!st) return -1;
    text(st, 1, keid);
    sqlite3_bind_int(st, 2, suid);
    text(st, 3, target);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) row_keyreg(st, out);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int mef_delete_keyregs(struct mef_records *r, const char *keid, int suid)
{
    sqlite3_stmt *st = prepare(r, "DELETE FROM keyreg WHERE keid=?1 AND suid=?2");
    if (!st) return -1;
    text(st, 1, keid);
    sqlite3_bind_int(st, 2, suid);
    if (exec_done(r, st)) return -1;
    return sqlite3_changes(r->db) ? 0 : 1;
}

int mef_each_keyreg(struct mef_records *r, const char *keid, int (*fn)(void *arg, const struct mef_keyreg *k),
                    void *arg)
{
    sqlite3_stmt *st = prepare(r, "SELECT keid, suid, target, expires FROM keyreg WHERE keid=?1 ORDER BY suid");
    int rc = st ? 0 : -1;
    if (st) text(st, 1, keid);
    struct mef_keyreg k;
    while (!rc && st && sqlite3_step(st) == SQLITE_ROW) {
        row_keyreg(st, &k);
        rc = fn(arg, &k);
    }
    sqlite3_finalize(st);
    return rc;
}

int mef_put_cert(struct mef_records *r, const char *serial, const char *keid)
{
    sqlite3_stmt *st = prepare(r, "INSERT OR REPLACE INTO cert (serial, keid, revoked) VALUES (?1, ?2, 0)");
    if (!st) return -1;
    text(st, 1, serial);
    text(st, 2, keid);
    return exec_done(r, st);
}

int mef_revoke_certs(struct mef_records *r, const char *keid)
{
    sqlite3_stmt *st = prepare(r, "UPDATE cert SET revoked = 1 WHERE keid = ?1 COLLATE NOCASE");
    if (!st) return -1;
    text(st, 1, keid);
    return exec_done(r, st);
}

int mef_each_revoked_cert(struct mef_records *r, int (*fn)(void *arg, const char *serial), void *arg)
{
    sqlite3_stmt *st = prepare(r, "SELECT serial FROM cert WHERE revoked = 1 ORDER BY serial");
    int rc = st ? 0 : -1;
    while (!rc && st && sqlite3_step(st) == SQLITE_ROW) rc = fn(arg, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc;
}
