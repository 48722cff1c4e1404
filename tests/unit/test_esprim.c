/* ESPrim's pure parts (security/esprim.h): the session-key derivation
 * against fixed vectors (computed with Python's hmac, an independent
 * HMAC-SHA256), nonce objects, m2m:seci and the ESPrim object's parser,
 * a JWE sealed by python3-jwcrypto opened here, and seal/open round trips. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cse/base/b64url.h"
#include "cse/base/clock.h"
#include "cse/core/primitive_json.h"
#include "cse/core/rsc.h"
#include "security/esprim.h"

#include <stdlib.h>
#include <string.h>

static const struct esprim_crypto *C = &esprim_crypto_openssl;

/* Pairwise key 00..1f, receiver value a0..af, originator value b0..bf. */
static void vector_objects(struct esprim_rand *recv, struct esprim_rand *orig, uint8_t pairwise[32])
{
    memset(recv, 0, sizeof *recv);
    memset(orig, 0, sizeof *orig);
    for (int i = 0; i < 16; i++) {
        recv->value[i] = (uint8_t)(0xa0 + i);
        orig->value[i] = (uint8_t)(0xb0 + i);
    }
    for (int i = 0; i < 32; i++) pairwise[i] = (uint8_t)i;
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_kdf_input_layout(void **state)
{
    (void)state;
    struct esprim_rand r, o;
    uint8_t pw[32], in[ESPRIM_KDF_INPUT_LEN];
    vector_objects(&r, &o, pw);
    esprim_kdf_input(&r, &o, in);
    assert_int_equal(ESPRIM_KDF_INPUT_LEN, 16 + 16 + 56);
    assert_memory_equal(in, r.value, 16);           /* receiver first */
    assert_memory_equal(in + 16, o.value, 16);      /* then the originator */
    assert_memory_equal(in + 32, "oneM2M HMAC-SHA256 sessionESPrimKey derivation algorithm", 56);
}

static void test_kdf_vectors(void **state)
{
    (void)state;
    struct esprim_rand r, o;
    uint8_t pw[32], key[32];
    char hex[65];
    vector_objects(&r, &o, pw);
    assert_int_equal(esprim_session_key(C, pw, 32, &r, &o, key), 0);
    hex_of(key, 32, hex);
    assert_string_equal(hex, "0abc783bc4c1d37c9bdb9efedd2219eee765cb65b7800d588bb3cf9250e78b43");
    /* A 16-byte pairwise key 4f7a...4f7a. */
    uint8_t pw16[16];
    for (int i = 0; i < 16; i += 2) { pw16[i] = 0x4f; pw16[i + 1] = 0x7a; }
    assert_int_equal(esprim_session_key(C, pw16, 16, &r, &o, key), 0);
    hex_of(key, 32, hex);
    assert_string_equal(hex, "89a5acab7bbf427400b4fd3f09d328e3b5f38129596d46f9f9440dc084c3504d");
    /* The order matters: swapped nonces give another key. */
    assert_int_equal(esprim_session_key(C, pw, 32, &o, &r, key), 0);
    hex_of(key, 32, hex);
    assert_string_equal(hex, "6fdd9460877375ab12dec3bfed62852bfe47964e3ebc4dfe2dcf09eb02e09966");
}

static void test_rand_objects(void **state)
{
    (void)state;
    char err[200];
    struct esprim_rand r;
    int64_t now = clock_now_us();
    json_t *o = json_loads("{\"esri\":\"urecv1\",\"esrv\":\"oKGio6SlpqeoqaqrrK2urw\",\"esrx\":\"20991231T000000\","
                           "\"esks\":[1],\"espa\":[10,12]}", 0, NULL);
    assert_int_equal(esprim_rand_parse(o, true, now, &r, err, sizeof err), 0);
    assert_string_equal(r.id, "urecv1");
    assert_int_equal(r.value[0], 0xa0);
    assert_int_equal(r.value[15], 0xaf);
    assert_int_equal(r.kdfs, 1u << 1);
    assert_int_equal(r.aeads, 1u << 0 | 1u << 2);
    /* Round trip through JSON. */
    json_t *back = esprim_rand_json(&r, true);
    struct esprim_rand r2;
    assert_int_equal(esprim_rand_parse(back, true, now, &r2, err, sizeof err), 0);
    assert_memory_equal(&r, &r2, sizeof r);
    json_decref(back);
    /* Relative esrx: milliseconds from now. */
    json_object_set_new(o, "esrx", json_integer(5000));
    assert_int_equal(esprim_rand_parse(o, true, now, &r, err, sizeof err), 0);
    assert_true(r.expiry_us == now + 5000000);
    static const char *const bad[][2] = {
        { "esri", "\"1bad\"" }, { "esrv", "\"oKGio6Slpqeo\"" }, { "esrv", "\"oKGio6SlpqeoqaqrrK2urw==\"" },
        { "esrx", "\"tomorrow\"" }, { "esks", "[]" }, { "espa", "[13]" }, { "espa", "\"12\"" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *copy = json_deep_copy(o);
        json_object_set_new(copy, bad[i][0], json_loads(bad[i][1], JSON_DECODE_ANY, NULL));
        assert_int_equal(esprim_rand_parse(copy, true, now, &r, err, sizeof err), RSC_BAD_REQUEST);
        json_decref(copy);
    }
    /* An originator object names one esk, not esks. */
    assert_int_equal(esprim_rand_parse(o, false, now, &r, err, sizeof err), RSC_BAD_REQUEST);
    json_object_set_new(o, "esk", json_integer(1));
    assert_int_equal(esprim_rand_parse(o, false, now, &r, err, sizeof err), 0);
    json_decref(o);
}

static void test_esi(void **state)
{
    (void)state;
    char err[200];
    static const char *const good[] = {
        "{\"esf\":[13]}", "{\"esf\":[13,43],\"escert\":[\"MIIB+w==\"]}",
        "{\"esf\":[13],\"esro\":{\"esri\":\"s1\",\"esrv\":\"oKGio6SlpqeoqaqrrK2urw\",\"esrx\":\"20991231T000000\",\"esks\":[1],\"espa\":[12]}}",
    };
    static const char *const bad[] = {
        "[]", "{}", "{\"esf\":13}", "{\"esf\":[9]}", "{\"esf\":[16]}", "{\"esf\":[13],\"x\":1}",
        "{\"esf\":[13],\"escert\":\"MIIB\"}", "{\"esf\":[13],\"escert\":[\"not base64!\"]}",
        "{\"esf\":[13],\"esro\":{\"esri\":\"s1\"}}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        json_t *j = json_loads(good[i], 0, NULL);
        assert_int_equal(esprim_esi_check(j, err, sizeof err), 0);
        json_decref(j);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_int_equal(esprim_esi_check(j, err, sizeof err), RSC_BAD_REQUEST);
        json_decref(j);
    }
}

static void test_seci(void **state)
{
    (void)state;
    char err[200];
    struct esprim_seci s;
    json_t *j = json_loads("{\"m2m:seci\":{\"sit\":3}}", 0, NULL);
    assert_int_equal(esprim_seci_parse(j, &s, err, sizeof err), 0);
    assert_int_equal(s.sit, 3);
    json_decref(j);
    j = json_loads("{\"m2m:seci\":{\"sit\":5,\"epo\":\"a..b.c.d\"}}", 0, NULL);
    assert_int_equal(esprim_seci_parse(j, &s, err, sizeof err), 0);
    assert_string_equal(s.epo, "a..b.c.d");
    json_decref(j);
    static const char *const bad[] = {
        "{}", "{\"m2m:seci\":[]}", "{\"m2m:seci\":{}}", "{\"m2m:seci\":{\"sit\":9}}",
        "{\"m2m:seci\":{\"sit\":\"5\"}}", "{\"m2m:seci\":{\"sit\":5}}", "{\"m2m:seci\":{\"sit\":5,\"epo\":5}}",
        "{\"m2m:seci\":{\"sit\":4}}", "{\"m2m:seci\":{\"sit\":4,\"ero\":\"x\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        j = json_loads(bad[i], 0, NULL);
        assert_int_equal(esprim_seci_parse(j, &s, err, sizeof err), RSC_BAD_REQUEST);
        json_decref(j);
    }
    /* Oversized: refused before any base64 is decoded. */
    size_t n = ESPRIM_OBJECT_MAX + 1;
    char *big = malloc(n + 1);
    memset(big, 'A', n);
    big[n] = 0;
    j = json_pack("{s:{s:i,s:s}}", "m2m:seci", "sit", 5, "epo", big);
    assert_int_equal(esprim_seci_parse(j, &s, err, sizeof err), RSC_BAD_REQUEST);
    assert_non_null(strstr(err, "exceeds"));
    json_decref(j);
    free(big);
}

/* Sealed by python3-jwcrypto 1.1 under the session key of test_kdf_vectors. */
static const char jwcrypto_object[] =
    "eyJhbGciOiAiZGlyIiwgImVuYyI6ICJBMjU2R0NNIiwgImtpZCI6ICJrMSIsICJvcmkiOiAidW9yaWcxIiwgInJyaSI6ICJ1cmVjdjEi"
    "LCAiY3R5IjogImFwcGxpY2F0aW9uL3ZuZC5vbmVtMm0tcHJlcStqc29uIn0..eifY82Y3180KXEaA."
    "picm3if_rKyj-wFaXSMzPPUdYC_RB48T_lEWVbsqrp6BWglt0Vp8lBEnoiqmxPljUR11QxtrcWTe.6-TBR5AojUIyJL5vnIJtvg";

static void session_key_of_vectors(uint8_t key[32])
{
    struct esprim_rand r, o;
    uint8_t pw[32];
    vector_objects(&r, &o, pw);
    assert_int_equal(esprim_session_key(C, pw, 32, &r, &o, key), 0);
}

static void test_object_from_jwcrypto(void **state)
{
    (void)state;
    char err[200];
    uint8_t key[32];
    session_key_of_vectors(key);
    struct esprim_object o;
    assert_int_equal(esprim_object_parse(jwcrypto_object, &o, err, sizeof err), 0);
    assert_string_equal(o.alg, "dir");
    assert_string_equal(o.enc, "A256GCM");
    assert_string_equal(o.kid, "k1");
    assert_string_equal(o.ori, "uorig1");
    assert_string_equal(o.rri, "urecv1");
    char *plain;
    size_t len;
    assert_int_equal(esprim_object_open(C, key, &o, &plain, &len), 0);
    json_t *doc = json_loadb(plain, len, 0, NULL);
    struct m2m_request req;
    m2m_request_init(&req);
    assert_int_equal(request_from_json(doc, &req, err, sizeof err), 0);
    assert_int_equal(req.op, OP_RETRIEVE);
    assert_string_equal(req.to, "cse-in");
    assert_string_equal(req.fr, "CAdmin");
    m2m_request_clear(&req);
    json_decref(doc);
    free(plain);
    /* Another key: the tag does not verify. */
    key[0] ^= 1;
    assert_int_equal(esprim_object_open(C, key, &o, &plain, &len), RSC_ESPRIM_BAD_MAC);
    assert_null(plain);
    esprim_object_clear(&o);
}

static void test_object_parse_refusals(void **state)
{
    (void)state;
    char err[200];
    struct esprim_object o;
    const char *dot1 = strchr(jwcrypto_object, '.');
    size_t hn = (size_t)(dot1 - jwcrypto_object);
    char buf[1024];
    /* Truncations at every length: never accepted with a missing part. */
    for (size_t cut = 0; cut + 1 < sizeof jwcrypto_object; cut++) {
        snprintf(buf, sizeof buf, "%.*s", (int)cut, jwcrypto_object);
        int rc = esprim_object_parse(buf, &o, err, sizeof err);
        /* Only cuts inside the last part that leave a decodable 16-byte tag could parse: none do. */
        assert_int_equal(rc, RSC_BAD_REQUEST);
    }
    /* An encrypted key. */
    snprintf(buf, sizeof buf, "%.*s.AAAA%s", (int)hn, jwcrypto_object, dot1 + 1);
    assert_int_equal(esprim_object_parse(buf, &o, err, sizeof err), RSC_BAD_REQUEST);
    /* Six parts. */
    snprintf(buf, sizeof buf, "%s.x", jwcrypto_object);
    assert_int_equal(esprim_object_parse(buf, &o, err, sizeof err), RSC_BAD_REQUEST);
    /* A header without rri. */
    char hdr[200];
    const char *h = "{\"alg\":\"dir\",\"enc\":\"A256GCM\",\"kid\":\"k1\",\"ori\":\"u1\"}";
    b64url_encode((const uint8_t *)h, strlen(h), hdr);
    snprintf(buf, sizeof buf, "%s%s", hdr, dot1);
    assert_int_equal(esprim_object_parse(buf, &o, err, sizeof err), RSC_BAD_REQUEST);
    /* A duplicate member in the header. */
    h = "{\"alg\":\"dir\",\"enc\":\"A256GCM\",\"kid\":\"k1\",\"kid\":\"k2\",\"ori\":\"u1\",\"rri\":\"u2\"}";
    b64url_encode((const uint8_t *)h, strlen(h), hdr);
    snprintf(buf, sizeof buf, "%s%s", hdr, dot1);
    assert_int_equal(esprim_object_parse(buf, &o, err, sizeof err), RSC_BAD_REQUEST);
}

static void test_seal_open_round_trip(void **state)
{
    (void)state;
    char err[200];
    uint8_t pairwise[32];
    for (int i = 0; i < 32; i++) pairwise[i] = (uint8_t)(0x40 + i);
    struct esprim_rand recv;
    assert_int_equal(esprim_rand_new(C, false, clock_now_us() + 60000000, &recv), 0);
    assert_int_equal(recv.id[0], 'u');
    struct esprim_session s;
    assert_int_equal(esprim_session_start(C, "k9", pairwise, 32, &recv, &s, err, sizeof err), 0);
    struct m2m_request req;
    m2m_request_init(&req);
    req.op = OP_CREATE;
    req.to = "cse-in";
    req.fr = "Cx";
    req.rqi = "r9";
    req.ty = 2;
    req.pc = json_pack("{s:{s:s}}", "m2m:ae", "api", "Nx");
    json_t *pc = esprim_seal_request(C, &s, &req);
    json_decref(req.pc);
    assert_non_null(pc);
    struct esprim_seci seci;
    assert_int_equal(esprim_seci_parse(pc, &seci, err, sizeof err), 0);
    struct esprim_object o;
    assert_int_equal(esprim_object_parse(seci.epo, &o, err, sizeof err), 0);
    assert_string_equal(o.kid, "k9");
    assert_string_equal(o.rri, recv.id);
    assert_string_equal(o.ori, s.orig.id);
    /* The Receiver's view: the oro in the header gives the same key. */
    struct esprim_rand orig;
    assert_int_equal(esprim_rand_parse(json_object_get(o.header, "oro"), false, clock_now_us(), &orig, err, sizeof err), 0);
    uint8_t key[32];
    assert_int_equal(esprim_session_key(C, pairwise, 32, &recv, &orig, key), 0);
    assert_memory_equal(key, s.key, 32);
    char *plain;
    size_t len;
    assert_int_equal(esprim_object_open(C, key, &o, &plain, &len), 0);
    json_t *doc = json_loadb(plain, len, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(doc, "ty")), 2);
    free(plain);
    json_decref(doc);
    esprim_object_clear(&o);
    /* The answer, sealed the Receiver's way, opened the Originator's way. */
    json_t *header = json_pack("{s:s,s:s,s:s,s:s}", "kid", "k9", "ori", s.orig.id, "rri", recv.id, "cty", "x");
    struct m2m_response rsp;
    m2m_response_init(&rsp);
    rsp.rsc = RSC_CREATED;
    rsp.rqi = "r9";
    json_t *rdoc = response_to_json(&rsp, "3");
    char *text = json_dumps(rdoc, JSON_COMPACT);
    char *epo = esprim_object_seal(C, key, header, text, strlen(text));
    json_t *out = json_pack("{s:{s:i,s:s}}", "m2m:seci", "sit", 5, "epo", epo);
    struct m2m_response in;
    m2m_response_init(&in);
    json_t *held;
    assert_int_equal(esprim_open_response(C, &s, out, &in, &held, err, sizeof err), 0);
    assert_int_equal(in.rsc, RSC_CREATED);
    assert_string_equal(in.rqi, "r9");
    /* Another session's answer is not taken. */
    s.orig.id[1] ^= 1;
    struct m2m_response in2;
    m2m_response_init(&in2);
    json_t *held2;
    assert_int_equal(esprim_open_response(C, &s, out, &in2, &held2, err, sizeof err), RSC_ESPRIM_UNKNOWN_KEY_ID);
    json_decref(held);
    json_decref(out);
    json_decref(header);
    json_decref(rdoc);
    json_decref(pc);
    free(text);
    free(epo);
}

static void test_b64url(void **state)
{
    (void)state;
    static const char *const v[][2] = { { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
                                        { "foob", "Zm9vYg" }, { "\xfb\xff", "-_8" } };
    char out[16];
    uint8_t back[16];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        b64url_encode((const uint8_t *)v[i][0], strlen(v[i][0]), out);
        assert_string_equal(out, v[i][1]);
        assert_int_equal(b64url_decode(out, strlen(out), back, sizeof back), (long)strlen(v[i][0]));
        assert_memory_equal(back, v[i][0], strlen(v[i][0]));
    }
    assert_int_equal(b64url_decode("Zh", 2, back, sizeof back), -1);   /* trailing bits */
    assert_int_equal(b64url_decode("Zm9=", 4, back, sizeof back), -1); /* padding */
    assert_int_equal(b64url_decode("Z", 1, back, sizeof back), -1);
    assert_int_equal(b64url_decode("Zm9v", 4, back, 2), -1);           /* overflow */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kdf_input_layout),
        cmocka_unit_test(test_kdf_vectors),
        cmocka_unit_test(test_rand_objects),
        cmocka_unit_test(test_esi),
        cmocka_unit_test(test_seci),
        cmocka_unit_test(test_object_from_jwcrypto),
        cmocka_unit_test(test_object_parse_refusals),
        cmocka_unit_test(test_seal_open_round_trip),
        cmocka_unit_test(test_b64url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
