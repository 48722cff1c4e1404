/* Next hops to other CSEs, from the <remoteCSE> resources (ri = CSE-ID stem). */
#include "route.h"

#include "address.h"
#include "cse.h"
#include "rsc.h"

#include "../../resources/types.h"
#include "../store/store.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const char *route_csi_stem(const char *csi)
{
    if (!csi || csi[0] != '/' || !csi[1] || strchr(csi + 1, '/')) return NULL;
    return address_valid_segment(csi + 1, strlen(csi + 1)) ? csi + 1 : NULL;
}

/* The first poa of the <remoteCSE> for csi, or NULL. */
static char *poa_of(struct cse *cse, const char *csi)
{
    const char *stem = route_csi_stem(csi);
    struct resource *r;
    if (!stem || store_get(cse->store, stem, &r)) return NULL;
    char *url = NULL;
    json_t *poa = r->ty == TY_CSR ? json_object_get(r->attrs, "poa") : NULL;
    if (json_is_array(poa) && json_is_string(json_array_get(poa, 0)))
        url = strdup(json_string_value(json_array_get(poa, 0)));
    resource_free(r);
    return url;
}

int route_next_hop(struct cse *cse, const char *csi, struct route *out)
{
    memset(out, 0, sizeof *out);
    const char *stem = route_csi_stem(csi);
    if (!stem || !strcmp(stem, cse->cfg.cse_id)) return RSC_NOT_FOUND;
    const char *via = csi;
    char *url = poa_of(cse, csi);
    if (!url && cse->cfg.registrar_csi[0]) {
        /* Not known here: up the tree, through the registrar. Its <remoteCSE>
         * holds its current poa; before registration, the configured URL. */
        via = cse->cfg.registrar_csi;
        url = poa_of(cse, via);
        if (!url && cse->cfg.registrar_url[0]) url = strdup(cse->cfg.registrar_url);
    }
    if (!url) return RSC_NOT_FOUND;
    out->csi = strdup(via);
    out->url = url;
    return 0;
}

void route_clear(struct route *r)
{
    free(r->csi);
    free(r->url);
    r->csi = r->url = NULL;
}
