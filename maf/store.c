#include "store.h"

#include "cse/base/log.h"
#include "security/key_seal.h"

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char kek_label[] = "Ironbark MAF key-encryption key v1";

struct maf_store {
    sqlite3 *db;
    struct key_seal *kek;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS client (kmid TEXT PRIMARY KEY, reg_id TEXT NOT NULL, client_id TEXT NOT NULL,"
    " admin_fqdn TEXT NOT NULL, labels TEXT NOT NULL, expires INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS key (rel TEXT PRIMARY KEY, source_kmid TEXT NOT NULL, source_id TEXT NOT NULL,"
    " suid INTEGER NOT NULL, targets TEXT NOT NULL, labels TEXT NOT NULL, admin_fqdn TEXT NOT NULL,"
    " expires INTEGER NOT NULL, sealed_kc BLOB NOT NULL);";

struct maf_store *maf_store_open(const char *dir, char *err, size_t errlen)
{
    char path[600];
    struct maf_store *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, errlen, "out of memory"); return NULL; }
    snprintf(path, sizeof path, "%s/maf-root.key", dir);
    if (!(s->kek = key_seal_openssl()->open(path, kek_label, err, errlen))) {
        free(s);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/maf.db", dir);
    mode_t old = umask(077);
    int rc = sqlite3_open(path, &s->db);
    umask(old);
    if (rc != SQLITE_OK ||
        sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=2000;",
                     NULL, NULL, NULL) ||
        sqlite3_exec(s->db, schema, NULL, NULL, NULL)) {
        snprintf(err, errlen, "cannot open %s: %s", path, sqlite3_errmsg(s->db));
        maf_store_close(s);
        return NULL;
    }
    return s;
}

void maf_store_close(struct maf_store *s)
{
    if (!s) return;
    sqlite3_close(s->db);
    key_seal_openssl()->close(s->kek);
    free(s);
}

static sqlite3_stmt *prepare(struct maf_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) log_error("maf: %s", sqlite3_errmsg(s->db));
    return st;
}

static int exec_done(struct maf_store *s, sqlite3_stmt *st)
{
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (rc != SQLITE_DONE && st) log_error("maf: %s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void text(sqlite3_stmt *st, int i, const char *v) { sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT); }

static void copy_col(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", v ? v : "");
}

int maf_store_put_client(struct maf_store *s, const struct maf_client *c)
{
    sqlite3_stmt *st = prepare(s, "INSERT OR REPLACE INTO client (kmid, reg_id, client_id, admin_fqdn, labels, expires)"
                                  " VALUES (?1,?2,?3,?4,?5,?6)");
    if (st) {
        text(st, 1, c->kmid); text(st, 2, c->reg_id); text(st, 3, c->client_id); text(st, 4, c->admin_fqdn);
        text(st, 5, c->labels);
        sqlite3_bind_int64(st, 6, c->expires_us);
    }
    return exec_done(s, st);
}

/* Target IDs are CSE-IDs and AE-IDs: no newline in any, so one per line. */
static void join_targets(const struct maf_key *k, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < k->ntargets && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "\n" : "", k->targets[i]);
}

static void split_targets(const char *text, struct maf_key *k)
{
    k->ntargets = 0;
    while (text && *text && k->ntargets < MMAF_MAX_TARGETS) {
        size_t n = strcspn(text, "\n");
        snprintf(k->targets[k->ntargets++], sizeof k->targets[0], "%.*s", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

int maf_store_put_key(struct maf_store *s, const struct maf_key *k)
{
    uint8_t sealed[sizeof k->kc + KEY_SEAL_OVERHEAD];
    char targets[MMAF_MAX_TARGETS * 257];
    /* The RelativeKeyID is the associated data: a sealed Kc opens for its own row only. */
    if (key_seal_openssl()->seal(s->kek, (const uint8_t *)k->rel, strlen(k->rel), k->kc, sizeof k->kc, sealed)) {
        log_error("maf: cannot seal key %s", k->rel);
        return -1;
    }
    join_targets(k, targets, sizeof targets);
    sqlite3_stmt *st = prepare(s, "INSERT OR REPLACE INTO key (rel, source_kmid, source_id, suid, targets, labels,"
                                  " admin_fqdn, expires, sealed_kc) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)");
    if (st) {
        text(st, 1, k->rel); text(st, 2, k->source_kmid); text(st, 3, k->source_id);
        sqlite3_bind_int(st, 4, k->suid);
        text(st, 5, targets); text(st, 6, k->labels); text(st, 7, k->admin_fqdn);
        sqlite3_bind_int64(st, 8, k->expires_us);
        sqlite3_bind_blob(st, 9, sealed, sizeof sealed, SQLITE_TRANSIENT);
    }
    return exec_done(s, st);
}

int maf_store_drop_client(struct maf_store *s, const char *kmid)
{
    sqlite3_stmt *st = prepare(s, "DELETE FROM key WHERE source_kmid=?1");
    if (st) text(st, 1, kmid);
    int rc = exec_done(s, st);
    if ((st = prepare(s, "DELETE FROM client WHERE kmid=?1"))) text(st, 1, kmid);
    return exec_done(s, st) | rc;
}

int maf_store_drop_key(struct maf_store *s, const char *rel)
{
    sqlite3_stmt *st = prepare(s, "DELETE FROM key WHERE rel=?1");
    if (st) text(st, 1, rel);
    return exec_done(s, st);
}

static int load_key(struct maf_store *s, sqlite3_stmt *st, struct maf_key *k)
{
    memset(k, 0, sizeof *k);
    copy_col(st, 0, k->rel, sizeof k->rel);
    copy_col(st, 1, k->source_kmid, sizeof k->source_kmid);
    copy_col(st, 2, k->source_id, sizeof k->source_id);
    k->suid = sqlite3_column_int(st, 3);
    split_targets((const char *)sqlite3_column_text(st, 4), k);
    copy_col(st, 5, k->labels, sizeof k->labels);
    copy_col(st, 6, k->admin_fqdn, sizeof k->admin_fqdn);
    k->expires_us = sqlite3_column_int64(st, 7);
    const uint8_t *blob = sqlite3_column_blob(st, 8);
    int n = sqlite3_column_bytes(st, 8);
    if (!blob || n != (int)(sizeof k->kc + KEY_SEAL_OVERHEAD) ||
        key_seal_openssl()->unseal(s->kek, (const uint8_t *)k->rel, strlen(k->rel), blob, (size_t)n, k->kc)) {
        log_error("maf: the sealed key %s does not open (another maf-root.key, or altered): skipped", k->rel);
        explicit_bzero(k, sizeof *k);
        return -1;
    }
    return 0;
}

int maf_store_load(struct maf_store *s, int64_t now_us, void (*client)(void *arg, const struct maf_client *c),
                   void (*key)(void *arg, const struct maf_key *k), void *arg)
{
    sqlite3_stmt *st = prepare(s, "DELETE FROM key WHERE expires<=?1");
    if (st) sqlite3_bind_int64(st, 1, now_us);
    int rc = exec_done(s, st);
    if ((st = prepare(s, "DELETE FROM client WHERE expires<=?1"))) sqlite3_bind_int64(st, 1, now_us);
    rc |= exec_done(s, st);
    if (!(st = prepare(s, "SELECT kmid, reg_id, client_id, admin_fqdn, labels, expires FROM client"))) return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct maf_client c = { 0 };
        copy_col(st, 0, c.kmid, sizeof c.kmid);
        copy_col(st, 1, c.reg_id, sizeof c.reg_id);
        copy_col(st, 2, c.client_id, sizeof c.client_id);
        copy_col(st, 3, c.admin_fqdn, sizeof c.admin_fqdn);
        copy_col(st, 4, c.labels, sizeof c.labels);
        c.expires_us = sqlite3_column_int64(st, 5);
        client(arg, &c);
    }
    sqlite3_finalize(st);
    if (!(st = prepare(s, "SELECT rel, source_kmid, source_id, suid, targets, labels, admin_fqdn, expires, sealed_kc"
                          " FROM key")))
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct maf_key k;
        if (!load_key(s, st, &k)) key(arg, &k);
        explicit_bzero(&k, sizeof k);
    }
    sqlite3_finalize(st);
    return rc;
}
