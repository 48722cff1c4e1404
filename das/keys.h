/* The m2m-das's signing key: made at the first start (EC P-256, a private
 * JWK in <data dir>/das-signing-key.jwk, mode 0600, never logged), read at
 * every later start; and <data dir>/issuers.json, the trust file a CSE's
 * token-trust-file names: {"issuers":[{"iss": issuer, "jwk": {public}}]}. */
#ifndef IRONBARK_DAS_KEYS_H
#define IRONBARK_DAS_KEYS_H

#include <stddef.h>

#define DAS_KEY_FILE "das-signing-key.jwk"
#define DAS_ISSUERS_FILE "issuers.json"

/* Returns the private JWK (malloc'd JSON text) or NULL with err set. */
char *das_key_open(const char *data_dir, const char *issuer, char *err, size_t cap);

#endif
