#include "bench_clients.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

int bench_tls_opts(int argc, char **argv, const char *name, const char *modes, struct bench_tls_opts *o)
{
    *o = (struct bench_tls_opts){ .clients = 1, .seconds = 2, .mode = "tls13-cert", .origin = "CAdmin" };
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) o->port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) o->seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--mode")) o->mode = argv[i + 1];
        else if (!strcmp(argv[i], "--ca")) o->ca = argv[i + 1];
        else if (!strcmp(argv[i], "--psk-id")) o->psk_id = argv[i + 1];
        else if (!strcmp(argv[i], "--origin")) o->origin = argv[i + 1];
        else if (!strcmp(argv[i], "--clients")) o->clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--resume")) o->resume = !strcmp(argv[i + 1], "yes");
        else if (!strcmp(argv[i], "--group")) o->x25519 = !strcmp(argv[i + 1], "x25519");
    }
    const char *hex = strstr(o->mode, "psk") ? getenv("M2M_PSK_KEY") : NULL;
    for (const char *h = hex; h && h[0] && h[1] && o->psk_len < sizeof o->psk; h += 2) {
        unsigned int b;
        if (sscanf(h, "%2x", &b) != 1) break;
        o->psk[o->psk_len++] = (unsigned char)b;
    }
    bool psk_ok = !strstr(o->mode, "psk") || (o->psk_id && strlen(o->psk_id) < 128 && o->psk_len);
    if (o->port && o->seconds > 0 && o->seconds <= 60 && o->clients >= 1 && o->clients <= 64 && psk_ok) return 0;
    fprintf(stderr, "usage: %s --port P [--mode %s]\n"
                    "       [--ca FILE] [--psk-id IDENTITY] [--origin O] [--seconds S<=60]\n"
                    "       [--clients N<=64] [--resume yes|no] [--group p256|x25519]\n"
                    "PSK modes need --psk-id and the key (hex) in $M2M_PSK_KEY, never on the command line.\n",
            name, modes);
    return 2;
}

int bench_connect_tcp(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) { close(fd); return -1; }
    return fd;
}

int bench_retrieve(char *buf, size_t cap, const char *origin)
{
    return snprintf(buf, cap, "GET /cse-in HTTP/1.1\r\nHost: localhost\r\nX-M2M-Origin: %s\r\n"
                    "X-M2M-RI: b\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n", origin);
}
