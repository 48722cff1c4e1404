/* The SAEF credential store: originator patterns, the config-file PSK form,
 * the SQLite store, and AE-ID normalisation for the identity gate. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cse/core/config.h"
#include "cse/core/cse.h"
#include "cse/core/rsc.h"
#include "security/cred_admin.h"
#include "security/credentials.h"
#include "security/saef.h"

static void patterns(void **state)
{
    (void)state;
    assert_true(cred_pattern_allows("Cmeter*", "Cmeter1"));
    assert_true(cred_pattern_allows("Cmeter*", "Cmeter"));
    assert_false(cred_pattern_allows("Cmeter*", "Cmete"));
    assert_false(cred_pattern_allows("Cmeter*", "XCmeter1"));
    assert_true(cred_pattern_allows("Cabc", "Cabc"));
    assert_false(cred_pattern_allows("Cabc", "Cabcd"));
    assert_true(cred_pattern_allows("Cx, Cy ,Cz", "Cy"));
    assert_true(cred_pattern_allows("Cx,Cz", "Cz"));
    assert_false(cred_pattern_allows("Cx,Cz", "Cy"));
    assert_true(cred_pattern_allows("C123*X", "C123abcX"));
    assert_false(cred_pattern_allows("C123*X", "C123abcY"));
    assert_true(cred_pattern_allows("*", "anything"));
    assert_true(cred_pattern_allows("C*a*b", "Cxaybzb"));
    assert_false(cred_pattern_allows("*", ""));
    assert_false(cred_pattern_allows("", "C1"));
    assert_false(cred_pattern_allows(NULL, "C1"));
}

static void parse_psk(void **state)
{
    (void)state;
    struct cred_psk p;
    char err[128];
    assert_int_equal(cred_parse_psk("key7@sp.example.com:0aFF10:Cmeter*,Cgw", &p, err, sizeof err), 0);
    assert_string_equal(p.identity, "key7@sp.example.com");
    assert_int_equal(p.key_len, 3);
    assert_int_equal(p.key[0], 0x0a);
    assert_int_equal(p.key[1], 0xff);
    assert_int_equal(p.key[2], 0x10);
    assert_string_equal(p.originators, "Cmeter*,Cgw");
    assert_int_equal(cred_parse_psk("no-colons", &p, err, sizeof err), -1);
    assert_int_equal(cred_parse_psk("id:abc:C1", &p, err, sizeof err), -1);       /* odd hex */
    assert_int_equal(cred_parse_psk("id:zz:C1", &p, err, sizeof err), -1);        /* not hex */
    assert_int_equal(cred_parse_psk("bad id:00:C1", &p, err, sizeof err), -1);    /* space */
    assert_int_equal(cred_parse_psk("id:00:", &p, err, sizeof err), -1);          /* no patterns */
    assert_int_equal(cred_parse_psk("id:00:C1;drop", &p, err, sizeof err), -1);   /* bad pattern */
    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big, "i:", 2);
    memcpy(big + 2 + 2 * (CRED_KEY_MAX + 1), ":C1", 4);
    assert_int_equal(cred_parse_psk(big, &p, err, sizeof err), -1);               /* key too long */
    assert_false(cred_valid_identity(""));
    assert_true(cred_valid_identity("a.b_c-d@e"));
}

/* A fresh store in a temporary file; drop_store() removes it with its WAL. */
static struct credentials *temp_store(char *path)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct credentials *cs = cred_open(path);
    assert_non_null(cs);
    return cs;
}

static void drop_store(struct credentials *cs, const char *path)
{
    cred_close(cs);
    char side[64];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static void store(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-cred-XXXXXX";
    struct credentials *cs = temp_store(path);
    struct cred_psk p, q;
    char err[64];
    assert_int_equal(cred_parse_psk("k1@x:0102:Ca*", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cs, &p), 0);
    assert_int_equal(cred_get_psk(cs, "k1@x", &q), 0);
    assert_int_equal(q.key_len, 2);
    assert_memory_equal(q.key, "\x01\x02", 2);
    assert_string_equal(q.originators, "Ca*");
    assert_int_equal(cred_get_psk(cs, "k2@x", &q), 1);
    assert_int_equal(cred_get_psk(cs, "k1@x' OR '1'='1", &q), 1);
    snprintf(p.originators, sizeof p.originators, "Cb");
    assert_int_equal(cred_put_psk(cs, &p), 0);                   /* replaces */
    assert_int_equal(cred_get_psk(cs, "k1@x", &q), 0);
    assert_string_equal(q.originators, "Cb");
    assert_int_equal(cred_remove_psk(cs, "k1@x"), 0);
    assert_int_equal(cred_remove_psk(cs, "k1@x"), 1);
    assert_int_equal(cred_put_ca(cs, "ca1", "not a certificate"), -1);
    assert_int_equal(cred_put_ca(cs, "ca1", "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n"), 0);
    assert_int_equal(cred_remove_ca(cs, "ca1"), 0);
    drop_store(cs, path);
}

/* ESPrim keys have a table of their own: a PSK of the same name is not one. */
static void esprim_keys(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-esprim-XXXXXX";
    struct credentials *cs = temp_store(path);
    struct cred_psk p, q;
    char err[64];
    assert_int_equal(cred_parse_psk("k1:0a0b0c:Cmeter*", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_esprim_key(cs, &p), 0);
    assert_int_equal(cred_get_esprim_key(cs, "k1", &q), 0);
    assert_int_equal(q.key_len, 3);
    assert_string_equal(q.originators, "Cmeter*");
    assert_int_equal(cred_get_psk(cs, "k1", &q), 1);          /* not a (D)TLS PSK */
    assert_int_equal(cred_parse_psk("k2:0d:Cx", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cs, &p), 0);
    assert_int_equal(cred_get_esprim_key(cs, "k2", &q), 1);   /* nor the other way round */
    p.key_len = 0;
    assert_int_equal(cred_put_esprim_key(cs, &p), -1);         /* no key */
    drop_store(cs, path);
}

/* psk-file and `credentials add-psk` lines: all stored, or none. */
static void import_lines(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-import-XXXXXX";
    struct credentials *cs = temp_store(path);
    struct cred_psk q;
    char err[256];
    static const char good[] = "# keys\n\n  a@x:0a0b:Ca*  \r\nb@x:0c:Cb\n#last";
    FILE *f = fmemopen((void *)good, sizeof good - 1, "r");
    assert_int_equal(cred_import_psk_lines(cs, f, "keys", err, sizeof err), 2);
    fclose(f);
    assert_int_equal(cred_get_psk(cs, "a@x", &q), 0);
    assert_int_equal(q.key_len, 2);
    assert_string_equal(q.originators, "Ca*");
    assert_int_equal(cred_get_psk(cs, "b@x", &q), 0);

    static const char bad[] = "c@x:0d:Cc\nd@x:zz:Cd\n";
    f = fmemopen((void *)bad, sizeof bad - 1, "r");
    assert_int_equal(cred_import_psk_lines(cs, f, "keys", err, sizeof err), -1);
    fclose(f);
    assert_non_null(strstr(err, "keys:2:"));
    assert_int_equal(cred_get_psk(cs, "c@x", &q), 1);    /* the good line before it is not stored */

    static const char none[] = "# nothing\n\n";
    f = fmemopen((void *)none, sizeof none - 1, "r");
    assert_int_equal(cred_import_psk_lines(cs, f, "keys", err, sizeof err), 0);
    fclose(f);

    char longline[1100];
    memset(longline, 'a', sizeof longline - 1);
    longline[sizeof longline - 1] = 0;
    f = fmemopen(longline, strlen(longline), "r");
    assert_int_equal(cred_import_psk_lines(cs, f, "keys", err, sizeof err), -1);
    fclose(f);
    assert_non_null(strstr(err, "too long"));
    drop_store(cs, path);
}

/* The identity gate on a CSE with one PSK bound to "Cmeter*". */
static int gate_from(struct cse *cse, enum m2m_binding b, const char *cred, const char *fr,
                     const char *ip)
{
    struct m2m_request req;
    struct m2m_response rsp;
    m2m_request_init(&req);
    m2m_response_init(&rsp);
    req.binding = b;
    req.fr = fr ? strdup(fr) : NULL;
    snprintf(req.peer.ip, sizeof req.peer.ip, "%s", ip);
    saef_bind(&req, cred);
    int rc = saef_check(cse, &req, &rsp);
    if (rc) assert_int_equal(rsp.rsc, rc);
    m2m_response_clear(&rsp);
    m2m_request_clear(&req);
    return rc;
}

/* From no peer address: a request made in this process. */
static int gate(struct cse *cse, enum m2m_binding b, const char *cred, const char *fr)
{
    return gate_from(cse, b, cred, fr, "");
}

/* Secure by default off loopback (issue 16 item 9). */
static void loopback_defaults(void **state)
{
    (void)state;
    assert_true(config_is_loopback("127.0.0.1"));
    assert_true(config_is_loopback("127.8.9.10"));
    assert_true(config_is_loopback("::1"));
    assert_true(config_is_loopback("::ffff:127.0.0.1"));
    assert_true(config_is_loopback("localhost"));
    assert_false(config_is_loopback("0.0.0.0"));
    assert_false(config_is_loopback("::"));
    assert_false(config_is_loopback("192.0.2.1"));
    assert_false(config_is_loopback("128.0.0.1"));
    assert_false(config_is_loopback("example.org"));
    assert_false(config_is_loopback(""));
    struct config c;
    config_defaults(&c);
    assert_int_equal(c.security_http, SECURITY_AUTO);
    config_resolve_security(&c);
    assert_int_equal(c.security_http, SECURITY_OPTIONAL);
    assert_int_equal(c.security_coap, SECURITY_OPTIONAL);
    config_defaults(&c);
    strcpy(c.http_host, "0.0.0.0");
    strcpy(c.coap_host, "::");
    config_resolve_security(&c);
    assert_int_equal(c.security_http, SECURITY_REQUIRED);
    assert_int_equal(c.security_coap, SECURITY_REQUIRED);
    config_defaults(&c);
    strcpy(c.http_host, "0.0.0.0");
    c.security_http = SECURITY_OPTIONAL;              /* the operator opted out */
    config_resolve_security(&c);
    assert_int_equal(c.security_http, SECURITY_OPTIONAL);

    /* The admin unauthenticated: from loopback only, whatever the policy. */
    struct cse cse;
    memset(&cse, 0, sizeof cse);
    config_defaults(&cse.cfg);
    cse.cfg.security_http = cse.cfg.security_coap = SECURITY_OPTIONAL;
    assert_int_equal(gate_from(&cse, BINDING_HTTP, NULL, "CAdmin", "127.0.0.1"), 0);
    assert_int_equal(gate_from(&cse, BINDING_HTTP, NULL, "CAdmin", "192.0.2.7"), RSC_SECURITY_ASSOCIATION_REQUIRED);
    assert_int_equal(gate_from(&cse, BINDING_COAP, NULL, "/id-in/CAdmin", "2001:db8::1"),
                     RSC_SECURITY_ASSOCIATION_REQUIRED);
    assert_int_equal(gate_from(&cse, BINDING_HTTP, NULL, "//ironbark.local/id-in/CAdmin", "192.0.2.7"),
                     RSC_SECURITY_ASSOCIATION_REQUIRED);
    assert_int_equal(gate_from(&cse, BINDING_HTTP, NULL, "Cother", "192.0.2.7"), 0);
    cse.cfg.security_http = SECURITY_OFF;
    assert_int_equal(gate_from(&cse, BINDING_HTTP, NULL, "CAdmin", "192.0.2.7"), RSC_SECURITY_ASSOCIATION_REQUIRED);
    assert_int_equal(gate_from(&cse, BINDING_INTERNAL, NULL, "CAdmin", "192.0.2.7"), 0);
}

static void identity_gate(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-gate-XXXXXX";
    static struct cse cse;
    memset(&cse, 0, sizeof cse);
    config_defaults(&cse.cfg);
    cse.creds = temp_store(path);
    struct cred_psk p;
    char err[64];
    assert_int_equal(cred_parse_psk("k@x:01:Cmeter*", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cse.creds, &p), 0);

    assert_int_equal(gate(&cse, BINDING_HTTP, "12-k@x", "Cmeter1"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-k@x", "/id-in/Cmeter1"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-k@x", "//ironbark.local/id-in/Cmeter1"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-k@x", "Cother"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-k@x", "/id-mn/Cmeter1"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-k@x", NULL), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-gone@x", "Cmeter1"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    /* A certificate binds exactly its AE-ID, in any of its forms. */
    assert_int_equal(gate(&cse, BINDING_COAP, "33-//ironbark.local/id-in/Cdev", "Cdev"), 0);
    assert_int_equal(gate(&cse, BINDING_COAP, "33-Cdev", "/id-in/Cdev"), 0);
    assert_int_equal(gate(&cse, BINDING_COAP, "33-Cdev", "Cdev2"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_COAP, "33-C*", "Cdev"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "99-what", "Cdev"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    /* A credential bound to a foreign SP speaks only for that SP's IDs, never
     * for the local AEs of the same name (cse/ident.h). */
    assert_int_equal(cred_parse_psk("evil@x:02://evil.example/*", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cse.creds, &p), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-evil@x", "//evil.example/id-in/CAdmin"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-evil@x", "//EVIL.example/id-in/Cother"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-evil@x", "CAdmin"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-evil@x", "/id-in/Cother"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-evil@x", "//ironbark.local/id-in/Cother"),
                     RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-evil@x", "//evil.example.other/id-in/C1"),
                     RSC_ORIGINATOR_NOT_AUTHENTICATED);
    /* Patterns in SP-relative or absolute form bind the local IDs they name;
     * "/id-in/..." does not reach other SPs or CSEs. */
    assert_int_equal(cred_parse_psk("local@x:03:/id-in/Cgw*,//IRONBARK.local/id-in/Cdash", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cse.creds, &p), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-local@x", "Cgw1"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-local@x", "//ironbark.local/id-in/Cgw2"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-local@x", "Cdash"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-local@x", "//evil.example/id-in/Cgw1"),
                     RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-local@x", "/id-mn/Cgw1"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(cred_parse_psk("any@x:04:*", &p, err, sizeof err), 0);
    assert_int_equal(cred_put_psk(cse.creds, &p), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-any@x", "//evil.example/id-in/C1"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-any@x", "C1"), 0);
    assert_int_equal(gate(&cse, BINDING_HTTP, "12-any@x", "C1//x"), RSC_ORIGINATOR_NOT_AUTHENTICATED);
    /* A certificate for a foreign AE-ID is that foreign AE only. */
    assert_int_equal(gate(&cse, BINDING_COAP, "33-//evil.example/id-in/Cdev", "Cdev"),
                     RSC_ORIGINATOR_NOT_AUTHENTICATED);
    assert_int_equal(gate(&cse, BINDING_COAP, "33-//evil.example/id-in/Cdev", "//Evil.Example/id-in/Cdev"), 0);
    /* Unsecured requests: the binding's policy decides. */
    assert_int_equal(gate(&cse, BINDING_HTTP, NULL, "Cany"), 0);
    cse.cfg.security_http = SECURITY_REQUIRED;
    assert_int_equal(gate(&cse, BINDING_HTTP, NULL, "Cany"), RSC_SECURITY_ASSOCIATION_REQUIRED);
    assert_int_equal(gate(&cse, BINDING_COAP, NULL, "Cany"), 0);
    assert_int_equal(gate(&cse, BINDING_INTERNAL, NULL, "Cany"), 0);
    cse.cfg.security_coap = SECURITY_REQUIRED;
    assert_int_equal(gate(&cse, BINDING_COAP, NULL, "Cany"), RSC_SECURITY_ASSOCIATION_REQUIRED);
    assert_int_equal(gate(&cse, BINDING_COAP, "12-k@x", "Cmeter2"), 0);

    drop_store(cse.creds, path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(patterns),
        cmocka_unit_test(parse_psk),
        cmocka_unit_test(store),
        cmocka_unit_test(esprim_keys),
        cmocka_unit_test(import_lines),
        cmocka_unit_test(identity_gate), cmocka_unit_test(loopback_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
