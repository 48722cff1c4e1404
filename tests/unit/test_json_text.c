/* json_text() must produce exactly what json_dumps(JSON_COMPACT) produces:
 * the store keeps its output and the bindings send it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cse/base/json_text.h"

static void same_as_jansson(json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = 0;
    char *got = json_text(v, &len);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(want);
    free(got);
    json_decref(v);
}

static void scalars(void **state)
{
    (void)state;
    same_as_jansson(json_null());
    same_as_jansson(json_true());
    same_as_jansson(json_false());
    same_as_jansson(json_integer(0));
    same_as_jansson(json_integer(-1));
    same_as_jansson(json_integer(100000));
    same_as_jansson(json_integer(INT64_MAX));
    same_as_jansson(json_integer(INT64_MIN));
    const double reals[] = { 0.0, -0.0, 1.0, 21.5, -3.25, 0.1, 1e-7, 1e21, 1.5e300, -2.5e-300, 123456789.0 };
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++) same_as_jansson(json_real(reals[i]));
}

static void strings(void **state)
{
    (void)state;
    same_as_jansson(json_string(""));
    same_as_jansson(json_string("plain text/with slash"));
    same_as_jansson(json_string("quote \" backslash \\ tab \t nl \n cr \r bs \b ff \f"));
    same_as_jansson(json_string("ctl \x01 \x1f \x7f"));
    same_as_jansson(json_string("utf-8: \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    same_as_jansson(json_stringn("nul\0inside", 10));
}

/* Plain runs are copied eight bytes at a time: every byte that needs care
 * (each escape, a control byte, the edges 0x1f/0x20/0x7f, UTF-8) at every
 * offset of strings around that width, so none hides inside a word. */
static void strings_word_edges(void **state)
{
    (void)state;
    const char *specials[] = { "\"", "\\", "\n", "\x01", "\x1f", " ", "\x7f", "~", "!", "#", "[", "]",
                               "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
    char buf[64];
    for (size_t k = 0; k < sizeof specials / sizeof *specials; k++)
        for (size_t len = 1; len <= 24; len++)
            for (size_t at = 0; at < len; at++) {
                memset(buf, 'a', len);
                size_t sl = strlen(specials[k]);
                memcpy(buf + at, specials[k], sl);
                memset(buf + at + sl, 'b', len);
                buf[len + sl] = 0;
                same_as_jansson(json_string(buf));
            }
    same_as_jansson(json_string("a plain run longer than one word, then \"quoted\" and \\ escaped"));
}

static void invalid_utf8_fails(void **state)
{
    (void)state;
    const char *bad[] = { "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf5\x80\x80\x80", "\x80" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *v = json_stringn_nocheck(bad[i], strlen(bad[i]));
        assert_null(json_text(v, NULL));
        assert_null(json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
        json_decref(v);
    }
}

static void containers(void **state)
{
    (void)state;
    same_as_jansson(json_object());
    same_as_jansson(json_array());
    same_as_jansson(json_pack("{s:{s:s,s:i,s:b,s:n,s:[s,i,f],s:{}}}", "m2m:cin", "con", "21.5",
                              "cs", 4, "ok", 1, "none", "lbl", "a", 7, 2.5, "empty"));
    json_error_t err;
    const char *text = "{\"z\":1,\"a\":[[],[{}],{\"k\\\"\":\"v\\u0001\"}],\"m\":-0.5}";
    same_as_jansson(json_loads(text, 0, &err));
}

/* Random trees, bounded: the serializers must agree on every one. */
static json_t *random_value(unsigned *seed, int depth)
{
    int kind = depth > 3 ? rand_r(seed) % 5 : rand_r(seed) % 7;
    switch (kind) {
    case 0: return json_null();
    case 1: return json_boolean(rand_r(seed) & 1);
    case 2: {
        json_int_t v = (json_int_t)rand_r(seed) << (rand_r(seed) % 32);
        return json_integer(rand_r(seed) & 1 ? -v : v);
    }
    case 3: return json_real((double)rand_r(seed) / ((double)rand_r(seed) + 1.0) * (rand_r(seed) % 2 ? 1e-9 : 1e9));
    case 4: {
        char s[16];
        int n = rand_r(seed) % 15;
        for (int i = 0; i < n; i++) s[i] = (char)(1 + rand_r(seed) % 127);
        return json_stringn(s, (size_t)n);
    }
    case 5: {
        json_t *a = json_array();
        for (int i = rand_r(seed) % 5; i > 0; i--) json_array_append_new(a, random_value(seed, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = rand_r(seed) % 6; i > 0; i--) {
            char key[8];
            snprintf(key, sizeof key, "k%d", rand_r(seed) % 100);
            json_object_set_new(o, key, random_value(seed, depth + 1));
        }
        return o;
    }
    }
}

static void random_trees(void **state)
{
    (void)state;
    unsigned seed = 12345;
    for (int i = 0; i < 2000; i++) same_as_jansson(random_value(&seed, 0));
}

static void cycle_fails(void **state)
{
    (void)state;
    json_t *a = json_array(), *b = json_array();
    assert_int_equal(json_array_append(a, b), 0);
    assert_int_equal(json_array_append(b, a), 0);
    assert_null(json_text(a, NULL));
    json_array_clear(b);   /* break the cycle so both are freed */
    json_decref(b);
    json_decref(a);
}

/* Each member found by json_text_members() decodes to what jansson holds
 * under that name; names absent are NULL. */
static void members_of(const json_t *o, const char *text, size_t len)
{
    const char *names[] = { "k0", "k1", "k7", "k42", "k99", "none" }, *value[6];
    size_t value_len[6];
    assert_true(json_text_members(text, len, names, 6, value, value_len));
    for (int k = 0; k < 6; k++) {
        json_t *want = json_object_get(o, names[k]);
        if (!want) { assert_null(value[k]); continue; }
        assert_non_null(value[k]);
        json_t *got = json_loadb(value[k], value_len[k], JSON_DECODE_ANY, NULL);
        assert_non_null(got);
        assert_true(json_equal(got, want));
        json_decref(got);
    }
}

static void members_random(void **state)
{
    (void)state;
    unsigned seed = 777;
    for (int i = 0, objects = 0; objects < 500 && i < 100000; i++) {
        json_t *v = random_value(&seed, 0);
        if (json_is_object(v)) {
            objects++;
            size_t len;
            char *text = json_text(v, &len);
            assert_non_null(text);
            members_of(v, text, len);
            free(text);
            /* With white space, as another writer might leave it. */
            text = json_dumps(v, JSON_INDENT(2));
            members_of(v, text, strlen(text));
            free(text);
        }
        json_decref(v);
    }
}

static void members_edges(void **state)
{
    (void)state;
    const char *names[] = { "a", "b", "d" }, *value[3];
    size_t len[3];
    const char *text = "{\"a\":\"x\\\"}\\\\\",\"b\":[1,{\"c\":\"]\"}],\"d\":2,\"d\":true}";
    assert_true(json_text_members(text, strlen(text), names, 3, value, len));
    assert_int_equal(len[0], strlen("\"x\\\"}\\\\\""));   /* "x\"}\\" */
    assert_memory_equal(value[1], "[1,{\"c\":\"]\"}]", len[1]);
    assert_memory_equal(value[2], "true", len[2]);       /* the last of a name, as jansson */
    static const char *const refused[] = {
        "[1,2]", "{\"a\":1", "{\"a\" 1}", "{\"a\":[1}", "{\"\\u0061\":1}", "{\"a\":1}x", "", "{\"a\":}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        assert_false(json_text_members(refused[i], strlen(refused[i]), names, 3, value, len));
    assert_true(json_text_members(" { } ", 5, names, 3, value, len));
    assert_null(value[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scalars),
        cmocka_unit_test(strings),
        cmocka_unit_test(strings_word_edges),
        cmocka_unit_test(invalid_utf8_fails),
        cmocka_unit_test(containers),
        cmocka_unit_test(random_trees),
        cmocka_unit_test(cycle_fails),
        cmocka_unit_test(members_random),
        cmocka_unit_test(members_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
