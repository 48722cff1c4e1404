#include "bench_clients.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void run_client(const struct bench_client *c, double end, long max_failures, int out)
{
    long counts[2] = { 0, 0 };
    void *state = c->open(c->cfg);
    while (state && bench_now() < end && counts[1] < max_failures) counts[c->round(state) ? 1 : 0]++;
    if (!state) counts[1] = 1;
    if (state) c->close(state);
    if (write(out, counts, sizeof counts) != (ssize_t)sizeof counts) _exit(1);
    _exit(0);
}

struct bench_result bench_run(const struct bench_client *c, int clients, double seconds, long max_failures)
{
    struct bench_result r = { 0, 0, 0 };
    int fds[2];
    if (clients < 1 || clients > 64 || pipe(fds)) return r;
    double start = bench_now(), end = start + seconds;
    int started = 0;
    for (; started < clients; started++) {
        pid_t pid = fork();
        if (pid < 0) break;
        if (pid == 0) { close(fds[0]); run_client(c, end, max_failures, fds[1]); }
    }
    close(fds[1]);
    long counts[2];
    while (read(fds[0], counts, sizeof counts) == (ssize_t)sizeof counts) {
        r.rounds += counts[0];
        r.failures += counts[1];
    }
    close(fds[0]);
    while (started-- > 0) wait(NULL);
    r.seconds = bench_now() - start;
    return r;
}

void bench_report(const char *mode, const struct bench_result *r, int clients)
{
    printf("%s: %ld handshakes+requests in %.2f s (%ld failed, %d clients) = %.0f/s\n", mode, r->rounds,
           r->seconds, r->failures, clients, r->seconds > 0 ? r->rounds / r->seconds : 0.0);
}
