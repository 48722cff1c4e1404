/* Removing a resource with its subtree: the type's delete hook, the store,
 * and the deletion notifications its subscriptions owe. Shared by DELETE
 * (dispatch.c) and expiry (expiry.c). */
#include "removal.h"

#include "../events/announce.h"
#include "../events/notify.h"
#include "../../resources/registry.h"

struct removing {
    struct cse *cse;
    bool deannounce;
};

/* Subscriptions leaving with a subtree owe their subscriber a notification;
 * what a DELETE removes that was announced is de-announced (expiry need
 * not: the copies carry the same et). */
static int note_removed(struct resource *res, void *data)
{
    struct removing *r = data;
    if (type_flags(&r->cse->types, res->ty) & RT_SUBSCRIPTION) notify_removing(r->cse, res);
    if (r->deannounce && json_object_get(res->attrs, ATTR_ANNOUNCED)) announce_note(r->cse, OP_DELETE, res, NULL);
    return 0;
}

/* Runs the type's delete hook, then removes the subtree. Hooks see the
 * request so they can refuse (disr); expiry passes none. */
int removal_delete(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                   struct resource *res)
{
    const struct resource_type *t = registry_find(&cse->types, res->ty);
    struct resource *parent = NULL;
    if (res_pi(res) && *res_pi(res)) store_get(cse->store, res_pi(res), &parent);
    struct op_ctx ctx = { cse, req, rsp, parent, res, NULL, NULL, NULL };
    struct removing r = { cse, req != NULL };
    int rc = t && t->on_delete ? t->on_delete(&ctx) : 0;
    if (!rc) rc = store_delete_subtree(cse->store, res, note_removed, &r);
    if (!rc) note_removed(res, &r);
    resource_free(parent);
    return rc;
}

int cse_delete_resource(struct cse *cse, struct resource *res, struct m2m_response *rsp)
{
    return removal_delete(cse, NULL, rsp, res);
}
