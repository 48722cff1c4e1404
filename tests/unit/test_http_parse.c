/* The HTTP server's request parsing without a socket (http_parse_*): the
 * entry point tests/fuzz/fuzz_http drives, checked here on known input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cse/wire/http.h"

/* What one parse saw, flattened for comparison. */
struct seen {
    int n;
    char text[4][1024];
    bool keep_alive[4];
};

static void collect(void *arg, const struct http_request *req, bool keep_alive)
{
    struct seen *s = arg;
    assert_true(s->n < 4);
    int w = snprintf(s->text[s->n], sizeof s->text[s->n], "%s %s|", req->method, req->target);
    for (int i = 0; i < req->nheaders; i++)
        w += snprintf(s->text[s->n] + w, sizeof s->text[s->n] - (size_t)w, "%s=%s|",
                      req->headers[i].name, req->headers[i].value);
    snprintf(s->text[s->n] + w, sizeof s->text[s->n] - (size_t)w, "%.*s", (int)req->body_len, req->body);
    s->keep_alive[s->n++] = keep_alive;
}

/* Feeds text in reads of `chunk` bytes; returns the first non-zero status. */
static int parse(const char *text, size_t chunk, int64_t max_body, struct seen *s)
{
    memset(s, 0, sizeof *s);
    struct http_parse *ps = http_parse_new(max_body, collect, s);
    assert_non_null(ps);
    size_t len = strlen(text);
    int status = 0;
    for (size_t off = 0; off < len && !status; off += chunk)
        status = http_parse_feed(ps, text + off, len - off < chunk ? len - off : chunk);
    http_parse_free(ps);
    return status;
}

static const char two[] =
    "POST /cse-in?fu=1 HTTP/1.1\r\nX-M2M-Origin: Cx\r\nContent-Type: application/json;ty=2\r\n"
    "Content-Length: 7\r\n\r\n{\"a\":1}"
    "GET /cse-in/ae HTTP/1.1\r\nX-M2M-RI: 2\r\nEmpty:\r\nConnection: close\r\n\r\n";

static void pipelined_in_any_split(void **state)
{
    (void)state;
    struct seen whole, split;
    assert_int_equal(parse(two, sizeof two, 1 << 20, &whole), 0);
    assert_int_equal(whole.n, 2);
    assert_string_equal(whole.text[0], "POST /cse-in?fu=1|X-M2M-Origin=Cx|Content-Type=application/json;ty=2|"
                                       "Content-Length=7|{\"a\":1}");
    assert_string_equal(whole.text[1], "GET /cse-in/ae|X-M2M-RI=2|Empty=|Connection=close|");
    assert_true(whole.keep_alive[0]);
    assert_false(whole.keep_alive[1]);
    /* Every read size gives the same requests: callbacks arrive in pieces. */
    for (size_t chunk = 1; chunk < 40; chunk++) {
        assert_int_equal(parse(two, chunk, 1 << 20, &split), 0);
        assert_int_equal(split.n, 2);
        assert_string_equal(split.text[0], whole.text[0]);
        assert_string_equal(split.text[1], whole.text[1]);
    }
}

static void limits_and_errors(void **state)
{
    (void)state;
    struct seen s;
    /* Declared and streamed bodies over the limit. */
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", 64, 1024, &s), 413);
    char chunked[4096];
    int n = snprintf(chunked, sizeof chunked, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "400\r\n%01024d\r\n1\r\nx\r\n0\r\n\r\n", 0);
    assert_true(n > 0 && (size_t)n < sizeof chunked);
    assert_int_equal(parse(chunked, 100, 1024, &s), 413);
    assert_int_equal(s.n, 0);
    /* More headers than HTTP_MAX_HEADERS. */
    char many[4096] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "H%d: v\r\n", i);
    strcat(many, "\r\n");
    assert_int_equal(parse(many, sizeof many, 1024, &s), 431);
    assert_int_equal(parse("GET / HTTP/1.1\r\nBad Header\r\n\r\n", 5, 1024, &s), 400);
    assert_int_equal(parse("\x01\x02\r\n\r\n", 5, 1024, &s), 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pipelined_in_any_split),
        cmocka_unit_test(limits_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
