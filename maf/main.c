/* m2m-maf: the M2M Authentication Function, a server on the engine
 * (cse/core/server.h). MAF clients hold a Km (KmID: a PSK in the MAF's
 * credential store, like any PSK) and run the MAF handshake over HTTPS or
 * CoAPS; a source client registers a connection key Kc exported from that
 * handshake for its targets, who retrieve it (maf/procedures.h). The
 * registrations live in <data-dir>/maf.db, Kc sealed under
 * <data-dir>/maf-root.key (maf/store.h). maf/README.md. */
#include "procedures.h"
#include "store.h"
#include "cse/base/clock.h"
#include "cse/base/log.h"
#include "cse/core/server.h"
#include "cse/core/token_syntax.h"
#include "security/bootstrap.h"
#include "security/enrol_keys.h"

#include <stdio.h>
#include <string.h>

static int64_t max_key_us = 7LL * 86400 * 1000000;
static struct maf_store *store;

static int set_lifetime(void *data, const char *value, char *err, int errlen)
{
    (void)data;
    int64_t us;
    if (!duration_parse(value, &us) || us < 1000000) {
        snprintf(err, errlen, "maf-key-lifetime: an ISO 8601 duration of at least a second (P7D, PT1H)");
        return -1;
    }
    max_key_us = us;
    return 0;
}

static const struct config_extra settings[] = {
    { "maf-key-lifetime", "longest lifetime granted to a key or a client registration, ISO 8601 duration (default P7D)",
      set_lifetime, NULL },
    { NULL, NULL, NULL, NULL },
};

/* Its own ports, CSE-ID and data, so it runs beside m2m-cse, m2m-das and m2m-mef with no flags. */
static void maf_defaults(struct config *cfg)
{
    server_defaults(cfg, "id-maf", "maf-in", "./var-maf", 8581, 8582, 0, 5884);
    strcpy(cfg->maf_fqdn, "maf.ironbark.local");
    cfg->mef_fetch_suid = 21;   /* with mef-url: a KmID <KeID>@<mef-fqdn> is fetched as the Km the MEF derived */
}

static int maf_start(struct cse *cse, void *data)
{
    (void)data;
    const char *fqdn = cse->cfg.maf_fqdn;
    char probe[sizeof cse->cfg.maf_fqdn + 2];
    snprintf(probe, sizeof probe, "x@%s", fqdn);
    /* Key Identifiers end in it, and CSEs recognise their MAF by it. */
    if (!token_id_valid(probe)) {
        log_error("m2m-maf: maf-fqdn '%s' must be a lowercase host name (letters, digits, '-', dots)", fqdn);
        return -1;
    }
    char err[600];
    if (!(store = maf_store_open(cse->cfg.data_dir, err, sizeof err))) {
        log_error("m2m-maf: %s", err);
        return -1;
    }
    if (maf_service_set(fqdn, max_key_us, store)) {
        log_error("m2m-maf: cannot read the registrations in %s/maf.db", cse->cfg.data_dir);
        maf_store_close(store);
        store = NULL;
        return -1;
    }
    bootstrap_enable(MAF_EXPORT_LABEL);
    bootstrap_enable_certificates(true);   /* clients with a certificate instead of Km */
    log_info("m2m-maf: MAF-FQDN %s, registrations in %s/maf.db, keys sealed under maf-root.key", fqdn,
             cse->cfg.data_dir);
    return 0;
}

static void maf_stop(struct cse *cse, void *data)
{
    (void)cse; (void)data;
    bootstrap_enable(NULL);
    bootstrap_clear();
    maf_forget_all();
    maf_store_close(store);
    store = NULL;
}

/* Registrations live outside the resource tree: a Reset leaves them. */
static int maf_reset(struct cse *cse, void *data)
{
    (void)cse; (void)data;
    return 0;
}

int main(int argc, char **argv)
{
    const struct server_profile profile = {
        .name = "m2m-maf",
        .defaults = maf_defaults,
        .settings = settings,
        .on_start = maf_start, .on_stop = maf_stop, .on_reset = maf_reset,
        .on_request = maf_request,
    };
    return server_main(argc, argv, &profile);
}
