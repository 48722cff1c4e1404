/* Our coap_option_filter_get() (cse/wire/coap_optfilter.c) reads libcoap's
 * option filters itself: for every option number and many filters it must
 * answer what libcoap's own function answers, except that a filter holding
 * the sentinel (a context's known options) also knows the oneM2M options. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <stdlib.h>

#include "cse/wire/coap_map.h"
#include "cse/wire/coap_optfilter.h"

typedef int filter_get_fn(coap_opt_filter_t *filter, coap_option_num_t number);

/* libcoap's function: the next definition after ours. */
static filter_get_fn *libcoap_get(void)
{
    void *f = dlvsym(RTLD_NEXT, "coap_option_filter_get", "VER_3");
    if (!f) f = dlsym(RTLD_NEXT, "coap_option_filter_get");
    return (filter_get_fn *)f;
}

static void same_answers_as_libcoap(void **state)
{
    (void)state;
    filter_get_fn *real = libcoap_get();
    assert_non_null(real);
    srand(7);
    for (int t = 0; t < 300; t++) {
        coap_opt_filter_t f;
        coap_option_filter_clear(&f);
        int n = rand() % 10;
        for (int k = 0; k < n; k++)
            coap_option_filter_set(&f, (coap_option_num_t)(rand() % 3 ? rand() % 400 : rand() % 65536));
        if (t % 4 == 0) coap_option_filter_unset(&f, (coap_option_num_t)(rand() % 300));
        int sentinel = real(&f, COAP_OPTFILTER_SENTINEL);
        for (unsigned num = 0; num < 65536; num++) {
            int expect = real(&f, (coap_option_num_t)num) || (sentinel && coap_optfilter_onem2m(num));
            if (coap_option_filter_get(&f, (coap_option_num_t)num) != expect) fail_msg("filter %d, option %u", t, num);
        }
    }
}

static void sentinel_makes_onem2m_known(void **state)
{
    (void)state;
    coap_opt_filter_t f;
    coap_option_filter_clear(&f);
    assert_int_equal(coap_option_filter_get(&f, M2MOPT_FR), 0);
    coap_option_filter_set(&f, COAP_OPTFILTER_SENTINEL);
    assert_int_equal(coap_option_filter_get(&f, M2MOPT_FR), 1);
    assert_int_equal(coap_option_filter_get(&f, M2MOPT_RQI), 1);
    assert_int_equal(coap_option_filter_get(&f, 2049), 0);   /* critical, not oneM2M: still unknown */
    assert_int_equal(coap_optfilter_active(), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_answers_as_libcoap),
        cmocka_unit_test(sentinel_makes_onem2m_known),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
