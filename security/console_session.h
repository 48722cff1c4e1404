/* Web console sessions (docs/console.md): a login code minted on the CSE
 * host is exchanged once for a session token, which the console's page
 * keeps in memory and sends as X-Ironbark-Session. Sessions live in memory
 * only (a restart logs everyone out) and end console-session-ttl after
 * login. The token is the secret; the serial names a session in
 * Credential-IDs and logs without revealing it. */
#ifndef IRONBARK_CONSOLE_SESSION_H
#define IRONBARK_CONSOLE_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#define CONSOLE_TOKEN_LEN 64        /* hex characters of 32 random bytes */
#define CONSOLE_SESSIONS 32         /* at once; the oldest ends for a new one */
#define CONSOLE_CRED_PREFIX "console-"  /* Credential-ID: prefix + serial */

struct console_sessions;

struct console_sessions *console_sessions_create(int64_t ttl_us);
void console_sessions_free(struct console_sessions *s);

/* A new session for originator: 0 with its token and serial, -1 when no
 * randomness could be had. */
int console_session_open(struct console_sessions *s, const char *originator, int64_t now_us,
                         char token[CONSOLE_TOKEN_LEN + 1], unsigned *serial, int64_t *until_us);
/* The originator of a live session by its token (serial and end filled
 * in), or NULL. */
const char *console_session_find(struct console_sessions *s, const char *token, int64_t now_us,
                                 unsigned *serial, int64_t *until_us);
/* The originator of a live session by its serial, or NULL. */
const char *console_session_originator(struct console_sessions *s, unsigned serial, int64_t now_us);
/* Ends the session of token: true when there was one. */
bool console_session_close(struct console_sessions *s, const char *token);

#endif
