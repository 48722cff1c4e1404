/* Consultations of the m2m-das (docs/dynamic-authorization.md, "The m2m-das
 * server"): a NOTIFY to its CSEBase carrying m2m:seci sit 1 (dreq) is
 * answered 2000 with sit 2 (dres): the granted privileges (dai.gp, dai.pl),
 * signed tokens (tkns) when the device asks for them itself or the rule says
 * so, or the tokens named by dreq.tids. Every decision is audited. */
#ifndef IRONBARK_DAS_CONSULT_H
#define IRONBARK_DAS_CONSULT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct op_ctx;
struct cse;

#define DAS_MAX_TIDS 16
#define DAS_MAX_ID 512        /* longest originator, target or token ID accepted */

/* A dreq, its strings borrowed from the parsed content. */
struct das_dreq {
    const char *originator;   /* or (org) */
    int op;                   /* 1..5, 0 = absent */
    const char *target;       /* trid */
    const char *ip4, *ip6;    /* oip (oid) */
    const char *tids[DAS_MAX_TIDS];
    int ntids;
    const char *rids[DAS_MAX_TIDS];  /* roles the originator asks to act in; none = any it holds */
    int nrids;
};

/* Parses {"m2m:seci": {"sit": 1, "dreq"|"daq": {...}}} with the spellings
 * other implementations use (org, tirt, oid). 0, or an RSC with err set. */
int das_parse_seci(json_t *pc, struct das_dreq *out, char *err, size_t cap);

/* What the DAS signs with and names itself (das/main.c sets it at start). */
struct das_identity {
    const char *issuer;       /* "//<sp-id>/<csi>": tkis, iss */
    const char *fqdn;         /* token IDs end in "@<fqdn>" */
    const char *private_jwk;  /* never logged */
    /* Resource types under the CSEBase whose attributes are rules
     * (das/rules.h's orp, rlid, acop, trp, ctw, …), 0-terminated; NULL =
     * das:rule only. The m2m-ppm adds its consents (ppm/consent.h). */
    const int *rule_types;
    /* Optional: is this rule (ri) to grant nothing just now? (the m2m-ppm:
     * a consent whose withdrawal is being pushed to the CSE) */
    bool (*suspended)(const char *rule_ri);
};
void das_consult_open(const struct das_identity *id);
void das_consult_close(void);

/* The on_notify hook of the DAS's CSEBase. */
int das_consult_notify(struct op_ctx *ctx);

/* The absolute form of id ("//sp/csi/x") as the DAS sees it: out "" when malformed. */
void das_absolute_id(struct cse *cse, const char *id, char *out, size_t cap);

#endif
