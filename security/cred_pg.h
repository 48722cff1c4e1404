/* The credential store's PostgreSQL backend (private to credentials.c):
 * rows of sealed keys, trusted CAs and console codes in the database the
 * resource store uses (db = postgresql://…), and an in-memory mirror of
 * every key and CA row, so that a (D)TLS handshake looks a key up without a
 * round trip. The mirror follows the other front-ends' commits through
 * LISTEN/NOTIFY on CRED_PG_CHANNEL; after a lost connection it is reloaded
 * whole. Keys arrive and stay sealed: credentials.c seals and opens them. */
#ifndef IRONBARK_CRED_PG_H
#define IRONBARK_CRED_PG_H

#include "cred_limits.h"
#include "key_seal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRED_PG_CHANNEL "ironbark_credentials"
#define CRED_SEALED_MAX (1 + KEY_SEAL_OVERHEAD + CRED_KEY_MAX)

/* The tables of sealed keys; their names are also the sealing's
 * associated data (as in the SQLite store). */
enum cred_table { CRED_T_PSK, CRED_T_ESPRIM, CRED_T_LEASE, CRED_T_COUNT };
extern const char *const cred_table_name[CRED_T_COUNT];

struct cred_row {
    char identity[CRED_ID_MAX];
    uint8_t sealed[CRED_SEALED_MAX];
    size_t sealed_len;
    char originators[CRED_ORIG_MAX];
    int64_t until_us;          /* leases: clock.h time (Unix epoch µs); else 0 */
};

struct cred_pg;

/* Connects (bounded, blocking: before the loop runs), creates the tables,
 * listens and loads the mirror. NULL with err set on failure. */
struct cred_pg *cred_pg_open(const char *uri, char *err, size_t errlen);
void cred_pg_close(struct cred_pg *pg);

/* The mirror's row, NULL when unknown. Valid until the next change. */
const struct cred_row *cred_pg_find(struct cred_pg *pg, enum cred_table t, const char *identity);
/* Stops and returns fn's value when non-zero. */
int cred_pg_each(struct cred_pg *pg, enum cred_table t, int (*fn)(void *arg, const struct cred_row *row), void *arg);

/* Writes go to the database first (a bounded round trip; a fiber yields
 * meanwhile), then into the mirror. put: 0 or -1; remove: 0, 1 when
 * unknown, -1. */
int cred_pg_put(struct cred_pg *pg, enum cred_table t, const struct cred_row *row);
int cred_pg_remove(struct cred_pg *pg, enum cred_table t, const char *identity);

int cred_pg_put_ca(struct cred_pg *pg, const char *name, const char *pem);
int cred_pg_remove_ca(struct cred_pg *pg, const char *name);
/* The generation moves when the CA list this front-end holds changed; while
 * following, a change elsewhere is read by a fiber first, so each_ca never
 * waits then. */
unsigned cred_pg_ca_generation(const struct cred_pg *pg);
int cred_pg_each_ca(struct cred_pg *pg, int (*fn)(void *arg, const char *name, const char *pem), void *arg);

int cred_pg_put_login_code(struct cred_pg *pg, const char *code, const char *originator, int64_t now_us,
                           int64_t until_us);
int cred_pg_take_login_code(struct cred_pg *pg, const char *code, int64_t now_us, char *originator, size_t cap);

/* The value of a store_meta row, inserted as `value` when there is none
 * yet (the first front-end's wins): 0, or -1. */
int cred_pg_meta_claim(struct cred_pg *pg, const char *name, const char *value, char *out, size_t cap);

/* Following the other front-ends from the event loop: the socket is
 * watched, notices are applied as they come, and those a fiber's statements
 * brought as soon as the connection passes to the next fiber (gone is told
 * of each key row that left the mirror), and from then on the database work of this
 * front-end that the loop starts runs in fibers (fiber.h) that yield while
 * they wait: reconnecting after a loss (then reading everything again),
 * reading the CAs after a change. Writes from a fiber (a console login's
 * code check too) yield; from the main context (start-up, the admin
 * command) they still wait, bounded. 0, or -1 when the socket cannot be watched. */
struct loop;
typedef void cred_pg_gone_fn(void *arg, enum cred_table t, const char *identity);
int cred_pg_follow(struct cred_pg *pg, struct loop *loop, cred_pg_gone_fn *gone, void *arg);
/* Lets the fibers at work finish (blocking), then stops following. */
void cred_pg_unfollow(struct cred_pg *pg);
/* Round trips waited for outside a fiber, blocking (start-up and the tools not counted). */
uint64_t cred_pg_waits_outside_fiber(const struct cred_pg *pg);
/* True when a statement of this front-end ran since the last poll: libpq
 * may have read notices with its answer, leaving the socket quiet. */
bool cred_pg_waiting(const struct cred_pg *pg);
/* Applies the notices that arrived; starts the reconnection (when the
 * back-off allows) or the CA read that is due. The count applied, or -1
 * while the database is away. */
int cred_pg_poll(struct cred_pg *pg);

#endif
