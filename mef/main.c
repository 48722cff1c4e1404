/* m2m-mef: the M2M Enrolment Function, a server on the engine
 * (cse/core/server.h). Devices holding a bootstrap PSK (KpmID, in the
 * credential store like any PSK) run the MEF handshake over HTTPS or CoAPS
 * and register (mef/procedures.h); enrolment targets fetch the keys derived
 * for them. Enrolments live in <data-dir>/mef.db, their keys sealed by the
 * vault (mef/vault.h). mef/README.md. */
#include "procedures.h"
#include "records.h"
#include "vault.h"
#include "cse/base/clock.h"
#include "cse/base/log.h"
#include "cse/core/server.h"
#include "cse/core/token_syntax.h"
#include "security/bootstrap.h"
#include "security/enrol_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct resource_type type_cse_base;

static int64_t max_enrolment_us = 30LL * 86400 * 1000000;
static struct vault *vault;
static struct mef_records *records;

static int set_lifetime(void *data, const char *value, char *err, int errlen)
{
    (void)data;
    int64_t us;
    if (!duration_parse(value, &us) || us < 60LL * 1000000) {
        snprintf(err, errlen, "mef-enrolment-lifetime: an ISO 8601 duration of at least a minute (P30D, PT12H)");
        return -1;
    }
    max_enrolment_us = us;
    return 0;
}

static const struct config_extra settings[] = {
    { "mef-enrolment-lifetime", "longest Enrolment Expiry granted, ISO 8601 duration (default P30D)",
      set_lifetime, NULL },
    { NULL, NULL, NULL, NULL },
};

/* Its own ports, CSE-ID and data, so it runs beside m2m-cse and m2m-das with no flags. */
static void mef_defaults(struct config *cfg)
{
    server_defaults(cfg, "id-mef", "mef-in", "./var-mef", 8381, 8382, 0, 5784);
    strcpy(cfg->mef_fqdn, "mef.ironbark.local");
}

static int mef_start(struct cse *cse, void *data)
{
    (void)data;
    const char *fqdn = cse->cfg.mef_fqdn;
    char probe[sizeof cse->cfg.mef_fqdn + 2], path[600], err[600];
    snprintf(probe, sizeof probe, "x@%s", fqdn);
    /* KeIDs end in it, and CSEs recognise their MEF by it. */
    if (!token_id_valid(probe)) {
        log_error("m2m-mef: mef-fqdn '%s' must be a lowercase host name (letters, digits, '-', dots)", fqdn);
        return -1;
    }
    snprintf(path, sizeof path, "%s/mef-root.key", cse->cfg.data_dir);
    if (!(vault = vault_open(path, err, sizeof err))) {
        log_error("m2m-mef: %s", err);
        return -1;
    }
    snprintf(path, sizeof path, "%s/mef.db", cse->cfg.data_dir);
    if (!(records = mef_records_open(path, vault))) return -1;
    mef_service_set(&(struct mef_service){ records, fqdn, max_enrolment_us });
    bootstrap_enable(ENROL_EXPORT_LABEL);
    log_info("m2m-mef: MEF-FQDN %s, enrolments in %s, keys sealed under %s/mef-root.key", fqdn, path,
             cse->cfg.data_dir);
    return 0;
}

static void mef_stop(struct cse *cse, void *data)
{
    (void)cse; (void)data;
    bootstrap_enable(NULL);
    bootstrap_clear();
    mef_records_close(records);
    vault_close(vault);
    records = NULL;
    vault = NULL;
}

/* Enrolments live outside the resource tree: a Reset leaves them. */
static int mef_reset(struct cse *cse, void *data)
{
    (void)cse; (void)data;
    return 0;
}

int main(int argc, char **argv)
{
    const struct server_profile profile = {
        .name = "m2m-mef",
        .defaults = mef_defaults,
        .settings = settings,
        .on_start = mef_start, .on_stop = mef_stop, .on_reset = mef_reset,
        .on_request = mef_request,
        .on_http = mef_http,
    };
    return server_main(argc, argv, &profile);
}
