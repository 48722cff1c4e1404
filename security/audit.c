#include "audit.h"

#include "../cse/base/clock.h"
#include "../cse/base/log.h"

#include <errno.h>
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
