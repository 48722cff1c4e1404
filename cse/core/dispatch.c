/* The dispatcher: validates a primitive, finds its target, asks access
 * control, and runs the operation against the resource type's table and
 * hooks. One store transaction per modifying primitive. */
#include "dispatch.h"

#include "expiry.h"
#include "removal.h"

#include "address.h"
#include "../base/clock.h"
#include "../base/fiber.h"
#include "filter.h"
#include "forward.h"
#include "route.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "nonblocking.h"
#include "../events/announce.h"
#include "../events/notify.h"
#include "rsc.h"
#include "../../resources/group.h"
#include "../../security/acl.h"
#include "../../security/audit.h"
#include "../../security/authz.h"
#include "../../security/esprim.h"
#include "../../security/saef.h"

#include <stdlib.h>
#include <string.h>

static const char *const supported_rvi[] = { "1", "2", "2a", "3", "4", "5" };


/* What a committed write reports to the notification module. */
struct event {
    int net;                   /* 0 = nothing to report */
    struct resource *res, *parent;
    json_t *modified;
};

static void event_clear(struct event *ev)
{
    resource_free(ev->res);
    resource_free(ev->parent);
    json_decref(ev->modified);
    memset(ev, 0, sizeof *ev);
}

/* Runs after the transaction committed, so receivers never hear of a
 * change that was rolled back. The request's operation and originator are
 * what an operation monitor (enc.om) looks at. */
static void event_fire(struct cse *cse, struct event *ev, const struct m2m_request *req)
{
    int op = req ? req->op : 0;
    const char *fr = req ? req->fr : NULL;
    switch (ev->net) {
    case NET_CREATE_CHILD: notify_event_op(cse, NET_CREATE_CHILD, ev->res, ev->parent, NULL, op, fr); break;
    case NET_UPDATE: notify_event_op(cse, NET_UPDATE, ev->res, NULL, ev->modified, op, fr); break;
    case NET_RETRIEVE_CNT_NO_CHILD: notify_event_op(cse, ev->net, ev->res, NULL, NULL, op, fr); break;
    case NET_DELETE:
        notify_event_op(cse, NET_DELETE, ev->res, ev->parent, NULL, op, fr);
        notify_removed_commit(cse);
        notify_event_op(cse, NET_DELETE_CHILD, ev->res, ev->parent, NULL, op, fr);
        break;
    }
    notify_removed_commit(cse);
}

/* net 5: a RETRIEVE of <container>/la or /ol found no instance. */
static void empty_container_event(struct cse *cse, const char *local, struct event *ev)
{
    size_t n = strlen(local);
    if (n < 4 || (strcmp(local + n - 3, "/la") && strcmp(local + n - 3, "/ol"))) return;
    char *head = strndup(local, n - 3);
    struct resource *cnt = NULL;
    if (head && !address_resolve(cse, head, &cnt) && type_reserves_name(registry_find(&cse->types, cnt->ty), local + n - 2))
        *ev = (struct event){ NET_RETRIEVE_CNT_NO_CHILD, cnt, NULL, NULL };
    else
        resource_free(cnt);
    free(head);
}

/* The attributes whose value an UPDATE changed (removed ones as null). */
static json_t *changed_attributes(const struct resource *before, const struct resource *after)
{
    json_t *diff = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(after->attrs, key, v)
        if (!json_equal(v, json_object_get(before->attrs, key))) json_object_set(diff, key, v);
    json_object_foreach(before->attrs, key, v)
        if (!json_object_get(after->attrs, key)) json_object_set_new(diff, key, json_null());
    return diff;
}

/* Which rcn an operation accepts (TS-0004 Table 6.4.1-1); absent is always
 * fine (each operation has its default), NOTIFY is checked separately. */
static bool rcn_valid(enum m2m_op op, int rcn, bool discovery)
{
    if (rcn < 0) return true;
    switch (op) {
    case OP_CREATE: return rcn == 0 || rcn == 1 || rcn == 2 || rcn == 3 || rcn == 9;
    case OP_RETRIEVE:
        if (discovery) return rcn == 6 || rcn == 11;
        return rcn == 1 || rcn == 4 || rcn == 5 || rcn == 6 || rcn == 8;
    case OP_UPDATE: return rcn == 0 || rcn == 1 || rcn == 9;
    case OP_DELETE: return rcn == 0 || rcn == 1 || rcn == 4 || rcn == 5 || rcn == 6 || rcn == 8;
    default: return false;
    }
}

static bool is_attribute(const void *types, const char *sn)
{
    return registry_is_attribute_name(types, sn);
}

/* The longest wait for an operation execution time (oet): a blocking
 * request holds its connection meanwhile; a non-blocking one its record. */
#define OET_MAX_BLOCKING_S 300
#define OET_MAX_NONBLOCKING_S 3600

/* One of rqet, rset, oet: an absolute timestamp or milliseconds after
 * arrival, rewritten absolute, so that a later run (oet, a deferral, a
 * non-blocking execution) and the answer (X-M2M-RST) read one instant. */
static int settle_time(char **field, const char *what, int64_t now, int64_t *at, struct m2m_response *rsp)
{
    *at = 0;
    if (!*field) return 0;
    if (!ts_parse_absrel(*field, now, at)) return m2m_error(rsp, RSC_BAD_REQUEST, "%s is malformed", what);
    ts_buf buf;
    ts_format(*at, buf);
    free(*field);
    *field = strdup(buf);
    return 0;
}

/* TS-0004 8.1.2: not executed before oet, dropped after rqet, answered
 * before rset; an order in which that cannot all hold is refused. */
static int check_times(struct m2m_request *req, struct m2m_response *rsp)
{
    int64_t now = clock_now_us(), rqet, rset, oet;
    int rc = settle_time(&req->rqet, "request expiration timestamp", now, &rqet, rsp);
    if (!rc) rc = settle_time(&req->rset, "result expiration timestamp", now, &rset, rsp);
    if (!rc) rc = settle_time(&req->oet, "operation execution time", now, &oet, rsp);
    if (rc) return rc;
    if (rqet && rset && rset < rqet)
        return m2m_error(rsp, RSC_BAD_REQUEST, "the result expiration timestamp lies before the request expiration timestamp");
    if (oet && rqet && oet > rqet)
        return m2m_error(rsp, RSC_BAD_REQUEST, "the operation execution time lies after the request expiration timestamp");
    if (oet && rset && oet > rset)
        return m2m_error(rsp, RSC_BAD_REQUEST, "the operation execution time lies after the result expiration timestamp");
    if (rqet && rqet < now) return m2m_error(rsp, RSC_REQUEST_TIMEOUT, "request expiration time has passed");
    if (rset && rset < now) return m2m_error(rsp, RSC_REQUEST_TIMEOUT, "result expiration time has passed");
    bool blocking = req->rt != 1 && req->rt != 2;
    int64_t max_s = blocking ? OET_MAX_BLOCKING_S : OET_MAX_NONBLOCKING_S;
    if (oet > now + max_s * 1000000)
        return m2m_error(rsp, RSC_BAD_REQUEST, "the operation execution time lies more than %lld s ahead%s",
                         (long long)max_s, blocking ? " (a non-blocking request may wait longer)" : "");
    return 0;
}

/* Receiver checks that need no resource (TS-0004 7.3.2.1 step 1). */
static int validate_primitive(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp)
{
    if (req->op < OP_CREATE || req->op > OP_NOTIFY)
        return m2m_error(rsp, RSC_BAD_REQUEST, "unknown operation");
    if (!req->rqi || !*req->rqi)
        return m2m_error(rsp, RSC_BAD_REQUEST, "request identifier (X-M2M-RI) is missing");
    if (!req->to || !*req->to)
        return m2m_error(rsp, RSC_BAD_REQUEST, "target (To) is missing");
    bool registration = req->op == OP_CREATE && (type_flags(&cse->types, req->ty) & RT_REGISTERS);
    if (!registration && (!req->fr || !*req->fr))
        return m2m_error(rsp, RSC_BAD_REQUEST, "originator (X-M2M-Origin) is missing");
    /* It would land in cr, the audit log and notifications, all UTF-8. */
    if (req->fr && !m2m_text_valid(req->fr))
        return m2m_error(rsp, RSC_BAD_REQUEST, "originator is not well-formed UTF-8 text");
    if (req->rvi) {
        bool ok = false;
        for (size_t i = 0; i < sizeof supported_rvi / sizeof *supported_rvi; i++)
            ok |= !strcmp(req->rvi, supported_rvi[i]);
        if (!ok)
            return m2m_error(rsp, RSC_RELEASE_VERSION_NOT_SUPPORTED,
                             "release version '%s' is not supported", req->rvi);
    }
    if (m2m_query_attributes_known(req, is_attribute, &cse->types))
        return m2m_error(rsp, RSC_BAD_REQUEST, "'%s' filters on an attribute no resource type has",
                         req->unknown_key);
    if (req->unknown_query && cse->cfg.strict_query)
        return m2m_error(rsp, RSC_BAD_REQUEST, "unknown query parameter '%s'", req->unknown_key);
    int rc = check_times(req, rsp);
    if (rc) return rc;
    if (req->op == OP_CREATE) {
        if (req->ty <= 0)
            return m2m_error(rsp, RSC_BAD_REQUEST, "CREATE needs a resource type (Content-Type ty=)");
        if (req->fc.present)
            return m2m_error(rsp, RSC_BAD_REQUEST, "filter criteria are not allowed in CREATE");
    } else if (req->ty > 0) {
        /* ty in a non-CREATE request is a filter condition, set by the binding. */
    }
    if (req->op == OP_NOTIFY && req->rcn >= 0)
        return m2m_error(rsp, RSC_BAD_REQUEST, "NOTIFY takes no result content");
    if (!rcn_valid(req->op, req->rcn, req->fc.fu == 1))
        return m2m_error(rsp, RSC_BAD_REQUEST, "result content %d is not valid for this operation", req->rcn);
    if (req->fc.arp && req->fc.fu != 1)
        return m2m_error(rsp, RSC_BAD_REQUEST, "applyRelativePath (arp) needs discovery (fu=1)");
    if (req->fc.fu != 1 && req->fc.fu != 2)
        return m2m_error(rsp, RSC_NOT_IMPLEMENTED, "filter usage %d is not supported", req->fc.fu);
    return 0;
}

/* A specialisation's key names its namespace: "cod:tempSensor". */
static bool namespaced_key(const char *k)
{
    const char *colon = strchr(k, ':');
    return colon && colon > k && colon[1] && !strchr(colon + 1, ':') && strlen(k) < 128;
}

/* Extracts the single {"m2m:<type>": {...}} member of a CREATE/UPDATE body.
 * A CREATE of an RT_SPECIALIZED type takes any namespaced key no other type
 * owns (*key_out); an UPDATE needs the key the resource has (target). */
static int content_of(const struct cse *cse, const struct resource_type *t,
                      const struct resource *target, const struct m2m_request *req,
                      struct m2m_response *rsp, json_t **out, const char **key_out)
{
    const char *want = type_key(t, target);
    if (!req->pc)
        return m2m_error(rsp, RSC_BAD_REQUEST, "content is missing");
    if (!json_is_object(req->pc) || json_object_size(req->pc) != 1)
        return m2m_error(rsp, RSC_BAD_REQUEST, "content must be one object {\"%s\": {...}}", want);
    if (!target && (t->flags & RT_SPECIALIZED)) {
        const char *given = json_object_iter_key(json_object_iter(req->pc));
        const struct resource_type *owner = registry_find_key(&cse->types, given);
        if (!namespaced_key(given) || (owner && owner != t))
            return m2m_error(rsp, RSC_BAD_REQUEST, "\"%s\" does not name a specialisation of %s",
                             given, t->key);
        want = given;
    }
    json_t *inner = json_object_get(req->pc, want);
    if (!inner)
        return m2m_error(rsp, RSC_BAD_REQUEST, "content does not match the resource type (expected \"%s\")", want);
    if (!json_is_object(inner))
        return m2m_error(rsp, RSC_BAD_REQUEST, "\"%s\" must be an object", want);
    *out = inner;
    if (key_out) *key_out = want;
    return 0;
}

static bool reserved_name(const struct cse *cse, const char *rn, int parent_ty)
{
    return type_reserves_name(registry_find(&cse->types, parent_ty), rn);
}

/* Sets et: the requested one (must lie ahead) or the default, never beyond
 * the parent's et. */
static int settle_expiration(struct cse *cse, struct op_ctx *ctx, int64_t now)
{
    struct resource *res = ctx->res;
    json_t *given = json_object_get(ctx->content, "et");
    int64_t et, parent_et;
    if (given && !json_is_null(given)) {
        ts_parse(json_string_value(given), &et);
        if (et <= now)
            return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "expirationTime lies in the past");
    } else {
        et = now + cse->cfg.default_et_s * 1000000;
    }
    bool clamped = false;
    if (ctx->parent && ts_parse(res_str(ctx->parent, "et") ? res_str(ctx->parent, "et") : "", &parent_et) &&
        et > parent_et) {
        et = parent_et;
        clamped = true;
    }
    ts_buf buf;
    ts_format(et, buf);
    json_object_set_new(res->attrs, "et", json_string(buf));
    if (!given || clamped) json_object_set_new(ctx->modified, "et", json_string(buf));
    else if (strcmp(json_string_value(given), buf)) json_object_set_new(ctx->modified, "et", json_string(buf));
    return 0;
}

static int latest_et(struct resource *child, void *data)
{
    const char *et = res_str(child, "et");
    char *max = data;
    if (et && strcmp(et, max) > 0) snprintf(max, TS_LEN, "%s", et);
    return 0;
}

/* An UPDATE may not move et before a child's et (TS-0004 7.3.3.x UPDATE
 * step): the child would outlive its parent. */
static int check_children_et(struct cse *cse, struct op_ctx *ctx)
{
    ts_buf max = "";
    int rc = store_children(cse->store, res_ri(ctx->res), 0, latest_et, max);
    if (rc) return m2m_error(ctx->rsp, rc, "cannot read the children");
    const char *et = res_str(ctx->res, "et");
    if (max[0] && et && strcmp(et, max) < 0)
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST,
                         "expirationTime %s lies before a child's expirationTime %s", et, max);
    return 0;
}

static int respond_written(const struct m2m_request *req, struct m2m_response *rsp,
                           struct op_ctx *ctx, int default_rcn)
{
    int rcn = req->rcn < 0 ? default_rcn : req->rcn;
    const struct resource *res = ctx->res;
    switch (rcn) {
    case RCN_NOTHING: break;
    case RCN_ATTRIBUTES: rsp->pc = representation(ctx->cse, res, res->attrs); break;
    case RCN_HIER_ADDRESS: rsp->pc = json_pack("{s:s}", "m2m:uri", res->path); break;
    case RCN_HIER_ADDRESS_ATTRIBUTES:
        rsp->pc = json_pack("{s:{s:o,s:s}}", "m2m:rce", type_key(registry_find(&ctx->cse->types, res->ty), res),
                            wire_attrs(res->attrs), "uri", res->path);
        break;
    case RCN_MODIFIED:
        if (json_object_size(ctx->modified)) rsp->pc = representation(ctx->cse, res, ctx->modified);
        break;
    }
    return 0;
}

static int op_create(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                     struct resource *parent, struct event *ev)
{
    if (parent->virtual_of)
        return m2m_error(rsp, RSC_OPERATION_NOT_ALLOWED, "cannot create under a virtual resource");
    const struct resource_type *t = registry_find(&cse->types, req->ty);
    if (!t) return m2m_error(rsp, RSC_NOT_IMPLEMENTED, "resource type %d is not supported", req->ty);
    if (t->flags & RT_NO_CREATE)
        return m2m_error(rsp, RSC_OPERATION_NOT_ALLOWED, "%s cannot be created", t->key);
    json_t *content;
    const char *key;
    int rc = content_of(cse, t, NULL, req, rsp, &content, &key);
    if (rc) return rc;
    const struct resource_type *base = t;
    if (!(t = type_specialisation(base, key)))
        return m2m_error(rsp, RSC_BAD_REQUEST, "\"%s\" is not a specialisation of %s", key, base->key);
    /* A subscription may also go under any type that says it is subscribable. */
    bool subscribable = (t->flags & RT_SUBSCRIPTION) && (type_flags(&cse->types, parent->ty) & RT_SUBSCRIBABLE);
    /* The dynamic ACP of direct dynamic authorization is a child of the
     * resource it grants access to, whatever that is (TS-0004 7.5.1.2.10;
     * security/das.c): only the CSE itself makes one there. */
    bool dynamic_acp = req->cse_itself && t->ty == TY_ACP && type_attr(registry_find(&cse->types, parent->ty), "acpi");
    if (!type_allows_parent(t, parent->ty) && !subscribable && !dynamic_acp)
        return m2m_error(rsp, RSC_INVALID_CHILD_RESOURCE_TYPE, "%s cannot be created under %s",
                         t->key, type_key(registry_find(&cse->types, parent->ty), parent));
    if ((rc = schema_validate(t, OP_CREATE, content, rsp))) return rc;
    if ((t->flags & RT_ANNOUNCEABLE) && (rc = announce_validate(cse, t, content, rsp))) return rc;
    json_t *acpi = json_object_get(content, "acpi");
    if (acpi && (rc = acl_validate_acpi(cse, acpi, rsp))) return rc;
    if ((rc = acl_validate_custodian(cse, content, rsp))) return rc;

    int64_t now = clock_now_us();
    ts_buf ct;
    ts_format(now, ct);
    json_t *attrs = json_deep_copy(content);
    json_object_del(attrs, "cr");
    char ri[64], rn[300];
    if (req->cont && req->cont->ri[0]) {
        snprintf(ri, sizeof ri, "%s", req->cont->ri); /* the second run keeps the first's ri */
    } else {
        cse_new_id(t->sn, ri, sizeof ri);
        if (req->cont) snprintf(req->cont->ri, sizeof req->cont->ri, "%s", ri);
    }
    const char *given_rn = json_string_value(json_object_get(content, "rn"));
    if (given_rn) {
        if (reserved_name(cse, given_rn, parent->ty))
            { json_decref(attrs); return m2m_error(rsp, RSC_BAD_REQUEST, "resource name '%s' is reserved", given_rn); }
        snprintf(rn, sizeof rn, "%s", given_rn);
    } else {
        /* "<sn>_<ri after its prefix>": both fit (ri is < 64 bytes). */
        size_t sn = strlen(t->sn), rest = strlen(ri + sn);
        memcpy(rn, t->sn, sn);
        rn[sn] = '_';
        memcpy(rn + sn + 1, ri + sn, rest + 1);
    }
    if (t->flags & RT_SPECIALIZED) json_object_set_new(attrs, ATTR_INSTANCE_KEY, json_string(key));
    json_object_set_new(attrs, "ty", json_integer(t->ty));
    json_object_set_new(attrs, "ri", json_string(ri));
    json_object_set_new(attrs, "rn", json_string(rn));
    json_object_set_new(attrs, "pi", json_string(res_ri(parent)));
    json_object_set_new(attrs, "ct", json_string(ct));
    json_object_set_new(attrs, "lt", json_string(ct));
    if (t->flags & RT_STATE_TAG) json_object_set_new(attrs, "st", json_integer(0));
    if ((t->flags & RT_CREATOR) && json_object_get(content, "cr"))
        json_object_set_new(attrs, "cr", json_string(req->fr ? req->fr : ""));

    struct resource *res = resource_new(t->ty, attrs, NULL);
    struct op_ctx ctx = { cse, req, rsp, parent, res, NULL, content, json_object() };
    if (!(t->flags & RT_NO_EXPIRY)) rc = settle_expiration(cse, &ctx, now);
    if (!rc && t->on_create) rc = t->on_create(&ctx);
    for (int attempt = 0; !rc; attempt++) {
        size_t pn = strlen(parent->path), rnn = strlen(res_rn(res));
        free(res->path);
        if (!(res->path = malloc(pn + rnn + 2))) {
            rc = m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory");
            break;
        }
        memcpy(res->path, parent->path, pn);
        res->path[pn] = '/';
        memcpy(res->path + pn + 1, res_rn(res), rnn + 1);
        rc = store_insert(cse->store, res);
        /* A registrant's ri is its ID, not drawn: a collision is a second registration. */
        if (rc == RSC_ALREADY_EXISTS && !(t->flags & RT_REGISTERS) && attempt < 3) {
            cse_new_id(t->sn, ri, sizeof ri); /* random ri collided: draw again */
            json_object_set_new(res->attrs, "ri", json_string(ri));
            rc = 0;
            continue;
        }
        if (rc == RSC_CONFLICT) rc = m2m_error(rsp, RSC_CONFLICT, "a resource named '%s' already exists here", res_rn(res));
        else if (rc == RSC_ALREADY_EXISTS) rc = m2m_error(rsp, RSC_ORIGINATOR_HAS_ALREADY_REGISTERED, "'%s' is already registered", res_ri(res));
        break;
    }
    if (!rc && t->on_created) rc = t->on_created(&ctx);
    if (!rc) {
        cse_note_expiry(cse, res_str(res, "et"));
        if (t->flags & RT_ANNOUNCEABLE) announce_note(cse, OP_CREATE, res, NULL);
        rsp->rsc = RSC_CREATED;
        rsp->location = strdup(res_ri(res));
        respond_written(req, rsp, &ctx, RCN_ATTRIBUTES);
        if (notify_watched(cse, res_ri(parent)) || (t->flags & RT_SUBSCRIPTION))
            *ev = (struct event){ NET_CREATE_CHILD, resource_dup(res), resource_dup(parent), NULL };
        log_debug("created %s (%s) by %s", res->path, res_ri(res), req->fr ? req->fr : "-");
    }
    json_decref(ctx.modified);
    resource_free(res);
    return rc;
}

static int op_update(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                     struct resource *target, struct event *ev)
{
    const struct resource_type *t = type_of_resource(registry_find(&cse->types, target->ty), target);
    if (target->virtual_of || (t->flags & RT_NO_UPDATE))
        return m2m_error(rsp, RSC_OPERATION_NOT_ALLOWED, "%s cannot be updated",
                         target->virtual_of ? "a virtual resource" : t->key);
    json_t *content;
    int rc = content_of(cse, t, target, req, rsp, &content, NULL);
    if (rc) return rc;
    if (!json_object_size(content))
        return m2m_error(rsp, RSC_BAD_REQUEST, "an UPDATE must name at least one attribute");
    if ((rc = schema_validate(t, OP_UPDATE, content, rsp))) return rc;
    if ((t->flags & RT_ANNOUNCEABLE) && (rc = announce_validate(cse, t, content, rsp))) return rc;
    json_t *acpi = json_object_get(content, "acpi");
    if (acpi && json_object_size(content) > 1)
        return m2m_error(rsp, RSC_BAD_REQUEST, "acpi must be updated on its own");
    if (acpi && !json_is_null(acpi) && (rc = acl_validate_acpi(cse, acpi, rsp))) return rc;
    if ((rc = acl_validate_custodian(cse, content, rsp))) return rc;
    /* A blocking-update subscriber must agree before anything changes. */
    if (notify_watched(cse, res_ri(target)) &&
        (rc = notify_blocking_update(cse, req, target, type_key(t, target), content, rsp)))
        return rc;

    struct resource *before = resource_dup(target);
    int64_t now = clock_now_us();
    const char *key;
    json_t *v;
    json_object_foreach(content, key, v) {
        if (json_is_null(v)) {
            const struct attr_def *a = type_attr(t, key);
            /* Mandatory attributes and et (multiplicity 1) cannot be removed. */
            if ((a && a->create == M) || !strcmp(key, "et")) {
                resource_free(before);
                return m2m_error(rsp, RSC_BAD_REQUEST, "mandatory attribute '%s' cannot be deleted", key);
            }
            json_object_del(target->attrs, key);
        } else {
            json_object_set(target->attrs, key, v);
        }
    }
    json_t *modified = json_object();
    struct resource *parent = NULL;
    if (res_pi(target) && *res_pi(target)) store_get(cse->store, res_pi(target), &parent);
    struct op_ctx ctx = { cse, req, rsp, parent, target, before, content, modified };
    json_t *et = json_object_get(content, "et");
    if (et && !json_is_null(et)) rc = settle_expiration(cse, &ctx, now);
    if (et && !rc) rc = check_children_et(cse, &ctx);
    ts_buf lt;
    ts_format(now, lt);
    json_object_set_new(target->attrs, "lt", json_string(lt));
    json_object_set_new(modified, "lt", json_string(lt));
    if (t->flags & RT_STATE_TAG) {
        json_object_set_new(target->attrs, "st", json_integer(res_int(target, "st", 0) + 1));
        json_object_set(modified, "st", json_object_get(target->attrs, "st"));
    }
    if (!rc && t->on_update) rc = t->on_update(&ctx);
    if (!rc) rc = store_update(cse->store, target);
    if (!rc) {
        cse_note_expiry(cse, res_str(target, "et"));
        if (t->flags & RT_ANNOUNCEABLE) announce_note(cse, OP_UPDATE, target, before);
        rsp->rsc = RSC_UPDATED;
        respond_written(req, rsp, &ctx, RCN_ATTRIBUTES);
        if (notify_watched(cse, res_ri(target)) || (type_flags(&cse->types, target->ty) & RT_SUBSCRIPTION))
            *ev = (struct event){ NET_UPDATE, resource_dup(target), NULL, changed_attributes(before, target) };
    }
    json_decref(modified);
    resource_free(parent);
    resource_free(before);
    return rc;
}

static int op_delete(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                     struct resource *target, struct event *ev)
{
    const struct resource_type *t = registry_find(&cse->types, target->ty);
    if (t->flags & RT_NO_DELETE)
        return m2m_error(rsp, RSC_OPERATION_NOT_ALLOWED, "%s cannot be deleted", t->key);
    int rcn = req->rcn < 0 ? RCN_NOTHING : req->rcn;
    int rc = 0;
    if (rcn == RCN_ATTRIBUTES) rsp->pc = representation(cse, target, target->attrs);
    else if (rcn != RCN_NOTHING) rc = build_with_children(cse, req, rsp, target, rcn);
    if (!rc) rc = removal_delete(cse, req, rsp, target);
    if (!rc) {
        rsp->rsc = RSC_DELETED;
        struct resource *parent = NULL;
        if (res_pi(target) && *res_pi(target)) store_get(cse->store, res_pi(target), &parent);
        *ev = (struct event){ NET_DELETE, resource_dup(target), parent, NULL };
    }
    return rc;
}

static int op_notify(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                     struct resource *target)
{
    const struct resource_type *t = registry_find(&cse->types, target->ty);
    if (t && t->on_notify) {
        struct op_ctx ctx = { .cse = cse, .req = req, .rsp = rsp, .res = target };
        return t->on_notify(&ctx);
    }
    return m2m_error(rsp, RSC_OPERATION_NOT_ALLOWED, "%s cannot receive notifications",
                     t ? type_key(t, target) : "this resource");
}

/* Any operation on a virtual child its parent's type handles (pcu, ntsr):
 * the type's on_virtual hook, with the child's name (the last segment). The
 * hook decides access itself: who may use such a child is the type's rule
 * (the channel's owner; a subscription's notification target), not an ACP's. */
static int op_virtual(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                      struct resource *target, const char *local)
{
    const struct resource_type *t = registry_find(&cse->types, target->ty);
    const char *name = strrchr(local, '/');
    struct op_ctx ctx = { .cse = cse, .req = req, .rsp = rsp, .res = target, .modified = json_object() };
    int rc = t->on_virtual(&ctx, name ? name + 1 : local);
    json_decref(ctx.modified);
    return rc;
}

/* Filter criteria on UPDATE/DELETE make the operation conditional (TS-0004
 * 7.3.3.1): the target must match or nothing happens (4004). Discovery is
 * a RETRIEVE only; a discovery-based UPDATE/DELETE (fu=4) is Release 4. */
static int check_conditions(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                            const struct resource *target)
{
    if (req->fc.fu == 1)
        return m2m_error(rsp, RSC_BAD_REQUEST, "discovery (fu=1) applies to RETRIEVE only");
    /* With rcn 4/5/6/8 the conditions select the listed children instead. */
    bool lists_children = req->rcn >= RCN_ATTRIBUTES_CHILDREN && req->rcn != RCN_MODIFIED;
    if (!lists_children && filter_has_conditions(&req->fc) && !filter_match(&req->fc, cse->store, target))
        return m2m_error(rsp, RSC_NOT_FOUND, "the resource does not match the filter criteria");
    return 0;
}

static int acop_of(enum m2m_op op, const struct m2m_request *req)
{
    switch (op) {
    case OP_CREATE: return ACOP_CREATE;
    case OP_RETRIEVE: return req->fc.fu == 1 ? ACOP_DISCOVERY : ACOP_RETRIEVE;
    case OP_UPDATE: return ACOP_UPDATE;
    case OP_DELETE: return ACOP_DELETE;
    default: return ACOP_NOTIFY;
    }
}

/* Is the operation one the type refuses whatever the originator, where
 * saying so reveals nothing? Creation rules are public; of existing
 * resources only the CSEBase is known to everyone (anything else would
 * leak its existence to an originator without rights). */
static bool type_refuses(const struct cse *cse, const struct m2m_request *req, const struct resource *target)
{
    const struct resource_type *t;
    switch (req->op) {
    case OP_CREATE:
        t = registry_find(&cse->types, req->ty);
        return !t || (t->flags & RT_NO_CREATE);
    case OP_UPDATE:
        return type_flags(&cse->types, target->ty) & RT_NO_UPDATE && type_flags(&cse->types, target->ty) & RT_ROOT;
    case OP_DELETE:
        return type_flags(&cse->types, target->ty) & RT_NO_DELETE && type_flags(&cse->types, target->ty) & RT_ROOT;
    default:
        return false;
    }
}

/* Does this request leave the target's attributes as they are? Then they
 * may stay shared with the store's cache (address_resolve_shared): a plain
 * RETRIEVE through a hook that only reads. */
static bool only_reads(const struct cse *cse, const struct m2m_request *req, const struct resource *target)
{
    if (req->op != OP_RETRIEVE || req->fc.fu == 1 || (req->rcn >= 0 && req->rcn != RCN_ATTRIBUTES)) return false;
    const struct resource_type *t = registry_find(&cse->types, target->ty);
    return t && (!t->on_retrieve || (t->flags & RT_RETRIEVE_READS_ONLY));
}

static int execute(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp)
{
    int rc = saef_check(cse, req, rsp);
    if (rc) return rc;
    if (req->ot && !req->cse_itself)
        for (int i = 0; i < cse->types.n; i++)
            if (cse->types.types[i]->on_request_time) cse->types.types[i]->on_request_time(cse, req);
    if (cse->on_request && (rc = cse->on_request(cse, req, rsp)) >= 0) return rc;
    struct address addr;
    rc = address_parse(cse, req->to, &addr);
    if (rc) return m2m_error(rsp, rc, "'%s' is not a valid target address", req->to);
    if (addr.remote) {
        /* Transit: another CSE hosts the target (cse/core/forward.h). */
        address_clear(&addr);
        return forward_request(cse, req, rsp);
    }
    if (addr.attr && req->op != OP_RETRIEVE) {
        address_clear(&addr);
        return m2m_error(rsp, RSC_BAD_REQUEST, "an attribute target (#) is only valid for RETRIEVE");
    }
    if (addr.attr) {
        if (req->natrl < 32) req->atrl[req->natrl++] = strdup(addr.attr);
    }
    struct resource *grp;
    char *rest;
    if (group_fopt_target(cse, addr.local, &grp, &rest)) {
        /* Each member runs as its own primitive, with its own transaction. */
        int ac = group_fopt_access(cse, req, grp, acop_of(req->op, req));
        if (ac == DISPATCH_PENDING) rc = ac;
        else if (ac) rc = m2m_error(rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "originator has no privilege");
        else rc = group_fanout(cse, req, rsp, grp, rest);
        resource_free(grp);
        free(rest);
        address_clear(&addr);
        return rc;
    }
    bool writes = req->op != OP_RETRIEVE && req->op != OP_NOTIFY;
    if (writes && store_begin_batched(cse->store)) {
        address_clear(&addr);
        return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the store is unavailable");
    }
    struct resource *target = NULL;
    rc = req->op == OP_RETRIEVE ? address_resolve_shared(cse, addr.local, &target)
                                : address_resolve(cse, addr.local, &target);
    if (!rc && !only_reads(cse, req, target) && !resource_own(target)) rc = RSC_INTERNAL_SERVER_ERROR;
    ts_buf now;
    ts_format(clock_now_us(), now);
    if (!rc && res_expired(target, now)) rc = RSC_NOT_FOUND;
    /* <resource>/<name> that its type answers (address.c marks it VIRT_CHILD). */
    bool vchild = !rc && target->virtual_of == VIRT_CHILD;
    /* A missing name below something the originator may not see must look
     * like a forbidden one, or 4004 would reveal what exists. */
    if (rc == RSC_NOT_FOUND && acl_conceals_missing(cse, req, addr.local))
        rc = m2m_error(rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "originator has no privilege");
    else if (rc == RSC_NOT_FOUND) rc = m2m_error(rsp, rc, "resource '%s' does not exist", req->to);
    else if (rc == RSC_INTERNAL_SERVER_ERROR) rc = m2m_error(rsp, rc, "the store is unavailable");
    else if (rc) rc = m2m_error(rsp, rc, "cannot resolve '%s'", req->to);
    /* AE registration is governed by registration rules, not ACPs. An
     * operation the resource type never allows (creating a CSEBase, updating
     * or deleting one) is refused whoever asks, so that answer comes first
     * and reveals nothing. */
    bool registration = req->op == OP_CREATE && (type_flags(&cse->types, req->ty) & RT_REGISTERS);
    bool refused_type = !rc && !vchild && type_refuses(cse, req, target);
    /* A peer CSE relays notifications to the AEs registered here (their
     * subscriptions live on its side): it needs no ACP of each AE. */
    bool relayed_notify = !rc && req->op == OP_NOTIFY && (type_flags(&cse->types, target->ty) & RT_HAS_POA) &&
                          req->fr && route_is_peer(cse, req->fr);
    if (!rc && !registration && !refused_type && !vchild && !relayed_notify) {
        /* The chain of deciders (security/authz.h) may also wait for an answer. */
        int acop = acop_of(req->op, req);
        int ac = acl_check(cse, req, target, acop);
        if (ac == DISPATCH_PENDING) rc = ac;
        else if (ac) rc = m2m_error(rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "originator has no privilege");
        if (ac != DISPATCH_PENDING) authz_respond(cse, req, target, acop, rc, rsp);
        /* Who read or changed what: the subscriber's access log (docs/privacy.md). */
        if (!rc && cse->cfg.audit_grants && req->fr && !req->cse_itself)
            audit_decision(acl_audit_log(cse), req->fr, target->path, acl_acop_name(acop), "permit", NULL, "granted");
    }
    if (!rc && !vchild && (req->op == OP_UPDATE || req->op == OP_DELETE)) rc = check_conditions(cse, req, rsp, target);
    struct event ev = { 0 };
    if (rc == RSC_NOT_FOUND && req->op == OP_RETRIEVE) empty_container_event(cse, addr.local, &ev);
    /* A virtual child its type answers: the type decides access too. */
    if (!rc && vchild) {
        rc = op_virtual(cse, req, rsp, target, addr.local);
    } else if (!rc) {
        switch (req->op) {
        case OP_CREATE: rc = op_create(cse, req, rsp, target, &ev); break;
        case OP_RETRIEVE: rc = op_retrieve(cse, req, rsp, target); break;
        case OP_UPDATE: rc = op_update(cse, req, rsp, target, &ev); break;
        case OP_DELETE: rc = op_delete(cse, req, rsp, target, &ev); break;
        case OP_NOTIFY: rc = op_notify(cse, req, rsp, target); break;
        default: rc = m2m_error(rsp, RSC_BAD_REQUEST, "unknown operation");
        }
    }
    if (writes) {
        if (rc) store_rollback(cse->store);
        else if (store_commit(cse->store)) {
            store_rollback(cse->store);
            m2m_response_clear(rsp);
            rc = m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the change could not be stored");
        } else {
            acl_after_write(cse, req, target, rsp);
        }
        /* Receivers must never hear of a change a crash could still undo:
         * the round's group commit happens first (a DELETE may also have
         * removed subscriptions, whose ends are announced). */
        if (!rc && (ev.net || req->op == OP_DELETE) && cse_commit(cse)) {
            m2m_response_clear(rsp);
            rc = m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the change could not be stored");
        }
        if (rc) {
            notify_removed_abort(cse);
            announce_abort(cse);
        } else {
            event_fire(cse, &ev, req);
            announce_commit(cse);
        }
    } else if (ev.net && !cse_commit(cse)) {
        event_fire(cse, &ev, req);
    }
    event_clear(&ev);
    resource_free(target);
    address_clear(&addr);
    return rc;
}

/* The operation execution time when it is still ahead, else 0. A caller
 * that cannot wait (no loop) has the operation run at once. */
static int64_t oet_ahead(const struct m2m_request *req)
{
    int64_t oet;
    if (!req->oet || req->oet_reached || !ts_parse(req->oet, &oet)) return 0;
    return oet > clock_now_us() ? oet : 0;
}

void cse_dispatch(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp)
{
    rsp->rqi = req->rqi;
    cse_expire_due(cse);
    cse_primitive_begin(cse);
    int rc = validate_primitive(cse, req, rsp);
    int64_t oet = oet_ahead(req);
    /* End-to-end secured primitives open (or are refused) before anything
     * else looks at them (security/esprim.h); -1: not one. */
    int sealed = rc ? -1 : esprim_gate(cse, req, rsp);
    if (sealed >= 0) {
        rc = sealed;
    } else if (!rc && (req->rt == 1 || req->rt == 2)) {
        rc = nonblocking_accept(cse, req, rsp);
    } else if (!rc && oet && req->cont && req->cont->may_defer) {
        req->cont->not_before_us = oet;   /* cse_dispatch_async runs it then */
        cse_primitive_end(cse);
        return;
    } else if (!rc) {
        rc = execute(cse, req, rsp);
    }
    cse_primitive_end(cse);
    /* noResponse (rt 5): the operation runs as a blocking one; a binding
     * must still answer, so the answer is the RSC alone. */
    if (!rc && req->rt == 5 && rsp->pc) {
        json_decref(rsp->pc);
        rsp->pc = NULL;
    }
    /* Waiting is only for something asked for (req->cont->wanted), or for
     * the next loop round (a listing part-way, req->cont->scan). */
    if (rc == DISPATCH_PENDING && req->cont && (json_array_size(req->cont->wanted) || req->cont->scan)) return;
    if (rc == DISPATCH_PENDING)
        rc = m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "a decision waited for an answer it never asked for");
    if (rc) {
        if (rsc_is_success(rsp->rsc) || !rsp->rsc) m2m_error(rsp, rc, "%s", rsc_name(rc));
        if (rsp->location) { free(rsp->location); rsp->location = NULL; }
        log_debug("%s %s -> %d", req->fr ? req->fr : "-", req->to ? req->to : "-", rsp->rsc);
    }
}

/* --- deferred requests ---------------------------------------------------- */

struct deferral {
    struct deferral *next;         /* in cse->deferred */
    struct cse *cse;
    struct m2m_request *req;
    struct m2m_response *rsp;
    cse_done_fn *done, *abandon;
    void *data;
    int outstanding;               /* answers still to come */
    bool abandoned;                /* the CSE closed first: answers are only counted */
    int64_t timer;                 /* waiting for the operation execution time instead */
    struct paused_scan *scan;      /* with the timer: a listing to go on with */
};

struct answer {
    struct deferral *d;
    char *target;
};

static int run_in_fiber(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp,
                        cse_done_fn *done, cse_done_fn *abandon, void *data, bool rerun,
                        struct paused_scan *scan);

static void continuation_free(struct m2m_request *req)
{
    if (!req->cont) return;
    json_decref(req->cont->wanted);
    json_decref(req->cont->verified);
    json_decref(req->cont->members);
    paused_scan_free(req->cont->scan);
    free(req->cont);
    req->cont = NULL;
}

static void unlink_deferral(struct deferral *d)
{
    for (struct deferral **p = &d->cse->deferred; *p; p = &(*p)->next)
        if (*p == d) { *p = d->next; break; }
}

/* One answer is in; with the last one the request runs again, to the end. */
static void verified(void *data, json_t *result)
{
    struct answer *v = data;
    struct deferral *d = v->d;
    if (!d->abandoned) json_object_set(d->req->cont->verified, v->target, result);
    free(v->target);
    free(v);
    if (--d->outstanding) return;
    if (d->abandoned) { free(d); return; }
    unlink_deferral(d);
    d->req->cont->may_defer = false;
    json_array_clear(d->req->cont->wanted);
    m2m_response_clear(d->rsp);
    if (!run_in_fiber(d->cse, d->req, d->rsp, d->done, d->abandon, d->data, true, NULL)) d->done(d->data);
    free(d);
}

static int dispatch_async(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp,
                          cse_done_fn *done, cse_done_fn *abandon, void *data, struct paused_scan *scan);

/* The operation execution time has come (or the next loop round, for a
 * paused listing): the request runs as if it had just arrived (it may
 * still wait for outside answers). */
static int64_t oet_reached(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct deferral *d = data;
    unlink_deferral(d);
    d->req->oet_reached = true;
    if (!dispatch_async(d->cse, d->req, d->rsp, d->done, d->abandon, d->data, d->scan)) d->done(d->data);
    free(d);
    return -1;
}

static int wait_for_oet(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp, int64_t at,
                        cse_done_fn *done, cse_done_fn *abandon, void *data, struct paused_scan *scan)
{
    struct deferral *d = calloc(1, sizeof *d);
    if (!d) {
        paused_scan_free(scan);
        m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory");
        return 0;
    }
    *d = (struct deferral){ cse->deferred, cse, req, rsp, done, abandon, data, 0, false, 0, scan };
    int64_t ms = (at - clock_now_us() + 999) / 1000;
    d->timer = loop_add_timer(cse->loop, ms > 0 ? ms : 0, oet_reached, d);
    cse->deferred = d;
    return 1;
}

/* cse_dispatch_async where the caller stands (the main context with SQLite,
 * or a fiber already), going on with a paused listing's scan (NULL: none). */
static int dispatch_here(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp,
                         cse_done_fn *done, cse_done_fn *abandon, void *data, struct paused_scan *scan)
{
    /* On the stack first: most requests never defer, and pay nothing more. */
    struct m2m_continuation first = { .may_defer = cse->loop != NULL, .scan = scan };
    req->cont = &first;
    cse_dispatch(cse, req, rsp);
    size_t n = json_array_size(first.wanted);
    req->cont = NULL;
    if (first.not_before_us)
        return wait_for_oet(cse, req, rsp, first.not_before_us, done, abandon, data, first.scan);
    /* A listing that did not run on (its target is gone, access refused). */
    paused_scan_free(first.scan);
    first.scan = NULL;
    if (!n) { json_decref(first.wanted); json_decref(first.members); return 0; }
    struct m2m_continuation *k = malloc(sizeof *k);
    struct deferral *d = k ? calloc(1, sizeof *d) : NULL;
    if (!d) {
        free(k);
        json_decref(first.wanted);
        json_decref(first.members);
        m2m_response_clear(rsp);
        m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory");
        return 0;
    }
    *k = first;
    k->verified = json_object();
    req->cont = k;
    *d = (struct deferral){ cse->deferred, cse, req, rsp, done, abandon, data, (int)n, false, 0, NULL };
    cse->deferred = d;
    size_t i;
    json_t *w;
    json_array_foreach(k->wanted, i, w) {
        struct answer *v = malloc(sizeof *v);
        v->d = d;
        v->target = strdup(json_string_value(json_object_get(w, "key")));
        notify_run_exchange(cse, w, verified, v);
    }
    return 1;
}

/* --- primitives in fibers ----------------------------------------------------
 * With a store that waits for a server (store_fiber_lock()), a primitive
 * runs in a fiber that holds the store's lock throughout: when it waits for
 * the database the loop serves on, and other primitives queue for the lock.
 * The answer is then deferred; done() runs at the fiber's end, still
 * holding the lock, so whatever the binding does then (commit, the next
 * pipelined request) runs in the same fiber. */

struct fiber_call {
    struct fiber_call *next;        /* in cse->in_fibers */
    struct cse *cse;
    struct m2m_request *req;
    struct m2m_response *rsp;
    cse_done_fn *done, *abandon;
    void *data;
    bool rerun;                     /* a deferred request's run after its answers came */
    struct paused_scan *scan;       /* a paused listing to go on with (first runs only) */
    bool abandoned;                 /* the CSE closes: abandon(), no answer */
    bool ran;
    int deferred;                   /* a deferral took the request over */
};

static void unlink_call(struct fiber_call *c)
{
    for (struct fiber_call **p = &c->cse->in_fibers; *p; p = &(*p)->next)
        if (*p == c) { *p = c->next; break; }
}

/* The primitive, under the lock; false when it never ran (the CSE closed):
 * then what the call carried (a rerun's continuation, a paused listing) is
 * freed here, since nobody took it over. */
static bool run_call_locked(struct fiber_call *c)
{
    struct cse *cse = c->cse;
    if (c->abandoned || !fiber_lock_acquire(store_fiber_lock(cse->store)) || c->abandoned) {
        if (c->rerun) continuation_free(c->req);
        else paused_scan_free(c->scan);
        return false;
    }
    if (c->rerun) {
        cse_dispatch(cse, c->req, c->rsp);
        continuation_free(c->req);
    } else {
        c->deferred = dispatch_here(cse, c->req, c->rsp, c->done, c->abandon, c->data, c->scan);
    }
    return true;
}

static void call_fiber(void *arg)
{
    struct fiber_call *c = arg;
    c->ran = run_call_locked(c);
    /* Not yielded: fiber_start() returns 0 and the caller answers. */
    if (!fiber_has_yielded()) return;
    unlink_call(c);
    if (!c->ran || c->abandoned) {
        if (!c->deferred) c->abandon(c->data);
    } else if (!c->deferred) {
        c->done(c->data);
    }
    free(c);
}

/* 1: done() or abandon() follows from the fiber; else 0, rsp final (or, for
 * a first run, what dispatch_here returned). Without a fiber to be had the
 * primitive runs here, the lock taken the main context's way. */
static int run_in_fiber(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp,
                        cse_done_fn *done, cse_done_fn *abandon, void *data, bool rerun,
                        struct paused_scan *scan)
{
    bool fibers = cse->loop && store_fiber_lock(cse->store) && !fiber_current();
    struct fiber_call *c = fibers ? malloc(sizeof *c) : NULL;
    if (!c) {
        if (!rerun) return dispatch_here(cse, req, rsp, done, abandon, data, scan);
        cse_dispatch(cse, req, rsp);
        continuation_free(req);
        return 0;
    }
    *c = (struct fiber_call){ cse->in_fibers, cse, req, rsp, done, abandon, data, rerun, scan, false, false, 0 };
    cse->in_fibers = c;
    int started = fiber_start(cse->loop, call_fiber, c);
    if (started == 1) return 1;
    if (started < 0) c->ran = run_call_locked(c);
    unlink_call(c);
    int deferred = c->deferred;
    free(c);
    return deferred;
}

static int dispatch_async(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp,
                          cse_done_fn *done, cse_done_fn *abandon, void *data, struct paused_scan *scan)
{
    return run_in_fiber(cse, req, rsp, done, abandon, data, false, scan);
}

int cse_dispatch_async(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp,
                       cse_done_fn *done, cse_done_fn *abandon, void *data)
{
    return dispatch_async(cse, req, rsp, done, abandon, data, NULL);
}

void cse_settle_fibers(struct cse *cse, bool abandon)
{
    struct fiber_lock *lock = cse->store ? store_fiber_lock(cse->store) : NULL;
    if (!lock || fiber_current()) return;
    cse->store_fibers_off |= abandon;   /* the CSE closes: nothing new waits */
    if (!abandon) {
        fiber_lock_drain(lock);
        return;
    }
    for (struct fiber_call *c = cse->in_fibers; c; c = c->next) c->abandoned = true;
    cse_abandon_reset(cse);
    fiber_lock_cancel_waiters(lock);
}

/* Ends every deferred request: answered with rsc (why), or, with rsc 0,
 * abandoned. Their exchanges' answers are then only counted. */
static void end_deferred(struct cse *cse, int rsc, const char *why)
{
    while (cse->deferred) {
        struct deferral *d = cse->deferred;
        cse->deferred = d->next;
        d->abandoned = true;
        continuation_free(d->req);
        paused_scan_free(d->scan);
        d->scan = NULL;
        if (d->timer) loop_del_timer(cse->loop, d->timer);
        if (!rsc) {
            d->abandon(d->data);
        } else {
            m2m_response_clear(d->rsp);
            d->rsp->rqi = d->req->rqi;
            m2m_error(d->rsp, rsc, "%s", why);
            d->done(d->data);
        }
        if (d->timer) free(d); /* else it goes with its last answer */
    }
}

void cse_abandon_deferred(struct cse *cse)
{
    end_deferred(cse, 0, NULL);
}

void cse_fail_deferred(struct cse *cse, int rsc, const char *why)
{
    end_deferred(cse, rsc, why);
}

int cse_submit(struct cse *cse, const struct cse_principal *who, struct m2m_request *req,
               struct m2m_response *rsp, cse_done_fn *done, cse_done_fn *abandon, void *data)
{
    req->binding = BINDING_INTERNAL;
    req->cse_itself = who->kind == PRINCIPAL_CSE;
    const char *fr = req->cse_itself ? cse->csi : who->originator;
    if (fr != req->fr) {
        char *copy = fr ? strdup(fr) : NULL;
        free(req->fr);
        req->fr = copy;
    }
    req->sec = !req->cse_itself && who->sec ? *who->sec : (struct m2m_security){ 0 };
    if (!done) {
        cse_dispatch(cse, req, rsp);
        return 0;
    }
    return cse_dispatch_async(cse, req, rsp, done, abandon, data);
}

int cse_run_itself(struct cse *cse, int op, int ty, const char *to, const char *rqi, json_t *pc,
                   struct m2m_response *rsp)
{
    struct m2m_request req;
    m2m_request_init(&req);
    m2m_response_init(rsp);
    req.op = op;
    req.ty = ty;
    req.to = strdup(to);
    req.rqi = strdup(rqi);
    req.rvi = strdup("3");
    req.rcn = RCN_NOTHING;
    req.pc = pc;
    struct cse_principal me = { .kind = PRINCIPAL_CSE };
    cse_submit(cse, &me, &req, rsp, NULL, NULL, NULL);
    m2m_request_clear(&req);
    return rsp->rsc;
}

int cse_delete_itself(struct cse *cse, const char *ri, const char *tag)
{
    struct m2m_response rsp;
    int rsc = cse_run_itself(cse, OP_DELETE, 0, ri, tag, NULL, &rsp);
    m2m_response_clear(&rsp);
    return rsc;
}
