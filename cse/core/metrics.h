/* What an operator watches: counters kept per CSE (cse->metrics), shown in
 * the Prometheus text format (docs/configuration.md, *Metrics and logs*),
 * and the request log, one line per answered request at info. Bindings
 * report each request once, when its answer is ready; the engine reports
 * denials and group-commit batches; what other modules own (notification
 * queues, rate limits, the store's files, the listeners) is added as
 * sources by engine.c and server.c, which see every module. Every call
 * takes a NULL m (no metrics: out of memory at start) and does nothing. */
#ifndef IRONBARK_METRICS_H
#define IRONBARK_METRICS_H

#include "primitive.h"

#include <stddef.h>
#include <stdint.h>

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* A binding's request was answered with rsp; started_us is clock_now_us()
 * when the binding had read it. Counts it, times it, logs it. */
void metrics_request(struct metrics *m, const struct m2m_request *req, const struct m2m_response *rsp,
                     int64_t started_us);
/* The decider chain refused an operation; decider names who. */
void metrics_denial(struct metrics *m, const char *decider);
/* A handshake failed: transport "https" (failed or timed out) or "coaps"
 * (a DTLS session that ended before its handshake finished: refused by our
 * checks at once, a wrong PSK when the server's retransmissions run out,
 * about 30 s later, see security/dtls.h). */
void metrics_handshake_failed(struct metrics *m, const char *transport);
/* A discovery or child listing yielded the loop part-way (retrieve.c). */
void metrics_listing_yield(struct metrics *m);
/* A group commit wrote this many primitives' savepoints at once. */
void metrics_batch(struct metrics *m, int primitives);

/* The text being rendered; sources append with metrics_line(). */
struct metrics_text;
void metrics_line(struct metrics_text *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "# HELP" and "# TYPE" of a family, once before its samples. */
void metrics_head(struct metrics_text *out, const char *name, const char *type, const char *help);
typedef void metrics_source_fn(void *data, struct metrics_text *out);
/* -1 when full (or m is NULL). */
int metrics_add_source(struct metrics *m, metrics_source_fn *fn, void *data);

/* Everything, as Prometheus text exposition (malloc'd; NULL when out of memory). */
char *metrics_render(struct metrics *m, size_t *len);

#endif
