/* The general JOSE API (security/jose.c) against fixed vectors: RFC 7520
 * 5.6 (dir + A128GCM) and 5.8 (A128KW + A128GCM), RFC 7515 A.1 (HS256) and
 * A.3 (ES256); then round trips of every claimed alg/enc (RSA-OAEP-256 has no
 * RFC 7520 vector: round trips here, jwcrypto interop elsewhere), detached JWS
 * (RFC 7515 Appendix F), tampering, wrong keys and refused forms. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "security/jose.h"

/* RFC 7520 section 5 plaintext (U+2013 as UTF-8). */
static const char frodo[] = "You can trust us to stick with you through thick and thin\xe2\x80\x93to the bitter end. "
                            "And you can trust us to keep any secret of yours\xe2\x80\x93"
                            "closer than you keep it yourself. But you cannot trust us to let you face trouble "
                            "alone, and go off without a word. We are your friends, Frodo.";

static const char rfc7520_5_6_key[] =
    "{\"kty\":\"oct\",\"kid\":\"77c7e2b8-6e13-45cf-8672-617b5b45243a\",\"use\":\"enc\",\"alg\":\"A128GCM\","
    "\"k\":\"XctOhJAkA-pD9Lh7ZgW_2A\"}";
static const char rfc7520_5_6_jwe[] =
    "eyJhbGciOiJkaXIiLCJraWQiOiI3N2M3ZTJiOC02ZTEzLTQ1Y2YtODY3Mi02MTdiNWI0NTI0M2EiLCJlbmMiOiJBMTI4R0NNIn0"
    "..refa467QzzKx6QAB.JW_i_f52hww_ELQPGaYyeAB6HYGcR559l9TYnSovc23XJoBcW29rHP8yZOZG7YhLpT1bjFuvZPjQS-m0IFtVcXk"
    "ZXdH_lr_FrdYt9HRUYkshtrMmIUAyGmUnd9zMDB2n0cRDIHAzFVeJUDxkUwVAE7_YGRPdcqMyiBoCO-FBdE-Nceb4h3-FtBP-c_BIwCPTjb"
    "9o0SbdcdREEMJMyZBH8ySWMVi1gPD9yxi-aQpGbSv_F9N4IZAxscj5g-NJsUPbjk29-s7LJAGb15wEBtXphVCgyy53CoIKLHHeJHXex45Uz9"
    "aKZSRSInZI-wjsY0yu3cT4_aQ3i1o-tiE-F8Ios61EKgyIQ4CWao8PFMj8TTnp.vbb32Xvllea2OtmHAdccRQ";

static const char rfc7520_5_8_key[] =
    "{\"kty\":\"oct\",\"kid\":\"81b20965-8332-43d9-a468-82160ad91ac8\",\"use\":\"enc\",\"alg\":\"A128KW\","
    "\"k\":\"GZy6sIZ6wl9NJOKB-jnmVQ\"}";
static const char rfc7520_5_8_jwe[] =
    "eyJhbGciOiJBMTI4S1ciLCJraWQiOiI4MWIyMDk2NS04MzMyLTQzZDktYTQ2OC04MjE2MGFkOTFhYzgiLCJlbmMiOiJBMTI4R0NNIn0"
    ".CBI6oDw8MydIx1IBntf_lQcw2MmJKIQx.Qx0pmsDa8KnJc9Jo.AwliP-KmWgsZ37BvzCefNen6VTbRK3QMA4TkvRkH0tP1bTdhtFJgJxeVm"
    "JkLD61A1hnWGetdg11c9ADsnWgL56NyxwSYjU1ZEHcGkd3EkU0vjHi9gTlb90qSYFfeF0LwkcTtjbYKCsiNJQkcIp1yeM03OmuiYSoYJVSpf7"
    "ej6zaYcMv3WwdxDFl8REwOhNImk2Xld2JXq6BR53TSFkyT7PwVLuq-1GwtGHlQeg7gDT6xW0JqHDPn_H-puQsmthc9Zg0ojmJfqqFvETUxLAF"
    "-KjcBTS5dNy6egwkYtOt8EIHK-oEsKYtZRaa8Z7MOZ7UGxGIMvEmxrGCPeJa14slv2-gaqK0kEThkaSqdYw0FkQZF.ER7MWJZ1FBI_NKvn7Zb1Lw";

/* RFC 7520 5.4: ECDH-ES+A128KW + A128GCM to a P-384 key. */
static const char rfc7520_5_4_key[] =
    "{\"kty\":\"EC\",\"kid\":\"peregrin.took@tuckborough.example\",\"use\":\"enc\",\"crv\":\"P-384\","
    "\"x\":\"YU4rRUzdmVqmRtWOs2OpDE_T5fsNIodcG8G5FWPrTPMyxpzsSOGaQLpe2FpxBmu2\","
    "\"y\":\"A8-yxCHxkfBz3hKZfI1jUYMjUhsEveZ9THuwFjH2sCNdtksRJU7D5-SkgaFL1ETP\","
    "\"d\":\"iTx2pk7wW-GqJkHcEkFQb2EFyYcO7RugmaW3mRrQVAOUiPommT0IdnYK2xDlZh-j\"}";
static const char rfc7520_5_4_jwe[] =
    "eyJhbGciOiJFQ0RILUVTK0ExMjhLVyIsImtpZCI6InBlcmVncmluLnRvb2tAdHVja2Jvcm91Z2guZXhhbXBsZSIsImVwayI6eyJrdHkiOiJF"
    "QyIsImNydiI6IlAtMzg0IiwieCI6InVCbzRrSFB3Nmtiang1bDB4b3dyZF9vWXpCbWF6LUdLRlp1NHhBRkZrYllpV2d1dEVLNml1RURzUTZ3"
    "TmROZzMiLCJ5Ijoic3AzcDVTR2haVkMyZmFYdW1JLWU5SlUyTW84S3BvWXJGRHI1eVBOVnRXNFBnRXdaT3lRVEEtSmRhWTh0YjdFMCJ9LCJl"
    "bmMiOiJBMTI4R0NNIn0.0DJjBXri_kBcC46IkU5_Jk9BqaQeHdv2.mH-G2zVqgztUtnW_.tkZuOO9h95OgHJmkkrfLBisku8rGf6nzVxhRM3sV"
    "OhXgz5NJ76oID7lpnAi_cPWJRCjSpAaUZ5dOR3Spy7QuEkmKx8-3RCMhSYMzsXaEwDdXta9Mn5B7cCBoJKB0IgEnj_qfo1hIi-uEkUpOZ8aLT"
    "ZGHfpl05jMwbKkTe2yK3mjF6SBAsgicQDVCkcY9BLluzx1RmC3ORXaM0JaHPB93YcdSDGgpgBWMVrNU1ErkjcMqMoT_wtCex3w03XdLkjXIuEr"
    "2hWgeP-nkUZTPU9EoGSPj6fAS-bSz87RCPrxZdj_iVyC6QWcqAu07WNhjzJEPc4jVntRJ6K53NgPQ5p99l3Z408OUqj4ioYezbS6vTPlQ"
    ".WuGzxmcreYjpHGJoa17EBg";

static const char rfc7515_payload[] = "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
static const char rfc7515_a1_key[] =
    "{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}";
static const char rfc7515_a1_jws[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl"
    "LmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
static const char rfc7515_a3_key[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\",\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}";
static const char rfc7515_a3_jws[] =
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
    "cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/* RSA-OAEP-256 keys (made with python3-jwcrypto for this test): 2048-bit, the recipient */
static const char rsa2048_a[] =
    "{\"d\":\"B3rPkyIgmsggkcyijYxoPgVXVExphipqXibyUHg3O66hOcHnQKjOLu5oTzOUfKRDE7sf_mA_kau52zMhBZ-4DloXM_OTBi"
    "Xv6xMn2WtjFCVPQW60zKYv2rUfsKvxFACY3Wsdy24gzgyQMTl_ZERr7ORxBUQSLWijEc5B8zZxusufbTcq-E4JO79bRzrJihigiQ"
    "RPzsogSnokIp8OQoREC3BtjZVuQkQ92xi4Cw6rlp2acFU9fzSjxE4tULPRWtmmCDfg3-GBZs6fxcHFHp4qbf3yF7TtxWfWxFB4X1"
    "kYN1ROoKfARLpCkXrThTE4_-trnxl3a4zcGdkpoqLVSsDHGQ\",\"dp\":\"cxJZXu60DEZLE6z-fOLaaduguGqvG1WFUgvX3e7aOgRN"
    "0tN_5QnrCzf0Zr50UNIc9GbdeGbGwxr9PwgjXicx6pXtPApl94idoLmYCLjtv3_n6GqZ4O2t6_tGcZX-nCpKdwOYAk-1gkuBm0WD"
    "8rUJYwxg9fN4FaHq5N3FlbgGGHk\",\"dq\":\"cr4VZxQkrG86lahAGZFTOTUpmgHUpK4Xynz3y72Yb3kkOyt_L16sOmzaIgrZbHwdL"
    "UpB87CwDJ2x7Q6gQhUSvnf8edK3iNbCvWkr9nSUdjFOlwSje48UtZfACSRL-xdB8NXlb19J6Dh1cGCVzfyUK0YcFRH2b3A5P5FnZ"
    "pYDTZ0\",\"e\":\"AQAB\",\"kid\":\"rsa-a\",\"kty\":\"RSA\",\"n\":\"92NLHqU05MURXgQM8XXdCx8d3LJEKRODRVqPt_pG6jaCJkImL2"
    "wNJNUS4GXD8_PRv0ykRYnHiAQSuUOIdnA6qekTMN8d33AV1eRXqyY90vYKCzwrlauzX6qGNQ01zXFZ_IJipX0n4SuBXIc3t6BrqP"
    "hNOIjf9P6Td__36-WB78ZOgb9fs7FCuh4FNWZszrQ_BFv5Cy32FRwtdJ1RU7xBJiKs1YYOoXZh3vy2NQ0HqEBdz0Xbxch28S-xSJ"
    "jAW3YK3Z7pUV7ukgRBPZI4WCKTJeUtVqr3RF23t388jHomlUCiVFYyjlnozT9H8V8GrGsEj8cif2kmq3h_XeN3r9Cvow\",\"p\":\"_"
    "Pm59GhYgq--rweZ7cEvfGx22bh_NuM_DcaRBc19dhciF94EYlvefALZBxMmho01uATBn4fn-KoIwmWk8PxD2yQxyidUnIUDHJBPT"
    "JCzykqND1mhLGtDrLZQm-rO0jYA0YRH8dhx2iwn3prBi6YSvQ8WlEY6dJ4MM21hzEQUX6k\",\"q\":\"-lh3FjkQlvwFJ7jea24ijg6"
    "Ul4agp3lhyuTd3WBSvvPPbJeERvUa0j5A3Tgosq356OqIpmHnmkF5ia2DVp4MipDOVDrZ5oUnDT5HAbEsoW6T_PWbVV3V3szT2AP"
    "cm_S5lmvhbpPcIgrJYK4Mf7jWj-n45vpsCyuOV3a-h59nlGs\",\"qi\":\"UcTmjqxaklGQTvl_gvA65LBmxnpe4TgbTwmXPtJg-auH"
    "Oa64rqFN3B6_9Vep4jDWm6R74YqfSDchxtmLF-0hjIqIqK1QxjsGR0jVvKGCq2A0P4VwF4PiIYqa1BW50jWlGvwffJGZhTpBqr7q"
    "BcJKRA12pZZY8qIBY9cITcj_abc\"}";
/* 2048-bit, another */
static const char rsa2048_b[] =
    "{\"d\":\"AVAhU9BJipppcWxXWxF9_uoJBTIKIvyyH1T_VLWAd4VKc68e9KjwL4pJGWTc4l3sjf_M0TFEx4Mu2lMmNTpPMisToJSF2N"
    "Wp4gqYdenarcijouzxq00ix05hZQucf_RDmh1iyfXGK64tLBPNHWMD0ZYRgPVU3zFy7Bg3hPBh_r7j7FM9vP7qYW6DnkBr1OmZyw"
    "GadRCPgcLDWu16VfxnOE7rmO718Qg9myYClHJzmVojHMqq9BzhBFotcAr-GkCcQBe0r_cW8OyW2mSR7EJA0OePsUDRphxvExW9xm"
    "0dYr580V7uO3WIuqbJ33ibnVie2stXwXzac5iSIP_Q9850ew\",\"dp\":\"gNSZ7Z9rctqoibAvx-rYzmRqQP-3HYOD7axSt9h4Mq9Z"
    "2PUe4NG0jbS_NRquJLc9xWcY9Pj2p87RZZD2FHPPq6Rb3PQmbI9VtcubjTXneR3xLlG9G7P1dmX_SeuuGg2Nh0-v8NuPt4zWX3Z6"
    "sObT5CDS5hPfOTT1uR6SZ9pf9e0\",\"dq\":\"LsF5hMCXgQYiEHzsYOjkUMR8kpVPhXkeg0o921fZcM9Ru6ssd_X6QzsW4XkVsATkv"
    "kBPYCdQlmpdCKYsr94I8Z-IxlpWCP56gSzBmQgfsOiki-DM46NYRUQRDPbJrWq49dvyguGiDBg7rK91628VFUH6hmBdASPw65tkF"
    "3-9h-U\",\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"inTVWDH8qNzND8UBnEGFAd3I5kfO_n1DxSWM9QP8TVax7u-U0GGO7Dd1d6Sr3BXM"
    "euTxyUBzp9YizzCeU9SDLt0cEwJxAnnO3JEyqxIpdBUuKQSR6oAiyECLz881KbYV_LMjxb28om8ncQ6zqzNd9NT-KEyLcMnhvib4"
    "2xgRw9H3OuyCLi7_aLdu-xPBQxHUIYjiC8hohCCFdrpNyBmIChk1BnxPUCld0HoFbWa_NuXIFbSa1T3qu-vNs8Pp5YMMIe0oeDS0"
    "EMcRTyxh-e9Ki0obbYTG5QHKB0dlAACXN-NmeKL15igC5ncH1G6VuNTeMqqoym5-gQXxVAcHhWD3fQ\",\"p\":\"wajOy56UtigQ16o"
    "vnAGl-vsbT_NdT4Idz_hMZ70bvsvrhVfadIYk5SZfNHhSM7opz6sPa3o80C0-X3FcBRWY6TSq2rzJkoMwoxqJbdjTwYIxIxJsJOG"
    "gQYzH-HRbNh_erTPeCmDjeC0VXQzNLnqDtfLdaJHvMH2amA8Bb2qqoxs\",\"q\":\"twbS7Qp-U9GvbTEofNqtqy2t19gnTz9GAgepu"
    "PQ87dDCbGVJ9s082Hp7UHXJw8sa7fE5KhdQjFqydcnzrRqWhKvIrQSfsBEt5d8ylDm_2vCjviW_6EWp88W_Hwm8HJHKAGGAFtDy6"
    "CaHjW1uSqKE-YhsBS6RCq__v5l8PJxJ4Uc\",\"qi\":\"ommiJkrtw4inJ95nFKUL-rWGmH__YA_uUlQzCtvR1q4faTNdv6wgq3V8DM"
    "qgu_8ehtrcyLi1PbwdKvwe2gtn0TkFq-6l6laGUMoPBSC-wIFSueXTxi_lagdq5i_r9JnrVK2yTGhfxNZHJ8KV6QeuBR-V_je1bN"
    "jAZ1BaTkTB0To\"}";
/* 1024-bit: below RFC 7518 4.3's minimum */
static const char rsa1024[] =
    "{\"d\":\"looy2E02ehckJv7yl_VJZXhoYV_fopfbzW52ljirq4sIxsBQm_a7Ewlu0OQJVydccTbc9Bh-w7hQWdzHmzD__KS2F0UNp9"
    "cKqM9206kF4eGetZvVcg9WF0qge9qBQKwVuCANDQewCIrUGBqftkcEeKH9imWZRinG29BNVpvXw6E\",\"dp\":\"TYw4O8j290JiumH"
    "UIYJ3qkcJK2ktG_uFsJztlYa5LaixN9-ilht7lwxBG-I_jW1cQwZEB22irINhj5anZIRp_Q\",\"dq\":\"fzrkToNtOzHgBYYiNZEqL"
    "cB_UDMCOns4GhKgTWlfvCtNOEWfg2oc5CLvJjFvkm4X3i6qQoIwMALJjRAjWCkLsQ\",\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"zQPM4"
    "V04pVLbC3WMGWKN_1xP3mxjk5_VIUwkF63qmvS9aYLuL5C06_wSwk0jDBWzxZCQVB9xqs4ubmk9_YY01yKM3TOIoBYqDObNWonVq"
    "r-5FZLteEBu8f9ymqXzNp9I8kPjHyb1Nq7GLStW3U4gzMTIqYtTe9h0RhIHrSYIKv8\",\"p\":\"6ACg5aBYQe0vVqYReZdZ7E4a0Eb"
    "3G8wh5E-KCzjxoVzkly8T6RKB7zd3CckdVCzlJj5kzWr0RMlDIy2if_xuDw\",\"q\":\"4jiLznax47nfukFo6HGf8BJtM0CTAKRfog"
    "_PcCinAW5WTOe5cSwnaOw4tcA9XlY8abLW_uKJGnKmwff1x0lkEQ\",\"qi\":\"rDRX2mH-daKNtBt3mMQR2a5C_xCtnB02AsW0fhmp"
    "EVcrMc1WTEfdOJr9brGho5J9lcpvj9kPUm0wV5d-JkvTDQ\"}";

static struct jose_key *key(const char *jwk)
{
    struct jose_key *k = NULL;
    assert_int_equal(jose_key_from_jwk(jwk, &k), JOSE_OK);
    return k;
}

static struct jose_key *raw_key(size_t n, uint8_t fill)
{
    uint8_t b[64];
    memset(b, fill, sizeof b);
    struct jose_key *k = NULL;
    assert_int_equal(jose_key_from_bytes(b, n, &k), JOSE_OK);
    return k;
}

/* Seals frodo to kseal, opens it with kopen into h: the JWE (the caller frees both). */
static char *seal_open(const struct jose_key *kseal, const struct jose_key *kopen, const struct jose_params *p,
                       struct jose_header *h)
{
    char *jwe;
    uint8_t *pt;
    size_t n;
    assert_int_equal(jose_jwe_seal(kseal, p, (const uint8_t *)frodo, strlen(frodo), &jwe), JOSE_OK);
    assert_int_equal(jose_jwe_open(kopen, jwe, &pt, &n, h), JOSE_OK);
    assert_int_equal(n, strlen(frodo));
    assert_memory_equal(pt, frodo, n);
    assert_string_equal(h->alg, p->alg);
    assert_string_equal(h->enc, p->enc);
    free(pt);
    return jwe;
}

static void open_vector(const char *jwk, const char *jwe, const char *alg, const char *kid)
{
    struct jose_key *k = key(jwk);
    uint8_t *pt;
    size_t n;
    struct jose_header h;
    assert_int_equal(jose_jwe_open(k, jwe, &pt, &n, &h), JOSE_OK);
    assert_int_equal(n, strlen(frodo));
    assert_memory_equal(pt, frodo, n);
    assert_string_equal(h.alg, alg);
    assert_string_equal(h.enc, "A128GCM");
    assert_string_equal(h.kid, kid);
    assert_null(h.typ);
    free(pt);
    jose_header_clear(&h);
    /* one bit of the tag changed: refused as tampered */
    char *bad = strdup(jwe);
    bad[strlen(bad) - 2] ^= 1;
    assert_int_equal(jose_jwe_open(k, bad, &pt, &n, NULL), JOSE_E_DECRYPT);
    assert_null(pt);
    free(bad);
    jose_key_free(k);
}

static void rfc7520_dir(void **s)
{
    (void)s;
    open_vector(rfc7520_5_6_key, rfc7520_5_6_jwe, "dir", "77c7e2b8-6e13-45cf-8672-617b5b45243a");
}

static void rfc7520_a128kw(void **s)
{
    (void)s;
    open_vector(rfc7520_5_8_key, rfc7520_5_8_jwe, "A128KW", "81b20965-8332-43d9-a468-82160ad91ac8");
}

static void rfc7520_ecdh_es(void **s)
{
    (void)s;
    open_vector(rfc7520_5_4_key, rfc7520_5_4_jwe, "ECDH-ES+A128KW", "peregrin.took@tuckborough.example");
}

/* ECDH-ES+A*KW to an EC P-256 key: sealed with the public half, opened with the private one. */
static void ecdh_es_round_trips(void **s)
{
    (void)s;
    char *priv = jose_new_jwk(0, "recipient"), *pub = jose_public_jwk(priv), *other = jose_new_jwk(0, NULL);
    struct jose_key *kpriv = key(priv), *kpub = key(pub), *kother = key(other);
    const char *algs[] = { "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW" };
    const char *encs[] = { "A128GCM", "A192GCM", "A256GCM" };
    for (int a = 0; a < 3; a++)
        for (int e = 0; e < 3; e++) {
            struct jose_params p = { .alg = algs[a], .enc = encs[e], .kid = "recipient",
                                     .extra = a == 1 ? "{\"apu\":\"QWxpY2U\",\"apv\":\"Qm9i\"}" : NULL };
            struct jose_header h;
            char *jwe = seal_open(kpub, kpriv, &p, &h);
            uint8_t *pt;
            size_t n;
            assert_non_null(strstr(h.json, "\"epk\""));
            assert_null(strstr(h.json, "\"d\""));
            jose_header_clear(&h);
            assert_int_equal(jose_jwe_open(kother, jwe, &pt, &n, NULL), JOSE_E_DECRYPT);
            assert_int_equal(jose_jwe_open(kpub, jwe, &pt, &n, NULL), JOSE_E_KEY);  /* no private part */
            char *c = &jwe[strlen(jwe) - 3];  /* a tag character, kept in the alphabet */
            *c = *c == 'A' ? 'B' : 'A';
            assert_int_equal(jose_jwe_open(kpriv, jwe, &pt, &n, NULL), JOSE_E_DECRYPT);
            free(jwe);
        }
    /* an oct key cannot do ECDH-ES, an EC key cannot do A128KW */
    struct jose_key *oct = raw_key(16, 1), *octkeep = oct;
    struct jose_params p = { .alg = "ECDH-ES+A128KW", .enc = "A128GCM" };
    char *jwe;
    assert_int_equal(jose_jwe_seal(oct, &p, (const uint8_t *)"x", 1, &jwe), JOSE_E_KEY);
    p.alg = "A128KW";
    assert_int_equal(jose_jwe_seal(kpub, &p, (const uint8_t *)"x", 1, &jwe), JOSE_E_KEY);
    uint8_t *pt;
    size_t n;
    /* an epk whose x holds '=' (cjose 0.6.2 aborts on it; found by fuzz_jose): refused, no abort */
    char *bad_epk = NULL;
    {
        const char *hdr = "{\"alg\":\"ECDH-ES+A128KW\",\"enc\":\"A128GCM\",\"epk\":{\"kty\":\"EC\",\"crv\":\"P-256\","
                          "\"x\":\"uBo4kHPw6kbjx5l0xowrd_oYzBmaz-GKFZu4x=AFFkb\",\"y\":\"sp3p5SGhZVC2faXumI-e9JU2Mo8KpoYrFDr5yPNVtW4\"}}";
        static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        size_t hn = strlen(hdr), k = 0;
        bad_epk = malloc(hn * 2 + 100);
        for (size_t i = 0; i < hn; i += 3) {  /* base64url, no padding */
            uint32_t v = (uint32_t)(uint8_t)hdr[i] << 16 | (i + 1 < hn ? (uint32_t)(uint8_t)hdr[i + 1] << 8 : 0) |
                         (i + 2 < hn ? (uint8_t)hdr[i + 2] : 0);
            for (size_t j = 0; j < 4 && j <= hn - i; j++) bad_epk[k++] = b64[v >> (18 - 6 * j) & 63];
        }
        strcpy(bad_epk + k, ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA");
    }
    assert_int_equal(jose_jwe_open(kpriv, bad_epk, &pt, &n, NULL), JOSE_E_DECRYPT);
    free(bad_epk);
    assert_int_equal(jose_key_from_jwk("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"a=b\",\"y\":\"AA\"}", &oct),
                     JOSE_E_MALFORMED);
    /* a P-384 epk against a P-256 key: refused as a wrong key */
    assert_int_equal(jose_jwe_open(kpriv, rfc7520_5_4_jwe, &pt, &n, NULL), JOSE_E_DECRYPT);
    jose_key_free(octkeep);
    jose_key_free(kpriv);
    jose_key_free(kpub);
    jose_key_free(kother);
    free(priv);
    free(pub);
    free(other);
}

static void verify_vector(const char *jwk, const char *jws, const char *alg)
{
    struct jose_key *k = key(jwk);
    uint8_t *pl;
    size_t n;
    struct jose_header h;
    assert_int_equal(jose_jws_verify(k, jws, NULL, 0, &pl, &n, &h), JOSE_OK);
    assert_int_equal(n, strlen(rfc7515_payload));
    assert_memory_equal(pl, rfc7515_payload, n);
    assert_string_equal(h.alg, alg);
    free(pl);
    jose_header_clear(&h);
    char *bad = strdup(jws);
    bad[60] = bad[60] == 'A' ? 'B' : 'A';  /* in the payload */
    assert_int_equal(jose_jws_verify(k, bad, NULL, 0, &pl, &n, NULL), JOSE_E_SIGNATURE);
    free(bad);
    jose_key_free(k);
}

static void rfc7515_hs256(void **s)
{
    (void)s;
    verify_vector(rfc7515_a1_key, rfc7515_a1_jws, "HS256");
}

static void rfc7515_es256(void **s)
{
    (void)s;
    verify_vector(rfc7515_a3_key, rfc7515_a3_jws, "ES256");
}

static void jwe_round_trips(void **s)
{
    (void)s;
    const char *encs[] = { "A128GCM", "A192GCM", "A256GCM" };
    const size_t sizes[] = { 16, 24, 32 };
    const char *kws[] = { "A128KW", "A192KW", "A256KW" };
    for (size_t e = 0; e < 3; e++) {
        for (size_t a = 0; a < 4; a++) {
            const char *alg = a ? kws[a - 1] : "dir";
            size_t ks = a ? sizes[a - 1] : sizes[e];
            struct jose_key *k = raw_key(ks, 0x42), *other = raw_key(ks, 0x43);
            struct jose_params p = { .alg = alg, .enc = encs[e], .kid = "key-1", .cty = "application/json" };
            char *jwe = NULL;
            assert_int_equal(jose_jwe_seal(k, &p, (const uint8_t *)"{\"t\":21.5}", 10, &jwe), JOSE_OK);
            uint8_t *pt;
            size_t n;
            struct jose_header h;
            assert_int_equal(jose_jwe_open(k, jwe, &pt, &n, &h), JOSE_OK);
            assert_int_equal(n, 10);
            assert_string_equal((char *)pt, "{\"t\":21.5}");
            assert_string_equal(h.alg, alg);
            assert_string_equal(h.enc, encs[e]);
            assert_string_equal(h.kid, "key-1");
            assert_string_equal(h.cty, "application/json");
            free(pt);
            jose_header_clear(&h);
            assert_int_equal(jose_jwe_open(other, jwe, &pt, &n, NULL), JOSE_E_DECRYPT);
            /* a key of another size does not fit the header's algorithm */
            struct jose_key *wrong = raw_key(ks == 16 ? 32 : 16, 0x42);
            assert_int_equal(jose_jwe_open(wrong, jwe, &pt, &n, NULL), JOSE_E_KEY);
            char *unused;
            assert_int_equal(jose_jwe_seal(wrong, &p, (const uint8_t *)"x", 1, &unused), JOSE_E_KEY);
            jose_key_free(wrong);
            free(jwe);
            jose_key_free(k);
            jose_key_free(other);
        }
    }
}

static void jwe_empty_and_extra(void **s)
{
    (void)s;
    struct jose_key *k = raw_key(32, 7);
    struct jose_params p = { .alg = "dir", .enc = "A256GCM", .kid = "k", .extra = "{\"ori\":\"o1\",\"rri\":\"r1\"}" };
    char *jwe;
    assert_int_equal(jose_jwe_seal(k, &p, NULL, 0, &jwe), JOSE_OK);
    uint8_t *pt;
    size_t n = 99;
    assert_int_equal(jose_jwe_open(k, jwe, &pt, &n, NULL), JOSE_OK);
    assert_int_equal(n, 0);
    free(pt);
    struct jose_header h;
    assert_int_equal(jose_peek_header(jwe, &h), JOSE_OK);
    assert_non_null(strstr(h.json, "\"ori\":\"o1\""));
    assert_non_null(strstr(h.json, "\"rri\":\"r1\""));
    jose_header_clear(&h);
    free(jwe);
    /* extra may not override the algorithm nor add crit */
    p.extra = "{\"alg\":\"none\"}";
    assert_int_equal(jose_jwe_seal(k, &p, (const uint8_t *)"x", 1, &jwe), JOSE_E_ARGUMENT);
    p.extra = "{\"crit\":[\"x\"]}";
    assert_int_equal(jose_jwe_seal(k, &p, (const uint8_t *)"x", 1, &jwe), JOSE_E_ARGUMENT);
    p.extra = "[1]";
    assert_int_equal(jose_jwe_seal(k, &p, (const uint8_t *)"x", 1, &jwe), JOSE_E_ARGUMENT);
    jose_key_free(k);
}

static void jwe_refused(void **s)
{
    (void)s;
    struct jose_key *k = raw_key(16, 1);
    struct jose_params p = { .alg = "RSA-OAEP", .enc = "A128GCM" };
    char *out;
    assert_int_equal(jose_jwe_seal(k, &p, (const uint8_t *)"x", 1, &out), JOSE_E_ALG);
    p = (struct jose_params){ .alg = "dir", .enc = "A128CBC-HS256" };
    assert_int_equal(jose_jwe_seal(k, &p, (const uint8_t *)"x", 1, &out), JOSE_E_ALG);
    uint8_t *pt;
    size_t n;
    /* {"alg":"dir","enc":"A128CBC-HS256"} */
    assert_int_equal(jose_jwe_open(k, "eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0..AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA",
                                   &pt, &n, NULL), JOSE_E_ALG);
    /* {"alg":"dir","enc":"A128GCM","zip":"DEF"} */
    assert_int_equal(jose_jwe_open(k, "eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIiwiemlwIjoiREVGIn0..AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA",
                                   &pt, &n, NULL), JOSE_E_ALG);
    /* {"alg":"dir","enc":"A128GCM"} with a 4-byte IV */
    assert_int_equal(jose_jwe_open(k, "eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIn0..AAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA",
                                   &pt, &n, NULL), JOSE_E_MALFORMED);
    assert_int_equal(jose_jwe_open(k, rfc7515_a1_jws, &pt, &n, NULL), JOSE_E_MALFORMED);   /* a JWS */
    assert_int_equal(jose_jwe_open(k, "a.b.c.d.e.f", &pt, &n, NULL), JOSE_E_MALFORMED);
    assert_int_equal(jose_jwe_open(k, "e30..AA.AA.A A", &pt, &n, NULL), JOSE_E_MALFORMED);
    assert_int_equal(jose_jwe_open(k, "", &pt, &n, NULL), JOSE_E_MALFORMED);
    assert_int_equal(jose_jwe_open(k, "bm90IGpzb24..AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA", &pt, &n, NULL),
                     JOSE_E_MALFORMED);
    size_t big = JOSE_MAX_COMPACT_BYTES + 1;
    char *huge = malloc(big + 1);
    memset(huge, 'A', big);
    huge[big] = 0;
    assert_int_equal(jose_jwe_open(k, huge, &pt, &n, NULL), JOSE_E_TOO_LARGE);
    free(huge);
    /* an EC key is no JWE key here */
    struct jose_key *ec = key(rfc7515_a3_key);
    assert_int_equal(jose_jwe_open(ec, rfc7520_5_6_jwe, &pt, &n, NULL), JOSE_E_KEY);
    jose_key_free(ec);
    jose_key_free(k);
}

static void jws_round_trips(void **s)
{
    (void)s;
    char *ec_json = jose_new_jwk(0, "signer-1");
    assert_non_null(ec_json);
    char *pub_json = jose_public_jwk(ec_json);
    assert_non_null(pub_json);
    assert_null(strstr(pub_json, "\"d\""));
    char *oct_json = jose_new_jwk(32, NULL);
    struct jose_key *ec = key(ec_json), *pub = key(pub_json), *oct = key(oct_json);
    assert_string_equal(jose_key_kid(ec), "signer-1");
    assert_null(jose_key_kid(oct));
    struct {
        struct jose_key *sign, *verify;
        const char *alg;
    } cases[] = { { ec, pub, "ES256" }, { oct, oct, "HS256" } };
    const uint8_t msg[] = "firmware digest";
    for (size_t i = 0; i < 2; i++) {
        struct jose_params p = { .alg = cases[i].alg, .kid = "k1", .typ = "JOSE" };
        char *jws;
        assert_int_equal(jose_jws_sign(cases[i].sign, &p, msg, sizeof msg - 1, false, &jws), JOSE_OK);
        uint8_t *pl;
        size_t n;
        struct jose_header h;
        assert_int_equal(jose_jws_verify(cases[i].verify, jws, NULL, 0, &pl, &n, &h), JOSE_OK);
        assert_int_equal(n, sizeof msg - 1);
        assert_memory_equal(pl, msg, n);
        assert_string_equal(h.typ, "JOSE");
        free(pl);
        jose_header_clear(&h);
        free(jws);
        /* detached (RFC 7515 Appendix F) */
        assert_int_equal(jose_jws_sign(cases[i].sign, &p, msg, sizeof msg - 1, true, &jws), JOSE_OK);
        assert_non_null(strstr(jws, ".."));
        assert_int_equal(jose_jws_verify(cases[i].verify, jws, msg, sizeof msg - 1, NULL, NULL, NULL), JOSE_OK);
        assert_int_equal(jose_jws_verify(cases[i].verify, jws, (const uint8_t *)"firmware digesT", 15, NULL, NULL, NULL),
                         JOSE_E_SIGNATURE);
        /* without the payload it is a signature over nothing: refused */
        assert_int_equal(jose_jws_verify(cases[i].verify, jws, NULL, 0, &pl, &n, NULL), JOSE_E_SIGNATURE);
        free(jws);
    }
    /* wrong key types and sizes */
    struct jose_params hs = { .alg = "HS256" }, es = { .alg = "ES256" };
    char *jws;
    assert_int_equal(jose_jws_sign(pub, &es, msg, 1, false, &jws), JOSE_E_KEY);  /* no private part */
    assert_int_equal(jose_jws_sign(ec, &hs, msg, 1, false, &jws), JOSE_E_KEY);
    struct jose_key *short_key = raw_key(16, 9);
    assert_int_equal(jose_jws_sign(short_key, &hs, msg, 1, false, &jws), JOSE_E_KEY);
    jose_key_free(short_key);
    /* an RSA-signed JWS (RFC 7515 A.2 header) and alg none are refused */
    struct jose_params none = { .alg = "none" };
    assert_int_equal(jose_jws_sign(oct, &none, msg, 1, false, &jws), JOSE_E_ALG);
    uint8_t *pl;
    size_t n;
    assert_int_equal(jose_jws_verify(oct, "eyJhbGciOiJub25lIn0.eyJhIjoxfQ.", NULL, 0, &pl, &n, NULL), JOSE_E_ALG);
    assert_int_equal(jose_jws_verify(oct, "eyJhbGciOiJub25lIn0.eyJhIjoxfQ.AAAA", NULL, 0, &pl, &n, NULL), JOSE_E_ALG);
    assert_int_equal(jose_jws_verify(oct, "eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.AAAA", NULL, 0, &pl, &n, NULL), JOSE_E_ALG);
    /* HS256 header verified with the EC public key: algorithm confusion refused */
    assert_int_equal(jose_jws_verify(pub, rfc7515_a1_jws, NULL, 0, &pl, &n, NULL), JOSE_E_KEY);
    assert_int_equal(jose_jws_verify(oct, rfc7520_5_6_jwe, NULL, 0, &pl, &n, NULL), JOSE_E_MALFORMED);
    jose_key_free(ec);
    jose_key_free(pub);
    jose_key_free(oct);
    free(ec_json);
    free(pub_json);
    free(oct_json);
}

static void keys_and_texts(void **s)
{
    (void)s;
    struct jose_key *k;
    assert_int_equal(jose_key_from_jwk("not json", &k), JOSE_E_MALFORMED);
    assert_null(k);
    assert_int_equal(jose_key_from_jwk("{\"kty\":\"oct\"}", &k), JOSE_E_MALFORMED);
    assert_int_equal(jose_key_from_jwk(NULL, &k), JOSE_E_ARGUMENT);
    assert_int_equal(jose_key_from_bytes(NULL, 0, &k), JOSE_E_ARGUMENT);
    assert_null(jose_new_jwk(17, NULL));
    assert_null(jose_public_jwk(rfc7515_a1_key));
    for (int e = JOSE_OK; e <= JOSE_E_INTERNAL; e++) assert_true(strlen(jose_error_text(e)) > 1);
    struct jose_header h;
    assert_int_equal(jose_peek_header(rfc7515_a3_jws, &h), JOSE_OK);
    assert_string_equal(h.alg, "ES256");
    jose_header_clear(&h);
    assert_int_equal(jose_peek_header("abc", &h), JOSE_E_MALFORMED);
}

/* RSA-OAEP-256 (no RFC 7520 vector exists for it: 5.2 is SHA-1 RSA-OAEP; interop with
 * jwcrypto is in tests/integration/test_jose_interop.py): round trips, wrong and public-only
 * keys, tampered ek / ciphertext / tag, a 1024-bit key refused, n/e/d without CRT members. */
static void flip_in_part(char *jwe, int part, size_t at)
{
    char *c = jwe;
    for (int i = 0; i < part; i++) c = strchr(c, '.') + 1;
    c += at;
    *c = *c == 'A' ? 'B' : 'A';  /* stays in the alphabet */
}

static void rsa_oaep_round_trips(void **s)
{
    (void)s;
    char *pub = jose_public_jwk(rsa2048_a);
    assert_non_null(pub);
    assert_null(strstr(pub, "\"d\""));
    struct jose_key *kpriv = key(rsa2048_a), *kpub = key(pub), *kother = key(rsa2048_b);
    const char *encs[] = { "A128GCM", "A192GCM", "A256GCM" };
    for (int e = 0; e < 3; e++) {
        struct jose_params p = { .alg = "RSA-OAEP-256", .enc = encs[e], .kid = "rsa-a" };
        struct jose_header h;
        char *jwe = seal_open(kpub, kpriv, &p, &h);
        jose_header_clear(&h);
        /* ek is the modulus size: 256 bytes, 342 base64url characters */
        const char *ek = strchr(jwe, '.') + 1;
        assert_int_equal(strchr(ek, '.') - ek, 342);
        uint8_t *pt;
        size_t n;
        assert_int_equal(jose_jwe_open(kother, jwe, &pt, &n, NULL), JOSE_E_DECRYPT);
        assert_null(pt);
        assert_int_equal(jose_jwe_open(kpub, jwe, &pt, &n, NULL), JOSE_E_KEY);  /* no private part */
        for (int part = 1; part <= 4; part += part == 1 ? 2 : 1) {  /* ek, ciphertext, tag */
            char *bad = strdup(jwe);
            flip_in_part(bad, part, 5);
            assert_int_equal(jose_jwe_open(kpriv, bad, &pt, &n, NULL), JOSE_E_DECRYPT);
            assert_null(pt);
            free(bad);
        }
        free(jwe);
    }
    /* empty plaintext; a private JWK with only n, e, d (no CRT members) still opens */
    struct jose_params p = { .alg = "RSA-OAEP-256", .enc = "A256GCM" };
    char *jwe, *ned = strdup(rsa2048_a);
    static const char *const crt[] = { "\"p\"", "\"q\"", "\"dp\"", "\"dq\"", "\"qi\"" };
    for (int i = 0; i < 5; i++) {  /* the members are strings without ',' or '}' */
        char *m = strstr(ned, crt[i]), *end = m + strcspn(m, ",}");
        if (*end == ',') end++;
        else if (m[-1] == ',') m--;
        memmove(m, end, strlen(end) + 1);
    }
    assert_null(strstr(ned, "\"qi\""));
    struct jose_key *kned = key(ned);
    assert_int_equal(jose_jwe_seal(kpub, &p, NULL, 0, &jwe), JOSE_OK);
    uint8_t *pt;
    size_t n = 1;
    assert_int_equal(jose_jwe_open(kned, jwe, &pt, &n, NULL), JOSE_OK);
    assert_int_equal(n, 0);
    free(pt);
    /* ek of another length than the modulus: refused by its form, before any RSA */
    char *shorter = malloc(strlen(jwe) + 1), *ek = strchr(jwe, '.') + 1;
    size_t hn = (size_t)(ek - jwe);
    memcpy(shorter, jwe, hn);
    strcpy(shorter + hn, ek + 4);
    assert_int_equal(jose_jwe_open(kpriv, shorter, &pt, &n, NULL), JOSE_E_MALFORMED);
    free(shorter);
    /* a 1024-bit key is refused both ways; oct and EC keys cannot do RSA-OAEP-256, RSA not A128KW */
    struct jose_key *small = key(rsa1024), *oct = raw_key(16, 1);
    assert_int_equal(jose_jwe_open(small, jwe, &pt, &n, NULL), JOSE_E_KEY);
    free(jwe);
    assert_int_equal(jose_jwe_seal(small, &p, (const uint8_t *)"x", 1, &jwe), JOSE_E_KEY);
    assert_int_equal(jose_jwe_seal(oct, &p, (const uint8_t *)"x", 1, &jwe), JOSE_E_KEY);
    p.alg = "A128KW";
    p.enc = "A128GCM";
    assert_int_equal(jose_jwe_seal(kpub, &p, (const uint8_t *)"x", 1, &jwe), JOSE_E_KEY);
    p.alg = "RSA-OAEP";  /* SHA-1 OAEP (cjose has it): not claimed */
    assert_int_equal(jose_jwe_seal(kpub, &p, (const uint8_t *)"x", 1, &jwe), JOSE_E_ALG);
    jose_key_free(oct);
    /* an RSA JWK that is no key (e empty) is malformed */
    assert_int_equal(jose_key_from_jwk("{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"\"}", &oct), JOSE_E_MALFORMED);
    assert_null(oct);
    jose_key_free(small);
    jose_key_free(kned);
    jose_key_free(kpriv);
    jose_key_free(kpub);
    jose_key_free(kother);
    free(ned);
    free(pub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc7520_dir),     cmocka_unit_test(rfc7520_a128kw),      cmocka_unit_test(rfc7515_hs256),
        cmocka_unit_test(rfc7515_es256),   cmocka_unit_test(jwe_round_trips),     cmocka_unit_test(jwe_empty_and_extra),
        cmocka_unit_test(jwe_refused),     cmocka_unit_test(jws_round_trips),     cmocka_unit_test(keys_and_texts),
        cmocka_unit_test(rfc7520_ecdh_es), cmocka_unit_test(ecdh_es_round_trips),
        cmocka_unit_test(rsa_oaep_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
