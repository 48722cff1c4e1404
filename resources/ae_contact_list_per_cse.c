/* <AEContactListPerCSE> (ty 44, m2m:alpc; TS-0001 9.6.46, TS-0004 7.4.54):
 * under the IN-CSE's <AEContactList>, one CSE (csi) and the AE-IDs its
 * resources reference (ail: announcement links, notification targets,
 * group members, ACP originators). Kept by the IN-CSE from the CSEs'
 * NOTIFYs; never created, updated or deleted through the API (4005). */
#include "registry.h"

static const struct attr_def attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_DACI, ATTR_CSTN,
    { "csi", A_ID, NP, NP, 0, 0 },                 /* CSE-ID */
    { "ail", A_URILIST, NP, NP, 0, 0 },            /* AE-IDList */
};

const struct resource_type type_ae_contact_list_per_cse = {
    .ty = TY_ALPC, .sn = "alpc", .key = "m2m:alpc",
    .parents = (const int[]){ TY_ALST, 0 },
    .attrs = ATTRS(attrs),
    .flags = RT_NO_CREATE | RT_NO_UPDATE | RT_NO_DELETE,
};
