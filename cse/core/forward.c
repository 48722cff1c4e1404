#include "forward.h"

#include "../base/clock.h"
#include "cse.h"
#include "../base/log.h"
#include "../events/notify.h"
#include "route.h"
#include "rsc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Without a request expiration time, how long a hop waits for its answer. */
#define FORWARD_TIMEOUT_MS 10000

bool forward_via_has(const char *via, const char *csi)
{
    size_t n = strlen(csi);
    for (const char *p = via; p && *p;) {
        size_t k = strcspn(p, "+");
        if (k == n && !strncmp(p, csi, n)) return true;
        p += k + (p[k] == '+');
    }
    return false;
}

bool forward_via_last(const char *via, char *out, size_t cap)
{
    if (!via || !*via) return false;
    const char *plus = strrchr(via, '+');
    const char *last = plus ? plus + 1 : via;
    return snprintf(out, cap, "%s", last) < (int)cap;
}

static int count_via(const char *via)
{
    int n = via && *via ? 1 : 0;
    for (const char *p = via; p && *p; p++) n += *p == '+';
    return n;
}

/* The originator as the hosting CSE must see it (TS-0001 7.2): an ID
 * relative to this CSE gets its CSE-ID in front; an S-AE-ID-Stem is
 * SP-wide ("/S..."); SP-relative and absolute IDs stay. malloc'd. */
static char *originator_out(const struct cse *cse, const char *fr)
{
    if (!fr || !*fr) return strdup(cse->csi);
    size_t n = strlen(cse->csi) + strlen(fr) + 2;
    char *out = malloc(n);
    if (!out) return NULL;
    if (fr[0] == '/') snprintf(out, n, "%s", fr);
    else if (fr[0] == 'S') snprintf(out, n, "/%s", fr);
    else snprintf(out, n, "%s/%s", cse->csi, fr);
    return out;
}

/* How long the next hop may take: until rqet (settled absolute by the
 * dispatcher), else FORWARD_TIMEOUT_MS. */
static int timeout_of(const struct m2m_request *req)
{
    int64_t rqet;
    if (!req->rqet || !ts_parse(req->rqet, &rqet)) return FORWARD_TIMEOUT_MS;
    int64_t ms = (rqet - clock_now_us()) / 1000;
    return ms < 1 ? 1 : ms > FORWARD_TIMEOUT_MS ? FORWARD_TIMEOUT_MS : (int)ms;
}

/* "<path>?<query>&via=<via>": the target and parameters at the next hop. */
static char *target_at_hop(const struct m2m_request *req, const char *via)
{
    char *path = route_target_path(req->to);
    char enc[1024];
    if (!path || m2m_percent_encode(via, enc, sizeof enc) < 0) { free(path); return NULL; }
    size_t n = strlen(path) + (req->query ? strlen(req->query) : 0) + strlen(enc) + 8;
    char *out = malloc(n);
    if (out) snprintf(out, n, "%s?%s%svia=%s", path, req->query ? req->query : "", req->query ? "&" : "", enc);
    free(path);
    return out;
}

/* The answer of the next hop becomes the originator's. */
static int take_answer(json_t *answer, struct m2m_response *rsp)
{
    rsp->rsc = (int)json_integer_value(json_object_get(answer, "rsc"));
    json_t *pc = json_object_get(answer, "pc");
    const char *loc = json_string_value(json_object_get(answer, "loc"));
    if (pc) rsp->pc = json_incref(pc);
    if (loc) rsp->location = strdup(loc);
    if (rsp->rsc == RSC_TARGET_NOT_REACHABLE && !pc)
        return m2m_error(rsp, RSC_TARGET_NOT_REACHABLE, "the next CSE towards the target is not reachable");
    return rsc_is_success(rsp->rsc) ? 0 : rsp->rsc;
}

int forward_request(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    if (req->op == OP_CREATE && (type_flags(&cse->types, req->ty) & RT_REGISTERS))
        return m2m_error(rsp, RSC_BAD_REQUEST, "a registration is made with the registrar CSE, not forwarded");
    if (forward_via_has(req->via, cse->csi))
        return m2m_error(rsp, RSC_NOT_FOUND, "forwarding loop: the request for '%s' already passed %s",
                         req->to, cse->csi);
    if (count_via(req->via) >= M2M_VIA_MAX)
        return m2m_error(rsp, RSC_NOT_FOUND, "no route to '%s' within %d CSEs", req->to, M2M_VIA_MAX);
    struct route hop;
    if (route_of_target(cse, req->to, &hop))
        return m2m_error(rsp, RSC_NOT_FOUND, "no route to the CSE addressed by '%s'", req->to);
    char from_csi[80];
    /* Sending it back where it came from would only loop (TS-0004 7.3.2.6:
     * a request from the registrar that matches no <remoteCSE> ends here). */
    if (forward_via_last(req->via, from_csi, sizeof from_csi) && !strcmp(from_csi, hop.csi)) {
        route_clear(&hop);
        return m2m_error(rsp, RSC_NOT_FOUND, "no route to '%s' other than back to %s", req->to, from_csi);
    }
    size_t vn = (req->via ? strlen(req->via) + 1 : 0) + strlen(cse->csi) + 1;
    char *via = malloc(vn), *fr = originator_out(cse, req->fr);
    if (via) snprintf(via, vn, "%s%s%s", req->via ? req->via : "", req->via ? "+" : "", cse->csi);
    char *path = via ? target_at_hop(req, via) : NULL;
    char key[300];
    snprintf(key, sizeof key, "fwd %s", req->to);
    json_t *answer = NULL, *urls = route_urls(cse, &hop);
    int rc = path && fr ? notify_relay(cse, req, key, urls, path, fr, timeout_of(req), &answer)
                        : RSC_INTERNAL_SERVER_ERROR;
    json_decref(urls);
    if (rc != DISPATCH_PENDING)
        log_debug("forward: %s %s via %s -> %d", fr ? fr : "-", req->to, hop.csi, rc);
    if (rc == DISPATCH_PENDING) {
        /* the request runs again when the answer is in */
    } else if (answer) {
        rc = take_answer(answer, rsp);
    } else {
        rc = m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the request could not be forwarded");
    }
    json_decref(answer);
    free(path);
    free(via);
    free(fr);
    route_clear(&hop);
    return rc;
}
