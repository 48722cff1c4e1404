/* The transports that need TLS/DTLS or libcoap (HTTPS over wolfSSL, CoAP and
 * CoAPS on libcoap/OpenSSL, coap:// notification delivery) live in a shared
 * module, ironbark-transports.so, so that an HTTP-only CSE never maps those
 * libraries (docs/architecture.md, "Transport module"). The engine reaches
 * the module only through struct transport_module; the module reaches the
 * engine through the symbols m2m-cse exports (-rdynamic). */
#ifndef IRONBARK_TRANSPORT_H
#define IRONBARK_TRANSPORT_H

#include <stdbool.h>

struct config;
struct credentials;
struct coap_options;
struct coap_server;
struct cse;
struct http_transport;
struct http_client_io;
struct tls_client;
struct loop;
struct tls_server;

#define TRANSPORT_MODULE_ABI 4   /* 4: http_client_io.attach gained hostport */
#define TRANSPORT_MODULE_SYMBOL "ironbark_transport_module"
#define TRANSPORT_MODULE_FILE "ironbark-transports.so"

struct transport_module {
    int abi;  /* TRANSPORT_MODULE_ABI of the build that made the module */
    /* HTTPS (security/tls.c) */
    struct tls_server *(*tls_server_create)(const struct config *cfg, struct credentials *creds);
    void (*tls_server_free)(struct tls_server *ts);
    const struct http_transport *(*tls_http_transport)(void);
    /* https:// requests out (security/tls_client.c) */
    struct tls_client *(*tls_client_create)(const struct config *cfg, struct credentials *creds);
    void (*tls_client_free)(struct tls_client *tc);
    const struct http_client_io *(*tls_client_io)(void);
    /* CoAP and CoAPS server (cse/coap.c, security/dtls.c) */
    struct coap_server *(*coap_server_start)(struct loop *loop, struct cse *cse,
                                             const struct coap_options *opt);
    void (*coap_server_stop)(struct coap_server *srv);
    /* coap:// and coaps:// delivery (cse/wire/coap_notify.c): install puts
     * its senders in cse's outbound table; shutdown frees cse's client. */
    void (*coap_notify_install)(struct cse *cse);
    void (*coap_notify_shutdown)(struct cse *cse);
};

/* Whether cfg configures a listener that needs the module. */
bool transport_needed(const struct config *cfg);
/* The module, loaded on first call (the transport-module setting, else
 * ironbark-transports.so beside the executable). NULL after logging an
 * error that names the file and the setting. */
const struct transport_module *transport_load(const struct config *cfg);
/* The module if it is already loaded, else NULL (never loads). */
const struct transport_module *transport_loaded(void);

#endif
