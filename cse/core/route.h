/* Routes to other CSEs (CSE-to-CSE, docs/cse-to-cse.md): through which
 * <remoteCSE> a request for another CSE-ID leaves this one. Forwarding,
 * announcement and remote group members all ask here. */
#ifndef IRONBARK_ROUTE_H
#define IRONBARK_ROUTE_H

struct cse;

struct route {
    char *csi;   /* the next hop's CSE-ID, "/id-in" */
    char *url;   /* the base URL to send to: its first poa, e.g. "http://127.0.0.1:8080" */
};

/* The next hop towards the CSE `csi` (SP-relative "/id-mn"): that CSE's own
 * <remoteCSE> when it is registered here (or is our registrar); otherwise, on
 * a CSE with a registrar, the registrar (the default route up the tree).
 * Returns 0 with out filled (route_clear() it), or RSC_NOT_FOUND when no
 * route exists (also for this CSE's own ID). */
int route_next_hop(struct cse *cse, const char *csi, struct route *out);
void route_clear(struct route *r);

/* "/id-mn" -> "id-mn", the ri of that CSE's <remoteCSE>; NULL when csi is
 * not of the form "/<segment>". Points into csi. */
const char *route_csi_stem(const char *csi);

#endif
