/* The SAEF credential store: originator patterns, the config-file PSK form,
 * the SQLite store, and AE-ID normalisation for the identity gate. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cse/core/config.h"
#include "cse/core/cse.h"
#include "cse/core/rsc.h"
#include "security/cred_admin.h"
#include "security/credentials.h"
#include "security/key_seal.h"
#include "security/saef.h"

static void patterns(void **state)
{
    (void)state;
    assert_true(cred_pattern_allows("Cmeter*", "Cmeter1"));
    assert_true(cred_pattern_allows("Cmeter*", "Cmeter"));
    assert_false(cred_pattern_allows("Cmeter*", "Cmete"));
    assert_false(cred_pattern_allows("Cmeter*", "XCmeter1"));
    assert_true(cred_pattern_allows("Cabc", "Cabc"));
    assert_false(cred_pattern_allows("Cabc", "Cabcd"));
    assert_true(cred_pattern_allows("Cx, Cy ,Cz", "Cy"));
    assert_true(cred_pattern_allows("Cx,Cz", "Cz"));
    assert_false(cred_pattern_allows("Cx,Cz", "Cy"));
    assert_true(cred_pattern_allows("C123*X", "C123abcX"));
    assert_false(cred_pattern_allows("C123*X", "C123abcY"));
    assert_true(cred_pattern_allows("*", "anything"));
    assert_true(cred_pattern_allows("C*a*b", "Cxaybzb"));
    assert_false(cred_pattern_allows("*", ""));
    assert_false(cred_pattern_allows("", "C1"));
    assert_false(cred_pattern_allows(NULL, "C1"));
}

static void parse_psk(void **state)
{
    (void)state;
    struct cred_psk p;
    char err[128];
    assert_int_equal(cred_parse_psk("key7@sp.example.com:0aFF10:Cmeter*,Cgw", &p, err, sizeof err), 0);
    assert_string_equal(p.identity, "key7@sp.example.com");
    assert_int_equal(p.key_len, 3);
    assert_int_equal(p.key[0], 0x0a);
    assert_int_equal(p.key[1], 0xff);
    assert_int_equal(p.key[2], 0x10);
    assert_string_equal(p.originators, "Cmeter*,Cgw");
    assert_int_equal(cred_parse_psk("no-colons", &p, err, sizeof err), -1);
    assert_int_equal(cred_parse_psk("id:abc:C1", &p, err, sizeof err), -1);       /* odd hex */
    assert_int_equal(cred_parse_psk("id:zz:C1", &p, err, sizeof err), -1);        /* not hex */
    assert_int_equal(cred_parse_psk("bad id:00:C1", &p, err, sizeof err), -1);    /* space */
    assert_int_equal(cred_parse_psk("id:00:", &p, err, sizeof err), -1);          /* no patterns */
    assert_int_equal(cred_parse_psk("id:00:C1;drop", &p, err, sizeof err), -1);   /* bad pattern */
    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big, "i:", 2);
    memcpy(big + 2 + 2 * (CRED_KEY_MAX + 1), ":C1", 4);
    assert_int_equal(cred_parse_psk(big, &p, err, sizeof err), -1);               /* key too long */
    assert_false(cred_valid_identity(""));
    assert_true(cred_valid_identity("a.b_c-d@e"));
}

/* The store at path with its root file beside it (path-root.key). */
static struct credentials *temp_store_at(const char *path)
{
    char root[64];
    snprintf(root, sizeof root, "%s-root.key", path);
    struct credentials *cs = cred_open(path, root, key_seal_openssl());
    assert_non_null(cs);
    return cs;
}

/* A fresh store in a temporary file; drop_store() removes it with its WAL
 * and root file. */
static struct credentials *temp_store(char *path)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return temp_store_at(path);
}

static void drop_store(struct credentials *cs, const char *path)
{
    cred_close(cs);
    char side[64];
    unlink(path);
    snprintf(side, sizeof side, "%s-root.key", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static void store(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-cred-XXXXXX";
    struct credentials *cs = temp_store(path);
    struct cred_psk p, q;
    char err[64];
    assert_int_equal(cred_parse_psk("k1@x:0102:Ca*", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cs, &p), 0);
    assert_int_equal(cred_get_psk(cs, "k1@x", &q), 0);
    assert_int_equal(q.key_len, 2);
    assert_memory_equal(q.key, "\x01\x02", 2);
    assert_string_equal(q.originators, "Ca*");
    assert_int_equal(cred_get_psk(cs, "k2@x", &q), 1);
    assert_int_equal(cred_get_psk(cs, "k1@x' OR '1'='1", &q), 1);
    snprintf(p.originators, sizeof p.originators, "Cb");
    assert_int_equal(cred_put_psk(cs, &p), 0);                   /* replaces */
    assert_int_equal(cred_get_psk(cs, "k1@x", &q), 0);
    assert_string_equal(q.originators, "Cb");
    assert_int_equal(cred_remove_psk(cs, "k1@x"), 0);
    assert_int_equal(cred_remove_psk(cs, "k1@x"), 1);
    assert_int_equal(cred_put_ca(cs, "ca1", "not a certificate"), -1);
    assert_int_equal(cred_put_ca(cs, "ca1", "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n"), 0);
    assert_int_equal(cred_remove_ca(cs, "ca1"), 0);
    drop_store(cs, path);
}

/* Gone identities, as cred_follow_changes() tells them. */
struct gone_list {
    char ids[4][CRED_ID_MAX];
    int n;
};

static void note_gone(void *arg, const char *identity)
{
    struct gone_list *g = arg;
    if (g->n < 4) snprintf(g->ids[g->n], sizeof g->ids[0], "%s", identity);
    g->n++;
}

/* An SQLite store followed by one connection (the CSE) while another (the
 * admin command's process) changes it: nothing read until the file's change
 * counter moves; then a CA change moves the generation once, a removed PSK
 * is told once, an added or replaced one is not; own writes move nothing. */
static void follow_sqlite(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-follow-XXXXXX";
    struct credentials *cse = temp_store(path), *admin = temp_store_at(path);
    struct cred_psk a, b;
    char err[64];
    static const char pem[] = "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n";
    assert_int_equal(cred_parse_psk("a@x:0102:Ca", &a, err, sizeof err), 0);
    assert_int_equal(cred_parse_psk("b@x:0304:Cb", &b, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cse, &a), 0);
    struct gone_list gone = { 0 };
    assert_int_equal(cred_follow_changes(cse, NULL, note_gone, &gone), 0);
    unsigned gen = cred_ca_generation(cse);
    assert_int_equal(cred_poll_changes(cse), 0);                 /* nothing committed elsewhere */

    assert_int_equal(cred_put_ca(admin, "ca1", pem), 0);
    assert_int_equal(cred_poll_changes(cse), 1);
    assert_int_equal(cred_ca_generation(cse), gen + 1);
    assert_int_equal(cred_poll_changes(cse), 0);                 /* seen once */
    assert_int_equal(cred_put_ca(admin, "ca1", pem), 0);         /* the same row again */
    assert_int_equal(cred_poll_changes(cse), 0);
    assert_int_equal(cred_ca_generation(cse), gen + 1);

    assert_int_equal(cred_put_psk(admin, &b), 0);                /* added: nobody to tell */
    assert_int_equal(cred_poll_changes(cse), 1);
    assert_int_equal(gone.n, 0);
    assert_int_equal(cred_remove_psk(admin, "a@x"), 0);
    assert_int_equal(cred_remove_ca(admin, "ca1"), 0);
    assert_int_equal(cred_poll_changes(cse), 2);
    assert_int_equal(gone.n, 1);
    assert_string_equal(gone.ids[0], "a@x");
    assert_int_equal(cred_ca_generation(cse), gen + 2);

    assert_int_equal(cred_remove_psk(cse, "b@x"), 0);            /* its own write: data_version stays */
    assert_int_equal(cred_poll_changes(cse), 0);
    assert_int_equal(gone.n, 1);

    /* Added, served and removed between two polls: its removal is still
     * told, since a session was made with it. */
    struct cred_psk c, got;
    assert_int_equal(cred_parse_psk("c@x:0506:Cc", &c, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(admin, &c), 0);
    assert_int_equal(cred_get_psk(cse, "c@x", &got), 0);
    assert_int_equal(cred_get_psk(cse, "c@x", &got), 0);         /* served twice, known once */
    assert_int_equal(cred_remove_psk(admin, "c@x"), 0);
    assert_int_equal(cred_poll_changes(cse), 1);                 /* c@x, served, is gone */
    assert_int_equal(gone.n, 3);     /* b@x, which its own write removed unseen, is told now too */
    assert_string_equal(gone.ids[1], "b@x");
    assert_string_equal(gone.ids[2], "c@x");
    assert_int_equal(cred_poll_changes(cse), 0);
    assert_int_equal(gone.n, 3);                                 /* told once */
    memset(&c, 0, sizeof c);
    memset(&got, 0, sizeof got);
    cred_unfollow_changes(cse);
    assert_int_equal(cred_put_ca(admin, "ca2", pem), 0);
    assert_int_equal(cred_poll_changes(cse), 0);                 /* no longer followed */
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    cred_close(admin);
    drop_store(cse, path);
}

/* ESPrim keys have a table of their own: a PSK of the same name is not one. */
static void esprim_keys(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-esprim-XXXXXX";
    struct credentials *cs = temp_store(path);
    struct cred_psk p, q;
    char err[64];
    assert_int_equal(cred_parse_psk("k1:0a0b0c:Cmeter*", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_esprim_key(cs, &p), 0);
    assert_int_equal(cred_get_esprim_key(cs, "k1", &q), 0);
    assert_int_equal(q.key_len, 3);
    assert_string_equal(q.originators, "Cmeter*");
    assert_int_equal(cred_get_psk(cs, "k1", &q), 1);          /* not a (D)TLS PSK */
    assert_int_equal(cred_parse_psk("k2:0d:Cx", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cs, &p), 0);
    assert_int_equal(cred_get_esprim_key(cs, "k2", &q), 1);   /* nor the other way round */
    p.key_len = 0;
    assert_int_equal(cred_put_esprim_key(cs, &p), -1);         /* no key */
    drop_store(cs, path);
}

/* psk-file and `credentials add-psk` lines: all stored, or none. */
static void import_lines(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-import-XXXXXX";
    struct credentials *cs = temp_store(path);
    struct cred_psk q;
    char err[256];
    static const char good[] = "# keys\n\n  a@x:0a0b:Ca*  \r\nb@x:0c:Cb\n#last";
    FILE *f = fmemopen((void *)good, sizeof good - 1, "r");
    assert_int_equal(cred_import_psk_lines(cs, f, "keys", err, sizeof err), 2);
    fclose(f);
    assert_int_equal(cred_get_psk(cs, "a@x", &q), 0);
    assert_int_equal(q.key_len, 2);
    assert_string_equal(q.originators, "Ca*");
    assert_int_equal(cred_get_psk(cs, "b@x", &q), 0);

    static const char bad[] = "c@x:0d:Cc\nd@x:zz:Cd\n";
    f = fmemopen((void *)bad, sizeof bad - 1, "r");
    assert_int_equal(cred_import_psk_lines(cs, f, "keys", err, sizeof err), -1);
    fclose(f);
    assert_non_null(strstr(err, "keys:2:"));
    assert_int_equal(cred_get_psk(cs, "c@x", &q), 1);    /* the good line before it is not stored */

    static const char none[] = "# nothing\n\n";
    f = fmemopen((void *)none, sizeof none - 1, "r");
    assert_int_equal(cred_import_psk_lines(cs, f, "keys", err, sizeof err), 0);
    fclose(f);

    char longline[1100];
    memset(longline, 'a', sizeof longline - 1);
    longline[sizeof longline - 1] = 0;
    f = fmemopen(longline, strlen(longline), "r");
    assert_int_equal(cred_import_psk_lines(cs, f, "keys", err, sizeof err), -1);
    fclose(f);
    assert_non_null(strstr(err, "too long"));
    drop_store(cs, path);
}

/* The identity gate on a CSE with one PSK bound to "Cmeter*". */
static int gate_from(struct cse *cse, enum m2m_binding b, const char *cred, const char *fr,
                     const char *ip)
{
    struct m2m_request req;
    struct m2m_response rsp;
    m2m_request_init(&req);
    m2m_response_init(&rsp);
    req.binding = b;
    req.fr = fr ? strdup(fr) : NULL;
    snprintf(req.peer.ip, sizeof req.peer.ip, "%s", ip);
    saef_bind(&req, cred);
    int rc = saef_check(cse, &req, &rsp);
    if (rc) assert_int_equal(rsp.rsc, rc);
    m2m_response_clear(&rsp);
    m2m_request_clear(&req);
    return rc;
}

/* From no peer address: a request made in this process. */
static int gate(struct cse *cse, enum m2m_binding b, const char *cred, const char *fr)
{
    return gate_from(cse, b, cred, fr, "");
}

/* Secure by default off loopback (issue 16 item 9). */
/* Keys at rest (security/key_seal.h, credentials.c) ------------------------ */

static const uint8_t known_key[16] = { 0x5a, 0x17, 0xc3, 0x9e, 0x42, 0x08, 0xd1, 0x6b,
                                       0x7f, 0x90, 0x2e, 0xa4, 0x33, 0xbc, 0x05, 0xe8 };

/* Does the file (with its WAL) hold these bytes anywhere? */
static bool file_holds(const char *path, const uint8_t *bytes, size_t n)
{
    char name[80];
    bool found = false;
    for (int i = 0; i < 2 && !found; i++) {
        snprintf(name, sizeof name, "%s%s", path, i ? "-wal" : "");
        FILE *f = fopen(name, "rb");
        if (!f) continue;
        static uint8_t buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        for (size_t j = 0; !found && j + n <= len; j++) found = !memcmp(buf + j, bytes, n);
    }
    return found;
}

static void sql(const char *path, const char *text)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static struct cred_psk known_psk(const char *identity)
{
    struct cred_psk p = { .key_len = sizeof known_key, .originators = "Cm*" };
    snprintf(p.identity, sizeof p.identity, "%s", identity);
    memcpy(p.key, known_key, sizeof known_key);
    return p;
}

static void seal_round_trip(void **state)
{
    (void)state;
    const struct key_seal_ops *ks = key_seal_openssl();
    char dir[] = "/tmp/ironbark-kek-XXXXXX", root[64], err[300];
    assert_non_null(mkdtemp(dir));
    snprintf(root, sizeof root, "%s/credentials-root.key", dir);
    struct key_seal *k = ks->open(root, "label A", err, sizeof err);
    assert_non_null(k);
    struct stat st;
    assert_int_equal(stat(root, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, KEY_SEAL_ROOT_LEN);
    const uint8_t aad[] = "psk\0id1", other[] = "psk\0id2";
    uint8_t sealed[sizeof known_key + KEY_SEAL_OVERHEAD], again[sizeof sealed], out[sizeof known_key];
    assert_int_equal(ks->seal(k, aad, sizeof aad, known_key, sizeof known_key, sealed), 0);
    assert_int_equal(ks->seal(k, aad, sizeof aad, known_key, sizeof known_key, again), 0);
    assert_memory_not_equal(sealed, again, sizeof sealed);                 /* fresh nonce */
    assert_int_equal(ks->unseal(k, aad, sizeof aad, sealed, sizeof sealed, out), 0);
    assert_memory_equal(out, known_key, sizeof known_key);
    /* Another record's associated data, a flipped bit anywhere, a short blob. */
    assert_int_equal(ks->unseal(k, other, sizeof other, sealed, sizeof sealed, out), -1);
    for (size_t i = 0; i < sizeof sealed; i++) {
        sealed[i] ^= 0x01;
        assert_int_equal(ks->unseal(k, aad, sizeof aad, sealed, sizeof sealed, out), -1);
        sealed[i] ^= 0x01;
    }
    assert_int_equal(ks->unseal(k, aad, sizeof aad, sealed, KEY_SEAL_OVERHEAD - 1, out), -1);
    /* Another label (another store's KEK) from the same root does not open it. */
    struct key_seal *k2 = ks->open(root, "label B", err, sizeof err);
    assert_non_null(k2);
    assert_int_equal(ks->unseal(k2, aad, sizeof aad, sealed, sizeof sealed, out), -1);
    ks->close(k2);
    /* The same root file after a restart opens it. */
    ks->close(k);
    k = ks->open(root, "label A", err, sizeof err);
    assert_non_null(k);
    assert_int_equal(ks->unseal(k, aad, sizeof aad, sealed, sizeof sealed, out), 0);
    ks->close(k);
    unlink(root);
    rmdir(dir);
}

static void root_file_refused(void **state)
{
    (void)state;
    const struct key_seal_ops *ks = key_seal_openssl();
    char dir[] = "/tmp/ironbark-kek-XXXXXX", root[64], db[64], err[300];
    assert_non_null(mkdtemp(dir));
    snprintf(root, sizeof root, "%s/credentials-root.key", dir);
    snprintf(db, sizeof db, "%s/credentials.db", dir);
    struct credentials *cs = cred_open(db, root, key_seal_openssl());
    assert_non_null(cs);
    cred_close(cs);
    chmod(root, 0640);   /* group may read it */
    assert_null(ks->open(root, "x", err, sizeof err));
    assert_non_null(strstr(err, "group or others"));
    assert_null(cred_open(db, root, key_seal_openssl()));
    chmod(root, 0604);
    assert_null(cred_open(db, root, key_seal_openssl()));
    chmod(root, 0600);
    assert_int_equal(truncate(root, 31), 0);   /* not a root secret */
    assert_null(ks->open(root, "x", err, sizeof err));
    assert_null(cred_open(db, root, key_seal_openssl()));
    /* No crypto module: refused rather than stored in the clear. */
    assert_null(cred_open(db, root, NULL));
    char side[80];
    const char *files[] = { "credentials-root.key", "credentials.db", "credentials.db-wal", "credentials.db-shm" };
    for (size_t i = 0; i < 4; i++) {
        snprintf(side, sizeof side, "%s/%s", dir, files[i]);
        unlink(side);
    }
    assert_int_equal(rmdir(dir), 0);
}

/* Sealed rows: no key bytes in the file; a row's blob moved onto another
 * identity, or another table, does not open; a wrong root file refuses the
 * store and drops nothing. */
static void sealed_rows(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-cred-XXXXXX";
    struct credentials *cs = temp_store(path);
    struct cred_psk a = known_psk("a@x"), b = known_psk("b@x"), out;
    b.key[0] ^= 0xff;
    assert_int_equal(cred_put_psk(cs, &a), 0);
    assert_int_equal(cred_put_psk(cs, &b), 0);
    assert_int_equal(cred_put_esprim_key(cs, &a), 0);
    cred_close(cs);
    assert_false(file_holds(path, known_key, sizeof known_key));
    assert_false(file_holds(path, known_key + 1, 8));
    char root[64];
    snprintf(root, sizeof root, "%s-root.key", path);
    cs = cred_open(path, root, key_seal_openssl());
    assert_non_null(cs);
    assert_int_equal(cred_get_psk(cs, "a@x", &out), 0);
    assert_int_equal(out.key_len, sizeof known_key);
    assert_memory_equal(out.key, known_key, sizeof known_key);
    assert_int_equal(cred_get_esprim_key(cs, "a@x", &out), 0);
    assert_memory_equal(out.key, known_key, sizeof known_key);
    cred_close(cs);

    /* b's sealed key swapped onto a: the associated data refuses it at open. */
    sql(path, "UPDATE psk SET key = (SELECT key FROM psk WHERE identity = 'b@x') WHERE identity = 'a@x'");
    assert_null(cred_open(path, root, key_seal_openssl()));
    sql(path, "DELETE FROM psk WHERE identity = 'a@x'");
    /* The psk table's sealed key moved into the esprim_key table: refused too. */
    sql(path, "UPDATE esprim_key SET key = (SELECT key FROM psk WHERE identity = 'b@x')");
    assert_null(cred_open(path, root, key_seal_openssl()));
    sql(path, "DELETE FROM esprim_key");

    /* A wrong root file: refused, and the rows are all still there. */
    char saved[64];
    snprintf(saved, sizeof saved, "%s-saved.key", path);
    assert_int_equal(rename(root, saved), 0);
    assert_null(cred_open(path, root, key_seal_openssl()));   /* a fresh root file is made: wrong */
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM psk", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(rename(saved, root), 0);
    cs = cred_open(path, root, key_seal_openssl());
    assert_non_null(cs);
    assert_int_equal(cred_get_psk(cs, "b@x", &out), 0);
    assert_memory_equal(out.key, b.key, sizeof known_key);
    drop_store(cs, path);
}

/* A store of plain keys (an earlier version) is sealed at first open. */
static void migrate_plain(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-cred-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char text[600], hex[2 * sizeof known_key + 1];
    for (size_t i = 0; i < sizeof known_key; i++) snprintf(hex + 2 * i, 3, "%02x", known_key[i]);
    snprintf(text, sizeof text,
             "CREATE TABLE psk (identity TEXT PRIMARY KEY, key BLOB NOT NULL, originators TEXT NOT NULL);"
             "CREATE TABLE esprim_key (identity TEXT PRIMARY KEY, key BLOB NOT NULL, originators TEXT NOT NULL);"
             "CREATE TABLE trusted_ca (name TEXT PRIMARY KEY, pem TEXT NOT NULL);"
             "INSERT INTO psk VALUES ('p1@x', X'%s', 'C1'), ('p2@x', X'0102', 'C2*');"
             "INSERT INTO esprim_key VALUES ('e1', X'%s', 'C3');", hex, hex);
    sql(path, text);
    assert_true(file_holds(path, known_key, sizeof known_key));
    struct credentials *cs = temp_store_at(path);
    struct cred_psk out;
    assert_int_equal(cred_get_psk(cs, "p1@x", &out), 0);
    assert_int_equal(out.key_len, sizeof known_key);
    assert_memory_equal(out.key, known_key, sizeof known_key);
    assert_string_equal(out.originators, "C1");
    assert_int_equal(cred_get_psk(cs, "p2@x", &out), 0);
    assert_int_equal(out.key_len, 2);
    assert_int_equal(out.key[1], 2);
    assert_int_equal(cred_get_esprim_key(cs, "e1", &out), 0);
    assert_memory_equal(out.key, known_key, sizeof known_key);
    cred_close(cs);
    /* Sealed in place (checkpointed into the main file by the close). */
    assert_false(file_holds(path, known_key, sizeof known_key));
    /* Opened again: already sealed, nothing sealed twice. */
    cs = temp_store_at(path);
    assert_int_equal(cred_get_psk(cs, "p1@x", &out), 0);
    assert_memory_equal(out.key, known_key, sizeof known_key);
    drop_store(cs, path);
}

static void loopback_defaults(void **state)
{
    (void)state;
    assert_true(config_is_loopback("127.0.0.1"));
    assert_true(config_is_loopback("127.8.9.10"));
    assert_true(config_is_loopback("::1"));
    assert_true(config_is_loopback("::ffff:127.0.0.1"));
    assert_true(config_is_loopback("localhost"));
    assert_false(config_is_loopback("0.0.0.0"));
    assert_false(config_is_loopback("::"));
    assert_false(config_is_loopback("192.0.2.1"));
    assert_false(config_is_loopback("128.0.0.1"));
    assert_false(config_is_loopback("example.org"));
    assert_false(config_is_loopback(""));
    struct config c;
    config_defaults(&c);
    assert_int_equal(c.security_http, SECURITY_AUTO);
    config_resolve_security(&c);
    assert_int_equal(c.security_http, SECURITY_OPTIONAL);
    assert_int_equal(c.security_coap, SECURITY_OPTIONAL);
    config_defaults(&c);
    strcpy(c.http_host, "0.0.0.0");
    strcpy(c.coap_host, "::");
    config_resolve_security(&c);
    assert_int_equal(c.security_http, SECURITY_REQUIRED);
    assert_int_equal(c.security_coap, SECURITY_REQUIRED);
    config_defaults(&c);
    strcpy(c.http_host, "0.0.0.0");
    c.security_http = SECURITY_OPTIONAL;              /* the operator opted out */
    config_resolve_security(&c);
    assert_int_equal(c.security_http, SECURITY_OPTIONAL);

    /* The admin unauthenticated: from loopback only, whatever the policy. */
    struct cse cse;
    memset(&cse, 0, sizeof cse);
    config_defaults(&cse.cfg);
    cse.cfg.security_http = cse.cfg.security_coap = SECURITY_OPTIONAL;
    assert_int_equal(gate_from(&cse, BINDING_HTTP, NULL, "CAdmin", "127.0.0.1"), 0);
    assert_int_equal(gate_from(&cse, BINDING_HTTP, NULL, "CAdmin", "192.0.2.7"), RSC_SECURITY_ASSOCIATION_REQUIRED);
    assert_int_equal(gate_from(&cse, BINDING_COAP, NULL, "/id-in/CAdmin", "2001:db8::1"),
                     RSC_SECURITY_ASSOCIATION_REQUIRED);
    assert_int_equal(gate_from(&cse, BINDING_HTTP, NULL, "//ironbark.local/id-in/CAdmin", "192.0.2.7"),
                     RSC_SECURITY_ASSOCIATION_REQUIRED);
    assert_int_equal(gate_from(&cse, BINDING_HTTP, NULL, "Cother", "192.0.2.7"), 0);
    cse.cfg.security_http = SECURITY_OFF;
    assert_int_equal(gate_from(&cse, BINDING_HTTP, NULL, "CAdmin", "192.0.2.7"), RSC_SECURITY_ASSOCIATION_REQUIRED);
    assert_int_equal(gate_from(&cse, BINDING_INTERNAL, NULL, "CAdmin", "192.0.2.7"), 0);
}

static void identity_gate(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-gate-XXXXXX";
    static struct cse cse;
    memset(&cse, 0, sizeof cse);
    config_defaults(&cse.cfg);
    cse.creds = temp_store(path);
    struct cred_psk p;
    char err[64];
    assert_int_equal(cred_parse_psk("k@x:01:Cmeter*", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cse.creds, &p), 0);

    assert_int_equal(gate(&cse, BINDING_HTTP, "12-k@x", "Cmeter1"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-k@x", "/id-in/Cmeter1"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-k@x", "//ironbark.local/id-in/Cmeter1"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-k@x", "Cother"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-k@x", "/id-mn/Cmeter1"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-k@x", NULL), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-gone@x", "Cmeter1"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    /* A certificate binds exactly its AE-ID, in any of its forms. */
    assert_int_equal(gate(&cse, BINDING_COAP, "33-//ironbark.local/id-in/Cdev", "Cdev"), 0);
    assert_int_equal(gate(&cse, BINDING_COAP, "33-Cdev", "/id-in/Cdev"), 0);
    assert_int_equal(gate(&cse, BINDING_COAP, "33-Cdev", "Cdev2"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_COAP, "33-C*", "Cdev"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "99-what", "Cdev"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    /* A credential bound to a foreign SP speaks only for that SP's IDs, never
     * for the local AEs of the same name (cse/ident.h). */
    assert_int_equal(cred_parse_psk("evil@x:02://evil.example/*", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cse.creds, &p), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-evil@x", "//evil.example/id-in/CAdmin"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-evil@x", "//EVIL.example/id-in/Cother"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-evil@x", "CAdmin"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-evil@x", "/id-in/Cother"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-evil@x", "//ironbark.local/id-in/Cother"),
                     RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-evil@x", "//evil.example.other/id-in/C1"),
                     RSC_ORIGINATOR_NOT_AUTHENTICATED);
    /* Patterns in SP-relative or absolute form bind the local IDs they name;
     * "/id-in/..." does not reach other SPs or CSEs. */
    assert_int_equal(cred_parse_psk("local@x:03:/id-in/Cgw*,//IRONBARK.local/id-in/Cdash", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cse.creds, &p), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-local@x", "Cgw1"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-local@x", "//ironbark.local/id-in/Cgw2"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-local@x", "Cdash"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-local@x", "//evil.example/id-in/Cgw1"),
                     RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-local@x", "/id-mn/Cgw1"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(cred_parse_psk("any@x:04:*", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cse.creds, &p), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-any@x", "//evil.example/id-in/C1"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-any@x", "C1"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-any@x", "C1//x"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    /* A certificate for a foreign AE-ID is that foreign AE only. */
    assert_int_equal(gate(&cse, BINDING_COAP, "33-//evil.example/id-in/Cdev", "Cdev"),
                     RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_COAP, "33-//evil.example/id-in/Cdev", "//Evil.Example/id-in/Cdev"), 0);
    /* Unsecured requests: the binding's policy decides. */
    assert_int_equal(gate(&cse, BINDING_HTTP, NULL, "Cany"), 0);
    cse.cfg.security_http = SECURITY_REQUIRED;
    assert_int_equal(gate(&cse, BINDING_HTTP, NULL, "Cany"), RSC_SECURITY_ASSOCIATION_REQUIRED);
    assert_int_equal(gate(&cse, BINDING_COAP, NULL, "Cany"), 0);
    assert_int_equal(gate(&cse, BINDING_INTERNAL, NULL, "Cany"), 0);
    cse.cfg.security_coap = SECURITY_REQUIRED;
    assert_int_equal(gate(&cse, BINDING_COAP, NULL, "Cany"), RSC_SECURITY_ASSOCIATION_REQUIRED);
    assert_int_equal(gate(&cse, BINDING_COAP, "12-k@x", "Cmeter2"), 0);

    drop_store(cse.creds, path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(patterns),
        cmocka_unit_test(parse_psk),
        cmocka_unit_test(store), cmocka_unit_test(follow_sqlite),
        cmocka_unit_test(esprim_keys),
        cmocka_unit_test(import_lines),
        cmocka_unit_test(seal_round_trip), cmocka_unit_test(root_file_refused),
        cmocka_unit_test(sealed_rows), cmocka_unit_test(migrate_plain),
        cmocka_unit_test(identity_gate), cmocka_unit_test(loopback_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
