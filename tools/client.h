/* The client side of a oneM2M primitive, for the m2m tool (and tests):
 * one request out, one response back, over the transport the URL's scheme
 * names. Transports live in their own files (client_http.c, …) and register
 * in the table in client.c, so HTTPS and CoAP(S) slot in without touching
 * the callers. Blocking I/O: this is a command-line client. */
#ifndef IRONBARK_CLIENT_H
#define IRONBARK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

/* oneM2M operations (m2m:operation). */
enum client_op { CLIENT_CREATE = 1, CLIENT_RETRIEVE, CLIENT_UPDATE, CLIENT_DELETE, CLIENT_NOTIFY };

struct client_opts {
    const char *url;           /* "http://127.0.0.1:8080" (scheme selects the transport) */
    const char *from;          /* X-M2M-Origin; NULL = none */
    const char *rvi;           /* release version, "3" when NULL */
    int timeout_ms;            /* per request; 0 = 10 s */
    /* For secured transports (filled by their options; unused by plain HTTP). */
    const char *ca_file, *cert_file, *key_file, *psk_identity;
    const char *psk_key;       /* hex; never from argv (m2m.c) */
    int handshake_timeout_ms;  /* (D)TLS handshake bound; 0 = CLIENT_HANDSHAKE_MS, capped by timeout_ms */
    bool verbose;              /* print the exchange on stderr (tokens left out) */
    /* Dynamic authorization (TS-0004 6.4.1), sent with every request: tkns
     * ('+'-joined JWTs; HTTP Authorization header, CoAP Uri-Query), tids,
     * ltids, rids ('+'-joined), tqi. NULL/false = absent. */
    const char *tokens, *tids, *ltids, *rids;
    bool tqi;
    /* The MEF handshake (m2m enrol, HTTPS): after the TLS handshake, 48
     * bytes of RFC 5705 keying material with this label go to on_export,
     * before the request is built (so it may still fill the body). */
    const char *export_label;
    void (*on_export)(void *data, const unsigned char *km, size_t n);
    void *export_data;
};

struct client_request {
    enum client_op op;
    const char *to;            /* "cse-in/ae1" (CSE-relative), "/id-in/x", "//sp/id-in/x" */
    int ty;                    /* CREATE: resource type */
    const char *body;          /* JSON text or NULL */
    const char *query;         /* "rcn=4&fu=1" (already encoded) or NULL */
    const char *rqi;           /* NULL = generated */
    /* Not NULL: a plain HTTP(S) POST of body with this Content-Type to the
     * path `to` (EST), with no oneM2M headers. */
    const char *content_type;
};

struct client_response {
    int status;                /* transport status (HTTP 200, CoAP 69, …) */
    int rsc;                   /* oneM2M response status code, 0 when absent */
    char *body;                /* NUL-terminated, may be empty */
    size_t body_len;
    char *location;            /* Content-Location, or NULL */
    char *ati;                 /* assigned token IDs "lti:tkid+…" (X-M2M-ATI, CoAP option 327), or NULL */
};

/* A parsed base URL. */
struct client_url {
    char scheme[16];
    char host[256];
    int port;
    char prefix[256];          /* path before the oneM2M target, without trailing '/' */
};

/* One transport: sends rq to url and fills rsp. Returns 0 or -1 with err. */
typedef int client_send_fn(const struct client_opts *o, const struct client_url *url,
                           const struct client_request *rq, struct client_response *rsp,
                           char *err, size_t errlen);

/* Sends one request. Returns 0 when a response arrived (whatever its RSC),
 * -1 with a message in err when none did. */
int client_request(const struct client_opts *o, const struct client_request *rq,
                   struct client_response *rsp, char *err, size_t errlen);
void client_response_clear(struct client_response *rsp);

int client_parse_url(const char *url, struct client_url *out, char *err, size_t errlen);

/* The default handshake bound. A DTLS server drops a Finished it cannot
 * decrypt (a wrong PSK) without an alert (RFC 6347 4.1.2.7), so a refused key
 * shows only as a handshake that never completes. */
#define CLIENT_HANDSHAKE_MS 3000
int client_request_timeout(const struct client_opts *o);
int client_handshake_timeout(const struct client_opts *o);
/* The request primitive fields the options carry (fr, rvi, tokens, tids,
 * ltids, rids, tqi) copied into prim (pointers into o, not owned). */
struct m2m_request;
void client_fill_primitive(const struct client_opts *o, struct m2m_request *prim);

/* Transports (one file each). */
client_send_fn client_http_send;
client_send_fn client_https_send;   /* client_tls.c */
client_send_fn client_coap_send;    /* client_coap.c: coap and coaps */
/* One option of a CoAP answer into rsp (RSC, ATI) or location (Location-Path
 * segments joined by '/'); others are ignored. */
void client_coap_option(struct client_response *rsp, char *location, size_t cap, unsigned number,
                        const unsigned char *v, size_t len);

#endif
