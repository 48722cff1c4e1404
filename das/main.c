/* m2m-das: the Dynamic Authorization System, a server on the engine
 * (cse/core/server.h). Its CSEBase answers consultations (das/consult.h);
 * it holds authorization rules (das/rules.h), role assignments (<role>) and
 * the tokens it issued (<token>). das/README.md; the parts m2m-ppm shares
 * are das/service.h. */
#include "rules.h"
#include "service.h"
#include "cse/core/server.h"
#include "resources/registry.h"


extern const struct resource_type type_token;

static const struct config_extra settings[] = {
    { "das-fqdn", DAS_FQDN_HELP " (default das.ironbark.local)", das_service_set_fqdn, NULL },
    { NULL, NULL, NULL, NULL },
};

/* Its own ports, CSE-ID and data, so it runs beside an m2m-cse with no flags. */
static void das_defaults(struct config *cfg)
{
    server_defaults(cfg, "id-das", "das-in", "./var-das", 8281, 8282, 0, 0);
}

static int das_start(struct cse *cse, void *data)
{
    (void)data;
    return das_service_start(cse, NULL, NULL, "m2m-das");
}

static void das_stop(struct cse *cse, void *data)
{
    (void)cse; (void)data;
    das_service_stop();
}

/* Rules, roles and tokens live in the store: a Reset removed them, nothing to remake. */
static int das_reset(struct cse *cse, void *data)
{
    (void)cse; (void)data;
    return 0;
}

int main(int argc, char **argv)
{
    das_service_init("das.ironbark.local");
    const struct server_profile profile = {
        .name = "m2m-das",
        .defaults = das_defaults,
        .types = (const struct resource_type *const[]){ &das_service_base, &das_service_role, &type_token,
                                                        &type_das_rule, NULL },
        .deciders = (const struct authz_decider *const[]){ &das_service_decider, NULL },
        .settings = settings,
        .on_start = das_start, .on_stop = das_stop, .on_reset = das_reset,
    };
    return server_main(argc, argv, &profile);
}
