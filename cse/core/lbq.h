/* labelsQuery (TS-0004 7.3.3.17, R4 `lbq`): "key", "key:value",
 * "key EQ v", "key NE v", "key IN (v1, v2)", "key NI (…)", "NT key". Pure:
 * the query mapper checks the form, the filter evaluates it. */
#ifndef IRONBARK_LBQ_H
#define IRONBARK_LBQ_H

#include "resource.h"

#include <stdbool.h>

enum lbq_op { LBQ_PRESENT, LBQ_ABSENT, LBQ_EQ, LBQ_NE, LBQ_IN, LBQ_NI };

struct lbq {
    enum lbq_op op;
    char key[128];
    int nvals;
    char vals[8][128];
};

/* Parses expr; false when it is not a labels query. */
bool lbq_parse(const char *expr, struct lbq *q);
/* Is expr a labels query? */
bool lbq_valid(const char *expr);
/* Does r's `lbl` satisfy q? */
bool lbq_eval(const struct lbq *q, const struct resource *r);

#endif
