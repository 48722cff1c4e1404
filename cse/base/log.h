/* Levelled logging to stderr. The macros test the level before evaluating
 * their arguments, so a disabled debug line costs one comparison. */
#ifndef IRONBARK_LOG_H
#define IRONBARK_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern int log_level;

/* text: "<time> <level> <message>"; json: one object a line, for
 * collectors that parse (journald forwarders, Loki, Elasticsearch). */
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

void log_set_level(int level);
void log_set_format(enum log_format format);
/* Parses "text", "json"; returns -1 when unknown. */
int log_format_parse(const char *name);
/* Parses "error", "warn", "info", "debug"; returns -1 when unknown. */
int log_level_parse(const char *name);
void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* While held (loop_run() holds its thread's lines), info and debug lines
 * are kept in a buffer and written by log_flush() (the loop, before it
 * sleeps), or when the buffer is full or a warning or error comes. Calls
 * nest; the last release flushes. */
void log_hold(bool on);
void log_flush(void);

/* One event with named fields (the request log): "event k=v k=v" in text,
 * where a value with spaces, quotes or control characters is quoted and
 * escaped so nobody can forge a line; members of the object in json. */
struct log_field {
    const char *key;
    const char *str;           /* NULL: the number below */
    long long num;
};
void log_fields(int level, const char *event, const struct log_field *fields, int n);

/* A line about something outsiders can make happen at will (a malformed
 * datagram, a refused connection): counted always, written at most once per
 * interval so that nobody can flood the log. The line after a quiet spell
 * says how many were left unwritten before it. */
struct log_burst {
    long long count;           /* events ever counted */
    long long unwritten;       /* since the last line written */
    long long last_ms;         /* when that line was written; 0 = never */
};

void log_burst_write(struct log_burst *b, int level, long long now_ms, long long interval_ms,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define LOG_AT(lvl, ...) do { if ((lvl) <= log_level) log_write((lvl), __VA_ARGS__); } while (0)
#define log_error(...) LOG_AT(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
