/* Web console sessions (security/console_session.c) on instants of the
 * test's own: tokens unique and found only whole, sessions ending at their
 * time, serials, logout, the oldest ended for a session beyond the table;
 * and the audit log read back for the console (security/audit.c
 * audit_query): newest first, filters, limits, a cut first line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "security/audit.h"
#include "security/console_session.h"

#define S 1000000LL

static void open_find_expire(void **state)
{
    (void)state;
    struct console_sessions *s = console_sessions_create(10 * S);
    char a[CONSOLE_TOKEN_LEN + 1], b[CONSOLE_TOKEN_LEN + 1];
    unsigned sa, sb, serial;
    int64_t until;
    assert_int_equal(console_session_open(s, "CAdmin", 100 * S, a, &sa, &until), 0);
    assert_int_equal(until, 110 * S);
    assert_int_equal(console_session_open(s, "Cop", 105 * S, b, &sb, &until), 0);
    assert_int_equal(strlen(a), CONSOLE_TOKEN_LEN);
    assert_string_not_equal(a, b);
    assert_int_not_equal(sa, sb);
    assert_string_equal(console_session_find(s, a, 109 * S, &serial, &until), "CAdmin");
    assert_int_equal(serial, sa);
    assert_string_equal(console_session_originator(s, sb, 109 * S), "Cop");
    /* Only the whole token: a prefix, a longer text, NULL are nobody. */
    char cut[CONSOLE_TOKEN_LEN];
    memcpy(cut, a, sizeof cut - 1);
    cut[sizeof cut - 1] = 0;
    assert_null(console_session_find(s, cut, 109 * S, &serial, &until));
    char longer[CONSOLE_TOKEN_LEN + 2];
    snprintf(longer, sizeof longer, "%sx", a);
    assert_null(console_session_find(s, longer, 109 * S, &serial, &until));
    assert_null(console_session_find(s, NULL, 109 * S, &serial, &until));
    /* The end is the end. */
    assert_null(console_session_find(s, a, 110 * S, &serial, &until));
    assert_null(console_session_originator(s, sa, 110 * S));
    assert_string_equal(console_session_originator(s, sb, 110 * S), "Cop");
    assert_true(console_session_close(s, b));
    assert_false(console_session_close(s, b));
    assert_null(console_session_originator(s, sb, 110 * S));
    console_sessions_free(s);
}

static void table_full_ends_the_oldest(void **state)
{
    (void)state;
    struct console_sessions *s = console_sessions_create(100 * S);
    char tok[CONSOLE_SESSIONS + 1][CONSOLE_TOKEN_LEN + 1];
    unsigned serial[CONSOLE_SESSIONS + 1], got;
    int64_t until;
    for (int i = 0; i <= CONSOLE_SESSIONS; i++)
        assert_int_equal(console_session_open(s, "CAdmin", (1 + i) * S, tok[i], &serial[i], &until), 0);
    assert_null(console_session_find(s, tok[0], 50 * S, &got, &until));
    for (int i = 1; i <= CONSOLE_SESSIONS; i++)
        assert_non_null(console_session_find(s, tok[i], 50 * S, &got, &until));
    console_sessions_free(s);
}

static void audit_read_back(void **state)
{
    (void)state;
    char path[] = "/tmp/ironbark-audit-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct audit *a = audit_open(path, 0, 0);
    assert_non_null(a);
    audit_decision(a, "Cmeter", "cse-in/meter/power", "CREATE", "deny", "acp", "no rule");
    audit_decision(a, "Cdash", "cse-in/meter", "RETRIEVE", "deny", "acp", "no rule");
    audit_record(a, "CAdmin", "cse-in/acp1", "UPDATE", "permit", "pv changed");
    audit_decision(a, "Cmeter", "cse-in/meter", "DELETE", "deny", "acp", "no rule");
    audit_close(a);

    struct audit_filter all = { NULL, NULL, NULL };
    json_t *e = audit_query(path, &all, 100, 1 << 20);
    assert_int_equal(json_array_size(e), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 0), "op")), "DELETE");
    json_decref(e);

    struct audit_filter meter_denied = { "Cmeter", "", "deny" };
    e = audit_query(path, &meter_denied, 100, 1 << 20);
    assert_int_equal(json_array_size(e), 2);
    json_decref(e);
    struct audit_filter power = { NULL, "power", NULL };
    e = audit_query(path, &power, 100, 1 << 20);
    assert_int_equal(json_array_size(e), 1);
    json_decref(e);
    struct audit_filter den = { NULL, NULL, "den" };     /* decision matches exactly */
    e = audit_query(path, &den, 100, 1 << 20);
    assert_int_equal(json_array_size(e), 0);
    json_decref(e);
    e = audit_query(path, &all, 1, 1 << 20);
    assert_int_equal(json_array_size(e), 1);
    json_decref(e);
    /* Only the newest bytes: the line cut at the front is left out. */
    e = audit_query(path, &all, 100, 200);
    assert_true(json_array_size(e) >= 1 && json_array_size(e) < 4);
    json_decref(e);
    unlink(path);
    e = audit_query(path, &all, 100, 1 << 20);
    assert_int_equal(json_array_size(e), 0);
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_find_expire),
        cmocka_unit_test(table_full_ends_the_oldest),
        cmocka_unit_test(audit_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
