#include "module_file.h"

#include <libgen.h>
#include <stdio.h>
#include <unistd.h>

#ifndef IRONBARK_MODULE_RELDIR
#define IRONBARK_MODULE_RELDIR "."
#endif

void module_file(const char *setting, const char *file, char *out, size_t cap)
{
    if (setting && setting[0]) { snprintf(out, cap, "%s", setting); return; }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) { snprintf(out, cap, "%s", file); return; }
    exe[n] = 0;
    const char *dir = dirname(exe);
    snprintf(out, cap, "%s/%s", dir, file);
    if (!access(out, F_OK)) return;
    /* An absolute IRONBARK_MODULE_RELDIR (an unusual bindir) stands alone. */
    if (IRONBARK_MODULE_RELDIR[0] == '/') snprintf(out, cap, "%s/%s", IRONBARK_MODULE_RELDIR, file);
    else snprintf(out, cap, "%s/%s/%s", dir, IRONBARK_MODULE_RELDIR, file);
}
