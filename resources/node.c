/* <node> (ty 14, TS-0001 9.6.18): a device's management root, holding its
 * mgmtObjs (mgmt_obj.c). `hcl`/`hsl` are stored as given; `hael` also follows
 * the `nl` of the AEs that name this node (node_link_ae). */
#include "node.h"

#include "../cse/core/address.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../cse/base/json_text.h"

#include <string.h>

static const struct attr_def node_attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI, ATTR_CSTN,
    { "ni", A_ID, M, O, 0, 0 },
    { "hcl", A_ID, O, O, 0, 0 },
    { "hael", A_URILIST, O, O, 0, 0 },
    { "hsl", A_URILIST, O, O, 0, 0 },
    { "mgca", A_STR, O, O, 0, 0 },
    { "rms", A_BOOL, NP, NP, 0, 0 },
    { "nid", A_STR, NP, NP, 0, 0 },
};

const struct resource_type type_node = {
    .ty = TY_NOD, .sn = "nod", .key = "m2m:nod",
    .parents = (const int[]){ TY_CSEBASE, TY_CSR, 0 },
    .attrs = ATTRS(node_attrs),
    .flags = RT_SUBSCRIBABLE | RT_ANNOUNCEABLE,
};

int node_link_ae(struct op_ctx *ctx, const char *nl, const char *aei, bool add)
{
    struct address addr;
    struct resource *node = NULL;
    if (address_parse(ctx->cse, nl, &addr))
        return add ? m2m_error(ctx->rsp, RSC_BAD_REQUEST, "nl '%s' is not a valid address", nl) : 0;
    bool remote = addr.remote;
    int found = remote ? RSC_NOT_FOUND : address_resolve(ctx->cse, addr.local, &node);
    address_clear(&addr);
    if (remote) return 0;
    if (found || node->ty != TY_NOD || node->virtual_of) {
        resource_free(node);
        return add ? m2m_error(ctx->rsp, RSC_BAD_REQUEST, "nl '%s' does not name a <node>", nl) : 0;
    }
    json_t *hael = json_object_get(node->attrs, "hael");
    int at = hael ? json_strlist_index(hael, aei) : -1;
    int rc = 0;
    if (add && at < 0) {
        if (!hael) json_object_set_new(node->attrs, "hael", hael = json_array());
        json_array_append_new(hael, json_string(aei));
        rc = store_update(ctx->cse->store, node);
    } else if (!add && at >= 0) {
        json_array_remove(hael, (size_t)at);
        rc = store_update(ctx->cse->store, node);
    }
    resource_free(node);
    return rc ? m2m_error(ctx->rsp, rc, "cannot update the node's hael") : 0;
}
