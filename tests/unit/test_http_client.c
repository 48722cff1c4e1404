/* The asynchronous HTTP client against a tiny scripted server on the same
 * loop: answers, keep-alive reuse, chunked bodies, refused connections,
 * timeouts, bad URLs. Every wait is bounded by a loop timer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cse/wire/http_client.h"
#include "cse/base/loop.h"
#include "loop_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct outcome {
    struct loop *loop;
    int calls;
    struct http_client_result res;
    char body[256];
};

static void record(void *data, const struct http_client_result *r)
{
    struct outcome *o = data;
    o->calls++;
    o->res = *r;
    snprintf(o->body, sizeof o->body, "%.*s", (int)r->body_len, r->body ? r->body : "");
    o->res.body = NULL;
    loop_stop(o->loop);
}

static int64_t give_up(struct loop *loop, int64_t id, void *data)
{
    (void)id; (void)data;
    loop_stop(loop);
    return -1;
}

/* Sends one request and runs the loop until it completes (at most 3 s). */
static void exchange(struct http_client *c, struct loop *loop, const char *url, int timeout_ms,
                     struct outcome *o)
{
    memset(o, 0, sizeof *o);
    o->loop = loop;
    assert_int_equal(http_client_send(c, "POST", url, "X-M2M-RI: t\r\n", &(struct iovec){ "{}", 2 }, 1, timeout_ms, record, o), 0);
    assert_int_equal(o->calls, 0); /* never called from inside send */
    int64_t t = loop_add_timer(loop, 3000, give_up, NULL);
    loop_run(loop);
    loop_del_timer(loop, t);
    assert_int_equal(o->calls, 1);
}

static void answers_and_reuses(void **state)
{
    (void)state;
    struct loop *loop = loop_create(1024);
    struct server s;
    server_start(&s, loop, "HTTP/1.1 200 OK\r\nX-M2M-RSC: 2000\r\nContent-Length: 5\r\n\r\nhello");
    struct http_client *c = http_client_create(loop);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/notify", s.port);
    struct outcome o;
    for (int i = 0; i < 3; i++) {
        exchange(c, loop, url, 1000, &o);
        assert_int_equal(o.res.error, HC_OK);
        assert_int_equal(o.res.status, 200);
        assert_int_equal(o.res.rsc, 2000);
        assert_string_equal(o.body, "hello");
    }
    assert_int_equal(s.requests, 3);
    assert_int_equal(s.accepted, 1); /* keep-alive: one connection for all three */
    assert_int_equal(http_client_connections(c), 1);
    http_client_destroy(c);
    server_stop(&s);
    loop_destroy(loop);
}

static void chunked_and_close(void **state)
{
    (void)state;
    struct loop *loop = loop_create(1024);
    struct server s;
    server_start(&s, loop, "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                           "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    struct http_client *c = http_client_create(loop);
    char url[64];
    snprintf(url, sizeof url, "http://localhost:%d", s.port);
    struct outcome o;
    exchange(c, loop, url, 1000, &o);
    assert_int_equal(o.res.error, HC_OK);
    assert_int_equal(o.res.status, 201);
    assert_int_equal(o.res.rsc, 0);
    assert_string_equal(o.body, "abcde");
    assert_int_equal(http_client_connections(c), 0); /* Connection: close honoured */
    http_client_destroy(c);
    server_stop(&s);
    loop_destroy(loop);
}

static void refused_timeout_and_bad_url(void **state)
{
    (void)state;
    struct loop *loop = loop_create(1024);
    struct server s;
    server_start(&s, loop, NULL); /* accepts, never answers */
    struct http_client *c = http_client_create(loop);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", s.port);
    struct outcome o;
    exchange(c, loop, url, 150, &o);
    assert_int_equal(o.res.error, HC_ERR_TIMEOUT);
    assert_int_equal(s.requests, 1);
    int port = s.port;
    server_stop(&s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    exchange(c, loop, url, 1000, &o);
    assert_int_equal(o.res.error, HC_ERR_CONNECT);
    assert_int_equal(http_client_send(c, "POST", "http://example.org/x", NULL, NULL, 0, 100, record, &o), -1);
    assert_int_equal(http_client_send(c, "POST", "coap://127.0.0.1/x", NULL, NULL, 0, 100, record, &o), -1);
    assert_int_equal(http_client_send(c, "POST", "http://127.0.0.1:99999/x", NULL, NULL, 0, 100, record, &o), -1);
    assert_int_equal(http_client_send(c, "POST", "http://[::1/x", NULL, NULL, 0, 100, record, &o), -1);
    exchange(c, loop, "http://[::1]:1/x", 1000, &o); /* IPv6 literal parses; nobody listens */
    assert_int_equal(o.res.error, HC_ERR_CONNECT);
    http_client_destroy(c);
    loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers_and_reuses),
        cmocka_unit_test(chunked_and_close),
        cmocka_unit_test(refused_timeout_and_bad_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
