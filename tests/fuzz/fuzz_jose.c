/* The general JOSE API (security/jose.c) and the CSE's envelope form check
 * (security/esdata.c) on what producers store and peers send. Keys are the
 * RFC 7520 5.6 (dir, A128GCM), 5.8 (A128KW) and 5.4 (ECDH-ES+A128KW, P-384)
 * keys, the RFC 7515 A.1 (HS256) and A.3 (ES256) keys and an RSA key (RSA-OAEP-256), so the
 * RFC vectors and the RSA seed in corpus/jose reach the cryptography. Byte 0, bits 0-1:
 * 0 = jose_jwe_open, 1 = jose_jws_verify, 2 = detached jose_jws_verify (the text is "compact\npayload"), 3 =
 * esdata_check under every contentSecurity. Bit 2: the text is
 * "header JSON\nrest" and the target base64url-encodes the header (so
 * mutations reach the JSON). Cross-check: what jose.c opens or verifies, the
 * CSE's form check must accept as a JWE or JWS. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>

#include "security/esdata.h"
#include "security/jose.h"
#include "fuzz.h"

static const char *const jwks[] = {
    "{\"kty\":\"oct\",\"k\":\"XctOhJAkA-pD9Lh7ZgW_2A\"}",
    "{\"kty\":\"oct\",\"k\":\"GZy6sIZ6wl9NJOKB-jnmVQ\"}",
    "{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}",
    ("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"YU4rRUzdmVqmRtWOs2OpDE_T5fsNIodcG8G5FWPrTPMyxpzsSOGaQLpe2FpxBmu2\","
     "\"y\":\"A8-yxCHxkfBz3hKZfI1jUYMjUhsEveZ9THuwFjH2sCNdtksRJU7D5-SkgaFL1ETP\","
     "\"d\":\"iTx2pk7wW-GqJkHcEkFQb2EFyYcO7RugmaW3mRrQVAOUiPommT0IdnYK2xDlZh-j\"}"),
    ("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
     "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"),
    /* RSA 2048, private (made for this target; seeds.py's RSA-OAEP-256 seed is sealed to it) */
    ("{\"d\":\"Ah6xavwZiWWkOYYRnJ3Si7MITjlcdiaKtcw8EeJ9IVexWlz1M5NSQVJLdSZpvwyf5sX8OgNrCYU_aoCZ5tfF8SMnrh9q6xF"
     "YCc-_VdldSefPhqoJNvYuzJ_Hcd2oLpSk60nBqhkg97e5YEFA08_Pi4vOOviObwbzsYolmtkbm3cv4qmTl-xJ73EEiEFjYFgqB6xBoyd"
     "Zt_xU-kaFa22x5NJcsJbpNkowiotSanJ2QWUBXn3b3nvwgZCXXxkfgLkaN7DcD-JgJJzRExnYn4dubq1RXBobAY28bvQKhSGCazq0trz"
     "T9FfYotZ5OJUM3J_7SEz8tVTYJoYmEefNMxwiYQ\",\"dp\":\"vJkMxDg-4qTCA2JvrO_vomFRix0HSq-iuUhdFF6Tb7coTtm7lmZBG"
     "kOVjS8PbXPv0kYpi9eOrEQY0b-RHzzMXokkymQQGiM1DEu7JELoR-1BLnF8Nd_faiKeQ3pyNMiKe6d1M7H2_OMkn0XuO0dsgTfJuxvO8"
     "myBlr6vV2HzY8E\",\"dq\":\"O1QWB-9cPs98Q4ZuIjayHYMWcofTO_2JBKjmjejjbFxLQXBuGQdfLicf-BxL9PUd5ayAu-mUZ3u-8V"
     "OTF5TNo-OBLgT-yo_hd0O7ewZmGdYrNZxPRREMYdMg-TIqAhcDYguYOuxKQavHByvoFI-VB5sDSJbeIYxS-0cj7wXbON8\",\"e\":\""
     "AQAB\",\"kty\":\"RSA\",\"n\":\"pxdiTFpH_-RRiFcHeTltAhkH8G43vY0v75es-rh3Q4k5coogOIXJ5qH4xAfYraeMaTDBR-sY5"
     "uUtEu5uDYT6SRunW_-GC2sRsCL7QeeAfZg6yjO5YltZ4VEav9h_EWfSVtnzv5ZzaSqpjKUk26FVqqROqPcIZu9u0_7LefGmvn1VSqty7"
     "fK3FYZ2Bs3mvUoiJqOfbd26bB35z3grOM-f-kRNSzLXR_vLpRF_RRPM_bfp_8vWlJZfaU-71U0nlwm4VRuCD14ygRHhWcMe9bm5i1wS9"
     "-n8sFbj5e86SDI5s2fsLv-urpWprHYOP2JQeajB5cGW6ETl85QFRR1yRtcp7w\",\"p\":\"1xvKBot7USfZ0-4xSlR-CoTI3Qvluv3w"
     "ZI9z1yJ7opfoN8DjeBGkAoQNsKU42gCqQTdZ_NUv5v3UpkXDuUbRu8UQCXLweEV_pnhllIe1xRuuXDfc9fwjeRFXearyiqkMMMRkawef"
     "HpKaYIfJHc3i2Pkdyr1XJ7P1G6RIvLILibE\",\"q\":\"xtrZDLssqUIDkw1jqAdIp1blKxCwpKmxjTPtmjXu0Am8Yt8Q5T6tVw6MKN"
     "o6ilnGMX7Or39h2uXBP34t1tyTA1PR4a4GTgpywjtLCzFO9vTfMzmh1GfeoBBgUEXMp3EZqYyUPc3RfpfOE8GDIPMf5WV3YuquekqBAm"
     "x5ofCbNZ8\",\"qi\":\"DW-1GAI6Iz1PhrzPely5EWVBbtatRFa0X8XgvqRG4pzmVHB75UA1FSFj2QQVXGsJD7uDrJcEKrywXEwrkbl"
     "SUS0HY4RyeJ4OkfKz4Ta2HwGWiRlYFsB5PmcSqmR1n3VY0hV43jl9RP2edN5K8j9uKth4F5rr86o-eyF548c20sU\"}"),
};
#define NKEYS (sizeof jwks / sizeof *jwks)

static struct jose_key **keys(void)
{
    static struct jose_key *k[NKEYS];
    for (size_t i = 0; i < NKEYS; i++)
        if (!k[i]) FUZZ_CHECK(jose_key_from_jwk(jwks[i], &k[i]) == JOSE_OK);
    return k;
}

/* "header JSON\nrest" -> base64url(header) "." rest; NULL without a newline. */
static char *encode_header(const char *in)
{
    const char *nl = strchr(in, '\n');
    if (!nl) return NULL;
    char *h = NULL, *out = NULL;
    size_t hn;
    cjose_err e;
    if (!cjose_base64url_encode((const uint8_t *)in, (size_t)(nl - in), &h, &hn, &e)) return NULL;
    if (asprintf(&out, "%s.%s", h, nl + 1) < 0) out = NULL;
    free(h);
    return out;
}

static void check_header(const char *compact)
{
    struct jose_header h;
    if (jose_peek_header(compact, &h) == JOSE_OK) FUZZ_CHECK(h.json != NULL);
    else FUZZ_CHECK(!h.json && !h.alg && !h.enc);
    jose_header_clear(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int mode = data[0] & 3;
    char *text = strndup((const char *)data + 1, size - 1);
    if (!text) return 0;
    char *in = (data[0] & 4) ? encode_header(text) : text;
    if (!in) { free(text); return 0; }
    struct jose_key **k = keys();
    if (mode == 0) {
        for (size_t i = 0; i < NKEYS; i++) {
            uint8_t *plain = NULL;
            size_t len = 0;
            struct jose_header h;
            enum jose_error e = jose_jwe_open(k[i], in, &plain, &len, &h);
            FUZZ_CHECK(e >= JOSE_OK && e <= JOSE_E_INTERNAL && jose_error_text(e));
            if (e == JOSE_OK) {
                FUZZ_CHECK(plain && plain[len] == 0 && h.alg && h.enc);
                FUZZ_CHECK(esdata_compact_form(in, strlen(in)) == ESDATA_JWE);
            } else {
                FUZZ_CHECK(!plain && !len && !h.json);
            }
            free(plain);
            jose_header_clear(&h);
        }
    } else if (mode == 1 || mode == 2) {
        char *payload = mode == 2 ? strchr(in, '\n') : NULL;
        if (payload) *payload++ = 0;
        for (size_t i = 0; i < NKEYS; i++) {
            uint8_t *out = NULL;
            size_t len = 0;
            enum jose_error e = jose_jws_verify(k[i], in, (const uint8_t *)payload, payload ? strlen(payload) : 0,
                                                payload ? NULL : &out, payload ? NULL : &len, NULL);
            FUZZ_CHECK(e >= JOSE_OK && e <= JOSE_E_INTERNAL);
            if (e == JOSE_OK) FUZZ_CHECK(esdata_compact_form(in, strlen(in)) == ESDATA_JWS);
            if (e == JOSE_OK && !payload) FUZZ_CHECK(out && out[len] == 0);
            if (e != JOSE_OK) FUZZ_CHECK(!out);
            free(out);
        }
    } else {
        json_t *con = json_string(in);
        char why[300];
        static const char *const cnfs[] = { "text/plain:0", "text/plain:0:1", "text/plain:0:2",
                                            "text/plain:0:3", "text/plain:0:4", "text/plain:0:5" };
        for (size_t i = 0; con && i < sizeof cnfs / sizeof *cnfs; i++) {
            int rc = esdata_check(cnfs[i], con, why, sizeof why);
            FUZZ_CHECK(rc == 0 || rc == -1);
            if (i == 0) FUZZ_CHECK(rc == 0);
        }
        json_t *obj = json_loads(in, JSON_DECODE_ANY, NULL);
        if (obj) (void)esdata_check("application/json:0:2", obj, why, sizeof why);
        json_decref(obj);
        json_decref(con);
    }
    check_header(in);
    if (in != text) free(in);
    free(text);
    return 0;
}
