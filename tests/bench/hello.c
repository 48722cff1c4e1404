/* bench_hello: the baseline for tests/bench/run.sh. The same event loop and
 * HTTP transport as m2m-cse (cse/loop.c, cse/http.c), answering every request
 * with a fixed small body, so the CSE's figures can be read as a share of
 * what the transport alone can serve on the same machine in the same run. */
#include "cse/wire/http.h"
#include "cse/base/log.h"
#include "cse/base/loop.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char hello_body[] = "{\"m2m:dbg\":\"hello\"}";

static void answer_hello(void *data, const struct http_request *req, struct http_response *rsp)
{
    (void)data; (void)req;
    rsp->status = 200;
    rsp->content_type = "application/json";
    /* The transport frees the body, as it does for the CSE's responses. */
    rsp->body = malloc(sizeof hello_body - 1);
    if (!rsp->body) { rsp->status = 503; return; }
    memcpy(rsp->body, hello_body, sizeof hello_body - 1);
    rsp->body_len = sizeof hello_body - 1;
}

static struct loop *the_loop;

/* SIGTERM/SIGINT interrupt epoll_wait; the loop sees the stop flag at once. */
static void on_signal(int sig)
{
    (void)sig;
    loop_stop(the_loop);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 8090;
    struct loop *loop = the_loop = loop_create(4096 + 64);
    if (!loop) return 1;
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct http_options opt = {
        .host = "127.0.0.1", .port = port, .max_connections = 4096, .max_body = 1 << 20,
    };
    struct http_server *srv = http_server_start(loop, &opt, answer_hello, NULL);
    if (!srv) return 1;
    fprintf(stderr, "bench_hello on 127.0.0.1:%d\n", http_server_port(srv));
    loop_run(loop);
    http_server_stop(srv);
    loop_destroy(loop);
    return 0;
}
