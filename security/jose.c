/* JOSE compact objects on cjose (security/jose.h).
 *
 * Like security/token.c, every decision that can be taken without the key is
 * taken here before cjose sees the object: the compact form, the base64url
 * alphabet, the header's alg/enc against the claimed list, the key's type and
 * size for that algorithm, the lengths of IV, tag, wrapped key and signature.
 * cjose is then asked only for the cryptography, so its failure means "wrong
 * key or tampered", never "odd input it happened to accept". */
#include "jose.h"
#include "jose_ecdh.h"

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <stdlib.h>
#include <string.h>

const char *jose_error_text(enum jose_error e)
{
    switch (e) {
    case JOSE_OK: return "ok";
    case JOSE_E_ARGUMENT: return "missing or inconsistent argument";
    case JOSE_E_TOO_LARGE: return "too large";
    case JOSE_E_MALFORMED: return "not a well-formed JOSE compact object or JWK";
    case JOSE_E_ALG: return "algorithm not supported (claimed: dir, A128KW, A192KW, A256KW, ECDH-ES+A128KW, "
                            "ECDH-ES+A192KW, ECDH-ES+A256KW, RSA-OAEP-256 with A128GCM, A192GCM, A256GCM; "
                            "HS256, ES256)";
    case JOSE_E_KEY: return "key of the wrong type or size for the algorithm";
    case JOSE_E_DECRYPT: return "decryption failed: wrong key or tampered object";
    case JOSE_E_SIGNATURE: return "signature does not verify: wrong key, wrong payload or tampered object";
    case JOSE_E_INTERNAL: return "internal error (out of memory or crypto library failure)";
    }
    return "unknown error";
}

/* ---- algorithms ---- */

struct alg_info {
    const char *name;
    size_t key_bytes;  /* oct key size demanded (ECDH-ES: the KEK's); 0: see kind */
    bool ecdh;         /* ECDH-ES+A*KW: an EC key, the KEK agreed (security/jose_ecdh.c) */
    bool rsa;          /* RSA-OAEP-256: an RSA key encrypts the CEK */
};
/* JWE key management (key_bytes 0 for dir: the enc's size). */
static const struct alg_info jwe_algs[] = {
    { "dir", 0, false, false }, { "A128KW", 16, false, false }, { "A192KW", 24, false, false },
    { "A256KW", 32, false, false }, { "ECDH-ES+A128KW", 16, true, false }, { "ECDH-ES+A192KW", 24, true, false },
    { "ECDH-ES+A256KW", 32, true, false }, { "RSA-OAEP-256", 0, false, true },
};
static const struct alg_info jwe_encs[] = { { "A128GCM", 16, false, false }, { "A192GCM", 24, false, false },
                                            { "A256GCM", 32, false, false } };
#define GCM_IV_BYTES 12
#define GCM_TAG_BYTES 16
#define KW_OVERHEAD 8            /* RFC 3394 integrity block */
#define HS256_MIN_KEY 32         /* RFC 7518 3.2 */
#define HS256_SIG_BYTES 32
#define ES256_SIG_BYTES 64       /* r || s, RFC 7518 3.4 */
#define RSA_MIN_BYTES 256        /* 2048-bit modulus, RFC 7518 4.3 */
#define RSA_MAX_BYTES 1024       /* 8192 bits: bounds ek and the work one object can ask for */

static const struct alg_info *find_alg(const struct alg_info *t, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    return NULL;
}
#define FIND(table, name) find_alg(table, sizeof table / sizeof table[0], name)

/* ---- keys ---- */

static bool b64url_char(unsigned char c);

struct jose_key {
    cjose_jwk_t *jwk;
    cjose_jwk_kty_t kty;
    size_t oct_bytes;   /* oct: the secret's length */
    bool p256;          /* EC on P-256 */
    bool has_private;   /* EC, RSA: d present */
    EVP_PKEY *rsa;      /* RSA: the key for libcrypto (cjose 0.6.2 lacks RSA-OAEP-256) */
    size_t rsa_bytes;   /* RSA: the modulus size, which is ek's */
    char *kid;
};

void jose_key_free(struct jose_key *k)
{
    if (!k) return;
    cjose_jwk_release(k->jwk);  /* cjose wipes oct secrets on release */
    EVP_PKEY_free(k->rsa);      /* libcrypto clears its private numbers */
    free(k->kid);
    free(k);
}

const char *jose_key_kid(const struct jose_key *k) { return k ? k->kid : NULL; }

static enum jose_error key_wrap(cjose_jwk_t *jwk, struct jose_key **out)
{
    cjose_err cerr = { 0 };
    struct jose_key *k = calloc(1, sizeof *k);
    if (!k) { cjose_jwk_release(jwk); return JOSE_E_INTERNAL; }
    k->jwk = jwk;
    k->kty = cjose_jwk_get_kty(jwk, &cerr);
    if (k->kty == CJOSE_JWK_KTY_OCT) k->oct_bytes = cjose_jwk_get_keysize(jwk, &cerr) / 8;
    else if (k->kty == CJOSE_JWK_KTY_EC) k->p256 = cjose_jwk_EC_get_curve(jwk, &cerr) == CJOSE_JWK_EC_P_256;
    const char *kid = cjose_jwk_get_kid(jwk, &cerr);
    if (kid && !(k->kid = strdup(kid))) { jose_key_free(k); return JOSE_E_INTERNAL; }
    *out = k;
    return JOSE_OK;
}

/* A JWK member (base64url, alphabet already checked) as a big number pushed to bld; absent: false. */
static bool rsa_param(OSSL_PARAM_BLD *bld, json_t *o, const char *member, const char *param, BIGNUM **bn)
{
    json_t *v = json_object_get(o, member);
    size_t n = 0;
    uint8_t *raw = NULL;
    cjose_err cerr = { 0 };
    if (!json_is_string(v) || !cjose_base64url_decode(json_string_value(v), json_string_length(v), &raw, &n, &cerr))
        return false;
    *bn = n ? BN_bin2bn(raw, (int)n, NULL) : NULL;
    explicit_bzero(raw, n);
    cjose_get_dealloc()(raw);
    return *bn && OSSL_PARAM_BLD_push_BN(bld, param, *bn);
}

/* The EVP_PKEY of an RSA JWK: n, e; with d the private key, the CRT members
 * (p, q, dp, dq, qi) used when all five are there. NULL when not a usable key. */
static EVP_PKEY *rsa_from_jwk(json_t *o)
{
    static const char *const members[] = { "n", "e", "d", "p", "q", "dp", "dq", "qi" };
    static const char *const params[] = { OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, OSSL_PKEY_PARAM_RSA_D,
                                          OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
                                          OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
                                          OSSL_PKEY_PARAM_RSA_COEFFICIENT1 };
    BIGNUM *bn[8] = { NULL };
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params_built = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    bool priv = json_object_get(o, "d") != NULL, crt = true;
    for (size_t i = 3; i < 8; i++) crt &= json_object_get(o, members[i]) != NULL;
    size_t used = !priv ? 2 : crt ? 8 : 3;
    bool ok = bld && ctx;
    for (size_t i = 0; ok && i < used; i++) ok = rsa_param(bld, o, members[i], params[i], &bn[i]);
    if (ok && (params_built = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params_built) != 1)
        pkey = NULL;
    OSSL_PARAM_free(params_built);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    for (size_t i = 0; i < 8; i++) BN_clear_free(bn[i]);
    return pkey;
}

enum jose_error jose_key_from_jwk(const char *jwk_json, struct jose_key **out)
{
    if (!jwk_json || !out) return JOSE_E_ARGUMENT;
    *out = NULL;
    size_t n = strlen(jwk_json);
    if (n > JOSE_MAX_KEY_JSON_BYTES) return JOSE_E_TOO_LARGE;
    json_t *o = json_loadb(jwk_json, n, JSON_REJECT_DUPLICATES, NULL);
    bool has_d = json_is_object(o) && json_object_get(o, "d");
    bool object = json_is_object(o);
    /* cjose 0.6.2 aborts on some malformed base64url in a JWK (an '=' inside a
     * coordinate, found by fuzz_jose): the members it decodes are checked first. */
    static const char *const encoded[] = { "k", "x", "y", "d", "n", "e", "p", "q", "dp", "dq", "qi" };
    for (size_t i = 0; object && i < sizeof encoded / sizeof *encoded; i++) {
        json_t *v = json_object_get(o, encoded[i]);
        const char *s = json_string_value(v);
        for (size_t j = 0; s && j < json_string_length(v); j++) object &= b64url_char((unsigned char)s[j]);
        if (v && !s) object = false;
    }
    EVP_PKEY *rsa = NULL;
    const char *kty = object ? json_string_value(json_object_get(o, "kty")) : NULL;
    if (kty && !strcmp(kty, "RSA") && !(rsa = rsa_from_jwk(o))) object = false;
    json_decref(o);
    if (!object) return JOSE_E_MALFORMED;
    cjose_err cerr = { 0 };
    cjose_jwk_t *jwk = cjose_jwk_import(jwk_json, n, &cerr);
    if (!jwk) { EVP_PKEY_free(rsa); return JOSE_E_MALFORMED; }
    enum jose_error e = key_wrap(jwk, out);
    if (e) { EVP_PKEY_free(rsa); return e; }
    (*out)->has_private = has_d;
    (*out)->rsa = rsa;
    (*out)->rsa_bytes = rsa ? (size_t)EVP_PKEY_get_size(rsa) : 0;
    return JOSE_OK;
}

enum jose_error jose_key_from_bytes(const uint8_t *bytes, size_t len, struct jose_key **out)
{
    if (!bytes || !len || !out) return JOSE_E_ARGUMENT;
    *out = NULL;
    if (len > 512) return JOSE_E_TOO_LARGE;
    cjose_err cerr = { 0 };
    cjose_jwk_t *jwk = cjose_jwk_create_oct_spec(bytes, len, &cerr);
    return jwk ? key_wrap(jwk, out) : JOSE_E_INTERNAL;
}

char *jose_new_jwk(size_t bytes, const char *kid)
{
    cjose_err cerr = { 0 };
    if (bytes && bytes != 16 && bytes != 24 && bytes != 32 && bytes != 64) return NULL;
    cjose_jwk_t *jwk = bytes ? cjose_jwk_create_oct_random(bytes * 8, &cerr)  /* bits */
                             : cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &cerr);
    if (!jwk || (kid && !cjose_jwk_set_kid(jwk, kid, strlen(kid), &cerr))) {
        cjose_jwk_release(jwk);
        return NULL;
    }
    char *json = cjose_jwk_to_json(jwk, true, &cerr);
    cjose_jwk_release(jwk);
    char *out = json ? strdup(json) : NULL;
    if (json) {
        explicit_bzero(json, strlen(json));
        cjose_get_dealloc()(json);
    }
    return out;
}

char *jose_public_jwk(const char *jwk_json)
{
    struct jose_key *k;
    if (jose_key_from_jwk(jwk_json, &k) != JOSE_OK) return NULL;
    char *out = NULL;
    if (k->kty == CJOSE_JWK_KTY_EC || k->kty == CJOSE_JWK_KTY_RSA) {
        cjose_err cerr = { 0 };
        char *json = cjose_jwk_to_json(k->jwk, false, &cerr);
        out = json ? strdup(json) : NULL;
        if (json) cjose_get_dealloc()(json);
    }
    jose_key_free(k);
    return out;
}

/* ---- compact form ---- */

static bool b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

struct part { const char *s; size_t n; };

/* Splits compact into exactly want base64url parts; false otherwise. */
static bool split(const char *compact, size_t len, struct part *parts, size_t want)
{
    size_t k = 0;
    parts[0].s = compact;
    for (size_t i = 0; i < len; i++) {
        if (compact[i] == '.') {
            if (++k >= want) return false;
            parts[k - 1].n = (size_t)(compact + i - parts[k - 1].s);
            parts[k].s = compact + i + 1;
        } else if (!b64url_char((unsigned char)compact[i])) {
            return false;
        }
    }
    if (k + 1 != want) return false;
    parts[k].n = (size_t)(compact + len - parts[k].s);
    return true;
}

/* Length of the bytes a base64url part decodes to; SIZE_MAX when its length is impossible. */
static size_t decoded_len(const struct part *p)
{
    if (p->n % 4 == 1) return SIZE_MAX;
    return p->n / 4 * 3 + (p->n % 4 ? p->n % 4 - 1 : 0);
}

/* Member names a header may carry beside alg/enc/kid/typ/cty: "crit", "zip"
 * and "b64" change processing we do not implement; key references (jku, jwk,
 * x5u, x5c) would let the object choose its own key. */
static const char *const refused_members[] = { "crit", "zip", "b64", "jku", "jwk", "x5u", "x5c" };
static const char *const set_members[] = { "alg", "enc", "kid", "typ", "cty" };

static bool refused_member(const char *name)
{
    for (size_t i = 0; i < sizeof refused_members / sizeof *refused_members; i++)
        if (!strcmp(name, refused_members[i])) return true;
    return false;
}

static char *dup_member(json_t *o, const char *name, bool *bad)
{
    json_t *v = json_object_get(o, name);
    if (!v) return NULL;
    if (!json_is_string(v)) { *bad = true; return NULL; }
    char *s = strdup(json_string_value(v));
    if (!s) *bad = true;
    return s;
}

void jose_header_clear(struct jose_header *h)
{
    if (!h) return;
    free(h->alg);
    free(h->enc);
    free(h->kid);
    free(h->typ);
    free(h->cty);
    free(h->json);
    memset(h, 0, sizeof *h);
}

/* Decodes the protected header part into a JSON object; checks members. */
static enum jose_error header_decode(const struct part *p, json_t **out)
{
    *out = NULL;
    if (!p->n) return JOSE_E_MALFORMED;
    size_t dn = decoded_len(p);
    if (dn == SIZE_MAX) return JOSE_E_MALFORMED;
    if (dn > JOSE_MAX_HEADER_BYTES) return JOSE_E_TOO_LARGE;
    uint8_t *raw = NULL;
    size_t rawn = 0;
    cjose_err cerr = { 0 };
    if (!cjose_base64url_decode(p->s, p->n, &raw, &rawn, &cerr)) return JOSE_E_MALFORMED;
    json_t *o = json_loadb((const char *)raw, rawn, JSON_REJECT_DUPLICATES, NULL);
    cjose_get_dealloc()(raw);
    if (!json_is_object(o)) { json_decref(o); return JOSE_E_MALFORMED; }
    const char *name;
    json_t *v;
    json_object_foreach(o, name, v) if (refused_member(name)) { json_decref(o); return JOSE_E_ALG; }
    for (size_t i = 0; i < sizeof set_members / sizeof *set_members; i++) {
        v = json_object_get(o, set_members[i]);
        if (v && !json_is_string(v)) { json_decref(o); return JOSE_E_MALFORMED; }
    }
    *out = o;
    return JOSE_OK;
}

static enum jose_error header_fill(json_t *o, struct jose_header *h)
{
    if (!h) return JOSE_OK;
    memset(h, 0, sizeof *h);
    bool bad = false;
    h->alg = dup_member(o, "alg", &bad);
    h->enc = dup_member(o, "enc", &bad);
    h->kid = dup_member(o, "kid", &bad);
    h->typ = dup_member(o, "typ", &bad);
    h->cty = dup_member(o, "cty", &bad);
    h->json = json_dumps(o, JSON_COMPACT);
    if (bad || !h->json) { jose_header_clear(h); return JOSE_E_INTERNAL; }
    return JOSE_OK;
}

enum jose_error jose_peek_header(const char *compact, struct jose_header *out)
{
    if (!compact || !out) return JOSE_E_ARGUMENT;
    memset(out, 0, sizeof *out);
    size_t len = strlen(compact);
    if (len > JOSE_MAX_COMPACT_BYTES) return JOSE_E_TOO_LARGE;
    struct part parts[5];
    if (!split(compact, len, parts, 5) && !split(compact, len, parts, 3)) return JOSE_E_MALFORMED;
    json_t *o;
    enum jose_error e = header_decode(&parts[0], &o);
    if (e) return e;
    e = header_fill(o, out);
    json_decref(o);
    return e;
}

/* The header to seal or sign with: alg, enc, kid, typ, cty and p->extra. */
static enum jose_error header_build(const struct jose_params *p, bool jwe, json_t **out)
{
    *out = NULL;
    json_t *o = NULL;
    if (p->extra) {
        if (strlen(p->extra) > JOSE_MAX_HEADER_BYTES) return JOSE_E_TOO_LARGE;
        o = json_loads(p->extra, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(o)) { json_decref(o); return JOSE_E_ARGUMENT; }
        const char *name;
        json_t *v;
        json_object_foreach(o, name, v) {
            bool named = refused_member(name);
            for (size_t i = 0; i < sizeof set_members / sizeof *set_members; i++) named |= !strcmp(name, set_members[i]);
            if (named) { json_decref(o); return JOSE_E_ARGUMENT; }
        }
    } else {
        o = json_object();
        if (!o) return JOSE_E_INTERNAL;
    }
    const char *values[] = { p->alg, jwe ? p->enc : NULL, p->kid, p->typ, p->cty };
    for (size_t i = 0; i < sizeof values / sizeof *values; i++)
        if (values[i] && json_object_set_new(o, set_members[i], json_string(values[i]))) {
            json_decref(o);
            return JOSE_E_INTERNAL;
        }
    *out = o;
    return JOSE_OK;
}

static enum jose_error copy_out(uint8_t *data, size_t n, uint8_t **out, size_t *len)
{
    enum jose_error e = JOSE_OK;
    if (out) {
        *out = malloc(n + 1);
        if (!*out) e = JOSE_E_INTERNAL;
        else {
            if (n) memcpy(*out, data, n);
            (*out)[n] = 0;
            if (len) *len = n;
        }
    }
    if (data) {
        explicit_bzero(data, n);
        cjose_get_dealloc()(data);
    }
    return e;
}

/* ---- JWE ---- */

/* The key fits alg/enc: dir takes the enc's size, A*KW the wrap key's. */
static enum jose_error jwe_key_check(const struct jose_key *k, const struct alg_info *alg, const struct alg_info *enc)
{
    if (!alg || !enc) return JOSE_E_ALG;
    if (alg->ecdh) return k->kty == CJOSE_JWK_KTY_EC ? JOSE_OK : JOSE_E_KEY;
    if (alg->rsa) return k->rsa && k->rsa_bytes >= RSA_MIN_BYTES && k->rsa_bytes <= RSA_MAX_BYTES ? JOSE_OK : JOSE_E_KEY;
    if (k->kty != CJOSE_JWK_KTY_OCT) return JOSE_E_KEY;
    size_t want = alg->key_bytes ? alg->key_bytes : enc->key_bytes;
    return k->oct_bytes == want ? JOSE_OK : JOSE_E_KEY;
}

/* ---- ECDH-ES+A*KW (not in cjose 0.6.2): agreement and framing here, RFC 7518 4.6 ---- */

static char *b64url(const uint8_t *b, size_t n)
{
    char *s = NULL, *out = NULL;
    size_t sn = 0;
    cjose_err cerr = { 0 };
    static const uint8_t empty[1];
    if (!cjose_base64url_encode(n ? b : empty, n, &s, &sn, &cerr)) return NULL;
    out = strndup(s, sn);
    cjose_get_dealloc()(s);
    return out;
}

/* Decodes a part known to have the alphabet and a possible length; NULL on failure. */
static uint8_t *unb64url(const char *s, size_t n, size_t *out_n)
{
    uint8_t *raw = NULL, *out = NULL;
    cjose_err cerr = { 0 };
    if (!cjose_base64url_decode(s, n, &raw, out_n, &cerr)) return NULL;
    out = malloc(*out_n + 1);
    if (out && *out_n) memcpy(out, raw, *out_n);
    cjose_get_dealloc()(raw);
    return out;
}

/* apu / apv header members (base64url strings), decoded; absent: empty. */
static enum jose_error party_info(json_t *h, const char *name, uint8_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    json_t *v = json_object_get(h, name);
    if (!v) return JOSE_OK;
    const char *s = json_string_value(v);
    struct part p = { s, s ? strlen(s) : 0 };
    if (!s || decoded_len(&p) == SIZE_MAX || decoded_len(&p) > 512) return JOSE_E_MALFORMED;
    for (size_t i = 0; i < p.n; i++) if (!b64url_char((unsigned char)s[i])) return JOSE_E_MALFORMED;
    *out = unb64url(s, p.n, n);
    return *out ? JOSE_OK : JOSE_E_MALFORMED;
}

/* The own framing of ECDH-ES and RSA-OAEP-256 (RFC 7516 5.1): cek (enc's size) under a
 * fresh IV, the ASCII of the encoded protected header as AAD, ek as given. */
static enum jose_error gcm_seal(json_t *hdr, const struct alg_info *enc, const uint8_t *cek, const uint8_t *ek,
                                size_t ek_n, const uint8_t *plain, size_t len, char **out)
{
    enum jose_error e = JOSE_E_INTERNAL;
    uint8_t iv[GCM_IV_BYTES], tag[GCM_TAG_BYTES];
    uint8_t *ct = malloc(len + 1);
    char *htext = json_dumps(hdr, JSON_COMPACT), *h64 = NULL, *parts[4] = { NULL };
    if (!ct || !htext || RAND_bytes(iv, sizeof iv) != 1) goto out;
    h64 = b64url((const uint8_t *)htext, strlen(htext));
    if (!h64 || aes_gcm(true, cek, enc->key_bytes, iv, (const uint8_t *)h64, strlen(h64), plain, len, ct, tag)) goto out;
    parts[0] = b64url(ek, ek_n);
    parts[1] = b64url(iv, sizeof iv);
    parts[2] = b64url(ct, len);
    parts[3] = b64url(tag, sizeof tag);
    if (!parts[0] || !parts[1] || !parts[2] || !parts[3]) goto out;
    size_t total = strlen(h64) + strlen(parts[0]) + strlen(parts[1]) + strlen(parts[2]) + strlen(parts[3]) + 5;
    if ((*out = malloc(total)))
        snprintf(*out, total, "%s.%s.%s.%s.%s", h64, parts[0], parts[1], parts[2], parts[3]);
    e = *out ? JOSE_OK : JOSE_E_INTERNAL;
out:
    free(ct);
    free(htext);
    free(h64);
    for (int i = 0; i < 4; i++) free(parts[i]);
    return e;
}

/* The counterpart of gcm_seal once the CEK is recovered: IV, ciphertext and tag
 * decoded (their lengths already checked), the tag verified over the header. */
static enum jose_error gcm_open(const struct part *parts, const struct alg_info *enc, const uint8_t *cek,
                                uint8_t **plain, size_t *len)
{
    enum jose_error e = JOSE_E_MALFORMED;
    uint8_t *iv = NULL, *ct = NULL, *tag = NULL, *pt = NULL;
    size_t iv_n = 0, ct_n = 0, tag_n = 0;
    if (!(iv = unb64url(parts[2].s, parts[2].n, &iv_n)) || !(ct = unb64url(parts[3].s, parts[3].n, &ct_n)) ||
        !(tag = unb64url(parts[4].s, parts[4].n, &tag_n)))
        goto out;
    e = JOSE_E_INTERNAL;
    if (!(pt = malloc(ct_n + 1))) goto out;
    e = JOSE_E_DECRYPT;
    if (aes_gcm(false, cek, enc->key_bytes, iv, (const uint8_t *)parts[0].s, parts[0].n, ct, ct_n, pt, tag)) goto out;
    pt[ct_n] = 0;
    *plain = pt;
    *len = ct_n;
    pt = NULL;
    e = JOSE_OK;
out:
    if (pt) { explicit_bzero(pt, ct_n); free(pt); }
    free(iv);
    free(ct);
    free(tag);
    return e;
}

static enum jose_error ecdh_seal(const struct jose_key *key, const struct alg_info *alg, const struct alg_info *enc,
                                 json_t *hdr, const uint8_t *plain, size_t len, char **out)
{
    cjose_err cerr = { 0 };
    enum jose_error e = JOSE_E_INTERNAL;
    cjose_jwk_t *eph = cjose_jwk_create_EC_random(cjose_jwk_EC_get_curve(key->jwk, &cerr), &cerr);
    char *epk_text = eph ? cjose_jwk_to_json(eph, false, &cerr) : NULL;
    json_t *epk = epk_text ? json_loads(epk_text, 0, NULL) : NULL;
    if (epk_text) cjose_get_dealloc()(epk_text);
    uint8_t *apu = NULL, *apv = NULL;
    size_t apu_n = 0, apv_n = 0;
    uint8_t kek[32], cek[32], ek[40];
    if (!epk || json_object_set_new(hdr, "epk", epk)) goto out;  /* set_new consumes epk even when failing */
    if ((e = party_info(hdr, "apu", &apu, &apu_n)) || (e = party_info(hdr, "apv", &apv, &apv_n))) goto out;
    e = JOSE_E_INTERNAL;
    char *rcpt_text = cjose_jwk_to_json(key->jwk, false, &cerr);
    json_t *rcpt = rcpt_text ? json_loads(rcpt_text, 0, NULL) : NULL;
    if (rcpt_text) cjose_get_dealloc()(rcpt_text);
    int agreed = rcpt ? ecdh_es_kek(eph, rcpt, alg->name, apu, apu_n, apv, apv_n, kek, alg->key_bytes) : -1;
    json_decref(rcpt);
    if (agreed || RAND_bytes(cek, (int)enc->key_bytes) != 1 ||
        aes_kw_wrap(kek, alg->key_bytes, cek, enc->key_bytes, ek))
        goto out;
    e = gcm_seal(hdr, enc, cek, ek, enc->key_bytes + KW_OVERHEAD, plain, len, out);
out:
    json_object_del(hdr, "epk");
    cjose_jwk_release(eph);
    explicit_bzero(kek, sizeof kek);
    explicit_bzero(cek, sizeof cek);
    free(apu);
    free(apv);
    return e;
}

static enum jose_error ecdh_open(const struct jose_key *key, const struct alg_info *alg, const struct alg_info *enc,
                                 json_t *h, const struct part *parts, uint8_t **plain, size_t *len)
{
    if (!key->has_private) return JOSE_E_KEY;
    /* epk is the sender's: checked and decoded by jose_ecdh.c, never by cjose */
    json_t *epk = json_object_get(h, "epk");
    const char *kty = json_string_value(json_object_get(epk, "kty"));
    if (!json_is_object(epk) || !kty || strcmp(kty, "EC") || json_object_get(epk, "d")) return JOSE_E_MALFORMED;
    enum jose_error e;
    uint8_t *apu = NULL, *apv = NULL, *ek = NULL;
    size_t apu_n = 0, apv_n = 0, ek_n = 0;
    uint8_t kek[32], cek[32];
    if ((e = party_info(h, "apu", &apu, &apu_n)) || (e = party_info(h, "apv", &apv, &apv_n))) goto out;
    e = JOSE_E_MALFORMED;
    if (!(ek = unb64url(parts[1].s, parts[1].n, &ek_n))) goto out;
    /* a point not on our curve, or any agreement failure, is a wrong key, as a failed unwrap is */
    e = JOSE_E_DECRYPT;
    if (ecdh_es_kek(key->jwk, epk, alg->name, apu, apu_n, apv, apv_n, kek, alg->key_bytes) ||
        aes_kw_unwrap(kek, alg->key_bytes, ek, ek_n, cek))
        goto out;
    e = gcm_open(parts, enc, cek, plain, len);
out:
    explicit_bzero(kek, sizeof kek);
    explicit_bzero(cek, sizeof cek);
    free(apu);
    free(apv);
    free(ek);
    return e;
}

/* ---- RSA-OAEP-256 (not in cjose 0.6.2): RSAES-OAEP, SHA-256 and MGF1 with SHA-256, RFC 7518 4.3 ---- */

/* A context for pkey set up for OAEP with SHA-256 and MGF1-SHA-256; NULL on failure. */
static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *pkey, bool encrypt)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx && (encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1)
        return ctx;
    EVP_PKEY_CTX_free(ctx);
    return NULL;
}

static enum jose_error rsa_seal(const struct jose_key *key, const struct alg_info *enc, json_t *hdr,
                                const uint8_t *plain, size_t len, char **out)
{
    enum jose_error e = JOSE_E_INTERNAL;
    uint8_t cek[32];
    size_t ek_n = key->rsa_bytes;
    uint8_t *ek = malloc(ek_n);
    EVP_PKEY_CTX *ctx = oaep_ctx(key->rsa, true);
    if (ek && ctx && RAND_bytes(cek, (int)enc->key_bytes) == 1 &&
        EVP_PKEY_encrypt(ctx, ek, &ek_n, cek, enc->key_bytes) == 1 && ek_n == key->rsa_bytes)
        e = gcm_seal(hdr, enc, cek, ek, ek_n, plain, len, out);
    explicit_bzero(cek, sizeof cek);
    EVP_PKEY_CTX_free(ctx);
    free(ek);
    return e;
}

static enum jose_error rsa_open(const struct jose_key *key, const struct alg_info *enc, const struct part *parts,
                                uint8_t **plain, size_t *len)
{
    if (!key->has_private) return JOSE_E_KEY;
    enum jose_error e = JOSE_E_MALFORMED;
    size_t ek_n = 0, cek_n = key->rsa_bytes;
    uint8_t *ek = unb64url(parts[1].s, parts[1].n, &ek_n), *cek = malloc(cek_n), fake[32];
    EVP_PKEY_CTX *ctx = NULL;
    if (!ek) goto out;
    e = JOSE_E_INTERNAL;
    if (!cek || !(ctx = oaep_ctx(key->rsa, false)) || RAND_bytes(fake, sizeof fake) != 1) goto out;
    /* RFC 7516 11.5: a failed or odd-sized unwrap goes on with a random CEK, so
     * that it fails where a wrong key fails, at the tag, with the same error */
    bool unwrapped = EVP_PKEY_decrypt(ctx, cek, &cek_n, ek, ek_n) == 1 && cek_n == enc->key_bytes;
    e = gcm_open(parts, enc, unwrapped ? cek : fake, plain, len);
out:
    if (cek) { explicit_bzero(cek, key->rsa_bytes); free(cek); }
    explicit_bzero(fake, sizeof fake);
    EVP_PKEY_CTX_free(ctx);
    free(ek);
    return e;
}

enum jose_error jose_jwe_seal(const struct jose_key *key, const struct jose_params *p, const uint8_t *plain,
                              size_t len, char **out)
{
    if (!key || !p || !out || (len && !plain)) return JOSE_E_ARGUMENT;
    *out = NULL;
    if (len > JOSE_MAX_PAYLOAD_BYTES) return JOSE_E_TOO_LARGE;
    enum jose_error e = jwe_key_check(key, FIND(jwe_algs, p->alg), FIND(jwe_encs, p->enc));
    if (e) return e;
    json_t *hdr;
    if ((e = header_build(p, true, &hdr))) return e;
    const struct alg_info *alg = FIND(jwe_algs, p->alg), *enc = FIND(jwe_encs, p->enc);
    if (alg->ecdh || alg->rsa) {
        e = alg->ecdh ? ecdh_seal(key, alg, enc, hdr, plain, len, out) : rsa_seal(key, enc, hdr, plain, len, out);
        json_decref(hdr);
        return e;
    }
    cjose_err cerr = { 0 };
    static const uint8_t empty[1];
    cjose_jwe_t *jwe = cjose_jwe_encrypt(key->jwk, hdr, len ? plain : empty, len, &cerr);
    json_decref(hdr);
    char *s = jwe ? cjose_jwe_export(jwe, &cerr) : NULL;
    cjose_jwe_release(jwe);
    if (!s) return JOSE_E_INTERNAL;
    *out = strdup(s);
    cjose_get_dealloc()(s);
    return *out ? JOSE_OK : JOSE_E_INTERNAL;
}

enum jose_error jose_jwe_open(const struct jose_key *key, const char *compact, uint8_t **plain, size_t *len,
                              struct jose_header *hdr)
{
    if (!key || !compact || !plain || !len) return JOSE_E_ARGUMENT;
    *plain = NULL;
    *len = 0;
    if (hdr) memset(hdr, 0, sizeof *hdr);
    size_t n = strlen(compact);
    if (n > JOSE_MAX_COMPACT_BYTES) return JOSE_E_TOO_LARGE;
    struct part parts[5];
    if (!split(compact, n, parts, 5)) return JOSE_E_MALFORMED;
    json_t *h;
    enum jose_error e = header_decode(&parts[0], &h);
    if (e) return e;
    const struct alg_info *alg = FIND(jwe_algs, json_string_value(json_object_get(h, "alg")));
    const struct alg_info *enc = FIND(jwe_encs, json_string_value(json_object_get(h, "enc")));
    if ((e = jwe_key_check(key, alg, enc))) goto done;
    /* dir: no encrypted key; A*KW: the CEK wrapped (+8 bytes); RSA: the modulus size
     * (bounded by jwe_key_check). */
    size_t want_ek = alg->rsa ? key->rsa_bytes : alg->key_bytes ? enc->key_bytes + KW_OVERHEAD : 0;
    if (decoded_len(&parts[1]) != want_ek || decoded_len(&parts[2]) != GCM_IV_BYTES ||
        decoded_len(&parts[4]) != GCM_TAG_BYTES || decoded_len(&parts[3]) == SIZE_MAX) {
        e = JOSE_E_MALFORMED;
        goto done;
    }
    if (alg->ecdh || alg->rsa) {
        e = alg->ecdh ? ecdh_open(key, alg, enc, h, parts, plain, len) : rsa_open(key, enc, parts, plain, len);
        if (e) goto done;
        if ((e = header_fill(h, hdr))) { free(*plain); *plain = NULL; *len = 0; }
        goto done;
    }
    cjose_err cerr = { 0 };
    cjose_jwe_t *jwe = cjose_jwe_import(compact, n, &cerr);
    if (!jwe) { e = JOSE_E_MALFORMED; goto done; }
    size_t got = 0;
    uint8_t *data = cjose_jwe_decrypt(jwe, key->jwk, &got, &cerr);
    cjose_jwe_release(jwe);
    if (!data) { e = JOSE_E_DECRYPT; goto done; }
    if ((e = copy_out(data, got, plain, len))) goto done;
    if ((e = header_fill(h, hdr))) { free(*plain); *plain = NULL; *len = 0; }
done:
    json_decref(h);
    return e;
}

/* ---- JWS ---- */

static enum jose_error jws_key_check(const struct jose_key *k, const char *alg, bool signing, size_t *sig_bytes)
{
    if (alg && !strcmp(alg, "HS256")) {
        *sig_bytes = HS256_SIG_BYTES;
        return k->kty == CJOSE_JWK_KTY_OCT && k->oct_bytes >= HS256_MIN_KEY ? JOSE_OK : JOSE_E_KEY;
    }
    if (alg && !strcmp(alg, "ES256")) {
        *sig_bytes = ES256_SIG_BYTES;
        return k->kty == CJOSE_JWK_KTY_EC && k->p256 && (!signing || k->has_private) ? JOSE_OK : JOSE_E_KEY;
    }
    return JOSE_E_ALG;
}

enum jose_error jose_jws_sign(const struct jose_key *key, const struct jose_params *p, const uint8_t *payload,
                              size_t len, bool detached, char **out)
{
    if (!key || !p || !out || (len && !payload) || p->enc) return JOSE_E_ARGUMENT;
    *out = NULL;
    if (len > JOSE_MAX_PAYLOAD_BYTES) return JOSE_E_TOO_LARGE;
    size_t sig_bytes;
    enum jose_error e = jws_key_check(key, p->alg, true, &sig_bytes);
    if (e) return e;
    json_t *hdr;
    if ((e = header_build(p, false, &hdr))) return e;
    cjose_err cerr = { 0 };
    static const uint8_t empty[1];
    cjose_jws_t *jws = cjose_jws_sign(key->jwk, hdr, len ? payload : empty, len, &cerr);
    json_decref(hdr);
    const char *s = NULL;
    if (!jws || !cjose_jws_export(jws, &s, &cerr) || !s) { cjose_jws_release(jws); return JOSE_E_INTERNAL; }
    if (detached) {
        /* RFC 7515 Appendix F: header..signature */
        const char *d1 = strchr(s, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
        size_t hn = d1 ? (size_t)(d1 - s) : 0, sn = d2 ? strlen(d2) : 0;
        *out = d2 ? malloc(hn + 1 + sn + 1) : NULL;
        if (*out) {
            memcpy(*out, s, hn + 1);
            memcpy(*out + hn + 1, d2, sn + 1);
        }
    } else {
        *out = strdup(s);
    }
    cjose_jws_release(jws);  /* owns s */
    return *out ? JOSE_OK : JOSE_E_INTERNAL;
}

enum jose_error jose_jws_verify(const struct jose_key *key, const char *compact, const uint8_t *detached,
                                size_t detached_len, uint8_t **payload, size_t *len, struct jose_header *hdr)
{
    if (!key || !compact || (detached_len && !detached)) return JOSE_E_ARGUMENT;
    if (payload) *payload = NULL;
    if (len) *len = 0;
    if (hdr) memset(hdr, 0, sizeof *hdr);
    size_t n = strlen(compact);
    if (n > JOSE_MAX_COMPACT_BYTES || detached_len > JOSE_MAX_PAYLOAD_BYTES) return JOSE_E_TOO_LARGE;
    struct part parts[3];
    if (!split(compact, n, parts, 3)) return JOSE_E_MALFORMED;
    if (detached && parts[1].n) return JOSE_E_MALFORMED;  /* detached means an empty middle */
    json_t *h;
    enum jose_error e = header_decode(&parts[0], &h);
    if (e) return e;
    size_t sig_bytes = 0;
    if ((e = jws_key_check(key, json_string_value(json_object_get(h, "alg")), false, &sig_bytes))) goto done;
    if (decoded_len(&parts[2]) != sig_bytes || decoded_len(&parts[1]) == SIZE_MAX) {
        e = JOSE_E_MALFORMED;
        goto done;
    }
    char *whole = NULL;  /* the compact form with the detached payload put back */
    if (detached) {
        char *b64 = NULL;
        size_t bn = 0;
        cjose_err cerr = { 0 };
        static const uint8_t empty[1];
        if (!cjose_base64url_encode(detached_len ? detached : empty, detached_len, &b64, &bn, &cerr)) {
            e = JOSE_E_INTERNAL;
            goto done;
        }
        whole = malloc(n + bn + 1);
        if (whole) {
            memcpy(whole, compact, parts[0].n + 1);
            memcpy(whole + parts[0].n + 1, b64, bn);
            memcpy(whole + parts[0].n + 1 + bn, parts[2].s - 1, parts[2].n + 2);  /* ".sig\0" */
        }
        cjose_get_dealloc()(b64);
        if (!whole) { e = JOSE_E_INTERNAL; goto done; }
    }
    const char *text = whole ? whole : compact;
    cjose_err cerr = { 0 };
    cjose_jws_t *jws = cjose_jws_import(text, strlen(text), &cerr);
    free(whole);
    if (!jws) { e = JOSE_E_MALFORMED; goto done; }
    if (!cjose_jws_verify(jws, key->jwk, &cerr)) {
        cjose_jws_release(jws);
        e = JOSE_E_SIGNATURE;
        goto done;
    }
    if (!detached && payload) {
        uint8_t *pt = NULL;
        size_t ptn = 0;
        if (!cjose_jws_get_plaintext(jws, &pt, &ptn, &cerr)) e = JOSE_E_INTERNAL;
        /* pt belongs to jws: copy it */
        else if (!(*payload = malloc(ptn + 1))) e = JOSE_E_INTERNAL;
        else {
            if (ptn) memcpy(*payload, pt, ptn);
            (*payload)[ptn] = 0;
            if (len) *len = ptn;
        }
    }
    cjose_jws_release(jws);
    if (!e && (e = header_fill(h, hdr)) && payload) { free(*payload); *payload = NULL; }
done:
    json_decref(h);
    return e;
}
