/* ECDH-ES, Concat KDF, AES-KW and AES-GCM on libcrypto (security/jose_ecdh.h).
 * The EC keys are rebuilt from their JWK coordinates as EVP_PKEYs (OpenSSL 3
 * parameters): cjose's own key structure is not part of its API. */
#include "jose_ecdh.h"

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* A base64url JWK member of exactly want bytes into out; false otherwise. The
 * alphabet is checked here: cjose 0.6.2 aborts on some malformed base64url
 * (an '=' inside a JWK coordinate, found by fuzz_jose), so untrusted text
 * (a JWE's epk) never reaches its decoder unchecked. */
static bool coord(json_t *jwk, const char *name, uint8_t *out, size_t want)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    size_t sn = s ? strlen(s) : 0;
    if (!s || sn != (want * 4 + 2) / 3) return false;  /* unpadded base64url of want bytes */
    for (size_t i = 0; i < sn; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    uint8_t *raw = NULL;
    size_t n = 0;
    cjose_err e;
    if (!cjose_base64url_decode(s, sn, &raw, &n, &e)) return false;
    bool got = n == want;
    if (got) memcpy(out, raw, n);
    explicit_bzero(raw, n);
    cjose_get_dealloc()(raw);
    return got;
}

/* The EVP_PKEY of an EC JWK object (with its private part when want_private):
 * kty EC, crv P-256/384/521, x and y (and d) of the curve's size, the point on
 * the curve (OpenSSL checks it when decoding). NULL otherwise. */
static EVP_PKEY *pkey_of_json(json_t *o, bool want_private)
{
    const char *kty = json_string_value(json_object_get(o, "kty"));
    const char *crv = json_string_value(json_object_get(o, "crv"));
    const char *group = NULL;
    size_t sz = 0;
    if (kty && !strcmp(kty, "EC") && crv) {
        if (!strcmp(crv, "P-256")) group = "prime256v1", sz = 32;
        else if (!strcmp(crv, "P-384")) group = "secp384r1", sz = 48;
        else if (!strcmp(crv, "P-521")) group = "secp521r1", sz = 66;
    }
    uint8_t point[1 + 2 * 66], d[66];
    bool ok = group && coord(o, "x", point + 1, sz) && coord(o, "y", point + 1 + sz, sz) &&
              (!want_private || coord(o, "d", d, sz));
    size_t dn = want_private ? sz : 0;
    EVP_PKEY *pkey = NULL;
    if (!ok) goto out;
    point[0] = 0x04;  /* uncompressed */
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    BIGNUM *priv = dn ? BN_bin2bn(d, (int)dn, NULL) : NULL;
    OSSL_PARAM *params = NULL;
    if (b && OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
        OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * sz) &&
        (!dn || (priv && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, priv))))
        params = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL) : NULL;
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, dn ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    BN_clear_free(priv);
    OSSL_PARAM_BLD_free(b);
out:
    explicit_bzero(d, sizeof d);
    return pkey;
}

/* The EVP_PKEY of a cjose key (ours: generated, or the operator's key file). */
static EVP_PKEY *pkey_of(const cjose_jwk_t *jwk, bool want_private)
{
    cjose_err e;
    char *text = cjose_jwk_to_json(jwk, want_private, &e);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    if (text) { explicit_bzero(text, strlen(text)); cjose_get_dealloc()(text); }
    EVP_PKEY *pkey = pkey_of_json(o, want_private);
    json_decref(o);
    return pkey;
}

int ecdh_es_kek(const cjose_jwk_t *own, json_t *peer, const char *alg, const uint8_t *apu,
                size_t apu_n, const uint8_t *apv, size_t apv_n, uint8_t *kek, size_t kek_bytes)
{
    size_t an = strlen(alg);
    if (kek_bytes > 32 || apu_n > 512 || apv_n > 512 || an > 64) return -1;
    EVP_PKEY *mine = pkey_of(own, true), *theirs = pkey_of_json(peer, false);
    EVP_PKEY_CTX *ctx = mine && theirs ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
    uint8_t z[66];
    size_t zn = sizeof z;
    /* derive_set_peer checks the peer's point is on the same curve */
    int ok = ctx && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_derive_set_peer(ctx, theirs) > 0 &&
             EVP_PKEY_derive(ctx, z, &zn) > 0;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(mine);
    EVP_PKEY_free(theirs);
    if (!ok) return -1;
    /* Concat KDF (NIST SP 800-56A 5.8.1, RFC 7518 4.6.2): one SHA-256 round covers 256 bits. */
    uint8_t info[4 + 64 + 4 + 512 + 4 + 512 + 4];
    size_t k = 0;
    put32(info + k, (uint32_t)an); k += 4; memcpy(info + k, alg, an); k += an;
    put32(info + k, (uint32_t)apu_n); k += 4; if (apu_n) memcpy(info + k, apu, apu_n); k += apu_n;
    put32(info + k, (uint32_t)apv_n); k += 4; if (apv_n) memcpy(info + k, apv, apv_n); k += apv_n;
    put32(info + k, (uint32_t)(kek_bytes * 8)); k += 4;
    uint8_t counter[4], digest[32];
    put32(counter, 1);
    unsigned dn = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) && EVP_DigestUpdate(md, counter, 4) &&
         EVP_DigestUpdate(md, z, zn) && EVP_DigestUpdate(md, info, k) && EVP_DigestFinal_ex(md, digest, &dn);
    EVP_MD_CTX_free(md);
    OPENSSL_cleanse(z, sizeof z);
    if (ok) memcpy(kek, digest, kek_bytes);
    OPENSSL_cleanse(digest, sizeof digest);
    return ok ? 0 : -1;
}

static const EVP_CIPHER *wrap_cipher(size_t n)
{
    return n == 16 ? EVP_aes_128_wrap() : n == 24 ? EVP_aes_192_wrap() : n == 32 ? EVP_aes_256_wrap() : NULL;
}

static int kw(bool wrap, const uint8_t *kek, size_t kek_n, const uint8_t *in, size_t n, uint8_t *out)
{
    const EVP_CIPHER *c = wrap_cipher(kek_n);
    if (!c || n % 8 || n < (wrap ? 16u : 24u)) return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0;
    if (ctx) EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    int ok = ctx && EVP_CipherInit_ex(ctx, c, NULL, kek, NULL, wrap) && EVP_CipherUpdate(ctx, out, &len, in, (int)n) &&
             EVP_CipherFinal_ex(ctx, out + len, &fin) && (size_t)(len + fin) == (wrap ? n + 8 : n - 8);
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

int aes_kw_wrap(const uint8_t *kek, size_t kek_n, const uint8_t *in, size_t n, uint8_t *out)
{
    return kw(true, kek, kek_n, in, n, out);
}

int aes_kw_unwrap(const uint8_t *kek, size_t kek_n, const uint8_t *in, size_t n, uint8_t *out)
{
    return kw(false, kek, kek_n, in, n, out);
}

int aes_gcm(bool encrypt, const uint8_t *key, size_t key_n, const uint8_t iv[12], const uint8_t *aad, size_t aad_n,
            const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16])
{
    const EVP_CIPHER *c = key_n == 16 ? EVP_aes_128_gcm() : key_n == 24 ? EVP_aes_192_gcm()
                        : key_n == 32 ? EVP_aes_256_gcm() : NULL;
    if (!c || n > INT32_MAX || aad_n > INT32_MAX) return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0;
    int ok = ctx && EVP_CipherInit_ex(ctx, c, NULL, key, iv, encrypt) &&
             EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aad_n) &&
             (n == 0 || EVP_CipherUpdate(ctx, out, &len, in, (int)n)) &&
             (encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag)) &&
             EVP_CipherFinal_ex(ctx, out + (n ? len : 0), &fin) &&
             (!encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag));
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}
