/* libpq, loaded when a PostgreSQL database is first used, not linked: it
 * brings OpenSSL, which an HTTP-only m2m-cse keeps out of its process (the
 * transport module, architecture.md). Shared by the store (store_pg.c) and
 * the credential store (security/cred_pg.c); pq_PQname points at libpq's
 * PQname once pq_load() succeeded. */
#ifndef IRONBARK_PQ_LIB_H
#define IRONBARK_PQ_LIB_H

#include <libpq-fe.h>
#include <stdbool.h>

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

#endif
