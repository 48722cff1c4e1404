#include "ops_http.h"

#include "../core/cse.h"
#include "../core/metrics.h"
#include "../core/rsc.h"
#include "../base/clock.h"
#include "../../security/saef.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEALTH_PATH "/__health__"
#define METRICS_PATH "/__metrics__"

static bool is_path(const char *target, const char *path)
{
    size_t n = strcspn(target, "?");
    return n == strlen(path) && !strncmp(target, path, n);
}

static void keep(char **field, const char *value)
{
    if (value) *field = strdup(value);
}

void ops_http_request_fields(const struct http_request *hreq, struct m2m_request *req)
{
    req->binding = BINDING_HTTP;
    keep(&req->rqi, http_header(hreq, "X-M2M-RI"));
    keep(&req->rvi, http_header(hreq, "X-M2M-RVI"));
    keep(&req->fr, http_header(hreq, "X-M2M-Origin"));
    snprintf(req->peer.ip, sizeof req->peer.ip, "%s", hreq->peer_ip ? hreq->peer_ip : "");
    req->peer.port = hreq->peer_port;
    saef_bind(req, hreq->credential_id);
}

static void health(struct cse *cse, struct http_response *hrsp)
{
    char body[160];
    int n = snprintf(body, sizeof body, "{\"status\":\"ok\",\"cse\":\"%s\",\"uptime_s\":%lld}",
                     cse->csi, (long long)((clock_now_us() - cse->started_us) / 1000000));
    hrsp->status = 200;
    hrsp->content_type = "application/json";
    if ((hrsp->body = strdup(body))) hrsp->body_len = (size_t)n;
}

/* The admin, as SAEF lets the admin speak (security/saef.h). */
static int admin_only(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    struct ident_home home = cse_home(cse);
    struct ident_forms from;
    if (!req->fr || !ident_forms(&home, req->fr, &from) || !ident_is(&home, cse->cfg.admin, &from))
        return m2m_error(rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "metrics are served to the admin originator only");
    return saef_check(cse, req, rsp);
}

static void metrics(struct cse *cse, const struct http_request *hreq, struct http_response *hrsp)
{
    struct m2m_request req;
    struct m2m_response rsp;
    m2m_request_init(&req);
    m2m_response_init(&rsp);
    ops_http_request_fields(hreq, &req);
    rsp.rqi = req.rqi;
    if (!admin_only(cse, &req, &rsp)) {
        size_t len;
        char *text = metrics_render(cse->metrics, &len);
        if (text) {
            hrsp->status = 200;
            hrsp->content_type = "text/plain; version=0.0.4; charset=utf-8";
            hrsp->body = text;
            hrsp->body_len = len;
        } else {
            m2m_error(&rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory rendering the metrics");
        }
    }
    if (!hrsp->body) {
        /* The refusal as the binding writes one: status, RSC, m2m:dbg. */
        char num[16];
        snprintf(num, sizeof num, "%d", rsp.rsc);
        hrsp->status = rsc_http_status(rsp.rsc);
        http_add_header(hrsp, "X-M2M-RSC", num);
        if (req.rqi && strlen(req.rqi) < 256) http_add_header(hrsp, "X-M2M-RI", req.rqi);
        if (rsp.pc && (hrsp->body = json_dumps(rsp.pc, JSON_COMPACT))) {
            hrsp->body_len = strlen(hrsp->body);
            hrsp->content_type = "application/json";
        }
    }
    m2m_response_clear(&rsp);
    m2m_request_clear(&req);
}

bool ops_http_handle(struct cse *cse, const struct http_request *hreq, struct http_response *hrsp)
{
    bool is_health = is_path(hreq->target, HEALTH_PATH);
    if (!is_health && !is_path(hreq->target, METRICS_PATH)) return false;
    if (strcmp(hreq->method, "GET")) {
        hrsp->status = 405;
        http_add_header(hrsp, "Allow", "GET");
        return true;
    }
    if (is_health) health(cse, hrsp);
    else metrics(cse, hreq, hrsp);
    return true;
}
