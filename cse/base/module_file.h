/* Where a dlopened module of Ironbark is: its setting when set; else the
 * file beside the running executable (/proc/self/exe: the build directory);
 * else the installed module directory, relative to the executable's
 * directory (IRONBARK_MODULE_RELDIR, "../lib/<arch>/ironbark" for the
 * default layout), so that an install moved as a whole (meson install
 * --destdir, a package unpacked elsewhere) still finds its modules
 * (cse/wire/transport.h, security/jose_module.h). */
#ifndef IRONBARK_MODULE_FILE_H
#define IRONBARK_MODULE_FILE_H

#include <stddef.h>

/* setting: the configured file, NULL or "" = none; file: the module's name. */
void module_file(const char *setting, const char *file, char *out, size_t cap);

#endif
