/* The WAL write-gathering VFS (cse/store/wal_gather.c): a commit is one
 * write, what it wrote is there after a kill, a failed write fails the
 * commit and leaves earlier commits intact, and databases written through it
 * read back the same with SQLite's own VFS. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>

#include "cse/store/wal_gather.h"

static char dir[64], file[96];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ironbark-walg-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(file, sizeof file, "%s/db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char path[128];
    const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(path, sizeof path, "%s%s", file, suffixes[i]);
        unlink(path);
    }
    rmdir(dir);
    return 0;
}

/* The store's settings (store.c): exclusive WAL, 1 KiB pages. */
static sqlite3 *open_db(const char *vfs, int page_size)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(file, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof sql, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA page_size=%d; PRAGMA journal_mode=WAL;"
             "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;"
             "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v TEXT);"
             "CREATE INDEX IF NOT EXISTS t_v ON t(v);", page_size);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    return db;
}

/* Inserts rows [from, from + n) in one transaction; SQLite's result code. */
static int insert_rows(sqlite3 *db, int from, int n)
{
    char sql[160];
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return -1;
    for (int i = from; i < from + n; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO t VALUES(%d, printf('%%.*c', 300, char(65 + %d %% 26)))", i, i);
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int count_rows(sqlite3 *db)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void assert_intact(sqlite3 *db)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* A commit of many pages: a few writes where SQLite makes two per frame,
 * and the same rows through SQLite's own VFS afterwards. */
static void test_commit_is_gathered(void **state)
{
    (void)state;
    assert_non_null(wal_gather_vfs());
    sqlite3 *db = open_db(wal_gather_vfs(), 1024);
    unsigned long before = wal_gather_flushes();
    assert_int_equal(insert_rows(db, 0, 100), SQLITE_OK);
    unsigned long writes = wal_gather_flushes() - before;
    sqlite3_int64 frames = 0;
    /* Frames written by the commit: the WAL's size over a frame's. */
    sqlite3_file *wal = NULL;
    assert_int_equal(sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal), SQLITE_OK);
    assert_int_equal(wal->pMethods->xFileSize(wal, &frames), SQLITE_OK);
    frames = (frames - 32) / (1024 + 24);
    print_message("# %lld frames in %lu writes\n", (long long)frames, writes);
    assert_true(frames > 40);                  /* 100 rows of 300 bytes, indexed */
    assert_true(writes >= 1 && writes <= (unsigned long)(frames * 1048 / (64 * 1024) + 2));
    assert_int_equal(insert_rows(db, 100, 1), SQLITE_OK);
    sqlite3_close(db);

    db = open_db(NULL, 1024);
    assert_int_equal(count_rows(db), 101);
    assert_intact(db);
    sqlite3_close(db);
}

/* Pages larger than the gathering buffer are written as they come. */
static void test_large_pages(void **state)
{
    (void)state;
    sqlite3 *db = open_db(wal_gather_vfs(), 65536);
    for (int i = 0; i < 5; i++) assert_int_equal(insert_rows(db, i * 400, 400), SQLITE_OK);
    sqlite3_close(db);
    db = open_db(NULL, 65536);
    assert_int_equal(count_rows(db), 2000);
    assert_intact(db);
    sqlite3_close(db);
}

/* A transaction larger than the page cache spills frames before its commit
 * and rewrites some of them in place: not consecutive with what came before. */
static void test_spill_and_rewrite(void **state)
{
    (void)state;
    sqlite3 *db = open_db(wal_gather_vfs(), 1024);
    assert_int_equal(sqlite3_exec(db, "PRAGMA cache_size=10", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 300; i++) {
            char sql[128];
            snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO t VALUES(%d, printf('%%.*c', 200, char(%d)))",
                     i, 65 + round);
            assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        }
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    db = open_db(NULL, 1024);
    assert_int_equal(count_rows(db), 300);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t WHERE substr(v,1,1)='C'", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 300);      /* the last round's values */
    sqlite3_finalize(st);
    assert_intact(db);
    sqlite3_close(db);
}

/* A process killed right after its commits returned, with no close: every
 * one of them is in the file (what the CSE answers after is durable). */
static void test_killed_after_commit(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *db = open_db(wal_gather_vfs(), 1024);
        for (int i = 0; i < 40; i++)
            if (insert_rows(db, i * 10, 10) != SQLITE_OK) _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    sqlite3 *db = open_db(NULL, 1024);
    assert_int_equal(count_rows(db), 400);
    assert_intact(db);
    sqlite3_close(db);
}

/* A write that fails (the file size limit, as a full disk would) fails the
 * commit that made it; what was committed before is intact. */
static void test_failed_write_fails_commit(void **state)
{
    (void)state;
    sqlite3 *db = open_db(wal_gather_vfs(), 1024);
    assert_int_equal(insert_rows(db, 0, 20), SQLITE_OK);
    sqlite3_close(db);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        db = open_db(wal_gather_vfs(), 1024);
        sqlite3_int64 wal_size = 0;
        sqlite3_file *wal = NULL;
        sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
        if (insert_rows(db, 20, 1) != SQLITE_OK) _exit(3);
        wal->pMethods->xFileSize(wal, &wal_size);
        signal(SIGXFSZ, SIG_IGN);
        /* No room for one more frame: a small commit is all in the buffer
         * until its commit frame, whose write must fail the COMMIT. */
        struct rlimit tight = { (rlim_t)wal_size + 100, (rlim_t)wal_size + 8 * 1048 };
        if (setrlimit(RLIMIT_FSIZE, &tight)) _exit(5);
        if (insert_rows(db, 500, 1) == SQLITE_OK) _exit(7);
        /* Room for a few more frames, not for 200 rows' worth. */
        struct rlimit lim = { (rlim_t)wal_size + 8 * 1048, (rlim_t)wal_size + 8 * 1048 };
        if (setrlimit(RLIMIT_FSIZE, &lim)) _exit(5);
        int rc = insert_rows(db, 1000, 200);
        _exit(rc == SQLITE_OK ? 6 : 0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);                 /* the big commit failed */
    db = open_db(NULL, 1024);
    assert_int_equal(count_rows(db), 21);                     /* the ones before it are there */
    assert_intact(db);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_is_gathered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spill_and_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_fails_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
