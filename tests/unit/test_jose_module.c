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
#include "security/jose_module.h"

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
    const struct CMUnitTest loaded[] = { cmocka_unit_test(not_linked), cmocka_unit_test(round_trip) };
    const struct CMUnitTest absent[] = { cmocka_unit_test(missing) };
    const struct CMUnitTest foreign[] = { cmocka_unit_test(not_a_module) };
    if (!strcmp(mode, "missing")) return cmocka_run_group_tests(absent, NULL, NULL);
    if (!strcmp(mode, "foreign")) return cmocka_run_group_tests(foreign, NULL, NULL);
    return cmocka_run_group_tests(loaded, NULL, NULL);
}
