/* Enrolment (issue 11): the key split and derivations of TS-0003 10.3
 * against fixed vectors (computed independently with Python's hmac), the
 * bootstrap hand-over from the (D)TLS layer, the Mmef mapping's parsers,
 * the MEF's vault, the MAF's store, and keys lent to the credential store. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/kdf.h>

#include "cse/base/clock.h"
#include "mef/est.h"
#include "mef/mmef.h"
#include "mef/vault.h"
#include "security/bootstrap.h"
#include "security/credentials.h"
#include "security/key_seal.h"
#include "security/enrol_keys.h"
#include "maf/mmaf.h"
#include "maf/store.h"
#include "security/enrol_target.h"
#include "security/hex.h"

static const char *hexof(const uint8_t *b, size_t n)
{
    static char out[2 * 64 + 1];
    hex_encode(b, n, out);
    return out;
}

/* The 48 exported bytes 0x40..0x6f. */
static void fixed_export(uint8_t km[48])
{
    for (int i = 0; i < 48; i++) km[i] = (uint8_t)(0x40 + i);
}

static void split_and_keid(void **state)
{
    (void)state;
    uint8_t km[48], rel[16], ke[32];
    fixed_export(km);
    enrol_split_export(km, rel, ke);
    assert_string_equal(hexof(rel, 16), "404142434445464748494a4b4c4d4e4f");
    assert_string_equal(hexof(ke, 32), "505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f");
    char keid[ENROL_KEID_MAX];
    assert_int_equal(enrol_keid(rel, "mef.ironbark.local", keid, sizeof keid), 0);
    assert_string_equal(keid, "404142434445464748494a4b4c4d4e4f@mef.ironbark.local");
    char cut[20];
    assert_int_equal(enrol_keid(rel, "mef.ironbark.local", cut, sizeof cut), -1);
    assert_string_equal(cut, "");
    assert_int_equal(enrol_keid(rel, "", cut, sizeof cut), -1);
    assert_true(enrol_target_is_keid(keid, "mef.ironbark.local"));
    assert_true(enrol_target_is_keid("404142434445464748494A4B4C4D4E4F@MEF.ironbark.local", "mef.ironbark.local"));
    assert_false(enrol_target_is_keid("4041@mef.ironbark.local", "mef.ironbark.local"));
    assert_false(enrol_target_is_keid("40414243444546474849zz4b4c4d4e4f@mef.ironbark.local", "mef.ironbark.local"));
    assert_false(enrol_target_is_keid(keid, "other.example"));
    assert_false(enrol_target_is_keid("kpsa-1", "mef.ironbark.local"));
}

/* The (D)TLS 1.2 exporter (RFC 5705, no context) is the TLS PRF over the
 * master secret with seed label || client_random || server_random. With a
 * fixed session (master secret 00..2f, randoms c0.. and 50..), the 48 bytes
 * and their split were computed independently (Python's hmac, P_SHA256). */
static void fixed_session_export(const char *label, uint8_t km[48])
{
    size_t ln = strlen(label);
    uint8_t master[48], seed[64 + 64];
    for (int i = 0; i < 48; i++) master[i] = (uint8_t)i;
    memcpy(seed, label, ln);
    for (int i = 0; i < 32; i++) {
        seed[ln + i] = (uint8_t)(0xc0 + i % 16);
        seed[ln + 32 + i] = (uint8_t)(0x50 + i % 16);
    }
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, sizeof master),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, ln + 64),
        OSSL_PARAM_construct_end(),
    };
    assert_int_equal(EVP_KDF_derive(kctx, km, 48, params), 1);
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
}

static void export_vector(void **state)
{
    (void)state;
    uint8_t km[48];
    fixed_session_export(ENROL_EXPORT_LABEL, km);
    uint8_t rel[16], ke[32];
    enrol_split_export(km, rel, ke);
    assert_string_equal(hexof(rel, 16), "db3c6b037d4b6044cc3dcc232cb8d5f2");
    assert_string_equal(hexof(ke, 32), "61cdf5adaba4f91cc989a80a31d33c8ca03d0857fc3f2fb50b7707bd97e38a75");
    char keid[ENROL_KEID_MAX];
    assert_int_equal(enrol_keid(rel, "mef.ironbark.local", keid, sizeof keid), 0);
    assert_string_equal(keid, "db3c6b037d4b6044cc3dcc232cb8d5f2@mef.ironbark.local");
}

/* The MAF's connection key (TS-0003 10.3.1, 10.3.5): the same fixed
 * session exported with "EXPORTER-oneM2M-Connection" (computed
 * independently with Python's hmac): KcID, Kc, and the Key Identifier a
 * device sends as its PSK identity. */
static void maf_export_vector(void **state)
{
    (void)state;
    uint8_t km[48], kcid[16], kc[32];
    fixed_session_export(MAF_EXPORT_LABEL, km);
    enrol_split_export(km, kcid, kc);
    assert_string_equal(hexof(kcid, 16), "938d888a33a0e34fabc9b000beff2596");
    assert_string_equal(hexof(kc, 32), "5621a267965f73058094f5adfa16683252e5ecb36cc2bb8e530693180943616e");
    char kid[ENROL_KEID_MAX];
    assert_int_equal(enrol_keid(kcid, "maf.ironbark.local", kid, sizeof kid), 0);
    assert_string_equal(kid, "938d888a33a0e34fabc9b000beff2596@maf.ironbark.local");
    assert_true(enrol_target_is_keid(kid, "maf.ironbark.local"));
    assert_false(enrol_target_is_keid(kid, "mef.ironbark.local"));   /* a MAF's key is not a MEF's */
}

/* The Mmaf mapping: paths, Key Registration, and what a target accepts. */
static void mmaf_mapping(void **state)
{
    (void)state;
    struct mmaf_path p = mmaf_parse_path("/maf-in/mafKeyReg/938d888a33a0e34fabc9b000beff2596", "maf-in");
    assert_int_equal(p.target, MMAF_KEY_REG);
    assert_string_equal(p.id, "938d888a33a0e34fabc9b000beff2596");
    assert_int_equal(mmaf_parse_path("mafClientReg", NULL).target, MMAF_CLIENT_REG);
    assert_int_equal(mmaf_parse_path("mafKeyReg/a*b", NULL).target, MMAF_BAD);
    assert_int_equal(mmaf_parse_path("mafKeyReg/a/b", NULL).target, MMAF_BAD);
    assert_int_equal(mmaf_parse_path("mafKeyRegs", NULL).target, MMAF_NONE);
    assert_int_equal(mmaf_parse_path("cse-in/x", NULL).target, MMAF_NONE);
    char err[200];
    struct mmaf_key_reg k;
    json_t *j = json_loads("{\"maf:keyReg\":{\"MAF-FQDN\":\"m\",\"adminFQDN\":\"a\",\"expirationTime\":"
                           "\"20991231T000000\",\"SUID\":32,\"targetIDs\":[\"/id-in\"],\"relativeKeyID\":"
                           "\"938d888a33a0e34fabc9b000beff2596\"}}", 0, NULL);
    assert_int_equal(mmaf_parse_key_reg(j, false, &k, err, sizeof err), 0);
    assert_int_equal(k.suid, 32);
    assert_int_equal(k.ntargets, 1);
    json_object_set_new(json_object_get(j, "maf:keyReg"), "SUID", json_integer(22));
    assert_int_equal(mmaf_parse_key_reg(j, false, &k, err, sizeof err), -1);   /* not a MAF usage */
    json_object_set_new(json_object_get(j, "maf:keyReg"), "SUID", json_integer(32));
    json_object_set_new(json_object_get(j, "maf:keyReg"), "targetIDs", json_pack("[s,s]", "/a", "/b"));
    assert_int_equal(mmaf_parse_key_reg(j, false, &k, err, sizeof err), -1);   /* SAEF: one target */
    json_decref(j);
    struct mmaf_retrieved got;
    json_t *ans = json_loads("{\"maf:keyReg\":{\"Key Value\":\"5621a267965f73058094f5adfa16683252e5ecb36cc2bb8e530693180943616e\","
                             "\"SourceMAFClientID\":\"Cdev1\",\"expirationTime\":\"20991231T000000\",\"SUID\":32,"
                             "\"targetIDs\":[\"//ironbark.local/id-in\"]}}", 0, NULL);
    assert_int_equal(mmaf_parse_retrieved(ans, 32, "//ironbark.local/id-in", &got, err, sizeof err), 0);
    assert_string_equal(got.source_id, "Cdev1");
    assert_int_equal(got.key_len, 32);
    assert_int_equal(mmaf_parse_retrieved(ans, 33, "//ironbark.local/id-in", &got, err, sizeof err), -1);
    assert_int_equal(mmaf_parse_retrieved(ans, 32, "//ironbark.local/id-other", &got, err, sizeof err), -1);
    assert_int_equal(got.key_len, 0);   /* nothing kept from a refused answer */
    json_decref(ans);
}

static void derivations(void **state)
{
    (void)state;
    uint8_t km[48], rel[16], ke[32], out[32];
    fixed_export(km);
    enrol_split_export(km, rel, ke);
    assert_int_equal(enrol_derive_km(ke, "maf.ironbark.local", out), 0);
    assert_string_equal(hexof(out, 32), "0c688dc98c290ceda5fcb0a8e8d818505e945cbd5601322b5ff3204d59bc19a9");
    assert_int_equal(enrol_derive_kpsa(ke, "//ironbark.local/id-in", out), 0);
    assert_string_equal(hexof(out, 32), "c35d6903c99f31e2609ab8a89176566f8e0436c931ad75938b62c0e4a67ca008");
    assert_int_equal(enrol_derive_kuc(ke, 23, "//ironbark.local/id-in", out), 0);
    assert_string_equal(hexof(out, 32), "71331f50648534daa2f7820faff6565dcb016d5cffac193e2573bf71fe59b8cd");
    /* What a target fetches per SUID. */
    assert_int_equal(enrol_derive_for_suid(ke, 22, "//ironbark.local/id-in", out), 0);
    assert_string_equal(hexof(out, 32), "c35d6903c99f31e2609ab8a89176566f8e0436c931ad75938b62c0e4a67ca008");
    assert_int_equal(enrol_derive_for_suid(ke, 21, "maf.ironbark.local", out), 0);
    assert_string_equal(hexof(out, 32), "0c688dc98c290ceda5fcb0a8e8d818505e945cbd5601322b5ff3204d59bc19a9");
    assert_int_equal(enrol_derive_for_suid(ke, 23, "//ironbark.local/id-in", out), 0);
    assert_string_equal(hexof(out, 32), "71331f50648534daa2f7820faff6565dcb016d5cffac193e2573bf71fe59b8cd");
    assert_int_equal(enrol_derive_for_suid(ke, 12, "x", out), -1);
    assert_int_equal(enrol_derive_for_suid(ke, 32, "x", out), -1);
}

static void hex_both_ways(void **state)
{
    (void)state;
    uint8_t b[4];
    assert_int_equal(hex_decode("00fFa9", b, sizeof b), 3);
    assert_int_equal(b[1], 0xff);
    assert_int_equal(hex_decode("abc", b, sizeof b), -1);
    assert_int_equal(hex_decode("zz", b, sizeof b), -1);
    assert_int_equal(hex_decode("0011223344", b, sizeof b), -1);
    assert_int_equal(hex_decode("", b, sizeof b), 0);
}

static void bootstrap_once(void **state)
{
    (void)state;
    uint8_t km[48], got[48];
    fixed_export(km);
    bootstrap_clear();
    bootstrap_enable(NULL);
    bootstrap_record("12-kpm1", km);
    assert_false(bootstrap_take("12-kpm1", "404142434445464748494a4b4c4d4e4f", got));   /* off: nothing kept */
    bootstrap_enable(ENROL_EXPORT_LABEL);
    bootstrap_record("12-kpm1", km);
    bootstrap_record("12-kpm1", km);          /* the same session twice: one record */
    assert_false(bootstrap_take("12-kpm2", "404142434445464748494a4b4c4d4e4f", got));   /* another credential */
    assert_false(bootstrap_take("12-kpm1", "00000000000000000000000000000000", got));   /* another session */
    assert_false(bootstrap_take("12-kpm1", "4041", got));
    assert_true(bootstrap_take("12-kpm1", "404142434445464748494A4B4C4D4E4F", got));
    assert_memory_equal(got, km, 48);
    assert_false(bootstrap_take("12-kpm1", "404142434445464748494a4b4c4d4e4f", got));   /* replayed */
    bootstrap_enable(NULL);
    bootstrap_clear();
}

static void mmef_paths(void **state)
{
    (void)state;
    struct mmef_path p = mmef_parse_path("fetchCredentials/ab@mef.x/22", "mef-in");
    assert_int_equal(p.target, MMEF_FETCH);
    assert_string_equal(p.id, "ab@mef.x");
    assert_int_equal(p.suid, 22);
    p = mmef_parse_path("/mef-in/fetchCredentials/ab@mef.x/22", "mef-in");
    assert_int_equal(p.target, MMEF_FETCH);
    assert_int_equal(mmef_parse_path("fetchCredentials/ab", "mef-in").target, MMEF_BAD);
    assert_int_equal(mmef_parse_path("fetchCredentials/ab/x", "mef-in").target, MMEF_BAD);
    assert_int_equal(mmef_parse_path("fetchCredentials/ab/22/more", "mef-in").target, MMEF_BAD);
    assert_int_equal(mmef_parse_path("fetchCredentials", "mef-in").target, MMEF_BAD);
    assert_int_equal(mmef_parse_path("mefClientReg", "mef-in").target, MMEF_CLIENT_REG);
    p = mmef_parse_path("mefClientReg/mcr-1", "mef-in");
    assert_int_equal(p.target, MMEF_CLIENT_REG);
    assert_string_equal(p.id, "mcr-1");
    assert_int_equal(mmef_parse_path("mefClientReg/a/b", "mef-in").target, MMEF_BAD);
    assert_int_equal(mmef_parse_path("mefKeyReg", "mef-in").target, MMEF_KEY_REG);
    assert_int_equal(mmef_parse_path("mefKeyReg/abc", "mef-in").target, MMEF_BAD);
    assert_int_equal(mmef_parse_path("mefKeyReg/abc/22", "mef-in").suid, 22);
    assert_int_equal(mmef_parse_path("mefEnrolments", "mef-in").target, MMEF_ENROLMENTS);
    assert_int_equal(mmef_parse_path("mef-in", "mef-in").target, MMEF_NONE);
    assert_int_equal(mmef_parse_path("mef-in/ae1", "mef-in").target, MMEF_NONE);
    assert_int_equal(mmef_parse_path("/id-mef/mef-in", "mef-in").target, MMEF_NONE);
    char longid[400];
    memset(longid, 'a', sizeof longid);
    memcpy(longid, "fetchCredentials/", 17);
    strcpy(longid + 390, "/22");
    assert_int_equal(mmef_parse_path(longid, "mef-in").target, MMEF_BAD);
}

static void mmef_bodies(void **state)
{
    (void)state;
    char err[200];
    struct mmef_client_reg cr;
    json_t *ok = json_loads("{\"mef:clientReg\":{\"MEF-FQDN\":\"m\",\"adminFQDN\":\"a\",\"expirationTime\":"
                            "\"20991231T000000\",\"labels\":[\"x\"],\"relativeKeID\":\"404142434445464748494a4b4c4d4e4f\"}}",
                            0, NULL);
    assert_int_equal(mmef_parse_client_reg(ok, false, &cr, err, sizeof err), 0);
    assert_string_equal(cr.relative_keid, "404142434445464748494a4b4c4d4e4f");
    assert_true(cr.has_labels);
    json_object_set_new(json_object_get(ok, "mef:clientReg"), "relativeKeID", json_string("4041"));
    assert_int_equal(mmef_parse_client_reg(ok, false, &cr, err, sizeof err), -1);
    assert_non_null(strstr(err, "relativeKeID"));
    json_object_set_new(json_object_get(ok, "mef:clientReg"), "expirationTime", json_string("tomorrow"));
    assert_int_equal(mmef_parse_client_reg(ok, false, &cr, err, sizeof err), -1);
    json_decref(ok);
    json_t *upd = json_loads("{\"mef:clientReg\":{\"labels\":[\"y\"]}}", 0, NULL);
    assert_int_equal(mmef_parse_client_reg(upd, true, &cr, err, sizeof err), 0);
    assert_false(cr.has_et);
    json_object_set_new(json_object_get(upd, "mef:clientReg"), "adminFQDN", json_string("z"));
    assert_int_equal(mmef_parse_client_reg(upd, true, &cr, err, sizeof err), -1);
    json_decref(upd);
    json_t *none = json_loads("{\"mef:clientReg\":{}}", 0, NULL);
    assert_int_equal(mmef_parse_client_reg(none, true, &cr, err, sizeof err), -1);
    assert_int_equal(mmef_parse_client_reg(NULL, false, &cr, err, sizeof err), -1);
    json_decref(none);

    struct mmef_key_reg kr;
    json_t *k = json_loads("{\"mef:keyReg\":{\"MEF-FQDN\":\"m\",\"adminFQDN\":\"a\",\"expirationTime\":"
                           "\"20991231T000000\",\"SUID\":22,\"targetIDs\":[\"/id-in\"]}}", 0, NULL);
    assert_int_equal(mmef_parse_key_reg(k, &kr, err, sizeof err), 0);
    assert_string_equal(kr.target, "/id-in");
    json_object_set_new(json_object_get(k, "mef:keyReg"), "SUID", json_integer(12));
    assert_int_equal(mmef_parse_key_reg(k, &kr, err, sizeof err), -1);
    json_object_set_new(json_object_get(k, "mef:keyReg"), "SUID", json_integer(22));
    json_object_set_new(json_object_get(k, "mef:keyReg"), "targetIDs", json_pack("[s,s]", "/a", "/b"));
    assert_int_equal(mmef_parse_key_reg(k, &kr, err, sizeof err), -1);
    json_object_set_new(json_object_get(k, "mef:keyReg"), "targetIDs", json_pack("[s]", "/a"));
    json_object_set_new(json_object_get(k, "mef:keyReg"), "Key Value", json_string("00"));
    assert_int_equal(mmef_parse_key_reg(k, &kr, err, sizeof err), -1);
    json_decref(k);

    uint8_t key[32];
    memset(key, 0x5a, sizeof key);
    json_t *f = mmef_fetch_json(key, sizeof key, "Cmeter1", 4102444800000000LL);
    struct mmef_fetched got;
    assert_int_equal(mmef_parse_fetch(f, &got, err, sizeof err), 0);
    assert_int_equal(got.key_len, 32);
    assert_memory_equal(got.key, key, 32);
    assert_string_equal(got.enrolee_id, "Cmeter1");
    assert_true(got.lifetime_us == 4102444800000000LL);
    json_object_set_new(json_object_get(f, "mef:fetchCredentials"), "Credential", json_string("zz"));
    assert_int_equal(mmef_parse_fetch(f, &got, err, sizeof err), -1);
    json_object_set_new(json_object_get(f, "mef:fetchCredentials"), "Status", json_false());
    json_object_set_new(json_object_get(f, "mef:fetchCredentials"), "ErrorString", json_string("revoked"));
    assert_int_equal(mmef_parse_fetch(f, &got, err, sizeof err), -1);
    assert_non_null(strstr(err, "revoked"));
    json_decref(f);
}

static void vault_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/ironbark-vault-XXXXXX", root[64], err[300];
    assert_non_null(mkdtemp(dir));
    snprintf(root, sizeof root, "%s/root.key", dir);
    struct vault *v = vault_open(root, err, sizeof err);
    assert_non_null(v);
    struct stat st;
    assert_int_equal(stat(root, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    uint8_t ke[32], sealed[32 + VAULT_OVERHEAD], back[32];
    memset(ke, 7, sizeof ke);
    assert_int_equal(vault_seal(v, "k1@m", ke, sizeof ke, sealed), 0);
    assert_null(memmem(sealed, sizeof sealed, ke, 8));
    assert_int_equal(vault_open_sealed(v, "k1@m", sealed, sizeof sealed, back), 0);
    assert_memory_equal(back, ke, 32);
    assert_int_equal(vault_open_sealed(v, "k2@m", sealed, sizeof sealed, back), -1);   /* another record */
    sealed[20] ^= 1;
    assert_int_equal(vault_open_sealed(v, "k1@m", sealed, sizeof sealed, back), -1);   /* tampered */
    vault_close(v);
    /* The same root secret opens what it sealed, after a restart. */
    sealed[20] ^= 1;
    v = vault_open(root, err, sizeof err);
    assert_int_equal(vault_open_sealed(v, "k1@m", sealed, sizeof sealed, back), 0);
    vault_close(v);
    chmod(root, 0644);
    assert_null(vault_open(root, err, sizeof err));
    assert_non_null(strstr(err, "chmod 600"));
    unlink(root);
    rmdir(dir);
}

static int misses;
static char missed[CRED_ID_MAX];
static void on_miss(void *arg, const char *identity)
{
    (void)arg;
    misses++;
    snprintf(missed, sizeof missed, "%s", identity);
}

struct loaded {
    struct maf_client clients[4];
    struct maf_key keys[4];
    int nclients, nkeys;
};

static void got_client(void *arg, const struct maf_client *c)
{
    struct loaded *l = arg;
    if (l->nclients < 4) l->clients[l->nclients++] = *c;
}

static void got_key(void *arg, const struct maf_key *k)
{
    struct loaded *l = arg;
    if (l->nkeys < 4) l->keys[l->nkeys++] = *k;
}

static size_t file_has(const char *path, const uint8_t *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    static uint8_t buf[1 << 20];
    size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    return len >= n && memmem(buf, len, needle, n) != NULL;
}

/* Registrations come back after a reopen, Kc only ever sealed; expired rows
 * go; a Kc sealed under another root is skipped, not given out. */
static void maf_store_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/ironbark-mafstore-XXXXXX", path[128], err[300];
    assert_non_null(mkdtemp(dir));
    struct maf_store *s = maf_store_open(dir, err, sizeof err);
    assert_non_null(s);
    int64_t now = clock_now_us();
    struct maf_client c = { .kmid = "12-km-dev1", .reg_id = "mafcr-01", .client_id = "Cdev1",
                            .admin_fqdn = "maf.test", .labels = "[\"a\"]", .expires_us = now + 60000000 };
    struct maf_key k = { .rel = "00112233445566778899aabbccddeeff", .source_kmid = "12-km-dev1", .source_id = "Cdev1",
                         .suid = 34, .ntargets = 2, .targets = { "//x/id-in", "//x/id-in/Cuser" },
                         .labels = "[]", .admin_fqdn = "maf.test", .expires_us = now + 60000000 };
    memset(k.kc, 0x5c, sizeof k.kc);
    struct maf_key old = k;
    snprintf(old.rel, sizeof old.rel, "%s", "ffeeddccbbaa99887766554433221100");
    old.expires_us = now - 1;
    assert_int_equal(maf_store_put_client(s, &c), 0);
    assert_int_equal(maf_store_put_key(s, &k), 0);
    assert_int_equal(maf_store_put_key(s, &old), 0);
    maf_store_close(s);
    snprintf(path, sizeof path, "%s/maf.db", dir);
    assert_false(file_has(path, k.kc, sizeof k.kc));

    struct loaded l = { 0 };
    s = maf_store_open(dir, err, sizeof err);
    assert_int_equal(maf_store_load(s, now, got_client, got_key, &l), 0);
    assert_int_equal(l.nclients, 1);
    assert_string_equal(l.clients[0].client_id, "Cdev1");
    assert_string_equal(l.clients[0].labels, "[\"a\"]");
    assert_int_equal(l.nkeys, 1);   /* the expired one is gone */
    assert_string_equal(l.keys[0].rel, k.rel);
    assert_int_equal(l.keys[0].ntargets, 2);
    assert_string_equal(l.keys[0].targets[1], "//x/id-in/Cuser");
    assert_int_equal(l.keys[0].suid, 34);
    assert_memory_equal(l.keys[0].kc, k.kc, sizeof k.kc);
    maf_store_close(s);

    /* Another root file: the key does not open and is not given out. */
    snprintf(path, sizeof path, "%s/maf-root.key", dir);
    unlink(path);
    memset(&l, 0, sizeof l);
    s = maf_store_open(dir, err, sizeof err);
    assert_int_equal(maf_store_load(s, now, got_client, got_key, &l), 0);
    assert_int_equal(l.nclients, 1);
    assert_int_equal(l.nkeys, 0);
    /* A client goes with its keys. */
    assert_int_equal(maf_store_drop_client(s, "12-km-dev1"), 0);
    memset(&l, 0, sizeof l);
    assert_int_equal(maf_store_load(s, now, got_client, got_key, &l), 0);
    assert_int_equal(l.nclients + l.nkeys, 0);
    maf_store_close(s);
    for (const char *const *f = (const char *const[]){ "maf.db", "maf.db-wal", "maf.db-shm", "maf-root.key", NULL };
         *f; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, *f);
        unlink(path);
    }
    assert_int_equal(rmdir(dir), 0);
}

static void leases(void **state)
{
    (void)state;
    char dir[] = "/tmp/ironbark-lease-XXXXXX", root[64];
    assert_non_null(mkdtemp(dir));
    snprintf(root, sizeof root, "%s/root.key", dir);
    struct credentials *cs = cred_open(":memory:", root, key_seal_openssl());
    assert_non_null(cs);
    unlink(root);
    rmdir(dir);
    cred_on_miss(cs, on_miss, NULL);
    struct cred_psk psk = { .identity = "404142434445464748494a4b4c4d4e4f@mef.x", .key_len = 32,
                            .originators = "Cmeter1" }, out;
    memset(psk.key, 9, 32);
    clock_set_fixed(1000000000000000LL);
    assert_int_equal(cred_get_psk(cs, psk.identity, &out), 1);
    assert_int_equal(misses, 1);
    assert_string_equal(missed, psk.identity);
    assert_int_equal(cred_lease_psk(cs, &psk, 1000000000000000LL), -1);   /* already over */
    assert_int_equal(cred_lease_psk(cs, &psk, 1000000000000000LL + 5000000), 0);
    assert_int_equal(cred_get_psk(cs, psk.identity, &out), 0);
    assert_string_equal(out.originators, "Cmeter1");
    assert_memory_equal(out.key, psk.key, 32);
    assert_int_equal(misses, 1);
    clock_set_fixed(1000000000000000LL + 5000000);                          /* its lifetime ended */
    assert_int_equal(cred_get_psk(cs, psk.identity, &out), 1);
    assert_int_equal(cred_lease_psk(cs, &psk, 1000000000000000LL + 9000000), 0);
    assert_int_equal(cred_withdraw_lease(cs, psk.identity), 0);
    assert_int_equal(cred_withdraw_lease(cs, psk.identity), 1);
    assert_int_equal(cred_get_psk(cs, psk.identity, &out), 1);
    /* More leases than slots: the one ending first gives way. */
    for (int i = 0; i < CRED_LEASES + 1; i++) {
        snprintf(psk.identity, sizeof psk.identity, "k%d", i);
        assert_int_equal(cred_lease_psk(cs, &psk, 1000000000000000LL + 10000000 + i), 0);
    }
    assert_int_equal(cred_get_psk(cs, "k0", &out), 1);
    assert_int_equal(cred_get_psk(cs, "k1", &out), 0);
    assert_int_equal(cred_get_psk(cs, "k256", &out), 0);
    clock_set_fixed(0);
    cred_close(cs);
}

/* EST encodings against openssl: a CSR made by `openssl req`, the answer
 * read by `openssl pkcs7` and checked by `openssl verify`. */
static int sh(const char *fmt, const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, dir, dir, dir, dir, dir, dir, dir, dir);
    return system(cmd);
}

static char *slurp(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 16384);
    if (f) { size_t n = fread(buf, 1, 16383, f); buf[n] = 0; fclose(f); }
    return buf;
}

static void est_encodings(void **state)
{
    (void)state;
    char *attrs = est_csrattrs();
    assert_string_equal(attrs, "MBAGCSqGSIb3DQEJBwYDVR0R");   /* { challengePassword, subjectAltName } */
    free(attrs);
    char dir[] = "/tmp/ironbark-est-XXXXXX", err[200], serial[80], ca[128], cakey[128];
    assert_non_null(mkdtemp(dir));
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    snprintf(cakey, sizeof cakey, "%s/ca.key", dir);
    assert_int_equal(sh("cd %s && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null &&"
                        " openssl req -x509 -new -key ca.key -subj /CN=test-ca -days 2 -out ca.pem 2>/dev/null &&"
                        " openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out dev.key 2>/dev/null &&"
                        " printf '[req]\nprompt=no\ndistinguished_name=dn\nattributes=a\nreq_extensions=e\n"
                        "[dn]\nCN=d\n[a]\nchallengePassword=pw-1\n[e]\nsubjectAltName=URI:Cdev1\n' > r.cnf &&"
                        " openssl req -new -key dev.key -config r.cnf -outform DER | base64 > csr.b64", dir), 0);
    char *csr = slurp(dir, "csr.b64");
    struct est_issue in = { "Cdev1", "pw-1", ca, cakey, time(NULL) + 3600 };
    char *p7 = est_enroll(csr, strlen(csr), &in, serial, sizeof serial, err, sizeof err);
    assert_non_null(p7);
    assert_true(strlen(serial) > 0);
    char path[256];
    snprintf(path, sizeof path, "%s/out.b64", dir);
    FILE *f = fopen(path, "w");
    fputs(p7, f);
    fclose(f);
    free(p7);
    assert_int_equal(sh("cd %s && base64 -d out.b64 | openssl pkcs7 -inform DER -print_certs -out cert.pem &&"
                        " openssl verify -CAfile ca.pem cert.pem >/dev/null &&"
                        " openssl x509 -in cert.pem -noout -ext subjectAltName | grep -q URI:Cdev1", dir), 0);
    /* Each refusal says why and issues nothing. */
    struct est_issue other = in;
    other.identity = "Cdev2";
    assert_null(est_enroll(csr, strlen(csr), &other, serial, sizeof serial, err, sizeof err));
    assert_non_null(strstr(err, "subjectAltName"));
    other = in;
    other.password = "pw-2";
    assert_null(est_enroll(csr, strlen(csr), &other, serial, sizeof serial, err, sizeof err));
    assert_non_null(strstr(err, "challengePassword"));
    assert_null(est_enroll("!!!!", 4, &in, serial, sizeof serial, err, sizeof err));
    assert_non_null(strstr(err, "base64"));
    assert_null(est_enroll("AAAAAAAA", 8, &in, serial, sizeof serial, err, sizeof err));
    assert_non_null(strstr(err, "DER"));
    assert_null(est_enroll("", 0, &in, serial, sizeof serial, err, sizeof err));
    csr[40] = csr[40] == 'A' ? 'B' : 'A';   /* a flipped bit: bad DER or a bad signature */
    assert_null(est_enroll(csr, strlen(csr), &in, serial, sizeof serial, err, sizeof err));
    free(csr);
    char *cas = est_cacerts(ca, err, sizeof err);
    assert_non_null(cas);
    free(cas);
    assert_null(est_cacerts("/nonexistent.pem", err, sizeof err));
    sh("rm -rf %s", dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_and_keid),
        cmocka_unit_test(export_vector),
        cmocka_unit_test(maf_export_vector),
        cmocka_unit_test(mmaf_mapping),
        cmocka_unit_test(derivations),
        cmocka_unit_test(hex_both_ways),
        cmocka_unit_test(bootstrap_once),
        cmocka_unit_test(mmef_paths),
        cmocka_unit_test(mmef_bodies),
        cmocka_unit_test(vault_round_trip),
        cmocka_unit_test(maf_store_round_trip),
        cmocka_unit_test(leases),
        cmocka_unit_test(est_encodings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
