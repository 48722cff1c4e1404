/* Concurrent clients for the handshake benchmarks: each client is a forked
 * process (no shared TLS/libcoap state between clients, no locks), runs
 * rounds until a shared deadline and reports its counts through a pipe. */
#ifndef IRONBARK_BENCH_CLIENTS_H
#define IRONBARK_BENCH_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>

struct bench_client {
    void *(*open)(void *cfg);     /* in each client process: its own context */
    int (*round)(void *state);    /* one handshake + request; 0 = answered */
    void (*close)(void *state);
    void *cfg;
};

struct bench_result {
    long rounds, failures;
    double seconds;
};

double bench_now(void);

/* Runs clients (1..64) processes for seconds; a client stops early after
 * max_failures failed rounds. */
struct bench_result bench_run(const struct bench_client *c, int clients, double seconds, long max_failures);

/* "<mode>: N handshakes+requests in S s = R/s (F failed, C clients)": the
 * one line handshake_bench.py reads. */
void bench_report(const char *mode, const struct bench_result *r, int clients);

/* The options of the two HTTPS benches (handshake_bench with OpenSSL,
 * handshake_bench_wolfssl), the PSK hex from $M2M_PSK_KEY (never argv). */
struct bench_tls_opts {
    int port, clients;
    double seconds;
    bool resume, x25519;
    const char *mode, *ca, *psk_id, *origin;
    unsigned char psk[64];
    unsigned int psk_len;
};

/* Parses argv; 0, or 2 after printing usage (modes: the bench's list). */
int bench_tls_opts(int argc, char **argv, const char *name, const char *modes, struct bench_tls_opts *o);
/* A TCP connection to 127.0.0.1:port (TCP_NODELAY), or -1. */
int bench_connect_tcp(int port);
/* The round's RETRIEVE of the CSEBase as origin; its length. */
int bench_retrieve(char *buf, size_t cap, const char *origin);

#endif
