/* The SAEF credential store: pre-provisioned symmetric keys (Kpsa, named by
 * their KpsaID, which is the (D)TLS PSK identity) with the originators each
 * key may speak for, and trusted CA certificates for client certificates.
 * Kept in its own SQLite file (<data-dir>/credentials.db, mode 0600) so that
 * secrets never travel with the resource database; keys in it are sealed
 * (AES-256-GCM) under a key that never sits in it. Filled from the config
 * file at start and by `m2m-cse credentials ...` (the admin interface). */
#ifndef IRONBARK_CREDENTIALS_H
#define IRONBARK_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cred_limits.h"

#define CRED_ROOT_FILE "credentials-root.key"   /* in the data dir, beside credentials.db */

struct cred_psk {
    char identity[CRED_ID_MAX];
    uint8_t key[CRED_KEY_MAX];
    size_t key_len;
    char originators[CRED_ORIG_MAX];
};

struct credentials;

struct key_seal_ops;

/* Opens (creating) the store file. Every key is sealed at rest under a KEK
 * derived from root_file (<data-dir>/credentials-root.key: made 0600 at
 * first use, refused when group or others may read it) by seal (the jose
 * module's, security/key_seal.h; NULL refuses: keys are never stored in the
 * clear). A store of plain keys from an earlier version is sealed in place;
 * one whose keys do not open under root_file is refused. NULL with a logged
 * reason on failure. */
struct credentials *cred_open(const char *file, const char *root_file, const struct key_seal_ops *seal);
void cred_close(struct credentials *cs);

/* The store in a PostgreSQL database (db = postgresql://…, cred_pg.c),
 * shared by every front-end on it: the same tables' contents, keys sealed
 * under root_file's KEK, which must be every front-end's (a root file that
 * does not open the database's keys is refused, logged). printable is the
 * URI with its password masked, for messages. Lookups read an in-memory
 * copy; writes go to the database (a bounded round trip, which a fiber
 * waits for by yielding to the loop). */
struct credentials *cred_open_shared(const char *uri, const char *printable, const char *root_file,
                                     const struct key_seal_ops *seal);
bool cred_shared(const struct credentials *cs);
/* A shared store's round trips waited for outside a fiber while the loop
 * runs, blocking it (start-up and the tools are not counted); 0 for SQLite. */
uint64_t cred_waits_outside_fiber(const struct credentials *cs);
/* Following changes made elsewhere: gone is told of each PSK or lease
 * identity that went (to end its sessions), and cred_ca_generation moves
 * when the trusted CAs changed. A shared store: the database socket is
 * watched and changes applied as their notices come; from then on its
 * reconnection and CA reads run in fibers, as do writes made from a fiber
 * (cred_pg.h). cred_changes_waiting: a statement of ours may have left
 * notices unread on a quiet socket. An SQLite store watches nothing (loop
 * unused): the caller calls cred_poll_changes now and then, which reads the
 * file's change counter (PRAGMA data_version: other connections' commits)
 * and, only when it moved, the CA rows and the PSK identities.
 * cred_poll_changes: the changes applied, or -1 while the database is away
 * (reconnection under way or due) or the file cannot be read (retried at
 * the next call). cred_unfollow_changes lets the fibers at work finish
 * first. */
struct loop;
typedef void cred_gone_fn(void *arg, const char *identity);
int cred_follow_changes(struct credentials *cs, struct loop *loop, cred_gone_fn *gone, void *arg);
void cred_unfollow_changes(struct credentials *cs);
bool cred_changes_waiting(const struct credentials *cs);
int cred_poll_changes(struct credentials *cs);

/* Adds or replaces a PSK. Returns 0, or -1 on a bad identity/key/pattern. */
int cred_put_psk(struct credentials *cs, const struct cred_psk *psk);
/* Finds a PSK by identity: 0 found, 1 unknown, -1 store error. */
int cred_get_psk(struct credentials *cs, const char *identity, struct cred_psk *out);
/* Removes a PSK: 0 removed, 1 unknown, -1 store error. */
int cred_remove_psk(struct credentials *cs, const char *identity);

/* Pairwise ESPrim keys (TS-0003 8.4.2 A), pre-provisioned: the same shape
 * as a PSK (identity = pairwiseESPrimKeyID, the JWE kid; originators = the
 * peer identities the key is bound to), in their own table so that a
 * (D)TLS PSK never doubles as an ESPrim key. Same return values as the PSK
 * functions. */
int cred_put_esprim_key(struct credentials *cs, const struct cred_psk *key);
int cred_get_esprim_key(struct credentials *cs, const char *key_id, struct cred_psk *out);
/* Keys lent by a MEF to this CSE as an enrolment target (TS-0003 8.3.2.1):
 * held in memory only, never in the file, until until_us (clock.h time).
 * In a shared store they are written to the database (sealed, with their
 * end) so that every front-end accepts the device; held here only when the
 * database does not take them. cred_get_psk finds them after the stored
 * keys. */
#define CRED_LEASES 256
int cred_lease_psk(struct credentials *cs, const struct cred_psk *psk, int64_t until_us);
/* Removes a lease: 0, or 1 when there was none. */
int cred_withdraw_lease(struct credentials *cs, const char *identity);
int cred_each_lease(struct credentials *cs, int (*fn)(void *arg, const struct cred_psk *psk, int64_t until_us),
                    void *arg);
/* Told of every identity cred_get_psk does not know (the enrolment target
 * starts fetching it); fn must not block and must not call back into cs. */
typedef void cred_miss_fn(void *arg, const char *identity);
void cred_on_miss(struct credentials *cs, cred_miss_fn *fn, void *arg);

/* Trusted CA certificates (PEM text), by a name of the operator's choice. */
int cred_put_ca(struct credentials *cs, const char *name, const char *pem);
int cred_remove_ca(struct credentials *cs, const char *name);
/* Moves whenever the trusted CAs changed elsewhere (seen while following
 * changes, cred_follow_changes). A TLS listener compares it to reload its
 * trust store. */
unsigned cred_ca_generation(const struct credentials *cs);
/* Calls fn for each trusted CA; stops and returns fn's value when non-zero. */
int cred_each_ca(struct credentials *cs, int (*fn)(void *arg, const char *name, const char *pem),
                 void *arg);
/* Calls fn for each PSK (keys included); for listing. */
int cred_each_psk(struct credentials *cs, int (*fn)(void *arg, const struct cred_psk *psk), void *arg);

/* Console login codes (docs/console.md): minted by `m2m-cse console-login`,
 * single use. cred_take_login_code removes the code whatever its age and
 * returns 0 with its originator when it was still valid at now_us, 1 when
 * unknown or expired, -1 on a store error. */
int cred_put_login_code(struct credentials *cs, const char *code, const char *originator, int64_t now_us,
                        int64_t until_us);
int cred_take_login_code(struct credentials *cs, const char *code, int64_t now_us, char *originator, size_t cap);

/* Parses "identity:hexkey:pattern[,pattern...]" (the config-file form). */
int cred_parse_psk(const char *text, struct cred_psk *out, char *err, size_t errlen);

/* KpsaID characters: letters, digits, '.', '_', '-', '@' (TS-0003 12.2). */
bool cred_valid_identity(const char *id);

/* Does a comma-separated pattern list allow this originator? Patterns are
 * exact IDs or end in one '*' (prefix match); "*" allows everyone. */
bool cred_pattern_allows(const char *patterns, const char *originator);

#endif
