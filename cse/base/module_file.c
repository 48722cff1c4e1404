#include "module_file.h"

#include <libgen.h>
#include <stdio.h>
#include <unistd.h>

void module_file(const char *setting, const char *file, char *out, size_t cap)
{
    if (setting && setting[0]) { snprintf(out, cap, "%s", setting); return; }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) { snprintf(out, cap, "%s", file); return; }
    exe[n] = 0;
    snprintf(out, cap, "%s/%s", dirname(exe), file);
}
