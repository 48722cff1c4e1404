/* m2m-cse: the CSE executable, the engine with no more than its own types. */
#include "core/server.h"

static const struct server_profile cse_profile = { .name = "m2m-cse" };

int main(int argc, char **argv)
{
    return server_main(argc, argv, &cse_profile);
}
