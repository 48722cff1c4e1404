#include "rsc.h"
#include "op.h"

#include <stddef.h>

struct rsc_entry { int code; const char *name; int http; int coap; };

static const struct rsc_entry rsc_table[] = {
#define X(code, name, http, coap) { code, #name, http, coap },
    RSC_LIST(X)
#undef X
};

static const struct rsc_entry *rsc_find(int rsc)
{
    /* The table is sorted by code: binary search. */
    int lo = 0, hi = (int)(sizeof rsc_table / sizeof rsc_table[0]) - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (rsc_table[mid].code == rsc) return &rsc_table[mid];
        if (rsc_table[mid].code < rsc) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

int rsc_http_status(int rsc)
{
    const struct rsc_entry *e = rsc_find(rsc);
    return e ? e->http : 500;
}

int rsc_coap_code(int rsc, int op)
{
    if (rsc == RSC_OK) return op == OP_RETRIEVE ? 0x45 : 0x44;
    const struct rsc_entry *e = rsc_find(rsc);
    return e ? e->coap : 0xa0;
}

const char *rsc_name(int rsc)
{
    const struct rsc_entry *e = rsc_find(rsc);
    return e ? e->name : "UNKNOWN";
}
