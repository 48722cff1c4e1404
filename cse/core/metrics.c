#include "metrics.h"

#include "../base/clock.h"
#include "../base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Latency bucket bounds in microseconds: a request served from memory takes
 * tens of them; one that waited for a consultation, seconds. */
static const int64_t latency_le_us[] = { 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
                                         100000, 250000, 1000000, 2500000, 10000000 };
#define NLAT (sizeof latency_le_us / sizeof *latency_le_us)
static const int64_t batch_le[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 1024 };
#define NBATCH (sizeof batch_le / sizeof *batch_le)
#define NOPS (OP_NOTIFY + 1)
#define NBINDINGS (BINDING_COAP + 1)
/* Distinct (operation, binding, RSC) triples kept; RSCs are a closed set,
 * so this bound is reached only by a very unusual mix (counted apart). */
#define MAX_TRIPLES 192

struct histogram {
    uint64_t bucket[NLAT > NBATCH ? NLAT : NBATCH];  /* not cumulative; rendered cumulative */
    uint64_t count;
    int64_t sum;
};

struct metrics {
    struct { uint8_t op, binding; int rsc; uint64_t n; } triple[MAX_TRIPLES];
    int ntriples;
    uint64_t untracked;        /* requests beyond MAX_TRIPLES distinct triples */
    struct histogram latency[NOPS][NBINDINGS];
    struct { const char *decider; uint64_t n; } denial[8];
    int ndenials;
    struct histogram batch;
    uint64_t handshake_failures[2];    /* https, coaps */
    uint64_t listing_yields;
    struct { metrics_source_fn *fn; void *data; } source[4];
    int nsources;
};

struct metrics_text {
    char *buf;
    size_t len, cap;
    bool failed;
};

static const char *const op_names[NOPS] = { "none", "create", "retrieve", "update", "delete", "notify" };
static const char *const binding_names[NBINDINGS] = { "internal", "http", "coap" };

struct metrics *metrics_new(void) { return calloc(1, sizeof(struct metrics)); }
void metrics_free(struct metrics *m) { free(m); }

static void observe(struct histogram *h, int64_t v, const int64_t *le, size_t n)
{
    size_t i = 0;
    while (i < n && v > le[i]) i++;
    if (i < n) h->bucket[i]++;
    h->count++;
    h->sum += v;
}

static void count_triple(struct metrics *m, int op, int binding, int rsc)
{
    for (int i = 0; i < m->ntriples; i++)
        if (m->triple[i].op == op && m->triple[i].binding == binding && m->triple[i].rsc == rsc) {
            m->triple[i].n++;
            return;
        }
    if (m->ntriples == MAX_TRIPLES) { m->untracked++; return; }
    m->triple[m->ntriples].op = (uint8_t)op;
    m->triple[m->ntriples].binding = (uint8_t)binding;
    m->triple[m->ntriples].rsc = rsc;
    m->triple[m->ntriples++].n = 1;
}

void metrics_request(struct metrics *m, const struct m2m_request *req, const struct m2m_response *rsp,
                     int64_t started_us)
{
    int64_t us = clock_now_us() - started_us;
    if (us < 0) us = 0;
    int op = req->op >= 0 && req->op < (int)NOPS ? (int)req->op : OP_NONE;
    int binding = req->binding < NBINDINGS ? (int)req->binding : BINDING_INTERNAL;
    if (m) {
        count_triple(m, op, binding, rsp->rsc);
        observe(&m->latency[op][binding], us, latency_le_us, NLAT);
    }
    /* Names and numbers only: never a header, a token or a body. */
    const struct log_field f[] = {
        { "binding", binding_names[binding], 0 },
        { "peer", req->peer.ip[0] ? req->peer.ip : "-", 0 },
        { "fr", req->fr && req->fr[0] ? req->fr : "-", 0 },
        { "op", op_names[op], 0 },
        { "to", req->to && req->to[0] ? req->to : "-", 0 },
        { "rqi", req->rqi && req->rqi[0] ? req->rqi : "-", 0 },
        { "rsc", NULL, rsp->rsc },
        { "us", NULL, us },
    };
    log_fields(LOG_LVL_INFO, "request", f, (int)(sizeof f / sizeof *f));
}

void metrics_denial(struct metrics *m, const char *decider)
{
    if (!m || !decider) return;
    for (int i = 0; i < m->ndenials; i++)
        if (!strcmp(m->denial[i].decider, decider)) { m->denial[i].n++; return; }
    /* Decider names are static strings (security/authz.h). */
    if (m->ndenials == (int)(sizeof m->denial / sizeof *m->denial)) return;
    m->denial[m->ndenials].decider = decider;
    m->denial[m->ndenials++].n = 1;
}

void metrics_handshake_failed(struct metrics *m, const char *transport)
{
    if (m) m->handshake_failures[strcmp(transport, "https") != 0]++;
}

void metrics_listing_yield(struct metrics *m)
{
    if (m) m->listing_yields++;
}

void metrics_batch(struct metrics *m, int primitives)
{
    if (!m || primitives <= 0) return;
    observe(&m->batch, primitives, batch_le, NBATCH);
}

int metrics_add_source(struct metrics *m, metrics_source_fn *fn, void *data)
{
    if (!m || m->nsources == (int)(sizeof m->source / sizeof *m->source)) return -1;
    m->source[m->nsources].fn = fn;
    m->source[m->nsources++].data = data;
    return 0;
}

void metrics_line(struct metrics_text *out, const char *fmt, ...)
{
    if (out->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(out->buf + out->len, out->cap - out->len, fmt, ap);
        va_end(ap);
        if (n < 0) { out->failed = true; return; }
        if ((size_t)n + 2 <= out->cap - out->len) {
            out->len += (size_t)n;
            out->buf[out->len++] = '\n';
            out->buf[out->len] = 0;
            return;
        }
        size_t cap = out->cap * 2 + (size_t)n + 2;
        char *b = realloc(out->buf, cap);
        if (!b) { out->failed = true; return; }
        out->buf = b;
        out->cap = cap;
    }
}

void metrics_head(struct metrics_text *out, const char *name, const char *type, const char *help)
{
    metrics_line(out, "# HELP %s %s", name, help);
    metrics_line(out, "# TYPE %s %s", name, type);
}

/* labels: "op=\"create\",binding=\"http\"" (may be ""); le bounds scaled by div. */
static void histogram_lines(struct metrics_text *out, const char *name, const char *labels,
                            const struct histogram *h, const int64_t *le, size_t n, double div)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += h->bucket[i];
        metrics_line(out, "%s_bucket{%s%sle=\"%g\"} %llu", name, labels, sep, (double)le[i] / div,
                     (unsigned long long)cum);
    }
    metrics_line(out, "%s_bucket{%s%sle=\"+Inf\"} %llu", name, labels, sep, (unsigned long long)h->count);
    const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
    metrics_line(out, "%s_sum%s%s%s %.6f", name, open, labels, close, (double)h->sum / div);
    metrics_line(out, "%s_count%s%s%s %llu", name, open, labels, close, (unsigned long long)h->count);
}

static void own_lines(const struct metrics *m, struct metrics_text *out)
{
    metrics_head(out, "ironbark_requests_total", "counter", "Requests answered, by operation, binding and oneM2M RSC.");
    for (int i = 0; i < m->ntriples; i++)
        metrics_line(out, "ironbark_requests_total{op=\"%s\",binding=\"%s\",rsc=\"%d\"} %llu",
                     op_names[m->triple[i].op], binding_names[m->triple[i].binding], m->triple[i].rsc,
                     (unsigned long long)m->triple[i].n);
    metrics_head(out, "ironbark_requests_untracked_total", "counter",
         "Requests beyond the distinct operation/binding/RSC combinations kept.");
    metrics_line(out, "ironbark_requests_untracked_total %llu", (unsigned long long)m->untracked);

    metrics_head(out, "ironbark_request_duration_seconds", "histogram",
         "From a request read by its binding to its answer, by operation and binding.");
    for (int op = 0; op < (int)NOPS; op++)
        for (int b = 0; b < (int)NBINDINGS; b++) {
            if (!m->latency[op][b].count) continue;
            char labels[64];
            snprintf(labels, sizeof labels, "op=\"%s\",binding=\"%s\"", op_names[op], binding_names[b]);
            histogram_lines(out, "ironbark_request_duration_seconds", labels, &m->latency[op][b], latency_le_us, NLAT, 1e6);
        }

    metrics_head(out, "ironbark_access_denials_total", "counter", "Operations refused by the decider chain, by decider.");
    for (int i = 0; i < m->ndenials; i++)
        metrics_line(out, "ironbark_access_denials_total{decider=\"%s\"} %llu", m->denial[i].decider,
                     (unsigned long long)m->denial[i].n);

    metrics_head(out, "ironbark_handshake_failures_total", "counter", "TLS and DTLS handshakes that failed, by transport.");
    metrics_line(out, "ironbark_handshake_failures_total{transport=\"https\"} %llu",
                 (unsigned long long)m->handshake_failures[0]);
    metrics_line(out, "ironbark_handshake_failures_total{transport=\"coaps\"} %llu",
                 (unsigned long long)m->handshake_failures[1]);

    metrics_head(out, "ironbark_listing_yields_total", "counter",
                 "Discoveries and child listings that yielded the loop to other requests part-way.");
    metrics_line(out, "ironbark_listing_yields_total %llu", (unsigned long long)m->listing_yields);

    metrics_head(out, "ironbark_group_commit_batch_size", "histogram", "Primitives written by one group commit.");
    histogram_lines(out, "ironbark_group_commit_batch_size", "", &m->batch, batch_le, NBATCH, 1);
}

char *metrics_render(struct metrics *m, size_t *len)
{
    if (!m) return NULL;
    struct metrics_text out = { malloc(8192), 0, 8192, false };
    if (!out.buf) return NULL;
    out.buf[0] = 0;
    own_lines(m, &out);
    for (int i = 0; i < m->nsources; i++) m->source[i].fn(m->source[i].data, &out);
    if (out.failed) { free(out.buf); return NULL; }
    *len = out.len;
    return out.buf;
}
