/* m2m-cse: the CSE executable, the engine's own types plus the dynamic
 * authorization resources (<dac>, <role>, <token>), and the DAS decider
 * after the engine's ACP decider (docs/dynamic-authorization.md). */
#include "core/server.h"
#include "../resources/dynauth.h"
#include "../security/das.h"

static const struct resource_type *const cse_types[] = { DYNAUTH_TYPES, NULL };

static const struct authz_decider *const cse_deciders[] = { &das_decider, NULL };

static const struct server_profile cse_profile = { .name = "m2m-cse", .types = cse_types,
                                                   .deciders = cse_deciders };

int main(int argc, char **argv)
{
    return server_main(argc, argv, &cse_profile);
}
