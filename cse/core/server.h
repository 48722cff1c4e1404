/* The engine as a library: a server executable is a short main() that
 * hands server_main() a profile. m2m-cse is one (cse/main.c); the security
 * servers (m2m-das, m2m-mef, …) are others, with their resource types,
 * deciders, settings and hooks. docs/architecture.md shows how to add one. */
#ifndef IRONBARK_SERVER_H
#define IRONBARK_SERVER_H

#include "config.h"
#include "cse.h"

struct authz_decider;

struct server_profile {
    const char *name;                             /* "m2m-cse": in logs */
    /* Changes the engine's defaults before the settings are read (its own
     * ports, CSE-ID, data dir), so two servers run side by side with no flags. */
    void (*defaults)(struct config *cfg);
    /* Served beside the engine's own types; NULL-terminated, may be NULL.
     * One with the number and key of an engine type replaces it (a CSEBase
     * whose NOTIFY hook does more). */
    const struct resource_type *const *types;
    /* Added to the authorization chain after the ACP decider; NULL-terminated. */
    const struct authz_decider *const *deciders;
    /* Settings of this server (--name value, or name = value in --config). */
    const struct config_extra *settings;
    /* After the CSE opened and before any listener: non-zero stops the start. */
    int (*on_start)(struct cse *cse, void *data);
    /* After the loop ended, before the CSE closes. */
    void (*on_stop)(struct cse *cse, void *data);
    /* After an upper tester Reset emptied the CSE (cse_reset): recreate
     * what on_start put into it. Non-zero makes the reset fail (5000). */
    int (*on_reset)(struct cse *cse, void *data);
    /* Requests to endpoints outside the resource tree (the MEF's
     * /fetchCredentials/...), after the SAEF gate and before addressing:
     * -1 when the target is not one of them, else the RSC answered in rsp. */
    int (*on_request)(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp);
    /* Plain HTTP(S) requests that are not oneM2M primitives (the MEF's EST,
     * /.well-known/est/...), before the HTTP binding reads any X-M2M header:
     * true when it answered into out (body malloc'd). */
    bool (*on_http)(struct cse *cse, const struct http_request *h, struct http_response *out);
    void *data;
};

/* What every server's defaults() sets: its CSE-ID, CSEBase name, data
 * directory and four ports (0 = off), so it runs beside the others. */
void server_defaults(struct config *cfg, const char *cse_id, const char *cse_name, const char *data_dir,
                     int http_port, int https_port, int coap_port, int coaps_port);

/* Parses argv (settings, --config, --help), runs `credentials` admin
 * commands, opens the CSE with the profile, serves until SIGINT/SIGTERM.
 * Returns the process's exit status. */
int server_main(int argc, char **argv, const struct server_profile *profile);

#endif
