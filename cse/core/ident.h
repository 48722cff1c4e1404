/* Originator identity (TS-0001 7.2). One entity has up to three spellings:
 * CSE-relative "Cae1", SP-relative "/id-in/Cae1" and absolute
 * "//ironbark.local/id-in/Cae1". Every comparison of originator IDs (admin,
 * owner, creator, group members, acor, subscription creator, SAEF bindings)
 * goes through here, so that all of them agree on which spellings name the
 * same entity:
 *   - an absolute ID with this CSE's SP-ID is the SP-relative ID;
 *   - an absolute ID with another SP-ID names nothing local, whatever its
 *     CSE-ID and CSE-relative part;
 *   - an SP-relative ID with another CSE-ID names nothing on this CSE.
 * SP-IDs are domain names and compare case-insensitively (as addressing does);
 * CSE-IDs and the CSE-relative part compare exactly. Pure: the only input
 * beyond the IDs is where this CSE sits. */
#ifndef IRONBARK_IDENT_H
#define IRONBARK_IDENT_H

#include <stdbool.h>
#include <stddef.h>

/* This CSE's SP-ID ("ironbark.local") and CSE-ID ("id-in", no '/'). */
struct ident_home {
    const char *sp_id;
    const char *cse_id;
};

/* One ID in each form that names it from this CSE; "" where it has none. */
struct ident_forms {
    char rel[256];             /* CSE-relative, only for an entity of this CSE */
    char sprel[320];           /* SP-relative, only for an entity of this SP */
    char abs[480];             /* absolute, SP-ID in lower case: the canonical form */
};

/* Fills f. Returns false (all forms "") when id is not a well-formed ID
 * (empty, an empty SP-ID, CSE-ID or segment, an SP-ID alone) or does not
 * fit: a cut form could equal another ID's. '*' is an ordinary character
 * here, so patterns can be brought into a form as well. */
bool ident_forms(const struct ident_home *home, const char *id, struct ident_forms *f);

/* Does id name the entity whose forms are `who` (computed once, e.g. for a
 * request's originator)? Never true for a malformed id or who. */
bool ident_is(const struct ident_home *home, const char *id, const struct ident_forms *who);

/* Do a and b name the same entity? */
bool ident_same(const struct ident_home *home, const char *a, const char *b);

/* The shortest form naming the entity from here (rel, else sprel, else abs). */
const char *ident_shortest(const struct ident_forms *f);

/* Is the n-byte SP-ID sp this CSE's? */
bool ident_local_sp(const struct ident_home *home, const char *sp, size_t n);

#endif
