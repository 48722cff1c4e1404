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

void pq_connect_params(const char *keys[PQ_PARAMS], const char *values[PQ_PARAMS], const char *timeout_s,
                       const char *options, const char *application, const char *uri)
{
    static const char *const names[PQ_PARAMS] = { "connect_timeout", "keepalives", "keepalives_idle",
                                                   "keepalives_interval", "keepalives_count", "options",
                                                   "application_name", "client_encoding", "dbname", NULL };
    const char *const given[PQ_PARAMS] = { timeout_s, "1", "10", "5", "3", options, application, "UTF8", uri, NULL };
    for (int i = 0; i < PQ_PARAMS; i++) {
        keys[i] = names[i];
        values[i] = given[i];
    }
}
