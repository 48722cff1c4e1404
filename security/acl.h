/* Access control: one decision function for every operation.
 *
 * Which rules govern a target (TS-0001 10.2.3.1, TS-0003 7.1):
 *   - an <accessControlPolicy> is governed by its own pvs;
 *   - a type without acpi (contentInstance, …) inherits from its parent;
 *   - a non-empty acpi: the pv of every referenced ACP, permit-overrides;
 *     an UPDATE of acpi itself is judged by the pvs of those ACPs;
 *   - an empty acpi: the owner only (the `cr` creator if recorded, else the
 *     AE whose subtree holds the resource); the CSEBase lets registered AEs
 *     RETRIEVE and DISCOVER it;
 *   - the admin originator (config `admin`, "CAdmin", in any form of that
 *     local ID; never another SP's "CAdmin") and internal requests
 *     (binding BINDING_INTERNAL) are granted everything.
 * Originator IDs (admin, cr, AE-IDs, group members, acor) are compared
 * through cse/ident.h only.
 * Parsed ACPs are cached in the CSE and dropped whenever an ACP or group is
 * written or anything is deleted (acl_after_write). Denials and ACP changes
 * go to the audit log (<data-dir>/audit.log). */
#ifndef IRONBARK_ACL_H
#define IRONBARK_ACL_H

#include "../cse/core/primitive.h"
#include "../cse/core/resource.h"

#include <stdbool.h>
#include <stdint.h>

struct audit;
struct cse;

/* accessControlOperations bits (TS-0004 6.3.4.2.x). */
enum acop {
    ACOP_CREATE = 1, ACOP_RETRIEVE = 2, ACOP_UPDATE = 4, ACOP_DELETE = 8,
    ACOP_NOTIFY = 16, ACOP_DISCOVERY = 32,
};

/* Opens the ACP cache and the audit log; acl_close() releases them. */
int acl_open(struct cse *cse);
void acl_close(struct cse *cse);

/* May the request's originator perform `acop` on `target`? Returns 0 when
 * granted, RSC_ORIGINATOR_HAS_NO_PRIVILEGE when denied (and audits it).
 * Types with extra rules call it from their hooks, e.g. a <subscription>
 * CREATE also needs RETRIEVE on the subscribed-to parent (TS-0001 9.6.8):
 * acl_check(ctx->cse, ctx->req, ctx->parent, ACOP_RETRIEVE). */
int acl_check(struct cse *cse, const struct m2m_request *req, const struct resource *target, int acop);

/* The same decision without auditing, for filtering discovery results and
 * child listings (a hidden result is not a refused request). */
bool acl_permits(struct cse *cse, const struct m2m_request *req, const struct resource *target, int acop);

/* Is every resource of type child_ty directly under parent granted acop,
 * whatever its own attributes? For a type without acpi, which its parent's
 * policies govern: true when the ACP decider grants without looking at the
 * child (rules with aca, which do, grant nothing here), so a listing may
 * count such children without reading them. False means "not known": ask
 * acl_permits() for each. */
bool acl_permits_children(struct cse *cse, const struct m2m_request *req, const struct resource *parent,
                          int child_ty, int acop);

/* Does `originator` hold NOTIFY rights on `target` (e.g. the AE a
 * notificationURI points to)? For the subscription work: call it for the
 * subscription creator and for each local notification target. Returns 0
 * or RSC_ORIGINATOR_HAS_NO_PRIVILEGE; the caller maps that to 4101/5205. */
int acl_check_notify(struct cse *cse, const char *originator, const struct resource *target);

/* For a target that does not exist: true when the originator may not see
 * the nearest existing ancestor either, so the answer must be 4103, not
 * 4004 (a missing name must look like a forbidden one). */
bool acl_conceals_missing(struct cse *cse, const struct m2m_request *req, const char *local);

/* Every acpi entry must name an existing local <accessControlPolicy>.
 * Returns 0 or RSC_BAD_REQUEST with a message in rsp. */
int acl_validate_acpi(struct cse *cse, json_t *acpi, struct m2m_response *rsp);

/* A custodian (cstn) in CREATE/UPDATE content must be a well-formed ID
 * (it is compared as an originator). 0 or RSC_BAD_REQUEST. */
int acl_validate_custodian(struct cse *cse, json_t *content, struct m2m_response *rsp);

/* After a write committed: drops cached policies when needed and audits
 * changes to ACPs and to acpi. `target` is the request's target. */
void acl_after_write(struct cse *cse, const struct m2m_request *req, const struct resource *target,
                     const struct m2m_response *rsp);

/* The audit log (<data-dir>/audit.log), for other refusals worth keeping
 * (rate limits); NULL when it is not open. */
struct audit *acl_audit_log(struct cse *cse);

/* The ACP decision with what the DAS decider (security/das.h) verified:
 * the ACP decider itself honours no rids (a claim anyone can make), so the
 * roles here are those a DAS or a verified token assigns. With pv, only pv
 * (m2m:setOfAcrs: a token's permission, a DAS's grant) is evaluated, as
 * one more ACP, with the same rules as acl/acr; else the target's own
 * ACPs. No audit. */
struct acr_set;
struct acl_extra {
    const char *const *roles;
    int nroles;
    json_t *pv;
    const struct acr_set *parsed;   /* pv already parsed (acl_parse_privileges), used instead */
};
bool acl_permits_with(struct cse *cse, const struct m2m_request *req, const char *fr,
                      const struct resource *target, int acop, const struct acl_extra *x);

/* pv parsed once for many acl_permits_with() calls (acr_free() it); NULL
 * when malformed. Parsing resolves which entries are groups, so a parsed
 * set is current only while acl_epoch() returns what it returned then. */
struct acr_set *acl_parse_privileges(struct cse *cse, json_t *pv);
uint64_t acl_epoch(void);

/* The role IDs in the acor of the target's ACP rules that match the
 * request's operation and context (the rfa of a DAS consultation): a JSON
 * array of strings (new reference). */
json_t *acl_role_candidates(struct cse *cse, const struct m2m_request *req, const char *fr,
                            const struct resource *target, int acop);

/* The resource whose acpi governs target: target itself, or for a type
 * without acpi its nearest ancestor (*owned, for the caller to free, when
 * read from the store); NULL when an ancestor is missing. */
const struct resource *acl_acpi_holder(struct cse *cse, const struct resource *target,
                                       struct resource **owned);

/* "CREATE", "RETRIEVE", … for one ACOP_* bit (audit lines). */
const char *acl_acop_name(int acop);

/* Drops every cached policy (e.g. after expiry removed resources). */
void acl_invalidate(struct cse *cse);
/* Does the cache read resources of type ty (ACPs, groups, registered
 * entities)? A change another front-end committed to one drops it. */
bool acl_reads_type(const struct cse *cse, int ty);

#endif
