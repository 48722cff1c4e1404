/* HTTPS transport with OpenSSL's libssl: TLS 1.3 and 1.2, ECDSA
 * certificates, PSK (TLS 1.3 external PSK, TLS 1.2 ECDHE-PSK and PSK) from
 * the credential store, SNI, optional client certificates verified against
 * the trusted CAs, and session resumption (tickets, TLS 1.2 session cache)
 * that keeps the first handshake's credential. It plugs into the HTTP
 * server as a struct http_transport. */
#ifndef IRONBARK_TLS_H
#define IRONBARK_TLS_H

#include "../cse/core/config.h"
#include "../cse/wire/http.h"

struct credentials;
struct tls_server;

/* Loads the server certificate (generating a CA and certificate under
 * <data-dir>/tls when none is configured), the trusted CAs and the PSK
 * lookup. NULL with a logged reason on failure. */
struct tls_server *tls_server_create(const struct config *cfg, struct credentials *creds);
void tls_server_free(struct tls_server *ts);

/* The transport to put in http_options, with ts as its transport_data. */
const struct http_transport *tls_http_transport(void);

#endif
