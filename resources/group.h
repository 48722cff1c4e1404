/* <group>'s fanOutPoint, used by the dispatcher. */
#ifndef IRONBARK_GROUP_H
#define IRONBARK_GROUP_H

#include "../cse/core/primitive.h"
#include "../cse/core/resource.h"

#include <stdbool.h>

struct cse;

/* Does the CSE-relative `local` address "<group>/fopt[/rest]"? Then grp is
 * the stored group and rest (may be NULL) what follows fopt; both owned by
 * the caller. */
bool group_fopt_target(struct cse *cse, const char *local, struct resource **grp, char **rest);

/* May the originator use the group's fopt for this access mode? Judged by
 * the group's membersAccessControlPolicyIDs (macp) when it has them, else by
 * its own acpi. Returns 0 or 4103. */
int group_fopt_access(struct cse *cse, const struct m2m_request *req, const struct resource *grp, int acop);

/* Sends the request to every member (member ID + "/" + rest) through the
 * dispatcher and answers 2000 with {"m2m:agr": {"m2m:rsp": [...]}}; an empty
 * group gives 4109. Runs outside any store transaction. */
int group_fanout(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp,
                 const struct resource *grp, const char *rest);

#endif
