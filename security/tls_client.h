/* The TLS client of outbound https:// requests (OpenSSL's libssl, in the
 * transport module): verifies the server's chain against the CSE's own CA
 * (<data-dir>/tls/ca.pem when it generated one), the trusted-ca files and
 * the credential store's CAs, and its name against the target's host. */
#ifndef IRONBARK_TLS_CLIENT_H
#define IRONBARK_TLS_CLIENT_H

struct config;
struct credentials;
struct http_client_io;
struct tls_client;

struct tls_client *tls_client_create(const struct config *cfg, struct credentials *creds);
void tls_client_free(struct tls_client *tc);
/* The I/O layer to install in the HTTP client (http_client_set_tls) with
 * the tls_client as its data. */
const struct http_client_io *tls_client_io(void);

#endif
