/* m2m-cse: the CSE executable, the engine's own types plus the dynamic
 * authorization resources (<dac>, <role>, <token>). */
#include "core/server.h"
#include "../resources/dynauth.h"

static const struct resource_type *const cse_types[] = { DYNAUTH_TYPES, NULL };

static const struct server_profile cse_profile = { .name = "m2m-cse", .types = cse_types };

int main(int argc, char **argv)
{
    return server_main(argc, argv, &cse_profile);
}
