/* Loads ironbark-jose.so on first use (security/jose_module.h). */
#include "jose_module.h"

#include "../cse/base/log.h"
#include "../cse/base/module_file.h"
#include "../cse/core/config.h"

#include <dlfcn.h>
#include <stdbool.h>

static const struct jose_module *loaded;
static bool failed;  /* tried once and could not: not retried, not logged again */

const struct jose_module *jose_load(const struct config *cfg)
{
    if (loaded || failed) return loaded;
    char path[4200];
    module_file(cfg ? cfg->jose_module : NULL, JOSE_MODULE_FILE, path, sizeof path);
    /* RTLD_NODELETE: OpenSSL keeps process-wide state. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        log_error("cannot load the token and crypto module %s (setting jose-module): %s; tokens, ESPrim and the credential store are refused", path, dlerror());
        failed = true;
        return NULL;
    }
    const struct jose_module *m = dlsym(h, JOSE_MODULE_SYMBOL);
    if (!m || m->abi != JOSE_MODULE_ABI) {
        log_error("%s (setting jose-module) is not an Ironbark JOSE module of this build; tokens, ESPrim and the credential store are refused", path);
        dlclose(h);
        failed = true;
        return NULL;
    }
    log_debug("JOSE module %s loaded", path);
    return loaded = m;
}
