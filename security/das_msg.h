/* The messages of dynamic authorization (TS-0004 6.3.5.45-47), pure: the
 * consultation a hosting CSE sends a DAS (m2m:seci sit 1 with dreq), the
 * answer it reads back (sit 2 with dres), the token request information
 * of a 4103 (tqf), and the answer spellings other implementations use
 * (KETI's bare gp array, acco object and acaf "TRUE"), accepted on input
 * and never emitted (docs/dynamic-authorization.md; m2m-das reads the
 * consultation's spellings itself). No I/O, no clock, no store. */
#ifndef IRONBARK_DAS_MSG_H
#define IRONBARK_DAS_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* What a consultation says about one request. Absent members are NULL / 0. */
struct das_facts {
    const char *originator;    /* or: absolute */
    int target_ty;             /* trt */
    int op;                    /* the ORIGINAL operation, 1..5 */
    const char *ip;            /* oip: ip4 or ip6 chosen by its form */
    const char *rts;           /* requestTimestamp */
    const char *trid;          /* the target as addressed, absolute */
    const char *ppl;           /* proposed privileges lifetime (the dac's dal) */
    json_t *rfa;               /* role IDs from matching acor entries (array, borrowed) */
    const char *rids;          /* orid: raw role IDs of the request (space, comma or '+' separated) */
    const char *tids;          /* tids: raw token IDs, '+' (or space, comma) separated */
};

/* {"m2m:seci":{"sit":1,"dreq":{...}}} (new reference). */
json_t *das_consultation(const struct das_facts *f);
/* The bare dreq object of the consultation (new reference). */
json_t *das_dreq(const struct das_facts *f);

/* A raw list parameter (rids, tids, ltids: separated by '+', ',' or
 * spaces) as a JSON array of strings (new reference; empty array for NULL). */
json_t *das_split_list(const char *raw);

/* An answer, normalised. */
struct das_answer {
    json_t *gp;                /* m2m:setOfAcrs {"acr":[...]} in TS-0004 shapes, or NULL */
    char pl[64];               /* privilegesLifetime as sent; "" when absent */
    json_t *tkns;              /* array of strings, or NULL */
};
void das_answer_clear(struct das_answer *a);

/* Reads a consultation answer (the content of the DAS's 2000 response;
 * NULL = no content = nothing granted). Returns 0 with *out filled (maybe
 * empty), or -1 with a reason in err: not sit 2, not an object, a gp that
 * is not a rule set. Accepts "m2m:seci" or a bare seci, a bare gp array,
 * acco as one object, acaf "TRUE"/"FALSE". */
int das_answer_parse(json_t *content, struct das_answer *out, char *err, size_t cap);

/* One privilege set (m2m:setOfAcrs or KETI's bare rule array) in TS-0004
 * shapes: {"acr":[...]} with acco a list and acaf a boolean (new
 * reference; NULL when it is neither an object nor an array). */
json_t *das_normalise_privileges(json_t *gp);

/* tqf: {"dasi":[{"uri": uri, "dreq": dreq}]} (dreq borrowed; new reference). */
json_t *das_token_request_info(const char *uri, json_t *dreq);

/* An originator or target ID in absolute form "//<sp-id>/<csi>/..."
 * (contract: the DAS compares strings). id may be CSE-relative
 * ("CAE1", "cse-in/x"), SP-relative ("/id-in/CAE1") or absolute; csi is
 * "/id-in". False when it does not fit. */
bool das_absolute(const char *sp_id, const char *csi, const char *id, char *out, size_t cap);

#endif
