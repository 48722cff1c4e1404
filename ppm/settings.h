/* What every unit of the m2m-ppm shares: its type numbers, its settings
 * (ppm/main.c parses them) and where a subscriber's resource is at the CSE. */
#ifndef IRONBARK_PPM_SETTINGS_H
#define IRONBARK_PPM_SETTINGS_H

#include <stddef.h>

/* Not TS-0004 numbers: types of the m2m-ppm's own. */
#define TY_PPM_PREFERENCES 941
#define TY_PPM_POLICY 942
#define TY_PPM_CONSENT 943
#define TY_PPM_DELETION 944

/* The URL of an absolute resource ID of a subscriber's at the CSE: ppm-cse's
 * CSEBase URL stands for ppm-data-root. "" when it is not below the root. */
void ppm_data_url(const char *id, char *out, size_t cap);

struct ppm_settings {
    char data_root[256];      /* a subscriber owns <data_root>/<her originator> and below */
    long grant_lifetime_s;    /* pl of the grants and tokens issued for a consent */
    long history_days;        /* a consent's record outlives its expiry (cet) this long */
    char cse_url[512];        /* the CSE's CSEBase (http://…): withdrawals pushed there; "" none */
    char ae_id[64];           /* option 0: the PPM's AE-ID at that CSE; "" off */
};
extern struct ppm_settings ppm_settings;

#endif
