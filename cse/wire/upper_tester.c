#include "upper_tester.h"

#include "ops_http.h"

#include "../core/cse.h"
#include "../core/engine.h"
#include "../core/rsc.h"
#include "../base/log.h"
#include "../../security/saef.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define UT_PATH "/__ut__"

bool upper_tester_addressed(const struct cse *cse, const struct http_request *hreq)
{
    if (!cse->cfg.upper_tester) return false;
    /* Asked for twice before it is served where others can reach it. */
    if (!config_is_loopback(cse->cfg.http_host) && !cse->cfg.upper_tester_remote) return false;
    size_t n = strcspn(hreq->target, "?");
    return n == strlen(UT_PATH) && !strncasecmp(hreq->target, UT_PATH, n);
}

/* A peer elsewhere must be the admin, authenticated as SAEF demands of
 * the admin from afar (security/saef.c); loopback peers are trusted, as
 * the tester runs beside the CSE. */
static int allowed(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    if (!req->peer.ip[0] || config_is_loopback(req->peer.ip)) return 0;
    struct ident_home home = cse_home(cse);
    struct ident_forms from;
    if (!req->fr || !ident_forms(&home, req->fr, &from) || !ident_is(&home, cse->cfg.admin, &from))
        return m2m_error(rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "the upper tester serves the admin only");
    return saef_check(cse, req, rsp);
}

/* "<seconds>": a whole number of seconds, 1 s to a day. */
static bool parse_seconds(const char *s, int64_t *ms)
{
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < 1 || v > 86400) return false;
    *ms = v * 1000;
    return true;
}

/* A Reset answered later (cse_reset_async). */
struct later {
    struct m2m_response *rsp;
    cse_done_fn *done, *abandon;
    void *data;
};

static int reset_answer(struct m2m_response *rsp, int rc)
{
    if (rc) return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the reset failed");
    rsp->rsc = RSC_OK;
    return 0;
}

static void reset_done(void *data, int rc)
{
    struct later l = *(struct later *)data;
    free(data);
    reset_answer(l.rsp, rc);
    log_info("upper tester: 'Reset' (after waiting for the store) -> %d", l.rsp->rsc);
    l.done(l.data);
}

static void reset_abandoned(void *data)
{
    struct later l = *(struct later *)data;
    free(data);
    l.abandon(l.data);
}

/* 1 when the answer follows (see upper_tester_run). */
static int reset(struct cse *cse, struct m2m_response *rsp, const struct later *how)
{
    if (cse->reset) return m2m_error(rsp, RSC_OPERATION_NOT_ALLOWED, "a reset is under way already");
    struct later *l = how->done ? malloc(sizeof *l) : NULL;
    if (l) *l = *how;
    int rc = l ? cse_reset_async(cse, reset_done, reset_abandoned, l) : cse_reset(cse);
    if (rc == -1) return 1;
    free(l);
    return reset_answer(rsp, rc);
}

static int run_command(struct cse *cse, char *line, struct m2m_response *rsp, char *utrsp, size_t cap,
                       const struct later *how)
{
    char *save = NULL;
    const char *cmd = strtok_r(line, " \t", &save);
    const char *arg = strtok_r(NULL, " \t", &save);
    const char *extra = arg ? strtok_r(NULL, " \t", &save) : NULL;
    if (!cmd) return m2m_error(rsp, RSC_BAD_REQUEST, "X-M2M-UTCMD names no command");
    if (!strcasecmp(cmd, "enableShortRequestExpiration") || !strcasecmp(cmd, "disableShortRequestExpiration"))
        return m2m_error(rsp, RSC_NOT_IMPLEMENTED, "'%s': this CSE has no request expiration delta to shorten", cmd);
    bool takes_arg = !strcasecmp(cmd, "enableShortResourceExpiration");
    if (extra || (arg && !takes_arg))
        return m2m_error(rsp, RSC_BAD_REQUEST, "wrong number of arguments for '%s'", cmd);
    if (!strcasecmp(cmd, "Status")) {
        snprintf(utrsp, cap, "RUNNING");
        rsp->rsc = RSC_OK;
        return 0;
    }
    if (!strcasecmp(cmd, "Reset")) return reset(cse, rsp, how);
    if (takes_arg) {
        int64_t ms;
        if (!parse_seconds(arg, &ms))
            return m2m_error(rsp, RSC_BAD_REQUEST, "%s needs a number of seconds (1 to 86400)", cmd);
        /* The value replaced, as ACME answers it, in seconds. */
        snprintf(utrsp, cap, "%lld", (long long)(cse->cfg.expiry_interval_ms / 1000));
        cse_set_expiry_interval(cse, ms);
        rsp->rsc = RSC_OK;
        return 0;
    }
    if (!strcasecmp(cmd, "disableShortResourceExpiration")) {
        cse_set_expiry_interval(cse, 0);
        rsp->rsc = RSC_OK;
        return 0;
    }
    return m2m_error(rsp, RSC_BAD_REQUEST, "unknown upper tester command '%s'", cmd);
}

int upper_tester_run(struct cse *cse, const struct http_request *hreq, struct m2m_request *req,
                     struct m2m_response *rsp, char *utrsp, size_t cap, cse_done_fn *done, cse_done_fn *abandon,
                     void *data)
{
    utrsp[0] = 0;
    ops_http_request_fields(hreq, req);
    rsp->rqi = req->rqi;
    if (allowed(cse, req, rsp)) return 0;
    const char *cmd = http_header(hreq, "X-M2M-UTCMD");
    char line[256];
    if (strcmp(hreq->method, "POST")) {
        m2m_error(rsp, RSC_OPERATION_NOT_ALLOWED, "upper tester commands are POSTed");
        return 0;
    }
    if (!cmd || strlen(cmd) >= sizeof line) {
        m2m_error(rsp, RSC_BAD_REQUEST, cmd ? "X-M2M-UTCMD is too long" : "X-M2M-UTCMD is missing");
        return 0;
    }
    snprintf(line, sizeof line, "%s", cmd);
    struct later how = { rsp, done, abandon, data };
    const char *peer = req->peer.ip[0] ? req->peer.ip : "-";
    if (run_command(cse, line, rsp, utrsp, cap, &how) == 1) {
        log_info("upper tester: '%s' from %s: waits for the store", cmd, peer);
        return 1;
    }
    log_info("upper tester: '%s' from %s -> %d", cmd, peer, rsp->rsc);
    return 0;
}
