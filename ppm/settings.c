/* ppm/settings.h: the m2m-ppm's settings and the URLs of subscribers' resources. */
#include "settings.h"

#include <stdio.h>
#include <string.h>

struct ppm_settings ppm_settings = { "//ironbark.local/id-in/cse-in", 30, 365, "", "" };

void ppm_data_url(const char *id, char *out, size_t cap)
{
    size_t n = strlen(ppm_settings.data_root);
    out[0] = 0;
    if (!strncmp(id, ppm_settings.data_root, n) && id[n] == '/')
        snprintf(out, cap, "%s%s", ppm_settings.cse_url, id + n);
}
