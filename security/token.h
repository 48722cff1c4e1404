/* Tokens of dynamic authorization (TS-0003 7.3.2.4-7.3.2.6, TS-0004
 * 6.3.5.42): the oneM2M claim set (m2m:tokenClaimSet) mapped to JWT claims
 * (tkid<->jti, tkhd<->azp, tkis<->iss, tknb<->nbf, tkna<->exp, tkau<->aud,
 * version<->tkvr; tknm, tkps, tkex by their own names), signed as a compact
 * JWS with cjose and verified against a per-issuer trust list. Pure
 * functions on plain structs: no I/O but token_trust_load(), no clock (the
 * caller passes now). docs/dynamic-authorization.md. */
#ifndef IRONBARK_TOKEN_H
#define IRONBARK_TOKEN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest token accepted (compact serialisation, bytes). */
#define TOKEN_MAX_BYTES 8192

struct token_claims {
    char *version;          /* tkvr (TS-0003) or vr (TS-0004, KETI) on input; "1" by default */
    char *id;               /* jti / tkid, "<relative>@<issuer fqdn>" */
    char *holder;           /* azp / tkhd: the originator it was issued to */
    char *issuer;           /* iss / tkis */
    int64_t not_before;     /* nbf, seconds since the epoch */
    int64_t not_after;      /* exp */
    char *name;             /* tknm; NULL when absent */
    json_t *audience;       /* aud: array of CSE-IDs; NULL when absent */
    json_t *permissions;    /* tkps: {"pm": [{"ris": [...], "pv": {"acr": [...]}, "rids": [...]}]}; NULL when absent */
    char *extension;        /* tkex; NULL when absent */
};
void token_claims_free(struct token_claims *c);

/* Issuers this CSE accepts, each with the keys (JWK) its tokens must be
 * signed with; a key's algorithm is fixed by its type (EC P-256: ES256,
 * RSA: RS256, oct: HS256). alg "none" and every other algorithm are refused. */
struct token_trust;
struct token_trust *token_trust_new(void);
void token_trust_free(struct token_trust *t);
/* Adds one key for issuer (jwk: JSON text of a public JWK, or oct). -1 with err set when unusable. */
int token_trust_add(struct token_trust *t, const char *issuer, const char *jwk_json, char *err, size_t cap);
/* Adds the issuers of a trust file: {"issuers": [{"iss": "...", "jwk": {...} or [{...}, ...]}, ...]}
 * (an issuer may appear more than once). All or nothing: -1 with err naming the
 * entry adds no key. A file holding an oct or private key must be mode 0600. */
int token_trust_load(struct token_trust *t, const char *path, char *err, size_t cap);
/* The keys held (an issuer may have several). */
size_t token_trust_count(const struct token_trust *t);

enum token_verdict {
    TOKEN_OK,
    TOKEN_MALFORMED,        /* not a compact JWS, bad base64url/JSON, claims missing */
    TOKEN_TOO_LARGE,        /* above TOKEN_MAX_BYTES */
    TOKEN_ALG_REFUSED,      /* none, unknown, or not the issuer's key's algorithm; JWE not accepted */
    TOKEN_UNTRUSTED_ISSUER,
    TOKEN_BAD_SIGNATURE,
    TOKEN_NOT_YET_VALID,
    TOKEN_EXPIRED,
    TOKEN_WRONG_AUDIENCE,   /* aud present and without csi */
    TOKEN_WRONG_HOLDER,     /* azp != holder */
};
const char *token_verdict_text(enum token_verdict v);

/* Verifies jwt for an originator: signature by a key of its (trusted)
 * issuer, now_s within [nbf, exp], csi in aud when aud is present
 * (csi NULL: not checked), holder equal to azp (NULL: not checked). On
 * TOKEN_OK out holds the claims (free with token_claims_free); otherwise out is empty.
 * out may be NULL when only the verdict is wanted. */
enum token_verdict token_verify(const struct token_trust *t, const char *jwt, const char *holder,
                                const char *csi, int64_t now_s, struct token_claims *out);

/* The claims of jwt without any check (for tools and logs of refused
 * tokens): 0, or -1 when it is not a compact JWS with a JSON payload. */
int token_peek(const char *jwt, struct token_claims *out);

/* Signs c as a compact JWS ("typ":"JWT", no "cty") with a private JWK
 * (EC P-256: ES256, RSA: RS256, oct: HS256). Returns the malloc'd token,
 * or NULL with err set. */
char *token_sign(const struct token_claims *c, const char *private_jwk_json, char *err, size_t cap);

/* A fresh key pair for an issuer: EC P-256, as private JWK JSON (malloc'd);
 * token_public_jwk() gives the public half. NULL on failure. */
char *token_new_key(void);
char *token_public_jwk(const char *private_jwk_json);

#endif
