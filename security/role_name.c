#include "role_name.h"

#include <stdint.h>
#include <stdio.h>

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

void role_resource_name(const char *holder, const char *role_id, char out[ROLE_NAME_LEN])
{
    uint64_t h = fnv1a(fnv1a(fnv1a(0xcbf29ce484222325ULL, holder), "\n"), role_id);
    snprintf(out, ROLE_NAME_LEN, "rol-%016llx", (unsigned long long)h);
}
