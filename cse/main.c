/* m2m-cse: the CSE executable, the engine's own types plus the dynamic
 * authorization resources (<dac>, <role>, <token>), and the DAS decider
 * after the engine's ACP decider (docs/dynamic-authorization.md). Its
 * CSEBase also takes a DAS's revocations (security/das.h). */
#include "core/server.h"
#include "../resources/dynauth.h"
#include "../resources/registry.h"
#include "../security/das.h"

extern const struct resource_type type_cse_base;
static struct resource_type cse_base;

static const struct resource_type *const cse_types[] = { &cse_base, DYNAUTH_TYPES, NULL };

static const struct authz_decider *const cse_deciders[] = { &das_decider, NULL };

static const struct server_profile cse_profile = { .name = "m2m-cse", .types = cse_types,
                                                   .deciders = cse_deciders };

int main(int argc, char **argv)
{
    cse_base = type_cse_base;
    cse_base.on_notify = das_revocation_notify;
    return server_main(argc, argv, &cse_profile);
}
