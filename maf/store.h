/* The MAF's registrations at rest (<data-dir>/maf.db, owner-only): client
 * registrations and key registrations, written through on every change and
 * read back at start, so a restart forgets nothing. Kc is sealed
 * (AES-256-GCM, security/key_seal.h) under a KEK derived from
 * <data-dir>/maf-root.key; the database never holds a key in the clear.
 * The procedures keep working from memory (maf/procedures.c). */
#ifndef IRONBARK_MAF_STORE_H
#define IRONBARK_MAF_STORE_H

#include "mmaf.h"

#include <stddef.h>

struct maf_store;

/* Opens (creating) maf-root.key and maf.db under dir; NULL with the reason in err. */
struct maf_store *maf_store_open(const char *dir, char *err, size_t errlen);
void maf_store_close(struct maf_store *s);

/* Insert or replace, by KmID (client) or RelativeKeyID (key). 0 or -1 (logged). */
int maf_store_put_client(struct maf_store *s, const struct maf_client *c);
int maf_store_put_key(struct maf_store *s, const struct maf_key *k);
/* A client goes with its keys. 0 or -1. */
int maf_store_drop_client(struct maf_store *s, const char *kmid);
int maf_store_drop_key(struct maf_store *s, const char *rel);

/* Calls the functions for every registration not yet expired at now_us
 * (expired ones are deleted); a key whose seal does not open is skipped and
 * logged. 0 or -1. */
int maf_store_load(struct maf_store *s, int64_t now_us, void (*client)(void *arg, const struct maf_client *c),
                   void (*key)(void *arg, const struct maf_key *k), void *arg);

#endif
