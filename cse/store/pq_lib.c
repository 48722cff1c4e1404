#include "pq_lib.h"

#include "../base/fiber.h"
#include "../base/log.h"
#include "../base/loop_waits.h"
#include "../base/loop.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>

#define PQ_POINTER(name) __typeof__(name) *pq_##name;
PQ_FUNCTIONS(PQ_POINTER)

bool pq_load(const char *who)
{
    static void *lib;
    if (lib) return true;
    void *l = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    bool ok = l != NULL;
#define PQ_RESOLVE(name) ok = ok && (*(void **)&pq_##name = dlsym(l, #name)) != NULL;
    PQ_FUNCTIONS(PQ_RESOLVE)
    if (!ok) {
        log_error("%s: a PostgreSQL db needs libpq (Debian libpq5): %s", who, dlerror());
        if (l) dlclose(l);
        return false;
    }
    lib = l;
    loop_waits_prepare();      /* a wait in the loop names its site without reading the disk */
    return true;
}

void pq_connect_params(const char *keys[PQ_PARAMS], const char *values[PQ_PARAMS], const char *timeout_s,
                       const char *options, const char *application, const char *uri)
{
    static const char *const names[PQ_PARAMS] = { "connect_timeout", "keepalives", "keepalives_idle",
                                                   "keepalives_interval", "keepalives_count", "options",
                                                   "application_name", "client_encoding", "dbname", NULL };
    const char *const given[PQ_PARAMS] = { timeout_s, "1", "10", "5", "3", options, application, "UTF8", uri, NULL };
    for (int i = 0; i < PQ_PARAMS; i++) {
        keys[i] = names[i];
        values[i] = given[i];
    }
}

bool pq_wait(struct fiber_fd *watch, PGconn *conn, bool for_write, int64_t deadline_ms, uint64_t *blocking)
{
    struct pollfd pfd = { .fd = pq_PQsocket(conn), .events = for_write ? POLLOUT : POLLIN };
    if (pfd.fd < 0) return false;
    int mask = for_write ? LOOP_WRITABLE : LOOP_READABLE;
    /* A connection still being made may change its socket: registered
     * for good only once it is up. */
    enum fiber_wake w = pq_PQstatus(conn) == CONNECTION_OK ? fiber_fd_wait(watch, pfd.fd, mask, deadline_ms)
                                                           : fiber_wait_fd(pfd.fd, mask, deadline_ms);
    if (w != FIBER_NOT_IN_FIBER) return w == FIBER_READY;
    if (loop_wait_note(LOOP_WAIT_ROUND_TRIP) && blocking) (*blocking)++;
    for (;;) {
        int64_t left = deadline_ms - loop_now_ms();
        if (left <= 0) return false;
        int n = poll(&pfd, 1, (int)left);
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return false;
    }
}

bool pq_connect_wait(struct fiber_fd *watch, PGconn *conn, int64_t deadline_ms, uint64_t *blocking)
{
    if (!conn || pq_PQstatus(conn) == CONNECTION_BAD) return false;
    for (PostgresPollingStatusType st = PGRES_POLLING_WRITING;;) {
        if (st == PGRES_POLLING_OK) return true;
        if (st == PGRES_POLLING_FAILED || !pq_wait(watch, conn, st == PGRES_POLLING_WRITING, deadline_ms, blocking))
            return false;
        st = pq_PQconnectPoll(conn);
    }
}

PGresult *pq_collect(struct fiber_fd *watch, PGconn *conn, int64_t deadline_ms, uint64_t *blocking)
{
    int flushed;
    while ((flushed = pq_PQflush(conn)) == 1)
        if (!pq_wait(watch, conn, true, deadline_ms, blocking)) { flushed = -1; break; }
    if (flushed < 0) return NULL;
    PGresult *first = NULL;
    for (;;) {
        while (pq_PQisBusy(conn)) {
            if (!pq_wait(watch, conn, false, deadline_ms, blocking) || !pq_PQconsumeInput(conn)) {
                pq_PQclear(first);
                return NULL;
            }
        }
        PGresult *r = pq_PQgetResult(conn);
        if (!r) break;
        ExecStatusType st = pq_PQresultStatus(r);
        bool failed = st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE;
        if (!first || (failed && pq_PQresultStatus(first) != PGRES_FATAL_ERROR)) {
            pq_PQclear(first);
            first = r;
        } else {
            pq_PQclear(r);
        }
    }
    if (first && pq_PQresultStatus(first) == PGRES_FATAL_ERROR && pq_PQstatus(conn) == CONNECTION_BAD) {
        pq_PQclear(first);
        return NULL;
    }
    return first;
}
