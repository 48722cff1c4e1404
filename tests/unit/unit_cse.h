/* Shared by unit tests that drive a whole in-memory CSE through the
 * dispatcher (no sockets, no files). */
#ifndef IRONBARK_UNIT_CSE_H
#define IRONBARK_UNIT_CSE_H

#include <stdio.h>
#include <string.h>

#include "cse/cse.h"
#include "cse/log.h"

static inline int unit_cse_open(struct cse *cse)
{
    struct config cfg;
    config_defaults(&cfg);
    strcpy(cfg.db_file, ":memory:");
    log_set_level(LOG_LVL_ERROR);
    return cse_open(cse, &cfg, NULL);
}

/* Runs one primitive as originator fr; returns the RSC. For a CREATE the
 * new ri goes to ri_out; when pc_out is given it receives the response content. */
static inline int unit_run_as(struct cse *cse, enum m2m_op op, const char *to, const char *fr, int ty,
                              const char *body, char *ri_out, size_t cap, json_t **pc_out)
{
    struct m2m_request req;
    struct m2m_response rsp;
    m2m_request_init(&req);
    m2m_response_init(&rsp);
    req.op = op;
    req.to = strdup(to);
    req.fr = strdup(fr);
    req.rqi = strdup("unit");
    req.ty = ty;
    if (body) req.pc = json_loads(body, 0, NULL);
    cse_dispatch(cse, &req, &rsp);
    int rsc = rsp.rsc;
    if (ri_out && rsp.location) snprintf(ri_out, cap, "%s", rsp.location);
    if (pc_out) *pc_out = json_incref(rsp.pc);
    m2m_response_clear(&rsp);
    m2m_request_clear(&req);
    return rsc;
}

/* The same as CAdmin. */
static inline int unit_run(struct cse *cse, enum m2m_op op, const char *to, int ty, const char *body,
                           char *ri_out, size_t cap, json_t **pc_out)
{
    return unit_run_as(cse, op, to, "CAdmin", ty, body, ri_out, cap, pc_out);
}

#endif
