/* m2m-ppm: the Privacy Policy Manager, a server on the engine
 * (cse/core/server.h) that acts as a DAS (das/service.h). Subscribers
 * register preferences, providers policies, subscribers consent
 * (ppm/records.h); an accepted consent grants by the shared consultation
 * code until it is withdrawn or expires. ppm/README.md, docs/privacy.md. */
#include "records.h"
#include "option0.h"
#include "das/service.h"
#include "cse/core/server.h"
#include "resources/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct resource_type type_token;

static int set_root(void *data, const char *value, char *err, int errlen)
{
    (void)data;
    size_t n = strlen(value);
    if (strncmp(value, "//", 2) || n >= sizeof ppm_settings.data_root || value[n - 1] == '/') {
        snprintf(err, errlen, "ppm-data-root: an absolute resource ID (//sp-id/cse-id/cse-name), no trailing '/'");
        return -1;
    }
    snprintf(ppm_settings.data_root, sizeof ppm_settings.data_root, "%s", value);
    return 0;
}

/* A whole number from lo to hi into *out; else err says what is wanted. */
static int set_number(const char *value, long lo, long hi, long *out, const char *what, char *err, int errlen)
{
    char *end;
    long n = strtol(value, &end, 10);
    if (!*value || *end || n < lo || n > hi) {
        snprintf(err, errlen, "%s, %ld to %ld", what, lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

static int set_lifetime(void *data, const char *value, char *err, int errlen)
{
    (void)data;
    return set_number(value, 1, 86400, &ppm_settings.grant_lifetime_s, "ppm-grant-lifetime: seconds", err, errlen);
}

static int set_history(void *data, const char *value, char *err, int errlen)
{
    (void)data;
    return set_number(value, 0, 3650, &ppm_settings.history_days, "ppm-history-days: days", err, errlen);
}

static int set_cse(void *data, const char *value, char *err, int errlen)
{
    (void)data;
    if (*value && (strncmp(value, "http://", 7) && strncmp(value, "https://", 8) && strncmp(value, "coap://", 7) &&
                   strncmp(value, "coaps://", 8))) {
        snprintf(err, errlen, "ppm-cse: the URL of the CSE's CSEBase (http://host:port/~/cse-id/cse-name), or empty");
        return -1;
    }
    if (strlen(value) >= sizeof ppm_settings.cse_url) {
        snprintf(err, errlen, "ppm-cse: at most %zu characters", sizeof ppm_settings.cse_url - 1);
        return -1;
    }
    snprintf(ppm_settings.cse_url, sizeof ppm_settings.cse_url, "%s", value);
    return 0;
}

static int set_ae(void *data, const char *value, char *err, int errlen)
{
    (void)data;
    if (strlen(value) >= sizeof ppm_settings.ae_id || strpbrk(value, "/?#* ")) {
        snprintf(err, errlen, "ppm-ae: an AE-ID (C...) of at most %zu characters, no '/', or empty",
                 sizeof ppm_settings.ae_id - 1);
        return -1;
    }
    snprintf(ppm_settings.ae_id, sizeof ppm_settings.ae_id, "%s", value);
    return 0;
}

static const struct config_extra settings[] = {
    { "das-fqdn", DAS_FQDN_HELP " (default ppm.ironbark.local)", das_service_set_fqdn, NULL },
    { "ppm-data-root", "where subscribers' resources are: subscriber S owns <root>/S and below "
      "(default //ironbark.local/id-in/cse-in)", set_root, NULL },
    { "ppm-grant-lifetime", "seconds a grant or token issued for a consent lasts, at most until the consent "
      "expires; a CSE may use a grant this long after a withdrawal it was not told of (default 30)", set_lifetime, NULL },
    { "ppm-history-days", "days a consent's record is kept after it expired, for the access log (default 365)",
      set_history, NULL },
    { "ppm-cse", "URL of the CSE's CSEBase: withdrawals are pushed there at once (das:rvk); "
      "empty: not pushed (default empty)", set_cse, NULL },
    { "ppm-ae", "option 0: the PPM's AE-ID at the ppm-cse CSE; accepted consents become ACPs it creates and links "
      "there; empty: off (default empty)", set_ae, NULL },
    { NULL, NULL, NULL, NULL },
};

/* Its own ports, CSE-ID and data, so it runs beside an m2m-cse and an m2m-das with no flags. */
static void ppm_defaults(struct config *cfg)
{
    server_defaults(cfg, "id-ppm", "ppm-in", "./var-ppm", 8481, 8482, 0, 0);
}

/* Consents answer consultations like rules do (das/consult.h). */
static const int rule_types[] = { TY_PPM_CONSENT, 0 };

static int ppm_start(struct cse *cse, void *data)
{
    (void)data;
    if (das_service_start(cse, rule_types, ppm_consent_suspended, "m2m-ppm")) return -1;
    ppm_option0_start(cse);
    return 0;
}

static void ppm_stop(struct cse *cse, void *data)
{
    (void)data;
    ppm_option0_stop(cse);
    das_service_stop();
}

/* Documents, consents and tokens live in the store: nothing to remake. */
static int ppm_reset(struct cse *cse, void *data)
{
    (void)cse; (void)data;
    return 0;
}

int main(int argc, char **argv)
{
    das_service_init("ppm.ironbark.local");
    const struct server_profile profile = {
        .name = "m2m-ppm",
        .defaults = ppm_defaults,
        .types = (const struct resource_type *const[]){ &das_service_base, &das_service_role, &type_token,
                                                        &type_ppm_preferences, &type_ppm_policy,
                                                        &type_ppm_consent, &type_ppm_deletion, NULL },
        .deciders = (const struct authz_decider *const[]){ &das_service_decider, &ppm_owner_decider, NULL },
        .settings = settings,
        .on_start = ppm_start, .on_stop = ppm_stop, .on_reset = ppm_reset,
    };
    return server_main(argc, argv, &profile);
}
