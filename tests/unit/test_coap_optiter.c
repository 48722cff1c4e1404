/* Our coap_option_next(), coap_check_option(), coap_get_uri_path() and
 * coap_get_query() (cse/wire/coap_optiter.c) stand in for libcoap's: on the
 * same bytes they must return the same options, at the same option numbers,
 * end (NULL) at the same step, and build the same strings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "cse/wire/coap_map.h"
#include "cse/wire/coap_optfilter.h"
#include "cse/wire/coap_optiter.h"
#include "cse/wire/coap_wire.h"

typedef coap_opt_t *next_fn(coap_opt_iterator_t *oi);
typedef coap_opt_t *check_fn(const coap_pdu_t *pdu, coap_option_num_t number, coap_opt_iterator_t *oi);
typedef coap_string_t *path_fn(const coap_pdu_t *pdu);
typedef int set_fn(coap_opt_filter_t *filter, coap_option_num_t number);

/* libcoap's definition of name: the next one after ours. */
static void *libcoap_fn(const char *name)
{
    void *f = dlvsym(RTLD_NEXT, name, "VER_3");
    return f ? f : dlsym(RTLD_NEXT, name);
}

/* Walks both iterators to their end, step by step. */
static void same_walk(coap_opt_iterator_t *a, coap_opt_iterator_t *b, next_fn *real, int t)
{
    for (int step = 0; step < 300; step++) {
        coap_opt_t *x = coap_option_next(a), *y = real(b);
        if (x != y) fail_msg("case %d step %d: option %p, libcoap %p", t, step, (void *)x, (void *)y);
        if (!x) {
            assert_true(a->bad && b->bad);
            return;
        }
        if (a->number != b->number) fail_msg("case %d step %d: number %u, libcoap %u", t, step, a->number, b->number);
    }
    fail_msg("case %d: no end", t);
}

static unsigned rnd_number(void)
{
    static const unsigned common[] = { 6, 11, 12, 15, 17, 23, 27, 35, 60, 256, 267, 271, 279, 283, 291, 2049 };
    return rand() % 2 ? common[rand() % 16] : (unsigned)(rand() % 3 ? rand() % 300 : rand() % 65536);
}

static void random_filter(coap_opt_filter_t *f)
{
    coap_option_filter_clear(f);
    int n = rand() % 9;
    for (int k = 0; k < n; k++) coap_option_filter_set(f, (coap_option_num_t)rnd_number());
    if (rand() % 5 == 0) coap_option_filter_set(f, COAP_OPTFILTER_SENTINEL);
}

/* Any bytes, filtered or not: the iterator is public, set by hand. */
static void next_matches_libcoap_on_any_bytes(void **state)
{
    (void)state;
    next_fn *real = libcoap_fn("coap_option_next");
    assert_non_null(real);
    srand(11);
    uint8_t buf[64];
    for (int t = 0; t < 200000; t++) {
        size_t len = (size_t)(rand() % (int)sizeof buf);
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(rand() % 4 ? rand() % 0xd0 : rand());
        coap_opt_iterator_t a;
        memset(&a, 0, sizeof a);
        a.length = len;
        a.next_option = buf;
        if (rand() % 3) {
            random_filter(&a.filter);
            a.filtered = 1;
        }
        coap_opt_iterator_t b = a;
        same_walk(&a, &b, real, t);
    }
}

/* Deltas that carry the 16-bit option number past 65535 (malformed: our
 * datagram check refuses them, but libcoap's iterator just wraps around):
 * a small number can follow a large one, so no walk may stop early.
 * fuzz_coap found the early stop this pins. */
static void wrapped_numbers_as_libcoap(void **state)
{
    (void)state;
    next_fn *real = libcoap_fn("coap_option_next");
    assert_non_null(real);
    /* Option 65300 (delta 269 + 0xfe07), then delta 247: number 65547,
     * which is 11 (Uri-Path) in 16 bits. */
    uint8_t buf[] = { 0xe0, 0xfe, 0x07, 0xd0, 0xea };
    static const coap_option_num_t wanted[] = { 11, 15, 60, 279, 2049, 65300 };
    for (size_t w = 0; w < sizeof wanted / sizeof *wanted; w++) {
        coap_opt_iterator_t a;
        memset(&a, 0, sizeof a);
        a.length = sizeof buf;
        a.next_option = buf;
        a.filtered = 1;
        coap_option_filter_set(&a.filter, wanted[w]);
        coap_opt_iterator_t b = a;
        same_walk(&a, &b, real, (int)w);
    }
}

/* Appends option (number, len) after last to w: RFC 7252 3.1's encoding. */
static uint8_t *put_option(uint8_t *w, unsigned *last, unsigned number, size_t len)
{
    unsigned d = number - *last;
    uint8_t *head = w++;
    unsigned nib[2];
    size_t v[2] = { d, len };
    for (int i = 0; i < 2; i++) {
        if (v[i] < 13) nib[i] = (unsigned)v[i];
        else if (v[i] < 269) { nib[i] = 13; *w++ = (uint8_t)(v[i] - 13); }
        else { nib[i] = 14; *w++ = (uint8_t)((v[i] - 269) >> 8); *w++ = (uint8_t)(v[i] - 269); }
    }
    *head = (uint8_t)(nib[0] << 4 | nib[1]);
    for (size_t i = 0; i < len; i++) *w++ = (uint8_t)('a' + i % 26);
    *last = number;
    return w;
}

/* Parsed requests (libcoap's parser), asked for one option each, then
 * walked on with the iterator coap_check_option() left. */
static void check_option_matches_libcoap(void **state)
{
    (void)state;
    check_fn *real_check = libcoap_fn("coap_check_option");
    next_fn *real_next = libcoap_fn("coap_option_next");
    assert_non_null(real_check);
    assert_non_null(real_next);
    srand(12);
    uint8_t dgram[1200];
    for (int t = 0; t < 20000; t++) {
        uint8_t *w = dgram;
        *w++ = 0x42;   /* CON, token of 2 */
        *w++ = 0x01;
        *w++ = 0x12;
        *w++ = 0x34;
        *w++ = 0xab;
        *w++ = 0xcd;
        unsigned numbers[12], last = 0;
        int n = rand() % 12;
        for (int k = 0; k < n; k++) numbers[k] = rnd_number();
        for (int k = 1; k < n; k++)   /* ascending */
            for (int m = k; m > 0 && numbers[m - 1] > numbers[m]; m--) {
                unsigned x = numbers[m];
                numbers[m] = numbers[m - 1];
                numbers[m - 1] = x;
            }
        for (int k = 0; k < n; k++) {
            size_t min = 0, max = 19;   /* a length libcoap's parser takes */
            if (coap_wire_option_limits(numbers[k], &min, &max) && max > 19) max = 19;
            if (numbers[k] == 15 && !min) min = 1;   /* libcoap 4.3.1 refuses an empty Uri-Query */
            w = put_option(w, &last, numbers[k], min + (size_t)rand() % (max - min + 1));
        }
        if (rand() % 2) {
            *w++ = 0xff;
            *w++ = 'p';
        }
        coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, sizeof dgram);
        assert_non_null(pdu);
        assert_true(coap_pdu_parse(COAP_PROTO_UDP, dgram, (size_t)(w - dgram), pdu));
        for (int q = 0; q < 6; q++) {
            coap_option_num_t want = (coap_option_num_t)(q < 3 && n ? numbers[rand() % n] : rnd_number());
            coap_opt_iterator_t a, b;
            coap_opt_t *x = coap_check_option(pdu, want, &a), *y = real_check(pdu, want, &b);
            if (x != y) fail_msg("case %d: option %u found at %p, libcoap %p", t, want, (void *)x, (void *)y);
            assert_int_equal(a.filtered, b.filtered);
            assert_memory_equal(&a.filter, &b.filter, sizeof a.filter);
            if (x) {
                assert_int_equal(a.number, b.number);
                same_walk(&a, &b, real_next, t);
            }
        }
        coap_delete_pdu(pdu);
    }
}

/* Requests with Uri-Path segments of any bytes (and some with a
 * Proxy-Uri): the same path string as libcoap's. */
static void uri_path_matches_libcoap(void **state)
{
    (void)state;
    path_fn *real = libcoap_fn("coap_get_uri_path");
    assert_non_null(real);
    srand(13);
    uint8_t dgram[1200];
    for (int t = 0; t < 20000; t++) {
        uint8_t *w = dgram;
        *w++ = 0x40;
        *w++ = 0x01;
        *w++ = 0x00;
        *w++ = 0x07;
        unsigned last = 0;
        if (rand() % 4 == 0) w = put_option(w, &last, 3, 1 + (size_t)(rand() % 8));   /* Uri-Host */
        int segs = rand() % 6;
        for (int k = 0; k < segs; k++) {
            size_t len = (size_t)(rand() % 12);
            w = put_option(w, &last, 11, len);
            for (size_t i = 0; i < len; i++) w[-(long)len + (long)i] = (uint8_t)(rand() % 3 ? 'a' + rand() % 26 : rand());
        }
        if (rand() % 8 == 0) {
            static const char proxy[] = "coap://h/p/q";
            uint8_t *v = put_option(w, &last, 35, sizeof proxy - 1);
            memcpy(v - (sizeof proxy - 1), proxy, sizeof proxy - 1);
            w = v;
        }
        w = put_option(w, &last, 279, 3);
        coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, sizeof dgram);
        assert_non_null(pdu);
        assert_true(coap_pdu_parse(COAP_PROTO_UDP, dgram, (size_t)(w - dgram), pdu));
        coap_string_t *a = coap_get_uri_path(pdu), *b = real(pdu);
        assert_true((a == NULL) == (b == NULL));
        if (a) {
            if (a->length != b->length || memcmp(a->s, b->s, a->length))
                fail_msg("case %d: path '%.*s', libcoap '%.*s'", t, (int)a->length, a->s, (int)b->length, b->s);
        }
        coap_delete_string(a);
        coap_delete_string(b);
        coap_delete_pdu(pdu);
    }
}

/* Requests with Uri-Query segments of any bytes among other options: the
 * same query string as libcoap's (NULL without one). Parsed by libcoap,
 * which refuses an empty Uri-Query; those are added by hand below. */
static void query_matches_libcoap(void **state)
{
    (void)state;
    path_fn *real = libcoap_fn("coap_get_query");
    assert_non_null(real);
    srand(14);
    uint8_t dgram[1200];
    for (int t = 0; t < 20000; t++) {
        uint8_t *w = dgram;
        *w++ = 0x40;
        *w++ = 0x01;
        *w++ = 0x00;
        *w++ = 0x07;
        unsigned last = 0;
        for (int k = rand() % 3; k > 0; k--) w = put_option(w, &last, 11, 1 + (size_t)(rand() % 5));
        if (rand() % 4 == 0) w = put_option(w, &last, 12, 1);
        int segs = rand() % 6;
        for (int k = 0; k < segs; k++) {
            size_t len = 1 + (size_t)(rand() % 12);
            w = put_option(w, &last, 15, len);
            for (size_t i = 0; i < len; i++) {
                static const char some[] = "/?&=%+ ~#";
                int r = rand() % 4;
                w[-(long)len + (long)i] = (uint8_t)(r == 0 ? rand() : r == 1 ? some[rand() % 9] : 'a' + rand() % 26);
            }
        }
        if (rand() % 3) w = put_option(w, &last, 279, 3);
        coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, sizeof dgram);
        assert_non_null(pdu);
        assert_true(coap_pdu_parse(COAP_PROTO_UDP, dgram, (size_t)(w - dgram), pdu));
        coap_string_t *a = coap_get_query(pdu), *b = real(pdu);
        assert_true((a == NULL) == (b == NULL));
        if (a && (a->length != b->length || memcmp(a->s, b->s, a->length)))
            fail_msg("case %d: query '%.*s', libcoap '%.*s'", t, (int)a->length, a->s, (int)b->length, b->s);
        coap_delete_string(a);
        coap_delete_string(b);
        coap_delete_pdu(pdu);
    }
    /* Empty segments (built, not parsed): libcoap counts a separator it
     * does not write after an empty first one; ours answers as it does. */
    static const char *const sets[][3] = { { "", NULL }, { "", "" }, { "", "a=1" }, { "a", "" },
                                           { "", "", "b" } };
    for (size_t t = 0; t < sizeof sets / sizeof *sets; t++) {
        coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, 7, 256);
        assert_non_null(pdu);
        for (int k = 0; k < 3 && sets[t][k]; k++)
            assert_true(coap_add_option(pdu, COAP_OPTION_URI_QUERY, strlen(sets[t][k]),
                                        (const uint8_t *)sets[t][k]));
        coap_string_t *a = coap_get_query(pdu), *b = real(pdu);
        assert_true((a == NULL) == (b == NULL));
        if (a) assert_int_equal(a->length, b->length);
        coap_delete_string(a);
        coap_delete_string(b);
        coap_delete_pdu(pdu);
    }
}

/* coap_optiter_read() (read_request's one walk) yields what libcoap's
 * unfiltered iterator yields, cut at max with the rest flagged. */
static void read_matches_libcoap_walk(void **state)
{
    (void)state;
    next_fn *real_next = libcoap_fn("coap_option_next");
    assert_non_null(real_next);
    srand(15);
    uint8_t dgram[1200];
    for (int t = 0; t < 20000; t++) {
        uint8_t *w = dgram;
        *w++ = 0x41;
        *w++ = 0x01;
        *w++ = 0x00;
        *w++ = 0x09;
        *w++ = 0x5a;
        unsigned numbers[14], last = 0;
        int n = rand() % 14;
        for (int k = 0; k < n; k++) numbers[k] = rnd_number();
        for (int k = 1; k < n; k++)
            for (int m = k; m > 0 && numbers[m - 1] > numbers[m]; m--) {
                unsigned x = numbers[m];
                numbers[m] = numbers[m - 1];
                numbers[m - 1] = x;
            }
        for (int k = 0; k < n; k++) {
            size_t min = 0, max = 300;
            if (coap_wire_option_limits(numbers[k], &min, &max) && max > 300) max = 300;
            if (numbers[k] == 15 && !min) min = 1;
            w = put_option(w, &last, numbers[k], min + (size_t)rand() % (max - min + 1) % 40);
        }
        if (rand() % 2) {
            *w++ = 0xff;
            *w++ = 'p';
        }
        coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, sizeof dgram);
        assert_non_null(pdu);
        if (!coap_pdu_parse(COAP_PROTO_UDP, dgram, (size_t)(w - dgram), pdu)) {
            coap_delete_pdu(pdu);   /* a length libcoap refuses: nothing to compare */
            continue;
        }
        struct coap_option_in opts[16];
        int max = rand() % 2 ? 16 : rand() % 5;
        bool more;
        int got = coap_optiter_read(pdu, opts, max, &more);
        coap_opt_iterator_t it;
        coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
        int k = 0;
        coap_opt_t *o;
        while ((o = real_next(&it))) {
            if (k == max) break;
            assert_true(k < got);
            assert_int_equal(opts[k].number, it.number);
            assert_int_equal(opts[k].len, coap_opt_length(o));
            assert_ptr_equal(opts[k].value, coap_opt_value(o));
            k++;
        }
        assert_int_equal(got, k);
        assert_int_equal(more, o != NULL);
        coap_delete_pdu(pdu);
    }
}

static void filter_one_as_libcoap_sets_it(void **state)
{
    (void)state;
    set_fn *real_set = libcoap_fn("coap_option_filter_set");
    assert_non_null(real_set);
    for (unsigned num = 0; num < 65536; num += num < 600 ? 1 : 97) {
        coap_opt_filter_t a, b;
        coap_optiter_filter_one(&a, (coap_option_num_t)num);
        memset(&b, 0, sizeof b);
        real_set(&b, (coap_option_num_t)num);
        assert_memory_equal(&a, &b, sizeof a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(next_matches_libcoap_on_any_bytes),
        cmocka_unit_test(wrapped_numbers_as_libcoap),
        cmocka_unit_test(check_option_matches_libcoap),
        cmocka_unit_test(uri_path_matches_libcoap),
        cmocka_unit_test(query_matches_libcoap),
        cmocka_unit_test(read_matches_libcoap_walk),
        cmocka_unit_test(filter_one_as_libcoap_sets_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
