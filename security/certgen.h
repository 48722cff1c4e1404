/* First-start certificates: an ECDSA P-256 CA and a server certificate
 * signed by it, written as PEM under a directory (wolfCrypt only). */
#ifndef IRONBARK_CERTGEN_H
#define IRONBARK_CERTGEN_H

#include <stdbool.h>
#include <stddef.h>

struct config;

struct certgen_paths {
    char ca_cert[512], ca_key[512];
    char server_cert[512], server_key[512];  /* server_cert holds the chain */
};

/* Makes sure dir holds ca.pem, ca.key, server.pem and server.key, creating
 * what is missing (an existing CA is reused). The server certificate names
 * server_name, 127.0.0.1, ::1 and extra_names (DNS names and IP addresses,
 * comma-separated; NULL = none); it is made again when those names changed
 * (recorded in dir/server.names). *created tells whether anything was
 * written. Returns 0 or -1 with a logged reason. */
int certgen_ensure(const char *dir, const char *server_name, const char *extra_names,
                   struct certgen_paths *out, bool *created);

/* The server identity for TLS and DTLS: tls-cert/tls-key when configured
 * (ca_cert then empty), else the generated set under <data-dir>/tls, made
 * on first use (and logged). Returns 0 or -1. */
int certgen_server_identity(const struct config *cfg, struct certgen_paths *out);

#endif
