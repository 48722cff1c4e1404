#include "console.h"

#include "http.h"
#include "../base/clock.h"
#include "../base/fiber.h"
#include "../base/json_text.h"
#include "../core/cse.h"
#include "../core/ident.h"
#include "../core/rsc.h"
#include "../../security/acl.h"
#include "../../security/audit.h"
#include "../../security/cred_admin.h"
#include "../../security/console_session.h"
#include "../../security/credentials.h"
#include "../../security/saef.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AUDIT_VIEW_BYTES (1 << 20)   /* the newest MiB of audit.log is searched */
#define AUDIT_VIEW_MAX 500           /* entries in one answer at most */

/* What a preflight allows: every header the oneM2M HTTP binding reads. */
static const char allowed_headers[] =
    "X-M2M-Origin, X-M2M-RI, X-M2M-RVI, X-M2M-RTU, X-M2M-OT, X-M2M-RST, X-M2M-RET, X-M2M-OET, "
    "X-M2M-VSI, X-M2M-GID, X-M2M-EC, Content-Type, Accept, Authorization, " CONSOLE_SESSION_HEADER;
static const char exposed_headers[] =
    "X-M2M-RSC, X-M2M-RI, X-M2M-RVI, X-M2M-OT, X-M2M-RST, X-M2M-VSI, X-M2M-CTS, X-M2M-CTO, "
    "X-M2M-ATI, Content-Location, Retry-After";

static void set_body(struct http_response *rsp, int status, const char *type, char *body, size_t len)
{
    rsp->status = status;
    rsp->content_type = type;
    rsp->body = body;
    rsp->body_len = body ? len : 0;
}

/* Answers the console's own endpoints give: JSON, never cached. */
static void answer_json(struct http_response *rsp, int status, json_t *doc)
{
    size_t len = 0;
    char *body = json_text(doc, &len);
    json_decref(doc);
    http_add_header(rsp, "Cache-Control", "no-store");
    set_body(rsp, status, "application/json", body, len);
}

static void answer_error(struct http_response *rsp, int status, const char *msg)
{
    answer_json(rsp, status, json_pack("{s:s}", "error", msg));
}

/* ---- origins ---- */

static bool own_origin(const struct http_request *h, const char *origin)
{
    const char *host = http_header(h, "Host");
    return h->secure && host && !strncmp(origin, "https://", 8) && !strcmp(origin + 8, host);
}

static bool listed_origin(const struct cse *cse, const char *origin)
{
    size_t n = strlen(origin);
    for (const char *p = cse->cfg.cors_origins; *p;) {
        p += strspn(p, ", ");
        size_t k = strcspn(p, ", ");
        if (k && k == n && !strncasecmp(p, origin, n)) return true;
        p += k;
    }
    return false;
}

const char *console_cors_origin(const struct cse *cse, const struct http_request *h)
{
    const char *origin = http_header(h, "Origin");
    return origin && !own_origin(h, origin) && listed_origin(cse, origin) ? origin : NULL;
}

void console_cors_headers(const char *origin, struct http_response *rsp)
{
    http_add_header(rsp, "Access-Control-Allow-Origin", origin);
    http_add_header(rsp, "Access-Control-Expose-Headers", exposed_headers);
    http_add_header(rsp, "Vary", "Origin");
}

/* A browser names the page's origin on every cross-origin request and on
 * same-origin ones that change something. Requests whose page may not call
 * the API are refused whole, so that no page elsewhere can use what the CSE
 * grants this machine (X-M2M-Origin of the admin on loopback); a preflight
 * is answered with allowances only for the console and cors-origins. */
static bool origin_rules(const struct cse *cse, const struct http_request *h, struct http_response *rsp)
{
    const char *origin = http_header(h, "Origin");
    if (!origin) return false;
    bool allowed = own_origin(h, origin) || listed_origin(cse, origin);
    bool preflight = !strcmp(h->method, "OPTIONS") && http_header(h, "Access-Control-Request-Method");
    if (!allowed) {
        answer_error(rsp, 403, "this origin may not use the CSE's API (cors-origins, docs/console.md)");
        return true;
    }
    if (!preflight) return false;
    http_add_header(rsp, "Access-Control-Allow-Origin", origin);
    http_add_header(rsp, "Access-Control-Allow-Methods", "GET, POST, PUT, DELETE");
    http_add_header(rsp, "Access-Control-Allow-Headers", allowed_headers);
    http_add_header(rsp, "Access-Control-Max-Age", "600");
    http_add_header(rsp, "Vary", "Origin");
    set_body(rsp, 204, NULL, NULL, 0);
    return true;
}

/* ---- sessions ---- */

static const char *session_of(struct cse *cse, const struct http_request *h, unsigned *serial, int64_t *until)
{
    const char *token = http_header(h, CONSOLE_SESSION_HEADER);
    return h->secure ? console_session_find(cse->console, token, clock_now_us(), serial, until) : NULL;
}

static bool is_admin(struct cse *cse, const char *originator)
{
    struct ident_home home = cse_home(cse);
    struct ident_forms f;
    return ident_forms(&home, originator, &f) && ident_is(&home, cse->cfg.admin, &f);
}

int console_bind(struct cse *cse, const struct http_request *h, struct m2m_request *req, struct m2m_response *rsp)
{
    if (!http_header(h, CONSOLE_SESSION_HEADER)) return 0;
    if (!h->secure)
        return m2m_error(rsp, RSC_SECURITY_ASSOCIATION_REQUIRED, "console sessions are honoured over HTTPS only");
    unsigned serial;
    int64_t until;
    const char *who = session_of(cse, h, &serial, &until);
    if (!who) return m2m_error(rsp, RSC_ORIGINATOR_NOT_AUTHENTICATED, "the console session is unknown or has ended");
    struct ident_home home = cse_home(cse);
    struct ident_forms f;
    if (req->fr && !(ident_forms(&home, req->fr, &f) && ident_is(&home, who, &f)))
        return m2m_error(rsp, RSC_ORIGINATOR_NOT_AUTHENTICATED, "the console session speaks as '%s' only", who);
    if (!req->fr) req->fr = strdup(who);
    char cred[32];
    snprintf(cred, sizeof cred, CONSOLE_CRED_PREFIX "%u", serial);
    saef_bind(req, cred);
    return 0;
}

/* {"code": "..."}: dashes and spaces dropped, letters upper-cased. */
static bool read_code(const struct http_request *h, char *code, size_t cap)
{
    json_t *doc = json_loadb(h->body ? h->body : "", h->body_len, 0, NULL);
    const char *v = json_string_value(json_object_get(doc, "code"));
    size_t n = 0;
    for (; v && *v && n + 1 < cap; v++)
        if (isalnum((unsigned char)*v)) code[n++] = (char)toupper((unsigned char)*v);
        else if (*v != '-' && *v != ' ') n = cap;   /* anything else: no code */
    bool ok = v && !*v && n == CONSOLE_CODE_LEN;
    code[ok ? n : 0] = 0;
    json_decref(doc);
    return ok;
}

/* A login code checked: rc as cred_take_login_code's, who its originator. */
static void login_answer(struct cse *cse, int rc, const char *who, int64_t now, struct http_response *rsp)
{
    struct audit *log = acl_audit_log(cse);
    if (rc) {
        audit_record(log, NULL, "/console", "LOGIN", "deny", "unknown, used or expired login code");
        answer_error(rsp, 403, "the login code is unknown, used or expired: mint another with m2m-cse console-login");
        return;
    }
    char token[CONSOLE_TOKEN_LEN + 1];
    unsigned serial;
    int64_t until;
    if (console_session_open(cse->console, who, now, token, &serial, &until)) {
        answer_error(rsp, 503, "no session could be made");
        return;
    }
    audit_record(log, who, "/console", "LOGIN", "permit", "console session");
    ts_buf ts;
    ts_format(until, ts);
    answer_json(rsp, 200, json_pack("{s:s,s:s,s:s}", "token", token, "originator", who, "expires", ts));
    explicit_bzero(token, sizeof token);
}

static void page_headers(struct http_response *rsp);

/* A login whose code is checked in a fiber: with a shared credential store
 * the check is a round trip on its connection, which the fiber waits for
 * by yielding to the loop; the answer goes out from there. */
struct console_login {
    struct cse *cse;
    struct http_server *srv;
    struct http_conn *conn;
    uint64_t gen;
    int64_t now;
    char code[CONSOLE_CODE_LEN + 2], who[256];
    int rc;
    bool abandoned;            /* the bindings stop: nobody to answer */
    struct console_login *next;
};

static void unlist_login(struct console_login *l)
{
    for (struct console_login **p = &l->cse->console_logins; *p; p = &(*p)->next)
        if (*p == l) { *p = l->next; break; }
}

static void check_code(void *data)
{
    struct console_login *l = data;
    l->rc = cred_take_login_code(l->cse->creds, l->code, l->now, l->who, sizeof l->who);
    explicit_bzero(l->code, sizeof l->code);
    if (!fiber_has_yielded()) return;      /* login() answers */
    unlist_login(l);
    if (!l->abandoned) {
        struct http_response rsp = { .status = 500 };
        page_headers(&rsp);
        login_answer(l->cse, l->rc, l->who, l->now, &rsp);
        http_server_respond(l->srv, l->conn, l->gen, &rsp);
    }
    free(l);
}

static void login(struct cse *cse, const struct http_request *h, struct http_response *rsp)
{
    struct console_login *l = malloc(sizeof *l);
    if (!l) {
        answer_error(rsp, 503, "no session could be made");
        return;
    }
    *l = (struct console_login){ cse, h->server, h->conn, h->conn_gen, clock_now_us(), .rc = 1 };
    bool fiber = cse->loop && h->server && cred_shared(cse->creds) && !fiber_current();
    if (cse->creds && read_code(h, l->code, sizeof l->code)) {
        l->next = cse->console_logins;
        cse->console_logins = l;
        int started = fiber ? fiber_start(cse->loop, check_code, l) : -1;
        if (started == 1) {
            rsp->deferred = true;
            return;
        }
        if (started < 0) check_code(l);   /* SQLite: at once */
        unlist_login(l);
    }
    explicit_bzero(l->code, sizeof l->code);
    login_answer(cse, l->rc, l->who, l->now, rsp);
    free(l);
}

void console_abandon_logins(struct cse *cse)
{
    for (struct console_login *l = cse->console_logins; l; l = l->next) l->abandoned = true;
}

static void session_info(struct cse *cse, const char *who, int64_t until, struct http_response *rsp)
{
    ts_buf ts;
    ts_format(until, ts);
    answer_json(rsp, 200, json_pack("{s:s,s:s,s:b,s:s,s:s}", "originator", who, "expires", ts, "admin",
                                    is_admin(cse, who), "csi", cse->csi, "rn", cse->cfg.cse_name));
}

/* One query parameter of the target, percent-decoded ("" when absent). */
static void query_param(const char *target, const char *key, char *out, size_t cap)
{
    out[0] = 0;
    const char *q = strchr(target, '?');
    size_t kl = strlen(key);
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        size_t n = strcspn(p, "&");
        if (n > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            if (m2m_percent_decode(p + kl + 1, n - kl - 1, out, cap) < 0) out[0] = 0;
            return;
        }
        p += n + (p[n] == '&');
    }
}

static void audit_view(struct cse *cse, const struct http_request *h, struct http_response *rsp)
{
    char originator[256], target[512], decision[32], limit[16], path[320];
    query_param(h->target, "originator", originator, sizeof originator);
    query_param(h->target, "target", target, sizeof target);
    query_param(h->target, "decision", decision, sizeof decision);
    query_param(h->target, "limit", limit, sizeof limit);
    int n = atoi(limit);
    if (n <= 0 || n > AUDIT_VIEW_MAX) n = 100;
    snprintf(path, sizeof path, "%s/audit.log", cse->cfg.data_dir);
    struct audit_filter f = { originator, target, decision };
    answer_json(rsp, 200, json_pack("{s:o}", "entries", audit_query(path, &f, n, AUDIT_VIEW_BYTES)));
}

/* Identities and patterns only: the key fields are never read out. */
static int list_psk(void *arg, const struct cred_psk *psk)
{
    json_array_append_new(arg, json_pack("{s:s,s:s}", "identity", psk->identity, "originators", psk->originators));
    return 0;
}

static int list_ca(void *arg, const char *name, const char *pem)
{
    (void)pem;
    json_array_append_new(arg, json_pack("{s:s}", "name", name));
    return 0;
}

static int list_lease(void *arg, const struct cred_psk *psk, int64_t until_us)
{
    ts_buf ts;
    ts_format(until_us, ts);
    json_array_append_new(arg, json_pack("{s:s,s:s,s:s}", "identity", psk->identity, "originators",
                                         psk->originators, "until", ts));
    return 0;
}

static void credentials_view(struct cse *cse, struct http_response *rsp)
{
    json_t *psk = json_array(), *ca = json_array(), *leases = json_array();
    if (cse->creds) {
        cred_each_psk(cse->creds, list_psk, psk);
        cred_each_ca(cse->creds, list_ca, ca);
        cred_each_lease(cse->creds, list_lease, leases);
    }
    answer_json(rsp, 200, json_pack("{s:o,s:o,s:o}", "psk", psk, "ca", ca, "enrolled", leases));
}

static void api(struct cse *cse, const struct http_request *h, const char *what, struct http_response *rsp)
{
    bool post = !strcmp(h->method, "POST"), get = !strcmp(h->method, "GET");
    bool audit = get && !strcmp(what, "audit"), creds = get && !strcmp(what, "credentials");
    unsigned serial;
    int64_t until;
    const char *who = NULL;
    if (post && !strcmp(what, "login")) login(cse, h, rsp);
    else if (!(who = session_of(cse, h, &serial, &until)))
        answer_error(rsp, 401, "log in first: the console session is missing, unknown or has ended");
    else if (post && !strcmp(what, "logout")) {
        console_session_close(cse->console, http_header(h, CONSOLE_SESSION_HEADER));
        answer_json(rsp, 200, json_pack("{s:b}", "ended", 1));
    } else if (get && !strcmp(what, "session")) session_info(cse, who, until, rsp);
    else if ((audit || creds) && !is_admin(cse, who))
        answer_error(rsp, 403, "the audit log and the credentials are shown to the admin only");
    else if (audit) audit_view(cse, h, rsp);
    else if (creds) credentials_view(cse, rsp);
    else answer_error(rsp, 404, "no such console endpoint");
}

static void asset(const char *path, struct http_response *rsp)
{
    if (!*path) path = "index.html";
    for (size_t i = 0; i < console_nassets; i++) {
        const struct console_asset *a = &console_assets[i];
        if (strcmp(a->path, path)) continue;
        char *body = malloc(a->len ? a->len : 1);
        if (body) memcpy(body, a->data, a->len);
        http_add_header(rsp, "Cache-Control", "no-cache");
        set_body(rsp, body ? 200 : 503, a->content_type, body, a->len);
        return;
    }
    answer_error(rsp, 404, "no such console page");
}

/* Every console answer: no framing, no sniffing, no referrer, only its own
 * scripts and styles (no inline ones), talking to its own origin only. */
static void page_headers(struct http_response *rsp)
{
    http_add_header(rsp, "Content-Security-Policy",
                    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    http_add_header(rsp, "X-Frame-Options", "DENY");
    http_add_header(rsp, "X-Content-Type-Options", "nosniff");
    http_add_header(rsp, "Referrer-Policy", "no-referrer");
}

bool console_http(struct cse *cse, const struct http_request *h, struct http_response *rsp)
{
    if (origin_rules(cse, h, rsp)) return true;
    const char *t = h->target;
    size_t plen = strcspn(t, "?");
    if (strncmp(t, "/console", 8) || (plen > 8 && t[8] != '/')) return false;
    if (!cse->cfg.console || !cse->console) {
        answer_error(rsp, 404, "the web console is off (console = true turns it on)");
        return true;
    }
    page_headers(rsp);
    if (!h->secure) {
        answer_error(rsp, 403, "the web console is served over HTTPS only (https-port)");
        return true;
    }
    if (plen == 8) {   /* "/console": relative links need the slash */
        http_add_header(rsp, "Location", "/console/");
        set_body(rsp, 308, NULL, NULL, 0);
        return true;
    }
    char path[128];
    if (plen - 9 >= sizeof path) {
        answer_error(rsp, 404, "no such console page");
        return true;
    }
    memcpy(path, t + 9, plen - 9);
    path[plen - 9] = 0;
    if (!strncmp(path, "api/", 4)) api(cse, h, path + 4, rsp);
    else if (!strcmp(h->method, "GET")) asset(path, rsp);
    else answer_error(rsp, 405, "the console's pages are read with GET");
    return true;
}
