/* The shapes of the dynamic-authorization identifiers and tokens (TS-0004
 * Table 6.3.3-1, 6.3.5.43): what a binding or a resource type checks before
 * anything is looked up or verified. Pure functions on text, no state.
 * Whether a token is genuine is security/token.h's business, not this. */
#ifndef IRONBARK_TOKEN_SYNTAX_H
#define IRONBARK_TOKEN_SYNTAX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Bounds on what a request may carry, so a huge Authorization header or
 * query costs a 4000, never a large allocation further on. */
#define TOKENS_MAX_BYTES 16384      /* tkns as a whole */
#define TOKENS_MAX_COUNT 8          /* items in tkns, tids, ltids */
#define TOKEN_ID_MAX_LEN 255
#define LOCAL_TOKEN_ID_MAX_LEN 64

/* A Token-ID or Role-ID: "issuerRelativeID@issuerFQDN", the relative part
 * made of letters, digits, '.', '_', '-'; the FQDN lowercase labels of
 * letters, digits and '-', dot-separated. */
bool token_id_valid(const char *s);
/* A Local-Token-ID: an xs:NCName (ASCII subset: a letter or '_', then
 * letters, digits, '.', '-', '_'), at most LOCAL_TOKEN_ID_MAX_LEN. */
bool local_token_id_valid(const char *s);
/* m2m:dynAuthJWT: a compact JWS "a.b.c" (a and c non-empty) or JWE
 * "a.b.c.d.e" (a and d non-empty), every part base64url without padding. */
bool compact_jwt_valid(const char *s);

/* One token as a request may carry it before verification: non-empty,
 * base64url characters and '.' only. Looser than compact_jwt_valid() on
 * purpose: a truncated or otherwise broken token is the verifier's to
 * refuse (4103, audited), not the binding's. */
bool token_text_valid(const char *s);

/* A '+'-joined list (spaces around a '+' tolerated, as TS-0009's examples
 * show them) whose items all pass ok(); 1..TOKENS_MAX_COUNT items. When
 * out is not NULL it receives the items joined by a bare '+' (cap bytes
 * at least strlen(list) + 1). */
bool token_list_valid(const char *list, bool (*ok)(const char *item), char *out, size_t cap);

/* Assigned Token Identifiers (ati, TS-0004 6.3.5.43; TS-0009 6.4.18,
 * TS-0008 option 327): the wire text "lti:tkid+lti:tkid" <-> the JSON
 * {"ltia": [{"lti": ..., "tkid": ...}]}. Parsing tolerates spaces around
 * '+' and returns NULL for text that is not such a list; formatting
 * returns NULL (malloc()ed otherwise) for JSON that is not one. */
json_t *ati_parse(const char *text);
char *ati_format(const json_t *ati);

#endif
