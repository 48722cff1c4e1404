#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int log_level = LOG_LVL_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(int level) { log_level = level; }

int log_level_parse(const char *name)
{
    for (int i = 0; i <= LOG_LVL_DEBUG; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

void log_write(int level, const char *fmt, ...)
{
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ %-5s %s\n", stamp, ts.tv_nsec / 1000000,
            level_names[level], line);
}

void log_burst_write(struct log_burst *b, int level, long long now_ms, long long interval_ms,
                     const char *fmt, ...)
{
    b->count++;
    if (b->last_ms && now_ms - b->last_ms < interval_ms) {
        b->unwritten++;
        return;
    }
    long long unwritten = b->unwritten;
    b->unwritten = 0;
    b->last_ms = now_ms ? now_ms : 1;
    if (level > log_level) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (unwritten)
        log_write(level, "%s (%lld more like this not logged; %lld in all)", line, unwritten, b->count);
    else
        log_write(level, "%s", line);
}
