/* The hosting CSE's side of dynamic authorization (TS-0003 7.3, TS-0004
 * 7.5.1.2.10): the "das" decider of the authorization chain (authz.h),
 * asked after the ACP decider denied.
 *
 *   - Tokens the request carries (tkns, tids fetched from the DAS, ltids
 *     this CSE assigned) are verified through the token module
 *     (jose_module.h: trusted issuer from token-trust-file, aud holding this
 *     CSE's absolute CSE-ID, holder = the absolute originator, nbf/exp);
 *     their tkps permissions are evaluated (pv as one more ACP, ris
 *     restricting targets, rids as roles). Any bad token: 4103, audited.
 *   - rids count only for roles the DAS assigns (a RETRIEVE of its <role>
 *     named by role_resource_name(), cached until tkna) or a verified token
 *     carries.
 *   - Direct: the nearest daci up the tree naming an enabled <dac>, else
 *     the das-default setting, is consulted (m2m:seci sit 1) through
 *     notify_ask(): the request waits (AUTHZ_PENDING), the loop serves on.
 *     A grant (dai.gp) decides, is cached per (originator, target, op)
 *     until min(dal, pl), and becomes a dynamic child <accessControlPolicy>
 *     "dacp-*" of the target that expires at pl; the decider honours those
 *     children (docs/decisions.md). Timeout, garbage, 4xxx, unreachable:
 *     deny.
 *   - Indirect: a refused request with tqi gets tqf naming the DAS; a
 *     granted one that brought tokens gets ati (local token IDs).
 * docs/dynamic-authorization.md. */
#ifndef IRONBARK_DAS_H
#define IRONBARK_DAS_H

#include "authz.h"

struct cse;

/* The decider, for a server profile's deciders (m2m-cse lists it after the
 * engine's ACP decider). Its caches are made on first use. */
extern const struct authz_decider das_decider;

/* Revocations (docs/dynamic-authorization.md): a NOTIFY to the CSEBase with
 * {"das:rvk": {"orp": [originator IDs]}} from a trusted token issuer
 * (token-trust-file; the decider grants it) drops what the CSE holds for
 * those originators: cached grants and tokens; dynamic ACPs made and tokens
 * issued before it no longer count. Anything else goes to the CSEBase's
 * own on_notify. m2m-cse's CSEBase type has this as its on_notify. */
#define DAS_REVOCATION_KEY "das:rvk"
struct op_ctx;
int das_revocation_notify(struct op_ctx *ctx);

/* Releases the caches (cse_close). */
void das_close(struct cse *cse);

/* Forgets every cached decision, role and token (the upper tester's Reset). */
void das_forget(struct cse *cse);

#endif
