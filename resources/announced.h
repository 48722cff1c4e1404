/* Announced resource types (…Annc, ty = original + TY_ANNC_OFFSET): derived
 * from every RT_ANNOUNCEABLE type (resources/announced.c). */
#ifndef IRONBARK_ANNOUNCED_H
#define IRONBARK_ANNOUNCED_H

#include "registry.h"

#include <stdbool.h>

/* Adds the announced variant of every announceable type already in r. */
void announced_register(struct registry *r);

/* May the attribute sn of an original be listed in aa and copied to its
 * announced variant? (Not the universal ones, at, aa, cr, st.) */
bool annc_attr_announceable(const char *sn);

/* The attributes always announced (mandatory announced, MA) for an original
 * of type ty when it has them, NULL-terminated; acpi is also MA, but means
 * the ACPs announced to the same target (cse/events/announce.c). */
const char *const *annc_mandatory(int ty);

#endif
