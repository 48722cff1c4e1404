/* libpq, loaded when a PostgreSQL database is first used, not linked: it
 * brings OpenSSL, which an HTTP-only m2m-cse keeps out of its process (the
 * transport module, architecture.md). Shared by the store (store_pg.c) and
 * the credential store (security/cred_pg.c); pq_PQname points at libpq's
 * PQname once pq_load() succeeded. */
#ifndef IRONBARK_PQ_LIB_H
#define IRONBARK_PQ_LIB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

struct fiber_fd;

#define PQ_FUNCTIONS(X) \
    X(PQclear) \
    X(PQntuples) \
    X(PQgetvalue) \
    X(PQresultStatus) \
    X(PQstatus) \
    X(PQgetlength) \
    X(PQfinish) \
    X(PQsocket) \
    X(PQresultErrorMessage) \
    X(PQfreemem) \
    X(PQerrorMessage) \
    X(PQconsumeInput) \
    X(PQcmdTuples) \
    X(PQsetnonblocking) \
    X(PQsetNoticeProcessor) \
    X(PQsendQueryPrepared) \
    X(PQsendQueryParams) \
    X(PQsendQuery) \
    X(PQsendPrepare) \
    X(PQnotifies) \
    X(PQisBusy) \
    X(PQgetisnull) \
    X(PQgetResult) \
    X(PQflush) \
    X(PQconninfoParse) \
    X(PQconninfoFree) \
    X(PQconnectStartParams) \
    X(PQconnectPoll) \
    X(PQcmdStatus) \
    X(PQbackendPID) \
    X(PQconnectdbParams) \
    X(PQexec) \
    X(PQexecParams)

#define PQ_POINTER_DECL(name) extern __typeof__(name) *pq_##name;
PQ_FUNCTIONS(PQ_POINTER_DECL)
#undef PQ_POINTER_DECL

/* Loads libpq once; false (logged, `who` naming the user) when it is not installed. */
bool pq_load(const char *who);

/* The settings of every connection Ironbark opens (keep-alives that notice
 * a dead server, UTF-8, a connect timeout, server options, a name in
 * pg_stat_activity): ours first and the URI last, so that what the URI says
 * wins. Fills keys/values (NULL-terminated) for PQconnect*Params with
 * expand_dbname = 1; they point into the arguments. */
#define PQ_PARAMS 10
void pq_connect_params(const char *keys[PQ_PARAMS], const char *values[PQ_PARAMS], const char *timeout_s,
                       const char *options, const char *application, const char *uri);

/* The one way Ironbark waits for a libpq socket: until it is readable (or
 * writable) or the monotonic deadline (loop_now_ms) passes; false then, on
 * a poll error, or when the fiber waiting was cancelled. Inside a fiber it
 * yields to the loop (on watch once the connection is up: it stays
 * registered); elsewhere it polls, and while the loop runs (not at
 * start-up, nor in the tools) that is counted in *blocking (may be NULL)
 * and under its site (loop_waits.h). */
bool pq_wait(struct fiber_fd *watch, PGconn *conn, bool for_write, int64_t deadline_ms, uint64_t *blocking);
/* Drives PQconnectPoll() of a connection PQconnectStartParams() began until
 * it is made (true) or fails or the deadline passes (false). */
bool pq_connect_wait(struct fiber_fd *watch, PGconn *conn, int64_t deadline_ms, uint64_t *blocking);
/* Flushes what was sent on a non-blocking connection and reads the results
 * of one query: the first result (an error one if any), or NULL when the
 * connection failed (the caller drops it). */
PGresult *pq_collect(struct fiber_fd *watch, PGconn *conn, int64_t deadline_ms, uint64_t *blocking);

#endif
