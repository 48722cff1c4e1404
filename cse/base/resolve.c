#include "resolve.h"

#include "loop.h"

#include <ares.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RESOLVE_TIMEOUT_MS 2000    /* per try; c-ares tries each server */
#define RESOLVE_TRIES 2

struct lookup {
    struct resolver *r;
    resolve_done *done;
    void *data;
    bool started;                  /* ares_getaddrinfo returned */
    struct lookup *next;           /* in resolver.deferred while told later */
    int64_t timer;
    /* an answer given from inside ares_getaddrinfo, told from the loop */
    struct sockaddr_storage addr;
    socklen_t alen;
    const char *error;
};

struct resolver {
    struct loop *loop;
    ares_channel ch;
    int64_t timer;                 /* c-ares' next timeout, 0 = none */
    int running;                   /* lookups started and not finished */
    struct lookup *deferred;       /* answered inside ares_getaddrinfo, told from the loop */
    bool closing;
};

static void reschedule(struct resolver *r);
static int64_t tell_later(struct loop *loop, int64_t id, void *data);

static int64_t on_timer(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct resolver *r = data;
    r->timer = 0;
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    reschedule(r);
    return -1;
}

/* One timer for c-ares' earliest timeout while lookups run. */
static void reschedule(struct resolver *r)
{
    if (r->timer) { loop_del_timer(r->loop, r->timer); r->timer = 0; }
    if (r->closing || !r->running) return;
    struct timeval tv, *t = ares_timeout(r->ch, NULL, &tv);
    int64_t ms = t ? (int64_t)t->tv_sec * 1000 + t->tv_usec / 1000 : RESOLVE_TIMEOUT_MS;
    r->timer = loop_add_timer(r->loop, ms, on_timer, r);
}

static void on_socket(struct loop *loop, int fd, void *data, int mask)
{
    (void)loop;
    struct resolver *r = data;
    ares_process_fd(r->ch, (mask & LOOP_READABLE) ? fd : ARES_SOCKET_BAD,
                    (mask & LOOP_WRITABLE) ? fd : ARES_SOCKET_BAD);
    reschedule(r);
}

/* c-ares tells which of its sockets to watch for what. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct resolver *r = data;
    loop_unwatch(r->loop, fd, LOOP_READABLE | LOOP_WRITABLE);
    int mask = (readable ? LOOP_READABLE : 0) | (writable ? LOOP_WRITABLE : 0);
    if (mask) loop_watch(r->loop, fd, mask, on_socket, r);
}

struct resolver *resolver_create(struct loop *loop, const char *servers, char *err, size_t errlen)
{
    static bool library_ready;
    if (!library_ready && ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares cannot start");
        return NULL;
    }
    library_ready = true;
    struct resolver *r = calloc(1, sizeof *r);
    if (!r) { snprintf(err, errlen, "out of memory"); return NULL; }
    r->loop = loop;
    struct ares_options o = { .sock_state_cb = on_sock_state, .sock_state_cb_data = r,
                              .timeout = RESOLVE_TIMEOUT_MS, .tries = RESOLVE_TRIES };
    int rc = ares_init_options(&r->ch, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc == ARES_SUCCESS && servers && *servers) {
        rc = ares_set_servers_ports_csv(r->ch, servers);
        if (rc != ARES_SUCCESS) {
            snprintf(err, errlen, "dns-servers \"%s\": %s", servers, ares_strerror(rc));
            ares_destroy(r->ch);
            free(r);
            return NULL;
        }
    }
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        free(r);
        return NULL;
    }
    return r;
}

void resolver_destroy(struct resolver *r)
{
    if (!r) return;
    r->closing = true;
    if (r->timer) loop_del_timer(r->loop, r->timer);
    r->timer = 0;
    ares_destroy(r->ch); /* running lookups end with ARES_EDESTRUCTION */
    while (r->deferred) {
        loop_del_timer(r->loop, r->deferred->timer);
        tell_later(NULL, 0, r->deferred);
    }
    free(r);
}

static int64_t tell_later(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct lookup *lk = data;
    for (struct lookup **p = &lk->r->deferred; *p; p = &(*p)->next)
        if (*p == lk) { *p = lk->next; break; }
    lk->done(lk->data, lk->error ? NULL : (const struct sockaddr *)&lk->addr, lk->alen, lk->error);
    free(lk);
    return -1;
}

static void on_result(void *data, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    struct lookup *lk = data;
    lk->r->running--;
    const struct ares_addrinfo_node *n = status == ARES_SUCCESS && res ? res->nodes : NULL;
    lk->error = status == ARES_EDESTRUCTION ? "resolver closed"
                : status != ARES_SUCCESS ? ares_strerror(status)
                : n ? NULL : "no address";
    if (n && n->ai_addrlen <= sizeof lk->addr) {
        memcpy(&lk->addr, n->ai_addr, n->ai_addrlen);
        lk->alen = (socklen_t)n->ai_addrlen;
    }
    if (res) ares_freeaddrinfo(res);
    if (!lk->started && !lk->r->closing) {
        lk->next = lk->r->deferred;
        lk->r->deferred = lk;
        lk->timer = loop_add_timer(lk->r->loop, 0, tell_later, lk);
        return;
    }
    tell_later(NULL, 0, lk);
}

int resolver_lookup(struct resolver *r, const char *host, int port, resolve_done *done, void *data)
{
    struct lookup *lk = malloc(sizeof *lk);
    if (!lk) return -1;
    *lk = (struct lookup){ .r = r, .done = done, .data = data };
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct ares_addrinfo_hints h = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                     .ai_flags = ARES_AI_NUMERICSERV | ARES_AI_NOSORT };
    r->running++;
    /* c-ares may answer from inside this call (/etc/hosts, a malformed
     * name): on_result then tells the caller from the loop. */
    ares_getaddrinfo(r->ch, host, port > 0 ? service : NULL, &h, on_result, lk);
    lk->started = true; /* lk may be gone (told) or pending on a timer: not touched below */
    reschedule(r);
    return 0;
}

bool resolve_is_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return !strcasecmp(host, "localhost") || inet_pton(AF_INET, host, buf) == 1 ||
           inet_pton(AF_INET6, host, buf) == 1;
}

int resolve_blocking(const char *host, int port, struct sockaddr_storage *out, socklen_t *alen,
                     const char **error)
{
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo h = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port > 0 ? service : NULL, &h, &res);
    if (rc || !res) {
        *error = rc ? gai_strerror(rc) : "no address";
        return -1;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *alen = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}
