/* The web console's handling of untrusted requests (cse/wire/console.c):
 * the Origin rules and CORS preflights, the /console/ router, the login
 * exchange's JSON body, the session header, the audit view's query
 * parameters (percent-decoding), and console_bind() turning a session into
 * an originator. The first byte chooses the method, TLS or not, and whether
 * the request carries a live session's token; the rest is the target, the
 * Origin, a session token and the body, separated by newlines. */
#include <stdint.h>

#include "fuzz.h"
#include "cse/base/clock.h"
#include "cse/wire/console.h"
#include "security/console_session.h"

/* n fields: the first n-1 end at a newline, the last takes the rest;
 * each copied as a C string ("" when the input ran out). */
static void split(const uint8_t *data, size_t size, char **field, int n)
{
    size_t at = 0;
    for (int k = 0; k < n; k++) {
        size_t len = 0;
        if (k < n - 1) while (at + len < size && data[at + len] != '\n') len++;
        else len = size - at;
        field[k] = malloc(len + 1);
        FUZZ_CHECK(field[k]);
        memcpy(field[k], data + at, len);
        field[k][len] = 0;
        at += len + (at + len < size);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cse cse;
    static char live[CONSOLE_TOKEN_LEN + 1];
    static bool open;
    if (!open) {
        fuzz_cse_open(&cse);
        cse.cfg.console = true;
        snprintf(cse.cfg.cors_origins, sizeof cse.cfg.cors_origins, "https://ops.example, https://b.example:8443");
        cse.console = console_sessions_create(900 * 1000000LL);
        FUZZ_CHECK(cse.console);
        unsigned serial;
        int64_t until;
        FUZZ_CHECK(!console_session_open(cse.console, cse.cfg.admin, clock_now_us(), live, &serial, &until));
        open = true;
    }
    if (size < 1 || size > 8192) return 0;
    static const char *const methods[] = { "GET", "POST", "OPTIONS", "PUT" };
    uint8_t flags = data[0];
    char *f[4] = { 0 };
    split(data + 1, size - 1, f, 4);
    struct http_request h = {
        .method = methods[flags & 3], .target = *f[0] ? f[0] : "/console/api/session",
        .body = f[3], .body_len = strlen(f[3]), .peer_ip = "127.0.0.1", .peer_port = 40000,
        .secure = flags & 4,
    };
    if (*f[1]) h.headers[h.nheaders++] = (struct http_header){ "Origin", f[1] };
    if (flags & 8) h.headers[h.nheaders++] = (struct http_header){ CONSOLE_SESSION_HEADER, live };
    else if (*f[2]) h.headers[h.nheaders++] = (struct http_header){ CONSOLE_SESSION_HEADER, f[2] };
    if (flags & 16) h.headers[h.nheaders++] = (struct http_header){ "Access-Control-Request-Method", "POST" };

    struct http_response rsp = { 0 };
    if (console_http(&cse, &h, &rsp)) {
        FUZZ_CHECK(rsp.status >= 200 && rsp.status < 600);
        FUZZ_CHECK(!rsp.body_len || rsp.body);
    } else {
        /* Not the console's: a oneM2M request, which a session may speak for. */
        struct m2m_request req;
        struct m2m_response mrsp;
        unit_request_init(&req, &mrsp, OP_RETRIEVE, "cse-in", (flags & 32) ? "CAdmin" : "Cother");
        if (flags & 64) {   /* no X-M2M-Origin: the session supplies it */
            free(req.fr);
            req.fr = NULL;
        }
        int rc = console_bind(&cse, &h, &req, &mrsp);
        FUZZ_CHECK(rc == 0 || mrsp.rsc >= 4000);
        m2m_response_clear(&mrsp);
        m2m_request_clear(&req);
    }
    free(rsp.body);
    for (int i = 0; i < 4; i++) free(f[i]);
    return 0;
}
