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

#endif
