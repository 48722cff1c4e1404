/* The web console and the browser rules of the HTTP binding
 * (docs/console.md). console_http() sees every HTTP(S) request first: it
 * answers CORS preflights, refuses requests from origins that may not call
 * the API (a page elsewhere must not act as the admin), and serves
 * /console/: the embedded page over HTTPS only, its login exchange and its
 * admin-only views (audit log, credentials). console_bind() turns a console
 * session on a oneM2M request into its originator. */
#ifndef IRONBARK_CONSOLE_H
#define IRONBARK_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

struct cse;
struct http_request;
struct http_response;
struct m2m_request;
struct m2m_response;

/* The page's assets, embedded at build time (scripts/embed-assets.py). */
struct console_asset { const char *path, *content_type; const unsigned char *data; size_t len; };
extern const struct console_asset console_assets[];
extern const size_t console_nassets;

#define CONSOLE_SESSION_HEADER "X-Ironbark-Session"

/* True when it answered the request into rsp. */
bool console_http(struct cse *cse, const struct http_request *h, struct http_response *rsp);

/* The Origin of a cross-origin request the CSE serves (cors-origins), to
 * be named in Access-Control-Allow-Origin; NULL for any other request. */
const char *console_cors_origin(const struct cse *cse, const struct http_request *h);
/* The headers that let the page of an allowed origin read the answer. */
void console_cors_headers(const char *origin, struct http_response *rsp);

/* A request carrying a console session speaks as its originator: 0, or an
 * RSC set in rsp (4106 unknown or expired session or another originator
 * claimed, 4107 a session over plain HTTP). */
int console_bind(struct cse *cse, const struct http_request *h, struct m2m_request *req,
                 struct m2m_response *rsp);

/* The bindings stop: logins whose code check still waits for the
 * credential store (a fiber, with a shared store) answer nobody. */
void console_abandon_logins(struct cse *cse);

#endif
