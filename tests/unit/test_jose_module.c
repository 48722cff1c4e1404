/* jose_load(): m2m-cse reaches the token module only through the table of
 * ironbark-jose.so (security/jose_module.h). This test links the engine
 * without cjose and loads the module the build made (JOSE_MODULE). It runs
 * twice (meson): as is, the module is used; with the argument "missing", a
 * module that is not there. jose_load() keeps its outcome for the process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cse/core/config.h"
#include "security/esdata.h"
#include "security/firmware_sig.h"
#include "security/credentials.h"
#include "security/jose_module.h"

#include <jansson.h>
#include <fcntl.h>
#include <unistd.h>

#define ISS "//ironbark.local/id-das"
#define HOLDER "//ironbark.local/id-in/CAE1"
#define CSI "//ironbark.local/id-in"

static struct config cfg_with(const char *module)
{
    struct config cfg;
    config_defaults(&cfg);
    snprintf(cfg.jose_module, sizeof cfg.jose_module, "%s", module);
    return cfg;
}

static void not_linked(void **state)
{
    (void)state;
    assert_null(dlsym(RTLD_DEFAULT, "cjose_jws_sign"));
    assert_null(dlsym(RTLD_DEFAULT, "token_verify"));
    assert_null(dlsym(RTLD_DEFAULT, "jose_jwe_seal"));
}

/* The jose.h members (abi 2) through the table: what the CSE and ESPrim use. */
static void jose_members(void **state)
{
    (void)state;
    struct config cfg = cfg_with(getenv("JOSE_MODULE"));
    const struct jose_module *m = jose_load(&cfg);
    assert_non_null(m);
    static const uint8_t k32[32] = { 1, 2, 3 };
    struct jose_key *k;
    assert_int_equal(m->jose_key_from_bytes(k32, sizeof k32, &k), JOSE_OK);
    struct jose_params p = { .alg = "dir", .enc = "A256GCM", .kid = "pairwise-1", .extra = "{\"ori\":\"o\"}" };
    char *jwe;
    assert_int_equal(m->jose_jwe_seal(k, &p, (const uint8_t *)"inner", 5, &jwe), JOSE_OK);
    /* the engine's own form check (no cjose) agrees */
    assert_int_equal(esdata_compact_form(jwe, strlen(jwe)), ESDATA_JWE);
    uint8_t *plain;
    size_t n;
    struct jose_header h;
    assert_int_equal(m->jose_jwe_open(k, jwe, &plain, &n, &h), JOSE_OK);
    assert_memory_equal(plain, "inner", 5);
    assert_string_equal(h.kid, "pairwise-1");
    m->jose_header_clear(&h);
    free(plain);
    assert_int_equal(m->jose_peek_header(jwe, &h), JOSE_OK);
    assert_non_null(strstr(h.json, "\"ori\""));
    m->jose_header_clear(&h);
    free(jwe);
    m->jose_key_free(k);
    char *ec = m->jose_new_jwk(0, "fw"), *pub = m->jose_public_jwk(ec);
    struct jose_key *signer, *verifier;
    assert_int_equal(m->jose_key_from_jwk(ec, &signer), JOSE_OK);
    assert_int_equal(m->jose_key_from_jwk(pub, &verifier), JOSE_OK);
    assert_string_equal(m->jose_key_kid(verifier), "fw");
    struct jose_params es = { .alg = "ES256" };
    char *jws;
    assert_int_equal(m->jose_jws_sign(signer, &es, (const uint8_t *)"d", 1, true, &jws), JOSE_OK);
    assert_int_equal(m->jose_jws_verify(verifier, jws, (const uint8_t *)"d", 1, NULL, NULL, NULL), JOSE_OK);
    assert_int_equal(m->jose_jws_verify(verifier, jws, (const uint8_t *)"e", 1, NULL, NULL, NULL), JOSE_E_SIGNATURE);
    assert_non_null(strstr(m->jose_error_text(JOSE_E_SIGNATURE), "does not verify"));
    free(jws);

    /* signed firmware, as mgmt_obj.c checks it */
    char path[] = "/tmp/fw-trust-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    dprintf(fd, "{\"keys\":[%s]}", pub);
    close(fd);
    char err[300];
    struct fw_trust *t = fw_trust_load(m, path, err, sizeof err);
    assert_non_null(t);
    const char *dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char *payload = fw_signed_payload("fw", "1.0", "http://x/fw", dg);
    assert_string_equal(payload, "ironbark-firmware-v1\nfw\n1.0\nhttp://x/fw\n" "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_int_equal(m->jose_jws_sign(signer, &es, (const uint8_t *)payload, strlen(payload), true, &jws), JOSE_OK);
    char why[300];
    assert_int_equal(fw_verify(t, "fw", "1.0", "http://x/fw", dg, jws, why, sizeof why), FW_OK);
    assert_int_equal(fw_verify(t, "fw", "1.1", "http://x/fw", dg, jws, why, sizeof why), FW_FORGED);
    assert_int_equal(fw_verify(t, "fw", "1.0", "http://x/fw", NULL, jws, why, sizeof why), FW_UNSIGNED);
    assert_int_equal(fw_verify(t, "fw", "1.0", "http://x/fw", "sha256:AB", jws, why, sizeof why), FW_MALFORMED);
    assert_int_equal(fw_verify(t, "fw\n", "1.0", "http://x/fw", dg, jws, why, sizeof why), FW_MALFORMED);
    assert_null(fw_signed_payload("a", "b\r", "c", dg));
    fw_trust_free(t);
    /* a private key in the trust file is refused */
    fd = open(path, O_WRONLY | O_TRUNC);
    dprintf(fd, "{\"keys\":[%s]}", ec);
    close(fd);
    assert_null(fw_trust_load(m, path, err, sizeof err));
    assert_non_null(strstr(err, "key 0"));
    assert_null(fw_trust_load(NULL, path, err, sizeof err));
    unlink(path);
    free(payload);
    free(jws);
    m->jose_key_free(signer);
    m->jose_key_free(verifier);
    free(ec);
    free(pub);
}

/* The CSE's ESData form check, by contentSecurity (no key, no cjose). */
static void esdata_forms(void **state)
{
    (void)state;
    char why[300];
    json_t *jws = json_string("eyJhbGciOiJFUzI1NiJ9.eyJhIjoxfQ.AAAA");
    json_t *jwe = json_string("eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIn0..AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA");
    json_t *plain = json_string("21.5");
    assert_int_equal(esdata_security_of("text/plain:0"), ESDATA_NONE);
    assert_int_equal(esdata_security_of("text/plain:0:3"), ESDATA_JOSE_JSON_B64);
    assert_int_equal(esdata_check("text/plain:0:1", jws, why, sizeof why), 0);
    assert_int_equal(esdata_check("text/plain:0:1", jwe, why, sizeof why), 0);
    assert_int_equal(esdata_check("text/plain:0:1", plain, why, sizeof why), -1);
    assert_non_null(strstr(why, "JWE or JWS compact"));
    assert_int_equal(esdata_check("text/plain:0", plain, why, sizeof why), 0);
    assert_int_equal(esdata_check("text/plain:0:1", NULL, why, sizeof why), 0);
    assert_int_equal(esdata_compact_form("eyJhbGciOiJub25lIn0.eyJhIjoxfQ.AAAA", 35), ESDATA_NOT_JOSE);
    assert_int_equal(esdata_compact_form("e30.e30.AAAA", 12), ESDATA_NOT_JOSE);        /* {} : no alg */
    assert_int_equal(esdata_compact_form("eyJhbGciOiJFUzI1NiJ9..AAAA", 26), ESDATA_JWS); /* detached */
    assert_int_equal(esdata_compact_form("eyJhbGciOiJFUzI1NiJ9.e+0.AAAA", 29), ESDATA_NOT_JOSE);
    /* :3, base64 of a JWS JSON serialisation; :5, base64 of XML */
    json_t *b64 = json_string("eyJwYXlsb2FkIjoiZTMwIiwic2lnbmF0dXJlIjoiQUEifQ==");
    assert_int_equal(esdata_check("text/plain:0:3", b64, why, sizeof why), 0);
    json_t *xml = json_string("PHhlbmM+PC94ZW5jPg==");
    assert_int_equal(esdata_check("text/plain:0:5", xml, why, sizeof why), 0);
    assert_int_equal(esdata_check("text/plain:0:5", b64, why, sizeof why), -1);
    json_decref(b64);
    json_decref(xml);
    json_decref(jws);
    json_decref(jwe);
    json_decref(plain);
}

/* Keys at rest through the table (abi 4): the credential store of m2m-cse
 * seals with the module's key_seal. */
static void seal_members(void **state)
{
    (void)state;
    struct config cfg = cfg_with(getenv("JOSE_MODULE"));
    const struct jose_module *m = jose_load(&cfg);
    assert_non_null(m);
    const struct key_seal_ops *ks = m->seal();
    assert_non_null(ks);
    char dir[] = "/tmp/ironbark-jm-XXXXXX", root[64], db[64], err[300];
    assert_non_null(mkdtemp(dir));
    snprintf(root, sizeof root, "%s/%s", dir, CRED_ROOT_FILE);
    snprintf(db, sizeof db, "%s/credentials.db", dir);
    struct key_seal *k = ks->open(root, "test", err, sizeof err);
    assert_non_null(k);
    const uint8_t aad[] = "a", key[5] = { 1, 2, 3, 4, 5 };
    uint8_t sealed[sizeof key + KEY_SEAL_OVERHEAD], out[sizeof key];
    assert_int_equal(ks->seal(k, aad, sizeof aad, key, sizeof key, sealed), 0);
    assert_int_equal(ks->unseal(k, aad, sizeof aad, sealed, sizeof sealed, out), 0);
    assert_memory_equal(out, key, sizeof key);
    ks->close(k);
    struct credentials *cs = cred_open(db, root, ks);
    assert_non_null(cs);
    struct cred_psk p = { .identity = "k@x", .key_len = 5, .originators = "C*" }, q;
    memcpy(p.key, key, sizeof key);
    assert_int_equal(cred_put_psk(cs, &p), 0);
    assert_int_equal(cred_get_psk(cs, "k@x", &q), 0);
    assert_memory_equal(q.key, key, sizeof key);
    cred_close(cs);
    const char *files[] = { CRED_ROOT_FILE, "credentials.db", "credentials.db-wal", "credentials.db-shm" };
    for (size_t i = 0; i < 4; i++) {
        snprintf(db, sizeof db, "%s/%s", dir, files[i]);
        unlink(db);
    }
    assert_int_equal(rmdir(dir), 0);
}

/* Every member, through the table. */
static void round_trip(void **state)
{
    (void)state;
    struct config cfg = cfg_with(getenv("JOSE_MODULE"));
    const struct jose_module *m = jose_load(&cfg);
    assert_non_null(m);
    assert_ptr_equal(jose_load(NULL), m);
    assert_int_equal(m->abi, JOSE_MODULE_ABI);
    char *key = m->new_key();
    char *pub = m->public_jwk(key);
    assert_non_null(key);
    assert_non_null(pub);
    struct token_trust *t = m->trust_new();
    char err[256] = "";
    assert_int_equal(m->trust_add(t, ISS, pub, err, sizeof err), 0);
    assert_int_equal(m->trust_count(t), 1);
    assert_int_equal(m->trust_load(t, "/nonexistent", err, sizeof err), -1);
    struct token_claims c = { .id = "t@das.ironbark.local", .holder = HOLDER, .issuer = ISS,
                              .not_before = 100, .not_after = 200 };
    char *jwt = m->sign(&c, key, err, sizeof err);
    assert_non_null(jwt);
    struct token_claims out;
    assert_int_equal(m->verify(t, jwt, HOLDER, CSI, 150, &out), TOKEN_OK);
    assert_string_equal(out.id, "t@das.ironbark.local");
    m->claims_free(&out);
    assert_int_equal(m->verify(t, jwt, HOLDER, CSI, 201, &out), TOKEN_EXPIRED);
    assert_string_equal(m->verdict_text(TOKEN_EXPIRED), "expired");
    assert_int_equal(m->peek(jwt, &out), 0);
    assert_string_equal(out.holder, HOLDER);
    m->claims_free(&out);
    m->trust_free(t);
    free(jwt);
    free(pub);
    free(key);
}

/* NULL, and NULL again without another attempt even once the file exists. */
static void missing(void **state)
{
    (void)state;
    struct config cfg = cfg_with("/nonexistent/ironbark-jose.so");
    assert_null(jose_load(&cfg));
    cfg = cfg_with(getenv("JOSE_MODULE"));
    assert_null(jose_load(&cfg));
}

/* A shared object that is not the token module. */
static void not_a_module(void **state)
{
    (void)state;
    struct config cfg = cfg_with("libc.so.6");
    assert_null(jose_load(&cfg));
}

int main(int argc, char **argv)
{
    if (!getenv("JOSE_MODULE")) { fprintf(stderr, "JOSE_MODULE is not set (run through meson test)\n"); return 1; }
    const char *mode = argc > 1 ? argv[1] : "";
    const struct CMUnitTest loaded[] = { cmocka_unit_test(not_linked), cmocka_unit_test(round_trip),
                                         cmocka_unit_test(jose_members), cmocka_unit_test(esdata_forms),
                                         cmocka_unit_test(seal_members) };
    const struct CMUnitTest absent[] = { cmocka_unit_test(missing) };
    const struct CMUnitTest foreign[] = { cmocka_unit_test(not_a_module) };
    if (!strcmp(mode, "missing")) return cmocka_run_group_tests(absent, NULL, NULL);
    if (!strcmp(mode, "foreign")) return cmocka_run_group_tests(foreign, NULL, NULL);
    return cmocka_run_group_tests(loaded, NULL, NULL);
}
