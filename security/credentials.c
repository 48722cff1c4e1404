#include "credentials.h"

#include "cred_pg.h"

#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "hex.h"
#include "key_seal.h"

#include <ctype.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A key lent by a MEF: in memory only, until its lifetime ends. */
struct lease {
    struct cred_psk psk;
    int64_t until_us;          /* 0 = free slot */
};

/* Who is told of key rows removed elsewhere (cred_follow_changes). */
struct gone_relay {
    cred_gone_fn *fn;
    void *arg;
};

/* An SQLite store as this process last read it, for following what other
 * processes (`m2m-cse credentials`) commit to the file while it runs. */
struct sqlite_seen {
    bool following;
    sqlite3_stmt *data_version;        /* PRAGMA data_version: moves with other connections' commits */
    int64_t version;
    uint64_t ca_digest;                /* of every trusted CA row */
    unsigned ca_generation;
    char *psk_ids;                     /* the PSK identities in order, each '\0'-terminated */
    size_t psk_ids_len;
    const char **psk_index;            /* into psk_ids, for a binary search */
    size_t psk_count;
};

struct credentials {
    sqlite3 *db;               /* the SQLite store; NULL when pg */
    struct cred_pg *pg;        /* the PostgreSQL store (db = postgresql://…), NULL otherwise */
    const struct key_seal_ops *seal;   /* ironbark-jose.so's, or linked statically */
    struct key_seal *kek;
    struct lease leases[CRED_LEASES];
    cred_miss_fn *miss;
    void *miss_arg;
    sqlite3_stmt *get_psk, *get_esprim_key;   /* get_key()'s, prepared on first use */
    struct gone_relay relay;
    struct sqlite_seen seen;
};

/* Keys at rest: each key column holds SEALED_V1 || nonce || AES-256-GCM
 * ciphertext || tag under a KEK that is HKDF-SHA256(credentials-root.key,
 * KEK_LABEL); the associated data is the version byte, the table and the
 * identity, so a sealed key cannot be moved onto another row. store_meta
 * "keys" = "sealed-v1" says every row is sealed (docs/decisions.md). */
#define SEALED_V1 1
#define SEALED_MAX CRED_SEALED_MAX
static const char kek_label[] = "Ironbark CSE credential store KEK v1";
static const char sealed_mark[] = "sealed-v1";
static const char *const key_tables[] = { "psk", "esprim_key" };

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS psk (identity TEXT PRIMARY KEY, key BLOB NOT NULL,"
    " originators TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS esprim_key (identity TEXT PRIMARY KEY, key BLOB NOT NULL,"
    " originators TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS trusted_ca (name TEXT PRIMARY KEY, pem TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS console_code (code TEXT PRIMARY KEY, originator TEXT NOT NULL,"
    " until_us INTEGER NOT NULL);";

/* version || table || '\0' || identity */
static size_t key_aad(const char *table, const char *identity, uint8_t *aad, size_t cap)
{
    size_t t = strlen(table) + 1, i = strlen(identity);
    if (1 + t + i > cap) return 0;
    aad[0] = SEALED_V1;
    memcpy(aad + 1, table, t);
    memcpy(aad + 1 + t, identity, i);
    return 1 + t + i;
}

/* Seals n key bytes into out (SEALED_MAX); the blob's length, or -1. */
static int seal_key(struct credentials *cs, const char *table, const char *identity, const uint8_t *key,
                    size_t n, uint8_t *out)
{
    uint8_t aad[1 + 16 + CRED_ID_MAX];
    size_t aad_len = key_aad(table, identity, aad, sizeof aad);
    if (!aad_len || !n || n > CRED_KEY_MAX) return -1;
    out[0] = SEALED_V1;
    if (cs->seal->seal(cs->kek, aad, aad_len, key, n, out + 1)) return -1;
    return (int)(1 + KEY_SEAL_OVERHEAD + n);
}

/* Opens a sealed blob into key (CRED_KEY_MAX); the key's length, or -1
 * (unknown version, wrong root file, altered, another row's key). */
static int open_key(struct credentials *cs, const char *table, const char *identity, const uint8_t *blob,
                    size_t n, uint8_t *key)
{
    uint8_t aad[1 + 16 + CRED_ID_MAX];
    size_t aad_len = key_aad(table, identity, aad, sizeof aad);
    if (!aad_len || !blob || n <= 1 + KEY_SEAL_OVERHEAD || n > SEALED_MAX || blob[0] != SEALED_V1 ||
        cs->seal->unseal(cs->kek, aad, aad_len, blob + 1, n - 1, key))
        return -1;
    return (int)(n - 1 - KEY_SEAL_OVERHEAD);
}

static int step_sql(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* One row of a key table, as read for sealing or checking. */
struct key_row {
    char identity[CRED_ID_MAX];
    uint8_t blob[SEALED_MAX];
    int len;
};

static int read_key_rows(sqlite3 *db, const char *table, struct key_row **rows, int *n)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT identity, key FROM %s", table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    int rc, cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            struct key_row *more = realloc(*rows, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *more);
            if (!more) break;
            *rows = more;
        }
        struct key_row *r = &(*rows)[(*n)++];
        snprintf(r->identity, sizeof r->identity, "%s", (const char *)sqlite3_column_text(st, 0));
        int len = sqlite3_column_bytes(st, 1);
        r->len = len > (int)sizeof r->blob ? -1 : len;   /* too long: neither opens nor seals */
        if (r->len > 0) memcpy(r->blob, sqlite3_column_blob(st, 1), (size_t)len);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* At open, in one transaction: a store of plain keys (no "sealed-v1" mark,
 * an earlier version) has every key sealed in place; a sealed store has
 * every key opened once, so that a wrong root file stops the start rather
 * than failing each handshake. 0, or -1 logged. */
static int seal_at_rest(struct credentials *cs, const char *file)
{
    sqlite3_stmt *st;
    bool sealed = false;
    if (step_sql(cs->db, "BEGIN IMMEDIATE")) goto db_error;
    if (sqlite3_prepare_v2(cs->db, "SELECT value FROM store_meta WHERE name = 'keys'", -1, &st, NULL) != SQLITE_OK)
        goto db_error;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        sealed = v && !strcmp(v, sealed_mark);
        if (!sealed) {
            log_error("credentials: %s: keys are stored as '%s', which this version does not know", file,
                      v ? v : "");
            sqlite3_finalize(st);
            goto fail;
        }
    }
    sqlite3_finalize(st);
    int nsealed = 0;
    for (size_t t = 0; t < sizeof key_tables / sizeof *key_tables; t++) {
        struct key_row *rows = NULL;
        int n = 0, bad = -1;
        if (read_key_rows(cs->db, key_tables[t], &rows, &n)) {
            if (rows) explicit_bzero(rows, (size_t)n * sizeof *rows);   /* plain keys of an old store */
            free(rows);
            goto db_error;
        }
        for (int i = 0; bad < 0 && i < n; i++) {
            struct key_row *r = &rows[i];
            uint8_t key[CRED_KEY_MAX], blob[SEALED_MAX];
            if (sealed) {
                if (open_key(cs, key_tables[t], r->identity, r->blob, (size_t)r->len, key) < 0) bad = i;
            } else {
                int len = r->len >= 1 && r->len <= CRED_KEY_MAX
                              ? seal_key(cs, key_tables[t], r->identity, r->blob, (size_t)r->len, blob) : -1;
                char sql[96];
                snprintf(sql, sizeof sql, "UPDATE %s SET key = ? WHERE identity = ?", key_tables[t]);
                if (len < 0 || sqlite3_prepare_v2(cs->db, sql, -1, &st, NULL) != SQLITE_OK) bad = i;
                else {
                    sqlite3_bind_blob(st, 1, blob, len, SQLITE_TRANSIENT);
                    sqlite3_bind_text(st, 2, r->identity, -1, SQLITE_TRANSIENT);
                    if (sqlite3_step(st) != SQLITE_DONE) bad = i;
                    else nsealed++;
                    sqlite3_finalize(st);
                }
            }
            explicit_bzero(key, sizeof key);
        }
        if (bad >= 0)
            log_error("credentials: %s: the %s key '%s' %s", file, key_tables[t], rows[bad].identity,
                      sealed ? "does not open: the store was sealed under another credentials-root.key, "
                               "or was altered; refusing to start (no key is dropped)"
                             : "cannot be sealed (malformed row); refusing to start");
        if (rows) explicit_bzero(rows, (size_t)n * sizeof *rows);
        free(rows);
        if (bad >= 0) goto fail;
    }
    if (!sealed && step_sql(cs->db, "INSERT INTO store_meta (name, value) VALUES ('keys', 'sealed-v1')"))
        goto db_error;
    if (step_sql(cs->db, "COMMIT")) goto db_error;
    if (nsealed) log_info("credentials: %d keys sealed (%s)", nsealed, file);
    return 0;
db_error:
    log_error("credentials: %s: %s", file, sqlite3_errmsg(cs->db));
fail:
    step_sql(cs->db, "ROLLBACK");
    return -1;
}

/* A store with its KEK (made from root_file), no backend yet; NULL logged. */
static struct credentials *with_kek(const char *what, const char *root_file, const struct key_seal_ops *seal)
{
    if (!seal) {
        log_error("credentials: cannot open %s: keys at rest are sealed by the crypto module "
                  "(ironbark-jose.so, setting jose-module), which is not loaded; keys are never stored in the clear",
                  what);
        return NULL;
    }
    struct credentials *cs = calloc(1, sizeof *cs);
    if (!cs) return NULL;
    cs->seal = seal;
    char err[600];
    mode_t old = umask(077);
    cs->kek = seal->open(root_file, kek_label, err, sizeof err);
    umask(old);
    if (!cs->kek) {
        log_error("credentials: cannot open %s: %s", what, err);
        cred_close(cs);
        return NULL;
    }
    return cs;
}

struct credentials *cred_open(const char *file, const char *root_file, const struct key_seal_ops *seal)
{
    struct credentials *cs = with_kek(file, root_file, seal);
    if (!cs) return NULL;
    /* Keys live here: nobody but the CSE's user may read the file. */
    mode_t old = umask(077);
    int rc = sqlite3_open(file, &cs->db);
    umask(old);
    if (rc != SQLITE_OK ||
        /* secure_delete: a replaced or removed key (a plain one being sealed)
         * is zeroed in the file, not left in free space. */
        sqlite3_exec(cs->db, "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=2000; PRAGMA secure_delete=ON;",
                     NULL, NULL, NULL) ||
        sqlite3_exec(cs->db, schema, NULL, NULL, NULL)) {
        log_error("credentials: cannot open %s: %s", file, sqlite3_errmsg(cs->db));
        cred_close(cs);
        return NULL;
    }
    if (seal_at_rest(cs, file)) {
        cred_close(cs);
        return NULL;
    }
    return cs;
}

/* Stops following an SQLite store; the CA generation keeps counting. */
static void forget_seen(struct credentials *cs)
{
    sqlite3_finalize(cs->seen.data_version);
    free(cs->seen.psk_ids);
    free(cs->seen.psk_index);
    cs->seen = (struct sqlite_seen){ .ca_generation = cs->seen.ca_generation };
}

void cred_close(struct credentials *cs)
{
    if (!cs) return;
    explicit_bzero(cs->leases, sizeof cs->leases);
    if (cs->kek) cs->seal->close(cs->kek);
    cred_pg_close(cs->pg);
    forget_seen(cs);
    sqlite3_finalize(cs->get_psk);
    sqlite3_finalize(cs->get_esprim_key);
    sqlite3_close(cs->db);
    free(cs);
}

bool cred_valid_identity(const char *id)
{
    size_t n = strlen(id);
    if (!n || n >= CRED_ID_MAX) return false;
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-@", *p)) return false;
    return true;
}

/* '*' matches any run of characters; everything else matches itself. */
static bool glob_match(const char *pat, size_t plen, const char *s)
{
    const char *star = NULL, *resume = NULL;
    size_t i = 0;
    while (*s) {
        if (i < plen && pat[i] == '*') { star = pat + i++; resume = s; continue; }
        if (i < plen && pat[i] == *s) { i++; s++; continue; }
        if (!star) return false;
        i = (size_t)(star - pat) + 1;
        s = ++resume;
    }
    while (i < plen && pat[i] == '*') i++;
    return i == plen;
}

bool cred_pattern_allows(const char *patterns, const char *originator)
{
    if (!patterns || !originator || !*originator) return false;
    for (const char *p = patterns; *p;) {
        while (*p == ',' || *p == ' ') p++;
        size_t n = strcspn(p, ", ");
        if (n && glob_match(p, n, originator)) return true;
        p += n;
    }
    return false;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool valid_patterns(const char *s)
{
    if (!*s || strlen(s) >= CRED_ORIG_MAX) return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("*,/-_.@ ", *p)) return false;
    return true;
}

int cred_parse_psk(const char *text, struct cred_psk *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *c1 = strchr(text, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2) {
        snprintf(err, errlen, "psk: expected identity:hexkey:originators");
        return -1;
    }
    size_t idn = (size_t)(c1 - text);
    if (idn >= sizeof out->identity) { snprintf(err, errlen, "psk: identity too long"); return -1; }
    memcpy(out->identity, text, idn);
    if (!cred_valid_identity(out->identity)) {
        snprintf(err, errlen, "psk: identity '%s' may hold only letters, digits and . _ - @", out->identity);
        return -1;
    }
    size_t hexn = (size_t)(c2 - c1 - 1);
    if (hexn < 2 || hexn % 2 || hexn / 2 > CRED_KEY_MAX) {
        snprintf(err, errlen, "psk: key must be 1 to %d bytes in hex", CRED_KEY_MAX);
        return -1;
    }
    for (size_t i = 0; i < hexn / 2; i++) {
        int hi = hex_value(c1[1 + 2 * i]), lo = hex_value(c1[2 + 2 * i]);
        if (hi < 0 || lo < 0) { snprintf(err, errlen, "psk: key is not hexadecimal"); return -1; }
        out->key[i] = (uint8_t)(hi << 4 | lo);
    }
    out->key_len = hexn / 2;
    if (!valid_patterns(c2 + 1)) {
        snprintf(err, errlen, "psk: originator patterns missing or malformed");
        return -1;
    }
    snprintf(out->originators, sizeof out->originators, "%s", c2 + 1);
    return 0;
}

/* Runs one statement with text/blob parameters; returns the sqlite step code. */
static int exec_stmt(struct credentials *cs, const char *sql, int nparams, const char *const *params,
                     const void *blob, int blob_len, int blob_index)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cs->db, sql, -1, &st, NULL) != SQLITE_OK) return SQLITE_ERROR;
    for (int i = 0; i < nparams; i++) {
        if (i + 1 == blob_index) sqlite3_bind_blob(st, i + 1, blob, blob_len, SQLITE_TRANSIENT);
        else sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc;
}

/* --- the shared store (cred_pg.c holds sealed rows) --- */

static int shared_put(struct credentials *cs, enum cred_table t, const struct cred_psk *psk, const uint8_t *blob,
                      int len, int64_t until_us)
{
    struct cred_row row = { .sealed_len = (size_t)len, .until_us = until_us };
    snprintf(row.identity, sizeof row.identity, "%s", psk->identity);
    snprintf(row.originators, sizeof row.originators, "%s", psk->originators);
    memcpy(row.sealed, blob, (size_t)len);
    return cred_pg_put(cs->pg, t, &row);
}

/* A mirrored row with its key opened: 0, or -1 logged. */
static int open_row(struct credentials *cs, enum cred_table t, const struct cred_row *row, struct cred_psk *out)
{
    memset(out, 0, sizeof *out);
    int n = open_key(cs, cred_table_name[t], row->identity, row->sealed, row->sealed_len, out->key);
    if (n < 0) {
        log_error("credentials: the %s key '%s' does not open: it was sealed under another credentials-root.key "
                  "(every front-end needs the same one) or altered", cred_table_name[t], row->identity);
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->key_len = (size_t)n;
    snprintf(out->identity, sizeof out->identity, "%s", row->identity);
    snprintf(out->originators, sizeof out->originators, "%s", row->originators);
    return 0;
}

/* From the in-memory mirror: a handshake never waits for the database. */
static int shared_get(struct credentials *cs, enum cred_table t, const char *identity, struct cred_psk *out)
{
    const struct cred_row *row = cred_pg_find(cs->pg, t, identity);
    return !row ? 1 : open_row(cs, t, row, out);
}

struct shared_visit {
    struct credentials *cs;
    enum cred_table table;
    int (*psk_fn)(void *arg, const struct cred_psk *psk);
    int (*lease_fn)(void *arg, const struct cred_psk *psk, int64_t until_us);
    void *arg;
};

static int visit_shared(void *arg, const struct cred_row *row)
{
    struct shared_visit *v = arg;
    struct cred_psk psk;
    int rc = open_row(v->cs, v->table, row, &psk);
    if (!rc) rc = v->psk_fn ? v->psk_fn(v->arg, &psk) : v->lease_fn(v->arg, &psk, row->until_us);
    explicit_bzero(&psk, sizeof psk);
    return rc;
}

/* The KEK check: a known value sealed under the first front-end's root
 * key, kept in cred_meta; a root key that does not open it (nor every key
 * row) stops the start, before this front-end writes keys nobody else can
 * open. */
#define KEK_CHECK_ID "kek-check"
static int check_shared_kek(struct credentials *cs, const char *what)
{
    static const uint8_t probe[32];
    uint8_t blob[SEALED_MAX], opened[CRED_KEY_MAX];
    char hex[2 * SEALED_MAX + 1], stored[2 * SEALED_MAX + 1];
    int len = seal_key(cs, "store_meta", KEK_CHECK_ID, probe, sizeof probe, blob);
    if (len < 0) return -1;
    hex_encode(blob, (size_t)len, hex);
    if (cred_pg_meta_claim(cs->pg, KEK_CHECK_ID, hex, stored, sizeof stored)) return -1;
    int n = hex_decode(stored, blob, sizeof blob);
    bool ok = n > 0 && open_key(cs, "store_meta", KEK_CHECK_ID, blob, (size_t)n, opened) == (int)sizeof probe &&
              !memcmp(opened, probe, sizeof probe);
    if (!ok) {
        log_error("credentials: %s: this front-end's credentials-root.key does not open the keys in the database: "
                  "they were sealed under another root key. Every front-end on one database needs the same "
                  "credentials-root.key (copy the first front-end's into this data directory, mode 0600); "
                  "refusing to start", what);
        return -1;
    }
    return 0;
}

/* Every key opens once at start, as in the SQLite store. */
static int open_each(void *arg, const struct cred_row *row)
{
    struct shared_visit *v = arg;
    struct cred_psk psk;
    int rc = open_row(v->cs, v->table, row, &psk);
    explicit_bzero(&psk, sizeof psk);
    return rc;
}

struct credentials *cred_open_shared(const char *uri, const char *printable, const char *root_file,
                                     const struct key_seal_ops *seal)
{
    struct credentials *cs = with_kek(printable, root_file, seal);
    if (!cs) return NULL;
    char err[512];
    if (!(cs->pg = cred_pg_open(uri, err, sizeof err))) {
        log_error("credentials: %s: %s", printable, err);
        cred_close(cs);
        return NULL;
    }
    if (check_shared_kek(cs, printable)) {
        cred_close(cs);
        return NULL;
    }
    for (int t = 0; t < CRED_T_COUNT; t++) {
        struct shared_visit v = { .cs = cs, .table = (enum cred_table)t };
        if (cred_pg_each(cs->pg, (enum cred_table)t, open_each, &v)) {
            log_error("credentials: %s: refusing to start (no key is dropped)", printable);
            cred_close(cs);
            return NULL;
        }
    }
    return cs;
}

static void relay_gone(void *arg, enum cred_table t, const char *identity)
{
    struct gone_relay *r = arg;
    if (t != CRED_T_ESPRIM) r->fn(r->arg, identity);
}

/* --- an SQLite store changed by another process --- */

/* FNV-1a: a change check, not a secret (the core maps no libcrypto). */
static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s;; p++) {
        h = (h ^ *p) * 0x100000001b3ULL;
        if (!*p) return h;     /* the '\0' too: "ab","c" differs from "a","bc" */
    }
}

static int digest_ca(void *arg, const char *name, const char *pem)
{
    uint64_t *h = arg;
    *h = fnv1a(fnv1a(*h, name), pem);
    return 0;
}

static int read_ca_digest(struct credentials *cs, uint64_t *out)
{
    *out = 0xcbf29ce484222325ULL;
    return cred_each_ca(cs, digest_ca, out);
}

/* The PSK identities in the file's order (BINARY: byte order, as strcmp). */
static int read_psk_ids(struct credentials *cs, char **ids, size_t *len)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cs->db, "SELECT identity FROM psk ORDER BY identity", -1, &st, NULL) != SQLITE_OK)
        return -1;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        size_t k = strlen(id ? id : "") + 1;
        if (n + k > cap) {
            char *more = realloc(buf, cap = 2 * (n + k) + 256);
            if (!more) { rc = SQLITE_NOMEM; break; }
            buf = more;
        }
        memcpy(buf + n, id ? id : "", k);
        n += k;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) { free(buf); return -1; }
    *ids = buf;
    *len = n;
    return 0;
}

/* Tells gone of each identity of was (sorted) that now (sorted) lacks. */
static void tell_removed(const struct gone_relay *r, const char *was, size_t was_len, const char *now,
                         size_t now_len)
{
    const char *n = now, *n_end = now + now_len;
    for (const char *w = was; r->fn && w < was + was_len; w += strlen(w) + 1) {
        int cmp = 1;
        while (n < n_end && (cmp = strcmp(n, w)) < 0) n += strlen(n) + 1;
        if (n >= n_end || cmp) r->fn(r->arg, w);
    }
}

/* The identities' index, made again after psk_ids changed. */
static int index_psk_ids(struct sqlite_seen *s)
{
    size_t n = 0;
    for (const char *p = s->psk_ids; p < s->psk_ids + s->psk_ids_len; p += strlen(p) + 1) n++;
    const char **idx = realloc(s->psk_index, (n ? n : 1) * sizeof *idx);
    if (!idx) return -1;
    n = 0;
    for (const char *p = s->psk_ids; p < s->psk_ids + s->psk_ids_len; p += strlen(p) + 1) idx[n++] = p;
    s->psk_index = idx;
    s->psk_count = n;
    return 0;
}

/* Where id is, or would go, in the sorted identities. */
static size_t seen_position(const struct sqlite_seen *s, const char *id, bool *found)
{
    size_t lo = 0, hi = s->psk_count;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(s->psk_index[mid], id);
        if (!cmp) { *found = true; return mid; }
        if (cmp < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* A key this process just served, added since the last poll (another
 * process may add it and remove it again within one poll): it joins the
 * identities the next poll compares with, so that its removal is told and
 * the sessions made with it end. */
static void seen_served(struct sqlite_seen *s, const char *id)
{
    bool found;
    if (!s->psk_count && s->psk_ids_len) return;   /* index lost to no memory: until the next poll */
    size_t at = seen_position(s, id, &found);
    if (found) return;
    size_t k = strlen(id) + 1, off = at < s->psk_count ? (size_t)(s->psk_index[at] - s->psk_ids) : s->psk_ids_len;
    char *grown = realloc(s->psk_ids, s->psk_ids_len + k);
    if (!grown) return;
    memmove(grown + off + k, grown + off, s->psk_ids_len - off);
    memcpy(grown + off, id, k);
    s->psk_ids = grown;
    s->psk_ids_len += k;
    index_psk_ids(s);
}

static int64_t data_version(struct credentials *cs)
{
    sqlite3_stmt *st = cs->seen.data_version;
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    return v;
}

static int sqlite_follow(struct credentials *cs)
{
    struct sqlite_seen *s = &cs->seen;
    if (sqlite3_prepare_v3(cs->db, "PRAGMA data_version", -1, SQLITE_PREPARE_PERSISTENT, &s->data_version,
                           NULL) != SQLITE_OK ||
        (s->version = data_version(cs)) < 0 || read_ca_digest(cs, &s->ca_digest) ||
        read_psk_ids(cs, &s->psk_ids, &s->psk_ids_len) || index_psk_ids(s)) {
        log_error("credentials: cannot follow the store's changes: %s", sqlite3_errmsg(cs->db));
        return -1;
    }
    s->following = true;
    return 0;
}

/* Only when another connection committed (data_version moved) is anything
 * read: the CA rows (the generation moves if they differ) and the PSK
 * identities (each one gone is told). A failed read is retried at the
 * next poll: the version is kept until both succeeded. */
static int sqlite_poll(struct credentials *cs)
{
    struct sqlite_seen *s = &cs->seen;
    int64_t v = s->following ? data_version(cs) : s->version;
    if (v < 0) return -1;
    if (v == s->version) return 0;
    uint64_t digest;
    char *ids;
    size_t len;
    if (read_ca_digest(cs, &digest) || read_psk_ids(cs, &ids, &len)) return -1;
    int changes = digest != s->ca_digest;
    if (changes) {
        s->ca_digest = digest;
        s->ca_generation++;
        log_info("credentials: the trusted CAs changed in the store");
    }
    tell_removed(&cs->relay, s->psk_ids, s->psk_ids_len, ids, len);
    changes += len != s->psk_ids_len || (len && memcmp(ids, s->psk_ids, len));
    free(s->psk_ids);
    s->psk_ids = ids;
    s->psk_ids_len = len;
    if (index_psk_ids(s)) s->psk_count = 0;   /* no memory: compared again at the next poll */
    s->version = v;
    return changes;
}

int cred_follow_changes(struct credentials *cs, struct loop *loop, cred_gone_fn *gone, void *arg)
{
    if (!cs) return 0;
    cs->relay = (struct gone_relay){ gone, arg };
    return cs->pg ? cred_pg_follow(cs->pg, loop, relay_gone, &cs->relay) : sqlite_follow(cs);
}

void cred_unfollow_changes(struct credentials *cs)
{
    if (cs && cs->pg) cred_pg_unfollow(cs->pg);
    else if (cs) forget_seen(cs);
}

bool cred_changes_waiting(const struct credentials *cs)
{
    return cs && cs->pg && cred_pg_waiting(cs->pg);
}

int cred_poll_changes(struct credentials *cs)
{
    return !cs ? 0 : cs->pg ? cred_pg_poll(cs->pg) : sqlite_poll(cs);
}

unsigned cred_ca_generation(const struct credentials *cs)
{
    return !cs ? 0 : cs->pg ? cred_pg_ca_generation(cs->pg) : cs->seen.ca_generation;
}

bool cred_shared(const struct credentials *cs)
{
    return cs && cs->pg;
}

uint64_t cred_waits_outside_fiber(const struct credentials *cs)
{
    return cred_shared(cs) ? cred_pg_waits_outside_fiber(cs->pg) : 0;
}

/* The PSK and ESPrim key tables have the same shape; the key is sealed. */
static int put_key(struct credentials *cs, const char *table, const struct cred_psk *psk)
{
    if (!cred_valid_identity(psk->identity) || !psk->key_len || psk->key_len > CRED_KEY_MAX ||
        !valid_patterns(psk->originators))
        return -1;
    uint8_t blob[SEALED_MAX];
    int len = seal_key(cs, table, psk->identity, psk->key, psk->key_len, blob);
    if (len < 0) return -1;
    if (cs->pg) return shared_put(cs, !strcmp(table, "psk") ? CRED_T_PSK : CRED_T_ESPRIM, psk, blob, len, 0);
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO %s (identity, key, originators) VALUES (?, ?, ?)", table);
    const char *params[] = { psk->identity, NULL, psk->originators };
    int rc = exec_stmt(cs, sql, 3, params, blob, len, 2);
    return rc == SQLITE_DONE ? 0 : -1;
}

int cred_put_psk(struct credentials *cs, const struct cred_psk *psk)
{
    return put_key(cs, "psk", psk);
}

int cred_put_esprim_key(struct credentials *cs, const struct cred_psk *key)
{
    return put_key(cs, "esprim_key", key);
}

static int remove_row(struct credentials *cs, const char *sql, const char *key)
{
    const char *params[] = { key };
    if (exec_stmt(cs, sql, 1, params, NULL, 0, 0) != SQLITE_DONE) return -1;
    return sqlite3_changes(cs->db) ? 0 : 1;
}

int cred_remove_psk(struct credentials *cs, const char *identity)
{
    if (cs->pg) return cred_pg_remove(cs->pg, CRED_T_PSK, identity);
    return remove_row(cs, "DELETE FROM psk WHERE identity = ?", identity);
}

/* A row (identity, sealed key, originators) with its key opened: 0, or -1
 * logged (seal_at_rest checked every key at open: altered since). */
static int psk_from_row(struct credentials *cs, const char *table, sqlite3_stmt *st, struct cred_psk *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->identity, sizeof out->identity, "%s", (const char *)sqlite3_column_text(st, 0));
    int n = open_key(cs, table, out->identity, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
                     out->key);
    if (n < 0) {
        log_error("credentials: the %s key '%s' does not open (the store was altered)", table, out->identity);
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->key_len = (size_t)n;
    snprintf(out->originators, sizeof out->originators, "%s", (const char *)sqlite3_column_text(st, 2));
    return 0;
}

/* Every (D)TLS PSK handshake and every SAEF check of a PSK session looks a
 * key up: its statement is prepared once (preparing cost more than the
 * lookup). table is "psk" or "esprim_key". */
static sqlite3_stmt *key_query(struct credentials *cs, const char *table)
{
    sqlite3_stmt **st = !strcmp(table, "psk") ? &cs->get_psk : &cs->get_esprim_key;
    if (*st) return *st;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT identity, key, originators FROM %s WHERE identity = ?", table);
    return sqlite3_prepare_v3(cs->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK ? *st : NULL;
}

static int get_key(struct credentials *cs, const char *table, const char *identity, struct cred_psk *out)
{
    if (cs->pg) return shared_get(cs, !strcmp(table, "psk") ? CRED_T_PSK : CRED_T_ESPRIM, identity, out);
    sqlite3_stmt *st = key_query(cs, table);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, identity, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && psk_from_row(cs, table, st, out)) rc = SQLITE_ERROR;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

/* The live lease of identity; ended ones are forgotten on the way. */
static struct lease *lease_of(struct credentials *cs, const char *identity)
{
    int64_t now = clock_now_us();
    for (int i = 0; i < CRED_LEASES; i++) {
        struct lease *l = &cs->leases[i];
        if (!l->until_us) continue;
        if (l->until_us <= now) { explicit_bzero(l, sizeof *l); continue; }
        if (!strcmp(l->psk.identity, identity)) return l;
    }
    return NULL;
}

/* The stored keys first, then the MEF's leases; an identity neither knows
 * is told to the miss hook (the enrolment target fetches it). */
int cred_get_psk(struct credentials *cs, const char *identity, struct cred_psk *out)
{
    int rc = get_key(cs, "psk", identity, out);
    if (rc == 0 && cs->seen.following) seen_served(&cs->seen, identity);
    if (rc == 1 && cs->pg) rc = shared_get(cs, CRED_T_LEASE, identity, out);
    if (rc != 1) return rc;
    struct lease *l = lease_of(cs, identity);
    if (l) *out = l->psk;
    else if (cs->miss) cs->miss(cs->miss_arg, identity);
    return l ? 0 : 1;
}

int cred_get_esprim_key(struct credentials *cs, const char *key_id, struct cred_psk *out)
{
    return get_key(cs, "esprim_key", key_id, out);
}

void cred_on_miss(struct credentials *cs, cred_miss_fn *fn, void *arg)
{
    cs->miss = fn;
    cs->miss_arg = arg;
}

int cred_lease_psk(struct credentials *cs, const struct cred_psk *psk, int64_t until_us)
{
    if (!cred_valid_identity(psk->identity) || !psk->key_len || psk->key_len > CRED_KEY_MAX ||
        until_us <= clock_now_us())
        return -1;
    if (cs->pg) {
        uint8_t blob[SEALED_MAX];
        int len = seal_key(cs, "lease", psk->identity, psk->key, psk->key_len, blob);
        if (len < 0) return -1;
        if (!shared_put(cs, CRED_T_LEASE, psk, blob, len, until_us)) return 0;
        log_warn("credentials: the lease of %s is held by this front-end only (the database did not take it)",
                 psk->identity);
    }
    struct lease *slot = lease_of(cs, psk->identity);
    for (int i = 0; !slot && i < CRED_LEASES; i++)
        if (!cs->leases[i].until_us) slot = &cs->leases[i];
    /* Full: the lease that ends first gives way (it is fetched again if used). */
    if (!slot) {
        slot = &cs->leases[0];
        for (int i = 1; i < CRED_LEASES; i++)
            if (cs->leases[i].until_us < slot->until_us) slot = &cs->leases[i];
    }
    slot->psk = *psk;
    slot->until_us = until_us;
    return 0;
}

int cred_withdraw_lease(struct credentials *cs, const char *identity)
{
    struct lease *l = lease_of(cs, identity);
    if (l) explicit_bzero(l, sizeof *l);
    int shared = cs->pg ? cred_pg_remove(cs->pg, CRED_T_LEASE, identity) : 1;
    return l || !shared ? 0 : 1;
}

int cred_each_lease(struct credentials *cs, int (*fn)(void *arg, const struct cred_psk *psk, int64_t until_us),
                    void *arg)
{
    int rc = 0;
    if (cs->pg) {
        struct shared_visit v = { .cs = cs, .table = CRED_T_LEASE, .lease_fn = fn, .arg = arg };
        rc = cred_pg_each(cs->pg, CRED_T_LEASE, visit_shared, &v);
    }
    for (int i = 0; !rc && i < CRED_LEASES; i++)
        if (cs->leases[i].until_us) rc = fn(arg, &cs->leases[i].psk, cs->leases[i].until_us);
    return rc;
}

int cred_each_psk(struct credentials *cs, int (*fn)(void *arg, const struct cred_psk *psk), void *arg)
{
    if (cs->pg) {
        struct shared_visit v = { .cs = cs, .table = CRED_T_PSK, .psk_fn = fn, .arg = arg };
        return cred_pg_each(cs->pg, CRED_T_PSK, visit_shared, &v);
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cs->db, "SELECT identity, key, originators FROM psk ORDER BY identity",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = 0;
    struct cred_psk psk;
    while (!rc && sqlite3_step(st) == SQLITE_ROW)
        rc = psk_from_row(cs, "psk", st, &psk) ? -1 : fn(arg, &psk);
    memset(&psk, 0, sizeof psk);
    sqlite3_finalize(st);
    return rc;
}

int cred_put_ca(struct credentials *cs, const char *name, const char *pem)
{
    if (!*name || !strstr(pem, "-----BEGIN CERTIFICATE-----")) return -1;
    if (cs->pg) return cred_pg_put_ca(cs->pg, name, pem);
    const char *params[] = { name, pem };
    return exec_stmt(cs, "INSERT OR REPLACE INTO trusted_ca (name, pem) VALUES (?, ?)",
                     2, params, NULL, 0, 0) == SQLITE_DONE ? 0 : -1;
}

int cred_remove_ca(struct credentials *cs, const char *name)
{
    if (cs->pg) return cred_pg_remove_ca(cs->pg, name);
    return remove_row(cs, "DELETE FROM trusted_ca WHERE name = ?", name);
}

int cred_each_ca(struct credentials *cs, int (*fn)(void *arg, const char *name, const char *pem),
                 void *arg)
{
    if (cs->pg) return cred_pg_each_ca(cs->pg, fn, arg);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cs->db, "SELECT name, pem FROM trusted_ca ORDER BY name", -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    int rc = 0;
    while (!rc && sqlite3_step(st) == SQLITE_ROW)
        rc = fn(arg, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    return rc;
}

int cred_put_login_code(struct credentials *cs, const char *code, const char *originator, int64_t now_us,
                        int64_t until_us)
{
    if (cs->pg) return cred_pg_put_login_code(cs->pg, code, originator, now_us, until_us);
    char until[24], now[24];
    snprintf(until, sizeof until, "%lld", (long long)until_us);
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    /* Codes nobody used are removed with the next one minted. */
    const char *old[] = { now };
    exec_stmt(cs, "DELETE FROM console_code WHERE until_us <= CAST(? AS INTEGER)", 1, old, NULL, 0, 0);
    const char *params[] = { code, originator, until };
    return exec_stmt(cs, "INSERT INTO console_code (code, originator, until_us) VALUES (?, ?, ?)",
                     3, params, NULL, 0, 0) == SQLITE_DONE ? 0 : -1;
}

int cred_take_login_code(struct credentials *cs, const char *code, int64_t now_us, char *originator, size_t cap)
{
    if (cs->pg) return cred_pg_take_login_code(cs->pg, code, now_us, originator, cap);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cs->db, "DELETE FROM console_code WHERE code = ? RETURNING originator, until_us",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st), found = 1;
    if (rc == SQLITE_ROW && sqlite3_column_int64(st, 1) > now_us) {
        snprintf(originator, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        found = 0;
    }
    while (rc == SQLITE_ROW) rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? found : -1;
}
