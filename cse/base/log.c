#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int log_level = LOG_LVL_INFO;
/* Process-wide like log_level: stderr is the process's. */
static enum log_format log_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(int level) { log_level = level; }
void log_set_format(enum log_format format) { log_format = format; }

int log_format_parse(const char *name)
{
    if (!strcmp(name, "text")) return LOG_FORMAT_TEXT;
    if (!strcmp(name, "json")) return LOG_FORMAT_JSON;
    return -1;
}

/* Appends to buf[*len] within cap; truncates quietly (a line, not data). */
static void put(char *buf, size_t *len, size_t cap, const char *s, size_t n)
{
    if (*len + 1 >= cap) return;
    if (n > cap - 1 - *len) n = cap - 1 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = 0;
}

/* s as the inside of a JSON string: quotes, backslashes and control
 * characters escaped (a hostile originator cannot end the object). */
static void put_escaped(char *buf, size_t *len, size_t cap, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\'; esc[1] = (char)*p;
            put(buf, len, cap, esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            put(buf, len, cap, esc, 6);
        } else {
            put(buf, len, cap, (const char *)p, 1);
        }
    }
}

static void stamp_now(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

/* One finished line: the JSON object's closing brace is added here. */
static void emit(int level, const char *body, bool json_fields)
{
    char stamp[32];
    stamp_now(stamp, sizeof stamp);
    if (log_format == LOG_FORMAT_TEXT) {
        fprintf(stderr, "%s %-5s %s\n", stamp, level_names[level], body);
        return;
    }
    char line[4096];
    size_t len = 0;
    line[0] = 0;
    put(line, &len, sizeof line, "{\"ts\":\"", 7);
    put(line, &len, sizeof line, stamp, strlen(stamp));
    put(line, &len, sizeof line, "\",\"level\":\"", 11);
    put(line, &len, sizeof line, level_names[level], strlen(level_names[level]));
    if (json_fields) {
        put(line, &len, sizeof line, "\",", 2);
        put(line, &len, sizeof line, body, strlen(body));
    } else {
        put(line, &len, sizeof line, "\",\"msg\":\"", 9);
        put_escaped(line, &len, sizeof line, body);
        put(line, &len, sizeof line, "\"", 1);
    }
    fprintf(stderr, "%s}\n", line);
}

void log_fields(int level, const char *event, const struct log_field *fields, int n)
{
    if (level > log_level) return;
    char body[2048];
    size_t len = 0;
    body[0] = 0;
    bool json = log_format == LOG_FORMAT_JSON;
    if (json) {
        put(body, &len, sizeof body, "\"msg\":\"", 7);
        put_escaped(body, &len, sizeof body, event);
        put(body, &len, sizeof body, "\"", 1);
    } else {
        put(body, &len, sizeof body, event, strlen(event));
    }
    for (int i = 0; i < n; i++) {
        char num[32];
        const char *v = fields[i].str;
        if (!v) snprintf(num, sizeof num, "%lld", fields[i].num);
        if (json) {
            put(body, &len, sizeof body, ",\"", 2);
            put_escaped(body, &len, sizeof body, fields[i].key);
            put(body, &len, sizeof body, "\":", 2);
            if (!v) { put(body, &len, sizeof body, num, strlen(num)); continue; }
            put(body, &len, sizeof body, "\"", 1);
            put_escaped(body, &len, sizeof body, v);
            put(body, &len, sizeof body, "\"", 1);
            continue;
        }
        put(body, &len, sizeof body, " ", 1);
        put(body, &len, sizeof body, fields[i].key, strlen(fields[i].key));
        put(body, &len, sizeof body, "=", 1);
        if (!v) { put(body, &len, sizeof body, num, strlen(num)); continue; }
        /* Bare when it cannot be mistaken for more fields; else quoted. */
        bool bare = *v != 0;
        for (const unsigned char *p = (const unsigned char *)v; *p && bare; p++)
            bare = *p > 0x20 && *p != 0x7f && *p != '"' && *p != '=' && *p != '\\';
        if (bare) { put(body, &len, sizeof body, v, strlen(v)); continue; }
        put(body, &len, sizeof body, "\"", 1);
        put_escaped(body, &len, sizeof body, v);
        put(body, &len, sizeof body, "\"", 1);
    }
    emit(level, body, json);
}

int log_level_parse(const char *name)
{
    for (int i = 0; i <= LOG_LVL_DEBUG; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

void log_write(int level, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    emit(level, line, false);
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
