#include "transport.h"

#include "../core/config.h"
#include "../base/log.h"
#include "../base/module_file.h"

#include <dlfcn.h>
#include <stdio.h>

static const struct transport_module *loaded;

bool transport_needed(const struct config *cfg)
{
    return (cfg->https_port && cfg->security_http != SECURITY_OFF) || cfg->coap_port ||
           (cfg->coaps_port && cfg->security_coap != SECURITY_OFF);
}

const struct transport_module *transport_load(const struct config *cfg)
{
    if (loaded) return loaded;
    char path[4200];
    module_file(cfg ? cfg->transport_module : NULL, TRANSPORT_MODULE_FILE, path, sizeof path);
    /* RTLD_NODELETE: libcoap and OpenSSL keep process-wide state. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        log_error("cannot load the transport module %s (setting transport-module): %s", path, dlerror());
        return NULL;
    }
    const struct transport_module *m = dlsym(h, TRANSPORT_MODULE_SYMBOL);
    if (!m || m->abi != TRANSPORT_MODULE_ABI) {
        log_error("%s (setting transport-module) is not an Ironbark transport module of this build", path);
        dlclose(h);
        return NULL;
    }
    log_debug("transport module %s loaded", path);
    return loaded = m;
}

const struct transport_module *transport_loaded(void) { return loaded; }
