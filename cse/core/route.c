/* Next hops to other CSEs, from the <remoteCSE> resources (ri = CSE-ID stem). */
#include "route.h"

#include "address.h"
#include "cse.h"
#include "rsc.h"

#include "../../resources/types.h"
#include "../store/store.h"

#include <jansson.h>
#include <stdio.h>
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

struct descendant_search {
    const char *csi;
    char *via;         /* the registered CSE whose dcse lists csi (malloc'd), or NULL */
};

static int lists_descendant(struct resource *csr, void *data)
{
    struct descendant_search *q = data;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(csr->attrs, "dcse"), i, v)
        if (!q->via && json_is_string(v) && !strcmp(json_string_value(v), q->csi) && res_str(csr, "csi"))
            q->via = strdup(res_str(csr, "csi"));
    return 0;
}

int route_next_hop(struct cse *cse, const char *csi, struct route *out)
{
    memset(out, 0, sizeof *out);
    const char *stem = route_csi_stem(csi);
    if (!stem || !strcmp(stem, cse->cfg.cse_id)) return RSC_NOT_FOUND;
    const char *via = csi;
    char *url = poa_of(cse, csi);
    /* A descendant of a CSE registered here (its dcse): down through that CSE. */
    struct descendant_search q = { csi, NULL };
    if (!url) store_children(cse->store, cse->cfg.cse_id, TY_CSR, lists_descendant, &q);
    if (q.via && (url = poa_of(cse, q.via))) {
        out->csi = q.via;
        out->url = url;
        return 0;
    }
    free(q.via);
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

int route_of_target(struct cse *cse, const char *to, struct route *out)
{
    memset(out, 0, sizeof *out);
    if (!to || to[0] != '/') return RSC_NOT_FOUND;
    const char *p = to + 1;
    if (to[1] == '/') {
        /* Absolute: only this SP's CSEs are reachable (no route to another SP). */
        const char *slash = strchr(to + 2, '/');
        struct ident_home home = cse_home(cse);
        if (!slash || !ident_local_sp(&home, to + 2, (size_t)(slash - to - 2))) return RSC_NOT_FOUND;
        p = slash + 1;
    }
    char csi[80];
    size_t n = strcspn(p, "/#");
    if (!n || n + 2 > sizeof csi) return RSC_NOT_FOUND;
    snprintf(csi, sizeof csi, "/%.*s", (int)n, p);
    return route_next_hop(cse, csi, out);
}

char *route_target_path(const char *to)
{
    if (!to || to[0] != '/') return NULL;
    bool absolute = to[1] == '/';
    const char *rest = absolute ? to + 2 : to + 1;
    size_t n = 2 + strlen(rest) * 3 + 1;
    char *path = malloc(n), *o = path;
    if (!path) return NULL;
    *o++ = absolute ? '_' : '~';
    *o++ = '/';
    for (const char *c = rest; *c; c++) {
        if (*c == '#') { memcpy(o, "%23", 3); o += 3; }
        else *o++ = *c;
    }
    *o = 0;
    return path;
}

json_t *route_urls(struct cse *cse, const struct route *hop)
{
    const char *stem = route_csi_stem(hop->csi);
    struct resource *r;
    json_t *urls = json_array();
    if (stem && !store_get(cse->store, stem, &r)) {
        size_t i;
        json_t *v;
        json_array_foreach(r->ty == TY_CSR ? json_object_get(r->attrs, "poa") : NULL, i, v)
            if (json_is_string(v)) json_array_append(urls, v);
        resource_free(r);
    }
    if (!json_array_size(urls)) json_array_append_new(urls, json_string(hop->url));
    return urls;
}

bool route_is_peer(struct cse *cse, const char *csi)
{
    const char *stem = route_csi_stem(csi);
    struct resource *r;
    if (!stem || store_get(cse->store, stem, &r)) return false;
    bool peer = r->ty == TY_CSR;
    resource_free(r);
    return peer;
}
