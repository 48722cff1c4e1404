/* Settings (cse/config.c): defaults, config_set, config files, flags and
 * their precedence. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cse/core/config.h"
#include "cse/base/log.h"

static void defaults(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);
    assert_string_equal(c.cse_id, "id-in");
    assert_string_equal(c.cse_name, "cse-in");
    assert_string_equal(c.admin, "CAdmin");
    assert_string_equal(c.http_host, "127.0.0.1");
    assert_int_equal(c.http_port, 8080);
    assert_int_equal(c.sync, 1);
    assert_int_equal(c.log_level, LOG_LVL_INFO);
    assert_true(c.strict_query);
    assert_int_equal(c.max_body, 1 << 20);
    assert_int_equal(c.max_connections, 4096);
    assert_int_equal(c.max_connections_per_client, 64);
    assert_int_equal(c.http_request_timeout_ms, 30000);
    assert_string_equal(c.db_file, "");
}

static void set_values(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(config_set(&c, "cse-id", "id-mn", err, sizeof err), 0);
    assert_string_equal(c.cse_id, "id-mn");
    assert_int_equal(config_set(&c, "http-port", "0", err, sizeof err), 0);
    assert_int_equal(c.http_port, 0);
    assert_int_equal(config_set(&c, "http-port", "65536", err, sizeof err), -1);
    assert_non_null(strstr(err, "http-port"));
    assert_int_equal(config_set(&c, "http-port", "8o", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "http-port", "", err, sizeof err), -1);
    assert_int_equal(c.http_port, 0);            /* unchanged by the failures */
    assert_int_equal(config_set(&c, "max-body", "2048", err, sizeof err), 0);
    assert_int_equal(c.max_body, 2048);
    assert_int_equal(config_set(&c, "max-body", "10", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "max-connections-per-client", "8", err, sizeof err), 0);
    assert_int_equal(c.max_connections_per_client, 8);
    assert_int_equal(config_set(&c, "max-connections-per-client", "0", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "http-request-timeout", "1000", err, sizeof err), 0);
    assert_int_equal(c.http_request_timeout_ms, 1000);
    assert_int_equal(config_set(&c, "http-request-timeout", "99", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "default-lifetime", "3153600000", err, sizeof err), 0);
    assert_int_equal(c.default_et_s, 3153600000LL);
    assert_int_equal(config_set(&c, "sync", "full", err, sizeof err), 0);
    assert_int_equal(c.sync, 2);
    assert_int_equal(config_set(&c, "sync", "off", err, sizeof err), 0);
    assert_int_equal(c.sync, 0);
    assert_int_equal(config_set(&c, "sync", "fast", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "log-level", "debug", err, sizeof err), 0);
    assert_int_equal(c.log_level, LOG_LVL_DEBUG);
    assert_int_equal(config_set(&c, "log-level", "verbose", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "strict-query", "no", err, sizeof err), 0);
    assert_false(c.strict_query);
    assert_int_equal(config_set(&c, "strict-query", "maybe", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "nope", "1", err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown setting"));
    char longv[400];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    assert_int_equal(config_set(&c, "cse-id", longv, err, sizeof err), -1);
    assert_string_equal(c.cse_id, "id-mn");
}

static void rate_settings(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(c.rate_address.rate, 2000);
    assert_int_equal(c.rate_address.burst, 4000);
    assert_int_equal(c.rate_handshake.rate, 50);
    assert_false(c.rate_limit_loopback);
    assert_int_equal(config_set(&c, "rate-per-originator", "5,12", err, sizeof err), 0);
    assert_int_equal(c.rate_originator.rate, 5);
    assert_int_equal(c.rate_originator.burst, 12);
    assert_int_equal(config_set(&c, "rate-per-credential", "7", err, sizeof err), 0);
    assert_int_equal(c.rate_credential.rate, 7);
    assert_int_equal(c.rate_credential.burst, 14);    /* twice the rate when not given */
    assert_int_equal(config_set(&c, "rate-per-address", "0", err, sizeof err), 0);
    assert_int_equal(c.rate_address.rate, 0);         /* off */
    static const char *const bad[] = { "", "x", "-1", "5,", "5,0", ",5", "5,6,7", "2000000", "1 ,2" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(config_set(&c, "rate-handshakes-per-address", bad[i], err, sizeof err), -1);
        assert_non_null(strstr(err, "rate-handshakes-per-address"));
    }
    assert_int_equal(c.rate_handshake.rate, 50);      /* unchanged by the failures */
    assert_int_equal(config_set(&c, "rate-limit-loopback", "true", err, sizeof err), 0);
    assert_true(c.rate_limit_loopback);
    assert_int_equal(config_set(&c, "rate-limit-entries", "8", err, sizeof err), -1);
}

static char conf_path[64];

static void write_conf(const char *text)
{
    FILE *f = fopen(conf_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int make_conf(void **state)
{
    (void)state;
    snprintf(conf_path, sizeof conf_path, "/tmp/ironbark-conf-XXXXXX");
    int fd = mkstemp(conf_path);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static int drop_conf(void **state)
{
    (void)state;
    unlink(conf_path);
    return 0;
}

static void config_file(void **state)
{
    (void)state;
    struct config c;
    char err[512];
    config_defaults(&c);
    write_conf("# comment\n\n  cse-id = id-file   \ncse-name=\"quoted name\"\nhttp-port = 9000 # trailing\n");
    assert_int_equal(config_load_file(&c, conf_path, err, sizeof err), 0);
    assert_string_equal(c.cse_id, "id-file");
    assert_string_equal(c.cse_name, "quoted name");
    assert_int_equal(c.http_port, 9000);
    write_conf("cse-id = ok\nno equals here\n");
    assert_int_equal(config_load_file(&c, conf_path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2:"));
    write_conf("http-port = many\n");
    assert_int_equal(config_load_file(&c, conf_path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1:"));
    assert_int_equal(config_load_file(&c, "/nonexistent/ironbark.conf", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
}

static int parse(struct config *c, int argc, const char **argv)
{
    config_defaults(c);
    return config_parse_args(c, argc, (char **)argv);
}

static void flags(void **state)
{
    (void)state;
    struct config c;
    write_conf("cse-id = id-file\nhttp-port = 9000\n");
    /* Flags override the file wherever they stand on the line. */
    const char *a1[] = { "m2m-cse", "--http-port", "9100", "--config", conf_path, "--data-dir", "/tmp/x" };
    assert_int_equal(parse(&c, 7, a1), 0);
    assert_int_equal(c.http_port, 9100);
    assert_string_equal(c.cse_id, "id-file");
    assert_string_equal(c.db_file, "/tmp/x/cse.db");  /* derived from data-dir */
    const char *a2[] = { "m2m-cse", "--cse-id=id-eq", "--db", "/tmp/y.db" };
    assert_int_equal(parse(&c, 4, a2), 0);
    assert_string_equal(c.cse_id, "id-eq");
    assert_string_equal(c.db_file, "/tmp/y.db");
    /* --help and --version print to stdout, which carries TAP here. */
    fflush(stdout);
    int saved = dup(1), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    const char *a3[] = { "m2m-cse", "--help" };
    int help_rc = parse(&c, 2, a3);
    const char *a4[] = { "m2m-cse", "--version" };
    int version_rc = parse(&c, 2, a4);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(devnull);
    assert_int_equal(help_rc, 1);
    assert_int_equal(version_rc, 1);
    const char *bad1[] = { "m2m-cse", "--nope", "1" };
    assert_int_equal(parse(&c, 3, bad1), -1);
    const char *bad2[] = { "m2m-cse", "--http-port" };
    assert_int_equal(parse(&c, 2, bad2), -1);
    const char *bad3[] = { "m2m-cse", "positional" };
    assert_int_equal(parse(&c, 2, bad3), -1);
    const char *bad4[] = { "m2m-cse", "--config" };
    assert_int_equal(parse(&c, 2, bad4), -1);
    const char *bad5[] = { "m2m-cse", "--config", "/nonexistent/x.conf" };
    assert_int_equal(parse(&c, 3, bad5), -1);
    const char *bad6[] = { "m2m-cse", "--http-port=x" };
    assert_int_equal(parse(&c, 2, bad6), -1);
}

/* Keys: never a flag; in a file only when nobody else may read it. */
static void secret_settings(void **state)
{
    (void)state;
    struct config c;
    char err[512];
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    const char *a1[] = { "m2m-cse", "--psk", "k@x:00:C*" };
    int rc1 = parse(&c, 3, a1);
    const char *a2[] = { "m2m-cse", "--psk=k@x:00:C*" };
    int rc2 = parse(&c, 2, a2);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    assert_int_equal(rc1, -1);
    assert_int_equal(rc2, -1);
    assert_int_equal(c.npsk, 0);
    const char *a3[] = { "m2m-cse", "--psk-file", "/etc/ironbark/keys" };
    assert_int_equal(parse(&c, 3, a3), 0);
    assert_string_equal(c.psk_file, "/etc/ironbark/keys");

    write_conf("cse-id = id-file\npsk = k@x:0011:C*\n");
    chmod(conf_path, 0640);
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, conf_path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: psk:"));
    assert_non_null(strstr(err, "chmod 600"));
    assert_null(strstr(err, "0011"));                 /* the key is not repeated */
    assert_int_equal(c.npsk, 0);
    chmod(conf_path, 0600);
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, conf_path, err, sizeof err), 0);
    assert_int_equal(c.npsk, 1);
    assert_string_equal(c.psk[0], "k@x:0011:C*");
    /* Other settings need no private file. */
    write_conf("cse-id = id-file\npsk-file = /x\n");
    chmod(conf_path, 0644);
    assert_int_equal(config_load_file(&c, conf_path, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(set_values),
        cmocka_unit_test(rate_settings),
        cmocka_unit_test_setup_teardown(config_file, make_conf, drop_conf),
        cmocka_unit_test_setup_teardown(flags, make_conf, drop_conf),
        cmocka_unit_test_setup_teardown(secret_settings, make_conf, drop_conf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
