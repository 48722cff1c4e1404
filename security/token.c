/* Stub: the implementation follows (branch h-token). */
#include "token.h"

#include <stdio.h>
#include <stdlib.h>

void token_claims_free(struct token_claims *c) { (void)c; }
struct token_trust *token_trust_new(void) { return NULL; }
void token_trust_free(struct token_trust *t) { (void)t; }
int token_trust_add(struct token_trust *t, const char *issuer, const char *jwk_json, char *err, size_t cap)
{ snprintf(err, cap, "not implemented"); return -1; }
int token_trust_load(struct token_trust *t, const char *path, char *err, size_t cap)
{ snprintf(err, cap, "not implemented"); return -1; }
size_t token_trust_count(const struct token_trust *t) { return 0; }
const char *token_verdict_text(enum token_verdict v) { return "refused"; }
enum token_verdict token_verify(const struct token_trust *t, const char *jwt, const char *holder,
                                const char *csi, int64_t now_s, struct token_claims *out)
{ return TOKEN_MALFORMED; }
int token_peek(const char *jwt, struct token_claims *out) { return -1; }
char *token_sign(const struct token_claims *c, const char *private_jwk_json, char *err, size_t cap)
{ snprintf(err, cap, "not implemented"); return NULL; }
char *token_new_key(void) { return NULL; }
char *token_public_jwk(const char *private_jwk_json) { return NULL; }
