/* WAL write gathering: see wal_gather.h for what and why. */
#include "wal_gather.h"

#include <sqlite3.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 64 KiB: a round of 16 CREATEs touches about 40 pages of 1 KiB (1 048-byte
 * frames), so a usual commit is one write; a larger one is a write per
 * 64 KiB, which is already few calls for its bytes. Allocated on the WAL's
 * first write, freed when it closes. */
#define GATHER_CAP (64 * 1024)
/* The WAL format (sqlite.org/fileformat2.html#walformat): a 32-byte file
 * header, then frames of a 24-byte header + one page. Bytes 4..7 of a frame
 * header, big-endian, are the database size in pages for a commit frame and
 * zero for any other. */
#define WAL_HEADER 32
#define FRAME_HEADER 24

struct gather_file {
    sqlite3_file base;          /* pMethods = our methods */
    sqlite3_file *real;         /* the default VFS's file, right after this struct */
    bool wal;                   /* gather this file's writes */
    bool commit_pending;        /* the commit frame's header is buffered: flush after its page */
    unsigned char *buf;
    sqlite3_int64 start;        /* file offset of buf[0] */
    int len;
};

static sqlite3_vfs gather_vfs;
static sqlite3_io_methods gather_methods;
static unsigned long flushes;

unsigned long wal_gather_flushes(void) { return flushes; }

static sqlite3_file *real_of(sqlite3_file *f) { return ((struct gather_file *)f)->real; }

/* Writes what is buffered; on failure the bytes are dropped with the
 * transaction SQLite is about to roll back (frames past the last commit
 * are never read). */
static int flush(struct gather_file *g)
{
    if (!g->len) return SQLITE_OK;
    int len = g->len;
    g->len = 0;
    g->commit_pending = false;
    flushes++;
    return g->real->pMethods->xWrite(g->real, g->buf, len, g->start);
}

static bool is_commit_header(const void *data, int amount, sqlite3_int64 offset)
{
    if (amount != FRAME_HEADER || offset < WAL_HEADER) return false;
    const unsigned char *h = data;
    return (h[4] | h[5] | h[6] | h[7]) != 0;
}

static int gather_write(sqlite3_file *f, const void *data, int amount, sqlite3_int64 offset)
{
    struct gather_file *g = (struct gather_file *)f;
    if (!g->wal) return g->real->pMethods->xWrite(g->real, data, amount, offset);
    int rc;
    /* Only consecutive writes join: SQLite rewriting a frame in place (a page
     * written twice in one transaction) is written after what came before. */
    if (g->len && (offset != g->start + g->len || amount > GATHER_CAP - g->len) && (rc = flush(g)))
        return rc;
    if (amount > GATHER_CAP) {
        flushes++;
        return g->real->pMethods->xWrite(g->real, data, amount, offset);
    }
    if (!g->buf && !(g->buf = malloc(GATHER_CAP))) {
        return g->real->pMethods->xWrite(g->real, data, amount, offset);
    }
    if (!g->len) g->start = offset;
    memcpy(g->buf + g->len, data, (size_t)amount);
    g->len += amount;
    /* walWriteOneFrame writes a frame's header and then its page: the commit
     * frame is complete with the write after its header. Flushing there makes
     * the commit's error this write's error, before SQLite publishes it. */
    if (g->commit_pending) return flush(g);
    if (is_commit_header(data, amount, offset)) g->commit_pending = true;
    return SQLITE_OK;
}

/* Every other call sees the file as SQLite wrote it: buffered bytes first. */
#define FLUSH_FIRST(g) do { int rc_ = flush(g); if (rc_) return rc_; } while (0)

static int gather_close(sqlite3_file *f)
{
    struct gather_file *g = (struct gather_file *)f;
    int rc = flush(g);
    free(g->buf);
    g->buf = NULL;
    int rc2 = g->real->pMethods->xClose(g->real);
    return rc ? rc : rc2;
}

static int gather_read(sqlite3_file *f, void *data, int amount, sqlite3_int64 offset)
{
    FLUSH_FIRST((struct gather_file *)f);
    return real_of(f)->pMethods->xRead(real_of(f), data, amount, offset);
}

static int gather_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    FLUSH_FIRST((struct gather_file *)f);
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int gather_sync(sqlite3_file *f, int flags)
{
    FLUSH_FIRST((struct gather_file *)f);
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int gather_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    FLUSH_FIRST((struct gather_file *)f);
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int gather_lock(sqlite3_file *f, int level)
{
    FLUSH_FIRST((struct gather_file *)f);
    return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int gather_unlock(sqlite3_file *f, int level)
{
    FLUSH_FIRST((struct gather_file *)f);
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int gather_check_reserved(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int gather_file_control(sqlite3_file *f, int op, void *arg)
{
    FLUSH_FIRST((struct gather_file *)f);
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int gather_sector_size(sqlite3_file *f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }

static int gather_device(sqlite3_file *f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }

/* The wal-index (shared memory) calls: other processes would read the
 * index, so the frames it points at are written first. */
static int gather_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out)
{
    FLUSH_FIRST((struct gather_file *)f);
    return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}

static int gather_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    FLUSH_FIRST((struct gather_file *)f);
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void gather_shm_barrier(sqlite3_file *f)
{
    /* No way to report an error here: the commit frame's write already did. */
    (void)flush((struct gather_file *)f);
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int gather_shm_unmap(sqlite3_file *f, int delete_flag)
{
    FLUSH_FIRST((struct gather_file *)f);
    return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

static int gather_fetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **out)
{
    FLUSH_FIRST((struct gather_file *)f);
    return real_of(f)->pMethods->xFetch(real_of(f), offset, amount, out);
}

static int gather_unfetch(sqlite3_file *f, sqlite3_int64 offset, void *page)
{
    return real_of(f)->pMethods->xUnfetch(real_of(f), offset, page);
}

static int gather_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags)
{
    sqlite3_vfs *root = vfs->pAppData;
    struct gather_file *g = (struct gather_file *)f;
    memset(g, 0, sizeof *g);
    g->real = (sqlite3_file *)&g[1];
    int rc = root->xOpen(root, name, g->real, flags, out_flags);
    /* SQLite calls xClose only when pMethods is set: as the real file says. */
    if (g->real->pMethods) {
        /* The unix VFS's methods are version 3; ours follow the real file's
         * version so that SQLite never calls a method it lacks. */
        gather_methods.iVersion = g->real->pMethods->iVersion < 3 ? g->real->pMethods->iVersion : 3;
        g->base.pMethods = &gather_methods;
    }
    g->wal = rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL);
    return rc;
}

/* The rest of the VFS is the default one's. */
static int vfs_delete(sqlite3_vfs *v, const char *n, int sync)
{
    sqlite3_vfs *r = v->pAppData;
    return r->xDelete(r, n, sync);
}

static int vfs_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    sqlite3_vfs *r = v->pAppData;
    return r->xAccess(r, n, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *v, const char *n, int size, char *out)
{
    sqlite3_vfs *r = v->pAppData;
    return r->xFullPathname(r, n, size, out);
}

static void *vfs_dl_open(sqlite3_vfs *v, const char *n)
{
    sqlite3_vfs *r = v->pAppData;
    return r->xDlOpen(r, n);
}

static void vfs_dl_error(sqlite3_vfs *v, int n, char *out)
{
    sqlite3_vfs *r = v->pAppData;
    r->xDlError(r, n, out);
}

static void (*vfs_dl_sym(sqlite3_vfs *v, void *h, const char *n))(void)
{
    sqlite3_vfs *r = v->pAppData;
    return r->xDlSym(r, h, n);
}

static void vfs_dl_close(sqlite3_vfs *v, void *h)
{
    sqlite3_vfs *r = v->pAppData;
    r->xDlClose(r, h);
}

static int vfs_randomness(sqlite3_vfs *v, int n, char *out)
{
    sqlite3_vfs *r = v->pAppData;
    return r->xRandomness(r, n, out);
}

static int vfs_sleep(sqlite3_vfs *v, int us)
{
    sqlite3_vfs *r = v->pAppData;
    return r->xSleep(r, us);
}

static int vfs_current_time(sqlite3_vfs *v, double *out)
{
    sqlite3_vfs *r = v->pAppData;
    return r->xCurrentTime(r, out);
}

static int vfs_last_error(sqlite3_vfs *v, int n, char *out)
{
    sqlite3_vfs *r = v->pAppData;
    return r->xGetLastError ? r->xGetLastError(r, n, out) : 0;
}

static int vfs_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    sqlite3_vfs *r = v->pAppData;
    return r->xCurrentTimeInt64(r, out);
}

static sqlite3_io_methods gather_methods = {
    .iVersion = 3,
    .xClose = gather_close,
    .xRead = gather_read,
    .xWrite = gather_write,
    .xTruncate = gather_truncate,
    .xSync = gather_sync,
    .xFileSize = gather_file_size,
    .xLock = gather_lock,
    .xUnlock = gather_unlock,
    .xCheckReservedLock = gather_check_reserved,
    .xFileControl = gather_file_control,
    .xSectorSize = gather_sector_size,
    .xDeviceCharacteristics = gather_device,
    .xShmMap = gather_shm_map,
    .xShmLock = gather_shm_lock,
    .xShmBarrier = gather_shm_barrier,
    .xShmUnmap = gather_shm_unmap,
    .xFetch = gather_fetch,
    .xUnfetch = gather_unfetch,
};

const char *wal_gather_vfs(void)
{
    static int state;          /* 0 not tried, 1 registered, -1 unavailable */
    if (!state) {
        sqlite3_vfs *root = sqlite3_vfs_find(NULL);
        /* Version 2 is what the methods above rely on (xCurrentTimeInt64). */
        if (!root || root->iVersion < 2) {
            state = -1;
        } else {
            gather_vfs = (sqlite3_vfs){
                .iVersion = 2,
                .szOsFile = (int)sizeof(struct gather_file) + root->szOsFile,
                .mxPathname = root->mxPathname,
                .zName = "ironbark-wal-gather",
                .pAppData = root,
                .xOpen = gather_open,
                .xDelete = vfs_delete,
                .xAccess = vfs_access,
                .xFullPathname = vfs_full_pathname,
                .xDlOpen = vfs_dl_open,
                .xDlError = vfs_dl_error,
                .xDlSym = vfs_dl_sym,
                .xDlClose = vfs_dl_close,
                .xRandomness = vfs_randomness,
                .xSleep = vfs_sleep,
                .xCurrentTime = vfs_current_time,
                .xGetLastError = vfs_last_error,
                .xCurrentTimeInt64 = vfs_current_time_int64,
            };
            state = sqlite3_vfs_register(&gather_vfs, 0) == SQLITE_OK ? 1 : -1;
        }
    }
    return state == 1 ? gather_vfs.zName : NULL;
}
