/* Routes to other CSEs (CSE-to-CSE, docs/cse-to-cse.md): through which
 * <remoteCSE> a request for another CSE-ID leaves this one. Forwarding,
 * announcement and remote group members all ask here. */
#ifndef IRONBARK_ROUTE_H
#define IRONBARK_ROUTE_H

#include <jansson.h>
#include <stdbool.h>

struct cse;

struct route {
    char *csi;   /* the next hop's CSE-ID, "/id-in" */
    char *url;   /* the base URL to send to: its first poa, e.g. "http://127.0.0.1:8080" */
};

/* The next hop towards the CSE `csi` (SP-relative "/id-mn"): that CSE's own
 * <remoteCSE> when it is registered here (or is our registrar); else the
 * registered CSE whose dcse lists it (a descendant, reached through it); otherwise, on
 * a CSE with a registrar, the registrar (the default route up the tree).
 * Returns 0 with out filled (route_clear() it), or RSC_NOT_FOUND when no
 * route exists (also for this CSE's own ID). */
int route_next_hop(struct cse *cse, const char *csi, struct route *out);
void route_clear(struct route *r);

/* The next hop towards the CSE hosting `to`, an SP-relative ("/id-mn/...")
 * or absolute ("//sp/id-mn/...") ID of something on another CSE. 0, or
 * RSC_NOT_FOUND: no route (another SP, unknown CSE-ID, malformed). */
int route_of_target(struct cse *cse, const char *to, struct route *out);

/* The URL path that addresses `to` at another CSE's base URL, as the
 * bindings spell it: "~/id-mn/x" (SP-relative), "_/sp/id-mn/x" (absolute);
 * '#' (an attribute) escaped. malloc'd; NULL for a CSE-relative ID. */
char *route_target_path(const char *to);

/* Every URL the next hop may be reached at, in order: its <remoteCSE>'s
 * poa, else the route's url alone. A JSON array (new reference). */
json_t *route_urls(struct cse *cse, const struct route *hop);

/* Is csi ("/id-mn") a CSE peered with this one (a <remoteCSE> of it here)? */
bool route_is_peer(struct cse *cse, const char *csi);

/* "/id-mn" -> "id-mn", the ri of that CSE's <remoteCSE>; NULL when csi is
 * not of the form "/<segment>". Points into csi. */
const char *route_csi_stem(const char *csi);

#endif
