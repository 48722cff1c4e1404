#include "audit.h"

#include "../cse/base/clock.h"
#include "../cse/base/log.h"

#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct audit {
    char *path;
    FILE *f;
    int64_t size;
    int64_t max_bytes;
    int keep;
};

static FILE *open_append(struct audit *a)
{
    FILE *f = fopen(a->path, "a");
    if (!f) {
        log_error("audit: cannot open %s: %s", a->path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    a->size = ftell(f);
    return f;
}

struct audit *audit_open(const char *path, int64_t max_bytes, int keep)
{
    struct audit *a = calloc(1, sizeof *a);
    a->path = strdup(path);
    a->max_bytes = max_bytes;
    a->keep = keep < 0 ? 0 : keep;
    a->f = open_append(a);
    if (!a->f) { audit_close(a); return NULL; }
    return a;
}

void audit_close(struct audit *a)
{
    if (!a) return;
    if (a->f) fclose(a->f);
    free(a->path);
    free(a);
}

/* file.<keep-1> -> file.<keep>, …, file -> file.1 (the oldest falls off). */
static void rotate(struct audit *a)
{
    fclose(a->f);
    a->f = NULL;
    size_t n = strlen(a->path) + 16;
    char *from = malloc(n), *to = malloc(n);
    if (a->keep == 0) {
        remove(a->path);
    } else {
        for (int i = a->keep - 1; i >= 1; i--) {
            snprintf(from, n, "%s.%d", a->path, i);
            snprintf(to, n, "%s.%d", a->path, i + 1);
            rename(from, to);
        }
        snprintf(to, n, "%s.1", a->path);
        rename(a->path, to);
    }
    free(from);
    free(to);
    a->f = open_append(a);
}

void audit_record(struct audit *a, const char *originator, const char *target, const char *op,
                  const char *decision, const char *reason)
{
    audit_decision(a, originator, target, op, decision, NULL, reason);
}

void audit_decision(struct audit *a, const char *originator, const char *target, const char *op,
                    const char *decision, const char *decider, const char *reason)
{
    if (!a) return;
    ts_buf ts;
    ts_format(clock_now_us(), ts);
    json_t *o = json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?}", "ts", ts, "originator", originator,
                          "target", target, "op", op, "decision", decision, "decider", decider,
                          "reason", reason);
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!line) return;
    int64_t len = (int64_t)strlen(line) + 1;
    if (a->f && a->max_bytes > 0 && a->size > 0 && a->size + len > a->max_bytes) rotate(a);
    if (a->f && fprintf(a->f, "%s\n", line) > 0) {
        fflush(a->f);
        a->size += len;
    }
    free(line);
}

/* Does the field hold the wanted text (NULL or "" wants anything)? */
static bool field_has(json_t *entry, const char *field, const char *wanted, bool exact)
{
    if (!wanted || !*wanted) return true;
    const char *v = json_string_value(json_object_get(entry, field));
    return v && (exact ? !strcmp(v, wanted) : strstr(v, wanted) != NULL);
}

json_t *audit_query(const char *path, const struct audit_filter *f, int limit, size_t max_bytes)
{
    json_t *out = json_array();
    FILE *in = fopen(path, "r");
    if (!in) return out;
    /* Only the newest max_bytes of the file: the first, cut line is skipped. */
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    long from = size > (long)max_bytes ? size - (long)max_bytes : 0;
    char *buf = malloc((size_t)(size - from) + 1);
    size_t n = 0;
    if (buf && !fseek(in, from, SEEK_SET)) n = fread(buf, 1, (size_t)(size - from), in);
    fclose(in);
    if (!buf) return out;
    buf[n] = 0;
    char *start = buf;
    if (from > 0 && (start = strchr(buf, '\n'))) start++;
    /* Newest first: walk the lines from the end. */
    for (char *end = start ? buf + n : buf; start && end > start && (int)json_array_size(out) < limit;) {
        char *line = end;
        while (line > start && line[-1] != '\n') line--;
        json_t *e = json_loadb(line, (size_t)(end - line), 0, NULL);
        if (json_is_object(e) && field_has(e, "originator", f->originator, false) &&
            field_has(e, "target", f->target, false) && field_has(e, "decision", f->decision, true))
            json_array_append(out, e);
        json_decref(e);
        end = line > start ? line - 1 : start;
    }
    free(buf);
    return out;
}
