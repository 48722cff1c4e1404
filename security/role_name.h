/* Where a role assignment lives in a role repository (the m2m-das): a
 * <role> resource (ty 31) under the repository's CSEBase whose
 * resourceName is derived from (holder, roleID), so a hosting CSE checking
 * the rids of a request finds it with one RETRIEVE and no discovery
 * (TS-0003 7.4 leaves the repository's layout open;
 * docs/decisions.md). The name is a hash, not a secret: the CSE still
 * checks the retrieved tkhd, rlid, tkis and validity, so a collision can
 * only hide an assignment, never grant one. */
#ifndef IRONBARK_ROLE_NAME_H
#define IRONBARK_ROLE_NAME_H

#include <stddef.h>

#define ROLE_NAME_LEN 21 /* "rol-" + 16 hex digits + NUL */

/* "rol-" followed by the FNV-1a 64-bit hash of holder "\n" role_id, in hex. */
void role_resource_name(const char *holder, const char *role_id, char out[ROLE_NAME_LEN]);

#endif
