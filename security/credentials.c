#include "credentials.h"

#include "../cse/base/clock.h"
#include "../cse/base/log.h"

#include <ctype.h>
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

struct credentials {
    sqlite3 *db;
    struct lease leases[CRED_LEASES];
    cred_miss_fn *miss;
    void *miss_arg;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS psk (identity TEXT PRIMARY KEY, key BLOB NOT NULL,"
    " originators TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS esprim_key (identity TEXT PRIMARY KEY, key BLOB NOT NULL,"
    " originators TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS trusted_ca (name TEXT PRIMARY KEY, pem TEXT NOT NULL);";

struct credentials *cred_open(const char *file)
{
    struct credentials *cs = calloc(1, sizeof *cs);
    if (!cs) return NULL;
    /* Keys live here: nobody but the CSE's user may read the file. */
    mode_t old = umask(077);
    int rc = sqlite3_open(file, &cs->db);
    umask(old);
    if (rc != SQLITE_OK ||
        sqlite3_exec(cs->db, "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=2000;", NULL, NULL, NULL) ||
        sqlite3_exec(cs->db, schema, NULL, NULL, NULL)) {
        log_error("credentials: cannot open %s: %s", file, sqlite3_errmsg(cs->db));
        cred_close(cs);
        return NULL;
    }
    return cs;
}

void cred_close(struct credentials *cs)
{
    if (!cs) return;
    explicit_bzero(cs->leases, sizeof cs->leases);
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

/* The PSK and ESPrim key tables have the same shape; sql names the table. */
static int put_key(struct credentials *cs, const char *sql, const struct cred_psk *psk)
{
    if (!cred_valid_identity(psk->identity) || !psk->key_len || psk->key_len > CRED_KEY_MAX ||
        !valid_patterns(psk->originators))
        return -1;
    const char *params[] = { psk->identity, NULL, psk->originators };
    int rc = exec_stmt(cs, sql, 3, params, psk->key, (int)psk->key_len, 2);
    return rc == SQLITE_DONE ? 0 : -1;
}

int cred_put_psk(struct credentials *cs, const struct cred_psk *psk)
{
    return put_key(cs, "INSERT OR REPLACE INTO psk (identity, key, originators) VALUES (?, ?, ?)", psk);
}

int cred_put_esprim_key(struct credentials *cs, const struct cred_psk *key)
{
    return put_key(cs, "INSERT OR REPLACE INTO esprim_key (identity, key, originators) VALUES (?, ?, ?)", key);
}

static int remove_row(struct credentials *cs, const char *sql, const char *key)
{
    const char *params[] = { key };
    if (exec_stmt(cs, sql, 1, params, NULL, 0, 0) != SQLITE_DONE) return -1;
    return sqlite3_changes(cs->db) ? 0 : 1;
}

int cred_remove_psk(struct credentials *cs, const char *identity)
{
    return remove_row(cs, "DELETE FROM psk WHERE identity = ?", identity);
}

static void psk_from_row(sqlite3_stmt *st, struct cred_psk *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->identity, sizeof out->identity, "%s", (const char *)sqlite3_column_text(st, 0));
    int n = sqlite3_column_bytes(st, 1);
    out->key_len = n > CRED_KEY_MAX ? CRED_KEY_MAX : (size_t)n;
    if (out->key_len) memcpy(out->key, sqlite3_column_blob(st, 1), out->key_len);
    snprintf(out->originators, sizeof out->originators, "%s", (const char *)sqlite3_column_text(st, 2));
}

static int get_key(struct credentials *cs, const char *sql, const char *identity, struct cred_psk *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cs->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_text(st, 1, identity, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) psk_from_row(st, out);
    sqlite3_finalize(st);
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
    int rc = get_key(cs, "SELECT identity, key, originators FROM psk WHERE identity = ?", identity, out);
    if (rc != 1) return rc;
    struct lease *l = lease_of(cs, identity);
    if (l) *out = l->psk;
    else if (cs->miss) cs->miss(cs->miss_arg, identity);
    return l ? 0 : 1;
}

int cred_get_esprim_key(struct credentials *cs, const char *key_id, struct cred_psk *out)
{
    return get_key(cs, "SELECT identity, key, originators FROM esprim_key WHERE identity = ?", key_id, out);
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
    return l ? 0 : 1;
}

int cred_each_lease(struct credentials *cs, int (*fn)(void *arg, const struct cred_psk *psk, int64_t until_us),
                    void *arg)
{
    int rc = 0;
    for (int i = 0; !rc && i < CRED_LEASES; i++)
        if (cs->leases[i].until_us) rc = fn(arg, &cs->leases[i].psk, cs->leases[i].until_us);
    return rc;
}

int cred_each_psk(struct credentials *cs, int (*fn)(void *arg, const struct cred_psk *psk), void *arg)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cs->db, "SELECT identity, key, originators FROM psk ORDER BY identity",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = 0;
    struct cred_psk psk;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        psk_from_row(st, &psk);
        rc = fn(arg, &psk);
    }
    memset(&psk, 0, sizeof psk);
    sqlite3_finalize(st);
    return rc;
}

int cred_put_ca(struct credentials *cs, const char *name, const char *pem)
{
    if (!*name || !strstr(pem, "-----BEGIN CERTIFICATE-----")) return -1;
    const char *params[] = { name, pem };
    return exec_stmt(cs, "INSERT OR REPLACE INTO trusted_ca (name, pem) VALUES (?, ?)",
                     2, params, NULL, 0, 0) == SQLITE_DONE ? 0 : -1;
}

int cred_remove_ca(struct credentials *cs, const char *name)
{
    return remove_row(cs, "DELETE FROM trusted_ca WHERE name = ?", name);
}

int cred_each_ca(struct credentials *cs, int (*fn)(void *arg, const char *name, const char *pem),
                 void *arg)
{
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
