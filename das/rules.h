/* The m2m-das's authorization rules: who (originator patterns, roles,
 * authenticated originators) may do which operations (acop bits) on which
 * targets (trid patterns), in which contexts (time windows, IP ranges, a rate
 * per originator), for how long (privileges lifetime). Each rule is a
 * resource of the DAS's own type `das:rule` under its CSEBase, so the engine
 * stores, lists, protects (admin only) and removes them (docs/decisions.md).
 * das_rule_match() is pure: the caller supplies the time, the address and
 * the roles held. */
#ifndef IRONBARK_DAS_RULES_H
#define IRONBARK_DAS_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Not a TS-0004 number: a type of m2m-das's own. */
#define TY_DAS_RULE 931
#define DAS_RULE_KEY "das:rule"
/* Privileges lifetime (pvl) when a rule does not set one, seconds. */
#define DAS_DEFAULT_LIFETIME_S 3600

extern const struct resource_type type_das_rule;

/* What one consultation asks. */
struct das_subject {
    const char *originator;    /* absolute ID (contract: "//sp/csi/AE-ID") */
    bool authenticated;        /* the request reached the DAS over a SAEF association */
    const char *ip4, *ip6;     /* the originator's address as the CSE saw it; NULL = unknown */
    int op_bit;                /* one ACOP_* bit */
    const char *target;        /* trid, absolute */
    int64_t now_us;
    /* Does the originator hold role? (a valid <role> at the DAS) */
    bool (*holds_role)(void *data, const char *role);
    void *role_data;
};

enum das_match {
    DAS_NOT_APPLICABLE,        /* another originator, target or operation */
    DAS_CONTEXT_DENIED,        /* it would apply, but not now / not from there */
    DAS_MATCH,
};

/* Does the rule (a das:rule's attributes) grant s? why: a short reason when not. */
enum das_match das_rule_match(json_t *rule, const struct das_subject *s, const char **why);

/* '*' is any run of characters ('/' included), '?' one character. */
bool das_pattern_match(const char *pattern, const char *text);

#endif
