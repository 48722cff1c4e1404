/* CoAPS: DTLS 1.2 on a libcoap context (OpenSSL backend). PSK identities are
 * KpsaIDs looked up in the credential store; certificates are the same
 * server identity as HTTPS, and client certificates are verified against
 * the trusted CAs. Each DTLS session yields a Credential-ID like TLS does. */
#ifndef IRONBARK_DTLS_H
#define IRONBARK_DTLS_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct credentials;
struct coap_context_t;
struct coap_session_t;
struct dtls;
struct throttle;
struct metrics;

/* Sets up PSK and PKI on ctx; NULL with a logged reason on failure. The
 * result must outlive the context. Each ClientHello that passed the cookie
 * exchange asks throttle (may be NULL) for a handshake of its address.
 * Failed handshakes are counted in metrics (may be NULL) through
 * dtls_session_event(). */
struct dtls *dtls_setup(struct coap_context_t *ctx, const struct config *cfg,
                        struct credentials *creds, struct throttle *throttle, struct metrics *metrics);
void dtls_free(struct dtls *d);

/* The context's libcoap events go here (coap_register_event_handler): a
 * server session that closes before its handshake finished (refused by us,
 * a wrong PSK, a client that gave up) counts as a failed handshake. */
void dtls_session_event(struct dtls *d, struct coap_session_t *session, int event);

/* Ends every server handshake that has not finished within
 * coaps-handshake-timeout (logged, counted as failed); called often (the
 * CoAP server's timer). A wrong PSK is otherwise seen only when libcoap's
 * retransmissions run out, about 31 s, and the session held until then. */
void dtls_end_slow_handshakes(struct dtls *d);

/* Lets go of the sessions dtls_end_slow_handshakes() watches: before the
 * libcoap context is freed. */
void dtls_forget_handshakes(struct dtls *d);

/* The Credential-ID a DTLS session authenticated ("12-<KpsaID>" or
 * "33-<AE-ID from the certificate's URI SAN>"); false when there is none. */
bool dtls_session_credential(struct coap_session_t *session, char *out, size_t cap);

#endif
