#include "pq_lib.h"

#include "../base/log.h"

#include <dlfcn.h>

#define PQ_POINTER(name) __typeof__(name) *pq_##name;
PQ_FUNCTIONS(PQ_POINTER)

bool pq_load(const char *who)
{
    static void *lib;
    if (lib) return true;
    void *l = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    bool ok = l != NULL;
#define PQ_RESOLVE(name) ok = ok && (*(void **)&pq_##name = dlsym(l, #name)) != NULL;
    PQ_FUNCTIONS(PQ_RESOLVE)
    if (!ok) {
        log_error("%s: a PostgreSQL db needs libpq (Debian libpq5): %s", who, dlerror());
        if (l) dlclose(l);
        return false;
    }
    lib = l;
    return true;
}
