/* Our definitions of libcrypto functions stand in for libcrypto's.
 * EVP_PKEY_derive_set_peer() (security/ecdh_peer.c): the same shared secret,
 * the same refusal of a peer key libcrypto's full check refuses, the full
 * check kept for other keys. The fetches (security/ossl_fetch.c): the same
 * object, cached only for the default context without properties; the NIST
 * curves' groups: equal copies. The key-type names (security/ossl_names.c):
 * libcrypto's own names in libcrypto's order, from the cache only once the
 * name map is frozen and only for the default context. And libssl reaching
 * them all (a TLS 1.3 handshake in memory). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "security/ecdh_peer.h"
#include "security/ossl_fetch.h"
#include "security/ossl_names.h"
#include "ssl_mem.h"

/* The shared secret of mine with peer through set_peer (ours when
 * validate < 0, libcrypto's own with that validation otherwise); its
 * length, or the set-up step's result when that failed (<= 0). */
static long derive(EVP_PKEY *mine, EVP_PKEY *peer, int validate, unsigned char *out, size_t cap)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
    int set = validate < 0 ? EVP_PKEY_derive_set_peer(ctx, peer) : EVP_PKEY_derive_set_peer_ex(ctx, peer, validate);
    size_t n = cap;
    long r = set <= 0 ? set : EVP_PKEY_derive(ctx, out, &n) == 1 ? (long)n : 0;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return r;
}

static void same_secret_for_p256(void **state)
{
    (void)state;
    EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char ours[64], theirs[64];
    unsigned long before = ecdh_peer_partial_checks();
    long n = derive(a, b, -1, ours, sizeof ours);
    assert_int_equal(n, 32);
    assert_int_equal(ecdh_peer_partial_checks(), before + 1);
    assert_int_equal(derive(a, b, 1, theirs, sizeof theirs), 32);
    assert_memory_equal(ours, theirs, 32);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

/* A P-256 public key that is the point at infinity (libcrypto imports it):
 * libcrypto's full check refuses it, and so does ours. */
static void infinity_refused(void **state)
{
    (void)state;
    unsigned char infinity[1] = { 0 };
    EVP_PKEY *mine = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *bad = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_int_equal(EVP_PKEY_set1_encoded_public_key(bad, infinity, sizeof infinity), 1);
    unsigned char out[64];
    unsigned long before = ecdh_peer_partial_checks();
    assert_true(derive(mine, bad, 1, out, sizeof out) <= 0);
    assert_true(derive(mine, bad, -1, out, sizeof out) <= 0);
    assert_int_equal(ecdh_peer_partial_checks(), before);
    EVP_PKEY_free(mine);
    EVP_PKEY_free(bad);
}

/* Keys that are not on a prime-order NIST curve keep libcrypto's check. */
static void others_unchanged(void **state)
{
    (void)state;
    EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "X25519"), *b = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    unsigned char ours[64], theirs[64];
    unsigned long before = ecdh_peer_partial_checks();
    assert_int_equal(derive(a, b, -1, ours, sizeof ours), 32);
    assert_int_equal(derive(a, b, 1, theirs, sizeof theirs), 32);
    assert_memory_equal(ours, theirs, 32);
    assert_int_equal(ecdh_peer_partial_checks(), before);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

/* A repeated fetch hands out the same object, a new reference each time,
 * that works and frees like libcrypto's own. */
static void fetch_cached(void **state)
{
    (void)state;
    EVP_MD *a = EVP_MD_fetch(NULL, "SHA2-384", NULL);
    unsigned long before = ossl_fetch_hits();
    EVP_MD *b = EVP_MD_fetch(OSSL_LIB_CTX_get0_global_default(), "SHA2-384", "");
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_int_equal(ossl_fetch_hits(), before + 1);
    EVP_MD_free(a);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest("abc", 3, out, &n, b, NULL), 1);
    assert_int_equal(n, 48);
    assert_int_equal(out[0], 0xcb);   /* FIPS 180-2's SHA-384("abc") starts cb00753f */
    EVP_MD_free(b);
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    EVP_CIPHER_free(c);
    c = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    assert_non_null(c);
    assert_int_equal(EVP_CIPHER_get_key_length(c), 16);
    EVP_CIPHER_free(c);
    assert_null(EVP_MD_fetch(NULL, "no-such-digest", NULL));
    ERR_clear_error();
}

/* Properties, another library context: libcrypto's fetch, every time. */
static void fetch_uncached(void **state)
{
    (void)state;
    EVP_MD_free(EVP_MD_fetch(NULL, "SHA2-512", NULL));
    unsigned long before = ossl_fetch_hits();
    EVP_MD *p = EVP_MD_fetch(NULL, "SHA2-512", "provider=default");
    OSSL_LIB_CTX *other = OSSL_LIB_CTX_new();
    EVP_MD *o = EVP_MD_fetch(other, "SHA2-512", NULL);
    assert_non_null(p);
    assert_non_null(o);
    assert_ptr_not_equal(o, p);
    assert_int_equal(ossl_fetch_hits(), before);
    EVP_MD_free(p);
    EVP_MD_free(o);
    OSSL_LIB_CTX_free(other);
}

/* A NIST curve's group is a copy of one built before: equal, the caller's
 * own (freed on its own), and it makes working keys. Other curves are built. */
static void group_copied(void **state)
{
    (void)state;
    EC_GROUP_free(EC_GROUP_new_by_curve_name(NID_secp384r1));
    unsigned long before = ossl_fetch_hits();
    EC_GROUP *a = EC_GROUP_new_by_curve_name(NID_secp384r1);
    EC_GROUP *b = EC_GROUP_new_by_curve_name_ex(NULL, NULL, NID_secp384r1);
    assert_non_null(a);
    assert_ptr_not_equal(a, b);
    assert_int_equal(ossl_fetch_hits(), before + 2);
    assert_int_equal(EC_GROUP_cmp(a, b, NULL), 0);
    assert_int_equal(EC_GROUP_get_curve_name(b), NID_secp384r1);
    assert_int_equal(EC_GROUP_check(b, NULL), 1);
    EC_GROUP_free(a);
    EC_GROUP_free(b);
    /* The provider asks with its own context pointer: its first key builds. */
    EVP_PKEY_free(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"));
    before = ossl_fetch_hits();
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(k);
    assert_true(ossl_fetch_hits() > before);
    EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    assert_int_equal(EVP_PKEY_check(check), 1);
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_free(k);
    before = ossl_fetch_hits();
    EC_GROUP *other = EC_GROUP_new_by_curve_name(NID_secp256k1);
    assert_non_null(other);
    assert_int_equal(ossl_fetch_hits(), before);
    EC_GROUP_free(other);
}

typedef void name_fn(const char *name, void *data);
typedef int names_do_all_fn(const EVP_KEYMGMT *keymgmt, name_fn *fn, void *data);

/* A key type's names, joined with ':' in the order they were given. */
static void join(const char *name, void *data)
{
    char *out = data;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s:", name);
}

struct types {
    int count;
    EVP_KEYMGMT *keymgmt[64];
};

static void each_type(EVP_KEYMGMT *keymgmt, void *data)
{
    struct types *t = data;
    if (t->count < 64 && EVP_KEYMGMT_up_ref(keymgmt) == 1) t->keymgmt[t->count++] = keymgmt;
}

/* Ours against libcrypto's (the next definition) for every key type of
 * ctx: the same names in the same order, the same result. */
static void names_match(OSSL_LIB_CTX *ctx, int *types)
{
    names_do_all_fn *theirs = (names_do_all_fn *)ossl_next_definition("EVP_KEYMGMT_names_do_all");
    assert_non_null(theirs);
    assert_ptr_not_equal(theirs, EVP_KEYMGMT_names_do_all);
    struct types t = { 0 };
    EVP_KEYMGMT_do_all_provided(ctx, each_type, &t);
    assert_true(t.count >= 10);          /* RSA, EC, X25519, ED25519, DH, DSA, ... */
    for (int i = 0; i < t.count; i++) {
        for (int round = 0; round < 2; round++) {
            char ours[512] = "", libcrypto[512] = "";
            assert_int_equal(EVP_KEYMGMT_names_do_all(t.keymgmt[i], join, ours),
                             theirs(t.keymgmt[i], join, libcrypto));
            assert_string_equal(ours, libcrypto);
            assert_non_null(strstr(ours, EVP_KEYMGMT_get0_name(t.keymgmt[i])));
        }
        EVP_KEYMGMT_free(t.keymgmt[i]);
    }
    *types = t.count;
}

/* Before the freeze libcrypto answers; after it, the cache, with the same
 * answers, for the default context only; keys typed through it keep
 * their types. */
static void names_cached(void **state)
{
    (void)state;
    int types = 0;
    unsigned long before = ossl_names_hits();
    names_match(NULL, &types);
    assert_int_equal(ossl_names_hits(), before);
    ossl_names_freeze();
    ossl_names_freeze();
    names_match(NULL, &types);
    assert_true(ossl_names_hits() >= before + (unsigned long)types);   /* each type's second round */
    OSSL_LIB_CTX *other = OSSL_LIB_CTX_new();
    before = ossl_names_hits();
    names_match(other, &types);
    assert_int_equal(ossl_names_hits(), before);
    OSSL_LIB_CTX_free(other);
    static const struct { const char *type; int id; } keys[] = {
        { "EC", EVP_PKEY_EC }, { "X25519", EVP_PKEY_X25519 }, { "ED25519", EVP_PKEY_ED25519 }, { "RSA", EVP_PKEY_RSA },
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        EVP_PKEY *k = i == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
                    : i == 3 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024)
                             : EVP_PKEY_Q_keygen(NULL, NULL, keys[i].type);
        assert_non_null(k);
        assert_int_equal(EVP_PKEY_get_base_id(k), keys[i].id);
        assert_true(EVP_PKEY_is_a(k, keys[i].type));
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
        assert_non_null(ctx);
        EVP_PKEY *copy = EVP_PKEY_dup(k);
        assert_non_null(copy);
        assert_int_equal(EVP_PKEY_get_id(copy), keys[i].id);
        assert_int_equal(EVP_PKEY_eq(k, copy), 1);
        EVP_PKEY_free(copy);
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(k);
    }
}


static unsigned int psk_server(SSL *ssl, const char *id, unsigned char *key, unsigned int max)
{
    (void)ssl;
    (void)id;
    memset(key, 7, 16 < max ? 16 : max);
    return 16;
}

static unsigned int psk_client(SSL *ssl, const char *hint, char *id, unsigned int id_max, unsigned char *key,
                               unsigned int max)
{
    (void)ssl;
    (void)hint;
    snprintf(id, id_max, "t@x");
    memset(key, 7, 16 < max ? 16 : max);
    return 16;
}

/* libssl's TLS 1.3 ECDHE (psk_dhe_ke, P-256) and its fetches go through ours. */
static void libssl_calls_ours(void **state)
{
    (void)state;
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(sctx);
    assert_non_null(cctx);
    SSL_CTX_set_psk_server_callback(sctx, psk_server);
    SSL_CTX_set_psk_client_callback(cctx, psk_client);
    SSL_CTX_set_ciphersuites(cctx, "TLS_AES_128_GCM_SHA256");
    assert_int_equal(SSL_CTX_set1_groups_list(cctx, "P-256"), 1);
    SSL *c, *s;
    ssl_mem_pair(cctx, sctx, &c, &s);
    ossl_names_freeze();
    unsigned long before = ecdh_peer_partial_checks(), hits = ossl_fetch_hits(), names = ossl_names_hits();
    assert_true(ssl_mem_handshake(c, s));
    /* Both ends derive in this process: client and server. */
    assert_int_equal(ecdh_peer_partial_checks(), before + 2);
    assert_true(ossl_fetch_hits() > hits + 20);
    assert_true(ossl_names_hits() >= names + 4);   /* key shares, their contexts */
    SSL_free(s);
    SSL_free(c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_secret_for_p256),
        cmocka_unit_test(infinity_refused),
        cmocka_unit_test(others_unchanged),
        cmocka_unit_test(fetch_cached),
        cmocka_unit_test(fetch_uncached),
        cmocka_unit_test(group_copied),
        cmocka_unit_test(names_cached),
        cmocka_unit_test(libssl_calls_ours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
