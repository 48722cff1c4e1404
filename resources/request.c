/* <request> (ty 17): the record of a non-blocking request, created by the
 * CSE under its CSEBase (TS-0001 10.2.20). Never created, updated through
 * the API; the originator polls it and may delete it. */
#include "registry.h"

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL,
    { "et", A_TS, NP, NP, 0, 0 },
    { "acpi", A_URILIST, NP, NP, 0, 0 },
    { "lbl", A_STRLIST, NP, NP, 0, 0 },
    { "daci", A_URILIST, NP, NP, 0, 0 },
    { "op", A_ENUM, NP, NP, 1, 5 },
    { "tg", A_URI, NP, NP, 0, 0 },
    { "org", A_ID, NP, NP, 0, 0 },
    { "rid", A_ID, NP, NP, 0, 0 },
    { "mi", A_OBJ, NP, NP, 0, 0 },
    { "pc", A_ANY, NP, NP, 0, 0 },
    { "rs", A_ENUM, NP, NP, 1, 5 },
    { "ors", A_OBJ, NP, NP, 0, 0 },
};

/* A <request> record belongs to the originator of the request (TS-0001 10.2.20). */
static const char *req_owner(const struct resource *res) { return res_str(res, "org"); }

const struct resource_type type_request = {
    .ty = TY_REQ, .sn = "req", .key = "m2m:req",
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_NO_CREATE | RT_NO_UPDATE | RT_SUBSCRIBABLE,
    .owner = req_owner,
};
