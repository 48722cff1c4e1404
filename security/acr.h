/* Access control rules (m2m:setOfAcrs, TS-0003 7.1.5): parsing, validation
 * and the pure evaluation of one rule set against one request context.
 * Nothing here touches the store or the clock: the caller supplies the
 * originator's forms, the time, the peer address and a group-membership
 * callback, so the decision can be unit-tested over any matrix. */
#ifndef IRONBARK_ACR_H
#define IRONBARK_ACR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct acr_set;

/* Everything the rules may look at. Absent forms are NULL. */
struct acr_subject {
    const char *rel;           /* CSE-relative originator ("Cae1"), NULL if not of this CSE */
    const char *sprel;         /* SP-relative ("/id-in/Cae1"), NULL if not of this SP */
    const char *abs;           /* absolute, SP-ID in lower case ("//sp.example/id-in/Cae1") */
    const char *const *roles;  /* role IDs the originator holds */
    int nroles;
    const char *ip;            /* textual peer address; NULL or "" = unknown */
    int64_t now_us;            /* request time, UTC */
    bool authenticated;
    int op_bit;                /* one ACOP_* bit */
    int target_ty;             /* CREATE: type of the parent being created under */
    int child_ty;              /* CREATE: type of the new child; 0 otherwise */
    const char *child_spty;    /* CREATE: specialization of the new child, if any */
    /* The attributes the request touches, for rules with accessControlAttributes
     * (aca): CREATE/UPDATE the request's attributes, a partial RETRIEVE its
     * attribute list, else every attribute of the target. attrs_known false:
     * not supplied, and a rule with aca grants nothing. */
    const char *const *attrs;
    int nattrs;
    bool attrs_known;
    /* Is the originator a member of the group whose ID is `group`? */
    bool (*in_group)(void *data, const char *group);
    void *group_data;
};

/* Decides, while parsing, whether an acor entry names a <group> (the store
 * knows; tests say so directly). NULL = no entry is a group. */
typedef bool acr_group_classifier(void *data, const char *entry);

/* Parses and validates an m2m:setOfAcrs ({"acr": [...]}). Returns NULL with
 * a message in err when malformed. */
struct acr_set *acr_parse(json_t *set, acr_group_classifier *is_group, void *data,
                          char *err, size_t errlen);
void acr_free(struct acr_set *set);
int acr_count(const struct acr_set *set);

/* Permit-overrides over the rules: true when at least one rule permits.
 * `why` (may be NULL) receives a short reason for a denial. */
bool acr_permits(const struct acr_set *set, const struct acr_subject *s, const char **why);

/* One m2m:scheduleEntry ("sec min hour dom month dow year", UTC; fields
 * separated by white space). Each field: `*`, `n`, `a-b`, a step `/s` after
 * `*`, a range or a single start `n` (n, n+s, ... up to the field's maximum),
 * and comma lists of those. Exposed for validation and tests. */
bool acr_schedule_valid(const char *entry);
bool acr_schedule_match(const char *entry, int64_t us);
/* "10.0.0.0/8", "fd00::/8", or a bare address. */
bool acr_cidr_valid(const char *cidr, bool v6);
bool acr_ip_in(const char *cidr, const char *ip);

/* '*' stands for any run of characters other than '/'. */
bool acr_wildcard_match(const char *pattern, const char *text);

#endif
