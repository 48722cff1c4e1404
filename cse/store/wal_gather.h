/* A SQLite VFS that gathers the writes of one WAL commit into one pwrite.
 *
 * SQLite writes each WAL frame in two calls (its 24-byte header, then the
 * page), so a group commit of a few hundred 1 KiB pages made a few hundred
 * system calls. This shim, wrapped around the default VFS, keeps the WAL's
 * consecutive writes in a buffer and writes them at once when the commit
 * frame (the one whose header carries the database size) is complete, and
 * before anything else touches the file (read, sync, truncate, size, lock,
 * close). So the commit reaches the file before sqlite3_step() returns — a
 * process killed after the answer loses nothing — and a write error (a full
 * disk) is still the commit's error. The database file, the journal and
 * every other file go to the default VFS unchanged. */
#ifndef IRONBARK_WAL_GATHER_H
#define IRONBARK_WAL_GATHER_H

/* The VFS name to give sqlite3_open_v2(), registered on first use (not as
 * the default); NULL if it could not be (then open with the default VFS). */
const char *wal_gather_vfs(void);

/* Write calls the shim has made to WAL files since start (the flushes and
 * the writes too large to gather): for tests. */
unsigned long wal_gather_flushes(void);

#endif
