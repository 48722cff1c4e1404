#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Appends s[0..n) to buf[*len] when all of it fits within cap, else
 * nothing: a line is cut short, never cut inside an escape or a field. */
static bool put(char *buf, size_t *len, size_t cap, const char *s, size_t n)
{
    if (*len + n + 1 > cap) return false;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = 0;
    return true;
}

/* Room kept after an escaped string for what closes it ("}). */
#define CLOSE_ROOM 4

/* s as the inside of a JSON string: quotes, backslashes, control
 * characters and bytes above ASCII escaped (a hostile originator cannot end the object); cut
 * short, whole escapes only, when it would not leave CLOSE_ROOM. */
static void put_escaped(char *buf, size_t *len, size_t cap, const char *s)
{
    if (cap <= CLOSE_ROOM) return;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        size_t n = 1;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\'; esc[1] = (char)*p;
            n = 2;
        } else if (*p < 0x20 || *p >= 0x7f) {   /* bytes above ASCII too: a line stays valid UTF-8 */
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            n = 6;
        } else {
            esc[0] = (char)*p;
        }
        if (!put(buf, len, cap - CLOSE_ROOM, esc, n)) return;
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

/* Info and debug lines wait here while this thread's loop runs and are
 * written when it is about to sleep (log_hold()): one write a round instead
 * of one a line. On this kind of machine a write costs more than the rest
 * of a RETRIEVE, and the request log writes a line per request
 * (docs/performance.md, *Log lines per round*). Warnings and errors are
 * written at once, after what waits, so the order holds and a crash right
 * after one still shows it; a kill -9 loses at most one round's info lines.
 * Per thread: a loop and its lines belong to one thread. */
static _Thread_local struct {
    int holding;               /* loop_run() levels of this thread */
    size_t len;
    char text[16384];
} held;

void log_flush(void)
{
    if (!held.len) return;
    fwrite(held.text, 1, held.len, stderr);
    held.len = 0;
}

/* exit() from inside a loop callback (a fatal start-up error, a test's
 * helper) would otherwise lose the round's held lines; exit runs this in
 * the thread that called it, whose lines they are. */
static void flush_at_exit(void)
{
    log_flush();
    fflush(stderr);
}

void log_hold(bool on)
{
    static bool registered;
    if (on) {
        if (!registered) registered = atexit(flush_at_exit) == 0;
        held.holding++;
        return;
    }
    log_flush();
    if (held.holding) held.holding--;
}

static void out(int level, const char *line, size_t len)
{
    if (!held.holding || level <= LOG_LVL_WARN || len > sizeof held.text) {
        log_flush();
        fwrite(line, 1, len, stderr);
        return;
    }
    if (held.len + len > sizeof held.text) log_flush();
    memcpy(held.text + held.len, line, len);
    held.len += len;
}

/* One finished line: the JSON object's closing brace is added here. */
static void emit(int level, const char *body, bool json_fields)
{
    char stamp[32];
    stamp_now(stamp, sizeof stamp);
    if (log_format == LOG_FORMAT_TEXT) {
        char text[2300];
        int n = snprintf(text, sizeof text, "%s %-5s %s\n", stamp, level_names[level], body);
        if (n < 0) return;
        if ((size_t)n >= sizeof text) {          /* cut short: still one line */
            n = (int)sizeof text - 1;
            text[n - 1] = '\n';
        }
        out(level, text, (size_t)n);
        return;
    }
    /* The object's members within 4 096 bytes, as before, then its "}\n". */
    char line[4096 + 2];
    const size_t cap = 4096;
    size_t len = 0;
    line[0] = 0;
    put(line, &len, cap, "{\"ts\":\"", 7);
    put(line, &len, cap, stamp, strlen(stamp));
    put(line, &len, cap, "\",\"level\":\"", 11);
    put(line, &len, cap, level_names[level], strlen(level_names[level]));
    if (json_fields) {
        put(line, &len, cap, "\",", 2);
        put(line, &len, cap, body, strlen(body));
    } else {
        put(line, &len, cap, "\",\"msg\":\"", 9);
        put_escaped(line, &len, cap, body);
        put(line, &len, cap, "\"", 1);
    }
    line[len++] = '}';
    line[len++] = '\n';
    out(level, line, len);
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
        /* Each field whole or not at all; a value is cut at 400 bytes. */
        char one[512], num[32];
        size_t olen = 0;
        one[0] = 0;
        const char *v = fields[i].str;
        if (!v) snprintf(num, sizeof num, "%lld", fields[i].num);
        put(one, &olen, sizeof one, json ? ",\"" : " ", json ? 2 : 1);
        put_escaped(one, &olen, 64, fields[i].key);   /* keys are ours: short, plain */
        put(one, &olen, sizeof one, json ? "\":" : "=", json ? 2 : 1);
        /* Text: bare when it cannot be mistaken for more fields; else quoted. */
        bool bare = !json && v && *v;
        for (const unsigned char *p = (const unsigned char *)v; bare && *p; p++)
            bare = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '=' && *p != '\\';
        if (!v) {
            put(one, &olen, sizeof one, num, strlen(num));
        } else if (bare) {
            put_escaped(one, &olen, olen + 400, v);   /* nothing to escape: a plain cut */
        } else {
            put(one, &olen, sizeof one, "\"", 1);
            put_escaped(one, &olen, olen + 400, v);
            put(one, &olen, sizeof one, "\"", 1);
        }
        if (!put(body, &len, sizeof body, one, olen)) break;
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
