/* SHA-256 of the store tool's tree checksum (libcrypto, loaded at run time)
 * against the FIPS 180-4 examples,
 * fed whole and in uneven pieces (the streaming path across block edges). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cse/base/sha256.h"

static void hex_of(const char *msg, size_t len, size_t piece, char out[65])
{
    struct sha256 c;
    assert_int_equal(sha256_init(&c), 0);
    for (size_t at = 0; at < len; at += piece) sha256_update(&c, msg + at, len - at < piece ? len - at : piece);
    sha256_hex(&c, out);
}

static void known_digests(void **state)
{
    (void)state;
    static const struct { const char *msg, *hex; } cases[] = {
        { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    };
    char hex[65];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (size_t piece = 1; piece <= 64; piece += 21) {
            hex_of(cases[i].msg, strlen(cases[i].msg), piece, hex);
            assert_string_equal(hex, cases[i].hex);
        }
}

static void million_a(void **state)
{
    (void)state;
    static char a[1000000];
    memset(a, 'a', sizeof a);
    char hex[65];
    hex_of(a, sizeof a, 4093, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_digests),
        cmocka_unit_test(million_a),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
