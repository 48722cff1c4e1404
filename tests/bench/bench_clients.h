/* Concurrent clients for the handshake benchmarks: each client is a forked
 * process (no shared TLS/libcoap state between clients, no locks), runs
 * rounds until a shared deadline and reports its counts through a pipe. */
#ifndef IRONBARK_BENCH_CLIENTS_H
#define IRONBARK_BENCH_CLIENTS_H

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

#endif
