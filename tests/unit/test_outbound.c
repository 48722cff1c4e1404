/* The outbound path sends any request primitive and hands back the whole
 * answer: method and headers from the HTTP codec, the RSC and the content
 * of the reply (outbound_answer_response), unreachable targets as such.
 * Against a scripted server on the same loop; every wait is bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cse/core/cse.h"
#include "cse/core/config.h"
#include "cse/core/primitive.h"
#include "cse/core/rsc.h"
#include "cse/events/outbound.h"
#include "loop_server.h"

struct outcome {
    struct loop *loop;
    int calls;
    int rsc;
    bool unreachable;
    json_t *pc;
};

static void record(void *data, const struct outbound_answer *ans)
{
    struct outcome *o = data;
    o->calls++;
    o->rsc = ans->rsc;
    o->unreachable = ans->unreachable != NULL;
    struct m2m_response rsp;
    outbound_answer_response(ans, &rsp);
    o->pc = rsp.pc ? json_incref(rsp.pc) : NULL;
    m2m_response_clear(&rsp);
    loop_stop(o->loop);
}

static int64_t give_up(struct loop *loop, int64_t id, void *data)
{
    (void)id; (void)data;
    loop_stop(loop);
    return -1;
}

struct fixture {
    struct cse cse;
    struct server srv;
};

static void open_fixture(struct fixture *f, const char *reply)
{
    memset(f, 0, sizeof *f);
    config_defaults(&f->cse.cfg);
    f->cse.loop = loop_create(64);
    snprintf(f->cse.csi, sizeof f->cse.csi, "/id-in");
    assert_int_equal(outbound_open(&f->cse), 0);
    server_start(&f->srv, f->cse.loop, reply);
}

static void close_fixture(struct fixture *f)
{
    server_stop(&f->srv);
    outbound_close(&f->cse);
    loop_destroy(f->cse.loop);
}

/* Sends req to path on the server and runs the loop until answered (3 s at most). */
static void send_and_wait(struct fixture *f, const char *url, struct m2m_request *req, const char *body,
                          struct outcome *o)
{
    memset(o, 0, sizeof *o);
    o->loop = f->cse.loop;
    struct iovec iov = { (void *)body, body ? strlen(body) : 0 };
    struct outbound_request r = { .url = url, .req = req, .body = &iov, .nbody = body != NULL,
                                  .len = iov.iov_len, .timeout_ms = 2000 };
    assert_int_equal(outbound_send(&f->cse, &r, record, o), 0);
    assert_int_equal(o->calls, 0); /* never from inside the call */
    int64_t t = loop_add_timer(f->cse.loop, 3000, give_up, NULL);
    loop_run(f->cse.loop);
    loop_del_timer(f->cse.loop, t);
    assert_int_equal(o->calls, 1);
}

static const char *const REPLY =
    "HTTP/1.1 200 OK\r\nX-M2M-RSC: 2000\r\nX-M2M-RI: r1\r\nContent-Type: application/json\r\n"
    "Content-Length: 27\r\n\r\n{\"m2m:cin\":{\"con\":\"hello\"}}";

static void retrieve_gets_the_content(void **state)
{
    (void)state;
    struct fixture f;
    open_fixture(&f, REPLY);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/~/id-x/cse-x/cnt/la", f.srv.port);
    struct m2m_request req = { .op = OP_RETRIEVE, .fr = "/id-in", .rqi = "q1" };
    struct outcome o;
    send_and_wait(&f, url, &req, NULL, &o);
    assert_int_equal(o.rsc, RSC_OK);
    assert_false(o.unreachable);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o.pc, "m2m:cin"), "con")), "hello");
    assert_non_null(strstr(f.srv.last, "GET /~/id-x/cse-x/cnt/la HTTP/1.1\r\n"));
    assert_non_null(strstr(f.srv.last, "X-M2M-Origin: /id-in\r\n"));
    assert_non_null(strstr(f.srv.last, "X-M2M-RI: q1\r\n"));
    json_decref(o.pc);
    close_fixture(&f);
}

static void create_and_notify_carry_their_body(void **state)
{
    (void)state;
    struct fixture f;
    open_fixture(&f, REPLY);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/~/id-x/cse-x/cnt", f.srv.port);
    struct m2m_request req = { .op = OP_CREATE, .fr = "/id-in", .rqi = "q2", .ty = 4 };
    struct outcome o;
    send_and_wait(&f, url, &req, "{\"m2m:cin\":{\"con\":\"1\"}}", &o);
    assert_non_null(strstr(f.srv.last, "POST /~/id-x/cse-x/cnt HTTP/1.1\r\n"));
    assert_non_null(strstr(f.srv.last, "ty=4"));
    assert_non_null(strstr(f.srv.last, "\r\n\r\n{\"m2m:cin\":{\"con\":\"1\"}}"));
    json_decref(o.pc);
    req = (struct m2m_request){ .op = OP_DELETE, .fr = "/id-in", .rqi = "q3" };
    send_and_wait(&f, url, &req, NULL, &o);
    assert_non_null(strstr(f.srv.last, "DELETE /~/id-x/cse-x/cnt HTTP/1.1\r\n"));
    json_decref(o.pc);
    close_fixture(&f);
}

static void an_answer_without_json_has_no_pc(void **state)
{
    (void)state;
    struct fixture f;
    open_fixture(&f, "HTTP/1.1 403 Forbidden\r\nX-M2M-RSC: 4103\r\nContent-Length: 5\r\n\r\nnope!");
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", f.srv.port);
    struct m2m_request req = { .op = OP_NOTIFY, .fr = "/id-in", .rqi = "q4" };
    struct outcome o;
    send_and_wait(&f, url, &req, "{}", &o);
    assert_int_equal(o.rsc, RSC_ORIGINATOR_HAS_NO_PRIVILEGE);
    assert_false(o.unreachable);
    assert_null(o.pc);
    close_fixture(&f);
}

static void a_closed_port_is_unreachable(void **state)
{
    (void)state;
    struct fixture f;
    open_fixture(&f, REPLY);
    int port = f.srv.port;
    server_stop(&f.srv);
    f.srv.fd = -1;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    struct m2m_request req = { .op = OP_RETRIEVE, .fr = "/id-in", .rqi = "q5" };
    struct outcome o;
    send_and_wait(&f, url, &req, NULL, &o);
    assert_true(o.unreachable);
    assert_int_equal(o.rsc, RSC_TARGET_NOT_REACHABLE);
    assert_null(o.pc);
    outbound_close(&f.cse);
    loop_destroy(f.cse.loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(retrieve_gets_the_content),
        cmocka_unit_test(create_and_notify_carry_their_body),
        cmocka_unit_test(an_answer_without_json_has_no_pc),
        cmocka_unit_test(a_closed_port_is_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
