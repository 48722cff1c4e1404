/* Tokens of dynamic authorization on cjose (security/token.h).
 *
 * Verification never trusts cjose with a decision it can take itself: the
 * compact form, the base64url alphabet, the header's alg and the signature's
 * length are checked here before cjose is asked for the signature alone, so
 * "none", algorithm confusion (an RSA key's public half used as an HMAC
 * secret) and short signatures never reach it. docs/dynamic-authorization.md. */
#include "token.h"

#include <cjose/cjose.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum token_alg { ALG_UNKNOWN = 0, ALG_ES256, ALG_RS256, ALG_HS256 };
static const char *const alg_name[] = { [ALG_ES256] = "ES256", [ALG_RS256] = "RS256", [ALG_HS256] = "HS256" };

#define MIN_RSA_BITS 2048
#define MIN_HMAC_BITS 256   /* RFC 7518 3.2: at least the hash's size */
#define MAX_TRUST_FILE (1 << 20)
#define MAX_KEYS 1024       /* a trust list is configuration, not data */

struct trusted_key {
    char *issuer;
    cjose_jwk_t *jwk;
    enum token_alg alg;
};

struct token_trust {
    struct trusted_key *keys;
    size_t n, cap;
};

static void cjose_free(void *p) { if (p) cjose_get_dealloc()(p); }

static void set_err(char *err, size_t cap, const char *what, const cjose_err *cerr)
{
    if (!err || !cap) return;
    /* cjose's messages name the failing step, never key material. */
    if (cerr && cerr->code != CJOSE_ERR_NONE && cerr->message)
        snprintf(err, cap, "%s (%s)", what, cerr->message);
    else
        snprintf(err, cap, "%s", what);
}

/* ---- claims ---- */

void token_claims_free(struct token_claims *c)
{
    if (!c) return;
    free(c->version);
    free(c->id);
    free(c->holder);
    free(c->issuer);
    free(c->name);
    free(c->extension);
    json_decref(c->audience);
    json_decref(c->permissions);
    memset(c, 0, sizeof *c);
}

/* A string claim: absent -> NULL and 0; present and not a string -> -1. */
static int claim_string(json_t *o, const char *key, char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return -1;
    *out = strdup(json_string_value(v));
    return *out ? 0 : -1;
}

/* NumericDate (RFC 7519 2): an integer, or a finite number (truncated). */
static int claim_time(json_t *o, const char *key, int64_t *out, bool *present)
{
    json_t *v = json_object_get(o, key);
    *present = v != NULL;
    if (!v) return 0;
    if (json_is_integer(v)) { *out = json_integer_value(v); return 0; }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d > 9.2e18 || d < -9.2e18) return -1;
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

/* tkvr (TS-0003) or vr (TS-0004, KETI): a string, or an integer as text. */
static int claim_version(json_t *o, char **out)
{
    json_t *v = json_object_get(o, "tkvr");
    if (!v) v = json_object_get(o, "vr");
    char num[32];
    const char *text = "1";
    if (v && json_is_string(v)) text = json_string_value(v);
    else if (v && json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        text = num;
    } else if (v) return -1;
    *out = strdup(text);
    return *out ? 0 : -1;
}

/* aud: a string or an array of strings (RFC 7519 4.1.3); kept as an array. */
static int claim_audience(json_t *o, json_t **out)
{
    json_t *v = json_object_get(o, "aud");
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        *out = json_array();
        return *out && !json_array_append(*out, v) ? 0 : -1;
    }
    if (!json_is_array(v)) return -1;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (!json_is_string(e)) return -1;
    *out = json_incref(v);
    return 0;
}

/* tkps: the m2m:tokenPermissions object, or that object serialised as a string. */
static int claim_permissions(json_t *o, json_t **out)
{
    json_t *v = json_object_get(o, "tkps");
    if (!v || json_is_null(v)) return 0;
    if (json_is_object(v)) { *out = json_incref(v); return 0; }
    if (!json_is_string(v)) return -1;
    json_t *p = json_loads(json_string_value(v), JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(p)) { json_decref(p); return -1; }
    *out = p;
    return 0;
}

/* The claims of a JWT payload; -1 when a known claim has the wrong type. */
static int claims_from_json(json_t *o, struct token_claims *c, bool *has_nbf, bool *has_exp)
{
    memset(c, 0, sizeof *c);
    if (claim_version(o, &c->version) || claim_string(o, "jti", &c->id) ||
        claim_string(o, "azp", &c->holder) || claim_string(o, "iss", &c->issuer) ||
        claim_string(o, "tknm", &c->name) || claim_string(o, "tkex", &c->extension) ||
        claim_time(o, "nbf", &c->not_before, has_nbf) || claim_time(o, "exp", &c->not_after, has_exp) ||
        claim_audience(o, &c->audience) || claim_permissions(o, &c->permissions)) {
        token_claims_free(c);
        return -1;
    }
    return 0;
}

static int put_string(json_t *o, const char *key, const char *v)
{
    return v ? json_object_set_new(o, key, json_string(v)) : 0;
}

static json_t *claims_to_json(const struct token_claims *c, char *err, size_t cap)
{
    if (!c->id || !c->holder || !c->issuer) {
        set_err(err, cap, "a token needs an id (jti), a holder (azp) and an issuer (iss)", NULL);
        return NULL;
    }
    if (c->not_after < c->not_before) {
        set_err(err, cap, "a token's exp is before its nbf", NULL);
        return NULL;
    }
    if ((c->audience && !json_is_array(c->audience)) || (c->permissions && !json_is_object(c->permissions))) {
        set_err(err, cap, "aud must be an array and tkps an object", NULL);
        return NULL;
    }
    json_t *o = json_object();
    int bad = !o || put_string(o, "tkvr", c->version ? c->version : "1") || put_string(o, "jti", c->id) ||
              put_string(o, "iss", c->issuer) || put_string(o, "azp", c->holder) ||
              json_object_set_new(o, "nbf", json_integer(c->not_before)) ||
              json_object_set_new(o, "exp", json_integer(c->not_after)) ||
              (c->audience && json_object_set(o, "aud", c->audience)) || put_string(o, "tknm", c->name) ||
              (c->permissions && json_object_set(o, "tkps", c->permissions)) ||
              put_string(o, "tkex", c->extension);
    if (bad) {
        json_decref(o);
        set_err(err, cap, "out of memory", NULL);
        return NULL;
    }
    return o;
}

/* ---- keys ---- */

/* Imports a JWK and fixes its algorithm by its type; -1 with err when the
 * key is unusable (other curve, short RSA or HMAC key, private part missing
 * where need_private, an "alg" or "use" that says otherwise). */
static cjose_jwk_t *key_import(const char *jwk_json, bool need_private, enum token_alg *alg, char *err, size_t cap)
{
    json_error_t jerr;
    json_t *o = jwk_json ? json_loads(jwk_json, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        set_err(err, cap, "the key is not a JSON object (JWK)", NULL);
        return NULL;
    }
    const char *declared = json_string_value(json_object_get(o, "alg"));
    const char *use = json_string_value(json_object_get(o, "use"));
    bool has_d = json_object_get(o, "d") != NULL;
    if (use && strcmp(use, "sig")) {
        json_decref(o);
        set_err(err, cap, "the key's use is not sig", NULL);
        return NULL;
    }
    cjose_err cerr = { 0 };
    cjose_jwk_t *jwk = cjose_jwk_import(jwk_json, strlen(jwk_json), &cerr);
    if (!jwk) {
        json_decref(o);
        set_err(err, cap, "the key is not a usable JWK", &cerr);
        return NULL;
    }
    const char *why = NULL;
    size_t bits = cjose_jwk_get_keysize(jwk, &cerr);
    switch (cjose_jwk_get_kty(jwk, &cerr)) {
    case CJOSE_JWK_KTY_EC:
        *alg = ALG_ES256;
        if (cjose_jwk_EC_get_curve(jwk, &cerr) != CJOSE_JWK_EC_P_256) why = "an EC key must be on P-256 (ES256)";
        else if (need_private && !has_d) why = "the EC key has no private part (d)";
        break;
    case CJOSE_JWK_KTY_RSA:
        *alg = ALG_RS256;
        if (bits < MIN_RSA_BITS) why = "an RSA key must have at least 2048 bits";
        else if (need_private && !has_d) why = "the RSA key has no private part (d)";
        break;
    case CJOSE_JWK_KTY_OCT:
        *alg = ALG_HS256;
        if (bits < MIN_HMAC_BITS) why = "an oct (HMAC) key must have at least 256 bits";
        break;
    default:
        why = "the key type is not EC, RSA or oct";
    }
    if (!why && declared && strcmp(declared, alg_name[*alg])) why = "the key's alg is not the one its type implies";
    json_decref(o);  /* declared and use point into it */
    if (why) {
        cjose_jwk_release(jwk);
        set_err(err, cap, why, NULL);
        return NULL;
    }
    return jwk;
}

struct token_trust *token_trust_new(void) { return calloc(1, sizeof(struct token_trust)); }

void token_trust_free(struct token_trust *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->keys[i].issuer);
        cjose_jwk_release(t->keys[i].jwk);
    }
    free(t->keys);
    free(t);
}

int token_trust_add(struct token_trust *t, const char *issuer, const char *jwk_json, char *err, size_t cap)
{
    if (!t || !issuer || !issuer[0]) {
        set_err(err, cap, "an issuer needs a name (iss)", NULL);
        return -1;
    }
    if (t->n >= MAX_KEYS) {
        set_err(err, cap, "too many trusted keys", NULL);
        return -1;
    }
    enum token_alg alg;
    cjose_jwk_t *jwk = key_import(jwk_json, false, &alg, err, cap);
    if (!jwk) return -1;
    if (t->n == t->cap) {
        size_t cap2 = t->cap ? 2 * t->cap : 4;
        struct trusted_key *k = realloc(t->keys, cap2 * sizeof *k);
        if (!k) { cjose_jwk_release(jwk); set_err(err, cap, "out of memory", NULL); return -1; }
        t->keys = k;
        t->cap = cap2;
    }
    char *name = strdup(issuer);
    if (!name) { cjose_jwk_release(jwk); set_err(err, cap, "out of memory", NULL); return -1; }
    t->keys[t->n++] = (struct trusted_key){ name, jwk, alg };
    return 0;
}

static bool is_secret(json_t *jwk) { return json_object_get(jwk, "k") || json_object_get(jwk, "d"); }

/* An HMAC key, or a private key where the public half would do. */
static bool has_secret(json_t *issuers)
{
    size_t i, j;
    json_t *e, *k;
    json_array_foreach(issuers, i, e) {
        json_t *jwk = json_object_get(e, "jwk");
        if (json_is_object(jwk) && is_secret(jwk)) return true;
        json_array_foreach(jwk, j, k) if (is_secret(k)) return true;
    }
    return false;
}

/* One entry: {"iss": "...", "jwk": {...}} or "jwk": [{...}, ...]. */
static int add_entry(struct token_trust *t, json_t *e, size_t index, char *err, size_t cap)
{
    const char *iss = json_string_value(json_object_get(e, "iss"));
    json_t *jwk = json_object_get(e, "jwk");
    if (!iss || !(json_is_object(jwk) || (json_is_array(jwk) && json_array_size(jwk)))) {
        snprintf(err, cap, "issuer %zu: needs \"iss\" (string) and \"jwk\" (a JWK or a list of them)", index);
        return -1;
    }
    json_t *one = jwk;
    for (size_t j = 0; json_is_object(jwk) ? j < 1 : j < json_array_size(jwk); j++) {
        if (json_is_array(jwk)) one = json_array_get(jwk, j);
        char *text = json_is_object(one) ? json_dumps(one, JSON_COMPACT) : NULL;
        char why[160] = "the key is not a JSON object (JWK)";
        int rc = text ? token_trust_add(t, iss, text, why, sizeof why) : -1;
        if (text) {
            explicit_bzero(text, strlen(text));  /* may hold an HMAC secret */
            free(text);
        }
        if (rc) {
            snprintf(err, cap, "issuer %zu (%s), key %zu: %s", index, iss, j, why);
            return -1;
        }
    }
    return 0;
}

int token_trust_load(struct token_trust *t, const char *path, char *err, size_t cap)
{
    struct stat st;
    if (!t || !path || stat(path, &st)) {
        snprintf(err, cap, "%s: cannot be read", path ? path : "(no file)");
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > MAX_TRUST_FILE) {
        snprintf(err, cap, "%s: not a regular file of at most %d bytes", path, MAX_TRUST_FILE);
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    json_t *issuers = json_object_get(root, "issuers");
    if (!json_is_array(issuers)) {
        snprintf(err, cap, "%s: expected {\"issuers\": [{\"iss\": ..., \"jwk\": ...}, ...]}%s%s", path,
                 root ? "" : ": ", root ? "" : jerr.text);
        json_decref(root);
        return -1;
    }
    /* A shared HMAC secret (or a private key) is a key at rest: owner-only, like psk-file. */
    if (has_secret(issuers) && (st.st_mode & 077)) {
        snprintf(err, cap, "%s holds an HMAC (oct) or private key and is readable by others (chmod 600)", path);
        json_decref(root);
        return -1;
    }
    /* All or nothing: a file with one bad key adds none. */
    size_t before = t->n;
    size_t i;
    json_t *e;
    json_array_foreach(issuers, i, e) {
        char why[300];
        if (add_entry(t, e, i, why, sizeof why)) {
            snprintf(err, cap, "%s: %s", path, why);
            while (t->n > before) {
                t->n--;
                free(t->keys[t->n].issuer);
                cjose_jwk_release(t->keys[t->n].jwk);
            }
            json_decref(root);
            return -1;
        }
    }
    json_decref(root);
    return 0;
}

size_t token_trust_count(const struct token_trust *t) { return t ? t->n : 0; }

/* ---- verdicts ---- */

const char *token_verdict_text(enum token_verdict v)
{
    switch (v) {
    case TOKEN_OK: return "valid";
    case TOKEN_MALFORMED: return "not a well-formed signed JWT";
    case TOKEN_TOO_LARGE: return "token too large";
    case TOKEN_ALG_REFUSED: return "algorithm refused";
    case TOKEN_UNTRUSTED_ISSUER: return "issuer not trusted";
    case TOKEN_BAD_SIGNATURE: return "signature does not verify";
    case TOKEN_NOT_YET_VALID: return "not yet valid";
    case TOKEN_EXPIRED: return "expired";
    case TOKEN_WRONG_AUDIENCE: return "not issued for this CSE";
    case TOKEN_WRONG_HOLDER: return "issued to another originator";
    }
    return "refused";
}

/* ---- the compact form ---- */

struct jws_parts {
    const char *part[3];
    size_t len[3];
    size_t total;
};

static int b64url_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '-') return 62;
    if (ch == '_') return 63;
    return -1;
}

/* Canonical unpadded base64url: the alphabet only, and the bits the last
 * character carries beyond the last byte zero, so that one token has one
 * spelling (no second text of a valid signature). */
static bool is_b64url(const char *s, size_t n)
{
    if (n % 4 == 1) return false;  /* no whole byte ends there */
    for (size_t i = 0; i < n; i++)
        if (b64url_value(s[i]) < 0) return false;
    if (n % 4 == 2) return (b64url_value(s[n - 1]) & 0x0f) == 0;
    if (n % 4 == 3) return (b64url_value(s[n - 1]) & 0x03) == 0;
    return true;
}

/* Splits a compact JWS: header.payload.signature, each base64url (no padding). */
static enum token_verdict split(const char *jwt, struct jws_parts *p)
{
    if (!jwt) return TOKEN_MALFORMED;
    p->total = strnlen(jwt, TOKEN_MAX_BYTES + 1);
    if (p->total > TOKEN_MAX_BYTES) return TOKEN_TOO_LARGE;
    size_t dots = 0, start = 0;
    for (size_t i = 0; i <= p->total; i++) {
        if (i < p->total && jwt[i] != '.') continue;
        if (dots < 3) {
            p->part[dots] = jwt + start;
            p->len[dots] = i - start;
        }
        if (i < p->total) dots++;
        start = i + 1;
    }
    if (dots == 4) return TOKEN_ALG_REFUSED;  /* a JWE: encrypted tokens are not accepted */
    if (dots != 2 || !p->len[0] || !p->len[1]) return TOKEN_MALFORMED;
    for (int i = 0; i < 3; i++)
        if (!is_b64url(p->part[i], p->len[i])) return TOKEN_MALFORMED;
    return TOKEN_OK;
}

static json_t *decode_object(const char *s, size_t n)
{
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    cjose_err cerr = { 0 };
    if (!cjose_base64url_decode(s, n, &raw, &rawlen, &cerr)) return NULL;
    json_t *o = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
    cjose_free(raw);
    if (!json_is_object(o)) { json_decref(o); return NULL; }
    return o;
}

/* Decoded length of an unpadded base64url text of n characters. */
static size_t b64_bytes(size_t n) { return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0); }

int token_peek(const char *jwt, struct token_claims *out)
{
    memset(out, 0, sizeof *out);
    struct jws_parts p;
    if (split(jwt, &p) != TOKEN_OK) return -1;
    json_t *hdr = decode_object(p.part[0], p.len[0]);
    json_t *payload = hdr ? decode_object(p.part[1], p.len[1]) : NULL;
    bool has_nbf, has_exp;
    int rc = payload && !claims_from_json(payload, out, &has_nbf, &has_exp) ? 0 : -1;
    json_decref(hdr);
    json_decref(payload);
    return rc;
}

/* ---- verification ---- */

static enum token_alg alg_of(json_t *hdr)
{
    const char *a = json_string_value(json_object_get(hdr, "alg"));
    for (int i = ALG_ES256; a && i <= ALG_HS256; i++)
        if (!strcmp(a, alg_name[i])) return (enum token_alg)i;
    return ALG_UNKNOWN;
}

/* The signature's length the algorithm and key imply (bytes). */
static size_t signature_bytes(const struct trusted_key *k)
{
    cjose_err cerr = { 0 };
    switch (k->alg) {
    case ALG_ES256: return 64;  /* r || s, 32 bytes each (RFC 7518 3.4) */
    case ALG_HS256: return 32;
    case ALG_RS256: return (cjose_jwk_get_keysize(k->jwk, &cerr) + 7) / 8;
    default: return 0;
    }
}

/* Whether one key verifies the token; a fresh import per key, as cjose keeps
 * per-verification state in the JWS. */
static bool verified_by(const char *jwt, const struct jws_parts *p, const struct trusted_key *k)
{
    if (b64_bytes(p->len[2]) != signature_bytes(k)) return false;
    cjose_err cerr = { 0 };
    cjose_jws_t *jws = cjose_jws_import(jwt, p->total, &cerr);
    if (!jws) return false;
    bool ok = cjose_jws_verify(jws, k->jwk, &cerr);
    cjose_jws_release(jws);
    return ok;
}

/* aud names this CSE: the CSE-ID itself, or "https:" + the CSE-ID (the form
 * IoTKETI's DAS writes; docs/decisions.md). No wildcards. */
static bool audience_has(json_t *aud, const char *csi)
{
    size_t i;
    json_t *e;
    json_array_foreach(aud, i, e) {
        const char *v = json_string_value(e);
        if (!strcmp(v, csi)) return true;
        if (!strncmp(v, "https:", 6) && !strcmp(v + 6, csi)) return true;
    }
    return false;
}

static enum token_verdict check_signed(const struct token_trust *t, const char *jwt, const struct jws_parts *p,
                                       enum token_alg alg, const char *iss)
{
    bool issuer_known = false, alg_allowed = false;
    for (size_t i = 0; t && i < t->n; i++) {
        const struct trusted_key *k = &t->keys[i];
        if (strcmp(k->issuer, iss)) continue;
        issuer_known = true;
        if (k->alg != alg) continue;
        alg_allowed = true;
        if (verified_by(jwt, p, k)) return TOKEN_OK;
    }
    if (!issuer_known) return TOKEN_UNTRUSTED_ISSUER;
    return alg_allowed ? TOKEN_BAD_SIGNATURE : TOKEN_ALG_REFUSED;
}

enum token_verdict token_verify(const struct token_trust *t, const char *jwt, const char *holder,
                                const char *csi, int64_t now_s, struct token_claims *out)
{
    struct token_claims unused;
    if (!out) out = &unused;  /* the verdict alone */
    memset(out, 0, sizeof *out);
    struct jws_parts p;
    enum token_verdict v = split(jwt, &p);
    if (v != TOKEN_OK) return v;
    json_t *hdr = decode_object(p.part[0], p.len[0]);
    if (!hdr) return TOKEN_MALFORMED;
    enum token_alg alg = alg_of(hdr);
    /* crit names extensions we would have to understand (RFC 7515 4.1.11): none are. */
    bool crit = json_object_get(hdr, "crit") != NULL;
    json_decref(hdr);
    if (alg == ALG_UNKNOWN) return TOKEN_ALG_REFUSED;
    if (crit || !p.len[2]) return TOKEN_MALFORMED;

    json_t *payload = decode_object(p.part[1], p.len[1]);
    struct token_claims c;
    bool has_nbf = false, has_exp = false;
    if (!payload || claims_from_json(payload, &c, &has_nbf, &has_exp)) {
        json_decref(payload);
        return TOKEN_MALFORMED;
    }
    json_decref(payload);
    if (!c.id || !c.holder || !c.issuer || !has_nbf || !has_exp) v = TOKEN_MALFORMED;
    else v = check_signed(t, jwt, &p, alg, c.issuer);
    if (v == TOKEN_OK) {
        if (now_s < c.not_before) v = TOKEN_NOT_YET_VALID;
        else if (now_s > c.not_after) v = TOKEN_EXPIRED;
        else if (csi && c.audience && !audience_has(c.audience, csi)) v = TOKEN_WRONG_AUDIENCE;
        else if (holder && strcmp(holder, c.holder)) v = TOKEN_WRONG_HOLDER;
    }
    if (v != TOKEN_OK || out == &unused) token_claims_free(&c);
    else *out = c;
    return v;
}

/* ---- signing and keys ---- */

char *token_sign(const struct token_claims *c, const char *private_jwk_json, char *err, size_t cap)
{
    json_t *claims = claims_to_json(c, err, cap);
    if (!claims) return NULL;
    char *payload = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    enum token_alg alg;
    cjose_jwk_t *jwk = payload ? key_import(private_jwk_json, true, &alg, err, cap) : NULL;
    char *out = NULL;
    cjose_err cerr = { 0 };
    cjose_header_t *hdr = jwk ? cjose_header_new(&cerr) : NULL;
    cjose_jws_t *jws = NULL;
    const char *compact = NULL;
    if (hdr && cjose_header_set(hdr, CJOSE_HDR_ALG, alg_name[alg], &cerr) &&
        cjose_header_set(hdr, "typ", "JWT", &cerr) &&
        (jws = cjose_jws_sign(jwk, hdr, (const uint8_t *)payload, strlen(payload), &cerr)) &&
        cjose_jws_export(jws, &compact, &cerr))
        out = strdup(compact);
    if (!out && jwk) set_err(err, cap, "signing failed", &cerr);
    else if (!payload) set_err(err, cap, "out of memory", NULL);
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    cjose_jwk_release(jwk);
    free(payload);
    return out;
}

char *token_new_key(void)
{
    cjose_err cerr = { 0 };
    cjose_jwk_t *jwk = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &cerr);
    char *text = jwk ? cjose_jwk_to_json(jwk, true, &cerr) : NULL;
    cjose_jwk_release(jwk);
    char *out = text ? strdup(text) : NULL;
    if (text) {
        explicit_bzero(text, strlen(text));
        cjose_free(text);
    }
    return out;
}

char *token_public_jwk(const char *private_jwk_json)
{
    enum token_alg alg;
    char why[160];
    cjose_jwk_t *jwk = key_import(private_jwk_json, false, &alg, why, sizeof why);
    /* An HMAC key has no public half: it is the shared secret itself. */
    if (!jwk || alg == ALG_HS256) { cjose_jwk_release(jwk); return NULL; }
    cjose_err cerr = { 0 };
    char *text = cjose_jwk_to_json(jwk, false, &cerr);
    cjose_jwk_release(jwk);
    char *out = text ? strdup(text) : NULL;
    cjose_free(text);
    return out;
}
